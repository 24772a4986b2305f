//! Issue 11 item 1c: ephemeral ports (RFC 6056 algorithm 4) and the timestamp offset per
//! address pair (RFC 7323 5.4), so short connections to one server never collide with the
//! server's TIME-WAIT nor fail its PAWS check.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::harness::{H, PEER, US};
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
