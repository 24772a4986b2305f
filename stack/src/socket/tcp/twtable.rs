//! The socket table's TIME-WAIT side: a connection entering TIME-WAIT becomes a compact record
//! (`timewait.rs`), capped at `max_tw_buckets`; lookup and input of records, their expiry and
//! the ACKs they owe.
use crate::wire::ip::IpEndpoint;

use super::listener::Key;
use super::output::Emitter;
use super::table::TcpStack;
use super::tcb::Tcb;
use super::timewait::{tw_key, TwAction, TwKey, TwRec, MAX_QUEUED_TW_ACK};
use super::types::TcpState;
use crate::time::{Duration, Instant};
use crate::trace::{TimerKind, TraceKind};
use crate::wire::tcp::TcpRepr;

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
        let keyable = *t.local.ip() == self.config.local_addr;
        let key = tw_key((t.local, t.remote));
        let rec = Self::tw_record(t, now, self.config.msl * 2);
        let owes_ack = t.ack.now || t.ack.delack_at.is_some();
        (t.ack.now, t.ack.delack_at, t.timers.timewait_at) = (false, None, None);
        // Not through set_state: the connection's TIME-WAIT goes on in the record.
        (t.state, t.changed, t.closed_since_bind) = (TcpState::Closed, true, true);
        Self::reindex_timer(&mut self.timers, t, id);
        if keyable {
            self.keep_record(key, rec, owes_ack);
        }
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
    pub(super) fn dispatch_tw(&mut self, now: Instant, e: &mut Emitter) {
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
