//! Bulk transfer both ways through `phy::fault::Impairer` (loss, reordering, duplication,
//! corruption, delay) under a virtual clock; bytes compared exactly, recovery mode counted.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::*;
use crate::phy::fault::{FaultConfig, Impairer};

const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

pub struct Outcome {
    pub a: TcpInfo,
    pub b: TcpInfo,
    pub virtual_secs: f64,
}

fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Moves `n` bytes each way between two stacks joined by impaired links.
pub fn bulk(n: usize, fault: FaultConfig, max: Duration) -> Outcome {
    let mut ca = TcpConfig::new(A, 1500);
    ca.isn_secret = [7; 16];
    ca.seed = fault.seed;
    let mut cb = TcpConfig::new(B, 1500);
    cb.isn_secret = [9; 16];
    cb.seed = fault.seed + 1;
    let mut a = TcpStack::new(ca);
    let mut b = TcpStack::new(cb);
    let mut ab = Impairer::new(FaultConfig { seed: fault.seed, ..fault.clone() });
    let mut ba = Impairer::new(FaultConfig { seed: fault.seed ^ 0xdead, ..fault });
    let mut now = Instant::from_secs(1);
    let l = b.socket();
    b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
    b.listen(l, 4).unwrap();
    let ha = a.socket();
    a.connect(now, ha, IpEndpoint::new(B, 80)).unwrap();
    let mut hb = None;
    let da = data(n, 1);
    let db = data(n, 2);
    let (mut sa, mut sb, mut ra, mut rb) = (0usize, 0usize, Vec::with_capacity(n), Vec::with_capacity(n));
    let mut buf = vec![0u8; 256 * 1024];
    let limit = now + max;
    let mut closed = (false, false);
    while now < limit {
        // Applications.
        if hb.is_none() {
            hb = b.accept(l).ok();
        }
        if sa < n {
            if let Ok(k) = a.send(now, ha, &da[sa..]) {
                sa += k;
            }
        } else if !closed.0 {
            a.shutdown(now, ha, Shutdown::Write).unwrap();
            closed.0 = true;
        }
        while let Ok(k) = a.recv(now, ha, &mut buf) {
            if k == 0 {
                break;
            }
            ra.extend_from_slice(&buf[..k]);
        }
        if let Some(hb) = hb {
            if sb < n {
                if let Ok(k) = b.send(now, hb, &db[sb..]) {
                    sb += k;
                }
            } else if !closed.1 {
                b.shutdown(now, hb, Shutdown::Write).unwrap();
                closed.1 = true;
            }
            while let Ok(k) = b.recv(now, hb, &mut buf) {
                if k == 0 {
                    break;
                }
                rb.extend_from_slice(&buf[..k]);
            }
        }
        if ra.len() == n && rb.len() == n && !a.has_pending_output() && !b.has_pending_output() {
            break;
        }
        // Network.
        a.dispatch(now, &mut |_, _, seg| ab.submit(now, seg.to_vec()));
        b.dispatch(now, &mut |_, _, seg| ba.submit(now, seg.to_vec()));
        let next = [ab.next_due(), ba.next_due(), a.poll_at(now), b.poll_at(now)].into_iter().flatten().min();
        let Some(t) = next else { break };
        now = now.max(t);
        while let Some(p) = ab.pop_due(now) {
            b.process(now, A, B, &p);
        }
        while let Some(p) = ba.pop_due(now) {
            a.process(now, B, A, &p);
        }
    }
    let hb = hb.expect("accepted");
    assert_eq!(ra.len(), n, "b->a bytes; a {:?}\nb {:?}", a.info(ha), b.info(hb));
    assert_eq!(rb.len(), n, "a->b bytes; a {:?}\nb {:?}", a.info(ha), b.info(hb));
    assert!(ra == db && rb == da, "content differs");
    Outcome {
        a: a.info(ha).unwrap(),
        b: b.info(hb).unwrap(),
        virtual_secs: (now - Instant::from_secs(1)).as_secs_f64(),
    }
}

fn harsh(seed: u64) -> FaultConfig {
    FaultConfig {
        loss: 0.10,
        reorder: 0.05,
        dup: 0.01,
        corrupt: 0.001,
        delay: Duration::from_millis(5),
        reorder_delay: Duration::from_millis(2),
        seed,
        ..FaultConfig::default()
    }
}

#[test]
fn clean_link_is_fast() {
    let o = bulk(
        4 << 20,
        FaultConfig { delay: Duration::from_millis(5), ..FaultConfig::default() },
        Duration::from_secs(60),
    );
    assert_eq!(o.a.retransmits + o.b.retransmits, 0);
    assert!(o.virtual_secs < 5.0, "{}", o.virtual_secs);
}

#[test]
fn harsh_link_recovers_mostly_by_fast_retransmit() {
    for seed in [1, 2, 3] {
        let o = bulk(2 << 20, harsh(seed), Duration::from_secs(3600));
        let (fr, rto) = (o.a.fast_retransmits + o.b.fast_retransmits, o.a.rto_expirations + o.b.rto_expirations);
        eprintln!(
            "seed {seed}: {:.1}s virtual, fast {fr}, rto {rto}, rexmit {}",
            o.virtual_secs,
            o.a.retransmits + o.b.retransmits
        );
        assert!(fr > 2 * rto, "seed {seed}: fast {fr} rto {rto}");
    }
}

/// The full-size run (32 MiB each way); the tcptest suite runs the same in `make test`.
#[test]
#[ignore = "long in debug builds; run with --release -- --ignored"]
fn harsh_link_32mib_each_way() {
    let t = std::time::Instant::now();
    let o = bulk(32 << 20, harsh(11), Duration::from_secs(3600));
    eprintln!(
        "32 MiB: {:.1}s virtual, {:?} wall, fast {} rto {} rexmit {}",
        o.virtual_secs,
        t.elapsed(),
        o.a.fast_retransmits + o.b.fast_retransmits,
        o.a.rto_expirations + o.b.rto_expirations,
        o.a.retransmits + o.b.retransmits
    );
}

/// CPU cost of the engine: 64 MiB each way on a clean link (prints wall time).
#[test]
#[ignore = "benchmark-like; run with --release -- --ignored"]
fn clean_64mib_each_way_cpu() {
    let t = std::time::Instant::now();
    let o = bulk(
        64 << 20,
        FaultConfig { delay: Duration::from_micros(50), ..FaultConfig::default() },
        Duration::from_secs(600),
    );
    let wall = t.elapsed();
    eprintln!(
        "64 MiB each way: {:?} wall ({:.0} MiB/s per direction incl. test copies), {:.2}s virtual",
        wall,
        64.0 / wall.as_secs_f64(),
        o.virtual_secs
    );
    assert_eq!(o.a.retransmits + o.b.retransmits, 0);
}

#[test]
fn byte_counters_are_consistent_after_losses() {
    let o = bulk(1 << 20, harsh(5), Duration::from_secs(3600));
    for i in [&o.a, &o.b] {
        assert_eq!(i.bytes_acked, 1 << 20);
        assert_eq!(i.bytes_received, 1 << 20);
        assert!(i.bytes_sent >= i.bytes_acked && i.bytes_sent <= i.bytes_acked + 1, "{i:?}");
    }
}
