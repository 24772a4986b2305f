//! The ARP cache (RFC 826, RFC 1122 2.3.2): resolved entries that expire, and next hops being
//! resolved, each with a bounded queue of datagrams waiting for the answer.
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::time::{Duration, Instant};
use crate::wire::ethernet::MacAddr;

/// How long a learned entry stays valid (RFC 1122 2.3.2.1: entries must time out).
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(60);
/// Interval between requests for an unanswered next hop (RFC 1122 2.3.2.1: at most one per second).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Requests sent before resolution is declared failed.
pub const MAX_TRIES: u32 = 3;
/// Datagrams queued per unresolved next hop (RFC 1122 2.3.2.2 asks for at least one).
pub const MAX_QUEUED_PER_HOP: usize = 128;
/// Next hops being resolved at the same time.
pub const MAX_PENDING_HOPS: usize = 64;
/// An entry in use this close to expiry is re-confirmed with a unicast request (like Linux's
/// NUD_PROBE), so a busy flow never stalls behind a fresh broadcast resolution.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(10);
/// Bytes queued over all unresolved next hops.
pub const MAX_QUEUED_BYTES: usize = 1024 * 1024;
/// Resolved entries kept; the entry closest to expiry is evicted beyond this.
pub const MAX_ENTRIES: usize = 1024;

#[derive(Clone, Debug)]
struct Entry {
    mac: MacAddr,
    expires_at: Instant,
    /// When we last sent a unicast refresh request for this entry.
    refreshed_at: Option<Instant>,
}

#[derive(Debug)]
struct Pending {
    tries: u32,
    next_retry: Instant,
    queue: VecDeque<Vec<u8>>,
}

/// What `enqueue` did with a datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Queued, and resolution just started: send a request now.
    SendRequest,
    /// Queued behind a resolution already under way.
    Queued,
    /// Queued, but the oldest datagram for that hop was dropped to make room.
    QueuedDroppedOldest,
    /// Too many hops are being resolved: the datagram was dropped.
    Dropped,
}

/// What a timer pass did.
#[derive(Debug, Default)]
pub struct ArpTimers {
    /// Next hops to send another request for.
    pub retry: Vec<Ipv4Addr>,
    /// Next hops whose resolution failed.
    pub failed: u64,
    /// Datagrams dropped with them.
    pub dropped: u64,
    /// Those datagrams (with their link-header room), so the sender can be told.
    pub dropped_datagrams: Vec<Vec<u8>>,
}

#[derive(Debug, Default)]
pub struct ArpCache {
    entries: HashMap<Ipv4Addr, Entry>,
    pending: HashMap<Ipv4Addr, Pending>,
    queued_bytes: usize,
}

impl ArpCache {
    pub fn new() -> ArpCache {
        ArpCache::default()
    }

    /// (valid entries at `now`, next hops being resolved) for `tapstack stats`.
    pub fn counts(&self, now: Instant) -> (usize, usize) {
        (self.entries.values().filter(|e| e.expires_at > now).count(), self.pending.len())
    }

    /// The MAC for `ip` if a valid entry exists.
    pub fn lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<MacAddr> {
        self.entries.get(&ip).filter(|e| e.expires_at > now).map(|e| e.mac)
    }

    /// What SIOCGARP shows for `ip`: Some((mac, true)) for an entry (expired or not, as
    /// Linux's stale neighbours), Some(([0; 6], false)) while it is being resolved, else None.
    pub fn entry(&self, ip: Ipv4Addr) -> Option<(MacAddr, bool)> {
        match self.entries.get(&ip) {
            Some(e) => Some((e.mac, true)),
            None => self.pending.contains_key(&ip).then_some(([0; 6], false)),
        }
    }

    /// Inserts or refreshes `ip -> mac`; returns the datagrams that were waiting for it.
    pub fn fill(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr) -> VecDeque<Vec<u8>> {
        if !self.entries.contains_key(&ip) && self.entries.len() >= MAX_ENTRIES {
            self.evict(now);
        }
        self.entries.insert(ip, Entry { mac, expires_at: now + ENTRY_LIFETIME, refreshed_at: None });
        let q = self.pending.remove(&ip).map(|p| p.queue).unwrap_or_default();
        self.queued_bytes -= q.iter().map(Vec::len).sum::<usize>();
        q
    }

    /// RFC 826 merge step: updates `ip` only if it already has a valid entry. Returns whether it
    /// did (and the waiting datagrams, always empty for a resolved entry).
    pub fn update_existing(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr) -> bool {
        match self.entries.get_mut(&ip) {
            Some(e) if e.expires_at > now => {
                e.mac = mac;
                e.expires_at = now + ENTRY_LIFETIME;
                e.refreshed_at = None;
                true
            }
            _ => false,
        }
    }

    /// The MAC for `ip` when sending to it, and whether a unicast refresh request should go out
    /// now (the entry is in use within `REFRESH_BEFORE` of expiry; at most one per second).
    pub fn lookup_for_send(&mut self, now: Instant, ip: Ipv4Addr) -> Option<(MacAddr, bool)> {
        let e = self.entries.get_mut(&ip).filter(|e| e.expires_at > now)?;
        let due = e.expires_at.saturating_since(now) <= REFRESH_BEFORE
            && e.refreshed_at.map(|t| now.saturating_since(t) >= RETRY_INTERVAL).unwrap_or(true);
        if due {
            e.refreshed_at = Some(now);
        }
        Some((e.mac, due))
    }

    /// True if a request for `ip` is outstanding.
    pub fn is_pending(&self, ip: Ipv4Addr) -> bool {
        self.pending.contains_key(&ip)
    }

    /// Queues a datagram (a complete IPv4 packet after room for the Ethernet header) until `ip`
    /// resolves.
    pub fn enqueue(&mut self, now: Instant, ip: Ipv4Addr, datagram: Vec<u8>) -> Enqueued {
        if self.queued_bytes + datagram.len() > MAX_QUEUED_BYTES {
            return Enqueued::Dropped;
        }
        if let Some(p) = self.pending.get_mut(&ip) {
            let mut r = Enqueued::Queued;
            if p.queue.len() >= MAX_QUEUED_PER_HOP {
                if let Some(old) = p.queue.pop_front() {
                    self.queued_bytes -= old.len();
                }
                r = Enqueued::QueuedDroppedOldest;
            }
            self.queued_bytes += datagram.len();
            p.queue.push_back(datagram);
            return r;
        }
        if self.pending.len() >= MAX_PENDING_HOPS {
            return Enqueued::Dropped;
        }
        self.queued_bytes += datagram.len();
        let mut queue = VecDeque::new();
        queue.push_back(datagram);
        self.pending.insert(ip, Pending { tries: 1, next_retry: now + RETRY_INTERVAL, queue });
        Enqueued::SendRequest
    }

    /// Runs retries and timeouts, and forgets expired entries.
    pub fn poll(&mut self, now: Instant) -> ArpTimers {
        let mut t = ArpTimers::default();
        self.entries.retain(|_, e| e.expires_at > now);
        let mut failed = Vec::new();
        for (ip, p) in self.pending.iter_mut() {
            if p.next_retry > now {
                continue;
            }
            if p.tries >= MAX_TRIES {
                failed.push(*ip);
            } else {
                p.tries += 1;
                p.next_retry = now + RETRY_INTERVAL;
                t.retry.push(*ip);
            }
        }
        for ip in failed {
            if let Some(p) = self.pending.remove(&ip) {
                t.failed += 1;
                t.dropped += p.queue.len() as u64;
                self.queued_bytes -= p.queue.iter().map(Vec::len).sum::<usize>();
                t.dropped_datagrams.extend(p.queue);
            }
        }
        t.retry.sort();
        t
    }

    /// When `poll` next has work (a retry or a timeout).
    pub fn poll_at(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.next_retry).min()
    }

    /// True if datagrams are waiting for a resolution.
    pub fn has_queued(&self) -> bool {
        self.pending.values().any(|p| !p.queue.is_empty())
    }

    /// Bytes of datagrams waiting for resolution.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Number of valid and expired-but-not-yet-purged entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires_at > now);
        if self.entries.len() >= MAX_ENTRIES {
            if let Some(ip) = self.entries.iter().min_by_key(|(_, e)| e.expires_at).map(|(ip, _)| *ip) {
                self.entries.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const MAC: MacAddr = [2, 0, 0, 0, 0, 1];

    #[test]
    fn resolve_and_expire() {
        let mut c = ArpCache::new();
        let t0 = Instant::from_secs(1);
        assert_eq!(c.enqueue(t0, IP, vec![1]), Enqueued::SendRequest);
        assert_eq!(c.enqueue(t0, IP, vec![2]), Enqueued::Queued);
        assert_eq!(c.poll_at(), Some(t0 + RETRY_INTERVAL));
        let q = c.fill(t0, IP, MAC);
        assert_eq!(q, VecDeque::from(vec![vec![1], vec![2]]));
        assert_eq!(c.lookup(t0, IP), Some(MAC));
        assert_eq!(c.poll_at(), None);
        assert_eq!(c.lookup(t0 + ENTRY_LIFETIME, IP), None);
        assert!(!c.update_existing(t0 + ENTRY_LIFETIME, IP, MAC));
        assert!(c.update_existing(t0 + Duration::from_secs(59), IP, [2, 0, 0, 0, 0, 9]));
        assert_eq!(c.lookup(t0 + Duration::from_secs(100), IP), Some([2, 0, 0, 0, 0, 9]));
    }

    #[test]
    fn refresh_before_expiry() {
        let mut c = ArpCache::new();
        let t0 = Instant::from_secs(1);
        c.fill(t0, IP, MAC);
        assert_eq!(c.lookup_for_send(t0 + Duration::from_secs(49), IP), Some((MAC, false)));
        let t = t0 + Duration::from_secs(50);
        assert_eq!(c.lookup_for_send(t, IP), Some((MAC, true)));
        assert_eq!(c.lookup_for_send(t + Duration::from_millis(500), IP), Some((MAC, false)));
        assert_eq!(c.lookup_for_send(t + Duration::from_secs(1), IP), Some((MAC, true)));
        // the answer refreshes the entry for a full lifetime
        assert!(c.update_existing(t + Duration::from_secs(2), IP, MAC));
        assert_eq!(c.lookup_for_send(t + Duration::from_secs(3), IP), Some((MAC, false)));
        assert_eq!(c.lookup(t + Duration::from_secs(61), IP), Some(MAC));
    }

    #[test]
    fn retries_then_failure() {
        let mut c = ArpCache::new();
        let mut now = Instant::ZERO;
        c.enqueue(now, IP, vec![1]);
        let mut retries = 0;
        for _ in 0..10 {
            now = c.poll_at().unwrap_or(now);
            let t = c.poll(now);
            retries += t.retry.len();
            if t.failed > 0 {
                assert_eq!(t.dropped, 1);
                break;
            }
        }
        assert_eq!(retries as u32, MAX_TRIES - 1);
        assert_eq!(now, Instant::ZERO + RETRY_INTERVAL * MAX_TRIES);
        assert!(!c.is_pending(IP) && c.poll_at().is_none());
    }

    #[test]
    fn bounded() {
        let mut c = ArpCache::new();
        for i in 0..MAX_QUEUED_PER_HOP + 3 {
            c.enqueue(Instant::ZERO, IP, vec![i as u8]);
        }
        assert_eq!(c.queued_bytes(), MAX_QUEUED_PER_HOP);
        let q = c.fill(Instant::ZERO, IP, MAC);
        assert_eq!(q.len(), MAX_QUEUED_PER_HOP);
        assert_eq!(q[0], vec![3]);
        assert_eq!(c.queued_bytes(), 0);
        let big = vec![0u8; MAX_QUEUED_BYTES / 2];
        assert_eq!(c.enqueue(Instant::ZERO, IP, big.clone()), Enqueued::SendRequest);
        assert_eq!(c.enqueue(Instant::ZERO, IP, big.clone()), Enqueued::Queued);
        assert_eq!(c.enqueue(Instant::ZERO, IP, vec![1]), Enqueued::Dropped);
        let t = c.poll(Instant::from_secs(10));
        assert_eq!(t.retry.len(), 1);
        c.poll(Instant::from_secs(20));
        assert_eq!(c.poll(Instant::from_secs(30)).dropped, 2);
        assert_eq!(c.queued_bytes(), 0);
        for i in 0..MAX_PENDING_HOPS as u32 {
            assert_eq!(c.enqueue(Instant::ZERO, Ipv4Addr::from(0x0a01_0000 + i), vec![]), Enqueued::SendRequest);
        }
        assert_eq!(c.enqueue(Instant::ZERO, Ipv4Addr::new(10, 2, 0, 0), vec![]), Enqueued::Dropped);
        for i in 0..MAX_ENTRIES as u32 + 5 {
            c.fill(Instant::from_micros(i as u64), Ipv4Addr::from(0x0b00_0000 + i), MAC);
        }
        assert!(c.len() <= MAX_ENTRIES);
    }
}
