//! Two `Stack`s joined by an in-memory Ethernet link, driven by a virtual clock: ARP, ping,
//! fragmentation both ways, ARP timeouts, reassembly overlap and timeout, ICMP unreachable.
mod common;

use std::net::Ipv4Addr;

use common::net::*;
use common::{A_IP, A_MAC, B_IP, B_MAC};
use tapstack::time::Duration;
use tapstack::wire::checksum;
use tapstack::wire::ethernet::{EtherType, EthernetRepr, BROADCAST};
use tapstack::wire::ipv4::Ipv4Repr;

#[test]
fn arp_resolution_and_one_ping() {
    let mut n = Net::new();
    assert_eq!(n.a.arp_lookup(n.now, B_IP), None);
    n.a.ping(n.now, B_IP, 7, 1, b"hello");
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.a.arp_lookup(n.now, B_IP), Some(B_MAC));
    // B learned A from A's request targeting it (RFC 826), without asking
    assert_eq!(n.b.arp_lookup(n.now, A_IP), Some(A_MAC));
    assert_eq!(n.b.stats().arp_requests_sent, 0);
    let r = n.a.take_ping_replies();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].from, r[0].ident, r[0].seq, r[0].payload_len), (B_IP, 7, 1, 5));
    assert_eq!(n.b.stats().icmp_echo_answered, 1);
    assert_eq!(n.b.stats().arp_requests_answered, 1);
    assert_eq!(n.a.mac(), A_MAC);
    assert_eq!(n.b.addr(), B_IP);
    // the entry expires after 60 s without traffic
    n.run_for(Duration::from_secs(61));
    assert_eq!(n.a.arp_lookup(n.now, B_IP), None);
}

#[test]
fn busy_neighbour_is_refreshed_by_unicast_before_expiry() {
    let mut n = Net::new();
    // a ping every second for 3 minutes: the entry never expires, and after the first broadcast
    // only unicast requests re-confirm it
    for seq in 0..180u16 {
        n.a.ping(n.now, B_IP, 1, seq, b"");
        n.run_for(Duration::from_secs(1));
    }
    assert_eq!(n.a.take_ping_replies().len(), 180);
    let sent = n.da.sent.borrow();
    let arp: Vec<_> = sent.iter().filter(|f| f[12..14] == [8, 6]).collect();
    let broadcasts = arp.iter().filter(|f| f[..6] == BROADCAST).count();
    assert_eq!(broadcasts, 1, "only the first resolution is broadcast");
    assert!(arp.len() >= 3 && arp.len() <= 6, "{} unicast refreshes", arp.len() - 1);
    assert!(arp.iter().skip(1).all(|f| f[..6] == B_MAC));
    assert_eq!(n.a.stats().arp_resolution_failed, 0);
}

#[test]
fn ping_20_times() {
    let mut n = Net::new();
    for seq in 0..20u16 {
        n.a.ping(n.now, B_IP, 99, seq, &[seq as u8; 56]);
        n.run_for(Duration::from_secs(1));
    }
    let r = n.a.take_ping_replies();
    assert_eq!(r.iter().map(|p| p.seq).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
    assert!(r.iter().all(|p| p.payload_len == 56 && p.from == B_IP));
    assert_eq!(n.b.stats().icmp_echo_answered, 20);
    // one ARP exchange only: the cache served the other 19
    assert_eq!(n.a.stats().arp_requests_sent, 1);
}

#[test]
fn ping_4000_bytes_fragmented_both_ways() {
    let mut n = Net::new();
    let data: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    for seq in 0..5 {
        n.a.ping(n.now, B_IP, 1, seq, &data);
        n.run_for(Duration::from_millis(100));
    }
    let r = n.a.take_ping_replies();
    assert_eq!(r.len(), 5);
    assert!(r.iter().all(|p| p.payload_len == 4000));
    for s in [n.a.stats(), n.b.stats()] {
        assert_eq!(s.ip_fragments_out, 15, "{s:?}");
        assert_eq!(s.ip_fragments_in, 15);
        assert_eq!(s.ip_reassembled, 5);
        assert_eq!(s.ip_reassembly_dropped, 0);
    }
    // every frame on the wire fits the MTU
    assert!(n.da.sent.borrow().iter().chain(n.db.sent.borrow().iter()).all(|f| f.len() <= 1514));
}

#[test]
fn arp_timeout_drops_queued_packets() {
    let mut n = Net::new();
    let ghost = Ipv4Addr::new(10, 0, 0, 77);
    n.a.ping(n.now, ghost, 1, 1, b"x");
    n.a.ping(n.now, ghost, 1, 2, b"y");
    let start = n.now;
    // poll reports the ARP retry as its next deadline
    let next = n.a.poll(n.now, &mut n.da);
    assert_eq!(next, Some(start + Duration::from_secs(1)));
    assert_eq!(n.a.poll_at(n.now), next);
    n.run_for(Duration::from_millis(2500));
    assert_eq!(n.a.stats().arp_requests_sent, 3);
    assert_eq!(n.a.stats().arp_resolution_failed, 0);
    n.run_for(Duration::from_secs(2));
    let s = n.a.stats();
    assert_eq!((s.arp_requests_sent, s.arp_resolution_failed, s.arp_queue_dropped), (3, 1, 2));
    assert!(n.now >= start + Duration::from_secs(3));
    // B saw three broadcasts not for it and ignored them
    assert_eq!(n.b.stats().arp_ignored, 3);
    assert_eq!(n.b.arp_lookup(n.now, A_IP), None);
    assert!(n.a.take_ping_replies().is_empty());
}

#[test]
fn reassembly_overlap_drops_datagram() {
    let mut n = Net::new();
    let msg = echo_request(5, 5, &[0xab; 40]);
    let mut h = Ipv4Repr::new(A_IP, B_IP, 1, 24, 0x1234);
    h.more_frags = true;
    n.inject_to_b(ip_frame(&h, &msg[..24], B_MAC));
    let mut h2 = h;
    h2.frag_offset = 16; // overlaps bytes 16..24
    h2.more_frags = false;
    h2.payload_len = msg.len() - 16;
    n.inject_to_b(ip_frame(&h2, &msg[16..], B_MAC));
    n.run_for(Duration::from_millis(10));
    let s = n.b.stats();
    assert_eq!((s.ip_fragments_in, s.ip_reassembly_overlap, s.ip_reassembly_dropped, s.ip_reassembled), (2, 1, 1, 0));
    assert_eq!(s.icmp_echo_answered, 0);
    // a clean retransmission with a new ident goes through
    h.ident = 0x1235;
    h2.ident = 0x1235;
    h2.frag_offset = 24;
    h2.payload_len = msg.len() - 24;
    n.inject_to_b(ip_frame(&h, &msg[..24], B_MAC));
    n.inject_to_b(ip_frame(&h2, &msg[24..], B_MAC));
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.stats().icmp_echo_answered, 1);
    assert_eq!(n.a.take_ping_replies().len(), 1);
}

#[test]
fn reassembly_timeout_sends_time_exceeded() {
    let mut n = Net::new();
    let msg = echo_request(5, 5, &[1; 40]);
    let mut h = Ipv4Repr::new(A_IP, B_IP, 1, 24, 0x4321);
    h.more_frags = true;
    n.inject_to_b(ip_frame(&h, &msg[..24], B_MAC));
    n.run_for(Duration::from_secs(29));
    assert_eq!(n.b.stats().ip_reassembly_timeout, 0);
    n.run_for(Duration::from_secs(2));
    let s = n.b.stats();
    assert_eq!((s.ip_reassembly_timeout, s.ip_reassembly_dropped, s.icmp_time_exceeded_sent), (1, 1, 1));
    assert_eq!(n.a.stats().icmp_time_exceeded_received, 1);
    // the late last fragment starts a new, never-completing datagram
    let mut h2 = h;
    h2.more_frags = false;
    h2.frag_offset = 24;
    h2.payload_len = msg.len() - 24;
    n.inject_to_b(ip_frame(&h2, &msg[24..], B_MAC));
    n.run_for(Duration::from_secs(31));
    assert_eq!(n.b.stats().ip_reassembly_timeout, 2);
    // no first fragment: no time exceeded this time (RFC 1122 3.3.2)
    assert_eq!(n.b.stats().icmp_time_exceeded_sent, 1);
    assert_eq!(n.b.stats().icmp_echo_answered, 0);
}

#[test]
fn unknown_protocol_gets_protocol_unreachable() {
    let mut n = Net::new();
    n.a.send_ip(n.now, B_IP, 253, b"experimental");
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.stats().ip_unknown_protocol, 1);
    assert_eq!(n.b.stats().icmp_unreachable_sent, 1);
    assert_eq!(n.a.stats().icmp_unreachable_received, 1);
    // the error quotes our datagram: check the code and the quoted header on the wire
    let sent = n.db.sent.borrow();
    let icmp = sent.iter().find(|f| f.len() > 34 && f[12..14] == [8, 0] && f[23] == 1).expect("ICMP from B");
    assert_eq!((icmp[34], icmp[35]), (3, 2));
    assert_eq!(icmp[42 + 9], 253); // quoted protocol
    assert_eq!(&icmp[42 + 20..42 + 20 + 12], b"experimental");
}

#[test]
fn udp_to_closed_port_gets_port_unreachable() {
    let mut n = Net::new();
    // UDP 40000 -> 9 with a valid checksum
    let mut u = vec![0x9c, 0x40, 0, 9, 0, 12, 0, 0, b'a', b'b', b'c', b'd'];
    let c = checksum::transport(A_IP, B_IP, 17, &u);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    n.a.send_ip(n.now, B_IP, 17, &u);
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.stats().udp_no_socket, 1);
    assert_eq!(n.b.stats().icmp_unreachable_sent, 1);
    assert_eq!(n.a.stats().icmp_unreachable_received, 1);
    // A matched the quote to a datagram of its own and handed it to UDP
    assert_eq!(n.a.stats().icmp_ignored, 0);
    let sent = n.db.sent.borrow();
    let icmp = sent.iter().find(|f| f.len() > 34 && f[12..14] == [8, 0] && f[23] == 1).unwrap();
    assert_eq!((icmp[34], icmp[35]), (3, 3));
    // broadcast UDP to a closed port is never answered (RFC 1122 3.2.2)
    drop(sent);
    n.a.send_ip(n.now, Ipv4Addr::new(10, 0, 0, 255), 17, &u);
    // nor is an unknown protocol sent to a broadcast address
    n.a.send_ip(n.now, Ipv4Addr::new(10, 0, 0, 255), 253, b"x");
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.stats().ip_unknown_protocol, 1);
    assert_eq!(n.b.stats().icmp_unreachable_sent, 1);
    assert_eq!(n.b.stats().icmp_error_suppressed, 1);
    assert_eq!(n.a.stats().icmp_unreachable_received, 1);
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut n = Net::new();
    n.a.ping(n.now, B_IP, 1, 1, b""); // resolve first: the ARP queue holds only 128
    n.run_for(Duration::from_millis(1));
    for _ in 0..200 {
        n.a.send_ip(n.now, B_IP, 253, b"x");
    }
    n.run_for(Duration::from_millis(1));
    let s = n.b.stats();
    assert_eq!(s.ip_unknown_protocol, 200);
    assert!(s.icmp_unreachable_sent >= 50 && s.icmp_unreachable_sent < 200, "{s:?}");
    assert_eq!(s.icmp_unreachable_sent + s.icmp_rate_limited, 200);
}

#[test]
fn frames_not_for_us_and_garbage_are_counted() {
    let mut n = Net::new();
    let h = Ipv4Repr::new(A_IP, B_IP, 1, 8, 1);
    n.inject_to_b(ip_frame(&h, &echo_request(1, 1, &[]), [2, 0, 0, 0, 0, 9]));
    n.inject_to_b(vec![1, 2, 3]);
    let mut bad = ip_frame(&h, &echo_request(1, 1, &[]), B_MAC);
    bad[14 + 8] ^= 1; // TTL flipped, checksum now wrong
    n.inject_to_b(bad);
    let other = Ipv4Repr::new(A_IP, Ipv4Addr::new(10, 0, 0, 3), 1, 8, 1);
    n.inject_to_b(ip_frame(&other, &echo_request(1, 1, &[]), B_MAC));
    let eth = EthernetRepr { src_addr: A_MAC, dst_addr: BROADCAST, ethertype: EtherType::Unknown(0x86dd) };
    n.inject_to_b(eth.build(&[0; 40]));
    // a unicast IP datagram in a link-layer broadcast (RFC 1122 3.3.6)
    n.inject_to_b(ip_frame(&h, &echo_request(1, 1, &[]), BROADCAST));
    n.run_for(Duration::from_millis(10));
    let s = n.b.stats();
    assert_eq!(s.rx_frames, 6);
    assert_eq!(
        (s.rx_not_for_us, s.rx_malformed, s.ip_bad_checksum, s.ip_not_for_us, s.rx_unknown_ethertype),
        (1, 1, 1, 2, 1)
    );
    assert_eq!(s.icmp_echo_answered, 0);
    assert_eq!(s.tx_frames, 0);
}

#[test]
fn gratuitous_arp_only_updates_known_entries() {
    let mut n = Net::new();
    let garp = |mac: [u8; 6]| {
        let arp = tapstack::wire::arp::ArpRepr {
            operation: tapstack::wire::arp::Operation::Request,
            source_hardware_addr: mac,
            source_protocol_addr: A_IP,
            target_hardware_addr: [0; 6],
            target_protocol_addr: A_IP,
        };
        EthernetRepr { src_addr: mac, dst_addr: BROADCAST, ethertype: EtherType::Arp }.build(&arp.to_bytes())
    };
    n.inject_to_b(garp([2, 0, 0, 0, 0, 0x55]));
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.arp_lookup(n.now, A_IP), None);
    // once B knows A, a gratuitous ARP moves the entry
    n.a.ping(n.now, B_IP, 1, 1, b"");
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.arp_lookup(n.now, A_IP), Some(A_MAC));
    n.inject_to_b(garp([2, 0, 0, 0, 0, 0x66]));
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.arp_lookup(n.now, A_IP), Some([2, 0, 0, 0, 0, 0x66]));
}

#[test]
fn routes_and_no_route() {
    let mut n = Net::new();
    let far = Ipv4Addr::new(192, 168, 9, 9);
    n.a.ping(n.now, far, 1, 1, b"");
    assert_eq!(n.a.stats().no_route, 1);
    // a route via B: A resolves B's MAC and sends the datagram there; B drops it (not a router)
    n.a.add_route(Ipv4Addr::new(192, 168, 0, 0), 16, Some(B_IP));
    assert_eq!(n.a.route_lookup(far), Some(B_IP));
    n.a.ping(n.now, far, 1, 2, b"");
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.a.arp_lookup(n.now, B_IP), Some(B_MAC));
    assert_eq!(n.b.stats().ip_not_for_us, 1);
    assert_eq!(n.a.stats().no_route, 1);
}

#[test]
fn ping_self_and_broadcast() {
    let mut n = Net::new();
    // our own address is delivered locally, without the link
    n.a.ping(n.now, A_IP, 3, 1, &[7; 3000]);
    n.run_for(Duration::from_millis(10));
    let r = n.a.take_ping_replies();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].from, r[0].payload_len), (A_IP, 3000));
    assert!(n.da.sent.borrow().is_empty());
    // a broadcast echo goes out as an Ethernet broadcast, and is ignored like Linux does
    n.a.ping(n.now, Ipv4Addr::new(10, 0, 0, 255), 3, 2, b"");
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.da.sent.borrow()[0][..6], BROADCAST);
    assert_eq!(n.a.stats().arp_requests_sent, 0);
    assert_eq!((n.b.stats().icmp_echo_answered, n.b.stats().icmp_ignored), (0, 1));
}

#[test]
fn arp_probe_answered_and_conflict_counted() {
    let mut n = Net::new();
    let arp = |spa: Ipv4Addr, sha: [u8; 6]| {
        let a = tapstack::wire::arp::ArpRepr {
            operation: tapstack::wire::arp::Operation::Request,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: [0; 6],
            target_protocol_addr: B_IP,
        };
        EthernetRepr { src_addr: sha, dst_addr: BROADCAST, ethertype: EtherType::Arp }.build(&a.to_bytes())
    };
    // RFC 5227 probe (sender 0.0.0.0): answered, not learned
    n.inject_to_b(arp(Ipv4Addr::UNSPECIFIED, [2, 0, 0, 0, 0, 0x77]));
    // someone claiming B's own address: counted, not answered
    n.inject_to_b(arp(B_IP, [2, 0, 0, 0, 0, 0x78]));
    n.run_for(Duration::from_millis(10));
    let s = n.b.stats();
    assert_eq!((s.arp_requests_answered, s.arp_conflict), (1, 1));
    assert_eq!(n.b.arp_lookup(n.now, Ipv4Addr::UNSPECIFIED), None);
    let sent = n.db.sent.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][..6], [2, 0, 0, 0, 0, 0x77]);
}

#[test]
fn icmp_redirect_from_current_gateway_installs_host_route() {
    use tapstack::wire::icmpv4::{Icmpv4Repr, Quoted};
    let mut n = Net::new();
    let far = Ipv4Addr::new(192, 168, 9, 9);
    // B is A's gateway for 192.168/16
    n.a.add_route(Ipv4Addr::new(192, 168, 0, 0), 16, Some(B_IP));
    let redirect = |from: Ipv4Addr, gw: Ipv4Addr| {
        let quoted = Ipv4Repr::new(A_IP, far, 17, 8, 1);
        let icmp =
            Icmpv4Repr::Redirect { code: 1, gateway: gw, quoted: Quoted { header: quoted, data: &[0; 8] } }.to_bytes();
        let ip = Ipv4Repr::new(from, A_IP, 1, icmp.len(), 9);
        EthernetRepr { src_addr: B_MAC, dst_addr: A_MAC, ethertype: EtherType::Ipv4 }.build(&ip.build(&icmp))
    };
    // from a host that is not our gateway for that destination: ignored
    n.db.tx.borrow_mut().push_back(redirect(Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 3)));
    // towards a gateway off our subnet: ignored
    n.db.tx.borrow_mut().push_back(redirect(B_IP, Ipv4Addr::new(10, 9, 0, 3)));
    n.run_for(Duration::from_millis(1));
    assert_eq!(n.a.route_lookup(far), Some(B_IP));
    assert_eq!(n.a.stats().icmp_ignored, 2);
    // from the gateway in use: a host route via 10.0.0.3
    n.db.tx.borrow_mut().push_back(redirect(B_IP, Ipv4Addr::new(10, 0, 0, 3)));
    n.run_for(Duration::from_millis(1));
    assert_eq!(n.a.route_lookup(far), Some(Ipv4Addr::new(10, 0, 0, 3)));
    assert_eq!(n.a.route_lookup(Ipv4Addr::new(192, 168, 9, 10)), Some(B_IP));
    assert_eq!(n.a.stats().icmp_redirects_applied, 1);
}

#[test]
fn per_socket_ttl_and_tos() {
    use tapstack::iface::IpOpts;
    let mut n = Net::new();
    n.a.ping(n.now, B_IP, 1, 1, b""); // resolve B first
    n.run_for(Duration::from_millis(1));
    n.a.set_ip_opts(17, 5353, IpOpts { ttl: Some(33), tos: Some(0x10), mc_ttl: None });
    assert_eq!(n.a.ip_opts(17, 5353).ttl, Some(33));
    let udp = |sport: u16| {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend_from_slice(&[0, 9, 0, 8, 0, 0]);
        u
    };
    n.a.send_ip(n.now, B_IP, 17, &udp(5353));
    n.a.send_ip(n.now, B_IP, 17, &udp(5354));
    n.a.set_ip_opts(17, 5353, IpOpts::default());
    n.a.set_default_ttl(0);
    assert_eq!(n.a.default_ttl(), 64);
    n.a.send_ip(n.now, B_IP, 17, &udp(5353));
    n.run_for(Duration::from_millis(1));
    let sent = n.da.sent.borrow();
    let udp_frames: Vec<_> = sent.iter().filter(|f| f.len() >= 34 && f[12..14] == [8, 0] && f[23] == 17).collect();
    assert_eq!(udp_frames.len(), 3);
    assert_eq!((udp_frames[0][22], udp_frames[0][15]), (33, 0x10));
    assert_eq!((udp_frames[1][22], udp_frames[1][15]), (64, 0));
    assert_eq!((udp_frames[2][22], udp_frames[2][15]), (64, 0));
}

#[test]
fn udp_through_the_stack_fragmented_and_refused() {
    use std::net::SocketAddrV4;
    let mut n = Net::new();
    let sb = n.b.udp.socket();
    n.b.udp.bind(sb, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000).into()).unwrap();
    let sa = n.a.udp.socket();
    n.a.udp.connect(sa, Some(SocketAddrV4::new(B_IP, 7000).into())).unwrap();
    let big: Vec<u8> = (0..30000u32).map(|i| (i % 253) as u8).collect();
    n.a.udp.send_to(sa, &big, None).unwrap();
    // queued UDP output makes poll_at "now"
    assert_eq!(n.a.poll_at(n.now), Some(n.now));
    n.run_for(Duration::from_millis(10));
    let mut buf = vec![0; 65536];
    let m = n.b.udp.recv_from(sb, &mut buf, false).unwrap();
    assert_eq!((m.len, m.from), (30000, SocketAddrV4::new(A_IP, m.from.port()).into()));
    assert_eq!(&buf[..30000], &big[..]);
    assert_eq!((n.a.stats().ip_fragments_out, n.b.stats().ip_reassembled), (21, 1));
    // a connected socket learns ECONNREFUSED from the port unreachable our IP layer surfaces
    let sc = n.a.udp.socket();
    n.a.udp.connect(sc, Some(SocketAddrV4::new(B_IP, 7001).into())).unwrap();
    n.a.udp.send_to(sc, b"hi", None).unwrap();
    n.run_for(Duration::from_millis(10));
    assert_eq!(n.b.stats().icmp_unreachable_sent, 1);
    assert_eq!(n.a.udp.recv_from(sc, &mut buf, false), Err(tapstack::Error::ConnectionRefused));
}

#[test]
fn tcp_and_udp_to_our_own_address() {
    use std::net::SocketAddrV4;
    let mut n = Net::new();
    // UDP: a datagram to ourselves, then ECONNREFUSED from a closed local port
    let s1 = n.a.udp.socket();
    n.a.udp.bind(s1, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6000).into()).unwrap();
    let s2 = n.a.udp.socket();
    n.a.udp.connect(s2, Some(SocketAddrV4::new(A_IP, 6000).into())).unwrap();
    n.a.udp.send_to(s2, b"self", None).unwrap();
    let s3 = n.a.udp.socket();
    n.a.udp.connect(s3, Some(SocketAddrV4::new(A_IP, 6001).into())).unwrap();
    n.a.udp.send_to(s3, b"nobody", None).unwrap();
    n.run_for(Duration::from_millis(10));
    let mut buf = [0u8; 64];
    assert_eq!(n.a.udp.recv_from(s1, &mut buf, false).unwrap().len, 4);
    assert_eq!(n.a.udp.recv_from(s3, &mut buf, false), Err(tapstack::Error::ConnectionRefused));
    // TCP: connect to a listener on our own address and exchange data
    let l = n.a.tcp.socket();
    n.a.tcp.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9000).into()).unwrap();
    n.a.tcp.listen(l, 4).unwrap();
    let c = n.a.tcp.socket();
    let now = n.now;
    n.a.tcp.connect(now, c, SocketAddrV4::new(A_IP, 9000).into()).unwrap();
    n.run_for(Duration::from_millis(10));
    let s = n.a.tcp.accept(l).expect("accepted a connection to ourselves");
    let now = n.now;
    assert_eq!(n.a.tcp.send(now, c, b"hello me").unwrap(), 8);
    n.run_for(Duration::from_millis(100));
    let now = n.now;
    assert_eq!(n.a.tcp.recv(now, s, &mut buf).unwrap(), 8);
    assert_eq!(&buf[..8], b"hello me");
    // nothing of this touched the link
    assert!(n.da.sent.borrow().is_empty());
}

#[test]
fn arp_failure_is_host_unreachable_for_tcp_and_udp() {
    use std::net::SocketAddrV4;
    use tapstack::socket::tcp::TcpState;
    let mut n = Net::new();
    let ghost = Ipv4Addr::new(10, 0, 0, 77);
    let c = n.a.tcp.socket();
    let now = n.now;
    n.a.tcp.connect(now, c, SocketAddrV4::new(ghost, 80).into()).unwrap();
    let u = n.a.udp.socket();
    n.a.udp.connect(u, Some(SocketAddrV4::new(ghost, 53).into())).unwrap();
    n.a.udp.send_to(u, b"query", None).unwrap();
    let start = n.now;
    n.run_for(Duration::from_millis(10));
    // SYN and datagram wait for ARP: output is pending (the exit drain waits for it)
    assert!(n.a.has_pending_output());
    n.run_for(Duration::from_secs(2));
    assert_eq!(n.a.tcp.take_error(c), None);
    n.run_for(Duration::from_secs(2));
    // like Linux (ipv4_link_failure): three requests a second apart, then EHOSTUNREACH
    assert_eq!(n.a.tcp.take_error(c), Some(tapstack::Error::HostUnreachable));
    assert_eq!(n.a.tcp.state(c), Ok(TcpState::Closed));
    let mut buf = [0u8; 16];
    assert_eq!(n.a.udp.recv_from(u, &mut buf, false), Err(tapstack::Error::HostUnreachable));
    let s = n.a.stats();
    assert_eq!((s.arp_requests_sent, s.arp_resolution_failed, s.arp_failure_reported), (3, 1, 2));
    assert!(n.now - start < Duration::from_secs(5));
    assert!(!n.a.has_pending_output());
}
