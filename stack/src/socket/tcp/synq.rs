//! Listeners answering SYNs (RFC 9293 3.10.7.2) with a SYN queue of compact request records,
//! as Linux's request sockets: no control block and no buffers exist before the handshake
//! completes. When a listener's queue holds `max_syn_backlog` requests, SYNs are answered
//! with SYN cookies (`syncookie.rs`, RFC 4987). Duplicate SYNs get the SYN-ACK again at most
//! once per 500 ms (Linux tcp_check_req); SYN-ACKs are retransmitted with backoff up to
//! `synack_retries` times.
use crate::wire::ip::IpEndpoint;

use super::input::Rst;
use super::input::MAX_QUEUED_RST;
use super::listener::{Key, SynAck, SynReq};
use super::output::Emitter;
use super::seq::SeqNum;
use super::table::TcpStack;
use super::tcb::Tcb;
use super::types::TcpState;
use super::{isn, syncookie};
use crate::time::{Duration, Instant};
use crate::trace::TraceKind;
use crate::wire::tcp::{flags, TcpRepr};

/// Upper bound on SYN-ACKs queued between two dispatches (excess is dropped and counted).
const MAX_QUEUED_SYNACK: usize = 4096;
/// Duplicate SYNs answered at most this often per request (Linux sysctl_tcp_invalid_ratelimit).
const DUP_SYN_INTERVAL: Duration = Duration::from_millis(500);

/// Our receive window scale for a receive buffer of `rx` bytes (as `Tcb::alloc_buffers`).
fn wscale_for(rx: usize) -> u8 {
    let cap = rx.max(1024);
    let mut ws = 0u8;
    while (cap >> ws) > 65535 && ws < 14 {
        ws += 1;
    }
    ws
}

impl TcpStack {
    /// RFC 9293 3.10.7.2: a segment for a listening socket with no connection for its 4-tuple.
    pub(super) fn listen_input(
        &mut self,
        now: Instant,
        lid: u32,
        local: IpEndpoint,
        remote: IpEndpoint,
        seg: &TcpRepr,
    ) {
        let key = (local, remote);
        if seg.rst() {
            if self.reqs.get(&key).is_some_and(|r| seg.seq == r.irs.wrapping_add(1)) {
                self.drop_req(key);
            }
            return;
        }
        if seg.syn() && seg.ack.is_none() {
            return self.listen_syn(now, lid, key, seg);
        }
        let Some(ack) = seg.ack.filter(|_| !seg.syn()) else {
            if seg.ack.is_some() {
                self.queue_rst(Rst::answer(local, remote, seg));
            }
            return;
        };
        if let Some(r) = self.reqs.get(&key).copied() {
            if ack != r.iss.wrapping_add(1) {
                self.queue_rst(Rst::answer(local, remote, seg));
                return;
            }
            let defer = self.socks.get(&lid).map_or(0, |l| l.defer_accept);
            if r.retries < defer && seg.payload.is_empty() && !seg.fin() {
                // Linux tcp_check_req: while TCP_DEFER_ACCEPT lasts, a bare ACK is dropped and
                // the request waits for the peer's data.
                if let Some(q) = self.reqs.get_mut(&key) {
                    q.acked = true;
                }
                self.stats.defer_accept_drops += 1;
                return;
            }
            let l = self.socks.get_mut(&lid).unwrap().listener.as_mut().unwrap();
            if l.full() {
                l.overflows += 1;
                self.stats.listen_overflows += 1;
                return; // Linux: the ACK is dropped, the request stays (the peer resends)
            }
            self.drop_req(key);
            // No sample from a request TCP_DEFER_ACCEPT kept: the peer's own delay is in it.
            let rtt = (r.retries == 0 && !r.acked).then_some(r.sent);
            self.complete(now, lid, key, &r, rtt, seg);
            return;
        }
        // No request: maybe the ACK of a SYN cookie.
        let l = self.socks.get(&lid).unwrap().listener.as_ref().unwrap();
        let recent = l.last_synq_overflow.is_some_and(|t| now - t < Duration::from_secs(120));
        let irs = seg.seq.wrapping_sub(1);
        let iss = ack.wrapping_sub(1);
        let mss = if recent { syncookie::check(&self.config.isn_secret, local, remote, irs, iss, now) } else { None };
        let Some(mss) = mss else {
            if recent {
                self.stats.syncookies_failed += 1;
            }
            self.queue_rst(Rst::answer(local, remote, seg));
            return;
        };
        if l.full() {
            let l = self.socks.get_mut(&lid).unwrap().listener.as_mut().unwrap();
            l.overflows += 1;
            self.stats.listen_overflows += 1;
            return;
        }
        self.stats.syncookies_recv += 1;
        let (wscale, sack, ts) = match seg.timestamp {
            Some((tsval, tsecr)) => {
                let (w, s) = syncookie::ts_decode(tsecr);
                (w, s, Some(tsval))
            }
            None => (None, false, None),
        };
        let r = SynReq {
            listener: lid,
            iss,
            irs,
            ts,
            mss,
            window: seg.window, // re-scaled by the Tcb's input from the ACK itself
            wscale,
            sack,
            retries: 0,
            sent: now,
            expires: now,
            last_dup: None,
            acked: false,
        };
        self.complete(now, lid, key, &r, None, seg);
    }

    fn listen_syn(&mut self, now: Instant, lid: u32, key: Key, seg: &TcpRepr) {
        let (local, remote) = key;
        if let Some(r) = self.reqs.get_mut(&key) {
            if seg.seq == r.irs && r.last_dup.is_none_or(|t| now - t >= DUP_SYN_INTERVAL) {
                r.last_dup = Some(now);
                let r = *r;
                self.queue_synack(now, key, &r, None);
            }
            return;
        }
        let max_syn = self.config.max_syn_backlog;
        let cookies = self.config.syncookies;
        let secret = self.config.isn_secret;
        let l = self.socks.get_mut(&lid).unwrap();
        let lst = l.listener.as_mut().unwrap();
        if lst.full() {
            lst.overflows += 1;
            self.stats.listen_overflows += 1;
            return;
        }
        let mut r = SynReq {
            listener: lid,
            iss: 0,
            irs: seg.seq,
            ts: seg.timestamp.map(|t| t.0),
            mss: seg.mss.unwrap_or(536).max(64),
            window: seg.window,
            wscale: seg.window_scale.map(|w| w.min(14)),
            sack: seg.sack_permitted,
            retries: 0,
            sent: now,
            expires: now + self.config.rto_initial,
            last_dup: None,
            acked: false,
        };
        if lst.syn_queue >= max_syn {
            lst.last_synq_overflow = Some(now);
            if !cookies {
                self.stats.syn_queue_drops += 1;
                return;
            }
            let (iss, mss) = syncookie::make(&secret, local, remote, seg.seq, r.mss, now);
            r.iss = iss;
            r.mss = mss;
            if r.ts.is_none() {
                (r.wscale, r.sack) = (None, false); // nowhere to remember them
            }
            let tsval = isn::ts_offset(&secret, *local.ip(), *remote.ip()).wrapping_add(now.total_millis() as u32);
            let tsval = syncookie::ts_encode(tsval, r.wscale, r.sack);
            self.stats.syncookies_sent += 1;
            self.queue_synack(now, key, &r, Some(tsval));
            return;
        }
        lst.syn_queue += 1;
        r.iss = isn::isn(&secret, local, remote, now);
        self.reqs.insert(key, r);
        self.req_timers.insert((r.expires, key));
        self.queue_synack(now, key, &r, None);
        self.trace_event(now, key, TraceKind::State { from: TcpState::Listen, to: TcpState::SynReceived });
    }

    fn queue_rst(&mut self, r: Rst) {
        if self.rsts.len() < MAX_QUEUED_RST {
            self.rsts.push(r);
        }
    }

    fn queue_synack(&mut self, now: Instant, key: Key, r: &SynReq, tsval: Option<u32>) {
        if self.synacks.len() >= MAX_QUEUED_SYNACK {
            self.stats.syn_queue_drops += 1;
            return;
        }
        let l = self.socks.get(&r.listener);
        let want_rx = l.map_or(self.config.rx_buffer, |l| l.want_rx);
        let clamp = l.map_or(u32::MAX, |l| l.clamp()) as usize;
        // As large as the child's buffer may grow, or its clamp (`Tcb::alloc_buffers`).
        let most = if l.is_some_and(|l| l.rx_locked) { want_rx } else { want_rx.max(self.config.rx_buffer_max) };
        let most = most.min(clamp);
        let ws = r.wscale.map(|_| wscale_for(most));
        let ts_offset = isn::ts_offset(&self.config.isn_secret, *key.0.ip(), *key.1.ip());
        let tsval = tsval.unwrap_or_else(|| ts_offset.wrapping_add(now.total_millis() as u32));
        self.synacks.push(SynAck {
            local: key.0,
            remote: key.1,
            iss: r.iss,
            ack: r.irs.wrapping_add(1),
            window: want_rx.clamp(1024, 65535).min(clamp) as u16,
            mss: match l.map_or(0, |l| l.opts.user_mss) {
                0 => self.config.mss,
                user => self.config.mss.min(user), // TCP_MAXSEG (Linux tcp_advertise_mss)
            },
            wscale: ws,
            sack: r.sack,
            ts: r.ts.map(|t| (tsval, t)),
        });
    }

    /// Frees a request record.
    pub(super) fn drop_req(&mut self, key: Key) {
        if let Some(r) = self.reqs.remove(&key) {
            self.req_timers.remove(&(r.expires, key));
            if let Some(l) = self.socks.get_mut(&r.listener).and_then(|l| l.listener.as_mut()) {
                l.syn_queue = l.syn_queue.saturating_sub(1);
            }
        }
    }
    /// Drops every request of listener `lid` (it stops listening).
    pub(super) fn drop_reqs_of(&mut self, lid: u32) {
        let keys: Vec<Key> = self.reqs.iter().filter(|(_, r)| r.listener == lid).map(|(&k, _)| k).collect();
        for k in keys {
            self.drop_req(k);
        }
    }

    /// The handshake completed: the connection gets its control block and buffers now, and
    /// takes the ACK (maybe with data or FIN) through the SYN-RECEIVED input path.
    fn complete(&mut self, now: Instant, lid: u32, key: Key, r: &SynReq, rtt: Option<Instant>, seg: &TcpRepr) {
        let cfg = self.config.clone();
        let l = self.socks.get(&lid).unwrap();
        let mut c = Tcb::new(&cfg, now);
        (c.local, c.remote) = key;
        c.bound = true;
        (c.reuse_addr, c.reuse_port) = (l.reuse_addr, l.reuse_port);
        c.nodelay = l.nodelay;
        c.cork = l.cork;
        c.timers.user_timeout = l.timers.user_timeout;
        c.timers.keepalive = l.timers.keepalive.clone();
        c.linger = l.linger;
        (c.want_rx, c.want_tx) = (l.want_rx, l.want_tx);
        (c.rx_locked, c.tx_locked) = (l.rx_locked, l.tx_locked);
        c.window_clamp = l.window_clamp;
        c.cc.set_algo(l.cc.algo);
        c.parent = Some(lid);
        c.alloc_buffers(c.want_rx, c.want_tx);
        c.init_send(r.iss);
        c.opts.ts_offset = isn::ts_offset(&cfg.isn_secret, *key.0.ip(), *key.1.ip());
        c.rcv.irs = SeqNum(r.irs);
        c.rcv.nxt = c.rcv.irs + 1;
        c.rcv.wup = c.rcv.nxt;
        c.rcv.adv = c.rcv.nxt + c.want_rx.clamp(1024, 65535).min(c.clamp() as usize);
        // TCP_MAXSEG of the listener: the child's advertised MSS and its sending MSS's bound.
        c.opts.user_mss = l.opts.user_mss;
        if c.opts.user_mss > 0 {
            c.opts.rcv_mss = c.opts.rcv_mss.min(c.opts.user_mss);
        }
        c.opts.snd_mss = if c.opts.user_mss > 0 { r.mss.min(c.opts.user_mss) } else { r.mss };
        match r.wscale {
            Some(w) => c.opts.snd_wscale = w,
            None => (c.opts.snd_wscale, c.opts.rcv_wscale) = (0, 0),
        }
        c.opts.ts_ok = r.ts.is_some();
        c.opts.ts_recent = r.ts.unwrap_or(0);
        c.opts.sack_ok = r.sack;
        c.cc.set_mss(c.eff_mss() as u16);
        c.snd.wnd = r.window as u32;
        c.snd.max_wnd = c.snd.wnd;
        c.snd.wl1 = c.rcv.irs;
        c.snd.wl2 = c.snd.iss;
        c.snd.nxt = c.snd.iss + 1;
        c.snd.max = c.snd.nxt;
        c.rtt_probe = rtt.map(|t| (c.snd.iss + 1, t));
        c.state = TcpState::SynReceived;
        c.counters.segs_in = 1;
        c.tr = self.tracer.is_some().then(Box::default);
        let mut rsts = Vec::new();
        c.input(now, &cfg, seg, &mut rsts);
        for x in rsts {
            self.queue_rst(x);
        }
        if matches!(c.state, TcpState::SynReceived | TcpState::Closed) {
            return;
        }
        c.pending = true;
        let id = self.alloc_id();
        self.socks.insert(id, c);
        self.ports.bind(key.0.port(), id);
        self.conns.insert(key, id);
        self.note(id);
        self.trace_drain(now, id);
        self.after_event(id);
    }

    /// SYN-ACK retransmissions due at `now` and every queued SYN-ACK, sent.
    pub(super) fn dispatch_synq(&mut self, now: Instant, e: &mut Emitter) {
        while let Some(&(at, key)) = self.req_timers.first() {
            if at > now {
                break;
            }
            self.req_timers.pop_first();
            let Some(mut r) = self.reqs.get(&key).copied() else { continue };
            // Linux syn_ack_recalc: a request TCP_DEFER_ACCEPT holds after the peer's ACK
            // outlives the SYN-ACK retries until the deferral ends, and gets no SYN-ACK until
            // its last timeout (the peer's answer to that one completes it, data or not).
            let defer = self.socks.get(&r.listener).map_or(0, |l| l.defer_accept);
            if r.retries as u32 >= self.config.synack_retries && (!r.acked || r.retries >= defer) {
                self.reqs.insert(key, r); // drop_req removes it with its (gone) timer
                self.drop_req(key);
                continue;
            }
            let resend = !r.acked || r.retries as u32 + 1 >= defer as u32;
            r.retries = r.retries.saturating_add(1);
            r.expires = now + self.config.rto_initial * (1u32 << r.retries.min(6));
            self.reqs.insert(key, r);
            self.req_timers.insert((r.expires, key));
            if resend {
                self.queue_synack(now, key, &r, None);
            }
        }
        for s in self.synacks.drain(..) {
            let repr = TcpRepr {
                src_port: s.local.port(),
                dst_port: s.remote.port(),
                seq: s.iss,
                ack: Some(s.ack),
                flags: flags::SYN | flags::ACK,
                window: s.window,
                mss: Some(s.mss),
                window_scale: s.wscale,
                sack_permitted: s.sack,
                timestamp: s.ts,
                ..TcpRepr::default()
            };
            e.send(*s.local.ip(), *s.remote.ip(), &repr);
            if let Some(t) = &mut self.tracer {
                t.event(&super::trace::stack_seg(now, *s.local.ip(), *s.remote.ip(), &repr));
            }
        }
    }
}
