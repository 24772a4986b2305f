//! select, pselect. Shared-stack sockets are kernel descriptors, so the kernel answers for
//! every descriptor; what it cannot see is a local error of the shim's queued on a UDP socket
//! (`pmtu`: an EMSGSIZE send with IP_RECVERR), which Linux reports at once in the read and
//! write sets asked for (POLLERR belongs to both POLLIN_SET and POLLOUT_SET, fs/select.c), as
//! poll reports it (`poll::local_errors`), and a TCP socket of ours in the CLOSE state, ready in
//! both sets at once (`ready_now`); listeners of ours leave the write set, as Linux's listener
//! is never writable.
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to libc
//! under the same contract as the program's call; the sets are read and written for
//! descriptors below `nfds` (at most FD_SETSIZE), as libc does.
use libc::{c_int, fd_set, sigset_t, timespec, timeval};

use crate::real;

/// Descriptors of the read or write set that Linux reports in every set asked at once, which
/// the kernel cannot see: a UDP socket with a local error queued (POLLERR), a TCP socket of ours
/// in the CLOSE state (never connected, or a listener stopped: POLLHUP, which select counts in
/// both sets). With any, the answer is what is ready now (the kernel's, without waiting) plus
/// those. None: no such descriptor.
unsafe fn ready_now(nfds: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set) -> Option<c_int> {
    let local = crate::pmtu::any_local();
    if !local && !crate::svc::any_tcp_closed() {
        return None; // a process without TCP sockets of ours or local errors: straight to libc
    }
    let n = nfds.clamp(0, libc::FD_SETSIZE as c_int);
    let asked = |set: *mut fd_set, fd: c_int| !set.is_null() && libc::FD_ISSET(fd, set);
    let fds: Vec<c_int> = (0..n)
        .filter(|&fd| {
            (asked(r, fd) || asked(w, fd))
                && ((local && crate::pmtu::local_pending(fd)) || crate::svc::kind(fd) == crate::svc::KIND_TCP_NEW)
        })
        .collect();
    if fds.is_empty() {
        return None;
    }
    let (r0, w0) = (copy(r), copy(w));
    let mut now = timeval { tv_sec: 0, tv_usec: 0 };
    let got = real::select(nfds, r, w, e, &mut now);
    if got < 0 {
        return Some(got);
    }
    for fd in fds {
        if r0.as_ref().is_some_and(|s| libc::FD_ISSET(fd, s)) {
            libc::FD_SET(fd, r);
        }
        if w0.as_ref().is_some_and(|s| libc::FD_ISSET(fd, s)) {
            libc::FD_SET(fd, w);
        }
    }
    let count = |set: *mut fd_set| if set.is_null() { 0 } else { (0..n).filter(|&fd| libc::FD_ISSET(fd, set)).count() };
    Some((count(r) + count(w) + count(e)) as c_int)
}

/// Listeners of ours leave the write set before the wait: Linux's listener is never writable
/// (the kernel would report the socketpair so).
unsafe fn strip_listeners(nfds: c_int, w: *mut fd_set) {
    if w.is_null() || !crate::svc::any_listener() {
        return;
    }
    for fd in 0..nfds.clamp(0, libc::FD_SETSIZE as c_int) {
        if libc::FD_ISSET(fd, w) && crate::svc::listener_out(fd) {
            libc::FD_CLR(fd, w);
        }
    }
}

unsafe fn copy(set: *const fd_set) -> Option<fd_set> {
    (!set.is_null()).then(|| *set)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    tv: *mut timeval,
) -> c_int {
    strip_listeners(nfds, w);
    if let Some(x) = ready_now(nfds, r, w, e) {
        return x;
    }
    real::select(nfds, r, w, e, tv)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    strip_listeners(nfds, w);
    if let Some(x) = ready_now(nfds, r, w, e) {
        return x;
    }
    real::pselect(nfds, r, w, e, ts, mask)
}
