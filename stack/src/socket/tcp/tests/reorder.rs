//! A path that reorders, between two engines (both report duplicates with D-SACK): RACK's
//! reordering window grows with D-SACKs (RFC 8985 6.2 steps 3-4), the three-duplicate rule
//! stops once reordering was seen, and a reduction whose retransmissions were all D-SACKed is
//! undone (RFC 3708, Linux tcp_try_undo_dsack), after a fast recovery or a timeout. Without
//! them, 1% of segments arriving 15 ms late on a 40 ms round trip halved the window over and
//! over (a transfer 77x slower than on the clean path).
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

#[test]
fn a_spurious_timeout_is_undone() {
    // 5 ms each way; once the window has grown, every segment takes 400 ms for a moment (a
    // delay spike): the RTO fires though nothing was lost, its retransmission arrives after the
    // original and is D-SACKed, and the fall to one segment is undone.
    let mut p = Pair::new();
    let (c, _l, acc) = p.connect(80);
    let data = pattern(1 << 20, 3);
    assert_eq!(transfer(&mut p, true, c, acc, &data, Duration::from_secs(30)), data);
    let before = p.a.info(c).unwrap();
    assert!(before.cwnd > 20 * 1448 && before.rto_expirations == 0, "{before:?}");
    p.delay = Duration::from_millis(400);
    let now = p.now;
    assert_eq!(p.a.s.send(now, c, &data[..32 * 1024]), Ok(32 * 1024));
    p.run_for(Duration::from_millis(350));
    p.delay = Duration::from_millis(5);
    p.run_for(Duration::from_secs(2));
    let after = p.a.info(c).unwrap();
    assert!(after.rto_expirations >= 1, "the timeout fired: {after:?}");
    assert_eq!(after.bytes_acked, before.bytes_acked + 32 * 1024);
    assert!(after.dsacks >= 1 && after.undos >= 1, "its retransmission D-SACKed, the fall undone: {after:?}");
    assert!(after.cwnd >= before.cwnd, "cwnd {} back from one segment (was {})", after.cwnd, before.cwnd);
}
