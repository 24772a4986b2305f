//! poll, ppoll, __poll_chk, __ppoll_chk. Shared-stack sockets are kernel descriptors, so the
//! kernel polls them with everything else (select, pselect and epoll need no hook); after the
//! kernel's answer `svc::route::fix_poll` adds what Linux reports that the socketpair cannot
//! (POLLERR for a connection that ended with an error, or a UDP socket whose next record is one,
//! or one with a local error of the shim's queued: `local_errors`); listeners of ours are asked
//! for no write readiness (Linux's listener is never writable), and a TCP socket of ours in the
//! CLOSE state is answered POLLHUP (and POLLOUT if asked) at once, as Linux's (`prepare`,
//! `finish`).
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to libc
//! under the same contract as the program's call; `fix_poll` then reads the same `nfds`
//! entries libc just wrote.
use libc::{c_int, nfds_t, pollfd, sigset_t, size_t, timespec};

use crate::{real, svc};

/// POLLOUT and its kin.
const OUT: i16 = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;

/// What a wait changes around the kernel's poll for sockets of ours.
#[derive(Default)]
struct Pre {
    /// Entries of listeners whose write events were taken out (Linux's listener is never
    /// writable; the socketpair would be), with their events to put back.
    saved: Vec<(usize, i16)>,
    /// Some entry is a TCP socket of ours in the CLOSE state (never connected, or a listener
    /// stopped): Linux reports POLLHUP for it at once, so the wait does not sleep.
    closed: bool,
    /// A TCP socket of ours is among the entries: a wait for it may poll first (`svc::spin`).
    tcp: bool,
    /// A UDP socket of ours shut down both ways is among them: POLLHUP at once (datagram_poll).
    hup: bool,
}

/// One pass over the entries before the wait.
unsafe fn prepare(fds: *mut pollfd, nfds: nfds_t) -> Pre {
    let mut pre = Pre::default();
    if fds.is_null() || nfds == 0 {
        return pre;
    }
    let listeners = svc::any_listener();
    for (i, p) in std::slice::from_raw_parts_mut(fds, nfds as usize).iter_mut().enumerate() {
        match svc::kind(p.fd) {
            _ if svc::udp_shut_both(p.fd) => pre.hup = true,
            svc::KIND_TCP => pre.tcp = true,
            svc::KIND_TCP_NEW => pre.closed = true,
            svc::KIND_TCP_LISTEN if listeners && p.events & OUT != 0 => {
                pre.saved.push((i, p.events));
                p.events &= !OUT;
            }
            _ => {}
        }
    }
    pre
}

/// The timeout of the wait: none when an entry is ready in any case.
fn timeout_for(pre: &Pre, timeout: c_int) -> c_int {
    if pre.closed || pre.hup {
        0
    } else {
        timeout
    }
}

/// After the wait (its result `r`): the events put back, the kernel's answer corrected
/// (`fixed`), and CLOSE-state TCP sockets answered as Linux's tcp_poll does: POLLHUP, and
/// POLLOUT (POLLWRNORM) if asked.
unsafe fn finish(fds: *mut pollfd, nfds: nfds_t, r: c_int, pre: Pre) -> c_int {
    for (i, ev) in pre.saved {
        (*fds.add(i)).events = ev;
    }
    let r = fixed(fds, nfds, r);
    if r < 0 || !(pre.closed || pre.hup) {
        return r;
    }
    let all = std::slice::from_raw_parts_mut(fds, nfds as usize);
    for p in all.iter_mut() {
        if svc::kind(p.fd) == svc::KIND_TCP_NEW {
            p.revents = libc::POLLHUP | (p.events & (libc::POLLOUT | libc::POLLWRNORM));
        } else if pre.hup && svc::udp_shut_both(p.fd) {
            p.revents |= libc::POLLHUP;
        }
    }
    all.iter().filter(|p| p.revents != 0).count() as c_int
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

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if let Some(r) = local_errors(fds, nfds) {
        return r;
    }
    let pre = prepare(fds, nfds);
    let timeout = timeout_for(&pre, timeout);
    let r = if timeout != 0 && pre.tcp {
        svc::spin::wait(timeout, |t| real::poll(fds, nfds, t))
    } else {
        real::poll(fds, nfds, timeout)
    };
    finish(fds, nfds, r, pre)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __poll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: c_int, fdslen: size_t) -> c_int {
    if let Some(r) = local_errors(fds, nfds) {
        return r;
    }
    let pre = prepare(fds, nfds);
    let timeout = timeout_for(&pre, timeout);
    let r = if timeout != 0 && pre.tcp {
        svc::spin::wait(timeout, |t| real::__poll_chk(fds, nfds, t, fdslen))
    } else {
        real::__poll_chk(fds, nfds, timeout, fdslen)
    };
    finish(fds, nfds, r, pre)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn ppoll(fds: *mut pollfd, nfds: nfds_t, ts: *const timespec, mask: *const sigset_t) -> c_int {
    if let Some(r) = local_errors(fds, nfds) {
        return r;
    }
    let pre = prepare(fds, nfds);
    let zero = timespec { tv_sec: 0, tv_nsec: 0 };
    let ts = if pre.closed || pre.hup { &zero as *const timespec } else { ts };
    let r = real::ppoll(fds, nfds, ts, mask);
    finish(fds, nfds, r, pre)
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
    let pre = prepare(fds, nfds);
    let zero = timespec { tv_sec: 0, tv_nsec: 0 };
    let ts = if pre.closed || pre.hup { &zero as *const timespec } else { ts };
    let r = real::__ppoll_chk(fds, nfds, ts, mask, fdslen);
    finish(fds, nfds, r, pre)
}
