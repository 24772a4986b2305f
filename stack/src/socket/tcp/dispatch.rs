//! The socket table's output side (`TcpStack::dispatch`): runs due timers, sends queued RSTs,
//! SYN-ACKs and TIME-WAIT ACKs, then the output of every control block touched since the last
//! call; keeps the timer index and the index of control blocks with output left
//! (`has_pending_output`); reports readiness changes (`take_changed`).
use super::output::{Emitter, SegmentSink, HEADROOM};
use super::ports::has_output;
use super::table::{TcpStack, SERVER_FIRST_AFTER, SERVER_FIRST_FOR, SERVER_FIRST_MAX};
use super::trace;
use super::types::{TcpHandle, TcpState};
use crate::time::Instant;
use crate::wire::ip::IpAddress;
use crate::wire::tcp::{flags, TcpRepr};

impl TcpStack {
    /// Output: runs due timers and hands every segment ready to send to `emit(src, dst, bytes)`,
    /// the bytes being a complete TCP header+payload with a valid checksum (or only its
    /// pseudo-header sum under `tx_partial_checksum`).
    pub fn dispatch(&mut self, now: Instant, emit: &mut dyn FnMut(IpAddress, IpAddress, &[u8])) {
        let tso = std::mem::take(&mut self.config.tso_max); // slices: one MSS each
        self.dispatch_bufs(now, &mut |src, dst, buf, _, _| emit(src, dst, &buf[HEADROOM..]));
        self.config.tso_max = tso;
    }

    /// `dispatch` handing over buffers instead of slices: each segment sits at
    /// `buf[HEADROOM..]` behind room for the link and IP headers, and `emit` may take the `Vec`
    /// (IP output then fills the headers in place and queues it without copying), leaving
    /// another one (e.g. recycled) in its place for the next segment. The last argument is the
    /// segment's GSO size: 0 for a segment to send as it is, else the payload of each segment
    /// the device must cut it into (`TcpConfig::tso_max`).
    pub fn dispatch_bufs(&mut self, now: Instant, emit: &mut SegmentSink) {
        self.run_trims(now);
        let mut buf = std::mem::take(&mut self.scratch);
        let partial = self.config.tx_partial_checksum;
        self.dispatch_synq(now, &mut Emitter { buf: &mut buf, emit, partial, tso: 0 });
        self.dispatch_tw(now, &mut Emitter { buf: &mut buf, emit, partial, tso: 0 });
        self.scratch = buf;
        let tso = self.config.tso_max;
        let mut e = Emitter { buf: &mut self.scratch, emit, partial, tso };
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
                if std::mem::take(&mut t.ack.hold_expired) {
                    // Its peer may speak first (a banner): after a few such, its next
                    // connections ACK at once for a while.
                    if self.server_first.len() >= SERVER_FIRST_MAX {
                        self.server_first.clear();
                    }
                    let e = self.server_first.entry(t.remote).or_insert((0, now));
                    e.0 += 1;
                    if e.0 >= SERVER_FIRST_AFTER {
                        *e = (0, now + SERVER_FIRST_FOR);
                    }
                    self.stats.held_acks_expired += 1;
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
                if std::mem::take(&mut t.ack.hold_ridden) {
                    self.server_first.remove(&t.remote);
                }
            }
            trace::drain(&mut self.tracer, t, now);
            Self::reindex_timer(&mut self.timers, t, id);
            if t.changed {
                self.changed_ids.push(id);
            }
        }
        for &id in &work {
            self.track_output(id);
            self.schedule_trim(id, now);
            match self.socks.get(&id) {
                Some(t) if t.state == TcpState::TimeWait && t.orphan => self.enter_tw_record(id, now),
                Some(t) if t.state == TcpState::TimeWait => self.user_time_wait(id, now),
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
    /// True while any connection still has unsent or unacknowledged data or an unsent FIN
    /// (used to drain at process exit). Looks only at the control blocks that had output at the
    /// last `dispatch` and those touched since, not at every connection.
    pub fn has_pending_output(&self) -> bool {
        !self.rsts.is_empty()
            || !self.synacks.is_empty()
            || !self.tw_acks.is_empty()
            || self.out_busy.iter().chain(&self.dirty).any(|id| self.socks.get(id).is_some_and(has_output))
    }
    /// After `dispatch` handled `id`: remember whether it still has output (`out_busy`). Every
    /// change to what `has_output` reads comes with `note` (socket calls, input, ICMP) or a
    /// timer, so `out_busy` plus `dirty` covers every control block with output.
    pub(super) fn track_output(&mut self, id: u32) {
        match self.socks.get(&id) {
            Some(t) if has_output(t) => {
                self.out_busy.insert(id);
            }
            _ => {
                self.out_busy.remove(&id);
            }
        }
    }
}
