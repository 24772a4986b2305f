//! `libtapstack_preload.so`: interposes the libc socket API so unmodified programs get their
//! AF_INET and AF_INET6 (dual-stack, `dual`) sockets from tapstack. One file per family of intercepted calls (like torsocks):
//!
//! - `real`: the libc functions we replace, reached through `dlsym(RTLD_NEXT)`, cached.
//! - `rt`: the lazily started runtime, the per-socket eventfd signalling, exit drain, fork.
//! - `fdtable`: descriptor -> socket, one atomic load per lookup.
//! - `socket`, `io`, `opts`, `dup`, `poll`, `epoll`: the hooks themselves.
//!
//! Every descriptor that is not a tapstack socket goes straight to the real libc function.
//! The shim's own I/O uses raw `libc::syscall`, never a hooked name (a call to `libc::read`
//! from this crate would resolve to our own `read`).
#![allow(clippy::missing_safety_doc)]

pub(crate) mod dual;
pub(crate) mod dup;
pub(crate) mod epoll;
pub(crate) mod errq;
pub(crate) mod fdtable;
pub(crate) mod io;
pub(crate) mod opts;
pub(crate) mod poll;
pub(crate) mod real;
mod resolve;
pub(crate) mod rt;
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

/// A call on one of our descriptors: the socket, the running runtime, the reentrancy guard.
/// (Field order matters: the socket reference drops before the guard.)
pub(crate) struct Ctx {
    pub s: std::sync::Arc<fdtable::Sock>,
    /// The descriptor of this call (one of the socket's eventfds).
    pub fd: c_int,
    pub rt: &'static std::sync::Arc<tapstack::runtime::Runtime>,
    _guard: ShimGuard,
}

pub(crate) enum Lookup {
    /// Not a tapstack descriptor, or re-entered: call the real function.
    NotOurs,
    Ours(Ctx),
    /// Ours but unusable (forked child): fail with this errno.
    Err(c_int),
}

/// The fast path every hook starts with: one atomic load for descriptors that are not ours.
#[inline]
pub(crate) fn lookup(fd: c_int) -> Lookup {
    if !fdtable::SOCKS.contains(fd) {
        return Lookup::NotOurs;
    }
    let Some(guard) = ShimGuard::enter() else { return Lookup::NotOurs };
    let Some(s) = fdtable::sock(fd) else { return Lookup::NotOurs };
    if rt::in_forked_child() {
        return Lookup::Err(rt::child_errno());
    }
    match rt::running() {
        Some(rt) if rt.is_alive() => Lookup::Ours(Ctx { s, fd, rt, _guard: guard }),
        // The stack thread is gone (stopped or panicked): nothing would ever complete.
        Some(_) => Lookup::Err(libc::ENETDOWN),
        None => Lookup::Err(libc::EBADF),
    }
}

/// `let c = ours_or!(fd, real::read(fd, buf, n));` returns the real call for foreign fds.
macro_rules! ours_or {
    ($fd:expr, $real:expr) => {
        match crate::lookup($fd) {
            crate::Lookup::NotOurs => return $real,
            crate::Lookup::Err(e) => return crate::fail(e),
            crate::Lookup::Ours(c) => c,
        }
    };
}
pub(crate) use ours_or;

/// Maps a `Result` from the shim's helpers to the C convention.
#[inline]
pub(crate) fn ret_int(r: Result<c_int, c_int>) -> c_int {
    match r {
        Ok(v) => v,
        Err(e) => fail(e),
    }
}

#[inline]
pub(crate) fn ret_size(r: Result<usize, c_int>) -> libc::ssize_t {
    match r {
        Ok(v) => v as libc::ssize_t,
        Err(e) => fail(e),
    }
}
