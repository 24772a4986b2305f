//! Retransmission timeout from measured round trips (RFC 6298).
use crate::time::Duration;

/// Clock granularity G of RFC 6298 section 2.
const GRANULARITY: Duration = Duration::from_millis(1);

#[derive(Clone, Debug)]
pub struct RttEstimator {
    pub srtt: Duration,
    pub rttvar: Duration,
    /// Current RTO before backoff.
    pub rto: Duration,
    pub has_sample: bool,
    /// Smallest round trip seen (RACK.min_RTT, RFC 8985 6.2 step 1).
    pub min_rtt: Option<Duration>,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt: Duration::ZERO,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max),
            has_sample: false,
            min_rtt: None,
            min,
            max,
        }
    }
    /// RFC 6298 2.2 / 2.3: folds in one measurement `r`.
    pub fn sample(&mut self, r: Duration) {
        self.note_min(r);
        if !self.has_sample {
            self.srtt = r;
            self.rttvar = r / 2;
            self.has_sample = true;
        } else {
            let diff = self.srtt.abs_diff(r);
            self.rttvar = (self.rttvar * 3 + diff) / 4;
            self.srtt = (self.srtt * 7 + r) / 8;
        }
        self.rto = (self.srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min, self.max);
    }
    /// Folds `r` into the minimum RTT only.
    pub fn note_min(&mut self, r: Duration) {
        self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
    }
    /// Raises the RTO to `d` while no sample was taken (RFC 6298 5.7).
    pub fn fallback(&mut self, d: Duration) {
        if !self.has_sample {
            self.rto = self.rto.max(d).clamp(self.min, self.max);
        }
    }
    /// RTO after `backoff` consecutive expirations (RFC 6298 5.5), capped at the maximum.
    pub fn backed_off(&self, backoff: u32) -> Duration {
        let mut r = self.rto;
        for _ in 0..backoff.min(32) {
            r = r.saturating_mul(2);
            if r >= self.max {
                return self.max;
            }
        }
        r.min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn rfc6298_updates_and_backoff() {
        let ms = Duration::from_millis;
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(e.rto, ms(1000));
        e.sample(ms(100));
        assert_eq!((e.srtt, e.rttvar), (ms(100), ms(50)));
        assert_eq!(e.rto, ms(300));
        e.sample(ms(200));
        // rttvar = 3/4*50 + 1/4*100 = 62.5; srtt = 7/8*100 + 25 = 112.5
        assert_eq!(e.srtt, Duration::from_micros(112_500));
        assert_eq!(e.rttvar, Duration::from_micros(62_500));
        assert_eq!(e.rto, Duration::from_micros(362_500));
        e.sample(ms(1));
        assert!(e.rto >= ms(200));
        assert_eq!(e.backed_off(1), e.rto * 2);
        assert_eq!(e.backed_off(20), ms(60_000));
    }
}
