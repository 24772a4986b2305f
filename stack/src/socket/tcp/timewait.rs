//! TIME-WAIT as a compact record (like Linux's inet_timewait_sock): once an orphaned
//! connection enters TIME-WAIT its control block and both buffers are freed and ~40 bytes
//! remain, enough to ACK a retransmitted FIN (RFC 9293 3.10.7.4), ignore RSTs (RFC 1337) and
//! let a new SYN reopen the 4-tuple. The number of records is capped (Linux
//! tcp_max_tw_buckets): beyond it a connection closes without TIME-WAIT, counted.
use crate::wire::ip::IpEndpoint;

use super::synq::Key;
use super::tcb::Tcb;
use super::{TcpStack, TcpState};
use crate::time::{Duration, Instant};
use crate::trace::{TimerKind, TraceKind};
use crate::wire::tcp::TcpRepr;

/// A record's key: remote address and port, local port (the local address is the stack's).
/// Ordered like the 4-tuple (remote address, remote port, local port).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TwKey {
    remote: IpEndpoint,
    pub(super) local_port: u16,
}

/// One hasher step (as the packed u64 key this struct replaced): looked up for every segment
/// while records exist.
impl std::hash::Hash for TwKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.remote.hash_with(self.local_port, state);
    }
}

pub fn tw_key(key: Key) -> TwKey {
    TwKey { remote: key.1, local_port: key.0.port() }
}

#[derive(Copy, Clone, Debug)]
pub struct TwRec {
    /// Our next sequence number (SND.MAX): the seq of every ACK we send.
    pub snd_nxt: u32,
    pub rcv_nxt: u32,
    pub ts_recent: u32,
    pub ts_offset: u32,
    /// Receive window in bytes (acceptability) and as advertised (scaled).
    pub rcv_wnd: u32,
    pub window: u16,
    pub ts_ok: bool,
    pub expires: Instant,
    /// Last rate-limited ACK (RFC 5961 7), `Instant::ZERO` for never.
    pub last_ack: Instant,
}

/// Upper bound on TIME-WAIT ACKs queued between two dispatches.
const MAX_QUEUED_TW_ACK: usize = 1024;

/// What a segment for a TIME-WAIT record asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TwAction {
    Nothing,
    Ack,
    /// A new SYN may reopen the connection (RFC 9293 3.10.7.4, RFC 6191).
    Reopen,
}

impl TwRec {
    fn oow_ack(&mut self, now: Instant) -> TwAction {
        if self.last_ack == Instant::ZERO || now - self.last_ack >= Duration::from_millis(500) {
            self.last_ack = now;
            TwAction::Ack
        } else {
            TwAction::Nothing
        }
    }
    /// RFC 9293 3.10.7.4 in TIME-WAIT (Linux tcp_timewait_state_process).
    pub fn input(&mut self, now: Instant, seg: &TcpRepr, two_msl: Duration) -> TwAction {
        if seg.rst() {
            return TwAction::Nothing; // RFC 1337: no TIME-WAIT assassination
        }
        let seq = super::seq::SeqNum(seg.seq);
        let rcv_nxt = super::seq::SeqNum(self.rcv_nxt);
        if seg.syn() && seg.ack.is_none() {
            if seq > rcv_nxt {
                return TwAction::Reopen;
            }
            return self.oow_ack(now);
        }
        let len = seg.segment_len();
        if self.ts_ok && len > 0 {
            if let Some((tsval, _)) = seg.timestamp {
                if (self.ts_recent.wrapping_sub(tsval) as i32) > 1 {
                    return TwAction::Ack; // RFC 7323 5.3 PAWS
                }
            }
        }
        let acceptable = seq + len >= rcv_nxt && seq <= rcv_nxt + self.rcv_wnd as usize;
        if seg.fin() {
            self.expires = now + two_msl; // restart the 2*MSL timeout
            return TwAction::Ack;
        }
        if !acceptable || seg.syn() {
            return if len > 0 && !seg.syn() { TwAction::Ack } else { self.oow_ack(now) };
        }
        if let Some((tsval, _)) = seg.timestamp {
            if self.ts_ok && seq <= rcv_nxt && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
            }
        }
        if len > 0 {
            TwAction::Ack
        } else {
            TwAction::Nothing
        }
    }
    /// The ACK this record sends.
    pub fn ack(&self, key: Key, now: Instant) -> TcpRepr<'static> {
        TcpRepr {
            src_port: key.0.port(),
            dst_port: key.1.port(),
            seq: self.snd_nxt,
            ack: Some(self.rcv_nxt),
            window: self.window,
            timestamp: self.ts_ok.then(|| ((now.total_millis() as u32).wrapping_add(self.ts_offset), self.ts_recent)),
            ..TcpRepr::default()
        }
    }
}

impl TcpStack {
    pub(super) fn key_of(&self, k: TwKey) -> Key {
        (IpEndpoint::new(self.config.local_addr, k.local_port), k.remote)
    }
    /// An orphan in TIME-WAIT: its control block becomes a record (or goes, if the cap bites).
    pub(super) fn enter_tw_record(&mut self, id: u32, now: Instant) {
        let Some(t) = self.socks.get(&id) else { return };
        if !(t.orphan && t.state == TcpState::TimeWait) {
            return;
        }
        if *t.local.ip() != self.config.local_addr {
            self.remove(id); // not keyable (never happens for connections of this host)
            return;
        }
        let key = tw_key((t.local, t.remote));
        let rec = Self::tw_record(t, now, self.config.msl * 2);
        let owes_ack = t.ack.now || t.ack.delack_at.is_some();
        self.remove(id);
        if self.tw.len() >= self.config.max_tw_buckets {
            self.stats.tw_overflows += 1;
            return;
        }
        self.tw_insert(key, rec);
        if owes_ack {
            self.queue_tw_ack(key);
        }
    }
    fn tw_record(t: &Tcb, now: Instant, two_msl: Duration) -> TwRec {
        let wnd = t.rcv_window();
        TwRec {
            snd_nxt: t.snd.max.0,
            rcv_nxt: t.rcv.nxt.0,
            ts_recent: t.opts.ts_recent,
            ts_offset: t.opts.ts_offset,
            rcv_wnd: wnd.max(t.rcv.adv.since(t.rcv.nxt) as u32),
            window: (wnd >> t.opts.rcv_wscale).min(65535) as u16,
            ts_ok: t.opts.ts_ok,
            expires: t.timers.timewait_at.unwrap_or(now + two_msl),
            last_ack: Instant::ZERO,
        }
    }
    fn tw_insert(&mut self, key: TwKey, rec: TwRec) {
        self.tw_timers.insert((rec.expires, key));
        if self.tw.insert(key, rec).is_none() {
            self.ports.tw_add(key.local_port);
        }
    }
    /// Frees a TIME-WAIT record.
    pub(super) fn tw_remove(&mut self, key: Key) {
        let key = tw_key(key);
        if let Some(r) = self.tw.remove(&key) {
            self.tw_timers.remove(&(r.expires, key));
            self.ports.tw_del(key.local_port);
        }
    }
    /// True if a TIME-WAIT record exists for the 4-tuple.
    pub(super) fn tw_exists(&self, key: Key) -> bool {
        !self.tw.is_empty() && *key.0.ip() == self.config.local_addr && self.tw.contains_key(&tw_key(key))
    }
    fn queue_tw_ack(&mut self, key: TwKey) {
        if self.tw_acks.len() < MAX_QUEUED_TW_ACK {
            self.tw_acks.push(key);
        }
    }
    /// A segment for a TIME-WAIT record; returns true if it was consumed (false: a reopening
    /// SYN, the record is gone and the listener takes the segment).
    pub(super) fn tw_input(&mut self, now: Instant, full: Key, seg: &TcpRepr, has_listener: bool) -> bool {
        let two_msl = self.config.msl * 2;
        let key = tw_key(full);
        let Some(r) = self.tw.get_mut(&key) else { return false };
        let old = r.expires;
        match r.input(now, seg, two_msl) {
            TwAction::Nothing => {}
            TwAction::Ack => self.queue_tw_ack(key),
            TwAction::Reopen if has_listener => {
                self.tw_remove(full);
                return false;
            }
            TwAction::Reopen => {
                let r = self.tw.get_mut(&key).unwrap();
                if r.oow_ack(now) == TwAction::Ack {
                    self.queue_tw_ack(key);
                }
            }
        }
        if let Some(r) = self.tw.get(&key) {
            if r.expires != old {
                let new = r.expires;
                self.tw_timers.remove(&(old, key));
                self.tw_timers.insert((new, key));
            }
        }
        true
    }
    /// Expired records freed, queued ACKs sent.
    pub(super) fn dispatch_tw(&mut self, now: Instant, e: &mut super::output::Emitter) {
        while let Some(&(at, key)) = self.tw_timers.first() {
            if at > now {
                break;
            }
            self.tw_timers.pop_first();
            if self.tw.get(&key).is_some_and(|r| r.expires == at) {
                self.tw.remove(&key);
                self.ports.tw_del(key.local_port);
                if self.tracing() {
                    let k = self.key_of(key);
                    self.trace_event(now, k, TraceKind::Timer(TimerKind::TimeWait));
                    self.trace_event(now, k, TraceKind::State { from: TcpState::TimeWait, to: TcpState::Closed });
                }
            }
        }
        for key in std::mem::take(&mut self.tw_acks) {
            if let Some(r) = self.tw.get(&key) {
                let k = self.key_of(key);
                let ack = r.ack(k, now);
                e.send(*k.0.ip(), *k.1.ip(), &ack);
                self.trace_stack_seg(now, *k.0.ip(), *k.1.ip(), &ack);
            }
        }
    }
    /// True if a TIME-WAIT record holds local port `port` (bind conflicts without SO_REUSEADDR).
    pub(super) fn tw_holds_port(&self, port: u16) -> bool {
        self.ports.tw_holds(port)
    }
}
