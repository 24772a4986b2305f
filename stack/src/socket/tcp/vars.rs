//! Groups of the control block with one owner each (in the spirit of Linux's grouped
//! `tcp_sock` fields and gVisor's sender/receiver): the send and receive sequence spaces
//! (RFC 9293 3.3.1), the options negotiated on the SYNs, the ACKs we owe, the timers, loss recovery
//! and RACK-TLP, the delivery-rate sample (`inspect.rs` reads it) and the trace buffer
//! (`trace.rs` fills it). A leaf:
//! it imports nothing from the files that work on the control block (`timer.rs` runs `Timers`).
use super::sack::Scoreboard;
use super::sentlog::SentLog;
use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::trace::{CcState, Reason, TraceKind};

/// Send sequence space (RFC 9293 3.3.1): `snd.una` reads SND.UNA.
#[derive(Clone, Debug, Default)]
pub struct SendSeq {
    /// ISS: initial send sequence number.
    pub iss: SeqNum,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub una: SeqNum,
    /// SND.NXT: next sequence number to send.
    pub nxt: SeqNum,
    /// Highest sequence ever sent (SND.NXT is rewound on RTO; Linux snd_nxt vs. our nxt).
    pub max: SeqNum,
    /// End of the last sub-MSS segment sent (Minshall's Nagle, Linux snd_sml).
    pub sml: SeqNum,
    /// SND.WND: the peer's window in bytes (scaled).
    pub wnd: u32,
    /// Largest window the peer ever offered (Linux max_window).
    pub max_wnd: u32,
    /// SND.WL1, SND.WL2: segment sequence and acknowledgment numbers of the last window update.
    pub wl1: SeqNum,
    pub wl2: SeqNum,
    /// Sequence number of the first byte in the send buffer (`tx[0]`).
    pub tx_base: SeqNum,
}

impl SendSeq {
    /// All send variables at a new ISN (RFC 9293 3.10.1).
    pub fn init(&mut self, iss: u32) {
        self.iss = SeqNum(iss);
        self.una = self.iss;
        self.nxt = self.iss;
        self.max = self.iss;
        self.sml = self.iss;
        self.tx_base = self.iss + 1;
    }
}

/// Receive sequence space (RFC 9293 3.3.1): `rcv.nxt` reads RCV.NXT.
#[derive(Clone, Debug, Default)]
pub struct RecvSeq {
    /// IRS: initial receive sequence number.
    pub irs: SeqNum,
    /// RCV.NXT: next sequence number expected.
    pub nxt: SeqNum,
    /// Right edge of the last advertised window (RCV.NXT + RCV.WND when sent; Linux rcv_wnd).
    pub adv: SeqNum,
    /// RCV.NXT when we last advertised a window (Linux rcv_wup).
    pub wup: SeqNum,
}

/// Options negotiated on the SYNs (RFC 7323 window scale and timestamps, RFC 2018 SACK) and
/// the segment sizes (RFC 9293 3.7.1, RFC 1191); Linux keeps them in `rx_opt`.
#[derive(Clone, Debug)]
pub struct TcpOpts {
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub ts_ok: bool,
    /// TS.Recent (RFC 7323 4.3).
    pub ts_recent: u32,
    /// Our timestamp clock's offset for this address pair (RFC 7323 5.4).
    pub ts_offset: u32,
    pub sack_ok: bool,
    /// Peer's MSS (what we may send).
    pub snd_mss: u16,
    /// Our MSS (advertised).
    pub rcv_mss: u16,
    /// MSS the path MTU allows (RFC 1191; u16::MAX until a "fragmentation needed" arrives).
    pub mtu_mss: u16,
    /// TCP_MAXSEG as set (0: none), bounding `rcv_mss` and `snd_mss` (Linux user_mss).
    pub user_mss: u16,
}

impl TcpOpts {
    /// Before the SYNs: the RFC 9293 default MSS of 536 to send, `mss` advertised.
    pub fn new(mss: u16) -> TcpOpts {
        TcpOpts {
            snd_wscale: 0,
            rcv_wscale: 0,
            ts_ok: false,
            ts_recent: 0,
            ts_offset: 0,
            sack_ok: false,
            snd_mss: 536,
            rcv_mss: mss,
            mtu_mss: u16::MAX,
            user_mss: 0,
        }
    }
}

/// The ACKs we owe (RFC 1122 4.2.3.2 delayed ACKs, RFC 5961 rate-limited challenge ACKs);
/// Linux's `icsk_ack`.
#[derive(Clone, Debug, Default)]
pub struct AckState {
    /// Send an ACK at the next output.
    pub now: bool,
    /// Delayed-ACK timer.
    pub delack_at: Option<Instant>,
    /// An active open whose handshake ACK may wait for the first data (`handshake_ack_hold`;
    /// not when its peer was seen to speak first).
    pub may_hold: bool,
    /// `delack_at` is that hold; `hold_expired`: it ended with no data (the peer speaks first).
    pub holding: bool,
    pub hold_expired: bool,
    /// The held ACK left with a segment the program sent (it speaks first).
    pub hold_ridden: bool,
    /// Full-sized segments received since our last ACK.
    pub segs_unacked: u32,
    /// Earlier ACK points owed within one burst (each after two full segments), sent before the
    /// final ACK so the peer's ACK clock is kept.
    pub points: Vec<super::seq::SeqNum>,
    /// Last rate-limited out-of-window / challenge ACK.
    pub last_oow: Option<Instant>,
    /// A duplicate segment's range, reported once as the first SACK block of the next ACK
    /// (D-SACK, RFC 2883; Linux `duplicate_sack`): the sender learns its retransmission was
    /// spurious and undoes the window reduction.
    pub dsack: Option<(super::seq::SeqNum, super::seq::SeqNum)>,
}

/// Keepalive settings (RFC 1122 4.2.3.6), Linux defaults.
#[derive(Clone, Debug)]
pub struct KeepAlive {
    pub on: bool,
    pub idle: Duration,
    pub intvl: Duration,
    pub cnt: u32,
    pub probes: u32,
}

/// The timers of one connection and their backoff state (Linux's `icsk_timeout` family). The
/// delayed-ACK timer is with the ACK state, the RACK and tail-loss-probe timers with RACK.
#[derive(Clone, Debug)]
pub struct Timers {
    /// Retransmission timer (RFC 6298).
    pub rto_at: Option<Instant>,
    /// Exponential backoff of the RTO (number of doublings).
    pub backoff: u32,
    /// Retransmissions of the current head without progress (RFC 9293 3.8.3 R1/R2).
    pub retries: u32,
    /// Persist timer (RFC 9293 3.8.6.1) and its backoff.
    pub persist_at: Option<Instant>,
    pub persist_backoff: u32,
    /// Window probes sent since the last acceptable ACK (Linux icsk_probes_out).
    pub probes_out: u32,
    pub keepalive: KeepAlive,
    pub keep_at: Option<Instant>,
    /// When the last segment arrived (keepalive idle time).
    pub last_rx: Instant,
    /// When data was last sent (Linux lsndtime), for the restart after idle.
    pub last_send: Option<Instant>,
    /// TIME-WAIT (2*MSL) or the orphaned FIN-WAIT-2 timeout.
    pub timewait_at: Option<Instant>,
    /// TCP_USER_TIMEOUT (RFC 5482; zero: off): how long sent data may stay unacknowledged, a
    /// zero window unopened, or a keepalive unanswered, before the connection is dropped.
    pub user_timeout: Duration,
    /// When the first resend since the last progress left, or our SYN (Linux retrans_stamp):
    /// the user timeout counts from there.
    pub retrans_stamp: Option<Instant>,
    /// When the first zero-window probe of this episode left (Linux icsk_probes_tstamp).
    pub probes_stamp: Option<Instant>,
    /// TCP_SYNCNT (Linux icsk_syn_retries; 0: `TcpConfig::syn_retries`).
    pub syn_cnt: u8,
}

impl Timers {
    pub fn new(now: Instant) -> Timers {
        Timers {
            rto_at: None,
            backoff: 0,
            retries: 0,
            persist_at: None,
            persist_backoff: 0,
            probes_out: 0,
            keepalive: KeepAlive {
                on: false,
                idle: Duration::from_secs(7200),
                intvl: Duration::from_secs(75),
                cnt: 9,
                probes: 0,
            },
            keep_at: None,
            last_rx: now,
            last_send: None,
            timewait_at: None,
            user_timeout: Duration::ZERO,
            retrans_stamp: None,
            probes_stamp: None,
            syn_cnt: 0,
        }
    }
}

/// Loss recovery (RFC 5681 3.2 duplicate ACKs, RFC 6582 NewReno recovery, RFC 6675 SACK-based
/// recovery): what was sent when, what the receiver SACKed, and the recovery episode.
#[derive(Debug, Default)]
pub struct LossRecovery {
    /// Duplicate ACKs in a row.
    pub dupacks: u32,
    /// In fast recovery.
    pub in_recovery: bool,
    /// RFC 6582 recover: the highest sequence sent when the episode began.
    pub recover: SeqNum,
    /// Retransmit the segment at SND.UNA regardless of cwnd (fast retransmit, partial ACK).
    pub rexmit_head: bool,
    /// What the receiver SACKed (RFC 2018, RFC 6675).
    pub scoreboard: Scoreboard,
    /// When each outstanding segment was last sent (`sentlog.rs`).
    pub sent: SentLog,
}

/// RACK-TLP state of one connection (RFC 8985), names from the RFC.
#[derive(Clone, Debug, Default)]
pub struct Rack {
    /// RACK.xmit_ts: latest send time among delivered segments.
    pub xmit_ts: Option<Instant>,
    /// RACK.end_seq: end of that segment (breaks ties between segments sent at once).
    pub end_seq: SeqNum,
    /// RACK.rtt: round trip of that segment, measured when it was delivered.
    pub rtt: Option<Duration>,
    /// TLP.end_seq and TLP.is_retrans (RFC 8985 7.4): an episode whose probe's ACK is awaited.
    pub tlp_end_seq: Option<SeqNum>,
    pub tlp_is_retrans: bool,
    /// RACK reordering timer (RFC 8985 6.2 step 5).
    pub reo_at: Option<Instant>,
    /// Tail loss probe timer (RFC 8985 7).
    pub pto_at: Option<Instant>,
    pub tlp_pending: bool,
    /// One probe per tail: cleared when SND.UNA advances.
    pub tlp_used: bool,
    /// RACK.reordering_seen (RFC 8985 6.2 step 3): a segment never retransmitted was delivered
    /// after a later one, or a D-SACK showed a retransmission spurious. From then on losses are
    /// found by time only (no three-duplicate rule), as Linux with RACK.
    pub reord_seen: bool,
    /// RACK.fack: the highest end of a segment delivered (step 3).
    pub fack: Option<SeqNum>,
    /// RACK.reo_wnd_mult, RACK.reo_wnd_persist and RACK.dsack_round (step 4): the reordering
    /// window grows by min_RTT/4 per round with a D-SACK, back to one after 16 recoveries
    /// without.
    pub reo_wnd_mult: u32,
    pub reo_wnd_persist: u32,
    pub dsack_round: Option<SeqNum>,
}

/// Delivery-rate sampling: bytes acknowledged over a window of at least one SRTT (1 ms min).
#[derive(Clone, Debug, Default)]
pub struct DeliveryRate {
    start: Option<(Instant, u64)>,
    /// Bytes per second over the last completed window.
    pub rate: u64,
}

impl DeliveryRate {
    /// `acked_total` bytes acknowledged so far at `now`.
    pub fn on_ack(&mut self, now: Instant, acked_total: u64, srtt: Duration) {
        let Some((t0, b0)) = self.start else {
            self.start = Some((now, acked_total));
            return;
        };
        let dt = now.saturating_since(t0);
        if dt >= srtt.max(Duration::from_millis(1)) {
            self.rate = ((acked_total - b0) as f64 / dt.as_secs_f64()) as u64;
            self.start = Some((now, acked_total));
        }
    }
}

/// Per-connection trace state (only allocated while tracing).
#[derive(Default)]
pub struct TcbTrace {
    pub(super) events: Vec<TraceKind>,
    /// Reason of the next segment `send_segment` emits.
    pub(super) why: Reason,
    /// Reason of the next pure ACK (set where an ACK is requested for a reason).
    pub(super) ack_why: Reason,
    /// Nagle held a small segment back (the next small one is its release).
    pub(super) nagle_held: bool,
    pub(super) last_cc: CcState,
    /// Highest sequence number received from the peer (retransmission inference).
    pub(super) hi_rcv: Option<SeqNum>,
}

/// Receive buffer auto-tuning's measurements (Linux `rcv_rtt_est` and `rcvq_space`).
#[derive(Clone, Debug, Default)]
pub struct RxTune {
    /// The receiver's round-trip estimate in ms, from the timestamps the peer echoes on data.
    pub rtt_ms: Option<u32>,
    /// Start of the current measurement: when, and the bytes the program had read by then.
    pub since: Option<Instant>,
    /// Bytes the program read since `since`.
    pub copied: usize,
}
