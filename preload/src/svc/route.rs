//! The entry of every hook for service sockets: `None` means "not a service socket, go on"
//! (one atomic load for the program's other descriptors). Socket calls also identify a
//! descriptor inherited across exec (`probe`); data calls only look at the table.
//!
//! Safety (for every `unsafe fn` here): the arguments are the hooked call's own, passed on
//! unchanged to `hooks` or to libc with the same contract the program's call has.
use libc::{c_int, c_uint, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use super::hooks;
use super::{is_udp, kind, probe, KIND_TCP, KIND_TCP_NEW};
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
/// `dst`: the read's buffers (`cnt` of them; data that arrived after the program's
/// shutdown(SHUT_RD) lands there), null for none (MSG_TRUNC).
unsafe fn tcp_after_read(fd: c_int, r: ssize_t, dst: *const iovec, cnt: usize, flags: c_int) -> ssize_t {
    if r != 0 {
        return r;
    }
    let v = if dst.is_null() { &[][..] } else { std::slice::from_raw_parts(dst, cnt) };
    let asked = v.iter().map(|x| x.iov_len).fold(0usize, usize::saturating_add);
    if asked == 0 {
        return r;
    }
    let _g = ShimGuard::enter();
    hooks::after_read(fd, r, asked, v, flags)
}

/// A TCP send's result `r`, with EPIPE decided inside the guard (`hooks::broken_pipe`).
fn tcp_epipe(fd: c_int, flags: c_int, r: ssize_t) -> ssize_t {
    if r > 0 {
        super::spin::sent();
    }
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
    // __sys_accept4 checks the flags before the socket's accept (EOPNOTSUPP for UDP).
    let bad_flags = flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0;
    if bad_flags || is_udp(k) {
        crate::set_errno(if bad_flags { libc::EINVAL } else { libc::EOPNOTSUPP });
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
        KIND_TCP if flags & libc::MSG_TRUNC != 0 => {
            let r = tcp_trunc(fd, n, flags);
            tcp_name_len(r, addr, len)
        }
        KIND_TCP => {
            // read(): the read system call, as the program asked (a seccomp sandbox may allow
            // read but not recvfrom: OpenSSH's).
            let plain = flags == 0 && addr.is_null() && len.is_null();
            let r = super::spin::read(fd, flags, |extra| {
                if plain && extra == 0 {
                    real::read(fd, buf, n)
                } else {
                    real::recvfrom(fd, buf, n, flags | extra, std::ptr::null_mut(), std::ptr::null_mut())
                }
            });
            let r = tcp_name_len(r, addr, len);
            let iov = iovec { iov_base: buf, iov_len: n };
            tcp_after_read(fd, r, &iov, 1, flags)
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
            let r = super::spin::read(fd, 0, |extra| {
                if extra == 0 {
                    real::readv(fd, iov, cnt)
                } else {
                    real::recvmsg(fd, &mut m, extra)
                }
            });
            tcp_after_read(fd, r, iov, cnt.max(0) as usize, 0)
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
        KIND_TCP if flags & libc::MSG_TRUNC != 0 => {
            let asked = if msg.is_null() { 0 } else { iov_len((*msg).msg_iov, (*msg).msg_iovlen as c_int) };
            let r = tcp_trunc(fd, asked, flags);
            if r >= 0 && !msg.is_null() {
                (*msg).msg_namelen = 0;
                (*msg).msg_controllen = 0;
                (*msg).msg_flags = 0;
            }
            r
        }
        KIND_TCP => {
            let room = if msg.is_null() { 0 } else { (*msg).msg_controllen };
            let r = super::spin::read(fd, flags, |extra| real::recvmsg(fd, msg, flags | extra));
            if r >= 0 && !msg.is_null() {
                (*msg).msg_namelen = 0;
            }
            let (iov, cnt) =
                if msg.is_null() { (std::ptr::null(), 0) } else { ((*msg).msg_iov as *const iovec, (*msg).msg_iovlen) };
            let r = tcp_after_read(fd, r, iov, cnt, flags);
            super::inq::put(fd, msg, room, r);
            r
        }
        k if !is_udp(k) => hooks::listener_read(),
        _ => hooks::udp_recvmsg(fd, msg, flags),
    })
}

/// recv(MSG_TRUNC) on TCP: Linux consumes up to `n` bytes without copying them (with
/// MSG_PEEK it only counts them) and returns how many; the buffer may be NULL (HAProxy drains a
/// connection with `recv(fd, NULL, INT_MAX, MSG_TRUNC | MSG_DONTWAIT)`). An AF_UNIX stream
/// ignores MSG_TRUNC and copies, so the bytes go through a scratch buffer here: the first read
/// blocks as the program's flags say, the rest only take what is already there (all of it with
/// MSG_WAITALL), as Linux's tcp_recvmsg.
unsafe fn tcp_trunc(fd: c_int, n: size_t, flags: c_int) -> ssize_t {
    /// A peek sees what the pair holds; the service keeps it under 1 MiB (`PAIR_BUF`).
    const PEEK_MAX: usize = 2 << 20;
    const CHUNK: usize = 64 << 10;
    if n == 0 {
        return 0;
    }
    let mut f = flags & !libc::MSG_TRUNC;
    let peek = f & libc::MSG_PEEK != 0;
    let cap = n.min(if peek { PEEK_MAX } else { CHUNK });
    let mut buf = vec![0u8; cap];
    let saved = crate::errno();
    let mut done = 0usize;
    while done < n {
        let want = (n - done).min(cap);
        let r = real::recvfrom(fd, buf.as_mut_ptr().cast(), want, f, std::ptr::null_mut(), std::ptr::null_mut());
        if r < 0 {
            if done == 0 {
                return r;
            }
            crate::set_errno(saved);
            break;
        }
        if r == 0 {
            if done == 0 {
                let _g = ShimGuard::enter();
                return hooks::after_read(fd, 0, n, &[], flags);
            }
            break;
        }
        done += r as usize;
        if peek || (r as usize) < want {
            break;
        }
        if f & libc::MSG_WAITALL == 0 {
            f |= libc::MSG_DONTWAIT;
        }
    }
    done as ssize_t
}

/// recvmmsg on a UDP socket, as Linux's do_recvmmsg: every datagram after the first is waited
/// for too, unless MSG_WAITFORONE (or MSG_DONTWAIT, O_NONBLOCK) says not to; with a timeout,
/// no datagram is waited for once it has run out, and what is left of it is written back.
/// (Linux checks the timeout only after each datagram, so a blocking recvmmsg can outwait it;
/// here the wait for each later datagram is bounded by what is left of it.)
pub(crate) unsafe fn recvmmsg(
    fd: c_int,
    v: *mut libc::mmsghdr,
    n: c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> Option<c_int> {
    let (k, _g) = data_call(fd)?;
    if !is_udp(k) {
        return None;
    }
    const MSG_WAITFORONE: c_int = 0x10000;
    let end = if timeout.is_null() {
        None
    } else {
        let t = *timeout;
        if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
            crate::set_errno(libc::EINVAL);
            return Some(-1);
        }
        Some(now_ns().saturating_add((t.tv_sec as i128) * 1_000_000_000 + t.tv_nsec as i128))
    };
    let saved = crate::errno();
    let mut done = 0;
    for i in 0..n.min(1024) as usize {
        let e = &mut *v.add(i);
        let mut f = flags & !MSG_WAITFORONE;
        if done > 0 && flags & MSG_WAITFORONE != 0 {
            f |= libc::MSG_DONTWAIT;
        }
        if done > 0 && f & libc::MSG_DONTWAIT == 0 && !crate::real::nonblocking(fd) {
            if let Some(end) = end {
                // Wait for the next datagram only as long as the timeout has left.
                let left = (end - now_ns()).max(0);
                let ts = libc::timespec { tv_sec: (left / 1_000_000_000) as _, tv_nsec: (left % 1_000_000_000) as _ };
                let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                let r =
                    libc::syscall(libc::SYS_ppoll, &mut p as *mut libc::pollfd, 1, &ts as *const libc::timespec, 0, 8);
                if r <= 0 {
                    break;
                }
            }
        }
        let r = hooks::udp_recvmsg(fd, &mut e.msg_hdr, f);
        if r < 0 {
            if done == 0 {
                return Some(-1);
            }
            break;
        }
        e.msg_len = r as c_uint;
        done += 1;
        if end.is_some_and(|end| now_ns() >= end) {
            break;
        }
    }
    if let Some(end) = end {
        let left = (end - now_ns()).max(0);
        (*timeout).tv_sec = (left / 1_000_000_000) as _;
        (*timeout).tv_nsec = (left % 1_000_000_000) as _;
    }
    crate::set_errno(saved);
    Some(done)
}

/// CLOCK_MONOTONIC in nanoseconds (the raw system call: no hooked name).
fn now_ns() -> i128 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: one timespec on the stack.
    unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut t as *mut libc::timespec) };
    t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128
}

/// recvfrom's address length after a TCP read `r` (no name: 0), written only when the program
/// gave an address, as __sys_recvfrom; an address without a length is EFAULT (the data read).
///
/// # Safety
/// `len` is null or points to a writable length.
unsafe fn tcp_name_len(r: ssize_t, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t {
    if r >= 0 && !addr.is_null() {
        if len.is_null() {
            crate::set_errno(libc::EFAULT);
            return -1;
        }
        *len = 0;
    }
    r
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
    let (k, g) = data_call(fd)?;
    if !addr.is_null() && len as usize > std::mem::size_of::<libc::sockaddr_storage>() {
        // __sys_sendto's move_addr_to_kernel, before any protocol (TCP too).
        crate::set_errno(libc::EINVAL);
        return Some(-1);
    }
    if flags & libc::MSG_FASTOPEN != 0 && !is_udp(k) {
        drop(g);
        let plain = flags & !libc::MSG_FASTOPEN;
        return fastopen(fd, k, addr, len, flags, || send(fd, buf, n, plain, std::ptr::null(), 0));
    }
    if k != KIND_TCP && !is_udp(k) {
        return Some(hooks::unconnected_send(flags));
    }
    if k == KIND_TCP {
        // The kernel's own send on the pair, but EPIPE decided here (an address is ignored,
        // as Linux does for TCP).
        if flags == 0 && addr.is_null() && crate::sandbox::sandboxed() {
            return Some(real::write(fd, buf, n));
        }
        super::more::before_send(fd, flags);
        let r = real::send(fd, buf, n, flags | libc::MSG_NOSIGNAL);
        super::more::after_send(fd, flags, r);
        return Some(tcp_epipe(fd, flags, r));
    }
    let to = match super::addr::udp_dest(fd, addr, len, false, n) {
        Ok(t) => t,
        Err(e) => {
            if e == libc::EMSGSIZE {
                hooks::udp_autobind(fd); // as udp_sendmsg's own checks, after inet_send_prepare
            }
            crate::set_errno(e);
            return Some(-1);
        }
    };
    let iov = iovec { iov_base: buf as *mut c_void, iov_len: n };
    Some(hooks::udp_send(fd, &iov, 1, flags, to))
}

/// send/sendto/sendmsg(MSG_FASTOPEN) on a TCP socket of kind `k`, as Linux's
/// tcp_sendmsg_fastopen with net.ipv4.tcp_fastopen = 1: an unconnected socket connects to
/// `addr` (no cookie, so no data in the SYN), then `send` sends the data once the handshake is
/// done; non-blocking (O_NONBLOCK or MSG_DONTWAIT in `flags`) the call returns EINPROGRESS as
/// soon as the SYN is on its way. A connected socket or a listener gives EISCONN (the
/// service's answer to the connect, or at once without an address); one whose connect failed
/// connects again.
unsafe fn fastopen(
    fd: c_int,
    k: u8,
    addr: *const sockaddr,
    len: socklen_t,
    flags: c_int,
    send: impl FnOnce() -> Option<ssize_t>,
) -> Option<ssize_t> {
    if addr.is_null() && k != KIND_TCP_NEW {
        // __inet_stream_connect without an address: a connected socket or a listener is
        // EISCONN before anything looks for one (a fresh socket: tcp_v4_pre_connect's EINVAL).
        crate::set_errno(libc::EISCONN);
        return Some(-1);
    }
    let r = if flags & libc::MSG_DONTWAIT != 0 {
        let _g = sock_call(fd)?;
        hooks::connect_with(fd, addr, len, true)
    } else {
        connect(fd, addr, len)?
    };
    if r < 0 {
        return Some(-1);
    }
    send()
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
        super::more::after_send(fd, 0, r);
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
    if flags & libc::MSG_FASTOPEN != 0 && !is_udp(k) {
        drop(_g);
        let mut c = *m;
        c.msg_name = std::ptr::null_mut();
        c.msg_namelen = 0;
        let plain = flags & !libc::MSG_FASTOPEN;
        return fastopen(fd, k, m.msg_name as *const sockaddr, m.msg_namelen, flags, || sendmsg(fd, &c, plain));
    }
    if k != KIND_TCP && !is_udp(k) {
        return Some(hooks::unconnected_send(flags));
    }
    if k == KIND_TCP {
        let mut c = *m;
        c.msg_name = std::ptr::null_mut();
        c.msg_namelen = 0;
        super::more::before_send(fd, flags);
        let r = real::sendmsg(fd, &c, flags | libc::MSG_NOSIGNAL);
        super::more::after_send(fd, flags, r);
        return Some(tcp_epipe(fd, flags, r));
    }
    let total = (0..m.msg_iovlen).map(|i| (*m.msg_iov.add(i)).iov_len).fold(0usize, usize::saturating_add);
    let to = match super::addr::udp_dest(fd, m.msg_name as *const sockaddr, m.msg_namelen, true, total) {
        Ok(t) => t,
        Err(e) => {
            if e == libc::EMSGSIZE {
                hooks::udp_autobind(fd); // as udp_sendmsg's own checks, after inet_send_prepare
            }
            crate::set_errno(e);
            return Some(-1);
        }
    };
    Some(hooks::udp_sendmsg(fd, m, flags, to))
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
