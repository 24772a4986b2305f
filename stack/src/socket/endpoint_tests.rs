//! TCP and UDP between two sans-IO hosts wired back to back through nothing but the
//! family-neutral types: `process`/`dispatch` carry `IpAddress`, every socket call takes and
//! returns `IpEndpoint`. No IPv4 type appears here: the transports need none.
use super::tcp::{TcpConfig, TcpStack, TcpState};
use super::udp::UdpStack;
use crate::time::{Duration, Instant};
use crate::wire::ip::{IpAddress, IpEndpoint};

const A: IpAddress = IpAddress::v4(10, 0, 0, 2);
const B: IpAddress = IpAddress::v4(10, 0, 0, 1);

fn tcp_host(addr: IpAddress, key: u8) -> TcpStack {
    let mut c = TcpConfig::new(addr, 1500);
    c.isn_secret = [key; 16];
    c.seed = key as u64;
    TcpStack::new(c)
}

/// Moves every segment both ways until neither side has anything to send.
fn tcp_run(now: &mut Instant, a: &mut TcpStack, b: &mut TcpStack) {
    for _ in 0..200 {
        let mut to_b = Vec::new();
        let mut to_a = Vec::new();
        a.dispatch(*now, &mut |src, dst, seg| to_b.push((src, dst, seg.to_vec())));
        b.dispatch(*now, &mut |src, dst, seg| to_a.push((src, dst, seg.to_vec())));
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        for (src, dst, seg) in to_b {
            assert_eq!((src, dst), (A, B), "A's segments go from A to B");
            b.process(*now, src, dst, &seg);
        }
        for (src, dst, seg) in to_a {
            assert_eq!((src, dst), (B, A), "B's segments go from B to A");
            a.process(*now, src, dst, &seg);
        }
        *now += Duration::from_millis(1);
    }
    panic!("the exchange did not settle");
}

#[test]
fn tcp_connects_and_transfers_through_neutral_endpoints() {
    let mut now = Instant::from_secs(1);
    let (mut a, mut b) = (tcp_host(A, 1), tcp_host(B, 2));
    let l = b.socket();
    b.bind(l, IpEndpoint::new(B.unspecified(), 80)).unwrap();
    b.listen(l, 8).unwrap();
    let c = a.socket();
    a.connect(now, c, IpEndpoint::new(B, 80)).unwrap();
    tcp_run(&mut now, &mut a, &mut b);
    assert_eq!(a.state(c), Ok(TcpState::Established));
    let s = b.accept(l).unwrap();
    let client = a.local_addr(c).unwrap();
    assert_eq!(*client.ip(), A);
    assert!(client.port() >= a.config().ephemeral_ports.0);
    assert_eq!(a.remote_addr(c), Some(IpEndpoint::new(B, 80)));
    assert_eq!(b.remote_addr(s), Some(client));
    assert_eq!(b.local_addr(s), Some(IpEndpoint::new(B, 80)));

    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    for _ in 0..100 {
        if sent < data.len() {
            sent += a.send(now, c, &data[sent..]).unwrap_or(0);
        }
        tcp_run(&mut now, &mut a, &mut b);
        while let Ok(n) = b.recv(now, s, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got, data);
    // A segment for a port nobody listens on is answered with a RST to its source endpoint.
    let resets = b.stats().rsts_sent;
    let c2 = a.socket();
    a.connect(now, c2, IpEndpoint::new(B, 81)).unwrap();
    tcp_run(&mut now, &mut a, &mut b);
    assert_eq!(b.stats().rsts_sent, resets + 1);
    assert_eq!(a.take_error(c2), Some(crate::error::Error::ConnectionRefused));
}

#[test]
fn udp_datagrams_carry_neutral_endpoints_both_ways() {
    let (mut a, mut b) = (UdpStack::new(A, 1), UdpStack::new(B, 2));
    let now = Instant::from_secs(1);
    let server = b.socket();
    b.bind(server, IpEndpoint::new(B.unspecified(), 5353)).unwrap();
    let client = a.socket();
    a.send_to(client, b"question", Some(IpEndpoint::new(B, 5353))).unwrap();
    let mut n = 0;
    a.dispatch(now, &mut |src, dst, d| {
        assert_eq!((src, dst), (A, B));
        assert!(b.process(now, src, dst, d), "a socket takes it");
        n += 1;
    });
    assert_eq!(n, 1);
    // Bound implicitly to the unspecified address of its family; the datagram's source is A.
    let bound = a.local_addr(client).unwrap();
    assert_eq!(*bound.ip(), A.unspecified());
    let from = IpEndpoint::new(A, bound.port());
    let mut buf = [0u8; 64];
    let m = b.recv_from(server, &mut buf, false).unwrap();
    assert_eq!((&buf[..m.copied], m.from), (&b"question"[..], from));
    // The answer goes back to the endpoint the question came from.
    b.send_to(server, b"answer", Some(m.from)).unwrap();
    b.dispatch(now, &mut |src, dst, d| {
        assert_eq!((src, dst), (B, A));
        assert!(a.process(now, src, dst, d));
    });
    let r = a.recv_from(client, &mut buf, false).unwrap();
    assert_eq!((&buf[..r.copied], r.from), (&b"answer"[..], IpEndpoint::new(B, 5353)));
    // Nobody on port 9: the datagram is not taken (the IP layer answers port unreachable).
    a.send_to(client, b"x", Some(IpEndpoint::new(B, 9))).unwrap();
    let mut taken = None;
    a.dispatch(now, &mut |src, dst, d| taken = Some(b.process(now, src, dst, d)));
    assert_eq!(taken, Some(false));
}

#[test]
fn local_port_range_narrows_within_the_hosts() {
    use super::local_port_range as r;
    let sys = (32768, 60999);
    assert_eq!(r(sys, 0), sys);
    assert_eq!(r(sys, 40000 | 40010 << 16), (40000, 40010));
    assert_eq!(r(sys, 50000), (50000, 60999), "the lowest alone");
    assert_eq!(r(sys, 33000 << 16), (32768, 33000), "the highest alone");
    assert_eq!(r(sys, 1000 | 2000 << 16), sys, "outside the host's range: not used");
    assert_eq!(r(sys, 1000 | 40000 << 16), (32768, 40000), "one end within");
}
