//! Time-based loss detection in the spirit of RACK-TLP (RFC 8985): a log of when each
//! outstanding segment was (re)transmitted. A hole below SACKed data is deemed lost once it has
//! been outstanding for about 1.25 RTT (or, never retransmitted, when three segments' worth was
//! SACKed above it, RFC 6675 IsLost); lost retransmissions are found the same way.
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

/// Transmission records covering `[snd_una, snd_max)` in sequence order.
#[derive(Default, Debug)]
pub struct SentLog {
    recs: VecDeque<Rec>,
}

impl SentLog {
    pub fn clear(&mut self) {
        self.recs.clear();
    }
    pub fn len(&self) -> usize {
        self.recs.len()
    }
    pub fn back(&self) -> Option<&Rec> {
        self.recs.back()
    }
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
        self.recs.range(i..).take_while(move |r| r.start < to)
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

use super::tcb::Tcb;
use crate::time::Duration;

impl Tcb {
    /// Reordering allowance: a segment outstanding this long with later data SACKed is lost.
    pub fn rack_wait(&self) -> Duration {
        if self.rtt.has_sample {
            self.rtt.srtt + (self.rtt.srtt / 4).max(Duration::from_millis(1))
        } else {
            self.rtt.rto
        }
    }
    fn rec_lost(&self, r: &Rec, now: Instant, hi: SeqNum, wait: Duration) -> bool {
        now >= r.sent + wait || (r.retx == 0 && self.scoreboard.sacked_in(r.end, hi) >= 3 * self.eff_mss())
    }
    /// The next lost, un-SACKed piece at or after `from` (below the highest SACKed byte).
    pub fn next_lost(&self, now: Instant, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let hi = self.scoreboard.highest()?;
        let wait = self.rack_wait();
        let mut at = from.max(self.snd_una);
        while let Some((hs, he)) = self.scoreboard.next_hole(at) {
            for r in self.sent.overlapping(hs, he) {
                if self.rec_lost(r, now, hi, wait) {
                    let (s, e) = (r.start.max(hs).max(at), r.end.min(he));
                    if e > s {
                        return Some((s, e));
                    }
                }
            }
            at = he;
        }
        None
    }
    /// RFC 6675 pipe with time-based loss marking: data above the highest SACK plus hole data
    /// not (yet) deemed lost.
    pub fn sack_pipe(&self, now: Instant) -> usize {
        let Some(hi) = self.scoreboard.highest() else { return self.snd_max.since(self.snd_una) };
        let wait = self.rack_wait();
        let mut p = self.snd_max.since(hi);
        let mut at = self.snd_una;
        while let Some((hs, he)) = self.scoreboard.next_hole(at) {
            for r in self.sent.overlapping(hs, he) {
                if !self.rec_lost(r, now, hi, wait) {
                    p += r.end.min(he).since(r.start.max(hs));
                }
            }
            at = he;
        }
        p
    }
    /// When the earliest hole segment not yet deemed lost will be (the RACK reorder timer).
    pub fn rack_deadline(&self, now: Instant) -> Option<Instant> {
        let hi = self.scoreboard.highest()?;
        let wait = self.rack_wait();
        let mut at = self.snd_una;
        let mut best: Option<Instant> = None;
        while let Some((hs, he)) = self.scoreboard.next_hole(at) {
            for r in self.sent.overlapping(hs, he) {
                if !self.rec_lost(r, now, hi, wait) {
                    let t = r.sent + wait;
                    best = Some(best.map_or(t, |b| b.min(t)));
                }
            }
            at = he;
        }
        best
    }
    /// Enters fast recovery if duplicate ACKs or SACK/time evidence show a loss.
    pub fn check_loss(&mut self, now: Instant) {
        if self.in_recovery || self.snd_una == self.snd_max {
            return;
        }
        let fresh = self.snd_una >= self.recover || self.recover == self.iss;
        if !fresh {
            return;
        }
        let sack_lost = self.sack_ok && self.next_lost(now, self.snd_una).is_some();
        if self.dupacks >= 3 || sack_lost {
            self.enter_recovery();
        }
    }
    /// RFC 6582 3.2 step 2 / RFC 6675 5 step 4.
    pub fn enter_recovery(&mut self) {
        self.in_recovery = true;
        self.recover = self.snd_max;
        let flight = self.snd_max.since(self.snd_una) as u32;
        self.cc.on_fast_loss(flight);
        self.rexmit_head = true;
        self.rtt_probe = None;
        self.pto_at = None;
        self.counters.fast_retransmits += 1;
    }
}
