//! Segment arrival for connections (RFC 9293 3.10.7.3 SYN-SENT and 3.10.7.4 other states),
//! with RFC 5961 challenge ACKs, RFC 7323 PAWS, RFC 5681/6582 duplicate-ACK handling and
//! RFC 2018 SACK processing. Listeners and closed ports are handled in `mod.rs`.
use super::seq::SeqNum;
use super::tcb::Tcb;
use super::types::{TcpConfig, TcpState};
use crate::error::Error;
use crate::time::Instant;
use crate::wire::ip::IpEndpoint;
use crate::wire::tcp::TcpRepr;

/// A reset to send for a segment that has no connection to answer it (RFC 9293 3.10.7.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rst {
    pub local: IpEndpoint,
    pub remote: IpEndpoint,
    pub seq: u32,
    pub ack: Option<u32>,
}

/// Most bytes one ACK may acknowledge when a burst is processed at once.
/// Upper bound on queued RSTs (excess are dropped, like Linux's rate limit).
pub(super) const MAX_QUEUED_RST: usize = 1024;
const STRETCH_ACK_MAX: usize = 64 * 1024;

impl Rst {
    /// The RST answering `seg` (RFC 9293 3.10.7.1): seq = SEG.ACK if ACK set, else
    /// seq 0 and ACK = SEG.SEQ + SEG.LEN.
    pub fn answer(local: IpEndpoint, remote: IpEndpoint, seg: &TcpRepr) -> Rst {
        match seg.ack {
            Some(a) => Rst { local, remote, seq: a, ack: None },
            None => Rst { local, remote, seq: 0, ack: Some(seg.seq.wrapping_add(seg.segment_len() as u32)) },
        }
    }
}

impl Tcb {
    /// Handles one segment for this connection.
    pub fn input(&mut self, now: Instant, cfg: &TcpConfig, seg: &TcpRepr, rsts: &mut Vec<Rst>) {
        self.counters.segs_in += 1;
        match self.state {
            TcpState::Closed | TcpState::Listen => {
                if !seg.rst() {
                    rsts.push(Rst::answer(self.local, self.remote, seg));
                }
                return;
            }
            TcpState::SynSent => return self.input_syn_sent(now, cfg, seg, rsts),
            _ => {}
        }
        // Simultaneous open: the peer's SYN-ACK repeats the SYN we already took; trim it.
        // A SYN's window field is never scaled (RFC 7323 2.2), a crossed SYN-ACK's included.
        let wscale = if seg.syn() { 0 } else { self.opts.snd_wscale };
        let mut trimmed = *seg;
        if self.state == TcpState::SynReceived && seg.syn() && seg.ack.is_some() && SeqNum(seg.seq) + 1 == self.rcv.nxt
        {
            trimmed.flags &= !crate::wire::tcp::flags::SYN;
            trimmed.seq = seg.seq.wrapping_add(1);
        }
        let seg = &trimmed;
        let seq = SeqNum(seg.seq);
        let seg_len = seg.segment_len();

        // RFC 7323 5.3 PAWS, with Linux's one-tick tolerance; pure ACKs are exempt (a reordered
        // ACK is harmless and its SACK blocks are useful).
        if self.opts.ts_ok && !seg.rst() && seg_len > 0 {
            if let Some((tsval, _)) = seg.timestamp {
                if (self.opts.ts_recent.wrapping_sub(tsval) as i32) > 1 && self.state != TcpState::SynReceived {
                    self.ack.now = true;
                    self.dup_received(seq, seq + seg_len);
                    return;
                }
            }
        }

        if self.state == TcpState::SynReceived && seg.syn() && seg.ack.is_none() && seq + 1 == self.rcv.nxt {
            // Retransmitted SYN: send the SYN-ACK again.
            self.snd.nxt = self.snd.iss;
            return;
        }
        // First: sequence number acceptability (RFC 9293 3.10.7.4), in Linux's form
        // (tcp_sequence): the segment may start as far back as RCV.NXT at our last
        // advertisement, so a slightly old ACK still updates SND.UNA; wholly duplicate data is
        // trimmed later and answered with a duplicate ACK.
        let wnd = self.rx.free().max(self.rcv.adv.since(self.rcv.nxt));
        let acceptable = seq + seg_len >= self.rcv.wup.min(self.rcv.nxt) && seq <= self.rcv.nxt + wnd;
        if !acceptable {
            if seg.rst() {
                return;
            }
            if self.state == TcpState::TimeWait && seg.fin() {
                self.timers.timewait_at = Some(now + cfg.msl * 2);
            }
            if seg_len > 0 && !seg.syn() {
                self.ack.now = true; // duplicate data: the duplicate ACK matters to the sender
                self.dup_received(seq, seq + seg_len);
            } else {
                self.oow_ack(now);
            }
            return;
        }

        // Second: RST (RFC 5961 3.2).
        if seg.rst() {
            if self.state == TcpState::TimeWait {
                return; // RFC 1337: no TIME-WAIT assassination
            }
            if seq != self.rcv.nxt {
                self.oow_ack(now); // challenge ACK
                return;
            }
            match self.state {
                TcpState::SynReceived => {
                    let e = if self.active { Some(Error::ConnectionRefused) } else { None };
                    self.terminate(e);
                }
                // Linux tcp_reset: EPIPE once the peer's FIN was seen, else ECONNRESET.
                TcpState::CloseWait => self.terminate(Some(Error::BrokenPipe)),
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2 => {
                    self.terminate(Some(Error::ConnectionReset))
                }
                _ => self.terminate(None),
            }
            return;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 4.2): challenge ACK.
        if seg.syn() {
            self.oow_ack(now);
            return;
        }

        // Fifth: ACK.
        let Some(ack) = seg.ack else { return };
        let ack = SeqNum(ack);
        if self.state == TcpState::SynReceived {
            if self.snd.una < ack && ack <= self.snd.max {
                self.syn_rto_fallback();
                self.set_state(TcpState::Established);
                self.ever_connected = true;
                self.snd.wnd = (seg.window as u32) << wscale;
                self.snd.max_wnd = self.snd.max_wnd.max(self.snd.wnd);
                self.snd.wl1 = seq;
                self.snd.wl2 = ack;
                if self.fin_queued {
                    self.set_state(TcpState::FinWait1);
                }
            } else {
                rsts.push(Rst { local: self.local, remote: self.remote, seq: ack.0, ack: None });
                return;
            }
        }
        if ack > self.snd.max {
            self.oow_ack(now); // RFC 5961 5.2: ACK of unsent data
            return;
        }
        let max_wnd = self.snd.max_wnd.max(65535) as usize;
        if ack < self.snd.una - max_wnd {
            self.oow_ack(now); // challenge ACK
            return;
        }
        // RFC 7323 4.3, once the segment is known valid (Linux tcp_replace_ts_recent): take
        // TSval if the segment starts at or before Last.ACK.sent, so that with delayed ACKs
        // the echo is the earliest unacknowledged segment's.
        if let Some((tsval, _)) = seg.timestamp {
            if self.opts.ts_ok && seq <= self.rcv.wup && (tsval.wrapping_sub(self.opts.ts_recent) as i32) >= 0 {
                self.opts.ts_recent = tsval;
            }
        }
        self.process_ack(now, seg, seq, ack, wscale);

        match self.state {
            TcpState::FinWait1 if self.fin_acked => {
                self.set_state(TcpState::FinWait2);
                if self.orphan {
                    self.timers.timewait_at = Some(now + cfg.msl * 2);
                }
            }
            TcpState::Closing if self.fin_acked => self.enter_time_wait(now, cfg.msl),
            TcpState::LastAck if self.fin_acked => {
                self.terminate(None);
                return;
            }
            _ => {}
        }

        // Seventh: segment text.
        if !seg.payload.is_empty() {
            match self.state {
                TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2 => {
                    let reading_shut = self.orphan || (self.rx_shut && self.state != TcpState::Established);
                    if reading_shut && seq + seg.payload.len() > self.rcv.nxt {
                        // New data for a closed socket, or after shutdown(SHUT_RDWR) in
                        // FIN-WAIT: Linux answers RST (RFC 1122 4.2.2.13, RFC 2525 2.17;
                        // tcp_rcv_state_process) and resets the connection; a duplicate of
                        // data already received is only ACKed.
                        if !self.orphan {
                            self.error = Some(Error::ConnectionReset);
                            self.reset = true;
                        }
                        self.send_rst = true;
                        return;
                    }
                    if let (Some((_, tsecr)), false) = (seg.timestamp, seg.payload.is_empty()) {
                        self.rx_rtt_sample(now, tsecr);
                    }
                    self.receive_data(now, cfg, seq, seg.payload);
                }
                _ => {
                    self.ack.now = true;
                    self.dup_received(seq, seq + seg.payload.len());
                }
            }
        }

        // Eighth: FIN.
        if seg.fin() {
            let fs = seq + seg.payload.len();
            match self.state {
                TcpState::TimeWait => {
                    self.ack.now = true;
                    self.timers.timewait_at = Some(now + cfg.msl * 2);
                }
                TcpState::CloseWait | TcpState::Closing | TcpState::LastAck => self.ack.now = true,
                _ => {
                    if fs >= self.rcv.nxt {
                        self.rx_fin = Some(fs);
                    }
                }
            }
        }
        self.check_fin(now, cfg);
    }

    fn input_syn_sent(&mut self, now: Instant, cfg: &TcpConfig, seg: &TcpRepr, rsts: &mut Vec<Rst>) {
        if let Some(a) = seg.ack {
            let a = SeqNum(a);
            if a <= self.snd.iss || a > self.snd.max {
                if !seg.rst() {
                    rsts.push(Rst { local: self.local, remote: self.remote, seq: a.0, ack: None });
                }
                return;
            }
        }
        if seg.rst() {
            if seg.ack.is_some() {
                self.terminate(Some(Error::ConnectionRefused));
            }
            return;
        }
        if !seg.syn() {
            return;
        }
        let seq = SeqNum(seg.seq);
        self.rcv.irs = seq;
        self.rcv.nxt = seq + 1;
        self.rcv.adv = self.rcv.nxt;
        self.rcv.wup = self.rcv.nxt;
        self.take_syn_options(seg);
        self.cc.set_mss(self.eff_mss() as u16);
        if let Some(a) = seg.ack {
            let a = SeqNum(a);
            self.snd.una = a;
            if let Some((s, t)) = self.rtt_probe.take() {
                if a >= s {
                    self.rtt.sample(now - t);
                }
            }
            self.snd.wnd = seg.window as u32; // never scaled in a SYN (RFC 7323 2.2)
            self.snd.max_wnd = self.snd.wnd;
            self.snd.wl1 = seq;
            self.snd.wl2 = a;
            self.timers.rto_at = None;
            self.syn_rto_fallback();
            self.timers.backoff = 0;
            self.timers.retries = 0;
            self.timers.retrans_stamp = None;
            self.timers.last_rx = now;
            self.set_state(TcpState::Established);
            self.ever_connected = true;
            if cfg.handshake_ack_hold.is_zero() || !self.ack.may_hold || self.fin_queued {
                self.ack.now = true;
            } else {
                // RFC 9293 3.5 lets the third segment carry data: held briefly, the ACK
                // leaves with the program's first bytes (any segment sent carries it).
                self.ack.delack_at = Some(now + cfg.handshake_ack_hold);
                self.ack.holding = true;
            }
            if self.fin_queued {
                self.set_state(TcpState::FinWait1);
            }
        } else {
            // Simultaneous open (RFC 9293 3.5 figure 8): SYN-ACK with our ISN.
            self.set_state(TcpState::SynReceived);
            self.snd.wnd = seg.window as u32;
            self.snd.wl1 = seq;
            self.snd.nxt = self.snd.iss;
            self.timers.rto_at = None;
        }
    }

    /// An ACK answering an out-of-window or challenge-worthy segment, at most one per 500 ms
    /// (RFC 5961 7, Linux tcp_oow_rate_limited): two ends must not ping-pong ACKs.
    fn oow_ack(&mut self, now: Instant) {
        let limit = crate::time::Duration::from_millis(500);
        if self.ack.last_oow.is_none_or(|t| now - t >= limit) {
            self.ack.last_oow = Some(now);
            self.ack.now = true;
            self.tr_ack_why(crate::trace::Reason::ChallengeAck);
        }
    }

    /// Records the peer's SYN options (RFC 9293 3.7.1 MSS, RFC 7323, RFC 2018).
    pub fn take_syn_options(&mut self, seg: &TcpRepr) {
        self.opts.snd_mss = seg.mss.unwrap_or(536).max(64);
        if self.opts.user_mss > 0 {
            self.opts.snd_mss = self.opts.snd_mss.min(self.opts.user_mss); // Linux mss_clamp
        }
        match seg.window_scale {
            Some(ws) => self.opts.snd_wscale = ws.min(14),
            None => {
                self.opts.snd_wscale = 0;
                self.opts.rcv_wscale = 0;
            }
        }
        if let Some((tsval, _)) = seg.timestamp {
            self.opts.ts_ok = true;
            self.opts.ts_recent = tsval;
        } else {
            self.opts.ts_ok = false;
        }
        self.opts.sack_ok = seg.sack_permitted;
    }

    /// RFC 9293 3.10.7.4 fifth step for synchronized states, plus RTT, congestion control,
    /// fast retransmit (RFC 5681 3.2) and NewReno partial ACKs (RFC 6582).
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr, seq: SeqNum, ack: SeqNum, wscale: u8) {
        let mut window_changed = false;
        // An ACK pushes what MSG_MORE held, under Nagle's rule alone (Linux
        // tcp_data_snd_check after tcp_ack).
        self.more = false;
        if ack >= self.snd.una {
            // The peer is alive (Linux tcp_ack: icsk_probes_out, rcv_tstamp). Only acceptable
            // segments count: junk outside the window must not keep a dead peer's keepalive.
            self.timers.probes_out = 0;
            self.timers.last_rx = now;
            self.timers.keepalive.probes = 0;
        }
        if self.snd.wl1 < seq || (self.snd.wl1 == seq && self.snd.wl2 <= ack) {
            let w = (seg.window as u32) << wscale;
            window_changed = w != self.snd.wnd;
            if w > self.snd.wnd {
                self.changed = true;
            }
            self.snd.wnd = w;
            self.snd.max_wnd = self.snd.max_wnd.max(w);
            self.snd.wl1 = seq;
            self.snd.wl2 = ack;
            if w > 0 {
                self.timers.persist_at = None;
                self.timers.persist_backoff = 0;
                self.timers.probes_stamp = None;
            }
        }
        let ecr = seg.timestamp.filter(|_| self.opts.ts_ok).map(|t| t.1);
        if self.opts.sack_ok {
            self.rack_dsack(ack, &seg.sack);
        }
        let new_sack = self.opts.sack_ok && self.sack_update(now, ack, &seg.sack, ecr, ack <= self.snd.max);
        let pure = seg.payload.is_empty() && !seg.syn() && !seg.fin() && !window_changed && !new_sack;
        self.tlp_process_ack(ack, &seg.sack, ack > self.snd.una, pure);

        if ack > self.snd.una {
            let acked = ack.since(self.snd.una);
            if ack > self.snd.tx_base {
                let n = ack.since(self.snd.tx_base).min(self.tx.len());
                self.tx.discard(n);
                self.snd.tx_base += n;
                self.counters.bytes_acked += n as u64;
                self.delivery.on_ack(now, self.counters.bytes_acked, self.rtt.srtt);
            }
            if let Some(f) = self.fin_seq() {
                if ack > f {
                    self.fin_acked = true;
                }
            }
            self.snd.una = ack;
            if self.snd.nxt < ack {
                self.snd.nxt = ack;
            }
            self.loss.scoreboard.prune(ack);
            self.loss.sent.prune(ack);
            self.mark_trimmed_sacked();
            self.rack.tlp_used = false;
            self.rack.pto_at = None;
            if let Some((s, t)) = self.rtt_probe {
                if ack >= s {
                    self.rtt.sample(now - t);
                    self.rtt_probe = None;
                }
            }
            self.timers.backoff = 0;
            self.timers.retries = 0;
            self.timers.retrans_stamp = None;
            self.timers.rto_at = if self.snd.una == self.snd.max { None } else { Some(now + self.rtt.rto) };
            if self.loss.in_recovery {
                if ack >= self.loss.recover {
                    self.loss.in_recovery = false;
                    self.loss.dupacks = 0;
                    self.rack_recovery_done();
                    if !self.undo_if_delayed(ecr) {
                        let flight = self.snd.max.since(self.snd.una) as u32;
                        self.cc.on_recovery_exit(flight);
                    }
                } else {
                    // Partial ACK (RFC 6582 3.2 step 4): the next hole is lost too.
                    if !self.opts.sack_ok || self.loss.scoreboard.is_empty() {
                        self.loss.rexmit_head = true;
                        self.loss.dupacks = 0;
                    }
                }
            } else {
                self.loss.dupacks = 0;
                if self.cc.is_cwnd_limited() {
                    self.cc.on_ack(now, acked as u32, self.rtt.srtt);
                    self.autotune_tx();
                }
            }
            self.changed = true;
        } else if ack == self.snd.una
            && self.snd.max > self.snd.una
            && ((seg.payload.is_empty() && !seg.syn() && !seg.fin() && !window_changed) || new_sack)
        {
            // RFC 5681 duplicate ACK (or one carrying new SACK information).
            self.loss.dupacks += 1;
        }
        self.check_loss(now);
        #[cfg(test)]
        self.check_marks().unwrap();
    }

    /// Stores in-window data in the receive ring, reassembling out-of-order pieces.
    fn receive_data(&mut self, now: Instant, cfg: &TcpConfig, seq: SeqNum, payload: &[u8]) {
        let mut start = seq;
        let mut data = payload;
        if start < self.rcv.nxt {
            self.dup_received(start, start + data.len()); // the duplicate ACK is owed at once
            let skip = self.rcv.nxt.since(start);
            if skip >= data.len() {
                return;
            }
            data = &data[skip..];
            start = self.rcv.nxt;
        }
        let room = self.rx.free();
        let off = start.since(self.rcv.nxt);
        if off >= room {
            self.ack.now = true;
            return;
        }
        if data.len() > room - off {
            data = &data[..room - off];
        }
        let full = data.len() >= self.opts.rcv_mss as usize * 3 / 4 || data.len() >= self.eff_mss();
        if off == 0 {
            let had_ooo = !self.assembler.is_empty();
            self.rx.write_at(self.rx.len(), data);
            let end = self.assembler.advance(start + data.len());
            let n = end.since(self.rcv.nxt);
            self.rx.commit(n);
            self.rcv.nxt = end;
            self.counters.bytes_received += n as u64;
            self.changed = true;
            if had_ooo {
                self.ack.now = true; // RFC 5681 4.2: ACK at once when a hole is filled
            } else {
                if full {
                    self.ack.segs_unacked += 1;
                }
                // Also by bytes, as Linux (__tcp_ack_snd_check): more than one full segment's
                // worth unacknowledged, e.g. one coalesced (GRO/offload) super-segment.
                let seg_mss = (self.opts.rcv_mss as usize).saturating_sub(if self.opts.ts_ok { 12 } else { 0 }).max(1);
                if self.ack.segs_unacked >= 2 || self.rcv.nxt.since(self.rcv.wup) > seg_mss {
                    // RFC 5681 4.2 asks for an ACK every second full-sized segment. When a burst
                    // arrives before the next dispatch, one ACK may cover at most 64 KiB (as
                    // Linux's GRO): the peer's ACK clock is kept without an ACK per two
                    // segments, which would cost a device write each.
                    let base = self.ack.points.last().copied().unwrap_or(self.rcv.wup);
                    if self.rcv.nxt.since(base) >= STRETCH_ACK_MAX && self.ack.points.len() < 64 {
                        self.ack.points.push(self.rcv.nxt);
                    }
                    self.ack.now = true;
                    self.ack.segs_unacked = 0;
                } else if self.ack.delack_at.is_none() {
                    self.ack.delack_at = Some(now + cfg.delayed_ack.min(crate::time::Duration::from_millis(200)));
                }
            }
        } else {
            if let Some((s, e)) = self.assembler.held(start, start + data.len()) {
                self.note_dsack(s, e);
            }
            if self.assembler.add(start, start + data.len()) {
                self.rx.write_at(self.rx.len() + off, data);
            }
            self.ack.now = true; // out of order: duplicate ACK with SACK at once
            self.tr_ack_why(crate::trace::Reason::DupAck);
        }
    }

    /// A segment `[start, end)` that may repeat what was received: the part below RCV.NXT is
    /// a duplicate to report (Linux tcp_send_dupack), at once (the sender retransmitted: it
    /// is recovering and waits for word).
    fn dup_received(&mut self, start: SeqNum, end: SeqNum) {
        if start < self.rcv.nxt {
            self.note_dsack(start, end.min(self.rcv.nxt));
            self.ack.now = true;
        }
    }

    /// Reports `[start, end)` as received twice in the next ACK (RFC 2883). One block per
    /// ACK: a second duplicate before it leaves extends the first when they touch, else goes
    /// unreported (Linux tcp_dsack_extend).
    fn note_dsack(&mut self, start: SeqNum, end: SeqNum) {
        if !self.opts.sack_ok || end <= start {
            return;
        }
        self.ack.dsack = match self.ack.dsack {
            None => Some((start, end)),
            Some((s, e)) if start <= e && s <= end => Some((s.min(start), e.max(end))),
            keep => keep,
        };
    }

    /// Consumes the peer's FIN once all data before it arrived.
    fn check_fin(&mut self, now: Instant, cfg: &TcpConfig) {
        let Some(fs) = self.rx_fin else { return };
        if self.peer_fin || fs != self.rcv.nxt {
            return;
        }
        self.rcv.nxt = fs + 1;
        self.peer_fin = true;
        self.ack.now = true;
        self.changed = true;
        match self.state {
            TcpState::SynReceived | TcpState::Established => self.set_state(TcpState::CloseWait),
            TcpState::FinWait1 => {
                if self.fin_acked {
                    self.enter_time_wait(now, cfg.msl);
                } else {
                    self.set_state(TcpState::Closing);
                }
            }
            TcpState::FinWait2 => self.enter_time_wait(now, cfg.msl),
            _ => {}
        }
    }
}
