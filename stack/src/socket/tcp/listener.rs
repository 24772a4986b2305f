//! Listening sockets. As in Linux, half-open connections live in a separate SYN queue of
//! compact request records (`synq.rs`, bounded by `TcpConfig::max_syn_backlog`, SYN cookies
//! beyond it); listen()'s backlog bounds only established connections waiting for accept().
//! The SYN queue's records (`SynReq`, `SynAck`) are defined here, below the socket table that
//! holds them; `synq.rs` runs the queue.
use std::collections::VecDeque;

use crate::time::Instant;
use crate::wire::ip::IpEndpoint;

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

/// A SYN queue key: (local, remote) endpoints.
pub type Key = (IpEndpoint, IpEndpoint);

/// A half-open connection (SYN-RECEIVED) of a listener: what the SYN told us, ~48 bytes.
#[derive(Copy, Clone, Debug)]
pub struct SynReq {
    pub listener: u32,
    pub iss: u32,
    pub irs: u32,
    /// The peer's TSval (TS.Recent), if it sent timestamps.
    pub ts: Option<u32>,
    pub mss: u16,
    /// The peer's SYN window (never scaled).
    pub window: u16,
    pub wscale: Option<u8>,
    pub sack: bool,
    pub retries: u8,
    /// First SYN-ACK sent at (RTT sample if never retransmitted).
    pub sent: Instant,
    /// Next SYN-ACK retransmission.
    pub expires: Instant,
    /// Last SYN-ACK sent for a duplicate SYN (rate limit).
    pub last_dup: Option<Instant>,
    /// The handshake's bare ACK came while TCP_DEFER_ACCEPT held the request (Linux
    /// inet_request_sock.acked): the peer is established and the request waits for its data.
    pub acked: bool,
}

/// A SYN-ACK waiting for `dispatch`.
#[derive(Copy, Clone, Debug)]
pub struct SynAck {
    pub local: IpEndpoint,
    pub remote: IpEndpoint,
    pub iss: u32,
    pub ack: u32,
    pub window: u16,
    pub mss: u16,
    pub wscale: Option<u8>,
    pub sack: bool,
    pub ts: Option<(u32, u32)>,
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
