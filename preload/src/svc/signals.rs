//! Signals during the one wait the shim does itself (a blocking connect, see `hooks::connect`):
//! which handlers were installed with SA_RESTART, and a per-thread signalfd to watch them, so
//! that a call is restarted or fails with EINTR as the kernel's own wait would (signal(7)).
use libc::c_int;

const SA_RESTART: u64 = 0x1000_0000;

/// The signals whose handler was installed with SA_RESTART (bit sig-1), read from the kernel
/// once per blocking call that has to wait.
pub(crate) fn restart_signals() -> u64 {
    (1..=64)
        .filter(|&sig| sig != libc::SIGKILL && sig != libc::SIGSTOP)
        .filter(|&sig| tapstack::sys::sigaction_get(sig).is_ok_and(|a| a.handler > 1 && a.flags & SA_RESTART != 0))
        .fold(0u64, |set, sig| set | 1u64 << (sig - 1))
}

thread_local! {
    /// This thread's signalfd for the SA_RESTART signals (-1 until needed).
    static SIGFD: OwnFd = const { OwnFd(std::cell::Cell::new(-1)) };
}

/// A descriptor the shim owns for one thread; protected from the program, closed at thread exit.
struct OwnFd(std::cell::Cell<c_int>);
impl Drop for OwnFd {
    fn drop(&mut self) {
        let fd = self.0.replace(-1);
        if fd >= 0 {
            super::mark_internal(fd, false);
            crate::real::sys_close(fd);
        }
    }
}

/// This thread's signalfd watching `mask` (created or updated; re-created if the program closed
/// the descriptor under us). None if signalfd is unavailable.
pub(crate) fn signalfd_for(mask: u64) -> Option<c_int> {
    SIGFD
        .try_with(|c| {
            let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
            let cur = c.0.get();
            // An update of our own signalfd fails (EINVAL, EBADF) if the number is not ours any more.
            if cur >= 0 && tapstack::sys::signalfd(cur, mask, flags).is_ok() {
                return Some(cur);
            }
            if cur >= 0 {
                super::mark_internal(cur, false);
            }
            let fd = tapstack::sys::signalfd(-1, mask, flags).ok();
            c.0.set(fd.unwrap_or(-1));
            if let Some(fd) = fd {
                super::mark_internal(fd, true);
            }
            fd
        })
        .ok()
        .flatten()
}
