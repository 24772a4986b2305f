//! Congestion control: slow start and congestion avoidance (RFC 5681) with NewReno recovery
//! bookkeeping done by the caller (RFC 6582), and CUBIC (RFC 9438, the default). Windows are in
//! bytes.
use super::seq::SeqNum;
use super::types::Congestion;
use crate::time::{Duration, Instant};

/// CUBIC constants (RFC 9438 4.1, 4.2).
const C: f64 = 0.4;
const BETA: f64 = 0.7;

#[derive(Clone, Debug)]
pub struct CongestionControl {
    pub algo: Congestion,
    pub cwnd: u32,
    pub ssthresh: u32,
    mss: u32,
    /// Reno congestion-avoidance byte counter (RFC 5681 3.1, appropriate byte counting).
    ca_acked: u32,
    // CUBIC state, in segments and seconds.
    w_max: f64,
    k: f64,
    epoch: Option<Instant>,
    w_est: f64,
    // Congestion window validation (RFC 7661; Linux tcp_cwnd_validate).
    /// The sender was limited by cwnd (not the application or the peer's window) during the
    /// current window of data.
    cwnd_limited: bool,
    /// Largest flight (bytes) during the current window of data.
    max_flight: u32,
    /// The current window of data ends when SND.UNA passes this.
    usage_seq: SeqNum,
}

impl CongestionControl {
    /// Initial window of 10 segments (RFC 6928), ssthresh unbounded.
    pub fn new(algo: Congestion, mss: u16) -> CongestionControl {
        let mss = mss.max(64) as u32;
        CongestionControl {
            algo,
            cwnd: 10 * mss,
            ssthresh: u32::MAX,
            mss,
            ca_acked: 0,
            w_max: 0.0,
            k: 0.0,
            epoch: None,
            w_est: 0.0,
            cwnd_limited: false,
            max_flight: 0,
            usage_seq: SeqNum(0),
        }
    }
    /// TCP_CONGESTION: another algorithm from now on (Linux tcp_reinit_congestion_control):
    /// the window and threshold stay, the algorithm's own state starts afresh.
    pub fn set_algo(&mut self, algo: Congestion) {
        if algo != self.algo {
            self.algo = algo;
            self.ca_acked = 0;
            (self.w_max, self.k, self.epoch, self.w_est) = (0.0, 0.0, None, 0.0);
        }
    }
    /// After a send attempt: `limited` if cwnd stopped it; `flight` bytes now outstanding.
    pub fn validate(&mut self, snd_una: SeqNum, snd_nxt: SeqNum, flight: u32, limited: bool) {
        if snd_una >= self.usage_seq || limited || (!self.cwnd_limited && flight > self.max_flight) {
            self.cwnd_limited = limited;
            self.max_flight = flight;
            self.usage_seq = snd_nxt;
        }
    }
    /// Whether ACKs may grow cwnd (Linux tcp_is_cwnd_limited): in slow start while cwnd is below
    /// twice the largest recent flight, else only if cwnd limited sending (RFC 7661 4.3).
    pub fn is_cwnd_limited(&self) -> bool {
        if self.cwnd < self.ssthresh {
            self.cwnd < self.max_flight.saturating_mul(2)
        } else {
            self.cwnd_limited
        }
    }
    /// Restart after `idle` without sending (RFC 5681 4.1, as Linux tcp_cwnd_restart): cwnd
    /// halves per RTO idle, down to the initial window at most.
    pub fn restart(&mut self, idle: Duration, rto: Duration) {
        let restart = (10 * self.mss).min(self.cwnd);
        // Linux tcp_current_ssthresh: remember 3/4 of the window used.
        self.ssthresh = self.ssthresh.max((self.cwnd >> 1) + (self.cwnd >> 2));
        let mut cwnd = self.cwnd;
        let mut left = idle;
        while left > rto && cwnd > restart {
            left -= rto;
            cwnd >>= 1;
        }
        self.cwnd = cwnd.max(restart);
        self.epoch = None;
        self.ca_acked = 0;
    }
    pub fn set_mss(&mut self, mss: u16) {
        self.mss = mss.max(64) as u32;
        self.cwnd = 10 * self.mss;
    }
    /// New data `acked` bytes acknowledged outside recovery.
    pub fn on_ack(&mut self, now: Instant, acked: u32, srtt: Duration) {
        if self.cwnd < self.ssthresh {
            // Slow start by the bytes acknowledged (RFC 3465 byte counting, Linux
            // tcp_slow_start): no per-ACK limit, since a receiver's ACK may cover many segments
            // (a stretch ACK of a GRO'd burst, ours after a burst): RFC 3465's L = 2 would then
            // grow the window by two segments per round trip, not double it. Up to ssthresh;
            // the rest of the ACK counts for congestion avoidance.
            let room = self.ssthresh - self.cwnd;
            self.cwnd = self.cwnd.saturating_add(acked.min(room));
            if acked <= room {
                return;
            }
            let rest = acked - room;
            match self.algo {
                Congestion::Reno => self.reno_ca(rest),
                Congestion::Cubic => self.cubic_ca(now, rest, srtt),
            }
            return;
        }
        match self.algo {
            Congestion::Reno => self.reno_ca(acked),
            Congestion::Cubic => self.cubic_ca(now, acked, srtt),
        }
    }
    fn reno_ca(&mut self, acked: u32) {
        self.ca_acked = self.ca_acked.saturating_add(acked);
        if self.ca_acked >= self.cwnd {
            self.ca_acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }
    /// RFC 9438 4.2 - 4.4.
    fn cubic_ca(&mut self, now: Instant, acked: u32, srtt: Duration) {
        let mss = self.mss as f64;
        let cwnd = self.cwnd as f64 / mss;
        let epoch = match self.epoch {
            Some(e) => e,
            None => {
                self.epoch = Some(now);
                if self.w_max <= cwnd {
                    self.k = 0.0;
                    self.w_max = cwnd;
                } else {
                    self.k = ((self.w_max - cwnd) / C).cbrt();
                }
                self.w_est = cwnd;
                now
            }
        };
        let t = (now - epoch).as_secs_f64();
        let rtt = srtt.as_secs_f64().max(0.001);
        let w = |t: f64| C * (t - self.k).powi(3) + self.w_max;
        let target = w(t + rtt).clamp(cwnd, 1.5 * cwnd);
        let segs = acked as f64 / mss;
        let alpha = if self.w_est >= self.w_max { 1.0 } else { 3.0 * (1.0 - BETA) / (1.0 + BETA) };
        self.w_est += alpha * segs / cwnd;
        let next = if w(t) < self.w_est { self.w_est.max(cwnd) } else { cwnd + (target - cwnd) / cwnd * segs };
        self.cwnd = ((next * mss) as u32).max(self.cwnd).max(2 * self.mss);
    }
    fn reduce(&mut self, flight: u32) -> u32 {
        match self.algo {
            Congestion::Reno => (flight / 2).max(2 * self.mss),
            Congestion::Cubic => {
                let cwnd = self.cwnd as f64 / self.mss as f64;
                // Fast convergence (RFC 9438 4.7).
                self.w_max = if cwnd < self.w_max { cwnd * (1.0 + BETA) / 2.0 } else { cwnd };
                self.epoch = None;
                ((self.cwnd.min(flight.max(self.mss)) as f64 * BETA) as u32).max(2 * self.mss)
            }
        }
    }
    /// Entering fast recovery (three duplicate ACKs / SACK loss): ssthresh and cwnd drop.
    pub fn on_fast_loss(&mut self, flight: u32) {
        self.ssthresh = self.reduce(flight);
        self.cwnd = self.ssthresh;
        self.ca_acked = 0;
    }
    /// Retransmission timeout (RFC 5681 eq. 4): cwnd to one segment.
    pub fn on_rto(&mut self, flight: u32, first: bool) {
        if first {
            self.ssthresh = self.reduce(flight);
        }
        self.cwnd = self.mss;
        self.ca_acked = 0;
    }
    /// A reduction found spurious (every retransmission it caused was D-SACKed, or the
    /// originals filled the holes): the state before it comes back, cwnd and ssthresh no lower
    /// than now (Linux tcp_undo_cwnd_reduction; CUBIC's W_max and epoch with them).
    pub fn undo(&mut self, prior: &CongestionControl) {
        let (cwnd, ssthresh) = (self.cwnd.max(prior.cwnd), self.ssthresh.max(prior.ssthresh));
        (self.w_max, self.k, self.epoch, self.w_est) = (prior.w_max, prior.k, prior.epoch, prior.w_est);
        (self.cwnd, self.ssthresh, self.ca_acked) = (cwnd, ssthresh, 0);
    }
    /// Leaving recovery (RFC 6582 3.2 step 3): cwnd = min(ssthresh, flight + mss).
    pub fn on_recovery_exit(&mut self, flight: u32) {
        self.cwnd = self.ssthresh.min(flight.saturating_add(self.mss)).max(2 * self.mss);
    }
}

/// What a loss episode's window reduction would undo (RFC 3708's detection by D-SACK and RFC
/// 3522's by timestamps; Linux undo_marker, undo_retrans, retrans_stamp): the congestion state
/// before it, the sequence range it retransmitted from, the count of its retransmissions
/// shown spurious, and when it began.
#[derive(Clone, Debug)]
pub struct Undo {
    pub prior: CongestionControl,
    /// SND.UNA and SND.MAX when the episode began: a D-SACK outside says nothing of it.
    pub from: SeqNum,
    pub to: SeqNum,
    /// `TcpInfo::retransmits` when it began, and the segments D-SACKed since.
    pub retrans_at: u64,
    pub dsacked: u64,
    /// Our timestamp clock when it began: an echo older than this is of an original.
    pub ts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reno_slow_start_then_linear() {
        let mut c = CongestionControl::new(Congestion::Reno, 1000);
        assert_eq!(c.cwnd, 10_000);
        c.on_ack(Instant::ZERO, 1000, Duration::from_millis(10));
        assert_eq!(c.cwnd, 11_000);
        c.on_fast_loss(20_000);
        assert_eq!((c.ssthresh, c.cwnd), (10_000, 10_000));
        for _ in 0..10 {
            c.on_ack(Instant::ZERO, 1000, Duration::from_millis(10));
        }
        assert_eq!(c.cwnd, 11_000);
        c.on_rto(11_000, true);
        assert_eq!((c.ssthresh, c.cwnd), (5_500, 1000));
    }
    #[test]
    fn cubic_backs_off_by_beta_and_regrows() {
        let mut c = CongestionControl::new(Congestion::Cubic, 1000);
        c.on_fast_loss(100_000);
        assert_eq!(c.cwnd, 7_000); // min(cwnd, flight) * 0.7
        let mut now = Instant::ZERO;
        for _ in 0..2000 {
            now += Duration::from_millis(10);
            c.on_ack(now, 1000, Duration::from_millis(10));
        }
        assert!(c.cwnd > 10_000, "{}", c.cwnd);
    }
}
