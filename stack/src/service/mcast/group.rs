//! The protocol-independent multicast options of RFC 3678 (section 5.1 and 5.2's socket
//! options, Linux's ip(7)) on IPv4 sockets: MCAST_JOIN_GROUP and MCAST_LEAVE_GROUP take a
//! `struct group_req`, MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP, MCAST_BLOCK_SOURCE
//! and MCAST_UNBLOCK_SOURCE a `struct group_source_req`; both name the interface by its index
//! (0: the route's choice) and the addresses by a `sockaddr_storage`. Read as Linux's
//! ip_mcast_join_leave and do_mcast_group_source read them, then the same membership and
//! source-filter code as IP_ADD_MEMBERSHIP and IP_ADD_SOURCE_MEMBERSHIP (`super`), so the
//! engine sends the same IGMP reports and the two APIs act on the same memberships.
//! getsockopt of these names is ENOPROTOOPT, as Linux's do_ip_getsockopt answers.
use std::mem::{offset_of, size_of};
use std::net::Ipv4Addr;

use super::{ip_at, join_leave, source_filter, Member, Mreqn};
use crate::service::engine::Proto;
use crate::socket::udp::msf::SourceOp;
use crate::stack::Stack;

/// `sizeof(struct group_req)`: the least MCAST_JOIN_GROUP / MCAST_LEAVE_GROUP take.
const GR_LEN: usize = size_of::<libc::group_req>();
const GR_GROUP: usize = offset_of!(libc::group_req, gr_group);
/// `sizeof(struct group_source_req)`: the only length the source options take.
const GSR_LEN: usize = size_of::<libc::group_source_req>();
const GSR_GROUP: usize = offset_of!(libc::group_source_req, gsr_group);
const GSR_SOURCE: usize = offset_of!(libc::group_source_req, gsr_source);
// The reads below stay inside a value of the checked length: the index before the addresses,
// a sockaddr_in's family and address (8 bytes) inside each.
const _: () =
    assert!(GR_GROUP >= 4 && GR_LEN >= GR_GROUP + 8 && GSR_SOURCE >= GSR_GROUP + 8 && GSR_LEN >= GSR_SOURCE + 8);

/// The IPv4 address of the `sockaddr_storage` at `o` in `v` (at least `o + 8` bytes), if it is
/// an AF_INET one (`sin_family` first, `sin_addr` after the port).
fn inet_at(v: &[u8], o: usize) -> Option<Ipv4Addr> {
    let family = u16::from_ne_bytes([v[o], v[o + 1]]);
    (family == libc::AF_INET as u16).then(|| ip_at(v, o + 4))
}

/// The interface index first in both structures (`gr_interface`, `gsr_interface`: a u32 that
/// Linux keeps as the `int` of an `ip_mreqn`).
fn index_at(v: &[u8]) -> i32 {
    i32::from_ne_bytes([v[0], v[1], v[2], v[3]])
}

fn member(p: Proto) -> Member {
    match p {
        Proto::Udp(h) => Member::Udp(h),
        Proto::Tcp(_) => Member::Stream,
    }
}

/// MCAST_JOIN_GROUP (`join`) or MCAST_LEAVE_GROUP (ip_mcast_join_leave): EINVAL for a value
/// shorter than a `group_req` (longer is read up to its size) or a group that is not AF_INET,
/// then ip_mc_join_group / ip_mc_leave_group on the group and the index (EINVAL for a group
/// that is not multicast, ENODEV for an index not ours or none and no route, EADDRINUSE,
/// ENOBUFS; leaving: EADDRNOTAVAIL for a group not joined or another index). Linux refuses no
/// stream socket here (unlike IP_ADD_MEMBERSHIP's EPROTO): the same checks, nothing kept.
pub fn membership(stack: &mut Stack, p: Proto, join: bool, val: &[u8]) -> Result<(), i32> {
    if val.len() < GR_LEN {
        return Err(libc::EINVAL);
    }
    let group = inet_at(val, GR_GROUP).ok_or(libc::EINVAL)?;
    let m = Mreqn { group, address: Ipv4Addr::UNSPECIFIED, ifindex: index_at(val) };
    join_leave(stack, member(p), join, &m)
}

/// MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP, MCAST_BLOCK_SOURCE or
/// MCAST_UNBLOCK_SOURCE (`name`; do_mcast_group_source): EINVAL for a value that is not one
/// `group_source_req`, EADDRNOTAVAIL for a group or source that is not AF_INET, then as the
/// IP_*_SOURCE options on the index (INCLUDE for join/leave, EXCLUDE for block/unblock; EINVAL
/// without a prior join or on a filter of the other mode, EADDRNOTAVAIL for a source already
/// there or not there, ENOBUFS past 10 sources, ENODEV for an index not ours).
pub fn source(stack: &mut Stack, p: Proto, name: i32, val: &[u8]) -> Result<(), i32> {
    if val.len() != GSR_LEN {
        return Err(libc::EINVAL);
    }
    let (Some(group), Some(source)) = (inet_at(val, GSR_GROUP), inet_at(val, GSR_SOURCE)) else {
        return Err(libc::EADDRNOTAVAIL);
    };
    let op = match name {
        libc::MCAST_JOIN_SOURCE_GROUP => SourceOp::AddMembership,
        libc::MCAST_LEAVE_SOURCE_GROUP => SourceOp::DropMembership,
        libc::MCAST_BLOCK_SOURCE => SourceOp::Block,
        _ => SourceOp::Unblock,
    };
    let m = Mreqn { group, address: Ipv4Addr::UNSPECIFIED, ifindex: index_at(val) };
    source_filter(stack, member(p), op, &m, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use libc::{
        MCAST_BLOCK_SOURCE as BLOCK, MCAST_JOIN_SOURCE_GROUP as JOIN_SRC, MCAST_LEAVE_SOURCE_GROUP as LEAVE_SRC,
        MCAST_UNBLOCK_SOURCE as UNBLOCK,
    };

    /// The TAP's index in these tests (the service sets the kernel's when it starts).
    const TAP: u32 = 4;

    fn storage(family: i32, a: [u8; 4]) -> Vec<u8> {
        let mut s = vec![0u8; size_of::<libc::sockaddr_storage>()];
        s[..2].copy_from_slice(&(family as u16).to_ne_bytes());
        s[4..8].copy_from_slice(&a);
        s
    }

    fn group_req(index: u32, family: i32, g: [u8; 4]) -> Vec<u8> {
        let mut v = vec![0u8; GR_LEN];
        v[..4].copy_from_slice(&index.to_ne_bytes());
        v[GR_GROUP..].copy_from_slice(&storage(family, g));
        v
    }

    fn group_source_req(index: u32, g: (i32, [u8; 4]), s: (i32, [u8; 4])) -> Vec<u8> {
        let mut v = vec![0u8; GSR_LEN];
        v[..4].copy_from_slice(&index.to_ne_bytes());
        v[GSR_GROUP..GSR_SOURCE].copy_from_slice(&storage(g.0, g.1));
        v[GSR_SOURCE..].copy_from_slice(&storage(s.0, s.1));
        v
    }

    /// The sizes of the C library's structures (x86-64: 136 and 264 bytes).
    #[test]
    fn layouts() {
        #[cfg(target_pointer_width = "64")]
        assert_eq!((GR_LEN, GR_GROUP, GSR_LEN, GSR_GROUP, GSR_SOURCE), (136, 8, 264, 8, 136));
    }

    /// MCAST_JOIN_GROUP / MCAST_LEAVE_GROUP as Linux answers them (c-tests/mcast_group.c):
    /// lengths, families, the index, joined twice or not at all, with IP_ADD_MEMBERSHIP's
    /// memberships; a stream socket.
    #[test]
    fn group_req_as_linux() {
        super::super::set_tap_ifindex(TAP);
        let mut s = Stack::new(&Config::from_lookup(|_| None).unwrap(), 1);
        let us = s.addr().octets();
        let (u, t) = (Proto::Udp(s.udp.socket()), Proto::Tcp(s.tcp.socket()));
        let g = [239, 7, 4, 20];
        let gip = Ipv4Addr::from(g).into();
        let ok = group_req(TAP, libc::AF_INET, g);
        assert_eq!(membership(&mut s, u, true, &ok[..GR_LEN - 1]), Err(libc::EINVAL));
        assert_eq!(membership(&mut s, u, true, &group_req(TAP, libc::AF_INET6, g)), Err(libc::EINVAL));
        assert_eq!(membership(&mut s, u, true, &group_req(TAP, libc::AF_UNSPEC, g)), Err(libc::EINVAL));
        let unicast = group_req(TAP, libc::AF_INET, [10, 0, 0, 5]);
        assert_eq!(membership(&mut s, u, true, &unicast), Err(libc::EINVAL));
        assert_eq!(membership(&mut s, u, true, &group_req(9999, libc::AF_INET, g)), Err(libc::ENODEV));
        assert_eq!(membership(&mut s, u, false, &ok), Err(libc::EADDRNOTAVAIL));
        assert_eq!(membership(&mut s, u, true, &[ok.clone(), vec![0; 8]].concat()), Ok(()), "longer: read to its size");
        assert!(s.udp.host_joined(gip));
        assert_eq!(s.udp.take_igmp(), Some((gip, true)), "the join is reported");
        assert_eq!(membership(&mut s, u, true, &ok), Err(libc::EADDRINUSE));
        let mreq = [g, us].concat();
        assert_eq!(super::super::membership(&mut s, u, true, &mreq), Err(libc::EADDRINUSE), "the same membership");
        assert_eq!(membership(&mut s, u, false, &group_req(9999, libc::AF_INET, g)), Err(libc::EADDRNOTAVAIL));
        assert_eq!(membership(&mut s, u, false, &ok), Ok(()));
        assert!(!s.udp.host_joined(gip));
        assert_eq!(s.udp.take_igmp(), Some((gip, false)), "the leave is reported");
        assert_eq!(membership(&mut s, u, false, &ok), Err(libc::EADDRNOTAVAIL));
        super::super::membership(&mut s, u, true, &mreq).unwrap();
        assert_eq!(membership(&mut s, u, false, &ok), Ok(()), "IP_ADD_MEMBERSHIP's, left by index");
        // Index 0: the route's choice (the default route here).
        assert_eq!(membership(&mut s, u, true, &group_req(0, libc::AF_INET, g)), Ok(()));
        // A stream socket: checked, not refused.
        assert_eq!(membership(&mut s, t, true, &ok[..GR_LEN - 1]), Err(libc::EINVAL));
        assert_eq!(membership(&mut s, t, true, &unicast), Err(libc::EINVAL));
        assert_eq!(membership(&mut s, t, true, &group_req(9999, libc::AF_INET, g)), Err(libc::ENODEV));
        assert_eq!(membership(&mut s, t, true, &ok), Ok(()));
    }

    /// The four source options as Linux answers them (c-tests/mcast_group.c).
    #[test]
    fn group_source_req_as_linux() {
        super::super::set_tap_ifindex(TAP);
        let mut s = Stack::new(&Config::from_lookup(|_| None).unwrap(), 1);
        let us = s.addr().octets();
        let (u, t) = (Proto::Udp(s.udp.socket()), Proto::Tcp(s.tcp.socket()));
        let (g, s1, s2) = ([239, 7, 4, 21], [10, 0, 0, 77], [10, 0, 0, 78]);
        let inet = libc::AF_INET;
        let req = |i: u32, g: [u8; 4], x: [u8; 4]| group_source_req(i, (inet, g), (inet, x));
        let ok = req(TAP, g, s1);
        let mut op = |p: Proto, name: i32, v: &[u8]| source(&mut s, p, name, v);
        assert_eq!(op(u, JOIN_SRC, &ok[..GSR_LEN - 1]), Err(libc::EINVAL));
        assert_eq!(op(u, JOIN_SRC, &[ok.clone(), vec![0; 8]].concat()), Err(libc::EINVAL));
        let v6 = group_source_req(TAP, (libc::AF_INET6, g), (inet, s1));
        assert_eq!(op(u, JOIN_SRC, &v6), Err(libc::EADDRNOTAVAIL));
        let unspec = group_source_req(TAP, (inet, g), (libc::AF_UNSPEC, s1));
        assert_eq!(op(u, JOIN_SRC, &unspec), Err(libc::EADDRNOTAVAIL));
        assert_eq!(op(u, JOIN_SRC, &req(TAP, [10, 0, 0, 5], s1)), Err(libc::EINVAL));
        assert_eq!(op(u, JOIN_SRC, &req(9999, g, s1)), Err(libc::ENODEV));
        for name in [LEAVE_SRC, BLOCK, UNBLOCK] {
            assert_eq!(op(u, name, &ok), Err(libc::EINVAL), "{name}: no prior join");
        }
        assert_eq!(op(u, BLOCK, &req(9999, g, s1)), Err(libc::ENODEV));
        assert_eq!(op(u, JOIN_SRC, &ok), Ok(()));
        assert_eq!(op(u, JOIN_SRC, &ok), Err(libc::EADDRNOTAVAIL));
        assert_eq!(membership(&mut s, u, true, &group_req(TAP, inet, g)), Err(libc::EADDRINUSE));
        let mut op = |p: Proto, name: i32, v: &[u8]| source(&mut s, p, name, v);
        assert_eq!(op(u, BLOCK, &ok), Err(libc::EINVAL), "the INCLUDE filter");
        assert_eq!(op(u, LEAVE_SRC, &req(TAP, g, s2)), Err(libc::EADDRNOTAVAIL));
        assert_eq!(op(u, LEAVE_SRC, &req(9999, g, s1)), Err(libc::ENODEV));
        assert_eq!(op(u, LEAVE_SRC, &ok), Ok(()), "the last source: left");
        assert!(!s.udp.host_joined(Ipv4Addr::from(g).into()));
        assert_eq!(membership(&mut s, u, true, &group_req(TAP, inet, g)), Ok(()));
        let mut op = |p: Proto, name: i32, v: &[u8]| source(&mut s, p, name, v);
        assert_eq!(op(u, UNBLOCK, &ok), Err(libc::EADDRNOTAVAIL));
        assert_eq!(op(u, BLOCK, &ok), Ok(()));
        assert_eq!(op(u, BLOCK, &ok), Err(libc::EADDRNOTAVAIL));
        assert_eq!(op(u, JOIN_SRC, &ok), Err(libc::EINVAL), "the EXCLUDE filter");
        assert_eq!(op(u, UNBLOCK, &ok), Ok(()));
        let mreq_source = [g, us, s1].concat();
        let r = super::super::source_membership(&mut s, u, libc::IP_BLOCK_SOURCE, &mreq_source);
        assert_eq!(r, Ok(()), "IP_BLOCK_SOURCE on MCAST_JOIN_GROUP's membership");
        let mut op = |p: Proto, name: i32, v: &[u8]| source(&mut s, p, name, v);
        assert_eq!(op(u, UNBLOCK, &ok), Ok(()));
        assert_eq!(op(t, JOIN_SRC, &ok), Ok(()), "Linux joins a stream socket");
        assert_eq!(op(t, BLOCK, &ok), Err(libc::EINVAL));
    }
}
