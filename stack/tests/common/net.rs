//! Two `Stack`s joined by a bare in-memory Ethernet link (every frame kept for inspection,
//! frames injected by hand), for the IP-layer tests of iface_link*.rs. TCP tests between two
//! stacks use `Sim` on `phy::link::Link` instead.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use tapstack::config::Config;
use tapstack::phy::Device;
use tapstack::time::{Duration, Instant};
use tapstack::wire::checksum;
use tapstack::wire::ethernet::{EtherType, EthernetRepr};
use tapstack::wire::ipv4::Ipv4Repr;
use tapstack::Stack;

use super::A_MAC;

pub type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of a point-to-point in-memory link: frames `transmit`ted appear on the peer's `rx`.
pub struct End {
    pub rx: Queue,
    pub tx: Queue,
    pub mtu: usize,
    /// Every frame this end sent, for inspection.
    pub sent: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl Device for End {
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn receive(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let f = self.rx.borrow_mut().pop_front()?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Some(n)
    }
    fn transmit(&mut self, _now: Instant, frame: &[u8]) {
        self.sent.borrow_mut().push(frame.to_vec());
        self.tx.borrow_mut().push_back(frame.to_vec());
    }
}

pub fn config(addr: &str, mac: &str) -> Config {
    let vars = [("TAPSTACK_ADDR", addr.to_string()), ("TAPSTACK_MAC", mac.to_string()), ("TAPSTACK_GW", "none".into())];
    Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

pub struct Net {
    pub a: Stack,
    pub b: Stack,
    pub da: End,
    pub db: End,
    pub now: Instant,
}

impl Net {
    pub fn new() -> Net {
        let ab: Queue = Default::default();
        let ba: Queue = Default::default();
        let da = End { rx: ba.clone(), tx: ab.clone(), mtu: 1500, sent: Default::default() };
        let db = End { rx: ab, tx: ba, mtu: 1500, sent: Default::default() };
        Net {
            a: Stack::new(&config("10.0.0.1/24", "02:00:00:00:00:01"), 1),
            b: Stack::new(&config("10.0.0.2/24", "02:00:00:00:00:02"), 2),
            da,
            db,
            now: Instant::from_secs(1000),
        }
    }

    /// Polls both stacks until the link is quiet and no deadline falls before `until`, jumping
    /// virtual time to each deadline. Bounded.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000 {
            let na = self.a.poll(self.now, &mut self.da);
            let nb = self.b.poll(self.now, &mut self.db);
            if !self.da.rx.borrow().is_empty() || !self.db.rx.borrow().is_empty() {
                continue;
            }
            let next = [na, nb].into_iter().flatten().filter(|t| *t > self.now).min();
            match next {
                Some(t) if t <= until => self.now = t,
                _ => {
                    self.now = self.now.max(until);
                    let _ = self.a.poll(self.now, &mut self.da);
                    let _ = self.b.poll(self.now, &mut self.db);
                    if self.da.rx.borrow().is_empty() && self.db.rx.borrow().is_empty() {
                        return;
                    }
                }
            }
        }
        panic!("link never went quiet");
    }

    pub fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    /// Injects a frame into B as if A had sent it.
    pub fn inject_to_b(&mut self, frame: Vec<u8>) {
        self.da.tx.borrow_mut().push_back(frame);
    }
}

pub fn ip_frame(repr: &Ipv4Repr, payload: &[u8], dst_mac: [u8; 6]) -> Vec<u8> {
    let eth = EthernetRepr { src_addr: A_MAC, dst_addr: dst_mac, ethertype: EtherType::Ipv4 };
    eth.build(&repr.build(payload))
}

pub fn echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}
