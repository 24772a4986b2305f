//! `syscall(2)`, libc's generic system-call function, interposed: programs (libuv, so bind9's
//! dig/host/nslookup and node's dgram) send and receive with `syscall(__NR_sendmmsg, ...)` /
//! `syscall(__NR_recvmmsg, ...)`, which would hand a tapstack descriptor to the kernel. For the
//! socket-call numbers on tapstack descriptors (and `socket` itself) the call goes to our hook
//! of the same name, with the same -1/errno convention as `syscall()`; every other call enters
//! the kernel directly (the same `syscall` instruction as glibc's, errno set from -ret).
//!
//! Calling convention (the invariant the signature relies on). `syscall` is variadic in C;
//! stable Rust cannot define C-variadic functions, so it is defined with seven fixed `long`
//! parameters. On x86_64 (System V) a variadic call passes its integer arguments exactly as a
//! fixed-signature call does: the first six in rdi, rsi, rdx, rcx, r8, r9, the seventh on the
//! stack at 8(%rsp) on entry (%al, the count of vector registers, is ignored by a non-variadic
//! callee). A caller passing fewer arguments leaves the remaining registers (and
//! the caller-owned stack slot, always mapped) with values we read but never use for a call
//! that does not take them, which is what glibc's own `syscall()` does. Other targets do not
//! export the hook, so libc's `syscall` runs untouched there (aarch64 Linux passes variadic
//! integers like named ones too, but its system-call table lacks dup2 & co.: a port needs its
//! own number list).
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use libc::{c_int, c_long, c_uint, c_ulong, c_void, iovec, mmsghdr, msghdr, sockaddr, socklen_t, timespec};

use crate::svc::{is_internal, kind as svc_kind};

/// What a system-call number means for us.
enum Kind {
    /// Not a socket call: straight to the kernel.
    Other,
    /// socket(2): ours decides (AF_INET/AF_INET6 TCP/UDP become tapstack sockets).
    Socket,
    /// A call whose descriptor is argument `n` (1-based).
    OnFd(u8),
    /// close, dup2, dup3, close_range: also ours when they would close or replace one of our
    /// descriptors or one the shim owns (its control channel, per-thread signalfds), as the libc hooks guard.
    Closing,
}

#[inline]
fn kind(n: c_long) -> Kind {
    match n {
        libc::SYS_socket => Kind::Socket,
        libc::SYS_close | libc::SYS_dup2 | libc::SYS_dup3 | libc::SYS_close_range => Kind::Closing,
        libc::SYS_read
        | libc::SYS_write
        | libc::SYS_readv
        | libc::SYS_writev
        | libc::SYS_ioctl
        | libc::SYS_fcntl
        | libc::SYS_dup
        | libc::SYS_connect
        | libc::SYS_accept
        | libc::SYS_accept4
        | libc::SYS_sendto
        | libc::SYS_recvfrom
        | libc::SYS_sendmsg
        | libc::SYS_recvmsg
        | libc::SYS_sendmmsg
        | libc::SYS_recvmmsg
        | libc::SYS_shutdown
        | libc::SYS_bind
        | libc::SYS_listen
        | libc::SYS_getsockname
        | libc::SYS_getpeername
        | libc::SYS_setsockopt
        | libc::SYS_getsockopt => Kind::OnFd(1),
        _ => Kind::Other,
    }
}

/// The kernel call itself, with `syscall()`'s convention: the result, or -1 with errno.
#[inline]
fn direct(n: c_long, a: [c_long; 6]) -> c_long {
    let args = a.map(|x| x as usize);
    // SAFETY: the program asked for exactly this system call with these arguments; we pass
    // them on unchanged, as libc's syscall() would.
    unsafe { crate::raw_syscall(n, &args) }
}

/// # Safety
/// Called by C code as `syscall(n, ...)`; see the module documentation for why the fixed
/// signature receives the variadic arguments. The arguments must be valid for call `n`, as for
/// the real `syscall()`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let a = [a1, a2, a3, a4, a5, a6];
    match kind(n) {
        Kind::Other if n == libc::SYS_seccomp || n == libc::SYS_prctl => {
            let r = direct(n, a);
            crate::sandbox::note(n, &a, r != -1);
            r
        }
        Kind::Other => direct(n, a),
        Kind::OnFd(i) if svc_kind(a[i as usize - 1] as c_int) == 0 => direct(n, a),
        Kind::Closing if !closes_ours(n, a) => direct(n, a),
        Kind::Socket | Kind::OnFd(_) | Kind::Closing => ours(n, a),
    }
}

/// Whether a close/dup2/dup3/close_range touches a tapstack or shim-owned descriptor.
fn closes_ours(n: c_long, a: [c_long; 6]) -> bool {
    let mine = |fd: c_long| is_internal(fd as c_int) || svc_kind(fd as c_int) != 0;
    match n {
        libc::SYS_close => mine(a[0]),
        libc::SYS_close_range => true, // a range: the hook checks it (rare call)
        _ => mine(a[0]) || mine(a[1]),
    }
}

/// A socket call on one of our descriptors (or socket(2)): the hook of the same name. Each
/// hook passes the call to libc itself when re-entered from inside the shim.
#[cold]
unsafe fn ours(n: c_long, a: [c_long; 6]) -> c_long {
    let [a1, a2, a3, a4, a5, _a6] = a;
    let fd = a1 as c_int;
    let p = |x: c_long| x as *mut c_void;
    let r: c_long = match n {
        libc::SYS_socket => crate::socket::socket(fd, a2 as c_int, a3 as c_int) as c_long,
        libc::SYS_read => crate::io::read(fd, p(a2), a3 as usize) as c_long,
        libc::SYS_write => crate::io::write(fd, p(a2), a3 as usize) as c_long,
        libc::SYS_close => crate::dup::close(fd) as c_long,
        libc::SYS_readv => crate::io::readv(fd, a2 as *const iovec, a3 as c_int) as c_long,
        libc::SYS_writev => crate::io::writev(fd, a2 as *const iovec, a3 as c_int) as c_long,
        libc::SYS_ioctl => crate::opts::ioctl(fd, a2 as c_ulong, p(a3)) as c_long,
        libc::SYS_fcntl => crate::opts::fcntl(fd, a2 as c_int, a3 as c_ulong) as c_long,
        libc::SYS_dup => crate::dup::dup(fd) as c_long,
        libc::SYS_dup2 => crate::dup::dup2(fd, a2 as c_int) as c_long,
        libc::SYS_dup3 => crate::dup::dup3(fd, a2 as c_int, a3 as c_int) as c_long,
        libc::SYS_close_range => crate::dup::close_range(a1 as c_uint, a2 as c_uint, a3 as c_int) as c_long,
        libc::SYS_connect => crate::socket::connect(fd, a2 as *const sockaddr, a3 as socklen_t) as c_long,
        libc::SYS_accept => crate::socket::accept(fd, a2 as *mut sockaddr, a3 as *mut socklen_t) as c_long,
        libc::SYS_accept4 => {
            crate::socket::accept4(fd, a2 as *mut sockaddr, a3 as *mut socklen_t, a4 as c_int) as c_long
        }
        libc::SYS_sendto => {
            crate::io::sendto(fd, p(a2), a3 as usize, a4 as c_int, a5 as *const sockaddr, a[5] as socklen_t) as c_long
        }
        libc::SYS_recvfrom => {
            crate::io::recvfrom(fd, p(a2), a3 as usize, a4 as c_int, a5 as *mut sockaddr, a[5] as *mut socklen_t)
                as c_long
        }
        libc::SYS_sendmsg => crate::io::sendmsg(fd, a2 as *const msghdr, a3 as c_int) as c_long,
        libc::SYS_recvmsg => crate::io::recvmsg(fd, a2 as *mut msghdr, a3 as c_int) as c_long,
        libc::SYS_sendmmsg => crate::io::sendmmsg(fd, a2 as *mut mmsghdr, a3 as c_uint, a4 as c_int) as c_long,
        libc::SYS_recvmmsg => {
            crate::io::recvmmsg(fd, a2 as *mut mmsghdr, a3 as c_uint, a4 as c_int, a5 as *mut timespec) as c_long
        }
        libc::SYS_shutdown => crate::socket::shutdown(fd, a2 as c_int) as c_long,
        libc::SYS_bind => crate::socket::bind(fd, a2 as *const sockaddr, a3 as socklen_t) as c_long,
        libc::SYS_listen => crate::socket::listen(fd, a2 as c_int) as c_long,
        libc::SYS_getsockname => crate::socket::getsockname(fd, a2 as *mut sockaddr, a3 as *mut socklen_t) as c_long,
        libc::SYS_getpeername => crate::socket::getpeername(fd, a2 as *mut sockaddr, a3 as *mut socklen_t) as c_long,
        libc::SYS_setsockopt => crate::opts::setsockopt(fd, a2 as c_int, a3 as c_int, p(a4), a5 as socklen_t) as c_long,
        libc::SYS_getsockopt => {
            crate::opts::getsockopt(fd, a2 as c_int, a3 as c_int, p(a4), a5 as *mut socklen_t) as c_long
        }
        _ => direct(n, a),
    };
    r
}
