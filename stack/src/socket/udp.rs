//! UDP (RFC 768, RFC 1122 4.1). CONTRACT for `stack.rs` and the shim; the UDP owner fills it in.
//!
//! A `UdpStack` holds every UDP socket of one host: bind (explicit or ephemeral), connect
//! (default peer and source filter), bounded receive queues (drops counted), pending ICMP
//! errors on connected sockets (RFC 1122 4.1.3.3), SO_BROADCAST, and readiness for poll.
use crate::wire::ip::{IpAddress, IpEndpoint};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::{Error, Result};
use crate::time::Instant;
use crate::wire::udp as wire;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdpHandle(pub u32);

/// Result of a receive: bytes copied, the datagram's full length (MSG_TRUNC), its source.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecvMeta {
    pub copied: usize,
    pub len: usize,
    pub from: IpEndpoint,
    /// The datagram's IP TTL, when known and IP_RECVTTL is on.
    pub ttl: Option<u8>,
    /// The datagram's destination address (ours, a broadcast or a group: IP_PKTINFO).
    pub dst: IpAddress,
    /// The IP TOS byte it arrived with, when known (IP_RECVTOS).
    pub tos: Option<u8>,
}

/// Counters of the UDP layer (Linux's /proc/net/snmp Udp: line, roughly).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpStats {
    pub in_datagrams: u64,
    pub no_ports: u64,
    pub in_errors: u64,
    pub in_csum_errors: u64,
    pub rcvbuf_errors: u64,
    pub out_datagrams: u64,
}

/// Linux's default net.core.rmem_default / wmem_default.
pub const DEFAULT_BUFFER: usize = 212_992;
/// Per-datagram accounting overhead in the receive buffer (Linux charges skb truesize).
const DATAGRAM_OVERHEAD: usize = 768;
/// Linux's ip_local_port_range default.
const EPHEMERAL: core::ops::RangeInclusive<u16> = 32768..=60999;

/// IP_MULTICAST_IF of a socket (Linux's mc_index and mc_addr): the interface its datagrams to
/// a group leave by (the link unless `loopback`) and, when not 0.0.0.0, their source address
/// if the socket is not bound to one. `named`: an interface was named at all (mc_index != 0),
/// so that a datagram to a group needs no route (`udp_mcast.rs`, `names_multicast_device`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct McIf {
    pub loopback: bool,
    pub addr: IpAddress,
    pub named: bool,
}

impl Default for McIf {
    fn default() -> McIf {
        McIf { loopback: false, addr: IpAddress::v4(0, 0, 0, 0), named: false }
    }
}

/// A socket's source filter for one group (Linux's `sfmode` and `sflist`; `udp_msf.rs`). A
/// joined group without one is any-source (EXCLUDE mode, no list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct McFilter {
    /// INCLUDE mode (else EXCLUDE).
    include: bool,
    /// The sources; None until one was set (then a mode may still change).
    list: Option<Vec<IpAddress>>,
}

impl McFilter {
    /// Linux's ip_mc_sf_allow for a socket that joined the group.
    fn allows(&self, src: IpAddress) -> bool {
        match &self.list {
            None => !self.include,
            Some(l) => self.include == l.contains(&src),
        }
    }
}

struct Datagram {
    from: IpEndpoint,
    data: Vec<u8>,
    /// IP TTL it arrived with (None: not recorded).
    ttl: Option<u8>,
    /// Its destination address and TOS byte (IP_PKTINFO, IP_RECVTOS).
    dst: IpAddress,
    tos: Option<u8>,
}

struct Socket {
    /// Bound address (0.0.0.0 = any) and port (0 = unbound).
    local: IpEndpoint,
    /// True if the address was set by bind(), not implied by connect().
    addr_bound: bool,
    /// bind() named the port (Linux SOCK_BINDPORT_LOCK): a disconnect keeps it.
    port_locked: bool,
    remote: Option<IpEndpoint>,
    broadcast: bool,
    /// IP_FREEBIND: bind() takes an address that is not ours.
    freebind: bool,
    /// IP_LOCAL_PORT_RANGE (see `crate::socket::local_port_range`).
    port_range: u32,
    /// SO_REUSEADDR/SO_REUSEPORT: may share its port with other sockets that also set it.
    reuse: bool,
    /// Order of binding: among equally specific sockets the newest bound one receives
    /// (Linux adds sockets at the head of the port's hash chain).
    bind_seq: u64,
    rx: VecDeque<Datagram>,
    rx_bytes: usize,
    rx_limit: usize,
    tx_bytes: usize,
    tx_limit: usize,
    error: Option<Error>,
    /// IP_RECVERR queue.
    errq: crate::socket::errqueue::ErrQueue,
    /// An ICMP datagram ("ping") socket; its port is the echo identifier.
    ping: bool,
    /// A raw IP socket of this protocol (`udp_raw.rs`); it has no port.
    raw: Option<u8>,
    /// IP_HDRINCL (raw sockets): the application writes the IP header.
    hdrincl: bool,
    /// ICMP_FILTER (raw ICMP sockets): bit n set = ICMP type n is not delivered.
    icmp_filter: u32,
    /// IP_TTL / IP_TOS of a raw socket, carried by each of its datagrams.
    raw_ttl_tos: (Option<u8>, Option<u8>),
    /// IP_RECVTTL.
    recv_ttl: bool,
    /// IP_ADD_MEMBERSHIP: the groups this socket joined (`udp_mcast.rs`).
    groups: Vec<IpAddress>,
    /// Source filters of joined groups (`udp_msf.rs`); a group without one is any-source.
    filters: BTreeMap<IpAddress, McFilter>,
    /// IP_MULTICAST_LOOP (default on): its datagrams to a group the host joined come back.
    mc_loop: bool,
    /// IP_MULTICAST_TTL (default 1): the TTL its looped-back copies arrive with.
    mc_ttl: u8,
    /// IP_MULTICAST_ALL (default on): it receives every group the host joined, not only its own.
    mc_all: bool,
    /// IP_MULTICAST_IF: the interface its datagrams to a group leave by and their source
    /// address (`udp_mcast.rs`).
    mc_if: McIf,
}

impl Socket {
    fn new() -> Socket {
        Socket {
            local: IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 0),
            addr_bound: false,
            port_locked: false,
            remote: None,
            broadcast: false,
            freebind: false,
            port_range: 0,
            reuse: false,
            bind_seq: 0,
            rx: VecDeque::new(),
            rx_bytes: 0,
            rx_limit: DEFAULT_BUFFER,
            tx_bytes: 0,
            tx_limit: DEFAULT_BUFFER,
            error: None,
            errq: Default::default(),
            ping: false,
            raw: None,
            hdrincl: false,
            icmp_filter: 0,
            raw_ttl_tos: (None, None),
            recv_ttl: false,
            groups: Vec::new(),
            filters: BTreeMap::new(),
            mc_loop: true,
            mc_ttl: 1,
            mc_all: true,
            mc_if: McIf::default(),
        }
    }
}

struct TxDatagram {
    handle: u32,
    src: IpAddress,
    dst: IpAddress,
    datagram: Vec<u8>,
}

/// A datagram of a raw socket (`udp_raw.rs`) waiting for IP output.
pub struct TxRaw {
    handle: u32,
    /// The source address (without IP_HDRINCL; with it, for a header that left it 0).
    pub src: IpAddress,
    pub dst: IpAddress,
    pub protocol: u8,
    /// `data` is the whole datagram, header written by the application (IP_HDRINCL).
    pub hdrincl: bool,
    pub data: Vec<u8>,
    /// The socket's IP_TTL and IP_TOS (its header otherwise).
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
}

pub struct UdpStack {
    local_addr: IpAddress,
    prefix_len: u8,
    rng: u64,
    next_handle: u32,
    sockets: BTreeMap<u32, Socket>,
    /// Bound port -> sockets on it (demux and bind conflicts without scanning every socket).
    ports: BTreeMap<u16, Vec<u32>>,
    ephemeral: (u16, u16),
    bind_seq: u64,
    tx: VecDeque<TxDatagram>,
    /// Echo requests of ICMP datagram sockets (`udp_ping.rs`).
    tx_icmp: VecDeque<TxDatagram>,
    /// Datagrams of raw sockets (`udp_raw.rs`).
    tx_raw: VecDeque<TxRaw>,
    /// Open raw sockets per protocol (input skips the search while there are none).
    raw_count: [u16; 256],
    changed: BTreeSet<u32>,
    stats: UdpStats,
    /// Host-level group memberships (group -> sockets that joined it) and the IGMP messages
    /// they call for (group, join), taken by the interface (`udp_mcast.rs`).
    groups: BTreeMap<IpAddress, u32>,
    igmp: VecDeque<(IpAddress, bool)>,
    /// Group -> members of it that have a source filter (`udp_msf.rs`): fewer than its members
    /// means some member takes any source.
    filtered: BTreeMap<IpAddress, u32>,
}

/// splitmix64: a small seeded generator for ephemeral ports.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl UdpStack {
    pub fn new(local_addr: IpAddress, seed: u64) -> UdpStack {
        UdpStack {
            local_addr,
            prefix_len: 32,
            rng: seed ^ 0x5544_5050_0000_0000,
            next_handle: 1,
            sockets: BTreeMap::new(),
            ports: BTreeMap::new(),
            ephemeral: (*EPHEMERAL.start(), *EPHEMERAL.end()),
            bind_seq: 0,
            tx: VecDeque::new(),
            tx_icmp: VecDeque::new(),
            tx_raw: VecDeque::new(),
            raw_count: [0; 256],
            changed: BTreeSet::new(),
            stats: UdpStats::default(),
            groups: BTreeMap::new(),
            igmp: VecDeque::new(),
            filtered: BTreeMap::new(),
        }
    }

    /// Tells the engine the interface prefix length so that the subnet broadcast address is
    /// recognised (SO_BROADCAST checks, no ICMP errors for broadcasts). Default /32.
    pub fn set_prefix_len(&mut self, prefix_len: u8) {
        self.prefix_len = prefix_len.min(32);
    }

    /// True for 255.255.255.255 and the directed broadcast of our subnet.
    pub fn is_broadcast(&self, ip: IpAddress) -> bool {
        ip.is_broadcast() || ip.is_subnet_broadcast(self.local_addr, self.prefix_len)
    }

    /// The ephemeral port range (ip_local_port_range), default 32768..=60999.
    pub fn set_ephemeral_range(&mut self, range: core::ops::RangeInclusive<u16>) {
        if !range.is_empty() && *range.start() > 0 {
            self.ephemeral = (*range.start(), *range.end());
        }
    }

    /// Every open socket's handle, in order (`tapstack ss`).
    pub fn handles(&self) -> Vec<UdpHandle> {
        self.sockets.keys().map(|&h| UdpHandle(h)).collect()
    }
    pub fn stats(&self) -> UdpStats {
        self.stats
    }

    /// Output: every queued datagram as `emit(src, dst, udp_header+payload)` with checksum.
    pub fn dispatch(&mut self, now: Instant, emit: &mut dyn FnMut(IpAddress, IpAddress, &[u8])) {
        let _ = now;
        while let Some(d) = self.tx.pop_front() {
            emit(d.src, d.dst, &d.datagram);
            self.stats.out_datagrams += 1;
            if let Some(s) = self.sockets.get_mut(&d.handle) {
                let was_writable = s.tx_bytes < s.tx_limit;
                s.tx_bytes = s.tx_bytes.saturating_sub(d.datagram.len());
                if !was_writable {
                    self.changed.insert(d.handle);
                }
            }
        }
    }

    /// True while datagrams wait for `dispatch`.
    pub fn has_pending_output(&self) -> bool {
        !self.tx.is_empty() || !self.tx_icmp.is_empty() || !self.tx_raw.is_empty() || !self.igmp.is_empty()
    }

    /// Datagrams (or errors) arrived for a socket since the last `take_changed`.
    pub fn has_changed(&self) -> bool {
        !self.changed.is_empty()
    }

    pub fn take_changed(&mut self, out: &mut Vec<UdpHandle>) {
        out.extend(self.changed.iter().map(|&h| UdpHandle(h)));
        self.changed.clear();
    }

    pub fn socket(&mut self) -> UdpHandle {
        let h = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        self.sockets.insert(h, Socket::new());
        UdpHandle(h)
    }

    fn get(&self, h: UdpHandle) -> Result<&Socket> {
        self.sockets.get(&h.0).ok_or(Error::BadHandle)
    }
    fn get_mut(&mut self, h: UdpHandle) -> Result<&mut Socket> {
        self.sockets.get_mut(&h.0).ok_or(Error::BadHandle)
    }

    pub fn bind(&mut self, h: UdpHandle, local: IpEndpoint) -> Result<()> {
        let s = self.get(h)?;
        if s.raw.is_some() {
            return self.raw_bind(h, *local.ip());
        }
        if s.local.port() != 0 {
            return Err(Error::InvalidInput); // already bound
        }
        let addr = *local.ip();
        if !self.bindable(addr) && !s.freebind {
            return Err(Error::AddrNotAvailable);
        }
        let port = if local.port() == 0 {
            self.ephemeral(h.0)?
        } else if self.in_use(h.0, addr, local.port()) {
            return Err(Error::AddrInUse);
        } else {
            local.port()
        };
        let s = self.get_mut(h)?;
        s.local.set_ip(addr);
        s.addr_bound = !addr.is_unspecified();
        s.port_locked = local.port() != 0;
        self.set_port(h.0, port);
        Ok(())
    }

    /// connect(): default destination and source filter; port 0 address 0.0.0.0 (AF_UNSPEC) disconnects.
    pub fn connect(&mut self, h: UdpHandle, remote: Option<IpEndpoint>) -> Result<()> {
        let remote = remote.filter(|r| !(r.ip().is_unspecified() && r.port() == 0));
        let Some(remote) = remote else {
            // AF_UNSPEC: dissolve the association; an address implied by connect() is undone,
            // and a port bind() did not name goes back (Linux __udp_disconnect).
            let s = self.get_mut(h)?;
            s.remote = None;
            if !s.addr_bound {
                s.local.set_ip(IpAddress::v4(0, 0, 0, 0));
            }
            if !s.port_locked && s.raw.is_none() {
                self.unhash(h.0);
            }
            return Ok(());
        };
        let bcast = self.is_broadcast(*remote.ip());
        let s = self.get(h)?;
        if s.raw.is_some() {
            return self.raw_connect(h, *remote.ip());
        }
        if bcast && !s.broadcast {
            return Err(Error::PermissionDenied);
        }
        let bound = *s.local.ip();
        if !(self.bindable(bound) || crate::iface::route::source_is_ours(self.local_addr, bound)) {
            return Err(Error::NetUnreachable); // bound with IP_FREEBIND to an address not ours
        }
        if !crate::iface::route::source_reaches(self.local_addr, bound, *remote.ip()) {
            return Err(Error::InvalidInput);
        }
        self.autobind(h)?;
        let src = crate::iface::route::source_for(self.local_addr, *remote.ip());
        let s = self.get_mut(h)?;
        // Connecting to 0.0.0.0 means this host (Linux); keep it as given.
        s.remote = Some(remote);
        if s.local.ip().is_unspecified() {
            s.local.set_ip(src);
        }
        s.error = None;
        Ok(())
    }

    /// sendto()/send(): `dst` None uses the connected peer (ENOTCONN if none); EMSGSIZE over 65507.
    pub fn send_to(&mut self, h: UdpHandle, data: &[u8], dst: Option<IpEndpoint>) -> Result<usize> {
        self.send_from(h, data, dst, None)
    }

    /// `send_to` with the source address of an IP_PKTINFO control message (`ipi_spec_dst`,
    /// Linux semantics: `Some(0.0.0.0)` lets the route choose even on a bound socket).
    pub fn send_from(
        &mut self,
        h: UdpHandle,
        data: &[u8],
        dst: Option<IpEndpoint>,
        spec_src: Option<IpAddress>,
    ) -> Result<usize> {
        let s = self.get_mut(h)?;
        if s.raw.is_some() {
            // Linux's raw_send_hdrinc reports a pending error (sock_error); raw_sendmsg never
            // looks at it.
            if let Some(e) = s.error.take_if(|_| s.hdrincl) {
                return Err(e);
            }
            return self.raw_send(h, data, dst, spec_src);
        }
        if let Some(e) = s.error.take() {
            // Linux reports a pending ICMP error on the next send as well (sock_error).
            return Err(e);
        }
        if s.ping {
            return self.ping_send(h, data, dst);
        }
        let dst = match dst.or(s.remote) {
            Some(d) => d,
            None => return Err(if dst.is_none() { Error::NotConnected } else { Error::InvalidInput }),
        };
        if dst.port() == 0 {
            return Err(Error::InvalidInput);
        }
        if data.len() > wire::MAX_PAYLOAD {
            return Err(Error::MessageTooLong);
        }
        let broadcast = s.broadcast;
        if self.is_broadcast(*dst.ip()) && !broadcast {
            return Err(Error::PermissionDenied);
        }
        let s = self.get(h)?;
        if s.tx_bytes >= s.tx_limit {
            return Err(Error::WouldBlock);
        }
        self.autobind(h)?;
        let bound_ip = *self.get(h)?.local.ip();
        // 0.0.0.0 as a destination means this host: the bound address, else the loopback (Linux).
        let dst_ip = match *dst.ip() {
            a if a.is_unspecified()
                && (bound_ip.is_unspecified() || bound_ip.is_broadcast() || bound_ip.is_multicast()) =>
            {
                IpAddress::v4(127, 0, 0, 1)
            }
            a if a.is_unspecified() => bound_ip,
            a => a,
        };
        // Linux's route lookup: a given source must be one of ours (ENETUNREACH otherwise).
        if spec_src.is_some_and(|a| !(a.is_unspecified() || a == self.local_addr || a.is_loopback())) {
            return Err(Error::NetUnreachable);
        }
        let mc_if = self.get(h)?.mc_if;
        if dst_ip.is_multicast() && mc_if.loopback {
            // Out by the loopback interface, where no group was joined: nobody receives it.
            self.stats.out_datagrams += 1;
            return Ok(data.len());
        }
        let src_ip = match spec_src.unwrap_or(bound_ip) {
            // Linux's udp_sendmsg: a datagram to a group takes IP_MULTICAST_IF's address.
            a if a.is_unspecified() && dst_ip.is_multicast() && !mc_if.addr.is_unspecified() => mc_if.addr,
            a if a.is_unspecified() || a.is_broadcast() || a.is_multicast() => {
                crate::iface::route::source_for(self.local_addr, dst_ip)
            }
            a => a,
        };
        if !crate::iface::route::source_is_ours(self.local_addr, src_ip) {
            return Err(Error::NetUnreachable); // bound with IP_FREEBIND to an address not ours
        }
        if !crate::iface::route::source_reaches(self.local_addr, src_ip, dst_ip) {
            return Err(Error::InvalidInput);
        }
        let s = self.get_mut(h)?;
        let datagram = wire::build(src_ip, dst_ip, s.local.port(), dst.port(), data);
        s.tx_bytes += datagram.len();
        if dst_ip.is_multicast() && s.mc_loop {
            // IP_MULTICAST_LOOP: a copy for this host's own members (Linux ip_mc_output).
            let (from, ttl) = (IpEndpoint::new(src_ip, s.local.port()), s.mc_ttl);
            self.loop_multicast(from, IpEndpoint::new(dst_ip, dst.port()), data, ttl);
        }
        self.tx.push_back(TxDatagram { handle: h.0, src: src_ip, dst: dst_ip, datagram });
        Ok(data.len())
    }

    pub fn close(&mut self, h: UdpHandle) {
        // Datagrams already sent by the application still leave (like Linux).
        self.leave_all(h);
        if let Some(s) = self.sockets.remove(&h.0) {
            self.changed.remove(&h.0);
            if let Some(p) = s.raw {
                self.raw_count[p as usize] -= 1;
            }
            self.unlist(h.0, s.local.port());
        }
    }
}

#[path = "udp_err.rs"]
mod err;
#[path = "udp_input.rs"]
mod input;
#[path = "udp_mcast.rs"]
pub mod mcast;
#[path = "udp_msf.rs"]
pub mod msf;
#[path = "udp_opts.rs"]
mod opts;
#[path = "udp_ping.rs"]
mod ping;
#[path = "udp_ports.rs"]
mod ports;
#[path = "udp_raw.rs"]
pub mod raw;

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;
