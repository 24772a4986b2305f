//! A smoltcp peer on an in-memory Ethernet link, shared by the interop tests: `SEnd` is
//! smoltcp's end (a `smoltcp::phy::Device`), `OurEnd` wraps it as our `phy::Device`.
use std::collections::VecDeque;

use smoltcp::phy::{self, Device as SDevice, DeviceCapabilities, Medium};
use tapstack::phy::Device;
use tapstack::time::Instant;

/// smoltcp's end of the link: `rx` holds frames from us, `tx` frames for us.
#[derive(Default)]
pub struct SEnd {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
}

pub struct SRx(Vec<u8>);
pub struct STx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for SRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}
impl phy::TxToken for STx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0; len];
        let r = f(&mut b);
        self.0.push_back(b);
        r
    }
}
impl SDevice for SEnd {
    type RxToken<'a> = SRx;
    type TxToken<'a> = STx<'a>;
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.max_transmission_unit = 1514;
        c.medium = Medium::Ethernet;
        c
    }
    fn receive(&mut self, _t: smoltcp::time::Instant) -> Option<(SRx, STx<'_>)> {
        let f = self.rx.pop_front()?;
        Some((SRx(f), STx(&mut self.tx)))
    }
    fn transmit(&mut self, _t: smoltcp::time::Instant) -> Option<STx<'_>> {
        Some(STx(&mut self.tx))
    }
}

/// Our end: reads what smoltcp sent, writes into smoltcp's receive queue.
pub struct OurEnd<'a>(pub &'a mut SEnd);
impl Device for OurEnd<'_> {
    fn mtu(&self) -> usize {
        1500
    }
    fn receive(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let f = self.0.tx.pop_front()?;
        buf[..f.len()].copy_from_slice(&f);
        Some(f.len())
    }
    fn transmit(&mut self, _now: Instant, frame: &[u8]) {
        self.0.rx.push_back(frame.to_vec());
    }
}
