//! The transmission log and the sender's per-segment scoreboard, kept as Linux keeps its
//! retransmission queue: each outstanding segment (record) in sequence order with its SACKED,
//! LOST and RETRANS marks, and the counters `sacked_out`, `lost_out`, `retrans_out` updated only
//! when a record's marks change, so the RFC 6675 pipe (Linux tcp_packets_in_flight) costs O(1).
//! A second queue orders transmissions by time for RACK (RFC 8985, Linux tsorted_sent_queue),
//! and a third holds the records marked lost and not yet retransmitted (RFC 6675 NextSeg), so
//! loss detection and retransmission resume where they stopped instead of rescanning.
use std::collections::VecDeque;

use super::seq::SeqNum;
use crate::time::Instant;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub start: SeqNum,
    pub end: SeqNum,
    pub sent: Instant,
    pub retx: u32,
    /// Wholly covered by the SACK scoreboard.
    pub sacked: bool,
    /// Deemed lost (RFC 6675 IsLost, RFC 8985 6.2).
    pub lost: bool,
    /// Lost and retransmitted since (Linux TCPCB_SACKED_RETRANS): in the pipe again.
    pub retrans: bool,
}

impl Rec {
    fn len(&self) -> usize {
        self.end.since(self.start)
    }
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
    /// Transmissions oldest first: (end of the record, its `retx` then). An entry is stale once
    /// the record is gone, SACKed, resent, or lost awaiting retransmission; skipped lazily.
    timed: VecDeque<(SeqNum, u32)>,
    /// Ends of records marked lost, in marking order; stale entries skipped lazily.
    lostq: VecDeque<SeqNum>,
    /// Records ending at or below this were examined by the duplicate-threshold rule.
    dup_mark: Option<SeqNum>,
    /// Bytes in records SACKed / lost / lost and retransmitted (Linux sacked_out, lost_out,
    /// retrans_out, in bytes).
    pub sacked_out: usize,
    pub lost_out: usize,
    pub retrans_out: usize,
}

impl SentLog {
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
    pub fn get(&self, i: usize) -> &Rec {
        &self.recs[i]
    }
    /// Index of the first record ending after `seq` (O(log n)).
    pub fn first_after(&self, seq: SeqNum) -> usize {
        tick(1);
        self.recs.partition_point(|r| r.end <= seq)
    }
    /// Index of the record ending exactly at `end`.
    fn find_end(&self, end: SeqNum) -> Option<usize> {
        let i = self.recs.partition_point(|r| r.end < end);
        self.recs.get(i).is_some_and(|r| r.end == end).then_some(i)
    }
    /// Records a transmission of `[s, e)` at `now`.
    pub fn on_send(&mut self, s: SeqNum, e: SeqNum, now: Instant) {
        if e <= s {
            return;
        }
        let tail = self.recs.back().map(|r| r.end);
        match tail {
            Some(t) if s < t => {
                let mut i = self.first_after(s);
                while let Some(r) = self.recs.get_mut(i) {
                    if r.start >= e {
                        break;
                    }
                    tick(1);
                    r.sent = now;
                    r.retx += 1;
                    if r.lost && !r.retrans {
                        r.retrans = true;
                        self.retrans_out += r.len();
                    }
                    self.timed.push_back((r.end, r.retx));
                    i += 1;
                }
                if e > t {
                    self.recs.push_back(Rec::new(t, e, now));
                    self.timed.push_back((e, 0));
                }
            }
            _ => {
                if self.recs.len() >= 1 << 16 {
                    let r = self.recs.pop_front().unwrap();
                    self.unmark(&r, r.len());
                }
                self.recs.push_back(Rec::new(s, e, now));
                self.timed.push_back((e, 0));
            }
        }
        if self.timed.len() > 2 * self.recs.len() + 64 {
            self.compact();
        }
    }
    /// Takes `n` bytes of record `r`'s marks out of the counters.
    fn unmark(&mut self, r: &Rec, n: usize) {
        if r.sacked {
            self.sacked_out -= n;
        }
        if r.lost {
            self.lost_out -= n;
        }
        if r.retrans {
            self.retrans_out -= n;
        }
    }
    /// Forgets what `una` acknowledges.
    pub fn prune(&mut self, una: SeqNum) {
        while let Some(r) = self.recs.front().copied() {
            if r.end <= una {
                self.recs.pop_front();
                self.unmark(&r, r.len());
            } else {
                if r.start < una {
                    self.unmark(&r, una.since(r.start));
                    self.recs[0].start = una;
                }
                break;
            }
        }
        if self.dup_mark.is_some_and(|m| m <= una) {
            self.dup_mark = None;
        }
        while self.timed.front().is_some_and(|&(e, _)| e <= una) {
            self.timed.pop_front();
        }
        while self.lostq.front().is_some_and(|&e| e <= una) {
            self.lostq.pop_front();
        }
    }
    /// Drops every mark (an RTO: the receiver may have reneged, RFC 6675 5.1). O(n), once per
    /// timeout, as Linux tcp_enter_loss.
    pub fn clear_marks(&mut self) {
        for r in self.recs.iter_mut() {
            (r.sacked, r.lost, r.retrans) = (false, false, false);
        }
        (self.sacked_out, self.lost_out, self.retrans_out) = (0, 0, 0);
        self.lostq.clear();
        self.dup_mark = None;
    }
    /// Record `i` is now wholly SACKed.
    pub fn mark_sacked(&mut self, i: usize) {
        let r = self.recs[i];
        if r.sacked {
            return;
        }
        self.unmark(&r, r.len());
        let r = &mut self.recs[i];
        (r.sacked, r.lost, r.retrans) = (true, false, false);
        self.sacked_out += r.len();
    }
    /// Record `i` is lost (Linux tcp_mark_skb_lost): a lost retransmission needs sending again.
    pub fn mark_lost(&mut self, i: usize) {
        let r = &mut self.recs[i];
        if r.sacked || (r.lost && !r.retrans) {
            return;
        }
        let n = r.len();
        if r.retrans {
            r.retrans = false;
            self.retrans_out -= n;
        } else {
            r.lost = true;
            self.lost_out += n;
        }
        self.lostq.push_back(r.end);
        if self.lostq.len() > 2 * self.recs.len() + 64 {
            self.compact();
        }
    }
    /// RFC 6675 IsLost over records never retransmitted that end at or below `upto` (enough
    /// SACKed above them): resumes where the last call stopped, so each record is looked at once.
    pub fn mark_dupthresh(&mut self, una: SeqNum, upto: SeqNum) {
        let from = self.dup_mark.map_or(una, |m| m.max(una));
        if upto <= from {
            return;
        }
        let mut i = self.first_after(from);
        while i < self.recs.len() && self.recs[i].end <= upto {
            tick(1);
            let r = self.recs[i];
            if r.retx == 0 && !r.sacked && !r.lost {
                self.mark_lost(i);
            }
            i += 1;
        }
        self.dup_mark = Some(upto);
    }
    /// Bytes lost and not retransmitted since.
    pub fn lost_unsent(&self) -> usize {
        self.lost_out - self.retrans_out
    }
    /// RFC 6675 pipe / Linux tcp_packets_in_flight over `out` bytes outstanding.
    pub fn pipe(&self, out: usize) -> usize {
        (out + self.retrans_out).saturating_sub(self.sacked_out + self.lost_out)
    }
    fn timed_valid(&self, (end, gen): (SeqNum, u32)) -> Option<usize> {
        let i = self.find_end(end)?;
        let r = &self.recs[i];
        (r.retx == gen && !r.sacked && (!r.lost || r.retrans)).then_some(i)
    }
    /// The oldest transmission still watched by RACK (un-SACKed, not awaiting retransmission).
    pub fn timed_front(&mut self) -> Option<usize> {
        while let Some(&t) = self.timed.front() {
            tick(1);
            if let Some(i) = self.timed_valid(t) {
                return Some(i);
            }
            self.timed.pop_front();
        }
        None
    }
    pub fn pop_timed(&mut self) {
        self.timed.pop_front();
    }
    fn lost_valid(&self, end: SeqNum) -> Option<usize> {
        let i = self.find_end(end)?;
        let r = &self.recs[i];
        (r.lost && !r.retrans && !r.sacked).then_some(i)
    }
    /// The next record to retransmit (RFC 6675 NextSeg rule 1): lost, not yet resent.
    pub fn next_lost(&mut self) -> Option<usize> {
        while let Some(&e) = self.lostq.front() {
            tick(1);
            if let Some(i) = self.lost_valid(e) {
                return Some(i);
            }
            self.lostq.pop_front();
        }
        None
    }
    pub fn pop_lost(&mut self) {
        self.lostq.pop_front();
    }
    /// Drops stale queue entries (amortized O(log n) per transmission).
    fn compact(&mut self) {
        let timed = std::mem::take(&mut self.timed);
        self.timed = timed.into_iter().filter(|&t| self.timed_valid(t).is_some()).collect();
        let lostq = std::mem::take(&mut self.lostq);
        self.lostq = lostq.into_iter().filter(|&e| self.lost_valid(e).is_some()).collect();
    }
    /// The counters agree with the marks (tests).
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        let sum = |f: fn(&Rec) -> bool| self.recs.iter().filter(|r| f(r)).map(|r| r.len()).sum::<usize>();
        let (s, l, x) = (sum(|r| r.sacked), sum(|r| r.lost), sum(|r| r.retrans));
        if (s, l, x) != (self.sacked_out, self.lost_out, self.retrans_out) {
            return Err(format!(
                "sacked/lost/retrans out {}/{}/{}, marks sum to {s}/{l}/{x}",
                self.sacked_out, self.lost_out, self.retrans_out
            ));
        }
        if let Some(r) = self.recs.iter().find(|r| (r.retrans && !r.lost) || (r.sacked && r.lost)) {
            return Err(format!("record {r:?} has inconsistent marks"));
        }
        Ok(())
    }
    /// Every record's SACKED mark says whether `covered` reports it wholly SACKed (tests).
    #[cfg(test)]
    pub fn check_sacked(&self, covered: impl Fn(SeqNum, SeqNum) -> bool) -> Result<(), String> {
        match self.recs.iter().find(|r| r.sacked != covered(r.start, r.end)) {
            Some(r) => Err(format!("record {r:?}: SACKED mark disagrees with the scoreboard")),
            None => Ok(()),
        }
    }
}

impl Rec {
    fn new(start: SeqNum, end: SeqNum, sent: Instant) -> Rec {
        Rec { start, end, sent, retx: 0, sacked: false, lost: false, retrans: false }
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
        let v: Vec<_> = (0..3).map(|i| l.get(i)).map(|r| (r.start.0, r.sent, r.retx)).collect();
        assert_eq!(v, vec![(100, t(1), 0), (200, t(10), 1), (300, t(3), 0)]);
        l.on_send(SeqNum(350), SeqNum(450), t(11));
        assert_eq!(l.back().unwrap().start, SeqNum(400));
        l.prune(SeqNum(250));
        assert_eq!(l.front().unwrap().start, SeqNum(250));
        assert_eq!(l.len(), 3);
    }
    #[test]
    fn counters_follow_the_marks() {
        let mut l = SentLog::default();
        let t = Instant::from_millis;
        for k in 0..10u32 {
            l.on_send(SeqNum(100 * k), SeqNum(100 * k + 100), t(1));
        }
        l.mark_sacked(5);
        l.mark_dupthresh(SeqNum(0), SeqNum(300));
        assert_eq!((l.sacked_out, l.lost_out, l.retrans_out), (100, 300, 0));
        assert_eq!(l.pipe(1000), 600);
        // NextSeg: the lost records in order; a retransmission puts one back in the pipe.
        let i = l.next_lost().unwrap();
        assert_eq!(l.get(i).start, SeqNum(0));
        l.on_send(SeqNum(0), SeqNum(100), t(5));
        assert_eq!(l.pipe(1000), 700);
        let i = l.next_lost().unwrap();
        assert_eq!(l.get(i).start, SeqNum(100));
        // The retransmission is lost too: it needs sending again.
        l.mark_lost(0);
        assert_eq!((l.lost_out, l.retrans_out), (300, 0));
        l.mark_sacked(1); // a lost record SACKed after all
        assert_eq!((l.sacked_out, l.lost_out), (200, 200));
        l.prune(SeqNum(250));
        assert_eq!((l.sacked_out, l.lost_out, l.retrans_out), (100, 50, 0));
        l.check().unwrap();
        // The time order: the oldest watched transmission first, stale entries skipped.
        let i = l.timed_front().unwrap();
        assert_eq!(l.get(i).start, SeqNum(300));
        l.clear_marks();
        assert_eq!(l.pipe(750), 750);
        l.check().unwrap();
    }
}
