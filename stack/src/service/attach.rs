//! The attach point: programs (their shims) connect to `\0tapstack.<tap>` and keep one control
//! connection each; the service knows each by its credentials (`perm`) and serves its requests
//! in order (`client_ready`).
use super::{fdpass, perm, proto, Service, StartError, T_CLIENT};

impl Service {
    pub(super) fn accept_clients(&mut self) {
        loop {
            let Ok(fd) = fdpass::accept4(self.attach_fd, libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) else { return };
            match fdpass::peer_cred(fd) {
                Ok((pid, uid)) => {
                    self.clients.insert(fd, perm::Peer::of(pid, uid));
                    self.ep_add(fd, libc::EPOLLIN as u32, T_CLIENT | fd as u64);
                }
                Err(_) => {
                    let _ = crate::sys::close(fd);
                }
            }
        }
    }

    pub(super) fn drop_client(&mut self, fd: i32) {
        self.ep_del(fd);
        self.clients.remove(&fd);
        let _ = crate::sys::close(fd);
    }

    /// Binds and listens on `\0tapstack.<tap>`; EADDRINUSE means another service is there.
    pub(super) fn bind_attach(tap: &str) -> Result<i32, StartError> {
        let name = proto::attach_name(tap);
        let fd = crate::sys::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0)
            .map_err(|e| StartError::Failed(format!("cannot create the attach socket: {}", crate::sys::strerror(e))))?;
        match fdpass::bind_listen_abstract(fd, &name, 512) {
            Ok(()) => Ok(fd),
            Err(e) => {
                let _ = crate::sys::close(fd);
                Err(if e == libc::EADDRINUSE {
                    StartError::Busy
                } else {
                    StartError::Failed(format!("cannot bind @{name}: {}", crate::sys::strerror(e)))
                })
            }
        }
    }

    /// Serves what client `fd` sent: every request on its control connection, in order, each
    /// answered before the next is read (an `Op::Adopt` is not answered).
    pub(super) fn client_ready(&mut self, fd: i32, events: u32) {
        let mut buf = [0u8; proto::MAX_MSG];
        loop {
            if events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 == 0 && !self.fd_room(4) {
                // A request may carry descriptors and one the service cannot take is lost: the
                // program waits until idle connections go to keepers (`store.rs`).
                self.pause_client(fd);
                return;
            }
            match fdpass::recv_with_fds(fd, &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, fds)) => {
                    for f in fds.into_iter().flatten() {
                        let _ = crate::sys::close(f);
                    }
                    self.drop_client(fd);
                    return;
                }
                Ok((n, [passed, second])) => {
                    self.peer = self.clients.get(&fd).copied().unwrap_or(perm::Peer::SERVICE);
                    let m = proto::Msg::decode(&buf[..n]);
                    if let Ok(m) = &m {
                        if m.op() == Some(proto::Op::Adopt) {
                            // No reply: socket() did not wait.
                            self.op_adopt(m, passed, second);
                            continue;
                        }
                    }
                    if let Some(f) = second {
                        let _ = crate::sys::close(f);
                    }
                    let mut kept = false;
                    let reply = match m {
                        Ok(m) => self.request(m, passed, &mut kept),
                        Err(_) => (proto::Msg::reply(0, libc::EINVAL), None),
                    };
                    if let Some(f) = passed {
                        if !kept {
                            let _ = crate::sys::close(f);
                        }
                    }
                    let (msg, out_fd) = reply;
                    let r = fdpass::send_with_fd(fd, &msg.encode(), out_fd, libc::MSG_DONTWAIT);
                    if let Some(f) = out_fd {
                        // The client has its own copy now (or is gone).
                        let _ = crate::sys::close(f);
                    }
                    if r.is_err() {
                        self.drop_client(fd);
                        return;
                    }
                }
                Err(libc::EAGAIN) => break,
                Err(_) => {
                    self.drop_client(fd);
                    return;
                }
            }
        }
        if events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
            self.drop_client(fd);
        }
    }
}
