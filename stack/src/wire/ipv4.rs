//! IPv4 (RFC 791): a zero-copy [`Packet`] view and an [`Ipv4Repr`] whose `parse` and `emit` are
//! exact inverses. Options are accepted on input and skipped; output never carries options.
use std::net::Ipv4Addr;

use super::checksum;
use super::WireError;

/// Header length without options.
pub const HEADER_LEN: usize = 20;
/// Largest datagram (header + payload) the 16-bit total length allows.
pub const MAX_DATAGRAM: usize = 65535;

/// Protocol numbers (RFC 790 / IANA).
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// True for 224.0.0.0/4 and 255.255.255.255 (any address that is not a single host).
pub fn is_multicast_or_broadcast(a: Ipv4Addr) -> bool {
    a.is_multicast() || a.is_broadcast()
}

/// The directed broadcast address of `addr/prefix_len` (None for /31 and /32, RFC 3021).
pub fn subnet_broadcast(addr: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Addr> {
    if prefix_len >= 31 {
        return None;
    }
    Some(Ipv4Addr::from(u32::from(addr) | !mask(prefix_len)))
}

/// The netmask for a prefix length (0..=32).
pub fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n if n >= 32 => u32::MAX,
        n => u32::MAX << (32 - n),
    }
}

/// A view of an IPv4 datagram. After `new_checked` succeeds no accessor panics: the buffer holds
/// the whole header (IHL) and the whole datagram (total length); bytes past total length (link
/// padding) are ignored.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// RFC 791 3.1: IHL >= 5, IHL*4 <= total length <= buffer length.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if hl > len {
            return Err(WireError::Truncated);
        }
        let tl = self.total_len() as usize;
        if tl < hl {
            return Err(WireError::Malformed);
        }
        if tl > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Checks only that the header itself is present (for headers quoted in ICMP errors, whose
    /// total length describes a datagram that is not all there).
    pub fn check_header_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if hl > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    fn u16_at(&self, i: usize) -> u16 {
        u16::from_be_bytes([self.b()[i], self.b()[i + 1]])
    }
    pub fn version(&self) -> u8 {
        self.b()[0] >> 4
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        (self.b()[0] & 0x0f) as usize * 4
    }
    pub fn dscp_ecn(&self) -> u8 {
        self.b()[1]
    }
    pub fn total_len(&self) -> u16 {
        self.u16_at(2)
    }
    pub fn ident(&self) -> u16 {
        self.u16_at(4)
    }
    pub fn dont_frag(&self) -> bool {
        self.b()[6] & 0x40 != 0
    }
    pub fn more_frags(&self) -> bool {
        self.b()[6] & 0x20 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(6) & 0x1fff) << 3
    }
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }
    pub fn protocol(&self) -> u8 {
        self.b()[9]
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(10)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// True if the header checksum (options included) verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.b()[..self.header_len()]) == 0
    }
    /// The payload: from the end of the header to total length.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len() as usize]
    }
    /// The raw header including options.
    pub fn header(&self) -> &[u8] {
        &self.b()[..self.header_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_total_len(&mut self, v: u16) {
        self.buffer.as_mut()[2..4].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_ident(&mut self, v: u16) {
        self.buffer.as_mut()[4..6].copy_from_slice(&v.to_be_bytes());
    }
    /// Recomputes the header checksum (options included).
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        b[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&b[..hl]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

/// An IPv4 header without options. `frag_offset` is in bytes (a multiple of 8).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    pub payload_len: usize,
    pub ttl: u8,
    pub dscp_ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// A fresh unfragmented header with TTL 64.
    pub fn new(src_addr: Ipv4Addr, dst_addr: Ipv4Addr, protocol: u8, payload_len: usize, ident: u16) -> Ipv4Repr {
        Ipv4Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len,
            ttl: 64,
            dscp_ecn: 0,
            ident,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Parses a received datagram: version 4, sane lengths, valid header checksum.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Ipv4Repr, WireError> {
        p.check_len()?;
        if p.version() != 4 {
            return Err(WireError::Malformed);
        }
        if !p.verify_checksum() {
            return Err(WireError::Checksum);
        }
        Ok(Self::fields(p, p.total_len() as usize - p.header_len()))
    }

    /// Parses a header quoted in an ICMP error (RFC 792): only the header need be present and
    /// the checksum is not checked (routers may quote what they rewrote).
    pub fn parse_quoted<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Ipv4Repr, WireError> {
        p.check_header_len()?;
        if p.version() != 4 {
            return Err(WireError::Malformed);
        }
        let pl = (p.total_len() as usize).saturating_sub(p.header_len());
        Ok(Self::fields(p, pl))
    }

    fn fields<T: AsRef<[u8]>>(p: &Packet<T>, payload_len: usize) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len,
            ttl: p.ttl(),
            dscp_ecn: p.dscp_ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
        }
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 20-byte header with its checksum into `buf[..20]`. The caller keeps
    /// `payload_len + 20 <= 65535` and `frag_offset` a multiple of 8 below 65536.
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..HEADER_LEN];
        b[0] = 0x45;
        b[1] = self.dscp_ecn;
        let total = (HEADER_LEN + self.payload_len).min(MAX_DATAGRAM) as u16;
        b[2..4].copy_from_slice(&total.to_be_bytes());
        b[4..6].copy_from_slice(&self.ident.to_be_bytes());
        let mut ff = (self.frag_offset >> 3) & 0x1fff;
        if self.dont_frag {
            ff |= 0x4000;
        }
        if self.more_frags {
            ff |= 0x2000;
        }
        b[6..8].copy_from_slice(&ff.to_be_bytes());
        b[8] = self.ttl;
        b[9] = self.protocol;
        b[12..16].copy_from_slice(&self.src_addr.octets());
        b[16..20].copy_from_slice(&self.dst_addr.octets());
        // The checksum from the fields (the same words as the bytes just written; summing the
        // fresh bytes again would stall on store forwarding, once per datagram sent).
        let (s, d) = (u32::from(self.src_addr), u32::from(self.dst_addr));
        let words = [0x4500 | self.dscp_ecn as u32, total as u32, self.ident as u32, ff as u32].into_iter().chain([
            (self.ttl as u32) << 8 | self.protocol as u32,
            s >> 16,
            s & 0xffff,
            d >> 16,
            d & 0xffff,
        ]);
        let c = !checksum::fold(&[words.sum()]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
    }

    /// A whole datagram: this header then `payload` (`payload_len` must equal its length).
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        debug_assert_eq!(self.payload_len, payload.len());
        let mut v = vec![0u8; HEADER_LEN + payload.len()];
        self.emit(&mut v);
        v[HEADER_LEN..].copy_from_slice(payload);
        v
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // A real echo request captured with tcpdump from `ping -c1 -s 8 -p 6162636465666768 10.9.0.1`
    // (Linux 6.x, IPv4 header + ICMP header + 8 data bytes), and the kernel's reply.
    pub(crate) const PING: [u8; 36] = [
        0x45, 0x00, 0x00, 0x24, 0x9a, 0xad, 0x40, 0x00, 0x40, 0x01, 0x8c, 0x18, 0x0a, 0x09, 0x00, 0x01, 0x0a, 0x09,
        0x00, 0x01, 0x08, 0x00, 0x39, 0x86, 0x2c, 0xe3, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    ];
    pub(crate) const PONG: [u8; 36] = [
        0x45, 0x00, 0x00, 0x24, 0x9a, 0xae, 0x00, 0x00, 0x40, 0x01, 0xcc, 0x17, 0x0a, 0x09, 0x00, 0x01, 0x0a, 0x09,
        0x00, 0x01, 0x00, 0x00, 0x41, 0x86, 0x2c, 0xe3, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    ];

    #[test]
    fn parse_known_bytes() {
        let p = Packet::new_checked(&PING[..]).unwrap();
        assert!(p.verify_checksum());
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.src_addr, Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(r.dst_addr, Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!((r.protocol, r.payload_len, r.ttl, r.ident), (1, 16, 64, 0x9aad));
        assert!(r.dont_frag && !r.more_frags && r.frag_offset == 0);
        assert_eq!(p.payload().len(), 16);
        // emit reproduces the headers byte for byte, checksum included
        for pkt in [PING, PONG] {
            let r = Ipv4Repr::parse(&Packet::new_checked(&pkt[..]).unwrap()).unwrap();
            let mut h = [0u8; 20];
            r.emit(&mut h);
            assert_eq!(h, pkt[..20]);
        }
        // The checksum emit computes from the fields is the one of the bytes, for any fields.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut r = Ipv4Repr::new(Ipv4Addr::from((x >> 32) as u32), Ipv4Addr::from(x as u32), (x >> 8) as u8, 0, 0);
            (r.payload_len, r.ident, r.ttl, r.dscp_ecn) =
                ((x >> 40) as usize % 65000, (x >> 16) as u16, (x >> 3) as u8, (x >> 50) as u8);
            (r.dont_frag, r.more_frags, r.frag_offset) = (x & 1 != 0, x & 2 != 0, (x >> 20) as u16 & !7);
            let mut h = [0u8; 20];
            r.emit(&mut h);
            assert_eq!(checksum::checksum(&h), 0, "{r:?}");
        }
    }

    #[test]
    fn set_total_len_and_fill_checksum() {
        let mut b = PING.to_vec();
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_total_len(30);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.total_len(), 30);
        p.set_total_len(PING.len() as u16);
        p.fill_checksum();
        assert_eq!(b, PING.to_vec(), "the original checksum comes back");
    }

    #[test]
    fn roundtrip_fragment_fields() {
        let mut r = Ipv4Repr::new(Ipv4Addr::new(192, 168, 0, 1), Ipv4Addr::new(8, 8, 8, 8), 17, 5, 0xbeef);
        r.more_frags = true;
        r.frag_offset = 1480;
        r.ttl = 3;
        r.dscp_ecn = 0xb8;
        let bytes = r.build(&[1, 2, 3, 4, 5]);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), r);
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5]);
        assert_eq!(p.frag_offset(), 1480);
    }

    #[test]
    fn options_skipped_and_padding_ignored() {
        // IHL 6 with a 4-byte NOP/EOL option, then 2 payload bytes, then 3 bytes of link padding.
        let mut b = vec![0x46, 0, 0, 26, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 0, 0, 0xaa, 0xbb];
        let c = checksum::checksum(&b[..24]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 2);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn malformed_rejected() {
        for n in 0..PING.len() {
            assert!(Packet::new_checked(&PING[..n]).is_err(), "len {n}");
        }
        let mut b = PING;
        b[0] = 0x44; // IHL 4
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Malformed);
        let mut b = PING;
        b[0] = 0x4f; // IHL 15 = 60 bytes > 36
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
        let mut b = PING;
        b[3] = 0x10; // total length 16 < header
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Malformed);
        let mut b = PING;
        b[3] = 0x30; // total length 48 > buffer
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
        let mut b = PING;
        b[0] = 0x65; // version 6
        assert_eq!(Ipv4Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Malformed));
        let mut b = PING;
        b[8] = 63; // TTL changed without fixing the checksum
        assert_eq!(Ipv4Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Checksum));
    }

    #[test]
    fn quoted_header() {
        // Only the header and 8 bytes are quoted; total length says 36.
        let p = Packet::new_unchecked(&PING[..28]);
        assert!(p.check_len().is_err());
        let r = Ipv4Repr::parse_quoted(&p).unwrap();
        assert_eq!((r.protocol, r.payload_len), (1, 16));
    }

    #[test]
    fn masks() {
        assert_eq!(mask(24), 0xffff_ff00);
        assert_eq!(mask(0), 0);
        assert_eq!(mask(32), u32::MAX);
        assert_eq!(subnet_broadcast(Ipv4Addr::new(10, 0, 0, 2), 24), Some(Ipv4Addr::new(10, 0, 0, 255)));
        assert_eq!(subnet_broadcast(Ipv4Addr::new(10, 0, 0, 2), 31), None);
    }
}
