//! Generic segmentation offload for the TAP device (IFF_VNET_HDR): the `virtio_net_hdr` that
//! goes with every frame, and transmit coalescing, the sending half of TSO.
//!
//! [`Coalescer`] joins consecutive TCP segments of one flow (same addresses, ports, ACK, window
//! and options, contiguous sequence numbers, plain ACK flags, every payload but the last of the
//! same size) into one frame of up to 64 KiB with one header, to be written once with a
//! virtio_net_hdr asking the kernel to segment it (gso_type TCPV4, gso_size = the first
//! payload's length) and to finish the checksum (NEEDS_CSUM: the TCP checksum field holds the
//! pseudo-header sum). The kernel cuts it back into exactly the segments we built (PSH/FIN only
//! on the last, as tcp_gso_segment does), or delivers it whole to a local socket, as it does
//! with GRO. Anything else passes through as is, in order. Sans-IO: the records to write are
//! handed to a callback.
use crate::wire::ethernet::{self, EtherType, Frame};
use crate::wire::tcp::{self, flags, TcpPacket};
use crate::wire::{checksum, ipv4};

/// Length of `struct virtio_net_hdr` (no mergeable buffers).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is partial.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the kernel already verified the frame's checksum.
pub const VNET_F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// The header of a frame that needs nothing from the kernel.
pub const NO_OFFLOAD: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];
/// Largest IPv4 total length of a super-frame (the field is 16 bits; the TAP's GSO limit is 64 KiB).
const GSO_MAX_IP_LEN: usize = 65_000;
/// Ethernet and an IPv4 header without options: where the TCP header of a candidate starts.
const ETH_IP: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
/// Offset of the checksum field in the TCP header.
const TCP_CHECKSUM_AT: u16 = 16;

/// `struct virtio_net_hdr`: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset; the
/// 16-bit fields in the host's byte order.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub fn parse(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        let ne = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        VnetHdr { flags: b[0], gso_type: b[1], hdr_len: ne(2), gso_size: ne(4), csum_start: ne(6), csum_offset: ne(8) }
    }
    pub fn emit(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// A TCP data segment that may take part in a super-frame.
struct Candidate {
    /// Ethernet + IP + TCP header length.
    hdr_len: usize,
    payload_len: usize,
    seq: u32,
    flags: u8,
}

/// `f` as a candidate: IPv4 without options or fragmentation, exactly the frame's length, TCP
/// with a payload, ACK with at most PSH/FIN; with `verify` (the frame carries full checksums),
/// only if its IP and TCP checksums verify: a super-frame gets fresh sums, so a frame corrupted
/// on its way here (`TAPSTACK_FAULTS`) must go out alone, for the kernel to drop it.
fn candidate(f: &[u8], verify: bool) -> Option<Candidate> {
    let eth = Frame::new_checked(f).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(eth.payload()).ok()?;
    if ip.version() != 4 || ip.header_len() != ipv4::HEADER_LEN || ip.protocol() != tcp::PROTOCOL {
        return None;
    }
    if ip.more_frags() || ip.frag_offset() != 0 || ethernet::HEADER_LEN + ip.total_len() as usize != f.len() {
        return None;
    }
    let t = TcpPacket::new_checked(ip.payload()).ok()?;
    if t.payload().is_empty() || t.flags() & !(flags::PSH | flags::FIN) != flags::ACK {
        return None;
    }
    if verify && !(ip.verify_checksum() && t.verify_checksum(ip.src_addr(), ip.dst_addr())) {
        return None;
    }
    Some(Candidate {
        hdr_len: ETH_IP + t.header_len(),
        payload_len: t.payload().len(),
        seq: t.seq_number(),
        flags: t.flags(),
    })
}

/// True if candidates `a` and `b` belong to one flow and carry the same headers, except IP
/// length, ident and checksum and TCP sequence number, flags and checksum.
fn same_headers(a: &[u8], b: &[u8]) -> bool {
    let (ea, eb) = (Frame::new_unchecked(a), Frame::new_unchecked(b));
    let (ia, ib) = (ipv4::Packet::new_unchecked(ea.payload()), ipv4::Packet::new_unchecked(eb.payload()));
    let (ta, tb) = (TcpPacket::new_unchecked(ia.payload()), TcpPacket::new_unchecked(ib.payload()));
    ea.dst_addr() == eb.dst_addr()
        && ea.src_addr() == eb.src_addr()
        && ia.dscp_ecn() == ib.dscp_ecn()
        && ia.dont_frag() == ib.dont_frag()
        && ia.ttl() == ib.ttl()
        && ia.src_addr() == ib.src_addr()
        && ia.dst_addr() == ib.dst_addr()
        && ta.src_port() == tb.src_port()
        && ta.dst_port() == tb.dst_port()
        && ta.ack_number() == tb.ack_number()
        && ta.header_len() == tb.header_len()
        && ta.window_len() == tb.window_len()
        && ta.urgent_at() == tb.urgent_at()
        && ta.options() == tb.options()
}

/// The header of a frame written alone: NEEDS_CSUM for an unfragmented TCP/IPv4 frame whose
/// checksum field holds only the pseudo-header sum (`partial_tcp`), else nothing asked.
pub fn single_header(f: &[u8], partial_tcp: bool) -> [u8; VNET_HDR_LEN] {
    if !partial_tcp {
        return NO_OFFLOAD;
    }
    let Some(ip) = Frame::new_checked(f).ok().filter(|e| e.ethertype() == EtherType::Ipv4).and_then(|e| {
        ipv4::Packet::new_checked(e.payload())
            .ok()
            .map(|ip| (ip.protocol(), ip.header_len(), ip.more_frags() || ip.frag_offset() != 0))
    }) else {
        return NO_OFFLOAD;
    };
    match ip {
        (tcp::PROTOCOL, ihl, false) if f.len() >= ethernet::HEADER_LEN + ihl + tcp::HEADER_LEN => VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            csum_start: (ethernet::HEADER_LEN + ihl) as u16,
            csum_offset: TCP_CHECKSUM_AT,
            ..VnetHdr::default()
        }
        .emit(),
        _ => NO_OFFLOAD,
    }
}

/// The header of a TCP super-segment the stack made itself (TSO, `Device::transmit_gso`):
/// like a joined super-frame's, cut into segments of `gso_size` bytes of payload. None if `f`
/// is not TCP/IPv4 without IP options.
/// Only the headers are read (`f` may be just them: `Device::transmit_gso_parts`).
pub fn tso_header(f: &[u8], gso_size: u16) -> Option<[u8; VNET_HDR_LEN]> {
    let eth = Frame::new_checked(f).ok().filter(|e| e.ethertype() == EtherType::Ipv4)?;
    let ip = eth.payload();
    // Version 4, no options, TCP, not a fragment (flags and offset: only DF may be set).
    if ip.len() < ipv4::HEADER_LEN || ip[0] != 0x45 || ip[9] != tcp::PROTOCOL || ip[6] & 0x3f != 0 || ip[7] != 0 {
        return None;
    }
    let t = TcpPacket::new_checked(&ip[ipv4::HEADER_LEN..]).ok()?;
    Some(
        VnetHdr {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: (ETH_IP + t.header_len()) as u16,
            gso_size,
            csum_start: ETH_IP as u16,
            csum_offset: TCP_CHECKSUM_AT,
        }
        .emit(),
    )
}

/// Most frames joined into one super-frame (each is one part of the gathered write).
pub const MAX_PARTS: usize = 64;
/// Buffers of written frames kept for reuse (`Coalescer::spare`).
const MAX_SPENT: usize = 128;

/// Transmit coalescing (see the module documentation). The frames are kept as they came, not
/// copied: the super-frame is handed out as parts (the first frame whole, with its headers
/// rewritten, then the payload of each other frame) for one gathered write.
#[derive(Debug)]
pub struct Coalescer {
    /// The frames held so far, in order.
    held: Vec<Vec<u8>>,
    /// Length of the super-frame they make.
    len: usize,
    hdr_len: usize,
    gso_size: usize,
    next_seq: u32,
    /// The last segment was short or carried PSH/FIN: nothing more may join.
    closed: bool,
    /// TCP frames carry only their pseudo-header sum (see [`single_header`]).
    pub partial_tcp: bool,
    /// Buffers of frames written, for the caller to reuse (`spare`).
    spent: Vec<Vec<u8>>,
}

impl Default for Coalescer {
    fn default() -> Self {
        Coalescer::new()
    }
}

impl Coalescer {
    pub fn new() -> Coalescer {
        Coalescer {
            held: Vec::with_capacity(MAX_PARTS),
            len: 0,
            hdr_len: 0,
            gso_size: 0,
            next_seq: 0,
            closed: false,
            partial_tcp: false,
            spent: Vec::new(),
        }
    }

    /// True if candidate `f` (`c`) continues the held frame.
    fn joins(&self, f: &[u8], c: &Candidate) -> bool {
        !self.held.is_empty()
            && !self.closed
            && self.held.len() < MAX_PARTS
            && c.hdr_len == self.hdr_len
            && c.payload_len <= self.gso_size
            && self.len + c.payload_len - ethernet::HEADER_LEN <= GSO_MAX_IP_LEN
            && c.seq == self.next_seq
            && same_headers(f, &self.held[0])
    }

    /// Takes frame `f`: holds (a copy of) it if it may be joined, else hands what is held and
    /// then `f` to `out` (a virtio_net_hdr and the parts of a frame per record), in order.
    pub fn push(&mut self, f: &[u8], out: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[&[u8]])) {
        if candidate(f, !self.partial_tcp).is_none() {
            self.flush(out);
            out(&single_header(f, self.partial_tcp), &[f]);
            return;
        }
        let mut v = self.spent.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(f);
        self.push_buf(v, out);
    }

    /// `push` for a frame handed over: held without a copy. Its buffer comes back through
    /// `spare` once written.
    pub fn push_buf(&mut self, f: Vec<u8>, out: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[&[u8]])) {
        let Some(c) = candidate(&f, !self.partial_tcp) else {
            self.flush(out);
            out(&single_header(&f, self.partial_tcp), &[&f[..]]);
            self.spend(f);
            return;
        };
        if self.joins(&f, &c) {
            TcpPacket::new_unchecked(&mut self.held[0][ETH_IP..]).set_flags(c.flags);
            self.len += c.payload_len;
        } else {
            self.flush(out);
            self.len = f.len();
            self.hdr_len = c.hdr_len;
            self.gso_size = c.payload_len;
        }
        self.held.push(f);
        self.next_seq = c.seq.wrapping_add(c.payload_len as u32);
        self.closed = c.payload_len < self.gso_size || c.flags & (flags::PSH | flags::FIN) != 0;
    }

    /// A buffer of a frame already written, if any, for the caller to reuse.
    pub fn spare(&mut self) -> Option<Vec<u8>> {
        self.spent.pop()
    }

    fn spend(&mut self, mut f: Vec<u8>) {
        if self.spent.len() < MAX_SPENT {
            f.clear();
            self.spent.push(f);
        }
    }

    /// Hands the held frame (if any) to `out`: alone as it was, or joined as a super-frame.
    pub fn flush(&mut self, out: &mut impl FnMut(&[u8; VNET_HDR_LEN], &[&[u8]])) {
        match self.held.len() {
            0 => return,
            1 => out(&single_header(&self.held[0], self.partial_tcp), &[&self.held[0][..]]),
            n => {
                let ip_len = self.len - ethernet::HEADER_LEN;
                let first = &mut self.held[0];
                let mut ip = ipv4::Packet::new_unchecked(&mut first[ethernet::HEADER_LEN..]);
                ip.set_total_len(ip_len as u16);
                ip.fill_checksum();
                let (src, dst) = (ip.src_addr(), ip.dst_addr());
                let tcp_len = (ip_len - ipv4::HEADER_LEN) as u32;
                let partial = checksum::fold(&[checksum::pseudo_header(src, dst, tcp::PROTOCOL, tcp_len)]);
                TcpPacket::new_unchecked(&mut first[ETH_IP..]).set_checksum(partial);
                let h = VnetHdr {
                    flags: VNET_F_NEEDS_CSUM,
                    gso_type: GSO_TCPV4,
                    hdr_len: self.hdr_len as u16,
                    gso_size: self.gso_size as u16,
                    csum_start: ETH_IP as u16,
                    csum_offset: TCP_CHECKSUM_AT,
                };
                let mut parts: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
                parts[0] = &self.held[0][..];
                for (p, f) in parts[1..n].iter_mut().zip(&self.held[1..]) {
                    *p = &f[self.hdr_len..];
                }
                out(&h.emit(), &parts[..n]);
            }
        }
        let mut held = std::mem::take(&mut self.held);
        for f in held.drain(..) {
            self.spend(f);
        }
        self.held = held;
        self.len = 0;
        self.closed = false;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const TCP_PSH: u8 = flags::PSH;
    const TCP_ACK: u8 = flags::ACK;

    /// A TCP/IPv4 frame 10.0.0.2:4000 -> 10.0.0.1:80 with a valid checksum and `n` bytes.
    pub(crate) fn seg(seq: u32, flags: u8, n: usize, ident: u16) -> Vec<u8> {
        let mut f = vec![0u8; ETH_IP + 20 + n];
        f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&[8, 0]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((40 + n) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&ident.to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = 6;
        f[26..34].copy_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[34..36].copy_from_slice(&4000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        f[42..46].copy_from_slice(&7u32.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = flags;
        f[48..50].copy_from_slice(&1000u16.to_be_bytes());
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        let c = checksum::transport(s, d, 6, &f[34..]);
        f[50..52].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn be16(b: &[u8], i: usize) -> usize {
        u16::from_be_bytes([b[i], b[i + 1]]) as usize
    }
    fn be32(b: &[u8], i: usize) -> u32 {
        u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    /// Records handed out: the virtio header and the frame, concatenated as on the TAP.
    #[derive(Default)]
    struct Out(Vec<Vec<u8>>);
    impl Out {
        fn sink(&mut self) -> impl FnMut(&[u8; VNET_HDR_LEN], &[&[u8]]) + '_ {
            |h, parts| self.0.push([&[&h[..]], parts].concat().concat())
        }
        fn take(&mut self) -> Vec<Vec<u8>> {
            std::mem::take(&mut self.0)
        }
    }

    #[test]
    fn vnet_header_roundtrip() {
        let h = VnetHdr { flags: 1, gso_type: 1, hdr_len: 54, gso_size: 1448, csum_start: 34, csum_offset: 16 };
        assert_eq!(VnetHdr::parse(&h.emit()), h);
        assert_eq!(VnetHdr::parse(&NO_OFFLOAD), VnetHdr::default());
    }

    #[test]
    fn contiguous_segments_become_one_gso_frame() {
        let (mut b, mut out) = (Coalescer::new(), Out::default());
        let segs = [seg(1000, TCP_ACK, 1448, 1), seg(2448, TCP_ACK, 1448, 2), seg(3896, TCP_ACK | TCP_PSH, 500, 3)];
        for s in &segs {
            b.push(s, &mut out.sink());
        }
        assert!(out.take().is_empty(), "held until flush");
        b.flush(&mut out.sink());
        let r = out.take();
        assert_eq!(r.len(), 1);
        let (h, f) = r[0].split_at(VNET_HDR_LEN);
        assert_eq!((h[0], h[1]), (VNET_F_NEEDS_CSUM, GSO_TCPV4));
        let ne = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
        assert_eq!((ne(2), ne(4), ne(6), ne(8)), (54, 1448, 34, 16));
        assert_eq!(f.len(), 54 + 1448 * 2 + 500);
        assert_eq!(be16(f, 16), f.len() - 14);
        assert_eq!(checksum::checksum(&f[14..34]), 0, "IP header checksum");
        assert_eq!(f[47], TCP_ACK | TCP_PSH, "flags of the last segment");
        assert_eq!(be32(f, 38), 1000);
        let payload: Vec<u8> = segs.iter().flat_map(|s| s[54..].to_vec()).collect();
        assert_eq!(&f[54..], &payload[..]);
        // Finishing the partial checksum as the kernel would gives a valid TCP checksum.
        let mut done = f.to_vec();
        let c = checksum::checksum(&done[34..]);
        done[50..52].copy_from_slice(&c.to_be_bytes());
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        assert!(checksum::verify_transport(s, d, 6, &done[34..]));
    }

    /// Frames handed over are held without a copy and give the records borrowed ones give;
    /// their buffers come back once written; a super-frame has at most MAX_PARTS parts.
    #[test]
    fn owned_frames_give_the_same_records_and_come_back() {
        let (mut a, mut b, mut oa, mut ob) = (Coalescer::new(), Coalescer::new(), Out::default(), Out::default());
        let mut frames: Vec<Vec<u8>> =
            (0..MAX_PARTS as u32 + 6).map(|i| seg(1 + i * 100, TCP_ACK, 100, i as u16)).collect();
        frames.insert(3, vec![0xff; 42]); // not TCP: written alone, in order
        frames.push(seg(90_000, TCP_ACK | TCP_PSH, 50, 9));
        for f in &frames {
            a.push(f, &mut oa.sink());
            b.push_buf(f.clone(), &mut ob.sink());
        }
        a.flush(&mut oa.sink());
        b.flush(&mut ob.sink());
        let (ra, rb) = (oa.take(), ob.take());
        assert_eq!(ra, rb);
        assert_eq!(ra.len(), 5, "3 joined, the ARP-like frame, {MAX_PARTS} joined, 3 joined, the last alone");
        assert_eq!(ra[2].len(), VNET_HDR_LEN + 54 + MAX_PARTS * 100);
        let mut back = 0;
        while let Some(v) = b.spare() {
            assert!(v.is_empty() && v.capacity() >= 42);
            back += 1;
        }
        assert_eq!(back, frames.len());
    }

    #[test]
    fn gaps_other_frames_and_singles_stay_in_order_and_intact() {
        let (mut b, mut out) = (Coalescer::new(), Out::default());
        let a1 = seg(1, TCP_ACK, 100, 1);
        let a2 = seg(101, TCP_ACK | TCP_PSH, 100, 2);
        let a3 = seg(201, TCP_ACK, 100, 3); // after PSH: a new frame
        let gap = seg(5000, TCP_ACK, 100, 4); // not contiguous
        let syn = seg(9000, 0x12, 0, 5);
        let arp = vec![0xffu8; 42];
        for f in [&a1, &a2, &a3, &gap, &syn, &arp] {
            b.push(f, &mut out.sink());
        }
        b.flush(&mut out.sink());
        let r = out.take();
        assert_eq!(r.len(), 5, "a1+a2, a3, gap, syn, arp");
        assert_eq!(r[0][1], GSO_TCPV4);
        for (got, want) in r[1..].iter().zip([&a3, &gap, &syn, &arp]) {
            assert_eq!(&got[..VNET_HDR_LEN], &NO_OFFLOAD);
            assert_eq!(&got[VNET_HDR_LEN..], &want[..], "a single frame is written unchanged");
        }
        // A longer segment after a shorter one never joins (every segment but the last is full).
        b.push(&seg(1, TCP_ACK, 100, 1), &mut out.sink());
        b.push(&seg(101, TCP_ACK, 200, 2), &mut out.sink());
        b.flush(&mut out.sink());
        assert_eq!(out.take().len(), 2);
        // Another flow (a different port) or another ACK number does not join either.
        let mut other = seg(101, TCP_ACK, 100, 2);
        other[34..36].copy_from_slice(&4001u16.to_be_bytes());
        let mut acked = seg(101, TCP_ACK, 100, 2);
        acked[42..46].copy_from_slice(&8u32.to_be_bytes());
        for f in [&other, &acked] {
            b.push(&seg(1, TCP_ACK, 100, 1), &mut out.sink());
            b.push(f, &mut out.sink());
            b.flush(&mut out.sink());
            assert_eq!(out.take().len(), 2);
        }
    }

    /// `f` with its TCP checksum field set to the pseudo-header sum only (as the stack leaves
    /// it under `set_tcp_checksum_offload`).
    fn partial(mut f: Vec<u8>) -> Vec<u8> {
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        TcpPacket::new_unchecked(&mut f[34..]).fill_partial_checksum(s, d);
        f
    }

    /// Finishes a NEEDS_CSUM record as the kernel does and checks the TCP checksum.
    fn finished_ok(rec: &[u8]) -> bool {
        let (h, f) = rec.split_at(VNET_HDR_LEN);
        let h = VnetHdr::parse(h.try_into().unwrap());
        assert_eq!(h.flags, VNET_F_NEEDS_CSUM);
        let (start, field) = (h.csum_start as usize, (h.csum_start + h.csum_offset) as usize);
        let mut done = f.to_vec();
        let c = checksum::checksum(&done[start..]);
        done[field..field + 2].copy_from_slice(&c.to_be_bytes());
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        checksum::verify_transport(s, d, 6, &done[start..])
    }

    #[test]
    fn partial_tcp_frames_alone_ask_the_kernel_to_finish_their_checksum() {
        let (mut b, mut out) = (Coalescer::new(), Out::default());
        b.partial_tcp = true;
        // A pure ACK (never a candidate), then a lone data segment (held, flushed alone).
        let ack = partial(seg(1000, TCP_ACK, 0, 1));
        assert!(!checksum::verify_transport(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), 6, &ack[34..]));
        b.push(&ack, &mut out.sink());
        b.push(&partial(seg(1000, TCP_ACK | TCP_PSH, 300, 2)), &mut out.sink());
        b.flush(&mut out.sink());
        let r = out.take();
        assert_eq!(r.len(), 2);
        for rec in &r {
            let h = VnetHdr::parse(rec[..VNET_HDR_LEN].try_into().unwrap());
            assert_eq!((h.gso_type, h.csum_start, h.csum_offset), (0, 34, 16));
            assert!(finished_ok(rec), "the kernel's sum makes a valid checksum");
        }
        // Not TCP, or a fragment: nothing asked, bytes unchanged.
        let mut udp = seg(1, TCP_ACK, 10, 3);
        udp[23] = 17;
        assert_eq!(single_header(&udp, true), NO_OFFLOAD);
        let mut frag = partial(seg(1, TCP_ACK, 10, 4));
        frag[20] = 0x20; // MF
        assert_eq!(single_header(&frag, true), NO_OFFLOAD);
        // Off: full checksums, nothing asked.
        assert_eq!(single_header(&seg(1, TCP_ACK, 10, 5), false), NO_OFFLOAD);
    }

    /// With full checksums (a capture or faults between the stack and the TAP), a segment
    /// whose sums do not verify (corrupted on the way, `TAPSTACK_FAULTS` corrupt=) must reach
    /// the kernel as it is, to be dropped there: joining it would have the kernel compute a
    /// fresh, valid checksum over the corrupted bytes, and the corruption would be delivered.
    #[test]
    fn corrupted_segments_are_never_joined_nor_resummed() {
        let (mut b, mut out) = (Coalescer::new(), Out::default());
        let good = seg(1, TCP_ACK, 100, 1);
        let mut bad = seg(101, TCP_ACK, 100, 2);
        bad[80] ^= 0x10; // a payload byte
        let mut bad_ip = seg(201, TCP_ACK, 100, 3);
        bad_ip[22] ^= 0x01; // the TTL
        let after = seg(301, TCP_ACK, 100, 4);
        for f in [&good, &bad, &bad_ip, &after] {
            b.push(f, &mut out.sink());
        }
        b.flush(&mut out.sink());
        let r = out.take();
        assert_eq!(r.len(), 4, "good, bad, bad_ip, after: each alone");
        for (got, want) in r.iter().zip([&good, &bad, &bad_ip, &after]) {
            assert_eq!(&got[..VNET_HDR_LEN], &NO_OFFLOAD, "nothing asked of the kernel");
            assert_eq!(&got[VNET_HDR_LEN..], &want[..], "written unchanged");
        }
        // A corrupted segment may not start a super-frame either.
        b.push(&bad, &mut out.sink());
        b.push(&seg(201, TCP_ACK, 100, 3), &mut out.sink());
        b.flush(&mut out.sink());
        let r = out.take();
        assert_eq!(r.len(), 2);
        assert_eq!(&r[0][VNET_HDR_LEN..], &bad[..]);
    }
}
