//! NETLINK_ROUTE sockets stay the kernel's, but the address messages a program reads from one
//! show the TAP with tapstack's address, as [`crate::ifaddrs`] does for getifaddrs: a program
//! that enumerates interfaces over rtnetlink itself (dnsmasq, iproute2) otherwise sees the
//! kernel's side of the TAP, and dnsmasq then refused every DNS-over-TCP connection to
//! tapstack's address (`tapstack::client::rtnl` has the details and the message walk).
//!
//! socket() marks a new AF_NETLINK/NETLINK_ROUTE descriptor; recv, recvfrom and recvmsg on a
//! marked descriptor rewrite what they read. The mark is checked against the kernel
//! (SO_DOMAIN, SO_PROTOCOL) before any rewrite, so a descriptor number reused for something
//! else without our close (close_range, a raw system call) is never touched. Descriptors made
//! otherwise (inherited over exec, raw socket(2)) are not marked and read the kernel's view.
use libc::{c_int, c_void, msghdr, ssize_t};
use tapstack::client::fdtable::FdBits;

/// The NETLINK_ROUTE sockets this process made with socket().
static ROUTE: FdBits = FdBits::new();

/// socket() returned `fd` for (`domain`, `protocol`).
pub(crate) fn created(fd: c_int, domain: c_int, protocol: c_int) {
    if fd >= 0 && domain == libc::AF_NETLINK && protocol == libc::NETLINK_ROUTE {
        ROUTE.set(fd, true);
    }
}

/// `fd` was closed.
#[inline]
pub(crate) fn forget(fd: c_int) {
    if ROUTE.contains(fd) {
        ROUTE.set(fd, false);
    }
}

/// `new` became a duplicate of `old` (dup, dup2, dup3).
#[inline]
pub(crate) fn mirror(old: c_int, new: c_int) {
    if new >= 0 && old != new && (ROUTE.contains(old) || ROUTE.contains(new)) {
        ROUTE.set(new, ROUTE.contains(old));
    }
}

/// An integer socket option of `fd`, straight from the kernel (never the hooked getsockopt).
fn sockopt(fd: c_int, name: c_int) -> Option<c_int> {
    let mut v: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    let args = [
        fd as usize,
        libc::SOL_SOCKET as usize,
        name as usize,
        &mut v as *mut c_int as usize,
        &mut len as *mut _ as usize,
    ];
    // SAFETY: v and len are live locals of the sizes the kernel is told.
    let r = unsafe { tapstack::sys::syscall(libc::SYS_getsockopt, &args) };
    r.is_ok().then_some(v)
}

/// The TAP's interface index and tapstack's address and prefix length; None without a
/// configuration or when the TAP is not found.
fn target() -> Option<(u32, std::net::Ipv4Addr, u8)> {
    static T: once_cell::sync::OnceCell<Option<(u32, std::net::Ipv4Addr, u8)>> = once_cell::sync::OnceCell::new();
    *T.get_or_init(|| {
        let (tap, addr, prefix) = crate::ifaddrs::ours()?;
        let name = std::ffi::CString::new(tap.as_str()).ok()?;
        // SAFETY: name is NUL-terminated.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        (index != 0).then_some((index, *addr, *prefix))
    })
}

/// A marked descriptor that still is a NETLINK_ROUTE socket (else its mark is dropped).
fn is_route(fd: c_int) -> bool {
    if !ROUTE.contains(fd) {
        return false;
    }
    let yes = sockopt(fd, libc::SO_DOMAIN) == Some(libc::AF_NETLINK)
        && sockopt(fd, libc::SO_PROTOCOL) == Some(libc::NETLINK_ROUTE);
    if !yes {
        ROUTE.set(fd, false);
    }
    yes
}

/// After recv/recvfrom of `r` bytes into `buf` (`n` bytes long) on `fd`.
///
/// # Safety
/// `buf` is valid for `n` bytes (the program's buffer of the call that returned `r`).
#[inline]
pub(crate) unsafe fn after_recv(fd: c_int, buf: *mut c_void, n: usize, r: ssize_t) {
    if r <= 0 || buf.is_null() || !ROUTE.contains(fd) {
        return;
    }
    if let (true, Some((index, addr, prefix))) = (is_route(fd), target()) {
        let b = std::slice::from_raw_parts_mut(buf as *mut u8, n.min(r as usize));
        tapstack::client::rtnl::rewrite_addrs(b, index, addr, prefix);
    }
}

/// After recvmsg of `r` bytes into `msg`'s buffers on `fd`.
///
/// # Safety
/// `msg` is the program's msghdr of the call that returned `r`: its iovecs are valid.
#[inline]
pub(crate) unsafe fn after_recvmsg(fd: c_int, msg: *const msghdr, r: ssize_t) {
    if r <= 0 || msg.is_null() || !ROUTE.contains(fd) {
        return;
    }
    let Some((index, addr, prefix)) = target() else { return };
    if !is_route(fd) {
        return;
    }
    let m = &*msg;
    if m.msg_iov.is_null() || m.msg_iovlen == 0 {
        return;
    }
    let iov = std::slice::from_raw_parts(m.msg_iov, m.msg_iovlen);
    let mut left = r as usize; // with MSG_TRUNC r may exceed the buffers: only what they hold
    if iov[0].iov_len >= left || iov.len() == 1 {
        let b = std::slice::from_raw_parts_mut(iov[0].iov_base as *mut u8, iov[0].iov_len.min(left));
        tapstack::client::rtnl::rewrite_addrs(b, index, addr, prefix);
        return;
    }
    // Spread over several buffers: walk a gathered copy, then put it back.
    let mut all = Vec::with_capacity(left);
    for v in iov {
        let k = v.iov_len.min(left);
        all.extend_from_slice(std::slice::from_raw_parts(v.iov_base as *const u8, k));
        left -= k;
    }
    if tapstack::client::rtnl::rewrite_addrs(&mut all, index, addr, prefix) == 0 {
        return;
    }
    let mut off = 0;
    for v in iov {
        let k = v.iov_len.min(all.len() - off);
        std::ptr::copy_nonoverlapping(all[off..].as_ptr(), v.iov_base as *mut u8, k);
        off += k;
    }
}
