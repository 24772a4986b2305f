//! Timers of one connection: retransmission (RFC 6298 5.4-5.7 with exponential backoff and
//! the retry limits), delayed ACK (RFC 1122 4.2.3.2), persist (RFC 9293 3.8.6.1), keepalive
//! (RFC 1122 4.2.3.6), TIME-WAIT and the orphaned FIN-WAIT-2 timeout.
use super::tcb::Tcb;
use super::{TcpConfig, TcpState};
use crate::error::Error;
use crate::time::{earliest, Instant};
use crate::trace::{Reason, TimerKind};

impl Tcb {
    fn keepalive_at(&self) -> Option<Instant> {
        if !self.keepalive.on
            || !matches!(self.state, TcpState::Established | TcpState::CloseWait)
            || self.snd_una != self.snd_max
        {
            return None;
        }
        Some(self.last_rx + self.keepalive.idle + self.keepalive.intvl * self.keepalive.probes)
    }

    /// The earliest pending timer.
    pub fn next_timer(&self) -> Option<Instant> {
        let t = earliest(self.rto_at, self.delack_at);
        let t = earliest(t, self.persist_at);
        let t = earliest(t, self.timewait_at);
        let t = earliest(t, self.rack_at);
        let t = earliest(t, self.pto_at);
        earliest(t, self.keepalive_at())
    }

    /// Runs every timer due at `now`. Returns true if any fired.
    pub fn on_timers(&mut self, now: Instant, cfg: &TcpConfig) -> bool {
        let mut fired = false;
        if self.timewait_at.is_some_and(|t| t <= now) {
            self.timewait_at = None;
            if matches!(self.state, TcpState::TimeWait | TcpState::FinWait2) {
                self.tr_timer(TimerKind::TimeWait);
                self.terminate(None);
                return true;
            }
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
            self.tr_timer(TimerKind::DelayedAck);
            self.tr_ack_why(Reason::DelayedAck);
            fired = true;
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.tr_timer(TimerKind::Rto);
            self.on_rto(now, cfg);
            fired = true;
        }
        if self.rack_at.is_some_and(|t| t <= now) {
            self.rack_at = None;
            self.tr_timer(TimerKind::Rack);
            self.check_loss(now);
            fired = true;
        }
        if self.pto_at.is_some_and(|t| t <= now) {
            self.pto_at = None;
            if !self.in_recovery && self.snd_una != self.snd_max && !self.tlp_used {
                self.tlp_pending = true;
                self.tlp_used = true;
                self.tr_timer(TimerKind::Tlp);
                fired = true;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.tr_timer(TimerKind::Persist);
            self.persist_backoff = (self.persist_backoff + 1).min(16);
            self.probe = true;
            fired = true;
        }
        if self.keepalive_at().is_some_and(|t| t <= now) {
            if self.keepalive.probes >= self.keepalive.cnt {
                self.terminate(Some(Error::TimedOut));
                return true;
            }
            self.keepalive.probes += 1;
            self.tr_timer(TimerKind::KeepAlive);
            self.probe = true;
            fired = true;
        }
        fired
    }

    /// RFC 6298 5.4-5.7 and RFC 5681 3.1 on a retransmission timeout.
    fn on_rto(&mut self, now: Instant, cfg: &TcpConfig) {
        let _ = now;
        if self.snd_una == self.snd_max {
            return;
        }
        self.retries += 1;
        self.counters.rto_expirations += 1;
        let syn = matches!(self.state, TcpState::SynSent | TcpState::SynReceived);
        let limit = if syn { cfg.syn_retries } else { cfg.max_retries };
        if self.retries > limit {
            let e = if self.state == TcpState::SynReceived && !self.active { None } else { Some(Error::TimedOut) };
            self.terminate(e);
            return;
        }
        self.backoff += 1;
        self.rtt_probe = None; // Karn's rule
        if syn {
            self.snd_nxt = self.iss;
            return;
        }
        let flight = self.snd_max.since(self.snd_una) as u32;
        self.cc.on_rto(flight, self.backoff == 1);
        self.in_recovery = false;
        self.dupacks = 0;
        self.recover = self.snd_max;
        self.rexmit_head = false;
        self.tlp_pending = false;
        self.pto_at = None;
        self.rack_at = None;
        self.rack_xmit = None;
        // Go back N from snd_una (SACKed ranges are skipped when resending).
        self.snd_nxt = self.snd_una;
    }
}
