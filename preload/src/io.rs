//! read, write, readv, writev, send, recv, sendto, recvfrom, sendmsg, recvmsg, sendfile and the
//! fortified __read_chk, __recv_chk, __recvfrom_chk.
//!
//! Blocking calls wait on the runtime (no EINTR; SO_RCVTIMEO/SO_SNDTIMEO give EAGAIN). A
//! blocking send returns only when everything is queued (or on error/timeout after a partial
//! send, with the partial count, as Linux). EPIPE raises SIGPIPE unless MSG_NOSIGNAL.
use std::net::SocketAddrV4;

use libc::{c_int, c_uint, c_void, iovec, msghdr, off_t, size_t, sockaddr, socklen_t, ssize_t};

use tapstack::socket::tcp::TcpState;
use tapstack::Error;

use crate::fdtable::Proto;
use crate::{dual, fail, ours_or, real, ret_size, rt, Ctx};

/// Reads at most this much per readv/recvmsg gather buffer.
const GATHER_MAX: usize = 4 << 20;

fn nonblock(c: &Ctx, flags: c_int) -> bool {
    c.s.is_nonblock() || flags & libc::MSG_DONTWAIT != 0
}

/// The source address and the true length of a received datagram (UDP only).
struct RecvInfo {
    from: Option<SocketAddrV4>,
    full_len: usize,
    /// IP_RECVTTL: the datagram's TTL (ICMP datagram sockets).
    ttl: Option<u8>,
}

fn do_recv(c: &Ctx, buf: &mut [u8], flags: c_int) -> Result<(usize, RecvInfo), c_int> {
    if flags & libc::MSG_OOB != 0 {
        return Err(libc::EINVAL);
    }
    let nb = nonblock(c, flags);
    let timeout = c.s.opts.lock().rcvtimeo;
    let peek = flags & libc::MSG_PEEK != 0;
    match c.s.proto {
        Proto::Tcp(h) => {
            if buf.is_empty() {
                return Ok((0, RecvInfo { from: None, full_len: 0, ttl: None }));
            }
            if peek {
                let n = rt::block_on(c, nb, timeout, |g, _| g.tcp.peek(h, buf))?;
                return Ok((n, RecvInfo { from: None, full_len: n, ttl: None }));
            }
            let waitall = flags & libc::MSG_WAITALL != 0 && !nb;
            let mut got = 0;
            loop {
                let r = rt::block_on(c, nb, timeout, |g, now| g.tcp.recv(now, h, &mut buf[got..]));
                match r {
                    Ok(0) => break,
                    Ok(n) => {
                        got += n;
                        if !waitall || got == buf.len() {
                            break;
                        }
                    }
                    Err(e) if got == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok((got, RecvInfo { from: None, full_len: got, ttl: None }))
        }
        Proto::Udp(h) => {
            let m = rt::block_on(c, nb, timeout, |g, _| g.udp.recv_from(h, buf, peek))?;
            Ok((m.copied, RecvInfo { from: Some(m.from.into()), full_len: m.len, ttl: m.ttl }))
        }
    }
}

/// Linux gives EPIPE (and SIGPIPE) for send on a socket that is not connected (closed or
/// listening): sk_stream_wait_connect.
fn unconnected_send_errno(c: &Ctx, h: tapstack::socket::tcp::TcpHandle) -> c_int {
    match c.rt.lock().tcp.state(h) {
        Ok(TcpState::Closed) | Ok(TcpState::Listen) | Err(_) => libc::EPIPE,
        _ => libc::ENOTCONN,
    }
}

fn raise_sigpipe(e: c_int, flags: c_int) {
    if e == libc::EPIPE && flags & libc::MSG_NOSIGNAL == 0 {
        // SAFETY: raise is not one of our hooks; it signals the calling thread like the kernel.
        unsafe {
            libc::raise(libc::SIGPIPE);
        }
    }
}

fn do_send(c: &Ctx, data: &[u8], flags: c_int, to: Option<SocketAddrV4>) -> Result<usize, c_int> {
    if flags & libc::MSG_OOB != 0 {
        return Err(libc::EOPNOTSUPP);
    }
    let nb = nonblock(c, flags);
    let timeout = c.s.opts.lock().sndtimeo;
    let r = match c.s.proto {
        Proto::Tcp(h) => {
            let mut sent = 0;
            loop {
                let r = rt::block_on(c, nb, timeout, |g, now| {
                    if data.is_empty() {
                        // Zero-length send: only the connection checks.
                        return g.tcp.send(now, h, data);
                    }
                    if matches!(g.tcp.state(h), Ok(TcpState::SynSent) | Ok(TcpState::SynReceived)) {
                        // Linux waits for the handshake (or EAGAIN when non-blocking).
                        return Err(Error::WouldBlock);
                    }
                    g.tcp.send(now, h, &data[sent..])
                })
                .map_err(|e| if e == libc::ENOTCONN { unconnected_send_errno(c, h) } else { e });
                match r {
                    Ok(n) => {
                        sent += n;
                        if sent >= data.len() || nb || n == 0 {
                            break Ok(sent);
                        }
                    }
                    Err(e) if sent == 0 => break Err(e),
                    Err(_) => break Ok(sent),
                }
            }
        }
        Proto::Udp(h) => {
            if c.s.opts.lock().ip_opts_set {
                // An unbound socket gets its port on this first send: bind it first so the
                // datagram already carries IP_TTL/IP_TOS.
                let mut g = c.rt.lock();
                if g.udp.local_addr(h).is_none_or(|a| a.port() == 0) {
                    let _ = g.udp.bind(h, SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0).into());
                }
                drop(g);
                crate::opts::apply_ip_opts(c.rt, &c.s);
            }
            // Linux: EDESTADDRREQ for send() on an unconnected datagram socket.
            rt::block_on(c, nb, timeout, |g, _| g.udp.send_to(h, data, to.map(Into::into))).map_err(|e| {
                if e == libc::ENOTCONN && to.is_none() {
                    libc::EDESTADDRREQ
                } else {
                    e
                }
            })
        }
    };
    if let Err(e) = r {
        raise_sigpipe(e, flags);
    }
    r
}

unsafe fn slice_mut<'a>(buf: *mut c_void, n: size_t) -> Result<&'a mut [u8], c_int> {
    if n == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    Ok(std::slice::from_raw_parts_mut(buf as *mut u8, n))
}

unsafe fn slice<'a>(buf: *const c_void, n: size_t) -> Result<&'a [u8], c_int> {
    if n == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    Ok(std::slice::from_raw_parts(buf as *const u8, n))
}

unsafe fn recv_into(
    c: &Ctx,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> Result<usize, c_int> {
    let b = slice_mut(buf, n)?;
    let (copied, info) = do_recv(c, b, flags)?;
    match info.from {
        Some(a) => {
            let _ = dual::write_peer(&c.s, a, addr, len);
        }
        None => {
            if !len.is_null() {
                *len = 0;
            }
        }
    }
    Ok(if flags & libc::MSG_TRUNC != 0 && !c.s.is_tcp() { info.full_len } else { copied })
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    if let Some(r) = crate::svc::route::recv(fd, buf, n, 0, std::ptr::null_mut(), std::ptr::null_mut()) {
        return r;
    }
    let c = ours_or!(fd, real::read(fd, buf, n));
    ret_size(recv_into(&c, buf, n, 0, std::ptr::null_mut(), std::ptr::null_mut()))
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    if let Some(r) = crate::svc::route::recv(fd, buf, n.min(buflen), 0, std::ptr::null_mut(), std::ptr::null_mut()) {
        return r;
    }
    let c = ours_or!(fd, real::__read_chk(fd, buf, n, buflen));
    if n > buflen {
        libc::abort();
    }
    ret_size(recv_into(&c, buf, n, 0, std::ptr::null_mut(), std::ptr::null_mut()))
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    if let Some(r) = crate::svc::route::recv(fd, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()) {
        return r;
    }
    let c = ours_or!(fd, real::recv(fd, buf, n, flags));
    ret_size(recv_into(&c, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()))
}

#[no_mangle]
pub unsafe extern "C" fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t {
    if let Some(r) = crate::svc::route::recv(fd, buf, n.min(buflen), flags, std::ptr::null_mut(), std::ptr::null_mut())
    {
        return r;
    }
    let c = ours_or!(fd, real::__recv_chk(fd, buf, n, buflen, flags));
    if n > buflen {
        libc::abort();
    }
    ret_size(recv_into(&c, buf, n, flags, std::ptr::null_mut(), std::ptr::null_mut()))
}

#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if let Some(r) = crate::svc::route::recv(fd, buf, n, flags, addr, len) {
        return r;
    }
    let c = ours_or!(fd, real::recvfrom(fd, buf, n, flags, addr, len));
    ret_size(recv_into(&c, buf, n, flags, addr, len))
}

#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    if let Some(r) = crate::svc::route::recv(fd, buf, n.min(buflen), flags, addr, len) {
        return r;
    }
    let c = ours_or!(fd, real::__recvfrom_chk(fd, buf, n, buflen, flags, addr, len));
    if n > buflen {
        libc::abort();
    }
    ret_size(recv_into(&c, buf, n, flags, addr, len))
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    if let Some(r) = crate::svc::route::send(fd, buf, n, 0, std::ptr::null(), 0) {
        return r;
    }
    let c = ours_or!(fd, real::write(fd, buf, n));
    ret_size(slice(buf, n).and_then(|d| do_send(&c, d, 0, None)))
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    if let Some(r) = crate::svc::route::send(fd, buf, n, flags, std::ptr::null(), 0) {
        return r;
    }
    let c = ours_or!(fd, real::send(fd, buf, n, flags));
    ret_size(slice(buf, n).and_then(|d| do_send(&c, d, flags, None)))
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    if let Some(r) = crate::svc::route::send(fd, buf, n, flags, addr, len) {
        return r;
    }
    let c = ours_or!(fd, real::sendto(fd, buf, n, flags, addr, len));
    let to = match dual::dest(&c.s, addr, len, false) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    ret_size(slice(buf, n).and_then(|d| do_send(&c, d, flags, to)))
}

/// Total length of an iovec array (EINVAL for a bad count or an overflowing total).
pub(crate) unsafe fn iov_total(iov: *const iovec, cnt: c_int) -> Result<usize, c_int> {
    if !(0..=libc::UIO_MAXIOV).contains(&cnt) {
        return Err(libc::EINVAL);
    }
    if cnt > 0 && iov.is_null() {
        return Err(libc::EFAULT);
    }
    let mut total: usize = 0;
    for i in 0..cnt as usize {
        total = total.checked_add((*iov.add(i)).iov_len).filter(|&t| t <= isize::MAX as usize).ok_or(libc::EINVAL)?;
    }
    Ok(total)
}

unsafe fn gather(iov: *const iovec, cnt: c_int) -> Result<Vec<u8>, c_int> {
    let total = iov_total(iov, cnt)?;
    let mut v = Vec::with_capacity(total);
    for i in 0..cnt as usize {
        let e = &*iov.add(i);
        v.extend_from_slice(slice(e.iov_base, e.iov_len)?);
    }
    Ok(v)
}

pub(crate) unsafe fn scatter(iov: *const iovec, cnt: c_int, mut data: &[u8]) {
    for i in 0..cnt as usize {
        if data.is_empty() {
            break;
        }
        let e = &*iov.add(i);
        let n = e.iov_len.min(data.len());
        if n > 0 {
            std::ptr::copy_nonoverlapping(data.as_ptr(), e.iov_base as *mut u8, n);
        }
        data = &data[n..];
    }
}

/// Receives into an iovec array through one bounce buffer.
unsafe fn recv_iov(c: &Ctx, iov: *const iovec, cnt: c_int, flags: c_int) -> Result<(usize, RecvInfo), c_int> {
    let total = iov_total(iov, cnt)?;
    // A single iovec needs no bounce buffer.
    if cnt == 1 {
        let e = &*iov;
        return do_recv(c, slice_mut(e.iov_base, e.iov_len)?, flags);
    }
    let mut tmp = vec![0u8; total.min(GATHER_MAX)];
    let (n, info) = do_recv(c, &mut tmp, flags)?;
    scatter(iov, cnt, &tmp[..n.min(tmp.len())]);
    Ok((n, info))
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    if let Some(r) = crate::svc::route::readv(fd, iov, cnt) {
        return r;
    }
    let c = ours_or!(fd, real::readv(fd, iov, cnt));
    ret_size(recv_iov(&c, iov, cnt, 0).map(|(n, _)| n))
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    if let Some(r) = crate::svc::route::writev(fd, iov, cnt) {
        return r;
    }
    let c = ours_or!(fd, real::writev(fd, iov, cnt));
    ret_size(gather(iov, cnt).and_then(|d| do_send(&c, &d, 0, None)))
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if let Some(r) = crate::svc::route::sendmsg(fd, msg, flags) {
        return r;
    }
    let c = ours_or!(fd, real::sendmsg(fd, msg, flags));
    ret_size(sendmsg_ours(&c, msg, flags))
}

/// recvmsg on one of our sockets: fills msg_name (UDP), msg_flags (MSG_TRUNC), no control data.
unsafe fn recvmsg_ours(c: &Ctx, msg: *mut msghdr, flags: c_int) -> Result<usize, c_int> {
    if msg.is_null() {
        return Err(libc::EFAULT);
    }
    let m = &mut *msg;
    let cnt = m.msg_iovlen.min(c_int::MAX as usize) as c_int;
    let (n, info) = recv_iov(c, m.msg_iov, cnt, flags)?;
    m.msg_flags = 0;
    crate::errq::put_ttl_cmsg(m, info.ttl);
    match info.from {
        Some(a) if !m.msg_name.is_null() => {
            let mut len = m.msg_namelen;
            let _ = dual::write_peer(&c.s, a, m.msg_name as *mut sockaddr, &mut len);
            m.msg_namelen = len;
        }
        _ => m.msg_namelen = 0,
    }
    if info.full_len > n {
        m.msg_flags |= libc::MSG_TRUNC;
    }
    Ok(if flags & libc::MSG_TRUNC != 0 && !c.s.is_tcp() { info.full_len } else { n })
}

unsafe fn sendmsg_ours(c: &Ctx, msg: *const msghdr, flags: c_int) -> Result<usize, c_int> {
    if msg.is_null() {
        return Err(libc::EFAULT);
    }
    let m = &*msg;
    let to = dual::dest(&c.s, m.msg_name as *const sockaddr, m.msg_namelen, true)?;
    let cnt = m.msg_iovlen.min(c_int::MAX as usize) as c_int;
    gather(m.msg_iov, cnt).and_then(|d| do_send(c, &d, flags, to))
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if let Some(r) = crate::svc::route::recvmsg(fd, msg, flags) {
        return r;
    }
    let c = ours_or!(fd, real::recvmsg(fd, msg, flags));
    if flags & libc::MSG_ERRQUEUE != 0 {
        return ret_size(crate::errq::recvmsg_errqueue(&c, msg, flags));
    }
    ret_size(recvmsg_ours(&c, msg, flags))
}

#[no_mangle]
pub unsafe extern "C" fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int {
    if let Some(r) = crate::svc::route::sendmmsg(fd, v, n, flags) {
        return r;
    }
    let c = ours_or!(fd, real::sendmmsg(fd, v, n, flags));
    if v.is_null() && n > 0 {
        return fail(libc::EFAULT);
    }
    let n = n.min(libc::UIO_MAXIOV as c_uint);
    let mut done = 0;
    for i in 0..n as usize {
        let e = &mut *v.add(i);
        match sendmsg_ours(&c, &e.msg_hdr, flags) {
            Ok(k) => {
                e.msg_len = k as c_uint;
                done += 1;
            }
            Err(err) if done == 0 => return fail(err),
            Err(_) => break,
        }
    }
    done
}

/// recvmmsg: the first message as the flags say, the rest only if already there
/// (MSG_WAITFORONE is what a blocking socket gives anyway after the first).
#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    v: *mut libc::mmsghdr,
    n: c_uint,
    flags: c_int,
    ts: *mut libc::timespec,
) -> c_int {
    if let Some(r) = crate::svc::route::recvmmsg(fd, v, n, flags) {
        return r;
    }
    let c = ours_or!(fd, real::recvmmsg(fd, v, n, flags, ts));
    if v.is_null() && n > 0 {
        return fail(libc::EFAULT);
    }
    const MSG_WAITFORONE: c_int = 0x10000;
    let mut done = 0;
    for i in 0..n.min(libc::UIO_MAXIOV as c_uint) as usize {
        let e = &mut *v.add(i);
        let f = if done == 0 { flags & !MSG_WAITFORONE } else { (flags & !MSG_WAITFORONE) | libc::MSG_DONTWAIT };
        match recvmsg_ours(&c, &mut e.msg_hdr, f) {
            Ok(k) => {
                e.msg_len = k as c_uint;
                done += 1;
                if c.s.is_tcp() {
                    break;
                }
            }
            Err(err) if done == 0 => return fail(err),
            Err(_) => break,
        }
    }
    done
}

/// sendfile to a tapstack socket: reads the file with pread (raw syscalls) and sends; the
/// file offset (or `*off`) advances by what was actually sent.
unsafe fn do_sendfile(c: &Ctx, in_fd: c_int, off: *mut off_t, count: size_t) -> Result<usize, c_int> {
    if crate::fdtable::SOCKS.contains(in_fd) {
        return Err(libc::EINVAL);
    }
    let start: i64 = if off.is_null() {
        let p = libc::syscall(libc::SYS_lseek, in_fd, 0 as off_t, libc::SEEK_CUR);
        if p < 0 {
            return Err(crate::errno());
        }
        p
    } else {
        if *off < 0 {
            return Err(libc::EINVAL);
        }
        *off
    };
    let mut buf = vec![0u8; count.clamp(1, 256 << 10)];
    let mut done: usize = 0;
    let result = loop {
        if done >= count {
            break Ok(done);
        }
        let want = (count - done).min(buf.len());
        let n = libc::syscall(libc::SYS_pread64, in_fd, buf.as_mut_ptr(), want, start + done as i64);
        if n < 0 {
            let e = crate::errno();
            break if done > 0 { Ok(done) } else { Err(e) };
        }
        if n == 0 {
            break Ok(done);
        }
        match do_send(c, &buf[..n as usize], 0, None) {
            Ok(s) => {
                done += s;
                if s < n as usize {
                    break Ok(done);
                }
            }
            Err(e) => break if done > 0 { Ok(done) } else { Err(e) },
        }
    };
    if off.is_null() {
        libc::syscall(libc::SYS_lseek, in_fd, start + done as i64, libc::SEEK_SET);
    } else {
        *off = start + done as i64;
    }
    result
}

#[no_mangle]
pub unsafe extern "C" fn sendfile(out: c_int, in_fd: c_int, off: *mut off_t, count: size_t) -> ssize_t {
    let c = match crate::lookup(out) {
        crate::Lookup::NotOurs => {
            if crate::fdtable::SOCKS.contains(in_fd) {
                return fail(libc::EINVAL);
            }
            return real::sendfile(out, in_fd, off, count);
        }
        crate::Lookup::Err(e) => return fail(e),
        crate::Lookup::Ours(c) => c,
    };
    ret_size(do_sendfile(&c, in_fd, off, count))
}

#[no_mangle]
pub unsafe extern "C" fn sendfile64(out: c_int, in_fd: c_int, off: *mut off_t, count: size_t) -> ssize_t {
    let c = match crate::lookup(out) {
        crate::Lookup::NotOurs => {
            if crate::fdtable::SOCKS.contains(in_fd) {
                return fail(libc::EINVAL);
            }
            return real::sendfile64(out, in_fd, off, count);
        }
        crate::Lookup::Err(e) => return fail(e),
        crate::Lookup::Ours(c) => c,
    };
    ret_size(do_sendfile(&c, in_fd, off, count))
}
