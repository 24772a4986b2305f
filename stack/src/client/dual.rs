//! The dual-stack state of one socket (issue 10), kept in the shared service's socket (so a
//! descriptor inherited over fork/exec or SCM_RIGHTS keeps its family). Pure: the callers say whether the
//! engine socket has a local port and hand the engine's IPv4 names in; [`super::sockaddr`]
//! does the address translation.
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use super::ipv6opt::Ipv6Opts;
use super::sockaddr::{self as sa, Domain, Encoded, Kind, Name, SockInfo, Style, Target};

/// The dual-stack part of a socket.
#[derive(Clone, Debug)]
pub struct Dual {
    pub domain: Domain,
    pub v6: Ipv6Opts,
    /// How IPv4 names are reported (`::ffff:0.0.0.0` after binding it).
    pub style: Style,
    /// Bound to an IPv6-only address (V6ONLY `::`): the name, and whether it listens.
    /// Such a socket is bound "virtually" (no engine port: only IPv6, which tapstack does not
    /// speak, could reach it), so it never collides with an IPv4 socket on the same port.
    pub virt: Option<(Ipv6Addr, u16)>,
    pub virt_listening: bool,
}

impl Default for Dual {
    fn default() -> Dual {
        Dual {
            domain: Domain::Inet,
            v6: Ipv6Opts::default(),
            style: Style::default(),
            virt: None,
            virt_listening: false,
        }
    }
}

impl Dual {
    pub fn inet6() -> Dual {
        Dual { domain: Domain::Inet6, ..Dual::default() }
    }

    /// The state of a socket of C family `af` (AF_INET6, anything else is AF_INET).
    pub fn for_family(af: i32) -> Dual {
        if af == libc::AF_INET6 {
            Dual::inet6()
        } else {
            Dual::default()
        }
    }

    /// What an accepted connection inherits from its listener.
    pub fn for_accepted(&self) -> Dual {
        Dual { domain: self.domain, v6: self.v6.clone(), style: self.style, virt: None, virt_listening: false }
    }

    /// What the address translation needs to know.
    pub fn info(&self, kind: Kind) -> SockInfo {
        SockInfo { domain: self.domain, kind, v6only: self.v6.v6only }
    }

    /// The C family (SO_DOMAIN).
    pub fn family(&self) -> i32 {
        match self.domain {
            Domain::Inet => libc::AF_INET,
            Domain::Inet6 => libc::AF_INET6,
        }
    }

    /// Where `t` points for the IPv4 engine; binding `::ffff:0.0.0.0` marks the style.
    pub fn engine_addr(&mut self, t: Target) -> Option<SocketAddrV4> {
        if let Target::MappedAny(_) = t {
            self.style.mapped_any = true;
        }
        t.engine()
    }

    /// The socket's own name (getsockname): its virtual name if it has one, else the engine's.
    pub fn name(&self, engine: SocketAddrV4) -> Encoded {
        let n = match self.virt {
            Some((ip, port)) => Name::V6(ip, port),
            None => Name::V4(engine),
        };
        sa::encode(self.domain, n, self.style)
    }

    /// A peer's address (accept, recvfrom, getpeername).
    pub fn peer(&self, a: SocketAddrV4) -> Encoded {
        sa::encode(self.domain, Name::V4(a), self.style)
    }

    /// bind() of an IPv6-only address: recorded, no engine port. EINVAL if already bound
    /// (`bound`: the engine socket has a local port). Port 0 takes `ephemeral`.
    pub fn bind_virtual(&mut self, bound: bool, ip: Ipv6Addr, port: u16, ephemeral: u16) -> Result<(), i32> {
        if bound || self.virt.is_some() {
            return Err(libc::EINVAL);
        }
        self.virt = Some((ip, if port == 0 { ephemeral } else { port }));
        Ok(())
    }

    /// setsockopt(IPPROTO_IPV6, name) on a socket of `kind`: `val` the int argument
    /// (`ipv6opt::int_arg`), `optlen` as given, `bound`: the engine socket has a local port.
    /// ENOPROTOOPT on AF_INET (Linux).
    pub fn set_opt(&mut self, kind: Kind, name: i32, val: i32, optlen: u32, bound: bool) -> Result<(), i32> {
        if self.domain != Domain::Inet6 {
            return Err(libc::ENOPROTOOPT);
        }
        let bound = bound || self.virt.is_some();
        self.v6.set_on(kind, name, val, optlen, bound)
    }

    /// getsockopt(IPPROTO_IPV6, name) as an int; EOPNOTSUPP on AF_INET (Linux).
    pub fn get_opt(&self, name: i32) -> Result<i32, i32> {
        if self.domain != Domain::Inet6 {
            return Err(libc::EOPNOTSUPP);
        }
        self.v6.get(name)
    }
}

/// An ephemeral port of Linux's default range (32768..=60999) for a virtual binding, from a
/// counter and a seed (only IPv6 could ever use it).
pub fn virtual_ephemeral(n: u32) -> u16 {
    (32768 + n % (60999 - 32768 + 1)) as u16
}

/// The unspecified IPv4 endpoint (an engine socket without a name).
pub fn unspecified() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::sockaddr::{SIN6_LEN, SIN_LEN};

    #[test]
    fn names_by_family() {
        let d = Dual::default();
        assert_eq!(d.name(unspecified()).len, SIN_LEN);
        let mut d = Dual::for_family(libc::AF_INET6);
        assert_eq!(d.family(), libc::AF_INET6);
        let e = d.name(unspecified());
        assert_eq!(e.len, SIN6_LEN);
        assert_eq!(&e.buf[8..24], &[0; 16]); // ::
        assert_eq!(d.engine_addr(Target::MappedAny(7)), Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7)));
        let e = d.name(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7));
        assert_eq!(&e.buf[18..24], &[0xff, 0xff, 0, 0, 0, 0]); // ::ffff:0.0.0.0
        let p = d.peer("10.0.0.1:80".parse().unwrap());
        assert_eq!(&e.buf[..2], &p.buf[..2]);
        assert_eq!(&p.buf[18..24], &[0xff, 0xff, 10, 0, 0, 1]);
    }

    #[test]
    fn virtual_bind_and_v6only() {
        let mut d = Dual::inet6();
        assert_eq!(d.set_opt(Kind::Stream, libc::IPV6_V6ONLY, 1, 4, false), Ok(()));
        assert_eq!(d.get_opt(libc::IPV6_V6ONLY), Ok(1));
        assert_eq!(d.bind_virtual(true, Ipv6Addr::UNSPECIFIED, 5, 40000), Err(libc::EINVAL));
        assert_eq!(d.bind_virtual(false, Ipv6Addr::UNSPECIFIED, 0, 40000), Ok(()));
        assert_eq!(d.virt, Some((Ipv6Addr::UNSPECIFIED, 40000)));
        assert_eq!(d.bind_virtual(false, Ipv6Addr::UNSPECIFIED, 5, 40000), Err(libc::EINVAL));
        // Bound (virtually): V6ONLY can no longer change.
        assert_eq!(d.set_opt(Kind::Stream, libc::IPV6_V6ONLY, 0, 4, false), Err(libc::EINVAL));
        let e = d.name(unspecified());
        assert_eq!(u16::from_be_bytes([e.buf[2], e.buf[3]]), 40000);
        assert!(d.for_accepted().virt.is_none());
        let mut d4 = Dual::default();
        assert_eq!(d4.set_opt(Kind::Dgram, libc::IPV6_V6ONLY, 1, 4, false), Err(libc::ENOPROTOOPT));
        assert_eq!(d4.get_opt(libc::IPV6_V6ONLY), Err(libc::EOPNOTSUPP));
        assert!((32768..=60999).contains(&virtual_ephemeral(u32::MAX)));
    }
}
