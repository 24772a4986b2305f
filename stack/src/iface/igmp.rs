//! The host side of IGMPv2 (RFC 2236 3, RFC 1112 appendix I): membership reports when the
//! host's first socket joins a group, a leave when its last one leaves, reports again when a
//! router queries; which multicast frames the interface accepts. The memberships themselves
//! are the UDP engine's (`socket/udp_mcast.rs`). Simplifications: reports answer a query at
//! once (RFC 2236 3 asks for a random delay up to Max Resp Time, a SHOULD that spreads many
//! hosts' reports; here one host answers), sent once (no repeat after the Unsolicited Report
//! Interval), without the Router Alert option (receivers do not require it).
use std::net::Ipv4Addr;

use super::Interface;
use crate::socket::udp::UdpStack;
use crate::time::Instant;
use crate::wire::ethernet::MacAddr;
use crate::wire::igmp::{self, group_mac, Repr};
use crate::wire::ipv4::Ipv4Repr;

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

    /// An IGMP message for us: a query (general, or about one of our groups) is answered with
    /// a report per group concerned; reports and leaves of other hosts change nothing here
    /// (RFC 2236 3's report suppression is optional for IGMPv2 hosts, and Linux does not).
    pub(crate) fn receive_igmp(&mut self, now: Instant, _ip: &Ipv4Repr, payload: &[u8], udp: &UdpStack) {
        let repr = match igmp::Packet::new_checked(payload).and_then(|p| Repr::parse(&p)) {
            Ok(r) => r,
            Err(_) => {
                self.stats.igmp_bad += 1;
                return;
            }
        };
        self.stats.igmp_in += 1;
        if let Repr::Query { group, .. } = repr {
            let asked: Vec<Ipv4Addr> = udp
                .host_groups()
                .into_iter()
                .map(|g| g.as_v4())
                .filter(|&g| group.is_unspecified() || g == group)
                .collect();
            for g in asked {
                self.send_igmp(now, Repr::Report { group: g });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::fragment::fragment;
    use crate::socket::tcp::{TcpConfig, TcpStack};
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
        for f in iface.tx.drain(..) {
            let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
            if ip.protocol() == protocol::IGMP {
                let r = Repr::parse(&igmp::Packet::new_checked(ip.payload()).unwrap()).unwrap();
                v.push((f[..6].try_into().unwrap(), ip.dst_addr(), ip.ttl(), r));
            }
        }
        v
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
        // A general query (to all-hosts) is answered for each group; a malformed one counted.
        let all = crate::socket::udp::mcast::ALL_HOSTS.as_v4();
        let q = Repr::Query { max_resp: 100, group: Ipv4Addr::UNSPECIFIED }.to_bytes();
        iface.receive_frame(now, &frame(all, group_mac(all), protocol::IGMP, &q), &mut tcp, &mut udp);
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
