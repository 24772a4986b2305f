//! The routing table (RFC 1122 3.3.1): the on-link subnet, a default gateway and extra routes,
//! chosen by longest prefix match; and the source address a socket picks (`source_for`,
//! `source_reaches`, used by the transports). A leaf: it imports only `wire`.
use std::net::Ipv4Addr;

use crate::wire::ip::IpAddress;
use crate::wire::ipv4::mask;

/// The source address a host picks for `dst` when the socket names none (Linux
/// `inet_select_addr` through the routes): 127.0.0.1 for the loopback network 127.0.0.0/8
/// (RFC 1122 3.2.1.3 (g): it never appears on a network), the interface address otherwise.
pub fn source_for(own: IpAddress, dst: IpAddress) -> IpAddress {
    if dst == IpAddress::V4(LOOPBACK6_STANDIN) {
        dst
    } else if dst.is_loopback() {
        dst.loopback()
    } else {
        own
    }
}

/// Until tapstack speaks IPv6, the IPv6 loopback `::1` is carried as this address of
/// 127.0.0.0/8 (its own source, like `::1`), so that `::1` and 127.0.0.1 stay distinct as on
/// Linux: a server on 127.0.0.1 is not reached through `::1`, and a dual-stack server sees a
/// `::1` client as `::1` (`client::sockaddr` translates it at the socket boundary).
pub const LOOPBACK6_STANDIN: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 254);

/// Whether a socket bound to `src` may reach `dst`: a loopback source only reaches this host
/// (Linux gives EINVAL, as the route to another host would carry a martian source).
pub fn source_reaches(own: IpAddress, src: IpAddress, dst: IpAddress) -> bool {
    !src.is_loopback() || dst.is_loopback() || dst == own || dst.is_unspecified()
}

/// Whether `src` may be a datagram's or a connection's source here: none yet, ours, or a loopback
/// one. Another (bound with IP_FREEBIND) has no route: Linux's ip_route_output_key_hash_rcu
/// answers ENETUNREACH for a source no device holds.
pub fn source_is_ours(own: IpAddress, src: IpAddress) -> bool {
    src.is_unspecified() || src == own || src.is_loopback()
}

/// Most routes a table holds (the on-link and default routes included).
pub const MAX_ROUTES: usize = 256;

/// `prefix/len` reached directly (`gateway` None) or through `gateway`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub prefix: Ipv4Addr,
    pub len: u8,
    pub gateway: Option<Ipv4Addr>,
}

impl Route {
    fn matches(&self, dst: Ipv4Addr) -> bool {
        let m = mask(self.len);
        u32::from(dst) & m == u32::from(self.prefix) & m
    }
}

#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// The on-link route for `addr/prefix_len` and, if given, a default route via `gateway`.
    pub fn new(addr: Ipv4Addr, prefix_len: u8, gateway: Option<Ipv4Addr>) -> Routes {
        let mut r = Routes::default();
        let len = prefix_len.min(32);
        r.add(Ipv4Addr::from(u32::from(addr) & mask(len)), len, None);
        if let Some(gw) = gateway {
            r.add(Ipv4Addr::UNSPECIFIED, 0, Some(gw));
        }
        r
    }

    /// Adds a route, replacing one with the same prefix and length. Returns false if the table is
    /// full or `len > 32`.
    pub fn add(&mut self, prefix: Ipv4Addr, len: u8, gateway: Option<Ipv4Addr>) -> bool {
        if len > 32 {
            return false;
        }
        let prefix = Ipv4Addr::from(u32::from(prefix) & mask(len));
        if let Some(r) = self.routes.iter_mut().find(|r| r.prefix == prefix && r.len == len) {
            r.gateway = gateway;
            return true;
        }
        if self.routes.len() >= MAX_ROUTES {
            return false;
        }
        self.routes.push(Route { prefix, len, gateway });
        true
    }

    /// Removes the route for `prefix/len`; returns whether one existed.
    pub fn remove(&mut self, prefix: Ipv4Addr, len: u8) -> bool {
        let prefix = Ipv4Addr::from(u32::from(prefix) & mask(len));
        let n = self.routes.len();
        self.routes.retain(|r| !(r.prefix == prefix && r.len == len));
        n != self.routes.len()
    }

    /// The most specific route for `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<&Route> {
        self.routes.iter().filter(|r| r.matches(dst)).max_by_key(|r| r.len)
    }

    /// The next hop for `dst`: its gateway, or `dst` itself when on-link.
    pub fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.lookup(dst).map(|r| r.gateway.unwrap_or(dst))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    #[test]
    fn longest_prefix() {
        let mut r = Routes::new(ip(10, 0, 0, 2), 24, Some(ip(10, 0, 0, 1)));
        assert_eq!(r.next_hop(ip(10, 0, 0, 9)), Some(ip(10, 0, 0, 9)));
        assert_eq!(r.next_hop(ip(8, 8, 8, 8)), Some(ip(10, 0, 0, 1)));
        assert!(r.add(ip(192, 168, 7, 99), 16, Some(ip(10, 0, 0, 254))));
        assert!(r.add(ip(192, 168, 7, 0), 24, Some(ip(10, 0, 0, 253))));
        assert_eq!(r.next_hop(ip(192, 168, 7, 1)), Some(ip(10, 0, 0, 253)));
        assert_eq!(r.next_hop(ip(192, 168, 8, 1)), Some(ip(10, 0, 0, 254)));
        assert!(r.add(ip(192, 168, 7, 5), 32, None));
        assert_eq!(r.next_hop(ip(192, 168, 7, 5)), Some(ip(192, 168, 7, 5)));
        assert!(r.remove(ip(192, 168, 0, 0), 16));
        assert_eq!(r.next_hop(ip(192, 168, 8, 1)), Some(ip(10, 0, 0, 1)));
        assert!(!r.add(ip(1, 2, 3, 4), 33, None));
    }

    #[test]
    fn no_default() {
        let r = Routes::new(ip(10, 0, 0, 2), 24, None);
        assert_eq!(r.next_hop(ip(10, 0, 1, 1)), None);
        assert_eq!(r.next_hop(ip(10, 0, 0, 255)), Some(ip(10, 0, 0, 255)));
        let r = Routes::new(ip(10, 0, 0, 2), 0, None);
        assert_eq!(r.next_hop(ip(1, 1, 1, 1)), Some(ip(1, 1, 1, 1)));
    }
}
