//! Reassembly of incoming fragments (RFC 791 3.2, RFC 815, RFC 1122 3.3.2), keyed by
//! (source, destination, protocol, identification), with a timeout and hard memory bounds.
//!
//! A datagram whose fragments overlap is dropped whole, and later fragments of it too until its
//! timer runs out (as RFC 5722 requires for IPv6; Linux does the same for IPv4). An exact
//! duplicate of a fragment already held (a link that duplicates frames) is ignored instead.
use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::stats::Stats;
use crate::time::{Duration, Instant};
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN, MAX_DATAGRAM};

/// How long fragments of one datagram are kept (Linux's ipfrag_time, RFC 1122 3.3.2).
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Datagrams being reassembled at once.
pub const MAX_DATAGRAMS: usize = 64;
/// Bytes held in fragments (each fragment counted with `FRAGMENT_OVERHEAD`).
pub const MAX_BYTES: usize = 256 * 1024;
/// Bookkeeping charged per fragment, so tiny fragments cannot exhaust memory cheaply.
pub const FRAGMENT_OVERHEAD: usize = 64;
/// Largest payload of a reassembled datagram (65535 minus a minimal header).
pub const MAX_PAYLOAD: usize = MAX_DATAGRAM - HEADER_LEN;
/// Bytes of the first fragment's payload kept for an ICMP time exceeded quote.
const FIRST_BYTES: usize = 8;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
}

#[derive(Debug)]
struct Datagram {
    /// Fragments sorted by offset, never overlapping: (offset, bytes).
    frags: Vec<(usize, Vec<u8>)>,
    /// The header of the offset-0 fragment, once it arrived.
    first: Option<Ipv4Repr>,
    /// Payload length, known once the last fragment (MF clear) arrived.
    total: Option<usize>,
    /// Bytes charged against `MAX_BYTES`.
    charged: usize,
    created: Instant,
    expires_at: Instant,
    /// Overlap or inconsistency seen: discard everything until `expires_at`.
    poisoned: bool,
}

/// Why `add` refused a fragment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Duplicate,
    Overlap,
    Invalid,
}

#[derive(Debug, Default)]
pub struct Reassembler {
    datagrams: HashMap<Key, Datagram>,
    bytes: usize,
}

impl Reassembler {
    pub fn new() -> Reassembler {
        Reassembler::default()
    }

    /// Datagrams in progress (poisoned ones included).
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Bytes currently charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds one fragment (`repr` its header, `payload` its data). Returns the whole datagram's
    /// header (offset 0, MF clear, full payload length) and payload when it completes.
    pub fn add(
        &mut self,
        now: Instant,
        repr: &Ipv4Repr,
        payload: &[u8],
        stats: &mut Stats,
    ) -> Option<(Ipv4Repr, Vec<u8>)> {
        let key = Key { src: repr.src_addr, dst: repr.dst_addr, protocol: repr.protocol, ident: repr.ident };
        let start = repr.frag_offset as usize;
        let end = start + payload.len();
        // RFC 791: every fragment but the last carries a multiple of 8 bytes; nothing may end
        // past 65535 ("ping of death"); an empty non-final fragment is meaningless.
        let invalid =
            end > MAX_PAYLOAD || (repr.more_frags && (!payload.len().is_multiple_of(8) || payload.is_empty()));
        if !self.datagrams.contains_key(&key) {
            if invalid {
                stats.ip_fragments_discarded += 1;
                return None;
            }
            self.make_room(FRAGMENT_OVERHEAD + payload.len(), stats);
            self.datagrams.insert(
                key,
                Datagram {
                    frags: Vec::new(),
                    first: None,
                    total: None,
                    charged: 0,
                    created: now,
                    expires_at: now + REASSEMBLY_TIMEOUT,
                    poisoned: false,
                },
            );
        } else {
            let poisoned = self.datagrams.get(&key).map(|d| d.poisoned).unwrap_or(true);
            if !poisoned && self.bytes + FRAGMENT_OVERHEAD + payload.len() > MAX_BYTES {
                self.make_room_except(key, FRAGMENT_OVERHEAD + payload.len(), stats);
            }
        }
        let d = self.datagrams.get_mut(&key)?;
        if d.poisoned {
            stats.ip_fragments_discarded += 1;
            return None;
        }
        let verdict = if invalid { Err(Verdict::Invalid) } else { d.insert(repr, start, payload) };
        match verdict {
            Ok(added) => {
                d.charged += added;
                self.bytes += added;
            }
            Err(Verdict::Duplicate) => {
                stats.ip_fragments_discarded += 1;
                return None;
            }
            Err(v) => {
                tracing::debug!(target: "tapstack::ip", src = %key.src, ident = key.ident, "fragments dropped: {v:?}");
                if v == Verdict::Overlap {
                    stats.ip_reassembly_overlap += 1;
                } else {
                    stats.rx_malformed += 1;
                }
                stats.ip_reassembly_dropped += 1;
                stats.ip_fragments_discarded += 1;
                self.bytes -= d.charged;
                d.charged = 0;
                d.frags = Vec::new();
                d.poisoned = true;
                return None;
            }
        }
        if !d.complete() {
            return None;
        }
        let d = self.datagrams.remove(&key)?;
        self.bytes -= d.charged;
        let total = d.total.unwrap_or(0);
        let mut data = Vec::with_capacity(total);
        for (_, f) in d.frags {
            data.extend_from_slice(&f);
        }
        let mut header = d.first?;
        header.more_frags = false;
        header.frag_offset = 0;
        header.payload_len = total;
        stats.ip_reassembled += 1;
        Some((header, data))
    }

    /// Drops datagrams whose timer ran out. Returns, for each that had its first fragment, that
    /// fragment's header and first payload bytes (for an ICMP time exceeded).
    pub fn expire(&mut self, now: Instant, stats: &mut Stats) -> Vec<(Ipv4Repr, Vec<u8>)> {
        let mut out = Vec::new();
        let expired: Vec<Key> = self.datagrams.iter().filter(|(_, d)| d.expires_at <= now).map(|(k, _)| *k).collect();
        for k in expired {
            if let Some(d) = self.datagrams.remove(&k) {
                self.bytes -= d.charged;
                if d.poisoned {
                    continue; // already counted when it was poisoned
                }
                stats.ip_reassembly_timeout += 1;
                stats.ip_reassembly_dropped += 1;
                if let (Some(h), Some((0, f))) = (d.first, d.frags.first()) {
                    out.push((h, f[..f.len().min(FIRST_BYTES)].to_vec()));
                }
            }
        }
        out
    }

    /// When the next datagram times out.
    pub fn poll_at(&self) -> Option<Instant> {
        self.datagrams.values().map(|d| d.expires_at).min()
    }

    /// Evicts the oldest datagrams until `need` more bytes and one more datagram fit.
    fn make_room(&mut self, need: usize, stats: &mut Stats) {
        while !self.datagrams.is_empty() && (self.datagrams.len() >= MAX_DATAGRAMS || self.bytes + need > MAX_BYTES) {
            self.evict_oldest(None, stats);
        }
    }

    /// Evicts the oldest datagrams other than `keep` until `need` more bytes fit.
    fn make_room_except(&mut self, keep: Key, need: usize, stats: &mut Stats) {
        while self.bytes + need > MAX_BYTES && self.datagrams.len() > 1 {
            if !self.evict_oldest(Some(keep), stats) {
                break;
            }
        }
    }

    fn evict_oldest(&mut self, keep: Option<Key>, stats: &mut Stats) -> bool {
        let victim =
            self.datagrams.iter().filter(|(k, _)| Some(**k) != keep).min_by_key(|(_, d)| d.created).map(|(k, _)| *k);
        let Some(k) = victim else { return false };
        if let Some(d) = self.datagrams.remove(&k) {
            self.bytes -= d.charged;
            if !d.poisoned {
                stats.ip_reassembly_dropped += 1;
                stats.ip_reassembly_evicted += 1;
            }
        }
        true
    }
}

impl Datagram {
    /// Inserts `[start, start+len)`; returns the bytes charged, or why it was refused.
    fn insert(&mut self, repr: &Ipv4Repr, start: usize, payload: &[u8]) -> Result<usize, Verdict> {
        let end = start + payload.len();
        if !repr.more_frags {
            // The last fragment fixes the length; a different one later is inconsistent.
            match self.total {
                Some(t) if t != end => return Err(Verdict::Invalid),
                _ => {}
            }
            if self.frags.iter().any(|(s, f)| s + f.len() > end) {
                return Err(Verdict::Invalid);
            }
        } else if let Some(t) = self.total {
            if end > t {
                return Err(Verdict::Invalid);
            }
        }
        // Position of the first fragment starting at or after `start`.
        let i = self.frags.partition_point(|(s, _)| *s < start);
        if let Some((s, f)) = self.frags.get(i) {
            if *s == start && f.len() == payload.len() && f[..] == payload[..] {
                return Err(Verdict::Duplicate);
            }
            if *s < end {
                return Err(Verdict::Overlap);
            }
        }
        if i > 0 {
            let (s, f) = &self.frags[i - 1];
            if s + f.len() > start {
                return Err(Verdict::Overlap);
            }
        }
        if !repr.more_frags {
            self.total = Some(end);
        }
        if start == 0 {
            self.first = Some(*repr);
        }
        self.frags.insert(i, (start, payload.to_vec()));
        Ok(FRAGMENT_OVERHEAD + payload.len())
    }

    /// All bytes from 0 to the known total are present.
    fn complete(&self) -> bool {
        let Some(total) = self.total else { return false };
        let mut next = 0;
        for (s, f) in &self.frags {
            if *s != next {
                return false;
            }
            next = s + f.len();
        }
        next == total && self.first.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(ident: u16, off: usize, len: usize, mf: bool) -> (Ipv4Repr, Vec<u8>) {
        let mut r = Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 17, len, ident);
        r.frag_offset = off as u16;
        r.more_frags = mf;
        (r, (off..off + len).map(|i| (i % 251) as u8).collect())
    }

    fn add(r: &mut Reassembler, s: &mut Stats, f: &(Ipv4Repr, Vec<u8>)) -> Option<(Ipv4Repr, Vec<u8>)> {
        r.add(Instant::ZERO, &f.0, &f.1, s)
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let (mut r, mut s) = (Reassembler::new(), Stats::default());
        let a = frag(1, 0, 1480, true);
        let b = frag(1, 1480, 1480, true);
        let c = frag(1, 2960, 1000, false);
        assert!(add(&mut r, &mut s, &c).is_none());
        assert!(add(&mut r, &mut s, &a).is_none());
        assert!(add(&mut r, &mut s, &a).is_none()); // exact duplicate ignored
        let (h, data) = add(&mut r, &mut s, &b).unwrap();
        assert_eq!(data, frag(0, 0, 3960, false).1);
        assert_eq!((h.payload_len, h.more_frags, h.frag_offset, h.ident), (3960, false, 0, 1));
        assert_eq!((s.ip_reassembled, s.ip_fragments_discarded, s.ip_reassembly_dropped), (1, 1, 0));
        assert!(r.is_empty() && r.bytes() == 0);
    }

    #[test]
    fn overlap_drops_whole_datagram() {
        let (mut r, mut s) = (Reassembler::new(), Stats::default());
        assert!(add(&mut r, &mut s, &frag(2, 0, 16, true)).is_none());
        assert!(add(&mut r, &mut s, &frag(2, 8, 16, true)).is_none()); // overlaps 8..16
        assert_eq!((s.ip_reassembly_overlap, s.ip_reassembly_dropped), (1, 1));
        // the rest of the datagram is discarded even though it would now complete it
        assert!(add(&mut r, &mut s, &frag(2, 16, 8, false)).is_none());
        assert_eq!(s.ip_reassembled, 0);
        assert_eq!(r.bytes(), 0);
        // poisoned entries go away at the timeout without counting twice
        assert!(r.expire(Instant::ZERO + REASSEMBLY_TIMEOUT, &mut s).is_empty());
        assert!(r.is_empty());
        assert_eq!(s.ip_reassembly_dropped, 1);
    }

    #[test]
    fn timeout_reports_first_fragment() {
        let (mut r, mut s) = (Reassembler::new(), Stats::default());
        add(&mut r, &mut s, &frag(3, 0, 64, true));
        add(&mut r, &mut s, &frag(4, 64, 64, true));
        assert_eq!(r.poll_at(), Some(Instant::ZERO + REASSEMBLY_TIMEOUT));
        assert!(r.expire(Instant::from_secs(29), &mut s).is_empty());
        let out = r.expire(Instant::from_secs(30), &mut s);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0.ident, 3);
        assert_eq!(out[0].1.len(), 8);
        assert_eq!((s.ip_reassembly_timeout, s.ip_reassembly_dropped), (2, 2));
        assert!(r.is_empty() && r.bytes() == 0 && r.poll_at().is_none());
    }

    #[test]
    fn invalid_fragments() {
        let (mut r, mut s) = (Reassembler::new(), Stats::default());
        assert!(add(&mut r, &mut s, &frag(5, 0, 12, true)).is_none()); // not a multiple of 8
        assert!(add(&mut r, &mut s, &frag(5, 65528, 16, false)).is_none()); // past 65535
        assert!(r.is_empty());
        assert_eq!(s.ip_fragments_discarded, 2);
        // conflicting last fragments
        add(&mut r, &mut s, &frag(6, 0, 8, true));
        add(&mut r, &mut s, &frag(6, 16, 8, false));
        add(&mut r, &mut s, &frag(6, 32, 8, false));
        assert_eq!(s.ip_reassembly_dropped, 1);
        // a fragment beyond a known end
        add(&mut r, &mut s, &frag(7, 8, 8, false));
        add(&mut r, &mut s, &frag(7, 16, 8, true));
        assert_eq!(s.ip_reassembly_dropped, 2);
    }

    #[test]
    fn memory_bounds() {
        let (mut r, mut s) = (Reassembler::new(), Stats::default());
        for id in 0..200u16 {
            add(&mut r, &mut s, &frag(id, 0, 1480, true));
            assert!(r.len() <= MAX_DATAGRAMS);
            assert!(r.bytes() <= MAX_BYTES);
        }
        assert!(s.ip_reassembly_evicted >= 200 - MAX_DATAGRAMS as u64);
        // one datagram of ~64 KiB in many fragments still completes
        let mut r = Reassembler::new();
        let mut done = None;
        for i in 0..45 {
            let last = i == 44;
            let len = if last { MAX_PAYLOAD - 44 * 1480 } else { 1480 };
            done = add(&mut r, &mut s, &frag(9, i * 1480, len, !last));
        }
        assert_eq!(done.unwrap().1.len(), MAX_PAYLOAD);
    }
}
