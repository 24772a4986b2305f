//! Time-based loss detection in the spirit of RACK-TLP (RFC 8985), over the transmission log
//! (`sentlog.rs`) of when each outstanding segment was (re)transmitted. A hole below SACKed
//! data is deemed lost once it has been outstanding for RACK.rtt + min_RTT/4 (or, never
//! retransmitted, when three segments' worth was SACKed above it, RFC 6675 IsLost); lost
//! retransmissions are found the same way. Also TLP loss detection (RFC 8985 7.4).
use super::sentlog::{self, Rec};
use super::seq::SeqNum;
use super::tcb::Tcb;
use crate::time::{Duration, Instant};

impl Tcb {
    /// A segment outstanding this long with later data delivered is lost (RFC 8985 6.2 step 5):
    /// RACK.rtt plus the reordering window min(min_RTT / 4, SRTT) (step 4).
    pub fn rack_wait(&self) -> Duration {
        let rtt = match self.rack.rtt {
            Some(r) => r,
            None if self.rtt.has_sample => self.rtt.srtt,
            None => return self.rtt.rto,
        };
        let min_rtt = self.rtt.min_rtt.unwrap_or(rtt);
        let reo_wnd = (min_rtt / 4 * self.rack.reo_wnd_mult.max(1)).min(self.rtt.srtt);
        // Before reordering was seen, at least 1 ms (the three-duplicate rule finds a loss
        // sooner); after, the window as RFC 8985 and Linux size it (the rule is off).
        rtt + if self.rack.reord_seen { reo_wnd } else { reo_wnd.max(Duration::from_millis(1)) }
    }
    /// RFC 8985 6.2 step 4 with a D-SACK (RFC 2883 4: the first block lies below the
    /// cumulative ACK, or within the second block): once per round, the reordering window
    /// grows, and a D-SACK after we retransmitted is reordering evidence (the original arrived
    /// too). A probe's D-SACK is the TLP's (`tlp_process_ack`).
    pub fn rack_dsack(&mut self, ack: SeqNum, sack: &[Option<(u32, u32)>; 4]) {
        if self.rack.dsack_round.is_some_and(|r| self.snd.una >= r) {
            self.rack.dsack_round = None;
        }
        let Some((l, r)) = sack[0] else { return };
        let (l, r) = (SeqNum(l), SeqNum(r));
        let inside = sack[1].is_some_and(|(l1, r1)| SeqNum(l1) <= l && r <= SeqNum(r1));
        let probe = self.rack.tlp_end_seq.is_some_and(|h| l < h && h <= r);
        if !(l < ack || inside) {
            return;
        }
        self.counters.dsacks += 1;
        if probe || self.counters.retransmits == 0 {
            return;
        }
        self.rack.reord_seen = true;
        self.undo_if_spurious(l, r);
        if self.rack.dsack_round.is_none() {
            self.rack.dsack_round = Some(self.snd.nxt);
            self.rack.reo_wnd_mult = (self.rack.reo_wnd_mult.max(1) + 1).min(255);
            self.rack.reo_wnd_persist = 16;
        }
    }
    /// Remembers the congestion state before a loss episode's reduction (fast recovery, or
    /// the first timeout of an RTO episode), for `undo_if_spurious`.
    pub fn undo_mark(&mut self, now: Instant) {
        self.undo = Some(Box::new(super::congestion::Undo {
            prior: self.cc.clone(),
            from: self.snd.una,
            to: self.snd.max,
            retrans_at: self.counters.retransmits,
            dsacked: 0,
            ts: self.ts_now(now),
        }));
    }
    /// The ACK that ends a fast recovery echoes a timestamp sent before the episode began: the
    /// hole was filled by the original, not by our retransmission, so the loss was not one
    /// (Eifel detection, RFC 3522; Linux tcp_packet_delayed in tcp_try_undo_recovery). True if
    /// the reduction was undone.
    pub fn undo_if_delayed(&mut self, ecr: Option<u32>) -> bool {
        let (Some(e), Some(u)) = (ecr.filter(|_| self.opts.ts_ok), self.undo.as_deref()) else { return false };
        if e == 0 || (e.wrapping_sub(u.ts) as i32) >= 0 {
            return false;
        }
        let u = self.undo.take().expect("present");
        self.cc.undo(&u.prior);
        self.counters.undos += 1;
        true
    }
    /// A D-SACK of `[l, r)`: if it lies in the last episode's range, its segments count as
    /// spurious retransmissions; once all the episode's are, its reduction is undone (Linux
    /// tcp_try_undo_dsack, RFC 3708 with D-SACK).
    fn undo_if_spurious(&mut self, l: SeqNum, r: SeqNum) {
        let mss = self.eff_mss().max(1);
        let Some(u) = self.undo.as_deref_mut() else { return };
        if l < u.from || r > u.to {
            return;
        }
        u.dsacked += r.since(l).div_ceil(mss) as u64;
        let sent = self.counters.retransmits - u.retrans_at;
        if sent > 0 && u.dsacked >= sent {
            let u = self.undo.take().expect("present");
            self.cc.undo(&u.prior);
            self.counters.undos += 1;
        }
    }
    /// Leaving a recovery (fast or RTO): 16 of them without a D-SACK and the reordering
    /// window is back to min_RTT/4 (RFC 8985 6.2 step 4).
    pub fn rack_recovery_done(&mut self) {
        self.rack.reo_wnd_persist = self.rack.reo_wnd_persist.saturating_sub(1);
        if self.rack.reo_wnd_persist == 0 {
            self.rack.reo_wnd_mult = 1;
        }
    }
    /// RACK_sent_after (RFC 8985 6.2): was (t1, e1) sent after (t2, e2)?
    fn sent_after(t1: Instant, e1: SeqNum, t2: Instant, e2: SeqNum) -> bool {
        t1 > t2 || (t1 == t2 && e1 > e2)
    }
    /// Sent before the most recently sent segment known delivered.
    fn before_rack(&self, r: &Rec) -> bool {
        self.rack.xmit_ts.is_some_and(|x| Self::sent_after(x, self.rack.end_seq, r.sent, r.end))
    }
    /// The first un-SACKed piece of `[from, end)`.
    pub fn unsacked_piece(&self, from: SeqNum, end: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut s = from;
        if let Some(e) = self.loss.scoreboard.sacked_end(s) {
            s = e;
        }
        if s >= end {
            return None;
        }
        let e = self.loss.scoreboard.next_sacked(s).map_or(end, |n| n.min(end));
        Some((s, e))
    }
    /// Loss detection, marking records lost in the transmission log (`sentlog.rs`), with work
    /// proportional to the records newly marked, not to those in flight:
    /// - RFC 6675 IsLost: a record never retransmitted with three segments' worth SACKed above
    ///   it; one cursor moves up the sequence space.
    /// - RFC 8985 6.2 (Linux tcp_rack_detect_loss): walking transmissions oldest first, a
    ///   record sent before a segment since delivered (or below the highest SACK) and
    ///   outstanding for `rack_wait` is lost; the walk stops at the first that is not.
    ///
    /// Returns when the oldest watched transmission will be lost (the RACK reorder timer).
    pub fn detect_loss(&mut self, now: Instant) -> Option<Instant> {
        let hi = self.loss.scoreboard.highest();
        if !self.rack.reord_seen {
            if let Some(t) = self.loss.scoreboard.dupthresh_point(3 * self.eff_mss()) {
                self.loss.sent.mark_dupthresh(self.snd.una, t);
            }
        }
        if hi.is_none() && self.rack.xmit_ts.is_none() {
            return None;
        }
        let wait = self.rack_wait();
        while let Some(i) = self.loss.sent.timed_front() {
            let r = *self.loss.sent.get(i);
            // Below the highest SACK says "sent before it" only of a first transmission.
            if !((r.retx == 0 && hi.is_some_and(|h| r.start < h)) || self.before_rack(&r)) {
                return None; // sent after everything delivered: the TLP and the RTO watch it
            }
            if now < r.sent + wait {
                return Some(r.sent + wait);
            }
            self.loss.sent.mark_lost(i);
            self.loss.sent.pop_timed();
        }
        None
    }
    /// RFC 6675 pipe from the log's counters (Linux tcp_packets_in_flight): outstanding bytes
    /// less those SACKed or lost, plus lost ones retransmitted.
    pub fn sack_pipe(&self) -> usize {
        self.loss.sent.pipe(self.snd.max.since(self.snd.una))
    }
    /// The log's counters agree with its marks and SACKED with the scoreboard (checked after
    /// every ACK and output in unit tests).
    #[cfg(test)]
    pub fn check_marks(&self) -> Result<(), String> {
        let work = sentlog::WORK.with(|w| w.get()); // the check is not the stack's work
        self.loss.sent.check()?;
        let r = self.loss.sent.check_sacked(|a, b| self.loss.scoreboard.sacked_end(a).is_some_and(|e| e >= b));
        sentlog::WORK.with(|w| w.set(work));
        r
    }
    /// After a cumulative ACK trimmed the front record, what is left of it may lie wholly
    /// inside a SACKed block (its tail was SACKed, its head now ACKed): mark it SACKED, as the
    /// scoreboard holds it (Linux tcp_shifted_skb / tcp_sacktag_walk see the trimmed skb too).
    pub(super) fn mark_trimmed_sacked(&mut self) {
        if self.loss.sent.len() == 0 {
            return;
        }
        let r = *self.loss.sent.get(0);
        if !r.sacked && self.loss.scoreboard.sacked_end(r.start).is_some_and(|e| e >= r.end) {
            self.loss.sent.mark_sacked(0);
        }
    }
    /// RFC 8985 6.2 step 2 for one newly delivered record (see `sack_update`).
    fn rack_consider(
        &mut self,
        best: &mut Option<(Instant, SeqNum, Duration)>,
        now: Instant,
        r: &Rec,
        ecr: Option<u32>,
    ) {
        // Step 3: delivered after a later segment, never retransmitted: reordering.
        if r.retx == 0 && self.rack.fack.is_some_and(|f| r.end < f) {
            self.rack.reord_seen = true;
        }
        let rtt = now - r.sent;
        if r.retx > 0 {
            let older = ecr.is_some_and(|e| (e.wrapping_sub(self.ts_now(r.sent)) as i32) < 0);
            if older || self.rtt.min_rtt.is_some_and(|m| rtt < m) {
                return;
            }
        }
        if best.is_none_or(|(bt, be, _)| Self::sent_after(r.sent, r.end, bt, be)) {
            *best = Some((r.sent, r.end, rtt));
        }
    }
    /// The scoreboard takes an ACK's SACK blocks (the records they newly cover are marked
    /// SACKED: work per newly SACKed record, O(log n) to find it), and, with `rack`, RACK_update
    /// (RFC 8985 6.2 step 2): among the segments this ACK newly delivers (cumulatively up to
    /// `acked_upto`, or by SACK), the most recently sent gives RACK.xmit_ts, RACK.end_seq and
    /// RACK.rtt. A retransmitted segment whose ACK may be for an earlier transmission (TSecr
    /// older than the retransmission, or quicker than min_RTT) is ambiguous and skipped.
    /// Returns true if the ACK SACKed new data.
    pub fn sack_update(
        &mut self,
        now: Instant,
        acked_upto: SeqNum,
        sack: &[Option<(u32, u32)>; 4],
        ecr: Option<u32>,
        rack: bool,
    ) -> bool {
        let mut best: Option<(Instant, SeqNum, Duration)> = None;
        if rack {
            let mut i = self.loss.sent.first_after(self.snd.una);
            while i < self.loss.sent.len() && self.loss.sent.get(i).end <= acked_upto {
                let r = *self.loss.sent.get(i);
                if !r.sacked {
                    self.rack_consider(&mut best, now, &r, ecr);
                }
                i += 1;
            }
        }
        let mut filled = Vec::new();
        let new = self.loss.scoreboard.update(self.snd.una.max(acked_upto), self.snd.max, sack, &mut filled);
        for (l, rr) in filled {
            let mut i = self.loss.sent.first_after(l);
            while i < self.loss.sent.len() && self.loss.sent.get(i).start < rr {
                sentlog::tick(1);
                let r = *self.loss.sent.get(i);
                if !r.sacked && self.loss.scoreboard.sacked_end(r.start).is_some_and(|e| e >= r.end) {
                    if rack {
                        self.rack_consider(&mut best, now, &r, ecr);
                    }
                    self.loss.sent.mark_sacked(i);
                }
                i += 1;
            }
        }
        // RACK.fack: the highest delivered, cumulatively or by SACK.
        let delivered = self.loss.scoreboard.highest().map_or(acked_upto, |h| h.max(acked_upto));
        if delivered <= self.snd.max && self.rack.fack.is_none_or(|f| delivered > f) {
            self.rack.fack = Some(delivered);
        }
        if let Some((t, e, rtt)) = best {
            self.rtt.note_min(rtt);
            self.rack.rtt = Some(rtt);
            if self.rack.xmit_ts.is_none_or(|x| Self::sent_after(t, e, x, self.rack.end_seq)) {
                self.rack.xmit_ts = Some(t);
                self.rack.end_seq = e;
            }
        }
        new
    }
    /// TLP loss detection (RFC 8985 7.4.3, as Linux tcp_process_tlp_ack): `advanced` if this
    /// ACK moved SND.UNA, `pure` if it carried nothing else (no data, SACK or window change).
    pub fn tlp_process_ack(&mut self, ack: SeqNum, sack: &[Option<(u32, u32)>; 4], advanced: bool, pure: bool) {
        let Some(high) = self.rack.tlp_end_seq else { return };
        if ack < high {
            return;
        }
        // A D-SACK of the probe: original and probe both arrived.
        let dsack = sack[0].is_some_and(|(l, r)| SeqNum(l) < high && high <= SeqNum(r) && SeqNum(r) <= ack);
        if !self.rack.tlp_is_retrans || dsack {
            self.rack.tlp_end_seq = None;
        } else if ack > high {
            // The probe repaired a loss: reduce cwnd as for any loss.
            self.rack.tlp_end_seq = None;
            let cwnd = self.cc.cwnd;
            self.cc.on_fast_loss(cwnd);
        } else if !advanced && pure {
            self.rack.tlp_end_seq = None; // a duplicate ACK for the probe: nothing was lost
        }
    }
    /// Enters fast recovery if duplicate ACKs or SACK/time evidence show a loss.
    pub fn check_loss(&mut self, now: Instant) {
        if self.opts.sack_ok {
            self.detect_loss(now);
        }
        if self.loss.in_recovery || self.snd.una == self.snd.max {
            return;
        }
        let fresh = self.snd.una >= self.loss.recover || self.loss.recover == self.snd.iss;
        if !fresh {
            return;
        }
        let sack_lost = self.opts.sack_ok && self.loss.sent.lost_unsent() > 0;
        // With SACK, once reordering was seen only RACK's timing says lost (Linux
        // tcp_time_to_recover with RACK: no duplicate-ACK threshold).
        let dupthresh = !(self.opts.sack_ok && self.rack.reord_seen) && self.loss.dupacks >= 3;
        if dupthresh || sack_lost {
            self.enter_recovery(now);
        }
    }
    /// RFC 6582 3.2 step 2 / RFC 6675 5 step 4.
    pub fn enter_recovery(&mut self, now: Instant) {
        self.loss.in_recovery = true;
        self.loss.recover = self.snd.max;
        let flight = self.snd.max.since(self.snd.una) as u32;
        self.undo_mark(now);
        self.cc.on_fast_loss(flight);
        self.loss.rexmit_head = true;
        self.rtt_probe = None;
        self.rack.pto_at = None;
        self.counters.fast_retransmits += 1;
    }
}
