//! `Stack`: one host. Ethernet/ARP/IPv4/ICMP (`iface`) plus the TCP and UDP engines.
//! CONTRACT for the runtime, the shim and tests; the foundation owner fills it in.
use std::net::Ipv4Addr;

use crate::config::Config;
use crate::phy::Device;
use crate::socket::tcp::TcpStack;
use crate::socket::udp::UdpStack;
use crate::time::Instant;

/// An ICMP echo reply received for a ping the stack sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingReply {
    pub from: Ipv4Addr,
    pub ident: u16,
    pub seq: u16,
    pub payload_len: usize,
    pub at: Instant,
}

/// Counters: every dropped frame or packet is counted under its reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    pub rx_not_for_us: u64,
    pub rx_malformed: u64,
    pub arp_requests_answered: u64,
    pub arp_resolution_failed: u64,
    pub ip_bad_checksum: u64,
    pub ip_not_for_us: u64,
    pub ip_unknown_protocol: u64,
    pub ip_fragments_in: u64,
    pub ip_reassembled: u64,
    pub ip_reassembly_dropped: u64,
    pub ip_fragments_out: u64,
    pub icmp_echo_answered: u64,
    pub icmp_unreachable_sent: u64,
    pub icmp_unreachable_received: u64,
    pub no_route: u64,
}

pub struct Stack {
    pub tcp: TcpStack,
    pub udp: UdpStack,
}

#[allow(unused_variables)]
impl Stack {
    /// A stack with the addresses, MAC and MTU of `config`; `seed` feeds ISN secret and ports.
    pub fn new(config: &Config, seed: u64) -> Stack {
        todo!()
    }
    /// Processes one received Ethernet frame (answers are queued, sent by `poll`).
    pub fn receive_frame(&mut self, now: Instant, frame: &[u8]) {
        todo!()
    }
    /// Receives every frame waiting on `dev`, runs timers (ARP, reassembly, TCP), dispatches
    /// socket output and transmits. Returns when it next needs to run absent input.
    pub fn poll(&mut self, now: Instant, dev: &mut dyn Device) -> Option<Instant> {
        todo!()
    }
    /// The next deadline without doing any work.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        todo!()
    }
    /// Queues an ICMP echo request (resolving the next hop with ARP as needed).
    pub fn ping(&mut self, now: Instant, dst: Ipv4Addr, ident: u16, seq: u16, payload: &[u8]) {
        todo!()
    }
    /// Echo replies received since the last call.
    pub fn take_ping_replies(&mut self) -> Vec<PingReply> {
        todo!()
    }
    pub fn stats(&self) -> &Stats {
        todo!()
    }
    /// The interface address.
    pub fn addr(&self) -> Ipv4Addr {
        todo!()
    }
    /// ARP cache lookup (for tests and diagnostics).
    pub fn arp_lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<[u8; 6]> {
        todo!()
    }
}
