//! getnameinfo.
use super::*;

/// The local domain as glibc's getnameinfo finds it: what follows the first dot of the host
/// name, or of the host name's canonical name in the hosts file.
fn local_domain() -> Option<String> {
    // SAFETY: utsname is plain data; all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { core::mem::zeroed() };
    // SAFETY: uname writes into the live struct it is given.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    // SAFETY: nodename is NUL-terminated by uname.
    let node = unsafe { CStr::from_ptr(u.nodename.as_ptr()) }.to_string_lossy().into_owned();
    let full = if node.contains('.') { node } else { hosts().lookup(&node)?.canonical };
    full.split_once('.').map(|(_, d)| d.to_string()).filter(|d| !d.is_empty())
}

/// Copies `s` with its NUL into (buf, len); EAI_OVERFLOW if it does not fit.
unsafe fn put(buf: *mut c_char, len: socklen_t, s: &str) -> Result<(), c_int> {
    if s.len() + 1 > len as usize {
        return Err(libc::EAI_OVERFLOW);
    }
    ptr::copy_nonoverlapping(s.as_ptr(), buf as *mut u8, s.len());
    *buf.add(s.len()) = 0;
    Ok(())
}

/// getnameinfo(3): numeric or hosts-file names (no PTR queries), services(5) names.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    let _guard = crate::ShimGuard::enter();
    match gni(sa, salen, host, hostlen, serv, servlen, flags) {
        Ok(()) => 0,
        Err(e) => e,
    }
}

unsafe fn gni(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> Result<(), c_int> {
    if flags & !NI_FLAGS_KNOWN != 0 {
        return Err(libc::EAI_BADFLAGS);
    }
    if sa.is_null() || (salen as usize) < core::mem::size_of::<libc::sa_family_t>() {
        return Err(libc::EAI_FAMILY);
    }
    let (v4, v6, port) = match (*sa).sa_family as c_int {
        libc::AF_INET if salen as usize >= core::mem::size_of::<sockaddr_in>() => {
            let s = &*(sa as *const sockaddr_in);
            (Some(Ipv4Addr::from(s.sin_addr.s_addr.to_ne_bytes())), None, u16::from_be(s.sin_port))
        }
        libc::AF_INET6 if salen as usize >= core::mem::size_of::<sockaddr_in6>() => {
            let s = &*(sa as *const sockaddr_in6);
            (None, Some(Ipv6Addr::from(s.sin6_addr.s6_addr)), u16::from_be(s.sin6_port))
        }
        _ => return Err(libc::EAI_FAMILY),
    };
    if !host.is_null() && hostlen > 0 {
        let numeric = v4.map(|a| a.to_string()).unwrap_or_else(|| v6.map(|a| a.to_string()).unwrap_or_default());
        let mut failure = ResolveError::NotFound;
        let name = match v4 {
            Some(_) if flags & libc::NI_NUMERICHOST != 0 => None,
            Some(a) => match hosts().reverse(a) {
                Some(n) => Some(n.to_string()),
                // Then a PTR query over tapstack, as glibc asks DNS after the hosts file.
                None => {
                    let conf = resolver_conf();
                    dns_run(&mut Lookup::reverse(a, &conf, random_u64()), &conf)
                        .map(|a| a.canonical)
                        .map_err(|e| failure = e)
                        .ok()
                }
            },
            None => None,
        };
        let text = match name {
            Some(mut n) => {
                // glibc: cut ".<local domain>" only (nrl_domainname), never any other suffix.
                if flags & libc::NI_NOFQDN != 0 {
                    if let Some(d) = local_domain() {
                        if let Some(i) = n.find(&d).filter(|&i| i > 0 && n.as_bytes()[i - 1] == b'.') {
                            n.truncate(i - 1);
                        }
                    }
                }
                n
            }
            // glibc reports a temporary DNS failure as such, even without NI_NAMEREQD.
            None if failure == ResolveError::TryAgain => return Err(libc::EAI_AGAIN),
            None if flags & libc::NI_NAMEREQD != 0 => return Err(libc::EAI_NONAME),
            None => numeric,
        };
        put(host, hostlen, &text)?;
    }
    if !serv.is_null() && servlen > 0 {
        let proto = if flags & libc::NI_DGRAM != 0 { "udp" } else { "tcp" };
        let text = if flags & libc::NI_NUMERICSERV != 0 {
            port.to_string()
        } else {
            services().name(port, proto).map(str::to_string).unwrap_or_else(|| port.to_string())
        };
        put(serv, servlen, &text)?;
    }
    Ok(())
}
