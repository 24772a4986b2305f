//! The whole-filter multicast options (RFC 3678 4.2 and 5.2's advanced APIs, Linux's ip(7)):
//! IP_MSFILTER takes a `struct ip_msfilter` (group, interface address, mode, sources as
//! `in_addr`s), MCAST_MSFILTER a `struct group_filter` (interface index, group and sources as
//! `sockaddr_storage`s). setsockopt replaces the filter of a membership (Linux's
//! ip_mc_msfilter, reached from do_ip_setsockopt and ip_set_mcast_msfilter); getsockopt reads
//! the group from the value and writes back the mode, the number of sources and as many of
//! them as the caller's count makes room for (ip_mc_msfget, ip_get_mcast_msfilter with
//! ip_mc_gsfget). Both act on the memberships and filters of the other options (`super`,
//! `socket/udp_msf.rs`).
use std::mem::{align_of, size_of};
use std::net::Ipv4Addr;

use super::{ip_at, join_leave, ours, Member, Mreqn};
use crate::service::engine::Proto;
use crate::stack::Stack;
use crate::wire::ip::IpAddress;
use crate::Error;

/// `IP_MSFILTER_SIZE(0)`: `imsf_multiaddr`, `imsf_interface`, `imsf_fmode`, `imsf_numsrc`.
const IMSF_HDR: usize = 16;
const SS: usize = size_of::<libc::sockaddr_storage>();
const SS_ALIGN: usize = align_of::<libc::sockaddr_storage>();
const fn align(o: usize) -> usize {
    o.div_ceil(SS_ALIGN) * SS_ALIGN
}
/// `struct group_filter`: `gf_interface` (u32), `gf_group`, `gf_fmode`, `gf_numsrc`, then
/// `gf_slist`; `GROUP_FILTER_SIZE(0)` is `GF_SLIST`.
const GF_GROUP: usize = align(4);
const GF_FMODE: usize = GF_GROUP + SS;
const GF_NUMSRC: usize = GF_FMODE + 4;
const GF_SLIST: usize = align(GF_NUMSRC + 4);
/// Linux's igmp_max_msf (net.ipv4.igmp_max_msf): more sources in a filter set is ENOBUFS.
const MAX_MSF: u32 = crate::socket::udp::msf::MAX_SOURCES as u32;

fn u32_at(v: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([v[o], v[o + 1], v[o + 2], v[o + 3]])
}

/// The IPv4 address of the `sockaddr_storage` at `o` (`v` holds `o + 8` bytes), if AF_INET.
fn inet_at(v: &[u8], o: usize) -> Option<Ipv4Addr> {
    (u16::from_ne_bytes([v[o], v[o + 1]]) == libc::AF_INET as u16).then(|| ip_at(v, o + 4))
}

/// Whether getsockopt / setsockopt of (`level`, `name`) is one of these.
pub fn handles(level: i32, name: i32) -> bool {
    level == libc::IPPROTO_IP && (name == libc::IP_MSFILTER || name == libc::MCAST_MSFILTER)
}

fn member(p: Proto) -> Member {
    match p {
        Proto::Udp(h) => Member::Udp(h),
        Proto::Tcp(_) => Member::Stream,
    }
}

/// setsockopt: `val` is the value (at most the service's message), `len` the caller's length.
pub fn set(stack: &mut Stack, p: Proto, name: i32, val: &[u8], len: usize) -> Result<(), i32> {
    let (hdr, each) = if name == libc::IP_MSFILTER { (IMSF_HDR, 4) } else { (GF_SLIST, SS) };
    if len < hdr || val.len() < hdr {
        return Err(libc::EINVAL);
    }
    let numsrc = u32_at(val, if name == libc::IP_MSFILTER { 12 } else { GF_NUMSRC });
    if numsrc > MAX_MSF {
        return Err(libc::ENOBUFS);
    }
    let n = numsrc as usize;
    if hdr + n * each > len.min(val.len()) {
        return Err(libc::EINVAL);
    }
    let (m, fmode, sources) = if name == libc::IP_MSFILTER {
        let m = Mreqn { group: ip_at(val, 0), address: ip_at(val, 4), ifindex: 0 };
        (m, u32_at(val, 8), (0..n).map(|i| ip_at(val, hdr + 4 * i)).collect::<Vec<_>>())
    } else {
        // set_mcast_msfilter: a group or source not AF_INET is EADDRNOTAVAIL.
        let group = inet_at(val, GF_GROUP).ok_or(libc::EADDRNOTAVAIL)?;
        let sources: Option<Vec<_>> = (0..n).map(|i| inet_at(val, hdr + SS * i)).collect();
        let m = Mreqn { group, address: Ipv4Addr::UNSPECIFIED, ifindex: u32_at(val, 0) as i32 };
        (m, u32_at(val, GF_FMODE), sources.ok_or(libc::EADDRNOTAVAIL)?)
    };
    msfilter(stack, member(p), &m, fmode, &sources)
}

/// Linux's ip_mc_msfilter: EINVAL for a group that is not multicast or a mode neither INCLUDE
/// nor EXCLUDE, ENODEV for an interface not ours, (INCLUDE, {{}}) leaves the group
/// (EADDRNOTAVAIL if not joined), EINVAL without a prior join; else the filter is replaced.
fn msfilter(stack: &mut Stack, who: Member, m: &Mreqn, fmode: u32, sources: &[Ipv4Addr]) -> Result<(), i32> {
    if !m.group.is_multicast() {
        return Err(libc::EINVAL);
    }
    let include = match fmode as i32 {
        libc::MCAST_INCLUDE => true,
        libc::MCAST_EXCLUDE => false,
        _ => return Err(libc::EINVAL),
    };
    if !ours(stack, m) {
        return Err(libc::ENODEV);
    }
    if include && sources.is_empty() {
        return join_leave(stack, who, false, m);
    }
    let Member::Udp(h) = who else { return Err(libc::EINVAL) };
    let list: Vec<IpAddress> = sources.iter().map(|&a| a.into()).collect();
    stack.udp.set_source_filter(h, m.group.into(), include, &list).map_err(Error::errno)
}

/// getsockopt: `val` the caller's value (up to the service's message), `len` its length; the
/// answer is what Linux writes back (its length is the new `*optlen`).
pub fn get(stack: &Stack, p: Proto, name: i32, val: &[u8], len: usize) -> Result<Vec<u8>, i32> {
    let hdr = if name == libc::IP_MSFILTER { IMSF_HDR } else { GF_SLIST };
    if len < hdr || val.len() < hdr {
        return Err(libc::EINVAL);
    }
    let mut out = val[..hdr].to_vec();
    let (group, numsrc_at, fmode_at) = if name == libc::IP_MSFILTER {
        // ip_mc_msfget: the interface by its address (ip_mc_find_dev).
        let m = Mreqn { group: ip_at(val, 0), address: ip_at(val, 4), ifindex: 0 };
        if !m.group.is_multicast() {
            return Err(libc::EINVAL);
        }
        if !ours(stack, &m) {
            return Err(libc::ENODEV);
        }
        (m.group, 12, 8)
    } else {
        // ip_mc_gsfget: the membership of exactly this index (0 names none).
        let group = inet_at(val, GF_GROUP).filter(Ipv4Addr::is_multicast).ok_or(libc::EINVAL)?;
        if u32_at(val, 0) != super::tap_ifindex() {
            return Err(libc::EADDRNOTAVAIL);
        }
        (group, GF_NUMSRC, GF_FMODE)
    };
    let Proto::Udp(h) = p else { return Err(libc::EADDRNOTAVAIL) };
    let (include, sources) = stack.udp.source_filter_of(h, group.into()).map_err(Error::errno)?;
    let room = u32_at(val, numsrc_at) as usize;
    let fmode = if include { libc::MCAST_INCLUDE } else { libc::MCAST_EXCLUDE } as u32;
    out[fmode_at..fmode_at + 4].copy_from_slice(&fmode.to_ne_bytes());
    out[numsrc_at..numsrc_at + 4].copy_from_slice(&(sources.len() as u32).to_ne_bytes());
    for a in sources.iter().take(room) {
        let a = a.as_v4().octets();
        if name == libc::IP_MSFILTER {
            out.extend_from_slice(&a);
        } else {
            let mut ss = [0u8; SS];
            ss[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            ss[4..8].copy_from_slice(&a);
            out.extend_from_slice(&ss);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The TAP's index in these tests (the service sets the kernel's when it starts).
    const TAP: u32 = 4;

    fn imsf(g: [u8; 4], iface: [u8; 4], fmode: i32, numsrc: u32, srcs: &[[u8; 4]]) -> Vec<u8> {
        let mut v = [g, iface, (fmode as u32).to_ne_bytes(), numsrc.to_ne_bytes()].concat();
        srcs.iter().for_each(|s| v.extend_from_slice(s));
        v
    }

    fn gf(index: u32, g: [u8; 4], fmode: i32, numsrc: u32, srcs: &[[u8; 4]]) -> Vec<u8> {
        let ss = |a: [u8; 4]| {
            let mut s = vec![0u8; SS];
            s[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            s[4..8].copy_from_slice(&a);
            s
        };
        let mut v = vec![0u8; GF_SLIST];
        v[..4].copy_from_slice(&index.to_ne_bytes());
        v[GF_GROUP..GF_FMODE].copy_from_slice(&ss(g));
        v[GF_FMODE..GF_NUMSRC].copy_from_slice(&(fmode as u32).to_ne_bytes());
        v[GF_NUMSRC..GF_NUMSRC + 4].copy_from_slice(&numsrc.to_ne_bytes());
        srcs.iter().for_each(|&s| v.extend_from_slice(&ss(s)));
        v
    }

    #[test]
    fn layouts() {
        #[cfg(target_pointer_width = "64")]
        assert_eq!((GF_GROUP, GF_FMODE, GF_NUMSRC, GF_SLIST), (8, 136, 140, 144));
    }

    /// What c-tests/mcast_msf.c saw from Linux: errors, the filter written back truncated to
    /// the caller's count with the full count, the two options on the same filter.
    #[test]
    fn as_linux() {
        use libc::{IP_MSFILTER as IP, MCAST_EXCLUDE as EX, MCAST_INCLUDE as IN, MCAST_MSFILTER as MC};
        super::super::set_tap_ifindex(TAP);
        let mut s = Stack::new(&Config::from_lookup(|_| None).unwrap(), 1);
        let us = s.addr().octets();
        let h = s.udp.socket();
        let u = Proto::Udp(h);
        let (g, s1, s2) = ([239, 7, 12, 1], [10, 0, 0, 77], [10, 0, 0, 78]);
        let q = imsf(g, us, 0, 0, &[]);
        assert_eq!(get(&s, u, IP, &q, 15), Err(libc::EINVAL));
        assert_eq!(get(&s, u, IP, &q, 16), Err(libc::EADDRNOTAVAIL));
        assert_eq!(get(&s, u, IP, &imsf([10, 0, 0, 5], us, 0, 0, &[]), 16), Err(libc::EINVAL));
        assert_eq!(get(&s, u, IP, &imsf(g, [10, 9, 9, 9], 0, 0, &[]), 16), Err(libc::ENODEV));
        let set_ip = |s: &mut Stack, fm, srcs: &[[u8; 4]]| {
            let v = imsf(g, us, fm, srcs.len() as u32, srcs);
            set(s, u, IP, &v, v.len())
        };
        assert_eq!(set_ip(&mut s, EX, &[s1]), Err(libc::EINVAL), "no prior join");
        assert_eq!(set_ip(&mut s, IN, &[]), Err(libc::EADDRNOTAVAIL), "(INCLUDE, {{}}) leaves");
        assert_eq!(set_ip(&mut s, 7, &[s1]), Err(libc::EINVAL));
        let v = imsf(g, us, IN, 2, &[s1]);
        assert_eq!(set(&mut s, u, IP, &v, v.len()), Err(libc::EINVAL), "numsrc beyond the value");
        let v = imsf(g, us, IN, 11, &[]);
        assert_eq!(set(&mut s, u, IP, &v, v.len()), Err(libc::ENOBUFS));
        super::super::membership(&mut s, u, true, &[g, us].concat()).unwrap();
        assert_eq!(get(&s, u, IP, &q, 16), Ok(imsf(g, us, EX, 0, &[])), "any-source: EXCLUDE {{}}");
        assert_eq!(set_ip(&mut s, IN, &[s2, s1]), Ok(()));
        assert_eq!(get(&s, u, IP, &imsf(g, us, 0, 1, &[]), 20), Ok(imsf(g, us, IN, 2, &[s2])));
        assert_eq!(get(&s, u, IP, &imsf(g, us, 0, 5, &[]), 36), Ok(imsf(g, us, IN, 2, &[s2, s1])));
        let r = get(&s, u, MC, &gf(TAP, g, 0, 3, &[]), GF_SLIST);
        assert_eq!(r, Ok(gf(TAP, g, IN, 2, &[s2, s1])), "the same filter by index");
        assert_eq!(get(&s, u, MC, &gf(0, g, 0, 0, &[]), GF_SLIST), Err(libc::EADDRNOTAVAIL), "index 0");
        assert_eq!(get(&s, u, MC, &gf(TAP, g, 0, 0, &[]), GF_SLIST - 1), Err(libc::EINVAL));
        let v = gf(TAP, g, EX, 1, &[s1]);
        assert_eq!(set(&mut s, u, MC, &v, v.len()), Ok(()));
        assert_eq!(s.udp.source_list(h, Ipv4Addr::from(g).into()).map(|f| f.0), Some(false));
        assert_eq!(get(&s, u, IP, &q, 16), Ok(imsf(g, us, EX, 1, &[])));
        let v = gf(9999, g, EX, 0, &[]);
        assert_eq!(set(&mut s, u, MC, &v, v.len()), Err(libc::ENODEV));
        let v = gf(TAP, g, IN, 0, &[]);
        assert_eq!(set(&mut s, u, MC, &v, v.len()), Ok(()), "(INCLUDE, {{}}): left");
        assert!(!s.udp.host_joined(Ipv4Addr::from(g).into()));
    }
}
