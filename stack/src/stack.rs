//! `Stack`: one host. Ethernet/ARP/IPv4/ICMP (`iface`) plus the TCP and UDP engines.
//! CONTRACT for the runtime, the shim and tests.
//!
//! Input: `receive_frame` (or `poll`, which drains the device) parses Ethernet, answers ARP,
//! validates and reassembles IPv4, answers ICMP and hands segments to `tcp.process` /
//! `udp.process`. Output: `poll` runs the ARP and reassembly timers, collects what TCP and UDP
//! have to send (`dispatch`), routes, fragments and resolves it, and transmits every queued
//! frame. Datagrams to our own address are delivered locally without touching the device.
use std::net::Ipv4Addr;

use crate::config::Config;
pub use crate::iface::stats::{PingReply, Stats};
use crate::iface::Interface;
use crate::phy::Device;
use crate::socket::tcp::{TcpConfig, TcpStack};
use crate::socket::udp::UdpStack;
use crate::time::{earliest, Instant};
use crate::wire::ipv4::protocol;

pub struct Stack {
    pub tcp: TcpStack,
    pub udp: UdpStack,
    iface: Interface,
    mtu: usize,
    rx_buf: Vec<u8>,
}

/// Frames taken from the device per `poll` before yielding (the rest wait for the next poll).
const MAX_RX_PER_POLL: usize = 1024;
/// Once a datagram waits for its program, frames taken per `poll` (NAPI's weight): a burst of
/// datagrams is handed over in parts, so a socket's queue (about 95 full-size datagrams, as
/// Linux's) does not overflow before its program has had any of them.
const UDP_RX_BATCH: usize = 64;
/// Rounds of dispatch + local delivery per poll (a local exchange needs a few).
const LOOPBACK_ROUNDS: usize = 8;
/// Largest TSO segment's payload: its IPv4 datagram (with a 60-byte TCP header) stays under
/// the 64 KiB of the length field and of the TAP's GSO limit (`phy::gso`).
pub const TSO_MAX: usize = 65_000 - 20 - 60;

/// SplitMix64, to derive independent values from one seed.
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Stack {
    /// A stack with the addresses, MAC and MTU of `config`; `seed` feeds ISN secret and ports.
    pub fn new(config: &Config, seed: u64) -> Stack {
        let mut s = seed;
        let mut tc = TcpConfig::new(config.addr.into(), config.mtu);
        tc.prefix_len = config.prefix_len;
        tc.isn_secret[..8].copy_from_slice(&splitmix(&mut s).to_le_bytes());
        tc.isn_secret[8..].copy_from_slice(&splitmix(&mut s).to_le_bytes());
        tc.seed = splitmix(&mut s);
        let udp_seed = splitmix(&mut s);
        let ip_seed = splitmix(&mut s);
        let mut udp = UdpStack::new(config.addr.into(), udp_seed);
        udp.set_prefix_len(config.prefix_len);
        Stack {
            tcp: TcpStack::new(tc),
            udp,
            iface: Interface::new(config.mac, config.addr, config.prefix_len, config.gateway, config.mtu, ip_seed),
            mtu: config.mtu,
            rx_buf: vec![0u8; 65536 + 64],
        }
    }

    /// TCP leaves its checksums to the device (only the pseudo-header sum in the field), for a
    /// device that finishes them: a TAP with offloads and nothing between that reads frames.
    pub fn set_tcp_checksum_offload(&mut self, on: bool) {
        self.tcp.set_tx_partial_checksum(on);
        self.iface.tx_tcp_partial = on;
    }

    /// TCP hands the device segments of up to `max` bytes of new data, which the device cuts
    /// into MSS-sized ones (TSO, `Device::transmit_gso`): one header built, one frame queued and
    /// one record written per 44 segments instead of 44; on the wire the same segments as one
    /// MSS at a time (tests/tcp_tso.rs). For the TAP with offloads and nothing between it and
    /// the stack that reads frames; 0 turns it off. Segments to ourselves, or waiting for ARP,
    /// are cut here; a device without the offload cuts them itself (`phy::transmit_split`).
    pub fn set_tso(&mut self, max: usize) {
        let max = max.min(TSO_MAX);
        self.tcp.set_tso_max(max);
        self.iface.tso = max > 0;
    }

    /// Processes one received Ethernet frame (answers are queued, sent by `poll`).
    pub fn receive_frame(&mut self, now: Instant, frame: &[u8]) {
        self.iface.receive_frame(now, frame, &mut self.tcp, &mut self.udp);
    }

    /// Receives every frame waiting on `dev`, runs timers (ARP, reassembly, TCP), dispatches
    /// socket output and transmits. Returns when it next needs to run absent input.
    pub fn poll(&mut self, now: Instant, dev: &mut dyn Device) -> Option<Instant> {
        self.iface.mtu = self.mtu.min(dev.mtu()).max(68);
        let mut rx = 0;
        let mut more = false;
        while rx < MAX_RX_PER_POLL {
            if rx >= UDP_RX_BATCH && self.udp.has_changed() {
                more = true;
                break;
            }
            let Some(n) = dev.receive(now, &mut self.rx_buf) else { break };
            let n = n.min(self.rx_buf.len());
            let ok = dev.rx_checksum_ok();
            self.iface.receive_frame_offloaded(now, &self.rx_buf[..n], ok, &mut self.tcp, &mut self.udp);
            rx += 1;
        }
        self.iface.poll_timers(now, &mut self.tcp, &mut self.udp);
        for _ in 0..LOOPBACK_ROUNDS {
            self.dispatch(now, dev);
            if self.iface.loopback.is_empty() {
                break;
            }
            self.iface.deliver_loopback(now, &mut self.tcp, &mut self.udp, super::iface::MAX_LOOPBACK_QUEUE);
        }
        self.iface.flush_tx(now, dev);
        self.tcp.trace_flush();
        let next = earliest(self.poll_at(now), dev.poll_at());
        if more || rx >= MAX_RX_PER_POLL {
            return Some(now);
        }
        next
    }

    /// Hands every segment TCP and UDP have ready to IP output (a zero-copy super-segment
    /// straight to `dev`, after the frames queued before it).
    fn dispatch(&mut self, now: Instant, dev: &mut dyn Device) {
        // Memberships first: a datagram sent right after a join finds the group reported.
        while let Some((group, join)) = self.udp.take_igmp() {
            self.iface.igmp_membership(now, group.as_v4(), join);
        }
        let iface = &mut self.iface;
        // The transports hand family-neutral addresses; IPv4 output takes them here.
        // TCP's segments come behind room for the headers: IP output takes the buffer itself
        // and leaves a recycled one for the next segment.
        self.tcp.dispatch_bufs(now, &mut |src, dst, buf, gso, parts| {
            if parts.is_empty() {
                let frame = std::mem::replace(buf, iface.take_buf());
                iface.send_ip_frame(now, src.as_v4(), dst.as_v4(), protocol::TCP, frame, gso)
            } else {
                iface.send_tcp_parts(now, src.as_v4(), dst.as_v4(), buf, parts, gso, dev)
            }
        });
        self.udp
            .dispatch(now, &mut |src, dst, dgram| iface.send_ip(now, src.as_v4(), dst.as_v4(), protocol::UDP, dgram));
        self.udp.dispatch_icmp(now, &mut |src, dst, m| iface.send_ip(now, src.as_v4(), dst.as_v4(), protocol::ICMP, m));
        self.udp.dispatch_raw(&mut |d| iface.send_raw(now, d));
    }

    /// True while anything is waiting to leave: TCP data or FIN not yet acknowledged, UDP
    /// datagrams, frames not yet transmitted, datagrams waiting for ARP (for the exit drain).
    pub fn has_pending_output(&self) -> bool {
        self.tcp.has_pending_output() || self.udp.has_pending_output() || self.iface.has_pending_output()
    }

    /// The next deadline without doing any work.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        if self.udp.has_pending_output() {
            return Some(now);
        }
        earliest(self.iface.poll_at(now), self.tcp.poll_at(now))
    }

    /// Queues an ICMP echo request (resolving the next hop with ARP as needed).
    pub fn ping(&mut self, now: Instant, dst: Ipv4Addr, ident: u16, seq: u16, payload: &[u8]) {
        self.iface.send_echo_request(now, dst, ident, seq, payload);
    }

    /// Echo replies received since the last call.
    pub fn take_ping_replies(&mut self) -> Vec<PingReply> {
        std::mem::take(&mut self.iface.pings)
    }

    /// Counters of every layer for `tapstack stats` (reads only).
    pub fn counters(&self, now: Instant) -> crate::inspect::counters::Counters {
        let (arp_entries, arp_pending) = self.iface.arp.counts(now);
        crate::inspect::counters::Counters {
            addr: self.iface.addr,
            prefix_len: self.iface.prefix_len,
            mac: self.iface.mac,
            mtu: self.iface.mtu,
            iface: self.iface.stats.clone(),
            tcp: self.tcp.stats().clone(),
            udp: self.udp.stats(),
            arp_entries,
            arp_pending,
            reasm_datagrams: self.iface.reasm.len(),
            reasm_bytes: self.iface.reasm.bytes(),
            tcp_control_blocks: self.tcp.control_blocks(),
            time_wait: self.tcp.time_wait_count(),
        }
    }

    /// The socket table for `tapstack ss`: TCP control blocks, then UDP sockets.
    pub fn socket_table(&self) -> Vec<crate::inspect::SockEntry> {
        crate::inspect::snapshot::table(&self.tcp, &self.udp)
    }

    /// Installs (or removes) the sink receiving every TCP trace event (see `crate::trace`).
    pub fn set_tracer(&mut self, sink: Option<Box<dyn crate::trace::TraceSink>>) {
        self.tcp.set_tracer(sink);
    }

    pub fn stats(&self) -> &Stats {
        &self.iface.stats
    }

    /// The interface address.
    pub fn addr(&self) -> Ipv4Addr {
        self.iface.addr
    }

    /// The interface prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.iface.prefix_len
    }

    /// The interface MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.iface.mac
    }

    /// The IP MTU in use.
    pub fn mtu(&self) -> usize {
        self.iface.mtu
    }

    /// The ARP cache's entry for `ip` (SIOCGARP): (MAC, resolved), see `ArpCache::entry`.
    pub fn arp_entry(&self, ip: Ipv4Addr) -> Option<([u8; 6], bool)> {
        self.iface.arp.entry(ip)
    }

    /// ARP cache lookup (for tests and diagnostics).
    pub fn arp_lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<[u8; 6]> {
        self.iface.arp.lookup(now, ip)
    }

    /// Adds (or replaces) the route `prefix/len` via `gw` (None: on-link). Ignored if `len > 32`
    /// or the table is full.
    pub fn add_route(&mut self, prefix: Ipv4Addr, len: u8, gw: Option<Ipv4Addr>) {
        self.iface.routes.add(prefix, len, gw);
    }

    /// Removes the route `prefix/len`; returns whether it existed.
    pub fn remove_route(&mut self, prefix: Ipv4Addr, len: u8) -> bool {
        self.iface.routes.remove(prefix, len)
    }

    /// The routing table, for diagnostics.
    pub fn routes(&self) -> Vec<crate::iface::route::Route> {
        self.iface.routes.iter().copied().collect()
    }

    /// The next hop for `dst` (None: no route), for diagnostics.
    pub fn route_lookup(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.iface.routes.next_hop(dst)
    }

    /// The route check of a UDP datagram (or connect) of `h` to `dst` (Linux's
    /// ip_route_output_key_hash): a group with no route covering it (no default route, say)
    /// is ENETUNREACH unless the socket names the device (`UdpStack::names_multicast_device`:
    /// IP_MULTICAST_IF, its own address, IP_PKTINFO's `spec_src`). Unicast is not checked here.
    pub fn udp_route(
        &self,
        h: crate::socket::udp::UdpHandle,
        dst: crate::wire::ip::IpAddress,
        spec_src: Option<crate::wire::ip::IpAddress>,
    ) -> crate::Result<()> {
        if !dst.is_multicast() || self.iface.routes.lookup(dst.as_v4()).is_some() {
            return Ok(());
        }
        if self.udp.names_multicast_device(h, spec_src)? {
            Ok(())
        } else {
            Err(crate::Error::NetUnreachable)
        }
    }

    /// IP_TTL / IP_TOS for the socket of `protocol` (6 or 17; 1 for an ICMP datagram socket,
    /// `local_port` then being its echo identifier) bound to `local_port`: datagrams whose
    /// source port (identifier) is `local_port` carry them. `IpOpts::default()` removes the override.
    pub fn set_ip_opts(&mut self, protocol: u8, local_port: u16, opts: crate::iface::IpOpts) {
        if opts == crate::iface::IpOpts::default() {
            self.iface.ip_opts.remove(&(protocol, local_port));
        } else {
            self.iface.ip_opts.insert((protocol, local_port), opts);
        }
    }

    /// The IP_TTL / IP_TOS override for (`protocol`, `local_port`), if any.
    pub fn ip_opts(&self, protocol: u8, local_port: u16) -> crate::iface::IpOpts {
        self.iface.ip_opts.get(&(protocol, local_port)).copied().unwrap_or_default()
    }

    /// The TTL of datagrams without an override (64 by default, like Linux's ip_default_ttl).
    pub fn default_ttl(&self) -> u8 {
        self.iface.default_ttl
    }

    /// Sets the default TTL (0 is ignored: RFC 1122 3.2.1.7 forbids sending TTL 0).
    pub fn set_default_ttl(&mut self, ttl: u8) {
        if ttl != 0 {
            self.iface.default_ttl = ttl;
        }
    }

    /// Sends a raw IPv4 payload with protocol `proto` to `dst` (tests and tools; sockets use
    /// the TCP and UDP engines).
    pub fn send_ip(&mut self, now: Instant, dst: Ipv4Addr, proto: u8, payload: &[u8]) {
        let src = self.iface.addr;
        self.iface.send_ip(now, src, dst, proto, payload);
    }
}
