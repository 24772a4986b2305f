//! Timers of one connection: retransmission (RFC 6298 5.4-5.7 with exponential backoff and
//! the retry limits), delayed ACK (RFC 1122 4.2.3.2), persist (RFC 9293 3.8.6.1), keepalive
//! (RFC 1122 4.2.3.6), TIME-WAIT and the orphaned FIN-WAIT-2 timeout.
use super::tcb::Tcb;
use super::types::{TcpConfig, TcpState};
use crate::error::Error;
use crate::time::{earliest, Instant};
use crate::trace::{Reason, TimerKind};

impl Tcb {
    fn keepalive_at(&self) -> Option<Instant> {
        if !self.timers.keepalive.on
            || !matches!(self.state, TcpState::Established | TcpState::CloseWait)
            || self.snd.una != self.snd.max
        {
            return None;
        }
        Some(
            self.timers.last_rx
                + self.timers.keepalive.idle
                + self.timers.keepalive.intvl * self.timers.keepalive.probes,
        )
    }

    /// The earliest pending timer.
    pub fn next_timer(&self) -> Option<Instant> {
        let t = earliest(self.timers.rto_at, self.ack.delack_at);
        let t = earliest(t, self.timers.persist_at);
        let t = earliest(t, self.timers.timewait_at);
        let t = earliest(t, self.rack.reo_at);
        let t = earliest(t, self.rack.pto_at);
        earliest(t, self.keepalive_at())
    }

    /// Runs every timer due at `now`. Returns true if any fired.
    pub fn on_timers(&mut self, now: Instant, cfg: &TcpConfig) -> bool {
        let mut fired = false;
        if self.timers.timewait_at.is_some_and(|t| t <= now) {
            self.timers.timewait_at = None;
            if matches!(self.state, TcpState::TimeWait | TcpState::FinWait2) {
                self.tr_timer(TimerKind::TimeWait);
                self.terminate(None);
                return true;
            }
        }
        if self.ack.delack_at.is_some_and(|t| t <= now) {
            self.ack.delack_at = None;
            self.ack.hold_expired = std::mem::take(&mut self.ack.holding);
            self.ack.now = true;
            self.tr_timer(TimerKind::DelayedAck);
            self.tr_ack_why(Reason::DelayedAck);
            fired = true;
        }
        if self.timers.rto_at.is_some_and(|t| t <= now) {
            self.timers.rto_at = None;
            self.tr_timer(TimerKind::Rto);
            self.on_rto(now, cfg);
            fired = true;
        }
        if self.rack.reo_at.is_some_and(|t| t <= now) {
            self.rack.reo_at = None;
            self.tr_timer(TimerKind::Rack);
            self.check_loss(now);
            fired = true;
        }
        if self.rack.pto_at.is_some_and(|t| t <= now) {
            self.rack.pto_at = None;
            if !self.loss.in_recovery
                && self.snd.una != self.snd.max
                && !self.rack.tlp_used
                && self.rack.tlp_end_seq.is_none()
            {
                self.rack.tlp_pending = true;
                self.rack.tlp_used = true;
                self.tr_timer(TimerKind::Tlp);
                fired = true;
            }
        }
        if self.timers.persist_at.is_some_and(|t| t <= now) {
            self.timers.persist_at = None;
            self.tr_timer(TimerKind::Persist);
            // TCP_USER_TIMEOUT counts from the first probe (Linux tcp_probe_timer).
            let since = *self.timers.probes_stamp.get_or_insert(now);
            if !self.timers.user_timeout.is_zero() && now - since >= self.timers.user_timeout {
                self.terminate(Some(Error::TimedOut));
                return true;
            }
            // Linux tcp_probe_timer: the count restarts with every acceptable ACK (so a peer
            // that answers is probed for ever, RFC 1122 4.2.2.17); unanswered, give up after
            // tcp_retries2, or tcp_orphan_retries once the application closed the socket.
            if self.timers.probes_out >= self.retry_limit(cfg) {
                self.terminate(Some(Error::TimedOut));
                return true;
            }
            self.timers.probes_out += 1;
            self.timers.persist_backoff = (self.timers.persist_backoff + 1).min(16);
            self.probe = true;
            fired = true;
        }
        if self.keepalive_at().is_some_and(|t| t <= now) {
            // With TCP_USER_TIMEOUT, the time since the peer was last heard from decides once a
            // probe went unanswered, not the count (Linux tcp_keepalive_timer).
            let ut = self.timers.user_timeout;
            let dead = match ut.is_zero() {
                true => self.timers.keepalive.probes >= self.timers.keepalive.cnt,
                false => self.timers.keepalive.probes > 0 && now - self.timers.last_rx >= ut,
            };
            if dead {
                self.terminate(Some(Error::TimedOut));
                return true;
            }
            self.timers.keepalive.probes += 1;
            self.tr_timer(TimerKind::KeepAlive);
            self.probe = true;
            fired = true;
        }
        fired
    }

    /// RFC 6298 5.7: the handshake completes without an RTT sample after our SYN (or SYN-ACK)
    /// timed out: the RTO starts at 3 s rather than 1 s (Linux TCP_TIMEOUT_FALLBACK).
    pub fn syn_rto_fallback(&mut self) {
        if self.timers.retries > 0 && !self.rtt.has_sample {
            self.rtt.fallback(crate::time::Duration::from_secs(3));
        }
    }

    /// Retransmissions (or unanswered probes) allowed: tcp_retries2, or tcp_orphan_retries for
    /// an orphan.
    fn retry_limit(&self, cfg: &TcpConfig) -> u32 {
        if self.orphan {
            cfg.orphan_retries.min(cfg.max_retries)
        } else {
            cfg.max_retries
        }
    }

    /// RFC 6298 5.4-5.7 and RFC 5681 3.1 on a retransmission timeout.
    fn on_rto(&mut self, now: Instant, cfg: &TcpConfig) {
        if self.snd.una == self.snd.max {
            return;
        }
        self.counters.rto_expirations += 1;
        let syn = matches!(self.state, TcpState::SynSent | TcpState::SynReceived);
        // TCP_USER_TIMEOUT (RFC 5482): counted from the first resend (or our SYN), once one was
        // made (Linux retransmits_timed_out); the RTO is clamped to it (arm_rto).
        let ut = self.timers.user_timeout;
        let stamp = *self.timers.retrans_stamp.get_or_insert(now);
        let user_expired = !ut.is_zero() && now - stamp >= ut;
        // Our SYN (Linux tcp_write_timeout): given up after TCP_SYNCNT + tcp_syn_linear_timeouts
        // resends, or once the time exponential backoff would take for TCP_SYNCNT of them has
        // passed since the SYN (tcp_model_timeout).
        let syn_sent = self.state == TcpState::SynSent;
        let syn_cnt = if self.timers.syn_cnt > 0 { self.timers.syn_cnt as u32 } else { cfg.syn_retries };
        let syn_model = model_timeout(syn_cnt, cfg.rto_initial, cfg.rto_max);
        if self.snd.wnd == 0 && !syn && !self.orphan {
            // The peer shrank its window to zero: the head resent is a window probe (Linux
            // tcp_retransmit_timer), not counted as a retry. A peer that answers is probed for
            // ever; silence for twice the maximum RTO (or the user timeout) aborts
            // (tcp_rtx_probe0_timed_out).
            let silence = if ut.is_zero() { cfg.rto_max * 2 } else { ut.min(cfg.rto_max * 2) };
            if user_expired || now - self.timers.last_rx >= silence {
                self.terminate(Some(Error::TimedOut));
                return;
            }
        } else if self.timers.retries > 0 && (user_expired || (syn_sent && now - stamp >= syn_model)) {
            self.terminate(Some(Error::TimedOut));
            return;
        } else {
            self.timers.retries += 1;
        }
        let limit = match self.state {
            TcpState::SynSent => syn_cnt + cfg.syn_linear_timeouts,
            _ if syn => cfg.syn_retries,
            _ => self.retry_limit(cfg),
        };
        if self.timers.retries > limit {
            let e = if self.state == TcpState::SynReceived && !self.active { None } else { Some(Error::TimedOut) };
            self.terminate(e);
            return;
        }
        if !(syn_sent && self.timers.retries <= cfg.syn_linear_timeouts) {
            self.timers.backoff += 1; // the first SYN timeouts are linear (tcp_syn_linear_timeouts)
        }
        self.rtt_probe = None; // Karn's rule
        if syn {
            self.snd.nxt = self.snd.iss;
            return;
        }
        let flight = self.snd.max.since(self.snd.una) as u32;
        if self.timers.backoff == 1 {
            self.undo_mark(now);
        }
        self.cc.on_rto(flight, self.timers.backoff == 1);
        self.loss.in_recovery = false;
        self.loss.dupacks = 0;
        self.loss.recover = self.snd.max;
        self.loss.rexmit_head = false;
        self.rack.tlp_pending = false;
        self.rack.pto_at = None;
        self.rack.reo_at = None;
        self.rack.xmit_ts = None;
        self.rack.tlp_end_seq = None;
        // The receiver may have reneged (RFC 2018 8, RFC 6675 5.1): forget what it SACKed, so
        // going back N from snd_una resends everything; its next ACKs SACK again what it holds.
        self.loss.scoreboard.clear();
        self.loss.sent.clear_marks();
        self.snd.nxt = self.snd.una;
    }
}

/// How long `n` retransmissions take with exponential backoff from `base`, capped at `max`
/// (Linux tcp_model_timeout).
fn model_timeout(n: u32, base: crate::time::Duration, max: crate::time::Duration) -> crate::time::Duration {
    let thresh = (max.as_micros() / base.as_micros().max(1)).max(1).ilog2();
    if n <= thresh {
        base * ((2u32 << n) - 1)
    } else {
        base * ((2u32 << thresh) - 1) + max * (n - thresh)
    }
}
