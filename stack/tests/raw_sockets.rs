//! Raw IPv4 sockets (`socket/udp_raw.rs`, `iface/raw.rs`) between two of our stacks on an
//! in-memory link: the copy a raw socket reads (header included) while the stack still does its
//! own work, ICMP_FILTER, bound and connected filters, a protocol only a raw socket speaks (no
//! "protocol unreachable"), IP_HDRINCL's fill-in, IP_TTL on the header, and an ICMP error
//! delivered to the raw socket of the quoted protocol.
mod common;

use std::net::Ipv4Addr;

use common::{warm_arp, Node, Sim, A_IP, A_MAC, B_IP, B_MAC};
use tapstack::error::Error;
use tapstack::phy::link::Link;
use tapstack::socket::udp::UdpHandle;
use tapstack::time::Duration;
use tapstack::wire::checksum;
use tapstack::wire::ip::IpEndpoint;

fn sim() -> Sim<Node, Node> {
    let link = Link::new(1500, None, None);
    let (a, b) = (link.a(), link.b());
    let mut s = Sim::new(link, Node::new(A_IP, A_MAC, a, 1), Node::new(B_IP, B_MAC, b, 2));
    warm_arp(&mut s);
    s
}

fn ep(ip: Ipv4Addr) -> IpEndpoint {
    IpEndpoint::new(ip.into(), 0)
}

/// An ICMP echo request (identifier 0x4242, `seq`, 16 bytes of data) with its checksum.
fn echo_request(seq: u16) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0x42, 0x42, (seq >> 8) as u8, seq as u8];
    m.extend((0..16u8).map(|i| b'a' + i));
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Runs until `h` on the A side has a datagram (or 1 s passes); returns it and its source.
fn recv_a(s: &mut Sim<Node, Node>, h: UdpHandle) -> Option<(Vec<u8>, IpEndpoint)> {
    let mut buf = vec![0u8; 4096];
    let mut got = None;
    s.run_until(Duration::from_secs(1), |s| match s.a.stack.udp.recv_from(h, &mut buf, false) {
        Ok(m) => {
            got = Some((buf[..m.copied].to_vec(), m.from));
            true
        }
        Err(_) => false,
    });
    got
}

fn header_ok(d: &[u8], protocol: u8, src: Ipv4Addr, dst: Ipv4Addr) {
    assert_eq!(d[0], 0x45, "version 4, 20-byte header");
    assert_eq!(u16::from_be_bytes([d[2], d[3]]) as usize, d.len(), "total length");
    assert_eq!(d[9], protocol);
    assert_eq!(&d[12..16], &src.octets());
    assert_eq!(&d[16..20], &dst.octets());
    assert_eq!(checksum::checksum(&d[..20]), 0, "header checksum");
}

#[test]
fn echo_by_hand_its_reply_with_header_and_the_stack_still_answers() {
    let mut s = sim();
    let a = s.a.stack.udp.raw_socket(1);
    let b = s.b.stack.udp.raw_socket(1);
    s.a.stack.udp.send_to(a, &echo_request(1), Some(ep(B_IP))).unwrap();
    let (d, from) = recv_a(&mut s, a).expect("the echo reply");
    assert_eq!(from, ep(B_IP));
    header_ok(&d, 1, B_IP, A_IP);
    assert_eq!(d[20], 0, "an echo reply, from B's stack");
    assert_eq!(&d[28..], &echo_request(1)[8..]);
    // B's raw ICMP socket read a copy of the request it answered.
    let mut buf = [0u8; 256];
    let m = s.b.stack.udp.recv_from(b, &mut buf, false).expect("B's copy of the request");
    header_ok(&buf[..m.copied], 1, A_IP, B_IP);
    assert_eq!(buf[20], 8);
}

#[test]
fn icmp_filter_and_the_connected_and_bound_filters() {
    let mut s = sim();
    let a = s.a.stack.udp.raw_socket(1);
    let far = s.a.stack.udp.raw_socket(1);
    s.a.stack.udp.connect(far, Some(ep(Ipv4Addr::new(10, 0, 0, 77)))).unwrap();
    let other_addr = s.a.stack.udp.raw_socket(1);
    s.a.stack.udp.bind(other_addr, ep(Ipv4Addr::new(127, 0, 0, 1))).unwrap();
    assert_eq!(
        s.a.stack.udp.bind(other_addr, ep(Ipv4Addr::new(10, 9, 9, 9))).unwrap_err().errno(),
        libc::EADDRNOTAVAIL
    );
    s.a.stack.udp.set_icmp_filter(a, 1).unwrap(); // type 0: echo replies
    s.a.stack.udp.send_to(a, &echo_request(2), Some(ep(B_IP))).unwrap();
    s.run_until(Duration::from_millis(300), |_| false);
    let mut buf = [0u8; 256];
    for h in [a, far, other_addr] {
        assert!(s.a.stack.udp.recv_from(h, &mut buf, true).is_err(), "filtered out");
    }
    s.a.stack.udp.set_icmp_filter(a, 0).unwrap();
    s.a.stack.udp.send_to(a, &echo_request(3), Some(ep(B_IP))).unwrap();
    assert!(recv_a(&mut s, a).is_some());
    assert!(s.a.stack.udp.recv_from(far, &mut buf, true).is_err(), "connected elsewhere");
    assert!(s.a.stack.udp.recv_from(other_addr, &mut buf, true).is_err(), "bound elsewhere");
    // A filter on a socket that is not raw ICMP: EOPNOTSUPP; IP_HDRINCL on UDP: ENOPROTOOPT.
    let udp = s.a.stack.udp.socket();
    assert_eq!(s.a.stack.udp.set_icmp_filter(udp, 1).unwrap_err().errno(), libc::EOPNOTSUPP);
    assert_eq!(s.a.stack.udp.set_hdrincl(udp, true).unwrap_err().errno(), libc::ENOPROTOOPT);
}

#[test]
fn a_protocol_only_a_raw_socket_speaks_is_no_error() {
    let mut s = sim();
    let a = s.a.stack.udp.raw_socket(253);
    // Without a raw socket of 253 on B: "protocol unreachable" (type 3 code 2) comes back, and
    // A's raw ICMP socket reads it.
    let icmp = s.a.stack.udp.raw_socket(1);
    s.a.stack.udp.send_to(a, b"experiment", Some(ep(B_IP))).unwrap();
    let (d, _) = recv_a(&mut s, icmp).expect("protocol unreachable");
    assert_eq!((d[20], d[21]), (3, 2));
    // With one: B's socket reads it, nothing comes back.
    let b = s.b.stack.udp.raw_socket(253);
    s.a.stack.udp.send_to(a, b"experiment", Some(ep(B_IP))).unwrap();
    assert!(recv_a(&mut s, icmp).is_none(), "no ICMP error");
    let mut buf = [0u8; 256];
    let m = s.b.stack.udp.recv_from(b, &mut buf, false).expect("B's raw socket of 253");
    header_ok(&buf[..m.copied], 253, A_IP, B_IP);
    assert_eq!(&buf[20..m.copied], b"experiment");
}

#[test]
fn ip_hdrincl_fills_in_source_ident_length_and_checksum_and_ip_ttl_applies() {
    let mut s = sim();
    let w = s.a.stack.udp.raw_socket(255);
    assert!(s.a.stack.udp.hdrincl(w), "IPPROTO_RAW writes its own headers");
    let b = s.b.stack.udp.raw_socket(1);
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 33, 1, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(&B_IP.octets());
    p.extend(echo_request(4));
    s.a.stack.udp.send_to(w, &p, Some(ep(B_IP))).unwrap();
    let mut buf = [0u8; 256];
    let mut n = None;
    s.run_until(Duration::from_secs(1), |s| {
        n = s.b.stack.udp.recv_from(b, &mut buf, false).ok().map(|m| m.copied);
        n.is_some()
    });
    let d = &buf[..n.expect("B read the request")];
    header_ok(d, 1, A_IP, B_IP);
    assert_ne!(&d[4..6], &[0, 0], "an identification");
    assert_eq!(d[8], 33, "the TTL written");
    // Without IP_HDRINCL the socket's IP_TTL and IP_TOS go on the header.
    let a = s.a.stack.udp.raw_socket(1);
    s.a.stack.udp.set_raw_ip_opts(a, Some(7), Some(0x10)).unwrap();
    s.a.stack.udp.send_to(a, &echo_request(5), Some(ep(B_IP))).unwrap();
    let mut n = None;
    s.run_until(Duration::from_secs(1), |s| {
        n = s.b.stack.udp.recv_from(b, &mut buf, false).ok().map(|m| m.copied);
        n.is_some()
    });
    assert!(n.is_some());
    assert_eq!((buf[8], buf[1]), (7, 0x10));
    // A header too short, or with no destination: errors.
    assert_eq!(s.a.stack.udp.send_to(w, &p[..10], Some(ep(B_IP))).unwrap_err().errno(), libc::EINVAL);
    assert_eq!(s.a.stack.udp.send_to(a, &p, None).unwrap_err().errno(), libc::EDESTADDRREQ);
}

#[test]
fn an_icmp_error_reaches_the_raw_socket_of_the_quoted_protocol() {
    let mut s = sim();
    let u = s.a.stack.udp.raw_socket(17);
    s.a.stack.udp.set_recverr(u, true).unwrap();
    // A UDP datagram by hand to a closed port of B (checksum 0: none).
    let d = [0x9c, 0x40, 0x1f, 0x90, 0, 12, 0, 0, b'h', b'e', b'l', b'o'];
    s.a.stack.udp.send_to(u, &d, Some(ep(B_IP))).unwrap();
    let found = s.run_until(Duration::from_secs(1), |s| {
        s.a.stack.udp.recv_error(u).is_ok_and(|e| e.errno == Error::ConnectionRefused)
    });
    assert!(found, "the port unreachable in the raw UDP socket's error queue");
    assert_eq!(s.a.stack.udp.local_addr(u).map(|e| e.port()), Some(17), "getsockname: the protocol");
}

#[test]
fn a_pending_error_fails_a_raw_send_only_with_ip_hdrincl() {
    let mut s = sim();
    let a = s.a.stack.udp.raw_socket(253);
    s.a.stack.udp.set_recverr(a, true).unwrap();
    s.a.stack.udp.connect(a, Some(ep(B_IP))).unwrap();
    s.a.stack.udp.send_to(a, b"exp45678", None).unwrap();
    // B speaks no protocol 253: its "protocol unreachable" (8 bytes of payload quoted).
    assert!(s.run_until(Duration::from_secs(1), |s| s.a.stack.udp.readiness(a).error));
    // Linux's raw_sendmsg never looks at the pending error: the send goes.
    assert!(s.a.stack.udp.send_to(a, b"exp45678", None).is_ok());
    // raw_send_hdrinc does: with IP_HDRINCL it fails with it (ENOPROTOOPT, icmp_err_convert).
    s.a.stack.udp.set_hdrincl(a, true).unwrap();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 253, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(&B_IP.octets());
    p.extend_from_slice(b"exp45678");
    assert_eq!(s.a.stack.udp.send_to(a, &p, None).unwrap_err().errno(), libc::ENOPROTOOPT);
    assert!(s.a.stack.udp.send_to(a, &p, None).is_ok(), "reported once");
}
