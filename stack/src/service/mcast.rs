//! IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP and IP_MULTICAST_IF in the service: the `ip_mreq`,
//! `ip_mreqn` or `in_addr` bytes read as Linux's do_ip_setsockopt reads them, the interface
//! they name resolved (ip_mc_find_dev; tapstack has one interface, the TAP, named by its
//! kernel index or our address), then the UDP engine (`socket/udp_mcast.rs`); whether an
//! IP_MULTICAST_IF names an interface decides if a group needs a route (`Stack::udp_route`).
//! IP_ADD_SOURCE_MEMBERSHIP and the other source options (an `ip_mreq_source`) go to the
//! engine's source filters (`socket/udp_msf.rs`). The protocol-independent options of RFC 3678
//! (MCAST_JOIN_GROUP...: an interface by index) read their `group_req` / `group_source_req` in
//! `mcast/group.rs` and come here the same way; the whole-filter options IP_MSFILTER and
//! MCAST_MSFILTER (set and get) theirs in `mcast/msf.rs`.
use std::net::Ipv4Addr;

use super::engine::Proto;
use crate::socket::udp::McIf;
use crate::stack::Stack;
use crate::Error;

pub(crate) mod group;
pub(crate) mod msf;

/// The kernel's index of the TAP (what if_nametoindex tells the program): IP_PKTINFO's
/// `ipi_ifindex` and the interface `ip_mreqn` may name. Set once when the service starts.
static TAP_IFINDEX: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

pub(crate) fn set_tap_ifindex(i: u32) {
    TAP_IFINDEX.store(i, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn tap_ifindex() -> u32 {
    TAP_IFINDEX.load(std::sync::atomic::Ordering::Relaxed)
}

/// `struct ip_mreqn` (an `ip_mreq` reads with index 0: its second field is the address).
struct Mreqn {
    group: Ipv4Addr,
    address: Ipv4Addr,
    ifindex: i32,
}

/// The socket an option acts on: a UDP socket keeps memberships; a stream socket (Linux joins
/// it too for the options that do not refuse it) is checked the same way and keeps none.
#[derive(Copy, Clone)]
enum Member {
    Udp(crate::socket::udp::UdpHandle),
    Stream,
}

fn ip_at(v: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(v[o], v[o + 1], v[o + 2], v[o + 3])
}

/// `val` is at least 8 bytes (an `ip_mreq`); 12 and more hold an `ip_mreqn`.
fn mreqn(val: &[u8]) -> Mreqn {
    let ifindex = if val.len() >= 12 { i32::from_ne_bytes([val[8], val[9], val[10], val[11]]) } else { 0 };
    Mreqn { group: ip_at(val, 0), address: ip_at(val, 4), ifindex }
}

/// Whether `m` names our interface: by index, by address, or (neither) by the route to the
/// group, which is ours when there is one (Linux's ip_mc_find_dev: no route, no device).
fn ours(stack: &Stack, m: &Mreqn) -> bool {
    if m.ifindex != 0 {
        return m.ifindex as u32 == tap_ifindex();
    }
    if m.address.is_unspecified() {
        return stack.route_lookup(m.group).is_some();
    }
    m.address == stack.addr()
}

/// IP_ADD_MEMBERSHIP (`join`) or IP_DROP_MEMBERSHIP with Linux's errors: EPROTO on TCP, EINVAL
/// for a short value or (join) a group that is not multicast, ENODEV (join) or EADDRNOTAVAIL
/// (drop) for an interface that is not ours (ENODEV for 0.0.0.0 without a route to the group), then the engine's (EADDRINUSE, ENOBUFS,
/// EADDRNOTAVAIL for a group not joined).
pub fn membership(stack: &mut Stack, p: Proto, join: bool, val: &[u8]) -> Result<(), i32> {
    let Proto::Udp(h) = p else { return Err(libc::EPROTO) };
    if val.len() < 8 {
        return Err(libc::EINVAL);
    }
    join_leave(stack, Member::Udp(h), join, &mreqn(val))
}

/// Linux's ip_mc_join_group (`join`) or ip_mc_leave_group for the `ip_mreqn` `m`: EINVAL (join)
/// for a group that is not multicast, ENODEV (join) or EADDRNOTAVAIL (leave) for an interface
/// not ours (ENODEV for none named and no route to the group), then the engine's. A stream
/// socket's join succeeds and its leave finds nothing joined (EADDRNOTAVAIL).
fn join_leave(stack: &mut Stack, who: Member, join: bool, m: &Mreqn) -> Result<(), i32> {
    if join {
        if !m.group.is_multicast() {
            return Err(libc::EINVAL);
        }
        if !ours(stack, m) {
            return Err(libc::ENODEV);
        }
        match who {
            Member::Udp(h) => stack.udp.join_group(h, m.group.into()).map_err(Error::errno),
            Member::Stream => Ok(()),
        }
    } else {
        if !ours(stack, m) {
            // ip_mc_leave_group: no interface named and none found is ENODEV.
            let unnamed = m.ifindex == 0 && m.address.is_unspecified();
            return Err(if unnamed { libc::ENODEV } else { libc::EADDRNOTAVAIL });
        }
        match who {
            Member::Udp(h) => stack.udp.leave_group(h, m.group.into()).map_err(Error::errno),
            Member::Stream => Err(libc::EADDRNOTAVAIL),
        }
    }
}

/// IP_ADD_SOURCE_MEMBERSHIP, IP_DROP_SOURCE_MEMBERSHIP, IP_BLOCK_SOURCE or IP_UNBLOCK_SOURCE
/// (`name`) with Linux's errors (do_ip_setsockopt, ip_mc_join_group_ssm, ip_mc_source): EINVAL
/// for a value that is not one `ip_mreq_source` (12 bytes) or a group that is not multicast,
/// ENODEV for an interface address not ours, then the engine's. On a stream socket Linux joins
/// as well (IP_ADD_SOURCE_MEMBERSHIP succeeds) and the others find no join they may change
/// (EINVAL); tapstack keeps no memberships for TCP: the same answers, nothing joined.
pub fn source_membership(stack: &mut Stack, p: Proto, name: i32, val: &[u8]) -> Result<(), i32> {
    use crate::socket::udp::msf::SourceOp;
    if val.len() != 12 {
        return Err(libc::EINVAL);
    }
    let (group, address, source) = (ip_at(val, 0), ip_at(val, 4), ip_at(val, 8));
    let op = match name {
        libc::IP_ADD_SOURCE_MEMBERSHIP => SourceOp::AddMembership,
        libc::IP_DROP_SOURCE_MEMBERSHIP => SourceOp::DropMembership,
        libc::IP_BLOCK_SOURCE => SourceOp::Block,
        _ => SourceOp::Unblock,
    };
    let who = match p {
        Proto::Udp(h) => Member::Udp(h),
        Proto::Tcp(_) => Member::Stream,
    };
    source_filter(stack, who, op, &Mreqn { group, address, ifindex: 0 }, source)
}

/// Linux's ip_mc_source (after ip_mc_join_group_ssm for an INCLUDE join) for the group and
/// interface of `m`: EINVAL for a group that is not multicast, ENODEV for an interface not ours,
/// then the engine's. A stream socket: the join succeeds, the others find no join (EINVAL).
fn source_filter(
    stack: &mut Stack,
    who: Member,
    op: crate::socket::udp::msf::SourceOp,
    m: &Mreqn,
    source: Ipv4Addr,
) -> Result<(), i32> {
    use crate::socket::udp::msf::SourceOp;
    if !m.group.is_multicast() {
        return Err(libc::EINVAL);
    }
    if !ours(stack, m) {
        return Err(libc::ENODEV);
    }
    let Member::Udp(h) = who else {
        return if op == SourceOp::AddMembership { Ok(()) } else { Err(libc::EINVAL) };
    };
    stack.udp.source_filter(h, m.group.into(), source.into(), op).map_err(Error::errno)
}

/// The loopback device's index in every network namespace (Linux's LOOPBACK_IFINDEX).
const LOOPBACK_IFINDEX: i32 = 1;

/// IP_MULTICAST_IF (do_ip_setsockopt): an `ip_mreqn`, an `ip_mreq` (its interface address) or
/// an `in_addr`, naming our interface (its index or address; 0.0.0.0 and index 0: the route's
/// choice, which is ours) or the loopback (index 1, a 127.x address). The UDP engine sends the
/// socket's datagrams to groups by it, from its address (`socket/udp_mcast.rs`); the address is
/// returned to be kept for getsockopt (0.0.0.0 given or for an interface named by index only).
/// EINVAL on a stream socket or below 4 bytes, EADDRNOTAVAIL for an address or index not ours.
pub fn multicast_if(stack: &mut Stack, p: Proto, val: &[u8]) -> Result<[u8; 4], i32> {
    let Proto::Udp(h) = p else { return Err(libc::EINVAL) };
    if val.len() < 4 {
        return Err(libc::EINVAL);
    }
    let (address, ifindex) = match val.len() {
        n if n >= 12 => (ip_at(val, 4), mreqn(val).ifindex),
        n if n >= 8 => (ip_at(val, 4), 0),
        _ => (ip_at(val, 0), 0),
    };
    let loopback = match ifindex {
        0 if address.is_unspecified() || address == stack.addr() => false,
        0 if address.is_loopback() => true,
        0 => return Err(libc::EADDRNOTAVAIL),
        LOOPBACK_IFINDEX => true,
        i if i as u32 == tap_ifindex() => false,
        _ => return Err(libc::EADDRNOTAVAIL),
    };
    // Linux: index 0 and 0.0.0.0 reset mc_index (the route's choice again); anything else names one.
    let named = ifindex != 0 || !address.is_unspecified();
    stack.udp.set_multicast_if(h, McIf { loopback, addr: address.into(), named }).map_err(Error::errno)?;
    Ok(address.octets())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn mreq(group: [u8; 4], addr: [u8; 4]) -> Vec<u8> {
        [group, addr].concat()
    }

    #[test]
    fn errors_as_linux() {
        let cfg = Config::from_lookup(|_| None).unwrap();
        let mut s = Stack::new(&cfg, 1);
        let us = s.addr().octets();
        let (u, t) = (Proto::Udp(s.udp.socket()), Proto::Tcp(s.tcp.socket()));
        let g = [239, 1, 2, 3];
        assert_eq!(membership(&mut s, t, true, &mreq(g, us)), Err(libc::EPROTO));
        assert_eq!(membership(&mut s, u, true, &g), Err(libc::EINVAL));
        assert_eq!(membership(&mut s, u, true, &mreq([10, 0, 0, 1], us)), Err(libc::EINVAL));
        assert_eq!(membership(&mut s, u, true, &mreq(g, [10, 9, 9, 9])), Err(libc::ENODEV));
        assert_eq!(membership(&mut s, u, false, &mreq(g, us)), Err(libc::EADDRNOTAVAIL));
        membership(&mut s, u, true, &mreq(g, [0; 4])).unwrap();
        assert_eq!(membership(&mut s, u, true, &mreq(g, us)), Err(libc::EADDRINUSE));
        membership(&mut s, u, false, &mreq(g, us)).unwrap();
        assert_eq!(multicast_if(&mut s, t, &us), Err(libc::EINVAL));
        assert_eq!(multicast_if(&mut s, u, &us[..3]), Err(libc::EINVAL));
        assert_eq!(multicast_if(&mut s, u, &us), Ok(us));
        assert_eq!(multicast_if(&mut s, u, &mreq(g, us)), Ok(us), "ip_mreq: its interface address");
        assert_eq!(multicast_if(&mut s, u, &[10, 9, 9, 9]), Err(libc::EADDRNOTAVAIL));
        assert_eq!(multicast_if(&mut s, u, &[127, 0, 0, 1]), Ok([127, 0, 0, 1]));
        let lo_index = [[0u8; 4], [0; 4], 1i32.to_ne_bytes()].concat();
        assert_eq!(multicast_if(&mut s, u, &lo_index), Ok([0; 4]), "ip_mreqn: the loopback by index");
        let other_index = [[0u8; 4], [0; 4], 77i32.to_ne_bytes()].concat();
        assert_eq!(multicast_if(&mut s, u, &other_index), Err(libc::EADDRNOTAVAIL));
    }

    /// The `ip_mreq_source` options as Linux answers them (c-tests/mcast_source.c): the value's
    /// length, the group, the interface, a stream socket; the engine's errors behind.
    #[test]
    fn source_options_as_linux() {
        use libc::{IP_ADD_SOURCE_MEMBERSHIP as ADD, IP_BLOCK_SOURCE as BLOCK, IP_DROP_SOURCE_MEMBERSHIP as DROP};
        let cfg = Config::from_lookup(|_| None).unwrap();
        let mut s = Stack::new(&cfg, 1);
        let us = s.addr().octets();
        let (u, t) = (Proto::Udp(s.udp.socket()), Proto::Tcp(s.tcp.socket()));
        let src = |g: [u8; 4], i: [u8; 4], x: [u8; 4]| [g, i, x].concat();
        let (g, s1) = ([239, 7, 3, 20], [10, 0, 0, 77]);
        assert_eq!(source_membership(&mut s, u, ADD, &src(g, us, s1)[..8]), Err(libc::EINVAL));
        assert_eq!(source_membership(&mut s, u, ADD, &[src(g, us, s1), vec![0; 4]].concat()), Err(libc::EINVAL));
        assert_eq!(source_membership(&mut s, u, ADD, &src([10, 0, 0, 5], us, s1)), Err(libc::EINVAL));
        assert_eq!(source_membership(&mut s, u, ADD, &src(g, [10, 9, 9, 9], s1)), Err(libc::ENODEV));
        assert_eq!(source_membership(&mut s, u, DROP, &src(g, us, s1)), Err(libc::EINVAL), "no join");
        assert_eq!(source_membership(&mut s, u, ADD, &src(g, us, s1)), Ok(()));
        assert_eq!(source_membership(&mut s, u, ADD, &src(g, [0; 4], s1)), Err(libc::EADDRNOTAVAIL));
        assert_eq!(source_membership(&mut s, u, BLOCK, &src(g, us, s1)), Err(libc::EINVAL));
        assert_eq!(source_membership(&mut s, u, DROP, &src(g, us, s1)), Ok(()));
        assert!(!s.udp.host_joined(Ipv4Addr::from(g).into()), "the last source dropped: left");
        assert_eq!(source_membership(&mut s, t, ADD, &src(g, us, s1)), Ok(()), "Linux joins a TCP socket");
        assert_eq!(source_membership(&mut s, t, BLOCK, &src(g, us, s1)), Err(libc::EINVAL));
    }

    /// Linux's route lookup for a datagram (or connect) to a group (ip_route_output_key_hash):
    /// with a default route the group goes by it; with only the on-link /24, ENETUNREACH unless
    /// the socket names the device (IP_MULTICAST_IF, its own address, IP_PKTINFO's source);
    /// c-tests/mcast_route.c checks the same against the kernel.
    #[test]
    fn group_without_a_route_as_linux() {
        use crate::wire::ip::{IpAddress, IpEndpoint};
        let g: IpAddress = Ipv4Addr::new(239, 1, 2, 3).into();
        let local: IpAddress = Ipv4Addr::new(224, 0, 0, 251).into();
        let unicast: IpAddress = Ipv4Addr::new(10, 0, 0, 1).into();
        let with_gw = Stack::new(&Config::from_lookup(|_| None).unwrap(), 1);
        let mut w = with_gw;
        let h = w.udp.socket();
        assert_eq!(w.udp_route(h, g, None), Ok(()), "the default route covers every group");
        let cfg = Config::from_lookup(|k| (k == "TAPSTACK_GW").then(|| "none".to_string())).unwrap();
        let mut s = Stack::new(&cfg, 1);
        let us: IpAddress = s.addr().into();
        let h = s.udp.socket();
        let p = Proto::Udp(h);
        assert_eq!(s.udp_route(h, g, None), Err(Error::NetUnreachable));
        assert_eq!(s.udp_route(h, local, None), Err(Error::NetUnreachable), "224.0.0.x too");
        assert_eq!(s.udp_route(h, unicast, None), Ok(()), "unicast is not this check's");
        assert_eq!(s.udp_route(h, g, Some(IpAddress::v4(0, 0, 0, 0))), Err(Error::NetUnreachable));
        assert_eq!(s.udp_route(h, g, Some(us)), Ok(()), "IP_PKTINFO's ipi_spec_dst names the device");
        // Memberships: 0.0.0.0 finds no device without a route (ip_mc_find_dev): ENODEV.
        let gb = g.as_v4().octets();
        assert_eq!(membership(&mut s, p, true, &mreq(gb, [0; 4])), Err(libc::ENODEV));
        assert_eq!(membership(&mut s, p, false, &mreq(gb, [0; 4])), Err(libc::ENODEV));
        let src = [gb, [0; 4], [10, 0, 0, 1]].concat();
        assert_eq!(source_membership(&mut s, p, libc::IP_ADD_SOURCE_MEMBERSHIP, &src), Err(libc::ENODEV));
        membership(&mut s, p, true, &mreq(gb, us.as_v4().octets())).unwrap();
        membership(&mut s, p, false, &mreq(gb, us.as_v4().octets())).unwrap();
        // IP_MULTICAST_IF: our address, the loopback; 0.0.0.0 goes back to the route's choice.
        multicast_if(&mut s, p, &us.as_v4().octets()).unwrap();
        assert_eq!(s.udp_route(h, g, None), Ok(()));
        multicast_if(&mut s, p, &[0; 4]).unwrap();
        assert_eq!(s.udp_route(h, g, None), Err(Error::NetUnreachable));
        multicast_if(&mut s, p, &[127, 0, 0, 1]).unwrap();
        assert_eq!(s.udp_route(h, g, None), Ok(()));
        multicast_if(&mut s, p, &mreq([0; 4], [0; 4])).unwrap();
        assert_eq!(s.udp_route(h, g, None), Err(Error::NetUnreachable));
        // Bound to 0.0.0.0 or to a group: no source address; to ours (or by connect): one.
        s.udp.bind(h, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 5000)).unwrap();
        assert_eq!(s.udp_route(h, g, None), Err(Error::NetUnreachable));
        let m = s.udp.socket();
        s.udp.bind(m, IpEndpoint::new(g, 5001)).unwrap();
        assert_eq!(s.udp_route(m, g, None), Err(Error::NetUnreachable));
        let b = s.udp.socket();
        s.udp.bind(b, IpEndpoint::new(us, 0)).unwrap();
        assert_eq!(s.udp_route(b, g, None), Ok(()));
        s.udp.connect(h, Some(IpEndpoint::new(unicast, 53))).unwrap();
        assert_eq!(s.udp_route(h, g, None), Ok(()), "connect set the source address");
        // A route covering the groups (as the default route does).
        let c = s.udp.socket();
        s.add_route(Ipv4Addr::new(224, 0, 0, 0), 4, None);
        assert_eq!(s.udp_route(c, g, None), Ok(()));
    }
}
