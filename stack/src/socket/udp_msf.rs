//! Source filters of a socket's group memberships (RFC 3376 3.1, Linux's ip_mc_source and
//! ip_mc_sf_allow): IP_ADD_SOURCE_MEMBERSHIP / IP_DROP_SOURCE_MEMBERSHIP keep an INCLUDE
//! list (only those sources are received), IP_BLOCK_SOURCE / IP_UNBLOCK_SOURCE an EXCLUDE list
//! on an any-source join. The host takes a group's datagram from a source if some member's
//! filter lets it in (Linux's ip_check_mc_rcu over the interface's combined filter); each
//! member then applies its own. Receive side only: the interface speaks IGMPv2, whose
//! reports carry no sources (an INCLUDE join is reported as a plain join, as Linux does in
//! IGMPv2 mode).
use super::{McFilter, UdpHandle, UdpStack};
use crate::error::{Error, Result};
use crate::wire::ip::IpAddress;

/// Linux's net.ipv4.igmp_max_msf: sources one socket's filter for a group may hold (ENOBUFS
/// beyond).
pub const MAX_SOURCES: usize = 10;

/// The four source options (do_ip_setsockopt's mode and add/remove for ip_mc_source).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SourceOp {
    /// IP_ADD_SOURCE_MEMBERSHIP: joins (INCLUDE) if needed, adds the source.
    AddMembership,
    /// IP_DROP_SOURCE_MEMBERSHIP: removes the source; the last one leaves the group.
    DropMembership,
    /// IP_BLOCK_SOURCE: excludes the source from an any-source join.
    Block,
    /// IP_UNBLOCK_SOURCE.
    Unblock,
}

impl UdpStack {
    /// A source option with Linux's errors (ip_mc_source): EINVAL for a group that is not
    /// multicast, no prior join (IP_ADD_SOURCE_MEMBERSHIP joins first: ENOBUFS past
    /// `MAX_MEMBERSHIPS`), or a filter of the other mode that has a list; EADDRNOTAVAIL for a
    /// source already there (adding) or not there (removing, or no list yet); ENOBUFS past
    /// [`MAX_SOURCES`]. A filter without a list takes the option's mode first (even when the
    /// option then fails, as in Linux).
    pub fn source_filter(&mut self, h: UdpHandle, group: IpAddress, source: IpAddress, op: SourceOp) -> Result<()> {
        if !group.is_multicast() {
            return Err(Error::InvalidInput);
        }
        let include = matches!(op, SourceOp::AddMembership | SourceOp::DropMembership);
        if op == SourceOp::AddMembership {
            match self.join_group(h, group) {
                Ok(()) => self.set_filter(h, group, McFilter { include: true, list: None })?,
                Err(Error::AddrInUse) => {}
                Err(e) => return Err(e),
            }
        }
        let s = self.get(h)?;
        if !s.groups.contains(&group) {
            return Err(Error::InvalidInput);
        }
        let mut f = s.filters.get(&group).cloned().unwrap_or_default();
        if f.list.is_some() && f.include != include {
            return Err(Error::InvalidInput);
        }
        f.include = include;
        let r = match op {
            SourceOp::AddMembership | SourceOp::Block => {
                let l = f.list.get_or_insert_with(Vec::new);
                if l.len() >= MAX_SOURCES {
                    Err(Error::NoBufferSpace)
                } else if l.contains(&source) {
                    Err(Error::AddrNotAvailable)
                } else {
                    l.push(source);
                    Ok(())
                }
            }
            SourceOp::DropMembership | SourceOp::Unblock => match &mut f.list {
                Some(l) if l.contains(&source) => {
                    if l.len() == 1 && include {
                        // (INCLUDE, {}) is no membership: Linux leaves the group.
                        return self.leave_group(h, group);
                    }
                    l.retain(|&a| a != source);
                    Ok(())
                }
                _ => Err(Error::AddrNotAvailable),
            },
        };
        self.set_filter(h, group, f)?;
        r
    }

    /// Sets `h`'s filter for `group` (the default, any-source, removes it).
    fn set_filter(&mut self, h: UdpHandle, group: IpAddress, f: McFilter) -> Result<()> {
        let s = self.sockets.get_mut(&h.0).ok_or(Error::BadHandle)?;
        let had = if f == McFilter::default() { s.filters.remove(&group) } else { s.filters.insert(group, f) };
        match had {
            None if s.filters.contains_key(&group) => *self.filtered.entry(group).or_insert(0) += 1,
            Some(_) if !s.filters.contains_key(&group) => self.unfilter(group),
            _ => {}
        }
        Ok(())
    }

    /// A member of `group` no longer has a filter for it.
    pub(super) fn unfilter(&mut self, group: IpAddress) {
        if let Some(n) = self.filtered.get_mut(&group) {
            *n -= 1;
            if *n == 0 {
                self.filtered.remove(&group);
            }
        }
    }

    /// Whether the host takes a datagram from `src` to `group`: some member's filter lets it
    /// in (an any-source member lets everything in; the all-hosts group is any-source).
    pub fn host_allows(&self, src: IpAddress, group: IpAddress) -> bool {
        if group == super::mcast::ALL_HOSTS {
            return true;
        }
        let members = self.groups.get(&group).copied().unwrap_or(0);
        if members > self.filtered.get(&group).copied().unwrap_or(0) {
            return true;
        }
        members > 0
            && self
                .sockets
                .values()
                .any(|s| s.groups.contains(&group) && s.filters.get(&group).is_some_and(|f| f.allows(src)))
    }

    /// IP_MSFILTER / MCAST_MSFILTER's whole-filter set (Linux's ip_mc_msfilter once the group,
    /// mode and interface are checked): the filter of `h`'s membership of `group` becomes
    /// (`include`, `sources`) in the order given; EINVAL without a prior join, ENOBUFS past
    /// [`MAX_SOURCES`]. No sources: no list (EXCLUDE, {} is any-source again); the caller
    /// leaves the group for (INCLUDE, {}) as Linux does.
    pub fn set_source_filter(
        &mut self,
        h: UdpHandle,
        group: IpAddress,
        include: bool,
        sources: &[IpAddress],
    ) -> Result<()> {
        if sources.len() > MAX_SOURCES {
            return Err(Error::NoBufferSpace);
        }
        if !self.get(h)?.groups.contains(&group) {
            return Err(Error::InvalidInput);
        }
        let list = (!sources.is_empty()).then(|| sources.to_vec());
        self.set_filter(h, group, McFilter { include, list })
    }

    /// IP_MSFILTER / MCAST_MSFILTER's get (Linux's ip_mc_msfget): the mode of `h`'s membership
    /// of `group` (INCLUDE or not; an any-source join is EXCLUDE) and all its sources;
    /// EADDRNOTAVAIL without a join.
    pub fn source_filter_of(&self, h: UdpHandle, group: IpAddress) -> Result<(bool, Vec<IpAddress>)> {
        let s = self.get(h)?;
        if !s.groups.contains(&group) {
            return Err(Error::AddrNotAvailable);
        }
        let f = s.filters.get(&group).cloned().unwrap_or_default();
        Ok((f.include, f.list.unwrap_or_default()))
    }

    /// `h`'s filter for `group`: (INCLUDE mode, its sources), None for an any-source
    /// membership or none (tests, diagnostics).
    pub fn source_list(&self, h: UdpHandle, group: IpAddress) -> Option<(bool, Vec<IpAddress>)> {
        let f = self.get(h).ok()?.filters.get(&group)?;
        Some((f.include, f.list.clone().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::udp::mcast::MAX_MEMBERSHIPS;
    use crate::wire::ip::IpEndpoint;

    const US: IpAddress = IpAddress::v4(10, 0, 0, 2);
    const G: IpAddress = IpAddress::v4(239, 7, 3, 11);
    const S1: IpAddress = IpAddress::v4(10, 0, 0, 1);
    const S2: IpAddress = IpAddress::v4(10, 0, 0, 3);

    /// The errors c-tests/mcast_source.c saw from Linux 6.18, in its order.
    #[test]
    fn errors_as_linux() {
        use SourceOp::*;
        let mut u = UdpStack::new(US, 1);
        let s = u.socket();
        assert_eq!(u.source_filter(s, IpAddress::v4(10, 0, 0, 5), S1, AddMembership), Err(Error::InvalidInput));
        assert_eq!(u.source_filter(s, IpAddress::v4(10, 0, 0, 5), S1, DropMembership), Err(Error::InvalidInput));
        for op in [DropMembership, Block, Unblock] {
            assert_eq!(u.source_filter(s, G, S1, op), Err(Error::InvalidInput), "{op:?} with no join");
        }
        assert_eq!(u.source_filter(s, G, S1, AddMembership), Ok(()));
        assert_eq!(u.take_igmp(), Some((G, true)), "the join is reported (IGMPv2: no sources)");
        assert_eq!(u.source_filter(s, G, S1, AddMembership), Err(Error::AddrNotAvailable));
        assert_eq!(u.join_group(s, G), Err(Error::AddrInUse));
        assert_eq!(u.source_filter(s, G, S1, Block), Err(Error::InvalidInput), "the other mode");
        assert_eq!(u.source_filter(s, G, S2, DropMembership), Err(Error::AddrNotAvailable));
        for i in 0..MAX_SOURCES as u8 - 1 {
            u.source_filter(s, G, IpAddress::v4(10, 0, 1, i), AddMembership).unwrap();
        }
        assert_eq!(u.source_filter(s, G, S2, AddMembership), Err(Error::NoBufferSpace));
        for i in 0..MAX_SOURCES as u8 - 1 {
            u.source_filter(s, G, IpAddress::v4(10, 0, 1, i), DropMembership).unwrap();
        }
        assert_eq!(u.source_list(s, G), Some((true, vec![S1])));
        assert_eq!(u.source_filter(s, G, S1, DropMembership), Ok(()), "the last source");
        assert_eq!(u.take_igmp(), Some((G, false)), "...leaves the group");
        assert_eq!(u.leave_group(s, G), Err(Error::AddrNotAvailable));
        u.join_group(s, G).unwrap();
        assert_eq!(u.source_filter(s, G, S1, Unblock), Err(Error::AddrNotAvailable), "nothing blocked");
        assert_eq!(u.source_filter(s, G, S1, Block), Ok(()));
        assert_eq!(u.source_filter(s, G, S1, Block), Err(Error::AddrNotAvailable));
        assert_eq!(u.source_filter(s, G, S1, AddMembership), Err(Error::InvalidInput));
        assert_eq!(u.source_filter(s, G, S1, Unblock), Ok(()));
        assert_eq!(u.source_list(s, G), Some((false, vec![])));
        assert_eq!(
            u.source_filter(s, G, S1, AddMembership),
            Err(Error::InvalidInput),
            "an emptied list keeps its mode"
        );
        u.leave_group(s, G).unwrap();
        assert_eq!(u.source_list(s, G), None);
        // An any-source join has no list: DROP_SOURCE turns it INCLUDE (nothing in it) and fails.
        u.join_group(s, G).unwrap();
        assert_eq!(u.source_filter(s, G, S1, DropMembership), Err(Error::AddrNotAvailable));
        assert_eq!(u.source_list(s, G), Some((true, vec![])));
        assert_eq!(u.source_filter(s, G, S1, AddMembership), Ok(()));
        // ENOBUFS from the join itself.
        let t = u.socket();
        for i in 0..MAX_MEMBERSHIPS as u8 {
            u.join_group(t, IpAddress::v4(239, 0, 0, i)).unwrap();
        }
        assert_eq!(u.source_filter(t, G, S1, AddMembership), Err(Error::NoBufferSpace));
    }

    /// Delivery (ip_mc_sf_allow, ip_check_mc_rcu): each member by its filter; a bystander on the
    /// port (IP_MULTICAST_ALL) by the host's combined filter; leaving or closing drops filters.
    #[test]
    fn members_hear_their_sources() {
        use SourceOp::*;
        let now = crate::time::Instant::from_millis(0);
        let mut u = UdpStack::new(US, 1);
        let socks: Vec<_> = (0..3).map(|_| u.socket()).collect();
        let (inc, block) = (socks[0], socks[1]);
        for &h in &socks {
            u.set_reuse_addr(h, true).unwrap();
            u.bind(h, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 5000)).unwrap();
        }
        u.set_multicast_all(inc, false).unwrap();
        u.set_multicast_all(block, false).unwrap();
        u.source_filter(inc, G, S1, AddMembership).unwrap();
        let heard = |u: &mut UdpStack, src: IpAddress| -> Vec<bool> {
            let d = crate::wire::udp::build(src, G, 4000, 5000, b"x");
            u.process(now, src, G, &d);
            socks.iter().map(|&h| u.recv_from(h, &mut [0u8; 4], false).is_ok()).collect()
        };
        assert_eq!(heard(&mut u, S1), [true, false, true]);
        assert_eq!(heard(&mut u, S2), [false, false, false], "the host takes no other source");
        assert!(u.host_allows(S1, G) && !u.host_allows(S2, G));
        // An any-source member blocking S1: the host takes everything, S1 only for `inc`.
        u.join_group(block, G).unwrap();
        u.source_filter(block, G, S1, Block).unwrap();
        assert_eq!(heard(&mut u, S1), [true, false, true]);
        assert_eq!(heard(&mut u, S2), [false, true, true]);
        u.source_filter(block, G, S1, Unblock).unwrap();
        assert_eq!(heard(&mut u, S1), [true, true, true]);
        // Our own datagram looped back (IP_MULTICAST_LOOP) passes the same filters.
        let me = u.socket();
        u.send_to(me, b"own", Some(IpEndpoint::new(G, 5000))).unwrap();
        let got: Vec<bool> = socks.iter().map(|&h| u.recv_from(h, &mut [0u8; 4], false).is_ok()).collect();
        assert_eq!(got, [false, true, true], "from US: not in inc's list");
        u.leave_group(block, G).unwrap();
        assert_eq!(heard(&mut u, S2), [false, false, false], "back to inc's filter alone");
        u.close(inc);
        assert!(!u.host_joined(G) && u.filtered.is_empty());
        assert!(!u.host_allows(S1, G));
    }
}
