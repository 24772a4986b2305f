//! Fragmentation of outgoing datagrams (RFC 791 3.2, "Fragmentation"): every fragment but the
//! last carries a multiple of 8 payload bytes and MF; offsets are in 8-byte units.
use crate::wire::ipv4::{Ipv4Repr, HEADER_LEN, MAX_DATAGRAM};

/// Why a datagram could not be sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FragError {
    /// Header plus payload exceed 65535 bytes.
    TooBig,
    /// The MTU cannot carry a header and 8 bytes of payload (RFC 791 minimum is 68).
    MtuTooSmall,
    /// Larger than the MTU with DF set.
    DontFragment,
}

/// Splits `payload` under `repr` into datagrams of at most `mtu` bytes, handing each complete
/// datagram (header + payload) to `out`, preceded by `headroom` zero bytes (room for a link
/// header, so the frame needs no second copy). Returns the number of datagrams (1 if it fits).
pub fn fragment(
    repr: &Ipv4Repr,
    payload: &[u8],
    mtu: usize,
    headroom: usize,
    out: &mut dyn FnMut(Vec<u8>),
) -> Result<usize, FragError> {
    let build = |r: &Ipv4Repr, data: &[u8]| {
        let mut v = Vec::with_capacity(headroom + HEADER_LEN + data.len());
        v.resize(headroom + HEADER_LEN, 0);
        r.emit(&mut v[headroom..]);
        v.extend_from_slice(data);
        v
    };
    if HEADER_LEN + payload.len() > MAX_DATAGRAM {
        return Err(FragError::TooBig);
    }
    let mut r = *repr;
    r.payload_len = payload.len();
    if HEADER_LEN + payload.len() <= mtu {
        out(build(&r, payload));
        return Ok(1);
    }
    if repr.dont_frag {
        return Err(FragError::DontFragment);
    }
    let chunk = (mtu.saturating_sub(HEADER_LEN)) & !7;
    if chunk == 0 {
        return Err(FragError::MtuTooSmall);
    }
    let base = repr.frag_offset as usize;
    let mut n = 0;
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let last = end == payload.len();
        r.frag_offset = (base + off) as u16;
        r.more_frags = !last || repr.more_frags;
        r.payload_len = end - off;
        out(build(&r, &payload[off..end]));
        n += 1;
        off = end;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Packet;
    use std::net::Ipv4Addr;

    #[test]
    fn splits_on_8_byte_boundaries() {
        let r = Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), 1, 0, 42);
        let payload: Vec<u8> = (0..4008u32).map(|i| i as u8).collect();
        let mut frags = Vec::new();
        assert_eq!(fragment(&r, &payload, 1500, 0, &mut |d| frags.push(d)), Ok(3));
        let mut joined = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1500);
            let p = Packet::new_checked(&f[..]).unwrap();
            let h = Ipv4Repr::parse(&p).unwrap();
            assert_eq!(h.ident, 42);
            assert_eq!(h.frag_offset as usize, joined.len());
            assert_eq!(h.more_frags, i < 2);
            if i < 2 {
                assert_eq!(h.payload_len, 1480);
            }
            joined.extend_from_slice(p.payload());
        }
        assert_eq!(joined, payload);
        let mut n = 0;
        assert_eq!(
            fragment(&r, &payload[..1480], 1500, 14, &mut |d| {
                assert_eq!(d.len(), 14 + 1500);
                n += 1
            }),
            Ok(1)
        );
        assert_eq!(fragment(&r, &vec![0; 65516], 1500, 0, &mut |_| ()), Err(FragError::TooBig));
        assert_eq!(fragment(&r, &payload, 27, 0, &mut |_| ()), Err(FragError::MtuTooSmall));
        let mut df = r;
        df.dont_frag = true;
        assert_eq!(fragment(&df, &payload, 1500, 0, &mut |_| ()), Err(FragError::DontFragment));
        // an odd MTU rounds the fragment payload down to a multiple of 8
        frags.clear();
        fragment(&r, &payload, 1001, 0, &mut |d| frags.push(d)).unwrap();
        assert_eq!(frags[0].len(), 20 + 976);
    }
}
