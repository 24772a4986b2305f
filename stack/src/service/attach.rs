//! The attach point: programs (their shims) connect to `\0tapstack.<tap>` and keep one control
//! connection each; the service knows each by its credentials (`perm`).
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
}
