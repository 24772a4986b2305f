//! Dual-stack socket addresses, modelled on Linux's `inet_bind`/`tcp_v4_connect`/`udp_sendmsg`
//! (net/ipv4) and `inet6_bind`/`tcp_v6_connect`/`ip6_datagram_connect`/`udpv6_sendmsg`
//! (net/ipv6). An AF_INET6 socket is served by the IPv4 engine for IPv4-mapped addresses
//! (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2) and the unspecified address `::`, as Linux
//! serves them on a dual-stack socket (RFC 3493 section 3.7); `::1` is tapstack's loopback.
//! tapstack does not speak IPv6 yet, so any other IPv6 destination is unreachable
//! (ENETUNREACH, as on a host without an IPv6 route) and any other local IPv6 address is not
//! ours (EADDRNOTAVAIL). Every errno below was checked against Linux 6.x (tests/net/t_60).
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use libc::{EAFNOSUPPORT, EFAULT, EINVAL, ENETUNREACH};

pub use crate::iface::LOOPBACK6_STANDIN;

/// The IPv4 endpoint that carries `[::1]:port`.
pub fn loopback6(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(LOOPBACK6_STANDIN, port)
}

pub const AF_UNSPEC: u16 = libc::AF_UNSPEC as u16;
pub const AF_INET: u16 = libc::AF_INET as u16;
pub const AF_INET6: u16 = libc::AF_INET6 as u16;
/// sizeof(struct sockaddr_in).
pub const SIN_LEN: usize = 16;
/// sizeof(struct sockaddr_in6).
pub const SIN6_LEN: usize = 28;
/// The RFC 2133 sockaddr_in6 without sin6_scope_id: the least Linux accepts (SIN6_LEN_RFC2133).
pub const SIN6_LEN_RFC2133: usize = 24;
/// sizeof(struct sockaddr_storage): the most the kernel copies in or out.
pub const SOCKADDR_STORAGE: usize = 128;

/// The socket's address family.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Domain {
    Inet,
    Inet6,
}

/// TCP (SOCK_STREAM) or UDP (SOCK_DGRAM).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Dgram,
}

/// The call an address is given to. `SendTo` covers sendto, sendmsg and sendmmsg.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Bind,
    Connect,
    SendTo,
}

/// What the translation needs to know about the socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SockInfo {
    pub domain: Domain,
    pub kind: Kind,
    /// IPV6_V6ONLY (AF_INET6 only).
    pub v6only: bool,
}

/// What a user's address names, for the IPv4 engine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An IPv4 endpoint: AF_INET, an IPv4-mapped address, or `::` on a dual-stack socket's bind.
    V4(SocketAddrV4),
    /// `::ffff:0.0.0.0` given to bind: the IPv4 wildcard, reported back as `::ffff:0.0.0.0`
    /// (where `::` is reported as `::`).
    MappedAny(u16),
    /// `::1` (or `::` as a destination, "connect to any means loopback"): tapstack's loopback,
    /// served as [`LOOPBACK6_STANDIN`] and reported back as `::1` (see [`loopback6`]).
    Loopback6(u16),
    /// A local IPv6 address no IPv4 packet can reach (`::` on a V6ONLY socket, a global
    /// multicast group on UDP): the bind succeeds and nothing ever arrives, as on a host
    /// without IPv6 traffic.
    V6Only(Ipv6Addr, u16),
    /// AF_UNSPEC: connect dissolves the association; sendto has no destination.
    Unspec,
}

impl Target {
    /// The IPv4 endpoint the engine uses for this target (`::ffff:0.0.0.0` is 0.0.0.0, `::1`
    /// the loopback stand-in); None for an IPv6-only or absent address.
    pub fn engine(self) -> Option<SocketAddrV4> {
        match self {
            Target::V4(a) => Some(a),
            Target::MappedAny(p) => Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p)),
            Target::Loopback6(p) => Some(loopback6(p)),
            Target::V6Only(..) | Target::Unspec => None,
        }
    }
}

/// The user-memory step of the syscall (`move_addr_to_kernel`, `copy_msghdr_from_user`):
/// how many bytes of the user's buffer to read, or the errno. `None`: no address at all.
/// `null`: the pointer is NULL; `len` as the program passed it (socklen_t).
pub fn user_len(op: Op, null: bool, len: u32, sendmsg: bool) -> Result<Option<usize>, i32> {
    if sendmsg {
        // msg_namelen is an int in the kernel; too long is clamped, not refused.
        if (len as i32) < 0 {
            return Err(EINVAL);
        }
        if null || len == 0 {
            return Ok(None);
        }
        return Ok(Some((len as usize).min(SOCKADDR_STORAGE)));
    }
    if op == Op::SendTo && null {
        return Ok(None);
    }
    if len as usize > SOCKADDR_STORAGE {
        return Err(EINVAL);
    }
    if null && len > 0 {
        return Err(EFAULT);
    }
    Ok(Some(len as usize))
}

fn family(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[0], b[1]])
}

fn port(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[2], b[3]])
}

/// The IPv4 address of a sockaddr_in of at least SIN_LEN bytes.
fn v4(b: &[u8]) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(b[4], b[5], b[6], b[7]), port(b))
}

/// sin6_addr of a sockaddr_in6 of at least SIN6_LEN_RFC2133 bytes.
fn v6_addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[8..24]);
    Ipv6Addr::from(a)
}

/// sin6_scope_id, or 0 for the RFC 2133 length.
fn scope_id(b: &[u8]) -> u32 {
    if b.len() >= SIN6_LEN {
        u32::from_ne_bytes([b[24], b[25], b[26], b[27]])
    } else {
        0
    }
}

/// `::ffff:a.b.c.d`.
pub fn mapped_v4(a: &Ipv6Addr) -> Option<Ipv4Addr> {
    let o = a.octets();
    (o[..10] == [0; 10] && o[10] == 0xff && o[11] == 0xff).then(|| Ipv4Addr::new(o[12], o[13], o[14], o[15]))
}

/// Linux `__ipv6_addr_needs_scope_id`: link-local unicast and interface/link-local multicast.
fn needs_scope_id(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    (o[0] == 0xfe && o[1] & 0xc0 == 0x80) || (o[0] == 0xff && (o[1] & 0x0f) <= 2)
}

fn is_multicast(a: &Ipv6Addr) -> bool {
    a.octets()[0] == 0xff
}

/// Translates the address a program gives to bind, connect or sendto (`b`: the bytes read
/// from the user, `None` when there is none) into what the IPv4 engine should do, or the
/// errno Linux returns for it on this socket.
/// `ifindex_exists` answers whether a network interface has that index (a bind to a
/// link-local address names one through sin6_scope_id).
pub fn parse(s: SockInfo, op: Op, b: Option<&[u8]>, ifindex_exists: &dyn Fn(u32) -> bool) -> Result<Target, i32> {
    let Some(b) = b else {
        return Ok(Target::Unspec);
    };
    match s.domain {
        Domain::Inet => parse_inet(s, op, b),
        Domain::Inet6 => parse_inet6(s, op, b, ifindex_exists),
    }
}

/// An AF_INET socket: inet_bind, inet_{stream,dgram}_connect + tcp_v4_connect /
/// __ip4_datagram_connect, udp_sendmsg.
fn parse_inet(s: SockInfo, op: Op, b: &[u8]) -> Result<Target, i32> {
    match op {
        Op::Bind => {
            if b.len() < SIN_LEN {
                return Err(EINVAL);
            }
            let a = v4(b);
            match family(b) {
                AF_INET => Ok(Target::V4(a)),
                // Compatibility: AF_UNSPEC is taken as AF_INET only with INADDR_ANY.
                AF_UNSPEC if a.ip().is_unspecified() => Ok(Target::V4(a)),
                _ => Err(EAFNOSUPPORT),
            }
        }
        Op::Connect => {
            if b.len() < 2 {
                return Err(EINVAL);
            }
            if family(b) == AF_UNSPEC {
                return Ok(Target::Unspec);
            }
            if b.len() < SIN_LEN {
                return Err(EINVAL);
            }
            if family(b) != AF_INET {
                return Err(EAFNOSUPPORT);
            }
            Ok(Target::V4(v4(b)))
        }
        Op::SendTo => {
            if s.kind == Kind::Stream {
                return Ok(Target::Unspec); // TCP ignores msg_name
            }
            udp4_dest(b)
        }
    }
}

/// udp_sendmsg's destination check (AF_UNSPEC is read as AF_INET).
fn udp4_dest(b: &[u8]) -> Result<Target, i32> {
    if b.len() < SIN_LEN {
        return Err(EINVAL);
    }
    match family(b) {
        AF_INET | AF_UNSPEC => Ok(Target::V4(v4(b))),
        _ => Err(EAFNOSUPPORT),
    }
}

/// An AF_INET6 socket: inet6_bind, tcp_v6_connect, ip6_datagram_connect, udpv6_sendmsg.
fn parse_inet6(s: SockInfo, op: Op, b: &[u8], ifindex_exists: &dyn Fn(u32) -> bool) -> Result<Target, i32> {
    match op {
        Op::Bind => {
            if b.len() < SIN6_LEN_RFC2133 {
                return Err(EINVAL);
            }
            if family(b) != AF_INET6 {
                return Err(EAFNOSUPPORT);
            }
            let a = v6_addr(b);
            let p = port(b);
            if is_multicast(&a) && s.kind == Kind::Stream {
                return Err(EINVAL);
            }
            if let Some(v) = mapped_v4(&a) {
                // Binding a v4-mapped address on a v6-only socket makes no sense (EINVAL).
                return match (s.v6only, v.is_unspecified()) {
                    (true, _) => Err(EINVAL),
                    (false, true) => Ok(Target::MappedAny(p)),
                    (false, false) => Ok(Target::V4(SocketAddrV4::new(v, p))),
                };
            }
            if a.is_unspecified() {
                return Ok(if s.v6only {
                    Target::V6Only(a, p)
                } else {
                    Target::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, p))
                });
            }
            if a.is_loopback() {
                return Ok(Target::Loopback6(p));
            }
            if needs_scope_id(&a) {
                // Without a scope the binder must name an interface; with one, the interface
                // must exist (ENODEV) and the address is not on it.
                return Err(match scope_id(b) {
                    0 => EINVAL,
                    i if !ifindex_exists(i) => libc::ENODEV,
                    _ => libc::EADDRNOTAVAIL,
                });
            }
            if is_multicast(&a) {
                return Ok(Target::V6Only(a, p));
            }
            Err(libc::EADDRNOTAVAIL)
        }
        Op::Connect => {
            if b.len() < 2 {
                return Err(EINVAL);
            }
            let fam = family(b);
            if fam == AF_UNSPEC {
                return Ok(Target::Unspec);
            }
            if s.kind == Kind::Dgram && fam == AF_INET {
                // ip6_datagram_connect hands an AF_INET address to the IPv4 code.
                if s.v6only {
                    return Err(EAFNOSUPPORT);
                }
                if b.len() < SIN_LEN {
                    return Err(EINVAL);
                }
                return Ok(Target::V4(v4(b)));
            }
            if b.len() < SIN6_LEN_RFC2133 {
                return Err(EINVAL);
            }
            if fam != AF_INET6 {
                return Err(EAFNOSUPPORT);
            }
            let a = v6_addr(b);
            let p = port(b);
            if s.kind == Kind::Stream && is_multicast(&a) {
                return Err(ENETUNREACH);
            }
            v6_dest(s, a, p, scope_id(b), true)
        }
        Op::SendTo => {
            if s.kind == Kind::Stream {
                return Ok(Target::Unspec);
            }
            if b.len() < 2 {
                return Err(EINVAL);
            }
            match family(b) {
                AF_INET6 => {
                    if b.len() < SIN6_LEN_RFC2133 {
                        return Err(EINVAL);
                    }
                    v6_dest(s, v6_addr(b), port(b), scope_id(b), false)
                }
                AF_INET if s.v6only => Err(ENETUNREACH),
                AF_INET => udp4_dest(b),
                AF_UNSPEC => Ok(Target::Unspec),
                _ => Err(EINVAL),
            }
        }
    }
}

/// An AF_INET6 destination (connect or sendto).
fn v6_dest(s: SockInfo, a: Ipv6Addr, p: u16, scope: u32, connect: bool) -> Result<Target, i32> {
    if let Some(v) = mapped_v4(&a) {
        return if s.v6only { Err(ENETUNREACH) } else { Ok(Target::V4(SocketAddrV4::new(v, p))) };
    }
    // "connect() to INADDR_ANY means loopback (BSD'ism)".
    if a.is_unspecified() || a.is_loopback() {
        return Ok(Target::Loopback6(p));
    }
    if connect && needs_scope_id(&a) && scope == 0 {
        return Err(EINVAL);
    }
    Err(ENETUNREACH)
}

/// A socket name as the IPv4 engine knows it, to be reported to the program.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Name {
    V4(SocketAddrV4),
    V6(Ipv6Addr, u16),
}

/// A `sockaddr_in` or `sockaddr_in6` ready to copy out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub buf: [u8; SIN6_LEN],
    pub len: usize,
}

impl Encoded {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// How an AF_INET6 socket reports IPv4 names: see [`encode`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// The socket was bound to `::ffff:0.0.0.0`: 0.0.0.0 is that, not `::`.
    pub mapped_any: bool,
}

/// Encodes `n` for a socket of `domain`. On AF_INET6 an IPv4 name is reported IPv4-mapped,
/// except 0.0.0.0 (a dual-stack socket bound to, or not yet bound beyond, `::`) which is `::`
/// (unless `style.mapped_any`), and [`LOOPBACK6_STANDIN`] which is `::1`.
pub fn encode(domain: Domain, n: Name, style: Style) -> Encoded {
    let mut buf = [0u8; SIN6_LEN];
    match (domain, n) {
        (Domain::Inet, Name::V4(a)) => {
            buf[..2].copy_from_slice(&AF_INET.to_ne_bytes());
            buf[2..4].copy_from_slice(&a.port().to_be_bytes());
            buf[4..8].copy_from_slice(&a.ip().octets());
            Encoded { buf, len: SIN_LEN }
        }
        (Domain::Inet, Name::V6(..)) => {
            // Never produced: an AF_INET socket has no IPv6 name. Report the unspecified one.
            buf[..2].copy_from_slice(&AF_INET.to_ne_bytes());
            Encoded { buf, len: SIN_LEN }
        }
        (Domain::Inet6, n) => {
            let (ip, port) = match n {
                Name::V4(a) if a.ip().is_unspecified() && !style.mapped_any => (Ipv6Addr::UNSPECIFIED, a.port()),
                Name::V4(a) if *a.ip() == LOOPBACK6_STANDIN => (Ipv6Addr::LOCALHOST, a.port()),
                Name::V4(a) => (a.ip().to_ipv6_mapped(), a.port()),
                Name::V6(ip, port) => (ip, port),
            };
            buf[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
            buf[2..4].copy_from_slice(&port.to_be_bytes());
            // sin6_flowinfo (4..8) and sin6_scope_id (24..28) stay 0.
            buf[8..24].copy_from_slice(&ip.octets());
            Encoded { buf, len: SIN6_LEN }
        }
    }
}

/// The kernel's `move_addr_to_user`: given the length the program offered (an int in the
/// kernel), how many bytes to copy and what length to report (always the full size, so the
/// program can see the truncation); EINVAL for a negative length.
pub fn copy_out_len(full: usize, user_len: u32) -> Result<(usize, u32), i32> {
    let ul = user_len as i32;
    if ul < 0 {
        return Err(EINVAL);
    }
    Ok(((ul as usize).min(full), full as u32))
}
