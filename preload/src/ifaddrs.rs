//! getifaddrs(3): the program's host is tapstack, so the TAP's IPv4 entries show tapstack's
//! address (TAPSTACK_ADDR), its netmask and its subnet broadcast instead of the kernel's side of
//! the TAP. Found with `ssh -B tap0` (OpenSSH's BindInterface): ssh takes the interface's address
//! from getifaddrs and binds to it, and binding the kernel's 10.0.0.1 failed under tapstack with
//! EADDRNOTAVAIL. The list is libc's own (freeifaddrs frees it); only the sockaddr_in values
//! of the TAP's AF_INET entries change, in place. A TAP without a kernel IPv4 address has no
//! such entry: the shim adds one (tapstack's address, netmask and broadcast, the flags of the
//! TAP's AF_PACKET entry, as glibc gives an AF_INET entry the link's flags), placed where glibc
//! would list it (after the AF_INET entries of interfaces listed before it), as a separate
//! allocation that our freeifaddrs frees before handing the rest to libc's. Other interfaces
//! (lo: tapstack's loopback has the same 127.0.0.1/8) are left as the kernel reports them. The
//! SIOCGIF* ioctls give the same values (`ifreq.rs`).
use std::net::Ipv4Addr;
use std::sync::Mutex;

use libc::{c_char, c_int, ifaddrs, sockaddr, sockaddr_in};

use crate::real;

/// The TAP's name and tapstack's address, prefix length (from the TAPSTACK_* environment).
pub(crate) fn ours() -> Option<&'static (String, Ipv4Addr, u8)> {
    static O: once_cell::sync::OnceCell<Option<(String, Ipv4Addr, u8)>> = once_cell::sync::OnceCell::new();
    O.get_or_init(|| tapstack::config::Config::from_env().ok().map(|c| (c.tap, c.addr, c.prefix_len))).as_ref()
}

/// (address, netmask, broadcast) of `addr`/`prefix`.
pub(crate) fn values(addr: Ipv4Addr, prefix: u8) -> (Ipv4Addr, Ipv4Addr, Ipv4Addr) {
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

/// An entry's name and address family (0 without an address).
///
/// Safety: `e` is an entry of a well-formed ifaddrs list.
unsafe fn name_family(e: &ifaddrs) -> (Option<&str>, c_int) {
    let name = if e.ifa_name.is_null() { None } else { std::ffi::CStr::from_ptr(e.ifa_name).to_str().ok() };
    let family = if e.ifa_addr.is_null() { 0 } else { (*e.ifa_addr).sa_family as c_int };
    (name, family)
}

/// Rewrites the AF_INET entries named `tap` in the list at `head`; whether there was one.
///
/// Safety: `head` is null or the head of a well-formed ifaddrs list (libc's, or a test's).
unsafe fn rewrite(head: *mut ifaddrs, tap: &str, addr: Ipv4Addr, prefix: u8) -> bool {
    let (a, mask, bcast) = values(addr, prefix);
    let mut p = head;
    let mut found = false;
    while !p.is_null() {
        let e = &mut *p;
        if name_family(e) == (Some(tap), libc::AF_INET) {
            put(e.ifa_addr, a);
            put(e.ifa_netmask, mask);
            if e.ifa_flags & libc::IFF_BROADCAST as u32 != 0 {
                put(e.ifa_ifu, bcast); // ifa_broadaddr
            }
            found = true;
        }
        p = e.ifa_next;
    }
    found
}

/// The AF_INET entry the shim adds, with everything it points to (one allocation).
#[repr(C)]
struct Added {
    node: ifaddrs,
    name: [c_char; libc::IFNAMSIZ],
    addr: sockaddr_in,
    netmask: sockaddr_in,
    broadcast: sockaddr_in,
}

/// The entries [`insert`] made that freeifaddrs has not freed yet (their addresses).
static ADDED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn sin(a: Ipv4Addr) -> sockaddr_in {
    sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(a).to_be() },
        sin_zero: [0; 8],
    }
}

/// Adds an AF_INET entry for `tap` to the list at `head` if it has the TAP's AF_PACKET entry
/// (the link: its flags) and no AF_INET one; glibc lists the links first, in index order, then
/// the IPv4 addresses in the same order: the entry goes after the AF_INET entries of links
/// listed before the TAP's, or after the last link. Never the head (libc's block stays first).
/// Returns the entry added.
///
/// Safety: `head` is null or the head of a well-formed ifaddrs list (libc's, or a test's).
unsafe fn insert(head: *mut ifaddrs, tap: &str, addr: Ipv4Addr, prefix: u8) -> Option<*mut ifaddrs> {
    let mut links: Vec<&str> = Vec::new();
    let (mut flags, mut after) = (None, None);
    let mut p = head;
    while !p.is_null() {
        let e = &*p;
        match name_family(e) {
            (Some(n), libc::AF_PACKET) => {
                if n == tap {
                    flags = Some(e.ifa_flags);
                }
                links.push(n);
                after = Some(p);
            }
            (Some(n), libc::AF_INET) if n == tap => return None,
            (Some(n), libc::AF_INET) => {
                let rank = |x: &str| links.iter().position(|&l| l == x);
                if flags.is_some() && rank(n) < rank(tap) {
                    after = Some(p);
                }
            }
            _ => {}
        }
        p = e.ifa_next;
    }
    let (flags, after) = (flags?, after?);
    let (a, mask, bcast) = values(addr, prefix);
    let broadcast = flags & libc::IFF_BROADCAST as u32 != 0;
    let mut b = Box::new(Added {
        // SAFETY: all-zero is a valid ifaddrs (null pointers); the fields are set below.
        node: std::mem::zeroed(),
        name: [0; libc::IFNAMSIZ],
        addr: sin(a),
        netmask: sin(mask),
        broadcast: sin(bcast),
    });
    for (d, s) in b.name.iter_mut().zip(tap.bytes().take(libc::IFNAMSIZ - 1)) {
        *d = s as c_char;
    }
    let node: *mut Added = &mut *b;
    (*node).node.ifa_name = (*node).name.as_mut_ptr();
    (*node).node.ifa_flags = flags;
    (*node).node.ifa_addr = &mut (*node).addr as *mut sockaddr_in as *mut sockaddr;
    (*node).node.ifa_netmask = &mut (*node).netmask as *mut sockaddr_in as *mut sockaddr;
    if broadcast {
        (*node).node.ifa_ifu = &mut (*node).broadcast as *mut sockaddr_in as *mut sockaddr;
    }
    (*node).node.ifa_next = (*after).ifa_next;
    let raw = Box::into_raw(b);
    (*after).ifa_next = raw as *mut ifaddrs; // `node` first: the entry's address is the Added's
    ADDED.lock().unwrap_or_else(|e| e.into_inner()).push(raw as usize);
    Some(raw as *mut ifaddrs)
}

/// The entries of the list at `head` that [`insert`] made, taken out of [`ADDED`] (to be freed
/// once libc freed its own).
///
/// Safety: `head` is null or the head of a well-formed ifaddrs list.
unsafe fn take_added(head: *mut ifaddrs) -> Vec<*mut Added> {
    let mut added = ADDED.lock().unwrap_or_else(|e| e.into_inner());
    let mut mine = Vec::new();
    let mut p = head;
    while !p.is_null() && !added.is_empty() {
        if let Some(i) = added.iter().position(|&a| a == p as usize) {
            added.swap_remove(i);
            mine.push(p as *mut Added);
        }
        p = (*p).ifa_next;
    }
    mine
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getifaddrs(ifap: *mut *mut ifaddrs) -> c_int {
    let r = real::getifaddrs(ifap);
    if r == 0 && !ifap.is_null() {
        if let Some((tap, addr, prefix)) = ours() {
            // SAFETY: libc's getifaddrs succeeded: *ifap heads its well-formed list.
            unsafe {
                if !rewrite(*ifap, tap, *addr, *prefix) {
                    insert(*ifap, tap, *addr, *prefix);
                }
            }
        }
    }
    r
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn freeifaddrs(ifa: *mut ifaddrs) {
    // SAFETY: the program hands back a list getifaddrs gave it (ours inserted in libc's).
    let mine = unsafe { take_added(ifa) };
    real::freeifaddrs(ifa);
    for a in mine {
        // SAFETY: made by Box::into_raw in `insert`, taken out of ADDED once.
        drop(unsafe { Box::from_raw(a) });
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

    /// A TAP without a kernel IPv4 address: the entry is added after the IPv4 entries of the
    /// links before it, with the link's flags and tapstack's values, and freed by freeifaddrs's
    /// walk; a list that has one, or no TAP link, gets none.
    #[test]
    fn an_entry_is_added_for_a_tap_without_ipv4() {
        let names: Vec<CString> = ["lo", "tap0", "tap1"].iter().map(|n| CString::new(*n).unwrap()).collect();
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut packet: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        packet.sll_family = libc::AF_PACKET as u16;
        let pk = &mut packet as *mut libc::sockaddr_ll as *mut sockaddr;
        let mut sas = [sin([127, 0, 0, 1]), sin([10, 0, 1, 1])];
        let (lo4, tap1_4) =
            (&mut *sas[0] as *mut sockaddr_in as *mut sockaddr, &mut *sas[1] as *mut sockaddr_in as *mut sockaddr);
        // SAFETY: all-zero is a valid ifaddrs; the fields are filled below.
        let mut e: [ifaddrs; 5] = unsafe { std::mem::zeroed() };
        let tap_flags = (libc::IFF_UP | libc::IFF_BROADCAST | libc::IFF_MULTICAST) as u32;
        for (i, (n, a, f)) in
            [(0, pk, 9), (1, pk, tap_flags), (2, pk, 3), (0, lo4, 9), (2, tap1_4, 3)].into_iter().enumerate()
        {
            (e[i].ifa_name, e[i].ifa_addr, e[i].ifa_flags) = (names[n].as_ptr() as *mut _, a, f);
        }
        let base = e.as_mut_ptr();
        let list = |base: *mut ifaddrs| {
            let mut v = Vec::new();
            let mut p = base;
            while !p.is_null() {
                // SAFETY: the test's list.
                let (n, f) = unsafe { name_family(&*p) };
                v.push(format!("{} {f}", n.unwrap()));
                // SAFETY: as above.
                p = unsafe { (*p).ifa_next };
            }
            v
        };
        // SAFETY: links within the array; the added entry is checked, then taken and freed.
        unsafe {
            for i in 0..4 {
                (*base.add(i)).ifa_next = base.add(i + 1);
            }
            assert_eq!(insert(base, "tap9", Ipv4Addr::new(10, 0, 0, 2), 24), None, "no such link");
            let a = insert(base, "tap0", Ipv4Addr::new(10, 0, 0, 2), 24).expect("added");
            assert_eq!(list(base), ["lo 17", "tap0 17", "tap1 17", "lo 2", "tap0 2", "tap1 2"]);
            assert_eq!((*a).ifa_flags, tap_flags, "the link's flags");
            assert_eq!(
                (ip((*a).ifa_addr), ip((*a).ifa_netmask)),
                (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(255, 255, 255, 0))
            );
            assert_eq!(ip((*a).ifa_ifu), Ipv4Addr::new(10, 0, 0, 255));
            assert!((*a).ifa_data.is_null());
            assert!(rewrite(base, "tap0", Ipv4Addr::new(10, 0, 0, 2), 24), "now there is one");
            assert_eq!(insert(base, "tap0", Ipv4Addr::new(10, 0, 0, 2), 24), None, "one is enough");
            let taken = take_added(base);
            assert_eq!(taken, vec![a as *mut Added]);
            assert!(take_added(base).is_empty(), "taken once");
            (*base.add(3)).ifa_next = base.add(4);
            drop(Box::from_raw(taken[0]));
            // No AF_INET entry at all: after the last link, never the head.
            (*base.add(2)).ifa_next = std::ptr::null_mut();
            (*base.add(1)).ifa_flags = libc::IFF_UP as u32; // no broadcast: no ifa_broadaddr
            let a = insert(base, "tap0", Ipv4Addr::new(10, 0, 0, 2), 24).expect("added");
            assert_eq!(list(base), ["lo 17", "tap0 17", "tap1 17", "tap0 2"]);
            assert!((*a).ifa_ifu.is_null());
            drop(Box::from_raw(take_added(base)[0]));
        }
    }
}
