//! Fault injection (`TAPSTACK_FAULTS`): seeded loss, duplication, reordering, corruption, delay
//! and a bandwidth limit. [`Impairer`] is the sans-IO engine (packets in, packets out when due);
//! [`FaultDevice`] applies one to each direction of a [`Device`]; the in-memory test links use
//! the engine directly, so every impairment is reproducible from its seed.
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Device;
use crate::time::{Duration, Instant};

/// What to do to packets. Probabilities are in 0.0..=1.0.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Probability a packet is dropped.
    pub loss: f64,
    /// Probability a packet is delivered twice.
    pub dup: f64,
    /// Probability a packet is held back by `reorder_delay` so later packets overtake it.
    pub reorder: f64,
    /// Probability one bit of the packet (past `protect` bytes) is flipped.
    pub corrupt: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay of reordered packets.
    pub reorder_delay: Duration,
    /// Bandwidth limit in bytes per second (None: unlimited).
    pub rate: Option<u64>,
    /// Bytes that may wait for the link before tail drop (with `rate`).
    pub queue_limit: usize,
    /// Leading bytes never corrupted (e.g. 14 to keep Ethernet headers intact).
    pub protect: usize,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            loss: 0.0,
            dup: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            delay: Duration::ZERO,
            reorder_delay: Duration::from_millis(2),
            rate: None,
            queue_limit: 256 * 1024,
            protect: 0,
            seed: 1,
        }
    }
}

impl FaultConfig {
    /// Parses `loss=0.01,dup=0.001,reorder=0.01,corrupt=0.001,delay=5ms,reorder_delay=2ms,
    /// rate=10mbit,queue=262144,seed=7` (any subset, any order).
    pub fn parse(spec: &str) -> Result<FaultConfig, String> {
        let mut c = FaultConfig::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) =
                item.split_once('=').ok_or_else(|| format!("TAPSTACK_FAULTS: expected key=value, got {item:?}"))?;
            let bad = || format!("TAPSTACK_FAULTS: bad value for {k}: {v:?}");
            let prob = |v: &str| v.parse::<f64>().ok().filter(|p| (0.0..=1.0).contains(p)).ok_or_else(bad);
            match k {
                "loss" => c.loss = prob(v)?,
                "dup" => c.dup = prob(v)?,
                "reorder" => c.reorder = prob(v)?,
                "corrupt" => c.corrupt = prob(v)?,
                "delay" => c.delay = parse_duration(v).ok_or_else(bad)?,
                "reorder_delay" => c.reorder_delay = parse_duration(v).ok_or_else(bad)?,
                "rate" => c.rate = Some(parse_rate(v).ok_or_else(bad)?),
                "queue" => c.queue_limit = v.parse().map_err(|_| bad())?,
                "seed" => c.seed = v.parse().map_err(|_| bad())?,
                _ => return Err(format!("TAPSTACK_FAULTS: unknown key {k:?}")),
            }
        }
        Ok(c)
    }
}

fn parse_duration(v: &str) -> Option<Duration> {
    let (num, unit) = v.find(|c: char| c.is_ascii_alphabetic()).map_or((v, "ms"), |i| v.split_at(i));
    let n: u64 = num.parse().ok()?;
    match unit {
        "us" => Some(Duration::from_micros(n)),
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        _ => None,
    }
}

/// Bytes per second from `123`, `10kbit`, `10mbit`, `1gbit`, `5mbyte`.
fn parse_rate(v: &str) -> Option<u64> {
    let (num, unit) = v.find(|c: char| c.is_ascii_alphabetic()).map_or((v, ""), |i| v.split_at(i));
    let n: u64 = num.parse().ok()?;
    let r = match unit {
        "" => n,
        "kbit" => n * 1000 / 8,
        "mbit" => n * 1_000_000 / 8,
        "gbit" => n * 1_000_000_000 / 8,
        "kbyte" => n * 1000,
        "mbyte" => n * 1_000_000,
        _ => return None,
    };
    (r > 0).then_some(r)
}

/// A small deterministic PRNG (SplitMix64); reproducible from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Counts of what the impairer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub submitted: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    pub queue_drops: u64,
}

/// The sans-IO impairment engine: `submit` packets, take them back with `pop_due` when due.
#[derive(Debug)]
pub struct Impairer {
    cfg: FaultConfig,
    rng: Rng,
    /// (due time, sequence for FIFO among equals, packet)
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    seq: u64,
    /// When the bandwidth-limited link is next free.
    link_free: Instant,
    queued_bytes: usize,
    stats: FaultStats,
}

impl Impairer {
    pub fn new(cfg: FaultConfig) -> Impairer {
        let rng = Rng::new(cfg.seed);
        Impairer {
            cfg,
            rng,
            queue: BinaryHeap::new(),
            seq: 0,
            link_free: Instant::ZERO,
            queued_bytes: 0,
            stats: FaultStats::default(),
        }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &FaultStats {
        &self.stats
    }

    /// Offers a packet to the link at `now`.
    pub fn submit(&mut self, now: Instant, mut pkt: Vec<u8>) {
        self.stats.submitted += 1;
        if self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        // Serialization on a rate-limited link, with a bounded queue in front of it.
        let mut due = now;
        if let Some(rate) = self.cfg.rate {
            let backlog = self.link_free.saturating_since(now);
            let backlog_bytes = (backlog.as_micros() as u64).saturating_mul(rate) / 1_000_000;
            if backlog_bytes as usize + pkt.len() > self.cfg.queue_limit {
                self.stats.queue_drops += 1;
                return;
            }
            let tx_time = Duration::from_micros(pkt.len() as u64 * 1_000_000 / rate);
            self.link_free = self.link_free.max(now) + tx_time;
            due = self.link_free;
        }
        due += self.cfg.delay;
        if pkt.len() > self.cfg.protect && self.rng.chance(self.cfg.corrupt) {
            let span = (pkt.len() - self.cfg.protect) as u64;
            let at = self.cfg.protect + self.rng.below(span) as usize;
            pkt[at] ^= 1 << self.rng.below(8);
            self.stats.corrupted += 1;
        }
        if self.rng.chance(self.cfg.reorder) {
            due += self.cfg.reorder_delay;
            self.stats.reordered += 1;
        }
        if self.rng.chance(self.cfg.dup) {
            self.stats.duplicated += 1;
            self.push(due, pkt.clone());
        }
        self.push(due, pkt);
    }

    fn push(&mut self, due: Instant, pkt: Vec<u8>) {
        self.seq += 1;
        self.queued_bytes += pkt.len();
        self.queue.push(Reverse((due, self.seq, pkt)));
    }

    /// The next packet whose time has come.
    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.queue.peek() {
            Some(Reverse((due, _, _))) if *due <= now => {
                let Reverse((_, _, pkt)) = self.queue.pop()?;
                self.queued_bytes -= pkt.len();
                self.stats.delivered += 1;
                Some(pkt)
            }
            _ => None,
        }
    }

    /// When the next packet becomes due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// A device wrapper applying independent impairments to received and transmitted frames.
/// Ethernet headers (14 bytes) are never corrupted, so a corrupted frame still reaches the IP
/// or transport checksum that must catch it.
pub struct FaultDevice<D: Device> {
    inner: D,
    rx: Impairer,
    tx: Impairer,
    buf: Vec<u8>,
}

impl<D: Device> FaultDevice<D> {
    pub fn new(inner: D, mut cfg: FaultConfig) -> FaultDevice<D> {
        cfg.protect = cfg.protect.max(14);
        let mut tx_cfg = cfg.clone();
        tx_cfg.seed = cfg.seed.wrapping_mul(0x9e37_79b9).wrapping_add(1);
        FaultDevice { inner, rx: Impairer::new(cfg), tx: Impairer::new(tx_cfg), buf: vec![0; 65536 + 14] }
    }

    pub fn rx_stats(&self) -> &FaultStats {
        self.rx.stats()
    }

    pub fn tx_stats(&self) -> &FaultStats {
        self.tx.stats()
    }

    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    fn flush_tx(&mut self, now: Instant) {
        while let Some(f) = self.tx.pop_due(now) {
            self.inner.transmit(now, &f);
        }
    }
}

impl<D: Device> Device for FaultDevice<D> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.flush_tx(now);
        while let Some(n) = self.inner.receive(now, &mut self.buf) {
            self.rx.submit(now, self.buf[..n].to_vec());
        }
        let f = self.rx.pop_due(now)?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Some(n)
    }

    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.tx.submit(now, frame.to_vec());
        self.flush_tx(now);
    }

    fn poll_at(&self) -> Option<Instant> {
        crate::time::earliest(self.rx.next_due(), self.tx.next_due())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_spec() {
        let c =
            FaultConfig::parse("loss=0.1, dup=0.01,reorder=0.05,corrupt=0.001,delay=5ms,rate=8mbit,seed=9").unwrap();
        assert_eq!((c.loss, c.dup, c.reorder, c.corrupt), (0.1, 0.01, 0.05, 0.001));
        assert_eq!((c.delay, c.rate, c.seed), (Duration::from_millis(5), Some(1_000_000), 9));
        assert!(FaultConfig::parse("loss=2").is_err());
        assert!(FaultConfig::parse("bogus=1").is_err());
        assert!(FaultConfig::parse("loss").is_err());
        assert!(FaultConfig::parse("delay=5parsecs").is_err());
        assert_eq!(FaultConfig::parse("").unwrap(), FaultConfig::default());
    }

    #[test]
    fn rates_are_close_to_configured_and_reproducible() {
        let cfg = FaultConfig { loss: 0.1, dup: 0.05, corrupt: 0.02, seed: 42, ..Default::default() };
        let run = || {
            let mut imp = Impairer::new(cfg.clone());
            let mut out = Vec::new();
            for i in 0..10_000u32 {
                imp.submit(Instant::ZERO, i.to_be_bytes().to_vec());
                while let Some(p) = imp.pop_due(Instant::ZERO) {
                    out.push(p);
                }
            }
            (out, imp.stats().clone())
        };
        let (a, sa) = run();
        let (b, _) = run();
        assert_eq!(a, b, "same seed, same packets");
        assert!((900..1100).contains(&sa.lost), "{sa:?}");
        assert!((400..600).contains(&sa.duplicated), "{sa:?}");
        assert!((140..260).contains(&sa.corrupted), "{sa:?}");
        assert_eq!(sa.delivered as usize, a.len());
    }

    #[test]
    fn delay_reorder_and_rate() {
        let cfg = FaultConfig {
            delay: Duration::from_millis(10),
            rate: Some(1000), // 1000 B/s: a 100-byte packet takes 100 ms
            queue_limit: 250,
            ..Default::default()
        };
        let mut imp = Impairer::new(cfg);
        let t0 = Instant::from_secs(1);
        imp.submit(t0, vec![1; 100]);
        imp.submit(t0, vec![2; 100]);
        imp.submit(t0, vec![3; 100]); // 300 bytes > 250 queue limit
        assert_eq!(imp.stats().queue_drops, 1);
        assert_eq!(imp.next_due(), Some(t0 + Duration::from_millis(110)));
        assert!(imp.pop_due(t0 + Duration::from_millis(109)).is_none());
        assert_eq!(imp.pop_due(t0 + Duration::from_millis(110)).unwrap()[0], 1);
        assert_eq!(imp.pop_due(t0 + Duration::from_millis(210)).unwrap()[0], 2);

        let mut imp =
            Impairer::new(FaultConfig { reorder: 1.0, reorder_delay: Duration::from_millis(5), ..Default::default() });
        imp.submit(t0, vec![1]);
        let mut imp2 = Impairer::new(FaultConfig::default());
        imp2.submit(t0, vec![2]);
        assert!(imp.pop_due(t0).is_none());
        assert_eq!(imp.pop_due(t0 + Duration::from_millis(5)), Some(vec![1]));
        assert_eq!(imp2.pop_due(t0), Some(vec![2]));
    }

    #[test]
    fn corruption_spares_protected_prefix() {
        let cfg = FaultConfig { corrupt: 1.0, protect: 14, ..Default::default() };
        let mut imp = Impairer::new(cfg);
        for _ in 0..200 {
            imp.submit(Instant::ZERO, vec![0; 20]);
            let p = imp.pop_due(Instant::ZERO).unwrap();
            assert!(p[..14].iter().all(|&b| b == 0));
            assert_eq!(p[14..].iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        }
    }
}
