//! Indexes that keep per-call work independent of the number of connections (issue 12): the
//! control blocks holding each local port (Linux's bind hash buckets) and the TIME-WAIT records
//! per local port, so bind, listen and connect look at one port's holders instead of scanning
//! every socket; and the control blocks that may have output left, so `has_pending_output`
//! looks at those instead of every connection.
use std::collections::{BTreeSet, HashMap};

use super::tcb::Tcb;
use super::{TcpStack, TcpState};

/// Who holds which local port.
#[derive(Default)]
pub(super) struct PortIndex {
    /// (local port, handle) of every control block with `bound` set.
    bound: BTreeSet<(u16, u32)>,
    /// TIME-WAIT records per local port.
    tw: HashMap<u16, u32>,
}

impl PortIndex {
    /// Control block `id` now holds `port` (set where `bound` becomes true).
    pub fn bind(&mut self, port: u16, id: u32) {
        self.bound.insert((port, id));
    }
    /// Control block `id` (freed) no longer holds `port`.
    pub fn unbind(&mut self, port: u16, id: u32) {
        self.bound.remove(&(port, id));
    }
    /// Handles of the control blocks bound to `port`, in handle order.
    pub fn holders(&self, port: u16) -> impl Iterator<Item = u32> + '_ {
        self.bound.range((port, 0)..=(port, u32::MAX)).map(|&(_, id)| id)
    }
    /// A TIME-WAIT record for local port `port` was made.
    pub fn tw_add(&mut self, port: u16) {
        *self.tw.entry(port).or_insert(0) += 1;
    }
    /// A TIME-WAIT record for local port `port` was freed.
    pub fn tw_del(&mut self, port: u16) {
        if let Some(n) = self.tw.get_mut(&port) {
            *n -= 1;
            if *n == 0 {
                self.tw.remove(&port);
            }
        }
    }
    /// True if a TIME-WAIT record holds `port`.
    pub fn tw_holds(&self, port: u16) -> bool {
        self.tw.contains_key(&port)
    }
}

/// True while `t` has unsent or unacknowledged data, an unsent or unacknowledged FIN, or an
/// RST to send (what a program that exits must still see leave).
pub(super) fn has_output(t: &Tcb) -> bool {
    t.send_rst
        || (!matches!(t.state, TcpState::Closed | TcpState::Listen | TcpState::TimeWait)
            && (!t.tx.is_empty() || (t.fin_queued && !t.fin_acked)))
}

impl TcpStack {
    /// True while any connection still has unsent or unacknowledged data or an unsent FIN
    /// (used to drain at process exit). Looks only at the control blocks that had output at the
    /// last `dispatch` and those touched since, not at every connection.
    pub fn has_pending_output(&self) -> bool {
        !self.rsts.is_empty()
            || !self.synacks.is_empty()
            || !self.tw_acks.is_empty()
            || self.out_busy.iter().chain(&self.dirty).any(|id| self.socks.get(id).is_some_and(has_output))
    }
    /// After `dispatch` handled `id`: remember whether it still has output (`out_busy`). Every
    /// change to what `has_output` reads comes with `note` (socket calls, input, ICMP) or a
    /// timer, so `out_busy` plus `dirty` covers every control block with output.
    pub(super) fn track_output(&mut self, id: u32) {
        match self.socks.get(&id) {
            Some(t) if has_output(t) => {
                self.out_busy.insert(id);
            }
            _ => {
                self.out_busy.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The indexes against what a scan of the whole table gives, after every step of a random
    //! mix of socket calls, segments lost and time passing.
    use crate::wire::ip::{IpAddress, IpEndpoint};
    use std::collections::{BTreeSet, HashMap};

    use super::super::{TcpConfig, TcpHandle, TcpStack, TcpState};
    use super::has_output;
    use crate::socket::Shutdown;
    use crate::time::{Duration, Instant};

    const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
    const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

    /// Asserts the indexes agree with a scan; returns (TIME-WAIT records, has_pending_output).
    fn check(s: &TcpStack) -> (usize, bool) {
        let bound: BTreeSet<(u16, u32)> =
            s.socks.iter().filter(|(_, t)| t.bound).map(|(&id, t)| (t.local.port(), id)).collect();
        assert_eq!(s.ports.bound, bound, "bound-port index");
        let mut tw: HashMap<u16, u32> = HashMap::new();
        for &k in s.tw.keys() {
            *tw.entry(k.local_port).or_default() += 1;
        }
        assert_eq!(s.ports.tw, tw, "TIME-WAIT port counts");
        let scan =
            !s.rsts.is_empty() || !s.synacks.is_empty() || !s.tw_acks.is_empty() || s.socks.values().any(has_output);
        assert_eq!(s.has_pending_output(), scan, "has_pending_output");
        (s.tw.len(), scan)
    }

    #[test]
    fn indexes_match_a_full_scan() {
        let mut ca = TcpConfig::new(A, 1500);
        ca.seed = 3;
        ca.ephemeral_ports = (40000, 40063); // small: ports collide and wrap
        let mut cb = TcpConfig::new(B, 1500);
        cb.seed = 4;
        let (mut a, mut b) = (TcpStack::new(ca), TcpStack::new(cb));
        let mut now = Instant::from_secs(1);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut mine: Vec<(bool, TcpHandle)> = Vec::new(); // (on b, handle)
        let mut listeners = Vec::new();
        for port in [80, 81] {
            let l = b.socket();
            b.bind(l, IpEndpoint::new(B, port)).unwrap();
            b.listen(l, 64).unwrap();
            listeners.push(l);
        }
        let (mut tw_seen, mut busy, mut quiet) = (0, 0, 0);
        let mut tally = |r: (usize, bool)| {
            tw_seen = tw_seen.max(r.0);
            if r.1 {
                busy += 1;
            } else {
                quiet += 1;
            }
        };
        for _ in 0..3000 {
            let pick = |mine: &Vec<(bool, TcpHandle)>, r: u64| mine.get(r as usize % mine.len().max(1)).copied();
            match rand(14) {
                0 | 1 => {
                    let c = a.socket();
                    if rand(3) == 0 {
                        let _ = a.set_reuse_addr(c, rand(2) == 0);
                        let _ = a.bind(c, IpEndpoint::new(A, [0, 40000 + rand(64) as u16][rand(2) as usize]));
                    }
                    let _ = a.connect(now, c, IpEndpoint::new(B, 80 + rand(3) as u16));
                    mine.push((false, c));
                }
                3 => {
                    let c = a.socket();
                    let _ = a.bind(c, IpEndpoint::new(A, 40000 + rand(64) as u16));
                    if rand(2) == 0 {
                        let _ = a.listen(c, 4);
                    }
                    mine.push((false, c));
                }
                4 => {
                    for &l in &listeners {
                        while let Ok(s) = b.accept(l) {
                            mine.push((true, s));
                        }
                    }
                    // Sockets whose connection ended (refused, reset, timed out) are closed.
                    mine.retain(|&(on_b, h)| {
                        let s = if on_b { &mut b } else { &mut a };
                        let done = s.state(h) == Ok(TcpState::Closed) && rand(2) == 0;
                        if done {
                            s.close(now, h);
                        }
                        !done
                    });
                }
                5 | 6 => {
                    if let Some((on_b, h)) = pick(&mine, rand(1 << 20)) {
                        let s = if on_b { &mut b } else { &mut a };
                        let _ = s.send(now, h, &vec![7u8; 1 + rand(20_000) as usize]);
                    }
                }
                7 => {
                    if let Some((on_b, h)) = pick(&mine, rand(1 << 20)) {
                        let s = if on_b { &mut b } else { &mut a };
                        let mut buf = [0u8; 4096];
                        while let Ok(1..) = s.recv(now, h, &mut buf) {}
                        if rand(2) == 0 {
                            let _ = s.shutdown(now, h, Shutdown::Write);
                        }
                    }
                }
                8 | 9 => {
                    if let Some((on_b, h)) = pick(&mine, rand(1 << 20)) {
                        let s = if on_b { &mut b } else { &mut a };
                        let mut buf = [0u8; 4096];
                        while rand(4) != 0 && matches!(s.recv(now, h, &mut buf), Ok(1..)) {}
                        if rand(4) == 0 {
                            s.abort(now, h);
                        } else {
                            s.close(now, h);
                        }
                        mine.retain(|&x| x != (on_b, h));
                    }
                }
                _ => {
                    // Time passes; each direction loses about one segment in 8.
                    let steps = 1 + rand(20);
                    for _ in 0..steps {
                        let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
                        a.dispatch(now, &mut |s, _, x| to_b.push((s, x.to_vec())));
                        b.dispatch(now, &mut |s, _, x| to_a.push((s, x.to_vec())));
                        tally(check(&a));
                        tally(check(&b));
                        for (s, x) in to_b {
                            if rand(8) != 0 {
                                b.process(now, s, B, &x);
                            }
                        }
                        for (s, x) in to_a {
                            if rand(8) != 0 {
                                a.process(now, s, A, &x);
                            }
                        }
                        now += Duration::from_millis([1, 1, 10, 10, 300, 5_000, 70_000][rand(7) as usize]);
                    }
                }
            }
            tally(check(&a));
            tally(check(&b));
        }
        // The mix reaches what the indexes track: resets, TIME-WAIT, output pending and not.
        assert!(a.stats().rsts_sent + b.stats().rsts_sent > 0, "no reset sent");
        assert!(tw_seen > 0, "no TIME-WAIT record");
        assert!(busy > 100 && quiet > 100, "pending output {busy} times, none {quiet} times");
    }
}
