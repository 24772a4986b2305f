//! TCP_DEFER_ACCEPT (Linux tcp_check_req and syn_ack_recalc): a listener's connection is not
//! accepted on the handshake's bare ACK but on the peer's first data, or once the deferral's
//! SYN-ACK timeouts have passed and the peer answered the last SYN-ACK.
use super::*;

use super::harness::{Pair, B};

/// B listens on `port` with TCP_DEFER_ACCEPT = `n` SYN-ACK timeouts, A connects: (a, listener).
fn deferred(p: &mut Pair, port: u16, n: u8) -> (TcpHandle, TcpHandle) {
    let l = p.b.socket();
    p.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), port)).unwrap();
    p.b.set_option(l, TcpOption::DeferAccept(n)).unwrap();
    assert_eq!(p.b.get_option(l, TcpOption::DeferAccept(0)), Ok(TcpOption::DeferAccept(n)));
    p.b.listen(l, 8).unwrap();
    let c = p.a.socket();
    p.a.connect(p.now, c, IpEndpoint::new(B, port)).unwrap();
    assert!(p.run_until(Duration::from_secs(1), |p| p.a.state(c) == Ok(TcpState::Established)));
    (c, l)
}

/// Runs until B's listener `l` has a connection to accept (at most `max`): the handle and when.
fn accepted(p: &mut Pair, l: TcpHandle, max: Duration) -> Option<(TcpHandle, Instant)> {
    let mut got = None;
    p.run_until(max, |p| {
        got = p.b.accept(l).ok().map(|h| (h, p.now));
        got.is_some()
    });
    got
}

#[test]
fn data_completes_a_deferred_connection() {
    let mut p = Pair::new();
    let (c, l) = deferred(&mut p, 80, 1);
    assert!(accepted(&mut p, l, Duration::from_millis(500)).is_none(), "the bare ACK is not accepted");
    assert_eq!(p.b.stats().defer_accept_drops, 1);
    p.a.send(p.now, c, b"GET /").unwrap();
    let (s, _) = accepted(&mut p, l, Duration::from_millis(100)).expect("data makes it acceptable");
    p.run_for(Duration::from_millis(10));
    assert_eq!(p.b.recv_queue(s), 5, "the data that completed it is readable");
}

#[test]
fn a_silent_peer_is_accepted_when_the_deferral_ends() {
    // One timeout (1 s): the SYN-ACK goes again at 1 s, and the peer's ACK of it is taken.
    let mut p = Pair::new();
    let t0 = p.now;
    let (_c, l) = deferred(&mut p, 80, 1);
    let (_, at) = accepted(&mut p, l, Duration::from_secs(5)).expect("accepted after the deferral");
    assert!(at - t0 >= Duration::from_millis(900) && at - t0 < Duration::from_millis(1500), "after {:?}", at - t0);
    // Three timeouts (1 + 2 + 4 s): no SYN-ACK at 1 s and 3 s while the request waits.
    let mut p = Pair::new();
    let t0 = p.now;
    let (_c, l) = deferred(&mut p, 81, 3);
    let (_, at) = accepted(&mut p, l, Duration::from_secs(20)).expect("accepted after the deferral");
    assert!(at - t0 >= Duration::from_millis(6900) && at - t0 < Duration::from_millis(7500), "after {:?}", at - t0);
    assert_eq!(p.b.stats().defer_accept_drops, 1, "one bare ACK set aside, the second taken");
}

#[test]
fn no_deferral_accepts_on_the_bare_ack() {
    let mut p = Pair::new();
    let (_c, l) = deferred(&mut p, 80, 0);
    assert!(accepted(&mut p, l, Duration::from_millis(100)).is_some());
    assert_eq!(p.b.stats().defer_accept_drops, 0);
}
