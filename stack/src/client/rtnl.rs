//! rtnetlink address messages (RFC 3549; Linux `include/uapi/linux/rtnetlink.h`,
//! `if_addr.h`) as a program reads them from a NETLINK_ROUTE socket: the TAP's IPv4 addresses
//! show tapstack's (as getifaddrs does under the shim), not the kernel's side of the TAP.
//!
//! Found with dnsmasq: in its default (wildcard) mode it accepts a DNS-over-TCP connection only
//! if the connection's local address (getsockname: tapstack's 10.0.0.2) is the address of one
//! of the interfaces it enumerated with an RTM_GETADDR dump over its own netlink socket (the
//! kernel's 10.0.0.1 on the TAP). None matched, so it closed every TCP query unanswered ("end
//! of file" in dig) while UDP queries worked.
//!
//! A datagram read from the socket holds netlink messages back to back, each
//! `NLMSG_ALIGN`ed (4 bytes): `nlmsghdr` (len u32, type u16, flags u16, seq u32, pid u32; host
//! byte order), then for RTM_NEWADDR and RTM_DELADDR an `ifaddrmsg` (family u8, prefixlen u8,
//! flags u8, scope u8, index u32) and attributes (`rtattr`: len u16, type u16, value, each
//! `RTA_ALIGN`ed). [`rewrite_addrs`] changes, in place, the AF_INET messages of one interface
//! index: the prefix length and the 4-byte IFA_ADDRESS, IFA_LOCAL and IFA_BROADCAST values.
//! Nothing changes length. The walk is total: it stops at the first header or attribute whose
//! length does not fit (a truncated read, MSG_TRUNC) and never reads outside the buffer.
use std::net::Ipv4Addr;

/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct ifaddrmsg)`.
const IFADDRMSG_LEN: usize = 8;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_BROADCAST: u16 = 4;
const AF_INET: u8 = 2;

/// `NLMSG_ALIGN` and `RTA_ALIGN` (both 4).
fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// (netmask, broadcast) of `addr`/`prefix` (prefix over 32 counts as 32).
fn mask_bcast(addr: Ipv4Addr, prefix: u8) -> (u32, u32) {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    (mask, u32::from(addr) | !mask)
}

/// Rewrites, in `buf` (what one read of a NETLINK_ROUTE socket returned), every RTM_NEWADDR and
/// RTM_DELADDR message of family AF_INET for interface `ifindex`: prefix length `prefix`,
/// IFA_ADDRESS and IFA_LOCAL `addr`, IFA_BROADCAST the subnet broadcast of `addr`/`prefix`.
/// Returns how many messages changed.
pub fn rewrite_addrs(buf: &mut [u8], ifindex: u32, addr: Ipv4Addr, prefix: u8) -> usize {
    let mut changed = 0;
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() - off {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        if ty == RTM_NEWADDR || ty == RTM_DELADDR {
            changed += usize::from(rewrite_one(&mut buf[off + NLMSG_HDRLEN..off + len], ifindex, addr, prefix));
        }
        off += align4(len);
    }
    changed
}

/// One address message's payload (`ifaddrmsg` and its attributes); true if it was ours.
fn rewrite_one(p: &mut [u8], ifindex: u32, addr: Ipv4Addr, prefix: u8) -> bool {
    if p.len() < IFADDRMSG_LEN || p[0] != AF_INET || u32::from_ne_bytes([p[4], p[5], p[6], p[7]]) != ifindex {
        return false;
    }
    p[1] = prefix.min(32);
    let (_, bcast) = mask_bcast(addr, prefix);
    let mut off = IFADDRMSG_LEN;
    while off + 4 <= p.len() {
        let len = usize::from(u16::from_ne_bytes([p[off], p[off + 1]]));
        if len < 4 || len > p.len() - off {
            break;
        }
        let ty = u16::from_ne_bytes([p[off + 2], p[off + 3]]) & 0x3fff; // without NLA_F_* flags
        let value = match ty {
            IFA_ADDRESS | IFA_LOCAL => Some(u32::from(addr)),
            IFA_BROADCAST => Some(bcast),
            _ => None,
        };
        if let (Some(v), 8) = (value, len) {
            p[off + 4..off + 8].copy_from_slice(&v.to_be_bytes());
        }
        off += align4(len);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address message as the kernel sends it: ifaddrmsg, IFA_ADDRESS, IFA_LOCAL,
    /// IFA_BROADCAST (when given), IFA_LABEL.
    fn addr_msg(ty: u16, family: u8, prefix: u8, index: u32, a: [u8; 4], bcast: Option<[u8; 4]>) -> Vec<u8> {
        let mut p = vec![family, prefix, 0x80, 0];
        p.extend_from_slice(&index.to_ne_bytes());
        let mut attr = |t: u16, v: &[u8]| {
            p.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            p.extend_from_slice(&t.to_ne_bytes());
            p.extend_from_slice(v);
            p.resize(align4(p.len()), 0);
        };
        attr(IFA_ADDRESS, &a);
        attr(IFA_LOCAL, &a);
        if let Some(b) = bcast {
            attr(IFA_BROADCAST, &b);
        }
        attr(3, b"tap0\0"); // IFA_LABEL: 9 bytes, padded to 12
        let mut m = ((NLMSG_HDRLEN + p.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&p);
        m
    }

    #[test]
    fn the_taps_ipv4_address_shows_ours_others_stay() {
        let lo = addr_msg(RTM_NEWADDR, AF_INET, 8, 1, [127, 0, 0, 1], None);
        let tap = addr_msg(RTM_NEWADDR, AF_INET, 24, 7, [10, 0, 0, 1], Some([10, 0, 0, 255]));
        let v6 = addr_msg(RTM_NEWADDR, 10, 64, 7, [0xfe, 0x80, 0, 0], None);
        let mut buf = [lo.clone(), tap.clone(), v6.clone()].concat();
        assert_eq!(rewrite_addrs(&mut buf, 7, Ipv4Addr::new(192, 168, 7, 2), 20), 1);
        let want = addr_msg(RTM_NEWADDR, AF_INET, 20, 7, [192, 168, 7, 2], Some([192, 168, 15, 255]));
        assert_eq!(&buf[..lo.len()], &lo[..], "lo stays");
        assert_eq!(&buf[lo.len()..lo.len() + tap.len()], &want[..]);
        assert_eq!(&buf[lo.len() + tap.len()..], &v6[..], "AF_INET6 stays");
    }

    #[test]
    fn deletions_are_rewritten_other_messages_are_not() {
        let mut del = addr_msg(RTM_DELADDR, AF_INET, 24, 7, [10, 0, 0, 1], None);
        assert_eq!(rewrite_addrs(&mut del, 7, Ipv4Addr::new(10, 0, 0, 2), 24), 1);
        assert_eq!(del, addr_msg(RTM_DELADDR, AF_INET, 24, 7, [10, 0, 0, 2], None));
        let route = addr_msg(24, AF_INET, 24, 7, [10, 0, 0, 1], None); // RTM_NEWROUTE
        let mut r = route.clone();
        assert_eq!(rewrite_addrs(&mut r, 7, Ipv4Addr::new(10, 0, 0, 2), 24), 0);
        assert_eq!(r, route);
    }

    #[test]
    fn truncated_and_malformed_input_is_left_alone() {
        let tap = addr_msg(RTM_NEWADDR, AF_INET, 24, 7, [10, 0, 0, 1], None);
        for cut in 0..tap.len() {
            let mut b = tap[..cut].to_vec();
            // A cut header (len beyond the buffer) is not walked; a whole one may be.
            assert_eq!(rewrite_addrs(&mut b, 7, Ipv4Addr::new(10, 0, 0, 2), 24), 0, "cut at {cut}");
            assert_eq!(b, &tap[..cut]);
        }
        let mut zero_len = vec![0u8; 64];
        assert_eq!(rewrite_addrs(&mut zero_len, 0, Ipv4Addr::new(10, 0, 0, 2), 24), 0);
        // An attribute length past the message ends the attribute walk, not the program.
        let mut bad = tap.clone();
        bad[NLMSG_HDRLEN + IFADDRMSG_LEN] = 0xff;
        assert_eq!(rewrite_addrs(&mut bad, 7, Ipv4Addr::new(10, 0, 0, 2), 24), 1);
        for len in [0u32, 3, 15, u32::MAX] {
            let mut b = tap.clone();
            b[..4].copy_from_slice(&len.to_ne_bytes());
            assert_eq!(rewrite_addrs(&mut b, 7, Ipv4Addr::new(10, 0, 0, 2), 24), 0, "nlmsg_len {len}");
        }
    }

    #[test]
    fn masks() {
        assert_eq!(mask_bcast(Ipv4Addr::new(10, 0, 0, 2), 24), (0xffff_ff00, 0x0a00_00ff));
        assert_eq!(mask_bcast(Ipv4Addr::new(10, 0, 0, 2), 0), (0, u32::MAX));
        assert_eq!(mask_bcast(Ipv4Addr::new(10, 0, 0, 2), 40), (u32::MAX, 0x0a00_0002));
    }
}
