//! Segment arrival for connections (RFC 9293 3.10.7.3 SYN-SENT and 3.10.7.4 other states),
//! with RFC 5961 challenge ACKs, RFC 7323 PAWS, RFC 5681/6582 duplicate-ACK handling and
//! RFC 2018 SACK processing. Listeners and closed ports are handled in `mod.rs`.
use super::seq::SeqNum;
use super::tcb::Tcb;
use super::{TcpConfig, TcpState};
use crate::error::Error;
use crate::time::Instant;
use crate::wire::tcp::TcpRepr;

/// A reset to send for a segment that has no connection to answer it (RFC 9293 3.10.7.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Rst {
    pub local: std::net::SocketAddrV4,
    pub remote: std::net::SocketAddrV4,
    pub seq: u32,
    pub ack: Option<u32>,
}

/// Most bytes one ACK may acknowledge when a burst is processed at once.
const STRETCH_ACK_MAX: usize = 64 * 1024;

impl Rst {
    /// The RST answering `seg` (RFC 9293 3.10.7.1): seq = SEG.ACK if ACK set, else
    /// seq 0 and ACK = SEG.SEQ + SEG.LEN.
    pub fn answer(local: std::net::SocketAddrV4, remote: std::net::SocketAddrV4, seg: &TcpRepr) -> Rst {
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
            TcpState::SynSent => return self.input_syn_sent(now, seg, rsts),
            _ => {}
        }
        // Simultaneous open: the peer's SYN-ACK repeats the SYN we already took; trim it.
        // A SYN's window field is never scaled (RFC 7323 2.2), a crossed SYN-ACK's included.
        let wscale = if seg.syn() { 0 } else { self.snd_wscale };
        let mut trimmed = *seg;
        if self.state == TcpState::SynReceived && seg.syn() && seg.ack.is_some() && SeqNum(seg.seq) + 1 == self.rcv_nxt
        {
            trimmed.flags &= !crate::wire::tcp::flags::SYN;
            trimmed.seq = seg.seq.wrapping_add(1);
        }
        let seg = &trimmed;
        let seq = SeqNum(seg.seq);
        let seg_len = seg.segment_len();

        // RFC 7323 5.3 PAWS, with Linux's one-tick tolerance; pure ACKs are exempt (a reordered
        // ACK is harmless and its SACK blocks are useful).
        if self.ts_ok && !seg.rst() && seg_len > 0 {
            if let Some((tsval, _)) = seg.timestamp {
                if (self.ts_recent.wrapping_sub(tsval) as i32) > 1 && self.state != TcpState::SynReceived {
                    self.ack_now = true;
                    return;
                }
            }
        }

        if self.state == TcpState::SynReceived && seg.syn() && seg.ack.is_none() && seq + 1 == self.rcv_nxt {
            // Retransmitted SYN: send the SYN-ACK again.
            self.snd_nxt = self.iss;
            return;
        }
        // First: sequence number acceptability (RFC 9293 3.10.7.4), in Linux's form
        // (tcp_sequence): the segment may start as far back as RCV.NXT at our last
        // advertisement, so a slightly old ACK still updates SND.UNA; wholly duplicate data is
        // trimmed later and answered with a duplicate ACK.
        let wnd = self.rx.free().max(self.rcv_adv.since(self.rcv_nxt));
        let wnd = if self.rx_shut { self.rx.capacity() } else { wnd };
        let acceptable = seq + seg_len >= self.rcv_wup.min(self.rcv_nxt) && seq <= self.rcv_nxt + wnd;
        if !acceptable {
            if seg.rst() {
                return;
            }
            if self.state == TcpState::TimeWait && seg.fin() {
                self.timewait_at = Some(now + cfg.msl * 2);
            }
            if seg_len > 0 && !seg.syn() {
                self.ack_now = true; // duplicate data: the duplicate ACK matters to the sender
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
            if seq != self.rcv_nxt {
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
            if self.snd_una < ack && ack <= self.snd_max {
                self.syn_rto_fallback();
                self.set_state(TcpState::Established);
                self.ever_connected = true;
                self.snd_wnd = (seg.window as u32) << wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seq;
                self.snd_wl2 = ack;
                if self.fin_queued {
                    self.set_state(TcpState::FinWait1);
                }
            } else {
                rsts.push(Rst { local: self.local, remote: self.remote, seq: ack.0, ack: None });
                return;
            }
        }
        if ack > self.snd_max {
            self.oow_ack(now); // RFC 5961 5.2: ACK of unsent data
            return;
        }
        let max_wnd = self.max_snd_wnd.max(65535) as usize;
        if ack < self.snd_una - max_wnd {
            self.oow_ack(now); // challenge ACK
            return;
        }
        // RFC 7323 4.3, once the segment is known valid (Linux tcp_replace_ts_recent): take
        // TSval if the segment starts at or before Last.ACK.sent, so that with delayed ACKs
        // the echo is the earliest unacknowledged segment's.
        if let Some((tsval, _)) = seg.timestamp {
            if self.ts_ok && seq <= self.rcv_wup && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
            }
        }
        self.process_ack(now, seg, seq, ack, wscale);

        match self.state {
            TcpState::FinWait1 if self.fin_acked => {
                self.set_state(TcpState::FinWait2);
                if self.orphan {
                    self.timewait_at = Some(now + cfg.msl * 2);
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
                    if self.orphan && seq + seg.payload.len() > self.rcv_nxt {
                        // New data for a closed socket: Linux answers RST (RFC 2525 2.17);
                        // a duplicate of data already received is only ACKed.
                        self.send_rst = true;
                        return;
                    }
                    self.receive_data(now, cfg, seq, seg.payload);
                }
                _ => self.ack_now = true,
            }
        }

        // Eighth: FIN.
        if seg.fin() {
            let fs = seq + seg.payload.len();
            match self.state {
                TcpState::TimeWait => {
                    self.ack_now = true;
                    self.timewait_at = Some(now + cfg.msl * 2);
                }
                TcpState::CloseWait | TcpState::Closing | TcpState::LastAck => self.ack_now = true,
                _ => {
                    if fs >= self.rcv_nxt {
                        self.rx_fin = Some(fs);
                    }
                }
            }
        }
        self.check_fin(now, cfg);
    }

    fn input_syn_sent(&mut self, now: Instant, seg: &TcpRepr, rsts: &mut Vec<Rst>) {
        if let Some(a) = seg.ack {
            let a = SeqNum(a);
            if a <= self.iss || a > self.snd_max {
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
        self.irs = seq;
        self.rcv_nxt = seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.rcv_wup = self.rcv_nxt;
        self.take_syn_options(seg);
        self.cc.set_mss(self.eff_mss() as u16);
        if let Some(a) = seg.ack {
            let a = SeqNum(a);
            self.snd_una = a;
            if let Some((s, t)) = self.rtt_probe.take() {
                if a >= s {
                    self.rtt.sample(now - t);
                }
            }
            self.snd_wnd = seg.window as u32; // never scaled in a SYN (RFC 7323 2.2)
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seq;
            self.snd_wl2 = a;
            self.rto_at = None;
            self.syn_rto_fallback();
            self.backoff = 0;
            self.retries = 0;
            self.last_rx = now;
            self.set_state(TcpState::Established);
            self.ever_connected = true;
            self.ack_now = true;
            if self.fin_queued {
                self.set_state(TcpState::FinWait1);
            }
        } else {
            // Simultaneous open (RFC 9293 3.5 figure 8): SYN-ACK with our ISN.
            self.set_state(TcpState::SynReceived);
            self.snd_wnd = seg.window as u32;
            self.snd_wl1 = seq;
            self.snd_nxt = self.iss;
            self.rto_at = None;
        }
    }

    /// An ACK answering an out-of-window or challenge-worthy segment, at most one per 500 ms
    /// (RFC 5961 7, Linux tcp_oow_rate_limited): two ends must not ping-pong ACKs.
    fn oow_ack(&mut self, now: Instant) {
        let limit = crate::time::Duration::from_millis(500);
        if self.last_oow_ack.is_none_or(|t| now - t >= limit) {
            self.last_oow_ack = Some(now);
            self.ack_now = true;
            self.tr_ack_why(crate::trace::Reason::ChallengeAck);
        }
    }

    /// Records the peer's SYN options (RFC 9293 3.7.1 MSS, RFC 7323, RFC 2018).
    pub fn take_syn_options(&mut self, seg: &TcpRepr) {
        self.snd_mss = seg.mss.unwrap_or(536).max(64);
        match seg.window_scale {
            Some(ws) => self.snd_wscale = ws.min(14),
            None => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        if let Some((tsval, _)) = seg.timestamp {
            self.ts_ok = true;
            self.ts_recent = tsval;
        } else {
            self.ts_ok = false;
        }
        self.sack_ok = seg.sack_permitted;
    }

    /// RFC 9293 3.10.7.4 fifth step for synchronized states, plus RTT, congestion control,
    /// fast retransmit (RFC 5681 3.2) and NewReno partial ACKs (RFC 6582).
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr, seq: SeqNum, ack: SeqNum, wscale: u8) {
        let mut window_changed = false;
        if ack >= self.snd_una {
            // The peer is alive (Linux tcp_ack: icsk_probes_out, rcv_tstamp). Only acceptable
            // segments count: junk outside the window must not keep a dead peer's keepalive.
            self.probes_out = 0;
            self.last_rx = now;
            self.keepalive.probes = 0;
        }
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) {
            let w = (seg.window as u32) << wscale;
            window_changed = w != self.snd_wnd;
            if w > self.snd_wnd {
                self.changed = true;
            }
            self.snd_wnd = w;
            self.max_snd_wnd = self.max_snd_wnd.max(w);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if w > 0 {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
        let ecr = seg.timestamp.filter(|_| self.ts_ok).map(|t| t.1);
        let new_sack = self.sack_ok && self.sack_update(now, ack, &seg.sack, ecr, ack <= self.snd_max);
        let pure = seg.payload.is_empty() && !seg.syn() && !seg.fin() && !window_changed && !new_sack;
        self.tlp_process_ack(ack, &seg.sack, ack > self.snd_una, pure);

        if ack > self.snd_una {
            let acked = ack.since(self.snd_una);
            if ack > self.tx_base {
                let n = ack.since(self.tx_base).min(self.tx.len());
                self.tx.discard(n);
                self.tx_base += n;
                self.counters.bytes_acked += n as u64;
                self.delivery.on_ack(now, self.counters.bytes_acked, self.rtt.srtt);
            }
            if let Some(f) = self.fin_seq() {
                if ack > f {
                    self.fin_acked = true;
                }
            }
            self.snd_una = ack;
            if self.snd_nxt < ack {
                self.snd_nxt = ack;
            }
            self.scoreboard.prune(ack);
            self.sent.prune(ack);
            self.tlp_used = false;
            self.pto_at = None;
            if let Some((s, t)) = self.rtt_probe {
                if ack >= s {
                    self.rtt.sample(now - t);
                    self.rtt_probe = None;
                }
            }
            self.backoff = 0;
            self.retries = 0;
            self.rto_at = if self.snd_una == self.snd_max { None } else { Some(now + self.rtt.rto) };
            if self.in_recovery {
                if ack >= self.recover {
                    self.in_recovery = false;
                    self.dupacks = 0;
                    let flight = self.snd_max.since(self.snd_una) as u32;
                    self.cc.on_recovery_exit(flight);
                } else {
                    // Partial ACK (RFC 6582 3.2 step 4): the next hole is lost too.
                    if !self.sack_ok || self.scoreboard.is_empty() {
                        self.rexmit_head = true;
                        self.dupacks = 0;
                    }
                }
            } else {
                self.dupacks = 0;
                if self.cc.is_cwnd_limited() {
                    self.cc.on_ack(now, acked as u32, self.rtt.srtt);
                }
            }
            self.changed = true;
        } else if ack == self.snd_una
            && self.snd_max > self.snd_una
            && ((seg.payload.is_empty() && !seg.syn() && !seg.fin() && !window_changed) || new_sack)
        {
            // RFC 5681 duplicate ACK (or one carrying new SACK information).
            self.dupacks += 1;
        }
        self.check_loss(now);
        #[cfg(test)]
        self.check_marks().unwrap();
    }

    /// Stores in-window data in the receive ring, reassembling out-of-order pieces.
    fn receive_data(&mut self, now: Instant, cfg: &TcpConfig, seq: SeqNum, payload: &[u8]) {
        let mut start = seq;
        let mut data = payload;
        if start < self.rcv_nxt {
            let skip = self.rcv_nxt.since(start);
            if skip >= data.len() {
                self.ack_now = true;
                return;
            }
            data = &data[skip..];
            start = self.rcv_nxt;
        }
        let room = if self.rx_shut { usize::MAX } else { self.rx.free() };
        let off = start.since(self.rcv_nxt);
        if off >= room {
            self.ack_now = true;
            return;
        }
        if data.len() > room - off {
            data = &data[..room - off];
        }
        let full = data.len() >= self.rcv_mss as usize * 3 / 4 || data.len() >= self.eff_mss();
        if off == 0 {
            let had_ooo = !self.assembler.is_empty();
            if !self.rx_shut {
                self.rx.write_at(self.rx.len(), data);
            }
            let end = self.assembler.advance(start + data.len());
            let n = end.since(self.rcv_nxt);
            if !self.rx_shut {
                self.rx.commit(n);
            }
            self.rcv_nxt = end;
            self.counters.bytes_received += n as u64;
            self.changed = true;
            if had_ooo {
                self.ack_now = true; // RFC 5681 4.2: ACK at once when a hole is filled
            } else {
                if full {
                    self.segs_unacked += 1;
                }
                // Also by bytes, as Linux (__tcp_ack_snd_check): more than one full segment's
                // worth unacknowledged, e.g. one coalesced (GRO/offload) super-segment.
                let seg_mss = (self.rcv_mss as usize).saturating_sub(if self.ts_ok { 12 } else { 0 }).max(1);
                if self.segs_unacked >= 2 || self.rcv_nxt.since(self.rcv_wup) > seg_mss {
                    // RFC 5681 4.2 asks for an ACK every second full-sized segment. When a burst
                    // arrives before the next dispatch, one ACK may cover at most 64 KiB (as
                    // Linux's GRO): the peer's ACK clock is kept without an ACK per two
                    // segments, which would cost a device write each.
                    let base = self.ack_points.last().copied().unwrap_or(self.rcv_wup);
                    if self.rcv_nxt.since(base) >= STRETCH_ACK_MAX && self.ack_points.len() < 64 {
                        self.ack_points.push(self.rcv_nxt);
                    }
                    self.ack_now = true;
                    self.segs_unacked = 0;
                } else if self.delack_at.is_none() {
                    self.delack_at = Some(now + cfg.delayed_ack.min(crate::time::Duration::from_millis(200)));
                }
            }
        } else {
            if !self.rx_shut && self.assembler.add(start, start + data.len()) {
                self.rx.write_at(self.rx.len() + off, data);
            }
            self.ack_now = true; // out of order: duplicate ACK with SACK at once
            self.tr_ack_why(crate::trace::Reason::DupAck);
        }
    }

    /// Consumes the peer's FIN once all data before it arrived.
    fn check_fin(&mut self, now: Instant, cfg: &TcpConfig) {
        let Some(fs) = self.rx_fin else { return };
        if self.peer_fin || fs != self.rcv_nxt {
            return;
        }
        self.rcv_nxt = fs + 1;
        self.peer_fin = true;
        self.ack_now = true;
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
