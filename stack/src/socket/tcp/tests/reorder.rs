//! A path that reorders, between two engines (both report duplicates with D-SACK): RACK's
//! reordering window grows with D-SACKs (RFC 8985 6.2 steps 3-4), the three-duplicate rule
//! stops once reordering was seen, and a reduction whose retransmissions were all D-SACKed is
//! undone (RFC 3708, Linux tcp_try_undo_dsack). Without them, 1% of segments arriving 15 ms
//! late on a 40 ms round trip halved the window over and over (a transfer 50x slower).
use super::harness::*;
use super::*;
use crate::phy::fault::FaultConfig;

/// Sends `n` bytes from A to B over a 20 ms (each way) link whose data path holds `reorder`
/// of the segments back 15 ms; returns the virtual time it took and the sender's TcpInfo.
fn upload(n: usize, reorder: f64, seed: u64) -> (Duration, TcpInfo) {
    let mut p = Pair::new();
    let fc = FaultConfig {
        reorder,
        reorder_delay: Duration::from_millis(15),
        delay: Duration::from_millis(20),
        queue_limit: 64 << 20,
        seed,
        ..FaultConfig::default()
    };
    p.impair(fc.clone(), FaultConfig { reorder: 0.0, seed: seed ^ 1, ..fc });
    let (c, _l, acc) = p.connect(80);
    let data = pattern(n, seed as u32);
    let start = p.now;
    let got = transfer(&mut p, true, c, acc, &data, Duration::from_secs(300));
    assert!(got == data, "the transfer is whole ({} of {} bytes)", got.len(), n);
    (p.now - start, p.a.info(c).unwrap())
}

#[test]
fn reordering_costs_little_once_seen() {
    let n = 16 << 20;
    let (clean, ci) = upload(n, 0.0, 5);
    assert_eq!((ci.retransmits, ci.reord_seen), (0, false));
    let (t, i) = upload(n, 0.01, 5);
    // The time first: it is what a user sees (and fails when the mechanisms are off).
    assert!(t < clean * 2, "reordering costs less than the clean path's time again: {t:?} against {clean:?}");
    assert!(i.reord_seen, "reordering seen");
    assert!(i.dsacks > 0 && i.undos > 0, "spurious retransmissions D-SACKed and undone: {i:?}");
    assert!(i.retransmits < 100, "few spurious retransmissions once seen: {}", i.retransmits);
}
