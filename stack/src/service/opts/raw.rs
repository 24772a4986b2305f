//! The options of raw sockets (`socket/udp_raw.rs`), as Linux's: IP_HDRINCL (ip(7)),
//! ICMP_FILTER at level SOL_RAW (raw(7)), and what SO_TYPE and SO_PROTOCOL say of them.
use crate::stack::Stack;
use crate::Error;

use super::super::engine::Proto;

/// Level SOL_RAW.
pub const SOL_RAW: i32 = 255;
/// ICMP_FILTER (linux/icmp.h).
pub const ICMP_FILTER: i32 = 1;

/// setsockopt of a raw option: None if `(level, name)` is none of them (the caller goes on).
/// `int`: the value read as an int (EINVAL if too short).
pub fn set(
    stack: &mut Stack,
    p: Proto,
    level: i32,
    name: i32,
    val: &[u8],
    int: Result<i32, i32>,
) -> Option<Result<(), i32>> {
    let Proto::Udp(h) = p else { return None };
    let raw = stack.udp.raw_protocol(h).is_some();
    Some(match (level, name) {
        (libc::IPPROTO_IP, libc::IP_HDRINCL) => {
            int.and_then(|v| stack.udp.set_hdrincl(h, v != 0).map_err(Error::errno))
        }
        (SOL_RAW, ICMP_FILTER) if raw => {
            // Linux raw_seticmpfilter: at most 4 bytes are taken, fewer overwrite the first.
            let mut mask = stack.udp.icmp_filter(h).unwrap_or(0).to_ne_bytes();
            let n = val.len().min(4);
            mask[..n].copy_from_slice(&val[..n]);
            stack.udp.set_icmp_filter(h, u32::from_ne_bytes(mask)).map_err(Error::errno)
        }
        (SOL_RAW, _) => Err(libc::ENOPROTOOPT),
        _ => return None,
    })
}

/// getsockopt of a raw option or of SO_TYPE/SO_PROTOCOL on a raw socket: None otherwise.
pub fn get(stack: &Stack, p: Proto, level: i32, name: i32) -> Option<Result<Vec<u8>, i32>> {
    let Proto::Udp(h) = p else { return None };
    let raw = stack.udp.raw_protocol(h);
    let int = |v: i32| Some(Ok(v.to_ne_bytes().to_vec()));
    match (level, name) {
        (libc::IPPROTO_IP, libc::IP_HDRINCL) => int(stack.udp.hdrincl(h) as i32),
        (SOL_RAW, ICMP_FILTER) if raw.is_some() => {
            Some(stack.udp.icmp_filter(h).map(|m| m.to_ne_bytes().to_vec()).map_err(Error::errno))
        }
        (SOL_RAW, _) => Some(Err(libc::ENOPROTOOPT)),
        (libc::SOL_SOCKET, libc::SO_TYPE) if raw.is_some() => int(libc::SOCK_RAW),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => raw.and_then(|r| int(i32::from(r))),
        _ => None,
    }
}
