//! The interface-address ioctls (netdevice(7)): SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR,
//! SIOCGIFDSTADDR and SIOCGIFCONF give, for the TAP, tapstack's address, netmask and subnet
//! broadcast, as getifaddrs does (`ifaddrs.rs`), whether or not the kernel has an IPv4 address
//! on it; older daemons learn their address this way. Linux answers the first four only on an
//! AF_INET socket (devinet_ioctl; ENOTTY on the AF_UNIX pair behind a socket of ours), so on
//! our sockets they are asked of a kernel AF_INET socket, as the program's socket would have
//! been one: other interfaces read as the kernel reports them (ENODEV for no such interface,
//! EADDRNOTAVAIL for one without IPv4). An AF_INET6 socket of ours answers ENOTTY, as Linux's. SIOCGIFCONF (any socket: Linux's dev_ifconf) lists the
//! TAP with tapstack's address, in its place by interface index when the kernel lists none.
use std::net::Ipv4Addr;

use libc::{c_int, c_ulong, c_void};

use crate::ifaddrs::{ours, values};
use crate::real;

const IFREQ: usize = std::mem::size_of::<libc::ifreq>();
/// The interface-address requests answered here (besides SIOCGIFCONF).
const ADDR_REQS: [c_ulong; 4] = [libc::SIOCGIFADDR, libc::SIOCGIFNETMASK, libc::SIOCGIFBRDADDR, libc::SIOCGIFDSTADDR];

/// Whether `req` is one of ours.
pub(crate) fn handles(req: c_ulong) -> bool {
    req == libc::SIOCGIFCONF || ADDR_REQS.contains(&req)
}

/// The name in an ifreq's first IFNAMSIZ bytes (up to its NUL; the kernel reads at most 15).
fn name_of(b: &[u8]) -> &[u8] {
    let b = &b[..libc::IFNAMSIZ - 1];
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// The address `req` reads for the TAP: tapstack's (SIOCGIFDSTADDR: the local address, as
/// Linux gives on a link that is not point-to-point).
fn value(req: c_ulong, addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let (a, mask, bcast) = values(addr, prefix);
    match req {
        libc::SIOCGIFNETMASK => mask,
        libc::SIOCGIFBRDADDR => bcast,
        _ => a,
    }
}

/// Writes a `sockaddr_in` of `a` at an ifreq's `ifr_addr` (offset IFNAMSIZ).
fn put_sin(ifr: &mut [u8], a: Ipv4Addr) {
    let o = libc::IFNAMSIZ;
    ifr[o..o + 16].fill(0);
    ifr[o..o + 2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    ifr[o + 4..o + 8].copy_from_slice(&a.octets());
}

/// ioctl `req` (one [`handles`]) on `fd`, of the shim (`ours`: a socket of tapstack).
///
/// Safety: `arg` is the program's argument for `req` (an ifreq, an ifconf), as for ioctl(2).
pub(crate) unsafe fn ioctl(fd: c_int, ours_fd: bool, req: c_ulong, arg: *mut c_void) -> c_int {
    if req == libc::SIOCGIFCONF {
        let ifc = arg as *mut libc::ifconf;
        let room = if ifc.is_null() { 0 } else { (*ifc).ifc_len }; // read before the kernel sets it
        let r = real::ioctl(fd, req, arg);
        if r == 0 {
            ifconf(fd, ifc, room);
        }
        return r;
    }
    if ours_fd && crate::svc::family(fd) & tapstack::service::proto::FAM_INET6 != 0 {
        return crate::fail(libc::ENOTTY); // inet6_ioctl: no IPv4 address requests
    }
    let saved = crate::errno();
    let r = if ours_fd {
        // The program's socket is an AF_INET one: ask a kernel socket of that family.
        let k = real::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if k < 0 {
            return k;
        }
        let r = real::ioctl(k, req, arg);
        let e = crate::errno();
        real::sys_close(k);
        crate::set_errno(e);
        r
    } else {
        real::ioctl(fd, req, arg)
    };
    // The kernel found the interface (with or without an IPv4 address): the TAP reads ours.
    if (r == 0 || crate::errno() == libc::EADDRNOTAVAIL) && !arg.is_null() {
        if let Some((tap, addr, prefix)) = ours() {
            let ifr = std::slice::from_raw_parts_mut(arg as *mut u8, IFREQ);
            if name_of(ifr) == tap.as_bytes() {
                put_sin(ifr, value(req, *addr, *prefix));
                crate::set_errno(saved);
                return 0;
            }
        }
    }
    r
}

/// Rewrites the SIOCGIFCONF answer at `ifc` (the kernel's, just given): the TAP's entry shows
/// tapstack's address; without one it is added in index order, and the entries that fit the
/// program's buffer (whole ifreqs, as dev_ifconf) or the length it needs are given back.
///
/// Safety: `ifc` is the ifconf the kernel just filled for `fd`, `room` its length before.
unsafe fn ifconf(fd: c_int, ifc: *mut libc::ifconf, room: c_int) {
    let Some((tap, addr, prefix)) = ours() else { return };
    let tap_index = libc::if_nametoindex(std::ffi::CString::new(tap.as_str()).unwrap_or_default().as_ptr());
    if tap_index == 0 {
        return; // no TAP in this namespace
    }
    // The whole list (a few tries: interfaces may come and go between the calls).
    let (mut list, mut got) = (Vec::new(), 0);
    for _ in 0..4 {
        let mut q: libc::ifconf = std::mem::zeroed();
        if real::ioctl(fd, libc::SIOCGIFCONF, &mut q as *mut libc::ifconf as *mut c_void) != 0 {
            return;
        }
        let want = q.ifc_len.max(0) as usize + 4 * IFREQ;
        list = vec![0u8; want];
        q.ifc_len = want as c_int;
        q.ifc_ifcu.ifcu_buf = list.as_mut_ptr() as *mut libc::c_char;
        if real::ioctl(fd, libc::SIOCGIFCONF, &mut q as *mut libc::ifconf as *mut c_void) != 0 {
            return;
        }
        got = (q.ifc_len.max(0) as usize).min(want) / IFREQ * IFREQ;
        if got < want {
            break;
        }
    }
    list.truncate(got);
    let mut entries: Vec<Vec<u8>> = list.chunks(IFREQ).map(|c| c.to_vec()).collect();
    let ours_entry = |e: &mut Vec<u8>| put_sin(e, value(libc::SIOCGIFADDR, *addr, *prefix));
    let mut found = false;
    for e in entries.iter_mut().filter(|e| name_of(e) == tap.as_bytes()) {
        ours_entry(e);
        found = true;
    }
    if !found {
        let mut e = vec![0u8; IFREQ];
        e[..tap.len().min(libc::IFNAMSIZ - 1)].copy_from_slice(&tap.as_bytes()[..tap.len().min(libc::IFNAMSIZ - 1)]);
        ours_entry(&mut e);
        let index = |e: &Vec<u8>| {
            let n = std::ffi::CString::new(name_of(e)).unwrap_or_default();
            libc::if_nametoindex(n.as_ptr())
        };
        let at = entries.iter().position(|x| index(x) > tap_index).unwrap_or(entries.len());
        entries.insert(at, e);
    }
    let buf = (*ifc).ifc_ifcu.ifcu_buf as *mut u8;
    if buf.is_null() {
        (*ifc).ifc_len = (entries.len() * IFREQ) as c_int; // the length the list needs
        return;
    }
    let room = room.max(0) as usize / IFREQ;
    let n = entries.len().min(room);
    for (i, e) in entries.iter().take(n).enumerate() {
        std::ptr::copy_nonoverlapping(e.as_ptr(), buf.add(i * IFREQ), IFREQ);
    }
    (*ifc).ifc_len = (n * IFREQ) as c_int;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_the_sockaddr() {
        assert_eq!(IFREQ, 40);
        let mut ifr = [0u8; IFREQ];
        ifr[..5].copy_from_slice(b"tap0\0");
        ifr[5] = b'x'; // after the NUL: not the name
        assert_eq!(name_of(&ifr), b"tap0");
        assert_eq!(name_of(&[b'a'; IFREQ]), &[b'a'; 15][..], "at most IFNAMSIZ - 1 bytes");
        let a = Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(value(libc::SIOCGIFADDR, a, 24), a);
        assert_eq!(value(libc::SIOCGIFDSTADDR, a, 24), a);
        assert_eq!(value(libc::SIOCGIFNETMASK, a, 24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(value(libc::SIOCGIFBRDADDR, a, 24), Ipv4Addr::new(10, 0, 0, 255));
        put_sin(&mut ifr, a);
        assert_eq!(&ifr[16..24], &[2, 0, 0, 0, 10, 0, 0, 2]);
        assert_eq!(&ifr[..4], b"tap0", "the name stays");
        assert!(handles(libc::SIOCGIFCONF) && handles(libc::SIOCGIFBRDADDR) && !handles(libc::SIOCGIFFLAGS));
    }
}
