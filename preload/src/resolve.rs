//! Name resolution through tapstack: getaddrinfo, freeaddrinfo, gai_strerror, gethostbyname,
//! gethostbyname_r, gethostbyname2, gethostbyname2_r, getnameinfo.
//!
//! glibc's resolver makes its socket calls inside libc, out of LD_PRELOAD's reach, so these
//! replace it. Order: numeric hosts (never DNS), then the hosts file (`TAPSTACK_HOSTS` or
//! /etc/hosts), then DNS A queries over tapstack UDP to `TAPSTACK_DNS` or resolv.conf's
//! nameservers, driven by `tapstack::dns::Lookup` with the stack locked only around socket
//! calls; a truncated answer is retried over tapstack TCP. IPv4 only: AAAA gives no address.
//! Hints and EAI_* codes follow glibc. Thread-safe: each lookup owns its sockets.
use std::ffi::{CStr, CString};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::ptr;

use libc::{addrinfo, c_char, c_int, hostent, sockaddr, sockaddr_in, sockaddr_in6, socklen_t};
use tapstack::dns::names::{self, Services};
use tapstack::dns::{Action, Answer, Hosts, Lookup, ResolveError};

const AI_FLAGS_KNOWN: c_int = libc::AI_PASSIVE
    | libc::AI_CANONNAME
    | libc::AI_NUMERICHOST
    | libc::AI_V4MAPPED
    | libc::AI_ALL
    | libc::AI_ADDRCONFIG
    | libc::AI_NUMERICSERV
    | 0x0040 /* AI_IDN */
    | 0x0080 /* AI_CANONIDN */;
const NI_FLAGS_KNOWN: c_int = libc::NI_NUMERICHOST
    | libc::NI_NUMERICSERV
    | libc::NI_NOFQDN
    | libc::NI_NAMEREQD
    | libc::NI_DGRAM
    | 0x20 /* NI_IDN */;

use tapstack::dns::names::EAI_ADDRFAMILY;

// h_errno values (netdb.h).
const HOST_NOT_FOUND: c_int = 1;
const TRY_AGAIN: c_int = 2;
const NO_RECOVERY: c_int = 3;
const NO_DATA: c_int = 4;

extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

fn set_h_errno(v: c_int) {
    // SAFETY: glibc returns the calling thread's h_errno slot.
    unsafe { *__h_errno_location() = v }
}

/// Reads a whole (small) file with raw syscalls, never through the hooked libc wrappers.
fn read_file(path: &str) -> Option<String> {
    let c = CString::new(path).ok()?;
    // SAFETY: plain syscalls on a NUL-terminated path and a live buffer.
    unsafe {
        let fd = libc::syscall(libc::SYS_openat, libc::AT_FDCWD, c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) as c_int;
        if fd < 0 {
            return None;
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len());
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n <= 0 || out.len() > (4 << 20) {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        libc::syscall(libc::SYS_close, fd);
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

fn hosts() -> Hosts {
    let path = std::env::var("TAPSTACK_HOSTS").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "/etc/hosts".into());
    Hosts::parse(&read_file(&path).unwrap_or_default())
}

fn services() -> Services {
    read_file("/etc/services").map(|t| Services::parse(&t)).unwrap_or_else(Services::builtin)
}

fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into v.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, &mut v as *mut u64, 8usize, 0) };
    if n != 8 {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        v = (t as u64) ^ ((std::process::id() as u64) << 40) ^ (&v as *const u64 as u64);
    }
    v
}

/// The host part: hosts file, then DNS over tapstack.
fn resolve_name(name: &str) -> Result<Answer, ResolveError> {
    if let Some(a) = hosts().lookup(name) {
        return Ok(a);
    }
    dns_lookup(name)
}

/// The socket of the query in flight.
enum QuerySock {
    /// A kernel UDP socket (raw syscalls) for a loopback nameserver such as systemd-resolved's
    /// 127.0.0.53: loopback never leaves the host, so it cannot be reached through the TAP.
    Kernel(c_int),
    /// A UDP socket of the shared stack (every other nameserver, reached through the TAP).
    Svc(c_int),
}

/// The resolver settings: /etc/resolv.conf, LOCALDOMAIN, RES_OPTIONS, TAPSTACK_DNS.
fn resolver_conf() -> tapstack::dns::ResolvConf {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let dns: Vec<Ipv4Addr> =
        env("TAPSTACK_DNS").map(|s| s.split(',').filter_map(|p| p.trim().parse().ok()).collect()).unwrap_or_default();
    names::resolver_conf(&read_file("/etc/resolv.conf").unwrap_or_default(), env, &dns)
}

/// DNS A lookup of `name` over tapstack.
fn dns_lookup(name: &str) -> Result<Answer, ResolveError> {
    let conf = resolver_conf();
    dns_run(Lookup::new(name, &conf, random_u64()), &conf)
}

/// Runs one lookup over tapstack UDP (and TCP after TC), bounded by its timeouts.
fn dns_run(mut lookup: Lookup, conf: &tapstack::dns::ResolvConf) -> Result<Answer, ResolveError> {
    // The lookup's own clock (independent of the runtime, which may not be needed at all).
    let epoch = std::time::Instant::now();
    let clock = || tapstack::Instant::from_micros(epoch.elapsed().as_micros() as u64);
    let to_std = |t: tapstack::Instant| epoch + std::time::Duration::from_micros(t.total_micros());
    let mut sock: Option<QuerySock> = None;
    let mut buf = vec![0u8; 65536];
    let result = loop {
        let now = clock();
        match lookup.poll(now) {
            Action::Done(r) => break r,
            Action::SendUdp { server, query } => {
                close_query_sock(sock.take());
                let sent = if server.ip().is_loopback() {
                    kernel_udp_send(server.into(), &query).map(|fd| sock = Some(QuerySock::Kernel(fd)))
                } else {
                    // A fresh socket (fresh random port) per query; connect() filters the
                    // source and turns ICMP port unreachable into ECONNREFUSED.
                    crate::svc::dns::udp_send(server.into(), &query).map(|fd| sock = Some(QuerySock::Svc(fd)))
                };
                if sent.is_err() {
                    lookup.on_unreachable(now);
                }
            }
            Action::SendTcp { server, query } => {
                let resp = (!server.ip().is_loopback())
                    .then(|| crate::svc::dns::tcp_exchange(server.into(), &query, to_std(now + conf.timeout)))
                    .flatten();
                match resp {
                    Some(resp) if lookup.on_tcp(clock(), &resp) => {}
                    _ => lookup.on_tcp_failed(clock()),
                }
            }
            Action::Wait(deadline) => match sock {
                Some(QuerySock::Svc(fd) | QuerySock::Kernel(fd)) => {
                    let svc = matches!(sock, Some(QuerySock::Svc(_)));
                    crate::svc::dns::wait(fd, libc::POLLIN, to_std(deadline));
                    loop {
                        let r =
                            if svc { crate::svc::dns::udp_recv(fd, &mut buf) } else { kernel_udp_recv(fd, &mut buf) };
                        match r {
                            Ok(Some((from, n))) => {
                                if lookup.on_udp(now, from.into(), &buf[..n]) {
                                    break;
                                }
                            }
                            Ok(None) => break,
                            Err(()) => {
                                lookup.on_unreachable(now);
                                break;
                            }
                        }
                    }
                }
                None => std::thread::sleep(deadline.saturating_since(clock())),
            },
        }
    };
    close_query_sock(sock);
    result
}

fn close_query_sock(s: Option<QuerySock>) {
    match s {
        Some(QuerySock::Svc(fd)) => crate::svc::dns::close(fd),
        Some(QuerySock::Kernel(fd)) => {
            // SAFETY: closing a descriptor this lookup opened.
            unsafe { libc::syscall(libc::SYS_close, fd) };
        }
        None => {}
    }
}

/// A connected, non-blocking kernel UDP socket to `server` with `query` sent on it.
fn kernel_udp_send(server: SocketAddrV4, query: &[u8]) -> Result<c_int, ()> {
    let sa = crate::svc::dns::sin(server);
    // SAFETY: raw syscalls (never the hooked wrappers) on a socket this function owns.
    unsafe {
        let ty = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let fd = libc::syscall(libc::SYS_socket, libc::AF_INET, ty, 0) as c_int;
        if fd < 0 {
            return Err(());
        }
        let salen = core::mem::size_of::<sockaddr_in>() as socklen_t;
        let ok = libc::syscall(libc::SYS_connect, fd, &sa as *const sockaddr_in, salen) == 0
            && libc::syscall(libc::SYS_sendto, fd, query.as_ptr(), query.len(), 0, ptr::null::<sockaddr>(), 0) >= 0;
        if !ok {
            libc::syscall(libc::SYS_close, fd);
            return Err(());
        }
        Ok(fd)
    }
}

/// One datagram from `fd`: Ok(None) if none is queued, Err on ECONNREFUSED and other errors.
fn kernel_udp_recv(fd: c_int, buf: &mut [u8]) -> Result<Option<(SocketAddrV4, usize)>, ()> {
    // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
    let mut sa: sockaddr_in = unsafe { core::mem::zeroed() };
    let mut salen = core::mem::size_of::<sockaddr_in>() as socklen_t;
    // SAFETY: buffer and address are live and sized as passed.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            libc::MSG_DONTWAIT,
            &mut sa as *mut sockaddr_in,
            &mut salen as *mut socklen_t,
        )
    };
    if n < 0 {
        let e = crate::errno();
        return if e == libc::EAGAIN || e == libc::EINTR { Ok(None) } else { Err(()) };
    }
    let from = SocketAddrV4::new(Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()), u16::from_be(sa.sin_port));
    Ok(Some((from, n as usize)))
}

// ---------------------------------------------------------------------------------------------
// getaddrinfo

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
#[no_mangle]
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
#[no_mangle]
pub unsafe extern "C" fn freeaddrinfo(mut ai: *mut addrinfo) {
    while !ai.is_null() {
        let next = (*ai).ai_next;
        libc::free((*ai).ai_canonname as *mut libc::c_void);
        libc::free(ai as *mut libc::c_void);
        ai = next;
    }
}

/// gai_strerror(3) with glibc's messages.
#[no_mangle]
pub extern "C" fn gai_strerror(code: c_int) -> *const c_char {
    names::gai_message(code).as_ptr() as *const c_char
}

// ---------------------------------------------------------------------------------------------
// gethostbyname family

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
    match resolve_name(n) {
        Ok(a) => Ok((a.canonical, a.addrs.iter().map(|a| a.as_v4()).collect())),
        Err(ResolveError::NotFound) => Err(HOST_NOT_FOUND),
        Err(ResolveError::NoData) => Err(NO_DATA),
        Err(ResolveError::TryAgain) => Err(TRY_AGAIN),
        Err(ResolveError::Fail) => Err(NO_RECOVERY),
    }
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
    if !result.is_null() {
        *result = ptr::null_mut();
    }
    let set_h = |v: c_int| {
        if !h_errnop.is_null() {
            *h_errnop = v;
        }
    };
    match hostent_lookup(name, af) {
        Ok((canon, addrs)) => {
            if ret.is_null() || !fill_hostent(ret, buf, buflen, &canon, &addrs) {
                set_h(NO_RECOVERY);
                return libc::ERANGE;
            }
            if !result.is_null() {
                *result = ret;
            }
            set_h(0);
            0
        }
        Err(h) => {
            set_h(h);
            if h == TRY_AGAIN {
                libc::EAGAIN
            } else {
                libc::ENOENT
            }
        }
    }
}

#[no_mangle]
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

#[no_mangle]
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
            let r = ghbn_r(name, af, he, buf.as_mut_ptr() as *mut c_char, size, &mut result, &mut h);
            if r == libc::ERANGE && size < (1 << 20) {
                size *= 4;
                continue;
            }
            set_h_errno(h);
            return result;
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    ghbn(name, libc::AF_INET)
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
    ghbn(name, af)
}

// ---------------------------------------------------------------------------------------------
// getnameinfo

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
#[no_mangle]
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
                    dns_run(Lookup::reverse(a, &conf, random_u64()), &conf)
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
