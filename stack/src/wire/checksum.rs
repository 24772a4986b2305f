//! The Internet checksum (RFC 1071) and the IPv4 pseudo-header (RFC 768, RFC 9293 3.1).
use std::net::Ipv4Addr;

/// One's-complement sum of `data` (odd trailing byte padded with zero), not yet folded.
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64
            + u16::from_be_bytes([c[2], c[3]]) as u64
            + u16::from_be_bytes([c[4], c[5]]) as u64
            + u16::from_be_bytes([c[6], c[7]]) as u64;
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for c in &mut pairs {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = pairs.remainder() {
        acc += (*b as u64) << 8;
    }
    fold64(acc)
}

fn fold64(mut acc: u64) -> u32 {
    while acc > 0xffff_ffff {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// Folds partial sums to 16 bits.
pub fn fold(parts: &[u32]) -> u16 {
    let mut acc: u64 = parts.iter().map(|&p| p as u64).sum();
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for `data`: the complement of its folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(&[sum(data)])
}

/// Partial sum of the IPv4 pseudo-header for a transport segment of `len` bytes.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u32) -> u32 {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&src.octets());
    b[4..8].copy_from_slice(&dst.octets());
    b[9] = protocol;
    b[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    sum(&b)
}

/// Checksum of a transport segment (TCP/UDP header with zeroed checksum field + payload).
pub fn transport(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    !fold(&[pseudo_header(src, dst, protocol, segment.len() as u32), sum(segment)])
}

/// True if a received transport segment (checksum field included) verifies.
pub fn verify_transport(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> bool {
    fold(&[pseudo_header(src, dst, protocol, segment.len() as u32), sum(segment)]) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(&[sum(&d)]), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }
    #[test]
    fn known_ipv4_header() {
        // A real IPv4 header (checksum b861) from Wikipedia's example.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01,
            0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }
    #[test]
    fn odd_length_and_transport_roundtrip() {
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut seg = vec![0x12, 0x34, 0, 0, 0xab, 0xcd, 0xef];
        let c = transport(s, d, 17, &seg);
        seg[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(verify_transport(s, d, 17, &seg));
        seg[6] ^= 1;
        assert!(!verify_transport(s, d, 17, &seg));
        for n in 0..20 {
            let v: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let naive: u32 = v.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32).sum();
            assert_eq!(fold(&[sum(&v)]), fold(&[naive]));
        }
    }
}
