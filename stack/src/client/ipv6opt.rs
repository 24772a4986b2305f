//! The IPPROTO_IPV6 options of an AF_INET6 socket that tapstack serves over IPv4 (Linux
//! net/ipv6/ipv6_sockglue.c). IPV6_V6ONLY changes what the socket accepts (see
//! [`super::sockaddr`]); the rest only affect IPv6 packets, which tapstack never sends, so
//! they are checked as Linux checks them, stored and reported back.
use libc::{EINVAL, ENOPROTOOPT};

use super::sockaddr::Kind;

/// The two ECN bits of the traffic class (RFC 3168 section 5).
const ECN_MASK: i32 = 3;

/// Linux's default hop limit (net.ipv6.conf.*.hop_limit), reported for "not set" (-1).
pub const DEFAULT_HOP_LIMIT: i32 = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Opts {
    pub v6only: bool,
    pub unicast_hops: i32,
    pub multicast_hops: i32,
    pub multicast_loop: bool,
    pub tclass: i32,
    pub recvpktinfo: bool,
    pub recvtclass: bool,
    pub recverr: bool,
    pub mtu_discover: i32,
    pub dontfrag: bool,
}

impl Default for Ipv6Opts {
    fn default() -> Ipv6Opts {
        Ipv6Opts {
            // net.ipv6.bindv6only = 0
            v6only: false,
            unicast_hops: -1,
            multicast_hops: -1,
            multicast_loop: true,
            tclass: 0,
            recvpktinfo: false,
            recvtclass: false,
            recverr: false,
            // IPV6_PMTUDISC_WANT, as Linux reports for a new socket.
            mtu_discover: 1,
            dontfrag: false,
        }
    }
}

/// The int argument as `do_ipv6_setsockopt` reads it: NULL or shorter than an int is 0.
pub fn int_arg(val: Option<[u8; 4]>) -> i32 {
    val.map(i32::from_ne_bytes).unwrap_or(0)
}

impl Ipv6Opts {
    /// setsockopt(IPPROTO_IPV6, name): `val` is the int argument (see [`int_arg`]), `optlen`
    /// the length given, `bound`: the socket has a local port (IPV6_V6ONLY is then EINVAL).
    pub fn set(&mut self, name: i32, val: i32, optlen: u32, bound: bool) -> Result<(), i32> {
        let int_len = optlen as usize >= std::mem::size_of::<i32>();
        let need_int = |ok: bool| if int_len && ok { Ok(()) } else { Err(EINVAL) };
        match name {
            libc::IPV6_V6ONLY => {
                if !int_len || bound {
                    return Err(EINVAL);
                }
                self.v6only = val != 0;
            }
            libc::IPV6_UNICAST_HOPS | libc::IPV6_MULTICAST_HOPS => {
                need_int((-1..=255).contains(&val))?;
                if name == libc::IPV6_UNICAST_HOPS {
                    self.unicast_hops = val;
                } else {
                    self.multicast_hops = val;
                }
            }
            libc::IPV6_MULTICAST_LOOP => {
                need_int(val == 0 || val == 1)?;
                self.multicast_loop = val != 0;
            }
            libc::IPV6_TCLASS => {
                need_int((-1..=0xff).contains(&val))?;
                self.tclass = val.max(0);
            }
            libc::IPV6_RECVPKTINFO => {
                need_int(true)?;
                self.recvpktinfo = val != 0;
            }
            libc::IPV6_RECVTCLASS => {
                need_int(true)?;
                self.recvtclass = val != 0;
            }
            libc::IPV6_RECVERR => {
                need_int(true)?;
                self.recverr = val != 0;
            }
            libc::IPV6_MTU_DISCOVER => {
                // IPV6_PMTUDISC_DONT..IPV6_PMTUDISC_OMIT
                need_int((0..=5).contains(&val))?;
                self.mtu_discover = val;
            }
            // No length check in do_ipv6_setsockopt: a short value is 0.
            libc::IPV6_DONTFRAG => self.dontfrag = val != 0,
            _ => return Err(ENOPROTOOPT),
        }
        Ok(())
    }

    /// [`Ipv6Opts::set`] on a socket of `kind`: a stream socket refuses IPV6_MULTICAST_HOPS
    /// (ENOPROTOOPT) and keeps the ECN bits out of IPV6_TCLASS (TCP owns them), as Linux.
    pub fn set_on(&mut self, kind: Kind, name: i32, val: i32, optlen: u32, bound: bool) -> Result<(), i32> {
        if kind == Kind::Stream && name == libc::IPV6_MULTICAST_HOPS {
            return Err(ENOPROTOOPT);
        }
        self.set(name, val, optlen, bound)?;
        if kind == Kind::Stream && name == libc::IPV6_TCLASS {
            self.tclass &= !ECN_MASK;
        }
        Ok(())
    }

    /// getsockopt(IPPROTO_IPV6, name) as an int.
    pub fn get(&self, name: i32) -> Result<i32, i32> {
        let hops = |v: i32| if v < 0 { DEFAULT_HOP_LIMIT } else { v };
        Ok(match name {
            libc::IPV6_V6ONLY => self.v6only as i32,
            libc::IPV6_UNICAST_HOPS => hops(self.unicast_hops),
            // Linux reports the multicast default as 1.
            libc::IPV6_MULTICAST_HOPS => {
                if self.multicast_hops < 0 {
                    1
                } else {
                    self.multicast_hops
                }
            }
            libc::IPV6_MULTICAST_LOOP => self.multicast_loop as i32,
            libc::IPV6_TCLASS => self.tclass,
            libc::IPV6_RECVPKTINFO => self.recvpktinfo as i32,
            libc::IPV6_RECVTCLASS => self.recvtclass as i32,
            libc::IPV6_RECVERR => self.recverr as i32,
            libc::IPV6_MTU_DISCOVER => self.mtu_discover,
            libc::IPV6_DONTFRAG => self.dontfrag as i32,
            _ => return Err(ENOPROTOOPT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6only_only_before_bind_and_with_an_int() {
        let mut o = Ipv6Opts::default();
        assert_eq!(o.get(libc::IPV6_V6ONLY), Ok(0));
        assert_eq!(o.set(libc::IPV6_V6ONLY, 1, 4, false), Ok(()));
        assert_eq!(o.get(libc::IPV6_V6ONLY), Ok(1));
        assert_eq!(o.set(libc::IPV6_V6ONLY, 0, 2, false), Err(EINVAL));
        assert_eq!(o.set(libc::IPV6_V6ONLY, 0, 4, true), Err(EINVAL));
        assert!(o.v6only);
        // A NULL value with a full length reads as 0 (do_ipv6_setsockopt).
        assert_eq!(o.set(libc::IPV6_V6ONLY, int_arg(None), 4, false), Ok(()));
        assert!(!o.v6only);
    }

    #[test]
    fn hops_and_tclass_ranges() {
        let mut o = Ipv6Opts::default();
        assert_eq!(o.get(libc::IPV6_UNICAST_HOPS), Ok(64));
        assert_eq!(o.set(libc::IPV6_UNICAST_HOPS, 256, 4, false), Err(EINVAL));
        assert_eq!(o.set(libc::IPV6_UNICAST_HOPS, 9, 4, false), Ok(()));
        assert_eq!(o.get(libc::IPV6_UNICAST_HOPS), Ok(9));
        assert_eq!(o.set(libc::IPV6_UNICAST_HOPS, -1, 4, false), Ok(()));
        assert_eq!(o.get(libc::IPV6_UNICAST_HOPS), Ok(64));
        assert_eq!(o.get(libc::IPV6_MULTICAST_HOPS), Ok(1));
        assert_eq!(o.set(libc::IPV6_TCLASS, 0x100, 4, false), Err(EINVAL));
        assert_eq!(o.set(libc::IPV6_TCLASS, 0x28, 4, false), Ok(()));
        assert_eq!(o.get(libc::IPV6_TCLASS), Ok(0x28));
        assert_eq!(o.set(libc::IPV6_TCLASS, -1, 4, false), Ok(()));
        assert_eq!(o.get(libc::IPV6_TCLASS), Ok(0));
        assert_eq!(o.set(libc::IPV6_MULTICAST_LOOP, 2, 4, false), Err(EINVAL));
        assert_eq!(o.set(12345, 0, 4, false), Err(ENOPROTOOPT));
        assert_eq!(o.get(12345), Err(ENOPROTOOPT));
    }

    #[test]
    fn stream_sockets_as_linux() {
        let mut o = Ipv6Opts::default();
        assert_eq!(o.set_on(Kind::Stream, libc::IPV6_MULTICAST_HOPS, 5, 4, false), Err(ENOPROTOOPT));
        assert_eq!(o.get(libc::IPV6_MULTICAST_HOPS), Ok(1));
        assert_eq!(o.set_on(Kind::Stream, libc::IPV6_TCLASS, 0x29, 4, false), Ok(()));
        assert_eq!(o.get(libc::IPV6_TCLASS), Ok(0x28));
        assert_eq!(o.set_on(Kind::Dgram, libc::IPV6_MULTICAST_HOPS, 5, 4, false), Ok(()));
        assert_eq!(o.set_on(Kind::Dgram, libc::IPV6_TCLASS, 1, 4, false), Ok(()));
        assert_eq!(o.get(libc::IPV6_TCLASS), Ok(1));
    }
}
