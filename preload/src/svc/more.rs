//! MSG_MORE on TCP (Linux tcp_push: the push of a send with MSG_MORE is corked): the service is
//! told before such a send, so the segment under the MSS its data ends with waits, and after
//! the next send without it, so the data leaves under Nagle's rule again. The data itself goes
//! through the pair as any other; only the changes cost a request: a run of sends with
//! MSG_MORE is one request at its start (an ACK in the service ends the hold before the run
//! does, as Linux's next ACK pushes under Nagle's rule alone; the rest of the run then leaves
//! as without MSG_MORE) and one after the send that ends it.
use libc::{c_int, ssize_t};
use tapstack::client::fdtable::FdBits;
use tapstack::service::proto::{Msg, Op};

use super::hooks::{call, Errno};
use crate::ShimGuard;

/// TCP sockets of ours whose last send had MSG_MORE (the service holds their tail).
static HELD: FdBits = FdBits::new();

/// Tells the service whether what `fd` writes next carries MSG_MORE (`Op::More`). The service
/// first takes what the pair holds, which leaves under the setting it was written with.
fn tell(fd: c_int, on: bool) {
    let Some(_g) = ShimGuard::enter() else { return };
    let e = Errno::save();
    let mut m = Msg::new(Op::More);
    m.a = on as i32;
    // A socket the service lost fails its send by itself; nothing to report here.
    let _ = call(&m, fd);
    HELD.set(fd, on);
    e.ok(());
}

/// Before a send with `flags` on TCP socket `fd`.
pub(crate) fn before_send(fd: c_int, flags: c_int) {
    if flags & libc::MSG_MORE != 0 && !HELD.contains(fd) {
        tell(fd, true);
    }
}

/// After a send without MSG_MORE (`r` its result) on TCP socket `fd`: the hold ends if it
/// sent anything (a send that failed or sent nothing pushes nothing, as tcp_sendmsg).
pub(crate) fn after_send(fd: c_int, flags: c_int, r: ssize_t) {
    if flags & libc::MSG_MORE == 0 && HELD.contains(fd) && r > 0 {
        tell(fd, false);
    }
}

/// `fd` is no longer a socket of ours.
pub(crate) fn forget(fd: c_int) {
    if HELD.contains(fd) {
        HELD.set(fd, false);
    }
}
