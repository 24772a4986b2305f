//! Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4).
use core::cmp::Ordering;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number. Comparisons are by signed distance, valid within 2^31.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Distance `self - earlier` as an unsigned count; 0 if `earlier` is after `self`.
    pub fn since(self, earlier: SeqNum) -> usize {
        let d = self.0.wrapping_sub(earlier.0) as i32;
        if d < 0 {
            0
        } else {
            d as usize
        }
    }
    pub fn max(self, o: SeqNum) -> SeqNum {
        if self >= o {
            self
        } else {
            o
        }
    }
    pub fn min(self, o: SeqNum) -> SeqNum {
        if self <= o {
            self
        } else {
            o
        }
    }
    /// `lo <= self < hi`.
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        lo <= self && self < hi
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, o: &SeqNum) -> Option<Ordering> {
        Some((self.0.wrapping_sub(o.0) as i32).cmp(&0))
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(n as u32))
    }
}
impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, n: usize) {
        *self = *self + n;
    }
}
impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n as u32))
    }
}
/// Signed distance.
impl Sub<SeqNum> for SeqNum {
    type Output = i64;
    fn sub(self, o: SeqNum) -> i64 {
        self.0.wrapping_sub(o.0) as i32 as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn wraps() {
        let a = SeqNum(u32::MAX - 5);
        let b = a + 10;
        assert_eq!(b.0, 4);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.since(a), 10);
        assert_eq!(a.since(b), 0);
        assert_eq!(b - a, 10);
        assert_eq!(a - b, -10);
        assert!((a + 3).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }
}
