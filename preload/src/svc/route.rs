//! The entry of every hook for service sockets: `None` means "not a service socket, go on"
//! (one atomic load for the program's other descriptors). Socket calls also identify a
//! descriptor inherited across exec (`probe`); data calls only look at the table.
//!
//! Safety (for every `unsafe fn` here): the arguments are the hooked call's own, passed on
//! unchanged to `hooks` or to libc with the same contract the program's call has.
use libc::{c_int, c_uint, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use super::hooks;
use super::{is_udp, kind, probe, KIND_TCP};
use crate::{real, ShimGuard};

/// The kind of `fd` for a socket call (identifying an inherited descriptor), with the
/// reentrancy guard held; None if not ours or re-entered.
fn sock_call(fd: c_int) -> Option<(u8, ShimGuard)> {
    let k = if kind(fd) != 0 {
        kind(fd)
    } else {
        let g = ShimGuard::enter()?;
        let k = probe(fd);
        drop(g);
        k
    };
    if k == 0 {
        return None;
    }
    Some((k, ShimGuard::enter_masked()?))
}

/// The kind of `fd` for a data call (table only), with the reentrancy guard held, except for
/// a TCP socket: its reads and writes are the kernel's own on the pair and hold nothing, so
/// that a signal handler run during one (a blocking read can last) is served like any call.
/// Their slow paths take the guard themselves (`tcp_after_read`, `tcp_epipe`).
#[inline]
fn data_call(fd: c_int) -> Option<(u8, Option<ShimGuard>)> {
    let k = kind(fd);
    if k == 0 {
        return None;
    }
    if k == KIND_TCP {
        return crate::may_enter().then_some((k, None));
    }
    Some((k, Some(ShimGuard::enter()?)))
}

/// `hooks::after_read`, inside the guard when it has something to do (an end of stream).
fn tcp_after_read(fd: c_int, r: ssize_t, asked: usize) -> ssize_t {
    if r != 0 || asked == 0 {
        return r;
    }
    let _g = ShimGuard::enter();
    hooks::after_read(fd, r, asked)
}

/// A TCP send's result `r`, with EPIPE decided inside the guard (`hooks::broken_pipe`).
fn tcp_epipe(fd: c_int, flags: c_int, r: ssize_t) -> ssize_t {
    if r >= 0 || crate::errno() != libc::EPIPE {
        return r;
    }
    let _g = ShimGuard::enter();
    hooks::broken_pipe(fd, flags)
}

pub(crate) unsafe fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> Option<c_int> {
    let _g = sock_call(fd)?;
    Some(hooks::bind(fd, addr, len))
}
pub(crate) unsafe fn listen(fd: c_int, backlog: c_int) -> Option<c_int> {
    let (k, _g) = sock_call(fd)?;
    if is_udp(k) {
        crate::set_errno(libc::EOPNOTSUPP);
        return Some(-1);
    }
    Some(hooks::listen(fd, backlog))
}
pub(crate) unsafe fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> Option<c_int> {
    let (k, _g) = sock_call(fd)?;
    if is_udp(k) {
        crate::set_errno(libc::EOPNOTSUPP);
        return Some(-1);
    }
    Some(hooks::accept4(fd, addr, len, flags))
}
pub(crate) unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> Option<c_int> {
    let _g = sock_call(fd)?;
    Some(hooks::connect(fd, addr, len))
}
pub(crate) unsafe fn shutdown(fd: c_int, how: c_int) -> Option<c_int> {
    let _g = sock_call(fd)?;
    Some(hooks::shutdown(fd, how))
}
pub(crate) unsafe fn getname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, peer: bool) -> Option<c_int> {
    let _g = sock_call(fd)?;
    Some(hooks::getname(fd, addr, len, peer))
}
pub(crate) unsafe fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> Option<c_int> {
    let _g = sock_call(fd)?;
    Some(hooks::setsockopt(fd, level, name, val, len))
}
pub(crate) unsafe fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> Option<c_int> {
    let _g = sock_call(fd)?;
    Some(hooks::getsockopt(fd, level, name, val, len))
}

/// read/recv/recvfrom (and their _chk forms).
pub(crate) unsafe fn recv(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> Option<ssize_t> {
    let (k, _g) = data_call(fd)?;
    if flags & libc::MSG_ERRQUEUE != 0 {
        let _g = ShimGuard::enter();
        return Some(super::errq::recv_errqueue(fd, buf, n, flags));
    }
    Some(match k {
        KIND_TCP => {
            // read(): the read system call, as the program asked (a seccomp sandbox may allow
            // read but not recvfrom: OpenSSH's).
            let r = if flags == 0 && addr.is_null() && len.is_null() {
                real::read(fd, buf, n)
            } else {
                real::recvfrom(fd, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut())
            };
            if r >= 0 && !len.is_null() {
                *len = 0;
            }
            tcp_after_read(fd, r, n)
        }
        k if !is_udp(k) => hooks::listener_read(),
        _ => hooks::udp_recv(fd, buf, n, flags, addr, len),
    })
}

pub(crate) unsafe fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> Option<ssize_t> {
    let (k, _g) = data_call(fd)?;
    let mut m: msghdr = std::mem::zeroed();
    m.msg_iov = iov as *mut iovec;
    m.msg_iovlen = cnt.max(0) as usize;
    Some(match k {
        KIND_TCP => {
            let r = real::readv(fd, iov, cnt);
            tcp_after_read(fd, r, iov_len(iov, cnt))
        }
        k if !is_udp(k) => hooks::listener_read(),
        _ => hooks::udp_recvmsg(fd, &mut m, 0),
    })
}

unsafe fn iov_len(iov: *const iovec, cnt: c_int) -> usize {
    if iov.is_null() {
        return 0;
    }
    (0..cnt.max(0) as usize).map(|i| (*iov.add(i)).iov_len).sum()
}

pub(crate) unsafe fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> Option<ssize_t> {
    let (k, _g) = data_call(fd)?;
    if flags & libc::MSG_ERRQUEUE != 0 {
        let _g = ShimGuard::enter();
        return Some(super::errq::recvmsg_errqueue(fd, msg, flags));
    }
    Some(match k {
        KIND_TCP => {
            let r = real::recvmsg(fd, msg, flags);
            if r >= 0 && !msg.is_null() {
                (*msg).msg_namelen = 0;
            }
            let asked = if msg.is_null() { 0 } else { iov_len((*msg).msg_iov, (*msg).msg_iovlen as c_int) };
            tcp_after_read(fd, r, asked)
        }
        k if !is_udp(k) => hooks::listener_read(),
        _ => hooks::udp_recvmsg(fd, msg, flags),
    })
}

pub(crate) unsafe fn recvmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> Option<c_int> {
    let (k, _g) = data_call(fd)?;
    if !is_udp(k) {
        return None;
    }
    const MSG_WAITFORONE: c_int = 0x10000;
    let mut done = 0;
    for i in 0..n.min(1024) as usize {
        let e = &mut *v.add(i);
        let f = if done == 0 { flags & !MSG_WAITFORONE } else { (flags & !MSG_WAITFORONE) | libc::MSG_DONTWAIT };
        let saved = crate::errno();
        let r = hooks::udp_recvmsg(fd, &mut e.msg_hdr, f);
        if r < 0 {
            if done == 0 {
                return Some(-1);
            }
            crate::set_errno(saved);
            break;
        }
        e.msg_len = r as c_uint;
        done += 1;
    }
    Some(done)
}

/// write/send/sendto on a UDP socket (TCP: the kernel's own; an address is ignored, as Linux).
pub(crate) unsafe fn send(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> Option<ssize_t> {
    let (k, _g) = data_call(fd)?;
    if k != KIND_TCP && !is_udp(k) {
        return Some(hooks::unconnected_send(flags));
    }
    if k == KIND_TCP {
        // The kernel's own send on the pair, but EPIPE decided here (an address is ignored,
        // as Linux does for TCP).
        if flags == 0 && addr.is_null() && crate::sandbox::sandboxed() {
            return Some(real::write(fd, buf, n));
        }
        let r = real::send(fd, buf, n, flags | libc::MSG_NOSIGNAL);
        return Some(tcp_epipe(fd, flags, r));
    }
    let to = match super::addr::udp_dest(fd, addr, len, false) {
        Ok(t) => t,
        Err(e) => {
            crate::set_errno(e);
            return Some(-1);
        }
    };
    let iov = iovec { iov_base: buf as *mut c_void, iov_len: n };
    Some(hooks::udp_send(fd, &iov, 1, flags, to))
}

pub(crate) unsafe fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> Option<ssize_t> {
    let (k, _g) = data_call(fd)?;
    if k != KIND_TCP && !is_udp(k) {
        return Some(hooks::unconnected_send(0));
    }
    if k == KIND_TCP {
        let mut m: msghdr = std::mem::zeroed();
        m.msg_iov = iov as *mut iovec;
        m.msg_iovlen = cnt.max(0) as usize;
        if crate::sandbox::sandboxed() {
            return Some(real::writev(fd, iov, cnt));
        }
        let r = real::sendmsg(fd, &m, libc::MSG_NOSIGNAL);
        return Some(tcp_epipe(fd, 0, r));
    }
    Some(hooks::udp_send(fd, iov, cnt.max(0) as usize, 0, None))
}

pub(crate) unsafe fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> Option<ssize_t> {
    let (k, _g) = data_call(fd)?;
    if msg.is_null() {
        return None;
    }
    let m = &*msg;
    if k != KIND_TCP && !is_udp(k) {
        return Some(hooks::unconnected_send(flags));
    }
    if k == KIND_TCP {
        let mut c = *m;
        c.msg_name = std::ptr::null_mut();
        c.msg_namelen = 0;
        let r = real::sendmsg(fd, &c, flags | libc::MSG_NOSIGNAL);
        return Some(tcp_epipe(fd, flags, r));
    }
    let to = match super::addr::udp_dest(fd, m.msg_name as *const sockaddr, m.msg_namelen, true) {
        Ok(t) => t,
        Err(e) => {
            crate::set_errno(e);
            return Some(-1);
        }
    };
    Some(hooks::udp_send(fd, m.msg_iov, m.msg_iovlen, flags, to))
}

pub(crate) unsafe fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> Option<c_int> {
    let k = kind(fd);
    if k == 0 || !is_udp(k) {
        return None;
    }
    let mut done = 0;
    for i in 0..n.min(1024) as usize {
        let e = &mut *v.add(i);
        let saved = crate::errno();
        match sendmsg(fd, &e.msg_hdr, flags) {
            Some(r) if r >= 0 => {
                e.msg_len = r as c_uint;
                done += 1;
            }
            Some(_) if done == 0 => return Some(-1),
            _ => {
                crate::set_errno(saved);
                break;
            }
        }
    }
    Some(done)
}

/// After the kernel's poll: a UDP socket whose next record is an error (ICMP unreachable on a
/// connected socket) polls as POLLERR, as Linux reports a pending socket error, not POLLIN.
pub(crate) unsafe fn fix_poll(fds: *mut libc::pollfd, n: libc::nfds_t) {
    if fds.is_null() {
        return;
    }
    let saved = crate::errno();
    for p in std::slice::from_raw_parts_mut(fds, n as usize) {
        let k = kind(p.fd);
        if k == KIND_TCP && p.revents & libc::POLLHUP != 0 {
            // A connection that ended with an error polls POLLERR too, as Linux.
            if let Some(_g) = ShimGuard::enter() {
                if hooks::error_pending(p.fd) {
                    p.revents |= libc::POLLERR;
                }
                // Both directions shut: writing cannot block, so Linux reports POLLOUT too.
                p.revents |= p.events & (libc::POLLOUT | libc::POLLWRNORM);
            }
            continue;
        }
        if k == 0 || !is_udp(k) || p.revents & libc::POLLIN == 0 {
            continue;
        }
        // Held so that libc's syscall() (which the shim interposes) goes straight to the kernel.
        let Some(_g) = ShimGuard::enter() else { continue };
        let mut h = [0u8; tapstack::service::proto::UDP_HDR];
        let r = libc::syscall(
            libc::SYS_recvfrom,
            p.fd,
            h.as_mut_ptr(),
            h.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
            0usize,
            0usize,
        );
        if r as usize == h.len() && tapstack::service::proto::udp_hdr_error(&h).is_some() {
            p.revents = (p.revents & !(libc::POLLIN | libc::POLLRDNORM)) | libc::POLLERR;
        }
    }
    crate::set_errno(saved);
}
