//! The service's side of the keepers (`keep.rs`): when its descriptors near RLIMIT_NOFILE, the
//! pair ends of connections idle for a while go to a keeper; a stored socket comes back when
//! its program moves (the keeper returns it), when the engine has news for it (`pump`) and when
//! a request names it (`Service::lookup`'s callers).
use super::engine::Proto;
use super::sock::Sock;
use super::{Service, T_KEEP};
use crate::socket::tcp::TcpState;
use crate::stack::Stack;

/// A connection is stored only after this long without any movement.
const IDLE_MS: u32 = 500;
/// Between two scans for idle connections (each looks at every socket).
const SCAN_EVERY_MS: u32 = 100;
/// How long a request waits for a descriptor to be spare before it goes on regardless.
const STARVED_MS: u32 = 2000;

/// Can `s` go to a keeper: an established TCP connection with nothing moving either way and
/// nothing the service holds for it beyond its state.
pub fn storable(s: &Sock, stack: &Stack, now_ms: u32) -> bool {
    let Proto::Tcp(h) = s.proto else { return false };
    s.stored == 0
        && now_ms.wrapping_sub(s.active) >= IDLE_MS
        && !s.listening
        && s.hold.is_none()
        && s.tx.is_empty()
        && s.rx.is_empty()
        && !s.tx_full
        && !s.a_full
        && !s.a_eof
        && !s.a_hup
        && s.a_dry
        && !s.dead
        && !s.parked
        && !s.fin_sent
        && !s.eof_to_a
        && s.tokens == 0
        && stack.tcp.state(h) == Ok(TcpState::Established)
        && stack.tcp.recv_queue(h) == 0
        && stack.tcp.send_queue(h) == 0
}

impl Service {
    pub(super) fn now_ms(&self) -> u32 {
        self.epoch.elapsed().as_millis() as u32
    }

    /// Descriptors the service holds now (an estimate from above: every live socket's end not
    /// stored, the program ends held by connects in progress, the control connections, ends
    /// closing, and a fixed allowance for the rest).
    fn fds_in_hand(&self) -> usize {
        let live = self.socks.len() - self.free.len();
        let holds = super::sock::HOLDS.load(std::sync::atomic::Ordering::Relaxed);
        64 + holds + live - self.kept.len() + self.clients.len() + self.closing.len() + self.keep.control_fds().count()
    }

    /// Once per loop: stores idle connections while the service holds too many descriptors,
    /// and takes back what the keepers returned while there is room.
    pub(super) fn keep_pressure(&mut self) {
        let budget = self.budget;
        if self.fds_in_hand() > budget.high {
            let now = self.now_ms();
            if now.wrapping_sub(self.last_scan) >= SCAN_EVERY_MS || self.fds_in_hand() > budget.spare {
                self.last_scan = now;
                self.store_idle(budget.low);
            }
        }
        if !self.paused.is_empty() && self.fd_room(4) {
            for fd in std::mem::take(&mut self.paused) {
                if self.clients.contains_key(&fd) {
                    self.ep_mod(fd, libc::EPOLLIN as u32, super::T_CLIENT | fd as u64);
                }
            }
        }
        if !self.deferred.is_empty() && self.fds_in_hand() + 4 < budget.spare {
            // Sockets whose engine had news while no descriptor was spare: pumped now.
            self.dirty.append(&mut self.deferred);
        }
        if self.keep_blocked && self.fds_in_hand() < budget.spare {
            self.keep_blocked = false;
            for (k, fd) in self.keep.control_fds().collect::<Vec<_>>() {
                self.ep_mod(fd, libc::EPOLLIN as u32, T_KEEP | k as u64);
            }
        }
    }

    /// Programs or keepers wait for descriptors to be spare (the loop looks again soon).
    pub(super) fn keep_waiting(&self) -> bool {
        !self.paused.is_empty() || self.keep_blocked || !self.deferred.is_empty()
    }

    /// Can the service take `n` more descriptors (storing idle connections if needed)? After
    /// `STARVED_MS` without room, or with no keeper to store into, yes: the request goes on
    /// and fails as it would have (EMFILE when its descriptor cannot be installed) rather than
    /// wait for ever.
    pub(super) fn fd_room(&mut self, n: usize) -> bool {
        if self.fds_in_hand() + n >= self.budget.high {
            let now = self.now_ms();
            if now.wrapping_sub(self.last_scan) >= SCAN_EVERY_MS || self.fds_in_hand() + n >= self.budget.spare {
                self.last_scan = now;
                self.store_idle(self.budget.low);
            }
        }
        if self.fds_in_hand() + n < self.budget.spare {
            self.starved_since = None;
            return true;
        }
        let now = self.now_ms();
        let since = *self.starved_since.get_or_insert(now);
        let give_up = self.keep.broken() || now.wrapping_sub(since) >= STARVED_MS;
        if give_up && !self.keep.broken() {
            tracing::warn!(target: "tapstack::service", "no descriptor spare for {} ms: a request goes on regardless", now.wrapping_sub(since));
        }
        give_up
    }

    /// Stops reading control connection `fd` until descriptors are spare (`keep_pressure`).
    pub(super) fn pause_client(&mut self, fd: i32) {
        if !self.paused.contains(&fd) {
            self.ep_mod(fd, 0, super::T_CLIENT | fd as u64);
            self.paused.push(fd);
        }
    }

    /// Stores idle connections until at most `target` descriptors are in hand.
    fn store_idle(&mut self, target: usize) {
        let now = self.now_ms();
        let n = self.socks.len();
        let start = self.store_cursor;
        for step in 0..n {
            if self.fds_in_hand() <= target {
                break;
            }
            let i = (start + step) % n;
            let ok = self.socks[i].as_ref().is_some_and(|s| storable(s, &self.stack, now));
            if ok && !self.store(i) {
                break;
            }
            self.store_cursor = i + 1;
        }
    }

    /// Hands socket `i`'s end to a keeper. False if no keeper can take it.
    fn store(&mut self, i: usize) -> bool {
        let Some(a) = self.socks[i].as_ref().map(|s| s.a) else { return false };
        match self.keep.store(a) {
            Ok((ticket, new_keeper)) => {
                if let Some(fd) = new_keeper {
                    let k = self.keep.control_fds().count() - 1;
                    self.ep_add(fd, libc::EPOLLIN as u32, T_KEEP | k as u64);
                }
                self.ep_del(a);
                let _ = crate::sys::close(a);
                let s = self.socks[i].as_mut().expect("present");
                s.a = -1;
                s.stored = ticket;
                self.kept.insert(ticket, i);
                true
            }
            Err(_) => false,
        }
    }

    /// Makes sure socket `i`'s end is in hand, asking its keeper for it if stored. False if it
    /// is not back yet: no descriptor to spare (`keep_pressure` pumps it once there is), or
    /// already on its way back (its return pumps it); a keeper that fails ends the connection.
    pub(super) fn unstore(&mut self, i: usize) -> bool {
        let Some(ticket) = self.socks.get(i).and_then(|s| s.as_ref()).map(|s| s.stored) else { return true };
        if ticket == 0 {
            return true;
        }
        if !self.fd_room(1) {
            if !self.deferred.contains(&i) {
                self.deferred.push(i);
            }
            return false;
        }
        match self.keep.fetch(ticket) {
            Ok(Some(fd)) => {
                self.restore(ticket, fd);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!(target: "tapstack::service", "a keeper did not give a connection back: {}", crate::sys::strerror(e));
                self.kept.remove(&ticket);
                if let Some(mut s) = self.socks[i].take() {
                    let now = self.now();
                    s.stored = 0;
                    super::sock::close(&mut self.stack, now, &mut s, true);
                    s.parked = true; // not in epoll: `a` is gone
                    self.forget(i, s);
                }
                false
            }
        }
    }

    /// Keeper `k` has descriptors to give back (their programs wrote, shut down or closed).
    pub(super) fn keep_event(&mut self, k: usize) {
        let room = self.budget.spare.saturating_sub(self.fds_in_hand());
        if room == 0 {
            self.store_idle(self.budget.low);
        }
        let room = self.budget.spare.saturating_sub(self.fds_in_hand());
        if room == 0 {
            // Every descriptor is busy: leave them queued until some go idle (`keep_pressure`).
            self.keep_blocked = true;
            if let Some((_, fd)) = self.keep.control_fds().nth(k) {
                self.ep_mod(fd, 0, T_KEEP | k as u64);
            }
            return;
        }
        let mut got = Vec::new();
        if self.keep.take_returns(k, room, &mut got).is_err() {
            tracing::error!(target: "tapstack::service", "keeper {k} is gone");
            if let Some((_, fd)) = self.keep.control_fds().nth(k) {
                self.ep_del(fd);
            }
        }
        for (t, fd) in got {
            self.restore(t, fd);
        }
    }

    /// Puts a returned end back in place and pumps its socket.
    fn restore(&mut self, ticket: u64, fd: i32) {
        let Some(i) = self.kept.remove(&ticket) else {
            let _ = crate::sys::close(fd);
            return;
        };
        let Some(s) = self.socks[i].as_mut() else {
            let _ = crate::sys::close(fd);
            return;
        };
        s.a = fd;
        s.stored = 0;
        s.a_dry = false;
        let want = s.wanted();
        s.interest = want;
        self.ep_add(fd, want, super::T_SOCK | i as u64);
        self.dirty.push(i);
    }

    /// Counters of the keepers (`stats_text`).
    pub(super) fn keep_stats(&self) -> String {
        format!(
            "stored {}\nkeepers {}\nkeep_stores {}\nkeep_returns {}\n",
            self.kept.len(),
            self.keep.control_fds().count(),
            self.keep.stores,
            self.keep.returns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_sockets_are_not_stored() {
        let cfg = crate::config::Config::from_lookup(|_| None).unwrap();
        let mut stack = Stack::new(&cfg, 1);
        let h = stack.tcp.socket();
        let s = Sock::new(Proto::Tcp(h), 5, (1, 2));
        // Closed, never connected: not an established idle connection.
        assert!(!storable(&s, &stack, 10_000));
    }
}
