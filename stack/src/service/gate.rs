//! The TAP as the service reads it: once a read found nothing, further reads are skipped
//! until the TAP can have something again: epoll reported it readable, or we wrote to it (a
//! peer on the TAP answers within our own write, as the kernel does), or a device layer
//! (fault injector) holds a frame that comes due. Saves the empty read of every stack round.
use crate::phy::Device;
use crate::time::Instant;

pub struct Gate {
    inner: Box<dyn Device + Send>,
    /// The last read found nothing, and nothing happened since that could change it.
    dry: bool,
    /// A frame went out since the last `wrote_out`.
    sent: bool,
}

impl Gate {
    pub fn new(inner: Box<dyn Device + Send>) -> Gate {
        Gate { inner, dry: false, sent: false }
    }
    /// Epoll reported the TAP readable.
    pub fn readable(&mut self) {
        self.dry = false;
    }
    /// The transmit batch was flushed: if anything went out, an answer may be waiting.
    pub fn flushed(&mut self) {
        if std::mem::take(&mut self.sent) {
            self.dry = false;
        }
    }
}

impl Device for Gate {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.dry && self.inner.poll_at().is_none_or(|t| t > now) {
            return None;
        }
        let r = self.inner.receive(now, buf);
        self.dry = r.is_none();
        r
    }
    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.sent = true;
        self.inner.transmit(now, frame);
    }
    fn transmit_buf(&mut self, now: Instant, frame: Vec<u8>) -> Option<Vec<u8>> {
        self.sent = true;
        self.inner.transmit_buf(now, frame)
    }
    fn transmit_gso(&mut self, now: Instant, frame: Vec<u8>, gso_size: u16) -> Option<Vec<u8>> {
        self.sent = true;
        self.inner.transmit_gso(now, frame, gso_size)
    }
    fn transmit_gso_parts(&mut self, now: Instant, head: &[u8], parts: &[&[u8]], gso_size: u16) {
        self.sent = true;
        self.inner.transmit_gso_parts(now, head, parts, gso_size)
    }
    fn rx_checksum_ok(&self) -> bool {
        self.inner.rx_checksum_ok()
    }
    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A device whose queue the test fills; counts reads.
    struct Q(Arc<Mutex<(VecDeque<Vec<u8>>, usize)>>);
    impl Device for Q {
        fn mtu(&self) -> usize {
            1500
        }
        fn receive(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
            let mut q = self.0.lock().unwrap();
            q.1 += 1;
            let f = q.0.pop_front()?;
            buf[..f.len()].copy_from_slice(&f);
            Some(f.len())
        }
        fn transmit(&mut self, _: Instant, _: &[u8]) {}
    }

    #[test]
    fn skips_reads_until_something_can_have_changed() {
        let st = Arc::new(Mutex::new((VecDeque::new(), 0)));
        let mut g = Gate::new(Box::new(Q(st.clone())));
        let mut b = [0u8; 64];
        let now = Instant::ZERO;
        assert_eq!(g.receive(now, &mut b), None);
        st.lock().unwrap().0.push_back(vec![1, 2]);
        assert_eq!(g.receive(now, &mut b), None, "dry: not read");
        assert_eq!(st.lock().unwrap().1, 1);
        g.flushed();
        assert_eq!(g.receive(now, &mut b), None, "nothing sent: still dry");
        g.transmit(now, &[0]);
        g.flushed();
        assert_eq!(g.receive(now, &mut b), Some(2), "after a write: read");
        assert_eq!(g.receive(now, &mut b), None);
        st.lock().unwrap().0.push_back(vec![3]);
        g.readable();
        assert_eq!(g.receive(now, &mut b), Some(1), "epoll said readable");
        assert_eq!(st.lock().unwrap().1, 4);
    }
}
