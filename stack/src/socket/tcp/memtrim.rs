//! Memory follows use (issue 12): a connection's rings give their storage back once it has been
//! quiet for `TRIM_AFTER`, not each time a ring runs empty (a bulk receiver's ring empties at
//! every read; freeing and reallocating it then cost about 40% of the receive rate). Each
//! control block `dispatch` handles while it holds ring storage gets one pending check; the
//! check frees what is empty and comes back while storage remains.
use super::table::TcpStack;
use crate::time::{Duration, Instant};

/// How long a connection keeps the storage of its empty rings after `dispatch` last handled it.
pub(super) const TRIM_AFTER: Duration = Duration::from_millis(200);

impl TcpStack {
    /// `dispatch` handled `id`: if its rings hold storage, make sure a check is pending.
    pub(super) fn schedule_trim(&mut self, id: u32, now: Instant) {
        let Some(t) = self.socks.get(&id) else { return };
        if (t.tx.holds_storage() || t.rx.holds_storage()) && !self.trim_ids.contains_key(&id) {
            self.trim_ids.insert(id, now + TRIM_AFTER);
            self.trims.insert((now + TRIM_AFTER, id));
        }
    }
    /// Control block `id` is freed: its pending check goes too.
    pub(super) fn cancel_trim(&mut self, id: u32) {
        if let Some(at) = self.trim_ids.remove(&id) {
            self.trims.remove(&(at, id));
        }
    }
    /// Due checks: the empty rings give their storage back; a ring still holding bytes keeps it
    /// and its connection is checked again later.
    pub(super) fn run_trims(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.trims.first() {
            if at > now {
                break;
            }
            self.trims.pop_first();
            self.trim_ids.remove(&id);
            if let Some(t) = self.socks.get_mut(&id) {
                let (tx, rx) = (t.tx.trim(), t.rx.trim());
                if tx || rx {
                    self.trim_ids.insert(id, now + TRIM_AFTER);
                    self.trims.insert((now + TRIM_AFTER, id));
                }
            }
        }
        if self.trim_ids.is_empty() && self.trim_ids.capacity() > 1024 {
            self.trim_ids.shrink_to_fit(); // after a burst of connections
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::wire::ip::{IpAddress, IpEndpoint};

    use super::super::table::TcpStack;
    use super::super::types::TcpConfig;
    use super::TRIM_AFTER;
    use crate::time::{Duration, Instant};

    const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
    const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

    /// Exchanges segments until both stacks are quiet at `now`.
    fn settle(a: &mut TcpStack, b: &mut TcpStack, now: Instant) {
        for _ in 0..10_000 {
            let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
            a.dispatch(now, &mut |s, _, x| to_b.push((s, x.to_vec())));
            b.dispatch(now, &mut |s, _, x| to_a.push((s, x.to_vec())));
            if to_a.is_empty() && to_b.is_empty() {
                return;
            }
            to_b.into_iter().for_each(|(s, x)| b.process(now, s, B, &x));
            to_a.into_iter().for_each(|(s, x)| a.process(now, s, A, &x));
        }
        panic!("no quiet");
    }

    #[test]
    fn rings_keep_storage_while_busy_and_give_it_back_when_quiet() {
        let (mut a, mut b) = (TcpStack::new(TcpConfig::new(A, 1500)), TcpStack::new(TcpConfig::new(B, 1500)));
        let mut now = Instant::from_secs(1);
        let l = b.socket();
        b.bind(l, IpEndpoint::new(B, 80)).unwrap();
        b.listen(l, 4).unwrap();
        let c = a.socket();
        a.connect(now, c, IpEndpoint::new(B, 80)).unwrap();
        settle(&mut a, &mut b, now);
        let s = b.accept(l).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        for round in 0..5 {
            assert_eq!(a.send(now, c, &[round; 50_000]), Ok(50_000));
            settle(&mut a, &mut b, now);
            assert_eq!(b.recv(now, s, &mut buf), Ok(50_000));
            let t = &b.socks[&s.0];
            assert!(t.rx.is_empty() && t.rx.holds_storage(), "a ring read empty keeps its storage");
            now += TRIM_AFTER / 4;
        }
        settle(&mut a, &mut b, now);
        assert!(a.socks[&c.0].tx.holds_storage() || b.socks[&s.0].rx.holds_storage());
        // Quiet for TRIM_AFTER: both rings of both ends are empty and hold nothing.
        now += TRIM_AFTER + Duration::from_millis(1);
        settle(&mut a, &mut b, now);
        for t in [&a.socks[&c.0], &b.socks[&s.0]] {
            assert!(!t.tx.holds_storage() && !t.rx.holds_storage());
        }
        assert!(a.trim_ids.is_empty() && b.trim_ids.is_empty() && a.trims.is_empty());
        // Still a working connection.
        assert_eq!(b.send(now, s, b"back"), Ok(4));
        settle(&mut a, &mut b, now);
        assert_eq!(a.recv(now, c, &mut buf), Ok(4));
    }
}
