//! read, write, readv, writev, send, recv, sendto, recvfrom, sendmsg, recvmsg, sendmmsg,
//! recvmmsg and the fortified __read_chk, __recv_chk, __recvfrom_chk.
//!
//! A shared-stack socket is a kernel descriptor (one end of a socketpair), so TCP data moves
//! through the kernel's own calls: `svc::route` only maps the end of a stream to the error the
//! connection ended with and decides EPIPE; UDP calls add or strip the datagram header.
//! sendfile, splice and stdio work on the descriptor natively and need no hook. recv, recvfrom
//! and recvmsg of the kernel's NETLINK_ROUTE sockets go through `netlink` (the TAP's address).
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to
//! `svc::route` or to libc under the same contract as the program's call.
use libc::{c_int, c_uint, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use crate::{fail, netlink, pmtu, real, svc};

/// The bytes `cnt` iovecs at `iov` hold (0 for a null array or a negative count).
///
/// # Safety
/// `iov` is null or valid for `cnt` iovecs.
unsafe fn iov_len(iov: *const iovec, cnt: usize) -> usize {
    if iov.is_null() || cnt > libc::UIO_MAXIOV as usize {
        return 0;
    }
    std::slice::from_raw_parts(iov, cnt).iter().fold(0usize, |a, v| a.saturating_add(v.iov_len))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    svc::route::recv(fd, buf, n, 0, std::ptr::null_mut(), std::ptr::null_mut())
        .unwrap_or_else(|| real::read(fd, buf, n))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    if svc::kind(fd) != 0 && n > buflen {
        libc::abort();
    }
    svc::route::recv(fd, buf, n, 0, std::ptr::null_mut(), std::ptr::null_mut())
        .unwrap_or_else(|| real::__read_chk(fd, buf, n, buflen))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    svc::route::recv(fd, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()).unwrap_or_else(|| {
        let r = real::recv(fd, buf, n, flags);
        netlink::after_recv(fd, buf, n, r);
        r
    })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t {
    if svc::kind(fd) != 0 && n > buflen {
        libc::abort();
    }
    svc::route::recv(fd, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()).unwrap_or_else(|| {
        let r = real::__recv_chk(fd, buf, n, buflen, flags);
        netlink::after_recv(fd, buf, n, r);
        r
    })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    svc::route::recv(fd, buf, n, flags, addr, len).unwrap_or_else(|| {
        let r = real::recvfrom(fd, buf, n, flags, addr, len);
        netlink::after_recv(fd, buf, n, r);
        r
    })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if svc::kind(fd) != 0 && n > buflen {
        libc::abort();
    }
    svc::route::recv(fd, buf, n, flags, addr, len).unwrap_or_else(|| {
        let r = real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len);
        netlink::after_recv(fd, buf, n, r);
        r
    })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    if pmtu::too_big(fd, n, std::ptr::null(), 0) {
        return fail(libc::EMSGSIZE);
    }
    svc::route::send(fd, buf, n, 0, std::ptr::null(), 0).unwrap_or_else(|| real::write(fd, buf, n))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    if pmtu::too_big(fd, n, std::ptr::null(), 0) {
        return fail(libc::EMSGSIZE);
    }
    svc::route::send(fd, buf, n, flags, std::ptr::null(), 0).unwrap_or_else(|| real::send(fd, buf, n, flags))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    if pmtu::too_big(fd, n, addr, len) {
        return fail(libc::EMSGSIZE);
    }
    svc::route::send(fd, buf, n, flags, addr, len).unwrap_or_else(|| real::sendto(fd, buf, n, flags, addr, len))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    svc::route::readv(fd, iov, cnt).unwrap_or_else(|| real::readv(fd, iov, cnt))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    if pmtu::marked(fd) && pmtu::too_big(fd, iov_len(iov, cnt as usize), std::ptr::null(), 0) {
        return fail(libc::EMSGSIZE);
    }
    svc::route::writev(fd, iov, cnt).unwrap_or_else(|| real::writev(fd, iov, cnt))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if pmtu::marked(fd)
        && !msg.is_null()
        && pmtu::too_big(
            fd,
            iov_len((*msg).msg_iov, (*msg).msg_iovlen),
            (*msg).msg_name as *const sockaddr,
            (*msg).msg_namelen,
        )
    {
        return fail(libc::EMSGSIZE);
    }
    svc::route::sendmsg(fd, msg, flags).unwrap_or_else(|| real::sendmsg(fd, msg, flags))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if let Some(n) = pmtu::recv_local_error(fd, msg, flags) {
        return n;
    }
    svc::route::recvmsg(fd, msg, flags).unwrap_or_else(|| {
        let r = real::recvmsg(fd, msg, flags);
        netlink::after_recvmsg(fd, msg, r);
        r
    })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int {
    svc::route::sendmmsg(fd, v, n, flags).unwrap_or_else(|| real::sendmmsg(fd, v, n, flags))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    v: *mut libc::mmsghdr,
    n: c_uint,
    flags: c_int,
    ts: *mut libc::timespec,
) -> c_int {
    svc::route::recvmmsg(fd, v, n, flags, ts).unwrap_or_else(|| real::recvmmsg(fd, v, n, flags, ts))
}
