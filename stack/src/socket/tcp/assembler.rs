//! Out-of-order reassembly bookkeeping (RFC 9293 3.10.7.4): which sequence ranges past
//! `rcv_nxt` have been received. The bytes themselves are written in place into the receive
//! ring; this only tracks ranges. Bounded: at most `MAX_RANGES` disjoint ranges.
use super::seq::SeqNum;

pub const MAX_RANGES: usize = 64;

#[derive(Default, Debug, Clone)]
pub struct Assembler {
    /// Disjoint, non-adjacent ranges `[start, end)`, sorted by sequence.
    ranges: Vec<(SeqNum, SeqNum)>,
    /// Start of the range holding the most recently received segment (for RFC 2018 ordering).
    recent: Option<SeqNum>,
}

impl Assembler {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    #[cfg(test)]
    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }
    /// Records `[start, end)` (beyond `rcv_nxt`). False if it would exceed the bound (the caller
    /// then drops the segment, which the peer will retransmit).
    pub fn add(&mut self, start: SeqNum, end: SeqNum) -> bool {
        if end <= start {
            return true;
        }
        // First range whose end >= start (could merge).
        let i = self.ranges.iter().position(|&(_, e)| e >= start).unwrap_or(self.ranges.len());
        let mut j = i;
        let (mut s, mut e) = (start, end);
        while j < self.ranges.len() && self.ranges[j].0 <= e {
            s = s.min(self.ranges[j].0);
            e = e.max(self.ranges[j].1);
            j += 1;
        }
        if i == j && self.ranges.len() >= MAX_RANGES {
            return false;
        }
        self.ranges.splice(i..j, [(s, e)]);
        self.recent = Some(s);
        true
    }
    /// After `rcv_nxt` reached `rcv_nxt`: removes ranges it now covers and returns the new
    /// `rcv_nxt` (extended over a range that starts at or before it).
    pub fn advance(&mut self, mut rcv_nxt: SeqNum) -> SeqNum {
        let mut n = 0;
        for &(s, e) in &self.ranges {
            if s <= rcv_nxt {
                rcv_nxt = rcv_nxt.max(e);
                n += 1;
            } else {
                break;
            }
        }
        self.ranges.drain(..n);
        rcv_nxt
    }
    /// The part of `[start, end)` already held (the first held range it meets), if any: a
    /// duplicate to report with D-SACK (RFC 2883 4).
    pub fn held(&self, start: SeqNum, end: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let &(s, e) = self.ranges.iter().find(|&&(s, e)| s < end && start < e)?;
        Some((s.max(start), e.min(end)))
    }
    /// Up to `max` SACK blocks: the most recent range first, then the others in order.
    pub fn sack_blocks(&self, max: usize) -> [Option<(u32, u32)>; 4] {
        let mut out = [None; 4];
        let mut k = 0;
        let recent = self.recent.and_then(|r| self.ranges.iter().find(|&&(s, e)| s <= r && r < e));
        if let Some(&(s, e)) = recent {
            out[0] = Some((s.0, e.0));
            k = 1;
        }
        for &(s, e) in &self.ranges {
            if k >= max.min(4) {
                break;
            }
            if Some(&(s, e)) != recent {
                out[k] = Some((s.0, e.0));
                k += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn merges_and_advances() {
        let mut a = Assembler::default();
        let s = |n: u32| SeqNum(n.wrapping_add(u32::MAX - 100));
        assert!(a.add(s(20), s(30)));
        assert!(a.add(s(40), s(50)));
        assert!(a.add(s(10), s(15)));
        assert_eq!(a.ranges().len(), 3);
        assert_eq!(a.sack_blocks(3)[0], Some((s(10).0, s(15).0)));
        assert!(a.add(s(30), s(40)));
        assert_eq!(a.ranges(), &[(s(10), s(15)), (s(20), s(50))]);
        assert!(a.add(s(12), s(22)));
        assert_eq!(a.ranges(), &[(s(10), s(50))]);
        assert_eq!(a.advance(s(5)), s(5));
        assert_eq!(a.advance(s(10)), s(50));
        assert!(a.is_empty());
    }
    #[test]
    fn bounded() {
        let mut a = Assembler::default();
        for i in 0..MAX_RANGES as u32 {
            assert!(a.add(SeqNum(i * 10), SeqNum(i * 10 + 5)));
        }
        assert!(!a.add(SeqNum(10_000), SeqNum(10_005)));
        // Merging into an existing range still works at the bound.
        assert!(a.add(SeqNum(5), SeqNum(10)));
    }
}
