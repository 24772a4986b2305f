//! The ends of a TCP connection as the program's data calls meet them: the 0 of a read turned
//! into the error the connection ended with, data that arrived after shutdown(SHUT_RD), EPIPE
//! and its reason, reads and writes on sockets never connected. C convention and errno as in
//! `hooks.rs`.
use libc::{c_int, ssize_t};
use tapstack::service::proto::{self, Msg, Op};

use super::hooks::{call, err, Errno};

/// After a native read on a TCP socket returned 0 for a non-empty buffer (`asked` bytes into
/// `dst`): data that arrived after the program's shutdown(SHUT_RD) ([`late_read`]), else the
/// end of stream, or the error the connection ended with (ECONNRESET, ETIMEDOUT...), reported
/// once.
pub(crate) fn after_read(fd: c_int, r: ssize_t, asked: usize, dst: &[libc::iovec], flags: c_int) -> ssize_t {
    if r != 0 || asked == 0 {
        return r;
    }
    let e = Errno::save();
    if crate::sandbox::sandboxed() {
        // A seccomp sandbox may kill the request to the service (sshd's allows read and
        // write): a connection that failed reads as a plain end of stream there.
        return e.ok(0);
    }
    if !dst.is_empty() && super::rd_shut(fd) {
        if let Some(n) = late_read(fd, dst, asked, flags) {
            return e.ok(n);
        }
    }
    // The service shuts its end both ways when a connection fails (and is gone when it dies):
    // without a hang-up on ours this is a plain end of stream, no need to ask. (Our own
    // shutdown(SHUT_WR) gives a hang-up too: then ask.)
    let mut p = libc::pollfd { fd, events: 0, revents: 0 };
    // SAFETY: one pollfd on the stack, no wait.
    let r = unsafe { libc::syscall(libc::SYS_poll, &mut p as *mut libc::pollfd, 1, 0) };
    if r == 0 {
        return e.ok(0);
    }
    let mut m = Msg::new(Op::Reason);
    m.c = 1; // for a read: a socket that never connected reads ENOTCONN
    match call(&m, fd) {
        Ok(_) | Err(None) => e.ok(0),
        Err(Some(libc::ENETDOWN)) => err(libc::ECONNRESET),
        Err(Some(x)) => err(x),
    }
}

/// Linux keeps data that arrives after shutdown(SHUT_RD) readable, even after a read returned
/// 0 (tcp_recvmsg looks at RCV_SHUTDOWN only when the queue is empty); the pair has given its
/// end of stream by then, so the service hands such data over in the reply (`Op::LateRead`,
/// at most `proto::MAX_DATA` bytes a read). Some(bytes copied into `dst`) if there was any.
fn late_read(fd: c_int, dst: &[libc::iovec], asked: usize, flags: c_int) -> Option<ssize_t> {
    let mut m = Msg::new(Op::LateRead);
    m.a = asked.min(proto::MAX_DATA) as i32;
    m.b = (flags & libc::MSG_PEEK != 0) as i32;
    let r = call(&m, fd).ok()?;
    if r.data.is_empty() {
        return None;
    }
    let mut off = 0;
    for v in dst {
        let k = v.iov_len.min(r.data.len() - off);
        if k > 0 {
            // SAFETY: the program's own buffer of `iov_len` bytes, as its read call says.
            unsafe { std::ptr::copy_nonoverlapping(r.data.as_ptr().add(off), v.iov_base as *mut u8, k) };
        }
        off += k;
        if off == r.data.len() {
            break;
        }
    }
    Some(off as ssize_t)
}

/// FIONREAD's share of a TCP socket the program shut down for reading: the bytes the service
/// holds besides what the pair holds (data that arrived after the pair's end of stream).
pub(crate) fn late_queued(fd: c_int) -> usize {
    let mut m = Msg::new(Op::LateRead);
    m.a = 0;
    call(&m, fd).map_or(0, |r| r.c.max(0) as usize)
}

/// Reads on a listener or a socket never connected give ENOTCONN (Linux), never the accept
/// tokens.
pub(crate) fn listener_read() -> ssize_t {
    err(libc::ENOTCONN)
}

/// Sends on a listener or a socket never connected: EPIPE, and SIGPIPE unless MSG_NOSIGNAL.
pub(crate) fn unconnected_send(flags: c_int) -> ssize_t {
    if flags & libc::MSG_NOSIGNAL == 0 {
        // SAFETY: raise is not one of our hooks; the kernel signals the calling thread.
        unsafe { libc::raise(libc::SIGPIPE) };
    }
    err(libc::EPIPE)
}

/// The pair refused a write (EPIPE): the connection's pending error if it has one (ECONNRESET
/// after a reset, reported once, as Linux), ECONNRESET if the service itself is gone, else EPIPE
/// with SIGPIPE unless MSG_NOSIGNAL.
pub(crate) fn broken_pipe(fd: c_int, flags: c_int) -> ssize_t {
    match call(&Msg::new(Op::Reason), fd) {
        Err(Some(libc::ENETDOWN)) => err(libc::ECONNRESET),
        Err(Some(x)) if x > 0 => err(x),
        _ => unconnected_send(flags),
    }
}

/// Peeks whether the connection has an error pending (for poll's POLLERR).
pub(crate) fn error_pending(fd: c_int) -> bool {
    let mut m = Msg::new(Op::Reason);
    m.b = 1;
    matches!(call(&m, fd), Err(Some(x)) if x > 0)
}
