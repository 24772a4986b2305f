//! The host side of IGMPv2 (RFC 2236 3, RFC 1112 appendix I): membership reports when the
//! host's first socket joins a group, a leave when its last one leaves, reports again when a
//! router queries; which multicast frames the interface accepts. The memberships themselves
//! are the UDP engine's (`socket/udp_mcast.rs`). A query is answered as RFC 2236 3 says: each
//! group concerned gets a report after a random delay up to the query's Max Resp Time (an
//! earlier running timer is kept), and a report another host sends for the group meanwhile
//! cancels ours (Linux's igmp_heard_report). A join's report is sent at once and repeated once
//! after a random delay below the Unsolicited Report Interval (10 s; RFC 2236 3 and 8.4, Linux's
//! igmp_group_added with the Robustness Variable 2 in IGMPv2 mode); a query or another host's
//! report meanwhile takes the repeat's place or cancels it, as in Linux (igmp_mod_timer,
//! igmp_stop_timer). Leaving sends one Leave Group if the group's last report was ours (RFC
//! 2236 3, Linux's `reporter`). Simplification: no Router Alert option (receivers do not
//! require it).
use super::Interface;
use crate::socket::udp::UdpStack;
use crate::time::Instant;
use crate::wire::ethernet::MacAddr;
use crate::wire::igmp::{self, group_mac, Repr};
use crate::wire::ipv4::Ipv4Repr;
use std::net::Ipv4Addr;

impl Interface {
    /// True for the Ethernet address of a group this host belongs to (all-hosts included):
    /// the filter a NIC programmed with the host's groups applies.
    pub(crate) fn accepts_group_mac(&self, dst: &MacAddr, udp: &UdpStack) -> bool {
        if dst[..3] != [0x01, 0x00, 0x5e] {
            return false;
        }
        *dst == group_mac(crate::socket::udp::mcast::ALL_HOSTS.as_v4())
            || udp.host_groups().into_iter().any(|g| group_mac(g.as_v4()) == *dst)
    }

    /// Sends one IGMP message (TTL 1: multicast's default; `send_ip` maps the group's MAC).
    pub fn send_igmp(&mut self, now: Instant, r: Repr) {
        self.stats.igmp_sent += 1;
        let dst = r.destination();
        self.send_ip(now, self.addr, dst, igmp::PROTOCOL, &r.to_bytes());
    }

    /// The host's first member joined `group` (`join`) or its last one left it: RFC 2236 3's
    /// unsolicited report at once, its repeat timer started (Unsolicited Report Interval); or
    /// the timer stopped and a Leave Group sent if the last report was ours.
    pub(crate) fn igmp_membership(&mut self, now: Instant, group: Ipv4Addr, join: bool) {
        if join {
            self.send_igmp(now, Repr::Report { group });
            self.igmp.reported(group);
            self.igmp.start(now, group, super::igmp_timers::UNSOLICITED_REPORT_INTERVAL);
        } else if self.igmp.left(group) {
            self.send_igmp(now, Repr::Leave { group });
        }
    }

    /// An IGMP message for us: a query (general, or about one of our groups) starts a delayed
    /// report per group concerned; another host's report for a group cancels ours (RFC 2236 3's
    /// suppression); leaves change nothing here.
    pub(crate) fn receive_igmp(&mut self, now: Instant, _ip: &Ipv4Repr, payload: &[u8], udp: &UdpStack) {
        let repr = match igmp::Packet::new_checked(payload).and_then(|p| Repr::parse(&p)) {
            Ok(r) => r,
            Err(_) => {
                self.stats.igmp_bad += 1;
                return;
            }
        };
        self.stats.igmp_in += 1;
        match repr {
            Repr::Query { max_resp, group } => {
                for g in udp.host_groups().into_iter().map(|g| g.as_v4()) {
                    if group.is_unspecified() || g == group {
                        self.igmp.start(now, g, max_resp);
                    }
                }
            }
            Repr::Report { group } | Repr::V1Report { group } => self.igmp.cancel(group),
            Repr::Leave { .. } => {}
        }
    }

    /// Sends the reports whose delay has run out, for groups the host still belongs to.
    pub(crate) fn poll_igmp(&mut self, now: Instant, udp: &UdpStack) {
        while let Some(g) = self.igmp.take_due(now) {
            if udp.host_joined(g.into()) && g != crate::socket::udp::mcast::ALL_HOSTS.as_v4() {
                self.send_igmp(now, Repr::Report { group: g });
                self.igmp.reported(g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::fragment::fragment;
    use crate::socket::tcp::{TcpConfig, TcpStack};
    use crate::time::Duration;
    use crate::wire::ipv4::{self, protocol};

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const G: Ipv4Addr = Ipv4Addr::new(239, 7, 3, 6);
    const MAC: MacAddr = [2, 0, 0, 0, 0, 2];

    /// An Ethernet frame from PEER to `dst` (`dst_mac`) carrying `payload` of `proto`.
    fn frame(dst: Ipv4Addr, dst_mac: MacAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
        let ip = Ipv4Repr::new(PEER, dst, proto, payload.len(), 9);
        let mut out = Vec::new();
        fragment(&ip, payload, 1500, 14, &mut |mut f| {
            f[..6].copy_from_slice(&dst_mac);
            f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            out = f;
        })
        .unwrap();
        out
    }

    /// The IGMP messages among the frames queued, with their Ethernet and IP destinations.
    fn sent(iface: &mut Interface) -> Vec<(MacAddr, Ipv4Addr, u8, Repr)> {
        let mut v = Vec::new();
        for f in iface.tx.drain(..).map(|f| f.buf) {
            let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
            if ip.protocol() == protocol::IGMP {
                let r = Repr::parse(&igmp::Packet::new_checked(ip.payload()).unwrap()).unwrap();
                v.push((f[..6].try_into().unwrap(), ip.dst_addr(), ip.ttl(), r));
            }
        }
        v
    }

    /// One host joined to `groups` (socket bound to port 7037), with its interface.
    fn host(seed: u64, groups: &[Ipv4Addr]) -> (Interface, TcpStack, UdpStack, crate::socket::udp::UdpHandle) {
        let mut iface = Interface::new(MAC, US, 24, None, 1500, seed);
        let tcp = TcpStack::new(TcpConfig::new(US.into(), 1500));
        let mut udp = UdpStack::new(US.into(), 1);
        let h = udp.socket();
        for &g in groups {
            udp.join_group(h, g.into()).unwrap();
        }
        while udp.take_igmp().is_some() {}
        iface.tx.clear();
        (iface, tcp, udp, h)
    }

    fn igmp_frame(dst: Ipv4Addr, r: Repr) -> Vec<u8> {
        frame(dst, group_mac(dst), protocol::IGMP, &r.to_bytes())
    }

    /// The reports sent by `iface` while time runs from `from` to `to` in 1 ms steps, with the
    /// instant each left.
    fn reports_until(
        iface: &mut Interface,
        tcp: &mut TcpStack,
        udp: &mut UdpStack,
        from: Instant,
        to: Instant,
    ) -> Vec<(Ipv4Addr, Instant)> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            iface.poll_timers(t, tcp, udp);
            for (_, _, _, r) in sent(iface) {
                if let Repr::Report { group } = r {
                    out.push((group, t));
                }
            }
            t += Duration::from_millis(1);
        }
        out
    }

    /// What `Stack::dispatch` does with the memberships' IGMP messages.
    fn memberships(iface: &mut Interface, udp: &mut UdpStack, now: Instant) {
        while let Some((g, join)) = udp.take_igmp() {
            iface.igmp_membership(now, g.as_v4(), join);
        }
    }

    /// RFC 2236 3 and Linux's igmp_group_added in IGMPv2 mode (Robustness Variable 2): a join's
    /// report leaves at once and once more after a random delay below the Unsolicited Report
    /// Interval (10 s), then no more; different hosts pick different delays; the interface
    /// wakes for it. A leave sends one Leave Group, to all-routers.
    #[test]
    fn join_report_repeated_once() {
        let t0 = Instant::from_secs(1);
        let report = (group_mac(G), G, 1, Repr::Report { group: G });
        let mut delays = Vec::new();
        for seed in 1..=8u64 {
            let (mut iface, mut tcp, mut udp, h) = host(seed, &[]);
            udp.join_group(h, G.into()).unwrap();
            memberships(&mut iface, &mut udp, t0);
            assert_eq!(sent(&mut iface), vec![report], "the first report at once");
            let due = iface.igmp.due(G).expect("the repeat's timer");
            assert_eq!(iface.poll_at(t0), Some(due), "the interface wakes for it");
            let r = reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(12));
            assert_eq!(r.len(), 1, "one repeat: {r:?}");
            assert!(r[0].0 == G && r[0].1 < t0 + Duration::from_secs(10), "within 10 s: {r:?}");
            assert_eq!(iface.igmp.poll_at(), None, "no third report");
            delays.push(r[0].1 - t0);
            udp.leave_group(h, G.into()).unwrap();
            memberships(&mut iface, &mut udp, t0 + Duration::from_secs(12));
            let all_routers = igmp::ALL_ROUTERS;
            assert_eq!(sent(&mut iface), vec![(group_mac(all_routers), all_routers, 1, Repr::Leave { group: G })]);
        }
        delays.sort();
        delays.dedup();
        assert!(delays.len() >= 6, "random delays: {delays:?}");
    }

    /// While the repeat waits: a query with a shorter Max Resp Time answers instead (one report,
    /// no repeat after it: Linux's igmp_mod_timer); another host's report cancels it and makes
    /// the last report not ours, so leaving sends no Leave (RFC 2236 3, Linux's `reporter`);
    /// leaving stops it.
    #[test]
    fn join_repeat_meets_query_report_and_leave() {
        let t0 = Instant::from_secs(1);
        let all = crate::socket::udp::mcast::ALL_HOSTS.as_v4();
        let joined = |seed| {
            let (mut iface, tcp, mut udp, h) = host(seed, &[]);
            udp.join_group(h, G.into()).unwrap();
            memberships(&mut iface, &mut udp, t0);
            assert_eq!(sent(&mut iface).len(), 1);
            (iface, tcp, udp, h)
        };
        // A query (Max Resp Time 0.1 s): its report, then nothing until 12 s.
        let (mut iface, mut tcp, mut udp, _) = joined(4);
        let q = igmp_frame(all, Repr::Query { max_resp: 1, group: Ipv4Addr::UNSPECIFIED });
        iface.receive_frame(t0, &q, &mut tcp, &mut udp);
        let r = reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(12));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].1 < t0 + Duration::from_millis(100));
        // Another host's report: no repeat, and no Leave when we go.
        let (mut iface, mut tcp, mut udp, h) = joined(5);
        iface.receive_frame(t0, &igmp_frame(G, Repr::Report { group: G }), &mut tcp, &mut udp);
        assert!(reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(12)).is_empty());
        udp.leave_group(h, G.into()).unwrap();
        memberships(&mut iface, &mut udp, t0 + Duration::from_secs(12));
        assert!(sent(&mut iface).is_empty(), "the last report was another host's: no Leave");
        // Leaving while the repeat waits: the Leave, and no report after it.
        let (mut iface, mut tcp, mut udp, h) = joined(6);
        udp.leave_group(h, G.into()).unwrap();
        memberships(&mut iface, &mut udp, t0);
        assert_eq!(sent(&mut iface).into_iter().map(|x| x.3).collect::<Vec<_>>(), vec![Repr::Leave { group: G }]);
        assert!(reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(12)).is_empty());
        assert_eq!(iface.igmp.poll_at(), None);
    }

    /// RFC 2236 3: a query's reports leave after a random delay below Max Resp Time, not at
    /// once; different hosts (seeds) pick different delays; a group-specific query concerns
    /// its group only; Max Resp Time 0 (IGMPv1) means 10 s.
    #[test]
    fn query_answered_after_a_random_delay() {
        const G2: Ipv4Addr = Ipv4Addr::new(239, 7, 3, 8);
        let all = crate::socket::udp::mcast::ALL_HOSTS.as_v4();
        let t0 = Instant::from_secs(1);
        let mut delays = Vec::new();
        for seed in 1..=8u64 {
            let (mut iface, mut tcp, mut udp, _) = host(seed, &[G, G2]);
            let q = igmp_frame(all, Repr::Query { max_resp: 20, group: Ipv4Addr::UNSPECIFIED });
            iface.receive_frame(t0, &q, &mut tcp, &mut udp);
            assert!(sent(&mut iface).is_empty(), "no report at once");
            let r = reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(3));
            assert_eq!(r.len(), 2, "one report per group: {r:?}");
            for (_, at) in &r {
                assert!(*at < t0 + Duration::from_millis(2000), "within Max Resp Time 2 s");
                delays.push(*at - t0);
            }
        }
        delays.sort();
        delays.dedup();
        assert!(delays.len() >= 12, "random delays, not one fixed value: {delays:?}");
        // A group-specific query: only that group.
        let (mut iface, mut tcp, mut udp, _) = host(3, &[G, G2]);
        iface.receive_frame(t0, &igmp_frame(G2, Repr::Query { max_resp: 10, group: G2 }), &mut tcp, &mut udp);
        let r = reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(2));
        assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), vec![G2]);
        // IGMPv1 query (Max Resp Time 0): up to 10 s.
        let (mut iface, mut tcp, mut udp, _) = host(5, &[G]);
        iface.receive_frame(
            t0,
            &igmp_frame(all, Repr::Query { max_resp: 0, group: Ipv4Addr::UNSPECIFIED }),
            &mut tcp,
            &mut udp,
        );
        let due = iface.igmp.due(G).expect("timer started");
        assert!(due >= t0 && due < t0 + Duration::from_secs(10));
        assert_eq!(iface.poll_at(t0), Some(due), "the interface wakes for it");
    }

    /// RFC 2236 3: a later query keeps an earlier-ending timer and shortens a later one; another
    /// host's report cancels ours (Linux's igmp_heard_report); a group left meanwhile is not
    /// reported.
    #[test]
    fn timers_reset_suppressed_and_dropped() {
        let all = crate::socket::udp::mcast::ALL_HOSTS.as_v4();
        let t0 = Instant::from_secs(1);
        let general = |max_resp| igmp_frame(all, Repr::Query { max_resp, group: Ipv4Addr::UNSPECIFIED });
        let (mut iface, mut tcp, mut udp, h) = host(7, &[G]);
        iface.receive_frame(t0, &general(100), &mut tcp, &mut udp);
        let first = iface.igmp.due(G).unwrap();
        iface.receive_frame(t0, &general(255), &mut tcp, &mut udp);
        assert!(iface.igmp.due(G).unwrap() <= first, "never later than the running timer");
        iface.receive_frame(t0, &general(1), &mut tcp, &mut udp);
        assert!(iface.igmp.due(G).unwrap() < t0 + Duration::from_millis(100), "a shorter Max Resp Time resets it");
        // Another host's report (v2 or v1) for the group: ours is not sent.
        iface.receive_frame(t0, &igmp_frame(G, Repr::Report { group: G }), &mut tcp, &mut udp);
        assert_eq!(iface.igmp.due(G), None);
        assert!(reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(1)).is_empty());
        iface.receive_frame(t0, &general(10), &mut tcp, &mut udp);
        iface.receive_frame(t0, &igmp_frame(G, Repr::V1Report { group: G }), &mut tcp, &mut udp);
        assert!(reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(1)).is_empty());
        // Left before the timer ran out: no report.
        iface.receive_frame(t0, &general(10), &mut tcp, &mut udp);
        udp.leave_group(h, G.into()).unwrap();
        assert!(reports_until(&mut iface, &mut tcp, &mut udp, t0, t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(iface.igmp.poll_at(), None);
    }

    #[test]
    fn reports_queries_and_group_filter() {
        let mut iface = Interface::new(MAC, US, 24, None, 1500, 1);
        let mut tcp = TcpStack::new(TcpConfig::new(US.into(), 1500));
        let mut udp = UdpStack::new(US.into(), 1);
        let now = Instant::from_secs(1);
        let h = udp.socket();
        udp.bind(h, crate::wire::ip::IpEndpoint::new(crate::wire::ip::IpAddress::v4(0, 0, 0, 0), 7037)).unwrap();
        let dgram = crate::wire::udp::build(PEER, G, 4000, 7037, b"hi");
        let to_group = frame(G, group_mac(G), protocol::UDP, &dgram);
        // Not a member: the group's frame is not for us.
        iface.receive_frame(now, &to_group, &mut tcp, &mut udp);
        assert_eq!(iface.stats.rx_not_for_us, 1);
        udp.join_group(h, G.into()).unwrap();
        while let Some((g, join)) = udp.take_igmp() {
            let g = g.as_v4();
            iface.send_igmp(now, if join { Repr::Report { group: g } } else { Repr::Leave { group: g } });
        }
        let want = (group_mac(G), G, 1, Repr::Report { group: G });
        assert_eq!(sent(&mut iface), vec![want], "RFC 2236 3: a report to the group, TTL 1");
        iface.receive_frame(now, &to_group, &mut tcp, &mut udp);
        let r = udp.recv_from(h, &mut [0u8; 8], false).unwrap();
        assert_eq!(r.dst, G.into());
        // A general query (to all-hosts) is answered for each group, within Max Resp Time (10 s
        // here); a malformed one counted.
        let all = crate::socket::udp::mcast::ALL_HOSTS.as_v4();
        let q = Repr::Query { max_resp: 100, group: Ipv4Addr::UNSPECIFIED }.to_bytes();
        iface.receive_frame(now, &frame(all, group_mac(all), protocol::IGMP, &q), &mut tcp, &mut udp);
        iface.poll_timers(now + Duration::from_secs(10), &mut tcp, &mut udp);
        assert_eq!(sent(&mut iface), vec![want]);
        let mut bad = q;
        bad[4] ^= 1;
        iface.receive_frame(now, &frame(all, group_mac(all), protocol::IGMP, &bad), &mut tcp, &mut udp);
        assert_eq!((iface.stats.igmp_in, iface.stats.igmp_bad), (1, 1));
        // A unicast datagram in a group frame is discarded (RFC 1122 3.3.6).
        let uni = crate::wire::udp::build(PEER, US, 4000, 7037, b"x");
        iface.receive_frame(now, &frame(US, group_mac(G), protocol::UDP, &uni), &mut tcp, &mut udp);
        assert_eq!(udp.recv_from(h, &mut [0u8; 8], false), Err(crate::Error::WouldBlock));
        // Leaving: a leave to all-routers, and the group's frames are no longer ours.
        udp.leave_group(h, G.into()).unwrap();
        let (g, join) = udp.take_igmp().unwrap();
        assert!(!join);
        iface.send_igmp(now, Repr::Leave { group: g.as_v4() });
        let all_routers = igmp::ALL_ROUTERS;
        assert_eq!(sent(&mut iface), vec![(group_mac(all_routers), all_routers, 1, Repr::Leave { group: G })]);
        iface.receive_frame(now, &to_group, &mut tcp, &mut udp);
        assert_eq!(iface.stats.rx_not_for_us, 2);
    }
}
