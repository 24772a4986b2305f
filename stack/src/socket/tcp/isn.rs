//! Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport,
//! secretkey), M a 4-microsecond clock, F = SipHash-2-4 keyed with the per-stack secret.
//! The same secret, under distinct derived keys, gives the RFC 7323 5.4 timestamp offset per
//! address pair and the RFC 6056 algorithm 4 ephemeral port offsets.
use crate::wire::ip::{IpAddress, IpEndpoint};

use crate::time::Instant;

/// SipHash-2-4 (Aumasson and Bernstein) of `data` under `key`.
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[0..8].try_into().unwrap());
    let k1 = u64::from_le_bytes(key[8..16].try_into().unwrap());
    let mut v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes(c.try_into().unwrap());
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Appends `e`'s address and port (network order) to `d` at `n`; returns the new length.
/// For IPv4 the bytes are ip(4) port(2), as before the endpoints were family-neutral.
pub(super) fn put_endpoint(d: &mut [u8], n: usize, e: IpEndpoint) -> usize {
    let n = n + e.addr.write_bytes(&mut d[n..]);
    d[n..n + 2].copy_from_slice(&e.port.to_be_bytes());
    n + 2
}

/// RFC 6528 ISN for the connection `local` <-> `remote` at `now`.
pub fn isn(secret: &[u8; 16], local: IpEndpoint, remote: IpEndpoint, now: Instant) -> u32 {
    let mut d = [0u8; 36];
    let mut n = put_endpoint(&mut d, 0, local);
    n = put_endpoint(&mut d, n, remote);
    let f = siphash24(secret, &d[..n]) as u32;
    let m = (now.total_micros() / 4) as u32;
    m.wrapping_add(f)
}

/// A key for one purpose, derived from the stack secret (so one use cannot reveal another).
fn derived(secret: &[u8; 16], purpose: u8) -> [u8; 16] {
    let mut k = *secret;
    k[15] ^= purpose;
    k[0] = k[0].wrapping_add(purpose.wrapping_mul(0x9d));
    k
}

/// RFC 7323 5.4 (as Linux's secure_tcp_ts_off): the TSval offset of every connection between
/// `local` and `remote`, a keyed hash of the address pair only. TSval is then one clock per
/// address pair, so it never goes backwards between successive connections of the same pair
/// (a server's PAWS check on a reused 4-tuple in TIME-WAIT accepts the new SYN).
pub fn ts_offset(secret: &[u8; 16], local: IpAddress, remote: IpAddress) -> u32 {
    let mut d = [0u8; 32];
    let n = local.write_bytes(&mut d);
    let n = n + remote.write_bytes(&mut d[n..]);
    siphash24(&derived(secret, 1), &d[..n]) as u32
}

/// RFC 6056 3.3.4 (algorithm 4, double-hash port selection, as Linux's __inet_hash_connect):
/// F, the start offset for connections from `local` to `remote` (the destination's address and
/// port), and G, the index of the counter that advances it. Both are keyed hashes.
pub fn port_offsets(secret: &[u8; 16], local: IpAddress, remote: IpEndpoint) -> (u32, usize) {
    let mut d = [0u8; 34];
    let n = local.write_bytes(&mut d);
    let n = put_endpoint(&mut d, n, remote);
    (siphash24(&derived(secret, 2), &d[..n]) as u32, siphash24(&derived(secret, 3), &d[..n]) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn siphash_reference_vectors() {
        // From the SipHash paper: key 00..0f, message 00..0e (15 bytes).
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&key, &msg), 0xa129ca6149be45e5);
        assert_eq!(siphash24(&key, &[]), 0x726fdb47dd0e0e31);
    }
    #[test]
    fn isn_depends_on_tuple_key_and_clock() {
        let a = IpEndpoint::new(IpAddress::v4(10, 0, 0, 1), 1000);
        let b = IpEndpoint::new(IpAddress::v4(10, 0, 0, 2), 80);
        let c = IpEndpoint::new(IpAddress::v4(10, 0, 0, 2), 81);
        let k1 = [1u8; 16];
        let k2 = [2u8; 16];
        let t = Instant::from_secs(1);
        assert_ne!(isn(&k1, a, b, t), isn(&k1, a, c, t));
        assert_ne!(isn(&k1, a, b, t), isn(&k2, a, b, t));
        assert_eq!(isn(&k1, a, b, t + std::time::Duration::from_micros(40)), isn(&k1, a, b, t).wrapping_add(10));
    }
    #[test]
    fn ts_offset_depends_on_addresses_and_key_only() {
        let (a, b, c) = (IpAddress::v4(10, 0, 0, 2), IpAddress::v4(10, 0, 0, 1), IpAddress::v4(10, 0, 0, 3));
        let k1 = [1u8; 16];
        assert_eq!(ts_offset(&k1, a, b), ts_offset(&k1, a, b));
        assert_ne!(ts_offset(&k1, a, b), ts_offset(&k1, a, c));
        assert_ne!(ts_offset(&k1, a, b), ts_offset(&[2u8; 16], a, b));
        // Not the ISN's function: the offset is not the ISN's hash term.
        let isn0 = isn(&k1, IpEndpoint::new(a, 1000), IpEndpoint::new(b, 80), Instant::ZERO);
        assert_ne!(ts_offset(&k1, a, b), isn0);
    }
}
