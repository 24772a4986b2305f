//! Time-based loss detection in the spirit of RACK-TLP (RFC 8985), over the transmission log
//! (`sentlog.rs`) of when each outstanding segment was (re)transmitted. A hole below SACKed
//! data is deemed lost once it has been outstanding for RACK.rtt + min_RTT/4 (or, never
//! retransmitted, when three segments' worth was SACKed above it, RFC 6675 IsLost); lost
//! retransmissions are found the same way. Also TLP loss detection (RFC 8985 7.4).
use super::sentlog::Rec;
use super::seq::SeqNum;
use super::tcb::Tcb;
use crate::time::{Duration, Instant};

impl Tcb {
    /// A segment outstanding this long with later data delivered is lost (RFC 8985 6.2 step 5):
    /// RACK.rtt plus the reordering window min(min_RTT / 4, SRTT) (step 4).
    pub fn rack_wait(&self) -> Duration {
        let rtt = match self.rack_rtt {
            Some(r) => r,
            None if self.rtt.has_sample => self.rtt.srtt,
            None => return self.rtt.rto,
        };
        let min_rtt = self.rtt.min_rtt.unwrap_or(rtt);
        rtt + (min_rtt / 4).min(self.rtt.srtt).max(Duration::from_millis(1))
    }
    /// RACK_sent_after (RFC 8985 6.2): was (t1, e1) sent after (t2, e2)?
    fn sent_after(t1: Instant, e1: SeqNum, t2: Instant, e2: SeqNum) -> bool {
        t1 > t2 || (t1 == t2 && e1 > e2)
    }
    /// Sent before the most recently sent segment known delivered.
    fn before_rack(&self, r: &Rec) -> bool {
        self.rack_xmit.is_some_and(|x| Self::sent_after(x, self.rack_end, r.sent, r.end))
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
        aged && self.before_rack(r)
    }
    /// Whether a record can ever become lost by time (so the reorder timer should watch it).
    fn rec_watched(&self, r: &Rec, s: SeqNum, hi: Option<SeqNum>) -> bool {
        hi.is_some_and(|hi| s < hi) || self.before_rack(r)
    }
    /// The next lost, un-SACKed piece at or after `from`.
    pub fn next_lost(&self, now: Instant, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let hi = self.scoreboard.highest();
        if hi.is_none() && self.rack_xmit.is_none() {
            return None;
        }
        let wait = self.rack_wait();
        let from = from.max(self.snd.una);
        for r in self.sent.overlapping(from, self.snd.max) {
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
        for r in self.sent.overlapping(self.snd.una, self.snd.max) {
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
        for r in self.sent.overlapping(self.snd.una, self.snd.max) {
            if let Some((s, _)) = self.unsacked_piece(r, r.start) {
                if self.rec_watched(r, s, hi) && !self.rec_lost(r, s, now, hi, wait) {
                    let t = r.sent + wait;
                    best = Some(best.map_or(t, |b| b.min(t)));
                }
            }
        }
        best
    }
    /// RACK_update (RFC 8985 6.2 step 2), before the scoreboard takes this ACK: among the
    /// segments it newly delivers (cumulatively or by SACK), the most recently sent gives
    /// RACK.xmit_ts, RACK.end_seq and RACK.rtt. A retransmitted segment whose ACK may be for
    /// an earlier transmission (TSecr older than the retransmission, or quicker than min_RTT)
    /// is ambiguous and skipped.
    pub fn rack_update(&mut self, now: Instant, acked_upto: SeqNum, sack: &[Option<(u32, u32)>; 4], ecr: Option<u32>) {
        let mut best: Option<(Instant, SeqNum, Duration)> = None;
        let mut consider = |t: &Tcb, r: &Rec| {
            if t.scoreboard.sacked_end(r.start).is_some_and(|e| e >= r.end) {
                return; // delivered before
            }
            let rtt = now - r.sent;
            if r.retx > 0 {
                let older = ecr.is_some_and(|e| (e.wrapping_sub(t.ts_now(r.sent)) as i32) < 0);
                if older || t.rtt.min_rtt.is_some_and(|m| rtt < m) {
                    return;
                }
            }
            if best.is_none_or(|(bt, be, _)| Self::sent_after(r.sent, r.end, bt, be)) {
                best = Some((r.sent, r.end, rtt));
            }
        };
        for r in self.sent.overlapping(self.snd.una, acked_upto) {
            if r.end <= acked_upto {
                consider(self, r);
            }
        }
        for &(l, rr) in sack.iter().flatten() {
            let (l, rr) = (SeqNum(l), SeqNum(rr));
            if rr <= acked_upto {
                continue; // a D-SACK or stale block
            }
            for r in self.sent.overlapping(l, rr) {
                if r.start >= l && r.end <= rr {
                    consider(self, r);
                }
            }
        }
        let Some((t, e, rtt)) = best else { return };
        self.rtt.note_min(rtt);
        self.rack_rtt = Some(rtt);
        if self.rack_xmit.is_none_or(|x| Self::sent_after(t, e, x, self.rack_end)) {
            self.rack_xmit = Some(t);
            self.rack_end = e;
        }
    }
    /// TLP loss detection (RFC 8985 7.4.3, as Linux tcp_process_tlp_ack): `advanced` if this
    /// ACK moved SND.UNA, `pure` if it carried nothing else (no data, SACK or window change).
    pub fn tlp_process_ack(&mut self, ack: SeqNum, sack: &[Option<(u32, u32)>; 4], advanced: bool, pure: bool) {
        let Some(high) = self.tlp_high else { return };
        if ack < high {
            return;
        }
        // A D-SACK of the probe: original and probe both arrived.
        let dsack = sack[0].is_some_and(|(l, r)| SeqNum(l) < high && high <= SeqNum(r) && SeqNum(r) <= ack);
        if !self.tlp_retrans || dsack {
            self.tlp_high = None;
        } else if ack > high {
            // The probe repaired a loss: reduce cwnd as for any loss.
            self.tlp_high = None;
            let cwnd = self.cc.cwnd;
            self.cc.on_fast_loss(cwnd);
        } else if !advanced && pure {
            self.tlp_high = None; // a duplicate ACK for the probe: nothing was lost
        }
    }
    /// Enters fast recovery if duplicate ACKs or SACK/time evidence show a loss.
    pub fn check_loss(&mut self, now: Instant) {
        if self.in_recovery || self.snd.una == self.snd.max {
            return;
        }
        let fresh = self.snd.una >= self.recover || self.recover == self.snd.iss;
        if !fresh {
            return;
        }
        let sack_lost = self.opts.sack_ok && self.next_lost(now, self.snd.una).is_some();
        if self.dupacks >= 3 || sack_lost {
            self.enter_recovery();
        }
    }
    /// RFC 6582 3.2 step 2 / RFC 6675 5 step 4.
    pub fn enter_recovery(&mut self) {
        self.in_recovery = true;
        self.recover = self.snd.max;
        let flight = self.snd.max.since(self.snd.una) as u32;
        self.cc.on_fast_loss(flight);
        self.rexmit_head = true;
        self.rtt_probe = None;
        self.pto_at = None;
        self.counters.fast_retransmits += 1;
    }
}
