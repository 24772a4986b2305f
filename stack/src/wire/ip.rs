//! Address-family-neutral addresses and endpoints (the shape of smoltcp's `wire/ip.rs`): what
//! the transports (TCP, UDP, ping sockets, their demultiplexing, ISN and port hashing, the
//! pseudo-header checksum) and the stack's socket API take and return. IPv4 is the only family
//! that runs: `IpAddress` has one variant today, so conversions to IPv4 at the IP layer
//! (`iface/`, `stack.rs`) and at the outer edges (runtime, service, shim) are infallible. Adding
//! IPv6 adds a variant here; the compiler then lists every place that must learn about it, all
//! of them in this file, the IP layer and the edges (docs/tcp.md, "IPv4 at the transport
//! boundary").
use core::fmt;
use core::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// An IP address of any family the stack runs (today only IPv4).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IpAddress {
    V4(Ipv4Addr),
}

impl IpAddress {
    /// The IPv4 address a.b.c.d.
    pub const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddress {
        IpAddress::V4(Ipv4Addr::new(a, b, c, d))
    }
    /// The unspecified ("any") address of this address's family.
    pub const fn unspecified(&self) -> IpAddress {
        match self {
            IpAddress::V4(_) => IpAddress::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
    /// The loopback address of this address's family.
    pub const fn loopback(&self) -> IpAddress {
        match self {
            IpAddress::V4(_) => IpAddress::V4(Ipv4Addr::LOCALHOST),
        }
    }
    pub const fn is_unspecified(&self) -> bool {
        match self {
            IpAddress::V4(a) => a.is_unspecified(),
        }
    }
    pub const fn is_loopback(&self) -> bool {
        match self {
            IpAddress::V4(a) => a.is_loopback(),
        }
    }
    pub const fn is_multicast(&self) -> bool {
        match self {
            IpAddress::V4(a) => a.is_multicast(),
        }
    }
    /// The limited broadcast address (IPv4 255.255.255.255; other families have none).
    pub const fn is_broadcast(&self) -> bool {
        match self {
            IpAddress::V4(a) => a.is_broadcast(),
        }
    }
    /// True for the directed broadcast address of the subnet `own`/`prefix_len` (IPv4; a /31
    /// or /32 has none).
    pub fn is_subnet_broadcast(&self, own: IpAddress, prefix_len: u8) -> bool {
        match (self, own) {
            (IpAddress::V4(a), IpAddress::V4(own)) => {
                if prefix_len >= 31 {
                    return false;
                }
                let mask = u32::MAX << (32 - prefix_len as u32);
                u32::from(*a) == (u32::from(own) & mask) | !mask
            }
        }
    }
    /// Copies the address in network order into `out` and returns its length (4 for IPv4).
    /// Keyed hashes (ISN, SYN cookies, port offsets) feed these bytes.
    pub fn write_bytes(&self, out: &mut [u8]) -> usize {
        match self {
            IpAddress::V4(a) => {
                out[..4].copy_from_slice(&a.octets());
                4
            }
        }
    }
    /// The IPv4 address, at the IP layer and the IPv4 edges (infallible while IPv4 is the only
    /// family).
    pub const fn as_v4(&self) -> Ipv4Addr {
        match self {
            IpAddress::V4(a) => *a,
        }
    }
}

/// Hashed exactly as `std::net::Ipv4Addr` (one fixed-width write): the demultiplexing maps
/// cost what they cost with `SocketAddrV4` keys.
impl Hash for IpAddress {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            IpAddress::V4(a) => state.write_u32(u32::from_ne_bytes(a.octets())),
        }
    }
}

impl From<Ipv4Addr> for IpAddress {
    fn from(a: Ipv4Addr) -> IpAddress {
        IpAddress::V4(a)
    }
}

/// The IPv4 edge: infallible while IPv4 is the only family.
impl From<IpAddress> for Ipv4Addr {
    fn from(a: IpAddress) -> Ipv4Addr {
        a.as_v4()
    }
}

impl From<IpAddress> for std::net::IpAddr {
    fn from(a: IpAddress) -> std::net::IpAddr {
        match a {
            IpAddress::V4(a) => std::net::IpAddr::V4(a),
        }
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpAddress::V4(a) => fmt::Display::fmt(a, f),
        }
    }
}

impl fmt::Debug for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An address and a port: one end of a TCP connection or UDP flow.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IpEndpoint {
    pub addr: IpAddress,
    pub port: u16,
}

impl IpEndpoint {
    pub const fn new(addr: IpAddress, port: u16) -> IpEndpoint {
        IpEndpoint { addr, port }
    }
    /// The address (named like `std::net::SocketAddr::ip`).
    pub const fn ip(&self) -> &IpAddress {
        &self.addr
    }
    pub const fn port(&self) -> u16 {
        self.port
    }
    pub fn set_ip(&mut self, addr: IpAddress) {
        self.addr = addr;
    }
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }
}

impl IpEndpoint {
    /// Feeds the endpoint and a 16-bit `extra` (a TIME-WAIT record's local port) to `state`
    /// in one fixed-width write for IPv4, so a key built on an endpoint costs one hasher step.
    #[inline]
    pub fn hash_with<H: Hasher>(&self, extra: u16, state: &mut H) {
        match self.addr {
            IpAddress::V4(a) => state.write_u64((u32::from(a) as u64) << 32 | (self.port as u64) << 16 | extra as u64),
        }
    }
}

/// One fixed-width write for IPv4 (address and port packed), cheaper than `SocketAddrV4`'s
/// two: the demultiplexing maps do not get slower for being family-neutral
/// (`cargo run --release -p tapstack --example demux_keys`).
impl Hash for IpEndpoint {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.addr {
            IpAddress::V4(a) => state.write_u64((u32::from(a) as u64) << 16 | self.port as u64),
        }
    }
}

impl From<SocketAddrV4> for IpEndpoint {
    fn from(a: SocketAddrV4) -> IpEndpoint {
        IpEndpoint::new(IpAddress::V4(*a.ip()), a.port())
    }
}

/// The IPv4 edge (sockaddr_in, the service protocol): infallible while IPv4 is the only family.
impl From<IpEndpoint> for SocketAddrV4 {
    fn from(e: IpEndpoint) -> SocketAddrV4 {
        SocketAddrV4::new(e.addr.as_v4(), e.port)
    }
}

impl From<IpEndpoint> for SocketAddr {
    fn from(e: IpEndpoint) -> SocketAddr {
        SocketAddr::new(e.addr.into(), e.port)
    }
}

impl fmt::Display for IpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.addr, self.port)
    }
}

impl fmt::Debug for IpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hasher};

    #[test]
    fn endpoint_round_trips_through_std_types() {
        let s = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 4242);
        let e = IpEndpoint::from(s);
        assert_eq!(e, IpEndpoint::new(IpAddress::v4(10, 0, 0, 2), 4242));
        assert_eq!(SocketAddrV4::from(e), s);
        assert_eq!(SocketAddr::from(e), SocketAddr::V4(s));
        assert_eq!(e.to_string(), s.to_string());
        assert_eq!(format!("{e:?}"), format!("{s:?}"));
    }

    #[test]
    fn hashes_address_and_port_as_one_word() {
        let st = std::collections::hash_map::RandomState::new();
        let s = SocketAddrV4::new(Ipv4Addr::new(192, 168, 7, 9), 65000);
        let e = IpEndpoint::from(s);
        // The address alone hashes as std's Ipv4Addr; an endpoint as one packed word.
        assert_eq!(st.hash_one(e.addr), st.hash_one(*s.ip()));
        assert_eq!(st.hash_one(e), st.hash_one(0xc0a8_0709_u64 << 16 | 65000));
        let with = |x: u16| {
            let mut h = st.build_hasher();
            e.hash_with(x, &mut h);
            h.finish()
        };
        assert_eq!(with(80), st.hash_one(0xc0a8_0709_u64 << 32 | 65000 << 16 | 80));
        // Every field counts.
        assert_ne!(with(80), with(81));
        assert_ne!(st.hash_one(e), st.hash_one(IpEndpoint::new(e.addr, 65001)));
        assert_ne!(st.hash_one(e), st.hash_one(IpEndpoint::new(IpAddress::v4(192, 168, 7, 8), 65000)));
    }

    #[test]
    fn family_properties() {
        let a = IpAddress::v4(10, 0, 0, 2);
        assert_eq!(a.unspecified(), IpAddress::v4(0, 0, 0, 0));
        assert!(a.unspecified().is_unspecified());
        assert_eq!(a.loopback(), IpAddress::v4(127, 0, 0, 1));
        assert!(a.loopback().is_loopback());
        assert!(IpAddress::v4(224, 0, 0, 1).is_multicast());
        assert!(IpAddress::v4(255, 255, 255, 255).is_broadcast());
        assert!(!a.is_broadcast() && !a.is_multicast() && !a.is_unspecified());
        assert!(IpAddress::v4(10, 0, 0, 255).is_subnet_broadcast(a, 24));
        assert!(!IpAddress::v4(10, 0, 0, 255).is_subnet_broadcast(a, 16));
        assert!(!IpAddress::v4(10, 0, 0, 3).is_subnet_broadcast(a, 31));
        let mut b = [0u8; 16];
        assert_eq!(a.write_bytes(&mut b), 4);
        assert_eq!(&b[..4], &[10, 0, 0, 2]);
        // Ordering follows the address, then the port (deterministic table iteration).
        assert!(IpEndpoint::new(a, 9) < IpEndpoint::new(IpAddress::v4(10, 0, 0, 3), 1));
    }
}
