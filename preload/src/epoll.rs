//! epoll_ctl, epoll_wait, epoll_pwait. Shared-stack sockets are kernel descriptors, so the
//! kernel's epoll watches them with everything else; the hooks only let a wait on an epoll
//! instance that watches a TCP socket of ours poll before it sleeps, as `poll` does
//! (`svc::spin`). epoll_pwait with a signal mask, and epoll_pwait2, go straight to libc.
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to libc
//! under the same contract as the program's call.
use libc::{c_int, epoll_event, sigset_t};
use tapstack::client::fdtable::FdBits;

use crate::{real, svc};

/// The epoll instances a TCP socket of ours was added to (never cleared: a stale mark only
/// lets a wait poll that need not).
static WATCHES_OURS: FdBits = FdBits::new();

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
    let r = real::epoll_ctl(epfd, op, fd, ev);
    if r == 0 && op == libc::EPOLL_CTL_ADD && svc::kind(fd) == svc::KIND_TCP {
        WATCHES_OURS.set(epfd, true);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    if timeout != 0 && WATCHES_OURS.contains(epfd) {
        return svc::spin::wait(timeout, |t| real::epoll_wait(epfd, ev, max, t));
    }
    real::epoll_wait(epfd, ev, max, timeout)
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
) -> c_int {
    if mask.is_null() && timeout != 0 && WATCHES_OURS.contains(epfd) {
        return svc::spin::wait(timeout, |t| real::epoll_pwait(epfd, ev, max, t, mask));
    }
    real::epoll_pwait(epfd, ev, max, timeout, mask)
}
