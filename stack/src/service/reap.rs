//! The end of sockets: hang-ups found mid-request, the sweep of dead sockets whose program end
//! may still be open, and forgetting a socket (its service end closed once the events at hand
//! are handled).
use std::time::Duration;

use super::engine::Proto;
use super::sock::{self, Sock};
use super::{fdpass, Service, T_CLIENT, T_MASK, T_SOCK};

impl Service {
    /// Closes the service ends of the sockets forgotten since the last call, after reading the
    /// control messages already queued (a program's next `Op::Adopt`, whose descriptors are in
    /// flight until read). Linux queues its AF_UNIX garbage collector (a kernel worker, woken on
    /// another CPU) when a unix socket is closed while passed descriptors may form a cycle; with
    /// the next socket's Adopt unread, that was one worker wake-up per short connection
    /// (bench/PERF.md, 2026-12-03).
    pub(super) fn close_forgotten(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        // Level-triggered: what is not handled here is reported again by the next wait.
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        let n = fdpass::epoll_wait(self.epfd, &mut events, 0).unwrap_or(0);
        for ev in &events[..n] {
            let (e, tok) = (ev.events, ev.u64);
            if tok & T_MASK == T_CLIENT {
                self.client_ready((tok & !T_MASK) as i32, e);
            }
        }
        for fd in std::mem::take(&mut self.closing) {
            let _ = crate::sys::close(fd);
        }
    }

    /// Handles the hang-ups already pending on the programs' ends (sockets closed by their
    /// programs), in the middle of a request; the other events stay for the loop (level
    /// triggered). True if there was one.
    pub(super) fn reap_hangups(&mut self) -> bool {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        let n = fdpass::epoll_wait(self.epfd, &mut events, 0).unwrap_or(0);
        let mut any = false;
        for ev in &events[..n] {
            let (e, tok) = (ev.events, ev.u64);
            if tok & T_MASK == T_SOCK && e & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                self.sock_event((tok & !T_MASK) as usize, e);
                any = true;
            }
        }
        any
    }

    /// Every 250 ms while there are dead sockets: forgets those whose program end is closed.
    pub(super) fn sweep_zombies(&mut self) {
        if self.zombies.is_empty() || std::time::Instant::now() < self.next_sweep {
            return;
        }
        self.next_sweep = std::time::Instant::now() + Duration::from_millis(250);
        let now = self.now();
        let mut keep = Vec::new();
        for (i, ino) in std::mem::take(&mut self.zombies) {
            if fdpass::unix_peer_alive(self.diag_fd, ino) == Some(true) {
                keep.push((i, ino));
                continue;
            }
            if let Some(mut s) = self.socks.get_mut(i).and_then(|s| s.take()) {
                sock::close(&mut self.stack, now, &mut s, false);
                self.forget(i, s);
            }
        }
        self.zombies = keep;
    }

    /// The sweep at once, not waiting for its 250 ms (a bind() that found its port taken): true
    /// if it forgot a socket.
    pub(super) fn sweep_zombies_now(&mut self) -> bool {
        let before = self.zombies.len();
        self.next_sweep = std::time::Instant::now();
        self.sweep_zombies();
        self.zombies.len() < before
    }

    pub(super) fn forget(&mut self, i: usize, s: Sock) {
        if !s.parked {
            self.ep_del(s.a);
        }
        self.closing.push(s.a);
        self.by_ident.remove(&s.ident);
        match s.proto {
            Proto::Tcp(h) => {
                self.by_tcp.remove(&h.0);
            }
            Proto::Udp(h) => {
                self.by_udp.remove(&h.0);
            }
        }
        self.free.push(i);
    }
}
