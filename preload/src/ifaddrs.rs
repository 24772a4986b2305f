//! getifaddrs(3), and the interface-address ioctls of tapstack sockets: the program's host is
//! tapstack, so the TAP's IPv4 entries show tapstack's address (TAPSTACK_ADDR), its netmask and
//! its subnet broadcast instead of the kernel's side of the TAP. Found with `ssh -B tap0` (OpenSSH's BindInterface): ssh takes the interface's address
//! from getifaddrs and binds to it, and binding the kernel's 10.0.0.1 failed under tapstack with
//! EADDRNOTAVAIL. The list is libc's own (freeifaddrs frees it); only the sockaddr_in values
//! of the TAP's AF_INET entries change, in place. A TAP without a kernel IPv4 address has no
//! such entry and none is added; other interfaces (lo: tapstack's loopback has the same
//! 127.0.0.1/8) are left as the kernel reports them.
use std::net::Ipv4Addr;

use libc::{c_int, ifaddrs, sockaddr, sockaddr_in};

use crate::real;

/// The TAP's name and tapstack's address, prefix length (from the TAPSTACK_* environment).
pub(crate) fn ours() -> Option<&'static (String, Ipv4Addr, u8)> {
    static O: once_cell::sync::OnceCell<Option<(String, Ipv4Addr, u8)>> = once_cell::sync::OnceCell::new();
    O.get_or_init(|| tapstack::config::Config::from_env().ok().map(|c| (c.tap, c.addr, c.prefix_len))).as_ref()
}

/// (address, netmask, broadcast) of `addr`/`prefix`.
fn values(addr: Ipv4Addr, prefix: u8) -> (Ipv4Addr, Ipv4Addr, Ipv4Addr) {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix.min(32) as u32) };
    (addr, Ipv4Addr::from(mask), Ipv4Addr::from(u32::from(addr) | !mask))
}

/// Writes `a` into `sa` if it is a non-null AF_INET sockaddr.
///
/// Safety: `sa` is null or points to a sockaddr of libc's getifaddrs list (an AF_INET one is a
/// whole sockaddr_in).
unsafe fn put(sa: *mut sockaddr, a: Ipv4Addr) {
    if !sa.is_null() && (*sa).sa_family as c_int == libc::AF_INET {
        (*(sa as *mut sockaddr_in)).sin_addr.s_addr = u32::from(a).to_be();
    }
}

/// Rewrites the AF_INET entries named `tap` in the list at `head`.
///
/// Safety: `head` is null or the head of a well-formed ifaddrs list (libc's, or a test's).
unsafe fn rewrite(head: *mut ifaddrs, tap: &str, addr: Ipv4Addr, prefix: u8) {
    let (a, mask, bcast) = values(addr, prefix);
    let mut p = head;
    while !p.is_null() {
        let e = &mut *p;
        let name = if e.ifa_name.is_null() { None } else { std::ffi::CStr::from_ptr(e.ifa_name).to_str().ok() };
        if name == Some(tap) && !e.ifa_addr.is_null() && (*e.ifa_addr).sa_family as c_int == libc::AF_INET {
            put(e.ifa_addr, a);
            put(e.ifa_netmask, mask);
            if e.ifa_flags & libc::IFF_BROADCAST as u32 != 0 {
                put(e.ifa_ifu, bcast); // ifa_broadaddr
            }
        }
        p = e.ifa_next;
    }
}

#[no_mangle]
pub unsafe extern "C" fn getifaddrs(ifap: *mut *mut ifaddrs) -> c_int {
    let r = real::getifaddrs(ifap);
    if r == 0 && !ifap.is_null() {
        if let Some((tap, addr, prefix)) = ours() {
            // SAFETY: libc's getifaddrs succeeded: *ifap heads its well-formed list.
            unsafe { rewrite(*ifap, tap, *addr, *prefix) };
        }
    }
    r
}

/// `struct ifconf`: the length of the buffer (in: its size; out: the bytes filled) and the buffer.
#[repr(C)]
struct IfConf {
    len: c_int,
    buf: *mut u8,
}

/// ioctl(SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK) on a tapstack socket:
/// Linux answers them on any AF_INET socket, and the program's descriptor is a socketpair
/// end (ENOTTY there). The TAP has tapstack's address (`tapstack::client::ifreq`), also when
/// the kernel gives it none (a program finds its interface by asking each name); any other
/// name is asked of a kernel AF_INET socket, with its errno (ENODEV, EADDRNOTAVAIL ...).
///
/// # Safety
/// `arg` is the program's ioctl argument: null or a `struct ifreq`.
pub(crate) unsafe fn inet_addr_ioctl(req: libc::c_ulong, arg: *mut libc::c_void) -> c_int {
    use tapstack::client::ifreq;
    if arg.is_null() {
        return crate::fail(libc::EFAULT);
    }
    let ifr = std::slice::from_raw_parts_mut(arg as *mut u8, ifreq::IFREQ_LEN);
    if let Some((tap, addr, prefix)) = ours() {
        if let (true, Some(v)) = (ifreq::name(ifr) == tap.as_bytes(), ifreq::tap_value(req, *addr, *prefix)) {
            ifreq::set_sockaddr_in(ifr, v);
            return 0;
        }
    }
    let s = match tapstack::sys::syscall(
        libc::SYS_socket,
        &[libc::AF_INET as usize, (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as usize, 0],
    ) {
        Ok(s) => s,
        Err(e) => return crate::fail(e),
    };
    let r = tapstack::sys::syscall(libc::SYS_ioctl, &[s, req as usize, arg as usize]);
    let _ = tapstack::sys::syscall(libc::SYS_close, &[s]);
    match r {
        Ok(_) => 0,
        Err(e) => crate::fail(e),
    }
}

/// After ioctl(SIOCGIFCONF) succeeded on a tapstack socket (the kernel lists every interface's
/// IPv4 address on any socket): the TAP's entries show tapstack's address.
///
/// # Safety
/// `arg` is the program's `struct ifconf` of the call that succeeded.
pub(crate) unsafe fn after_ifconf(arg: *mut libc::c_void) {
    if arg.is_null() {
        return;
    }
    let c = &*(arg as *const IfConf);
    if let (false, Ok(len), Some((tap, addr, _))) = (c.buf.is_null(), usize::try_from(c.len), ours()) {
        let b = std::slice::from_raw_parts_mut(c.buf, len);
        tapstack::client::ifreq::rewrite_ifconf(b, tap.as_bytes(), *addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn sin(a: [u8; 4]) -> Box<sockaddr_in> {
        Box::new(sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_be_bytes(a).to_be() },
            sin_zero: [0; 8],
        })
    }
    fn ip(sa: *mut sockaddr) -> Ipv4Addr {
        // SAFETY: the test's own sockaddr_in.
        Ipv4Addr::from(u32::from_be(unsafe { (*(sa as *mut sockaddr_in)).sin_addr.s_addr }))
    }

    #[test]
    fn the_taps_ipv4_entry_shows_our_address_others_stay() {
        let (tap, lo) = (CString::new("tap0").unwrap(), CString::new("lo").unwrap());
        let mut sas: Vec<Box<sockaddr_in>> = vec![
            sin([127, 0, 0, 1]),
            sin([255, 0, 0, 0]),
            sin([10, 0, 0, 1]),
            sin([255, 255, 255, 0]),
            sin([10, 0, 0, 255]),
        ];
        let p: Vec<*mut sockaddr> = sas.iter_mut().map(|b| &mut **b as *mut sockaddr_in as *mut sockaddr).collect();
        // SAFETY: all-zero is a valid sockaddr_ll (an AF_PACKET entry of tap0).
        let mut packet: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        packet.sll_family = libc::AF_PACKET as u16;
        // SAFETY: all-zero is a valid ifaddrs; the fields are filled below.
        let mut e: [ifaddrs; 3] = unsafe { std::mem::zeroed() };
        e[0].ifa_name = lo.as_ptr() as *mut _;
        (e[0].ifa_addr, e[0].ifa_netmask) = (p[0], p[1]);
        e[1].ifa_name = tap.as_ptr() as *mut _;
        e[1].ifa_addr = &mut packet as *mut libc::sockaddr_ll as *mut sockaddr;
        e[2].ifa_name = tap.as_ptr() as *mut _;
        (e[2].ifa_addr, e[2].ifa_netmask, e[2].ifa_ifu) = (p[2], p[3], p[4]);
        e[2].ifa_flags = (libc::IFF_UP | libc::IFF_BROADCAST) as u32;
        let base = e.as_mut_ptr();
        // SAFETY: links within the array.
        unsafe {
            (*base).ifa_next = base.add(1);
            (*base.add(1)).ifa_next = base.add(2);
            rewrite(base, "tap0", Ipv4Addr::new(192, 168, 7, 2), 20);
        }
        assert_eq!((ip(p[0]), ip(p[1])), (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(255, 0, 0, 0)), "lo stays");
        assert_eq!(ip(p[2]), Ipv4Addr::new(192, 168, 7, 2));
        assert_eq!(ip(p[3]), Ipv4Addr::new(255, 255, 240, 0));
        assert_eq!(ip(p[4]), Ipv4Addr::new(192, 168, 15, 255));
        assert_eq!(packet.sll_family, libc::AF_PACKET as u16, "not an AF_INET entry: untouched");
        assert_eq!(values(Ipv4Addr::new(10, 0, 0, 2), 32).2, Ipv4Addr::new(10, 0, 0, 2));
    }
}
