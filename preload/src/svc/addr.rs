//! AF_INET addresses of the socket calls (the service speaks IPv4; AF_INET6 sockets are
//! not served yet, see docs/runtime.md).
use std::net::{Ipv4Addr, SocketAddrV4};

use libc::{c_int, sockaddr, sockaddr_in, socklen_t};

const SIN_LEN: socklen_t = std::mem::size_of::<sockaddr_in>() as socklen_t;

/// Reads an AF_INET address given to bind/connect/sendto (EFAULT, EINVAL, EAFNOSUPPORT as Linux).
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
pub(crate) unsafe fn read_addr(addr: *const sockaddr, len: socklen_t) -> Result<SocketAddrV4, c_int> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    if len < std::mem::size_of::<libc::sa_family_t>() as socklen_t {
        return Err(libc::EINVAL);
    }
    // SAFETY: at least the family is readable (checked above).
    let family = (*addr).sa_family as c_int;
    if family != libc::AF_INET {
        return Err(libc::EAFNOSUPPORT);
    }
    if len < SIN_LEN {
        return Err(libc::EINVAL);
    }
    // SAFETY: `len` >= sizeof(sockaddr_in) readable bytes; unaligned read of plain data.
    let sin = std::ptr::read_unaligned(addr as *const sockaddr_in);
    Ok(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), u16::from_be(sin.sin_port)))
}

/// Writes `a` to a user (addr, len) pair, truncating like the kernel and reporting the full size.
///
/// # Safety
/// `addr`/`len` are null or point to a buffer of `*len` writable bytes and a writable length.
pub(crate) unsafe fn write_addr(a: SocketAddrV4, addr: *mut sockaddr, len: *mut socklen_t) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let sin = sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    };
    let n = (*len).min(SIN_LEN) as usize;
    // SAFETY: the caller's buffer holds *len >= n bytes; sin is n bytes or more.
    std::ptr::copy_nonoverlapping(&sin as *const sockaddr_in as *const u8, addr as *mut u8, n);
    *len = SIN_LEN;
}
