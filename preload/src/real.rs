//! The libc functions the shim replaces, reached through `dlsym(RTLD_NEXT, name)` once and
//! cached in an atomic (docs/preload.md). Variadic ones (`fcntl`, `ioctl`) are called
//! through variadic function pointers, so the real function sees a proper C varargs call.
#![allow(clippy::too_many_arguments)]
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{
    c_int, c_uint, c_ulong, c_void, iovec, msghdr, nfds_t, pollfd, sigset_t, size_t, sockaddr, socklen_t, ssize_t,
    timespec,
};

/// Resolves `name` (NUL-terminated) in the next object after us; aborts with a message if
/// libc lacks it (only possible for a function the program itself just called).
#[cold]
fn resolve(cache: &AtomicUsize, name: &'static str) -> usize {
    // SAFETY: name is NUL-terminated; dlsym is thread-safe.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
    if p == 0 {
        crate::eprint_raw(&format!("tapstack: libc has no {}", name.trim_end_matches('\0')));
        // SAFETY: abort never returns.
        unsafe { libc::abort() }
    }
    cache.store(p, Ordering::Release);
    p
}

macro_rules! real {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        $(
            #[inline]
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                static CACHE: AtomicUsize = AtomicUsize::new(0);
                let mut p = CACHE.load(Ordering::Acquire);
                if p == 0 {
                    p = resolve(&CACHE, concat!(stringify!($name), "\0"));
                }
                let f: unsafe extern "C" fn($($ty),*) -> $ret = std::mem::transmute(p);
                f($($arg),*)
            }
        )*
    };
}

macro_rules! real_variadic {
    ($( fn $name:ident ( $a:ident : $at:ty, $b:ident : $bt:ty, $c:ident : $ct:ty ) -> $ret:ty; )*) => {
        $(
            /// Called as the C variadic function it is, with one variadic argument.
            #[inline]
            pub unsafe fn $name($a: $at, $b: $bt, $c: $ct) -> $ret {
                static CACHE: AtomicUsize = AtomicUsize::new(0);
                let mut p = CACHE.load(Ordering::Acquire);
                if p == 0 {
                    p = resolve(&CACHE, concat!(stringify!($name), "\0"));
                }
                let f: unsafe extern "C" fn($at, $bt, ...) -> $ret = std::mem::transmute(p);
                f($a, $b, $c)
            }
        )*
    };
}

real! {
    fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
    fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn listen(fd: c_int, backlog: c_int) -> c_int;
    fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    fn shutdown(fd: c_int, how: c_int) -> c_int;
    fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;

    fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    fn sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
    fn recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int;
    fn recvmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int, ts: *mut timespec) -> c_int;
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t;
    fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    fn __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;

    fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;

    fn dup(fd: c_int) -> c_int;
    fn dup2(old: c_int, new: c_int) -> c_int;
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    fn fclose(f: *mut libc::FILE) -> c_int;
    fn freopen(path: *const libc::c_char, mode: *const libc::c_char, f: *mut libc::FILE) -> *mut libc::FILE;
    fn freopen64(path: *const libc::c_char, mode: *const libc::c_char, f: *mut libc::FILE) -> *mut libc::FILE;

    fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut libc::epoll_event) -> c_int;
    fn epoll_wait(epfd: c_int, ev: *mut libc::epoll_event, max: c_int, timeout: c_int) -> c_int;
    fn epoll_pwait(epfd: c_int, ev: *mut libc::epoll_event, max: c_int, timeout: c_int, mask: *const sigset_t) -> c_int;
    fn ppoll(fds: *mut pollfd, n: nfds_t, ts: *const timespec, mask: *const sigset_t) -> c_int;
    fn __poll_chk(fds: *mut pollfd, n: nfds_t, timeout: c_int, fdslen: size_t) -> c_int;
    fn __ppoll_chk(fds: *mut pollfd, n: nfds_t, ts: *const timespec, mask: *const sigset_t, fdslen: size_t) -> c_int;
    fn select(n: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, e: *mut libc::fd_set, tv: *mut libc::timeval) -> c_int;
    fn pselect(
        n: c_int,
        r: *mut libc::fd_set,
        w: *mut libc::fd_set,
        e: *mut libc::fd_set,
        ts: *const timespec,
        mask: *const sigset_t
    ) -> c_int;

    fn setuid(uid: libc::uid_t) -> c_int;
    fn seteuid(euid: libc::uid_t) -> c_int;
    fn setreuid(ruid: libc::uid_t, euid: libc::uid_t) -> c_int;
    fn setresuid(ruid: libc::uid_t, euid: libc::uid_t, suid: libc::uid_t) -> c_int;

    fn getifaddrs(ifap: *mut *mut libc::ifaddrs) -> c_int;
    fn freeifaddrs(ifa: *mut libc::ifaddrs) -> ();

}

real_variadic! {
    fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
    fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
    fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int;
}

// ---- raw syscalls for the shim's own I/O (never a hooked libc name) ----

/// close(2) of one of the shim's own descriptors: 0, or -1 with errno.
pub fn sys_close(fd: c_int) -> c_int {
    match tapstack::sys::close(fd) {
        Ok(()) => 0,
        Err(e) => crate::fail(e),
    }
}

pub fn sys_getpid() -> c_int {
    // SAFETY: plain syscall.
    unsafe { libc::syscall(libc::SYS_getpid) as c_int }
}

/// O_NONBLOCK is set on `fd` (the raw fcntl: no hooked name).
pub(crate) fn nonblocking(fd: c_int) -> bool {
    // SAFETY: F_GETFL reads the descriptor's flags, no memory involved.
    let fl = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) };
    fl >= 0 && fl as c_int & libc::O_NONBLOCK != 0
}
