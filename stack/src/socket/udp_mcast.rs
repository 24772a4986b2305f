//! IPv4 multicast on UDP sockets (RFC 1112 host extensions, Linux's ip_mc_join_group /
//! ip_mc_leave_group / ip_mc_sf_allow): per-socket memberships (IP_ADD_MEMBERSHIP,
//! IP_DROP_MEMBERSHIP), the host's groups (what the interface accepts and reports with IGMP,
//! `wire/igmp.rs`), IP_MULTICAST_LOOP and IP_MULTICAST_ALL. The interface resolution of an
//! `ip_mreq`/`ip_mreqn` (which device) is the caller's: tapstack has one interface.
use super::{McIf, UdpHandle, UdpStack};
use crate::error::{Error, Result};
use crate::wire::ip::{IpAddress, IpEndpoint};

/// Linux's net.ipv4.igmp_max_memberships: groups one socket may join (ENOBUFS beyond).
pub const MAX_MEMBERSHIPS: usize = 20;
/// The all-hosts group every host belongs to, never reported (RFC 1112 4, RFC 2236 6).
pub const ALL_HOSTS: IpAddress = IpAddress::v4(224, 0, 0, 1);

impl super::Socket {
    /// Whether a datagram from `src` to `dst` may reach this socket (Linux's ip_mc_sf_allow):
    /// anything not multicast; a group it joined, as its source filter allows (`udp_msf.rs`);
    /// any other group the host joined while IP_MULTICAST_ALL is on (Linux's default).
    pub(super) fn hears(&self, src: IpAddress, dst: IpAddress) -> bool {
        if !dst.is_multicast() {
            return true;
        }
        if !self.groups.contains(&dst) {
            return self.mc_all;
        }
        self.filters.get(&dst).is_none_or(|f| f.allows(src))
    }
}

impl UdpStack {
    /// IP_ADD_MEMBERSHIP on our interface: EINVAL for a non-multicast address, EADDRINUSE if
    /// already joined, ENOBUFS past [`MAX_MEMBERSHIPS`]. The host's first member of a group
    /// queues an IGMP membership report.
    pub fn join_group(&mut self, h: UdpHandle, group: IpAddress) -> Result<()> {
        if !group.is_multicast() {
            return Err(Error::InvalidInput);
        }
        let s = self.get_mut(h)?;
        if s.groups.contains(&group) {
            return Err(Error::AddrInUse);
        }
        if s.groups.len() >= MAX_MEMBERSHIPS {
            return Err(Error::NoBufferSpace);
        }
        s.groups.push(group);
        let n = self.groups.entry(group).or_insert(0);
        *n += 1;
        if *n == 1 && group != ALL_HOSTS {
            self.igmp.push_back((group, true));
        }
        Ok(())
    }

    /// IP_DROP_MEMBERSHIP: EADDRNOTAVAIL if this socket has not joined `group`. The host's
    /// last member queues an IGMP leave.
    pub fn leave_group(&mut self, h: UdpHandle, group: IpAddress) -> Result<()> {
        let s = self.get_mut(h)?;
        let Some(i) = s.groups.iter().position(|&g| g == group) else {
            return Err(Error::AddrNotAvailable);
        };
        s.groups.remove(i);
        if s.filters.remove(&group).is_some() {
            self.unfilter(group);
        }
        self.host_leave(group);
        Ok(())
    }

    fn host_leave(&mut self, group: IpAddress) {
        if let Some(n) = self.groups.get_mut(&group) {
            *n -= 1;
            if *n == 0 {
                self.groups.remove(&group);
                if group != ALL_HOSTS {
                    self.igmp.push_back((group, false));
                }
            }
        }
    }

    /// Drops every membership of a socket being closed (Linux ip_mc_drop_socket).
    pub(super) fn leave_all(&mut self, h: UdpHandle) {
        let (groups, filters) = match self.get_mut(h) {
            Ok(s) => (std::mem::take(&mut s.groups), std::mem::take(&mut s.filters)),
            Err(_) => return,
        };
        for g in filters.into_keys() {
            self.unfilter(g);
        }
        for g in groups {
            self.host_leave(g);
        }
    }

    /// The groups `h` joined, in order.
    pub fn memberships(&self, h: UdpHandle) -> Vec<IpAddress> {
        self.get(h).map(|s| s.groups.clone()).unwrap_or_default()
    }

    /// True if some socket of this host joined `group` (the all-hosts group always).
    pub fn host_joined(&self, group: IpAddress) -> bool {
        group == ALL_HOSTS || self.groups.contains_key(&group)
    }

    /// The groups this host reports (every joined group but all-hosts).
    pub fn host_groups(&self) -> Vec<IpAddress> {
        self.groups.keys().copied().filter(|&g| g != ALL_HOSTS).collect()
    }

    /// The next IGMP message the memberships call for: (group, true = report, false = leave).
    pub fn take_igmp(&mut self) -> Option<(IpAddress, bool)> {
        self.igmp.pop_front()
    }

    /// IP_MULTICAST_IF, resolved by the caller to an interface (ours or the loopback).
    pub fn set_multicast_if(&mut self, h: UdpHandle, mc_if: McIf) -> Result<()> {
        self.get_mut(h)?.mc_if = mc_if;
        Ok(())
    }

    /// Whether a datagram of `h` to a group has its device without a route (Linux's
    /// ip_route_output_key_hash for a multicast destination): an interface named by
    /// IP_MULTICAST_IF (an oif), or a source address of ours: the socket's own (bound, or set by
    /// connect), IP_MULTICAST_IF's, or IP_PKTINFO's `spec_src` (the device holding it). A socket
    /// bound to 0.0.0.0, a broadcast or a group address has none (`inet_saddr` is 0).
    pub fn names_multicast_device(&self, h: UdpHandle, spec_src: Option<IpAddress>) -> Result<bool> {
        let s = self.get(h)?;
        let own = |a: IpAddress| !(a.is_unspecified() || self.is_broadcast(a) || a.is_multicast());
        Ok(spec_src.is_some_and(own) || s.mc_if.named || own(*s.local.ip()))
    }

    pub fn set_multicast_loop(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        self.get_mut(h)?.mc_loop = on;
        Ok(())
    }

    /// IP_MULTICAST_TTL, for the copies IP_MULTICAST_LOOP delivers (the interface applies it
    /// to what leaves: `IpOpts::mc_ttl`).
    pub fn set_multicast_ttl(&mut self, h: UdpHandle, ttl: u8) -> Result<()> {
        self.get_mut(h)?.mc_ttl = ttl;
        Ok(())
    }

    pub fn set_multicast_all(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        self.get_mut(h)?.mc_all = on;
        Ok(())
    }

    pub fn multicast_all(&self, h: UdpHandle) -> Result<bool> {
        Ok(self.get(h)?.mc_all)
    }

    /// IP_MULTICAST_LOOP: a datagram we send to a group this host joined is also received by
    /// our own sockets on its port (as if it came back from the link).
    pub(super) fn loop_multicast(&mut self, from: IpEndpoint, to: IpEndpoint, payload: &[u8], ttl: u8) {
        if !self.host_allows(*from.ip(), *to.ip()) {
            return;
        }
        let targets: Vec<u32> = self
            .sockets_on(to.port())
            .filter(|(_, s)| s.score(from, to).is_some() && s.hears(*from.ip(), *to.ip()))
            .map(|(h, _)| h)
            .collect();
        self.queue_rx(&targets, from, *to.ip(), payload, Some(ttl), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: IpAddress = IpAddress::v4(10, 0, 0, 2);
    const G: IpAddress = IpAddress::v4(239, 1, 2, 3);

    fn ep(a: IpAddress, p: u16) -> IpEndpoint {
        IpEndpoint::new(a, p)
    }

    #[test]
    fn join_leave_errors_and_igmp_as_linux() {
        let mut u = UdpStack::new(US, 1);
        let a = u.socket();
        let b = u.socket();
        assert_eq!(u.join_group(a, IpAddress::v4(10, 0, 0, 9)), Err(Error::InvalidInput));
        assert_eq!(u.leave_group(a, G), Err(Error::AddrNotAvailable));
        u.join_group(a, G).unwrap();
        assert_eq!(u.join_group(a, G), Err(Error::AddrInUse));
        u.join_group(b, G).unwrap();
        assert_eq!(u.take_igmp(), Some((G, true)), "one report for the host's first member");
        assert_eq!(u.take_igmp(), None);
        u.leave_group(a, G).unwrap();
        assert_eq!(u.take_igmp(), None, "b is still a member");
        assert!(u.host_joined(G));
        u.close(b);
        assert_eq!(u.take_igmp(), Some((G, false)), "the last member's close leaves");
        assert!(!u.host_joined(G) && u.host_joined(ALL_HOSTS));
        for i in 0..MAX_MEMBERSHIPS as u8 {
            u.join_group(a, IpAddress::v4(239, 0, 0, i)).unwrap();
        }
        assert_eq!(u.join_group(a, G), Err(Error::NoBufferSpace));
        assert_eq!(u.host_groups().len(), MAX_MEMBERSHIPS);
    }

    #[test]
    fn group_datagrams_reach_members_and_loop_back() {
        let mut u = UdpStack::new(US, 1);
        let now = crate::time::Instant::from_millis(0);
        let (m, other, solo) = (u.socket(), u.socket(), u.socket());
        for &h in &[m, other, solo] {
            u.set_reuse_addr(h, true).unwrap();
            u.bind(h, ep(IpAddress::v4(0, 0, 0, 0), 5000)).unwrap();
        }
        u.join_group(m, G).unwrap();
        u.set_multicast_all(solo, false).unwrap();
        let peer = IpAddress::v4(10, 0, 0, 1);
        let d = crate::wire::udp::build(peer, G, 4000, 5000, b"hi");
        assert!(u.process(now, peer, G, &d));
        let mut buf = [0u8; 8];
        let r = u.recv_from(m, &mut buf, false).unwrap();
        assert_eq!((r.dst, &buf[..2]), (G, &b"hi"[..]));
        assert!(u.recv_from(other, &mut buf, false).is_ok(), "IP_MULTICAST_ALL: a non-member on the port hears it");
        assert_eq!(u.recv_from(solo, &mut buf, false), Err(Error::WouldBlock), "IP_MULTICAST_ALL off");
        // Our own datagram to the group comes back (IP_MULTICAST_LOOP), and leaves.
        let s = u.socket();
        u.send_to(s, b"loop", Some(ep(G, 5000))).unwrap();
        assert_eq!(u.recv_from(m, &mut buf, false).unwrap().copied, 4);
        let mut out = 0;
        u.dispatch(now, &mut |_, dst, _| {
            assert_eq!(dst, G);
            out += 1
        });
        assert_eq!(out, 1);
        u.set_multicast_loop(s, false).unwrap();
        u.send_to(s, b"quiet", Some(ep(G, 5000))).unwrap();
        assert_eq!(u.recv_from(m, &mut buf, false), Err(Error::WouldBlock), "loop off");
        // Not joined any more: nothing loops back and the interface would not accept it.
        u.leave_group(m, G).unwrap();
        u.set_multicast_loop(s, true).unwrap();
        u.send_to(s, b"gone", Some(ep(G, 5000))).unwrap();
        assert_eq!(u.recv_from(m, &mut buf, false), Err(Error::WouldBlock));
    }

    #[test]
    fn multicast_if_chooses_the_interface_and_source() {
        let mut u = UdpStack::new(US, 1);
        let now = crate::time::Instant::from_millis(0);
        let m = u.socket();
        u.set_reuse_addr(m, true).unwrap();
        u.bind(m, ep(IpAddress::v4(0, 0, 0, 0), 5000)).unwrap();
        u.join_group(m, G).unwrap();
        let s = u.socket();
        let lo = McIf { loopback: true, addr: IpAddress::v4(127, 0, 0, 1), named: true };
        u.set_multicast_if(s, lo).unwrap();
        assert_eq!(u.send_to(s, b"lo", Some(ep(G, 5000))), Ok(2));
        let mut out = 0;
        u.dispatch(now, &mut |_, _, _| out += 1);
        assert_eq!(out, 0, "the loopback interface: nothing on the link");
        assert_eq!(u.recv_from(m, &mut [0u8; 8], false), Err(Error::WouldBlock), "nor looped back");
        assert_eq!(u.stats().out_datagrams, 1);
        // A unicast datagram is not concerned.
        u.send_to(s, b"uni", Some(ep(IpAddress::v4(10, 0, 0, 1), 5000))).unwrap();
        u.dispatch(now, &mut |_, dst, _| assert_eq!(dst, IpAddress::v4(10, 0, 0, 1)));
        u.set_multicast_if(s, McIf { loopback: false, addr: US, named: true }).unwrap();
        u.send_to(s, b"link", Some(ep(G, 5000))).unwrap();
        let mut srcs = vec![];
        u.dispatch(now, &mut |src, _, _| srcs.push(src));
        assert_eq!(srcs, vec![US]);
        assert_eq!(u.recv_from(m, &mut [0u8; 8], false).unwrap().from, ep(US, u.local_addr(s).unwrap().port()));
    }

    #[test]
    fn pktinfo_source_and_destination() {
        let mut u = UdpStack::new(US, 1);
        let now = crate::time::Instant::from_millis(0);
        let s = u.socket();
        u.bind(s, ep(IpAddress::v4(0, 0, 0, 0), 53)).unwrap();
        let peer = IpAddress::v4(10, 0, 0, 1);
        let d = crate::wire::udp::build(peer, US, 4000, 53, b"q");
        u.process_ip(now, peer, US, &d, Some(64), Some(0x10));
        u.set_recv_ttl(s, true).unwrap();
        let r = u.recv_from(s, &mut [0u8; 4], false).unwrap();
        assert_eq!((r.dst, r.ttl, r.tos), (US, Some(64), Some(0x10)));
        u.send_from(s, b"a", Some(ep(peer, 4000)), Some(IpAddress::v4(127, 0, 0, 1))).unwrap_err();
        u.send_from(s, b"a", Some(ep(peer, 4000)), Some(US)).unwrap();
        u.dispatch(now, &mut |src, _, _| assert_eq!(src, US));
    }
}
