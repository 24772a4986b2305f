//! Fixed-capacity byte ring used for the send and receive buffers. Bytes past `len` may be
//! written (`write_at`) before they become readable (`commit`), which is how out-of-order data
//! is stored in place (no per-segment allocation).

pub struct RingBuffer {
    buf: Vec<u8>,
    head: usize,
    len: usize,
}

impl RingBuffer {
    pub fn new(capacity: usize) -> RingBuffer {
        RingBuffer { buf: vec![0; capacity], head: 0, len: 0 }
    }
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn free(&self) -> usize {
        self.buf.len() - self.len
    }
    /// Grows the capacity (keeps content). Shrinking is not supported (ignored).
    pub fn grow(&mut self, capacity: usize) {
        if capacity <= self.buf.len() {
            return;
        }
        let mut nb = vec![0; capacity];
        let n = self.buf.len();
        for (i, b) in nb.iter_mut().enumerate().take(n) {
            *b = self.buf[(self.head + i) % n];
        }
        self.buf = nb;
        self.head = 0;
    }
    /// Appends as much of `data` as fits; returns bytes appended.
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let w = self.write_at(self.len, &data[..n]);
        self.len += w;
        w
    }
    /// Writes `data` at `offset` bytes past the read position (offset >= len for
    /// not-yet-committed data); clipped at capacity. Returns bytes written.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let cap = self.buf.len();
        if offset >= cap {
            return 0;
        }
        let n = data.len().min(cap - offset);
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        n
    }
    /// Makes `n` more bytes (written with `write_at`) readable.
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
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
        let cap = self.buf.len();
        let n = len.min(self.len - offset);
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }
    /// Removes up to `n` bytes from the front.
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        if self.buf.is_empty() {
            return 0;
        }
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
        // (head is not reset when empty: uncommitted out-of-order bytes live past it.)
        n
    }
    /// Reads and removes up to `out.len()` bytes.
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
}
