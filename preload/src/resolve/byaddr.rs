//! gethostbyaddr and gethostbyaddr_r (Python's socket.gethostbyaddr, Perl's, TCP wrappers):
//! glibc's look the PTR record up with socket calls inside libc, on the kernel's stack unseen;
//! these answer as getnameinfo does here: the hosts file, then a PTR query over tapstack.
//! IPv4 only: an AF_INET6 address finds no name (HOST_NOT_FOUND).
use libc::c_void;

use super::byname::{hostent_r, hostent_static, Found};
use super::*;

/// The name of the address at `addr` (`len` bytes of family `ty`), with that address.
unsafe fn addr_lookup(addr: *const c_void, len: socklen_t, ty: c_int) -> Found {
    if addr.is_null() || ty != libc::AF_INET {
        return Err(if ty == libc::AF_INET6 { HOST_NOT_FOUND } else { NO_RECOVERY });
    }
    if len != 4 {
        return Err(NO_RECOVERY);
    }
    let mut b = [0u8; 4];
    ptr::copy_nonoverlapping(addr as *const u8, b.as_mut_ptr(), 4);
    let ip = Ipv4Addr::from(b);
    if let Some(n) = hosts().reverse(ip) {
        return Ok((n.to_string(), vec![ip]));
    }
    let conf = resolver_conf();
    dns_run(&mut Lookup::reverse(ip, &conf, random_u64()), &conf).map(|a| (a.canonical, vec![ip])).map_err(h_errno_of)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    ty: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let _guard = crate::ShimGuard::enter();
    hostent_r(&addr_lookup(addr, len, ty), ret, buf, buflen, result, h_errnop)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gethostbyaddr(addr: *const c_void, len: socklen_t, ty: c_int) -> *mut hostent {
    let found = {
        let _guard = crate::ShimGuard::enter();
        addr_lookup(addr, len, ty)
    };
    hostent_static(&found)
}
