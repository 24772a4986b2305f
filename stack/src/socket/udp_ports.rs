//! The UDP engine's port table: which sockets hold a port, binding (explicit, ephemeral,
//! automatic on first use) and giving a port back (Linux's udp_lib_get_port / udp_lib_unhash).
use super::{splitmix, Socket, UdpHandle, UdpStack};
use crate::error::{Error, Result};
use crate::wire::ip::IpAddress;

impl UdpStack {
    /// The UDP sockets bound to `port`.
    pub(super) fn sockets_on(&self, port: u16) -> impl Iterator<Item = (u32, &Socket)> + '_ {
        self.sockets_of(port, false)
    }

    /// The UDP sockets (`ping` false) or ICMP datagram sockets (true) bound to `port`.
    pub(super) fn sockets_of(&self, port: u16, ping: bool) -> impl Iterator<Item = (u32, &Socket)> + '_ {
        self.ports
            .get(&port)
            .into_iter()
            .flatten()
            .filter_map(|h| self.sockets.get(h).map(|s| (*h, s)))
            .filter(move |(_, s)| s.ping == ping && s.raw.is_none())
    }

    pub(super) fn set_port(&mut self, h: u32, port: u16) {
        self.bind_seq += 1;
        if let Some(s) = self.sockets.get_mut(&h) {
            s.bind_seq = self.bind_seq;
            s.local.set_port(port);
            self.ports.entry(port).or_default().push(h);
        }
    }

    /// True if binding `addr:port` would clash with another socket: overlapping addresses,
    /// unless both set SO_REUSEADDR (Linux udp_lib_lport_inuse).
    pub(super) fn in_use(&self, except: u32, addr: IpAddress, port: u16) -> bool {
        let reuse = self.sockets.get(&except).is_some_and(|s| s.reuse);
        let ping = self.sockets.get(&except).is_some_and(|s| s.ping);
        self.sockets_of(port, ping).any(|(h, s)| {
            h != except
                && !(reuse && s.reuse)
                && (s.local.ip().is_unspecified() || addr.is_unspecified() || *s.local.ip() == addr)
        })
    }

    /// A free ephemeral port, from a seeded random start (RFC 6056 algorithm 1 style).
    pub(super) fn ephemeral(&mut self, except: u32) -> Result<u16> {
        let ping = self.sockets.get(&except).is_some_and(|s| s.ping);
        let sk = self.sockets.get(&except).filter(|s| !s.ping).map_or(0, |s| s.port_range);
        let (lo, hi) = crate::socket::local_port_range(self.ephemeral, sk);
        let span = (hi - lo) as u64 + 1;
        let start = splitmix(&mut self.rng) % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            // Never shared, even with SO_REUSEADDR (Linux skips every port in use).
            if !self.sockets_of(port, ping).any(|(h, _)| h != except) {
                return Ok(port);
            }
        }
        Err(Error::AddrInUse)
    }

    pub(super) fn autobind(&mut self, h: UdpHandle) -> Result<()> {
        if self.get(h)?.local.port() != 0 {
            return Ok(());
        }
        let port = self.ephemeral(h.0)?;
        self.set_port(h.0, port);
        Ok(())
    }

    /// bind() of an address alone (IP_BIND_ADDRESS_NO_PORT, port 0): the port is taken at the
    /// first send or connect (Linux inet_bind with BIND_NO_PORT, then inet_autobind).
    pub fn bind_address(&mut self, h: UdpHandle, addr: IpAddress) -> Result<()> {
        let s = self.get(h)?;
        if s.raw.is_some() {
            return self.raw_bind(h, addr);
        }
        if s.local.port() != 0 {
            return Err(Error::InvalidInput); // already bound
        }
        if !self.bindable(addr) && !s.freebind {
            return Err(Error::AddrNotAvailable);
        }
        let s = self.get_mut(h)?;
        s.local.set_ip(addr);
        s.addr_bound = !addr.is_unspecified();
        Ok(())
    }

    /// An address a socket may bind: any, ours, a loopback one, a broadcast or a group (Linux's
    /// inet_addr_type: local, broadcast or multicast; else EADDRNOTAVAIL).
    pub(super) fn bindable(&self, addr: IpAddress) -> bool {
        addr.is_unspecified()
            || addr == self.local_addr
            || addr.is_loopback()
            || self.is_broadcast(addr)
            || addr.is_multicast()
    }

    /// Gives socket `h`'s port back (port 0: unbound).
    pub(super) fn unhash(&mut self, h: u32) {
        let Some(s) = self.sockets.get_mut(&h) else { return };
        let port = s.local.port();
        s.local.set_port(0);
        self.unlist(h, port);
    }

    /// Takes `h` out of `port`'s list.
    pub(super) fn unlist(&mut self, h: u32, port: u16) {
        if let Some(v) = self.ports.get_mut(&port) {
            v.retain(|&x| x != h);
            if v.is_empty() {
                self.ports.remove(&port);
            }
        }
    }
}
