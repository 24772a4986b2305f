//! The runtime as the shim sees it: started lazily on the first AF_INET socket (never from a
//! constructor), the event hook that signals per-socket eventfds, the bounded drain at exit and
//! fork handling.
//!
//! Fork: a child forked after the stack started has no stack thread and must never drive the
//! parent's connections. In such a child every inherited tapstack descriptor fails with EBADF
//! (and one line on stderr) except `close`, which just releases the descriptor; new AF_INET
//! sockets fail with ENETDOWN. A child that calls exec gets a fresh shim (all our descriptors
//! are close-on-exec). A child forked before the first socket starts its own stack as usual.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use libc::c_int;
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use tapstack::config::Config;
use tapstack::runtime::{Runtime, RuntimeGuard};
use tapstack::socket::Shutdown;
use tapstack::Error;

use crate::fdtable::{Proto, Sig, EPOLLS, SOCKS};

static RT: OnceCell<Result<Arc<Runtime>, (c_int, String)>> = OnceCell::new();
/// Handle -> signalling state, for the event hook.
static REGISTRY: Mutex<Option<HashMap<u64, Arc<Sig>>>> = Mutex::new(None);
static LINGER_MS: once_cell::sync::OnceCell<u64> = OnceCell::new();
static FORKED_CHILD: AtomicBool = AtomicBool::new(false);
static START_PID: AtomicI32 = AtomicI32::new(0);
static WARNED_FORK: AtomicBool = AtomicBool::new(false);
/// The runtime's own descriptors (TAP, kick eventfd, pcap), -1 when unused: a program's
/// close()/dup2()/close_range() must never reach them.
static OWNED: [AtomicI32; 4] = [const { AtomicI32::new(-1) }; 4];

/// True if `fd` belongs to the runtime of this process (never in a forked child).
#[inline]
pub(crate) fn is_runtime_fd(fd: c_int) -> bool {
    fd >= 0 && !in_forked_child() && OWNED.iter().any(|o| o.load(Ordering::Relaxed) == fd)
}

/// The runtime's descriptors, sorted (for close_range).
pub(crate) fn runtime_fds() -> Vec<c_int> {
    if in_forked_child() {
        return Vec::new();
    }
    let mut v: Vec<c_int> = OWNED.iter().map(|o| o.load(Ordering::Relaxed)).filter(|&f| f >= 0).collect();
    v.sort_unstable();
    v
}

/// The process's runtime, started on first use; None if it cannot start (the reason was
/// printed once) or if this is a child forked after it started. Used by `resolve.rs` too.
pub(crate) fn runtime() -> Option<&'static Arc<Runtime>> {
    start().ok()
}

/// Like `runtime`, with the errno socket() should fail with.
pub(crate) fn start() -> Result<&'static Arc<Runtime>, c_int> {
    if in_forked_child() {
        warn_fork();
        return Err(libc::ENETDOWN);
    }
    match RT.get_or_init(init) {
        Ok(rt) if rt.is_alive() => Ok(rt),
        Ok(_) => Err(libc::ENETDOWN),
        Err((e, _)) => Err(*e),
    }
}

/// The runtime if it already runs (never starts it).
pub(crate) fn running() -> Option<&'static Arc<Runtime>> {
    if in_forked_child() {
        return None;
    }
    match RT.get() {
        Some(Ok(rt)) => Some(rt),
        _ => None,
    }
}

pub(crate) fn in_forked_child() -> bool {
    FORKED_CHILD.load(Ordering::Relaxed)
}

fn warn_fork() {
    if !WARNED_FORK.swap(true, Ordering::Relaxed) {
        crate::eprint_raw(&format!(
            "tapstack: pid {}: this process was forked after its parent started the stack; \
             inherited tapstack sockets only support close(), new ones cannot be created",
            crate::real::sys_getpid()
        ));
    }
}

/// EBADF for any use of an inherited socket in a forked child (with the one-line warning).
pub(crate) fn child_errno() -> c_int {
    warn_fork();
    libc::EBADF
}

fn init() -> Result<Arc<Runtime>, (c_int, String)> {
    let _guard = crate::ShimGuard::enter();
    let fail = |e: c_int, msg: String| {
        crate::eprint_raw(&msg);
        Err((e, msg))
    };
    let cfg = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(libc::EINVAL, format!("tapstack: bad configuration: {e}")),
    };
    let linger = cfg.linger_ms;
    let tap = cfg.tap.clone();
    let rt = match std::panic::catch_unwind(move || Runtime::start(cfg)) {
        Ok(Ok(rt)) => rt,
        Ok(Err(e)) => {
            let lower = e.0.to_ascii_lowercase();
            let errno = if lower.contains("permission") || lower.contains("not permitted") {
                libc::EACCES
            } else {
                libc::ENETDOWN
            };
            return fail(errno, format!("tapstack: cannot start the stack on TAP {tap:?}: {e}"));
        }
        Err(_) => return fail(libc::ENETDOWN, "tapstack: the stack failed to start (internal panic)".into()),
    };
    let _ = LINGER_MS.set(linger);
    *REGISTRY.lock() = Some(HashMap::new());
    let mut tcp_changed = Vec::new();
    let mut udp_changed = Vec::new();
    rt.set_event_hook(Box::new(move |stack| {
        stack.tcp.take_changed(&mut tcp_changed);
        stack.udp.take_changed(&mut udp_changed);
        if tcp_changed.is_empty() && udp_changed.is_empty() {
            return;
        }
        let reg = REGISTRY.lock();
        if let Some(reg) = reg.as_ref() {
            for h in tcp_changed.drain(..) {
                if let Some(s) = reg.get(&Proto::Tcp(h).key()) {
                    s.notify();
                }
            }
            for h in udp_changed.drain(..) {
                if let Some(s) = reg.get(&Proto::Udp(h).key()) {
                    s.notify();
                }
            }
        }
        tcp_changed.clear();
        udp_changed.clear();
    }));
    for (slot, fd) in OWNED.iter().zip(rt.owned_fds()) {
        slot.store(fd, Ordering::Relaxed);
    }
    START_PID.store(crate::real::sys_getpid(), Ordering::Relaxed);
    // SAFETY: registering plain extern "C" functions.
    unsafe {
        libc::atexit(exit_drain);
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
    }
    Ok(rt)
}

/// Registers a new socket's signalling state (call right after creating the handle).
pub(crate) fn register(proto: Proto, sig: &Arc<Sig>) {
    if let Some(reg) = REGISTRY.lock().as_mut() {
        reg.insert(proto.key(), sig.clone());
    }
}

/// The last descriptor of a socket went away: close it in the engine (graceful, continues in
/// the background; drained at exit). The registry entry goes only if it is still this socket's
/// (the engine may hand the same handle number to a new socket right after the close).
pub(crate) fn release(proto: Proto, sig: &Arc<Sig>) {
    if in_forked_child() {
        return;
    }
    let Some(rt) = running() else { return };
    let mut g = rt.lock();
    let now = rt.now();
    match proto {
        Proto::Tcp(h) => g.tcp.close(now, h),
        Proto::Udp(h) => g.udp.close(h),
    }
    // Lock order everywhere: stack, then registry (the event hook runs with the stack locked).
    if let Some(reg) = REGISTRY.lock().as_mut() {
        if reg.get(&proto.key()).is_some_and(|s| Arc::ptr_eq(s, sig)) {
            reg.remove(&proto.key());
        }
    }
    drop(g);
}

/// Longest single kernel wait on a socket's shared eventfd (fallback only); bounds the cost of
/// a wakeup another thread consumed (the readiness is re-checked after every slice).
const WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(200);
/// Longest single kernel wait on the thread's own wait eventfd (no wakeup can be lost there;
/// this is only a safety net).
const OWN_SLICE: std::time::Duration = std::time::Duration::from_secs(5);

/// What a blocked thread waits on: its own eventfd registered on the socket (`own`), or, if
/// it has none, the socket's shared eventfd.
pub(crate) struct WaitOn<'a> {
    fd: c_int,
    own: bool,
    sig: &'a Sig,
    _reg: Option<crate::fdtable::Waiter<'a>>,
}

impl<'a> WaitOn<'a> {
    /// Registers this thread on the socket (before the caller checks readiness).
    pub(crate) fn new(sig: &'a Sig, sock_fd: c_int) -> WaitOn<'a> {
        match wait_fd() {
            Some(fd) => WaitOn { fd, own: true, sig, _reg: Some(crate::fdtable::Waiter::new(sig, fd)) },
            None => {
                sig.armed.store(true, Ordering::Release);
                WaitOn { fd: sock_fd, own: false, sig, _reg: None }
            }
        }
    }
    /// Resets the wakeup before the caller looks at the socket again.
    pub(crate) fn reset(&self) {
        if self.own {
            crate::real::eventfd_drain(self.fd);
        } else {
            self.sig.drain(self.fd);
        }
    }
}

#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}
const SA_RESTART: u64 = 0x1000_0000;

/// The signals whose handler was installed with SA_RESTART (bit sig-1), read from the kernel
/// once per blocking call that has to wait.
pub(crate) fn restart_signals() -> u64 {
    let mut set = 0u64;
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
        // SAFETY: queries (never changes) one signal's disposition into a local struct.
        let r = unsafe {
            libc::syscall(libc::SYS_rt_sigaction, sig, std::ptr::null::<KernelSigaction>(), &mut old, 8usize)
        };
        if r == 0 && old.handler > 1 && old.flags & SA_RESTART != 0 {
            set |= 1u64 << (sig - 1);
        }
    }
    set
}

thread_local! {
    /// This thread's signalfd for the SA_RESTART signals (-1 until needed).
    static SIGFD: OwnFd = const { OwnFd(std::cell::Cell::new(-1)) };
    /// This thread's wait eventfd (-1 until needed), signalled by `Sig::notify`.
    static WAITFD: OwnFd = const { OwnFd(std::cell::Cell::new(-1)) };
}
/// A descriptor the shim owns for one thread; protected from the program, closed at thread exit.
struct OwnFd(std::cell::Cell<c_int>);
impl Drop for OwnFd {
    fn drop(&mut self) {
        let fd = self.0.replace(-1);
        if fd >= 0 {
            crate::fdtable::mark_internal(fd, false);
            crate::real::sys_close(fd);
        }
    }
}

/// This thread's wait eventfd (None if none can be made: then waits fall back to slices).
pub(crate) fn wait_fd() -> Option<c_int> {
    WAITFD
        .try_with(|c| {
            if c.0.get() < 0 {
                let fd = crate::real::eventfd();
                if fd < 0 {
                    return None;
                }
                crate::fdtable::mark_internal(fd, true);
                c.0.set(fd);
            }
            Some(c.0.get())
        })
        .ok()
        .flatten()
}

/// This thread's signalfd watching `mask` (created or updated; re-created if the program closed
/// the descriptor under us). None if signalfd is unavailable.
pub(crate) fn signalfd_for(mask: u64) -> Option<c_int> {
    SIGFD
        .try_with(|c| {
            let flags = (libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) as libc::c_long;
            let cur = c.0.get();
            if cur >= 0 {
                // SAFETY: updates the mask of our own signalfd (EINVAL/EBADF if it is not ours any more).
                let r = unsafe { libc::syscall(libc::SYS_signalfd4, cur, &mask as *const u64, 8usize, flags) };
                if r >= 0 {
                    return Some(cur);
                }
            }
            // SAFETY: creates a signalfd from a mask on the stack.
            let fd = unsafe { libc::syscall(libc::SYS_signalfd4, -1, &mask as *const u64, 8usize, flags) } as c_int;
            if cur >= 0 {
                crate::fdtable::mark_internal(cur, false);
            }
            c.0.set(fd.max(-1));
            crate::fdtable::mark_internal(fd, true);
            (fd >= 0).then_some(fd)
        })
        .ok()
        .flatten()
}

/// Waits with the stack unlocked until socket `sig` (descriptor `fd`) may have changed, a
/// slice ends or `deadline` passes, in a kernel `ppoll` on the socket's eventfd, so a signal
/// handler runs during the wait as it would during the kernel's own socket wait (signal(7)):
/// - with a timeout set (SO_RCVTIMEO/SO_SNDTIMEO) any handler makes the call fail with EINTR;
/// - otherwise the SA_RESTART signals (`restart`, see `restart_signals`) are blocked for the
///   wait and watched through a signalfd: when one arrives the wait ends, its handler runs as
///   the original mask comes back, and the call goes on (restarted); any other handler
///   interrupts the ppoll itself and the call fails with EINTR.
///
/// Ok means "re-check".
pub(crate) fn wait_change(
    w: &WaitOn,
    deadline: Option<std::time::Instant>,
    has_timeout: bool,
    restart: u64,
) -> Result<(), c_int> {
    let fd = w.fd;
    let now = std::time::Instant::now();
    let cap = if w.own { OWN_SLICE } else { WAIT_SLICE };
    let slice = deadline.map(|d| d.saturating_duration_since(now)).unwrap_or(cap).min(cap);
    let ts = libc::timespec { tv_sec: slice.as_secs() as libc::time_t, tv_nsec: slice.subsec_nanos() as libc::c_long };
    let mut fds = [
        libc::pollfd { fd, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: -1, events: libc::POLLIN, revents: 0 },
    ];
    let mut cur: u64 = 0;
    // SAFETY: reads this thread's signal mask into a local.
    let have_mask = !has_timeout
        && restart != 0
        && unsafe {
            libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, std::ptr::null::<u64>(), &mut cur, 8usize)
        } == 0;
    let watch = restart & !cur;
    let wait_mask: u64 = cur | watch;
    let mut n = 1;
    if have_mask && watch != 0 {
        if let Some(sfd) = signalfd_for(watch) {
            fds[1].fd = sfd;
            n = 2;
        }
    }
    let mask_ptr = if n == 2 { &wait_mask as *const u64 as *const libc::sigset_t } else { std::ptr::null() };
    // SAFETY: pollfds and timespec on the stack; a kernel-sized (8-byte) mask, which glibc's
    // ppoll passes through; real ppoll (not our hook).
    let r = unsafe { crate::real::ppoll(fds.as_mut_ptr(), n as libc::nfds_t, &ts, mask_ptr) };
    if r < 0 && crate::errno() == libc::EINTR {
        return Err(libc::EINTR);
    }
    if r > 0 && fds[0].revents & libc::POLLNVAL != 0 {
        // The descriptor was closed under us by another thread: do not spin.
        std::thread::sleep(slice.min(std::time::Duration::from_millis(10)));
    }
    Ok(())
}

/// Runs `f` until it stops returning WouldBlock: at once if `nonblock`, else waiting (see
/// `wait_change`) until `timeout` (then EAGAIN, as Linux does for SO_RCVTIMEO). A signal
/// handler without SA_RESTART (or any, with a timeout set) makes the call fail with EINTR.
pub(crate) fn block_on<T>(
    c: &crate::Ctx,
    nonblock: bool,
    timeout: Option<std::time::Duration>,
    mut f: impl FnMut(&mut RuntimeGuard<'_>, tapstack::Instant) -> Result<T, Error>,
) -> Result<T, c_int> {
    let rt = c.rt;
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let waiter = (!nonblock).then(|| WaitOn::new(&c.s.sig, c.fd));
    let mut restart: Option<u64> = None;
    loop {
        if let Some(w) = &waiter {
            // Reset the wakeup before looking, so a change after the look wakes the wait.
            w.reset();
        }
        let r = {
            let mut g = rt.lock();
            let now = rt.now();
            f(&mut g, now)
        };
        match r {
            Err(Error::WouldBlock) if !nonblock => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Err(libc::EAGAIN);
                }
                let r = *restart.get_or_insert_with(restart_signals);
                if let Some(w) = &waiter {
                    wait_change(w, deadline, timeout.is_some(), r)?;
                }
            }
            r => return r.map_err(|e| e.errno()),
        }
    }
}

/// At exit: shut down the sending side of every connection still open (as the kernel does
/// when the process's descriptors close) and wait, bounded by TAPSTACK_LINGER, until queued
/// data is acknowledged and FINs are sent.
extern "C" fn exit_drain() {
    if in_forked_child() || START_PID.load(Ordering::Relaxed) != crate::real::sys_getpid() {
        return;
    }
    let Some(rt) = running() else { return };
    // exit() from a signal handler that interrupted one of our hooks on this thread: the
    // stack lock may be ours already; skip rather than deadlock.
    let Some(_guard) = crate::ShimGuard::enter() else { return };
    let keys: Vec<u64> = REGISTRY.lock().as_ref().map(|r| r.keys().copied().collect()).unwrap_or_default();
    // Bounded: exit may run while another thread is inside a socket call.
    let Some(mut g) = rt.try_lock_for(std::time::Duration::from_secs(1)) else { return };
    let now = rt.now();
    for k in keys {
        if k >> 32 == 0 {
            let h = tapstack::socket::tcp::TcpHandle(k as u32);
            let _ = g.tcp.shutdown(now, h, Shutdown::Write);
        }
    }
    drop(g);
    let ms = LINGER_MS.get().copied().unwrap_or(5000);
    rt.drain(std::time::Duration::from_millis(ms));
    rt.finish_trace();
}

extern "C" fn fork_prepare() {
    SOCKS.lock_for_fork();
    EPOLLS.lock_for_fork();
}
extern "C" fn fork_parent() {
    EPOLLS.unlock_after_fork();
    SOCKS.unlock_after_fork();
}
extern "C" fn fork_child() {
    EPOLLS.unlock_after_fork();
    SOCKS.unlock_after_fork();
    if let Some(Ok(rt)) = RT.get() {
        FORKED_CHILD.store(true, Ordering::Relaxed);
        // Close the child's copies of the TAP, kick eventfd and pcap (raw close, no lock), so a
        // long-lived child does not keep the TAP attached after the parent exits.
        rt.forget_in_child();
    }
}
