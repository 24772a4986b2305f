//! TCP_INQ (Linux tcp_recvmsg's TCP_CM_INQ, tcp_inq_hint): with it on, each recvmsg on the TCP
//! socket ends with a control message saying how many bytes are left to read (gRPC sizes its
//! next read by it). The count is what the socketpair holds (bytes the service has not moved
//! into the pair yet are not in it); after the end of stream, with nothing left, 1, as Linux
//! tells a reader to go on until it reads the 0. The option itself is kept by the service
//! (getsockopt, inheritance); the mark here spares a request per read.
use libc::{c_int, msghdr, ssize_t};
use tapstack::client::fdtable::FdBits;

/// TCP sockets of ours with TCP_INQ on.
static INQ: FdBits = FdBits::new();

/// setsockopt(TCP_INQ) on `fd` succeeded with `on`.
pub(crate) fn set(fd: c_int, on: bool) {
    if on || INQ.contains(fd) {
        INQ.set(fd, on);
    }
}

/// `new` is a duplicate of `old`, or a connection accepted on listener `old` (which it
/// inherits the option from, as Linux's clone of the listener).
pub(crate) fn mirror(old: c_int, new: c_int) {
    set(new, INQ.contains(old));
}

pub(crate) fn forget(fd: c_int) {
    set(fd, false);
}

/// After a recvmsg on TCP socket `fd` returned `r` into `msg`, whose control buffer had
/// `room` bytes before the call: the TCP_CM_INQ message, or MSG_CTRUNC where it does not fit
/// (Linux put_cmsg).
///
/// Safety: `msg` is the program's msghdr of that call (or null).
pub(crate) unsafe fn put(fd: c_int, msg: *mut msghdr, room: usize, r: ssize_t) {
    if r < 0 || msg.is_null() || !INQ.contains(fd) {
        return;
    }
    // Straight to the kernel (no hook, errno untouched): the pair's count, then its hang-up.
    let mut inq: c_int = 0;
    let sys = |nr, a: &[usize]| tapstack::sys::syscall(nr, a).unwrap_or(0);
    sys(libc::SYS_ioctl, &[fd as usize, libc::FIONREAD as usize, &mut inq as *mut c_int as usize]);
    if inq == 0 {
        let mut p = libc::pollfd { fd, events: libc::POLLRDHUP, revents: 0 };
        if sys(libc::SYS_poll, &[&mut p as *mut libc::pollfd as usize, 1, 0]) == 1 && p.revents & libc::POLLRDHUP != 0 {
            inq = 1; // the end of stream is still to be read (tcp_inq_hint's SOCK_DONE)
        }
    }
    let m = &mut *msg;
    let used = m.msg_controllen.min(room);
    let avail = room - used;
    let hdr = std::mem::size_of::<libc::cmsghdr>();
    if m.msg_control.is_null() || avail < hdr {
        m.msg_flags |= libc::MSG_CTRUNC;
        return;
    }
    // As put_cmsg: the header and value as far as they fit, the used length rounded up.
    // A header that does not fit whole says the length that did.
    let len = libc::CMSG_LEN(4) as usize;
    let mut b = vec![0u8; libc::CMSG_SPACE(4) as usize];
    let c = libc::cmsghdr { cmsg_len: len.min(avail) as _, cmsg_level: libc::SOL_TCP, cmsg_type: libc::TCP_CM_INQ };
    std::ptr::copy_nonoverlapping(&c as *const libc::cmsghdr as *const u8, b.as_mut_ptr(), hdr);
    b[hdr..hdr + 4].copy_from_slice(&inq.to_ne_bytes());
    if avail < len {
        m.msg_flags |= libc::MSG_CTRUNC;
    }
    std::ptr::copy_nonoverlapping(b.as_ptr(), (m.msg_control as *mut u8).add(used), len.min(avail));
    m.msg_controllen = used + b.len().min(avail);
}
