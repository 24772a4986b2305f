//! The socket calls on service sockets. Each returns the C convention (-1 and errno on error)
//! and leaves errno as it found it on success. Data calls on TCP are the kernel's own (the
//! hooks only translate a 0 from read into the error the connection ended with); UDP calls
//! add or strip the datagram header (`udp.rs`).
//!
//! Safety (for every `unsafe fn` here): pointers are the program's own arguments, checked for
//! null where libc's callers rely on it, and otherwise handed unchanged to the kernel (which
//! answers EFAULT for bad ones); everything else points to locals that outlive the call.
use libc::{c_int, c_void, sockaddr, socklen_t};
use tapstack::service::proto::{self, Msg, Op};

use super::addr::{set_family, user_bytes, write_name};
pub(crate) use super::udp::{autobind as udp_autobind, udp_fionread, udp_recv, udp_recvmsg, udp_send, udp_sendmsg};
use super::{ask, set_kind, KIND_TCP, KIND_TCP_LISTEN, KIND_TCP_NEW, KIND_UDP, KIND_UDP_CONNECTED};
use crate::{errno, set_errno};

pub(crate) use super::ends::{after_read, broken_pipe, error_pending, late_queued, listener_read, unconnected_send};

/// Saves errno at entry; `ok` restores it, `err` sets the call's errno.
pub(super) struct Errno(c_int);
impl Errno {
    pub(super) fn save() -> Errno {
        Errno(errno())
    }
    pub(super) fn ok<T>(&self, v: T) -> T {
        set_errno(self.0);
        v
    }
}
pub(super) fn err<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

pub(super) fn is_nonblock(fd: c_int) -> bool {
    // SAFETY: raw fcntl(F_GETFL) on a descriptor the program passed.
    let fl = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) };
    fl >= 0 && (fl as c_int) & libc::O_NONBLOCK != 0
}

fn set_fd_flags(fd: c_int, flags: c_int) {
    // SAFETY: raw fcntl on a descriptor we just received.
    unsafe {
        if flags & libc::SOCK_CLOEXEC == 0 {
            libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, 0);
        }
        if flags & libc::SOCK_NONBLOCK != 0 {
            libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFL, libc::O_NONBLOCK | libc::O_RDWR);
        }
    }
}

/// socket(AF_INET or AF_INET6 = `domain`, SOCK_STREAM/SOCK_DGRAM | flags); `kind` KIND_PING
/// for an ICMP datagram socket. The pair is made here, the service told without a round trip
/// (`super::new_socket`).
pub(crate) fn socket(domain: c_int, kind: u8, flags: c_int) -> c_int {
    socket_of(domain, kind, flags, 0)
}

/// [`socket`] of a raw socket's `protocol` too (kind KIND_RAW).
pub(crate) fn socket_of(domain: c_int, kind: u8, flags: c_int, protocol: u16) -> c_int {
    let e = Errno::save();
    match super::new_socket(domain, kind, flags, protocol) {
        Ok(fd) => {
            if fd as usize >= tapstack::client::fdtable::MAX_FDS {
                crate::real::sys_close(fd);
                return err(libc::EMFILE);
            }
            if flags & libc::SOCK_CLOEXEC == 0 {
                // SAFETY: raw fcntl on the descriptor just made.
                unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, 0) };
            }
            set_kind(
                fd,
                if kind == KIND_TCP {
                    KIND_TCP_NEW
                } else if kind == proto::KIND_PING || kind == proto::KIND_RAW {
                    KIND_UDP
                } else {
                    kind
                },
            );
            // What the service's `Dual::for_family(domain)` reports (IPV6_V6ONLY off, as Linux's
            // default net.ipv6.bindv6only = 0).
            let ping = if matches!(kind, proto::KIND_PING | proto::KIND_RAW) { proto::FAM_PING } else { 0 };
            set_family(fd, proto::family_flags(&tapstack::client::dual::Dual::for_family(domain)) | ping);
            e.ok(fd)
        }
        Err(x) => err(x),
    }
}

/// The route check of a datagram of UDP socket `fd` to group `dst` (`Op::Route`): Err(errno)
/// when Linux's route lookup would fail it (ENETUNREACH), Ok if it may leave or the service
/// cannot say.
pub(crate) fn udp_route(fd: c_int, dst: std::net::Ipv4Addr) -> Result<(), c_int> {
    let mut m = Msg::new(Op::Route);
    m.ip = dst.octets();
    match call(&m, fd) {
        Err(Some(x)) if x > 0 => Err(x),
        _ => Ok(()),
    }
}

/// The common shape of a request about `fd`: Ok(reply) if the service answered 0.
pub(super) fn call(m: &Msg, fd: c_int) -> Result<Msg, Option<c_int>> {
    match ask(m, fd) {
        Ok((r, passed)) => {
            if let Some(f) = passed {
                crate::real::sys_close(f);
            }
            if r.a == 0 {
                Ok(r)
            } else {
                Err(Some(r.a))
            }
        }
        Err(None) => Err(None),
        Err(Some(e)) => Err(Some(e)),
    }
}

/// Maps `call` to the C convention; `None` (not ours) runs `fallback`.
fn finish(e: &Errno, r: Result<Msg, Option<c_int>>, fallback: impl FnOnce() -> c_int) -> c_int {
    match r {
        Ok(_) => e.ok(0),
        Err(Some(x)) => err(x),
        Err(None) => fallback(),
    }
}

pub(crate) unsafe fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let e = Errno::save();
    let mut m = Msg::new(Op::Bind);
    m.data = match user_bytes(tapstack::client::sockaddr::Op::Bind, addr, len) {
        Ok(b) => b,
        Err(x) => return err(x),
    };
    let r = call(&m, fd);
    if r.is_ok() && super::is_udp(super::kind(fd)) {
        let (local, bcast) = (super::local_addr(), super::subnet_broadcast());
        super::dgram::note_bound(fd, &m.data, |ip| {
            ip.is_unspecified()
                || ip.is_loopback()
                || ip.is_multicast()
                || ip.is_broadcast()
                || Some(ip) == local
                || Some(ip) == bcast
        });
    }
    finish(&e, r, || crate::real::bind(fd, addr, len))
}

pub(crate) unsafe fn listen(fd: c_int, backlog: c_int) -> c_int {
    let e = Errno::save();
    let mut m = Msg::new(Op::Listen);
    m.a = backlog;
    let r = call(&m, fd);
    if r.is_ok() {
        set_kind(fd, KIND_TCP_LISTEN);
    }
    finish(&e, r, || crate::real::listen(fd, backlog))
}

pub(crate) unsafe fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    let e = Errno::save();
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return err(libc::EINVAL);
    }
    if super::kind(fd) != KIND_TCP_LISTEN {
        return err(libc::EINVAL);
    }
    if !addr.is_null() && len.is_null() {
        return err(libc::EFAULT);
    }
    loop {
        // The token: one byte per connection ready, read natively (blocking per O_NONBLOCK
        // and SO_RCVTIMEO, interrupted by signals as the kernel's accept is).
        let mut tok = 0u8;
        let tokp = &mut tok as *mut u8 as usize;
        let n = crate::native_wait(true, || crate::raw_syscall(libc::SYS_recvfrom, &[fd as usize, tokp, 1, 0, 0, 0]));
        if n < 0 {
            return -1; // errno from the kernel (EAGAIN, EINTR...)
        }
        if n == 0 {
            // The service's end is closed: the service died (ENETDOWN), or the listener was
            // shut down (EINVAL, as Linux).
            return match call(&Msg::new(Op::Reason), fd) {
                Err(Some(libc::ENETDOWN)) => err(libc::ENETDOWN),
                _ => err(libc::EINVAL),
            };
        }
        match ask(&Msg::new(Op::Accept), fd) {
            Ok((r, Some(nfd))) if r.a == 0 => {
                if nfd as usize >= tapstack::client::fdtable::MAX_FDS {
                    crate::real::sys_close(nfd);
                    return err(libc::EMFILE);
                }
                set_fd_flags(nfd, flags);
                set_kind(nfd, KIND_TCP);
                set_family(nfd, r.b);
                super::inq::mirror(fd, nfd);
                let _ = write_name(&r.data, addr, len);
                return e.ok(nfd);
            }
            Ok((r, passed)) => {
                if let Some(f) = passed {
                    crate::real::sys_close(f);
                }
                if r.a == libc::EAGAIN && !is_nonblock(fd) {
                    continue; // a token without a connection (a racing process took it)
                }
                return err(if r.a > 0 { r.a } else { libc::EIO });
            }
            Err(None) => return err(libc::EBADF),
            Err(Some(x)) => return err(x),
        }
    }
}

/// SO_SNDTIMEO of the program's end (the connect timeout, as for Linux).
fn sndtimeo(fd: c_int) -> Option<std::time::Duration> {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut l = std::mem::size_of::<libc::timeval>() as socklen_t;
    // SAFETY: tv/l are writable and sized.
    let r = unsafe {
        libc::syscall(
            libc::SYS_getsockopt,
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            &mut tv as *mut libc::timeval,
            &mut l,
        )
    };
    (r == 0 && (tv.tv_sec > 0 || tv.tv_usec > 0))
        .then(|| std::time::Duration::from_secs(tv.tv_sec as u64) + std::time::Duration::from_micros(tv.tv_usec as u64))
}

pub(crate) unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    connect_with(fd, addr, len, false)
}

/// `connect`; `dontwait`: as on a non-blocking socket (the connect of a send with
/// MSG_DONTWAIT | MSG_FASTOPEN, which Linux's tcp_sendmsg_fastopen makes O_NONBLOCK).
pub(crate) unsafe fn connect_with(fd: c_int, addr: *const sockaddr, len: socklen_t, dontwait: bool) -> c_int {
    let e = Errno::save();
    let k = super::kind(fd);
    let mut m = Msg::new(Op::Connect);
    m.data = match user_bytes(tapstack::client::sockaddr::Op::Connect, addr, len) {
        Ok(b) => b,
        Err(x) => return err(x),
    };
    if k == KIND_UDP || k == KIND_UDP_CONNECTED {
        let r = call(&m, fd);
        if let Ok(rep) = &r {
            set_kind(fd, if rep.kind == 1 { KIND_UDP } else { KIND_UDP_CONNECTED });
        }
        return finish(&e, r, || crate::real::connect(fd, addr, len));
    }
    let blocking = !dontwait && !is_nonblock(fd);
    m.c = blocking as i32;
    let mut first = call(&m, fd);
    if first == Err(Some(proto::RENEW)) {
        // The last connect failed and spent the pair: a new one, then connect again.
        first = super::renew(fd).map_err(Some).and_then(|()| call(&m, fd));
        if matches!(first, Err(Some(x)) if ![libc::EINPROGRESS, libc::EALREADY, libc::EISCONN].contains(&x)) {
            // Refused at once (EINVAL, ENETUNREACH...): a socket on a fresh pair that never
            // connected, whose sends are EPIPE as Linux's, not data into the pair.
            set_kind(fd, KIND_TCP_NEW);
        }
    }
    if let Some(rep) = first.as_ref().ok().filter(|r| r.kind == 1) {
        if k == KIND_TCP_LISTEN {
            set_kind(fd, KIND_TCP_NEW); // AF_UNSPEC stopped the listener
        }
        if rep.b == 1 {
            // A connection reset (or a spent pair): Linux purges the receive queue, so what
            // the pair still holds is dropped; its end of stream stays (then ENOTCONN).
            let mut buf = [0u8; 4096];
            while tapstack::service::fdpass::recv(fd, &mut buf, 0).is_ok_and(|n| n > 0) {}
        }
        return e.ok(0);
    }
    if matches!(first, Ok(_) | Err(Some(libc::EINPROGRESS)) | Err(Some(libc::EALREADY)) | Err(Some(libc::EISCONN)))
        && k != KIND_TCP_LISTEN
    {
        set_kind(fd, KIND_TCP);
    }
    match first {
        Ok(_) => return e.ok(0),
        Err(None) => return crate::real::connect(fd, addr, len),
        // Blocking: wait for this attempt, or for the one a signal interrupted (EALREADY).
        Err(Some(libc::EINPROGRESS)) | Err(Some(libc::EALREADY)) if blocking => {}
        Err(Some(x)) => return reported(fd, x),
    }
    // Blocking: wait natively until the program's end turns writable (the service takes its
    // filler out when the handshake ends), bounded by SO_SNDTIMEO. Signals as Linux: with a
    // timeout set any handler interrupts (EINTR); otherwise a handler installed with SA_RESTART
    // runs and the wait goes on (those signals are blocked during the wait and watched through
    // a signalfd, so they are handled between two waits), any other handler gives EINTR.
    let timeout = sndtimeo(fd);
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let restart = if timeout.is_none() { super::signals::restart_signals() } else { 0 };
    // The program's own mask (the shim holds signals while it talks to the service).
    let cur = crate::program_mask();
    let watch = restart & !cur;
    let sfd = if watch != 0 { super::signals::signalfd_for(watch) } else { None };
    let wait_mask: u64 = cur | watch;
    loop {
        let mut p = [
            libc::pollfd { fd, events: libc::POLLOUT, revents: 0 },
            libc::pollfd { fd: sfd.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
        ];
        let ts = deadline.map(|d| {
            let r = d.saturating_duration_since(std::time::Instant::now());
            libc::timespec { tv_sec: r.as_secs() as libc::time_t, tv_nsec: r.subsec_nanos() as libc::c_long }
        });
        let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        let n = if sfd.is_some() { 2 } else { 1 };
        let (pp, mp) = (p.as_mut_ptr() as usize, &wait_mask as *const u64 as usize);
        // ppoll sets the wait's mask itself (atomically): signals arrive inside the wait only.
        let r = crate::native_wait(false, || crate::raw_syscall(libc::SYS_ppoll, &[pp, n, tsp as usize, mp, 8]));
        if r < 0 {
            if errno() == libc::EINTR {
                return err(libc::EINTR);
            }
            return -1;
        }
        if r == 0 {
            return err(libc::EINPROGRESS); // SO_SNDTIMEO expired, as Linux reports it
        }
        if p[0].revents == 0 {
            // Only an SA_RESTART signal: its handler ran as the mask came back; wait again.
            continue;
        }
        match call(&m, fd) {
            Ok(_) => return e.ok(0),
            Err(Some(libc::EALREADY)) | Err(Some(libc::EINPROGRESS)) => continue,
            Err(Some(x)) => return reported(fd, x),
            Err(None) => return err(libc::EBADF),
        }
    }
}

/// connect() reports error `x`. When it is the failure of the attempt (refused, timed out,
/// unreachable, reset), Linux's __inet_stream_connect disconnects the socket: CLOSE without
/// the shutdown flags tcp_done set, so poll says POLLHUP (and POLLOUT) alone, reads ENOTCONN
/// and sends EPIPE, as a socket never connected (the next connect renews the pair).
fn reported(fd: c_int, x: c_int) -> c_int {
    let failed = [
        libc::ECONNREFUSED,
        libc::ETIMEDOUT,
        libc::EHOSTUNREACH,
        libc::ENETUNREACH,
        libc::ECONNRESET,
        libc::EHOSTDOWN,
        libc::ENETDOWN,
        libc::ECONNABORTED,
    ];
    if failed.contains(&x) && super::kind(fd) == KIND_TCP {
        set_kind(fd, KIND_TCP_NEW);
    }
    err(x)
}

pub(crate) unsafe fn shutdown(fd: c_int, how: c_int) -> c_int {
    let e = Errno::save();
    let mut m = Msg::new(Op::Shutdown);
    m.a = how;
    let r = call(&m, fd);
    let k = super::kind(fd);
    if super::is_udp(k) && matches!(r, Ok(_) | Err(Some(libc::ENOTCONN))) {
        // inet_shutdown sets the flags of an unconnected socket too (the service did SHUT_RD's
        // to the pair; the mark says it for poll's POLLHUP, `udp_shut_both`).
        if how != libc::SHUT_RD {
            super::set_udp_wr_shut(fd);
        }
        if how != libc::SHUT_WR {
            super::set_udp_rd_shut(fd);
        }
    }
    match r {
        Ok(_) => {
            if k == KIND_TCP_LISTEN && how != libc::SHUT_WR {
                set_kind(fd, KIND_TCP_NEW); // stopped: CLOSE until listen() again
            }
            if k == KIND_TCP && how == libc::SHUT_RD {
                super::set_rd_shut(fd);
            }
            if k == KIND_TCP && (how == libc::SHUT_WR || how == libc::SHUT_RDWR) {
                // The FIN follows the data the program already wrote: shut the pair's write
                // side itself (the read side is the service's: it ends `a`'s writing).
                libc::syscall(libc::SYS_shutdown, fd, libc::SHUT_WR);
            }
            e.ok(0)
        }
        Err(Some(x)) => err(x),
        Err(None) => crate::real::shutdown(fd, how),
    }
}

pub(crate) unsafe fn getname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, peer: bool) -> c_int {
    let e = Errno::save();
    if addr.is_null() || len.is_null() {
        return err(libc::EFAULT);
    }
    let m = Msg::new(if peer { Op::PeerName } else { Op::SockName });
    match call(&m, fd) {
        Ok(r) => match write_name(&r.data, addr, len) {
            Ok(()) => e.ok(0),
            Err(x) => err(x),
        },
        Err(Some(x)) => err(x),
        Err(None) => {
            if peer {
                crate::real::getpeername(fd, addr, len)
            } else {
                crate::real::getsockname(fd, addr, len)
            }
        }
    }
}

/// SO_PEEK_OFF (linux/asm-generic/socket.h).
const SO_PEEK_OFF: c_int = 42;

/// Options the program's end of the pair answers itself: the timeouts, and on TCP the peek
/// offset (an AF_UNIX stream moves it on peeks and reads as Linux's TCP does, 6.10+).
fn native_opt(fd: c_int, level: c_int, name: c_int) -> bool {
    level == libc::SOL_SOCKET
        && (name == libc::SO_RCVTIMEO
            || name == libc::SO_SNDTIMEO
            || (name == SO_PEEK_OFF && !super::is_udp(super::kind(fd))))
}

pub(crate) unsafe fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    if native_opt(fd, level, name) {
        return crate::real::setsockopt(fd, level, name, val, len);
    }
    let e = Errno::save();
    // IPPROTO_IPV6 reads a NULL value as 0 (do_ipv6_setsockopt). Another protocol's level, and
    // IP_MTU (read only), are refused before the value is read.
    let foreign = foreign_level(fd, level);
    if val.is_null() && len > 0 && (foreign.is_some() || (level, name) == (libc::IPPROTO_IP, libc::IP_MTU)) {
        return err(libc::ENOPROTOOPT);
    }
    let tcp = !super::is_udp(super::kind(fd));
    if val.is_null() && len > 0 && tcp && (level, name) == (libc::IPPROTO_IP, libc::IP_MULTICAST_IF) {
        return err(libc::EINVAL); // not on a stream socket, before the value is read
    }
    if val.is_null() && len > 0 && level != libc::IPPROTO_IPV6 {
        return err(libc::EFAULT);
    }
    let mut m = Msg::new(Op::SetOpt);
    m.a = level;
    m.b = name;
    m.c = len as i32;
    let n = (len as usize).min(proto::MAX_DATA);
    if n > 0 && !val.is_null() {
        m.data = std::slice::from_raw_parts(val as *const u8, n).to_vec();
    }
    let r = call(&m, fd);
    if let (Ok(rep), libc::IPPROTO_IPV6) = (&r, level) {
        set_family(fd, rep.b); // IPV6_V6ONLY changes how UDP destinations read
    }
    if r.is_ok() && (level, name) == (libc::IPPROTO_UDP, libc::UDP_SEGMENT) && len >= 4 && !tcp {
        super::dgram::set_gso(fd, std::ptr::read_unaligned(val as *const c_int) as u16);
    }
    if r.is_ok() && (level, name) == (libc::IPPROTO_UDP, libc::UDP_CORK) && len >= 4 && !tcp {
        let on = std::ptr::read_unaligned(val as *const c_int) != 0;
        super::dgram::cork(fd, on);
    }
    if r.is_ok() && (level, name) == (libc::IPPROTO_TCP, libc::TCP_INQ) && len >= 4 && tcp {
        super::inq::set(fd, std::ptr::read_unaligned(val as *const c_int) != 0);
    }
    if r.is_ok() && level == libc::SOL_SOCKET && name == libc::SO_BROADCAST && len >= 4 {
        super::set_broadcast(fd, std::ptr::read_unaligned(val as *const c_int) != 0);
    }
    finish(&e, r, || crate::real::setsockopt(fd, level, name, val, len))
}

/// SIOCGARP: the service's ARP entry for `ip` ((MAC, ATF_* flags)) or the errno (ENXIO).
pub(crate) fn arp_entry(fd: c_int, ip: [u8; 4]) -> Result<([u8; 6], c_int), c_int> {
    let mut m = Msg::new(Op::Ioctl);
    m.b = libc::SIOCGARP as c_int;
    m.ip = ip;
    match call(&m, fd) {
        Ok(r) if r.data.len() >= 6 => Ok((r.data[..6].try_into().expect("6 bytes"), r.c)),
        Ok(_) => Err(libc::EIO),
        Err(e) => Err(e.unwrap_or(libc::EIO)),
    }
}

/// Some(AF_INET6?) if `level` belongs to another protocol than socket `fd`'s (IPPROTO_TCP on
/// UDP, IPPROTO_UDP on TCP, IPPROTO_IPV6 on AF_INET): Linux refuses it before it reads the
/// option's value or length.
fn foreign_level(fd: c_int, level: c_int) -> Option<bool> {
    let (k, v6) = (super::kind(fd), super::family(fd) & proto::FAM_INET6 != 0);
    let udp = super::is_udp(k);
    let foreign = match level {
        libc::IPPROTO_TCP => udp,
        libc::IPPROTO_UDP => !udp,
        libc::IPPROTO_IPV6 => !v6,
        _ => false,
    };
    foreign.then_some(v6)
}

pub(crate) unsafe fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int {
    if native_opt(fd, level, name) {
        return crate::real::getsockopt(fd, level, name, val, len);
    }
    let e = Errno::save();
    if let Some(v6) = foreign_level(fd, level) {
        // ip_getsockopt (EOPNOTSUPP) or ipv6_getsockopt (ENOPROTOOPT) answers before the
        // length is read.
        return err(if v6 { libc::ENOPROTOOPT } else { libc::EOPNOTSUPP });
    }
    if len.is_null() {
        return err(libc::EFAULT);
    }
    if (*len as i32) < 0 {
        return err(libc::EINVAL);
    }
    let mut m = Msg::new(Op::GetOpt);
    m.a = level;
    m.b = name;
    m.c = *len as i32;
    if level == libc::IPPROTO_IP && (name == libc::IP_MSFILTER || name == libc::MCAST_MSFILTER) && *len > 0 {
        // The value is read too (Linux's ip_mc_msfget / ip_mc_gsfget): it names the group and
        // the room for sources.
        if val.is_null() {
            return err(libc::EFAULT);
        }
        let n = (*len as usize).min(proto::MAX_DATA);
        m.data = std::slice::from_raw_parts(val as *const u8, n).to_vec();
    }
    match call(&m, fd) {
        Ok(mut r) => {
            // copy_to_user of what there is: nothing to copy (an unbound SO_BINDTODEVICE)
            // never looks at the buffer.
            if val.is_null() && *len > 0 && !r.data.is_empty() {
                return err(libc::EFAULT);
            }
            if (level, name) == (libc::SOL_SOCKET, libc::SO_ERROR) && r.data == [0; 4] && super::is_udp(super::kind(fd))
            {
                // A UDP socket's pending error is the error record at the head of its stream:
                // SO_ERROR reads and clears it, as Linux's sock_error.
                if let Some(x) = super::errq::take_error_record(fd) {
                    r.data = x.to_ne_bytes().to_vec();
                }
            }
            let n = (*len as usize).min(r.data.len());
            if n > 0 {
                std::ptr::copy_nonoverlapping(r.data.as_ptr(), val as *mut u8, n);
            }
            *len = n as socklen_t;
            e.ok(0)
        }
        Err(Some(x)) => err(x),
        Err(None) => crate::real::getsockopt(fd, level, name, val, len),
    }
}
