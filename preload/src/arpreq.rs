//! SIOCGARP (arp(7)) on a socket of ours: the ARP entry of an address on an interface. For the
//! TAP the answer is tapstack's ARP cache (the service's, `Op::Ioctl`), which is the one that
//! resolves tapstack's neighbours; the kernel's table for that device holds the kernel's own
//! view of the link (tapstack's address, from the other side). squid asks it of each interface
//! for its client's MAC (`arp` ACLs, EUI logging). Linux answers on an AF_INET socket only
//! (arp_ioctl; ENOTTY on the AF_UNIX pair behind a socket of ours), so the request is first
//! asked of a kernel AF_INET socket, as the program's would have been one: that gives Linux's
//! checks and errno (EFAULT, EPFNOSUPPORT for a non-AF_INET address, EINVAL for ATF_NETMASK
//! without ATF_PUBL, ENODEV without or for an unknown device) and every other interface's
//! answer.
use libc::{c_int, c_void};

use crate::{real, svc};

/// Offsets in `struct arpreq`: arp_pa (sockaddr), arp_ha (sockaddr), arp_flags, arp_netmask,
/// arp_dev[16].
const PA_ADDR: usize = 4;
const HA: usize = 16;
const FLAGS: usize = 32;
const DEV: usize = 52;
const ARPREQ: usize = std::mem::size_of::<libc::arpreq>();

/// ioctl(fd, SIOCGARP, arg) on tapstack socket `fd`.
///
/// # Safety
/// `arg` is the program's argument: null or a `struct arpreq` it owns.
pub(crate) unsafe fn siocgarp(fd: c_int, arg: *mut c_void) -> c_int {
    let saved = crate::errno();
    let k = real::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
    if k < 0 {
        return k;
    }
    let r = real::ioctl(k, libc::SIOCGARP, arg);
    let e = crate::errno();
    real::sys_close(k);
    crate::set_errno(e);
    // The kernel took the request and found the device (it has, or has not, an entry): for the
    // TAP, the entry is ours.
    if !(r == 0 || e == libc::ENXIO) || arg.is_null() {
        return r;
    }
    let Some((tap, _, _)) = crate::ifaddrs::ours() else { return r };
    let req = std::slice::from_raw_parts_mut(arg as *mut u8, ARPREQ);
    let dev = &req[DEV..DEV + 16];
    let name = &dev[..dev.iter().position(|&b| b == 0).unwrap_or(dev.len())];
    if name != tap.as_bytes() {
        return r;
    }
    let ip = [req[PA_ADDR], req[PA_ADDR + 1], req[PA_ADDR + 2], req[PA_ADDR + 3]];
    match svc::hooks::arp_entry(fd, ip) {
        Ok((mac, flags)) => {
            req[HA..HA + 2].copy_from_slice(&libc::ARPHRD_ETHER.to_ne_bytes());
            req[HA + 2..HA + 8].copy_from_slice(&mac);
            req[FLAGS..FLAGS + 4].copy_from_slice(&flags.to_ne_bytes());
            crate::set_errno(saved);
            0
        }
        Err(x) => crate::fail(x),
    }
}
