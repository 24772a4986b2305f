//! TCP header (RFC 9293 3.1) with options MSS, window scale (RFC 7323), SACK-permitted and SACK
//! blocks (RFC 2018), timestamps (RFC 7323), NOP and EOL.
//!
//! `TcpPacket` is a zero-copy view: `new_checked` validates the data offset once, after which no
//! accessor panics. `TcpRepr` is the parsed form; `parse` and `emit` are exact inverses for every
//! repr (`parse(emit(r)) == r`), and `emit` lays options out the way Linux does.
use super::ip::IpAddress;

use super::checksum;
use super::WireError;

/// IP protocol number of TCP.
pub const PROTOCOL: u8 = 6;
/// Fixed header length.
pub const HEADER_LEN: usize = 20;
/// Largest header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

mod opt {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WS: u8 = 3;
    pub const SACK_PERM: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TS: u8 = 8;
}

/// A read/write view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps without checks (accessors may panic on short buffers; use `new_checked`).
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }
    /// Wraps `buffer` after checking that the header and its options fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = TcpPacket { buffer };
        p.check_len()?;
        Ok(p)
    }
    /// Validates the fixed header and the data offset.
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if hl > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn be16(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }
    fn be32(&self, at: usize) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    pub fn src_port(&self) -> u16 {
        self.be16(0)
    }
    pub fn dst_port(&self) -> u16 {
        self.be16(2)
    }
    pub fn seq_number(&self) -> u32 {
        self.be32(4)
    }
    pub fn ack_number(&self) -> u32 {
        self.be32(8)
    }
    /// Header length in bytes from the data offset field.
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[12] >> 4) as usize) * 4
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[13]
    }
    pub fn window_len(&self) -> u16 {
        self.be16(14)
    }
    pub fn checksum(&self) -> u16 {
        self.be16(16)
    }
    pub fn urgent_at(&self) -> u16 {
        self.be16(18)
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// True if the checksum (with the IPv4 pseudo-header) verifies.
    pub fn verify_checksum(&self, src: impl Into<IpAddress>, dst: impl Into<IpAddress>) -> bool {
        checksum::verify_transport(src, dst, PROTOCOL, self.buffer.as_ref())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The payload with the lifetime of the underlying buffer.
    pub fn payload_ref(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[self.header_len().min(b.len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn put16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    fn put32(&mut self, at: usize, v: u32) {
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_src_port(&mut self, v: u16) {
        self.put16(0, v)
    }
    pub fn set_dst_port(&mut self, v: u16) {
        self.put16(2, v)
    }
    pub fn set_seq_number(&mut self, v: u32) {
        self.put32(4, v)
    }
    pub fn set_ack_number(&mut self, v: u32) {
        self.put32(8, v)
    }
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[12] = ((len / 4) as u8) << 4;
    }
    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[13] = f;
    }
    pub fn set_window_len(&mut self, v: u16) {
        self.put16(14, v)
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.put16(16, v)
    }
    pub fn set_urgent_at(&mut self, v: u16) {
        self.put16(18, v)
    }
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
    /// Computes and stores the checksum over the whole buffer (header and payload).
    /// Writes only the pseudo-header sum (RFC 9293 3.1) into the checksum field, for a device
    /// that finishes it over the header and payload (CHECKSUM_PARTIAL: a TAP with offloads).
    pub fn fill_partial_checksum(&mut self, src: impl Into<IpAddress>, dst: impl Into<IpAddress>) {
        let len = self.buffer.as_ref().len();
        self.fill_partial_checksum_len(src, dst, len);
    }
    /// `fill_partial_checksum` for a segment of `len` bytes of which this buffer holds only the
    /// header (the payload goes to the device separately, `Device::transmit_gso_parts`).
    pub fn fill_partial_checksum_len(&mut self, src: impl Into<IpAddress>, dst: impl Into<IpAddress>, len: usize) {
        let partial = checksum::fold(&[checksum::pseudo_header(src, dst, PROTOCOL, len as u32)]);
        self.set_checksum(partial);
    }

    pub fn fill_checksum(&mut self, src: impl Into<IpAddress>, dst: impl Into<IpAddress>) {
        self.set_checksum(0);
        let c = checksum::transport(src, dst, PROTOCOL, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A parsed TCP header. Sequence numbers are raw `u32` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    /// The acknowledgment number when ACK is set (the ACK flag is implied by `Some`).
    pub ack: Option<u32>,
    /// Flags other than ACK (FIN, SYN, RST, PSH, URG, ECE, CWR bits).
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// SACK blocks (left edge, right edge), at most 4 on the wire.
    pub sack: [Option<(u32, u32)>; 4],
    /// Timestamps (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    pub fn syn(&self) -> bool {
        self.flags & flags::SYN != 0
    }
    pub fn fin(&self) -> bool {
        self.flags & flags::FIN != 0
    }
    pub fn rst(&self) -> bool {
        self.flags & flags::RST != 0
    }
    pub fn psh(&self) -> bool {
        self.flags & flags::PSH != 0
    }
    /// Sequence space the segment occupies: payload plus SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + self.syn() as usize + self.fin() as usize
    }

    /// Parses a checked packet. Malformed options give `WireError::Malformed`, never a panic.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &TcpPacket<&'a T>) -> Result<TcpRepr<'a>, WireError> {
        packet.check_len()?;
        let raw = packet.flags();
        let mut r = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: if raw & flags::ACK != 0 { Some(packet.ack_number()) } else { None },
            flags: raw & !flags::ACK,
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            payload: packet.payload_ref(),
            ..TcpRepr::default()
        };
        if r.src_port == 0 || r.dst_port == 0 {
            return Err(WireError::Malformed);
        }
        let mut o = packet.options();
        let mut nsack = 0;
        while let Some(&kind) = o.first() {
            match kind {
                opt::EOL => break,
                opt::NOP => {
                    o = &o[1..];
                    continue;
                }
                _ => {}
            }
            let len = *o.get(1).ok_or(WireError::Malformed)? as usize;
            if len < 2 || len > o.len() {
                return Err(WireError::Malformed);
            }
            let body = &o[2..len];
            match (kind, len) {
                (opt::MSS, 4) => r.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (opt::WS, 3) => r.window_scale = Some(body[0]),
                (opt::SACK_PERM, 2) => r.sack_permitted = true,
                (opt::SACK, _) if len >= 10 && (len - 2).is_multiple_of(8) => {
                    for b in body.chunks_exact(8) {
                        if nsack < 4 {
                            let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                            let rr = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                            r.sack[nsack] = Some((l, rr));
                            nsack += 1;
                        }
                    }
                }
                (opt::TS, 10) => {
                    r.timestamp = Some((
                        u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                        u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                    ))
                }
                (opt::MSS | opt::WS | opt::SACK_PERM | opt::SACK | opt::TS, _) => return Err(WireError::Malformed),
                _ => {} // unknown option: skipped (RFC 9293 3.2)
            }
            o = &o[len..];
        }
        Ok(r)
    }

    /// Option bytes this repr emits (padded to a multiple of 4).
    pub fn options_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.sack_permitted && self.timestamp.is_some() {
            n += 12; // SACK_PERM + TS
        } else {
            if self.sack_permitted {
                n += 4; // NOP NOP SACK_PERM
            }
            if self.timestamp.is_some() {
                n += 12; // NOP NOP TS
            }
        }
        if self.window_scale.is_some() {
            n += 4; // NOP WS
        }
        let blocks = self.sack.iter().filter(|b| b.is_some()).count();
        if blocks > 0 {
            n += 4 + 8 * blocks; // NOP NOP SACK
        }
        n
    }
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the header (not the payload, not the checksum) into `buf[..header_len()]`.
    /// `buf` must hold at least `header_len()` bytes; returns the header length.
    pub fn emit_header(&self, buf: &mut [u8]) -> usize {
        let hl = self.header_len();
        let mut p = TcpPacket::new_unchecked(&mut buf[..hl]);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq);
        p.set_ack_number(self.ack.unwrap_or(0));
        p.set_header_len(hl);
        p.set_flags(self.flags & !flags::ACK | if self.ack.is_some() { flags::ACK } else { 0 });
        p.set_window_len(self.window);
        p.set_checksum(0);
        p.set_urgent_at(self.urgent);
        let o = p.options_mut();
        let mut i = 0;
        let mut put = |bytes: &[u8]| {
            o[i..i + bytes.len()].copy_from_slice(bytes);
            i += bytes.len();
        };
        if let Some(m) = self.mss {
            let m = m.to_be_bytes();
            put(&[opt::MSS, 4, m[0], m[1]]);
        }
        match (self.sack_permitted, self.timestamp) {
            (true, Some((v, e))) => {
                put(&[opt::SACK_PERM, 2, opt::TS, 10]);
                put(&v.to_be_bytes());
                put(&e.to_be_bytes());
            }
            (sp, ts) => {
                if sp {
                    put(&[opt::NOP, opt::NOP, opt::SACK_PERM, 2]);
                }
                if let Some((v, e)) = ts {
                    put(&[opt::NOP, opt::NOP, opt::TS, 10]);
                    put(&v.to_be_bytes());
                    put(&e.to_be_bytes());
                }
            }
        }
        if let Some(ws) = self.window_scale {
            put(&[opt::NOP, opt::WS, 3, ws]);
        }
        let blocks = self.sack.iter().filter(|b| b.is_some()).count();
        if blocks > 0 {
            put(&[opt::NOP, opt::NOP, opt::SACK, (2 + 8 * blocks) as u8]);
            for (l, r) in self.sack.iter().flatten() {
                put(&l.to_be_bytes());
                put(&r.to_be_bytes());
            }
        }
        hl
    }

    /// Emits header, payload and checksum into `buf` (exactly `buffer_len()` bytes long).
    pub fn emit(&self, buf: &mut [u8], src: impl Into<IpAddress>, dst: impl Into<IpAddress>) {
        let hl = self.emit_header(buf);
        buf[hl..hl + self.payload.len()].copy_from_slice(self.payload);
        TcpPacket::new_unchecked(&mut buf[..hl + self.payload.len()]).fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn roundtrip(r: &TcpRepr) -> Vec<u8> {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf, A, B);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(A, B));
        let back = TcpRepr::parse(&p).unwrap();
        assert_eq!(&back, r);
        buf
    }

    #[test]
    fn syn_with_all_options_like_linux() {
        let r = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 0x01020304,
            flags: flags::SYN,
            window: 64240,
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((123, 0)),
            ..Default::default()
        };
        let buf = roundtrip(&r);
        assert_eq!(buf.len(), 40);
        // Linux's SYN option layout: MSS, SACK_PERM, TS, NOP, WS.
        assert_eq!(&buf[20..24], &[2, 4, 0x05, 0xb4]);
        assert_eq!(&buf[24..28], &[4, 2, 8, 10]);
        assert_eq!(&buf[36..40], &[1, 3, 3, 7]);
        assert_eq!(buf[13], flags::SYN);
    }

    #[test]
    fn data_with_sack_and_ts() {
        let payload = [1u8, 2, 3, 4, 5];
        let r = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: 7,
            ack: Some(0xfffffff0),
            flags: flags::PSH,
            window: 100,
            timestamp: Some((1, 2)),
            sack: [Some((10, 20)), Some((30, 40)), Some((50, 60)), None],
            payload: &payload,
            ..Default::default()
        };
        let buf = roundtrip(&r);
        assert_eq!(buf.len(), 20 + 12 + 28 + 5);
        assert_eq!(buf[13], flags::PSH | flags::ACK);
    }

    #[test]
    fn malformed_options() {
        let mut base = vec![0u8; 24];
        let r = TcpRepr { src_port: 1, dst_port: 2, ..Default::default() };
        r.emit_header(&mut base);
        base[12] = 6 << 4; // 24-byte header
        let cases: &[&[u8]] = &[
            &[1, 2, 4, 1],  // MSS truncated by the header end
            &[2, 3, 1, 1],  // MSS wrong length
            &[3, 2, 0, 0],  // WS wrong length
            &[8, 1, 0, 0],  // length < 2
            &[5, 4, 0, 0],  // SACK too short
            &[99, 9, 0, 0], // unknown option longer than header
            &[1, 1, 1, 2],  // NOP then kind with missing length
        ];
        for c in cases {
            let mut b = base.clone();
            b[20..24].copy_from_slice(c);
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(TcpRepr::parse(&p), Err(WireError::Malformed), "{c:?}");
        }
        // EOL ends parsing; unknown well-formed options are skipped.
        let mut b = base.clone();
        b[20..24].copy_from_slice(&[0, 99, 99, 99]);
        assert!(TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()).is_ok());
        b[20..24].copy_from_slice(&[30, 4, 0, 0]);
        assert!(TcpRepr::parse(&TcpPacket::new_checked(&b[..]).unwrap()).is_ok());
        // Bad data offsets.
        b[12] = 4 << 4;
        assert_eq!(TcpPacket::new_checked(&b[..]).err(), Some(WireError::Malformed));
        b[12] = 15 << 4;
        assert_eq!(TcpPacket::new_checked(&b[..]).err(), Some(WireError::Truncated));
        assert_eq!(TcpPacket::new_checked(&b[..10]).err(), Some(WireError::Truncated));
    }

    #[test]
    fn corrupted_checksum_detected() {
        let r = TcpRepr { src_port: 5, dst_port: 6, seq: 1, ack: Some(2), payload: b"hello", ..Default::default() };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf, A, B);
        buf[22] ^= 0x10;
        assert!(!TcpPacket::new_checked(&buf[..]).unwrap().verify_checksum(A, B));
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = TcpPacket::new_checked(&data[..]) {
                let _ = TcpRepr::parse(&p);
                let _ = p.verify_checksum(A, B);
            }
        }
        #[test]
        fn emit_parse_inverse(seq: u32, ack: Option<u32>, f in 0u8..=255, win: u16,
                              mss: Option<u16>, ws in proptest::option::of(0u8..15), sp: bool,
                              ts: Option<(u32, u32)>, nsack in 0usize..4,
                              payload in proptest::collection::vec(any::<u8>(), 0..50)) {
            let mut sack = [None; 4];
            for (i, s) in sack.iter_mut().enumerate().take(nsack) { *s = Some((i as u32 * 7, i as u32 * 9 + 1)); }
            // Total options must fit in 40 bytes.
            let r = TcpRepr { src_port: 9, dst_port: 10, seq, ack, flags: f & !flags::ACK, window: win, urgent: 0,
                mss, window_scale: ws, sack_permitted: sp, sack, timestamp: ts, payload: &payload };
            if r.options_len() <= 40 { roundtrip(&r); }
        }
    }
}
