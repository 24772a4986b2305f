//! TCP (RFC 9293), split by concern like Linux: this file holds the public socket API and the
//! socket table; see the README's architecture section for where input, output, timers and
//! congestion control live.
//!
//! CONTRACT (used by `stack.rs`, the preload shim and the tests; keep the signatures):
//! a `TcpStack` owns every TCP control block of one host. The IP layer feeds it segments with
//! `process` and collects segments to send with `dispatch`; time is always passed in.
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::error::Result;
use crate::socket::{Readiness, Shutdown};
use crate::time::{Duration, Instant};

/// Identifies one user-visible TCP socket of a `TcpStack`. Stale handles give `Error::BadHandle`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TcpHandle(pub u32);

/// RFC 9293 section 3.3.2 states.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

/// Congestion control algorithm.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Congestion {
    /// RFC 5681 + RFC 6582 NewReno.
    Reno,
    /// RFC 9438 CUBIC (default).
    Cubic,
}

/// Stack-wide TCP settings.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Address used as the source of connections (the interface address).
    pub local_addr: Ipv4Addr,
    /// Our MSS: IP MTU minus 40.
    pub mss: u16,
    /// Default receive buffer per connection (at least 256 KiB).
    pub rx_buffer: usize,
    /// Default send buffer per connection (at least 256 KiB).
    pub tx_buffer: usize,
    /// RFC 6298 lower bound on RTO (default 200 ms).
    pub rto_min: Duration,
    /// Upper bound on RTO (default 60 s).
    pub rto_max: Duration,
    /// Initial RTO before any RTT sample (default 1 s).
    pub rto_initial: Duration,
    /// Delayed ACK timeout (default 40 ms, never above 200 ms).
    pub delayed_ack: Duration,
    /// Maximum segment lifetime; TIME_WAIT lasts 2*MSL (default MSL 30 s, so 60 s like Linux).
    pub msl: Duration,
    /// Retransmissions of a data segment before the connection is aborted with ETIMEDOUT (15).
    pub max_retries: u32,
    /// SYN retransmissions before connect fails with ETIMEDOUT (6).
    pub syn_retries: u32,
    /// Congestion control for new connections.
    pub congestion: Congestion,
    /// Secret key for RFC 6528 ISNs (random per stack in production, fixed in tests).
    pub isn_secret: [u8; 16],
    /// Ephemeral port range, inclusive (default 32768..=60999 like Linux).
    pub ephemeral_ports: (u16, u16),
    /// Seed for ephemeral port choice and other randomness.
    pub seed: u64,
}

impl TcpConfig {
    /// Defaults for a host at `local_addr` on a link with IP MTU `mtu`.
    pub fn new(local_addr: Ipv4Addr, mtu: usize) -> TcpConfig {
        TcpConfig {
            local_addr,
            mss: (mtu.saturating_sub(40)).min(u16::MAX as usize) as u16,
            rx_buffer: 256 * 1024,
            tx_buffer: 256 * 1024,
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            rto_initial: Duration::from_secs(1),
            delayed_ack: Duration::from_millis(40),
            msl: Duration::from_secs(30),
            max_retries: 15,
            syn_retries: 6,
            congestion: Congestion::Cubic,
            isn_secret: [0; 16],
            ephemeral_ports: (32768, 60999),
            seed: 0,
        }
    }
}

/// Per-connection counters a user can read (TCP_INFO and tooling).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TcpInfo {
    pub state: Option<TcpState>,
    pub srtt: Duration,
    pub rttvar: Duration,
    pub rto: Duration,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub snd_mss: u16,
    pub rcv_mss: u16,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    /// Segments retransmitted, for any reason.
    pub retransmits: u64,
    /// Retransmissions triggered by three duplicate ACKs (or SACK).
    pub fast_retransmits: u64,
    /// Retransmission timeouts that fired.
    pub rto_expirations: u64,
    /// Current consecutive-backoff count.
    pub backoff: u32,
    pub wscale_snd: u8,
    pub wscale_rcv: u8,
    pub timestamps: bool,
    pub sack: bool,
}

/// Per-socket options (setsockopt).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    /// TCP_NODELAY: disable Nagle.
    NoDelay(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// TCP_KEEPIDLE / TCP_KEEPINTVL (seconds) and TCP_KEEPCNT.
    KeepIdle(Duration),
    KeepIntvl(Duration),
    KeepCnt(u32),
    /// SO_LINGER: None = off; Some(0) = RST on close.
    Linger(Option<Duration>),
    /// SO_RCVBUF / SO_SNDBUF in bytes.
    RecvBuffer(usize),
    SendBuffer(usize),
}

/// Every TCP control block of one host: listeners, connections, the port table.
///
/// (Skeleton: the TCP owner replaces these bodies; the signatures are the contract.)
pub struct TcpStack {
    config: TcpConfig,
}

#[allow(unused_variables)]
impl TcpStack {
    pub fn new(config: TcpConfig) -> TcpStack {
        TcpStack { config }
    }
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    // ---- IP-facing side ----

    /// Input: one TCP segment (the IPv4 payload) from `src` to `dst`. The checksum is verified
    /// here; malformed segments are dropped and counted. Answers (ACK, RST, SYN-ACK) are queued
    /// for the next `dispatch`.
    pub fn process(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) {
        
    }
    /// Output: runs due timers and hands every segment ready to send to `emit(src, dst, bytes)`,
    /// the bytes being a complete TCP header+payload with a valid checksum.
    pub fn dispatch(&mut self, now: Instant, emit: &mut dyn FnMut(Ipv4Addr, Ipv4Addr, &[u8])) {
        
    }
    /// When `dispatch` must next be called even if nothing arrives (None: no timer pending).
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        None
    }
    /// An ICMP destination unreachable quoting a segment we sent from `local` to `remote`.
    /// `code` is the ICMP code (2 protocol, 3 port, 0/1 net/host...). Hard errors abort a
    /// connection in SYN-SENT (ECONNREFUSED/EHOSTUNREACH); others are remembered as soft errors.
    pub fn icmp_unreachable(&mut self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4, code: u8) {
        
    }
    /// Handles whose readiness may have changed since the last call (data arrived, buffer space
    /// freed, state changed, error); the caller wakes waiters for them.
    pub fn take_changed(&mut self, out: &mut Vec<TcpHandle>) {
        
    }
    /// True while any connection still has unsent or unacknowledged data or an unsent FIN
    /// (used to drain at process exit).
    pub fn has_pending_output(&self) -> bool {
        false
    }

    // ---- user-facing side (the socket calls) ----

    /// socket(): a new closed socket.
    pub fn socket(&mut self) -> TcpHandle {
        todo!()
    }
    /// bind(): port 0 picks an ephemeral port; EADDRINUSE unless SO_REUSEADDR semantics allow.
    pub fn bind(&mut self, h: TcpHandle, local: SocketAddrV4) -> Result<()> {
        todo!()
    }
    /// SO_REUSEADDR.
    pub fn set_reuse_addr(&mut self, h: TcpHandle, on: bool) -> Result<()> {
        todo!()
    }
    /// listen(): backlog bounds half-open plus not-yet-accepted connections.
    pub fn listen(&mut self, h: TcpHandle, backlog: usize) -> Result<()> {
        todo!()
    }
    /// accept(): an established connection, or WouldBlock.
    pub fn accept(&mut self, h: TcpHandle) -> Result<TcpHandle> {
        todo!()
    }
    /// connect(): sends SYN and returns Ok at once; completion shows in `state`/`readiness`,
    /// failure in `take_error`. EISCONN / EALREADY / EINVAL as Linux.
    pub fn connect(&mut self, now: Instant, h: TcpHandle, remote: SocketAddrV4) -> Result<()> {
        todo!()
    }
    /// send(): copies as much as fits into the send buffer; WouldBlock if none fits; EPIPE after
    /// shutdown(Write) or peer reset (ECONNRESET first if the reset is unreported).
    pub fn send(&mut self, now: Instant, h: TcpHandle, data: &[u8]) -> Result<usize> {
        todo!()
    }
    /// recv(): Ok(0) at end of stream; WouldBlock if nothing yet; a pending error first.
    pub fn recv(&mut self, now: Instant, h: TcpHandle, buf: &mut [u8]) -> Result<usize> {
        todo!()
    }
    /// MSG_PEEK.
    pub fn peek(&self, h: TcpHandle, buf: &mut [u8]) -> Result<usize> {
        todo!()
    }
    /// shutdown(): Write sends FIN after queued data; Read discards further input.
    pub fn shutdown(&mut self, now: Instant, h: TcpHandle, how: Shutdown) -> Result<()> {
        todo!()
    }
    /// close(): releases the handle. Graceful close continues in the background (FIN, TIME_WAIT);
    /// RST instead if unread data remains or linger is 0. A listener resets its unaccepted queue.
    pub fn close(&mut self, now: Instant, h: TcpHandle) {
        todo!()
    }
    /// Abortive close: RST now, handle released.
    pub fn abort(&mut self, now: Instant, h: TcpHandle) {
        todo!()
    }
    pub fn set_option(&mut self, h: TcpHandle, opt: TcpOption) -> Result<()> {
        todo!()
    }
    pub fn state(&self, h: TcpHandle) -> Result<TcpState> {
        todo!()
    }
    pub fn readiness(&self, h: TcpHandle) -> Readiness {
        todo!()
    }
    /// SO_ERROR: returns and clears the pending error.
    pub fn take_error(&mut self, h: TcpHandle) -> Option<crate::error::Error> {
        todo!()
    }
    pub fn local_addr(&self, h: TcpHandle) -> Option<SocketAddrV4> {
        todo!()
    }
    pub fn remote_addr(&self, h: TcpHandle) -> Option<SocketAddrV4> {
        todo!()
    }
    /// FIONREAD: bytes ready to read.
    pub fn recv_queue(&self, h: TcpHandle) -> usize {
        todo!()
    }
    /// TIOCOUTQ: bytes not yet acknowledged.
    pub fn send_queue(&self, h: TcpHandle) -> usize {
        todo!()
    }
    pub fn info(&self, h: TcpHandle) -> Result<TcpInfo> {
        todo!()
    }
}
