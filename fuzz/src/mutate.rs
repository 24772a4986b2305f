//! Byte-level mutations in the style of libFuzzer/AFL havoc, driven by a small seeded PRNG so a
//! run is reproducible from its seed.

/// xorshift64* (deterministic, no dependency).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Values that tend to sit on boundaries (lengths, offsets, flags).
const INTERESTING8: [u8; 10] = [0, 1, 2, 4, 8, 0x10, 0x40, 0x7f, 0x80, 0xff];
const INTERESTING16: [u16; 10] = [0, 1, 8, 20, 40, 60, 0x100, 0x7fff, 0x8000, 0xffff];

/// Applies 1 to 8 random mutations to `data`, keeping it at most `max_len` bytes. `other` is
/// another corpus entry, for splicing.
pub fn mutate(data: &mut Vec<u8>, other: &[u8], max_len: usize, rng: &mut Rng) {
    let n = 1 + rng.below(8);
    for _ in 0..n {
        match rng.below(12) {
            0 | 1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            2 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next_u64() as u8;
            }
            3 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = INTERESTING8[rng.below(INTERESTING8.len())];
            }
            4 if data.len() >= 2 => {
                let i = rng.below(data.len() - 1);
                let v = INTERESTING16[rng.below(INTERESTING16.len())];
                let b = if rng.chance(2) { v.to_be_bytes() } else { v.to_le_bytes() };
                data[i..i + 2].copy_from_slice(&b);
            }
            5 if !data.is_empty() => {
                // add or subtract a small value
                let i = rng.below(data.len());
                let d = 1 + rng.below(16) as u8;
                data[i] = if rng.chance(2) { data[i].wrapping_add(d) } else { data[i].wrapping_sub(d) };
            }
            6 if !data.is_empty() => {
                // delete a chunk
                let i = rng.below(data.len());
                let len = 1 + rng.below((data.len() - i).min(64));
                data.drain(i..i + len);
            }
            7 => {
                // insert random bytes
                let i = rng.below(data.len() + 1);
                let len = 1 + rng.below(32);
                let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                data.splice(i..i, bytes);
            }
            8 if !data.is_empty() => {
                // duplicate a chunk
                let i = rng.below(data.len());
                let len = 1 + rng.below((data.len() - i).min(128));
                let chunk = data[i..i + len].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, chunk);
            }
            9 if !other.is_empty() => {
                // splice: our head, the other's tail
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            10 if !other.is_empty() && !data.is_empty() => {
                // overwrite with a chunk of the other input
                let from = rng.below(other.len());
                let len = (1 + rng.below(32)).min(other.len() - from);
                let at = rng.below(data.len());
                let end = (at + len).min(data.len());
                data[at..end].copy_from_slice(&other[from..from + (end - at)]);
            }
            11 => {
                let keep = rng.below(data.len() + 1);
                data.truncate(keep);
            }
            _ => {}
        }
    }
    data.truncate(max_len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_bounded_and_vary() {
        let mut rng = Rng::new(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let mut d = vec![1, 2, 3, 4, 5, 6, 7, 8];
            mutate(&mut d, &[9; 40], 32, &mut rng);
            assert!(d.len() <= 32);
            seen.insert(d);
        }
        assert!(seen.len() > 1000, "only {} distinct mutants", seen.len());
    }
}
