//! Raw Linux system calls: the one place in the crate with `unsafe` code.
//!
//! The preload shim hooks the libc wrappers (read, write, close, poll, ioctl, fcntl, socket,
//! eventfd...), so the runtime, the devices under `phy`, the logger and the shim's own I/O must
//! never call them: every function here enters the kernel directly (the `syscall` instruction on
//! x86_64, `svc 0` on aarch64) and never reads or writes `errno`. A failure is `Err(e)` with the
//! errno value the kernel returned as `-e`; a program's `errno` is never disturbed by our I/O.
//! EINTR is retried where the function says so.
//!
//! This is a leaf: it uses `libc` for constants and types only, nothing else of the crate.
use std::ffi::CStr;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use libc::{c_long, c_void};

pub mod unix;

/// A kernel `sigset_t` for the rt_sig* calls: bit `sig - 1` per signal (64 signals, 8 bytes).
pub type SigSet = u64;
const SIGSET_SIZE: usize = 8;

/// `syscall(nr, args...)` without errno: `Ok(return value)` or `Err(errno)`.
///
/// # Safety
/// The arguments must be what the kernel expects for `nr` (valid pointers of the right size
/// and lifetime); the call must not break Rust's invariants (e.g. unmap memory in use).
#[inline]
pub unsafe fn syscall(nr: c_long, args: &[usize]) -> Result<usize, i32> {
    let mut a = [0usize; 6];
    a[..args.len()].copy_from_slice(args);
    let r = raw6(nr, a);
    // Linux returns -4095..=-1 for errors, anything else is a result.
    if (r as isize) < 0 && (r as isize) >= -4095 {
        Err(-(r as isize) as i32)
    } else {
        Ok(r)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn raw6(nr: c_long, a: [usize; 6]) -> usize {
    let r: usize;
    std::arch::asm!(
        "syscall",
        inlateout("rax") nr as usize => r,
        in("rdi") a[0], in("rsi") a[1], in("rdx") a[2], in("r10") a[3], in("r8") a[4], in("r9") a[5],
        lateout("rcx") _, lateout("r11") _,
        options(nostack)
    );
    r
}

#[cfg(target_arch = "aarch64")]
#[inline]
unsafe fn raw6(nr: c_long, a: [usize; 6]) -> usize {
    let r: usize;
    std::arch::asm!(
        "svc 0",
        in("x8") nr as usize,
        inlateout("x0") a[0] => r,
        in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
        options(nostack)
    );
    r
}

/// Other architectures: libc's `syscall`, with the thread's errno saved and restored around it.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn raw6(nr: c_long, a: [usize; 6]) -> usize {
    let slot = libc::__errno_location();
    let saved = *slot;
    let r = libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    let out = if r < 0 { (-(*slot as isize)) as usize } else { r as usize };
    *slot = saved;
    out
}

/// Runs `f` again while it fails with EINTR.
fn retry<T>(mut f: impl FnMut() -> Result<T, i32>) -> Result<T, i32> {
    loop {
        match f() {
            Err(libc::EINTR) => continue,
            r => return r,
        }
    }
}

/// sched_yield(2): lets anything else runnable on this CPU run first.
pub fn sched_yield() {
    // SAFETY: no arguments, no memory.
    let _ = unsafe { syscall(libc::SYS_sched_yield, &[]) };
}

// ---- descriptors and plain I/O ----

/// read(2). EINTR is retried; EAGAIN is returned as `Err(EAGAIN)`.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: buf is valid for buf.len() bytes of writes.
    retry(|| unsafe { syscall(libc::SYS_read, &[fd as usize, buf.as_mut_ptr() as usize, buf.len()]) })
}

/// write(2). EINTR is retried.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, i32> {
    // SAFETY: buf is valid for buf.len() bytes of reads.
    retry(|| unsafe { syscall(libc::SYS_write, &[fd as usize, buf.as_ptr() as usize, buf.len()]) })
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

/// pread64(2) at `offset`. EINTR is retried.
pub fn pread(fd: i32, buf: &mut [u8], offset: i64) -> Result<usize, i32> {
    // SAFETY: buf is valid for buf.len() bytes of writes.
    retry(|| unsafe {
        syscall(libc::SYS_pread64, &[fd as usize, buf.as_mut_ptr() as usize, buf.len(), offset as usize])
    })
}

/// lseek(2); returns the new offset.
pub fn lseek(fd: i32, offset: i64, whence: i32) -> Result<i64, i32> {
    // SAFETY: integers only.
    unsafe { syscall(libc::SYS_lseek, &[fd as usize, offset as usize, whence as usize]) }.map(|o| o as i64)
}

/// readv(2) into two buffers (a header, then the rest). EINTR is retried.
pub fn readv2(fd: i32, a: &mut [u8], b: &mut [u8]) -> Result<usize, i32> {
    let iov = [
        libc::iovec { iov_base: a.as_mut_ptr() as *mut c_void, iov_len: a.len() },
        libc::iovec { iov_base: b.as_mut_ptr() as *mut c_void, iov_len: b.len() },
    ];
    // SAFETY: both iovecs describe writable buffers that outlive the call.
    retry(|| unsafe { syscall(libc::SYS_readv, &[fd as usize, iov.as_ptr() as usize, 2]) })
}

/// writev(2) of two buffers as one record (a TAP frame with its header). EINTR is retried.
pub fn writev2(fd: i32, a: &[u8], b: &[u8]) -> Result<usize, i32> {
    let iov = [
        libc::iovec { iov_base: a.as_ptr() as *mut c_void, iov_len: a.len() },
        libc::iovec { iov_base: b.as_ptr() as *mut c_void, iov_len: b.len() },
    ];
    // SAFETY: both iovecs describe readable buffers that outlive the call.
    retry(|| unsafe { syscall(libc::SYS_writev, &[fd as usize, iov.as_ptr() as usize, 2]) })
}

/// writev(2) of up to 65 buffers (more: EINVAL). EINTR is retried.
pub fn writev(fd: i32, bufs: &[&[u8]]) -> Result<usize, i32> {
    const MAX: usize = 65;
    if bufs.len() > MAX {
        return Err(libc::EINVAL);
    }
    let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX];
    for (v, b) in iov.iter_mut().zip(bufs) {
        *v = libc::iovec { iov_base: b.as_ptr() as *mut c_void, iov_len: b.len() };
    }
    // SAFETY: the first `bufs.len()` iovecs describe readable buffers that outlive the call.
    retry(|| unsafe { syscall(libc::SYS_writev, &[fd as usize, iov.as_ptr() as usize, bufs.len()]) })
}

/// close(2). Never retried (Linux releases the descriptor even when close reports EINTR).
pub fn close(fd: i32) -> Result<(), i32> {
    // SAFETY: an integer argument.
    unsafe { syscall(libc::SYS_close, &[fd as usize]) }.map(|_| ())
}

/// openat(AT_FDCWD, path, flags, mode). EINTR is retried.
pub fn open(path: &CStr, flags: i32, mode: u32) -> Result<i32, i32> {
    // SAFETY: path is NUL-terminated and outlives the call.
    retry(|| unsafe {
        syscall(libc::SYS_openat, &[libc::AT_FDCWD as usize, path.as_ptr() as usize, flags as usize, mode as usize])
    })
    .map(|fd| fd as i32)
}

/// The whole content of a (small) file, at most `limit` bytes (ENOSPC beyond that).
pub fn read_file(path: &CStr, limit: usize) -> Result<Vec<u8>, i32> {
    let fd = open(path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let r = loop {
        match read(fd, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) if out.len() + n > limit => break Err(libc::ENOSPC),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    let _ = close(fd);
    r.map(|_| out)
}

/// fcntl(2) with an integer argument (F_GETFD, F_GETFL, F_SETFL...).
pub fn fcntl(fd: i32, cmd: i32, arg: usize) -> Result<usize, i32> {
    // SAFETY: commands with integer arguments only read and set descriptor flags.
    unsafe { syscall(libc::SYS_fcntl, &[fd as usize, cmd as usize, arg]) }
}

/// ioctl(2) with a pointer argument.
///
/// # Safety
/// `arg` must point to memory of the size and layout `req` expects.
pub unsafe fn ioctl(fd: i32, req: u64, arg: *mut c_void) -> Result<usize, i32> {
    syscall(libc::SYS_ioctl, &[fd as usize, req as usize, arg as usize])
}

/// ioctl(2) whose argument is passed by value (TUNSETOFFLOAD and the like).
pub fn ioctl_value(fd: i32, req: u64, value: usize) -> Result<usize, i32> {
    // SAFETY: the argument is an integer, never dereferenced.
    unsafe { syscall(libc::SYS_ioctl, &[fd as usize, req as usize, value]) }
}

/// `struct ifreq`: an interface name and a 24-byte union (flags or ifindex at its start).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IfReq {
    pub name: [u8; libc::IFNAMSIZ],
    pub data: [u8; 24],
}

impl IfReq {
    /// A request for interface `name` (truncated to IFNAMSIZ - 1 bytes), data zeroed.
    pub fn new(name: &str) -> IfReq {
        let mut r = IfReq { name: [0; libc::IFNAMSIZ], data: [0; 24] };
        let n = name.len().min(libc::IFNAMSIZ - 1);
        r.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        r
    }
}

/// ioctl(2) whose argument is a `struct ifreq` (SIOCGIFINDEX, SIOCGIFFLAGS, TUNSETIFF...).
pub fn ioctl_ifreq(fd: i32, req: u64, ifr: &mut IfReq) -> Result<usize, i32> {
    // SAFETY: ifr is a live, writable struct ifreq.
    unsafe { ioctl(fd, req, ifr as *mut IfReq as *mut c_void) }
}

// ---- sockets ----

/// socket(2).
pub fn socket(domain: i32, ty: i32, proto: i32) -> Result<i32, i32> {
    // SAFETY: integers only.
    unsafe { syscall(libc::SYS_socket, &[domain as usize, ty as usize, proto as usize]) }.map(|fd| fd as i32)
}

/// socketpair(2).
pub fn socketpair(domain: i32, ty: i32, proto: i32) -> Result<(i32, i32), i32> {
    let mut fds = [-1i32; 2];
    // SAFETY: fds has room for the two descriptors.
    unsafe { syscall(libc::SYS_socketpair, &[domain as usize, ty as usize, proto as usize, fds.as_mut_ptr() as usize]) }
        .map(|_| (fds[0], fds[1]))
}

fn sockaddr_v4(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
        sin_zero: [0; 8],
    }
}

/// connect(2) to an IPv4 address. EINTR is returned (the connection goes on in the kernel).
pub fn connect_v4(fd: i32, to: SocketAddrV4) -> Result<(), i32> {
    let sa = sockaddr_v4(to);
    let len = std::mem::size_of::<libc::sockaddr_in>();
    // SAFETY: sa is a live sockaddr_in of `len` bytes.
    unsafe { syscall(libc::SYS_connect, &[fd as usize, &sa as *const libc::sockaddr_in as usize, len]) }.map(|_| ())
}

/// send(2) on a connected socket (sendto without an address). EINTR is retried.
pub fn send(fd: i32, buf: &[u8], flags: i32) -> Result<usize, i32> {
    // SAFETY: buf is valid for buf.len() bytes of reads; no address.
    retry(|| unsafe {
        syscall(libc::SYS_sendto, &[fd as usize, buf.as_ptr() as usize, buf.len(), flags as usize, 0, 0])
    })
}

/// recvfrom(2) on an IPv4 socket: the length and the sender (0.0.0.0:0 if the kernel gave no
/// IPv4 address). EINTR is retried.
pub fn recvfrom_v4(fd: i32, buf: &mut [u8], flags: i32) -> Result<(usize, SocketAddrV4), i32> {
    let mut sa = sockaddr_v4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let n = retry(|| {
        // SAFETY: buf, sa and len are live and sized as passed.
        unsafe {
            syscall(
                libc::SYS_recvfrom,
                &[
                    fd as usize,
                    buf.as_mut_ptr() as usize,
                    buf.len(),
                    flags as usize,
                    &mut sa as *mut libc::sockaddr_in as usize,
                    &mut len as *mut libc::socklen_t as usize,
                ],
            )
        }
    })?;
    let from = if sa.sin_family == libc::AF_INET as libc::sa_family_t {
        SocketAddrV4::new(Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()), u16::from_be(sa.sin_port))
    } else {
        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
    };
    Ok((n, from))
}

// ---- eventfd, poll ----

/// eventfd2(2): a counter descriptor, close-on-exec and nonblocking.
pub fn eventfd() -> Result<i32, i32> {
    let flags = (libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) as usize;
    // SAFETY: integers only.
    unsafe { syscall(libc::SYS_eventfd2, &[0, flags]) }.map(|fd| fd as i32)
}

/// Adds 1 to an eventfd counter (makes it readable).
pub fn eventfd_signal(fd: i32) {
    let _ = write(fd, &1u64.to_ne_bytes());
}

/// Resets a nonblocking eventfd counter to zero; returns the value it had.
pub fn eventfd_drain(fd: i32) -> u64 {
    let mut b = [0u8; 8];
    match read(fd, &mut b) {
        Ok(8) => u64::from_ne_bytes(b),
        _ => 0,
    }
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// ppoll(2) on `fds` for at most `timeout` (None: forever), with the signal mask `mask` during
/// the wait (None: unchanged). Returns the number of ready descriptors (0 on timeout); EINTR
/// (a signal handler ran) is `Err(EINTR)`.
pub fn ppoll_mask(fds: &mut [libc::pollfd], timeout: Option<Duration>, mask: Option<SigSet>) -> Result<usize, i32> {
    let ts = timeout.map(timespec);
    let tsp = ts.as_ref().map_or(0, |t| t as *const libc::timespec as usize);
    let maskp = mask.as_ref().map_or(0, |m| m as *const SigSet as usize);
    // SAFETY: fds is a valid array of pollfd; tsp and maskp are null or point to live values.
    unsafe { syscall(libc::SYS_ppoll, &[fds.as_mut_ptr() as usize, fds.len(), tsp, maskp, SIGSET_SIZE]) }
}

/// ppoll(2) on `fds` for at most `timeout` (None: forever); no signal mask change.
/// Returns the number of ready descriptors (0 on timeout); EINTR is reported as Ok(0).
pub fn ppoll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize, i32> {
    match ppoll_mask(fds, timeout, None) {
        Err(libc::EINTR) => Ok(0),
        x => x,
    }
}

// ---- processes, randomness ----

/// getrandom(2) into `buf`; returns how many bytes were filled.
pub fn getrandom(buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: buf is valid for buf.len() bytes of writes.
    retry(|| unsafe { syscall(libc::SYS_getrandom, &[buf.as_mut_ptr() as usize, buf.len(), 0]) })
}

/// 64 random bits from getrandom(2), falling back to time and pid if the kernel refuses.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom(&mut b) == Ok(8) {
        return u64::from_ne_bytes(b);
    }
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    t ^ ((getpid() as u64) << 32) ^ 0x9e37_79b9_7f4a_7c15
}

/// getpid(2) (never cached, so it is right in a forked child).
pub fn getpid() -> i32 {
    // SAFETY: no arguments; getpid cannot fail.
    unsafe { syscall(libc::SYS_getpid, &[]) }.unwrap_or(0) as i32
}

/// geteuid(2).
pub fn geteuid() -> u32 {
    // SAFETY: no arguments; geteuid cannot fail.
    unsafe { syscall(libc::SYS_geteuid, &[]) }.unwrap_or(u32::MAX as usize) as u32
}

/// setns(2): moves the calling thread into the namespace `fd` refers to.
pub fn setns(fd: i32, nstype: i32) -> Result<(), i32> {
    // SAFETY: integers only; affects the calling thread.
    unsafe { syscall(libc::SYS_setns, &[fd as usize, nstype as usize]) }.map(|_| ())
}

// ---- signals ----

/// rt_sigprocmask(2) of the calling thread: `how` (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK) with
/// `set` (None: only read). Returns the previous mask.
pub fn sigprocmask(how: i32, set: Option<SigSet>) -> Result<SigSet, i32> {
    let mut old: SigSet = 0;
    let setp = set.as_ref().map_or(0, |s| s as *const SigSet as usize);
    // SAFETY: set/old are 8-byte kernel sigsets; sigsetsize = 8.
    unsafe { syscall(libc::SYS_rt_sigprocmask, &[how as usize, setp, &mut old as *mut SigSet as usize, SIGSET_SIZE]) }?;
    Ok(old)
}

/// The signal set holding `sigs`.
pub fn sigset(sigs: &[i32]) -> SigSet {
    sigs.iter().filter(|&&s| (1..=64).contains(&s)).fold(0, |m, &s| m | 1 << (s - 1))
}

/// Blocks every asynchronous signal in the calling thread (rt_sigprocmask), except glibc's
/// internal ones (32, 33: cancellation and setxid, which must stay deliverable) and the
/// synchronous faults. Returns the previous mask, for [`restore_sigmask`].
pub fn block_async_signals() -> SigSet {
    let keep = sigset(&[libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, libc::SIGABRT, 32, 33]);
    sigprocmask(libc::SIG_BLOCK, Some(!keep)).unwrap_or(0)
}

/// Restores a signal mask returned by [`block_async_signals`].
pub fn restore_sigmask(old: SigSet) {
    let _ = sigprocmask(libc::SIG_SETMASK, Some(old));
}

/// The kernel's `struct sigaction` (x86_64/aarch64 layout; not glibc's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelSigaction {
    /// SIG_DFL (0), SIG_IGN (1) or the handler's address.
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: SigSet,
}

/// The current disposition of `sig` (rt_sigaction with no new action: never changes it).
pub fn sigaction_get(sig: i32) -> Result<KernelSigaction, i32> {
    let mut old = KernelSigaction::default();
    // SAFETY: no new action; old is a live kernel sigaction.
    unsafe {
        syscall(libc::SYS_rt_sigaction, &[sig as usize, 0, &mut old as *mut KernelSigaction as usize, SIGSET_SIZE])
    }?;
    Ok(old)
}

/// signalfd4(2): a new descriptor (`fd` = -1) or an updated mask for signalfd `fd`.
pub fn signalfd(fd: i32, mask: SigSet, flags: i32) -> Result<i32, i32> {
    // SAFETY: mask is a live 8-byte kernel sigset.
    unsafe {
        syscall(libc::SYS_signalfd4, &[fd as usize, &mask as *const SigSet as usize, SIGSET_SIZE, flags as usize])
    }
    .map(|fd| fd as i32)
}

/// rt_sigtimedwait(2): takes one pending signal of `set` (which must be blocked), waiting at
/// most `timeout`. Ok(None) on timeout or EINTR.
pub fn sigtimedwait(set: SigSet, timeout: Duration) -> Result<Option<i32>, i32> {
    let ts = timespec(timeout);
    // SAFETY: set and ts are live; no siginfo requested.
    let r = unsafe {
        syscall(
            libc::SYS_rt_sigtimedwait,
            &[&set as *const SigSet as usize, 0, &ts as *const libc::timespec as usize, SIGSET_SIZE],
        )
    };
    match r {
        Ok(sig) => Ok(Some(sig as i32)),
        Err(libc::EAGAIN | libc::EINTR) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (the service holds a descriptor
/// per socket: 50,000 connections need more than the usual soft 1024); returns the soft limit
/// now in force.
pub fn raise_nofile_limit() -> Result<u64, i32> {
    let mut r = [0u64; 2]; // struct rlimit64 { rlim_cur, rlim_max }
    let res = libc::RLIMIT_NOFILE as usize;
    // SAFETY: prlimit64(0 = this process, RLIMIT_NOFILE, no new limit, &old) writes 16 bytes.
    unsafe { syscall(libc::SYS_prlimit64, &[0, res, 0, r.as_mut_ptr() as usize]) }?;
    if r[0] < r[1] {
        let new = [r[1], r[1]];
        // SAFETY: reads the 16-byte new limit, writes nothing.
        unsafe { syscall(libc::SYS_prlimit64, &[0, res, new.as_ptr() as usize, 0]) }?;
    }
    Ok(r[1])
}

/// A short description of an errno, without calling into libc's locale machinery.
pub fn strerror(e: i32) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nofile_soft_limit_rises_to_the_hard_limit() {
        let got = raise_nofile_limit().unwrap();
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
        assert_eq!((r.rlim_cur, got), (r.rlim_max, r.rlim_max));
    }

    /// The thread's errno, read through libc (the thing this module must never change).
    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
    fn set_errno(v: i32) {
        // SAFETY: glibc returns the calling thread's errno slot.
        unsafe { *libc::__errno_location() = v }
    }

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
    fn failures_return_the_errno_and_leave_errno_alone() {
        set_errno(12345);
        assert_eq!(close(-1), Err(libc::EBADF));
        assert_eq!(read(-1, &mut [0u8; 4]), Err(libc::EBADF));
        assert_eq!(open(c"/nonexistent/tapstack", libc::O_RDONLY, 0), Err(libc::ENOENT));
        assert_eq!(fcntl(-1, libc::F_GETFD, 0), Err(libc::EBADF));
        assert_eq!(errno(), 12345, "errno changed by a raw syscall");
        let fd = eventfd().unwrap();
        assert_eq!(errno(), 12345);
        close(fd).unwrap();
    }

    #[test]
    fn files_sockets_and_signals() {
        let text = read_file(c"/proc/self/stat", 1 << 20).unwrap();
        let pid = String::from_utf8_lossy(&text).split(' ').next().unwrap().parse::<i32>().unwrap();
        assert_eq!(pid, getpid());
        assert_eq!(read_file(c"/proc/self/stat", 3), Err(libc::ENOSPC));

        let (a, b) = socketpair(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0).unwrap();
        assert_eq!(send(a, b"hello", 0), Ok(5));
        let mut buf = [0u8; 16];
        let (n, from) = recvfrom_v4(b, &mut buf, libc::MSG_DONTWAIT).unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
        assert_eq!(recvfrom_v4(b, &mut buf, libc::MSG_DONTWAIT), Err(libc::EAGAIN));
        assert!(fcntl(a, libc::F_GETFD, 0).unwrap() & libc::FD_CLOEXEC as usize != 0);
        close(a).unwrap();
        close(b).unwrap();

        assert_eq!(sigset(&[1, 64, 0, 65]), 1 | 1 << 63);
        let old = sigprocmask(libc::SIG_BLOCK, None).unwrap();
        let usr2 = sigset(&[libc::SIGUSR2]);
        assert_eq!(sigprocmask(libc::SIG_BLOCK, Some(usr2)).unwrap(), old);
        assert_eq!(sigtimedwait(usr2, Duration::from_millis(1)), Ok(None));
        restore_sigmask(old);
        assert_eq!(sigprocmask(libc::SIG_BLOCK, None).unwrap(), old);
        assert_eq!(sigaction_get(libc::SIGUSR2).unwrap().handler, 0, "SIGUSR2 at its default");
        assert_eq!(sigaction_get(0), Err(libc::EINVAL));
    }

    #[test]
    fn random_differs() {
        assert_ne!(random_u64(), random_u64());
    }
}
