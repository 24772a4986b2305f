//! res_query, res_search, res_querydomain, res_send and their res_n* and `__res_*` names
//! (resolver(3)): raw DNS for the programs that parse answers themselves (MX, SRV, TXT: mail
//! servers, Kerberos, OpenSSH's SSHFP). glibc's make their socket calls inside libc, so they
//! went to the kernel's stack unseen; these send them over tapstack as getaddrinfo's
//! (`tapstack::dns::Lookup::raw` and `send`, `dns_run`). Servers: the program's own when it
//! set some in its resolver state (`_res.nsaddr_list`, a res_n* state) other than
//! /etc/resolv.conf's, else TAPSTACK_DNS or resolv.conf's. A response longer than the
//! program's buffer is cut to it (its length returned, no flag changed), as glibc's. Failures
//! set h_errno as glibc's:
//! HOST_NOT_FOUND, NO_DATA, TRY_AGAIN, NO_RECOVERY (res_send: -1 with ETIMEDOUT or EINVAL).
use std::ffi::CStr;

use libc::{c_char, c_int, c_uchar, c_ulong, c_void};

use super::*;

extern "C" {
    /// glibc's resolver state of the calling thread (`_res`).
    fn __res_state() -> *mut c_void;
}

/// `options` bit of an initialised resolver state.
const RES_INIT: c_ulong = 1;

/// The nameservers of resolver state `st` (glibc's `struct __res_state`: `options` at 8,
/// `nscount` at 16, `nsaddr_list[3]` of sockaddr_in at 20) when initialised and different from
/// /etc/resolv.conf's: the program chose them.
unsafe fn state_servers(st: *const c_void, conf: &tapstack::dns::ResolvConf) -> Option<Vec<Ipv4Addr>> {
    if st.is_null() {
        return None;
    }
    let b = st as *const u8;
    let options = std::ptr::read_unaligned(b.add(8) as *const c_ulong);
    let count = std::ptr::read_unaligned(b.add(16) as *const c_int);
    if options & RES_INIT == 0 || !(1..=3).contains(&count) {
        return None;
    }
    let mut servers = Vec::new();
    for i in 0..count as usize {
        let sa = std::ptr::read_unaligned(b.add(20 + 16 * i) as *const libc::sockaddr_in);
        if sa.sin_family as c_int == libc::AF_INET && u16::from_be(sa.sin_port) == 53 {
            servers.push(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)));
        }
    }
    let file = tapstack::dns::ResolvConf::parse(&read_file("/etc/resolv.conf").unwrap_or_default()).servers();
    (!servers.is_empty() && servers != file && servers != conf.servers()).then_some(servers)
}

/// The settings for a query of a program whose resolver state is `st`.
unsafe fn conf_for(st: *const c_void) -> tapstack::dns::ResolvConf {
    let mut conf = resolver_conf();
    if let Some(s) = state_servers(st, &conf) {
        conf.nameservers = s;
    }
    conf
}

/// Runs `lookup` and copies its response into `answer` (`anslen` bytes): its length, or -1
/// with h_errno (and for res_send errno) set. errno is kept on success.
unsafe fn run(mut lookup: Lookup, conf: &tapstack::dns::ResolvConf, answer: *mut c_uchar, anslen: c_int) -> c_int {
    let saved = crate::errno();
    let r = dns_run(&mut lookup, conf);
    match (r, lookup.raw_answer()) {
        (Ok(_), Some(resp)) if anslen > 0 && !answer.is_null() => {
            let n = resp.len().min(anslen as usize);
            std::ptr::copy_nonoverlapping(resp.as_ptr(), answer, n);
            crate::set_errno(saved);
            n as c_int
        }
        (Ok(_), _) => fail(NO_RECOVERY, libc::EINVAL),
        (Err(e), _) => fail(h_errno_of(e), if e == ResolveError::TryAgain { libc::ETIMEDOUT } else { libc::EINVAL }),
    }
}

fn fail(h: c_int, errno: c_int) -> c_int {
    set_h_errno(h);
    crate::set_errno(errno);
    -1
}

/// A C string argument as a name (None: null or not UTF-8).
unsafe fn name_arg<'a>(p: *const c_char) -> Option<&'a str> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_str().ok()).flatten()
}

unsafe fn query(
    st: *const c_void,
    name: *const c_char,
    class: c_int,
    ty: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
    search: bool,
) -> c_int {
    let (Some(name), Ok(class), Ok(ty)) = (name_arg(name), u16::try_from(class), u16::try_from(ty)) else {
        return fail(NO_RECOVERY, libc::EINVAL);
    };
    let conf = conf_for(st);
    run(Lookup::raw(name, class, ty, &conf, random_u64(), search), &conf, answer, anslen)
}

/// res_querydomain: `name.domain` queried as it is (glibc: a null domain takes `name`
/// without one trailing dot).
unsafe fn query_domain(
    st: *const c_void,
    name: *const c_char,
    domain: *const c_char,
    class: c_int,
    ty: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    let Some(n) = name_arg(name) else { return fail(NO_RECOVERY, libc::EINVAL) };
    let full = match name_arg(domain) {
        Some(d) => format!("{n}.{d}"),
        None if domain.is_null() => n.to_string(),
        None => return fail(NO_RECOVERY, libc::EINVAL),
    };
    let Ok(full) = std::ffi::CString::new(full) else { return fail(NO_RECOVERY, libc::EINVAL) };
    query(st, full.as_ptr(), class, ty, answer, anslen, false)
}

unsafe fn send(st: *const c_void, msg: *const c_uchar, len: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
    if msg.is_null() || len <= 0 {
        return fail(NO_RECOVERY, libc::EINVAL);
    }
    let q = std::slice::from_raw_parts(msg, len as usize);
    let conf = conf_for(st);
    run(Lookup::send(q, &conf, random_u64()), &conf, answer, anslen)
}

/// Each hook under its names: glibc's own (2.34+) and the `__res_*` ones that programs built
/// against an older libresolv.so.2 call.
macro_rules! hooks {
    ($($name:ident, $old:ident ( $($a:ident : $t:ty),* ) => $body:expr;)*) => {$(
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name($($a: $t),*) -> c_int {
            $body
        }
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $old($($a: $t),*) -> c_int {
            $body
        }
    )*};
}

hooks! {
    res_query, __res_query(name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int)
        => query(__res_state(), name, class, ty, ans, len, false);
    res_search, __res_search(name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int)
        => query(__res_state(), name, class, ty, ans, len, true);
    res_querydomain, __res_querydomain(name: *const c_char, dom: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int)
        => query_domain(__res_state(), name, dom, class, ty, ans, len);
    res_send, __res_send(msg: *const c_uchar, mlen: c_int, ans: *mut c_uchar, len: c_int)
        => send(__res_state(), msg, mlen, ans, len);
    res_nquery, __res_nquery(st: *mut c_void, name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int)
        => query(st, name, class, ty, ans, len, false);
    res_nsearch, __res_nsearch(st: *mut c_void, name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int)
        => query(st, name, class, ty, ans, len, true);
    res_nquerydomain, __res_nquerydomain(st: *mut c_void, name: *const c_char, dom: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int)
        => query_domain(st, name, dom, class, ty, ans, len);
    res_nsend, __res_nsend(st: *mut c_void, msg: *const c_uchar, mlen: c_int, ans: *mut c_uchar, len: c_int)
        => send(st, msg, mlen, ans, len);
}
