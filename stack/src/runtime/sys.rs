//! Raw system calls for the runtime's own I/O.
//!
//! The preload shim hooks the libc wrappers (read, write, close, poll, ioctl, fcntl, socket,
//! eventfd...), so the runtime (and the shim's internals) must never call them: every function
//! here goes straight to `libc::syscall`. Errors are returned as the raw errno; EINTR is retried
//! where retrying is correct.
use std::ffi::CStr;
use std::time::Duration;

use libc::{c_long, c_void};

/// The errno of the last failed call on this thread.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(r: c_long) -> Result<usize, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as usize)
    }
}

/// read(2). EINTR is retried; EAGAIN is returned as `Err(EAGAIN)`.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes of writes.
        let r = unsafe { libc::syscall(libc::SYS_read, fd as c_long, buf.as_mut_ptr() as c_long, buf.len()) };
        match check(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// write(2). EINTR is retried.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, i32> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes of reads.
        let r = unsafe { libc::syscall(libc::SYS_write, fd as c_long, buf.as_ptr() as c_long, buf.len()) };
        match check(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// readv(2) into two buffers (a header, then the rest). EINTR is retried.
pub fn readv2(fd: i32, a: &mut [u8], b: &mut [u8]) -> Result<usize, i32> {
    let iov = [
        libc::iovec { iov_base: a.as_mut_ptr() as *mut c_void, iov_len: a.len() },
        libc::iovec { iov_base: b.as_mut_ptr() as *mut c_void, iov_len: b.len() },
    ];
    loop {
        // SAFETY: both iovecs describe writable buffers that outlive the call.
        let r = unsafe { libc::syscall(libc::SYS_readv, fd as c_long, iov.as_ptr() as c_long, 2 as c_long) };
        match check(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// writev(2) of two buffers as one record (a TAP frame with its header). EINTR is retried.
pub fn writev2(fd: i32, a: &[u8], b: &[u8]) -> Result<usize, i32> {
    let iov = [
        libc::iovec { iov_base: a.as_ptr() as *mut c_void, iov_len: a.len() },
        libc::iovec { iov_base: b.as_ptr() as *mut c_void, iov_len: b.len() },
    ];
    loop {
        // SAFETY: both iovecs describe readable buffers that outlive the call.
        let r = unsafe { libc::syscall(libc::SYS_writev, fd as c_long, iov.as_ptr() as c_long, 2 as c_long) };
        match check(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// Writes all of `buf` (short writes continued, EINTR retried).
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), i32> {
    while !buf.is_empty() {
        match write(fd, buf)? {
            0 => return Err(libc::EIO),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// close(2). Never retried (Linux releases the descriptor even when close reports EINTR).
pub fn close(fd: i32) -> Result<(), i32> {
    // SAFETY: plain syscall on an integer.
    check(unsafe { libc::syscall(libc::SYS_close, fd as c_long) }).map(|_| ())
}

/// openat(AT_FDCWD, path, flags, mode).
pub fn open(path: &CStr, flags: i32, mode: u32) -> Result<i32, i32> {
    loop {
        // SAFETY: path is NUL-terminated.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD as c_long,
                path.as_ptr() as c_long,
                flags as c_long,
                mode as c_long,
            )
        };
        match check(r) {
            Err(libc::EINTR) => continue,
            x => return x.map(|fd| fd as i32),
        }
    }
}

/// ioctl(2) with a pointer argument.
///
/// # Safety
/// `arg` must point to memory of the size and layout `req` expects.
pub unsafe fn ioctl(fd: i32, req: u64, arg: *mut c_void) -> Result<usize, i32> {
    check(libc::syscall(libc::SYS_ioctl, fd as c_long, req as c_long, arg as c_long))
}

/// socket(2).
pub fn socket(domain: i32, ty: i32, proto: i32) -> Result<i32, i32> {
    // SAFETY: plain syscall on integers.
    check(unsafe { libc::syscall(libc::SYS_socket, domain as c_long, ty as c_long, proto as c_long) })
        .map(|fd| fd as i32)
}

/// eventfd2(2): a counter descriptor, close-on-exec and nonblocking.
pub fn eventfd() -> Result<i32, i32> {
    // SAFETY: plain syscall on integers.
    check(unsafe { libc::syscall(libc::SYS_eventfd2, 0 as c_long, (libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) as c_long) })
        .map(|fd| fd as i32)
}

/// Adds 1 to an eventfd counter (makes it readable).
pub fn eventfd_signal(fd: i32) {
    let one = 1u64.to_ne_bytes();
    let _ = write(fd, &one);
}

/// Resets a nonblocking eventfd counter to zero; returns the value it had.
pub fn eventfd_drain(fd: i32) -> u64 {
    let mut b = [0u8; 8];
    match read(fd, &mut b) {
        Ok(8) => u64::from_ne_bytes(b),
        _ => 0,
    }
}

/// ppoll(2) on `fds` for at most `timeout` (None: forever); no signal mask change.
/// Returns the number of ready descriptors (0 on timeout); EINTR is reported as Ok(0).
pub fn ppoll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize, i32> {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: fds is a valid array of pollfd; tsp is null or points to a live timespec.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            fds.as_mut_ptr() as c_long,
            fds.len() as c_long,
            tsp as c_long,
            0 as c_long,
            0 as c_long,
        )
    };
    match check(r) {
        Err(libc::EINTR) => Ok(0),
        x => x,
    }
}

/// getrandom(2), falling back to time and pid if the kernel refuses.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: b is valid for 8 bytes of writes.
    let r = unsafe { libc::syscall(libc::SYS_getrandom, b.as_mut_ptr() as c_long, 8 as c_long, 0 as c_long) };
    if r == 8 {
        return u64::from_ne_bytes(b);
    }
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    t ^ ((getpid() as u64) << 32) ^ 0x9e37_79b9_7f4a_7c15
}

/// getpid(2) (never cached, so it is right in a forked child).
pub fn getpid() -> i32 {
    // SAFETY: plain syscall.
    unsafe { libc::syscall(libc::SYS_getpid) as i32 }
}

/// Blocks every asynchronous signal in the calling thread (rt_sigprocmask), except glibc's
/// internal ones (32, 33: cancellation and setxid, which must stay deliverable) and the
/// synchronous faults. Returns the previous mask, for [`restore_sigmask`].
pub fn block_async_signals() -> u64 {
    let mut set: u64 = !0;
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, libc::SIGABRT, 32, 33] {
        set &= !(1u64 << (sig - 1));
    }
    let mut old: u64 = 0;
    // SAFETY: set/old are 8-byte kernel sigset_t values; sigsetsize = 8.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK as c_long,
            &set as *const u64 as c_long,
            &mut old as *mut u64 as c_long,
            8 as c_long,
        )
    };
    old
}

/// Restores a signal mask returned by [`block_async_signals`].
pub fn restore_sigmask(old: u64) {
    // SAFETY: old is an 8-byte kernel sigset_t.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as c_long,
            &old as *const u64 as c_long,
            0 as c_long,
            8 as c_long,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn eventfd_roundtrip() {
        let fd = eventfd().unwrap();
        assert_eq!(eventfd_drain(fd), 0);
        eventfd_signal(fd);
        eventfd_signal(fd);
        let mut p = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
        assert_eq!(ppoll(&mut p, Some(Duration::from_millis(10))).unwrap(), 1);
        assert_eq!(eventfd_drain(fd), 2);
        assert_eq!(ppoll(&mut p, Some(Duration::from_millis(1))).unwrap(), 0);
        close(fd).unwrap();
        assert_eq!(close(fd), Err(libc::EBADF));
    }
    #[test]
    fn random_differs() {
        assert_ne!(random_u64(), random_u64());
    }
}
