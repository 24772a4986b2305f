//! Stopping the service by hand: SIGTERM, SIGINT (Ctrl-C on a `tapstackd` run in the
//! foreground) and SIGHUP end it cleanly, as an idle exit does (the trace's last rows and
//! buffered events written, the pcap complete). The signals are blocked and read from a
//! signalfd in the service's epoll set, so they are seen between two rounds, never inside one.
//! Connections still open are dropped without a word to their peers, as when a host goes down.
use super::{Service, T_STOP};
use crate::sys;

/// The signals that stop the service.
const STOP_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

impl Service {
    /// Makes SIGTERM, SIGINT and SIGHUP stop [`Service::run`] cleanly (it returns 0). Call it
    /// from the thread that runs the service, before `run`.
    pub fn stop_on_signals(&mut self) -> Result<(), i32> {
        let set = sys::sigset(&STOP_SIGNALS);
        sys::sigprocmask(libc::SIG_BLOCK, Some(set))?;
        let fd = sys::signalfd(-1, set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC)?;
        self.ep_add(fd, libc::EPOLLIN as u32, T_STOP);
        self.stop_fd = Some(fd);
        Ok(())
    }

    /// A stop signal arrived (the signalfd is drained).
    pub(super) fn stop_requested(&mut self) -> bool {
        let Some(fd) = self.stop_fd else { return false };
        let mut info = [0u8; 128]; // struct signalfd_siginfo
        let mut got = false;
        while sys::read(fd, &mut info).is_ok_and(|n| n == info.len()) {
            got = true;
        }
        got
    }
}
