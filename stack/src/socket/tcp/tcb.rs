//! The transmission control block (RFC 9293 3.3.1): sequence variables, buffers, options,
//! timers and counters of one connection, plus small helpers shared by input and output.
use crate::wire::ip::IpEndpoint;

use super::assembler::Assembler;
use super::buffer::RingBuffer;
use super::congestion::CongestionControl;
use super::listener::Listener;
use super::rtt::RttEstimator;
use super::seq::SeqNum;
use super::types::{TcpConfig, TcpInfo, TcpState};
use super::vars::{AckState, DeliveryRate, LossRecovery, Rack, RecvSeq, RxTune, SendSeq, TcbTrace, TcpOpts, Timers};
use crate::error::Error;
use crate::socket::Readiness;
use crate::time::{Duration, Instant};

pub struct Tcb {
    pub state: TcpState,
    pub local: IpEndpoint,
    pub remote: IpEndpoint,
    /// bind() or connect() gave this socket a local port.
    pub bound: bool,
    /// bind() named the port (Linux SOCK_BINDPORT_LOCK): the socket keeps it when it closes;
    /// an automatic one (connect, listen, bind to port 0) is released then, as tcp_set_state.
    pub port_locked: bool,
    /// bind() named the address (SOCK_BINDADDR_LOCK).
    pub addr_locked: bool,
    /// Reached CLOSED from another state since the port was taken: an automatic port goes back
    /// then (`release_auto_port`), once; a socket only bound, never connected, keeps it.
    pub closed_since_bind: bool,
    pub reuse_addr: bool,
    /// IP_FREEBIND: bind() takes an address that is not ours (Linux inet_can_nonlocal_bind).
    pub freebind: bool,
    /// TCP_DEFER_ACCEPT of a listener, in SYN-ACK timeouts (Linux rskq_defer_accept): until
    /// that many, a handshake's bare ACK is dropped and the connection waits for data.
    pub defer_accept: u8,
    /// IP_LOCAL_PORT_RANGE (see `crate::socket::local_port_range`).
    pub port_range: u32,
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

    /// Send sequence space (SND.UNA is `snd.una`).
    pub snd: SendSeq,
    /// Receive sequence space (RCV.NXT is `rcv.nxt`).
    pub rcv: RecvSeq,
    /// Options negotiated on the SYNs and segment sizes.
    pub opts: TcpOpts,

    pub tx: RingBuffer,
    pub rx: RingBuffer,
    pub assembler: Assembler,

    /// shutdown(Write)/close: FIN goes after the queued data.
    pub fin_queued: bool,
    pub fin_acked: bool,
    /// Peer's FIN sequence number once seen (maybe out of order).
    pub rx_fin: Option<SeqNum>,
    /// Peer's FIN consumed: end of stream.
    pub peer_fin: bool,
    /// shutdown(Read): as Linux (RCV_SHUTDOWN), data already queued and data arriving later
    /// stay readable; an empty queue reads 0 instead of blocking.
    pub rx_shut: bool,
    /// TCP_WINDOW_CLAMP: the advertised window never exceeds it (0: no clamp).
    pub window_clamp: u32,
    pub error: Option<Error>,
    /// ICMP soft error (RFC 1122 4.2.3.9), reported by SO_ERROR only.
    pub soft_error: Option<Error>,
    /// IP_RECVERR error queue.
    pub errq: crate::socket::errqueue::ErrQueue,
    /// Connection was reset/aborted: send gives EPIPE.
    pub reset: bool,
    pub ever_connected: bool,

    // Output requests.
    /// The ACKs we owe.
    pub ack: AckState,
    pub send_rst: bool,
    /// Send one probe segment (persist/keepalive).
    pub probe: bool,

    /// Retransmission, persist, keepalive and TIME-WAIT timers.
    pub timers: Timers,

    /// Loss recovery: duplicate ACKs, RFC 6582 recovery, the SACK scoreboard, the send log.
    pub loss: LossRecovery,
    /// RACK-TLP (RFC 8985).
    pub rack: Rack,
    pub rtt: RttEstimator,
    /// RFC 6298 timing of one segment: (seq that must be acked, time sent).
    pub rtt_probe: Option<(SeqNum, Instant)>,
    pub cc: CongestionControl,
    /// The last loss episode's reduction, until D-SACKs show it spurious (`rack_dsack`).
    pub undo: Option<Box<super::congestion::Undo>>,

    pub nodelay: bool,
    /// TCP_CORK (Linux TCP_NAGLE_CORK): a segment under the MSS waits for more data, for
    /// the cork's removal or for the persist timer (at least 200 ms; Linux tcp_probe0_base).
    pub cork: bool,
    /// MSG_MORE on the last write (Linux tcp_push's TCP_NAGLE_CORK for that push): a segment
    /// under the MSS waits as under the cork, until a write without it, the next ACK (which
    /// pushes under Nagle alone, Linux tcp_data_snd_check) or the persist timer.
    pub more: bool,
    /// Linux TCP_NAGLE_PUSH: what is queued now leaves in spite of Nagle and the cork (set
    /// by TCP_NODELAY turned on, and by removing the cork while it is on); one output only.
    pub push: bool,
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
    /// SO_RCVBUF was set: the receive buffer is the program's, not auto-tuned (Linux
    /// SOCK_RCVBUF_LOCK).
    pub rx_locked: bool,
    /// Receive auto-tuning's limit (`TcpConfig::rx_buffer_max`).
    pub rx_max: usize,
    /// SO_SNDBUF was set: the send buffer is not auto-tuned (Linux SOCK_SNDBUF_LOCK).
    pub tx_locked: bool,
    /// Send auto-tuning's limit (`TcpConfig::tx_buffer_max`).
    pub tx_max: usize,
    /// Receive auto-tuning's measurements (`autotune.rs`).
    pub rx_tune: RxTune,
    pub want_rx: usize,
    pub want_tx: usize,
    /// Delivery-rate estimate (`ss -i`).
    pub delivery: DeliveryRate,
    /// Trace state while the stack has a trace sink (see `trace.rs`).
    pub tr: Option<Box<TcbTrace>>,
}

impl Tcb {
    pub fn new(cfg: &TcpConfig, now: Instant) -> Tcb {
        let unspec = IpEndpoint::new(cfg.local_addr.unspecified(), 0);
        Tcb {
            state: TcpState::Closed,
            local: unspec,
            remote: unspec,
            bound: false,
            port_locked: false,
            closed_since_bind: false,
            addr_locked: false,
            reuse_addr: false,
            freebind: false,
            defer_accept: 0,
            port_range: 0,
            reuse_port: false,
            listener: None,
            parent: None,
            orphan: false,
            active: false,
            snd: SendSeq::default(),
            rcv: RecvSeq::default(),
            opts: TcpOpts::new(cfg.mss),
            tx: RingBuffer::new(0),
            rx: RingBuffer::new(0),
            assembler: Assembler::default(),
            fin_queued: false,
            fin_acked: false,
            rx_fin: None,
            peer_fin: false,
            rx_shut: false,
            window_clamp: 0,
            error: None,
            soft_error: None,
            errq: Default::default(),
            reset: false,
            ever_connected: false,
            ack: AckState::default(),
            send_rst: false,
            probe: false,
            timers: Timers::new(now),
            loss: LossRecovery::default(),
            rack: Rack::default(),
            rtt: RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rtt_probe: None,
            cc: CongestionControl::new(cfg.congestion, cfg.mss),
            undo: None,
            nodelay: false,
            cork: false,
            more: false,
            push: false,
            linger: None,
            counters: TcpInfo::default(),
            changed: false,
            pending: false,
            queued: false,
            timer_key: None,
            want_rx: cfg.rx_buffer,
            rx_locked: false,
            rx_max: cfg.rx_buffer_max,
            tx_locked: false,
            tx_max: cfg.tx_buffer_max,
            rx_tune: RxTune::default(),
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
        // RFC 7323 2.3: smallest shift that lets the whole buffer be advertised, as large as
        // auto-tuning may make it, or TCP_WINDOW_CLAMP if smaller (Linux's
        // tcp_select_initial_window: min of tcp_rmem[2] and the window clamp).
        let mut ws = 0u8;
        let most = if self.rx_locked { self.rx.capacity() } else { self.rx.capacity().max(self.rx_max) };
        let most = most.min(self.clamp() as usize);
        while (most >> ws) > 65535 && ws < 14 {
            ws += 1;
        }
        self.opts.rcv_wscale = ws;
    }

    /// Sets up send variables for a new ISN.
    pub fn init_send(&mut self, iss: u32) {
        self.snd.init(iss);
        self.loss.recover = self.snd.iss;
    }

    pub fn synchronized(&self) -> bool {
        !matches!(self.state, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived)
    }
    pub fn set_state(&mut self, s: TcpState) {
        if self.state != s {
            tracing::trace!(local = %self.local, remote = %self.remote, "tcp {:?} -> {:?}", self.state, s);
            self.tr_state(self.state, s);
            self.closed_since_bind |= s == TcpState::Closed;
            self.state = s;
            self.changed = true;
        }
    }
    /// Payload bytes per segment: the peer's MSS less our fixed options (RFC 9293 3.7.1).
    pub fn eff_mss(&self) -> usize {
        let mss = self.opts.snd_mss.min(self.opts.rcv_mss.max(536)).min(self.opts.mtu_mss) as usize;
        (mss - if self.opts.ts_ok { 12 } else { 0 }).max(64)
    }
    /// Sequence number of our FIN, if queued.
    pub fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued.then(|| self.snd.tx_base + self.tx.len())
    }
    /// End of the data in the send buffer.
    pub fn data_end(&self) -> SeqNum {
        self.snd.tx_base + self.tx.len()
    }
    pub fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.opts.ts_offset)
    }
    /// Window we advertise, in bytes (before scaling), RFC 9293 3.8.6.2.2 receiver SWS avoidance.
    pub fn rcv_window(&self) -> u32 {
        let max = 65535u32 << self.opts.rcv_wscale;
        let free = (self.rx.free() as u32).min(max).min(self.clamp());
        let cur = self.rcv.adv.since(self.rcv.nxt) as u32;
        let step = (self.rx.capacity() as u32 / 2).min(self.opts.rcv_mss as u32);
        if free > cur && free - cur < step {
            cur // do not advertise a tiny increase
        } else {
            free.max(cur)
        }
    }
    /// TCP_WINDOW_CLAMP as a limit (u32::MAX when not set).
    pub fn clamp(&self) -> u32 {
        if self.window_clamp == 0 {
            u32::MAX
        } else {
            self.window_clamp
        }
    }
    /// In-flight estimate ("pipe", RFC 6675 section 4): O(1), from the log's counters.
    pub fn pipe(&self) -> usize {
        if !self.loss.in_recovery {
            return self.snd.nxt.since(self.snd.una);
        }
        let out = self.snd.max.since(self.snd.una);
        if self.opts.sack_ok && !self.loss.scoreboard.is_empty() {
            self.sack_pipe()
        } else {
            out.saturating_sub(self.loss.dupacks as usize * self.eff_mss())
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
            if !self.rx.is_empty() {
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
        i.rto = self.rtt.backed_off(self.timers.backoff);
        i.cwnd = self.cc.cwnd;
        i.reord_seen = self.rack.reord_seen;
        i.ssthresh = self.cc.ssthresh;
        // Like Linux tcpi_snd_mss: payload bytes per full segment (MSS less the timestamp option).
        i.snd_mss = self.eff_mss() as u16;
        i.rcv_mss = self.opts.rcv_mss;
        i.snd_wnd = self.snd.wnd;
        i.rcv_wnd = self.rcv.adv.since(self.rcv.nxt) as u32;
        i.backoff = self.timers.backoff;
        i.wscale_snd = self.opts.snd_wscale;
        i.wscale_rcv = self.opts.rcv_wscale;
        i.timestamps = self.opts.ts_ok;
        i.sack = self.opts.sack_ok;
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
        self.timers.rto_at = None;
        self.timers.persist_at = None;
        self.ack.delack_at = None;
        self.timers.keep_at = None;
        self.timers.timewait_at = None;
        self.rack.reo_at = None;
        self.rack.pto_at = None;
        self.ack.now = false;
        self.changed = true;
    }
    /// Enters TIME-WAIT for 2*MSL (RFC 9293 3.10.7.4).
    pub fn enter_time_wait(&mut self, now: Instant, msl: Duration) {
        self.set_state(TcpState::TimeWait);
        self.timers.timewait_at = Some(now + msl * 2);
        self.timers.rto_at = None;
        self.rack.reo_at = None;
        self.rack.pto_at = None;
        self.timers.persist_at = None;
        self.timers.keep_at = None;
    }
}
