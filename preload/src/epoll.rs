//! epoll_ctl, epoll_wait, epoll_pwait. Shared-stack sockets are kernel descriptors, so the
//! kernel's epoll watches them with everything else; the hooks only let a wait on an epoll
//! instance that watches a TCP socket of ours poll before it sleeps, as `poll` does
//! (`svc::spin`), and report EPOLLERR for a UDP socket with a local error of the shim's queued
//! (`pmtu`: the kernel cannot see it; Linux's datagram_poll reports it while the error queue is
//! not empty) or EPOLLHUP for one shut down both ways (its socketpair, shut for reading only,
//! cannot say it): the UDP sockets of ours added to an instance are remembered with their data;
//! and a listener's write interest is not passed on (Linux's listener is never writable).
//! epoll_pwait with a signal mask, and epoll_pwait2, go straight to libc.
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to libc
//! under the same contract as the program's call.
use libc::{c_int, epoll_event, sigset_t};
use tapstack::client::fdtable::FdBits;

use crate::{real, svc};

/// The epoll instances a TCP socket of ours was added to (never cleared: a stale mark only
/// lets a wait poll that need not).
static WATCHES_OURS: FdBits = FdBits::new();

/// (epoll instance, UDP socket of ours, its registration's data and events): who to tell of a
/// local error or of a shutdown both ways. Bounded: past `UDP_WATCHES_MAX` entries new ones are
/// not remembered.
static UDP_WATCHES: parking_lot::Mutex<Vec<(c_int, c_int, u64, u32)>> = parking_lot::Mutex::new(Vec::new());
const UDP_WATCHES_MAX: usize = 4096;

/// A new socket of ours got number `fd`: the UDP registrations remembered for the file that
/// had it before (closed without EPOLL_CTL_DEL, which the kernel drops by itself) are stale.
pub(crate) fn forget(fd: c_int) {
    if fd >= 0 {
        let mut w = UDP_WATCHES.lock();
        if !w.is_empty() {
            w.retain(|e| e.1 != fd);
        }
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
    if !ev.is_null() && op != libc::EPOLL_CTL_DEL && svc::listener_out(fd) {
        // Linux's listener is never writable (its socketpair would be): the interest in it is
        // not passed on. (A socket that listens after it was added keeps its registration.)
        let out = (libc::EPOLLOUT | libc::EPOLLWRNORM | libc::EPOLLWRBAND) as u32;
        let mut e = epoll_event { events: { (*ev).events } & !out, u64: { (*ev).u64 } };
        return real::epoll_ctl(epfd, op, fd, &mut e);
    }
    let r = real::epoll_ctl(epfd, op, fd, ev);
    if r == 0 && op == libc::EPOLL_CTL_ADD && svc::kind(fd) == svc::KIND_TCP {
        WATCHES_OURS.set(epfd, true);
    }
    if r == 0 && svc::is_udp(svc::kind(fd)) {
        let mut w = UDP_WATCHES.lock();
        w.retain(|e| (e.0, e.1) != (epfd, fd));
        if op != libc::EPOLL_CTL_DEL && !ev.is_null() && w.len() < UDP_WATCHES_MAX {
            w.push((epfd, fd, { (*ev).u64 }, { (*ev).events }));
        }
    }
    r
}

/// Some UDP socket watched by `epfd` has a local error queued (EPOLLERR: Linux's datagram_poll
/// reports it while the error queue is not empty), or is shut down both ways (EPOLLHUP; its
/// socketpair, shut for reading only, cannot say it): the events ready now with those added to
/// their entries (or new ones where there is room; under EPOLLET or EPOLLONESHOT the hang-up
/// only joins what the kernel reported, as its edge came once). None: no such socket.
unsafe fn local_errors(epfd: c_int, ev: *mut epoll_event, max: c_int) -> Option<c_int> {
    let local = crate::pmtu::any_local();
    if !(local || svc::any_udp_shut()) || ev.is_null() || max <= 0 {
        return None;
    }
    let edge = (libc::EPOLLET | libc::EPOLLONESHOT) as u32;
    let extra: Vec<(u64, u32, bool)> = UDP_WATCHES
        .lock()
        .iter()
        .filter(|e| e.0 == epfd)
        .filter_map(|e| {
            let err = if local && crate::pmtu::local_pending(e.1) { libc::EPOLLERR as u32 } else { 0 };
            let hup = if svc::udp_shut_both(e.1) { libc::EPOLLHUP as u32 } else { 0 };
            (err | hup != 0).then_some((e.2, err | hup, err != 0 || e.3 & edge == 0))
        })
        .collect();
    if extra.is_empty() {
        return None;
    }
    let r = real::epoll_wait(epfd, ev, max, 0);
    if r < 0 {
        return Some(r);
    }
    let out = std::slice::from_raw_parts_mut(ev, max as usize);
    let mut n = r as usize;
    for (data, add, new_entry) in extra {
        // (epoll_event is packed on x86-64: its fields are read by value.)
        match out[..n].iter().position(|e| ({ e.u64 }) == data) {
            Some(i) => out[i].events = { out[i].events } | add,
            None if new_entry && n < out.len() => {
                out[n] = epoll_event { events: add, u64: data };
                n += 1;
            }
            None => {}
        }
    }
    Some(n as c_int)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    if let Some(r) = local_errors(epfd, ev, max) {
        return r;
    }
    if timeout != 0 && WATCHES_OURS.contains(epfd) {
        return svc::spin::wait(timeout, |t| real::epoll_wait(epfd, ev, max, t));
    }
    real::epoll_wait(epfd, ev, max, timeout)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
) -> c_int {
    if let Some(r) = local_errors(epfd, ev, max) {
        return r;
    }
    if mask.is_null() && timeout != 0 && WATCHES_OURS.contains(epfd) {
        return svc::spin::wait(timeout, |t| real::epoll_pwait(epfd, ev, max, t, mask));
    }
    real::epoll_pwait(epfd, ev, max, timeout, mask)
}
