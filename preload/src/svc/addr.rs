//! Addresses of the service mode's calls, AF_INET and AF_INET6 alike (dual-stack, issue 10).
//! The service keeps each socket's family and IPV6_V6ONLY and translates bind/connect
//! addresses and names itself (`tapstack::client::sockaddr`, the same code as the in-process
//! shim); the shim only copies the user's bytes in and the encoded names out. UDP destinations
//! and sources ride the data path, so the shim translates those with the family it caches per
//! descriptor (learnt from socket, accept, Ident, and a successful IPV6_V6ONLY).
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU8, Ordering};

use libc::{c_int, sockaddr, socklen_t};
use tapstack::client::sockaddr::{self as sa, Domain, Kind, Name, Op, SockInfo, Style, Target};
use tapstack::service::proto::{FAM_INET6, FAM_V6ONLY};

use crate::fdtable::MAX_FDS;

/// fd -> `proto::family_flags` of the socket.
static FAMILY: [AtomicU8; MAX_FDS] = [const { AtomicU8::new(0) }; MAX_FDS];

pub(crate) fn set_family(fd: c_int, flags: i32) {
    if fd >= 0 && (fd as usize) < MAX_FDS {
        FAMILY[fd as usize].store(flags as u8, Ordering::Relaxed);
    }
}

pub(crate) fn family(fd: c_int) -> i32 {
    if fd < 0 || fd as usize >= MAX_FDS {
        return 0;
    }
    FAMILY[fd as usize].load(Ordering::Relaxed) as i32
}

fn info(fd: c_int, kind: Kind) -> SockInfo {
    let f = family(fd);
    let domain = if f & FAM_INET6 != 0 { Domain::Inet6 } else { Domain::Inet };
    SockInfo { domain, kind, v6only: f & FAM_V6ONLY != 0 }
}

/// The user's sockaddr bytes for bind/connect (the kernel's copy-in step: EFAULT, EINVAL).
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
pub(crate) unsafe fn user_bytes(op: Op, addr: *const sockaddr, len: socklen_t) -> Result<Vec<u8>, c_int> {
    Ok(crate::dual::read_user(op, addr, len, false)?.map_or_else(Vec::new, |(b, n)| b[..n].to_vec()))
}

/// A UDP destination from a (addr, len) pair of sendto/sendmsg on `fd`; None: no address.
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
pub(crate) unsafe fn udp_dest(
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
    sendmsg: bool,
) -> Result<Option<SocketAddrV4>, c_int> {
    let u = crate::dual::read_user(Op::SendTo, addr, len, sendmsg)?;
    let bytes = u.as_ref().map(|(b, n)| &b[..*n]);
    let t = sa::parse(info(fd, Kind::Dgram), Op::SendTo, bytes, &tapstack::service::fdpass::ifindex_exists)?;
    Ok(match t {
        Target::Unspec => None,
        t => Some(t.engine().ok_or(libc::EINVAL)?),
    })
}

/// Writes the sender `a` of a datagram received on `fd` (recvfrom, recvmsg).
///
/// # Safety
/// `addr`/`len` are null or point to a buffer of `*len` writable bytes and a writable length.
pub(crate) unsafe fn write_peer(fd: c_int, a: SocketAddrV4, addr: *mut sockaddr, len: *mut socklen_t) {
    let e = sa::encode(info(fd, Kind::Dgram).domain, Name::V4(a), Style::default());
    let _ = crate::dual::write_raw(e.bytes(), addr, len);
}

/// Writes a name the service encoded (getsockname, getpeername, accept); EINVAL for a
/// negative length.
///
/// # Safety
/// As [`write_peer`].
pub(crate) unsafe fn write_name(b: &[u8], addr: *mut sockaddr, len: *mut socklen_t) -> Result<(), c_int> {
    crate::dual::write_raw(b, addr, len)
}
