//! Busy polling of a blocking TCP read, as Linux's `SO_BUSY_POLL` / `net.core.busy_read` does
//! for a socket whose answer is about to come: while the thread's reads find their data soon
//! after they start waiting (a request/reply exchange), a read that finds nothing polls the
//! pair for up to the budget (`TAPSTACK_BUSY_POLL_US`, default 50 us, 0 = off), yielding the
//! CPU between polls, before it sleeps. A sleeping reader costs every reply a wake-up; on a VM
//! without halt-polling, the exit of a halted vCPU (tens of microseconds, bench/PERF.md). A
//! read that had to sleep longer than [`REARM`] budgets turns polling off for the thread until
//! a read finds its data quickly again, so a slow or idle connection costs no polling.
//!
//! Signals keep their meaning: they are held while the read polls, and if one came that would
//! have interrupted the sleeping read (a handler without SA_RESTART), the read fails with EINTR
//! after the handler has run, as the kernel's would.
use std::cell::Cell;
use std::time::{Duration, Instant};

use libc::{c_int, ssize_t};
use once_cell::sync::Lazy;

/// A sleep up to this many budgets long still counts as "the data came soon".
const REARM: u32 = 4;

static BUDGET: Lazy<Duration> = Lazy::new(|| {
    let us = std::env::var("TAPSTACK_BUSY_POLL_US").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(50);
    Duration::from_micros(us.min(1_000_000))
});

thread_local! {
    /// This thread's reads lately found their data within `REARM` budgets.
    static HOT: Cell<bool> = const { Cell::new(false) };
}

/// A blocking-capable read of a TCP socket `fd`: `call(extra)` is the program's read with
/// `extra` (0 or MSG_DONTWAIT) added to its flags. `flags` are the program's own.
pub(crate) fn read(fd: c_int, flags: c_int, mut call: impl FnMut(c_int) -> ssize_t) -> ssize_t {
    let budget = *BUDGET;
    if budget.is_zero() || flags & (libc::MSG_DONTWAIT | libc::MSG_WAITALL) != 0 || crate::sandbox::sandboxed() {
        return call(0);
    }
    if !HOT.with(|h| h.get()) {
        return timed(budget, call);
    }
    let saved = crate::errno();
    let r = call(libc::MSG_DONTWAIT);
    if r >= 0 || crate::errno() != libc::EAGAIN || super::route::nonblocking(fd) {
        if r >= 0 {
            crate::set_errno(saved);
        }
        return r;
    }
    let held = crate::SignalsHeld::hold();
    let Some(program_mask) = held.0 else {
        drop(held);
        crate::set_errno(saved);
        return timed(budget, call);
    };
    let start = Instant::now();
    let pending = loop {
        tapstack::sys::sched_yield();
        let r = call(libc::MSG_DONTWAIT);
        if r >= 0 || crate::errno() != libc::EAGAIN {
            let e = crate::errno();
            drop(held);
            crate::set_errno(if r >= 0 { saved } else { e });
            return r;
        }
        // A signal the sleeping read would have taken ends the poll now.
        let pending = sigpending() & !program_mask;
        if pending != 0 || start.elapsed() >= budget {
            break pending;
        }
    };
    // Sleep, unless a signal came that would have interrupted the sleeping read (its handler
    // runs when the mask comes back).
    drop(held);
    HOT.with(|h| h.set(false));
    if pending != 0 && interrupts(fd, pending) {
        crate::set_errno(libc::EINTR);
        return -1;
    }
    crate::set_errno(saved);
    timed(budget, call)
}

/// The blocking read, timed: a read that found its data within `REARM` budgets turns polling on.
fn timed(budget: Duration, mut call: impl FnMut(c_int) -> ssize_t) -> ssize_t {
    let t = Instant::now();
    let r = call(0);
    if r > 0 {
        HOT.with(|h| h.set(t.elapsed() < budget * REARM));
    }
    r
}

/// The signals pending for this thread or the process, blocked or not (rt_sigpending).
fn sigpending() -> u64 {
    let mut set: u64 = 0;
    // SAFETY: one 8-byte kernel sigset on the stack.
    let r = unsafe { crate::raw_syscall(libc::SYS_rt_sigpending, &[&mut set as *mut u64 as usize, 8]) };
    if r < 0 {
        0
    } else {
        set
    }
}

/// One of `set` has a handler that interrupts a sleeping read of `fd` (signal(7)): installed
/// without SA_RESTART, or any handler when the socket has a receive timeout.
fn interrupts(fd: c_int, set: u64) -> bool {
    const SA_RESTART: u64 = 0x1000_0000;
    let timeout = rcvtimeo(fd);
    (1..=64).filter(|&s| set & (1u64 << (s - 1)) != 0).any(|s| {
        tapstack::sys::sigaction_get(s).is_ok_and(|a| a.handler > 1 && (timeout || a.flags & SA_RESTART == 0))
    })
}

/// SO_RCVTIMEO is set on `fd` (the program's end of the pair carries the program's option).
fn rcvtimeo(fd: c_int) -> bool {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: a timeval and its length on the stack.
    let r = unsafe {
        crate::raw_syscall(
            libc::SYS_getsockopt,
            &[
                fd as usize,
                libc::SOL_SOCKET as usize,
                libc::SO_RCVTIMEO as usize,
                &mut tv as *mut libc::timeval as usize,
                &mut len as *mut libc::socklen_t as usize,
            ],
        )
    };
    r == 0 && (tv.tv_sec != 0 || tv.tv_usec != 0)
}
