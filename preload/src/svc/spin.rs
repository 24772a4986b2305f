//! Busy polling of a program's wait for a TCP socket of ours (a blocking read, a poll, an
//! epoll_wait), as Linux's `SO_BUSY_POLL` / `net.core.busy_read` does for a socket whose answer
//! is about to come: a wait that finds nothing polls for up to the budget
//! (`TAPSTACK_BUSY_POLL_US`, default 50 us, 0 = off), yielding the CPU between polls, before it
//! sleeps. A sleeping reader costs every reply a wake-up; on a VM without halt-polling, the exit
//! of a halted vCPU (tens of microseconds, bench/PERF.md). Only while it pays: the thread sent
//! since its last wait (it may await an answer; a reader alone never polls), and its last
//! sleeping wait ended within [`REARM`] budgets (a slow or idle connection never polls).
//!
//! Signals keep their meaning: they are held while the call polls, and if one came that would
//! have interrupted the sleeping call (signal(7)), the call fails with EINTR after the handler
//! has run, as the kernel's would.
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
    /// This thread's last sleeping wait found its answer within `REARM` budgets.
    static HOT: Cell<bool> = const { Cell::new(false) };
    /// This thread sent on a TCP socket of ours since its last wait: it may be waiting for
    /// the answer to a request. A thread that only receives (a bulk download) never polls:
    /// its polling would take CPU from the service and the sender that feed it.
    static SENT: Cell<bool> = const { Cell::new(false) };
}

/// A TCP send of this thread succeeded (`route::tcp_epipe`).
#[inline]
pub(crate) fn sent() {
    SENT.with(|c| c.set(true));
}

/// Polling is on for this thread's next wait; takes the SENT mark.
fn polling() -> bool {
    SENT.with(|c| c.replace(false)) && HOT.with(|h| h.get())
}

/// What [`poll_for`] found.
enum Polled<R> {
    /// The call completed: its result and errno.
    Done(R, c_int),
    /// Nothing within the budget: sleep in the kernel.
    Sleep,
    /// A signal came whose handler (now run) would have interrupted the sleeping call.
    Interrupted,
}

/// Polls `now` (Some: the call completed) with the program's signals held, yielding the CPU
/// between polls, until it completes, the budget is spent or a signal comes.
/// `interrupts(pending)`: those signals would have interrupted the sleeping call. Sleep at once
/// if the signals cannot be held here (a signal handler's own call inside a shim wait).
fn poll_for<R>(
    budget: Duration,
    mut now: impl FnMut() -> Option<R>,
    interrupts: impl FnOnce(u64) -> bool,
) -> Polled<R> {
    let held = crate::SignalsHeld::hold();
    let Some(program_mask) = held.0 else {
        return Polled::Sleep;
    };
    let start = Instant::now();
    let pending = loop {
        // A thread that wants this CPU runs now (a CPU-bound one for its whole slice, after
        // which the budget is spent).
        tapstack::sys::sched_yield();
        if let Some(r) = now() {
            let e = crate::errno();
            drop(held);
            return Polled::Done(r, e);
        }
        // A signal the sleeping call would have taken ends the poll now.
        let pending = sigpending() & !program_mask;
        if pending != 0 || start.elapsed() >= budget {
            break pending;
        }
    };
    // The handlers of signals that came meanwhile run here, as the mask comes back.
    drop(held);
    HOT.with(|h| h.set(false));
    if pending != 0 && interrupts(pending) {
        Polled::Interrupted
    } else {
        Polled::Sleep
    }
}

/// A blocking-capable read of a TCP socket `fd`: `call(extra)` is the program's read with
/// `extra` (0 or MSG_DONTWAIT) added to its flags. `flags` are the program's own.
pub(crate) fn read(fd: c_int, flags: c_int, mut call: impl FnMut(c_int) -> ssize_t) -> ssize_t {
    let budget = *BUDGET;
    if budget.is_zero() || flags & (libc::MSG_DONTWAIT | libc::MSG_WAITALL) != 0 || crate::sandbox::sandboxed() {
        return call(0);
    }
    if !polling() {
        return timed(budget, || call(0));
    }
    let saved = crate::errno();
    let r = call(libc::MSG_DONTWAIT);
    if r >= 0 || crate::errno() != libc::EAGAIN || crate::real::nonblocking(fd) {
        if r >= 0 {
            crate::set_errno(saved);
        }
        return r;
    }
    let attempt = || {
        let r = call(libc::MSG_DONTWAIT);
        (r >= 0 || crate::errno() != libc::EAGAIN).then_some(r)
    };
    match poll_for(budget, attempt, |p| interrupts(p, rcvtimeo(fd))) {
        Polled::Done(r, e) => {
            crate::set_errno(if r >= 0 { saved } else { e });
            r
        }
        Polled::Interrupted => crate::fail(libc::EINTR),
        Polled::Sleep => {
            crate::set_errno(saved);
            timed(budget, || call(0))
        }
    }
}

/// poll(2) of `nfds` entries, at least one a TCP socket of ours, with `timeout` ms:
/// `call(t)` is the program's poll with timeout `t`. A handler interrupts a poll whatever its
/// SA_RESTART (signal(7)).
pub(crate) fn wait(timeout: c_int, mut call: impl FnMut(c_int) -> c_int) -> c_int {
    let budget = *BUDGET;
    if budget.is_zero() || timeout == 0 || crate::sandbox::sandboxed() {
        return call(timeout);
    }
    if !polling() {
        return timed(budget, || call(timeout));
    }
    let r = call(0);
    if r != 0 {
        return r;
    }
    let start = Instant::now();
    match poll_for(budget, || Some(call(0)).filter(|&r| r != 0), |p| interrupts(p, true)) {
        Polled::Done(r, e) => {
            if r < 0 {
                crate::set_errno(e);
            }
            r
        }
        Polled::Interrupted => crate::fail(libc::EINTR),
        Polled::Sleep => {
            let left =
                if timeout < 0 { -1 } else { timeout.saturating_sub(start.elapsed().as_millis() as c_int).max(1) };
            timed(budget, || call(left))
        }
    }
}

/// The sleeping call, timed: one that completed within `REARM` budgets turns polling on.
fn timed<R: Default + PartialOrd>(budget: Duration, call: impl FnOnce() -> R) -> R {
    let t = Instant::now();
    let r = call();
    if r > R::default() {
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

/// One of `set` has a handler that interrupts a sleeping call (signal(7)): installed without
/// SA_RESTART, or any handler if `always` (a poll, or a read with a receive timeout).
fn interrupts(set: u64, always: bool) -> bool {
    const SA_RESTART: u64 = 0x1000_0000;
    (1..=64)
        .filter(|&s| set & (1u64 << (s - 1)) != 0)
        .any(|s| tapstack::sys::sigaction_get(s).is_ok_and(|a| a.handler > 1 && (always || a.flags & SA_RESTART == 0)))
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
