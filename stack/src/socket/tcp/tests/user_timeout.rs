//! TCP_USER_TIMEOUT (RFC 5482, Linux tcp(7)): a connection whose data stays unacknowledged,
//! whose SYN goes unanswered, whose zero window stays shut or whose keepalives go unanswered for
//! the user timeout is dropped with ETIMEDOUT, long before the retry counts would drop it. And
//! TCP_SYNCNT, the count of SYN resends, with Linux's timing.
use super::*;

use super::harness::{Pair, B};

/// Runs until A's connection `c` closes or `max` passes; the time it took.
fn until_closed(p: &mut Pair, c: TcpHandle, max: Duration) -> Option<Duration> {
    let t0 = p.now;
    p.run_until(max, |p| p.a.state(c) == Ok(TcpState::Closed)).then(|| p.now - t0)
}

#[test]
fn unacknowledged_data_times_out_after_the_user_timeout() {
    for ut in [0u32, 2000] {
        let mut p = Pair::new();
        let (c, _l, _s) = p.connect(80);
        p.a.set_option(c, TcpOption::UserTimeout(ut)).unwrap();
        assert_eq!(p.a.get_option(c, TcpOption::UserTimeout(0)), Ok(TcpOption::UserTimeout(ut)));
        p.drop = Box::new(|_| true); // the peer is gone
        p.a.send(p.now, c, b"lost").unwrap();
        let took = until_closed(&mut p, c, Duration::from_secs(30));
        if ut == 0 {
            assert_eq!(took, None, "tcp_retries2 keeps it for minutes");
            continue;
        }
        // Counted from the first resend (one RTO after the send), the RTO then clamped to it
        // (Linux retrans_stamp, tcp_clamp_rto_to_user_timeout): 2 s after the first resend, not
        // at the next backed-off RTO.
        let took = took.expect("dropped");
        assert!(took >= Duration::from_millis(2200) && took < Duration::from_millis(2600), "{took:?}");
        assert_eq!(p.a.take_error(c), Some(Error::TimedOut));
    }
}

#[test]
fn an_unanswered_syn_times_out_after_the_user_timeout() {
    let mut p = Pair::new();
    p.drop = Box::new(|_| true);
    let c = p.a.socket();
    p.a.set_option(c, TcpOption::UserTimeout(1500)).unwrap();
    p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
    let took = until_closed(&mut p, c, Duration::from_secs(60)).expect("dropped");
    // The first RTO (1 s) resends the SYN; the next is clamped to 1.5 s after the first SYN.
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_millis(1600), "{took:?}");
    assert_eq!(p.a.take_error(c), Some(Error::TimedOut));
}

#[test]
fn keepalive_gives_up_after_the_user_timeout_not_the_probe_count() {
    for ut in [0u32, 2500] {
        let mut p = Pair::new();
        let (c, _l, _s) = p.connect(80);
        p.a.set_option(c, TcpOption::KeepAlive(true)).unwrap();
        p.a.set_option(c, TcpOption::KeepIdle(Duration::from_secs(1))).unwrap();
        p.a.set_option(c, TcpOption::KeepIntvl(Duration::from_secs(1))).unwrap();
        p.a.set_option(c, TcpOption::KeepCnt(20)).unwrap();
        p.a.set_option(c, TcpOption::UserTimeout(ut)).unwrap();
        p.drop = Box::new(|_| true);
        let took = until_closed(&mut p, c, Duration::from_secs(10));
        if ut == 0 {
            assert_eq!(took, None, "20 probes a second apart");
            continue;
        }
        // Probes at 1 s and 2 s unanswered; at 3 s the peer has been silent for >= 2.5 s.
        let took = took.expect("dropped");
        assert!(took >= Duration::from_millis(2900) && took < Duration::from_millis(3200), "{took:?}");
        assert_eq!(p.a.take_error(c), Some(Error::TimedOut));
    }
}

#[test]
fn a_zero_window_answered_for_ever_ends_after_the_user_timeout() {
    for ut in [0u32, 3000] {
        let mut p = Pair::new();
        let (c, _l, s) = p.connect_set(80, |p, l| p.b.set_option(l, TcpOption::RecvBuffer(4096)).unwrap());
        p.a.set_option(c, TcpOption::UserTimeout(ut)).unwrap();
        p.a.send(p.now, c, &[1u8; 50_000]).unwrap();
        // B never reads: its window closes, and it answers every probe with a zero window.
        assert!(p.run_until(Duration::from_secs(5), |p| p.b.recv_queue(s) > 0));
        let took = until_closed(&mut p, c, Duration::from_secs(60));
        if ut == 0 {
            assert_eq!(took, None, "a peer that answers is probed for ever");
            assert_eq!(p.a.state(c), Ok(TcpState::Established));
            continue;
        }
        let took = took.expect("dropped");
        assert!(took >= Duration::from_millis(2500) && took < Duration::from_millis(4000), "{took:?}");
        assert_eq!(p.a.take_error(c), Some(Error::TimedOut));
    }
}

#[test]
fn the_user_timeout_is_kept_across_connect_and_inherited() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect_set(80, |p, l| p.b.set_option(l, TcpOption::UserTimeout(700)).unwrap());
    assert_eq!(p.b.get_option(s, TcpOption::UserTimeout(0)), Ok(TcpOption::UserTimeout(700)));
    assert_eq!(p.a.get_option(c, TcpOption::UserTimeout(1)), Ok(TcpOption::UserTimeout(0)));
    let c2 = p.a.socket();
    p.a.set_option(c2, TcpOption::UserTimeout(900)).unwrap();
    p.a.connect(p.now, c2, IpEndpoint::new(B, 80)).unwrap();
    assert_eq!(p.a.get_option(c2, TcpOption::UserTimeout(0)), Ok(TcpOption::UserTimeout(900)));
}

#[test]
fn tcp_syncnt_bounds_connect_as_linux() {
    // Measured on Linux 6.18 against a host dropping SYNs: TCP_SYNCNT 1, 2, 3 give ETIMEDOUT
    // after 3, 7 and 19 s (SYNs a second apart at first: tcp_syn_linear_timeouts).
    for (n, secs) in [(1u8, 3u64), (2, 7), (3, 19)] {
        let mut p = Pair::new();
        p.drop = Box::new(|_| true);
        let c = p.a.socket();
        p.a.set_option(c, TcpOption::SynCnt(n)).unwrap();
        assert_eq!(p.a.get_option(c, TcpOption::SynCnt(0)), Ok(TcpOption::SynCnt(n)));
        p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
        let took = until_closed(&mut p, c, Duration::from_secs(300)).expect("given up");
        assert_eq!(took, Duration::from_secs(secs), "TCP_SYNCNT {n}");
        assert_eq!(p.a.take_error(c), Some(Error::TimedOut));
    }
}
