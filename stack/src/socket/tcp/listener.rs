//! Listening sockets: a bounded backlog holding half-open (SYN-RECEIVED) and established but
//! not yet accepted connections.
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct Listener {
    /// Maximum half-open plus unaccepted connections.
    pub backlog: usize,
    /// Children in SYN-RECEIVED.
    pub half_open: Vec<u32>,
    /// Established children waiting for accept(), oldest first.
    pub accept_queue: VecDeque<u32>,
    /// SYNs dropped because the backlog was full.
    pub overflows: u64,
}

impl Listener {
    pub fn new(backlog: usize) -> Listener {
        // Linux: backlog 0 still admits one connection; clamp to somaxconn (4096).
        Listener { backlog: backlog.clamp(1, 4096), ..Default::default() }
    }
    pub fn full(&self) -> bool {
        self.half_open.len() + self.accept_queue.len() >= self.backlog
    }
    /// A child finished the handshake.
    pub fn established(&mut self, child: u32) {
        self.half_open.retain(|&c| c != child);
        if !self.accept_queue.contains(&child) {
            self.accept_queue.push_back(child);
        }
    }
    /// A child went away (reset, timeout) before accept.
    pub fn remove(&mut self, child: u32) {
        self.half_open.retain(|&c| c != child);
        self.accept_queue.retain(|&c| c != child);
    }
    pub fn children(&self) -> impl Iterator<Item = u32> + '_ {
        self.half_open.iter().chain(self.accept_queue.iter()).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn backlog_bounds_half_open_plus_queue() {
        let mut l = Listener::new(2);
        l.half_open.push(1);
        assert!(!l.full());
        l.half_open.push(2);
        assert!(l.full());
        l.established(1);
        assert_eq!(l.accept_queue, [1]);
        assert!(l.full());
        l.remove(2);
        assert!(!l.full());
        assert_eq!(l.children().collect::<Vec<_>>(), vec![1]);
    }
}
