//! tapstack's own loopback (issue 10): 127.0.0.0/8 and the interface address reach the stack's
//! own sockets without touching the device, as on any host. One stack on an in-memory link;
//! every test asserts that no frame was offered to the link.
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::{host_config, B_IP, B_MAC};
use tapstack::error::Error;
use tapstack::phy::link::{Dir, Link, LinkEnd};
use tapstack::socket::tcp::{TcpHandle, TcpState};
use tapstack::time::{Duration, Instant};
use tapstack::Stack;

struct One {
    stack: Stack,
    dev: LinkEnd,
    link: Link,
    now: Instant,
}

impl One {
    fn new() -> One {
        let link = Link::new(1500, None, None);
        let dev = link.a();
        One { stack: Stack::new(&host_config(B_IP, B_MAC, 1500), 7), dev, link, now: Instant::from_secs(1) }
    }
    /// One step of the clock: poll, then advance to the next deadline (at most 10 ms).
    fn step(&mut self) {
        let next = self.stack.poll(self.now, &mut self.dev);
        let cap = self.now + Duration::from_millis(10);
        self.now = next.map_or(cap, |n| n.max(self.now + Duration::from_micros(1)).min(cap));
    }
    fn frames_on_device(&self) -> u64 {
        self.link.stats(Dir::AToB).frames_in
    }
}

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

/// A TCP connection from `dst`-bound client to a listener on `listen`, `n` bytes each way;
/// returns (client local, accepted remote, accepted local).
fn tcp_exchange(
    o: &mut One,
    listen: SocketAddrV4,
    dst: SocketAddrV4,
    n: usize,
) -> (SocketAddrV4, SocketAddrV4, SocketAddrV4) {
    let l = o.stack.tcp.socket();
    o.stack.tcp.bind(l, listen.into()).unwrap();
    o.stack.tcp.listen(l, 8).unwrap();
    let c = o.stack.tcp.socket();
    o.stack.tcp.connect(o.now, c, dst.into()).unwrap();
    let mut a: Option<TcpHandle> = None;
    let data: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
    let (mut sent_c, mut sent_a) = (0, 0);
    let (mut got_a, mut got_c) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    for _ in 0..200_000 {
        o.step();
        if a.is_none() {
            a = o.stack.tcp.accept(l).ok();
        }
        let Some(s) = a else { continue };
        if o.stack.tcp.state(c) == Ok(TcpState::Established) && sent_c < n {
            sent_c += o.stack.tcp.send(o.now, c, &data[sent_c..]).unwrap_or(0);
        }
        if sent_a < n {
            sent_a += o.stack.tcp.send(o.now, s, &data[sent_a..]).unwrap_or(0);
        }
        while let Ok(k) = o.stack.tcp.recv(o.now, s, &mut buf) {
            if k == 0 {
                break;
            }
            got_a.extend_from_slice(&buf[..k]);
        }
        while let Ok(k) = o.stack.tcp.recv(o.now, c, &mut buf) {
            if k == 0 {
                break;
            }
            got_c.extend_from_slice(&buf[..k]);
        }
        if got_a.len() == n && got_c.len() == n {
            break;
        }
    }
    let s = a.expect("accepted");
    assert_eq!(got_a, data, "client -> server bytes");
    assert_eq!(got_c, data, "server -> client bytes");
    let names = (
        o.stack.tcp.local_addr(c).unwrap().into(),
        o.stack.tcp.remote_addr(s).unwrap().into(),
        o.stack.tcp.local_addr(s).unwrap().into(),
    );
    // Orderly close both ways, still without the device.
    o.stack.tcp.close(o.now, c);
    o.stack.tcp.close(o.now, s);
    o.stack.tcp.close(o.now, l);
    for _ in 0..1000 {
        o.step();
    }
    names
}

#[test]
fn tcp_over_127_0_0_1_never_touches_the_device() {
    let mut o = One::new();
    let lo = Ipv4Addr::LOCALHOST;
    let (cl, ar, al) = tcp_exchange(&mut o, sa(lo, 7000), sa(lo, 7000), 1 << 20);
    assert_eq!(*cl.ip(), lo, "the source for 127.0.0.1 is 127.0.0.1");
    assert_eq!(ar, cl);
    assert_eq!(al, sa(lo, 7000));
    assert_eq!(o.frames_on_device(), 0, "loopback traffic reached the device");
}

#[test]
fn tso_super_segments_to_ourselves_are_delivered_whole() {
    // With TSO on, a loopback connection gets the super-segments as they are (Linux's
    // loopback carries 64 KiB segments alike): every byte arrives, nothing is cut, nothing
    // reaches the device.
    let mut o = One::new();
    o.stack.set_tso(tapstack::stack::TSO_MAX);
    tcp_exchange(&mut o, sa(Ipv4Addr::UNSPECIFIED, 7003), sa(B_IP, 7003), 2 << 20);
    let st = o.stack.stats();
    assert!(st.tso_out > 20, "{} super-segments", st.tso_out);
    assert_eq!(st.tso_split, 0);
    assert_eq!(o.frames_on_device(), 0);
}

#[test]
fn tcp_over_the_own_address_and_other_loopback_addresses() {
    let mut o = One::new();
    let (cl, ar, al) = tcp_exchange(&mut o, sa(Ipv4Addr::UNSPECIFIED, 7001), sa(B_IP, 7001), 300_000);
    assert_eq!(*cl.ip(), B_IP);
    assert_eq!(ar, cl);
    assert_eq!(al, sa(B_IP, 7001));
    // Any address of 127.0.0.0/8 is ours; the source stays 127.0.0.1 (Linux).
    let other = Ipv4Addr::new(127, 1, 2, 3);
    let (cl, _, al) = tcp_exchange(&mut o, sa(Ipv4Addr::UNSPECIFIED, 7002), sa(other, 7002), 10_000);
    assert_eq!(*cl.ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(al, sa(other, 7002));
    assert_eq!(o.frames_on_device(), 0);
}

#[test]
fn tcp_refused_on_a_closed_loopback_port() {
    let mut o = One::new();
    let c = o.stack.tcp.socket();
    o.stack.tcp.connect(o.now, c, sa(Ipv4Addr::LOCALHOST, 9).into()).unwrap();
    for _ in 0..100 {
        o.step();
    }
    assert_eq!(o.stack.tcp.state(c), Ok(TcpState::Closed));
    assert_eq!(o.stack.tcp.take_error(c), Some(Error::ConnectionRefused));
    assert_eq!(o.frames_on_device(), 0);
}

#[test]
fn loopback_binds_and_martian_sources() {
    let mut o = One::new();
    let t = o.stack.tcp.socket();
    assert_eq!(o.stack.tcp.bind(t, sa(Ipv4Addr::new(127, 0, 0, 5), 0).into()), Ok(()));
    let t2 = o.stack.tcp.socket();
    assert_eq!(o.stack.tcp.bind(t2, sa(Ipv4Addr::new(10, 0, 0, 9), 0).into()), Err(Error::AddrNotAvailable));
    // A socket bound to the loopback cannot reach another host (Linux: EINVAL).
    let t3 = o.stack.tcp.socket();
    o.stack.tcp.bind(t3, sa(Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    assert_eq!(o.stack.tcp.connect(o.now, t3, sa(Ipv4Addr::new(10, 0, 0, 1), 80).into()), Err(Error::InvalidInput));
    let u = o.stack.udp.socket();
    o.stack.udp.bind(u, sa(Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    assert_eq!(o.stack.udp.send_to(u, b"x", Some(sa(Ipv4Addr::new(10, 0, 0, 1), 80).into())), Err(Error::InvalidInput));
    assert_eq!(o.stack.udp.connect(u, Some(sa(Ipv4Addr::new(10, 0, 0, 1), 80).into())), Err(Error::InvalidInput));
    let u2 = o.stack.udp.socket();
    assert_eq!(o.stack.udp.bind(u2, sa(Ipv4Addr::new(127, 9, 9, 9), 0).into()), Ok(()));
    for _ in 0..10 {
        o.step();
    }
    assert_eq!(o.frames_on_device(), 0);
}

#[test]
fn udp_over_loopback_and_own_address() {
    let mut o = One::new();
    let srv = o.stack.udp.socket();
    o.stack.udp.bind(srv, sa(Ipv4Addr::UNSPECIFIED, 5353).into()).unwrap();
    let cli = o.stack.udp.socket();
    let mut buf = [0u8; 64];
    for (dst, want_src) in
        [(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST), (B_IP, B_IP), (Ipv4Addr::UNSPECIFIED, Ipv4Addr::LOCALHOST)]
    {
        o.stack.udp.send_to(cli, b"ping", Some(sa(dst, 5353).into())).unwrap();
        o.step();
        let m = o.stack.udp.recv_from(srv, &mut buf, false).expect("datagram delivered locally");
        assert_eq!(&buf[..m.copied], b"ping");
        assert_eq!(*m.from.ip(), want_src.into(), "source for {dst}");
        o.stack.udp.send_to(srv, b"pong", Some(m.from)).unwrap();
        o.step();
        let r = o.stack.udp.recv_from(cli, &mut buf, false).expect("reply delivered locally");
        assert_eq!(&buf[..r.copied], b"pong");
        assert_eq!(r.from.port(), 5353);
    }
    // Connected to a closed loopback port: ICMP port unreachable comes back as ECONNREFUSED.
    let c = o.stack.udp.socket();
    o.stack.udp.connect(c, Some(sa(Ipv4Addr::LOCALHOST, 9).into())).unwrap();
    assert_eq!(*o.stack.udp.local_addr(c).unwrap().ip(), Ipv4Addr::LOCALHOST.into());
    o.stack.udp.send_to(c, b"x", None).unwrap();
    for _ in 0..3 {
        o.step();
    }
    assert_eq!(o.stack.udp.recv_from(c, &mut buf, false).map(|_| ()), Err(Error::ConnectionRefused));
    assert_eq!(o.frames_on_device(), 0);
}

#[test]
fn a_loopback_destination_from_the_wire_is_dropped() {
    // RFC 1122 3.2.1.3: 127.x never appears on a network; a frame carrying it is not ours.
    let mut o = One::new();
    let srv = o.stack.udp.socket();
    o.stack.udp.bind(srv, sa(Ipv4Addr::UNSPECIFIED, 5353).into()).unwrap();
    // The same datagram to our interface address is delivered (the frame is well formed).
    for (dst, delivered) in [(B_IP, true), (Ipv4Addr::LOCALHOST, false)] {
        let mut udp = vec![0u8; 8 + 4];
        udp[0..2].copy_from_slice(&1234u16.to_be_bytes());
        udp[2..4].copy_from_slice(&5353u16.to_be_bytes());
        udp[4..6].copy_from_slice(&12u16.to_be_bytes());
        udp[8..].copy_from_slice(b"evil");
        let mut ip = tapstack::wire::ipv4::Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 1), dst, 17, udp.len(), 0);
        ip.ttl = 64;
        let eth = tapstack::wire::ethernet::EthernetRepr {
            src_addr: [2, 0, 0, 0, 0, 1],
            dst_addr: B_MAC,
            ethertype: tapstack::wire::ethernet::EtherType::Ipv4,
        };
        o.stack.receive_frame(o.now, &eth.build(&ip.build(&udp)));
        o.step();
        let mut buf = [0u8; 16];
        assert_eq!(o.stack.udp.recv_from(srv, &mut buf, false).is_ok(), delivered, "to {dst}");
    }
}

#[test]
fn the_ipv6_loopback_standin_is_distinct_from_127_0_0_1() {
    use tapstack::iface::LOOPBACK6_STANDIN;
    let mut o = One::new();
    // A server on 127.0.0.1 is not reached through ::1 (as on Linux) ...
    let l = o.stack.tcp.socket();
    o.stack.tcp.bind(l, sa(Ipv4Addr::LOCALHOST, 7010).into()).unwrap();
    o.stack.tcp.listen(l, 4).unwrap();
    let c = o.stack.tcp.socket();
    o.stack.tcp.connect(o.now, c, sa(LOOPBACK6_STANDIN, 7010).into()).unwrap();
    for _ in 0..100 {
        o.step();
    }
    assert_eq!(o.stack.tcp.take_error(c), Some(Error::ConnectionRefused));
    // ... and a wildcard server sees a ::1 client with its own (stand-in) source.
    let (cl, ar, al) = tcp_exchange(&mut o, sa(Ipv4Addr::UNSPECIFIED, 7011), sa(LOOPBACK6_STANDIN, 7011), 5000);
    assert_eq!(*cl.ip(), LOOPBACK6_STANDIN);
    assert_eq!(ar, cl);
    assert_eq!(al, sa(LOOPBACK6_STANDIN, 7011));
    assert_eq!(o.frames_on_device(), 0);
}
