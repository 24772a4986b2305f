//! TCP (RFC 9293), split by concern like Linux: this file holds the public socket API and the
//! socket table; docs/tcp.md says where input, output, timers and congestion control live.
//!
//! CONTRACT (used by `stack.rs`, the preload shim and the tests; keep the signatures):
//! a `TcpStack` owns every TCP control block of one host. The IP layer feeds it segments with
//! `process` and collects segments to send with `dispatch`; time is always passed in.
use crate::wire::ip::{IpAddress, IpEndpoint};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{Error, Result};
#[cfg(test)]
use crate::socket::Shutdown;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{flags, TcpPacket, TcpRepr};

mod api;
mod assembler;
mod buffer;
mod calls;
mod congestion;
mod demux;
mod icmp;
mod input;
mod inspect;
pub mod isn;
mod listener;
mod memtrim;
mod output;
mod ports;
mod rack;
mod rtt;
mod sack;
mod sentlog;
pub mod seq;
mod syncookie;
mod synq;
mod tcb;
#[cfg(test)]
mod tests;
mod timer;
mod timewait;
mod trace;
mod vars;

use input::Rst;

pub use api::{TcpInfo, TcpOption};
use output::Emitter;
use seq::SeqNum;
use tcb::Tcb;

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
    pub local_addr: IpAddress,
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
    /// Retransmissions or unanswered window probes before an orphaned connection (closed by
    /// the application) is dropped: Linux tcp_orphan_retries (sysctl 0 means 8).
    pub orphan_retries: u32,
    /// Congestion control for new connections.
    pub congestion: Congestion,
    /// Secret key for RFC 6528 ISNs (random per stack in production, fixed in tests).
    pub isn_secret: [u8; 16],
    /// Ephemeral port range, inclusive (default 32768..=60999 like Linux).
    pub ephemeral_ports: (u16, u16),
    /// Seed for ephemeral port choice and other randomness.
    pub seed: u64,
    /// Half-open connections (request records) per listener before SYN cookies answer
    /// (Linux tcp_max_syn_backlog; default 256). listen()'s backlog bounds only the accept queue.
    pub max_syn_backlog: usize,
    /// Answer SYNs with SYN cookies when the SYN queue is full (Linux tcp_syncookies=1).
    pub syncookies: bool,
    /// SYN-ACK retransmissions for a request before it is dropped (Linux tcp_synack_retries 5).
    pub synack_retries: u32,
    /// Most TIME-WAIT records (Linux tcp_max_tw_buckets); beyond it connections close without
    /// TIME-WAIT (counted in `tw_overflows`). Default 32768 (about 5 MiB).
    pub max_tw_buckets: usize,
    /// Most orphaned connections (closed by the user, not yet done, TIME-WAIT excluded; Linux
    /// tcp_max_orphans): close() beyond it resets the connection (`orphan_overflows`). Default 4096.
    pub max_orphans: usize,
}

impl TcpConfig {
    /// Defaults for a host at `local_addr` on a link with IP MTU `mtu`.
    pub fn new(local_addr: IpAddress, mtu: usize) -> TcpConfig {
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
            orphan_retries: 8,
            congestion: Congestion::Cubic,
            isn_secret: [0; 16],
            ephemeral_ports: (32768, 60999),
            seed: 0,
            max_syn_backlog: 256,
            syncookies: true,
            synack_retries: 5,
            max_tw_buckets: 32768,
            max_orphans: 4096,
        }
    }
}

/// Drop and event counters of a `TcpStack`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub rx_segments: u64,
    pub rx_malformed: u64,
    pub rx_bad_checksum: u64,
    /// ICMP errors ignored: quoted sequence number outside snd_una..=snd_max (RFC 5927 4.1).
    pub icmp_out_of_window: u64,
    /// Segments for which no connection or listener exists (answered with RST).
    pub rx_no_socket: u64,
    pub rsts_sent: u64,
    /// SYNs or handshake-completing ACKs dropped because a listener's accept queue was full.
    pub listen_overflows: u64,
    /// SYN-ACKs sent with a SYN cookie (the SYN queue was full).
    pub syncookies_sent: u64,
    /// ACKs whose SYN cookie was valid (a connection was made from it).
    pub syncookies_recv: u64,
    /// ACKs to a listener whose SYN cookie was invalid (answered with RST).
    pub syncookies_failed: u64,
    /// SYNs dropped for a full SYN queue (cookies off) or a full SYN-ACK queue.
    pub syn_queue_drops: u64,
    /// Connections that closed without TIME-WAIT because `max_tw_buckets` records existed.
    pub tw_overflows: u64,
    /// close() calls that reset the connection because `max_orphans` orphans existed.
    pub orphan_overflows: u64,
}

/// Every TCP control block of one host: listeners, connections, the port table.
pub struct TcpStack {
    config: TcpConfig,
    /// All control blocks by handle number (ordered: deterministic dispatch).
    socks: BTreeMap<u32, Tcb>,
    next_id: u32,
    /// (local, remote) -> handle number, for synchronized and half-open connections.
    conns: HashMap<(IpEndpoint, IpEndpoint), u32>,
    /// RSTs answering segments without a connection.
    rsts: Vec<Rst>,
    stats: TcpStats,
    rng: u64,
    scratch: Vec<u8>,
    /// Control blocks touched since the last `dispatch` (may have output or changed readiness).
    dirty: Vec<u32>,
    /// Timer index: (deadline, handle), so dispatch and poll_at cost O(log n), not O(n).
    timers: BTreeSet<(Instant, u32)>,
    /// Handles whose readiness changed during `dispatch`, for `take_changed`.
    changed_ids: Vec<u32>,
    /// Listening socket per port.
    /// Listeners by port (several: other addresses, or an SO_REUSEPORT group), in listen order.
    listen_ports: HashMap<u16, Vec<u32>>,
    work: Vec<u32>,
    /// RFC 6056 algorithm 4 counters (ephemeral port selection for connect).
    port_perturb: Vec<u16>,
    /// RFC 1191 path MTU per destination: (MSS it allows, until when).
    pmtu: HashMap<IpAddress, (u16, Instant)>,
    /// Trace sink (`crate::trace`); None: tracing off.
    tracer: Option<Box<dyn crate::trace::TraceSink>>,
    /// The SYN queue: request records of half-open connections of every listener.
    reqs: HashMap<synq::Key, synq::SynReq>,
    /// SYN-ACK retransmission deadlines of `reqs`.
    req_timers: BTreeSet<(Instant, synq::Key)>,
    /// SYN-ACKs to send at the next `dispatch`.
    synacks: Vec<synq::SynAck>,
    /// TIME-WAIT records, their expiry index and the ACKs they owe.
    tw: HashMap<timewait::TwKey, timewait::TwRec>,
    tw_timers: BTreeSet<(Instant, timewait::TwKey)>,
    tw_acks: Vec<timewait::TwKey>,
    /// Control blocks with `orphan` set.
    orphans: usize,
    /// Local ports held by control blocks and TIME-WAIT records.
    ports: ports::PortIndex,
    /// Control blocks that had output left when `dispatch` last handled them.
    out_busy: BTreeSet<u32>,
    /// Pending checks of ring storage (`memtrim.rs`): (when, handle), and the handles in it.
    trims: BTreeSet<(Instant, u32)>,
    trim_ids: HashMap<u32, Instant>,
}

/// Upper bound on queued RSTs (excess are dropped, like Linux's rate limit).
const MAX_QUEUED_RST: usize = 1024;

impl TcpStack {
    pub fn new(config: TcpConfig) -> TcpStack {
        let rng = config.seed ^ 0x9e37_79b9_7f4a_7c15;
        TcpStack {
            config,
            socks: BTreeMap::new(),
            next_id: 1,
            conns: HashMap::new(),
            rsts: Vec::new(),
            stats: TcpStats::default(),
            rng: rng.max(1),
            scratch: Vec::with_capacity(2048),
            dirty: Vec::new(),
            timers: BTreeSet::new(),
            changed_ids: Vec::new(),
            listen_ports: HashMap::new(),
            work: Vec::new(),
            port_perturb: vec![0; demux::PORT_BUCKETS],
            pmtu: HashMap::new(),
            tracer: None,
            reqs: HashMap::new(),
            req_timers: BTreeSet::new(),
            synacks: Vec::new(),
            tw: HashMap::new(),
            tw_timers: BTreeSet::new(),
            tw_acks: Vec::new(),
            orphans: 0,
            ports: ports::PortIndex::default(),
            out_busy: BTreeSet::new(),
            trims: BTreeSet::new(),
            trim_ids: HashMap::new(),
        }
    }
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }
    /// Drop and event counters.
    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    fn user(&self, h: TcpHandle) -> Result<&Tcb> {
        self.socks.get(&h.0).filter(|t| !t.orphan && t.parent.is_none()).ok_or(Error::BadHandle)
    }
    fn user_mut_any(&mut self, id: u32) -> &mut Tcb {
        self.socks.get_mut(&id).expect("live control block")
    }
    fn user_mut(&mut self, h: TcpHandle) -> Result<&mut Tcb> {
        self.socks.get_mut(&h.0).filter(|t| !t.orphan && t.parent.is_none()).ok_or(Error::BadHandle)
    }

    // ---- IP-facing side ----

    /// Input: one TCP segment (the IPv4 payload) from `src` to `dst`. The checksum is verified
    /// here; malformed segments are dropped and counted. Answers (ACK, RST, SYN-ACK) are queued
    /// for the next `dispatch`.
    pub fn process(&mut self, now: Instant, src: IpAddress, dst: IpAddress, segment: &[u8]) {
        self.stats.rx_segments += 1;
        let Ok(pkt) = TcpPacket::new_checked(segment) else {
            self.stats.rx_malformed += 1;
            return;
        };
        if !pkt.verify_checksum(src, dst) {
            self.stats.rx_bad_checksum += 1;
            return;
        }
        let Ok(seg) = TcpRepr::parse(&pkt) else {
            self.stats.rx_malformed += 1;
            return;
        };
        if src.is_broadcast() || src.is_multicast() || dst.is_broadcast() || dst.is_multicast() {
            self.stats.rx_malformed += 1;
            return;
        }
        let local = IpEndpoint::new(dst, seg.dst_port);
        let remote = IpEndpoint::new(src, seg.src_port);
        if self.tracer.is_some() {
            self.trace_in(now, local, remote, &seg);
        }
        if self.tw_exists((local, remote)) {
            let has_listener = self.find_listener(local, remote).is_some();
            if self.tw_input(now, (local, remote), &seg, has_listener) {
                return;
            }
        }
        if let Some(&id) = self.conns.get(&(local, remote)) {
            let has_listener = self.find_listener(local, remote).is_some();
            let tcb = self.socks.get_mut(&id).expect("conns entry without tcb");
            // RFC 9293 3.10.7.4 / RFC 6191: a new SYN may reopen a TIME-WAIT connection.
            let reopen = tcb.state == TcpState::TimeWait
                && tcb.orphan
                && seg.syn()
                && seg.ack.is_none()
                && !seg.rst()
                && SeqNum(seg.seq) > tcb.rcv.nxt
                && has_listener;
            if reopen {
                self.remove(id);
            } else {
                tcb.input(now, &self.config, &seg, &mut self.rsts);
                tcb.pending = true;
                trace::drain(&mut self.tracer, tcb, now);
                self.note(id);
                self.after_event(id);
                return;
            }
        }
        if let Some(lid) = self.find_listener(local, remote) {
            self.listen_input(now, lid, local, remote, &seg);
            return;
        }
        self.stats.rx_no_socket += 1;
        if !seg.rst() && self.rsts.len() < MAX_QUEUED_RST {
            self.rsts.push(Rst::answer(local, remote, &seg));
        }
    }

    /// Output: runs due timers and hands every segment ready to send to `emit(src, dst, bytes)`,
    /// the bytes being a complete TCP header+payload with a valid checksum.
    pub fn dispatch(&mut self, now: Instant, emit: &mut dyn FnMut(IpAddress, IpAddress, &[u8])) {
        self.run_trims(now);
        let mut buf = std::mem::take(&mut self.scratch);
        self.dispatch_synq(now, &mut Emitter { buf: &mut buf, emit });
        self.dispatch_tw(now, &mut Emitter { buf: &mut buf, emit });
        self.scratch = buf;
        let mut e = Emitter { buf: &mut self.scratch, emit };
        for r in self.rsts.drain(..) {
            let repr = TcpRepr {
                src_port: r.local.port(),
                dst_port: r.remote.port(),
                seq: r.seq,
                ack: r.ack,
                flags: flags::RST,
                ..TcpRepr::default()
            };
            e.send(*r.local.ip(), *r.remote.ip(), &repr);
            self.stats.rsts_sent += 1;
            if let Some(s) = &mut self.tracer {
                s.event(&trace::stack_seg(now, *r.local.ip(), *r.remote.ip(), &repr));
            }
        }
        // Due timers, then everything touched since the last call.
        let mut work = std::mem::take(&mut self.work);
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(t) = self.socks.get_mut(&id) {
                t.timer_key = None;
                if t.on_timers(now, &self.config) {
                    t.pending = true;
                }
                work.push(id);
            }
        }
        work.append(&mut self.dirty);
        for &id in &work {
            let Some(t) = self.socks.get_mut(&id) else { continue };
            t.queued = false;
            if t.pending {
                t.pending = false;
                t.output(now, &self.config, &mut e);
            }
            trace::drain(&mut self.tracer, t, now);
            let next = t.next_timer();
            if next != t.timer_key {
                if let Some(old) = t.timer_key {
                    self.timers.remove(&(old, id));
                }
                if let Some(n) = next {
                    self.timers.insert((n, id));
                }
                t.timer_key = next;
            }
            if t.changed {
                self.changed_ids.push(id);
            }
        }
        for &id in &work {
            self.track_output(id);
            self.schedule_trim(id, now);
            match self.socks.get(&id) {
                Some(t) if t.state == TcpState::TimeWait && t.orphan => self.enter_tw_record(id, now),
                Some(t) if t.state == TcpState::Closed || t.parent.is_some() => self.after_event(id),
                _ => {}
            }
        }
        work.clear();
        self.work = work;
        if !self.dirty.is_empty() {
            // after_event touched listeners: index their timers too (no output needed).
            let d = std::mem::take(&mut self.dirty);
            for id in d {
                if let Some(t) = self.socks.get_mut(&id) {
                    t.queued = false;
                    if t.changed {
                        self.changed_ids.push(id);
                    }
                    if t.pending {
                        t.queued = true;
                        self.dirty.push(id);
                    }
                }
                self.track_output(id);
            }
        }
    }
    /// When `dispatch` must next be called even if nothing arrives (None: no timer pending).
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        if !self.rsts.is_empty() || !self.dirty.is_empty() || !self.synacks.is_empty() || !self.tw_acks.is_empty() {
            return Some(now);
        }
        let t = self.timers.first().map(|&(t, _)| t.max(now));
        let t = crate::time::earliest(t, self.tw_timers.first().map(|&(t, _)| t.max(now)));
        let t = crate::time::earliest(t, self.trims.first().map(|&(t, _)| t.max(now)));
        crate::time::earliest(t, self.req_timers.first().map(|&(t, _)| t.max(now)))
    }

    /// Queues `id` only if a call left something to send (calls made in a loop, like recv
    /// returning WouldBlock, must not keep `poll_at` at now).
    fn settle(&mut self, id: u32) {
        if self.socks.get(&id).is_some_and(|t| t.pending) {
            self.note(id);
        }
    }

    /// Queues control block `id` for the next `dispatch` (output, timer re-index, readiness).
    fn note(&mut self, id: u32) {
        if let Some(t) = self.socks.get_mut(&id) {
            if !t.queued {
                t.queued = true;
                self.dirty.push(id);
            }
        }
    }
    /// Handles whose readiness may have changed since the last call (data arrived, buffer space
    /// freed, state changed, error); the caller wakes waiters for them.
    pub fn take_changed(&mut self, out: &mut Vec<TcpHandle>) {
        // Candidates: what dispatch saw change, and what was touched since.
        let mut ids = std::mem::take(&mut self.changed_ids);
        ids.extend_from_slice(&self.dirty);
        for &id in &ids {
            if let Some(t) = self.socks.get_mut(&id) {
                if t.changed {
                    t.changed = false;
                    if !t.orphan && t.parent.is_none() {
                        out.push(TcpHandle(id));
                    }
                }
            }
        }
        ids.clear();
        self.changed_ids = ids;
    }
    // ---- user-facing side (the socket calls) ----

    /// socket(): a new closed socket.
    pub fn socket(&mut self) -> TcpHandle {
        let id = self.alloc_id();
        let mut t = Tcb::new(&self.config, Instant::ZERO);
        t.local = IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 0);
        t.tr = self.new_trace();
        self.socks.insert(id, t);
        TcpHandle(id)
    }

    /// connect(): sends SYN and returns Ok at once; completion shows in `state`/`readiness`,
    /// failure in `take_error`. EISCONN / EALREADY / EINVAL as Linux.
    pub fn connect(&mut self, now: Instant, h: TcpHandle, remote: IpEndpoint) -> Result<()> {
        let t = self.user(h)?;
        match t.state {
            TcpState::Closed => {}
            TcpState::Listen => return Err(Error::AlreadyConnected), // Linux: EISCONN
            TcpState::SynSent | TcpState::SynReceived => return Err(Error::Already),
            _ => return Err(Error::AlreadyConnected),
        }
        if remote.ip().is_unspecified() || remote.ip().is_broadcast() || remote.ip().is_multicast() {
            return Err(if remote.ip().is_unspecified() { Error::ConnectionRefused } else { Error::NetUnreachable });
        }
        // The source address: the bound one, else what the route to `remote` gives.
        let own = self.config.local_addr;
        let src_ip = match *t.local.ip() {
            a if t.bound && !a.is_unspecified() => a,
            _ => crate::iface::source_for(own, *remote.ip()),
        };
        if !crate::iface::source_reaches(own, src_ip, *remote.ip()) {
            return Err(Error::InvalidInput);
        }
        let local = if t.bound {
            let l = IpEndpoint::new(src_ip, t.local.port());
            self.tw_remove((l, remote)); // RFC 6191-like reuse, as for a TIME-WAIT block below
            if let Some(&other) = self.conns.get(&(l, remote)) {
                if self.socks.get(&other).is_some_and(|o| o.state == TcpState::TimeWait) {
                    self.remove(other);
                } else {
                    return Err(Error::AddrNotAvailable);
                }
            }
            l
        } else {
            IpEndpoint::new(src_ip, self.ephemeral_port(h.0, Some((src_ip, remote)))?)
        };
        let iss = isn::isn(&self.config.isn_secret, local, remote, now);
        let ts_offset = isn::ts_offset(&self.config.isn_secret, *local.ip(), *remote.ip());
        let cfg = self.config.clone();
        let path_mss = self.path_mss(now, *remote.ip());
        let tr = self.new_trace();
        let t = self.user_mut(h)?;
        // Fresh control block state (a socket may connect again after a failure).
        let keep = (t.reuse_addr, t.nodelay, t.timers.keepalive.clone(), t.linger, t.want_rx, t.want_tx);
        let mut n = Tcb::new(&cfg, now);
        (n.reuse_addr, n.nodelay, n.timers.keepalive, n.linger, n.want_rx, n.want_tx) = keep;
        n.local = local;
        n.remote = remote;
        n.bound = true;
        n.active = true;
        n.alloc_buffers(n.want_rx, n.want_tx);
        n.init_send(iss);
        n.opts.ts_offset = ts_offset;
        n.opts.mtu_mss = path_mss.unwrap_or(u16::MAX);
        n.errq.enabled = t.errq.enabled;
        n.tr = tr;
        n.tr_state(t.state, TcpState::SynSent);
        n.state = TcpState::SynSent;
        n.pending = true;
        n.changed = true;
        *t = n;
        self.ports.bind(local.port(), h.0); // a no-op if bind() already indexed it
        self.conns.insert((local, remote), h.0);
        self.note(h.0);
        Ok(())
    }
    /// send(): copies as much as fits into the send buffer; WouldBlock if none fits; EPIPE after
    /// shutdown(Write) or peer reset (ECONNRESET first if the reset is unreported).
    pub fn send(&mut self, now: Instant, h: TcpHandle, data: &[u8]) -> Result<usize> {
        let r = self.send_inner(now, h, data);
        self.settle(h.0);
        r
    }
    /// recv(): Ok(0) at end of stream; WouldBlock if nothing yet; a pending error first.
    pub fn recv(&mut self, now: Instant, h: TcpHandle, buf: &mut [u8]) -> Result<usize> {
        let r = self.recv_inner(now, h, buf);
        self.settle(h.0);
        r
    }
}
