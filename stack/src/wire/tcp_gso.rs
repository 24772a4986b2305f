//! Software segmentation of a TCP super-segment (Linux's `tcp_gso_segment`): TCP hands one
//! segment of several MSS (`TcpConfig::tso_max`) to a device that cuts it (a TAP with
//! offloads); where the device cannot (another device, a destination of ours, a next hop
//! not yet resolved), these make the segments it would have made: the header repeated, the
//! sequence number advanced, PSH and FIN only on the last, each with its own checksum (full,
//! or the pseudo-header sum for a device that finishes it).
use std::net::Ipv4Addr;

use super::tcp::{flags, TcpPacket, HEADER_LEN};
use super::{ethernet, ipv4, WireError};

/// Cuts TCP segment `seg` (header and payload, from `src` to `dst`) into segments of at most
/// `gso` bytes of payload, handing each to `out` (built in `scratch`). `partial`: their
/// checksum fields get only the pseudo-header sum. Errors (nothing handed out) if `seg` is
/// not a TCP segment or `gso` is 0.
pub fn split_segment(
    seg: &[u8],
    gso: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    partial: bool,
    scratch: &mut Vec<u8>,
    out: &mut impl FnMut(&[u8]),
) -> Result<usize, WireError> {
    let p = TcpPacket::new_checked(seg)?;
    if gso == 0 {
        return Err(WireError::Malformed);
    }
    let hl = p.header_len();
    let (seq, fl) = (p.seq_number(), p.flags());
    let payload = &seg[hl..];
    let mut n = 0;
    for (i, chunk) in payload.chunks(gso).enumerate() {
        let last = (i + 1) * gso >= payload.len();
        scratch.clear();
        scratch.extend_from_slice(&seg[..hl]);
        scratch.extend_from_slice(chunk);
        let mut t = TcpPacket::new_unchecked(&mut scratch[..]);
        t.set_seq_number(seq.wrapping_add((i * gso) as u32));
        t.set_flags(if last { fl } else { fl & !(flags::PSH | flags::FIN) });
        if partial {
            t.fill_partial_checksum(src, dst);
        } else {
            t.fill_checksum(src, dst);
        }
        out(scratch);
        n += 1;
    }
    Ok(n)
}

/// `split_segment` for a whole Ethernet frame (IPv4 without fragmentation, TCP): each
/// segment gets the Ethernet and IP headers again, with its own total length, the next IP
/// identification (as the kernel's GSO) and a fresh header checksum.
pub fn split_frame(frame: &[u8], gso: usize, partial: bool, out: &mut impl FnMut(&[u8])) -> Result<usize, WireError> {
    let eth = ethernet::Frame::new_checked(frame)?;
    let ip = ipv4::Packet::new_checked(eth.payload())?;
    if ip.protocol() != super::tcp::PROTOCOL || ip.more_frags() || ip.frag_offset() != 0 {
        return Err(WireError::Unsupported);
    }
    let head = ethernet::HEADER_LEN + ip.header_len();
    let tcp_end = ethernet::HEADER_LEN + ip.total_len() as usize;
    if tcp_end < head + HEADER_LEN || tcp_end > frame.len() {
        return Err(WireError::Truncated);
    }
    let (src, dst, ident) = (ip.src_addr(), ip.dst_addr(), ip.ident());
    let mut seg = Vec::new();
    let mut f = Vec::with_capacity(head + HEADER_LEN + 60 + gso);
    let mut k = 0u16;
    split_segment(&frame[head..tcp_end], gso, src, dst, partial, &mut seg, &mut |s| {
        f.clear();
        f.extend_from_slice(&frame[..head]);
        f.extend_from_slice(s);
        let mut ip = ipv4::Packet::new_unchecked(&mut f[ethernet::HEADER_LEN..]);
        ip.set_total_len((head - ethernet::HEADER_LEN + s.len()) as u16);
        ip.set_ident(ident.wrapping_add(k));
        ip.fill_checksum();
        k = k.wrapping_add(1);
        out(&f);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::TcpRepr;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn segment(seq: u32, fl: u8, payload: &[u8]) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq,
            ack: Some(7),
            flags: fl,
            window: 512,
            timestamp: Some((1, 2)),
            payload,
            ..TcpRepr::default()
        };
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut b, A, B);
        b
    }

    #[test]
    fn a_super_segment_becomes_the_segments_an_mss_at_a_time_makes() {
        let data: Vec<u8> = (0..3500u32).map(|i| i as u8).collect();
        let big = segment(u32::MAX - 100, flags::PSH | flags::FIN, &data);
        let mut got = Vec::new();
        let n = split_segment(&big, 1448, A, B, false, &mut Vec::new(), &mut |s| got.push(s.to_vec())).unwrap();
        assert_eq!(n, 3);
        let mut off = 0usize;
        for (i, s) in got.iter().enumerate() {
            let end = (off + 1448).min(data.len());
            let fl = if i == 2 { flags::PSH | flags::FIN } else { 0 };
            let want = segment((u32::MAX - 100).wrapping_add(off as u32), fl, &data[off..end]);
            assert_eq!(s, &want, "segment {i}: header, sequence number, flags, checksum and payload");
            off = end;
        }
    }

    #[test]
    fn partial_sums_and_whole_frames() {
        let data = vec![7u8; 3000];
        let seg = segment(1000, flags::PSH, &data);
        let mut frame = vec![0u8; ethernet::HEADER_LEN];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0u8; ipv4::HEADER_LEN];
        ipv4::Ipv4Repr::new(A, B, crate::wire::tcp::PROTOCOL, seg.len(), 41).emit(&mut ip);
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&seg);
        let mut got = Vec::new();
        assert_eq!(split_frame(&frame, 1448, true, &mut |f| got.push(f.to_vec())), Ok(3));
        for (i, f) in got.iter().enumerate() {
            let e = ethernet::Frame::new_checked(&f[..]).unwrap();
            let ip = ipv4::Packet::new_checked(e.payload()).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.ident(), 41 + i as u16);
            assert_eq!(ip.total_len() as usize, f.len() - ethernet::HEADER_LEN);
            let t = TcpPacket::new_checked(ip.payload()).unwrap();
            let mut full = ip.payload().to_vec();
            TcpPacket::new_unchecked(&mut full[..]).fill_partial_checksum(A, B);
            assert_eq!(t.checksum(), TcpPacket::new_unchecked(&full[..]).checksum(), "pseudo-header sum only");
        }
        assert!(split_frame(&frame[..30], 1448, true, &mut |_| panic!()).is_err());
        // Total: any bytes, any size, no panic (valid frames with random fields included).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut f = if next() % 2 == 0 { frame.clone() } else { vec![0u8; (next() % 200) as usize] };
            for _ in 0..(next() % 6) {
                let i = (next() as usize) % f.len().max(1);
                if let Some(b) = f.get_mut(i) {
                    *b = next() as u8;
                }
            }
            f.truncate((next() as usize) % (f.len() + 1));
            let _ = split_frame(&f, (next() % 3000) as usize, next() % 2 == 0, &mut |_| {});
        }
        assert!(split_segment(&seg, 0, A, B, true, &mut Vec::new(), &mut |_| panic!()).is_err());
    }
}
