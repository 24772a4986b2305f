//! recvmsg(MSG_ERRQUEUE) on service sockets: the service dequeues the oldest ICMP error
//! (`tapstack::service::errq`) and the shim lays it out as Linux does (`crate::errq`).
//!
//! Linux replaces the pending error (sk_err) with the next entry's errno when it dequeues one.
//! Here the pending error is an error record at the head of the UDP socket's stream: the shim
//! drops that stale record, then asks the service to re-arm the error when more entries wait.
//!
//! Safety (for every `unsafe fn` here): `msg` is the program's own argument, checked for null;
//! its buffers are written within their stated lengths.
use libc::{c_int, msghdr, ssize_t};
use tapstack::service::errq::ErrEntry;
use tapstack::service::proto::{self, Msg, Op, UDP_HDR};

use super::addr::write_peer;
use super::{ask, is_udp, kind};
use crate::{errno, set_errno};

/// recvmsg(fd, msg, MSG_ERRQUEUE) on a service socket; never blocks (EAGAIN when empty).
pub(crate) unsafe fn recvmsg_errqueue(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let saved = errno();
    if msg.is_null() {
        set_errno(libc::EFAULT);
        return -1;
    }
    let r = match ask(&Msg::new(Op::ErrQueue), fd) {
        Ok((r, passed)) => {
            if let Some(f) = passed {
                crate::real::sys_close(f);
            }
            r
        }
        Err(None) => return crate::real::recvmsg(fd, msg, flags),
        Err(Some(e)) => {
            set_errno(e);
            return -1;
        }
    };
    if r.a != 0 {
        set_errno(if r.a > 0 { r.a } else { libc::EIO });
        return -1;
    }
    let Some(e) = ErrEntry::decode(&r) else {
        set_errno(libc::EIO);
        return -1;
    };
    if is_udp(kind(fd)) {
        drop_error_record(fd);
        if e.next_errno != 0 {
            let mut m = Msg::new(Op::ErrQueue);
            m.b = 1;
            let _ = ask(&m, fd);
        }
    }
    let n = crate::errq::fill_errqueue_msg(&mut *msg, &e, |name, len| write_peer(fd, e.dst, name, len));
    set_errno(saved);
    n as ssize_t
}

/// recv/recvfrom(fd, buf, n, MSG_ERRQUEUE): the same without control data.
pub(crate) unsafe fn recv_errqueue(fd: c_int, buf: *mut libc::c_void, n: usize, flags: c_int) -> ssize_t {
    let mut iov = libc::iovec { iov_base: buf, iov_len: n };
    let mut m: msghdr = std::mem::zeroed();
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    recvmsg_errqueue(fd, &mut m, flags)
}

/// Drops the error record at the head of a UDP socket's stream, if there is one (the caller
/// holds the shim's guard, so libc's syscall() goes straight to the kernel).
unsafe fn drop_error_record(fd: c_int) {
    // Every one heading it: the service emits one per error it sets, and errors that came one
    // after another (each queued too) may have left more than one; the error the queue still
    // holds is re-armed after (one record), as Linux's pending error is one value.
    for _ in 0..64 {
        if take_error_record(fd).is_none() {
            break;
        }
    }
}

/// Takes the error record at the head of a UDP socket's stream: its errno, or None (nothing
/// read) when the head is a datagram or the stream is empty, or when `keep` says so of the
/// errno found. errno is left as it was.
pub(crate) unsafe fn take_error_record_unless(fd: c_int, keep: impl FnOnce() -> bool) -> Option<c_int> {
    let saved = errno();
    let mut h = [0u8; UDP_HDR];
    let peek = |h: &mut [u8; UDP_HDR], f: c_int| {
        libc::syscall(libc::SYS_recvfrom, fd, h.as_mut_ptr(), UDP_HDR, f | libc::MSG_DONTWAIT, 0usize, 0usize)
    };
    let mut e = (peek(&mut h, libc::MSG_PEEK) as usize == UDP_HDR).then(|| proto::udp_hdr_error(&h)).flatten();
    if e.is_some() && keep() {
        e = None;
    } else if e.is_some() {
        peek(&mut h, 0);
    }
    set_errno(saved);
    e
}

/// An int option of `fd` as the service reads it (None when it cannot say).
fn int_opt(fd: c_int, level: c_int, name: c_int) -> Option<c_int> {
    let mut m = Msg::new(Op::GetOpt);
    m.a = level;
    m.b = name;
    m.c = 4;
    let (r, passed) = ask(&m, fd).ok()?;
    if let Some(f) = passed {
        crate::real::sys_close(f);
    }
    if r.a != 0 {
        return None;
    }
    Some(c_int::from_ne_bytes(r.data.get(..4)?.try_into().ok()?))
}

/// IP_HDRINCL of a raw socket (false for any other, or when the service cannot say): asked
/// only for the lengths where the shim decides an errno (`udp::send_record`) and for a send
/// behind an error record.
pub(crate) fn hdrincl(fd: c_int) -> bool {
    int_opt(fd, libc::IPPROTO_IP, libc::IP_HDRINCL).is_some_and(|v| v != 0)
}

/// A raw socket without IP_HDRINCL, whose sends never report a pending error (Linux's
/// raw_sendmsg appends to the socket with no transport header, never sock_alloc_send_skb).
fn raw_without_hdrincl(fd: c_int) -> bool {
    int_opt(fd, libc::SOL_SOCKET, libc::SO_TYPE) == Some(libc::SOCK_RAW) && !hdrincl(fd)
}

/// [`take_error_record_unless`] that always takes it.
pub(crate) unsafe fn take_error_record(fd: c_int) -> Option<c_int> {
    take_error_record_unless(fd, || false)
}

/// Linux's sock_error at the start of a UDP send (sock_alloc_send_pskb): a pending error (an
/// ICMP error on a connected socket, or on any with IP_RECVERR) fails the send, which then
/// sends nothing, and is consumed (ICMP datagram sockets and raw sockets with IP_HDRINCL too;
/// not raw sockets without). Here it is an error record at the head of the stream; a
/// thread looks at most once a millisecond (a peek is a system call; an ICMP error takes a
/// round trip to come), so a sender learns it at its first send a millisecond after the last
/// look, instead of never (its recv or poll(POLLIN) saw it before).
pub(crate) unsafe fn send_error(fd: c_int) -> Option<c_int> {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    let due = LAST.with(|l| l.get().is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_millis(1)));
    if !due {
        return None;
    }
    LAST.with(|l| l.set(Some(now)));
    // A raw socket's send reports it only with IP_HDRINCL (raw_send_hdrinc allocates with
    // sock_alloc_send_skb; without, raw_sendmsg's ip_append_data does not): the service says
    // which, asked only when an error heads the stream of an ICMP or raw socket.
    take_error_record_unless(fd, || super::family(fd) & proto::FAM_PING != 0 && raw_without_hdrincl(fd))
}
