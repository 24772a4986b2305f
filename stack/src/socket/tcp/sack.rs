//! Sender-side SACK scoreboard (RFC 2018, RFC 6675): which ranges above `snd_una` the peer
//! reported holding, so recovery retransmits only the holes.
use super::seq::SeqNum;

const MAX_BLOCKS: usize = 64;

#[derive(Default, Debug, Clone)]
pub struct Scoreboard {
    /// Disjoint sorted SACKed ranges above `snd_una`.
    blocks: Vec<(SeqNum, SeqNum)>,
    /// suffix[i]: bytes SACKed in blocks i.. (kept with `blocks`, so queries are O(log n)).
    suffix: Vec<usize>,
}

impl Scoreboard {
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.suffix.clear();
    }
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
    /// Folds in the SACK blocks of an ACK; ignores blocks outside `(snd_una, snd_max]`.
    /// Returns true if newly SACKed data was reported; appends the newly SACKed ranges to `new`.
    pub fn update(
        &mut self,
        snd_una: SeqNum,
        snd_max: SeqNum,
        sack: &[Option<(u32, u32)>; 4],
        new: &mut Vec<(SeqNum, SeqNum)>,
    ) -> bool {
        let n = new.len();
        for &(l, r) in sack.iter().flatten() {
            let (l, r) = (SeqNum(l).max(snd_una), SeqNum(r));
            if r <= l || r > snd_max {
                continue;
            }
            self.insert(l, r, new);
        }
        new.len() > n
    }
    /// Merges `[start, end)` in (at most MAX_BLOCKS blocks, so O(1)); the holes it fills go to
    /// `new`.
    fn insert(&mut self, start: SeqNum, end: SeqNum, new: &mut Vec<(SeqNum, SeqNum)>) {
        super::sentlog::tick(1);
        let i = self.blocks.iter().position(|&(_, e)| e >= start).unwrap_or(self.blocks.len());
        let mut j = i;
        let overlaps = i < self.blocks.len() && self.blocks[i].0 <= end;
        if !overlaps && self.blocks.len() >= MAX_BLOCKS {
            return;
        }
        let (mut s, mut e) = (start, end);
        let mut at = start;
        while j < self.blocks.len() && self.blocks[j].0 <= e {
            let (bs, be) = self.blocks[j];
            if bs > at {
                new.push((at, bs));
            }
            at = at.max(be);
            s = s.min(bs);
            e = e.max(be);
            j += 1;
        }
        if at < end {
            new.push((at, end));
        }
        self.blocks.splice(i..j, [(s, e)]);
        self.resum();
    }
    fn resum(&mut self) {
        self.suffix.clear();
        self.suffix.resize(self.blocks.len() + 1, 0);
        for i in (0..self.blocks.len()).rev() {
            self.suffix[i] = self.suffix[i + 1] + self.blocks[i].1.since(self.blocks[i].0);
        }
    }
    /// Index of the first block ending after `seq`.
    fn first_after(&self, seq: SeqNum) -> usize {
        super::sentlog::tick(1);
        self.blocks.partition_point(|&(_, e)| e <= seq)
    }
    #[cfg(test)]
    /// Bytes SACKed at or above `from`.
    fn sacked_from(&self, from: SeqNum) -> usize {
        let i = self.first_after(from);
        match self.blocks.get(i) {
            Some(&(s, e)) => e.since(s.max(from)) + self.suffix[i + 1],
            None => 0,
        }
    }
    /// Forgets what `snd_una` now covers.
    pub fn prune(&mut self, snd_una: SeqNum) {
        let n = self.blocks.iter().take_while(|&&(_, e)| e <= snd_una).count();
        self.blocks.drain(..n);
        if let Some(b) = self.blocks.first_mut() {
            if b.0 < snd_una {
                b.0 = snd_una;
            }
        }
        self.resum();
    }
    #[cfg(test)]
    pub fn sacked_bytes(&self) -> usize {
        self.suffix.first().copied().unwrap_or(0)
    }
    #[cfg(test)]
    /// SACKed bytes inside `[from, to)`.
    pub fn sacked_in(&self, from: SeqNum, to: SeqNum) -> usize {
        if to <= from {
            return 0;
        }
        self.sacked_from(from) - self.sacked_from(to)
    }
    /// The highest point with at least `need` bytes SACKed above it, below the highest SACK
    /// (RFC 6675 IsLost: segments ending there or lower are lost). O(blocks).
    pub fn dupthresh_point(&self, need: usize) -> Option<SeqNum> {
        let mut acc = 0;
        for &(s, e) in self.blocks.iter().rev() {
            let len = e.since(s);
            if acc + len >= need {
                return Some(e - (need - acc));
            }
            acc += len;
        }
        None
    }
    /// Highest SACKed sequence (end of the last block).
    pub fn highest(&self) -> Option<SeqNum> {
        self.blocks.last().map(|b| b.1)
    }
    /// If `seq` is inside a SACKed block, that block's end.
    pub fn sacked_end(&self, seq: SeqNum) -> Option<SeqNum> {
        let i = self.first_after(seq);
        self.blocks.get(i).filter(|&&(s, _)| s <= seq).map(|b| b.1)
    }
    /// Start of the next SACKed block after `seq`, if any.
    pub fn next_sacked(&self, seq: SeqNum) -> Option<SeqNum> {
        let i = self.blocks.partition_point(|&(s, _)| s <= seq);
        self.blocks.get(i).map(|b| b.0)
    }
    /// The first un-SACKed range at or after `from` that lies below the highest SACKed byte
    /// (RFC 6675 holes, considered lost).
    #[cfg(test)]
    pub fn next_hole(&self, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut at = from;
        for &(s, e) in &self.blocks {
            if e <= at {
                continue;
            }
            if s > at {
                return Some((at, s));
            }
            at = e;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn holes_and_pruning() {
        let mut sb = Scoreboard::default();
        let una = SeqNum(1000);
        let max = SeqNum(10_000);
        let mut new = Vec::new();
        assert!(sb.update(una, max, &[Some((3000, 4000)), Some((5000, 6000)), Some((20_000, 30_000)), None], &mut new));
        assert!(!sb.update(una, max, &[Some((3000, 4000)), None, None, None], &mut new));
        assert_eq!(new, vec![(SeqNum(3000), SeqNum(4000)), (SeqNum(5000), SeqNum(6000))]);
        assert_eq!(sb.dupthresh_point(1500), Some(SeqNum(3500)));
        assert_eq!(sb.dupthresh_point(2001), None);
        assert_eq!(sb.sacked_bytes(), 2000);
        assert_eq!(sb.highest(), Some(SeqNum(6000)));
        assert_eq!(sb.next_hole(una), Some((SeqNum(1000), SeqNum(3000))));
        assert_eq!(sb.next_hole(SeqNum(3500)), Some((SeqNum(4000), SeqNum(5000))));
        assert_eq!(sb.next_hole(SeqNum(5500)), None);
        assert_eq!(sb.sacked_end(SeqNum(3500)), Some(SeqNum(4000)));
        assert_eq!(sb.sacked_in(SeqNum(3500), SeqNum(5500)), 1000);
        new.clear();
        sb.update(una, max, &[Some((2500, 7000)), None, None, None], &mut new);
        let filled = [(2500, 3000), (4000, 5000), (6000, 7000)].map(|(a, b)| (SeqNum(a), SeqNum(b)));
        assert_eq!(new, filled);
        assert_eq!(sb.next_hole(SeqNum(2500)), None);
        sb.prune(SeqNum(3500));
        assert_eq!(sb.sacked_bytes(), 3500);
        sb.prune(SeqNum(7000));
        assert!(sb.is_empty());
    }
}
