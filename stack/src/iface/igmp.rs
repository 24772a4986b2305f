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
use crate::wire::igmp::{self, Repr};
use crate::wire::ipv4::Ipv4Repr;

/// RFC 1112 6.4: the Ethernet address of an IPv4 group, 01:00:5e + its low 23 bits.
pub fn group_mac(group: Ipv4Addr) -> MacAddr {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

impl Interface {
    /// True for the Ethernet address of a group this host belongs to (all-hosts included):
    /// the filter a NIC programmed with the host's groups applies.
    pub(crate) fn accepts_group_mac(&self, dst: &MacAddr, udp: &UdpStack) -> bool {
        if dst[..3] != [0x01, 0x00, 0x5e] {
            return false;
        }
        *dst == group_mac(crate::socket::udp::ALL_HOSTS) || udp.host_groups().into_iter().any(|g| group_mac(g) == *dst)
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
    pub(crate) fn receive_igmp(&mut self, now: Instant, ip: &Ipv4Repr, payload: &[u8], udp: &UdpStack) {
        let repr = match igmp::Packet::new_checked(payload).and_then(|p| Repr::parse(&p)) {
            Ok(r) => r,
            Err(_) => {
                self.stats.igmp_bad += 1;
                return;
            }
        };
        self.stats.igmp_in += 1;
        if let Repr::Query { group, .. } = repr {
            let asked: Vec<Ipv4Addr> = if group.is_unspecified() {
                udp.host_groups()
            } else {
                udp.host_groups().into_iter().filter(|&g| g == group).collect()
            };
            let _ = ip;
            for g in asked {
                self.send_igmp(now, Repr::Report { group: g });
            }
        }
    }
}
