//! The gethostbyname family: gethostbyname(2) and their reentrant `_r` forms; the hostent
//! they share with gethostbyaddr (`byaddr.rs`).
use super::*;

/// What a hostent holds: Ok(canonical name, addresses) or an h_errno value.
pub(super) type Found = Result<(String, Vec<Ipv4Addr>), c_int>;

/// Resolves for the gethostbyname family: Ok(canonical name, addresses) or an h_errno value.
unsafe fn hostent_lookup(name: *const c_char, af: c_int) -> Result<(String, Vec<Ipv4Addr>), c_int> {
    if name.is_null() {
        return Err(HOST_NOT_FOUND);
    }
    let Ok(n) = CStr::from_ptr(name).to_str() else { return Err(HOST_NOT_FOUND) };
    if af != libc::AF_INET {
        // No IPv6: numeric v6 or any name gives no address of that family.
        return Err(if af == libc::AF_INET6 { NO_DATA } else { NO_RECOVERY });
    }
    if let Some(a) = names::inet_aton(n) {
        return Ok((n.to_string(), vec![a]));
    }
    resolve_name(n).map(|a| (a.canonical, a.addrs.iter().map(|a| a.as_v4()).collect())).map_err(h_errno_of)
}

/// Lays out a hostent's strings and arrays inside `buf` (gethostbyname_r's contract).
/// Returns false if `buf` is too small.
unsafe fn fill_hostent(ret: *mut hostent, buf: *mut c_char, buflen: usize, name: &str, addrs: &[Ipv4Addr]) -> bool {
    let ptr_sz = core::mem::size_of::<*mut c_char>();
    let base = buf as usize;
    let aligned = (base + ptr_sz - 1) & !(ptr_sz - 1);
    let pad = aligned - base;
    let need = pad + ptr_sz /* aliases: NULL */ + ptr_sz * (addrs.len() + 1) + 4 * addrs.len() + name.len() + 1;
    if buf.is_null() || buflen < need {
        return false;
    }
    let aliases = aligned as *mut *mut c_char;
    *aliases = ptr::null_mut();
    let list = (aligned + ptr_sz) as *mut *mut c_char;
    let data = (aligned + ptr_sz * (addrs.len() + 2)) as *mut u8;
    for (i, a) in addrs.iter().enumerate() {
        let p = data.add(4 * i);
        ptr::copy_nonoverlapping(a.octets().as_ptr(), p, 4);
        *list.add(i) = p as *mut c_char;
    }
    *list.add(addrs.len()) = ptr::null_mut();
    let name_at = data.add(4 * addrs.len());
    ptr::copy_nonoverlapping(name.as_ptr(), name_at, name.len());
    *name_at.add(name.len()) = 0;
    (*ret).h_name = name_at as *mut c_char;
    (*ret).h_aliases = aliases;
    (*ret).h_addrtype = libc::AF_INET;
    (*ret).h_length = 4;
    (*ret).h_addr_list = list;
    true
}

unsafe fn ghbn_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let _guard = crate::ShimGuard::enter();
    hostent_r(&hostent_lookup(name, af), ret, buf, buflen, result, h_errnop)
}

/// The reentrant forms' contract for what was `found`: the hostent laid out in `buf`, 0, or
/// ERANGE (`buf` too small), EAGAIN (TRY_AGAIN) or ENOENT with `*h_errnop` set.
pub(super) unsafe fn hostent_r(
    found: &Found,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    if !result.is_null() {
        *result = ptr::null_mut();
    }
    let set_h = |v: c_int| {
        if !h_errnop.is_null() {
            *h_errnop = v;
        }
    };
    match found {
        Ok((canon, addrs)) => {
            if ret.is_null() || !fill_hostent(ret, buf, buflen, canon, addrs) {
                set_h(NO_RECOVERY);
                return libc::ERANGE;
            }
            if !result.is_null() {
                *result = ret;
            }
            set_h(0);
            0
        }
        &Err(h) => {
            set_h(h);
            if h == TRY_AGAIN {
                libc::EAGAIN
            } else {
                libc::ENOENT
            }
        }
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    ghbn_r(name, libc::AF_INET, ret, buf, buflen, result, h_errnop)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    ghbn_r(name, af, ret, buf, buflen, result, h_errnop)
}

thread_local! {
    /// gethostbyname's static result (per thread: strictly safer than glibc's one buffer).
    static HOSTENT: core::cell::RefCell<(hostent, Vec<u8>)> = const { core::cell::RefCell::new((
        hostent { h_name: ptr::null_mut(), h_aliases: ptr::null_mut(), h_addrtype: 0, h_length: 0, h_addr_list: ptr::null_mut() },
        Vec::new(),
    )) };
}

unsafe fn ghbn(name: *const c_char, af: c_int) -> *mut hostent {
    let found = {
        let _guard = crate::ShimGuard::enter();
        hostent_lookup(name, af)
    };
    hostent_static(&found)
}

/// The non-reentrant forms' contract: a per-thread hostent for what was `found`, or null with
/// h_errno set.
pub(super) unsafe fn hostent_static(found: &Found) -> *mut hostent {
    HOSTENT.with(|cell| {
        // Re-entered on this thread (a signal handler): no result rather than a panic.
        let Ok(mut guard) = cell.try_borrow_mut() else {
            set_h_errno(NO_RECOVERY);
            return ptr::null_mut();
        };
        let (he, buf) = &mut *guard;
        let mut size = 1024;
        loop {
            buf.resize(size, 0);
            let mut result = ptr::null_mut();
            let mut h = 0;
            let r = hostent_r(found, he, buf.as_mut_ptr() as *mut c_char, size, &mut result, &mut h);
            if r == libc::ERANGE && size < (1 << 20) {
                size *= 4;
                continue;
            }
            set_h_errno(h);
            return result;
        }
    })
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    ghbn(name, libc::AF_INET)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
    ghbn(name, af)
}
