//! Tests of the UDP engine in memory (no Stack needed): datagrams are exchanged by feeding one
//! engine's `dispatch` output into another's `process`.
use super::*;
use crate::socket::Readiness;
use crate::wire::udp as w;

const A: IpAddress = IpAddress::v4(10, 0, 0, 2);
const B: IpAddress = IpAddress::v4(10, 0, 0, 1);
const T: Instant = Instant::ZERO;

fn sa(ip: IpAddress, port: u16) -> IpEndpoint {
    IpEndpoint::new(ip, port)
}

/// Everything `u` has queued, as (src, dst, datagram).
fn out(u: &mut UdpStack) -> Vec<(IpAddress, IpAddress, Vec<u8>)> {
    let mut v = Vec::new();
    u.dispatch(T, &mut |s, d, b| v.push((s, d, b.to_vec())));
    v
}

fn deliver(from: &mut UdpStack, to: &mut UdpStack) -> Vec<bool> {
    out(from).into_iter().map(|(s, d, b)| to.process(T, s, d, &b)).collect()
}

#[test]
fn bind_explicit_and_ephemeral() {
    let mut u = UdpStack::new(A, 1);
    let s1 = u.socket();
    u.bind(s1, sa(IpAddress::v4(0, 0, 0, 0), 5000)).unwrap();
    assert_eq!(u.local_addr(s1), Some(sa(IpAddress::v4(0, 0, 0, 0), 5000)));
    assert_eq!(u.bind(s1, sa(A, 5001)), Err(Error::InvalidInput), "second bind");
    let s2 = u.socket();
    assert_eq!(u.bind(s2, sa(A, 5000)), Err(Error::AddrInUse));
    assert_eq!(u.bind(s2, sa(IpAddress::v4(10, 9, 9, 9), 5002)), Err(Error::AddrNotAvailable));
    u.bind(s2, sa(A, 0)).unwrap();
    let p = u.local_addr(s2).unwrap().port();
    assert!(EPHEMERAL.contains(&p));
    // Ephemeral ports come from the seed: same seed same port, another seed (likely) another.
    let port_for = |seed| {
        let mut u = UdpStack::new(A, seed);
        let s = u.socket();
        u.bind(s, sa(A, 0)).unwrap();
        u.local_addr(s).unwrap().port()
    };
    assert_eq!(port_for(7), port_for(7));
    let distinct: BTreeSet<u16> = (0..20).map(port_for).collect();
    assert!(distinct.len() > 10, "{distinct:?}");
    // Unbound socket: 0.0.0.0:0; stale handle: BadHandle.
    let s3 = u.socket();
    assert_eq!(u.local_addr(s3), Some(sa(IpAddress::v4(0, 0, 0, 0), 0)));
    u.close(s3);
    assert_eq!(u.bind(s3, sa(A, 1)), Err(Error::BadHandle));
    assert_eq!(u.send_to(s3, b"x", Some(sa(B, 1))), Err(Error::BadHandle));
    // After close the port is free again.
    u.close(s1);
    let s4 = u.socket();
    u.bind(s4, sa(A, 5000)).unwrap();
}

#[test]
fn ephemeral_exhaustion_is_addr_in_use() {
    let mut u = UdpStack::new(A, 3);
    u.set_ephemeral_range(40000..=40099);
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        let s = u.socket();
        u.bind(s, sa(A, 0)).unwrap();
        assert!(seen.insert(u.local_addr(s).unwrap().port()));
    }
    assert_eq!(seen.iter().next(), Some(&40000));
    assert_eq!(seen.iter().last(), Some(&40099));
    let s = u.socket();
    assert_eq!(u.bind(s, sa(A, 0)), Err(Error::AddrInUse));
}

#[test]
fn exchange_and_sources() {
    let (mut a, mut b) = (UdpStack::new(A, 1), UdpStack::new(B, 2));
    let sb = b.socket();
    b.bind(sb, sa(IpAddress::v4(0, 0, 0, 0), 53)).unwrap();
    let sa_ = a.socket();
    assert_eq!(a.send_to(sa_, b"query", Some(sa(B, 53))), Ok(5));
    let p = a.local_addr(sa_).unwrap().port();
    assert!(p != 0, "send_to autobinds");
    let frames = out(&mut a);
    assert_eq!(frames.len(), 1);
    let (src, dst, ref dg) = frames[0];
    assert_eq!((src, dst), (A, B));
    let pk = w::Packet::new_checked(&dg[..]).unwrap();
    assert_eq!((pk.src_port(), pk.dst_port(), pk.payload()), (p, 53, &b"query"[..]));
    assert!(pk.verify_checksum(A, B) && pk.checksum() != 0);
    assert!(b.process(T, src, dst, dg));
    assert_eq!(b.recv_queue(sb), 5);
    assert!(b.readiness(sb).readable);
    let mut buf = [0u8; 64];
    let m = b.recv_from(sb, &mut buf, false).unwrap();
    assert_eq!(m, RecvMeta { copied: 5, len: 5, from: sa(A, p), ttl: None, dst: m.dst, tos: None });
    assert_eq!(&buf[..5], b"query");
    assert_eq!(b.recv_from(sb, &mut buf, false), Err(Error::WouldBlock));
    assert!(!b.readiness(sb).readable && b.readiness(sb).writable);
    // Reply goes back to the source.
    b.send_to(sb, b"answer", Some(m.from)).unwrap();
    assert_eq!(deliver(&mut b, &mut a), vec![true]);
    let m = a.recv_from(sa_, &mut buf, false).unwrap();
    assert_eq!((&buf[..m.copied], m.from), (&b"answer"[..], sa(B, 53)));
}

#[test]
fn closed_port_returns_false_and_bad_input_true() {
    let (mut a, mut b) = (UdpStack::new(A, 1), UdpStack::new(B, 2));
    let s = a.socket();
    a.send_to(s, b"x", Some(sa(B, 9))).unwrap();
    assert_eq!(deliver(&mut a, &mut b), vec![false]);
    assert_eq!(b.stats().no_ports, 1);
    // Bad checksum and malformed: dropped, counted, no ICMP.
    let mut dg = w::build(A, B, 1, 9, b"hi");
    dg[8] ^= 1;
    assert!(b.process(T, A, B, &dg));
    assert!(b.process(T, A, B, &[1, 2, 3]));
    assert_eq!((b.stats().in_errors, b.stats().in_csum_errors), (2, 1));
    // Zero checksum accepted.
    let sb = b.socket();
    b.bind(sb, sa(B, 9)).unwrap();
    let mut dg = w::build(A, B, 1, 9, b"hi");
    dg[6] = 0;
    dg[7] = 0;
    assert!(b.process(T, A, B, &dg));
    assert_eq!(b.recv_queue(sb), 2);
}

#[test]
fn connect_filters_and_defaults() {
    let mut b = UdpStack::new(B, 2);
    let s = b.socket();
    assert_eq!(b.send_to(s, b"x", None), Err(Error::NotConnected));
    b.connect(s, Some(sa(A, 4000))).unwrap();
    let local = b.local_addr(s).unwrap();
    assert_eq!(*local.ip(), B, "connect fixes the source address");
    assert!(EPHEMERAL.contains(&local.port()));
    assert_eq!(b.remote_addr(s), Some(sa(A, 4000)));
    b.send_to(s, b"hello", None).unwrap();
    let f = out(&mut b);
    assert_eq!((f[0].0, f[0].1), (B, A));
    assert_eq!(w::Packet::new_checked(&f[0].2[..]).unwrap().dst_port(), 4000);
    // Only the peer's datagrams are accepted; others find no socket (ICMP from the caller).
    let p = local.port();
    assert!(b.process(T, A, B, &w::build(A, B, 4000, p, b"ok")));
    assert!(!b.process(T, A, B, &w::build(A, B, 4001, p, b"no")));
    let other = IpAddress::v4(10, 0, 0, 7);
    assert!(!b.process(T, other, B, &w::build(other, B, 4000, p, b"no")));
    let mut buf = [0u8; 8];
    let m = b.recv_from(s, &mut buf, false).unwrap();
    assert_eq!(&buf[..m.copied], b"ok");
    assert_eq!(b.recv_from(s, &mut buf, false), Err(Error::WouldBlock));
    // sendto with an explicit address on a connected socket is allowed.
    b.send_to(s, b"x", Some(sa(other, 1))).unwrap();
    assert_eq!(out(&mut b)[0].1, other);
    // AF_UNSPEC disconnects: source filter gone, implied address undone, the port connect()
    // chose given back (`disconnect_releases_an_unnamed_port`).
    b.connect(s, None).unwrap();
    assert_eq!(b.remote_addr(s), None);
    assert_eq!(b.local_addr(s), Some(sa(IpAddress::v4(0, 0, 0, 0), 0)));
    assert!(!b.process(T, other, B, &w::build(other, B, 4000, p, b"none")));
    b.connect(s, Some(sa(A, 1))).unwrap();
    b.connect(s, Some(sa(IpAddress::v4(0, 0, 0, 0), 0))).unwrap();
    assert_eq!(b.remote_addr(s), None);
    assert_eq!(b.send_to(s, b"x", None), Err(Error::NotConnected));
}

#[test]
fn demux_prefers_connected_and_specific() {
    let mut b = UdpStack::new(B, 2);
    let wild = b.socket();
    b.bind(wild, sa(IpAddress::v4(0, 0, 0, 0), 7000)).unwrap();
    // A connected socket sharing the port needs its own bind; emulate via a different port
    // then check the score order with two sockets on distinct ports instead.
    let conn = b.socket();
    b.bind(conn, sa(IpAddress::v4(0, 0, 0, 0), 7001)).unwrap();
    b.connect(conn, Some(sa(A, 1))).unwrap();
    assert!(b.process(T, A, B, &w::build(A, B, 1, 7000, b"w")));
    assert!(b.process(T, A, B, &w::build(A, B, 1, 7001, b"c")));
    assert_eq!((b.recv_queue(wild), b.recv_queue(conn)), (1, 1));
    // Datagrams to another local address than ours are not for a socket bound to B.
    let spec = b.socket();
    b.bind(spec, sa(B, 7002)).unwrap();
    let x = IpAddress::v4(10, 0, 0, 99);
    assert!(!b.process(T, A, x, &w::build(A, x, 1, 7002, b"?")));
}

#[test]
fn icmp_unreachable_only_on_connected() {
    let mut b = UdpStack::new(B, 2);
    let c = b.socket();
    b.connect(c, Some(sa(A, 9))).unwrap();
    let u = b.socket();
    b.send_to(u, b"x", Some(sa(A, 9))).unwrap();
    let (lc, lu) = (b.local_addr(c).unwrap(), b.local_addr(u).unwrap());
    b.icmp_unreachable(sa(B, lu.port()), sa(A, 9), 3);
    assert_eq!(b.readiness(u), Readiness { writable: true, ..Default::default() });
    // Wrong remote: ignored.
    b.icmp_unreachable(lc, sa(A, 10), 3);
    assert!(!b.readiness(c).error);
    let mut changed = Vec::new();
    b.take_changed(&mut changed);
    changed.clear();
    b.icmp_unreachable(lc, sa(A, 9), 3);
    b.take_changed(&mut changed);
    assert_eq!(changed, vec![c]);
    let r = b.readiness(c);
    assert!(r.error && !r.readable, "Linux: POLLERR without POLLIN");
    let mut buf = [0u8; 4];
    assert_eq!(b.recv_from(c, &mut buf, false), Err(Error::ConnectionRefused));
    assert_eq!(b.recv_from(c, &mut buf, false), Err(Error::WouldBlock), "reported once");
    // Reported on send too, and via SO_ERROR.
    b.icmp_unreachable(lc, sa(A, 9), 3);
    assert_eq!(b.send_to(c, b"x", None), Err(Error::ConnectionRefused));
    b.icmp_unreachable(lc, sa(A, 9), 1);
    assert_eq!(b.take_error(c), Some(Error::HostUnreachable));
    assert_eq!(b.take_error(c), None);
    // Fragmentation-needed is not an error.
    b.icmp_unreachable(lc, sa(A, 9), 4);
    assert_eq!(b.take_error(c), None);
}

#[test]
fn sizes_peek_trunc_fionread() {
    let (mut a, mut b) = (UdpStack::new(A, 1), UdpStack::new(B, 2));
    let sb = b.socket();
    b.bind(sb, sa(B, 9999)).unwrap();
    let s = a.socket();
    let big = vec![0xabu8; w::MAX_PAYLOAD];
    assert_eq!(a.send_to(s, &big, Some(sa(B, 9999))), Ok(65_507));
    assert_eq!(a.send_to(s, &vec![0u8; 65_508], Some(sa(B, 9999))), Err(Error::MessageTooLong));
    a.send_to(s, b"", Some(sa(B, 9999))).unwrap();
    a.send_to(s, b"0123456789", Some(sa(B, 9999))).unwrap();
    let f = out(&mut a);
    assert_eq!(f[0].2.len(), 65_515);
    for (src, dst, d) in &f {
        assert!(b.process(T, *src, *dst, d));
    }
    assert_eq!(b.recv_queue(sb), 65_507);
    let mut small = [0u8; 4];
    let m = b.recv_from(sb, &mut small, true).unwrap();
    assert_eq!((m.copied, m.len), (4, 65_507), "peek with MSG_TRUNC information");
    assert_eq!(b.recv_queue(sb), 65_507, "peek keeps the datagram");
    let m = b.recv_from(sb, &mut small, false).unwrap();
    assert_eq!((m.copied, m.len), (4, 65_507));
    // The rest of a truncated datagram is discarded; next is the empty one.
    assert_eq!(b.recv_queue(sb), 0);
    assert!(b.readiness(sb).readable, "an empty datagram is readable");
    let m = b.recv_from(sb, &mut small, false).unwrap();
    assert_eq!((m.copied, m.len), (0, 0));
    assert_eq!(b.recv_queue(sb), 10);
    let m = b.recv_from(sb, &mut small, false).unwrap();
    assert_eq!((m.len, &small[..]), (10, &b"0123"[..]));
}

#[test]
fn bounded_receive_queue_counts_drops() {
    let mut b = UdpStack::new(B, 2);
    let s = b.socket();
    b.bind(s, sa(B, 1234)).unwrap();
    b.set_recv_buffer(s, 10_000).unwrap();
    assert_eq!(b.recv_buffer(s), Ok(20_000));
    let dg = w::build(A, B, 1, 1234, &[7u8; 1000]);
    for _ in 0..100 {
        assert!(b.process(T, A, B, &dg));
    }
    let queued = 20_000 / (1000 + DATAGRAM_OVERHEAD);
    assert_eq!(b.drops(), 100 - queued as u64);
    let mut buf = [0u8; 2000];
    let mut n = 0;
    while b.recv_from(s, &mut buf, false).is_ok() {
        n += 1;
    }
    assert_eq!(n, queued);
    // Space is freed on receive.
    assert!(b.process(T, A, B, &dg));
    assert_eq!(b.recv_queue(s), 1000);
    // A datagram larger than the whole buffer is still accepted into an empty queue.
    b.recv_from(s, &mut buf, false).unwrap();
    let huge = w::build(A, B, 1, 1234, &vec![1u8; 30_000]);
    b.process(T, A, B, &huge);
    assert_eq!(b.recv_queue(s), 30_000);
}

#[test]
fn broadcast_needs_so_broadcast() {
    let mut a = UdpStack::new(A, 1);
    a.set_prefix_len(24);
    let s = a.socket();
    let bc = IpAddress::v4(10, 0, 0, 255);
    for dst in [IpAddress::v4(255, 255, 255, 255), bc] {
        assert_eq!(a.send_to(s, b"x", Some(sa(dst, 67))), Err(Error::PermissionDenied));
        assert_eq!(a.connect(s, Some(sa(dst, 67))), Err(Error::PermissionDenied));
    }
    a.set_broadcast(s, true).unwrap();
    assert_eq!(a.broadcast(s), Ok(true));
    a.send_to(s, b"x", Some(sa(bc, 67))).unwrap();
    let f = out(&mut a);
    assert_eq!((f[0].0, f[0].1), (A, bc));
    // Received broadcasts reach every matching socket; no socket => no ICMP (true).
    let mut b = UdpStack::new(B, 2);
    b.set_prefix_len(24);
    assert!(b.process(T, A, bc, &w::build(A, bc, 1, 67, b"d")));
    let (x, y) = (b.socket(), b.socket());
    b.bind(x, sa(IpAddress::v4(0, 0, 0, 0), 67)).unwrap();
    b.bind(y, sa(IpAddress::v4(255, 255, 255, 255), 67)).unwrap_err(); // same port, wildcard clash
    b.bind(y, sa(IpAddress::v4(255, 255, 255, 255), 68)).unwrap();
    assert!(b.process(T, A, bc, &w::build(A, bc, 1, 67, b"d")));
    assert!(b.process(
        T,
        A,
        IpAddress::v4(255, 255, 255, 255),
        &w::build(A, IpAddress::v4(255, 255, 255, 255), 1, 68, b"e")
    ));
    assert_eq!((b.recv_queue(x), b.recv_queue(y)), (1, 1));
    // A socket bound to an address receives only datagrams to exactly that address.
    let z = b.socket();
    b.bind(z, sa(B, 69)).unwrap();
    assert!(b.process(T, A, bc, &w::build(A, bc, 1, 69, b"f")), "broadcast: never ICMP");
    assert_eq!(b.recv_queue(z), 0);
    let zb = b.socket();
    b.bind(zb, sa(bc, 70)).unwrap();
    assert!(b.process(T, A, bc, &w::build(A, bc, 1, 70, b"g")));
    assert_eq!(b.recv_queue(zb), 1);
}

#[test]
fn send_buffer_backpressure_and_changed() {
    let mut a = UdpStack::new(A, 1);
    let s = a.socket();
    a.set_send_buffer(s, 5000).unwrap();
    let mut sent = 0;
    while a.send_to(s, &[0u8; 1000], Some(sa(B, 5))).is_ok() {
        sent += 1;
        assert!(sent < 100);
    }
    assert_eq!(a.send_to(s, b"x", Some(sa(B, 5))), Err(Error::WouldBlock));
    assert!(!a.readiness(s).writable);
    assert!(a.has_pending_output());
    let mut ch = Vec::new();
    a.take_changed(&mut ch);
    assert!(ch.is_empty());
    assert_eq!(out(&mut a).len(), sent);
    a.take_changed(&mut ch);
    assert_eq!(ch, vec![s], "writable again is a change");
    assert!(a.readiness(s).writable);
    // Stale handle readiness reports an error.
    a.close(s);
    assert!(a.readiness(s).error);
}

#[test]
fn reuse_addr_shares_a_port() {
    let mut b = UdpStack::new(B, 2);
    let (x, y, z) = (b.socket(), b.socket(), b.socket());
    b.bind(x, sa(IpAddress::v4(0, 0, 0, 0), 5201)).unwrap();
    b.set_reuse_addr(y, true).unwrap();
    assert_eq!(b.bind(y, sa(IpAddress::v4(0, 0, 0, 0), 5201)), Err(Error::AddrInUse), "both must set it");
    b.close(x);
    let x = b.socket();
    b.set_reuse_addr(x, true).unwrap();
    b.bind(x, sa(IpAddress::v4(0, 0, 0, 0), 5201)).unwrap();
    // iperf3's UDP server: the first socket connects to its client, a new one listens.
    b.connect(x, Some(sa(A, 40000))).unwrap();
    b.bind(y, sa(IpAddress::v4(0, 0, 0, 0), 5201)).unwrap();
    assert_eq!(b.bind(z, sa(IpAddress::v4(0, 0, 0, 0), 5201)), Err(Error::AddrInUse));
    assert!(b.process(T, A, B, &w::build(A, B, 40000, 5201, b"stream")));
    assert!(b.process(T, A, B, &w::build(A, B, 40001, 5201, b"new")));
    assert_eq!((b.recv_queue(x), b.recv_queue(y)), (6, 3));
    // Two unconnected sharers: the most recently bound one receives.
    let y2 = b.socket();
    b.set_reuse_addr(y2, true).unwrap();
    b.bind(y2, sa(IpAddress::v4(0, 0, 0, 0), 5201)).unwrap();
    assert!(b.process(T, A, B, &w::build(A, B, 40002, 5201, b"later")));
    assert_eq!((b.recv_queue(y), b.recv_queue(y2)), (3, 5));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Socket,
        Bind(usize, u8, u16),
        Connect(usize, Option<(u8, u16)>),
        Send(usize, u16, Option<(u8, u16)>),
        Recv(usize, u16, bool),
        Close(usize),
        Input(Vec<u8>, u8),
        Icmp(usize, u8),
        Opt(usize, bool, u32),
        Dispatch,
    }

    fn ip(n: u8) -> IpAddress {
        match n % 4 {
            0 => IpAddress::v4(0, 0, 0, 0),
            1 => B,
            2 => IpAddress::v4(255, 255, 255, 255),
            _ => A,
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Socket),
            (0..8usize, any::<u8>(), 0..6u16).prop_map(|(h, a, p)| Op::Bind(h, a, 5000 + p)),
            (0..8usize, proptest::option::of((any::<u8>(), 0..4u16))).prop_map(|(h, r)| Op::Connect(h, r)),
            (0..8usize, 0..2000u16, proptest::option::of((any::<u8>(), 0..4u16)))
                .prop_map(|(h, n, d)| Op::Send(h, n, d)),
            (0..8usize, 0..100u16, any::<bool>()).prop_map(|(h, n, p)| Op::Recv(h, n, p)),
            (0..8usize).prop_map(Op::Close),
            (proptest::collection::vec(any::<u8>(), 0..64), any::<u8>()).prop_map(|(b, d)| Op::Input(b, d)),
            (0..8usize, 0..16u8).prop_map(|(h, c)| Op::Icmp(h, c)),
            (0..8usize, any::<bool>(), any::<u32>()).prop_map(|(h, b, v)| Op::Opt(h, b, v)),
            Just(Op::Dispatch),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Any sequence of calls and inputs: no panic, queues bounded, FIONREAD consistent.
        #[test]
        fn api_and_input_sequences_are_total(ops in proptest::collection::vec(op(), 1..60)) {
            let mut u = UdpStack::new(B, 9);
            u.set_prefix_len(24);
            let mut hs: Vec<UdpHandle> = Vec::new();
            let pick = |hs: &Vec<UdpHandle>, i: usize| hs.get(i % hs.len().max(1)).copied().unwrap_or(UdpHandle(999));
            let mut buf = vec![0u8; 4096];
            for o in ops {
                match o {
                    Op::Socket => hs.push(u.socket()),
                    Op::Bind(h, a, p) => { let _ = u.bind(pick(&hs, h), sa(ip(a), p)); }
                    Op::Connect(h, r) => { let _ = u.connect(pick(&hs, h), r.map(|(a, p)| sa(ip(a), 5000 + p))); }
                    Op::Send(h, n, d) => {
                        let data = vec![7u8; n as usize];
                        let _ = u.send_to(pick(&hs, h), &data, d.map(|(a, p)| sa(ip(a), 5000 + p)));
                    }
                    Op::Recv(h, n, peek) => {
                        let h = pick(&hs, h);
                        let next = u.recv_queue(h);
                        if let Ok(m) = u.recv_from(h, &mut buf[..n as usize], peek) {
                            prop_assert_eq!(m.len, next);
                            prop_assert_eq!(m.copied, next.min(n as usize));
                        }
                    }
                    Op::Close(h) => u.close(pick(&hs, h)),
                    Op::Input(mut b, d) => {
                        // Half the time a well-formed datagram to one of the ports in use.
                        if d % 2 == 0 {
                            b = w::build(A, B, 4000 + (d as u16 % 3), 5000 + (d as u16 % 6), &b);
                        }
                        u.process(T, A, if d % 5 == 0 { IpAddress::v4(10, 0, 0, 255) } else { B }, &b);
                    }
                    Op::Icmp(h, c) => {
                        let h = pick(&hs, h);
                        if let (Some(l), Some(r)) = (u.local_addr(h), u.remote_addr(h)) {
                            u.icmp_unreachable(l, r, c);
                        }
                    }
                    Op::Opt(h, b, v) => {
                        let h = pick(&hs, h);
                        let _ = u.set_broadcast(h, b);
                        let _ = u.set_reuse_addr(h, !b);
                        let _ = u.set_recv_buffer(h, (v % 100_000) as usize);
                    }
                    Op::Dispatch => { out(&mut u); }
                }
            }
            for h in &hs {
                if let Ok(limit) = u.recv_buffer(*h) {
                    let s = &u.sockets[&h.0];
                    prop_assert!(s.rx_bytes <= limit.max(s.rx.front().map_or(0, |d| d.data.len() + DATAGRAM_OVERHEAD)) || s.rx.len() <= 1);
                }
            }
            let mut ch = Vec::new();
            u.take_changed(&mut ch);
        }
    }
}

#[test]
fn recverr_queues_icmp_errors_for_unconnected_sockets() {
    use crate::socket::errqueue::{origin, IcmpReport};
    let mut b = UdpStack::new(B, 2);
    let u = b.socket();
    b.send_to(u, b"probe", Some(sa(A, 33434))).unwrap();
    let local = b.local_addr(u).unwrap();
    let local = sa(B, local.port());
    let mut quoted = w::build(B, A, local.port(), 33434, b"probe");
    quoted.truncate(8 + 3); // a router may quote only part of the payload
    let r = |t, code, from| IcmpReport {
        icmp_type: t,
        icmp_code: code,
        info: 0,
        offender: from,
        local,
        remote: sa(A, 33434),
        quoted: &quoted,
        ttl: 63,
        tos: 0,
    };
    let hop = IpAddress::v4(10, 0, 0, 254);
    // Without IP_RECVERR an unconnected socket ignores it (Linux).
    assert!(!b.icmp_error(&r(11, 0, hop)));
    assert_eq!(b.recv_error(u), Err(Error::WouldBlock));
    b.set_recverr(u, true).unwrap();
    assert!(b.icmp_error(&r(11, 0, hop)));
    assert!(b.icmp_error(&r(3, 3, A)));
    let rd = b.readiness(u);
    assert!(rd.error && !rd.readable);
    let e = b.recv_error(u).unwrap();
    assert_eq!((e.errno, e.origin, e.icmp_type, e.icmp_code), (Error::HostUnreachable, origin::ICMP, 11, 0));
    assert_eq!((e.offender, e.dst, &e.payload[..]), (Some(hop), sa(A, 33434), &b"pro"[..]));
    // The pending error follows the queue head (sock_dequeue_err_skb).
    assert_eq!(b.take_error(u), Some(Error::ConnectionRefused));
    let e = b.recv_error(u).unwrap();
    assert_eq!((e.icmp_type, e.icmp_code, e.offender), (3, 3, Some(A)));
    assert_eq!(b.recv_error(u), Err(Error::WouldBlock));
    assert!(!b.readiness(u).error);
    // Turning IP_RECVERR off purges the queue.
    b.icmp_error(&r(11, 0, hop));
    b.set_recverr(u, false).unwrap();
    assert_eq!(b.recv_error(u), Err(Error::WouldBlock));
}

/// connect(AF_UNSPEC) gives back a port that bind() did not name (Linux __udp_disconnect:
/// SOCK_BINDPORT_LOCK), so another socket may bind it; a named one stays.
#[test]
fn disconnect_releases_an_unnamed_port() {
    let any = IpAddress::v4(0, 0, 0, 0);
    let mut u = UdpStack::new(A, 1);
    let auto = u.socket();
    u.connect(auto, Some(sa(B, 53))).unwrap();
    let p = u.local_addr(auto).unwrap().port();
    assert_ne!(p, 0, "connect binds a port");
    u.connect(auto, None).unwrap();
    assert_eq!(u.local_addr(auto), Some(sa(any, 0)), "disconnect: unbound again");
    let other = u.socket();
    u.bind(other, sa(any, p)).expect("the port is free");
    let by_zero = u.socket();
    u.bind(by_zero, sa(any, 0)).unwrap();
    u.connect(by_zero, None).unwrap();
    assert_eq!(u.local_addr(by_zero).unwrap().port(), 0, "bind(port 0) does not lock the port");
    let named = u.socket();
    u.bind(named, sa(any, 5300)).unwrap();
    u.connect(named, Some(sa(B, 53))).unwrap();
    u.connect(named, None).unwrap();
    assert_eq!(u.local_addr(named), Some(sa(any, 5300)));
    // A datagram sent after the disconnect binds a new port.
    u.send_to(auto, b"x", Some(sa(B, 53))).unwrap();
    assert_ne!(u.local_addr(auto).unwrap().port(), 0);
}
