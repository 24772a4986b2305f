//! One fuzz target per parser. A target takes arbitrary bytes, must never panic, and asserts
//! what the parser promises: emit(parse(x)) parses back to the same value, lengths and memory
//! stay within the documented bounds. It returns a small "feature" number describing how far
//! the input got (the runner keeps inputs that reach new features, a poor man's coverage).
//! `fix` repairs checksums and lengths of a mutant so most inputs reach the layers above.
use std::net::Ipv4Addr;

use tapstack::dns::Message;
use tapstack::iface::reassembly::{self, Reassembler};
use tapstack::iface::stats::Stats;
use tapstack::socket::tcp::{TcpConfig, TcpStack};
use tapstack::time::{Duration, Instant};
use tapstack::wire::arp::{self, ArpRepr};
use tapstack::wire::ethernet::{self, EthernetRepr};
use tapstack::wire::icmpv4::{self, Icmpv4Repr};
use tapstack::wire::ipv4::{self, Ipv4Repr};
use tapstack::wire::tcp::{TcpPacket, TcpRepr};
use tapstack::wire::{checksum, udp, WireError};

pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]) -> u64,
    pub fix: fn(&mut [u8]),
    pub max_len: usize,
}

/// Every target, in the order `make fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target { name: "ethernet", run: ethernet, fix: no_fix, max_len: 1600 },
    Target { name: "arp", run: arp, fix: no_fix, max_len: 64 },
    Target { name: "ipv4", run: ipv4_reassembly, fix: fix_ipv4_chunks, max_len: 8192 },
    Target { name: "icmp", run: icmp, fix: fix_icmp, max_len: 1600 },
    Target { name: "udp", run: udp, fix: fix_udp, max_len: 1600 },
    Target { name: "tcp_options", run: tcp_options, fix: no_fix, max_len: 40 },
    Target { name: "tcp_segment", run: tcp_segments, fix: fix_tcp_chunks, max_len: 8192 },
    Target { name: "dns", run: dns, fix: no_fix, max_len: 4096 },
    Target { name: "stack", run: stack, fix: fix_stack_chunks, max_len: 8192 },
    Target { name: "rtnl", run: rtnl, fix: no_fix, max_len: 4096 },
];

pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn no_fix(_: &mut [u8]) {}

fn err_code(e: WireError) -> u64 {
    match e {
        WireError::Truncated => 1,
        WireError::Malformed => 2,
        WireError::Checksum => 3,
        WireError::Unsupported => 4,
    }
}

/// Splits `b` into chunks each preceded by a 2-byte big-endian length (the last one takes the
/// rest), so one input can describe several packets.
pub fn chunks(b: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 <= b.len() && out.len() < 64 {
        let n = u16::from_be_bytes([b[i], b[i + 1]]) as usize;
        let start = i + 2;
        let end = (start + n).min(b.len());
        out.push(start..end);
        i = end;
    }
    out
}

fn ethernet(b: &[u8]) -> u64 {
    let f = match ethernet::Frame::new_checked(b) {
        Ok(f) => f,
        Err(e) => return err_code(e),
    };
    let r = EthernetRepr::parse(&f).expect("a checked frame parses");
    assert_eq!(r.build(f.payload()), b, "ethernet: emit(parse(frame)) differs from the frame");
    10 + u16::from(r.ethertype) as u64 % 7
}

fn arp(b: &[u8]) -> u64 {
    let p = match arp::Packet::new_checked(b) {
        Ok(p) => p,
        Err(e) => return err_code(e),
    };
    let r = match ArpRepr::parse(&p) {
        Ok(r) => r,
        Err(e) => return 10 + err_code(e),
    };
    assert_eq!(&r.to_bytes()[..], &b[..arp::PACKET_LEN], "arp: emit(parse(packet)) differs");
    20
}

/// Each chunk an IPv4 datagram or fragment; fragments go through reassembly with the clock
/// advancing, within its memory bounds.
fn ipv4_reassembly(b: &[u8]) -> u64 {
    let mut r = Reassembler::new();
    let mut stats = Stats::default();
    let mut now = Instant::from_secs(1);
    let mut feat = 0u64;
    for c in chunks(b) {
        let data = &b[c];
        let p = match ipv4::Packet::new_checked(data) {
            Ok(p) => p,
            Err(e) => {
                feat |= 1 << err_code(e);
                continue;
            }
        };
        let repr = match Ipv4Repr::parse(&p) {
            Ok(r) => r,
            Err(e) => {
                feat |= 1 << (8 + err_code(e));
                continue;
            }
        };
        let payload = p.payload();
        assert_eq!(payload.len(), repr.payload_len, "ipv4: payload length disagrees with the header");
        let out = repr.build(payload);
        let back = Ipv4Repr::parse(&ipv4::Packet::new_checked(&out[..]).expect("emitted IPv4 is long enough"))
            .expect("an emitted header parses");
        assert_eq!(back, repr, "ipv4: parse(emit(repr)) differs");
        feat |= 1 << 16;
        if repr.more_frags || repr.frag_offset > 0 {
            feat |= 1 << 17;
            if let Some((whole, bytes)) = r.add(now, &repr, payload, &mut stats) {
                feat |= 1 << 18;
                assert_eq!(bytes.len(), whole.payload_len, "reassembly: length disagrees with the header");
                assert!(bytes.len() <= reassembly::MAX_PAYLOAD);
                assert!(!whole.more_frags && whole.frag_offset == 0);
            }
        }
        assert!(r.bytes() <= reassembly::MAX_BYTES, "reassembly holds {} bytes", r.bytes());
        assert!(r.len() <= reassembly::MAX_DATAGRAMS, "reassembly holds {} datagrams", r.len());
        now += Duration::from_millis(data.last().copied().unwrap_or(0) as u64 * 200);
        r.expire(now, &mut stats);
    }
    r.expire(now + reassembly::REASSEMBLY_TIMEOUT + Duration::from_secs(1), &mut stats);
    assert!(r.is_empty() && r.bytes() == 0, "reassembly keeps memory after every timeout");
    feat
}

/// Makes every chunk a version-4 header with a plausible length and a valid checksum.
fn fix_ipv4_chunks(b: &mut [u8]) {
    for c in chunks(b) {
        fix_ipv4(&mut b[c]);
    }
}

fn fix_ipv4(p: &mut [u8]) {
    if p.len() < 20 {
        return;
    }
    let ihl = ((p[0] & 0x0f).max(5) as usize).min(p.len() / 4);
    p[0] = 0x40 | ihl as u8;
    let total = (p.len() as u16).to_be_bytes();
    p[2..4].copy_from_slice(&total);
    p[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&p[..ihl * 4]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn icmp(b: &[u8]) -> u64 {
    let p = match icmpv4::Packet::new_checked(b) {
        Ok(p) => p,
        Err(e) => return err_code(e),
    };
    let r = match Icmpv4Repr::parse(&p) {
        Ok(r) => r,
        Err(e) => return 10 + err_code(e) + 16 * p.msg_type() as u64,
    };
    let out = r.to_bytes();
    let back = Icmpv4Repr::parse(&icmpv4::Packet::new_checked(&out[..]).expect("emitted ICMP is long enough"))
        .expect("emitted ICMP parses");
    assert_eq!(back, r, "icmp: parse(emit(repr)) differs");
    1000 + p.msg_type() as u64 * 16 + p.msg_code() as u64
}

fn fix_icmp(b: &mut [u8]) {
    if b.len() >= 4 {
        b[2..4].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

fn udp(b: &[u8]) -> u64 {
    let p = match udp::Packet::new_checked(b) {
        Ok(p) => p,
        Err(e) => return err_code(e),
    };
    let r = match udp::Repr::parse(&p, SRC, DST) {
        Ok(r) => r,
        Err(e) => return 10 + err_code(e),
    };
    assert_eq!(r.payload_len, p.payload().len());
    assert!(r.buffer_len() <= b.len(), "udp: length field past the buffer");
    let out = udp::build(SRC, DST, r.src_port, r.dst_port, p.payload());
    let q = udp::Packet::new_checked(&out[..]).expect("built UDP is long enough");
    assert_eq!(udp::Repr::parse(&q, SRC, DST), Ok(r), "udp: parse(build(repr)) differs");
    assert_eq!(q.payload(), p.payload());
    20
}

fn fix_udp(b: &mut [u8]) {
    if b.len() >= udp::HEADER_LEN {
        let len = (b.len().min(65535) as u16).to_be_bytes();
        b[4..6].copy_from_slice(&len);
        let mut p = udp::Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(SRC, DST);
    }
}

/// The input is the options area of a TCP header (padded with EOL to a multiple of 4).
fn tcp_options(b: &[u8]) -> u64 {
    let n = b.len().min(40).div_ceil(4) * 4;
    let mut seg = vec![0u8; 20 + n];
    seg[20..20 + b.len().min(40)].copy_from_slice(&b[..b.len().min(40)]);
    let mut p = TcpPacket::new_unchecked(&mut seg[..]);
    p.set_src_port(1);
    p.set_dst_port(2);
    p.set_header_len(20 + n);
    let p = TcpPacket::new_checked(&seg[..]).expect("a valid header length");
    let r = match TcpRepr::parse(&p) {
        Ok(r) => r,
        Err(e) => return err_code(e),
    };
    roundtrip_tcp(&r);
    let mut feat = 100;
    feat += r.mss.is_some() as u64 + 2 * r.window_scale.is_some() as u64 + 4 * r.sack_permitted as u64;
    feat += 8 * r.timestamp.is_some() as u64 + 16 * r.sack.iter().flatten().count() as u64;
    feat
}

/// emit(repr) parses back to `repr` whenever the options fit in a header.
fn roundtrip_tcp(r: &TcpRepr) {
    if r.options_len() > 40 {
        return;
    }
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&mut out, SRC, DST);
    let q = TcpPacket::new_checked(&out[..]).expect("emitted TCP is long enough");
    assert!(q.verify_checksum(SRC, DST), "tcp: emitted checksum invalid");
    assert_eq!(TcpRepr::parse(&q).as_ref(), Ok(r), "tcp: parse(emit(repr)) differs");
}

/// Each chunk a TCP segment from 10.0.0.1 to a stack with a listener on port 80 and a
/// connection from port 5001 in SYN-SENT; the clock advances between segments.
fn tcp_segments(b: &[u8]) -> u64 {
    let mut cfg = TcpConfig::new(DST.into(), 1500);
    cfg.rx_buffer = 8192;
    cfg.tx_buffer = 8192;
    let mut s = TcpStack::new(cfg);
    let mut now = Instant::from_secs(1);
    let l = s.socket();
    s.bind(l, std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into()).unwrap();
    s.listen(l, 4).unwrap();
    let c = s.socket();
    s.bind(c, std::net::SocketAddrV4::new(DST, 5001).into()).unwrap();
    s.connect(now, c, std::net::SocketAddrV4::new(SRC, 5000).into()).unwrap();
    let mut feat = 0u64;
    let mut out = 0usize;
    let mut buf = [0u8; 2048];
    for ch in chunks(b) {
        let seg = &b[ch];
        if let Ok(p) = TcpPacket::new_checked(seg) {
            match TcpRepr::parse(&p) {
                Ok(r) => {
                    roundtrip_tcp(&r);
                    feat |= 1 << (r.flags & 0x1f);
                }
                Err(e) => feat |= 1 << (32 + err_code(e)),
            }
        }
        s.process(now, SRC.into(), DST.into(), seg);
        s.dispatch(now, &mut |_, _, _| out += 1);
        if let Ok(a) = s.accept(l) {
            let _ = s.send(now, a, &buf[..100]);
            s.close(now, a);
        }
        let _ = s.recv(now, c, &mut buf);
        now += Duration::from_millis(seg.last().copied().unwrap_or(0) as u64 * 50);
        assert!(s.control_blocks() <= 2 + 64, "{} control blocks", s.control_blocks());
    }
    // The peer goes away: everything it opened winds down.
    s.close(now, l);
    s.close(now, c);
    for _ in 0..10_000 {
        s.dispatch(now, &mut |_, _, _| out += 1);
        match s.poll_at(now) {
            Some(t) if t < now + Duration::from_secs(3600) => now = now.max(t) + Duration::from_millis(1),
            _ => break,
        }
    }
    assert!(out < 100_000, "{out} segments sent");
    feat
}

/// Fills in ports (mostly those of the listener or the connection) and the checksum.
fn fix_tcp_chunks(b: &mut [u8]) {
    for c in chunks(b) {
        let seg = &mut b[c];
        if seg.len() < 20 {
            continue;
        }
        let hl = ((seg[12] >> 4).max(5) as usize * 4).min(seg.len() / 4 * 4);
        seg[12] = ((hl / 4) as u8) << 4 | (seg[12] & 0x0f);
        if seg[3] & 1 == 0 {
            let (sp, dp) = if seg[3] & 2 == 0 { (40000u16, 80u16) } else { (5000, 5001) };
            seg[0..2].copy_from_slice(&sp.to_be_bytes());
            seg[2..4].copy_from_slice(&dp.to_be_bytes());
        }
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(SRC, DST);
    }
}

fn dns(b: &[u8]) -> u64 {
    let head = Message::parse_head(b);
    let m = match Message::parse(b) {
        Ok(m) => m,
        Err(_) => return 1 + head.is_ok() as u64,
    };
    let (h, q) = head.expect("a message that parses has a header and questions");
    assert_eq!((h, &q), (m.header, &m.questions), "dns: parse_head disagrees with parse");
    let Ok(out) = m.emit() else { return 3 };
    let back = Message::parse(&out).expect("an emitted message parses");
    assert_eq!(back, m, "dns: parse(emit(message)) differs");
    10 + (m.questions.len().min(3) + 4 * m.answers.len().min(3) + 16 * m.additionals.len().min(3)) as u64
}

/// Our address and MAC in the `stack` target.
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Each chunk an Ethernet frame into a whole `Stack` (ARP, IPv4 with reassembly, ICMP errors
/// to sockets, UDP and TCP demultiplexing) with a TCP listener and a bound UDP socket; the
/// clock advances between frames and everything it sends stays bounded.
fn stack(b: &[u8]) -> u64 {
    let vars = [("TAPSTACK_ADDR", "10.0.0.2/24"), ("TAPSTACK_MAC", "02:00:00:00:00:02")];
    let c = tapstack::config::Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
        .expect("a valid config");
    let mut s = tapstack::Stack::new(&c, 1);
    let l = s.tcp.socket();
    s.tcp.bind(l, std::net::SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into()).unwrap();
    s.tcp.listen(l, 4).unwrap();
    let mut now = Instant::from_secs(1);
    let mut dev = Sink::default();
    let mut frames = 0u64;
    for ch in chunks(b) {
        let f = &b[ch];
        s.receive_frame(now, f);
        frames += 1;
        s.poll(now, &mut dev);
        if let Ok(a) = s.tcp.accept(l) {
            s.tcp.close(now, a);
        }
        now += Duration::from_millis(f.last().copied().unwrap_or(0) as u64 * 100);
    }
    for _ in 0..1000 {
        match s.poll(now, &mut dev) {
            Some(t) if t < now + Duration::from_secs(600) => now = now.max(t) + Duration::from_millis(1),
            _ => break,
        }
    }
    assert_eq!(s.stats().rx_frames, frames);
    assert!(dev.sent < 10_000, "{} frames sent for {frames} received", dev.sent);
    let st = s.stats();
    (st.tx_frames.min(3) << 4) | frames.min(15) | (s.tcp.control_blocks().min(3) as u64) << 6
}

/// Points every chunk at us (our MAC, IPv4 or ARP) and repairs the IPv4 header and, for an
/// unfragmented datagram, the transport checksum.
fn fix_stack_chunks(b: &mut [u8]) {
    for c in chunks(b) {
        let f = &mut b[c];
        if f.len() < 14 {
            continue;
        }
        if f[0] & 1 == 0 {
            f[..6].copy_from_slice(&MAC);
        }
        if f[12] != 0x08 || (f[13] != 0x00 && f[13] != 0x06) {
            let t = if f[13] & 1 == 0 { 0x00 } else { 0x06 };
            f[12..14].copy_from_slice(&[0x08, t]);
        }
        if f[13] != 0 || f.len() < 34 {
            continue;
        }
        let ip = &mut f[14..];
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        fix_ipv4(ip);
        let hl = (ip[0] & 0x0f) as usize * 4;
        let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
        if frag || ip.len() < hl {
            continue;
        }
        let (src, dst) = (Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]), DST);
        let proto = ip[9];
        let seg = &mut ip[hl..];
        match proto {
            6 if seg.len() >= 20 => TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(src, dst),
            17 if seg.len() >= 8 => {
                let len = (seg.len() as u16).to_be_bytes();
                seg[4..6].copy_from_slice(&len);
                udp::Packet::new_unchecked(&mut seg[..]).fill_checksum(src, dst);
            }
            1 => fix_icmp(seg),
            _ => {}
        }
    }
}

/// A device that never receives and counts what it is given.
#[derive(Default)]
struct Sink {
    sent: usize,
}

impl tapstack::phy::Device for Sink {
    fn mtu(&self) -> usize {
        1500
    }
    fn receive(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn transmit(&mut self, _now: Instant, _frame: &[u8]) {
        self.sent += 1;
    }
}

/// `client::rtnl::rewrite_addrs` (rtnetlink address messages the shim rewrites for a program):
/// never a panic, the length unchanged (it works in place), and idempotent (a second pass
/// changes the same messages and no byte).
fn rtnl(b: &[u8]) -> u64 {
    use tapstack::client::rtnl::rewrite_addrs;
    let mut x = b.to_vec();
    let n = rewrite_addrs(&mut x, 7, DST, 24);
    assert_eq!(x.len(), b.len());
    let mut y = x.clone();
    assert_eq!(rewrite_addrs(&mut y, 7, DST, 24), n, "a second pass finds other messages");
    assert_eq!(x, y, "a second pass changes bytes");
    // 10 + messages rewritten; 5 if a whole message header was read but none was ours.
    if n > 0 {
        10 + n.min(50) as u64
    } else if b.len() >= 16 {
        5
    } else {
        0
    }
}
