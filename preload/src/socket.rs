//! socket, bind, listen, accept, accept4, connect, shutdown, getsockname, getpeername.
//! AF_INET SOCK_STREAM (TCP), SOCK_DGRAM (UDP, ICMP) and SOCK_RAW sockets become sockets of the
//! shared stack (`svc`); everything else (AF_UNIX, AF_NETLINK, AF_PACKET, IPv6 raw sockets) goes
//! to libc untouched (a NETLINK_ROUTE socket is noted: `netlink` rewrites the TAP's addresses it
//! reads).
//!
//! Safety (for every hook here): the arguments are the program's own, handed unchanged to
//! `svc::route` or to libc under the same contract as the program's call.
use libc::{c_int, sockaddr, socklen_t};

use crate::{fail, real, svc};

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let base = ty & 0xf;
    let flags = ty & !0xf;
    let tcp = base == libc::SOCK_STREAM && (protocol == 0 || protocol == libc::IPPROTO_TCP);
    let udp = base == libc::SOCK_DGRAM && (protocol == 0 || protocol == libc::IPPROTO_UDP);
    // ICMP datagram ("ping") sockets (IPPROTO_ICMP, where net.ipv4.ping_group_range allows).
    let ping = domain == libc::AF_INET && base == libc::SOCK_DGRAM && protocol == libc::IPPROTO_ICMP;
    if domain == libc::AF_INET && base == libc::SOCK_RAW && flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) == 0 {
        return raw_socket(protocol, flags);
    }
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    if inet && base == libc::SOCK_STREAM && protocol == 262 {
        // IPPROTO_MPTCP: a kernel MPTCP socket would bypass tapstack; programs fall back to TCP.
        return fail(libc::EPROTONOSUPPORT);
    }
    if !inet || !(tcp || udp || ping) || flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        let fd = real::socket(domain, ty, protocol);
        crate::netlink::created(fd, domain, protocol);
        return fd;
    }
    if ping {
        // Whether this process may have one (its groups in the namespace's
        // net.ipv4.ping_group_range, else EACCES): the kernel says, as for raw sockets.
        let probe = real::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP);
        if probe < 0 {
            return probe;
        }
        real::sys_close(probe);
    }
    let Some(_guard) = crate::ShimGuard::enter_masked() else { return real::socket(domain, ty, protocol) };
    let kind = if tcp {
        svc::KIND_TCP
    } else if ping {
        tapstack::service::proto::KIND_PING
    } else {
        svc::KIND_UDP
    };
    let fd = svc::hooks::socket(domain, kind, flags);
    crate::pmtu::forget(fd); // a number reused without our close (close_range) has no mark
    crate::epoll::forget(fd); // nor the epoll registrations of the file that had it
    fd
}

/// socket(AF_INET, SOCK_RAW, protocol): a raw socket of the shared stack (`udp_raw.rs` in the
/// stack). The kernel says whether this process may have one and with which errno (EPERM
/// without CAP_NET_RAW, EPROTONOSUPPORT for protocol 0, EINVAL beyond 255): a raw socket of
/// its own is made and closed first.
unsafe fn raw_socket(protocol: c_int, flags: c_int) -> c_int {
    let probe = real::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol);
    if probe < 0 {
        return probe;
    }
    real::sys_close(probe);
    if protocol > 255 {
        // Linux takes up to IPPROTO_MAX (262); no IPv4 datagram carries more than 255: the
        // kernel's socket, which will never hear anything either.
        return real::socket(libc::AF_INET, libc::SOCK_RAW | flags, protocol);
    }
    let Some(_guard) = crate::ShimGuard::enter_masked() else {
        return real::socket(libc::AF_INET, libc::SOCK_RAW | flags, protocol);
    };
    let fd = svc::hooks::socket_of(libc::AF_INET, tapstack::service::proto::KIND_RAW, flags, protocol as u16);
    crate::pmtu::forget(fd);
    crate::epoll::forget(fd);
    fd
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    svc::route::bind(fd, addr, len).unwrap_or_else(|| real::bind(fd, addr, len))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    svc::route::listen(fd, backlog).unwrap_or_else(|| real::listen(fd, backlog))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    svc::route::accept4(fd, addr, len, 0).unwrap_or_else(|| real::accept(fd, addr, len))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    svc::route::accept4(fd, addr, len, flags).unwrap_or_else(|| real::accept4(fd, addr, len, flags))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    svc::route::connect(fd, addr, len).unwrap_or_else(|| real::connect(fd, addr, len))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    svc::route::shutdown(fd, how).unwrap_or_else(|| real::shutdown(fd, how))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    svc::route::getname(fd, addr, len, false).unwrap_or_else(|| real::getsockname(fd, addr, len))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    svc::route::getname(fd, addr, len, true).unwrap_or_else(|| real::getpeername(fd, addr, len))
}
