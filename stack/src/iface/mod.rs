//! The interface: ARP cache, routing table, IPv4 fragmentation/reassembly, IP dispatch.
//!
//! [`Interface`] holds the link and network layer state of one host. Input (`input.rs`) parses
//! Ethernet, ARP, IPv4 and ICMP and hands transport payloads to the TCP/UDP engines; output
//! (this file) routes, fragments, resolves next hops and queues frames for the device.
pub mod arp_cache;
pub mod fragment;
mod icmp;
pub mod igmp;
mod igmp_timers;
mod input;
mod raw;
pub mod reassembly;
pub mod route;
pub mod stats;
mod tso;

use crate::wire::tcp::TcpPacket;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::socket::tcp::TcpStack;
use crate::socket::udp::UdpStack;
use crate::time::{earliest, Duration, Instant};
use crate::wire::arp::{ArpRepr, Operation};
use crate::wire::ethernet::{self, EtherType, EthernetRepr, MacAddr};
use crate::wire::ipv4::{self, Ipv4Repr};
use arp_cache::{ArpCache, Enqueued};
use reassembly::Reassembler;
use route::Routes;
pub use route::{source_for, source_reaches, LOOPBACK6_STANDIN};
use stats::{PingReply, Stats};

/// Frames waiting for the device; beyond this new frames are dropped (`tx_dropped`).
pub const MAX_TX_QUEUE: usize = 8192;
/// Datagrams addressed to ourselves waiting for local delivery.
pub const MAX_LOOPBACK_QUEUE: usize = 1024;
/// Echo replies kept until `take_ping_replies`.
pub const MAX_PING_REPLIES: usize = 1024;
/// Room left in front of an outgoing payload for the Ethernet and IPv4 headers (no options),
/// as TCP's emitter leaves it (`send_ip_frame`).
pub const TX_HEADROOM: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
const _: () = assert!(TX_HEADROOM == crate::socket::tcp::HEADROOM);
/// Frame buffers kept for reuse (`Interface::recycle`), and the largest kept.
const MAX_FREE_BUFS: usize = 256;
const MAX_FREE_BUF_CAPACITY: usize = 16 * 1024;
/// Buffers of TCP super-segments (TSO) kept for reuse, at most this many and this large.
const MAX_FREE_BIG: usize = 16;
const MAX_FREE_BIG_CAPACITY: usize = 80 * 1024;
/// TTL of datagrams we originate (Linux's default).
pub const DEFAULT_TTL: u8 = 64;

/// A datagram for one of our own addresses, delivered without touching the link.
#[derive(Debug)]
pub(crate) struct LocalDatagram {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub payload: Vec<u8>,
    /// A TCP segment with only its pseudo-header sum (our own, never on a wire: trusted).
    pub partial: bool,
}

/// Link and network layer state of one host.
#[derive(Debug)]
pub struct Interface {
    pub(crate) mac: MacAddr,
    pub(crate) addr: Ipv4Addr,
    pub(crate) prefix_len: u8,
    pub(crate) mtu: usize,
    pub(crate) routes: Routes,
    pub(crate) arp: ArpCache,
    pub(crate) reasm: Reassembler,
    pub(crate) ident: u16,
    pub(crate) tx: VecDeque<TxFrame>,
    /// Buffers of transmitted frames, reused for the next ones (`take_buf`, `recycle`).
    pub(crate) free_bufs: Vec<Vec<u8>>,
    pub(crate) free_big: Vec<Vec<u8>>,
    pub(crate) loopback: VecDeque<LocalDatagram>,
    pub(crate) stats: Stats,
    pub(crate) pings: Vec<PingReply>,
    pub(crate) icmp_limiter: TokenBucket,
    /// Per-socket IP_TTL / IP_TOS, keyed by (protocol, local port).
    pub(crate) ip_opts: HashMap<(u8, u16), IpOpts>,
    pub(crate) default_ttl: u8,
    /// The device vouches for the transport checksum of the frame being received (set only
    /// for the duration of `receive_frame_offloaded`).
    pub(crate) rx_checksum_ok: bool,
    /// The IP_TTL / IP_TOS of the raw socket whose datagram is being sent (set only for the
    /// duration of `send_raw`).
    pub(crate) tx_opts: Option<IpOpts>,
    /// TCP hands us segments with only the pseudo-header sum (`TcpConfig::tx_partial_checksum`):
    /// the device finishes it; we finish it ourselves only before cutting fragments.
    pub(crate) tx_tcp_partial: bool,
    /// The device cuts TCP super-segments itself (TSO, `Stack::set_tso`).
    pub(crate) tso: bool,
    /// Membership reports waiting for their random delay (`igmp.rs`).
    pub(crate) igmp: igmp_timers::ReportTimers,
}

/// A frame queued for the device. `gso`: 0, or the payload of each segment the device must
/// cut this TCP super-segment into (TSO, `Device::transmit_gso`).
#[derive(Debug)]
pub(crate) struct TxFrame {
    pub buf: Vec<u8>,
    pub gso: u16,
}

/// IP header fields a socket may set (IP_TTL, IP_TOS, IP_MULTICAST_TTL).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct IpOpts {
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    /// The TTL of its datagrams to a group (Linux's mc_ttl, default 1; IP_TTL does not apply).
    pub mc_ttl: Option<u8>,
}

impl Interface {
    pub fn new(mac: MacAddr, addr: Ipv4Addr, prefix_len: u8, gateway: Option<Ipv4Addr>, mtu: usize, seed: u64) -> Self {
        Interface {
            mac,
            addr,
            prefix_len: prefix_len.min(32),
            mtu: mtu.clamp(68, ipv4::MAX_DATAGRAM),
            routes: Routes::new(addr, prefix_len, gateway),
            arp: ArpCache::new(),
            reasm: Reassembler::new(),
            ident: (seed ^ (seed >> 16) ^ (seed >> 32)) as u16,
            tx: VecDeque::new(),
            free_bufs: Vec::new(),
            free_big: Vec::new(),
            loopback: VecDeque::new(),
            stats: Stats::default(),
            pings: Vec::new(),
            icmp_limiter: TokenBucket::new(ICMP_BURST, ICMP_PER_SEC),
            ip_opts: HashMap::new(),
            default_ttl: DEFAULT_TTL,
            rx_checksum_ok: false,
            tx_opts: None,
            tx_tcp_partial: false,
            tso: false,
            igmp: igmp_timers::ReportTimers::new(seed),
        }
    }

    /// Our subnet's directed broadcast address, if the prefix has one.
    pub fn subnet_broadcast(&self) -> Option<Ipv4Addr> {
        ipv4::subnet_broadcast(self.addr, self.prefix_len)
    }

    /// True if `a` is a broadcast address on this interface (limited or directed).
    pub fn is_broadcast(&self, a: Ipv4Addr) -> bool {
        a.is_broadcast() || Some(a) == self.subnet_broadcast()
    }

    /// True if `a` is one of ours (the interface address or loopback).
    pub fn is_local(&self, a: Ipv4Addr) -> bool {
        a == self.addr || a.is_loopback()
    }

    fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// IP output (RFC 1122 3.3): wraps `payload` in an IPv4 header from `src` to `dst`, routes it,
    /// fragments it to the MTU and hands it to ARP and the link. Drops are counted.
    pub fn send_ip(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) {
        let mut frame = self.take_buf();
        frame.reserve(TX_HEADROOM + payload.len());
        frame.resize(TX_HEADROOM, 0);
        frame.extend_from_slice(payload);
        self.send_ip_frame(now, src, dst, protocol, frame, 0);
    }

    /// The IPv4 header of a datagram of ours of `payload_len` bytes starting with `head`: TTL
    /// (1 to a group, RFC 1112 6.1), and the socket's IP_TTL / IP_TOS / IP_MULTICAST_TTL, found
    /// by the TCP/UDP source port or an echo request's identifier (ping sockets) in `head`.
    fn ip_repr(&self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, head: &[u8], payload_len: usize) -> Ipv4Repr {
        let mut repr = Ipv4Repr::new(src, dst, protocol, payload_len, 0);
        repr.ttl = if dst.is_multicast() { 1 } else { self.default_ttl };
        if protocol == ipv4::protocol::ICMP && head.first().is_some_and(|&t| crate::wire::icmpv4::msg_type::is_error(t))
        {
            // Linux's icmp_send: an error goes with IPTOS_PREC_INTERNETCONTROL (and the quoted
            // datagram's TOS bits, RT_TOS).
            let quoted_tos = head.get(crate::wire::icmpv4::HEADER_LEN + 1).map_or(0, |&t| t & 0x1e);
            repr.dscp_ecn = 0xc0 | quoted_tos;
        }
        let key = match protocol {
            ipv4::protocol::TCP | ipv4::protocol::UDP if head.len() >= 2 => Some([head[0], head[1]]),
            ipv4::protocol::ICMP if head.len() >= 8 && head[0] == 8 => Some([head[4], head[5]]),
            _ => None,
        };
        let opts = match (self.tx_opts, self.ip_opts.is_empty(), key) {
            (Some(o), _, _) => Some(o),
            (None, false, Some(key)) => self.ip_opts.get(&(protocol, u16::from_be_bytes(key))).copied(),
            _ => None,
        };
        if let Some(o) = opts {
            repr.ttl = if dst.is_multicast() { o.mc_ttl.unwrap_or(repr.ttl) } else { o.ttl.unwrap_or(repr.ttl) };
            repr.dscp_ecn = o.tos.unwrap_or(repr.dscp_ecn);
        }
        repr
    }

    /// Hands every queued frame to `dev`, in order; the buffers it gives back are kept.
    pub(crate) fn flush_tx(&mut self, now: Instant, dev: &mut dyn crate::phy::Device) {
        while let Some(f) = self.tx.pop_front() {
            // The device may keep the frame (no copy); what it hands back is reused.
            let spare = if f.gso > 0 { dev.transmit_gso(now, f.buf, f.gso) } else { dev.transmit_buf(now, f.buf) };
            self.stats.tx_frames += 1;
            if let Some(b) = spare {
                self.recycle(b);
            }
        }
    }

    /// `send_ip` for a payload already at `frame[TX_HEADROOM..]`: the Ethernet and IPv4 headers
    /// are written in place in front of it and the frame is queued without a copy (unless it
    /// must be fragmented). `gso`: 0, or the segment size of a TCP super-segment (TSO).
    pub(crate) fn send_ip_frame(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        mut frame: Vec<u8>,
        gso: u16,
    ) {
        let src = if src.is_unspecified() { source_for(self.addr.into(), dst.into()).as_v4() } else { src };
        // A super-segment to ourselves is delivered whole, as over Linux's 64 KiB loopback.
        if gso > 0 && !self.is_local(dst) && !(protocol == ipv4::protocol::TCP && self.offloads_to(now, dst)) {
            return self.send_split(now, src, dst, frame, gso);
        }
        if self.is_local(dst) {
            if self.loopback.len() >= MAX_LOOPBACK_QUEUE {
                self.stats.tx_dropped += 1;
                self.recycle(frame);
                return;
            }
            let partial = self.tx_tcp_partial && protocol == ipv4::protocol::TCP;
            self.stats.tso_out += u64::from(gso > 0);
            frame.drain(..TX_HEADROOM);
            self.loopback.push_back(LocalDatagram { src, dst, protocol, payload: frame, partial });
            return;
        }
        if dst.is_unspecified() {
            self.stats.no_route += 1;
            self.recycle(frame);
            return;
        }
        let payload_len = frame.len() - TX_HEADROOM;
        let mut repr = self.ip_repr(src, dst, protocol, &frame[TX_HEADROOM..], payload_len);
        let Some((next_hop, dst_mac)) = self.next_hop(dst) else {
            self.recycle(frame);
            return;
        };
        // RFC 1191: TCP segments carry DF, so a smaller link on the path answers "fragmentation
        // needed" and TCP lowers its MSS (Linux's IP_PMTUDISC_WANT default; TCP never needs
        // fragmenting, its segments are sized to the MTU).
        let fits = gso > 0 || payload_len + ipv4::HEADER_LEN <= self.mtu;
        repr.dont_frag = protocol == ipv4::protocol::TCP && fits;
        repr.ident = self.next_ident();
        if gso > 0 {
            self.tso_idents(&frame[TX_HEADROOM..], payload_len, gso);
        }
        let mut datagrams = Vec::new();
        let single = if fits {
            // The common case: the header in place, the frame itself queued.
            repr.emit(&mut frame[ethernet::HEADER_LEN..TX_HEADROOM]);
            Some(frame)
        } else {
            if self.tx_tcp_partial && protocol == ipv4::protocol::TCP {
                // Fragments are not TCP to the device: finish the checksum before cutting.
                TcpPacket::new_unchecked(&mut frame[TX_HEADROOM..]).fill_checksum(src, dst);
            }
            let r = fragment::fragment(&repr, &frame[TX_HEADROOM..], self.mtu, ethernet::HEADER_LEN, &mut |d| {
                datagrams.push(d)
            });
            self.recycle(frame);
            match r {
                Ok(n) => self.stats.ip_fragments_out += n as u64,
                Err(e) => {
                    tracing::debug!(target: "tapstack::ip", %dst, len = payload_len, "cannot send: {e:?}");
                    self.stats.ip_too_big += 1;
                    return;
                }
            }
            None
        };
        let dst_mac = self.resolve(now, next_hop, dst_mac);
        for d in single.into_iter().chain(datagrams) {
            match dst_mac {
                Some(mac) => self.queue_prepared(mac, EtherType::Ipv4, d, gso),
                None => self.enqueue_for_arp(now, next_hop, d),
            }
        }
    }

    /// Where a datagram to `dst` goes on the link: its next hop, and the MAC when no ARP is
    /// needed (broadcasts go to the Ethernet broadcast address, RFC 1122 3.3.6; groups to
    /// their MAC). None (counted): no route.
    pub(crate) fn next_hop(&mut self, dst: Ipv4Addr) -> Option<(Ipv4Addr, Option<MacAddr>)> {
        if self.is_broadcast(dst) {
            Some((dst, Some(ethernet::BROADCAST)))
        } else if dst.is_multicast() {
            Some((dst, Some(crate::wire::igmp::group_mac(dst))))
        } else {
            let hop = self.routes.next_hop(dst);
            if hop.is_none() {
                tracing::trace!(target: "tapstack::ip", %dst, "no route");
                self.stats.no_route += 1;
            }
            hop.map(|h| (h, None))
        }
    }

    /// The next hop's MAC: `known`, else the ARP cache's (refreshed when due); None while ARP
    /// resolves it.
    pub(crate) fn resolve(&mut self, now: Instant, next_hop: Ipv4Addr, known: Option<MacAddr>) -> Option<MacAddr> {
        if known.is_some() {
            return known;
        }
        let (mac, refresh) = self.arp.lookup_for_send(now, next_hop)?;
        if refresh {
            self.send_arp_request_to(next_hop, mac);
        }
        Some(mac)
    }

    /// An empty frame buffer, recycled if one is free (see `recycle`).
    pub(crate) fn take_buf(&mut self) -> Vec<u8> {
        self.free_big.pop().or_else(|| self.free_bufs.pop()).unwrap_or_default()
    }

    /// Keeps `frame`'s memory for a later frame (once transmitted or dropped), so a steady
    /// stream of segments allocates nothing; bounded in count and per-buffer size.
    pub(crate) fn recycle(&mut self, mut frame: Vec<u8>) {
        frame.clear();
        if frame.capacity() <= MAX_FREE_BUF_CAPACITY {
            if self.free_bufs.len() < MAX_FREE_BUFS {
                self.free_bufs.push(frame);
            }
        } else if self.free_big.len() < MAX_FREE_BIG && frame.capacity() <= MAX_FREE_BIG_CAPACITY {
            self.free_big.push(frame);
        }
    }

    fn enqueue_for_arp(&mut self, now: Instant, next_hop: Ipv4Addr, datagram: Vec<u8>) {
        match self.arp.enqueue(now, next_hop, datagram) {
            Enqueued::SendRequest => self.send_arp_request(next_hop),
            Enqueued::Queued => {}
            Enqueued::QueuedDroppedOldest | Enqueued::Dropped => self.stats.arp_queue_dropped += 1,
        }
    }

    /// Broadcasts "who has `target`? tell <our address>" (RFC 826).
    pub(crate) fn send_arp_request(&mut self, target: Ipv4Addr) {
        self.send_arp_request_to(target, ethernet::BROADCAST);
    }

    /// Sends "who has `target`?" to `dst` (broadcast to resolve, unicast to re-confirm an entry).
    pub(crate) fn send_arp_request_to(&mut self, target: Ipv4Addr, dst: MacAddr) {
        let arp = ArpRepr {
            operation: Operation::Request,
            source_hardware_addr: self.mac,
            source_protocol_addr: self.addr,
            target_hardware_addr: [0; 6],
            target_protocol_addr: target,
        };
        self.stats.arp_requests_sent += 1;
        self.queue_frame(dst, EtherType::Arp, &arp.to_bytes());
    }

    /// Wraps `payload` in Ethernet and queues it for the device.
    pub(crate) fn queue_frame(&mut self, dst: MacAddr, ethertype: EtherType, payload: &[u8]) {
        if self.tx.len() >= MAX_TX_QUEUE {
            self.stats.tx_dropped += 1;
            return;
        }
        let eth = EthernetRepr { src_addr: self.mac, dst_addr: dst, ethertype };
        self.tx.push_back(TxFrame { buf: eth.build(payload), gso: 0 });
    }

    /// Queues `frame`, whose first `ethernet::HEADER_LEN` bytes are room for the header.
    fn queue_prepared(&mut self, dst: MacAddr, ethertype: EtherType, mut frame: Vec<u8>, gso: u16) {
        if self.tx.len() >= MAX_TX_QUEUE {
            self.stats.tx_dropped += 1;
            self.recycle(frame);
            return;
        }
        let eth = EthernetRepr { src_addr: self.mac, dst_addr: dst, ethertype };
        eth.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]));
        self.tx.push_back(TxFrame { buf: frame, gso });
    }

    /// Sends the datagrams that waited for `ip` to resolve to `mac`.
    pub(crate) fn learned(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr) {
        let queued = self.arp.fill(now, ip, mac);
        for d in queued {
            self.queue_prepared(mac, EtherType::Ipv4, d, 0);
        }
    }

    /// ARP retries and timeouts, reassembly timeouts. When ARP gives up on a next hop, the
    /// senders of dropped SYNs and UDP datagrams are told "host unreachable" (code 1), as Linux
    /// does through ipv4_link_failure(): a connect() in SYN-SENT fails with EHOSTUNREACH.
    pub fn poll_timers(&mut self, now: Instant, tcp: &mut TcpStack, udp: &mut UdpStack) {
        let t = self.arp.poll(now);
        self.report_link_failure(now, &t.dropped_datagrams, tcp, udp);
        if t.failed > 0 {
            tracing::debug!(target: "tapstack::arp", failed = t.failed, dropped = t.dropped, "ARP resolution timed out");
        }
        for ip in t.retry {
            self.send_arp_request(ip);
        }
        self.stats.arp_resolution_failed += t.failed;
        self.stats.arp_queue_dropped += t.dropped;
        let expired = self.reasm.expire(now, &mut self.stats);
        if !expired.is_empty() {
            tracing::debug!(target: "tapstack::ip", count = expired.len(), "reassembly timed out");
        }
        for (header, data) in expired {
            // RFC 1122 3.3.2: time exceeded (code 1) if the first fragment had arrived.
            self.icmp_time_exceeded(now, &header, &data);
        }
        self.poll_igmp(now, udp);
    }

    /// True while frames, local datagrams or datagrams awaiting ARP resolution are queued.
    pub fn has_pending_output(&self) -> bool {
        !self.tx.is_empty() || !self.loopback.is_empty() || self.arp.has_queued()
    }

    /// The earliest timer of the interface; `now` if frames or local datagrams are waiting.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        if !self.tx.is_empty() || !self.loopback.is_empty() {
            return Some(now);
        }
        earliest(earliest(self.arp.poll_at(), self.reasm.poll_at()), self.igmp.poll_at())
    }
}

/// Token bucket limiting the ICMP errors we generate (RFC 1812 4.3.2.8, RFC 1122 3.2.2).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: u64,
    burst: u64,
    per_sec: u64,
    last: Option<Instant>,
}

/// Like Linux's icmp_msgs_burst / icmp_msgs_per_sec.
const ICMP_BURST: u64 = 50;
const ICMP_PER_SEC: u64 = 1000;

impl TokenBucket {
    fn new(burst: u64, per_sec: u64) -> Self {
        TokenBucket { tokens: burst * 1_000_000, burst, per_sec, last: None }
    }

    /// Takes one token if available. Tokens are kept in millionths.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let dt = now.saturating_since(last).min(Duration::from_secs(10)).as_micros() as u64;
            self.tokens = (self.tokens + dt * self.per_sec).min(self.burst * 1_000_000);
        }
        self.last = Some(now);
        if self.tokens >= 1_000_000 {
            self.tokens -= 1_000_000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket() {
        let mut b = TokenBucket::new(3, 10);
        let t = Instant::from_secs(1);
        assert!(b.take(t) && b.take(t) && b.take(t));
        assert!(!b.take(t));
        assert!(!b.take(t + Duration::from_millis(50)));
        assert!(b.take(t + Duration::from_millis(150)));
        assert!(b.take(t + Duration::from_secs(100)));
    }
}
