//! Trace hooks of the TCP engine (see `crate::trace`). A control block carries
//! `tr: Option<Box<TcbTrace>>`, `Some` only while the stack has a sink: every hook is one test
//! of that `Option` when tracing is off. Events a control block produces wait in its buffer and
//! are stamped with the time and 4-tuple when the stack drains them (right after input, timers
//! and output), so they reach the sink in the order they happened.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::seq::SeqNum;
use super::table::TcpStack;
use super::tcb::Tcb;
use super::types::TcpState;
use super::vars::TcbTrace;
use crate::time::Instant;
use crate::trace::{CcState, Dir, Reason, Segment, TimerKind, TraceEvent, TraceKind, TraceSink};
use crate::wire::tcp::{flags, TcpRepr};

/// A `Segment` event from a header and its payload length.
pub fn segment(repr: &TcpRepr, len: usize, window: u32, reason: Reason) -> Segment {
    Segment {
        flags: repr.flags,
        seq: repr.seq,
        ack: repr.ack,
        len: len as u32,
        window,
        mss: repr.mss,
        wscale: repr.window_scale,
        sack_perm: repr.sack_permitted,
        ts: repr.timestamp,
        sack: repr.sack.iter().flatten().copied().collect(),
        reason,
    }
}

impl Tcb {
    /// Sets the reason of the next segment sent.
    #[inline]
    pub fn tr_why(&mut self, r: Reason) {
        if let Some(t) = &mut self.tr {
            t.why = r;
        }
    }
    /// Sets the reason of the next pure ACK.
    #[inline]
    pub fn tr_ack_why(&mut self, r: Reason) {
        if let Some(t) = &mut self.tr {
            t.ack_why = r;
        }
    }
    #[inline]
    pub fn tr_timer(&mut self, k: TimerKind) {
        if let Some(t) = &mut self.tr {
            t.events.push(TraceKind::Timer(k));
        }
    }
    #[inline]
    pub fn tr_state(&mut self, from: TcpState, to: TcpState) {
        if let Some(t) = &mut self.tr {
            t.events.push(TraceKind::State { from, to });
        }
    }
    /// Nagle held a small segment back.
    #[inline]
    pub fn tr_nagle_hold(&mut self) {
        if let Some(t) = &mut self.tr {
            t.nagle_held = true;
        }
    }
    /// New data is about to leave; `small` (under the MSS) after a Nagle hold is its release.
    #[inline]
    pub fn tr_nagle_sent(&mut self, small: bool) {
        if let Some(t) = &mut self.tr {
            if std::mem::take(&mut t.nagle_held) && small && t.why == Reason::None {
                t.why = Reason::NagleRelease;
            }
        }
    }
    /// A segment left: `repr` with `len` payload bytes; it takes the pending reason.
    #[inline]
    pub fn tr_out(&mut self, repr: &TcpRepr, len: usize) {
        if self.tr.is_some() {
            self.tr_out_slow(repr, len, true);
        }
    }
    /// A segment left that has no reason of its own (ACK points of a burst, RST).
    #[inline]
    pub fn tr_out_plain(&mut self, repr: &TcpRepr) {
        if self.tr.is_some() {
            self.tr_out_slow(repr, 0, false);
        }
    }
    #[cold]
    fn tr_out_slow(&mut self, repr: &TcpRepr, len: usize, take_reason: bool) {
        let syn = repr.flags & flags::SYN != 0;
        let window = if syn { repr.window as u32 } else { (repr.window as u32) << self.opts.rcv_wscale };
        let Some(t) = &mut self.tr else { return };
        let mut why = Reason::None;
        if take_reason {
            why = std::mem::take(&mut t.why);
            let pure_ack = len == 0 && repr.flags & (flags::SYN | flags::FIN | flags::RST) == 0;
            if repr.ack.is_some() {
                let a = std::mem::take(&mut t.ack_why);
                if why == Reason::None && pure_ack {
                    why = a;
                }
            }
        }
        t.events.push(TraceKind::Segment(Dir::Out, segment(repr, len, window, why)));
    }
    fn cc_state(&self) -> CcState {
        CcState {
            cwnd: self.cc.cwnd,
            ssthresh: self.cc.ssthresh,
            srtt: self.rtt.srtt,
            rttvar: self.rtt.rttvar,
            rto: self.rtt.backed_off(self.timers.backoff),
        }
    }
}

impl TcpStack {
    /// Installs (or with None removes) the sink that receives every TCP event of this stack.
    /// Connections opened before keep their tracing state.
    pub fn set_tracer(&mut self, sink: Option<Box<dyn TraceSink>>) {
        self.tracer = sink;
        let on = self.tracer.is_some();
        for t in self.socks.values_mut() {
            if on && t.tr.is_none() {
                t.tr = Some(Box::default());
            } else if !on {
                t.tr = None;
            }
        }
    }
    /// True while a sink is installed.
    pub fn tracing(&self) -> bool {
        self.tracer.is_some()
    }
    /// Trace state for a control block created while tracing.
    pub(super) fn new_trace(&self) -> Option<Box<TcbTrace>> {
        self.tracer.is_some().then(Box::default)
    }
    /// The sink's end-of-round flush.
    pub fn trace_flush(&mut self) {
        if let Some(s) = &mut self.tracer {
            s.flush();
        }
    }
    /// End of the trace (process exit): pending summaries and buffers are written.
    pub fn trace_finish(&mut self) {
        if let Some(s) = &mut self.tracer {
            s.finish();
        }
    }

    /// A segment arrived from `remote` for `local` (before it is processed).
    #[cold]
    pub(super) fn trace_in(&mut self, now: Instant, local: IpEndpoint, remote: IpEndpoint, seg: &TcpRepr) {
        let id = self.conns.get(&(local, remote)).copied();
        let mut reason = Reason::None;
        let mut scale = 0;
        if let Some(t) = id.and_then(|id| self.socks.get_mut(&id)) {
            if !seg.syn() && t.synchronized() {
                scale = t.opts.snd_wscale;
            }
            if let Some(tr) = &mut t.tr {
                let s = SeqNum(seg.seq);
                let end = s + seg.payload.len();
                if !seg.payload.is_empty() && tr.hi_rcv.is_some_and(|h| s < h) {
                    reason = Reason::PeerRetransmit;
                }
                if !seg.payload.is_empty() && tr.hi_rcv.is_none_or(|h| end > h) {
                    tr.hi_rcv = Some(end);
                }
                if seg.syn() {
                    tr.hi_rcv = Some(s + 1);
                }
            }
        }
        let window = (seg.window as u32) << scale;
        let ev = TraceEvent {
            at: now,
            local,
            remote,
            kind: TraceKind::Segment(Dir::In, segment(seg, seg.payload.len(), window, reason)),
        };
        if let Some(s) = &mut self.tracer {
            s.event(&ev);
        }
    }

    /// An event of a connection without a control block (SYN queue, TIME-WAIT records).
    #[inline]
    pub(super) fn trace_event(&mut self, now: Instant, key: (IpEndpoint, IpEndpoint), kind: TraceKind) {
        if let Some(s) = &mut self.tracer {
            s.event(&TraceEvent { at: now, local: key.0, remote: key.1, kind });
        }
    }
    /// A segment sent for a connection without a control block.
    #[inline]
    pub(super) fn trace_stack_seg(&mut self, now: Instant, src: IpAddress, dst: IpAddress, repr: &TcpRepr) {
        if let Some(s) = &mut self.tracer {
            s.event(&stack_seg(now, src, dst, repr));
        }
    }

    /// Hands control block `id`'s buffered events to the sink.
    #[inline]
    pub(super) fn trace_drain(&mut self, now: Instant, id: u32) {
        if let (Some(s), Some(t)) = (&mut self.tracer, self.socks.get_mut(&id)) {
            drain_slow(s.as_mut(), t, now);
        }
    }
}

/// A segment the stack sends for a connection that has no control block (the RST answering a
/// closed port, a SYN-ACK of the SYN queue, an ACK of a TIME-WAIT record), as an event.
pub fn stack_seg(now: Instant, src: IpAddress, dst: IpAddress, repr: &TcpRepr) -> TraceEvent {
    TraceEvent {
        at: now,
        local: IpEndpoint::new(src, repr.src_port),
        remote: IpEndpoint::new(dst, repr.dst_port),
        kind: TraceKind::Segment(Dir::Out, segment(repr, 0, repr.window as u32, Reason::None)),
    }
}

/// Hands `t`'s buffered events (and a congestion-state change) to `sink`, stamped `now`.
#[inline]
pub fn drain(sink: &mut Option<Box<dyn TraceSink>>, t: &mut Tcb, now: Instant) {
    if let Some(s) = sink {
        drain_slow(s.as_mut(), t, now);
    }
}

#[cold]
fn drain_slow(sink: &mut dyn TraceSink, t: &mut Tcb, now: Instant) {
    let cc = t.cc_state();
    let synced = t.synchronized();
    let (local, remote) = (t.local, t.remote);
    let Some(tr) = &mut t.tr else { return };
    if synced && cc != tr.last_cc {
        tr.last_cc = cc;
        tr.events.push(TraceKind::Cc(cc));
    }
    for kind in tr.events.drain(..) {
        sink.event(&TraceEvent { at: now, local, remote, kind });
    }
}
