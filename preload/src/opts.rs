//! getsockopt, setsockopt, fcntl, fcntl64, ioctl. Socket options of shared-stack sockets go to
//! the service (`tapstack::service::opts`), except SO_RCVTIMEO/SO_SNDTIMEO, which live on the
//! program's descriptor where the kernel's own waits honour them. fcntl is the kernel's (the
//! descriptor is real); only F_DUPFD* record the duplicate. ioctl answers the queue sizes and
//! errors Linux gives for sockets, and the interface addresses with the TAP's as tapstack's
//! (`ifreq.rs`).
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to
//! `svc::route`/`svc::hooks` or to libc under the same contract as the program's call.
use libc::{c_int, c_ulong, c_void, socklen_t};

use crate::{real, svc};

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    match svc::route::setsockopt(fd, level, name, val, len) {
        Some(r) => {
            crate::pmtu::after_setsockopt(fd, level, name, val, len, r);
            r
        }
        None => real::setsockopt(fd, level, name, val, len),
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    svc::route::getsockopt(fd, level, name, val, len).unwrap_or_else(|| real::getsockopt(fd, level, name, val, len))
}

/// fcntl's result for `fd`: a new descriptor from F_DUPFD* is a duplicate of a socket of ours.
fn after_fcntl(fd: c_int, cmd: c_int, r: c_int) -> c_int {
    if r >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
        svc::mirror(fd, r);
    }
    r
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    after_fcntl(fd, cmd, real::fcntl(fd, cmd, arg))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    after_fcntl(fd, cmd, real::fcntl64(fd, cmd, arg))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    let k = svc::kind(fd);
    if crate::ifreq::handles(req) {
        // The TAP's address is tapstack's (SIOCGIFADDR, SIOCGIFCONF...), on any socket.
        return crate::ifreq::ioctl(fd, k != 0, req, arg);
    }
    if k == 0 {
        return real::ioctl(fd, req, arg);
    }
    if req == libc::SIOCGARP {
        let _g = crate::ShimGuard::enter();
        return crate::arpreq::siocgarp(fd, arg);
    }
    if req == libc::FIONREAD && svc::is_udp(k) {
        return svc::hooks::udp_fionread(fd, arg);
    }
    if k == svc::KIND_TCP_LISTEN && matches!(req, libc::FIONREAD | libc::TIOCOUTQ | 0x894b) {
        return crate::fail(libc::EINVAL); // Linux: no queues on a listener (checked first)
    }
    if req == libc::FIONREAD && k == svc::KIND_TCP_NEW {
        // Never connected, or a listener shutdown() paused (its pair may still hold wake-up
        // tokens): nothing to read, as Linux's tcp_inq of a closed socket.
        if arg.is_null() {
            return crate::fail(libc::EFAULT);
        }
        *(arg as *mut c_int) = 0;
        return 0;
    }
    if req == 0x8905 /* SIOCATMARK */ && svc::is_udp(k) {
        return crate::fail(libc::ENOTTY); // Linux: no SIOCATMARK on UDP sockets
    }
    if req == libc::FIONREAD && k == svc::KIND_TCP && svc::rd_shut(fd) {
        // After SHUT_RD: what the pair holds and what arrived after its end of stream.
        let r = real::ioctl(fd, req, arg);
        if r == 0 && !arg.is_null() {
            let _g = crate::ShimGuard::enter();
            let late = svc::hooks::late_queued(fd);
            let v = arg as *mut c_int;
            *v = (*v as usize).saturating_add(late).min(c_int::MAX as usize) as c_int;
        }
        return r;
    }
    if matches!(req, 0x8906 | 0x8907 | 0x8010_8906 | 0x8010_8907) {
        return svc::udp::timestamp(fd, k, req, arg); // SIOCGSTAMP(NS), old and _NEW
    }
    const SIOCOUTQNSD: c_ulong = 0x894b;
    if req == SIOCOUTQNSD && !svc::is_udp(k) {
        // Bytes not yet sent: what still waits in the pair (SIOCOUTQ of the program's end).
        return real::ioctl(fd, libc::TIOCOUTQ, arg);
    }
    real::ioctl(fd, req, arg)
}
