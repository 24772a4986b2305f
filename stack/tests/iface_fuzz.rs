//! Property tests: no wire parser and no `Stack` input path panics on arbitrary bytes, and
//! every `Repr` survives emit-then-parse unchanged.
use std::net::Ipv4Addr;

use proptest::prelude::*;
use tapstack::config::Config;
use tapstack::time::Instant;
use tapstack::wire::arp::{self, ArpRepr, Operation};
use tapstack::wire::checksum;
use tapstack::wire::ethernet::{self, EtherType, EthernetRepr};
use tapstack::wire::icmpv4::{self, Icmpv4Repr, Quoted};
use tapstack::wire::ipv4::{self, Ipv4Repr};
use tapstack::Stack;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PEER: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn stack() -> Stack {
    let vars = [("TAPSTACK_ADDR", "10.0.0.2/24"), ("TAPSTACK_MAC", "02:00:00:00:00:02")];
    let c = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    Stack::new(&c, 3)
}

fn parse_everything(b: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(b) {
        let _ = EthernetRepr::parse(&f);
        let _ = f.payload();
    }
    if let Ok(p) = arp::Packet::new_checked(b) {
        let _ = ArpRepr::parse(&p);
        let _ = (p.source_hardware_addr(), p.target_protocol_addr());
    }
    if let Ok(p) = ipv4::Packet::new_checked(b) {
        let _ = Ipv4Repr::parse(&p);
        let _ = (p.payload(), p.header(), p.frag_offset());
    }
    let p = ipv4::Packet::new_unchecked(b);
    let _ = Ipv4Repr::parse_quoted(&p);
    if let Ok(p) = icmpv4::Packet::new_checked(b) {
        let _ = Icmpv4Repr::parse(&p);
        let _ = p.data();
    }
    if let Ok(p) = tapstack::wire::igmp::Packet::new_checked(b) {
        if let Ok(r) = tapstack::wire::igmp::Repr::parse(&p) {
            // parse(emit(x)) == x for whatever parsed.
            let again = r.to_bytes();
            assert_eq!(
                tapstack::wire::igmp::Repr::parse(&tapstack::wire::igmp::Packet::new_checked(&again[..]).unwrap()),
                Ok(r)
            );
        }
    }
}

/// Makes the IPv4 header at the front of `b` valid (version, IHL, length, checksum) so the
/// fuzzer reaches the layers above.
fn fix_ipv4(b: &mut [u8], total: usize) {
    if b.len() < 20 {
        return;
    }
    let ihl = (b[0] & 0x0f).max(5) as usize;
    let ihl = if ihl * 4 > b.len() { 5 } else { ihl };
    b[0] = 0x40 | ihl as u8;
    let total = total.clamp(ihl * 4, b.len()) as u16;
    b[2..4].copy_from_slice(&total.to_be_bytes());
    b[12..16].copy_from_slice(&[10, 0, 0, 1]);
    b[16..20].copy_from_slice(&[10, 0, 0, 2]);
    b[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&b[..ihl * 4]);
    b[10..12].copy_from_slice(&c.to_be_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1600)) {
        parse_everything(&b);
    }

    #[test]
    fn stack_never_panics_on_raw_frames(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20)) {
        let mut s = stack();
        for (i, f) in frames.iter().enumerate() {
            s.receive_frame(Instant::from_millis(i as u64), f);
        }
        prop_assert_eq!(s.stats().rx_frames, frames.len() as u64);
    }

    #[test]
    fn stack_never_panics_on_ipv4_payloads(
        pkts in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 20..600), any::<u16>(), 0u8..5), 1..30)
    ) {
        let mut s = stack();
        for (i, (mut ip, total, proto)) in pkts.into_iter().enumerate() {
            ip[9] = [1, 6, 17, 99, 2][proto as usize];
            let len = ip.len();
            fix_ipv4(&mut ip, total as usize % (len + 1));
            let eth = EthernetRepr { src_addr: PEER, dst_addr: MAC, ethertype: EtherType::Ipv4 };
            let now = Instant::from_secs(i as u64);
            s.receive_frame(now, &eth.build(&ip));
            let mut dev = Sink::default();
            s.poll(now, &mut dev);
        }
        // nothing ever claims more than a valid frame
        prop_assert!(s.stats().tx_frames < 1000);
    }

    #[test]
    fn ipv4_repr_roundtrip(
        src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(), payload_len in 0usize..65515,
        ttl in any::<u8>(), dscp_ecn in any::<u8>(), ident in any::<u16>(), df in any::<bool>(), mf in any::<bool>(),
        off in 0u16..8192,
    ) {
        let r = Ipv4Repr {
            src_addr: Ipv4Addr::from(src), dst_addr: Ipv4Addr::from(dst), protocol, payload_len, ttl, dscp_ecn,
            ident, dont_frag: df, more_frags: mf, frag_offset: off * 8,
        };
        let mut b = vec![0u8; 20 + payload_len];
        r.emit(&mut b);
        let p = ipv4::Packet::new_checked(&b[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn arp_and_icmp_roundtrip(
        req in any::<bool>(), sha in any::<[u8; 6]>(), spa in any::<u32>(), tha in any::<[u8; 6]>(), tpa in any::<u32>(),
        ident in any::<u16>(), seq in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..300), code in 0u8..16,
    ) {
        let a = ArpRepr {
            operation: if req { Operation::Request } else { Operation::Reply },
            source_hardware_addr: sha, source_protocol_addr: Ipv4Addr::from(spa),
            target_hardware_addr: tha, target_protocol_addr: Ipv4Addr::from(tpa),
        };
        let b = a.to_bytes();
        prop_assert_eq!(ArpRepr::parse(&arp::Packet::new_checked(&b[..]).unwrap()).unwrap(), a);
        let e = if req {
            Icmpv4Repr::EchoRequest { ident, seq_no: seq, data: &data }
        } else {
            Icmpv4Repr::EchoReply { ident, seq_no: seq, data: &data }
        };
        let b = e.to_bytes();
        prop_assert_eq!(Icmpv4Repr::parse(&icmpv4::Packet::new_checked(&b[..]).unwrap()).unwrap(), e);
        let header = Ipv4Repr::new(Ipv4Addr::from(spa), Ipv4Addr::from(tpa), 17, data.len(), ident);
        let u = Icmpv4Repr::DstUnreachable {
            code, next_hop_mtu: if code == 4 { seq } else { 0 }, quoted: Quoted { header, data: &data },
        };
        let b = u.to_bytes();
        prop_assert_eq!(Icmpv4Repr::parse(&icmpv4::Packet::new_checked(&b[..]).unwrap()).unwrap(), u);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any split of a datagram into 8-byte-aligned fragments, delivered in any order with
    /// duplicates, reassembles to exactly the original, once, and releases all memory.
    #[test]
    fn reassembly_any_order_with_duplicates(
        len in 1usize..6000,
        cuts in proptest::collection::vec(1usize..800, 0..12),
        order in proptest::collection::vec(any::<u32>(), 0..40),
    ) {
        use tapstack::iface::reassembly::Reassembler;
        use tapstack::stack::Stats;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        // fragment boundaries: multiples of 8 strictly inside the datagram
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c * 8).filter(|&b| b < len).collect();
        bounds.push(0);
        bounds.push(len);
        bounds.sort();
        bounds.dedup();
        let frags: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        // delivery order: every fragment once, in a shuffled order, plus duplicates
        let mut seq: Vec<usize> = (0..frags.len()).collect();
        for (i, r) in order.iter().enumerate() {
            let j = *r as usize % seq.len();
            if i % 3 == 0 { seq.push(seq[j]); } else { let k = i % seq.len(); seq.swap(j, k); }
        }
        let mut r = Reassembler::new();
        let mut stats = Stats::default();
        let mut done = Vec::new();
        for &i in &seq {
            let (a, b) = frags[i];
            let mut h = Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 17, b - a, 77);
            h.frag_offset = a as u16;
            h.more_frags = b != len;
            if let Some(whole) = r.add(Instant::ZERO, &h, &data[a..b], &mut stats) {
                done.push(whole);
            }
        }
        // duplicates arriving after completion may start a new, incomplete datagram
        prop_assert!(!done.is_empty());
        prop_assert_eq!(&done[0].1, &data);
        prop_assert_eq!(done[0].0.payload_len, len);
        prop_assert_eq!(stats.ip_reassembly_overlap, 0);
        r.expire(Instant::from_secs(31), &mut stats);
        prop_assert!(r.is_empty() && r.bytes() == 0);
    }
}

/// A device that never receives and discards what it is given.
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
