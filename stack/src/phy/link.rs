//! A deterministic in-memory link joining two endpoints, A and B, for tests under a virtual clock.
//!
//! Each direction runs its own [`Impairer`] (seeded loss, duplication, reordering, corruption,
//! delay, bandwidth limit), so a run is reproducible from its seeds. The first 14 bytes of every
//! frame (the Ethernet header) are never corrupted: a corrupted frame still reaches the station
//! and must be caught by the IPv4 or TCP checksum. Frames longer than `mtu + 14` are dropped and
//! counted, like a real NIC would.
//!
//! ```
//! use tapstack::phy::{Device, link::Link};
//! use tapstack::time::Instant;
//! let link = Link::new(1500, None, None);
//! let (mut a, mut b) = (link.a(), link.b());
//! a.transmit(Instant::ZERO, &[0u8; 60]);
//! let mut buf = [0u8; 1514];
//! assert_eq!(b.receive(Instant::ZERO, &mut buf), Some(60));
//! ```
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use super::fault::{FaultConfig, FaultStats, Impairer};
use super::Device;
use crate::time::{earliest, Instant};

/// Ethernet II header length; never corrupted by the link.
const ETH_HEADER: usize = 14;

/// Direction of travel on a [`Link`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    AToB,
    BToA,
}

impl Dir {
    fn index(self) -> usize {
        self as usize
    }
}

/// A test hook deciding, for each frame offered to the link, whether it is dropped (`true`).
pub type DropFilter = Box<dyn FnMut(Dir, Instant, &[u8]) -> bool>;

/// A test hook seeing every frame offered to the link (before impairment), e.g. a tracer.
pub type Monitor = Box<dyn FnMut(Dir, Instant, &[u8])>;

/// Counters of one direction of a link (on top of the impairer's own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames handed to `transmit`.
    pub frames_in: u64,
    /// Bytes handed to `transmit`.
    pub bytes_in: u64,
    /// Frames handed out by `receive`.
    pub frames_out: u64,
    /// Frames longer than the MTU plus the Ethernet header.
    pub oversize: u64,
    /// Frames dropped while the link was down or by the drop filter.
    pub filtered: u64,
    /// What the impairer did (loss, duplication, reordering, corruption, queue drops).
    pub faults: FaultStats,
}

struct Capture {
    out: std::io::BufWriter<std::fs::File>,
    /// Which direction's frames are recorded (`None`: both).
    only: Option<Dir>,
}

struct Inner {
    mtu: usize,
    dirs: [Impairer; 2],
    stats: [LinkStats; 2],
    up: bool,
    filter: Option<DropFilter>,
    monitors: Vec<Monitor>,
    capture: Option<Capture>,
}

/// Two endpoints joined by two independent, optionally impaired, one-way channels.
/// Cheap to clone: clones share the same link.
#[derive(Clone)]
pub struct Link {
    inner: Rc<RefCell<Inner>>,
}

/// One end of a [`Link`]; a [`Device`] for a stack (or an adapter for another stack).
#[derive(Clone)]
pub struct LinkEnd {
    inner: Rc<RefCell<Inner>>,
    /// The direction this end transmits into.
    tx: Dir,
}

impl Link {
    /// A link carrying IP datagrams of up to `mtu` bytes, with optional impairments per direction.
    /// `protect` is raised to at least 14 so Ethernet headers stay intact.
    pub fn new(mtu: usize, a_to_b: Option<FaultConfig>, b_to_a: Option<FaultConfig>) -> Link {
        let mk = |c: Option<FaultConfig>| {
            let mut c = c.unwrap_or_default();
            c.protect = c.protect.max(ETH_HEADER);
            Impairer::new(c)
        };
        Link {
            inner: Rc::new(RefCell::new(Inner {
                mtu,
                dirs: [mk(a_to_b), mk(b_to_a)],
                stats: Default::default(),
                up: true,
                filter: None,
                monitors: Vec::new(),
                capture: None,
            })),
        }
    }

    /// The same impairments both ways, with independent random streams (the B-to-A seed is
    /// derived from `cfg.seed`).
    pub fn symmetric(mtu: usize, cfg: FaultConfig) -> Link {
        let mut back = cfg.clone();
        back.seed = cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(0x632b_e59b);
        Link::new(mtu, Some(cfg), Some(back))
    }

    /// The A endpoint (transmits A-to-B, receives B-to-A).
    pub fn a(&self) -> LinkEnd {
        LinkEnd { inner: self.inner.clone(), tx: Dir::AToB }
    }

    /// The B endpoint (transmits B-to-A, receives A-to-B).
    pub fn b(&self) -> LinkEnd {
        LinkEnd { inner: self.inner.clone(), tx: Dir::BToA }
    }

    /// When the next frame in either direction becomes deliverable.
    pub fn poll_at(&self) -> Option<Instant> {
        let i = self.inner.borrow();
        earliest(i.dirs[0].next_due(), i.dirs[1].next_due())
    }

    /// Frames in flight (both directions).
    pub fn in_flight(&self) -> usize {
        let i = self.inner.borrow();
        i.dirs[0].len() + i.dirs[1].len()
    }

    /// A cable cut: while down, every offered frame is dropped (frames in flight still arrive).
    pub fn set_up(&self, up: bool) {
        self.inner.borrow_mut().up = up;
    }

    /// Installs (or removes) a hook that may drop chosen frames, e.g. "the third data segment".
    pub fn set_filter(&self, filter: Option<DropFilter>) {
        self.inner.borrow_mut().filter = filter;
    }

    /// Replaces every monitor with `monitor` (or none): a hook called with every frame offered
    /// to the link.
    pub fn set_monitor(&self, monitor: Option<Monitor>) {
        self.inner.borrow_mut().monitors = monitor.into_iter().collect();
    }

    /// Adds a monitor next to those already installed.
    pub fn add_monitor(&self, monitor: Monitor) {
        self.inner.borrow_mut().monitors.push(monitor);
    }

    /// Counters of one direction.
    pub fn stats(&self, dir: Dir) -> LinkStats {
        let i = self.inner.borrow();
        let mut s = i.stats[dir.index()].clone();
        s.faults = i.dirs[dir.index()].stats().clone();
        s
    }

    /// Records frames (as offered to the link, before impairment; all directions or `only` one)
    /// to a pcap file for Wireshark/tcpdump. Timestamps are the virtual clock.
    pub fn capture_pcap(&self, path: &std::path::Path, only: Option<Dir>) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        // pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&65535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        self.inner.borrow_mut().capture = Some(Capture { out, only });
        Ok(())
    }
}

impl Inner {
    fn offer(&mut self, dir: Dir, now: Instant, frame: &[u8]) {
        let d = dir.index();
        self.stats[d].frames_in += 1;
        self.stats[d].bytes_in += frame.len() as u64;
        for m in &mut self.monitors {
            m(dir, now, frame);
        }
        if let Some(cap) = &mut self.capture {
            if cap.only.is_none_or(|o| o == dir) {
                let us = now.total_micros();
                let len = frame.len() as u32;
                let mut rec = Vec::with_capacity(16 + frame.len());
                rec.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
                rec.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
                rec.extend_from_slice(&len.to_le_bytes());
                rec.extend_from_slice(&len.to_le_bytes());
                rec.extend_from_slice(frame);
                // A failing capture must not change what the link does; stop capturing instead.
                if cap.out.write_all(&rec).is_err() {
                    self.capture = None;
                }
            }
        }
        if frame.len() > self.mtu + ETH_HEADER {
            self.stats[d].oversize += 1;
            return;
        }
        let dropped = !self.up || self.filter.as_mut().is_some_and(|f| f(dir, now, frame));
        if dropped {
            self.stats[d].filtered += 1;
            return;
        }
        self.dirs[d].submit(now, frame.to_vec());
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(cap) = &mut self.capture {
            let _ = cap.out.flush();
        }
    }
}

impl LinkEnd {
    fn rx(&self) -> Dir {
        match self.tx {
            Dir::AToB => Dir::BToA,
            Dir::BToA => Dir::AToB,
        }
    }

    /// Takes the next due frame addressed to this end as an owned buffer (for adapters).
    pub fn receive_owned(&mut self, now: Instant) -> Option<Vec<u8>> {
        let rx = self.rx().index();
        let mut i = self.inner.borrow_mut();
        let f = i.dirs[rx].pop_due(now)?;
        i.stats[rx].frames_out += 1;
        Some(f)
    }

    /// The link this end belongs to.
    pub fn link(&self) -> Link {
        Link { inner: self.inner.clone() }
    }
}

impl Device for LinkEnd {
    fn mtu(&self) -> usize {
        self.inner.borrow().mtu
    }

    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let f = self.receive_owned(now)?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Some(n)
    }

    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.inner.borrow_mut().offer(self.tx, now, frame);
    }

    /// The next frame due towards this end.
    fn poll_at(&self) -> Option<Instant> {
        self.inner.borrow().dirs[self.rx().index()].next_due()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn frame(tag: u8, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[14] = tag;
        f
    }

    fn drain(end: &mut LinkEnd, now: Instant) -> Vec<u8> {
        let mut buf = [0u8; 2000];
        let mut tags = Vec::new();
        while let Some(n) = end.receive(now, &mut buf) {
            assert!(n > 14);
            tags.push(buf[14]);
        }
        tags
    }

    #[test]
    fn clean_link_is_fifo_and_directional() {
        let link = Link::new(1500, None, None);
        let (mut a, mut b) = (link.a(), link.b());
        assert_eq!(a.mtu(), 1500);
        let t = Instant::from_millis(3);
        for tag in 0..10 {
            a.transmit(t, &frame(tag, 100));
        }
        b.transmit(t, &frame(99, 60));
        assert_eq!(a.poll_at(), Some(t));
        assert_eq!(link.in_flight(), 11);
        assert_eq!(drain(&mut b, t), (0..10).collect::<Vec<_>>());
        assert_eq!(drain(&mut a, t), vec![99]);
        assert_eq!(link.poll_at(), None);
        let s = link.stats(Dir::AToB);
        assert_eq!((s.frames_in, s.frames_out, s.bytes_in), (10, 10, 1000));
        assert_eq!(link.stats(Dir::BToA).frames_out, 1);
    }

    #[test]
    fn oversize_down_and_filter() {
        let link = Link::new(576, None, None);
        let (mut a, mut b) = (link.a(), link.b());
        a.transmit(Instant::ZERO, &frame(1, 576 + 14));
        a.transmit(Instant::ZERO, &frame(2, 576 + 15));
        assert_eq!(drain(&mut b, Instant::ZERO), vec![1]);
        assert_eq!(link.stats(Dir::AToB).oversize, 1);

        link.set_up(false);
        a.transmit(Instant::ZERO, &frame(3, 60));
        link.set_up(true);
        link.set_filter(Some(Box::new(|dir, _, f| dir == Dir::AToB && f[14] % 2 == 0)));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s2 = seen.clone();
        link.set_monitor(Some(Box::new(move |dir, _, f| s2.borrow_mut().push((dir, f[14])))));
        for tag in 4..8 {
            a.transmit(Instant::ZERO, &frame(tag, 60));
            b.transmit(Instant::ZERO, &frame(tag, 60));
        }
        assert_eq!(drain(&mut b, Instant::ZERO), vec![5, 7]);
        assert_eq!(drain(&mut a, Instant::ZERO), vec![4, 5, 6, 7]);
        assert_eq!(link.stats(Dir::AToB).filtered, 3);
        assert_eq!(seen.borrow().len(), 8, "the monitor sees dropped frames too");
        assert_eq!(seen.borrow()[1], (Dir::BToA, 4));
        let count = Rc::new(RefCell::new(0));
        let c2 = count.clone();
        link.add_monitor(Box::new(move |_, _, _| *c2.borrow_mut() += 1));
        a.transmit(Instant::ZERO, &frame(9, 60));
        assert_eq!((seen.borrow().len(), *count.borrow()), (9, 1));
    }

    #[test]
    fn delay_is_virtual_and_reported_by_poll_at() {
        let cfg = FaultConfig { delay: Duration::from_millis(5), ..Default::default() };
        let link = Link::new(1500, Some(cfg), None);
        let (mut a, mut b) = (link.a(), link.b());
        let t0 = Instant::from_secs(1);
        a.transmit(t0, &frame(1, 60));
        b.transmit(t0, &frame(2, 60));
        // B-to-A is clean: due at once; A-to-B after 5 ms.
        assert_eq!(link.poll_at(), Some(t0));
        assert_eq!(drain(&mut a, t0), vec![2]);
        assert_eq!(b.poll_at(), Some(t0 + Duration::from_millis(5)));
        assert_eq!(link.poll_at(), Some(t0 + Duration::from_millis(5)));
        assert!(drain(&mut b, t0 + Duration::from_micros(4999)).is_empty());
        assert_eq!(drain(&mut b, t0 + Duration::from_millis(5)), vec![1]);
    }

    #[test]
    fn impairments_are_seeded_and_spare_the_ethernet_header() {
        let cfg = FaultConfig { loss: 0.1, dup: 0.05, reorder: 0.1, corrupt: 0.2, seed: 7, ..Default::default() };
        let run = || {
            let link = Link::symmetric(1500, cfg.clone());
            let (mut a, mut b) = (link.a(), link.b());
            let mut got = Vec::new();
            let mut buf = [0u8; 1514];
            for i in 0..2000u32 {
                let now = Instant::from_micros(i as u64 * 100);
                let mut f = vec![0xaau8; 64];
                f[14..18].copy_from_slice(&i.to_be_bytes());
                a.transmit(now, &f);
                b.transmit(now, &f);
                while let Some(n) = b.receive(now, &mut buf) {
                    assert!(buf[..14].iter().all(|&x| x == 0xaa), "ethernet header corrupted");
                    got.push(buf[..n].to_vec());
                }
            }
            let end = Instant::from_secs(10);
            while let Some(f) = b.receive_owned(end) {
                got.push(f);
            }
            (got, link.stats(Dir::AToB), link.stats(Dir::BToA))
        };
        let (g1, s1, r1) = run();
        let (g2, s2, _) = run();
        assert_eq!(g1, g2, "same seed, same frames");
        assert_eq!(s1, s2);
        let f = &s1.faults;
        assert!((150..250).contains(&f.lost), "{s1:?}");
        assert!(f.duplicated > 50 && f.reordered > 100 && f.corrupted > 300, "{s1:?}");
        assert_eq!(s1.frames_out as usize, g1.len());
        assert_eq!(g1.len() as u64, 2000 - f.lost + f.duplicated);
        // Some frames overtook others.
        let order: Vec<u32> = g1.iter().map(|f| u32::from_be_bytes(f[14..18].try_into().unwrap())).collect();
        assert!(order.windows(2).any(|w| w[0] > w[1]), "no reordering seen");
        // The two directions draw from different random streams.
        assert_ne!(s1.faults.lost, r1.faults.lost, "{s1:?} {r1:?}");
    }

    #[test]
    fn rate_limit_spaces_frames() {
        // 1 Mbyte/s: a 1000-byte frame takes 1 ms on the wire.
        let cfg = FaultConfig { rate: Some(1_000_000), queue_limit: 10_000, ..Default::default() };
        let link = Link::new(1500, Some(cfg), None);
        let (mut a, mut b) = (link.a(), link.b());
        for tag in 0..20 {
            a.transmit(Instant::ZERO, &frame(tag, 1000));
        }
        // 10 fit in the queue, 10 tail-dropped.
        assert_eq!(link.stats(Dir::AToB).faults.queue_drops, 10);
        for k in 1..=10u64 {
            assert_eq!(b.poll_at(), Some(Instant::from_millis(k)));
            assert_eq!(drain(&mut b, Instant::from_millis(k)), vec![(k - 1) as u8]);
        }
    }

    #[test]
    fn pcap_capture_writes_records() {
        let dir = std::env::temp_dir().join(format!("tapstack-link-{}.pcap", std::process::id()));
        {
            let link = Link::new(1500, None, None);
            link.capture_pcap(&dir, None).unwrap();
            link.a().transmit(Instant::from_micros(1_500_001), &frame(1, 60));
            link.b().transmit(Instant::ZERO, &frame(2, 70));
        }
        let bytes = std::fs::read(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(bytes.len(), 24 + 16 + 60 + 16 + 70);
        assert_eq!(&bytes[24..28], &1u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &500_001u32.to_le_bytes());
    }
}
