//! Seeing the stack work: TCP trace events (sans-IO), and what renders them.
//!
//! The TCP engine emits a [`TraceEvent`] where it sends or receives a segment (with the reason
//! it knows: RTO, fast retransmit, RACK, tail loss probe, zero-window probe, delayed ACK, window
//! update, Nagle release, challenge ACK), changes state, fires a timer, or changes cwnd /
//! ssthresh / srtt / rto. Events go to a per-stack [`TraceSink`]; with no sink installed every
//! hook is a single `Option` test.
//!
//! Renderers are pure: [`ladder::Ladder`] draws each connection as a ladder diagram
//! (`TAPSTACK_TRACE=ladder`), [`json`] writes one JSON object per event
//! (`TAPSTACK_TRACE=events`). [`sink::WriterSink`] connects them to a file descriptor.
use crate::wire::ip::IpEndpoint;

use crate::socket::tcp::TcpState;
use crate::time::{Duration, Instant};

pub mod json;
pub mod ladder;
pub mod sink;

/// Which way a segment went, seen from this stack.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

/// Why the stack sent a segment (None: ordinary data, ACK or handshake).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Reason {
    #[default]
    None,
    /// Resent after a retransmission timeout (RFC 6298 5.4; SYN, data or FIN).
    Rto,
    /// Head segment resent on three duplicate ACKs or SACK evidence (RFC 5681 3.2), or after a
    /// NewReno partial ACK (RFC 6582).
    FastRetransmit,
    /// A hole or lost retransmission found by SACK / time (RFC 6675, RFC 8985 RACK).
    Rack,
    /// Tail loss probe resending the last segment (RFC 8985 7.3).
    TlpRetransmit,
    /// Tail loss probe carrying new data.
    TlpNew,
    /// Persist timer probe into a zero window (RFC 9293 3.8.6.1).
    ZeroWindowProbe,
    /// Keepalive probe (RFC 1122 4.2.3.6).
    KeepAlive,
    /// ACK sent when the delayed-ACK timer fired (RFC 1122 4.2.3.2).
    DelayedAck,
    /// ACK announcing a window the reader opened (RFC 1122 4.2.3.3).
    WindowUpdate,
    /// A small segment Nagle held until the earlier small segment was acknowledged (RFC 896).
    NagleRelease,
    /// Rate-limited ACK answering an out-of-window segment, SYN or RST (RFC 5961).
    ChallengeAck,
    /// Immediate duplicate ACK for out-of-order data (RFC 5681 4.2).
    DupAck,
    /// Data at or below what this direction already carried (inferred on input: the peer
    /// retransmitted).
    PeerRetransmit,
}

impl Reason {
    /// Short machine name (JSON).
    pub fn name(self) -> &'static str {
        match self {
            Reason::None => "",
            Reason::Rto => "rto",
            Reason::FastRetransmit => "fast-retransmit",
            Reason::Rack => "rack",
            Reason::TlpRetransmit => "tlp-retransmit",
            Reason::TlpNew => "tlp",
            Reason::ZeroWindowProbe => "zero-window-probe",
            Reason::KeepAlive => "keepalive",
            Reason::DelayedAck => "delayed-ack",
            Reason::WindowUpdate => "window-update",
            Reason::NagleRelease => "nagle-release",
            Reason::ChallengeAck => "challenge-ack",
            Reason::DupAck => "dup-ack",
            Reason::PeerRetransmit => "peer-retransmit",
        }
    }
    /// Label beside a ladder row (at most 17 columns).
    pub fn label(self) -> &'static str {
        match self {
            Reason::None => "",
            Reason::Rto => "RTO retransmit",
            Reason::FastRetransmit => "fast retransmit",
            Reason::Rack => "RACK retransmit",
            Reason::TlpRetransmit => "TLP retransmit",
            Reason::TlpNew => "tail loss probe",
            Reason::ZeroWindowProbe => "zero-window probe",
            Reason::KeepAlive => "keepalive probe",
            Reason::DelayedAck => "delayed ACK",
            Reason::WindowUpdate => "window update",
            Reason::NagleRelease => "Nagle release",
            Reason::ChallengeAck => "challenge ACK",
            Reason::DupAck => "dup ACK (ooo)",
            Reason::PeerRetransmit => "peer retransmit",
        }
    }
    pub fn from_name(s: &str) -> Option<Reason> {
        ALL_REASONS.iter().copied().find(|r| r.name() == s)
    }
    /// The segment resends sequence space already sent.
    pub fn is_retransmission(self) -> bool {
        matches!(
            self,
            Reason::Rto | Reason::FastRetransmit | Reason::Rack | Reason::TlpRetransmit | Reason::PeerRetransmit
        )
    }
}

const ALL_REASONS: [Reason; 14] = [
    Reason::None,
    Reason::Rto,
    Reason::FastRetransmit,
    Reason::Rack,
    Reason::TlpRetransmit,
    Reason::TlpNew,
    Reason::ZeroWindowProbe,
    Reason::KeepAlive,
    Reason::DelayedAck,
    Reason::WindowUpdate,
    Reason::NagleRelease,
    Reason::ChallengeAck,
    Reason::DupAck,
    Reason::PeerRetransmit,
];

/// A TCP timer that fired.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TimerKind {
    Rto,
    DelayedAck,
    Persist,
    KeepAlive,
    /// RACK reorder timer.
    Rack,
    /// Tail loss probe timer.
    Tlp,
    /// TIME-WAIT (or orphaned FIN-WAIT-2) expired.
    TimeWait,
}

impl TimerKind {
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Rto => "rto",
            TimerKind::DelayedAck => "delayed-ack",
            TimerKind::Persist => "persist",
            TimerKind::KeepAlive => "keepalive",
            TimerKind::Rack => "rack",
            TimerKind::Tlp => "tlp",
            TimerKind::TimeWait => "time-wait",
        }
    }
    pub fn from_name(s: &str) -> Option<TimerKind> {
        [
            TimerKind::Rto,
            TimerKind::DelayedAck,
            TimerKind::Persist,
            TimerKind::KeepAlive,
            TimerKind::Rack,
            TimerKind::Tlp,
            TimerKind::TimeWait,
        ]
        .into_iter()
        .find(|t| t.name() == s)
    }
}

/// One TCP segment as sent or received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub flags: u8,
    pub seq: u32,
    /// Acknowledgment number when the ACK flag is set.
    pub ack: Option<u32>,
    /// Payload bytes.
    pub len: u32,
    /// Advertised window in bytes (scaled, except on SYNs where it is never scaled).
    pub window: u32,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_perm: bool,
    pub ts: Option<(u32, u32)>,
    /// SACK blocks (left, right).
    pub sack: Vec<(u32, u32)>,
    pub reason: Reason,
}

/// Congestion and RTT state after a change.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CcState {
    pub cwnd: u32,
    pub ssthresh: u32,
    pub srtt: Duration,
    pub rttvar: Duration,
    pub rto: Duration,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    Segment(Dir, Segment),
    State { from: TcpState, to: TcpState },
    Timer(TimerKind),
    Cc(CcState),
}

/// One event of one connection (`local`, `remote`) at `at` (the stack's clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    pub at: Instant,
    pub local: IpEndpoint,
    pub remote: IpEndpoint,
    pub kind: TraceKind,
}

/// Receives a stack's events, in order. Implementations do the I/O (the core never does).
pub trait TraceSink: Send {
    fn event(&mut self, ev: &TraceEvent);
    /// End of a poll round: a good moment to write buffered output.
    fn flush(&mut self) {}
    /// End of the trace (process exit): write anything held back, e.g. a pending summary.
    fn finish(&mut self) {
        self.flush();
    }
}

/// A sink that keeps every event (tests, tools).
#[derive(Clone, Debug, Default)]
pub struct VecSink(pub std::sync::Arc<parking_lot::Mutex<Vec<TraceEvent>>>);

impl TraceSink for VecSink {
    fn event(&mut self, ev: &TraceEvent) {
        self.0.lock().push(ev.clone());
    }
}

/// RFC 9293 state names as `ss` and the RFC spell them.
pub fn state_name(s: TcpState) -> &'static str {
    match s {
        TcpState::Closed => "CLOSED",
        TcpState::Listen => "LISTEN",
        TcpState::SynSent => "SYN-SENT",
        TcpState::SynReceived => "SYN-RECEIVED",
        TcpState::Established => "ESTABLISHED",
        TcpState::FinWait1 => "FIN-WAIT-1",
        TcpState::FinWait2 => "FIN-WAIT-2",
        TcpState::CloseWait => "CLOSE-WAIT",
        TcpState::Closing => "CLOSING",
        TcpState::LastAck => "LAST-ACK",
        TcpState::TimeWait => "TIME-WAIT",
    }
}

pub fn state_from_name(s: &str) -> Option<TcpState> {
    use TcpState::*;
    [Closed, Listen, SynSent, SynReceived, Established, FinWait1, FinWait2, CloseWait, Closing, LastAck, TimeWait]
        .into_iter()
        .find(|&t| state_name(t) == s)
}

/// tcpdump-style flag letters: S F R P U E W, and `.` for ACK.
pub fn flag_string(flags: u8, ack: bool) -> String {
    use crate::wire::tcp::flags as f;
    let mut s = String::new();
    for (m, c) in
        [(f::SYN, 'S'), (f::FIN, 'F'), (f::RST, 'R'), (f::PSH, 'P'), (f::URG, 'U'), (f::ECE, 'E'), (f::CWR, 'W')]
    {
        if flags & m != 0 {
            s.push(c);
        }
    }
    if ack {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests;
