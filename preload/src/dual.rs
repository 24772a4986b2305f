//! AF_INET6 sockets served by tapstack (dual-stack, issue 10): the per-socket state and the
//! glue between the hooks and the pure translation in `tapstack::client::sockaddr`.
//!
//! An AF_INET6 socket is the same engine socket as an AF_INET one; only the addresses differ
//! at the boundary: IPv4-mapped addresses in, `sockaddr_in6` with mapped addresses out, and
//! the IPPROTO_IPV6 options. A V6ONLY socket bound to `::` is bound "virtually" (no engine
//! port: only IPv6, which tapstack does not speak, could reach it), so it never collides with
//! an IPv4 socket on the same port, as on Linux.
use std::net::{Ipv6Addr, SocketAddrV4};

use libc::{c_int, c_void, sockaddr, socklen_t};
use tapstack::client::ipv6opt::int_arg;
use tapstack::client::sockaddr::{self as sa, Kind, Op, SockInfo, Target};
use tapstack::socket::Readiness;

pub use tapstack::client::dual::Dual;

use crate::fdtable::{Proto, Sock};
use crate::Ctx;

fn info(s: &Sock) -> SockInfo {
    s.dual.lock().info(if s.is_tcp() { Kind::Stream } else { Kind::Dgram })
}

/// The bytes of a user address (the kernel's copy-in step, `sockaddr::user_len`): None when
/// there is none, else the buffer and how many bytes of it were read.
///
/// # Safety
/// `addr` is NULL or points to `len` readable bytes (the program's promise to the kernel; a
/// bad pointer faults here instead of giving EFAULT).
pub(crate) unsafe fn read_user(
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

/// Reads and translates the address given to bind/connect/sendto(msg) on `s`.
///
/// # Safety
/// `addr` is NULL or points to `len` readable bytes (the program's promise to the kernel; a
/// bad pointer faults here instead of giving EFAULT).
pub(crate) unsafe fn target(
    s: &Sock,
    op: Op,
    addr: *const sockaddr,
    len: socklen_t,
    sendmsg: bool,
) -> Result<Target, c_int> {
    let u = read_user(op, addr, len, sendmsg)?;
    let bytes = u.as_ref().map(|(b, n)| &b[..*n]);
    sa::parse(info(s), op, bytes, &tapstack::service::fdpass::ifindex_exists)
}

/// Where `t` points for the IPv4 engine (marking the `::1` loopback on the socket).
pub(crate) fn engine_addr(s: &Sock, t: Target) -> Option<SocketAddrV4> {
    s.dual.lock().engine_addr(t)
}

/// A destination for sendto/sendmsg: None = no address given.
///
/// # Safety
/// As [`target`].
pub(crate) unsafe fn dest(
    s: &Sock,
    addr: *const sockaddr,
    len: socklen_t,
    sendmsg: bool,
) -> Result<Option<SocketAddrV4>, c_int> {
    let t = target(s, Op::SendTo, addr, len, sendmsg)?;
    Ok(engine_addr(s, t))
}

/// Writes the name `a` of socket `s` to a user (addr, len) pair with the kernel's truncation
/// rule (`move_addr_to_user`); EINVAL for a negative length. NULL pointers: nothing written.
///
/// # Safety
/// `addr` (if not NULL) points to `*len` writable bytes and `len` (if not NULL) to a socklen_t.
pub(crate) unsafe fn write_name(
    s: &Sock,
    a: SocketAddrV4,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> Result<(), c_int> {
    let e = s.dual.lock().name(a);
    write_raw(e.bytes(), addr, len)
}

/// Writes a peer's address (accept, recvfrom, getpeername): never the socket's virtual name.
///
/// # Safety
/// As [`write_name`].
pub(crate) unsafe fn write_peer(
    s: &Sock,
    a: SocketAddrV4,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> Result<(), c_int> {
    let e = s.dual.lock().peer(a);
    write_raw(e.bytes(), addr, len)
}

/// Copies an encoded name out (`move_addr_to_user`).
///
/// # Safety
/// As [`write_name`].
pub(crate) unsafe fn write_raw(b: &[u8], addr: *mut sockaddr, len: *mut socklen_t) -> Result<(), c_int> {
    if addr.is_null() || len.is_null() {
        return Ok(());
    }
    let (copy, full) = sa::copy_out_len(b.len(), *len)?;
    // SAFETY: the caller's promise: *len >= copy writable bytes at addr.
    std::ptr::copy_nonoverlapping(b.as_ptr(), addr as *mut u8, copy);
    *len = full;
    Ok(())
}

/// bind() of an IPv6-only address: recorded, no engine port. EINVAL if already bound.
pub(crate) fn bind_virtual(c: &Ctx, ip: Ipv6Addr, port: u16) -> Result<(), c_int> {
    let bound = {
        let g = c.rt.lock();
        match c.s.proto {
            Proto::Tcp(h) => g.tcp.local_addr(h),
            Proto::Udp(h) => g.udp.local_addr(h),
        }
        .is_some_and(|a| a.port() != 0)
    };
    c.s.dual.lock().bind_virtual(bound, ip, port, ephemeral())
}

fn ephemeral() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) + crate::real::sys_getpid() as u32;
    tapstack::client::dual::virtual_ephemeral(n)
}

/// True if `s` is virtually bound (no engine port); its listen is virtual too.
pub(crate) fn is_virtual(s: &Sock) -> bool {
    s.dual.lock().virt.is_some()
}

/// Readiness override: a virtual listener never has a connection to accept.
pub(crate) fn readiness_override(s: &Sock) -> Option<Readiness> {
    let d = s.dual.lock();
    (d.virt.is_some() && d.virt_listening).then(Readiness::default)
}

/// setsockopt(IPPROTO_IPV6, ...). ENOPROTOOPT on an AF_INET socket, as Linux.
///
/// # Safety
/// `val` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn set_ipv6_opt(c: &Ctx, name: c_int, val: *const c_void, len: socklen_t) -> Result<(), c_int> {
    let v = if val.is_null() || (len as usize) < 4 {
        None
    } else {
        // SAFETY: at least 4 readable bytes (caller).
        Some(std::ptr::read_unaligned(val as *const [u8; 4]))
    };
    let bound = {
        let g = c.rt.lock();
        match c.s.proto {
            Proto::Tcp(h) => g.tcp.local_addr(h),
            Proto::Udp(h) => g.udp.local_addr(h),
        }
        .is_some_and(|a| a.port() != 0)
    };
    let kind = if c.s.is_tcp() { Kind::Stream } else { Kind::Dgram };
    c.s.dual.lock().set_opt(kind, name, int_arg(v), len, bound)
}

/// getsockopt(IPPROTO_IPV6, ...) as an int; EOPNOTSUPP on an AF_INET socket, as Linux.
pub(crate) fn get_ipv6_opt(c: &Ctx, name: c_int) -> Result<c_int, c_int> {
    c.s.dual.lock().get_opt(name)
}

pub(crate) fn domain(s: &Sock) -> c_int {
    s.dual.lock().family()
}
