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
//! - `socket`, `io`, `opts`, `dup`, `poll`, `epoll`: the hooks; each asks `svc::route` and otherwise
//!   calls the real libc function.
//! - `resolve`: getaddrinfo and friends, answered from the hosts file and DNS over tapstack.
//! - `syscall`: libc's `syscall()` for the socket-call numbers on tapstack descriptors.
//! - `ifaddrs`: getifaddrs shows the TAP with tapstack's address, not the kernel's.
//! - `pmtu`: EMSGSIZE for a UDP datagram over the MTU when IP_MTU_DISCOVER forbids fragments.
//! - `netlink`: so do the rtnetlink address messages a program reads from its own NETLINK_ROUTE
//!   socket.
//! - `ids`: setuid and friends: a root program that gives up root first makes sure the service runs.
//! - `exec`, `keepenv`: execve and its family: a program out of LD_PRELOAD's reach is named on
//!   stderr, and an environment rebuilt by the program keeps tapstack's LD_PRELOAD.
//! - `sandbox`: prctl and seccomp: a program in a seccomp sandbox gets write(2) for write().
//!
//! Every descriptor that is not a tapstack socket goes straight to the real libc function.
//! The shim's own I/O uses raw `libc::syscall`, never a hooked name (a call to `libc::read`
//! from this crate would resolve to our own `read`). Every `unsafe` block states its invariant.
#![allow(clippy::missing_safety_doc)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Unit tests build the hooks without #[no_mangle] (the harness must not interpose libc on
// itself), so what only the hooks reach is unused there.
#![cfg_attr(test, allow(dead_code, unused_imports))]

mod arpreq;
pub(crate) mod dup;
pub(crate) mod epoll;
pub(crate) mod errq;
mod exec;
mod ids;
mod ifaddrs;
mod ifreq;
pub(crate) mod io;
mod keepenv;
mod netlink;
pub(crate) mod opts;
mod pmtu;
pub(crate) mod poll;
pub(crate) mod real;
mod resolve;
pub(crate) mod sandbox;
mod select;
pub(crate) mod socket;
pub(crate) mod svc;
mod syscall;

use std::cell::Cell;

use libc::c_int;

thread_local! {
    /// Set while this thread runs shim code; a hook re-entered meanwhile (allocator callback,
    /// our own logging, libc's `syscall()` called by the shim) passes straight to libc.
    static IN_SHIM: Cell<bool> = const { Cell::new(false) };
    /// Set while the shim waits in the kernel for the program (a blocking read, accept or
    /// connect): a hook entered meanwhile is a signal handler's call, served as any other.
    static WAITING: Cell<bool> = const { Cell::new(false) };
    /// The program's signal mask while a [`ShimGuard::enter_masked`] keeps signals blocked.
    static PROGRAM_MASK: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Marks the current thread as inside the shim until dropped.
pub(crate) struct ShimGuard {
    prev_waiting: bool,
    /// Dropped after the flags are restored: a signal that came meanwhile finds them clear.
    _held: Option<SignalsHeld>,
}

impl ShimGuard {
    /// None if the thread is already inside the shim (the caller must pass through), unless
    /// the shim waits for the program there ([`native_wait`]): then this is a signal
    /// handler's call, and it is served (POSIX lets handlers make socket calls).
    #[inline]
    pub(crate) fn enter() -> Option<ShimGuard> {
        let was_in = IN_SHIM.with(|c| c.replace(true));
        let prev_waiting = WAITING.with(|c| c.replace(false));
        if was_in && !prev_waiting {
            WAITING.with(|c| c.set(prev_waiting));
            return None;
        }
        Some(ShimGuard { prev_waiting, _held: None })
    }

    /// `enter`, with the program's signals held ([`SignalsHeld`]) until the guard is dropped
    /// (except during [`native_wait`]): for the calls that talk to the service. The data path
    /// (reads and writes of TCP sockets) does not use it.
    pub(crate) fn enter_masked() -> Option<ShimGuard> {
        // Held first: a signal between the two would find the thread inside the shim.
        let held = SignalsHeld::hold();
        let mut g = Self::enter()?;
        g._held = Some(held);
        Some(g)
    }
}

impl Drop for ShimGuard {
    fn drop(&mut self) {
        // Back in the wait a signal handler interrupted (both set), or out of the shim.
        WAITING.with(|c| c.set(self.prev_waiting));
        IN_SHIM.with(|c| c.set(self.prev_waiting));
    }
}

/// The program's asynchronous signals blocked until dropped, so that no signal handler runs
/// while this thread holds the control channel mid-request (a handler's socket call would
/// wait for it forever) or the shim's bookkeeping is half done. Two system calls; nothing if
/// already held, or in a seccomp sandbox (which may not allow them).
pub(crate) struct SignalsHeld(Option<u64>);

impl SignalsHeld {
    pub(crate) fn hold() -> SignalsHeld {
        if sandbox::sandboxed() || PROGRAM_MASK.with(|c| c.get()).is_some() {
            return SignalsHeld(None);
        }
        let old = tapstack::sys::block_async_signals();
        PROGRAM_MASK.with(|c| c.set(Some(old)));
        SignalsHeld(Some(old))
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            PROGRAM_MASK.with(|c| c.set(None));
            tapstack::sys::restore_sigmask(old);
        }
    }
}

/// True unless the thread is inside the shim outside a wait: a call now would be the shim's
/// own (see [`ShimGuard::enter`]).
#[inline]
pub(crate) fn may_enter() -> bool {
    !IN_SHIM.with(|c| c.get()) || WAITING.with(|c| c.get())
}

/// The signal mask the program set (what a wait of the shim must wait with).
pub(crate) fn program_mask() -> u64 {
    PROGRAM_MASK.with(|c| c.get()).unwrap_or_else(|| tapstack::sys::sigprocmask(libc::SIG_BLOCK, None).unwrap_or(0))
}

/// Runs `f`, a wait in the kernel on the program's behalf, with hooks open to the program's
/// signal handlers, and with its signal mask back if `unmask` (else `f` sets it itself, as
/// ppoll does). `f` must enter the kernel directly (a raw system call or libc's own
/// function), never through a hooked function such as libc's `syscall()`.
pub(crate) fn native_wait<T>(unmask: bool, f: impl FnOnce() -> T) -> T {
    // During the wait the mask is the program's own: a handler's calls hold signals afresh.
    // Open to handlers before the mask comes back (a signal held meanwhile is delivered the
    // moment it does), closed only after it is blocked again.
    let prev = WAITING.with(|c| c.replace(true));
    let held = PROGRAM_MASK.with(|c| c.replace(None));
    if let (Some(m), true) = (held, unmask) {
        tapstack::sys::restore_sigmask(m);
    }
    let r = f();
    if let Some(m) = held {
        if unmask {
            tapstack::sys::block_async_signals();
        }
        PROGRAM_MASK.with(|c| c.set(Some(m)));
    }
    WAITING.with(|c| c.set(prev));
    r
}

/// A system call straight to the kernel, never through the hooked `syscall()` (inside
/// [`native_wait`] a hooked call would be taken for the program's): the result, or -1 with
/// errno, as `syscall()`.
///
/// # Safety
/// The arguments must be valid for system call `nr`.
pub(crate) unsafe fn raw_syscall(nr: libc::c_long, args: &[usize]) -> libc::c_long {
    match tapstack::sys::syscall(nr, args) {
        Ok(v) => v as libc::c_long,
        Err(e) => fail(e),
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
