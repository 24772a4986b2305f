//! Raw IPv4 sockets, socket(AF_INET, SOCK_RAW, protocol), as Linux's net/ipv4/raw.c (raw(7)):
//! what traceroute -I/-T, mtr, nmap -sS and hping open. They live in the UDP engine (same
//! calls, queues, readiness) without a port. Every datagram of their protocol that arrives for
//! this host is copied to each matching socket, IP header included, before the stack's own
//! protocol handles it; the application's datagrams leave with an IP header built for them,
//! or, with IP_HDRINCL (always for IPPROTO_RAW), the header the application wrote (its
//! source, identification, total length and checksum filled in as Linux's raw_send_hdrinc).
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::{TxRaw, UdpHandle, UdpStack};
use crate::error::{Error, Result};
use crate::socket::errqueue::{IcmpReport, SockError};

/// IPPROTO_RAW: the application writes every header (IP_HDRINCL on from the start).
pub const IPPROTO_RAW: u8 = 255;
const ICMP: u8 = 1;
/// The largest datagram (the IPv4 total length field; Linux raw_sendmsg: EMSGSIZE beyond).
const MAX_DATAGRAM: usize = 65_535;
/// An IPv4 header without options.
const IP_HEADER: usize = 20;

impl UdpStack {
    /// A new raw socket of `protocol` (1..=255; IPPROTO_RAW writes its own headers).
    pub fn raw_socket(&mut self, protocol: u8) -> UdpHandle {
        let h = self.socket();
        if let Some(s) = self.sockets.get_mut(&h.0) {
            s.raw = Some(protocol);
            s.hdrincl = protocol == IPPROTO_RAW;
        }
        self.raw_count[protocol as usize] += 1;
        h
    }

    /// The protocol of a raw socket, None for a UDP or ICMP datagram socket.
    pub fn raw_protocol(&self, h: UdpHandle) -> Option<u8> {
        self.sockets.get(&h.0).and_then(|s| s.raw)
    }

    /// IP_HDRINCL (raw sockets only: ENOPROTOOPT otherwise, as Linux).
    pub fn set_hdrincl(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        let s = self.get_mut(h)?;
        if s.raw.is_none() {
            return Err(Error::NoProtocolOption);
        }
        s.hdrincl = on;
        Ok(())
    }

    /// IP_HDRINCL's value (false for a socket that is not raw).
    pub fn hdrincl(&self, h: UdpHandle) -> bool {
        self.sockets.get(&h.0).is_some_and(|s| s.hdrincl)
    }

    /// IP_TTL and IP_TOS of a raw socket (its datagrams carry them).
    pub fn set_raw_ip_opts(&mut self, h: UdpHandle, ttl: Option<u8>, tos: Option<u8>) -> Result<()> {
        self.get_mut(h)?.raw_ttl_tos = (ttl, tos);
        Ok(())
    }

    /// ICMP_FILTER: the ICMP types (below 32) a raw ICMP socket does not receive; EOPNOTSUPP on
    /// any other socket (Linux raw_seticmpfilter).
    pub fn set_icmp_filter(&mut self, h: UdpHandle, mask: u32) -> Result<()> {
        let s = self.get_mut(h)?;
        if s.raw != Some(ICMP) {
            return Err(Error::NotSupported);
        }
        s.icmp_filter = mask;
        Ok(())
    }

    /// ICMP_FILTER's value (EOPNOTSUPP unless a raw ICMP socket).
    pub fn icmp_filter(&self, h: UdpHandle) -> Result<u32> {
        let s = self.get(h)?;
        if s.raw != Some(ICMP) {
            return Err(Error::NotSupported);
        }
        Ok(s.icmp_filter)
    }

    /// bind() of a raw socket: a local address only (no port, no sharing rules); one of ours,
    /// a broadcast or a group, else EADDRNOTAVAIL (Linux raw_bind).
    pub(super) fn raw_bind(&mut self, h: UdpHandle, addr: IpAddress) -> Result<()> {
        if !self.bindable(addr) {
            return Err(Error::AddrNotAvailable);
        }
        let s = self.get_mut(h)?;
        s.local.set_ip(addr);
        s.addr_bound = !addr.is_unspecified();
        Ok(())
    }

    /// connect() of a raw socket: the default destination and the only source it hears
    /// (Linux ip4_datagram_connect; a broadcast needs SO_BROADCAST).
    pub(super) fn raw_connect(&mut self, h: UdpHandle, remote: IpAddress) -> Result<()> {
        let bcast = self.is_broadcast(remote);
        let src = crate::iface::route::source_for(self.local_addr, remote);
        let s = self.get_mut(h)?;
        if bcast && !s.broadcast {
            return Err(Error::PermissionDenied);
        }
        s.remote = Some(IpEndpoint::new(remote, 0));
        if s.local.ip().is_unspecified() {
            s.local.set_ip(src);
        }
        s.error = None;
        Ok(())
    }

    /// sendto() on a raw socket (Linux raw_sendmsg): EDESTADDRREQ without a destination when
    /// not connected, EMSGSIZE beyond 65,535 bytes with the header, EINVAL for a header that
    /// does not fit (IP_HDRINCL), EACCES to a broadcast without SO_BROADCAST.
    pub(super) fn raw_send(
        &mut self,
        h: UdpHandle,
        data: &[u8],
        dst: Option<IpEndpoint>,
        spec_src: Option<IpAddress>,
    ) -> Result<usize> {
        let s = self.get(h)?;
        let protocol = s.raw.unwrap_or(IPPROTO_RAW);
        let Some(dst) = dst.map(|d| *d.ip()).or(s.remote.map(|r| *r.ip())) else {
            return Err(Error::DestinationRequired);
        };
        let hdrincl = s.hdrincl;
        let len = data.len() + if hdrincl { 0 } else { IP_HEADER };
        if len > MAX_DATAGRAM {
            return Err(Error::MessageTooLong);
        }
        if hdrincl && (data.len() < IP_HEADER || usize::from(data[0] & 0x0f) * 4 > data.len()) {
            return Err(Error::InvalidInput);
        }
        if self.is_broadcast(dst) && !s.broadcast {
            return Err(Error::PermissionDenied);
        }
        if s.tx_bytes >= s.tx_limit {
            return Err(Error::WouldBlock);
        }
        // 0.0.0.0 as a destination means this host (Linux).
        let dst = if dst.is_unspecified() { IpAddress::v4(127, 0, 0, 1) } else { dst };
        let src = match spec_src.unwrap_or(*s.local.ip()) {
            a if a.is_unspecified() || a.is_broadcast() || a.is_multicast() => {
                crate::iface::route::source_for(self.local_addr, dst)
            }
            a => a,
        };
        let s = self.get_mut(h)?;
        s.tx_bytes += data.len();
        let (ttl, tos) = s.raw_ttl_tos;
        self.tx_raw.push_back(TxRaw { handle: h.0, src, dst, protocol, hdrincl, data: data.to_vec(), ttl, tos });
        Ok(data.len())
    }

    /// Output of raw sockets: every queued datagram to `emit`.
    pub fn dispatch_raw(&mut self, emit: &mut dyn FnMut(&TxRaw)) {
        while let Some(d) = self.tx_raw.pop_front() {
            emit(&d);
            if let Some(s) = self.sockets.get_mut(&d.handle) {
                let was_writable = s.tx_bytes < s.tx_limit;
                s.tx_bytes = s.tx_bytes.saturating_sub(d.data.len());
                if !was_writable {
                    self.changed.insert(d.handle);
                }
            }
        }
    }

    /// True while a raw socket of `protocol` is open.
    pub fn has_raw(&self, protocol: u8) -> bool {
        self.raw_count[protocol as usize] > 0
    }

    /// Input (Linux raw_v4_input): a copy of `datagram` (header and payload, as it arrived for
    /// this host, reassembled) for every raw socket of its protocol bound to its destination
    /// (or to none), connected to its source (or to none), and, for ICMP, not filtering its
    /// type. Returns whether a raw socket of the protocol exists (then an unknown protocol
    /// gets no ICMP error, as Linux's raw_local_deliver).
    pub fn raw_input(
        &mut self,
        src: IpAddress,
        dst: IpAddress,
        protocol: u8,
        datagram: &[u8],
        ttl: Option<u8>,
        tos: Option<u8>,
    ) -> bool {
        if !self.has_raw(protocol) {
            return false;
        }
        let header = usize::from(datagram.first().map_or(0, |b| b & 0x0f)) * 4;
        let icmp_type = datagram.get(header).copied();
        // Linux icmp_filter: a message too short for its ICMP header is filtered, a type of 32
        // or more never is.
        let filtered = |mask: u32| {
            protocol == ICMP
                && match icmp_type {
                    _ if datagram.len() < header + 8 => true,
                    Some(t) if t < 32 => mask & (1 << t) != 0,
                    _ => false,
                }
        };
        let targets: Vec<u32> = self
            .sockets
            .iter()
            .filter(|(_, s)| {
                s.raw == Some(protocol)
                    && (s.local.ip().is_unspecified() || *s.local.ip() == dst)
                    && s.remote.is_none_or(|r| *r.ip() == src)
                    && !filtered(s.icmp_filter)
            })
            .map(|(&h, _)| h)
            .collect();
        self.queue_rx(&targets, IpEndpoint::new(src, 0), dst, datagram, ttl, tos);
        true
    }

    /// An ICMP error quoting a datagram of `protocol` from `r.local` to `r.remote` (Linux
    /// raw_icmp_error, raw_err): every raw socket of that protocol bound to the quoted source
    /// (or to none) and connected to its destination (or to none) gets it in its error queue
    /// with IP_RECVERR (the quoted payload after the IP header read back), else, when
    /// connected and the error is hard, as its pending error. Returns whether one took it.
    pub fn raw_error(&mut self, protocol: u8, r: &IcmpReport<'_>) -> bool {
        if !self.has_raw(protocol) {
            return false;
        }
        let Some((errno, hard)) = r.errno() else { return false };
        let (local, remote) = (*r.local.ip(), *r.remote.ip());
        let mut took = false;
        for (&h, s) in self.sockets.iter_mut() {
            if s.raw != Some(protocol)
                || !(s.local.ip().is_unspecified() || *s.local.ip() == local)
                || s.remote.is_some_and(|p| *p.ip() != remote)
            {
                continue;
            }
            if s.errq.enabled {
                s.errq.push(SockError::from_icmp(r, errno, 0));
                s.error = Some(errno);
            } else if hard && !r.frag_needed() && s.remote.is_some() {
                s.error = Some(errno);
            } else {
                continue;
            }
            self.changed.insert(h);
            took = true;
        }
        took
    }
}
