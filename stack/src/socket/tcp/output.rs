//! Segment output: SYN/SYN-ACK, MSS segmentation with Nagle (RFC 896) and sender SWS avoidance
//! (RFC 9293 3.8.6.2.1), congestion and flow control, fast retransmit and SACK hole
//! retransmission (RFC 6675), persist probes, piggybacked ACKs and window updates.
use crate::wire::ip::IpAddress;

use super::seq::SeqNum;
use super::tcb::Tcb;
use super::types::{TcpConfig, TcpState};
use crate::time::Instant;
use crate::trace::Reason;
use crate::wire::tcp::{flags, TcpPacket, TcpRepr};

/// Bytes kept free in front of every segment the emitter builds: room for the Ethernet and
/// IPv4 headers (no options), so IP output fills them in place and moves the buffer on.
pub const HEADROOM: usize = crate::wire::ethernet::HEADER_LEN + crate::wire::ipv4::HEADER_LEN;

/// The segment sink of [`Emitter`]: source, destination, the buffer (segment at `HEADROOM..`),
/// the GSO size (0: send as it is; else the device cuts the segment into ones of that payload,
/// `TcpConfig::tso_max`) and, for a super-segment under `partial`, its payload borrowed from the
/// send ring (the buffer then holds only the header, and the sink must not keep it: IP output
/// hands both to the device at once, `Interface::send_tcp_parts`); empty otherwise.
pub type SegmentSink<'a> = dyn FnMut(IpAddress, IpAddress, &mut Vec<u8>, u16, &[&[u8]]) + 'a;

/// Where segments go: a reusable buffer and the caller's sink. The sink gets the buffer with
/// the segment (TCP header + payload) at `HEADROOM..`; it may take the `Vec` (leaving another,
/// e.g. a recycled one, in its place).
pub struct Emitter<'a> {
    pub buf: &'a mut Vec<u8>,
    pub emit: &'a mut SegmentSink<'a>,
    /// Leave the checksum to the device (`TcpConfig::tx_partial_checksum`).
    pub partial: bool,
    /// Largest payload of one segment of new data (TSO, `TcpConfig::tso_max`); 0: one MSS.
    pub tso: usize,
}

impl Emitter<'_> {
    /// Emits `repr` (payload included) with a valid checksum (or its pseudo-header sum for
    /// the device to finish).
    pub fn send(&mut self, src: IpAddress, dst: IpAddress, repr: &TcpRepr) {
        self.buf.clear();
        self.buf.resize(HEADROOM + repr.buffer_len(), 0);
        repr.emit(&mut self.buf[HEADROOM..], src, dst);
        if self.partial {
            TcpPacket::new_unchecked(&mut self.buf[HEADROOM..]).fill_partial_checksum(src, dst);
        }
        (self.emit)(src, dst, self.buf, 0, &[]);
    }
}

impl Tcb {
    /// Builds and emits one segment starting at `seq` with up to `len` bytes of the send
    /// buffer. Returns the payload bytes actually sent (SACK blocks may shorten it).
    fn send_segment(&mut self, now: Instant, e: &mut Emitter, seq: SeqNum, len: usize, fl: u8) -> usize {
        let syn = fl & flags::SYN != 0;
        let has_ack = self.state != TcpState::SynSent;
        let wnd = self.rcv_window();
        let mut repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: seq.0,
            ack: has_ack.then_some(self.rcv.nxt.0),
            flags: fl,
            window: if syn { wnd.min(65535) as u16 } else { (wnd >> self.opts.rcv_wscale).min(65535) as u16 },
            ..TcpRepr::default()
        };
        if syn {
            repr.mss = Some(self.opts.rcv_mss);
            if self.active && self.state == TcpState::SynSent {
                repr.window_scale = Some(self.opts.rcv_wscale);
                repr.sack_permitted = true;
                repr.timestamp = Some((self.ts_now(now), 0));
            } else {
                // SYN-ACK: echo what the peer offered.
                if self.opts.snd_wscale > 0 || self.opts.rcv_wscale > 0 {
                    repr.window_scale = Some(self.opts.rcv_wscale);
                }
                repr.sack_permitted = self.opts.sack_ok;
                if self.opts.ts_ok {
                    repr.timestamp = Some((self.ts_now(now), self.opts.ts_recent));
                }
            }
        } else {
            if self.opts.ts_ok {
                repr.timestamp = Some((self.ts_now(now), self.opts.ts_recent));
            }
            if self.opts.sack_ok && fl & flags::RST == 0 {
                // A D-SACK block first (RFC 2883 4), then the out-of-order ranges.
                let max = if self.opts.ts_ok { 3 } else { 4 };
                let d = has_ack.then_some(self.ack.dsack).flatten();
                let blocks = self.assembler.sack_blocks(max - d.is_some() as usize);
                if let Some((s, e)) = d {
                    repr.sack = [Some((s.0, e.0)), blocks[0], blocks[1], blocks[2]];
                } else if !self.assembler.is_empty() {
                    repr.sack = blocks;
                }
            }
        }
        let opt_extra = repr.options_len().saturating_sub(if self.opts.ts_ok { 12 } else { 0 });
        // Never more than the send buffer holds from `seq` on (defensive: callers bound it).
        let avail = if seq >= self.snd.tx_base { self.tx.len().saturating_sub(seq.since(self.snd.tx_base)) } else { 0 };
        // One segment's payload; with TSO (plain data, no SACK blocks: every segment the
        // device cuts carries the same header) whole multiples of it, and the tail.
        let seg = self.eff_mss().saturating_sub(opt_extra).max(1);
        let cap =
            if e.tso > seg && opt_extra == 0 && fl & (flags::SYN | flags::RST) == 0 { e.tso / seg * seg } else { seg };
        let len = if syn { 0 } else { len.min(cap).min(avail) };
        let gso = if len > seg { seg as u16 } else { 0 };
        let mut fl = fl;
        if len > 0 && seq + len != self.data_end() {
            fl &= !(flags::FIN | flags::PSH); // shortened: the FIN (and the push) go later
        }
        repr.flags = fl;
        let hl = repr.header_len();
        // Header after the headroom, then the payload appended (never zero-filled first); a
        // super-segment whose checksum the device finishes keeps its payload in the ring, for
        // the device to take from there (one copy less).
        let zero_copy = gso > 0 && e.partial;
        e.buf.clear();
        e.buf.reserve(HEADROOM + hl + if zero_copy { 0 } else { len });
        e.buf.resize(HEADROOM + hl, 0);
        repr.emit_header(&mut e.buf[HEADROOM..]);
        let (a, b) = if len > 0 { self.tx.slices(seq.since(self.snd.tx_base), len) } else { (&[][..], &[][..]) };
        if !zero_copy {
            e.buf.extend_from_slice(a);
            e.buf.extend_from_slice(b);
        }
        let (src, dst) = (*self.local.ip(), *self.remote.ip());
        let mut t = TcpPacket::new_unchecked(&mut e.buf[HEADROOM..]);
        match (e.partial, zero_copy) {
            (true, true) => t.fill_partial_checksum_len(src, dst, hl + len),
            (true, false) => t.fill_partial_checksum(src, dst),
            (false, _) => t.fill_checksum(src, dst),
        }
        let parts = [a, b];
        (e.emit)(src, dst, e.buf, gso, if zero_copy { &parts[..1 + usize::from(!b.is_empty())] } else { &[] });
        let occupied = len + (fl & flags::FIN != 0) as usize;
        if gso == 0 {
            self.tr_out(&repr, len);
            self.counters.segs_out += 1;
            if occupied > 0 && !syn {
                self.loss.sent.on_send(seq, seq + occupied, now);
            }
        } else {
            // The segments the device makes, each sent, traced and counted as if built here.
            let mut off = 0;
            while off < len {
                let n = seg.min(len - off);
                let last = off + n == len;
                let mut r = repr;
                r.seq = (seq + off).0;
                if !last {
                    r.flags &= !(flags::PSH | flags::FIN);
                }
                self.tr_out(&r, n);
                self.counters.segs_out += 1;
                let fin = (last && fl & flags::FIN != 0) as usize;
                self.loss.sent.on_send(seq + off, seq + off + n + fin, now);
                off += n;
            }
        }
        if occupied > 0 && !syn && seq + occupied > self.snd.max {
            self.timers.last_send = Some(now); // new data (Linux lsndtime)
        }
        if has_ack {
            let adv =
                if syn { wnd.min(65535) } else { (wnd >> self.opts.rcv_wscale).min(65535) << self.opts.rcv_wscale };
            let edge = self.rcv.nxt + adv as usize;
            if edge > self.rcv.adv {
                self.rcv.adv = edge;
            }
            self.rcv.wup = self.rcv.nxt;
            self.ack.now = false;
            self.ack.dsack = None;
            self.ack.delack_at = None;
            self.ack.hold_ridden |= std::mem::take(&mut self.ack.holding);
            self.ack.segs_unacked = 0;
            self.ack.points.clear();
        }
        len
    }

    /// Pure ACKs for the points owed inside one burst (see `ack_points`), oldest first. Each
    /// advertises the final ACK's right edge (capped at the buffer size and at the clamp).
    fn send_ack_points(&mut self, now: Instant, e: &mut Emitter) {
        if self.ack.points.is_empty() {
            return;
        }
        let points = std::mem::take(&mut self.ack.points);
        let edge = self.rcv.adv.max(self.rcv.nxt + self.rcv_window() as usize);
        // No point's window above TCP_WINDOW_CLAMP, unless what was offered before this burst
        // (never taken back) already reaches further: the window `rcv_window` would have
        // given at that point.
        let (before, clamp) = (self.rcv.adv, self.clamp() as usize);
        for &p in &points {
            if p >= self.rcv.nxt {
                break; // the final ACK covers it
            }
            let offered = if before > p { before.since(p) } else { 0 };
            let bytes = edge.since(p).min(self.rx.capacity()).min(clamp.max(offered)) as u32;
            let wnd = (bytes >> self.opts.rcv_wscale).min(65535) as u16;
            let r = TcpRepr {
                src_port: self.local.port(),
                dst_port: self.remote.port(),
                seq: self.snd.max.0,
                ack: Some(p.0),
                window: wnd,
                timestamp: self.opts.ts_ok.then(|| (self.ts_now(now), self.opts.ts_recent)),
                ..TcpRepr::default()
            };
            e.send(*self.local.ip(), *self.remote.ip(), &r);
            self.tr_out_plain(&r);
            self.counters.segs_out += 1;
        }
        self.ack.points = points;
        self.ack.points.clear();
    }

    /// A persist or keepalive probe (Linux tcp_write_wakeup): new data if the window has room
    /// for some (the SWS override, RFC 9293 3.8.6.2.1), else an old sequence number that
    /// elicits an ACK.
    fn send_probe(&mut self, now: Instant, e: &mut Emitter) {
        // Data waiting: the persist timer's probe; none: a keepalive.
        self.tr_why(if self.data_end() > self.snd.nxt { Reason::ZeroWindowProbe } else { Reason::KeepAlive });
        let unsent = self.data_end().since(self.snd.nxt);
        let wnd_avail = (self.snd.una + self.snd.wnd as usize).since(self.snd.nxt);
        if unsent > 0 && wnd_avail > 0 && self.snd.nxt == self.snd.max {
            let seq = self.snd.nxt;
            let sent = self.send_segment(now, e, seq, unsent.min(wnd_avail).min(self.eff_mss()), flags::PSH);
            self.counters.bytes_sent += sent as u64;
            if sent < self.eff_mss() {
                self.snd.sml = seq + sent;
            }
            self.snd.nxt = seq + sent;
            self.snd.max = self.snd.nxt;
            self.arm_rto(now);
        } else {
            self.send_segment(now, e, self.snd.una - 1, 0, 0);
        }
    }

    /// A segment is being resent: counted, and the user timeout runs from the first resend
    /// (Linux tcp_retransmit_skb's retrans_stamp).
    fn count_retransmit(&mut self, now: Instant) {
        self.counters.retransmits += 1;
        self.timers.retrans_stamp.get_or_insert(now);
    }

    /// Whether a segment under the MSS that ends the queued data waits: Nagle (RFC 896) with
    /// Minshall's refinement, as Linux (only while an earlier *small* segment is
    /// unacknowledged, so the tail of a large write is not held for a delayed ACK), or the cork
    /// whatever is in flight (Linux tcp_nagle_check), as MSG_MORE does until the next ACK or
    /// write; a push overrides them all.
    fn holds_small(&self) -> bool {
        let minshall = self.snd.sml > self.snd.una && self.snd.sml <= self.snd.nxt;
        !self.push && (self.cork || self.more || (!self.nodelay && minshall))
    }

    /// Arms the retransmission timer if it is not running (RFC 6298 5.1).
    fn arm_rto(&mut self, now: Instant) {
        if self.timers.rto_at.is_none() {
            let at = now + self.rtt.backed_off(self.timers.backoff);
            self.timers.rto_at = Some(self.clamp_to_user_timeout(now, at, self.timers.retrans_stamp));
        }
    }

    /// A timer due at `at` fires no later than TCP_USER_TIMEOUT after `since` (Linux
    /// tcp_clamp_rto_to_user_timeout, tcp_clamp_probe0_to_user_timeout).
    fn clamp_to_user_timeout(&self, now: Instant, at: Instant, since: Option<Instant>) -> Instant {
        match since {
            Some(s) if !self.timers.user_timeout.is_zero() => {
                at.min((s + self.timers.user_timeout).max(now + crate::time::Duration::from_millis(2)))
            }
            _ => at,
        }
    }

    /// Sends whatever this connection has to send now.
    pub fn output(&mut self, now: Instant, cfg: &TcpConfig, e: &mut Emitter) {
        if self.send_rst {
            self.send_rst = false;
            let seq = self.snd.nxt.max(self.snd.max);
            let mut r = TcpRepr {
                src_port: self.local.port(),
                dst_port: self.remote.port(),
                seq: seq.0,
                ack: Some(self.rcv.nxt.0),
                flags: flags::RST,
                ..TcpRepr::default()
            };
            if self.state == TcpState::SynSent {
                r.ack = None;
            }
            e.send(*self.local.ip(), *self.remote.ip(), &r);
            self.tr_out_plain(&r);
            self.counters.segs_out += 1;
            self.terminate(None);
            return;
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => return,
            TcpState::SynSent | TcpState::SynReceived => {
                if self.snd.nxt == self.snd.iss {
                    let fl = flags::SYN; // with ACK in SYN-RECEIVED (send_segment adds it)
                    if self.snd.max != self.snd.iss {
                        self.count_retransmit(now);
                        self.tr_why(Reason::Rto);
                    } else if self.timers.backoff == 0 {
                        self.rtt_probe = Some((self.snd.iss + 1, now));
                        self.timers.retrans_stamp = Some(now); // Linux tcp_connect
                    }
                    self.send_segment(now, e, self.snd.iss, 0, fl);
                    self.snd.nxt = self.snd.iss + 1;
                    self.snd.max = self.snd.nxt.max(self.snd.max);
                    self.arm_rto(now);
                } else if self.ack.now && self.state == TcpState::SynReceived {
                    self.send_segment(now, e, self.snd.max, 0, 0);
                }
                return;
            }
            TcpState::TimeWait | TcpState::FinWait2 | TcpState::CloseWait
                if self.tx.is_empty() && (!self.fin_queued || self.fin_acked) =>
            {
                self.send_ack_points(now, e);
                if self.probe {
                    self.probe = false;
                    self.tr_why(Reason::KeepAlive);
                    self.send_segment(now, e, self.snd.una - 1, 0, 0);
                } else if self.ack.now {
                    self.send_segment(now, e, self.snd.max, 0, 0);
                }
                return;
            }
            _ => {}
        }
        let mss = self.eff_mss();
        self.send_ack_points(now, e);
        if self.probe {
            self.probe = false;
            self.send_probe(now, e);
        }

        // Fast retransmit / NewReno partial ACK: the head segment.
        if self.loss.rexmit_head && self.snd.una < self.snd.max {
            self.loss.rexmit_head = false;
            // Only what was sent before: never new data beyond SND.MAX (the peer's ACK of it
            // would be for "unsent" data and be dropped).
            // With SACK, the first hole: what the peer SACKed is not resent (RFC 6675 NextSeg).
            let (at, hole_end) = match self.opts.sack_ok {
                true => self.unsacked_piece(self.snd.una, self.snd.max).unwrap_or((self.snd.max, self.snd.max)),
                false => (self.snd.una, self.snd.max),
            };
            let len = self.data_end().min(hole_end).since(at).min(mss);
            let fin = self.fin_seq().is_some_and(|f| at + len == f && f < self.snd.max);
            if len > 0 || fin {
                self.tr_why(Reason::FastRetransmit);
                self.send_segment(now, e, at, len, if fin { flags::FIN } else { 0 });
                self.count_retransmit(now);
                self.arm_rto(now);
            }
        }
        self.loss.rexmit_head = false;

        // Loss marks up to date for `now` (the pipe below is kept by counters, O(1)).
        if self.opts.sack_ok {
            self.detect_loss(now);
        }

        // RFC 6675 5 step 4: retransmit lost records (NextSeg, in the order they were marked)
        // while the pipe has room; a record's un-SACKed pieces go together.
        if self.loss.in_recovery && self.opts.sack_ok {
            let cwnd = self.cc.cwnd as usize;
            let mut n = 0;
            while n < 4096 && self.pipe() + mss <= cwnd {
                let Some(i) = self.loss.sent.next_lost() else { break };
                let (rs, re) = (self.loss.sent.get(i).start, self.loss.sent.get(i).end);
                self.loss.sent.pop_lost();
                let mut at = rs;
                while let Some((s, he)) = self.unsacked_piece(at, re) {
                    n += 1;
                    let len = he.since(s).min(mss).min(self.data_end().since(s));
                    let fin = len == 0 && self.fin_seq() == Some(s);
                    if len == 0 && !fin {
                        break;
                    }
                    self.tr_why(Reason::Rack);
                    let sent = self.send_segment(now, e, s, len, if fin { flags::FIN } else { 0 });
                    self.count_retransmit(now);
                    self.arm_rto(now);
                    at = s + sent.max(1);
                }
            }
        }

        // Tail loss probe (RFC 8985 7.3): new data if possible, else the last segment again.
        if self.rack.tlp_pending {
            self.rack.tlp_pending = false;
            let unsent = self.data_end().since(self.snd.nxt);
            let wnd_avail = (self.snd.una + self.snd.wnd as usize).since(self.snd.nxt);
            if unsent > 0 && wnd_avail > 0 && self.snd.nxt == self.snd.max {
                let len = unsent.min(mss).min(wnd_avail);
                let seq = self.snd.nxt;
                self.tr_why(Reason::TlpNew);
                let sent = self.send_segment(now, e, seq, len, flags::PSH);
                self.counters.bytes_sent += sent as u64;
                self.snd.nxt = seq + sent;
                self.snd.max = self.snd.max.max(self.snd.nxt);
                (self.rack.tlp_end_seq, self.rack.tlp_is_retrans) = (Some(self.snd.nxt), false);
            } else if self.snd.una < self.snd.max {
                let end = self.snd.max;
                let fin = self.fin_seq().is_some_and(|f| f + 1 == end);
                let data_end = if fin { end - 1 } else { end };
                let s = self.snd.una.max(data_end - mss.min(data_end.since(self.snd.una)));
                let len = data_end.since(s);
                self.tr_why(Reason::TlpRetransmit);
                self.send_segment(now, e, s, len, if fin { flags::FIN } else { 0 });
                self.count_retransmit(now);
                (self.rack.tlp_end_seq, self.rack.tlp_is_retrans) = (Some(self.snd.max), true);
            }
            self.arm_rto(now);
        }

        // New data (or go-back-N resend after an RTO).
        let may_send = matches!(
            self.state,
            TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck
        );
        if may_send && self.snd.una == self.snd.max && self.data_end() > self.snd.nxt {
            // Restart after idle (RFC 5681 4.1, Linux tcp_slow_start_after_idle_check).
            if let Some(t) = self.timers.last_send.filter(|&t| now - t > self.rtt.rto) {
                self.cc.restart(now - t, self.rtt.rto);
                self.timers.last_send = Some(now);
            }
        }
        let mut guard = 0;
        let mut sent_any = false;
        let mut cwnd_stop = false;
        while may_send && guard < 100_000 {
            guard += 1;
            let data_end = self.data_end();
            let fin_seq = self.fin_seq();
            if self.snd.nxt < self.snd.max {
                if let Some(end) = self.loss.scoreboard.sacked_end(self.snd.nxt) {
                    self.snd.nxt = end.min(self.snd.max);
                    continue;
                }
            }
            let unsent = data_end.since(self.snd.nxt);
            let fin_pending = fin_seq.is_some_and(|f| self.snd.nxt <= f);
            if unsent == 0 && !fin_pending {
                break;
            }
            let limited =
                if !self.loss.in_recovery && self.loss.dupacks <= 2 { self.loss.dupacks as usize * mss } else { 0 };
            let pipe = self.pipe();
            let cwnd_avail = (self.cc.cwnd as usize + limited).saturating_sub(pipe);
            let is_retx = self.snd.nxt < self.snd.max;
            let mut wnd_avail = (self.snd.una + self.snd.wnd as usize).since(self.snd.nxt);
            if is_retx && self.snd.nxt == self.snd.una && wnd_avail == 0 {
                // An RTO into a window shrunk to zero: the head goes anyway and serves as the
                // zero-window probe (Linux __tcp_retransmit_skb).
                wnd_avail = mss;
            }
            // New data may go as one TSO segment of whole MSS multiples (and the tail), cut
            // by the device into exactly the segments an MSS at a time would make.
            let burst = if e.tso > mss && !is_retx { e.tso / mss * mss } else { mss };
            let mut len = unsent.min(burst).min(cwnd_avail).min(wnd_avail);
            // A burst of more than one MSS leaves its tail under the MSS behind when that is
            // cut off by the window or cwnd, or held by Nagle or the cork (Linux
            // tcp_mss_split_point): it then waits exactly as a segment of its own would.
            if len > mss && (len < unsent || (!fin_pending && !is_retx && self.holds_small())) {
                len -= len % mss;
            }
            if is_retx {
                if let Some(ns) = self.loss.scoreboard.next_sacked(self.snd.nxt) {
                    len = len.min(ns.since(self.snd.nxt));
                }
            }
            let fin = fin_pending && len == unsent;
            cwnd_stop = cwnd_avail < unsent.min(mss).min(wnd_avail);
            if len == 0 && (!fin || cwnd_avail == 0) {
                break;
            }
            if len < mss && !fin && !is_retx {
                if len == unsent {
                    if self.holds_small() {
                        self.tr_nagle_hold();
                        break;
                    }
                } else if len < wnd_avail || len == 0 {
                    break; // congestion limited: wait for ACKs rather than send a runt
                } else if len * 2 < self.snd.max_wnd as usize {
                    // Window limited (RFC 9293 3.8.6.2.1 sender SWS avoidance, Fs = 1/2; Linux
                    // tcp_snd_wnd_test with the MSS bound to half the largest window): wait for
                    // a larger opening; with nothing in flight the persist timer (the override
                    // timeout) sends what fits.
                    break;
                }
            }
            let mut fl = if fin { flags::FIN } else { 0 };
            if self.snd.nxt + len == data_end && len > 0 {
                fl |= flags::PSH;
            }
            let seq = self.snd.nxt;
            if is_retx {
                self.tr_why(Reason::Rto);
            } else {
                self.tr_nagle_sent(len < mss);
            }
            let sent = self.send_segment(now, e, seq, len, fl);
            let fin_sent = fin && sent == len;
            if !sent.is_multiple_of(mss) {
                self.snd.sml = seq + sent; // Minshall: end of the last small segment
            }
            if is_retx {
                self.count_retransmit(now);
                // A resend cut at other boundaries may run past SND.MAX: those bytes are new.
                self.counters.bytes_sent += (seq + sent).since(self.snd.max) as u64;
            } else {
                self.rack.pto_at = None;
                self.counters.bytes_sent += sent as u64;
                if self.rtt_probe.is_none() && self.timers.backoff == 0 && !self.loss.in_recovery {
                    // Timed from its first MSS, as if the segments had been sent one by one.
                    let first = if sent > mss { mss } else { sent + fin_sent as usize };
                    self.rtt_probe = Some((seq + first, now));
                }
            }
            self.snd.nxt = seq + sent + fin_sent as usize;
            if self.snd.nxt > self.snd.max {
                self.snd.max = self.snd.nxt;
            }
            self.arm_rto(now);
            sent_any = true;
            if sent == 0 && !fin_sent {
                break;
            }
        }
        self.push = false;
        if sent_any || cwnd_stop {
            // RFC 7661: cwnd grows only if it, not the application or the peer, limits sending.
            let pipe = self.pipe();
            let limited = cwnd_stop || pipe + mss > self.cc.cwnd as usize;
            self.cc.validate(self.snd.una, self.snd.nxt, pipe as u32, limited);
        }

        // Persist timer (RFC 9293 3.8.6.1 and the SWS override timeout of 3.8.6.2.1; Linux
        // tcp_check_probe_timer): data or a FIN waiting, nothing in flight to bring an ACK.
        let waiting = self.data_end() > self.snd.nxt || self.fin_seq().is_some_and(|f| f >= self.snd.nxt);
        if may_send && waiting && self.snd.una == self.snd.max {
            if self.timers.persist_at.is_none() {
                let d = self.rtt.backed_off(self.timers.persist_backoff).max(cfg.rto_min);
                self.timers.persist_at = Some(self.clamp_to_user_timeout(now, now + d, self.timers.probes_stamp));
            }
        } else {
            self.timers.persist_at = None;
        }
        // Whatever is in flight has a retransmission timer (RFC 6298 5.1), even when the last
        // timeout found nothing it could send.
        if self.snd.una < self.snd.max {
            self.arm_rto(now);
        }

        // RACK reorder timer and tail loss probe timer.
        self.rack.reo_at =
            if self.opts.sack_ok && !self.loss.scoreboard.is_empty() { self.detect_loss(now) } else { None };
        #[cfg(test)]
        self.check_marks().unwrap();
        // RFC 8985 7.2: no probe while in loss recovery (fast recovery, or after an RTO until
        // SND.UNA passes the point it was taken at).
        let recovering = self.loss.in_recovery || self.timers.backoff > 0 || self.snd.una < self.loss.recover;
        let probe_ok = !self.rack.tlp_used && self.rack.tlp_end_seq.is_none(); // one episode at a time
        if self.opts.sack_ok && self.rtt.has_sample && !recovering && self.snd.una != self.snd.max && probe_ok {
            if self.rack.pto_at.is_none() {
                let mut pto = (self.rtt.srtt * 2).max(crate::time::Duration::from_millis(2));
                if self.snd.max.since(self.snd.una) <= mss + 1 {
                    pto += crate::time::Duration::from_millis(200); // RFC 8985 WCDelAckT
                }
                let at = now + pto;
                if self.timers.rto_at.is_none_or(|r| at < r) {
                    self.rack.pto_at = Some(at);
                }
            }
        } else {
            self.rack.pto_at = None;
        }

        if self.ack.now {
            // SND.MAX, not a rewound snd_nxt: an ACK must be acceptable to the peer (RFC 9293
            // 3.10.7.4), or two ends both backing off after RTOs drop each other's ACKs.
            self.send_segment(now, e, self.snd.max, 0, 0);
        }
    }
}
