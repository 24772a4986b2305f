//! The calls the service and the shim both need beyond the basic ones: socketpairs, records
//! with one passed descriptor (SCM_RIGHTS), peer credentials, fstat identity, epoll (raw system
//! calls in `crate::sys::unix`, re-exported here), and whether a Unix socket's peer is still
//! open (sock_diag). Errors are `Err(errno)`; errno is never touched.
pub use crate::sys::unix::{
    abstract_addr, accept4, bind_listen_abstract, connect_abstract, epoll_create, epoll_ctl, epoll_wait,
    epoll_wait_for, getsockopt_int, getuid, identity, ifindex_exists, ignore_signals, peer_cred, recv, recv_vectored,
    recv_with_fd, recv_with_fds, send, send_vectored, send_with_fd, send_with_fds, set_nonblock, setsockopt_int,
    shutdown, socketpair, unread,
};

/// Is the peer of the Unix socket with inode `ino` still open? Asked through sock_diag
/// (UDIAG_SHOW_PEER reports the peer's inode, 0 once every descriptor of the peer is closed).
/// `nl` is a NETLINK_SOCK_DIAG socket. None if the kernel could not say.
pub fn unix_peer_alive(nl: i32, ino: u64) -> Option<bool> {
    let mut req = [0u8; 16 + 24];
    let len = req.len() as u32;
    req[0..4].copy_from_slice(&len.to_ne_bytes());
    req[4..6].copy_from_slice(&20u16.to_ne_bytes()); // SOCK_DIAG_BY_FAMILY
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req[16] = libc::AF_UNIX as u8;
    req[20..24].copy_from_slice(&u32::MAX.to_ne_bytes()); // all states
    req[24..28].copy_from_slice(&(ino as u32).to_ne_bytes());
    req[28..32].copy_from_slice(&4u32.to_ne_bytes()); // UDIAG_SHOW_PEER
    req[32..40].copy_from_slice(&[0xff; 8]); // no cookie
    send(nl, &req, 0).ok()?;
    let mut buf = [0u8; 512];
    let mut n = 0;
    for _ in 0..100 {
        match recv(nl, &mut buf, 0) {
            Ok(k) => {
                n = k;
                break;
            }
            Err(libc::EAGAIN) => std::thread::sleep(std::time::Duration::from_micros(50)),
            Err(_) => return None,
        }
    }
    if n < 16 + 16 {
        return None;
    }
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    if ty != 20 {
        return None; // NLMSG_ERROR: no such socket (then it is gone too, but say nothing)
    }
    let mut off = 16 + 16;
    let end = (u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize).min(n);
    while off + 4 <= end {
        let alen = u16::from_ne_bytes([buf[off], buf[off + 1]]) as usize;
        let aty = u16::from_ne_bytes([buf[off + 2], buf[off + 3]]);
        if alen < 4 {
            break;
        }
        if aty == 2 && off + 8 <= end {
            let peer = u32::from_ne_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]);
            return Some(peer != 0);
        }
        off += (alen + 3) & !3;
    }
    Some(false)
}

/// A NETLINK_SOCK_DIAG socket for [`unix_peer_alive`].
pub fn sock_diag_socket() -> Result<i32, i32> {
    crate::sys::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn pass_descriptor() {
        let (x, y) = socketpair(libc::SOCK_SEQPACKET).unwrap();
        let (p, q) = socketpair(libc::SOCK_STREAM).unwrap();
        let id = identity(q).unwrap();
        send_with_fd(x, b"hello", Some(q), 0).unwrap();
        let mut buf = [0u8; 16];
        let (n, fd) = recv_with_fd(y, &mut buf, 0).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let fd = fd.unwrap();
        assert_ne!(fd, q);
        assert_eq!(identity(fd).unwrap(), id);
        assert_eq!(peer_cred(x).unwrap().0, crate::sys::getpid());
        let nl = sock_diag_socket().unwrap();
        let ino = identity(p).unwrap().1;
        assert_eq!(unix_peer_alive(nl, ino), Some(true));
        for f in [x, y, q, fd] {
            crate::sys::close(f).unwrap();
        }
        // Another test thread forking (runtime and sys tests do) may hold a copy of `q` for a
        // moment; the peer must be seen closed once such a child is gone.
        let mut alive = unix_peer_alive(nl, ino);
        for _ in 0..200 {
            if alive == Some(false) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            alive = unix_peer_alive(nl, ino);
        }
        assert_eq!(alive, Some(false));
        crate::sys::close(p).unwrap();
        crate::sys::close(nl).unwrap();
    }
    #[test]
    fn vectored_stream_io() {
        let (x, y) = socketpair(libc::SOCK_STREAM).unwrap();
        assert_eq!(unread(y), Ok(0));
        assert_eq!(send_vectored(x, b"abc", b"defgh", 0), Ok(8));
        assert_eq!(send_vectored(x, b"", b"ij", 0), Ok(2));
        assert_eq!(unread(y), Ok(10));
        let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
        assert_eq!(recv_vectored(y, &mut a, &mut b, 0), Ok(8));
        assert_eq!((&a, &b), (b"abcd", b"efgh"));
        assert_eq!(unread(y), Ok(2));
        assert_eq!(recv_vectored(y, &mut a, &mut b, 0), Ok(2));
        assert_eq!(&a[..2], b"ij");
        assert_eq!(recv_vectored(y, &mut a, &mut b, 0), Err(libc::EAGAIN), "never blocks");
        shutdown(x, libc::SHUT_WR).unwrap();
        assert_eq!(recv_vectored(y, &mut a, &mut b, 0), Ok(0));
        shutdown(y, libc::SHUT_RD).unwrap();
        assert_eq!(send_vectored(y, b"", b"", 0), Ok(0));
        crate::sys::close(x).unwrap();
        // The peer is gone: EPIPE, no SIGPIPE. (Another test of this process that runs a
        // command holds a copy of `x` between its fork and exec: wait that out.)
        let mut r = send_vectored(y, b"a", b"b", 0);
        for _ in 0..100 {
            if r.is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            r = send_vectored(y, b"a", b"b", 0);
        }
        assert_eq!(r, Err(libc::EPIPE));
        crate::sys::close(y).unwrap();
    }
    #[test]
    fn pass_two_descriptors() {
        let (x, y) = socketpair(libc::SOCK_SEQPACKET).unwrap();
        let (p, q) = socketpair(libc::SOCK_STREAM).unwrap();
        let (ip, iq) = (identity(p).unwrap(), identity(q).unwrap());
        send_with_fds(x, b"two", &[p, q], 0).unwrap();
        send_with_fds(x, b"none", &[], 0).unwrap();
        let mut buf = [0u8; 16];
        let (n, [a, b]) = recv_with_fds(y, &mut buf, 0).unwrap();
        assert_eq!(&buf[..n], b"two");
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((identity(a).unwrap(), identity(b).unwrap()), (ip, iq));
        let (n, fds) = recv_with_fds(y, &mut buf, 0).unwrap();
        assert_eq!((&buf[..n], fds), (&b"none"[..], [None, None]));
        for f in [x, y, p, q, a, b] {
            crate::sys::close(f).unwrap();
        }
    }
}
