//! Buffer auto-tuning, as Linux's: the receive buffer grows with what the program reads per
//! round trip (tcp_rcv_space_adjust, "dynamic right-sizing"), the send buffer with the
//! congestion window (tcp_sndbuf_expand). Only the limits grow: storage still follows what is
//! held (`RingBuffer`), and SO_RCVBUF / SO_SNDBUF fix a buffer, as on Linux.
use super::tcb::Tcb;
use crate::time::{Duration, Instant};

impl Tcb {
    /// A round-trip sample from the timestamp echoed on arriving data (Linux
    /// tcp_rcv_rtt_measure_ts): our clock now minus the TSval of the ACK the peer answered.
    pub(super) fn rx_rtt_sample(&mut self, now: Instant, tsecr: u32) {
        if !self.opts.ts_ok || tsecr == 0 {
            return;
        }
        let sample = self.ts_now(now).wrapping_sub(tsecr);
        if sample > 10_000 {
            return; // not an echo of ours, or from before a long silence
        }
        // Prefer the smaller: an echo of a delayed ACK overstates the round trip.
        self.rx_tune.rtt_ms = Some(match self.rx_tune.rtt_ms {
            Some(old) if sample >= old => (old * 7 + sample) / 8,
            _ => sample,
        });
    }

    /// The program read `n` bytes: once per round trip, if it read more than half the buffer
    /// in that time, the window may be what limits the peer, and the buffer's limit grows to
    /// twice what was read (at least doubling is what lets the peer's slow start go on), up to
    /// `rx_max`. What the program does not read never makes it grow.
    pub(super) fn autotune_rx(&mut self, now: Instant, n: usize) {
        if self.rx_locked {
            return;
        }
        let Some(rtt) = self
            .rx_tune
            .rtt_ms
            .or_else(|| (self.rtt.srtt > Duration::ZERO).then_some(self.rtt.srtt.as_millis() as u32))
        else {
            return;
        };
        self.rx_tune.copied += n;
        let Some(since) = self.rx_tune.since else {
            (self.rx_tune.since, self.rx_tune.copied) = (Some(now), 0);
            return;
        };
        if now - since < Duration::from_millis(rtt.max(1) as u64) {
            return;
        }
        let (copied, cap) = (self.rx_tune.copied, self.rx.capacity());
        let most = self.rx_max.min(65535usize << self.opts.rcv_wscale);
        if copied > cap / 2 && cap < most {
            self.rx.grow((2 * copied).max(cap).min(most));
            self.pending = true; // the larger window leaves with the next ACK
        }
        (self.rx_tune.since, self.rx_tune.copied) = (Some(now), 0);
    }

    /// The congestion window grew: the send ring may hold twice it, up to `tx_max`, so a
    /// program on a long path keeps a window's worth queued behind the one in flight.
    pub(super) fn autotune_tx(&mut self) {
        if self.tx_locked {
            return;
        }
        let want = (2 * self.cc.cwnd as usize).min(self.tx_max);
        if want > self.tx.capacity() {
            self.tx.grow(want);
        }
    }
}
