//! The resolver's sockets over the shared stack: a connected UDP socket per query and one TCP
//! exchange after truncation, both service sockets driven with native waits.
use std::net::SocketAddrV4;

use libc::{c_int, c_void, iovec, sockaddr, sockaddr_in, socklen_t};

use super::hooks;
use super::{KIND_TCP, KIND_UDP};

/// `a` as a `sockaddr_in`.
pub(crate) fn sin(a: SocketAddrV4) -> sockaddr_in {
    sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
        sin_zero: [0; 8],
    }
}
const SIN_LEN: socklen_t = std::mem::size_of::<sockaddr_in>() as socklen_t;

pub(crate) fn close(fd: c_int) {
    super::forget(fd);
    crate::real::sys_close(fd);
}

/// A fresh connected non-blocking UDP socket to `server` with `query` sent on it.
pub(crate) fn udp_send(server: SocketAddrV4, query: &[u8]) -> Result<c_int, ()> {
    // Held so that libc's syscall() (which the shim interposes) goes straight to the kernel.
    let _g = crate::ShimGuard::enter();
    let saved = crate::errno();
    let fd = hooks::socket(libc::AF_INET, KIND_UDP, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    if fd < 0 {
        crate::set_errno(saved);
        return Err(());
    }
    let a = sin(server);
    // SAFETY: a live sockaddr_in and a live query buffer.
    let ok = unsafe {
        hooks::connect(fd, &a as *const sockaddr_in as *const sockaddr, SIN_LEN) == 0 && {
            let iov = iovec { iov_base: query.as_ptr() as *mut c_void, iov_len: query.len() };
            hooks::udp_send(fd, &iov, 1, 0, None) >= 0
        }
    };
    crate::set_errno(saved);
    if !ok {
        close(fd);
        return Err(());
    }
    Ok(fd)
}

/// One datagram: Ok(None) if none is queued, Err on ECONNREFUSED and other errors.
pub(crate) fn udp_recv(fd: c_int, buf: &mut [u8]) -> Result<Option<(SocketAddrV4, usize)>, ()> {
    // Held so that libc's syscall() (which the shim interposes) goes straight to the kernel.
    let _g = crate::ShimGuard::enter();
    let saved = crate::errno();
    // SAFETY: sockaddr_in is plain data.
    let mut from: sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SIN_LEN;
    // SAFETY: live buffer and address.
    let n = unsafe {
        hooks::udp_recv(
            fd,
            buf.as_mut_ptr() as *mut c_void,
            buf.len(),
            libc::MSG_DONTWAIT,
            &mut from as *mut sockaddr_in as *mut sockaddr,
            &mut len,
        )
    };
    let e = crate::errno();
    crate::set_errno(saved);
    if n < 0 {
        return if e == libc::EAGAIN || e == libc::EINTR { Ok(None) } else { Err(()) };
    }
    let a =
        SocketAddrV4::new(std::net::Ipv4Addr::from(from.sin_addr.s_addr.to_ne_bytes()), u16::from_be(from.sin_port));
    Ok(Some((a, n as usize)))
}

/// Waits until `fd` has one of `events` or `deadline` passes (ppoll; EINTR ends the wait early).
pub(crate) fn wait(fd: c_int, events: i16, deadline: std::time::Instant) -> bool {
    let d = deadline.saturating_duration_since(std::time::Instant::now());
    let mut p = libc::pollfd { fd, events, revents: 0 };
    let ts = libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as libc::c_long };
    let (pp, tp) = (&mut p as *mut libc::pollfd as usize, &ts as *const libc::timespec as usize);
    // SAFETY: one live pollfd and timespec. A signal handler may make socket calls meanwhile.
    let n = crate::native_wait(false, || unsafe { crate::raw_syscall(libc::SYS_ppoll, &[pp, 1, tp, 0, 8]) });
    n > 0
}

/// One DNS exchange over TCP (RFC 7766): connect, length-prefixed query, one answer.
pub(crate) fn tcp_exchange(server: SocketAddrV4, query: &[u8], deadline: std::time::Instant) -> Option<Vec<u8>> {
    // Held so that libc's syscall() (which the shim interposes) goes straight to the kernel.
    let _g = crate::ShimGuard::enter();
    let saved = crate::errno();
    let r = tcp_exchange_inner(server, query, deadline);
    crate::set_errno(saved);
    r
}

fn tcp_exchange_inner(server: SocketAddrV4, query: &[u8], deadline: std::time::Instant) -> Option<Vec<u8>> {
    let fd = hooks::socket(libc::AF_INET, KIND_TCP, libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    if fd < 0 {
        return None;
    }
    let a = sin(server);
    let r = (|| {
        // SAFETY: a live sockaddr_in.
        let c = unsafe { hooks::connect(fd, &a as *const sockaddr_in as *const sockaddr, SIN_LEN) };
        if c < 0 && crate::errno() != libc::EINPROGRESS {
            return None;
        }
        if c < 0 {
            if !wait(fd, libc::POLLOUT, deadline) {
                return None;
            }
            // SAFETY: as above.
            if unsafe { hooks::connect(fd, &a as *const sockaddr_in as *const sockaddr, SIN_LEN) } < 0 {
                return None;
            }
        }
        let mut out = Vec::with_capacity(query.len() + 2);
        out.extend_from_slice(&(query.len() as u16).to_be_bytes());
        out.extend_from_slice(query);
        let mut sent = 0;
        while sent < out.len() {
            if !wait(fd, libc::POLLOUT, deadline) {
                return None;
            }
            // SAFETY: live buffer.
            let n = unsafe { libc::syscall(libc::SYS_write, fd, out[sent..].as_ptr(), out.len() - sent) };
            if n <= 0 {
                return None;
            }
            sent += n as usize;
        }
        let mut resp = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if resp.len() >= 2 {
                let want = u16::from_be_bytes([resp[0], resp[1]]) as usize + 2;
                if resp.len() >= want {
                    resp.truncate(want);
                    return Some(resp.split_off(2));
                }
            }
            if !wait(fd, libc::POLLIN, deadline) {
                return None;
            }
            // SAFETY: live buffer.
            let n = unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) };
            if n <= 0 {
                return None;
            }
            resp.extend_from_slice(&buf[..n as usize]);
        }
    })();
    close(fd);
    r
}
