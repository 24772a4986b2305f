//! The transmission log: when each outstanding segment was (re)transmitted, for RACK loss
//! detection (RFC 8985, see `rack.rs`) and RTT samples.
use std::collections::VecDeque;

use super::seq::SeqNum;
use crate::time::Instant;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub start: SeqNum,
    pub end: SeqNum,
    pub sent: Instant,
    pub retx: u32,
}

#[cfg(test)]
thread_local! {
    /// Records and SACK blocks visited by loss detection on this thread (tests measure the
    /// work per ACK with it).
    pub static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}
/// Counts `n` units of loss-detection work (tests only).
#[inline]
pub fn tick(n: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get() + n as u64));
    #[cfg(not(test))]
    let _ = n;
}

/// Transmission records covering `[snd_una, snd_max)` in sequence order.
#[derive(Default, Debug)]
pub struct SentLog {
    recs: VecDeque<Rec>,
}

impl SentLog {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.recs.len()
    }
    #[cfg(test)]
    pub fn back(&self) -> Option<&Rec> {
        self.recs.back()
    }
    #[cfg(test)]
    pub fn front(&self) -> Option<&Rec> {
        self.recs.front()
    }
    /// Records a transmission of `[s, e)` at `now`.
    pub fn on_send(&mut self, s: SeqNum, e: SeqNum, now: Instant) {
        if e <= s {
            return;
        }
        let tail = self.recs.back().map(|r| r.end);
        match tail {
            Some(t) if s < t => {
                let i = self.recs.partition_point(|r| r.end <= s);
                for r in self.recs.range_mut(i..) {
                    if r.start >= e {
                        break;
                    }
                    r.sent = now;
                    r.retx += 1;
                }
                if e > t {
                    self.recs.push_back(Rec { start: t, end: e, sent: now, retx: 0 });
                }
            }
            _ => {
                if self.recs.len() >= 1 << 16 {
                    self.recs.pop_front();
                }
                self.recs.push_back(Rec { start: s, end: e, sent: now, retx: 0 });
            }
        }
    }
    /// Forgets what `una` acknowledges.
    pub fn prune(&mut self, una: SeqNum) {
        while let Some(r) = self.recs.front_mut() {
            if r.end <= una {
                self.recs.pop_front();
            } else {
                if r.start < una {
                    r.start = una;
                }
                break;
            }
        }
    }
    /// Records overlapping `[from, to)`, in order.
    pub fn overlapping(&self, from: SeqNum, to: SeqNum) -> impl Iterator<Item = &Rec> {
        let i = self.recs.partition_point(|r| r.end <= from);
        self.recs.range(i..).take_while(move |r| r.start < to).inspect(|_| tick(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn records_retransmissions_and_prunes() {
        let mut l = SentLog::default();
        let t = Instant::from_millis;
        l.on_send(SeqNum(100), SeqNum(200), t(1));
        l.on_send(SeqNum(200), SeqNum(300), t(2));
        l.on_send(SeqNum(300), SeqNum(400), t(3));
        l.on_send(SeqNum(200), SeqNum(300), t(10));
        let v: Vec<_> = l.overlapping(SeqNum(150), SeqNum(301)).map(|r| (r.start.0, r.sent, r.retx)).collect();
        assert_eq!(v, vec![(100, t(1), 0), (200, t(10), 1), (300, t(3), 0)]);
        l.on_send(SeqNum(350), SeqNum(450), t(11));
        assert_eq!(l.back().unwrap().start, SeqNum(400));
        l.prune(SeqNum(250));
        assert_eq!(l.front().unwrap().start, SeqNum(250));
        assert_eq!(l.len(), 3);
    }
}
