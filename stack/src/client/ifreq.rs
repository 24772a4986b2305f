//! The interface-address ioctls (netdevice(7)) on a tapstack socket, as Linux answers them on
//! an AF_INET socket, with the TAP showing tapstack's address (as getifaddrs and rtnetlink do
//! under the shim).
//!
//! A tapstack socket is one end of an AF_UNIX socketpair. Linux answers SIOCGIFCONF and the
//! device ioctls (SIOCGIFFLAGS, SIOCGIFMTU, SIOCGIFINDEX, ...) on any socket, but the IPv4
//! address ones (SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK) only on an
//! AF_INET socket (`devinet_ioctl`); on the pair they failed with ENOTTY. Found with Java's
//! `NetworkInterface` (SIOCGIFCONF, then SIOCGIFNETMASK and SIOCGIFBRDADDR per address: the TAP
//! showed the kernel's 10.0.0.1 with prefix 0 and no broadcast) and `busybox ifconfig` (no
//! `inet addr` line). The shim asks a kernel AF_INET socket instead, then puts tapstack's
//! values into the TAP's answers ([`tap_value`], [`rewrite_ifconf`]).
//!
//! `struct ifreq` is 40 bytes: `ifr_name[16]` (NUL-padded), then a union whose
//! `struct sockaddr_in` (family u16, port u16 big-endian, address 4 bytes big-endian) is used here.
use std::net::Ipv4Addr;

pub const SIOCGIFCONF: libc::c_ulong = 0x8912;
pub const SIOCGIFADDR: libc::c_ulong = 0x8915;
pub const SIOCGIFDSTADDR: libc::c_ulong = 0x8917;
pub const SIOCGIFBRDADDR: libc::c_ulong = 0x8919;
pub const SIOCGIFNETMASK: libc::c_ulong = 0x891b;
/// `sizeof(struct ifreq)` on Linux x86-64.
pub const IFREQ_LEN: usize = 40;
const IFNAMSIZ: usize = 16;
const AF_INET: u16 = 2;

/// The IPv4 address ioctls only an AF_INET socket answers.
pub fn is_inet_addr_ioctl(req: libc::c_ulong) -> bool {
    matches!(req, SIOCGIFADDR | SIOCGIFDSTADDR | SIOCGIFBRDADDR | SIOCGIFNETMASK)
}

/// The interface name of an ifreq (up to its first NUL).
pub fn name(ifr: &[u8]) -> &[u8] {
    let n = &ifr[..ifr.len().min(IFNAMSIZ)];
    &n[..n.iter().position(|&b| b == 0).unwrap_or(n.len())]
}

/// What tapstack answers for `req` on the TAP with `addr`/`prefix`: SIOCGIFADDR and
/// SIOCGIFDSTADDR (Linux gives the local address on a link that is not point-to-point) the
/// address, SIOCGIFNETMASK the mask, SIOCGIFBRDADDR the subnet broadcast.
pub fn tap_value(req: libc::c_ulong, addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    match req {
        SIOCGIFADDR | SIOCGIFDSTADDR => Some(addr),
        SIOCGIFNETMASK => Some(Ipv4Addr::from(mask)),
        SIOCGIFBRDADDR => Some(Ipv4Addr::from(u32::from(addr) | !mask)),
        _ => None,
    }
}

/// Writes `a` into the sockaddr_in of `ifr` if it holds an AF_INET one; true if it did.
pub fn put_addr(ifr: &mut [u8], a: Ipv4Addr) -> bool {
    if ifr.len() < IFNAMSIZ + 8 || u16::from_ne_bytes([ifr[IFNAMSIZ], ifr[IFNAMSIZ + 1]]) != AF_INET {
        return false;
    }
    ifr[IFNAMSIZ + 4..IFNAMSIZ + 8].copy_from_slice(&a.octets());
    true
}

/// Sets the union of `ifr` (at least [`IFREQ_LEN`] bytes) to the sockaddr_in of `a`, port 0,
/// as Linux writes an answer.
pub fn set_sockaddr_in(ifr: &mut [u8], a: Ipv4Addr) {
    ifr[IFNAMSIZ..IFNAMSIZ + 16].fill(0);
    ifr[IFNAMSIZ..IFNAMSIZ + 2].copy_from_slice(&AF_INET.to_ne_bytes());
    ifr[IFNAMSIZ + 4..IFNAMSIZ + 8].copy_from_slice(&a.octets());
}

/// Rewrites, in the entries SIOCGIFCONF filled (`buf`, whole `IFREQ_LEN` records), the AF_INET
/// address of every entry named `tap` to `addr`. Returns how many changed.
pub fn rewrite_ifconf(buf: &mut [u8], tap: &[u8], addr: Ipv4Addr) -> usize {
    buf.chunks_exact_mut(IFREQ_LEN).filter(|e| name(e) == tap).map(|e| usize::from(put_addr(e, addr))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifreq(name: &str, a: [u8; 4]) -> Vec<u8> {
        let mut e = vec![0u8; IFREQ_LEN];
        e[..name.len()].copy_from_slice(name.as_bytes());
        e[IFNAMSIZ..IFNAMSIZ + 2].copy_from_slice(&AF_INET.to_ne_bytes());
        e[IFNAMSIZ + 4..IFNAMSIZ + 8].copy_from_slice(&a);
        e
    }

    #[test]
    fn ifconf_shows_our_address_on_the_tap_only() {
        let lo = ifreq("lo", [127, 0, 0, 1]);
        let tap = ifreq("tap0", [10, 0, 0, 1]);
        let tap01 = ifreq("tap01", [10, 9, 0, 1]);
        let mut buf = [lo.clone(), tap, tap01.clone()].concat();
        assert_eq!(rewrite_ifconf(&mut buf, b"tap0", Ipv4Addr::new(10, 0, 0, 2)), 1);
        assert_eq!(&buf[..IFREQ_LEN], &lo[..]);
        assert_eq!(&buf[IFREQ_LEN..2 * IFREQ_LEN], &ifreq("tap0", [10, 0, 0, 2])[..]);
        assert_eq!(&buf[2 * IFREQ_LEN..], &tap01[..], "a longer name is another interface");
        // A partial record (a short ifc_len) is not touched.
        let mut short = ifreq("tap0", [10, 0, 0, 1]);
        short.truncate(IFREQ_LEN - 1);
        assert_eq!(rewrite_ifconf(&mut short, b"tap0", Ipv4Addr::new(10, 0, 0, 2)), 0);
    }

    #[test]
    fn values_for_the_tap() {
        let a = Ipv4Addr::new(192, 168, 7, 2);
        assert_eq!(tap_value(SIOCGIFADDR, a, 20), Some(a));
        assert_eq!(tap_value(SIOCGIFDSTADDR, a, 20), Some(a));
        assert_eq!(tap_value(SIOCGIFNETMASK, a, 20), Some(Ipv4Addr::new(255, 255, 240, 0)));
        assert_eq!(tap_value(SIOCGIFBRDADDR, a, 20), Some(Ipv4Addr::new(192, 168, 15, 255)));
        assert_eq!(tap_value(SIOCGIFCONF, a, 20), None);
        assert!(is_inet_addr_ioctl(SIOCGIFNETMASK) && !is_inet_addr_ioctl(0x8913 /* SIOCGIFFLAGS */));
    }

    #[test]
    fn names_and_non_inet_answers() {
        assert_eq!(name(b"tap0\0\0\0\0\0\0\0\0\0\0\0\0xyz"), b"tap0");
        assert_eq!(name(b"sixteen-chars-xx"), b"sixteen-chars-xx");
        let mut e = ifreq("tap0", [10, 0, 0, 1]);
        e[IFNAMSIZ] = 10; // AF_INET6
        assert!(!put_addr(&mut e, Ipv4Addr::new(10, 0, 0, 2)));
        assert!(!put_addr(&mut [0u8; 20], Ipv4Addr::new(10, 0, 0, 2)));
        let mut e = vec![0xaau8; IFREQ_LEN];
        e[..5].copy_from_slice(b"tap0\0");
        set_sockaddr_in(&mut e, Ipv4Addr::new(10, 0, 0, 2));
        let mut want = ifreq("tap0", [10, 0, 0, 2]);
        want[5..IFNAMSIZ].fill(0xaa);
        want[IFNAMSIZ + 16..].fill(0xaa);
        assert_eq!(e, want, "name kept, sockaddr_in whole, the rest of the union untouched");
    }
}
