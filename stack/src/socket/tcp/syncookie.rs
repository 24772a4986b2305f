//! SYN cookies (RFC 4987 3.6), in the manner of Linux (net/ipv4/syncookies.c): when a
//! listener's SYN queue is full the SYN-ACK's ISN carries the state, and the handshake-
//! completing ACK rebuilds the connection from it; nothing is stored per SYN.
//!
//! ISN = count(8 bits) << 24 | (H(secret, 4-tuple, peer ISN, count) + MSS index) mod 2^24,
//! count being minutes; a cookie is valid in the minute it was made and the next. Like Linux,
//! window scale and SACK-permitted ride in the low 6 bits of our timestamp value (echoed back
//! in TSecr); without timestamps the connection has neither.
use crate::wire::ip::IpEndpoint;

use super::isn::siphash24;
use crate::time::Instant;

/// MSS values a cookie can encode (Linux msstab).
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

fn key(secret: &[u8; 16]) -> [u8; 16] {
    // A key of its own, derived from the stack secret (cookies and ISNs must not share one).
    let a = siphash24(secret, b"tapstack syncookie a");
    let b = siphash24(secret, b"tapstack syncookie b");
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_le_bytes());
    k[8..].copy_from_slice(&b.to_le_bytes());
    k
}

fn hash(secret: &[u8; 16], local: IpEndpoint, remote: IpEndpoint, irs: u32, count: u32) -> u32 {
    let mut d = [0u8; 44];
    let n = super::isn::put_endpoint(&mut d, 0, local);
    let n = super::isn::put_endpoint(&mut d, n, remote);
    d[n..n + 4].copy_from_slice(&irs.to_be_bytes());
    d[n + 4..n + 8].copy_from_slice(&count.to_be_bytes());
    siphash24(&key(secret), &d[..n + 8]) as u32
}

fn minutes(now: Instant) -> u32 {
    (now.total_millis() / 60_000) as u32
}

/// The cookie ISN answering a SYN with sequence `irs` and MSS option `peer_mss`; returns the
/// ISN and the MSS it encodes (the largest table entry not above the peer's).
pub fn make(
    secret: &[u8; 16],
    local: IpEndpoint,
    remote: IpEndpoint,
    irs: u32,
    peer_mss: u16,
    now: Instant,
) -> (u32, u16) {
    let idx = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
    let count = minutes(now);
    let h = hash(secret, local, remote, irs, count).wrapping_add(idx as u32) & 0x00ff_ffff;
    ((count & 0xff) << 24 | h, MSS_TABLE[idx])
}

/// Checks the ISN `iss` we would have sent for (local, remote, irs); returns the encoded MSS.
pub fn check(
    secret: &[u8; 16],
    local: IpEndpoint,
    remote: IpEndpoint,
    irs: u32,
    iss: u32,
    now: Instant,
) -> Option<u16> {
    let cur = minutes(now);
    let age = (cur & 0xff).wrapping_sub(iss >> 24) & 0xff;
    if age > 1 {
        return None;
    }
    let count = cur.wrapping_sub(age);
    let idx = (iss & 0x00ff_ffff).wrapping_sub(hash(secret, local, remote, irs, count)) & 0x00ff_ffff;
    MSS_TABLE.get(idx as usize).copied()
}

/// Our TSval for a cookie SYN-ACK: `ts_now` rounded down with the options in the low 6 bits
/// (bits 0-3 the peer's window scale or 15 for none, bit 4 SACK-permitted).
pub fn ts_encode(ts_now: u32, wscale: Option<u8>, sack: bool) -> u32 {
    let opts = wscale.map_or(0xf, |w| w.min(14) as u32) | (sack as u32) << 4;
    let v = (ts_now & !0x3f) | opts;
    if (v.wrapping_sub(ts_now) as i32) > 0 {
        v.wrapping_sub(64) // never ahead of our clock
    } else {
        v
    }
}

/// Options from the TSecr of a cookie ACK.
pub fn ts_decode(tsecr: u32) -> (Option<u8>, bool) {
    let w = (tsecr & 0xf) as u8;
    ((w <= 14).then_some(w), tsecr & 0x10 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::IpAddress;
    #[test]
    fn cookies_round_trip_and_expire() {
        let s = [7u8; 16];
        let l = IpEndpoint::new(IpAddress::v4(10, 0, 0, 2), 80);
        let r = IpEndpoint::new(IpAddress::v4(10, 0, 0, 1), 40000);
        let t = Instant::from_secs(960);
        let (iss, mss) = make(&s, l, r, 5000, 1460, t);
        assert_eq!(mss, 1460);
        assert_eq!(check(&s, l, r, 5000, iss, t), Some(1460));
        assert_eq!(check(&s, l, r, 5000, iss, t + crate::time::Duration::from_secs(100)), Some(1460));
        assert_eq!(check(&s, l, r, 5000, iss, t + crate::time::Duration::from_secs(200)), None, "expired");
        assert_eq!(check(&s, l, r, 5001, iss, t), None, "other peer ISN");
        assert_eq!(check(&s, l, IpEndpoint::new(*r.ip(), 40001), 5000, iss, t), None);
        assert_eq!(check(&s, l, r, 5000, iss ^ 0x100, t), None);
        assert_eq!(make(&s, l, r, 5000, 1400, t).1, 1300);
        assert_eq!(make(&s, l, r, 5000, 100, t).1, 536);
        let v = ts_encode(1_000_003, Some(7), true);
        assert!(v <= 1_000_003 && 1_000_003 - v < 128);
        assert_eq!(ts_decode(v), (Some(7), true));
        assert_eq!(ts_decode(ts_encode(99, None, false)), (None, false));
    }
}
