//! The control protocol between the shim (client) and `tapstackd` (service): one message per
//! SOCK_SEQPACKET record, the same shape both ways. A request names the socket it is about by
//! passing that socket's descriptor with SCM_RIGHTS (never an id); a reply may pass a new
//! descriptor back the same way (socket, accept).
//!
//! Addresses: bind and connect send the program's raw `sockaddr` bytes in `data` (as far as
//! the kernel would read them), and the service translates them for the socket's family
//! (`client::sockaddr`, dual-stack); names come back as the `sockaddr_in`/`sockaddr_in6` bytes
//! to copy out, in `data` (with the engine's IPv4 endpoint in `ip`/`port` too). Replies that
//! hand out or identify a socket (socket, accept, ident) carry its [`family_flags`] in `b`.
//!
//! Layout (little endian): op u8, kind u8, port u16, ip u32 (IPv4, network order of octets),
//! a i32, b i32, c i32, then `data` (at most [`MAX_DATA`] bytes). Total: 20-byte header.
use std::net::{Ipv4Addr, SocketAddrV4};

/// Header size in bytes.
pub const HEADER: usize = 20;
/// Largest payload (option values, statistics text).
pub const MAX_DATA: usize = 4096;
/// Largest message on the wire.
pub const MAX_MSG: usize = HEADER + MAX_DATA;

/// What a request asks. A reply carries the op of its request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// New socket of `kind`; reply passes the program's end. `b` = SOCK_* flags, `c` = the
    /// family (AF_INET6, else AF_INET).
    Socket = 1,
    /// bind(data = the user's sockaddr bytes).
    Bind = 2,
    /// listen(a = backlog).
    Listen = 3,
    /// The connection whose token the client just read from the listener; reply: peer address
    /// and the connection's descriptor.
    Accept = 4,
    /// connect(data = the user's sockaddr bytes); reply a = 0 (connected), EINPROGRESS (wait
    /// for POLLOUT) or an errno; reply `kind` = 1 when the address was AF_UNSPEC (UDP: the
    /// association is dissolved). `c` = 1: a blocking connect (TCP), answered 0 at once when
    /// the handshake ends while the request is served (a peer on the TAP).
    Connect = 5,
    /// shutdown(a = how), checked before the shim shuts its end down.
    Shutdown = 6,
    /// getsockname; reply address (`data`: the sockaddr to copy out).
    SockName = 7,
    /// getpeername; reply address (as getsockname) or ENOTCONN.
    PeerName = 8,
    /// setsockopt(a = level, b = name, c = optlen as given, data = value).
    SetOpt = 9,
    /// getsockopt(a = level, b = name, c = buffer length); reply data = value.
    GetOpt = 10,
    /// Why did a read on this socket return 0: reply a = 0 (end of stream) or the errno.
    Reason = 11,
    /// Is this descriptor one of the service's sockets? reply kind (0: no).
    Ident = 12,
    /// Service counters as text (tests).
    Stats = 13,
    /// ioctl(b = request): SIOCGARP for the address in `ip`: reply a = 0 (`data` = the MAC,
    /// c = the ATF_* flags) or ENXIO.
    Ioctl = 14,
    /// `tapstack ss`: `data` = ss flags (`-tuna`...), `a` = byte offset; reply `data` = that
    /// page of the table's text, `c` = its total length.
    Sockets = 15,
    /// `tapstack stats`: `b` = 1 for zero counters too, `a` = byte offset; reply as `Sockets`.
    Counters = 16,
    /// A read found the end of stream on a TCP socket the program shut down for reading
    /// (SHUT_RD): reply `data` = up to `a` (at most [`MAX_DATA`]) bytes that arrived since,
    /// which Linux keeps readable (`b` = 1: MSG_PEEK, left queued); reply `c` = the bytes
    /// queued before this read (FIONREAD asks with `a` = 0).
    LateRead = 17,
    /// May a UDP datagram to the group in `ip` leave now (the shim asks when it knows no route
    /// to it)? Reply a = 0, or the errno Linux's route lookup gives (ENETUNREACH).
    Route = 18,
    /// The service's TAP settings (`Config::service_settings`) in `data`: a program that
    /// attaches to a running service says which of its own settings do not apply.
    Config = 19,
    /// A socket the client made itself, with no reply (socket() does not wait): passes the
    /// service's end `a`, then the program's end `b` (for its identity; the service closes its
    /// copy). `kind`, `b` and `c` (the family) as for `Socket`. If the service cannot take it, the first request
    /// about the program's end gets the errno.
    Adopt = 20,
    /// A new pair for a TCP socket whose earlier connect failed (the service shut the old pair
    /// down both ways to report it; Linux's socket may connect again): the reply passes the
    /// program's new end, which the shim puts in the old one's place (`service::renew`).
    /// Asked when a connect is answered [`RENEW`].
    Renew = 21,
    /// A TCP send with MSG_MORE follows (a = 1), or one without it was made (a = 0): the
    /// connection's tail under the MSS waits, or no longer (`TcpOption::More`). What the pair
    /// holds is taken first.
    More = 22,
    /// recvmsg(MSG_ERRQUEUE): the oldest queued ICMP error (`service::errq` encodes it); reply
    /// a = EAGAIN when the queue is empty. With b = 1: re-arm the pending error (c = errno) on a
    /// UDP socket, as Linux does after the dequeue when more entries wait.
    ErrQueue = 40,
}

impl Op {
    pub fn from_u8(v: u8) -> Option<Op> {
        use Op::*;
        Some(match v {
            1 => Socket,
            2 => Bind,
            3 => Listen,
            4 => Accept,
            5 => Connect,
            6 => Shutdown,
            7 => SockName,
            8 => PeerName,
            9 => SetOpt,
            10 => GetOpt,
            11 => Reason,
            12 => Ident,
            13 => Stats,
            14 => Ioctl,
            15 => Sockets,
            16 => Counters,
            17 => LateRead,
            18 => Route,
            19 => Config,
            20 => Adopt,
            21 => Renew,
            22 => More,
            40 => ErrQueue,
            _ => return None,
        })
    }
}

/// Reply `a` to a connect on a socket whose pair an earlier failed connect spent: ask
/// `Op::Renew`, then connect again.
pub const RENEW: i32 = -2;

/// Socket kinds.
pub const KIND_TCP: u8 = 1;
pub const KIND_UDP: u8 = 2;
/// A TCP socket that is listening (Ident replies; the shim's accept needs to know).
pub const KIND_TCP_LISTEN: u8 = 3;
/// A TCP socket never connected nor listening (reads ENOTCONN, sends EPIPE, as Linux).
pub const KIND_TCP_NEW: u8 = 5;
/// Socket requests only: an ICMP datagram ("ping") socket, socket(AF_INET, SOCK_DGRAM,
/// IPPROTO_ICMP); it is a UDP-kind socket (datagram records) afterwards.
pub const KIND_PING: u8 = 6;
/// Socket requests only: a raw IPv4 socket, socket(AF_INET, SOCK_RAW, protocol), the protocol
/// in `port`; a UDP-kind socket (datagram records) afterwards.
pub const KIND_RAW: u8 = 7;

/// [`family_flags`]: the socket is AF_INET6.
pub const FAM_INET6: i32 = 1;
/// [`family_flags`]: IPV6_V6ONLY is set.
pub const FAM_V6ONLY: i32 = 2;
/// Also in `b`: an ICMP datagram ("ping") or raw socket, whose destination port is ignored
/// (UDP refuses port 0 with EINVAL, as Linux's udp_sendmsg; ping_v4_sendmsg and raw_sendmsg
/// do not look).
pub const FAM_PING: i32 = 4;

/// What the shim caches about a socket's family (it translates UDP destinations and sources
/// itself, on the data path): the reply field `b` of socket, accept and ident.
pub fn family_flags(d: &crate::client::dual::Dual) -> i32 {
    let mut f = 0;
    if d.domain == crate::client::sockaddr::Domain::Inet6 {
        f |= FAM_INET6;
    }
    if d.v6.v6only {
        f |= FAM_V6ONLY;
    }
    f
}

/// SO_PRIORITY the service gives every program's end (meaningless on AF_UNIX; the program's
/// own getsockopt goes to the service): how a process that inherited a descriptor across exec
/// tells a tapstack socket from its other Unix sockets before asking (`Op::Ident`). The pair
/// may have been made by the program (`Op::Adopt`), so SO_PEERCRED cannot tell.
pub const PROGRAM_END_PRIORITY: i32 = 6;

/// One message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msg {
    pub op: u8,
    pub kind: u8,
    pub port: u16,
    pub ip: [u8; 4],
    pub a: i32,
    pub b: i32,
    pub c: i32,
    pub data: Vec<u8>,
}

/// Why a record is not a message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProtoError {
    Short,
    TooLong,
}

impl Msg {
    pub fn new(op: Op) -> Msg {
        Msg { op: op as u8, ..Msg::default() }
    }
    /// A reply to `op` with errno `err` (0 = success).
    pub fn reply(op: u8, err: i32) -> Msg {
        Msg { op, a: err, ..Msg::default() }
    }
    pub fn with_addr(mut self, a: SocketAddrV4) -> Msg {
        self.set_addr(a);
        self
    }
    pub fn set_addr(&mut self, a: SocketAddrV4) {
        self.ip = a.ip().octets();
        self.port = a.port();
    }
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(self.ip), self.port)
    }
    /// A name to report: the engine's endpoint and the sockaddr bytes the program gets.
    pub fn with_name(mut self, engine: SocketAddrV4, e: &crate::client::sockaddr::Encoded) -> Msg {
        self.set_addr(engine);
        self.data = e.bytes().to_vec();
        self
    }
    pub fn op(&self) -> Option<Op> {
        Op::from_u8(self.op)
    }
    /// The bytes of one record.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + self.data.len());
        v.push(self.op);
        v.push(self.kind);
        v.extend_from_slice(&self.port.to_le_bytes());
        v.extend_from_slice(&self.ip);
        v.extend_from_slice(&self.a.to_le_bytes());
        v.extend_from_slice(&self.b.to_le_bytes());
        v.extend_from_slice(&self.c.to_le_bytes());
        v.extend_from_slice(&self.data[..self.data.len().min(MAX_DATA)]);
        v
    }
    /// Parses one record (total: any input gives a message or an error).
    pub fn decode(b: &[u8]) -> Result<Msg, ProtoError> {
        if b.len() < HEADER {
            return Err(ProtoError::Short);
        }
        if b.len() > MAX_MSG {
            return Err(ProtoError::TooLong);
        }
        let i32_at = |o: usize| i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok(Msg {
            op: b[0],
            kind: b[1],
            port: u16::from_le_bytes([b[2], b[3]]),
            ip: [b[4], b[5], b[6], b[7]],
            a: i32_at(8),
            b: i32_at(12),
            c: i32_at(16),
            data: b[HEADER..].to_vec(),
        })
    }
}

/// The datagram header the shim adds/strips on UDP sockets. Bytes 0..6: the peer's address
/// and port (on the way out the destination, all zero: the connected peer; on the way in the
/// source); 6: flags ([`HDR_ADDR`], [`HDR_ERROR`], [`HDR_TTL`], [`HDR_PKTINFO`], [`HDR_TOS`]);
/// 7: the TTL (IP_RECVTTL). On the way in, with [`HDR_PKTINFO`] (IP_PKTINFO on), 8..12 the
/// datagram's destination (`ipi_addr`), 12..16 the local address a reply would come from
/// (`ipi_spec_dst`), 16..20 the interface index (`ipi_ifindex`, little endian); on the way out
/// 12..16 the source an IP_PKTINFO control message asked for. 20: the TOS byte (IP_RECVTOS).
pub const UDP_HDR: usize = 32;

/// Header flags (byte 6).
pub const HDR_ADDR: u8 = 1;
pub const HDR_ERROR: u8 = 2;
pub const HDR_TTL: u8 = 4;
pub const HDR_PKTINFO: u8 = 8;
pub const HDR_TOS: u8 = 16;
/// A receive timestamp (bytes 24..32, nanoseconds since the epoch), for SCM_TIMESTAMP...
pub const HDR_TSTAMP: u8 = 32;
/// ... or, with this bit too, for SCM_TIMESTAMPNS.
pub const HDR_TSTAMPNS: u8 = 64;

/// `struct in_pktinfo` as the header carries it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PktInfo {
    pub ifindex: u32,
    pub spec_dst: Ipv4Addr,
    pub addr: Ipv4Addr,
}

/// What a received datagram's header says besides its source (recvmsg's control messages).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RxInfo {
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    pub pktinfo: Option<PktInfo>,
    pub tstamp: Option<Tstamp>,
}

/// When a datagram was received (SO_TIMESTAMP, SO_TIMESTAMPNS: CLOCK_REALTIME).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tstamp {
    /// Nanoseconds since the epoch.
    pub ns: u64,
    /// SCM_TIMESTAMPNS (a timespec) rather than SCM_TIMESTAMP (a timeval).
    pub nanos: bool,
}

impl Tstamp {
    /// CLOCK_REALTIME now.
    pub fn now(nanos: bool) -> Tstamp {
        let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Tstamp { ns, nanos }
    }
}

/// Encodes a UDP datagram header on the way out: the destination (None: the connected peer).
pub fn udp_hdr(addr: Option<SocketAddrV4>) -> [u8; UDP_HDR] {
    let mut h = [0u8; UDP_HDR];
    if let Some(a) = addr {
        h[0..4].copy_from_slice(&a.ip().octets());
        h[4..6].copy_from_slice(&a.port().to_be_bytes());
        h[6] = HDR_ADDR;
    }
    h
}

/// `udp_hdr` with the source of an IP_PKTINFO control message (`ipi_spec_dst`).
pub fn udp_hdr_from(addr: Option<SocketAddrV4>, src: Option<Ipv4Addr>) -> [u8; UDP_HDR] {
    let mut h = udp_hdr(addr);
    if let Some(s) = src {
        h[6] |= HDR_PKTINFO;
        h[12..16].copy_from_slice(&s.octets());
    }
    h
}

/// The source address an outgoing header asks for, if any.
pub fn parse_udp_src(h: &[u8]) -> Option<Ipv4Addr> {
    (h.len() >= UDP_HDR && h[6] & HDR_PKTINFO != 0).then(|| Ipv4Addr::new(h[12], h[13], h[14], h[15]))
}

/// A received datagram's header: its source and what recvmsg's control messages need.
pub fn udp_hdr_rx(from: SocketAddrV4, info: &RxInfo) -> [u8; UDP_HDR] {
    let mut h = udp_hdr(Some(from));
    if let Some(t) = info.ttl {
        h[6] |= HDR_TTL;
        h[7] = t;
    }
    if let Some(p) = info.pktinfo {
        h[6] |= HDR_PKTINFO;
        h[8..12].copy_from_slice(&p.addr.octets());
        h[12..16].copy_from_slice(&p.spec_dst.octets());
        h[16..20].copy_from_slice(&p.ifindex.to_le_bytes());
    }
    if let Some(t) = info.tos {
        h[6] |= HDR_TOS;
        h[20] = t;
    }
    if let Some(t) = info.tstamp {
        h[6] |= HDR_TSTAMP | if t.nanos { HDR_TSTAMPNS } else { 0 };
        h[24..32].copy_from_slice(&t.ns.to_le_bytes());
    }
    h
}

/// The control-message information of a received datagram's header (all None if short).
pub fn parse_udp_rx(h: &[u8]) -> RxInfo {
    if h.len() < UDP_HDR || h[6] & HDR_ERROR != 0 {
        return RxInfo::default();
    }
    let ip = |o: usize| Ipv4Addr::new(h[o], h[o + 1], h[o + 2], h[o + 3]);
    RxInfo {
        ttl: (h[6] & HDR_TTL != 0).then(|| h[7]),
        tos: (h[6] & HDR_TOS != 0).then(|| h[20]),
        pktinfo: (h[6] & HDR_PKTINFO != 0).then(|| PktInfo {
            ifindex: u32::from_le_bytes([h[16], h[17], h[18], h[19]]),
            spec_dst: ip(12),
            addr: ip(8),
        }),
        tstamp: (h[6] & HDR_TSTAMP != 0).then(|| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[24..32]);
            Tstamp { ns: u64::from_le_bytes(b), nanos: h[6] & HDR_TSTAMPNS != 0 }
        }),
    }
}

/// A header that carries an error for the receiver instead of a datagram (ICMP port
/// unreachable on a connected socket: the next recv fails with ECONNREFUSED).
pub fn udp_err_hdr(errno: i32) -> [u8; UDP_HDR] {
    let mut h = [0u8; UDP_HDR];
    h[0..4].copy_from_slice(&errno.to_le_bytes());
    h[6] = HDR_ERROR;
    h
}

/// The errno of an error header, if it is one.
pub fn udp_hdr_error(h: &[u8]) -> Option<i32> {
    (h.len() >= UDP_HDR && h[6] & HDR_ERROR != 0).then(|| i32::from_le_bytes([h[0], h[1], h[2], h[3]]))
}

/// Decodes a UDP datagram header.
pub fn parse_udp_hdr(h: &[u8]) -> Option<Option<SocketAddrV4>> {
    if h.len() < UDP_HDR {
        return None;
    }
    if h[6] & HDR_ADDR == 0 {
        return Some(None);
    }
    Some(Some(SocketAddrV4::new(Ipv4Addr::new(h[0], h[1], h[2], h[3]), u16::from_be_bytes([h[4], h[5]]))))
}

/// The abstract socket name of the service for TAP `tap` (without the leading NUL).
pub fn attach_name(tap: &str) -> String {
    format!("tapstack.{tap}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let m = Msg { op: 5, kind: 1, port: 8080, ip: [10, 0, 0, 1], a: -3, b: 7, c: 99, data: b"xyz".to_vec() };
        assert_eq!(Msg::decode(&m.encode()), Ok(m.clone()));
        assert_eq!(m.addr(), "10.0.0.1:8080".parse().unwrap());
        assert_eq!(m.op(), Some(Op::Connect));
    }
    #[test]
    fn total() {
        assert_eq!(Msg::decode(&[1, 2, 3]), Err(ProtoError::Short));
        assert_eq!(Msg::decode(&vec![0u8; MAX_MSG + 1]), Err(ProtoError::TooLong));
        for n in 0..64 {
            let _ = Msg::decode(&vec![0xffu8; n]);
        }
        assert_eq!(Msg::decode(&[0u8; HEADER]).unwrap().op(), None);
        for v in (1..=21u8).chain([40]) {
            assert_eq!(Op::from_u8(v).map(|o| o as u8), Some(v));
        }
        assert_eq!(Op::from_u8(40), Some(Op::ErrQueue));
    }
    #[test]
    fn data_capped() {
        let mut m = Msg::new(Op::SetOpt);
        m.data = vec![1; MAX_DATA + 10];
        assert_eq!(m.encode().len(), MAX_MSG);
    }
    #[test]
    fn names_and_families() {
        use crate::client::dual::Dual;
        let a: SocketAddrV4 = "10.0.0.1:80".parse().unwrap();
        let d6 = Dual::inet6();
        let m = Msg::reply(Op::SockName as u8, 0).with_name(a, &d6.peer(a));
        let r = Msg::decode(&m.encode()).unwrap();
        assert_eq!(r.addr(), a);
        assert_eq!(r.data.len(), 28);
        assert_eq!(u16::from_ne_bytes([r.data[0], r.data[1]]), libc::AF_INET6 as u16);
        assert_eq!(&r.data[18..24], &[0xff, 0xff, 10, 0, 0, 1]);
        let d4 = Dual::default();
        assert_eq!(Msg::reply(7, 0).with_name(a, &d4.peer(a)).data.len(), 16);
        assert_eq!(family_flags(&d4), 0);
        assert_eq!(family_flags(&d6), FAM_INET6);
        let mut v = Dual::inet6();
        v.v6.v6only = true;
        assert_eq!(family_flags(&v), FAM_INET6 | FAM_V6ONLY);
    }
    #[test]
    fn udp_header() {
        let a: SocketAddrV4 = "10.0.0.2:53".parse().unwrap();
        assert_eq!(parse_udp_hdr(&udp_hdr(Some(a))), Some(Some(a)));
        assert_eq!(parse_udp_hdr(&udp_hdr(None)), Some(None));
        assert_eq!(parse_udp_hdr(&[0; 3]), None);
        assert_eq!(udp_hdr_error(&udp_err_hdr(111)), Some(111));
        assert_eq!(udp_hdr_error(&udp_hdr(Some(a))), None);
        assert_eq!(attach_name("tap0"), "tapstack.tap0");
        let info = RxInfo {
            ttl: Some(63),
            tos: Some(0xb8),
            pktinfo: Some(PktInfo {
                ifindex: 70000,
                spec_dst: Ipv4Addr::new(10, 0, 0, 2),
                addr: Ipv4Addr::new(239, 1, 2, 3),
            }),
            tstamp: Some(Tstamp { ns: 1_764_900_000_123_456_789, nanos: true }),
        };
        let t = udp_hdr_rx(a, &info);
        assert_eq!((parse_udp_hdr(&t), parse_udp_rx(&t)), (Some(Some(a)), info));
        let us = RxInfo { tstamp: Some(Tstamp { ns: 5, nanos: false }), ..RxInfo::default() };
        assert_eq!(parse_udp_rx(&udp_hdr_rx(a, &us)), us);
        assert_eq!(parse_udp_rx(&udp_hdr_rx(a, &RxInfo::default())), RxInfo::default());
        assert_eq!(parse_udp_rx(&udp_err_hdr(111)), RxInfo::default());
        assert_eq!(parse_udp_rx(&[0xff; 7]), RxInfo::default());
        assert_eq!(udp_hdr_error(&t), None);
        let src = Ipv4Addr::new(10, 0, 0, 2);
        let o = udp_hdr_from(Some(a), Some(src));
        assert_eq!((parse_udp_hdr(&o), parse_udp_src(&o)), (Some(Some(a)), Some(src)));
        assert_eq!(parse_udp_src(&udp_hdr(None)), None);
    }
}
