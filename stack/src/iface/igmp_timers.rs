//! IGMPv2 delay timers (RFC 2236 3): a query starts one per group concerned, at a random delay
//! below its Max Resp Time, and a join one for the repeat of its report, at a random delay
//! below the Unsolicited Report Interval; the interface (`igmp.rs`) sends the group's report
//! when it runs out, unless another host's report cancelled it. Also the groups whose last
//! report was ours (Linux's `reporter` flag, which decides whether leaving sends a Leave).
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::time::{Duration, Instant};

/// RFC 2236 4: a query with Max Resp Time 0 comes from an IGMPv1 router, which means 10 s.
const V1_MAX_RESP: u8 = 100;
/// RFC 2236 8.10 Unsolicited Report Interval, 10 s in tenths (Linux's
/// igmpv2_unsolicited_report_interval, 10000 ms).
pub(crate) const UNSOLICITED_REPORT_INTERVAL: u8 = 100;

/// Reports waiting for their delay (RFC 2236 3: a "delay timer" per group).
#[derive(Debug)]
pub(crate) struct ReportTimers {
    due: BTreeMap<Ipv4Addr, Instant>,
    /// Groups whose last report on the link was ours (RFC 2236 3's flag; Linux `reporter`).
    reporter: BTreeSet<Ipv4Addr>,
    rng: u64,
}

impl ReportTimers {
    pub(crate) fn new(seed: u64) -> ReportTimers {
        ReportTimers { due: BTreeMap::new(), reporter: BTreeSet::new(), rng: seed ^ 0x4947_4d50_0000_0001 }
    }

    /// A delay chosen uniformly in [0, `max_resp` tenths of a second), at millisecond grain
    /// (Linux: get_random_u32_below(max_delay) jiffies).
    fn delay(&mut self, max_resp: u8) -> Duration {
        let tenths = if max_resp == 0 { V1_MAX_RESP } else { max_resp };
        let span = u64::from(tenths) * 100;
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Duration::from_millis((z ^ (z >> 31)) % span)
    }

    /// RFC 2236 3: start the group's timer at a random delay, unless one running ends sooner.
    pub(crate) fn start(&mut self, now: Instant, group: Ipv4Addr, max_resp: u8) {
        let at = now + self.delay(max_resp);
        let t = self.due.entry(group).or_insert(at);
        if at < *t {
            *t = at;
        }
    }

    /// Another host reported `group`: ours is not needed, and the last report is not ours
    /// (RFC 2236 3; Linux's igmp_stop_timer also ends the join's repeats).
    pub(crate) fn cancel(&mut self, group: Ipv4Addr) {
        self.due.remove(&group);
        self.reporter.remove(&group);
    }

    /// We sent a report for `group`.
    pub(crate) fn reported(&mut self, group: Ipv4Addr) {
        self.reporter.insert(group);
    }

    /// The host left `group`: its timer stops; returns whether the last report was ours (RFC
    /// 2236 3: then a Leave Group follows).
    pub(crate) fn left(&mut self, group: Ipv4Addr) -> bool {
        self.due.remove(&group);
        self.reporter.remove(&group)
    }

    /// A group whose report is due at `now`, its timer removed.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Ipv4Addr> {
        let (&g, _) = self.due.iter().filter(|(_, &at)| at <= now).min_by_key(|(_, &at)| at)?;
        self.due.remove(&g);
        Some(g)
    }

    /// The earliest report due.
    pub(crate) fn poll_at(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// The group's report is due by `t` (tests).
    #[cfg(test)]
    pub(crate) fn due(&self, group: Ipv4Addr) -> Option<Instant> {
        self.due.get(&group).copied()
    }
}
