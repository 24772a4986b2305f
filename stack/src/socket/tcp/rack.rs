//! Time-based loss detection in the spirit of RACK-TLP (RFC 8985), over the transmission log
//! (`sentlog.rs`) of when each outstanding segment was (re)transmitted. A hole below SACKed
//! data is deemed lost once it has been outstanding for about 1.25 RTT (or, never
//! retransmitted, when three segments' worth was SACKed above it, RFC 6675 IsLost); lost
//! retransmissions are found the same way.
use super::sentlog::Rec;
use super::seq::SeqNum;
use super::tcb::Tcb;
use crate::time::{Duration, Instant};

impl Tcb {
    /// Reordering allowance: a segment outstanding this long with later data SACKed is lost.
    pub fn rack_wait(&self) -> Duration {
        if self.rtt.has_sample {
            self.rtt.srtt + (self.rtt.srtt / 4).max(Duration::from_millis(1))
        } else {
            self.rtt.rto
        }
    }
    /// The first un-SACKed piece of record `r` at or after `from`.
    fn unsacked_piece(&self, r: &Rec, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut s = r.start.max(from);
        if let Some(e) = self.scoreboard.sacked_end(s) {
            s = e;
        }
        if s >= r.end {
            return None;
        }
        let e = self.scoreboard.next_sacked(s).map_or(r.end, |n| n.min(r.end));
        Some((s, e))
    }
    /// Is the (un-SACKed) record lost? Below the highest SACK: outstanding for `wait`, or three
    /// segments SACKed above it (RFC 6675 IsLost). Anywhere: sent before a segment that was
    /// since delivered, and outstanding for `wait` (RFC 8985 6.2).
    fn rec_lost(&self, r: &Rec, s: SeqNum, now: Instant, hi: Option<SeqNum>, wait: Duration) -> bool {
        let aged = now >= r.sent + wait;
        if let Some(hi) = hi {
            if s < hi && (aged || (r.retx == 0 && self.scoreboard.sacked_in(r.end, hi) >= 3 * self.eff_mss())) {
                return true;
            }
        }
        aged && self.rack_xmit.is_some_and(|x| r.sent < x)
    }
    /// Whether a record can ever become lost by time (so the reorder timer should watch it).
    fn rec_watched(&self, r: &Rec, s: SeqNum, hi: Option<SeqNum>) -> bool {
        hi.is_some_and(|hi| s < hi) || self.rack_xmit.is_some_and(|x| r.sent < x)
    }
    /// The next lost, un-SACKed piece at or after `from`.
    pub fn next_lost(&self, now: Instant, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let hi = self.scoreboard.highest();
        if hi.is_none() && self.rack_xmit.is_none() {
            return None;
        }
        let wait = self.rack_wait();
        let from = from.max(self.snd_una);
        for r in self.sent.overlapping(from, self.snd_max) {
            if let Some((s, e)) = self.unsacked_piece(r, from) {
                if self.rec_lost(r, s, now, hi, wait) {
                    return Some((s, e));
                }
            }
        }
        None
    }
    /// RFC 6675 pipe with time-based loss marking: un-SACKed data not deemed lost.
    pub fn sack_pipe(&self, now: Instant) -> usize {
        let hi = self.scoreboard.highest();
        let wait = self.rack_wait();
        let mut p = 0;
        for r in self.sent.overlapping(self.snd_una, self.snd_max) {
            let mut at = r.start;
            while let Some((s, e)) = self.unsacked_piece(r, at) {
                if !self.rec_lost(r, s, now, hi, wait) {
                    p += e.since(s);
                }
                at = e;
            }
        }
        p
    }
    /// When the earliest watched segment not yet deemed lost will be (the RACK reorder timer).
    pub fn rack_deadline(&self, now: Instant) -> Option<Instant> {
        let hi = self.scoreboard.highest();
        if hi.is_none() && self.rack_xmit.is_none() {
            return None;
        }
        let wait = self.rack_wait();
        let mut best: Option<Instant> = None;
        for r in self.sent.overlapping(self.snd_una, self.snd_max) {
            if let Some((s, _)) = self.unsacked_piece(r, r.start) {
                if self.rec_watched(r, s, hi) && !self.rec_lost(r, s, now, hi, wait) {
                    let t = r.sent + wait;
                    best = Some(best.map_or(t, |b| b.min(t)));
                }
            }
        }
        best
    }
    /// RACK.xmit_ts: the latest send time of a segment just acknowledged or SACKed.
    pub fn rack_update(&mut self, acked_upto: SeqNum, sack: &[Option<(u32, u32)>; 4]) {
        let mut x = self.rack_xmit;
        for r in self.sent.overlapping(self.snd_una, acked_upto) {
            if r.end <= acked_upto {
                x = Some(x.map_or(r.sent, |v| v.max(r.sent)));
            }
        }
        for &(l, rr) in sack.iter().flatten() {
            let (l, rr) = (SeqNum(l), SeqNum(rr));
            for r in self.sent.overlapping(l, rr) {
                if r.start >= l && r.end <= rr {
                    x = Some(x.map_or(r.sent, |v| v.max(r.sent)));
                }
            }
        }
        self.rack_xmit = x;
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
