//! What the interface reports: counters of every frame and packet, dropped ones under their
//! reason, and the ICMP echo replies to the stack's own pings.
use std::net::Ipv4Addr;

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
    /// Ethernet destination neither our MAC nor broadcast.
    pub rx_not_for_us: u64,
    /// Truncated or inconsistent frames and packets at any layer.
    pub rx_malformed: u64,
    /// EtherType other than IPv4 and ARP.
    pub rx_unknown_ethertype: u64,
    pub arp_requests_answered: u64,
    pub arp_requests_sent: u64,
    /// Next hops whose ARP resolution timed out.
    pub arp_resolution_failed: u64,
    /// Datagrams dropped while waiting for ARP (timeout or full queue).
    pub arp_queue_dropped: u64,
    /// Flows told "host unreachable" because ARP gave up on their next hop.
    pub arp_failure_reported: u64,
    /// ARP packets for other hardware/protocol types or operations.
    pub arp_unsupported: u64,
    /// ARP packets neither for us nor refreshing a known neighbour.
    pub arp_ignored: u64,
    /// ARP packets from another host claiming our address.
    pub arp_conflict: u64,
    pub ip_bad_checksum: u64,
    /// Source address broadcast, multicast or loopback (RFC 1122 3.2.1.3).
    pub ip_bad_src: u64,
    pub ip_not_for_us: u64,
    pub ip_unknown_protocol: u64,
    pub ip_fragments_in: u64,
    pub ip_reassembled: u64,
    /// Datagrams given up during reassembly (overlap, invalid, timeout, eviction).
    pub ip_reassembly_dropped: u64,
    pub ip_reassembly_overlap: u64,
    pub ip_reassembly_timeout: u64,
    pub ip_reassembly_evicted: u64,
    /// Single fragments discarded (duplicates, invalid, part of a dropped datagram).
    pub ip_fragments_discarded: u64,
    pub ip_fragments_out: u64,
    /// Outgoing datagrams over 65535 bytes.
    pub ip_too_big: u64,
    pub icmp_echo_answered: u64,
    pub icmp_echo_sent: u64,
    pub icmp_bad_checksum: u64,
    /// ICMP messages of unsupported types or not matching anything of ours.
    pub icmp_ignored: u64,
    pub icmp_unreachable_sent: u64,
    pub icmp_unreachable_received: u64,
    pub icmp_time_exceeded_sent: u64,
    pub icmp_time_exceeded_received: u64,
    /// ICMP redirects that installed a host route.
    pub icmp_redirects_applied: u64,
    /// ICMP errors not sent because RFC 1122 3.2.2 forbids them.
    pub icmp_error_suppressed: u64,
    pub icmp_rate_limited: u64,
    /// UDP datagrams to a port with no socket (answered with port unreachable).
    pub udp_no_socket: u64,
    pub no_route: u64,
    /// Frames or local datagrams dropped because a queue was full.
    pub tx_dropped: u64,
    /// Datagrams to our own addresses (127.0.0.0/8, the interface address) delivered through
    /// the loopback queue, never the device.
    pub loopback_delivered: u64,
    /// IGMP messages received and parsed, malformed ones dropped, and sent (`iface/igmp.rs`).
    pub igmp_in: u64,
    pub igmp_bad: u64,
    pub igmp_sent: u64,
    /// TCP super-segments sent whole (TSO: to the device, or to ourselves), and those cut
    /// here instead (next hop not resolved, a device without the offload; `Stack::set_tso`).
    pub tso_out: u64,
    pub tso_split: u64,
}
