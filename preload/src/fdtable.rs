//! Descriptor -> tapstack socket (see docs/preload.md). Every `read`/`write`/`close` of the
//! program asks "is this fd ours?", so that question is one atomic load of a slot in a fixed
//! array indexed by fd, with no lock and no hashing. Only for our own descriptors is a shared
//! lock taken, to clone the `Arc` safely against a concurrent `close`.
//!
//! Each tapstack socket reserves a real kernel descriptor: an eventfd (EFD_CLOEXEC|EFD_NONBLOCK)
//! whose number is the one the program sees. The program's own `open()` can therefore never
//! get the same number, and the eventfd carries readiness into the kernel's poll/epoll.
//! `dup` gives a real duplicate of that eventfd that maps to the same `Sock`.
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libc::c_int;
use parking_lot::lock_api::RawRwLock as _;
use parking_lot::{Mutex, RawRwLock};
use tapstack::socket::tcp::TcpHandle;
use tapstack::socket::udp::UdpHandle;

/// Descriptors at or above this number are never tapstack sockets (socket() gives EMFILE).
pub const MAX_FDS: usize = 1 << 16;

/// A fixed table of `Arc<T>` indexed by descriptor.
pub struct FdTable<T> {
    slots: [AtomicPtr<T>; MAX_FDS],
    lock: RawRwLock,
}

impl<T> FdTable<T> {
    pub const fn new() -> FdTable<T> {
        FdTable { slots: [const { AtomicPtr::new(null_mut()) }; MAX_FDS], lock: RawRwLock::INIT }
    }

    /// The fast path: true if `fd` maps to something. One load.
    #[inline]
    pub fn contains(&self, fd: c_int) -> bool {
        (fd as usize) < MAX_FDS && !self.slots[fd as usize].load(Ordering::Acquire).is_null()
    }

    #[inline]
    pub fn get(&self, fd: c_int) -> Option<Arc<T>> {
        if !self.contains(fd) {
            return None;
        }
        self.lock.lock_shared();
        let p = self.slots[fd as usize].load(Ordering::Acquire);
        let r = if p.is_null() {
            None
        } else {
            // SAFETY: p came from Arc::into_raw and the slot keeps one reference alive; the
            // exclusive lock in `replace` cannot drop it while we hold the shared lock.
            unsafe {
                Arc::increment_strong_count(p);
                Some(Arc::from_raw(p))
            }
        };
        // SAFETY: locked above.
        unsafe { self.lock.unlock_shared() };
        r
    }

    /// Stores `v` at `fd` and returns what was there (drop it outside any lock you hold).
    pub fn replace(&self, fd: c_int, v: Option<Arc<T>>) -> Option<Arc<T>> {
        if fd < 0 || fd as usize >= MAX_FDS {
            return None;
        }
        let new = v.map(Arc::into_raw).unwrap_or(std::ptr::null()) as *mut T;
        self.lock.lock_exclusive();
        let old = self.slots[fd as usize].swap(new, Ordering::AcqRel);
        // SAFETY: locked above.
        unsafe { self.lock.unlock_exclusive() };
        // SAFETY: old came from Arc::into_raw; the slot's reference is transferred to us.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(old) })
    }

    /// Fork protection: held across fork() so the child never inherits a locked table.
    pub fn lock_for_fork(&self) {
        self.lock.lock_exclusive();
    }
    pub fn unlock_after_fork(&self) {
        // SAFETY: paired with lock_for_fork (in the parent, or in the child's copy).
        unsafe { self.lock.unlock_exclusive() };
    }
}

/// Which engine a socket lives in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp(TcpHandle),
    Udp(UdpHandle),
}

impl Proto {
    /// Registry key: protocol in the high half, handle in the low half.
    pub fn key(self) -> u64 {
        match self {
            Proto::Tcp(h) => h.0 as u64,
            Proto::Udp(h) => (1 << 32) | h.0 as u64,
        }
    }
}

/// How the stack thread tells pollers a socket changed. Kept apart from `Sock` so that the
/// stack thread never holds the last reference to a socket (whose drop needs the stack lock).
#[derive(Default)]
pub struct Sig {
    /// The live descriptors of this socket (all duplicates of one eventfd). The stack thread
    /// writes to the first; `close` removes a number before closing it, under this lock, so a
    /// signal never lands in a descriptor the program has reused.
    pub efds: Mutex<Vec<c_int>>,
    /// An eventfd write is outstanding (cleared before draining).
    pub signalled: AtomicBool,
    /// Someone polls this socket through the kernel (poll/select/epoll): signal it.
    pub armed: AtomicBool,
    /// Bumped on every change: edge detection for EPOLLET.
    pub gen: AtomicU64,
    /// Per-thread wait eventfds of the threads blocked on this socket (or polling it): each
    /// gets its own wakeup, so no waiter can consume another's.
    pub waiters: Mutex<Vec<c_int>>,
}

impl Sig {
    /// Called by the stack thread when the socket's readiness may have changed.
    pub fn notify(&self) {
        self.gen.fetch_add(1, Ordering::AcqRel);
        {
            let w = self.waiters.lock();
            for &fd in w.iter() {
                crate::real::eventfd_signal(fd);
            }
        }
        if self.armed.load(Ordering::Acquire) && !self.signalled.swap(true, Ordering::AcqRel) {
            let efds = self.efds.lock();
            if let Some(&fd) = efds.first() {
                crate::real::eventfd_signal(fd);
            }
        }
    }
    /// Resets the eventfd `fd` (one of ours) before readiness is recomputed.
    pub fn drain(&self, fd: c_int) {
        if self.signalled.swap(false, Ordering::AcqRel) {
            crate::real::eventfd_drain(fd);
        }
    }
}

/// Per-socket options the shim keeps (the engine gets the ones it implements).
#[derive(Clone, Debug)]
pub struct Opts {
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub keepalive: bool,
    pub nodelay: bool,
    pub broadcast: bool,
    /// SO_LINGER: Some(seconds) when on.
    pub linger: Option<c_int>,
    pub keepidle: c_int,
    pub keepintvl: c_int,
    pub keepcnt: c_int,
    /// As set by the user (getsockopt reports twice this, like Linux).
    pub rcvbuf: Option<usize>,
    pub sndbuf: Option<usize>,
    pub ip_ttl: c_int,
    pub ip_tos: c_int,
    /// IP_TTL or IP_TOS was set: the stack carries them for this socket's local port.
    pub ip_opts_set: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            rcvtimeo: None,
            sndtimeo: None,
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            nodelay: false,
            broadcast: false,
            linger: None,
            keepidle: 7200,
            keepintvl: 75,
            keepcnt: 9,
            rcvbuf: None,
            sndbuf: None,
            ip_ttl: 64,
            ip_tos: 0,
            ip_opts_set: false,
        }
    }
}

/// One tapstack socket, shared by all its descriptors (dup). The last reference closes it.
pub struct Sock {
    pub proto: Proto,
    pub sig: Arc<Sig>,
    /// O_NONBLOCK belongs to the open file description, so duplicates share it.
    pub nonblock: AtomicBool,
    pub opts: Mutex<Opts>,
    /// A non-blocking connect returned EINPROGRESS and no later connect() has seen it finish.
    pub connecting: AtomicBool,
    pub listening: AtomicBool,
    /// AF_INET6 state (domain, IPPROTO_IPV6 options, virtual binding): see `dual`.
    pub dual: Mutex<crate::dual::Dual>,
}

impl Sock {
    pub fn new(proto: Proto, nonblock: bool) -> Sock {
        Sock {
            proto,
            sig: Arc::new(Sig::default()),
            nonblock: AtomicBool::new(nonblock),
            opts: Mutex::new(Opts::default()),
            connecting: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            dual: Mutex::new(crate::dual::Dual::default()),
        }
    }
    pub fn is_nonblock(&self) -> bool {
        self.nonblock.load(Ordering::Relaxed)
    }
    pub fn is_tcp(&self) -> bool {
        matches!(self.proto, Proto::Tcp(_))
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        crate::rt::release(self.proto, &self.sig);
    }
}

pub static SOCKS: FdTable<Sock> = FdTable::new();

/// Descriptors the shim itself owns (per-thread wait eventfds and signalfds): a program's
/// close()/dup2()/close_range() must not reach them (one bit per descriptor).
static INTERNAL: [std::sync::atomic::AtomicU64; MAX_FDS / 64] =
    [const { std::sync::atomic::AtomicU64::new(0) }; MAX_FDS / 64];

pub fn mark_internal(fd: c_int, on: bool) {
    if fd < 0 || fd as usize >= MAX_FDS {
        return;
    }
    let (w, b) = (fd as usize / 64, 1u64 << (fd as usize % 64));
    if on {
        INTERNAL[w].fetch_or(b, Ordering::AcqRel);
    } else {
        INTERNAL[w].fetch_and(!b, Ordering::AcqRel);
    }
}

#[inline]
pub fn is_internal(fd: c_int) -> bool {
    fd >= 0
        && (fd as usize) < MAX_FDS
        && INTERNAL[fd as usize / 64].load(Ordering::Acquire) & (1u64 << (fd as usize % 64)) != 0
}

/// The shim's own descriptors in [first, last] (for close_range).
pub fn internal_in(first: u32, last: u32) -> Vec<c_int> {
    let hi = (last as usize).min(MAX_FDS - 1);
    (first as usize..=hi).filter(|&f| is_internal(f as c_int)).map(|f| f as c_int).collect()
}

/// Registers a thread's wait eventfd on a socket for as long as it lives.
pub struct Waiter<'a> {
    sig: &'a Sig,
    fd: c_int,
}
impl<'a> Waiter<'a> {
    pub fn new(sig: &'a Sig, fd: c_int) -> Waiter<'a> {
        sig.waiters.lock().push(fd);
        Waiter { sig, fd }
    }
}
impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut w = self.sig.waiters.lock();
        if let Some(i) = w.iter().position(|&f| f == self.fd) {
            w.swap_remove(i);
        }
    }
}
pub static EPOLLS: FdTable<crate::epoll::EpollSet> = FdTable::new();

/// The socket behind `fd`, if it is one of ours.
#[inline]
pub fn sock(fd: c_int) -> Option<Arc<Sock>> {
    SOCKS.get(fd)
}

/// Maps a new descriptor `fd` (an eventfd or a duplicate of one) to `s`.
pub fn install(fd: c_int, s: &Arc<Sock>) {
    s.sig.efds.lock().push(fd);
    let old = SOCKS.replace(fd, Some(s.clone()));
    debug_assert!(old.is_none());
    drop(old);
}

/// Unmaps `fd` without closing the kernel descriptor (the caller does, or already did).
/// Returns the socket so the caller decides when the reference drops.
pub fn uninstall(fd: c_int) -> Option<Arc<Sock>> {
    let s = SOCKS.replace(fd, None)?;
    if crate::rt::in_forked_child() {
        if let Some(mut v) = s.sig.efds.try_lock() {
            v.retain(|&x| x != fd);
        }
    } else {
        s.sig.efds.lock().retain(|&x| x != fd);
    }
    Some(s)
}
