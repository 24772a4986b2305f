//! Issue 11 item 1c: ephemeral ports (RFC 6056 algorithm 4) and the timestamp offset per
//! address pair (RFC 7323 5.4), so short connections to one server never collide with the
//! server's TIME-WAIT nor fail its PAWS check.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::harness::{Pair, A, B, H, PEER, US};
use super::*;
use crate::wire::tcp::flags;

const SERVER: IpAddress = PEER;

fn stack() -> H {
    let mut c = TcpConfig::new(US, 1500);
    c.isn_secret = [7; 16];
    c.seed = 7;
    H::with(c)
}

/// The SYNs `h` sends at `now`: (source port, TSval).
fn syns(h: &mut H, now: Instant) -> Vec<(u16, u32)> {
    h.now = now;
    let o = h.out().into_iter().filter(|o| o.flags & flags::SYN != 0);
    o.map(|o| (o.sport, o.ts.expect("SYN carries timestamps").0)).collect()
}

#[test]
fn consecutive_connects_to_one_server_get_consecutive_ports() {
    let mut s = stack();
    let now = Instant::from_secs(1);
    let server = IpEndpoint::new(SERVER, 80);
    let (lo, hi) = s.config().ephemeral_ports;
    let span = (hi - lo) as u32 + 1;
    let mut ports = Vec::new();
    for i in 0..50 {
        let h = s.socket();
        s.connect(now, h, server).unwrap();
        ports.push(s.local_addr(h).unwrap().port());
        if i % 2 == 0 {
            s.abort(now, h); // freed ports are not reused before the range wraps
        }
    }
    for w in ports.windows(2) {
        let next = lo as u32 + (w[0] - lo + 1) as u32 % span;
        assert_eq!(w[1] as u32, next, "ports {ports:?}");
    }
    // Another destination starts elsewhere in the range (keyed hash of the destination).
    let h = s.socket();
    s.connect(now, h, IpEndpoint::new(SERVER, 81)).unwrap();
    let other = s.local_addr(h).unwrap().port();
    assert!(!ports.contains(&other), "port {other} for another service repeats {ports:?}");
}

#[test]
fn connect_skips_a_port_whose_four_tuple_is_in_use() {
    let mut s = stack();
    let now = Instant::from_secs(1);
    let server = IpEndpoint::new(SERVER, 80);
    // Find where the sequence to `server` goes next, on a twin stack with the same secret.
    let mut twin = stack();
    let h = twin.socket();
    twin.connect(now, h, server).unwrap();
    let first = twin.local_addr(h).unwrap().port();
    // Occupy `first` and `first + 1` to that server with explicitly bound sockets.
    for p in [first, first + 1] {
        let h = s.socket();
        s.set_reuse_addr(h, true).unwrap();
        s.bind(h, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), p)).unwrap();
        s.connect(now, h, server).unwrap();
    }
    let h = s.socket();
    s.connect(now, h, server).unwrap();
    assert_eq!(s.local_addr(h).unwrap().port(), first + 2);
}

#[test]
fn tsval_is_monotonic_across_connections_of_one_address_pair() {
    let mut s = stack();
    let server = IpEndpoint::new(SERVER, 80);
    let mut now = Instant::from_secs(1);
    let mut last: Option<u32> = None;
    // 300 connections 7 ms apart (over 2 s: the ISN's clock term moves ~500,000 times).
    for _ in 0..300 {
        let h = s.socket();
        s.connect(now, h, server).unwrap();
        let v = syns(&mut s, now);
        assert_eq!(v.len(), 1);
        let ts = v[0].1;
        if let Some(l) = last {
            let d = ts.wrapping_sub(l) as i32;
            assert_eq!(d, 7, "TSval went from {l} to {ts} on port {}", v[0].0);
        }
        last = Some(ts);
        s.abort(now, h);
        now += Duration::from_millis(7);
    }
    // The same 4-tuple again (explicit bind, as a port that comes back): still later.
    let h = s.socket();
    s.bind(h, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 40000)).unwrap();
    s.connect(now, h, server).unwrap();
    let t1 = syns(&mut s, now)[0].1;
    s.abort(now, h);
    now += Duration::from_millis(3);
    let h = s.socket();
    s.bind(h, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 40000)).unwrap();
    s.connect(now, h, server).unwrap();
    assert_eq!(syns(&mut s, now)[0].1.wrapping_sub(t1), 3);
}

mod index {
    //! The indexes against what a scan of the whole table gives, after every step of a random
    //! mix of socket calls, segments lost and time passing.
    use crate::wire::ip::{IpAddress, IpEndpoint};
    use std::collections::{BTreeSet, HashMap};

    use super::super::super::ports::has_output;
    use super::super::super::table::TcpStack;
    use super::super::super::types::{TcpConfig, TcpHandle, TcpState};
    use crate::socket::Shutdown;
    use crate::time::{Duration, Instant};

    const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
    const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

    /// Asserts the indexes agree with a scan; returns (TIME-WAIT records, has_pending_output).
    fn check(s: &TcpStack) -> (usize, bool) {
        let bound: BTreeSet<(u16, u32)> =
            s.socks.iter().filter(|(_, t)| t.bound).map(|(&id, t)| (t.local.port(), id)).collect();
        assert_eq!(s.ports.bound, bound, "bound-port index");
        let mut tw: HashMap<u16, u32> = HashMap::new();
        for &k in s.tw.keys() {
            *tw.entry(k.local_port).or_default() += 1;
        }
        let counts: HashMap<u16, u32> = s.ports.tw.iter().map(|(&p, e)| (p, e.n)).collect();
        assert_eq!(counts, tw, "TIME-WAIT port counts");
        let scan =
            !s.rsts.is_empty() || !s.synacks.is_empty() || !s.tw_acks.is_empty() || s.socks.values().any(has_output);
        assert_eq!(s.has_pending_output(), scan, "has_pending_output");
        (s.tw.len(), scan)
    }

    #[test]
    fn indexes_match_a_full_scan() {
        let mut ca = TcpConfig::new(A, 1500);
        ca.seed = 3;
        ca.ephemeral_ports = (40000, 40063); // small: ports collide and wrap
        let mut cb = TcpConfig::new(B, 1500);
        cb.seed = 4;
        let (mut a, mut b) = (TcpStack::new(ca), TcpStack::new(cb));
        let mut now = Instant::from_secs(1);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut mine: Vec<(bool, TcpHandle)> = Vec::new(); // (on b, handle)
        let mut listeners = Vec::new();
        for port in [80, 81] {
            let l = b.socket();
            b.bind(l, IpEndpoint::new(B, port)).unwrap();
            b.listen(l, 64).unwrap();
            listeners.push(l);
        }
        let (mut tw_seen, mut busy, mut quiet) = (0, 0, 0);
        let mut tally = |r: (usize, bool)| {
            tw_seen = tw_seen.max(r.0);
            if r.1 {
                busy += 1;
            } else {
                quiet += 1;
            }
        };
        for _ in 0..3000 {
            let pick = |mine: &Vec<(bool, TcpHandle)>, r: u64| mine.get(r as usize % mine.len().max(1)).copied();
            match rand(14) {
                0 | 1 => {
                    let c = a.socket();
                    if rand(3) == 0 {
                        let _ = a.set_reuse_addr(c, rand(2) == 0);
                        let _ = a.bind(c, IpEndpoint::new(A, [0, 40000 + rand(64) as u16][rand(2) as usize]));
                    }
                    let _ = a.connect(now, c, IpEndpoint::new(B, 80 + rand(3) as u16));
                    mine.push((false, c));
                }
                3 => {
                    let c = a.socket();
                    let _ = a.bind(c, IpEndpoint::new(A, 40000 + rand(64) as u16));
                    if rand(2) == 0 {
                        let _ = a.listen(c, 4);
                    }
                    mine.push((false, c));
                }
                4 => {
                    for &l in &listeners {
                        while let Ok(s) = b.accept(l) {
                            mine.push((true, s));
                        }
                    }
                    // Sockets whose connection ended (refused, reset, timed out) are closed.
                    mine.retain(|&(on_b, h)| {
                        let s = if on_b { &mut b } else { &mut a };
                        let done = s.state(h) == Ok(TcpState::Closed) && rand(2) == 0;
                        if done {
                            s.close(now, h);
                        }
                        !done
                    });
                }
                5 | 6 => {
                    if let Some((on_b, h)) = pick(&mine, rand(1 << 20)) {
                        let s = if on_b { &mut b } else { &mut a };
                        let _ = s.send(now, h, &vec![7u8; 1 + rand(20_000) as usize]);
                    }
                }
                7 => {
                    if let Some((on_b, h)) = pick(&mine, rand(1 << 20)) {
                        let s = if on_b { &mut b } else { &mut a };
                        let mut buf = [0u8; 4096];
                        while let Ok(1..) = s.recv(now, h, &mut buf) {}
                        if rand(2) == 0 {
                            let _ = s.shutdown(now, h, Shutdown::Write);
                        }
                    }
                }
                8 | 9 => {
                    if let Some((on_b, h)) = pick(&mine, rand(1 << 20)) {
                        let s = if on_b { &mut b } else { &mut a };
                        let mut buf = [0u8; 4096];
                        while rand(4) != 0 && matches!(s.recv(now, h, &mut buf), Ok(1..)) {}
                        if rand(4) == 0 {
                            s.abort(now, h);
                        } else {
                            s.close(now, h);
                        }
                        mine.retain(|&x| x != (on_b, h));
                    }
                }
                _ => {
                    // Time passes; each direction loses about one segment in 8.
                    let steps = 1 + rand(20);
                    for _ in 0..steps {
                        let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
                        a.dispatch(now, &mut |s, _, x| to_b.push((s, x.to_vec())));
                        b.dispatch(now, &mut |s, _, x| to_a.push((s, x.to_vec())));
                        tally(check(&a));
                        tally(check(&b));
                        for (s, x) in to_b {
                            if rand(8) != 0 {
                                b.process(now, s, B, &x);
                            }
                        }
                        for (s, x) in to_a {
                            if rand(8) != 0 {
                                a.process(now, s, A, &x);
                            }
                        }
                        now += Duration::from_millis([1, 1, 10, 10, 300, 5_000, 70_000][rand(7) as usize]);
                    }
                }
            }
            tally(check(&a));
            tally(check(&b));
        }
        // The mix reaches what the indexes track: resets, TIME-WAIT, output pending and not.
        assert!(a.stats().rsts_sent + b.stats().rsts_sent > 0, "no reset sent");
        assert!(tw_seen > 0, "no TIME-WAIT record");
        assert!(busy > 100 && quiet > 100, "pending output {busy} times, none {quiet} times");
    }
}

/// Linux tcp_set_state(CLOSE) -> inet_put_port: a socket the user still holds gives back an
/// automatic port when its connection ends (bind() works again, getsockname keeps the old
/// number), and keeps a port bind() named.
#[test]
fn an_ended_connection_releases_an_automatic_port_only() {
    use super::harness::{Pair, A, B};
    let mut p = Pair::new();
    let refused = IpEndpoint::new(B, 9); // nobody listens: B answers RST
    let h = p.a.socket();
    p.a.s.connect(p.now, h, refused).unwrap();
    let port = p.a.local_addr(h).unwrap().port();
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.state(h) == Ok(TcpState::Closed)));
    assert_eq!(p.a.local_addr(h), None, "the automatic port is released");
    assert_eq!(p.a.sock_name(h).map(|a| a.port()), Some(port), "getsockname keeps the number");
    p.a.bind(h, IpEndpoint::new(A, 5000)).expect("bind after the failure");
    let named = p.a.socket();
    p.a.bind(named, IpEndpoint::new(A, 5001)).unwrap();
    p.a.s.connect(p.now, named, refused).unwrap();
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.state(named) == Ok(TcpState::Closed)));
    assert_eq!(p.a.local_addr(named).map(|a| a.port()), Some(5001), "a named port stays");
    assert_eq!(p.a.bind(named, IpEndpoint::new(A, 5002)), Err(Error::InvalidInput));
    // bind(port 0) after a failure: the port it picks stays while nothing connects, however
    // often the socket is touched; only the end of a connection gives it back.
    let again = p.a.socket();
    p.a.s.connect(p.now, again, refused).unwrap();
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.state(again) == Ok(TcpState::Closed)));
    p.a.bind(again, IpEndpoint::new(A, 0)).unwrap();
    let picked = p.a.local_addr(again).map(|a| a.port());
    p.a.s.set_option(again, TcpOption::NoDelay(true)).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.local_addr(again).map(|a| a.port()), picked);
    assert_eq!(p.a.bind(again, IpEndpoint::new(A, 5003)), Err(Error::InvalidInput), "still bound");
}

/// connect(AF_UNSPEC) on a connection (Linux tcp_disconnect): the peer gets an RST, the socket
/// is CLOSED with ECONNRESET pending and its automatic port given back, and it connects again.
#[test]
fn disconnect_resets_and_the_socket_connects_again() {
    use super::harness::{Pair, B};
    let mut p = Pair::new();
    let (c, l, s) = p.connect(80);
    p.a.send(p.now, c, b"queued").unwrap();
    p.a.s.disconnect(p.now, c).unwrap();
    assert_eq!(p.a.state(c), Ok(TcpState::Closed), "at once: connect() may follow");
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.state(s), Ok(TcpState::Closed), "the peer was reset");
    assert!(p.log.iter().any(|x| x.src == super::harness::A && x.repr().rst()));
    assert_eq!(p.a.s.take_error(c), Some(Error::ConnectionReset));
    assert_eq!(p.a.local_addr(c), None, "the automatic port went back");
    p.a.s.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
    assert!(p.run_until(Duration::from_secs(2), |p| p.a.state(c) == Ok(TcpState::Established)));
    p.a.send(p.now, c, b"again").unwrap();
    p.run_for(Duration::from_millis(50));
    let s2 = p.b.s.accept(l).expect("a second connection");
    let mut buf = [0u8; 16];
    assert_eq!(p.b.recv(p.now, s2, &mut buf), Ok(5), "not the dropped `queued`");
    // A connect under way is abandoned without an RST; a closed socket is left as it is.
    let d = p.a.socket();
    p.a.s.connect(p.now, d, IpEndpoint::new(B, 81)).unwrap();
    p.a.s.disconnect(p.now, d).unwrap();
    assert_eq!(p.a.state(d), Ok(TcpState::Closed));
    assert_eq!(p.a.s.disconnect(p.now, d), Ok(()));
}

/// IP_BIND_ADDRESS_NO_PORT: an address bound alone takes no port; connect picks one for its
/// 4-tuple and keeps the address, listen one of its own.
#[test]
fn an_address_bound_alone_takes_its_port_at_connect_or_listen() {
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
    p.b.listen(l, 8).unwrap();
    let c = p.a.socket();
    p.a.bind_address(c, A).unwrap();
    assert_eq!(p.a.sock_name(c), Some(IpEndpoint::new(A, 0)));
    assert_eq!(p.a.bind_address(c, IpAddress::v4(192, 0, 2, 1)), Err(Error::AddrNotAvailable));
    p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
    let name = p.a.sock_name(c).unwrap();
    assert_eq!(*name.ip(), A);
    assert_ne!(name.port(), 0);
    let s = p.a.socket();
    p.a.bind_address(s, A).unwrap();
    p.a.listen(s, 4).unwrap();
    let name = p.a.sock_name(s).unwrap();
    assert_eq!((*name.ip(), name.port() != 0), (A, true));
}

/// IP_FREEBIND: bind() and listen() on an address that is not ours; connect() from it finds no
/// route (Linux: ENETUNREACH), one from a group address is EINVAL.
#[test]
fn freebind_binds_an_address_not_ours_that_cannot_connect() {
    let mut p = Pair::new();
    let foreign = IpAddress::v4(10, 9, 9, 9);
    let c = p.a.socket();
    assert_eq!(p.a.bind(c, IpEndpoint::new(foreign, 0)), Err(Error::AddrNotAvailable));
    p.a.set_option(c, TcpOption::FreeBind(true)).unwrap();
    assert_eq!(p.a.get_option(c, TcpOption::FreeBind(false)), Ok(TcpOption::FreeBind(true)));
    p.a.bind(c, IpEndpoint::new(foreign, 0)).unwrap();
    assert_eq!(p.a.connect(p.now, c, IpEndpoint::new(B, 80)), Err(Error::NetUnreachable));
    let l = p.a.socket();
    p.a.set_option(l, TcpOption::FreeBind(true)).unwrap();
    p.a.bind(l, IpEndpoint::new(foreign, 8080)).unwrap();
    p.a.listen(l, 4).unwrap();
    let g = p.a.socket();
    p.a.set_option(g, TcpOption::FreeBind(true)).unwrap();
    p.a.bind(g, IpEndpoint::new(IpAddress::v4(224, 0, 0, 9), 0)).unwrap();
    assert_eq!(p.a.connect(p.now, g, IpEndpoint::new(B, 80)), Err(Error::InvalidInput));
}
