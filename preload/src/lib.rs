//! `libtapstack_preload.so`: interposes the libc socket API so unmodified programs get their
//! AF_INET sockets from tapstack's shared stack, `tapstackd` (one per TAP, started on first use;
//! `tapstack::service`). A tapstack socket is a kernel descriptor, one end of a socketpair
//! whose other end the service holds, so reads, writes, poll/select/epoll, fork, dup, exec and
//! close are the kernel's own; the shim translates the socket calls into requests to the
//! service. One file per family of intercepted calls (like torsocks):
//!
//! - `real`: the libc functions we replace, reached through `dlsym(RTLD_NEXT)`, cached.
//! - `svc`: the client side of the service: descriptor kinds (`tapstack::client::fdtable`), the
//!   control channel, starting the service, and the socket calls themselves (`svc::hooks`,
//!   entered through `svc::route`).
//! - `socket`, `io`, `opts`, `dup`, `poll`: the hooks; each asks `svc::route` and otherwise
//!   calls the real libc function.
//! - `resolve`: getaddrinfo and friends, answered from the hosts file and DNS over tapstack.
//! - `syscall`: libc's `syscall()` for the socket-call numbers on tapstack descriptors.
//! - `sandbox`: prctl and seccomp: a program in a seccomp sandbox gets write(2) for write().
//!
//! Every descriptor that is not a tapstack socket goes straight to the real libc function.
//! The shim's own I/O uses raw `libc::syscall`, never a hooked name (a call to `libc::read`
//! from this crate would resolve to our own `read`). Every `unsafe` block states its invariant.
#![allow(clippy::missing_safety_doc)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub(crate) mod dup;
pub(crate) mod errq;
pub(crate) mod io;
pub(crate) mod opts;
pub(crate) mod poll;
pub(crate) mod real;
mod resolve;
pub(crate) mod sandbox;
pub(crate) mod socket;
pub(crate) mod svc;
mod syscall;

use std::cell::Cell;

use libc::c_int;

thread_local! {
    /// Set while this thread runs shim code; a hook re-entered meanwhile (signal handler,
    /// allocator callback, our own logging) passes straight to libc.
    static IN_SHIM: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as inside the shim until dropped.
pub(crate) struct ShimGuard {
    prev: bool,
}

impl ShimGuard {
    /// None if the thread is already inside the shim (the caller must pass through).
    #[inline]
    pub(crate) fn enter() -> Option<ShimGuard> {
        let prev = IN_SHIM.with(|c| c.replace(true));
        if prev {
            None
        } else {
            Some(ShimGuard { prev })
        }
    }
}

impl Drop for ShimGuard {
    fn drop(&mut self) {
        IN_SHIM.with(|c| c.set(self.prev));
    }
}

/// Sets errno.
#[inline]
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = e }
}

#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// Returns -1 with errno `e`, the C convention.
#[inline]
pub(crate) fn fail<T: From<i8>>(e: c_int) -> T {
    set_errno(e);
    T::from(-1)
}

/// Writes one line to stderr with a raw syscall (never through our own `write`).
pub(crate) fn eprint_raw(msg: &str) {
    let mut line = String::with_capacity(msg.len() + 1);
    line.push_str(msg);
    if !line.ends_with('\n') {
        line.push('\n');
    }
    // SAFETY: writes line.len() bytes from a live buffer to fd 2.
    unsafe {
        libc::syscall(libc::SYS_write, 2, line.as_ptr(), line.len());
    }
}
