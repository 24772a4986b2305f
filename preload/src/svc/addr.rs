//! Addresses of the socket calls, AF_INET and AF_INET6 alike (dual-stack, issue 10).
//! The service keeps each socket's family and IPV6_V6ONLY and translates bind/connect
//! addresses and names itself (`tapstack::client::sockaddr`); the shim only copies the user's
//! bytes in and the encoded names out. UDP destinations and sources ride the data path, so the
//! shim translates those with the family it caches per descriptor (learnt from socket, accept,
//! Ident, and a successful IPV6_V6ONLY) in the descriptor table.
use std::net::SocketAddrV4;

use libc::{c_int, sockaddr, socklen_t};
use tapstack::client::sockaddr::{self as sa, Domain, Kind, Name, Op, SockInfo, Style, Target};
use tapstack::service::proto::{FAM_INET6, FAM_PING, FAM_V6ONLY};

pub(crate) fn set_family(fd: c_int, flags: i32) {
    super::set_family(fd, flags);
}

pub(crate) fn family(fd: c_int) -> i32 {
    super::family(fd)
}

fn info(fd: c_int, kind: Kind) -> SockInfo {
    let f = family(fd);
    let domain = if f & FAM_INET6 != 0 { Domain::Inet6 } else { Domain::Inet };
    SockInfo { domain, kind, v6only: f & FAM_V6ONLY != 0 }
}

/// The bytes of a user address (the kernel's copy-in step, `sockaddr::user_len`): None when
/// there is none, else the buffer and how many bytes of it were read.
///
/// # Safety
/// `addr` is NULL or points to `len` readable bytes (the program's promise to the kernel; a
/// bad pointer faults here instead of giving EFAULT).
unsafe fn read_user(
    op: Op,
    addr: *const sockaddr,
    len: socklen_t,
    sendmsg: bool,
) -> Result<Option<([u8; sa::SOCKADDR_STORAGE], usize)>, c_int> {
    let Some(n) = sa::user_len(op, addr.is_null(), len, sendmsg)? else { return Ok(None) };
    let mut buf = [0u8; sa::SOCKADDR_STORAGE];
    if n > 0 {
        // SAFETY: the caller's promise above; n <= SOCKADDR_STORAGE = buf.len().
        std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), n);
    }
    Ok(Some((buf, n)))
}

/// Copies an encoded name out (`move_addr_to_user`).
///
/// # Safety
/// `addr`/`len` are null or point to a buffer of `*len` writable bytes and a writable length.
unsafe fn write_raw(b: &[u8], addr: *mut sockaddr, len: *mut socklen_t) -> Result<(), c_int> {
    if addr.is_null() || len.is_null() {
        return Ok(());
    }
    let (copy, full) = sa::copy_out_len(b.len(), *len)?;
    // SAFETY: the caller's promise: *len >= copy writable bytes at addr.
    std::ptr::copy_nonoverlapping(b.as_ptr(), addr as *mut u8, copy);
    *len = full;
    Ok(())
}

/// The user's sockaddr bytes for bind/connect (the kernel's copy-in step: EFAULT, EINVAL).
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
pub(crate) unsafe fn user_bytes(op: Op, addr: *const sockaddr, len: socklen_t) -> Result<Vec<u8>, c_int> {
    Ok(read_user(op, addr, len, false)?.map_or_else(Vec::new, |(b, n)| b[..n].to_vec()))
}

/// A UDP destination from a (addr, len) pair of sendto/sendmsg of `total` bytes on `fd`;
/// None: no address.
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
pub(crate) unsafe fn udp_dest(
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
    sendmsg: bool,
    total: usize,
) -> Result<Option<SocketAddrV4>, c_int> {
    let u = read_user(Op::SendTo, addr, len, sendmsg)?;
    // udp_sendmsg and ping_common_sendmsg: `if (len > 0xFFFF) return -EMSGSIZE;` before
    // looking at the destination (65508..65535 bytes fail later, after the port check).
    if total > 0xFFFF {
        return Err(libc::EMSGSIZE);
    }
    let bytes = u.as_ref().map(|(b, n)| &b[..*n]);
    let si = info(fd, Kind::Dgram);
    let t = sa::parse(si, Op::SendTo, bytes, &tapstack::service::fdpass::ifindex_exists)?;
    if si.domain == Domain::Inet6 && super::kind(fd) == super::KIND_UDP_CONNECTED {
        // udpv6_sendmsg on a socket connected to an IPv4 peer (a v4-mapped source): `::1` is
        // EAFNOSUPPORT (ip6_dst_lookup_tail), AF_UNSPEC looks the peer up as IPv6 (ENETUNREACH).
        let v6_loopback = bytes.is_some_and(|b| b.len() >= 24 && b[8..23].iter().all(|&x| x == 0) && b[23] == 1);
        match t {
            Target::Unspec if bytes.is_some() => return Err(libc::ENETUNREACH),
            Target::Loopback6(_) if v6_loopback => return Err(libc::EAFNOSUPPORT),
            _ => {}
        }
    }
    let dst = match t {
        Target::Unspec => return Ok(None),
        t => t.engine().ok_or(libc::EINVAL)?,
    };
    // udp_sendmsg: `if (dport == 0) return -EINVAL;` (a ping or raw socket's port is ignored).
    if dst.port() == 0 && family(fd) & FAM_PING == 0 {
        return Err(libc::EINVAL);
    }
    Ok(Some(dst))
}

/// Writes the sender `a` of a datagram received on `fd` (recvfrom, recvmsg).
///
/// # Safety
/// `addr`/`len` are null or point to a buffer of `*len` writable bytes and a writable length.
pub(crate) unsafe fn write_peer(fd: c_int, a: SocketAddrV4, addr: *mut sockaddr, len: *mut socklen_t) {
    let e = sa::encode(info(fd, Kind::Dgram).domain, Name::V4(a), Style::default());
    let _ = write_raw(e.bytes(), addr, len);
}

/// Writes a name the service encoded (getsockname, getpeername, accept); EINVAL for a
/// negative length.
///
/// # Safety
/// As [`write_peer`].
pub(crate) unsafe fn write_name(b: &[u8], addr: *mut sockaddr, len: *mut socklen_t) -> Result<(), c_int> {
    write_raw(b, addr, len)
}
