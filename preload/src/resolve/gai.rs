//! getaddrinfo, freeaddrinfo, gai_strerror.
use super::*;

/// The addresses a getaddrinfo call produces, before they become C structures.
enum Addrs {
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
}

fn gai_error(e: ResolveError) -> c_int {
    match e {
        ResolveError::NotFound => libc::EAI_NONAME,
        ResolveError::NoData => libc::EAI_NODATA,
        ResolveError::TryAgain => libc::EAI_AGAIN,
        ResolveError::Fail => libc::EAI_FAIL,
    }
}

/// Resolves `service` for one socktype: its port, or None if the service does not exist for
/// that protocol.
fn service_port(service: Option<&str>, socktype: c_int, svcs: &Services) -> Option<u16> {
    let Some(s) = service else { return Some(0) };
    if let Some(p) = names::numeric_port(s) {
        return Some(p);
    }
    match socktype {
        libc::SOCK_STREAM => svcs.port(s, "tcp"),
        libc::SOCK_DGRAM => svcs.port(s, "udp"),
        _ => None,
    }
}

unsafe fn opt_str<'a>(p: *const c_char) -> Result<Option<&'a str>, c_int> {
    if p.is_null() {
        return Ok(None);
    }
    CStr::from_ptr(p).to_str().map(Some).map_err(|_| libc::EAI_NONAME)
}

/// getaddrinfo(3) for IPv4 (and numeric IPv6) through tapstack.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let _guard = crate::ShimGuard::enter();
    if res.is_null() {
        return libc::EAI_SYSTEM;
    }
    *res = ptr::null_mut();
    let (flags, family, socktype, protocol) = if hints.is_null() {
        (libc::AI_V4MAPPED | libc::AI_ADDRCONFIG, libc::AF_UNSPEC, 0, 0)
    } else {
        let h = &*hints;
        (h.ai_flags, h.ai_family, h.ai_socktype, h.ai_protocol)
    };
    match gai(node, service, flags, family, socktype, protocol) {
        Ok(list) => {
            *res = list;
            0
        }
        Err(e) => e,
    }
}

unsafe fn gai(
    node: *const c_char,
    service: *const c_char,
    flags: c_int,
    family: c_int,
    socktype: c_int,
    protocol: c_int,
) -> Result<*mut addrinfo, c_int> {
    if flags & !AI_FLAGS_KNOWN != 0 || (flags & libc::AI_CANONNAME != 0 && node.is_null()) {
        return Err(libc::EAI_BADFLAGS);
    }
    if node.is_null() && service.is_null() {
        return Err(libc::EAI_NONAME);
    }
    if family != libc::AF_UNSPEC && family != libc::AF_INET && family != libc::AF_INET6 {
        return Err(libc::EAI_FAMILY);
    }
    let node = opt_str(node)?;
    let service = opt_str(service)?;
    let named_service = service.is_some_and(|s| names::numeric_port(s).is_none());
    if named_service && flags & libc::AI_NUMERICSERV != 0 {
        return Err(libc::EAI_NONAME);
    }
    let types = names::socktypes(socktype, protocol, service)?;
    let svcs = if named_service { services() } else { Services::default() };
    let ports: Vec<(c_int, c_int, u16)> =
        types.iter().filter_map(|&(t, p)| service_port(service, t, &svcs).map(|port| (t, p, port))).collect();
    if ports.is_empty() {
        return Err(libc::EAI_SERVICE);
    }
    // The host part.
    let (addrs, canon): (Addrs, String) = match node {
        None => {
            let passive = flags & libc::AI_PASSIVE != 0;
            if family == libc::AF_INET6 {
                (Addrs::V6(vec![if passive { Ipv6Addr::UNSPECIFIED } else { Ipv6Addr::LOCALHOST }]), String::new())
            } else {
                (Addrs::V4(vec![if passive { Ipv4Addr::UNSPECIFIED } else { Ipv4Addr::LOCALHOST }]), String::new())
            }
        }
        Some(n) => {
            if let Some(a) = names::inet_aton(n) {
                match family {
                    libc::AF_INET6 if flags & libc::AI_V4MAPPED != 0 => {
                        (Addrs::V6(vec![a.to_ipv6_mapped()]), n.to_string())
                    }
                    libc::AF_INET6 => return Err(EAI_ADDRFAMILY),
                    _ => (Addrs::V4(vec![a]), n.to_string()),
                }
            } else if let Ok(a6) = n.parse::<Ipv6Addr>() {
                if family == libc::AF_INET {
                    return Err(EAI_ADDRFAMILY);
                }
                (Addrs::V6(vec![a6]), n.to_string())
            } else if flags & libc::AI_NUMERICHOST != 0 || n.contains(':') || n.contains('%') {
                // Not numeric, and not a host name either (e.g. a scoped IPv6 literal).
                return Err(libc::EAI_NONAME);
            } else {
                let ans = resolve_name(n).map_err(gai_error)?;
                match family {
                    // No IPv6 yet: the name exists but has no AAAA for us.
                    libc::AF_INET6 if flags & libc::AI_V4MAPPED == 0 => return Err(libc::EAI_NODATA),
                    libc::AF_INET6 => {
                        (Addrs::V6(ans.addrs.iter().map(|a| a.as_v4().to_ipv6_mapped()).collect()), ans.canonical)
                    }
                    _ => (Addrs::V4(ans.addrs.iter().map(|a| a.as_v4()).collect()), ans.canonical),
                }
            }
        }
    };
    let canon = if flags & libc::AI_CANONNAME != 0 { Some(canon) } else { None };
    build_list(&addrs, &ports, canon).ok_or(libc::EAI_MEMORY)
}

/// Builds the result list in glibc's layout: each entry one malloc block (addrinfo followed
/// by its sockaddr), ai_canonname a separate malloc'd string, so glibc's freeaddrinfo and
/// ours free it alike.
unsafe fn build_list(addrs: &Addrs, ports: &[(c_int, c_int, u16)], canon: Option<String>) -> Option<*mut addrinfo> {
    let mut head: *mut addrinfo = ptr::null_mut();
    let mut tail: *mut *mut addrinfo = &mut head;
    let n = match addrs {
        Addrs::V4(v) => v.len(),
        Addrs::V6(v) => v.len(),
    };
    for i in 0..n {
        for &(t, p, port) in ports {
            let (fam, salen) = match addrs {
                Addrs::V4(_) => (libc::AF_INET, core::mem::size_of::<sockaddr_in>()),
                Addrs::V6(_) => (libc::AF_INET6, core::mem::size_of::<sockaddr_in6>()),
            };
            let block = libc::calloc(1, core::mem::size_of::<addrinfo>() + salen) as *mut addrinfo;
            if block.is_null() {
                freeaddrinfo(head);
                return None;
            }
            let sa = (block as *mut u8).add(core::mem::size_of::<addrinfo>());
            match addrs {
                Addrs::V4(v) => {
                    let s = sa as *mut sockaddr_in;
                    (*s).sin_family = libc::AF_INET as libc::sa_family_t;
                    (*s).sin_port = port.to_be();
                    (*s).sin_addr.s_addr = u32::from_ne_bytes(v[i].octets());
                }
                Addrs::V6(v) => {
                    let s = sa as *mut sockaddr_in6;
                    (*s).sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    (*s).sin6_port = port.to_be();
                    (*s).sin6_addr.s6_addr = v[i].octets();
                }
            }
            (*block).ai_family = fam;
            (*block).ai_socktype = t;
            (*block).ai_protocol = p;
            (*block).ai_addrlen = salen as socklen_t;
            (*block).ai_addr = sa as *mut sockaddr;
            if head.is_null() {
                if let Some(c) = canon.as_ref().and_then(|c| CString::new(c.as_str()).ok()) {
                    (*block).ai_canonname = libc::strdup(c.as_ptr());
                    if (*block).ai_canonname.is_null() {
                        libc::free(block as *mut libc::c_void);
                        return None;
                    }
                }
            }
            *tail = block;
            tail = &mut (*block).ai_next;
        }
    }
    Some(head)
}

/// freeaddrinfo(3): the same walk as glibc's (so lists from either are freed correctly).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn freeaddrinfo(mut ai: *mut addrinfo) {
    while !ai.is_null() {
        let next = (*ai).ai_next;
        libc::free((*ai).ai_canonname as *mut libc::c_void);
        libc::free(ai as *mut libc::c_void);
        ai = next;
    }
}

/// gai_strerror(3) with glibc's messages.
#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn gai_strerror(code: c_int) -> *const c_char {
    names::gai_message(code).as_ptr() as *const c_char
}
