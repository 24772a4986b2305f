//! The Internet checksum (RFC 1071) and the IPv4 pseudo-header (RFC 768, RFC 9293 3.1).
use super::ip::IpAddress;

/// One's-complement sum of `data` (odd trailing byte padded with zero), not yet folded.
///
/// The sum is independent of byte order (RFC 1071 section 2(B)): the bulk is added as native
/// 32-bit halves of 64-bit loads into four independent accumulators, folded to 16 bits and
/// swapped to network order once at the end; only the tail (< 32 bytes) goes 16 bits at a time.
pub fn sum(data: &[u8]) -> u32 {
    let mut a = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for b in &mut blocks {
        for (i, acc) in a.iter_mut().enumerate() {
            let w = u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            // Each step adds at most 2^33: no overflow below 2^30 blocks (32 GiB).
            *acc += (w & 0xffff_ffff) + (w >> 32);
        }
    }
    let mut native = fold64(a[0] + a[1]) as u64 + fold64(a[2] + a[3]) as u64;
    while native > 0xffff {
        native = (native & 0xffff) + (native >> 16);
    }
    let mut acc: u64 = if cfg!(target_endian = "little") { (native as u16).swap_bytes() as u64 } else { native };
    let rest = blocks.remainder();
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

/// Partial sum of the pseudo-header for a transport segment of `len` bytes: the IPv4 one
/// (RFC 768, RFC 9293 3.1) for IPv4 endpoints.
#[inline]
pub fn pseudo_header(src: impl Into<IpAddress>, dst: impl Into<IpAddress>, protocol: u8, len: u32) -> u32 {
    match (src.into(), dst.into()) {
        (IpAddress::V4(src), IpAddress::V4(dst)) => {
            let mut b = [0u8; 12];
            b[0..4].copy_from_slice(&src.octets());
            b[4..8].copy_from_slice(&dst.octets());
            b[9] = protocol;
            b[10..12].copy_from_slice(&(len as u16).to_be_bytes());
            sum(&b)
        }
    }
}

/// Checksum of a transport segment (TCP/UDP header with zeroed checksum field + payload).
pub fn transport(src: impl Into<IpAddress>, dst: impl Into<IpAddress>, protocol: u8, segment: &[u8]) -> u16 {
    !fold(&[pseudo_header(src, dst, protocol, segment.len() as u32), sum(segment)])
}

/// True if a received transport segment (checksum field included) verifies.
pub fn verify_transport(src: impl Into<IpAddress>, dst: impl Into<IpAddress>, protocol: u8, segment: &[u8]) -> bool {
    fold(&[pseudo_header(src, dst, protocol, segment.len() as u32), sum(segment)]) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(&[sum(&d)]), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }
    #[test]
    fn wide_sum_matches_naive_sum() {
        // Every length and alignment around the 32-byte blocks, and long runs of 0xff (carries).
        let naive = |v: &[u8]| {
            let s: u64 = v.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64).sum();
            fold(&[(s & 0xffff_ffff) as u32, (s >> 32) as u32])
        };
        let data: Vec<u8> = (0..4200u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for off in 0..9 {
            for n in (0..200).chain([1447, 1448, 1460, 4000]) {
                let v = &data[off..off + n];
                assert_eq!(fold(&[sum(v)]), naive(v), "off {off} len {n}");
            }
        }
        let ff = vec![0xffu8; 70_001];
        assert_eq!(fold(&[sum(&ff)]), naive(&ff));
        assert_eq!(fold(&[sum(&[0u8; 64])]), 0);
    }
    #[test]
    fn known_ipv4_header() {
        // A real IPv4 header (checksum b861) from Wikipedia's example.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
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
