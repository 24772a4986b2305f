//! UDP header (RFC 768): a zero-copy view and a `Repr` whose `parse`/`emit` are inverses.
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |   Source Port   |   Dest Port     |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! ```
use super::ip::IpAddress;

use super::checksum;
use super::WireError;

/// IPv4 protocol number of UDP.
pub const PROTOCOL: u8 = 17;
/// Header length in bytes.
pub const HEADER_LEN: usize = 8;
/// Largest payload an IPv4 datagram can carry: 65535 - 20 (IPv4) - 8 (UDP).
pub const MAX_PAYLOAD: usize = 65_507;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A read/write view of a UDP datagram (header + payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks; accessors may panic on short buffers.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks that the header fits and that the length field is within
    /// `[8, buffer.len()]` (RFC 768: length counts header and data). After this no accessor
    /// panics. Trailing bytes beyond `length` (link padding) are ignored by `payload`.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = self.len() as usize;
        if len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if len > data.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[r.start], d[r.start + 1]])
    }
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    /// The length field (header + payload).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The payload, as delimited by the length field.
    pub fn payload(&self) -> &[u8] {
        let len = self.len() as usize;
        &self.buffer.as_ref()[HEADER_LEN..len]
    }

    /// RFC 768: verifies the checksum over the pseudo-header; a zero field means "none sent"
    /// and is accepted (RFC 1122 4.1.3.4).
    pub fn verify_checksum(&self, src: impl Into<IpAddress>, dst: impl Into<IpAddress>) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len() as usize;
        checksum::verify_transport(src, dst, PROTOCOL, &self.buffer.as_ref()[..len])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_src_port(&mut self, v: u16) {
        self.set_u16(field::SRC_PORT, v)
    }
    pub fn set_dst_port(&mut self, v: u16) {
        self.set_u16(field::DST_PORT, v)
    }
    pub fn set_len(&mut self, v: u16) {
        self.set_u16(field::LENGTH, v)
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM, v)
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
    /// Computes and stores the checksum; a computed 0 is sent as 0xffff (RFC 768).
    pub fn fill_checksum(&mut self, src: impl Into<IpAddress>, dst: impl Into<IpAddress>) {
        self.set_checksum(0);
        let len = self.len() as usize;
        let c = checksum::transport(src, dst, PROTOCOL, &self.buffer.as_ref()[..len]);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A parsed UDP header (the payload stays in the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: usize,
}

impl Repr {
    /// Parses and checks a datagram sent from `src` to `dst`. Destination port 0 is malformed
    /// (RFC 768 reserves it); a bad checksum is `WireError::Checksum`.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: impl Into<IpAddress>,
        dst: impl Into<IpAddress>,
    ) -> Result<Repr, WireError> {
        packet.check_len()?;
        if packet.dst_port() == 0 {
            return Err(WireError::Malformed);
        }
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        Ok(Repr { src_port: packet.src_port(), dst_port: packet.dst_port(), payload_len: packet.payload().len() })
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header into `packet` (whose buffer holds at least `buffer_len()` bytes, with
    /// the payload already in place or written via `payload_mut` before `fill_checksum`), and
    /// fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: impl Into<IpAddress>,
        dst: impl Into<IpAddress>,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.fill_checksum(src, dst);
    }
}

/// Builds a complete datagram (header + payload, checksum filled). `payload` must be at most
/// `MAX_PAYLOAD` bytes.
pub fn build(
    src: impl Into<IpAddress>,
    dst: impl Into<IpAddress>,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    let repr = Repr { src_port, dst_port, payload_len: payload.len() };
    let mut buf = vec![0u8; repr.buffer_len()];
    buf[HEADER_LEN..].copy_from_slice(payload);
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]), src, dst);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    #[test]
    fn roundtrip() {
        for n in [0usize, 1, 7, 8, 1472, 8000] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
            let buf = build(SRC, DST, 4000, 53, &payload);
            assert_eq!(buf.len(), 8 + n);
            let p = Packet::new_checked(&buf[..]).unwrap();
            let r = Repr::parse(&p, SRC, DST).unwrap();
            assert_eq!(r, Repr { src_port: 4000, dst_port: 53, payload_len: n });
            assert_eq!(p.payload(), &payload[..]);
            assert_ne!(p.checksum(), 0);
            // Re-emitting the parsed repr gives the same bytes.
            let mut again = buf.clone();
            again[6] = 0;
            again[7] = 0;
            r.emit(&mut Packet::new_unchecked(&mut again[..]), SRC, DST);
            assert_eq!(again, buf);
        }
    }

    #[test]
    fn known_datagram() {
        // A DNS query captured from Linux: 10.0.0.2:40000 -> 10.0.0.1:53, payload "abc".
        let buf = build(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), 40000, 53, b"abc");
        assert_eq!(&buf[..6], &[0x9c, 0x40, 0x00, 0x35, 0x00, 0x0b]);
        // Independent computation: pseudo header + header + data, summed by hand.
        let words: [u32; 12] = [
            0x0a00, 0x0002, 0x0a00, 0x0001, 0x0011, 0x000b, // pseudo header
            0x9c40, 0x0035, 0x000b, 0x0000, // header
            0x6162, 0x6300, // "abc" padded
        ];
        let mut s: u32 = words.iter().sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), !(s as u16));
    }

    #[test]
    fn zero_checksum_accepted_and_bad_rejected() {
        let mut buf = build(SRC, DST, 1, 2, b"hello");
        buf[6] = 0;
        buf[7] = 0;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(Repr::parse(&p, SRC, DST).is_ok());
        let mut bad = build(SRC, DST, 1, 2, b"hello");
        bad[9] ^= 0x40;
        let p = Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Repr::parse(&p, SRC, DST), Err(WireError::Checksum));
        // Wrong pseudo header (other destination) also fails.
        let good = build(SRC, DST, 1, 2, b"hello");
        let p = Packet::new_checked(&good[..]).unwrap();
        assert_eq!(Repr::parse(&p, SRC, Ipv4Addr::new(1, 2, 3, 4)), Err(WireError::Checksum));
    }

    #[test]
    fn computed_zero_sent_as_ffff() {
        // Search a payload whose checksum computes to 0; it must go out as 0xffff and verify.
        let mut found = false;
        for v in 0u16..=0xffff {
            let mut buf = build(SRC, DST, 1000, 2000, &v.to_be_bytes());
            if u16::from_be_bytes([buf[6], buf[7]]) == 0xffff {
                let p = Packet::new_checked(&buf[..]).unwrap();
                assert!(p.verify_checksum(SRC, DST));
                buf[6] = 0;
                buf[7] = 0;
                assert_eq!(checksum::transport(SRC, DST, PROTOCOL, &buf), 0);
                found = true;
                break;
            }
        }
        assert!(found);
    }

    #[test]
    fn malformed() {
        assert_eq!(Packet::new_checked(&[0u8; 7][..]).unwrap_err(), WireError::Truncated);
        let mut buf = build(SRC, DST, 1, 2, b"xyz");
        buf[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), WireError::Malformed);
        buf[4..6].copy_from_slice(&12u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), WireError::Truncated);
        let port0 = build(SRC, DST, 1, 0, b"");
        assert_eq!(Repr::parse(&Packet::new_checked(&port0[..]).unwrap(), SRC, DST), Err(WireError::Malformed));
        // Link padding after the datagram is ignored (length field rules).
        let mut padded = build(SRC, DST, 5, 6, b"ab");
        padded.extend_from_slice(&[0xee; 20]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert!(Repr::parse(&p, SRC, DST).is_ok());
        assert_eq!(p.payload(), b"ab");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 0x1234_5678_9abc_def0;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 40) as usize;
            let buf: Vec<u8> = (0..n).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            if let Ok(p) = Packet::new_checked(&buf[..]) {
                let _ = Repr::parse(&p, SRC, DST);
                let _ = p.payload();
            }
        }
    }
}
