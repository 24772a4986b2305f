//! AF_UNIX sockets, descriptor passing (SCM_RIGHTS), peer credentials, fstat identity and
//! epoll: the raw calls the shared service (`tapstack::service`) and the shim's service mode
//! need, re-exported by `service::fdpass`. Part of `sys`, the one module with `unsafe` code:
//! every call enters the kernel directly and never touches errno (errors are `Err(errno)`);
//! every block states what makes it sound.
use libc::{c_long, c_void};

use super::syscall;

fn ret(r: Result<usize, i32>) -> Result<usize, i32> {
    r
}

/// `syscall` with up to six integer arguments (pointers passed as usize by the callers).
///
/// # Safety
/// As `crate::sys::syscall`: the arguments must be what the kernel expects for `nr`.
unsafe fn sc(nr: c_long, args: &[i64]) -> Result<usize, i32> {
    let mut v = [0usize; 6];
    for (d, &a) in v.iter_mut().zip(args) {
        *d = a as usize;
    }
    syscall(nr, &v[..args.len().min(6)])
}

/// socketpair(AF_UNIX, ty | SOCK_CLOEXEC).
pub fn socketpair(ty: i32) -> Result<(i32, i32), i32> {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a writable array of two ints.
    ret(unsafe {
        sc(
            libc::SYS_socketpair,
            &[(libc::AF_UNIX) as i64, (ty | libc::SOCK_CLOEXEC) as i64, 0, (fds.as_mut_ptr()) as i64],
        )
    })?;
    Ok((fds[0], fds[1]))
}

/// Sends one record `buf` with descriptor `fd` (if any) attached. EINTR retried.
pub fn send_with_fd(sock: i32, buf: &[u8], fd: Option<i32>, flags: i32) -> Result<usize, i32> {
    send_with_fds(sock, buf, fd.as_slice(), flags)
}

/// Receives one record into `buf`; returns its length and the descriptor passed with it
/// (close-on-exec). Extra descriptors (a misbehaving peer) are closed. EINTR is returned
/// (the caller decides), so a signal can interrupt a wait.
pub fn recv_with_fd(sock: i32, buf: &mut [u8], flags: i32) -> Result<(usize, Option<i32>), i32> {
    let (n, [first, extra]) = recv_with_fds(sock, buf, flags)?;
    if let Some(fd) = extra {
        let _ = super::close(fd);
    }
    Ok((n, first))
}

/// Sends one record `buf` with up to two descriptors attached (one SCM_RIGHTS message, in
/// order). EINTR retried.
pub fn send_with_fds(sock: i32, buf: &[u8], fds: &[i32], flags: i32) -> Result<usize, i32> {
    let fds = &fds[..fds.len().min(2)];
    let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut c_void, iov_len: buf.len() };
    let mut cbuf = [0u64; 4]; // CMSG_SPACE(2 * sizeof(int)) = 24 bytes, aligned
                              // SAFETY: msghdr is plain data; zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let n = (4 * fds.len()) as u32;
        // SAFETY: the control buffer is large and aligned enough for two ints' cmsg.
        unsafe {
            msg.msg_control = cbuf.as_mut_ptr() as *mut c_void;
            msg.msg_controllen = libc::CMSG_SPACE(n) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(n) as usize;
            for (i, &fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned((libc::CMSG_DATA(c) as *mut i32).add(i), fd);
            }
        }
    }
    loop {
        // SAFETY: msg points to live iovec and control buffers.
        let r = unsafe {
            sc(
                libc::SYS_sendmsg,
                &[sock as i64, (&msg as *const libc::msghdr) as i64, (flags | libc::MSG_NOSIGNAL) as i64],
            )
        };
        match ret(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// Receives one record into `buf`; returns its length and the first two descriptors passed
/// with it, in order (close-on-exec). Further descriptors (a misbehaving peer) are closed.
/// EINTR is returned.
pub fn recv_with_fds(sock: i32, buf: &mut [u8], flags: i32) -> Result<(usize, [Option<i32>; 2]), i32> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut c_void, iov_len: buf.len() };
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg points to live buffers.
    let r = unsafe {
        sc(
            libc::SYS_recvmsg,
            &[sock as i64, (&mut msg as *mut libc::msghdr) as i64, (flags | libc::MSG_CMSG_CLOEXEC) as i64],
        )
    };
    let n = ret(r)?;
    let mut got = [None, None];
    let mut k = 0;
    // SAFETY: walking the control messages the kernel wrote into cbuf.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const i32;
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    if k < 2 {
                        got[k] = Some(fd);
                        k += 1;
                    } else {
                        let _ = crate::sys::close(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, got))
}

/// (st_dev, st_ino) of a descriptor: how the service recognises the sockets it made.
pub fn identity(fd: i32) -> Result<(u64, u64), i32> {
    // SAFETY: stat is plain data; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is writable.
    ret(unsafe { sc(libc::SYS_fstat, &[fd as i64, (&mut st as *mut libc::stat) as i64]) })?;
    Ok((st.st_dev, st.st_ino))
}

/// SO_PEERCRED of a Unix socket: (pid, uid).
pub fn peer_cred(fd: i32) -> Result<(i32, u32), i32> {
    // SAFETY: ucred is plain data.
    let mut cr: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cr/len are writable and sized.
    ret(unsafe {
        sc(
            libc::SYS_getsockopt,
            &[
                fd as i64,
                (libc::SOL_SOCKET) as i64,
                (libc::SO_PEERCRED) as i64,
                (&mut cr as *mut libc::ucred) as i64,
                (&mut len as *mut libc::socklen_t) as i64,
            ],
        )
    })?;
    Ok((cr.pid, cr.uid))
}

/// getsockopt for an int option.
pub fn getsockopt_int(fd: i32, level: i32, name: i32) -> Result<i32, i32> {
    let mut v: i32 = 0;
    let mut len = 4 as libc::socklen_t;
    // SAFETY: v/len are writable.
    ret(unsafe {
        sc(
            libc::SYS_getsockopt,
            &[
                fd as i64,
                level as i64,
                name as i64,
                (&mut v as *mut i32) as i64,
                (&mut len as *mut libc::socklen_t) as i64,
            ],
        )
    })?;
    Ok(v)
}

/// setsockopt for an int option.
pub fn setsockopt_int(fd: i32, level: i32, name: i32, v: i32) -> Result<(), i32> {
    // SAFETY: v is readable for 4 bytes.
    ret(unsafe { sc(libc::SYS_setsockopt, &[fd as i64, level as i64, name as i64, (&v as *const i32) as i64, 4]) })
        .map(|_| ())
}

/// send(2) with flags (MSG_DONTWAIT | MSG_NOSIGNAL added). EINTR retried.
pub fn send(fd: i32, buf: &[u8], flags: i32) -> Result<usize, i32> {
    loop {
        // SAFETY: buf is readable.
        let r = unsafe {
            sc(
                libc::SYS_sendto,
                &[
                    fd as i64,
                    (buf.as_ptr()) as i64,
                    (buf.len()) as i64,
                    (flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as i64,
                    0,
                    0,
                ],
            )
        };
        match ret(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// recv(2) with flags (MSG_DONTWAIT added). EINTR retried.
pub fn recv(fd: i32, buf: &mut [u8], flags: i32) -> Result<usize, i32> {
    loop {
        // SAFETY: buf is writable.
        let r = unsafe {
            sc(
                libc::SYS_recvfrom,
                &[fd as i64, (buf.as_mut_ptr()) as i64, (buf.len()) as i64, (flags | libc::MSG_DONTWAIT) as i64, 0, 0],
            )
        };
        match ret(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// recvmsg(2) into two buffers, `a` filled first (a stream read straight into a ring whose
/// space wraps), MSG_DONTWAIT added. EINTR retried.
pub fn recv_vectored(fd: i32, a: &mut [u8], b: &mut [u8], flags: i32) -> Result<usize, i32> {
    let iov = [
        libc::iovec { iov_base: a.as_mut_ptr() as *mut c_void, iov_len: a.len() },
        libc::iovec { iov_base: b.as_mut_ptr() as *mut c_void, iov_len: b.len() },
    ];
    // SAFETY: the iovecs name writable buffers that outlive the call.
    unsafe { msg_two(libc::SYS_recvmsg, fd, iov, flags | libc::MSG_DONTWAIT) }
}

/// sendmsg(2) of two buffers, `a` first (a stream written straight from a ring whose data
/// wraps), MSG_DONTWAIT | MSG_NOSIGNAL added. EINTR retried.
pub fn send_vectored(fd: i32, a: &[u8], b: &[u8], flags: i32) -> Result<usize, i32> {
    let iov = [
        libc::iovec { iov_base: a.as_ptr() as *mut c_void, iov_len: a.len() },
        libc::iovec { iov_base: b.as_ptr() as *mut c_void, iov_len: b.len() },
    ];
    // SAFETY: the iovecs name readable buffers that outlive the call (sendmsg only reads them).
    unsafe { msg_two(libc::SYS_sendmsg, fd, iov, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
}

/// recvmsg or sendmsg (`nr`) of two iovecs, no address, no control; EINTR retried.
///
/// # Safety
/// The iovecs must name buffers valid for the call (writable for recvmsg).
unsafe fn msg_two(nr: i64, fd: i32, mut iov: [libc::iovec; 2], flags: i32) -> Result<usize, i32> {
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = 2;
    loop {
        // SAFETY: msg names the caller's two iovecs, valid per this function's contract.
        let r = unsafe { sc(nr, &[fd as i64, (&mut msg as *mut libc::msghdr) as i64, flags as i64]) };
        match ret(r) {
            Err(libc::EINTR) => continue,
            x => return x,
        }
    }
}

/// Bytes waiting to be read on a socket (ioctl FIONREAD; a stream's whole queue).
pub fn unread(fd: i32) -> Result<usize, i32> {
    let mut v: i32 = 0;
    // SAFETY: v is a writable int, what FIONREAD stores.
    ret(unsafe { sc(libc::SYS_ioctl, &[fd as i64, libc::FIONREAD as i64, (&mut v as *mut i32) as i64]) })?;
    Ok(v.max(0) as usize)
}

/// shutdown(2).
pub fn shutdown(fd: i32, how: i32) -> Result<(), i32> {
    // SAFETY: plain syscall.
    ret(unsafe { sc(libc::SYS_shutdown, &[fd as i64, how as i64]) }).map(|_| ())
}

/// An abstract AF_UNIX address `\0name` and its length.
pub fn abstract_addr(name: &str) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain data.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let b = name.as_bytes();
    let n = b.len().min(a.sun_path.len() - 1);
    for (i, &c) in b[..n].iter().enumerate() {
        a.sun_path[1 + i] = c as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + 1 + n;
    (a, len as libc::socklen_t)
}

/// connect(2) to the abstract name (a SOCK_SEQPACKET | SOCK_CLOEXEC socket is made).
pub fn connect_abstract(name: &str) -> Result<i32, i32> {
    let fd = super::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0)?;
    let (a, len) = abstract_addr(name);
    // SAFETY: a is a valid sockaddr_un of length len.
    let r = unsafe { sc(libc::SYS_connect, &[fd as i64, (&a as *const libc::sockaddr_un) as i64, len as i64]) };
    if let Err(e) = ret(r) {
        let _ = super::close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// epoll_create1(EPOLL_CLOEXEC).
pub fn epoll_create() -> Result<i32, i32> {
    // SAFETY: integers only.
    unsafe { sc(libc::SYS_epoll_create1, &[libc::EPOLL_CLOEXEC as i64]) }.map(|f| f as i32)
}

/// epoll_ctl(op, fd, {events, token}).
pub fn epoll_ctl(ep: i32, op: i32, fd: i32, events: u32, token: u64) -> Result<(), i32> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: ev is a live epoll_event.
    unsafe { sc(libc::SYS_epoll_ctl, &[ep as i64, op as i64, fd as i64, &mut ev as *mut libc::epoll_event as i64]) }
        .map(|_| ())
}

/// epoll_wait (as epoll_pwait without a mask); EINTR is `Ok(0)`.
pub fn epoll_wait(ep: i32, events: &mut [libc::epoll_event], timeout_ms: i32) -> Result<usize, i32> {
    // SAFETY: events is a writable array of its length.
    match unsafe {
        sc(
            libc::SYS_epoll_pwait,
            &[ep as i64, events.as_mut_ptr() as i64, events.len() as i64, timeout_ms as i64, 0, 8],
        )
    } {
        Err(libc::EINTR) => Ok(0),
        r => r,
    }
}

/// epoll_pwait2 with a timeout to the nanosecond (None: forever); where the kernel lacks it
/// (before 5.11), epoll_pwait with the timeout rounded up to a millisecond.
pub fn epoll_wait_for(
    ep: i32,
    events: &mut [libc::epoll_event],
    timeout: Option<std::time::Duration>,
) -> Result<usize, i32> {
    static NO_PWAIT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let ms = |t: std::time::Duration| t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    let Some(t) = timeout else { return epoll_wait(ep, events, -1) };
    if NO_PWAIT2.load(std::sync::atomic::Ordering::Relaxed) {
        return epoll_wait(ep, events, ms(t));
    }
    let ts = libc::timespec { tv_sec: t.as_secs().min(i64::MAX as u64) as i64, tv_nsec: t.subsec_nanos() as i64 };
    // SAFETY: events is a writable array of its length; ts a valid timespec; no signal mask.
    match unsafe {
        sc(
            libc::SYS_epoll_pwait2,
            &[ep as i64, events.as_mut_ptr() as i64, events.len() as i64, (&ts as *const libc::timespec) as i64, 0, 8],
        )
    } {
        Err(libc::EINTR) => Ok(0),
        Err(libc::ENOSYS) => {
            NO_PWAIT2.store(true, std::sync::atomic::Ordering::Relaxed);
            epoll_wait(ep, events, ms(t))
        }
        r => r,
    }
}

/// accept4(fd, NULL, NULL, flags).
pub fn accept4(fd: i32, flags: i32) -> Result<i32, i32> {
    // SAFETY: no address out-parameters.
    unsafe { sc(libc::SYS_accept4, &[fd as i64, 0, 0, flags as i64]) }.map(|f| f as i32)
}

/// fcntl(F_SETFL, O_NONBLOCK | O_RDWR).
pub fn set_nonblock(fd: i32) -> Result<(), i32> {
    // SAFETY: integers only.
    unsafe { sc(libc::SYS_fcntl, &[fd as i64, libc::F_SETFL as i64, (libc::O_NONBLOCK | libc::O_RDWR) as i64]) }
        .map(|_| ())
}

/// getuid(2).
pub fn getuid() -> u32 {
    // SAFETY: no arguments.
    unsafe { sc(libc::SYS_getuid, &[]) }.unwrap_or(u32::MAX as usize) as u32
}

/// bind(fd, \0name) + listen(fd, backlog).
pub fn bind_listen_abstract(fd: i32, name: &str, backlog: i32) -> Result<(), i32> {
    let (a, len) = abstract_addr(name);
    // SAFETY: a is a valid sockaddr_un of length len.
    unsafe { sc(libc::SYS_bind, &[fd as i64, &a as *const libc::sockaddr_un as i64, len as i64]) }?;
    // SAFETY: integers only.
    unsafe { sc(libc::SYS_listen, &[fd as i64, backlog as i64]) }.map(|_| ())
}

/// Ignores each of `sigs` (rt_sigaction with SIG_IGN).
pub fn ignore_signals(sigs: &[i32]) {
    let act = crate::sys::KernelSigaction { handler: 1, ..Default::default() }; // SIG_IGN
    for &sig in sigs {
        // SAFETY: a kernel sigaction struct on the stack; no old action wanted.
        let _ = unsafe {
            sc(libc::SYS_rt_sigaction, &[sig as i64, &act as *const crate::sys::KernelSigaction as i64, 0, 8])
        };
    }
}

/// A network interface of this namespace has index `i` (a bind to a link-local IPv6 address
/// names one in sin6_scope_id). libc's if_indextoname: its helper socket is libc's own, never
/// the shim's hooks.
pub fn ifindex_exists(i: u32) -> bool {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: name has IF_NAMESIZE bytes, as if_indextoname requires.
    !unsafe { libc::if_indextoname(i, name.as_mut_ptr()) }.is_null()
}

/// dup3(old, new, 0): `new` now names what `old` does (close-on-exec clear).
pub fn dup_to(old: i32, new: i32) -> Result<(), i32> {
    // SAFETY: integer arguments.
    unsafe { super::syscall(libc::SYS_dup3, &[old as usize, new as usize, 0]) }.map(|_| ())
}

/// close_range(first, ~0, 0): closes every descriptor from `first` up.
pub fn close_from(first: u32) -> Result<(), i32> {
    // SAFETY: integer arguments.
    unsafe { super::syscall(libc::SYS_close_range, &[first as usize, u32::MAX as usize, 0]) }.map(|_| ())
}

/// prctl(PR_SET_PDEATHSIG, SIGKILL): this process ends with the thread that started it.
pub fn die_with_parent() -> Result<(), i32> {
    // SAFETY: integer arguments.
    unsafe { super::syscall(libc::SYS_prctl, &[libc::PR_SET_PDEATHSIG as usize, libc::SIGKILL as usize]) }.map(|_| ())
}
