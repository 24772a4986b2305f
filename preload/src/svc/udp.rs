//! The UDP calls on service sockets: one SOCK_SEQPACKET record per datagram, a
//! `proto::UDP_HDR` header in front (the destination on the way out, the source and what
//! recvmsg's control messages need on the way in). C convention and errno as in `hooks.rs`.
//!
//! Safety (for every `unsafe fn` here): as `hooks.rs` says.
use std::net::SocketAddrV4;

use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use tapstack::service::proto::{self, UDP_HDR};

use super::addr::write_peer;
use super::hooks::{err, Errno};
use super::KIND_UDP_CONNECTED;
use crate::errno;

/// send/sendto/sendmsg/write on a UDP socket: one record, header + data.
pub(crate) unsafe fn udp_send(
    fd: c_int,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    to: Option<SocketAddrV4>,
) -> ssize_t {
    let e = Errno::save();
    if to.is_none() && super::kind(fd) != KIND_UDP_CONNECTED {
        return err(libc::EDESTADDRREQ);
    }
    let total: usize = (0..cnt).map(|i| (*iov.add(i)).iov_len).sum();
    if total > 65507 {
        return err(libc::EMSGSIZE);
    }
    if let Some(d) = to {
        let b = d.ip().is_broadcast() || Some(*d.ip()) == super::subnet_broadcast();
        if b && !super::broadcast_ok(fd) {
            return err(libc::EACCES);
        }
    }
    let hdr = proto::udp_hdr(to);
    let mut v: Vec<iovec> = Vec::with_capacity(cnt + 1);
    v.push(iovec { iov_base: hdr.as_ptr() as *mut c_void, iov_len: UDP_HDR });
    for i in 0..cnt {
        v.push(*iov.add(i));
    }
    let mut mh: msghdr = std::mem::zeroed();
    mh.msg_iov = v.as_mut_ptr();
    mh.msg_iovlen = v.len();
    let (mp, f) = (&mh as *const msghdr as usize, (flags | libc::MSG_NOSIGNAL) as usize);
    let n = crate::native_wait(true, || crate::raw_syscall(libc::SYS_sendmsg, &[fd as usize, mp, f]));
    if n < 0 {
        if errno() == libc::EPIPE {
            return err(libc::ENETDOWN);
        }
        return -1;
    }
    e.ok((n as usize).saturating_sub(UDP_HDR) as ssize_t)
}

/// recvmsg on a UDP socket: strips the header into msg_name (or reports the error it carries).
pub(crate) unsafe fn udp_recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let e = Errno::save();
    if msg.is_null() {
        return err(libc::EFAULT);
    }
    let m = &mut *msg;
    let mut hdr = [0u8; UDP_HDR];
    let mut v: Vec<iovec> = Vec::with_capacity(m.msg_iovlen + 1);
    v.push(iovec { iov_base: hdr.as_mut_ptr() as *mut c_void, iov_len: UDP_HDR });
    for i in 0..m.msg_iovlen {
        v.push(*m.msg_iov.add(i));
    }
    let mut mh: msghdr = std::mem::zeroed();
    mh.msg_iov = v.as_mut_ptr();
    mh.msg_iovlen = v.len();
    let mp = &mut mh as *mut msghdr as usize;
    let n = crate::native_wait(true, || crate::raw_syscall(libc::SYS_recvmsg, &[fd as usize, mp, flags as usize]));
    if n < 0 {
        return -1;
    }
    if (n as usize) < UDP_HDR {
        return err(libc::ECONNRESET); // the service is gone
    }
    if let Some(x) = proto::udp_hdr_error(&hdr) {
        return err(x);
    }
    m.msg_flags = mh.msg_flags & libc::MSG_TRUNC;
    crate::errq::put_ttl_cmsg(m, proto::parse_udp_ttl(&hdr));
    match proto::parse_udp_hdr(&hdr).flatten() {
        Some(a) if !m.msg_name.is_null() => {
            let mut l = m.msg_namelen;
            write_peer(fd, a, m.msg_name as *mut sockaddr, &mut l);
            m.msg_namelen = l;
        }
        _ => m.msg_namelen = 0,
    }
    e.ok((n as usize - UDP_HDR) as ssize_t)
}

/// recv/recvfrom/read on a UDP socket through `udp_recvmsg`.
pub(crate) unsafe fn udp_recv(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let mut iov = iovec { iov_base: buf, iov_len: n };
    let mut m: msghdr = std::mem::zeroed();
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    if !addr.is_null() && !len.is_null() {
        m.msg_name = addr as *mut c_void;
        m.msg_namelen = *len;
    }
    let r = udp_recvmsg(fd, &mut m, flags);
    if r >= 0 && !len.is_null() {
        *len = if addr.is_null() { 0 } else { m.msg_namelen };
    }
    r
}

/// ioctl(FIONREAD) on a UDP socket: the size of the next datagram (without our header).
pub(crate) unsafe fn udp_fionread(fd: c_int, arg: *mut c_void) -> c_int {
    let e = Errno::save();
    if arg.is_null() {
        return err(libc::EFAULT);
    }
    // Held so that libc's syscall() (which the shim interposes) goes straight to the kernel.
    let _g = crate::ShimGuard::enter();
    let mut h = [0u8; UDP_HDR];
    let r = libc::syscall(
        libc::SYS_recvfrom,
        fd,
        h.as_mut_ptr(),
        h.len(),
        libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        0usize,
        0usize,
    );
    let n = if r < 0 { 0 } else { (r as usize).saturating_sub(UDP_HDR) };
    std::ptr::write_unaligned(arg as *mut c_int, n as c_int);
    e.ok(0)
}
