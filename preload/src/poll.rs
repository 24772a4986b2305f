//! poll, ppoll, __poll_chk, __ppoll_chk. Shared-stack sockets are kernel descriptors, so the
//! kernel polls them with everything else (select, pselect and epoll need no hook); after the
//! kernel's answer `svc::route::fix_poll` adds what Linux reports that the socketpair cannot
//! (POLLERR for a connection that ended with an error, or a UDP socket whose next record is one,
//! or one with a local error of the shim's queued: `local_errors`), and listeners of ours are
//! asked for no write readiness (`strip_listeners`: Linux's listener is never writable).
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to libc
//! under the same contract as the program's call; `fix_poll` then reads the same `nfds`
//! entries libc just wrote.
use libc::{c_int, nfds_t, pollfd, sigset_t, size_t, timespec};

use crate::{real, svc};

/// POLLOUT and its kin.
const OUT: i16 = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;

/// Takes the write events out of the entries of listeners of ours (the kernel would report the
/// socketpair writable; Linux's listener never is): the entries changed, with their events, to
/// put back after the wait (`restore`).
unsafe fn strip_listeners(fds: *mut pollfd, nfds: nfds_t) -> Vec<(usize, i16)> {
    if fds.is_null() || !svc::any_listener() {
        return Vec::new();
    }
    let all = std::slice::from_raw_parts_mut(fds, nfds as usize);
    let mut saved = Vec::new();
    for (i, p) in all.iter_mut().enumerate() {
        if p.events & OUT != 0 && svc::listener_out(p.fd) {
            saved.push((i, p.events));
            p.events &= !OUT;
        }
    }
    saved
}

unsafe fn restore(fds: *mut pollfd, saved: Vec<(usize, i16)>) {
    for (i, ev) in saved {
        (*fds.add(i)).events = ev;
    }
}

/// The kernel's answer `r` with the shared stack's corrections.
unsafe fn fixed(fds: *mut pollfd, nfds: nfds_t, r: c_int) -> c_int {
    if r > 0 {
        svc::route::fix_poll(fds, nfds);
    }
    r
}

/// Some entry has a local error queued (`pmtu`, an EMSGSIZE send with IP_RECVERR), which the
/// kernel cannot see: Linux reports POLLERR for it at once (datagram_poll: the error queue is
/// not empty), so the answer is what is ready now, that POLLERR included. None: no such entry.
unsafe fn local_errors(fds: *mut pollfd, nfds: nfds_t) -> Option<c_int> {
    if fds.is_null() || !crate::pmtu::any_local() {
        return None;
    }
    let all = std::slice::from_raw_parts(fds, nfds as usize);
    if !all.iter().any(|p| crate::pmtu::local_pending(p.fd)) {
        return None;
    }
    let r = real::poll(fds, nfds, 0);
    if r < 0 {
        return Some(r);
    }
    fixed(fds, nfds, r);
    let all = std::slice::from_raw_parts_mut(fds, nfds as usize);
    for p in all.iter_mut() {
        if crate::pmtu::local_pending(p.fd) {
            p.revents |= libc::POLLERR;
        }
    }
    Some(all.iter().filter(|p| p.revents != 0).count() as c_int)
}

/// A TCP socket of ours is among the entries: a wait for it may poll first (`svc::spin`).
unsafe fn ours(fds: *const pollfd, nfds: nfds_t) -> bool {
    !fds.is_null() && (0..nfds as usize).any(|i| svc::kind((*fds.add(i)).fd) == svc::KIND_TCP)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if let Some(r) = local_errors(fds, nfds) {
        return r;
    }
    let saved = strip_listeners(fds, nfds);
    let r = if timeout != 0 && ours(fds, nfds) {
        svc::spin::wait(timeout, |t| real::poll(fds, nfds, t))
    } else {
        real::poll(fds, nfds, timeout)
    };
    restore(fds, saved);
    fixed(fds, nfds, r)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __poll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: c_int, fdslen: size_t) -> c_int {
    if let Some(r) = local_errors(fds, nfds) {
        return r;
    }
    let saved = strip_listeners(fds, nfds);
    let r = if timeout != 0 && ours(fds, nfds) {
        svc::spin::wait(timeout, |t| real::__poll_chk(fds, nfds, t, fdslen))
    } else {
        real::__poll_chk(fds, nfds, timeout, fdslen)
    };
    restore(fds, saved);
    fixed(fds, nfds, r)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn ppoll(fds: *mut pollfd, nfds: nfds_t, ts: *const timespec, mask: *const sigset_t) -> c_int {
    if let Some(r) = local_errors(fds, nfds) {
        return r;
    }
    let saved = strip_listeners(fds, nfds);
    let r = real::ppoll(fds, nfds, ts, mask);
    restore(fds, saved);
    fixed(fds, nfds, r)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    ts: *const timespec,
    mask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    if let Some(r) = local_errors(fds, nfds) {
        return r;
    }
    let saved = strip_listeners(fds, nfds);
    let r = real::__ppoll_chk(fds, nfds, ts, mask, fdslen);
    restore(fds, saved);
    fixed(fds, nfds, r)
}
