//! Listening sockets. As in Linux, half-open connections live in a separate SYN queue of
//! compact request records (`synq.rs`, bounded by `TcpConfig::max_syn_backlog`, SYN cookies
//! beyond it); listen()'s backlog bounds only established connections waiting for accept().
use std::collections::VecDeque;

use crate::time::Instant;

#[derive(Debug, Default)]
pub struct Listener {
    /// Maximum established, not yet accepted connections.
    pub backlog: usize,
    /// Request records (SYN-RECEIVED) of this listener in the stack's SYN queue.
    pub syn_queue: usize,
    /// Established children waiting for accept(), oldest first.
    pub accept_queue: VecDeque<u32>,
    /// SYNs and handshake-completing ACKs dropped because the accept queue was full.
    pub overflows: u64,
    /// Last time the SYN queue was full (SYN cookies are checked only within 2 minutes of it,
    /// like Linux's tcp_synq_no_recent_overflow).
    pub last_synq_overflow: Option<Instant>,
}

impl Listener {
    pub fn new(backlog: usize) -> Listener {
        // Linux: backlog 0 still admits one connection; clamp to somaxconn (4096).
        Listener { backlog: backlog.clamp(1, 4096), ..Default::default() }
    }
    /// The accept queue is full (Linux sk_acceptq_is_full).
    pub fn full(&self) -> bool {
        self.accept_queue.len() >= self.backlog
    }
    /// A child finished the handshake.
    pub fn established(&mut self, child: u32) {
        if !self.accept_queue.contains(&child) {
            self.accept_queue.push_back(child);
        }
    }
    /// A child went away (reset, timeout) before accept.
    pub fn remove(&mut self, child: u32) {
        self.accept_queue.retain(|&c| c != child);
    }
    pub fn children(&self) -> impl Iterator<Item = u32> + '_ {
        self.accept_queue.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn backlog_bounds_the_accept_queue_only() {
        let mut l = Listener::new(2);
        l.syn_queue = 100;
        assert!(!l.full());
        l.established(1);
        l.established(2);
        assert!(l.full());
        l.remove(2);
        assert!(!l.full());
        assert_eq!(l.children().collect::<Vec<_>>(), vec![1]);
    }
}
