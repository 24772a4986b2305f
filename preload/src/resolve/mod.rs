//! Name resolution through tapstack: getaddrinfo, freeaddrinfo, gai_strerror, gethostbyname,
//! gethostbyname_r, gethostbyname2, gethostbyname2_r, getnameinfo, gethostbyaddr(_r),
//! getaddrinfo_a and its companions (`gai_a`), and raw DNS for the programs
//! that parse answers themselves: res_query, res_search, res_querydomain, res_send (`res`).
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

mod byaddr;
mod byname;
mod dns;
mod gai;
mod gai_a;
mod nameinfo;
mod res;

use dns::{dns_lookup, dns_run, resolver_conf};

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

/// glibc's h_errno for a lookup that failed with `e`.
fn h_errno_of(e: ResolveError) -> c_int {
    match e {
        ResolveError::NotFound => HOST_NOT_FOUND,
        ResolveError::NoData => NO_DATA,
        ResolveError::TryAgain => TRY_AGAIN,
        ResolveError::Fail => NO_RECOVERY,
    }
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
