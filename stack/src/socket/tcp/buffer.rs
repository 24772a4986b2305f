//! Byte ring used for the send and receive buffers. Bytes past `len` may be written
//! (`write_at`) before they become readable (`commit`), which is how out-of-order data is stored
//! in place (no per-segment allocation). The send ring is filled in place too: `vacant` gives
//! its free space, `commit` makes what the caller wrote there readable (`send_with`).
//!
//! Memory follows use (as Linux charges a socket only for the skbs it holds): `capacity` is the
//! limit (SO_SNDBUF/SO_RCVBUF, what the window is computed from), but storage is allocated on
//! demand, doubling up to that limit, and released by `trim` when the ring holds nothing (no
//! readable byte and no out-of-order byte past them). The stack trims the rings of a connection
//! some time after it was last busy (`memtrim.rs`), not at every moment a ring runs empty: a
//! bulk receiver's ring empties at every read, and giving the storage back then halves its rate.
//! An idle connection holds no ring memory.

/// The first allocation (then doubling up to the capacity).
const MIN_STORAGE: usize = 2048;

pub struct RingBuffer {
    /// Storage: `buf.len()` <= `cap`; grows on demand, empty when the ring holds nothing.
    buf: Vec<u8>,
    /// The logical capacity (the limit).
    cap: usize,
    head: usize,
    len: usize,
    /// Bytes stored past `head`, out-of-order ones included (>= len).
    extent: usize,
    /// The storage size when it was last released: the next allocation starts there, so a
    /// busy connection whose ring keeps emptying allocates once per refill, not log2 times.
    last: usize,
}

impl RingBuffer {
    pub fn new(capacity: usize) -> RingBuffer {
        RingBuffer { buf: Vec::new(), cap: capacity, head: 0, len: 0, extent: 0, last: 0 }
    }
    pub fn capacity(&self) -> usize {
        self.cap
    }
    /// Bytes of storage allocated now (at most `capacity`).
    #[cfg(test)]
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn free(&self) -> usize {
        self.cap - self.len
    }
    /// Raises the capacity (keeps content). Lowering it is not supported (ignored).
    pub fn grow(&mut self, capacity: usize) {
        self.cap = self.cap.max(capacity);
    }
    /// Makes the storage at least `need` bytes (<= cap), laid out from `head` = 0.
    fn reserve(&mut self, need: usize) {
        let old = self.buf.len();
        if need <= old {
            return;
        }
        let mut size = old.max(MIN_STORAGE).max(self.last);
        while size < need {
            size *= 2;
        }
        let size = size.min(self.cap);
        let mut nb = vec![0; size];
        if old > 0 {
            // Everything stored (out-of-order bytes too) keeps its offset from head.
            let keep = self.extent.min(old);
            let start = self.head % old;
            let first = keep.min(old - start);
            nb[..first].copy_from_slice(&self.buf[start..start + first]);
            nb[first..keep].copy_from_slice(&self.buf[..keep - first]);
        }
        self.buf = nb;
        self.head = 0;
    }
    /// Appends as much of `data` as fits; returns bytes appended (what `send` does).
    #[cfg(test)]
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        let (a, b) = self.vacant(data.len());
        let (fa, fb) = (a.len(), b.len());
        a.copy_from_slice(&data[..fa]);
        b.copy_from_slice(&data[fa..fa + fb]);
        self.commit(fa + fb);
        fa + fb
    }
    /// The space for up to `max` more bytes past the readable ones (clipped at capacity), as
    /// two slices (the second non-empty when the space wraps); the storage grows on demand to
    /// hold them, as `enqueue` of `max` bytes would grow it. Bytes written at the start of the
    /// space (first slice first) become readable with `commit`. For a ring without out-of-order
    /// bytes (the send ring): this space is where they would be.
    pub fn vacant(&mut self, max: usize) -> (&mut [u8], &mut [u8]) {
        let n = max.min(self.free());
        if n == 0 {
            return (&mut [], &mut []);
        }
        self.reserve(self.len + n);
        let size = self.buf.len();
        let start = (self.head + self.len) % size;
        let first = n.min(size - start);
        // A wrapped part ends before `start` (len + n <= size).
        let (lo, hi) = self.buf.split_at_mut(start);
        (&mut hi[..first], &mut lo[..n - first])
    }
    /// Writes `data` at `offset` bytes past the read position (offset >= len for
    /// not-yet-committed data); clipped at capacity. Returns bytes written.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        if offset >= self.cap {
            return 0;
        }
        let n = data.len().min(self.cap - offset);
        if n == 0 {
            return 0;
        }
        self.reserve(offset + n);
        let size = self.buf.len();
        let start = (self.head + offset) % size;
        let first = n.min(size - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        self.extent = self.extent.max(offset + n);
        n
    }
    /// Makes `n` more bytes (written with `write_at`) readable.
    pub fn commit(&mut self, n: usize) {
        let len = (self.len + n).min(self.cap);
        self.reserve(len);
        self.len = len;
        self.extent = self.extent.max(len);
    }
    /// Copies up to `out.len()` bytes starting `offset` past the read position.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let (a, b) = self.slices(offset, out.len());
        out[..a.len()].copy_from_slice(a);
        out[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }
    /// The readable bytes `offset..offset+len` (clipped) as two slices.
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        let size = self.buf.len();
        let n = len.min(self.len - offset);
        let start = (self.head + offset) % size;
        let first = n.min(size - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }
    /// Removes up to `n` bytes from the front.
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        if n == 0 {
            return 0;
        }
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
        self.extent -= n;
        // (head is not reset while out-of-order bytes live past it.)
        if self.extent == 0 {
            self.head = 0;
        }
        n
    }
    /// Gives the storage back if the ring holds nothing; true if it still holds storage.
    pub fn trim(&mut self) -> bool {
        if self.extent == 0 && !self.buf.is_empty() {
            self.last = self.buf.len();
            self.buf = Vec::new();
            self.head = 0;
        }
        !self.buf.is_empty()
    }
    /// True while storage is allocated.
    pub fn holds_storage(&self) -> bool {
        !self.buf.is_empty()
    }
    /// Reads and removes up to `out.len()` bytes (what `recv` does).
    #[cfg(test)]
    pub fn dequeue(&mut self, out: &mut [u8]) -> usize {
        let n = self.read_at(0, out);
        self.discard(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn wraps_and_out_of_order() {
        let mut r = RingBuffer::new(8);
        assert_eq!(r.enqueue(b"abcdef"), 6);
        let mut o = [0u8; 4];
        assert_eq!(r.dequeue(&mut o), 4);
        assert_eq!(&o, b"abcd");
        assert_eq!(r.enqueue(b"ghijklmn"), 6);
        assert_eq!(r.len(), 8);
        let (a, b) = r.slices(0, 8);
        assert_eq!([a, b].concat(), b"efghijkl");
        let mut all = [0u8; 8];
        assert_eq!(r.read_at(2, &mut all), 6);
        assert_eq!(&all[..6], b"ghijkl");
        r.discard(8);
        assert!(r.is_empty());
        // Out-of-order: write at 3, then fill 0..3, commit all.
        assert_eq!(r.write_at(3, b"xyz"), 3);
        assert_eq!(r.write_at(0, b"uvw"), 3);
        r.commit(6);
        assert_eq!(r.dequeue(&mut all), 6);
        assert_eq!(&all[..6], b"uvwxyz");
        assert_eq!(r.write_at(7, b"12"), 1);
        r.enqueue(b"abc");
        r.grow(16);
        assert_eq!(r.capacity(), 16);
        assert_eq!(r.dequeue(&mut all), 3);
        assert_eq!(&all[..3], b"abc");
    }

    #[test]
    fn storage_follows_use() {
        let mut r = RingBuffer::new(256 << 10);
        assert_eq!(r.allocated(), 0, "nothing allocated before data");
        r.enqueue(&[1; 100]);
        assert!(r.allocated() >= 100 && r.allocated() <= MIN_STORAGE);
        r.enqueue(&[2; 100_000]);
        assert!(r.allocated() >= 100_100 && r.allocated() <= 256 << 10);
        let mut out = vec![0; 200_000];
        assert_eq!(r.dequeue(&mut out), 100_100);
        assert!(r.allocated() >= 100_100, "kept until trimmed");
        assert!(!r.trim());
        assert_eq!(r.allocated(), 0, "an empty ring gives its memory back");
        // Out-of-order bytes keep the storage until they are read.
        assert_eq!(r.write_at(5000, b"late"), 4);
        assert!(r.allocated() >= 5004);
        assert!(r.trim(), "out-of-order bytes keep it");
        assert_eq!(r.write_at(0, &[7; 5000]), 5000);
        r.commit(5004);
        assert_eq!(r.read_at(5000, &mut out[..4]), 4);
        assert_eq!(&out[..4], b"late");
        r.discard(5004);
        assert!(!r.trim());
        assert_eq!(r.allocated(), 0);
        // Never more than the capacity.
        let mut small = RingBuffer::new(3000);
        assert_eq!(small.enqueue(&[1; 5000]), 3000);
        assert_eq!(small.allocated(), 3000);
    }

    #[test]
    fn vacant_space_wraps_and_commits_what_was_written() {
        let mut r = RingBuffer::new(8);
        let (a, b) = r.vacant(0);
        assert!(a.is_empty() && b.is_empty());
        assert_eq!(r.allocated(), 0, "nothing asked: nothing allocated");
        assert_eq!(r.enqueue(b"abcdef"), 6);
        r.discard(4);
        // Head at 4, two readable bytes: the free space runs 6..8 then 0..4.
        let (a, b) = r.vacant(100);
        assert_eq!((a.len(), b.len()), (2, 4));
        a.copy_from_slice(b"gh");
        b[..1].copy_from_slice(b"i");
        r.commit(3); // less than offered
        assert_eq!(r.len(), 5);
        let (x, y) = r.slices(0, 8);
        assert_eq!([x, y].concat(), b"efghi");
        let (a, b) = r.vacant(2);
        assert_eq!((a.len(), b.len()), (2, 0), "max bounds the space");
        a.copy_from_slice(b"jk");
        r.commit(2);
        let (a, b) = r.vacant(9);
        assert_eq!(a.len() + b.len(), 1);
        a[0] = b'l';
        r.commit(1);
        assert_eq!(r.free(), 0);
        let (a, b) = r.vacant(9);
        assert!(a.is_empty() && b.is_empty(), "a full ring offers nothing");
        let mut out = [0u8; 8];
        assert_eq!(r.dequeue(&mut out), 8);
        assert_eq!(&out, b"efghijkl");
    }

    #[test]
    fn vacant_space_grows_the_storage_on_demand() {
        let mut r = RingBuffer::new(256 << 10);
        let (a, b) = r.vacant(100);
        assert_eq!((a.len(), b.len()), (100, 0));
        assert_eq!(r.allocated(), MIN_STORAGE, "as enqueue of 100 bytes grows it");
        r.commit(0);
        assert_eq!(r.len(), 0);
        let (a, _) = r.vacant(100);
        a[..10].copy_from_slice(&[7; 10]);
        r.commit(10);
        let (a, b) = r.vacant(100_000);
        assert_eq!(a.len() + b.len(), 100_000);
        assert!(r.allocated() >= 100_010 && r.allocated() <= 256 << 10);
        let (a, b) = r.vacant(1 << 30);
        assert_eq!(a.len() + b.len(), (256 << 10) - 10, "clipped at the capacity");
        assert_eq!(r.allocated(), 256 << 10);
        let mut out = [0u8; 16];
        assert_eq!(r.read_at(0, &mut out), 10);
        assert_eq!(&out[..10], &[7; 10]);
    }

    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Enqueue(usize),
        WriteAt(usize, usize),
        Commit(usize),
        Discard(usize),
        Grow(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..9000).prop_map(Op::Enqueue),
            (0usize..12000, 0usize..3000).prop_map(|(o, n)| Op::WriteAt(o, n)),
            (0usize..4000).prop_map(Op::Commit),
            (0usize..9000).prop_map(Op::Discard),
            (0usize..20000).prop_map(Op::Grow),
        ]
    }

    proptest! {
        /// The ring against a model: a byte vector indexed from the read position.
        #[test]
        fn ring_matches_a_model(cap in 1usize..10000, ops in proptest::collection::vec(op(), 1..60)) {
            let mut r = RingBuffer::new(cap);
            let mut model: Vec<u8> = Vec::new(); // bytes from the read position; [..len] readable
            let mut written: Vec<bool> = Vec::new(); // which of them were written
            let mut len = 0usize;
            let mut cap = cap;
            let mut fill = 0u8;
            for op in ops {
                fill = fill.wrapping_add(1);
                match op {
                    Op::Enqueue(n) => {
                        let data = vec![fill; n];
                        let w = r.enqueue(&data);
                        prop_assert_eq!(w, n.min(cap - len));
                        if model.len() < len + w { model.resize(len + w, 0); written.resize(len + w, false); }
                        model[len..len + w].copy_from_slice(&data[..w]);
                        written[len..len + w].iter_mut().for_each(|b| *b = true);
                        len += w;
                    }
                    Op::WriteAt(o, n) => {
                        let o = len + o % 4000;
                        let data = vec![fill; n];
                        let w = r.write_at(o, &data);
                        prop_assert_eq!(w, if o >= cap { 0 } else { n.min(cap - o) });
                        if w > 0 {
                            if model.len() < o + w { model.resize(o + w, 0); written.resize(o + w, false); }
                            model[o..o + w].copy_from_slice(&data[..w]);
                            written[o..o + w].iter_mut().for_each(|b| *b = true);
                        }
                    }
                    Op::Commit(n) => {
                        // Only bytes written before become readable here (as TCP commits).
                        let run = written[len..].iter().take_while(|&&b| b).count();
                        let n = n.min(run).min(cap - len);
                        r.commit(n);
                        len += n;
                    }
                    Op::Discard(n) => {
                        let d = r.discard(n);
                        prop_assert_eq!(d, n.min(len));
                        model.drain(..d);
                        written.drain(..d);
                        len -= d;
                    }
                    Op::Grow(c) => {
                        r.grow(c);
                        cap = cap.max(c);
                    }
                }
                prop_assert_eq!(r.len(), len);
                prop_assert_eq!(r.capacity(), cap);
                prop_assert!(r.allocated() <= cap);
                let mut out = vec![0; len];
                prop_assert_eq!(r.read_at(0, &mut out), len);
                prop_assert_eq!(&out[..], &model[..len]);
                if model.is_empty() { prop_assert!(!r.trim()); prop_assert_eq!(r.allocated(), 0); }
                else if model.len().is_multiple_of(3) { prop_assert!(r.trim(), "a ring holding bytes keeps its storage"); }
            }
        }
    }
}
