//! Small valid inputs for each target, written to `fuzz/corpus/<target>/` by
//! `tapstack-fuzz --write-seeds` (the committed corpus starts from these).
use std::net::Ipv4Addr;

use tapstack::dns::{wire, Name};
use tapstack::wire::arp::{ArpRepr, Operation};
use tapstack::wire::ethernet::{EtherType, EthernetRepr};
use tapstack::wire::icmpv4::{Icmpv4Repr, Quoted};
use tapstack::wire::ipv4::Ipv4Repr;
use tapstack::wire::tcp::{flags, TcpRepr};
use tapstack::wire::udp;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn chunked(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(&(p.len() as u16).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

fn tcp(r: &TcpRepr) -> Vec<u8> {
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b, A, B);
    b
}

/// (target, seed name, bytes).
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let arp = ArpRepr {
        operation: Operation::Request,
        source_hardware_addr: [2, 0, 0, 0, 0, 1],
        source_protocol_addr: A,
        target_hardware_addr: [0; 6],
        target_protocol_addr: B,
    }
    .to_bytes()
    .to_vec();
    let eth = |t, p: &[u8]| {
        EthernetRepr { src_addr: [2, 0, 0, 0, 0, 1], dst_addr: [2, 0, 0, 0, 0, 2], ethertype: t }.build(p)
    };
    let ip = |proto, payload: &[u8], id, off: u16, mf| {
        let mut h = Ipv4Repr::new(A, B, proto, payload.len(), id);
        h.frag_offset = off;
        h.more_frags = mf;
        h.build(payload)
    };
    let udp_dgram = udp::build(A, B, 5353, 53, b"hello");
    let big: Vec<u8> = (0..64u8).collect();
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq: 1000,
        flags: flags::SYN,
        window: 65535,
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some((1, 0)),
        ..TcpRepr::default()
    };
    let ack =
        TcpRepr { flags: 0, seq: 1001, ack: Some(1), mss: None, window_scale: None, sack_permitted: false, ..syn };
    let data = TcpRepr { payload: b"GET / HTTP/1.0\r\n\r\n", flags: flags::PSH, ..ack };
    let sack = TcpRepr { sack: [Some((100, 200)), Some((300, 400)), None, None], ..ack };
    let synack = TcpRepr { src_port: 5000, dst_port: 5001, ack: Some(12345), ..syn };
    let syn_opts = tcp(&syn)[20..].to_vec();
    let sack_opts = tcp(&sack)[20..].to_vec();
    let echo: Vec<u8> = Icmpv4Repr::EchoRequest { ident: 7, seq_no: 1, data: b"ping" }.to_bytes();
    let quoted = Icmpv4Repr::DstUnreachable {
        code: 3,
        next_hop_mtu: 0,
        quoted: Quoted { header: Ipv4Repr::new(B, A, 17, 13, 9), data: &udp_dgram[..8] },
    }
    .to_bytes();
    let frag_needed = Icmpv4Repr::DstUnreachable {
        code: 4,
        next_hop_mtu: 1280,
        quoted: Quoted { header: Ipv4Repr::new(B, A, 6, 40, 9), data: &tcp(&data)[..8] },
    }
    .to_bytes();
    let name = Name::from_dotted("www.example.com").unwrap();
    let query = wire::build_query(0x1234, &name, wire::TYPE_A);
    // A response with a compressed answer name (pointer to offset 12) and an A record.
    let mut resp = query.clone();
    resp[2] = 0x81;
    resp[3] = 0x80;
    resp[7] = 1; // ANCOUNT
    resp.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34]);
    vec![
        ("ethernet", "arp", eth(EtherType::Arp, &arp)),
        ("ethernet", "ipv4", eth(EtherType::Ipv4, &ip(17, &udp_dgram, 1, 0, false))),
        ("arp", "request", arp.clone()),
        ("ipv4", "whole", chunked(&[ip(17, &udp_dgram, 1, 0, false)])),
        ("ipv4", "fragments", chunked(&[ip(17, &big[..32], 2, 0, true), ip(17, &big[32..], 2, 32, false)])),
        (
            "ipv4",
            "overlap",
            chunked(&[
                ip(17, &big[..32], 3, 0, true),
                ip(17, &big[..16], 3, 24, true),
                ip(17, &big[..8], 3, 40, false),
            ]),
        ),
        ("icmp", "echo", echo.clone()),
        ("icmp", "port_unreachable", quoted.clone()),
        ("icmp", "frag_needed", frag_needed),
        ("udp", "datagram", udp_dgram.clone()),
        ("tcp_options", "syn", syn_opts),
        ("tcp_options", "sack", sack_opts),
        ("tcp_segment", "handshake", chunked(&[tcp(&syn), tcp(&ack), tcp(&data)])),
        ("tcp_segment", "sack", chunked(&[tcp(&syn), tcp(&ack), tcp(&sack)])),
        ("tcp_segment", "synack", chunked(&[tcp(&synack)])),
        (
            "stack",
            "frames",
            chunked(&[
                eth(EtherType::Arp, &arp),
                eth(EtherType::Ipv4, &ip(6, &tcp(&syn), 4, 0, false)),
                eth(EtherType::Ipv4, &ip(17, &big[..32], 5, 0, true)),
                eth(EtherType::Ipv4, &ip(17, &big[32..], 5, 32, false)),
                eth(EtherType::Ipv4, &ip(1, &echo, 6, 0, false)),
                eth(EtherType::Ipv4, &ip(1, &quoted, 7, 0, false)),
            ]),
        ),
        ("dns", "query", query),
        ("dns", "response", resp),
        ("rtnl", "addr_dump", rtnl_dump()),
    ]
}

/// An RTM_GETADDR dump as the kernel answers it: lo's 127.0.0.1/8, then interface 7's
/// 10.0.0.1/24 with its broadcast (the fuzz target rewrites interface 7), then NLMSG_DONE.
fn rtnl_dump() -> Vec<u8> {
    fn msg(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(payload);
        m
    }
    fn addr(prefix: u8, index: u32, a: [u8; 4], bcast: bool) -> Vec<u8> {
        let mut p = vec![2, prefix, 0x80, 0];
        p.extend_from_slice(&index.to_ne_bytes());
        let mut attrs: Vec<(u16, Vec<u8>)> = vec![(1, a.to_vec()), (2, a.to_vec())];
        if bcast {
            attrs.push((4, vec![a[0], a[1], a[2], 255]));
        }
        attrs.push((3, b"tap0\0".to_vec()));
        for (t, v) in attrs {
            p.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            p.extend_from_slice(&t.to_ne_bytes());
            p.extend_from_slice(&v);
            p.resize((p.len() + 3) & !3, 0);
        }
        msg(20, &p)
    }
    [addr(8, 1, [127, 0, 0, 1], false), addr(24, 7, [10, 0, 0, 1], true), msg(3, &0i32.to_ne_bytes())].concat()
}
