//! Regression tests for the timers of issue 11: a timer always runs while data or a FIN is
//! unacknowledged, persist gives up like Linux, the RTO after a lost SYN, keepalive.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::harness::{Out, H, PEER, PP, US};
use super::*;
use crate::wire::tcp::flags;

/// Milliseconds since `t0` of the segments in `o` matching `f`.
fn times(o: &[Out], t0: Instant, f: impl Fn(&Out) -> bool) -> Vec<u64> {
    o.iter().filter(|s| f(s)).map(|s| (s.at - t0).as_millis() as u64).collect()
}

#[test]
fn rto_into_a_window_shrunk_to_zero_probes_and_rearms() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.send(h.now, c, &[7u8; 3000]).unwrap();
    assert_eq!(h.out().len(), 3);
    // The peer shrinks its window to zero with all 3000 bytes in flight, then goes silent.
    let mut z = h.seg(1001, Some(iss + 1), 0);
    z.window = 0;
    h.feed(&z);
    h.out();
    let t0 = h.now;
    let o = h.advance(Duration::from_secs(2));
    assert!(h.s.poll_at(h.now).is_some(), "a timer must run while 3000 bytes are unacknowledged");
    // Linux tcp_retransmit_timer: the head segment is resent as a zero-window probe, backing off.
    let heads = times(&o, t0, |s| s.seq == iss + 1 && s.len > 0);
    assert_eq!(heads, vec![200, 600, 1400], "{o:?}");
    assert!(o.iter().all(|s| s.seq == iss + 1), "nothing beyond the head: {o:?}");
    // Never answered: tcp_retries2 (15) retransmissions, then ETIMEDOUT.
    h.advance(Duration::from_secs(3000));
    assert_eq!(h.s.state(c), Ok(TcpState::Closed));
    assert_eq!(h.s.take_error(c), Some(Error::TimedOut));
}

#[test]
fn rto_with_everything_sacked_still_rearms() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(true, false);
    h.s.send(h.now, c, &[7u8; 3000]).unwrap();
    assert_eq!(h.out().len(), 3);
    // Everything in flight SACKed but not acknowledged (a receiver about to renege).
    let mut a = h.seg(1001, Some(iss + 1), 0);
    a.sack = [Some((iss + 1, iss + 3001)), None, None, None];
    h.feed(&a);
    h.out();
    for _ in 0..50 {
        assert!(h.s.poll_at(h.now).is_some(), "no timer with 3000 bytes unacknowledged");
        h.advance(Duration::from_millis(100));
    }
    let i = h.s.info(c).unwrap();
    assert!(i.rto_expirations >= 2 && i.retransmits >= 1, "{i:?}");
}

#[test]
fn orphaned_fin_into_zero_window_keeps_a_timer() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.send(h.now, c, &[7u8; 100]).unwrap();
    h.s.close(h.now, c);
    let o = h.out();
    assert!(o.iter().any(|s| s.flags & flags::FIN != 0), "{o:?}");
    let mut z = h.seg(1001, Some(iss + 1), 0);
    z.window = 0;
    h.feed(&z);
    // Every step: data or FIN unacknowledged means a timer; the orphan is freed in the end.
    let mut n = 0;
    while h.s.control_blocks() > 1 && n < 10_000 {
        assert!(h.s.poll_at(h.now).is_some(), "orphan with unacknowledged FIN and no timer");
        h.advance(Duration::from_secs(1));
        n += 1;
    }
    assert_eq!(h.s.control_blocks(), 1, "the orphan is freed after tcp_orphan_retries");
}

/// A zero window, 3000 bytes waiting, nothing in flight.
fn zero_window(h: &mut H) -> (TcpHandle, u32) {
    let (_l, c, iss) = h.established(false, false);
    let mut z = h.seg(1001, Some(iss + 1), 0);
    z.window = 0;
    h.feed(&z);
    h.s.send(h.now, c, &[5u8; 3000]).unwrap();
    assert!(h.out().is_empty());
    (c, iss)
}

#[test]
fn persist_gives_up_after_tcp_retries2_when_unanswered() {
    let mut h = H::new();
    let (c, iss) = zero_window(&mut h);
    let o = h.advance(Duration::from_secs(5000));
    let probes = o.iter().filter(|s| s.seq == iss && s.len == 0).count();
    assert_eq!(probes, 15, "tcp_retries2 probes, then abort");
    assert_eq!(h.s.state(c), Ok(TcpState::Closed));
    assert_eq!(h.s.take_error(c), Some(Error::TimedOut));
}

#[test]
fn persist_lives_while_the_peer_answers() {
    let mut h = H::new();
    let (c, iss) = zero_window(&mut h);
    let end = h.now + Duration::from_secs(5000);
    let mut answered = 0;
    while h.now < end {
        let o = h.advance(Duration::from_secs(1));
        for p in o.iter().filter(|s| s.seq == iss && s.len == 0) {
            let mut z = h.seg(1001, Some(p.seq + 1), 0);
            z.window = 0;
            h.feed(&z);
            answered += 1;
        }
    }
    assert!(answered > 20, "{answered}");
    assert_eq!(h.s.state(c), Ok(TcpState::Established), "RFC 1122 4.2.2.17: probe indefinitely");
}

#[test]
fn orphan_persist_gives_up_after_tcp_orphan_retries() {
    let mut h = H::new();
    let (c, iss) = zero_window(&mut h);
    h.s.close(h.now, c);
    let o = h.advance(Duration::from_secs(5000));
    let probes = o.iter().filter(|s| s.seq == iss && s.len == 0).count();
    assert_eq!(probes, 8, "tcp_orphan_retries (0 = 8 when alive)");
    assert_eq!(h.s.control_blocks(), 1, "only the listener is left");
    assert_eq!(h.s.poll_at(h.now), None);
}

#[test]
fn rto_is_three_seconds_after_a_lost_syn() {
    let mut h = H::new();
    let c = h.s.socket();
    h.s.connect(h.now, c, IpEndpoint::new(PEER, PP)).unwrap();
    let o = h.out();
    let (iss, port) = (o[0].seq, h.s.local_addr(c).unwrap().port());
    // The first SYN is lost; the retransmission 1 s later is answered.
    let o = h.advance(Duration::from_millis(1000));
    assert_eq!(o.iter().filter(|s| s.flags == flags::SYN).count(), 1);
    let mut sa = h.seg(9000, Some(iss + 1), flags::SYN);
    sa.dst_port = port;
    sa.mss = Some(1460);
    h.feed(&sa);
    assert_eq!(h.s.state(c), Ok(TcpState::Established));
    h.out();
    h.s.send(h.now, c, b"hello").unwrap();
    let t0 = h.now;
    let o = h.advance(Duration::from_secs(5));
    // RFC 6298 5.7: no RTT sample from the handshake and a SYN retransmitted: RTO 3 s.
    assert_eq!(times(&o, t0, |s| s.len == 5), vec![0, 3000], "{o:?}");
}

#[test]
fn keepalive_ignores_unacceptable_segments() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.set_option(c, TcpOption::KeepAlive(true)).unwrap();
    h.s.set_option(c, TcpOption::KeepIdle(Duration::from_secs(10))).unwrap();
    h.s.set_option(c, TcpOption::KeepIntvl(Duration::from_secs(2))).unwrap();
    h.s.set_option(c, TcpOption::KeepCnt(3)).unwrap();
    // Only junk arrives: segments far outside the receive window, every 3 s.
    for i in 0..20u32 {
        let mut d = h.seg(1001u32.wrapping_add(0x4000_0000 + i), Some(iss + 1), flags::PSH);
        d.payload = b"junk";
        h.feed(&d);
        h.advance(Duration::from_secs(3));
    }
    assert_eq!(h.s.state(c), Ok(TcpState::Closed), "keepalive must time out (Linux: rcv_tstamp)");
    assert_eq!(h.s.take_error(c), Some(Error::TimedOut));
    let _ = (IpAddress::v4(0, 0, 0, 0), US);
}

#[test]
fn rto_probes_into_a_zero_window_live_while_the_peer_answers() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.send(h.now, c, &[7u8; 3000]).unwrap();
    h.out();
    let mut z = h.seg(1001, Some(iss + 1), 0);
    z.window = 0;
    h.feed(&z);
    let t0 = h.now;
    // Each head probe is answered: window still zero. Linux keeps such a connection.
    while h.now < t0 + Duration::from_secs(3000) {
        let o = h.advance(Duration::from_secs(1));
        if o.iter().any(|s| s.seq == iss + 1 && s.len > 0) {
            h.feed(&z);
        }
    }
    assert_eq!(h.s.state(c), Ok(TcpState::Established));
    // Silence: aborted once nothing was heard for 2 * rto_max (Linux tcp_rtx_probe0_timed_out).
    let t1 = h.now;
    while h.s.state(c) == Ok(TcpState::Established) && h.now < t1 + Duration::from_secs(1000) {
        h.advance(Duration::from_secs(1));
    }
    assert_eq!(h.s.take_error(c), Some(Error::TimedOut));
    let waited = (h.now - t1).as_secs();
    assert!((240..=360).contains(&waited), "{waited} s"); // 2 * TCP_RTO_MAX, then the next probe
}
