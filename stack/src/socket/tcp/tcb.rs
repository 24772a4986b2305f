//! The transmission control block (RFC 9293 3.3.1): sequence variables, buffers, options,
//! timers and counters of one connection, plus small helpers shared by input and output.
use std::net::SocketAddrV4;

use super::assembler::Assembler;
use super::buffer::RingBuffer;
use super::congestion::CongestionControl;
use super::listener::Listener;
use super::rtt::RttEstimator;
use super::sack::Scoreboard;
use super::seq::SeqNum;
use super::{TcpConfig, TcpInfo, TcpState};
use crate::error::Error;
use crate::socket::Readiness;
use crate::time::{Duration, Instant};

/// Keepalive settings (RFC 1122 4.2.3.6), Linux defaults.
#[derive(Clone, Debug)]
pub struct KeepAlive {
    pub on: bool,
    pub idle: Duration,
    pub intvl: Duration,
    pub cnt: u32,
    pub probes: u32,
}

pub struct Tcb {
    pub state: TcpState,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// bind() or connect() gave this socket a local port.
    pub bound: bool,
    pub reuse_addr: bool,
    /// SO_REUSEPORT.
    pub reuse_port: bool,
    /// Listening socket's queues.
    pub listener: Option<Listener>,
    /// The listener that owns this not-yet-accepted connection.
    pub parent: Option<u32>,
    /// The user closed the handle; the connection finishes in the background.
    pub orphan: bool,
    /// Opened by us (connect) rather than by a listener.
    pub active: bool,

    // RFC 9293 3.3.1 send sequence variables.
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// Highest sequence ever sent (snd_nxt is rewound on RTO).
    pub snd_max: SeqNum,
    /// End of the last sub-MSS segment sent (Minshall's Nagle, Linux snd_sml).
    pub snd_sml: SeqNum,
    /// Peer's window in bytes (scaled).
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    /// Sequence number of tx[0].
    pub tx_base: SeqNum,
    // Receive sequence variables.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    /// Right edge of the last advertised window.
    pub rcv_adv: SeqNum,
    /// RCV.NXT when we last advertised a window (Linux rcv_wup).
    pub rcv_wup: SeqNum,
    /// Last rate-limited out-of-window / challenge ACK.
    pub last_oow_ack: Option<Instant>,

    // RFC 7323 / RFC 2018 options.
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub ts_ok: bool,
    pub ts_recent: u32,
    pub ts_offset: u32,
    pub sack_ok: bool,
    /// Peer's MSS (what we may send).
    pub snd_mss: u16,
    /// Our MSS (advertised).
    pub rcv_mss: u16,

    pub tx: RingBuffer,
    pub rx: RingBuffer,
    pub assembler: Assembler,
    pub scoreboard: Scoreboard,

    /// shutdown(Write)/close: FIN goes after the queued data.
    pub fin_queued: bool,
    pub fin_acked: bool,
    /// Peer's FIN sequence number once seen (maybe out of order).
    pub rx_fin: Option<SeqNum>,
    /// Peer's FIN consumed: end of stream.
    pub peer_fin: bool,
    /// shutdown(Read).
    pub rx_shut: bool,
    pub error: Option<Error>,
    /// ICMP soft error (RFC 1122 4.2.3.9), reported by SO_ERROR only.
    pub soft_error: Option<Error>,
    /// IP_RECVERR error queue.
    pub errq: crate::socket::errqueue::ErrQueue,
    /// MSS the path MTU allows (RFC 1191; u16::MAX until a "fragmentation needed" arrives).
    pub mtu_mss: u16,
    /// Connection was reset/aborted: send gives EPIPE.
    pub reset: bool,
    pub ever_connected: bool,

    // Output requests.
    pub ack_now: bool,
    pub delack_at: Option<Instant>,
    /// Full-sized segments received since our last ACK.
    pub segs_unacked: u32,
    /// Earlier ACK points owed within one burst (each after two full segments), sent before the
    /// final ACK so the peer's ACK clock is kept.
    pub ack_points: Vec<SeqNum>,
    pub send_rst: bool,
    /// Retransmit the segment at snd_una regardless of cwnd (fast retransmit, partial ACK).
    pub rexmit_head: bool,
    /// Send one probe segment (persist/keepalive).
    pub probe: bool,

    // Timers.
    pub rto_at: Option<Instant>,
    pub backoff: u32,
    pub retries: u32,
    pub persist_at: Option<Instant>,
    pub persist_backoff: u32,
    /// Window probes sent since the last acceptable ACK (Linux icsk_probes_out).
    pub probes_out: u32,
    pub keepalive: KeepAlive,
    pub keep_at: Option<Instant>,
    pub last_rx: Instant,
    /// When data was last sent (Linux lsndtime), for the restart after idle.
    pub last_send: Option<Instant>,
    pub timewait_at: Option<Instant>,

    pub rtt: RttEstimator,
    /// RFC 6298 timing of one segment: (seq that must be acked, time sent).
    pub rtt_probe: Option<(SeqNum, Instant)>,
    pub cc: CongestionControl,
    pub dupacks: u32,
    pub in_recovery: bool,
    /// RFC 6582 recover.
    pub recover: SeqNum,
    /// When each outstanding segment was last sent (RACK-style loss detection).
    pub sent: super::sentlog::SentLog,
    /// RACK.xmit_ts (RFC 8985): latest send time among delivered segments.
    pub rack_xmit: Option<Instant>,
    /// RACK.end_seq: end of that segment (breaks ties between segments sent at once).
    pub rack_end: SeqNum,
    /// RACK.rtt: round trip of that segment, measured when it was delivered.
    pub rack_rtt: Option<Duration>,
    /// TLP.end_seq and TLP.is_retrans (RFC 8985 7.4): an episode whose probe's ACK is awaited.
    pub tlp_high: Option<SeqNum>,
    pub tlp_retrans: bool,
    /// RACK reorder timer.
    pub rack_at: Option<Instant>,
    /// Tail loss probe timer (RFC 8985 7).
    pub pto_at: Option<Instant>,
    pub tlp_pending: bool,
    /// One probe per tail: cleared when snd_una advances.
    pub tlp_used: bool,

    pub nodelay: bool,
    pub linger: Option<Duration>,
    pub counters: TcpInfo,
    /// Readiness may have changed (reported by `take_changed`).
    pub changed: bool,
    /// Something may be ready to send (checked by `dispatch`).
    pub pending: bool,
    /// In the stack's dirty list.
    pub queued: bool,
    /// This block's entry in the stack's timer index.
    pub timer_key: Option<Instant>,
    /// SO_RCVBUF / SO_SNDBUF for buffers not yet allocated.
    pub want_rx: usize,
    pub want_tx: usize,
    /// Delivery-rate estimate (`ss -i`).
    pub delivery: super::inspect::DeliveryRate,
    /// Trace state while the stack has a trace sink (see `trace.rs`).
    pub tr: Option<Box<super::trace::TcbTrace>>,
}

impl Tcb {
    pub fn new(cfg: &TcpConfig, now: Instant) -> Tcb {
        let unspec = SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0);
        Tcb {
            state: TcpState::Closed,
            local: unspec,
            remote: unspec,
            bound: false,
            reuse_addr: false,
            reuse_port: false,
            listener: None,
            parent: None,
            orphan: false,
            active: false,
            iss: SeqNum(0),
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
            snd_max: SeqNum(0),
            snd_sml: SeqNum(0),
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: SeqNum(0),
            tx_base: SeqNum(0),
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_wup: SeqNum(0),
            last_oow_ack: None,
            snd_wscale: 0,
            rcv_wscale: 0,
            ts_ok: false,
            ts_recent: 0,
            ts_offset: 0,
            sack_ok: false,
            snd_mss: 536,
            rcv_mss: cfg.mss,
            tx: RingBuffer::new(0),
            rx: RingBuffer::new(0),
            assembler: Assembler::default(),
            scoreboard: Scoreboard::default(),
            fin_queued: false,
            fin_acked: false,
            rx_fin: None,
            peer_fin: false,
            rx_shut: false,
            error: None,
            soft_error: None,
            errq: Default::default(),
            mtu_mss: u16::MAX,
            reset: false,
            ever_connected: false,
            ack_now: false,
            delack_at: None,
            segs_unacked: 0,
            ack_points: Vec::new(),
            send_rst: false,
            rexmit_head: false,
            probe: false,
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
            rtt: RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rtt_probe: None,
            cc: CongestionControl::new(cfg.congestion, cfg.mss),
            dupacks: 0,
            in_recovery: false,
            recover: SeqNum(0),
            sent: Default::default(),
            rack_xmit: None,
            rack_end: SeqNum(0),
            rack_rtt: None,
            tlp_high: None,
            tlp_retrans: false,
            rack_at: None,
            pto_at: None,
            tlp_pending: false,
            tlp_used: false,
            nodelay: false,
            linger: None,
            counters: TcpInfo::default(),
            changed: false,
            pending: false,
            queued: false,
            timer_key: None,
            want_rx: cfg.rx_buffer,
            want_tx: cfg.tx_buffer,
            delivery: Default::default(),
            tr: None,
        }
    }

    /// Allocates the buffers (done at connect/accept so idle sockets cost nothing).
    pub fn alloc_buffers(&mut self, rx: usize, tx: usize) {
        if self.rx.capacity() == 0 {
            self.rx = RingBuffer::new(rx.max(1024));
        }
        if self.tx.capacity() == 0 {
            self.tx = RingBuffer::new(tx.max(1024));
        }
        // RFC 7323 2.3: smallest shift that lets the whole buffer be advertised.
        let mut ws = 0u8;
        while (self.rx.capacity() >> ws) > 65535 && ws < 14 {
            ws += 1;
        }
        self.rcv_wscale = ws;
    }

    /// Sets up send variables for a new ISN.
    pub fn init_send(&mut self, iss: u32) {
        self.iss = SeqNum(iss);
        self.snd_una = self.iss;
        self.snd_nxt = self.iss;
        self.snd_max = self.iss;
        self.snd_sml = self.iss;
        self.tx_base = self.iss + 1;
        self.recover = self.iss;
    }

    pub fn synchronized(&self) -> bool {
        !matches!(self.state, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived)
    }
    pub fn set_state(&mut self, s: TcpState) {
        if self.state != s {
            tracing::trace!(local = %self.local, remote = %self.remote, "tcp {:?} -> {:?}", self.state, s);
            self.tr_state(self.state, s);
            self.state = s;
            self.changed = true;
        }
    }
    /// Payload bytes per segment: the peer's MSS less our fixed options (RFC 9293 3.7.1).
    pub fn eff_mss(&self) -> usize {
        let mss = self.snd_mss.min(self.rcv_mss.max(536)).min(self.mtu_mss) as usize;
        (mss - if self.ts_ok { 12 } else { 0 }).max(64)
    }
    /// Sequence number of our FIN, if queued.
    pub fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued.then(|| self.tx_base + self.tx.len())
    }
    /// End of the data in the send buffer.
    pub fn data_end(&self) -> SeqNum {
        self.tx_base + self.tx.len()
    }
    pub fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }
    /// Window we advertise, in bytes (before scaling), RFC 9293 3.8.6.2.2 receiver SWS avoidance.
    pub fn rcv_window(&self) -> u32 {
        let free = if self.rx_shut { self.rx.capacity() } else { self.rx.free() } as u32;
        let max = 65535u32 << self.rcv_wscale;
        let free = free.min(max);
        let cur = self.rcv_adv.since(self.rcv_nxt) as u32;
        let step = (self.rx.capacity() as u32 / 2).min(self.rcv_mss as u32);
        if free > cur && free - cur < step {
            cur // do not advertise a tiny increase
        } else {
            free.max(cur)
        }
    }
    /// In-flight estimate ("pipe", RFC 6675 section 4): O(1), from the log's counters.
    pub fn pipe(&self) -> usize {
        if !self.in_recovery {
            return self.snd_nxt.since(self.snd_una);
        }
        let out = self.snd_max.since(self.snd_una);
        if self.sack_ok && !self.scoreboard.is_empty() {
            self.sack_pipe()
        } else {
            out.saturating_sub(self.dupacks as usize * self.eff_mss())
        }
    }

    /// Readiness as Linux's tcp_poll computes it.
    pub fn readiness(&self) -> Readiness {
        let mut r = Readiness { error: self.error.is_some() || !self.errq.is_empty(), ..Readiness::default() };
        if let Some(l) = &self.listener {
            r.readable = !l.accept_queue.is_empty();
            return r;
        }
        let closed = self.state == TcpState::Closed;
        let rcv_shut = self.peer_fin || self.rx_shut || self.reset || (closed && self.ever_connected);
        let snd_shut = self.fin_queued || self.reset || (closed && self.ever_connected);
        r.hup = (rcv_shut && snd_shut) || closed;
        if rcv_shut {
            r.readable = true;
            r.read_hup = true;
        }
        if !matches!(self.state, TcpState::SynSent | TcpState::SynReceived) {
            if !self.rx.is_empty() && !self.rx_shut {
                r.readable = true;
            }
            r.writable =
                snd_shut || self.tx.capacity() == 0 || (self.tx.free() > 0 && self.tx.free() >= self.tx.len() / 2);
        }
        r
    }

    pub fn info(&self) -> TcpInfo {
        let mut i = self.counters.clone();
        i.state = Some(self.state);
        i.srtt = self.rtt.srtt;
        i.rttvar = self.rtt.rttvar;
        i.rto = self.rtt.backed_off(self.backoff);
        i.cwnd = self.cc.cwnd;
        i.ssthresh = self.cc.ssthresh;
        // Like Linux tcpi_snd_mss: payload bytes per full segment (MSS less the timestamp option).
        i.snd_mss = self.eff_mss() as u16;
        i.rcv_mss = self.rcv_mss;
        i.snd_wnd = self.snd_wnd;
        i.rcv_wnd = self.rcv_adv.since(self.rcv_nxt) as u32;
        i.backoff = self.backoff;
        i.wscale_snd = self.snd_wscale;
        i.wscale_rcv = self.rcv_wscale;
        i.timestamps = self.ts_ok;
        i.sack = self.sack_ok;
        i.delivery_rate = self.delivery.rate;
        i
    }

    /// Moves to CLOSED with `err` (reported once through recv/send/SO_ERROR).
    pub fn terminate(&mut self, err: Option<Error>) {
        if let Some(e) = err {
            self.error = Some(e);
            self.reset = true;
        }
        self.set_state(TcpState::Closed);
        self.rto_at = None;
        self.persist_at = None;
        self.delack_at = None;
        self.keep_at = None;
        self.timewait_at = None;
        self.rack_at = None;
        self.pto_at = None;
        self.ack_now = false;
        self.changed = true;
    }
    /// Enters TIME-WAIT for 2*MSL (RFC 9293 3.10.7.4).
    pub fn enter_time_wait(&mut self, now: Instant, msl: Duration) {
        self.set_state(TcpState::TimeWait);
        self.timewait_at = Some(now + msl * 2);
        self.rto_at = None;
        self.rack_at = None;
        self.pto_at = None;
        self.persist_at = None;
        self.keep_at = None;
    }
}
