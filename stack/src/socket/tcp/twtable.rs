//! The socket table's TIME-WAIT side: a connection entering TIME-WAIT becomes a compact record
//! (`timewait.rs`), capped at `max_tw_buckets`; lookup and input of records, their expiry and
//! the ACKs they owe.
use crate::wire::ip::IpEndpoint;

use super::listener::Key;
use super::output::Emitter;
use super::table::TcpStack;
use super::tcb::Tcb;
use super::timewait::{tw_key, TwAction, TwKey, TwRec, MAX_QUEUED_TW_ACK, REUSE_ADDR, REUSE_PORT};
use super::types::TcpState;
use crate::time::{Duration, Instant};
use crate::trace::{TimerKind, TraceKind};
use crate::wire::tcp::TcpRepr;

impl TcpStack {
    pub(super) fn key_of(k: TwKey, r: &TwRec) -> Key {
        (IpEndpoint::new(r.local_ip, k.local_port), k.remote)
    }
    /// An orphan in TIME-WAIT: its control block becomes a record (or goes, if the cap bites).
    pub(super) fn enter_tw_record(&mut self, id: u32, now: Instant) {
        let Some(t) = self.socks.get(&id) else { return };
        if !(t.orphan && t.state == TcpState::TimeWait) {
            return;
        }
        let key = tw_key((t.local, t.remote));
        let rec = Self::tw_record(t, now, self.config.msl * 2);
        let owes_ack = t.ack.now || t.ack.delack_at.is_some();
        self.remove(id);
        self.keep_record(key, rec, owes_ack);
    }
    /// Stores a TIME-WAIT record unless `max_tw_buckets` exist (then the connection just ends).
    fn keep_record(&mut self, key: TwKey, rec: TwRec, owes_ack: bool) {
        if self.tw.len() >= self.config.max_tw_buckets {
            self.stats.tw_overflows += 1;
            return;
        }
        self.tw_insert(key, rec);
        if owes_ack {
            self.queue_tw_ack(key);
        }
    }
    /// A connection its user still holds reached TIME-WAIT: as Linux's tcp_time_wait, a record
    /// waits out 2MSL for the 4-tuple and the socket itself turns CLOSED (tcp_done): an
    /// automatic port goes back (the record holds its own), shutdown() and getpeername() say
    /// ENOTCONN, bind() works, reads give what is left and then 0. The trace shows the
    /// connection's TIME-WAIT ending when the record's does, not here.
    pub(super) fn user_time_wait(&mut self, id: u32, now: Instant) {
        let Some(t) = self.socks.get_mut(&id) else { return };
        if t.orphan || t.state != TcpState::TimeWait {
            return;
        }
        let key = tw_key((t.local, t.remote));
        let rec = Self::tw_record(t, now, self.config.msl * 2);
        let owes_ack = t.ack.now || t.ack.delack_at.is_some();
        (t.ack.now, t.ack.delack_at, t.timers.timewait_at) = (false, None, None);
        // Not through set_state: the connection's TIME-WAIT goes on in the record.
        (t.state, t.changed, t.closed_since_bind) = (TcpState::Closed, true, true);
        Self::reindex_timer(&mut self.timers, t, id);
        self.keep_record(key, rec, owes_ack);
        self.after_event(id); // off the connection table; an automatic port goes back
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
            flags: if t.reuse_addr { REUSE_ADDR } else { 0 } | if t.reuse_port { REUSE_PORT } else { 0 },
            local_ip: *t.local.ip(),
            last_ack_ms: 0,
            expires: t.timers.timewait_at.unwrap_or(now + two_msl),
        }
    }
    /// Stores a record (one with the same key but another local address goes: `TwKey`).
    fn tw_insert(&mut self, key: TwKey, rec: TwRec) {
        if let Some(old) = self.tw.insert(key, rec) {
            self.tw_timers.remove(&(old.expires, key));
            self.ports.tw_del(key.local_port);
        }
        self.tw_timers.insert((rec.expires, key));
        self.ports.tw_add(key.local_port, rec.flags & (REUSE_ADDR | REUSE_PORT));
    }
    /// Frees a TIME-WAIT record.
    pub(super) fn tw_remove(&mut self, full: Key) {
        if !self.tw_exists(full) {
            return;
        }
        let key = tw_key(full);
        if let Some(r) = self.tw.remove(&key) {
            self.tw_timers.remove(&(r.expires, key));
            self.ports.tw_del(key.local_port);
        }
    }
    /// True if a TIME-WAIT record exists for the 4-tuple.
    pub(super) fn tw_exists(&self, key: Key) -> bool {
        !self.tw.is_empty() && self.tw.get(&tw_key(key)).is_some_and(|r| r.local_ip == *key.0.ip())
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
        let Some(r) = self.tw.get_mut(&key).filter(|r| r.local_ip == *full.0.ip()) else { return false };
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
    pub(super) fn dispatch_tw(&mut self, now: Instant, e: &mut Emitter) {
        while let Some(&(at, key)) = self.tw_timers.first() {
            if at > now {
                break;
            }
            self.tw_timers.pop_first();
            if let Some(r) = self.tw.get(&key).filter(|r| r.expires == at).copied() {
                self.tw.remove(&key);
                self.ports.tw_del(key.local_port);
                if self.tracing() {
                    let k = Self::key_of(key, &r);
                    self.trace_event(now, k, TraceKind::Timer(TimerKind::TimeWait));
                    self.trace_event(now, k, TraceKind::State { from: TcpState::TimeWait, to: TcpState::Closed });
                }
            }
        }
        for key in std::mem::take(&mut self.tw_acks) {
            if let Some(r) = self.tw.get(&key) {
                let k = Self::key_of(key, r);
                let ack = r.ack(k, now);
                e.send(*k.0.ip(), *k.1.ip(), &ack);
                self.trace_stack_seg(now, *k.0.ip(), *k.1.ip(), &ack);
            }
        }
    }
    /// True if a TIME-WAIT record of `port` blocks a bind() by a socket with these
    /// SO_REUSEADDR / SO_REUSEPORT settings: a record allows it only if both sockets set one of
    /// them (Linux inet_bind_conflict with tw_reuse / tw_reuseport).
    pub(super) fn tw_blocks(&self, port: u16, reuse: bool, reuse_port: bool) -> bool {
        self.ports.tw_blocks(port, reuse as u8 | (reuse_port as u8) << 1)
    }
}
