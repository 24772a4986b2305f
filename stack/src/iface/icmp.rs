//! ICMP (RFC 792, RFC 1122 3.2.2): echo, errors received (surfaced to TCP and UDP) and errors
//! generated (rate limited, never about an ICMP error, a broadcast or a non-initial fragment).
use std::net::{Ipv4Addr, SocketAddrV4};

use super::stats::PingReply;
use super::{Interface, MAX_PING_REPLIES};
use crate::socket::errqueue::IcmpReport;
use crate::socket::tcp::TcpStack;
use crate::socket::udp::UdpStack;
use crate::time::Instant;
use crate::wire::ethernet;
use crate::wire::icmpv4::{self, msg_type, unreachable, Icmpv4Repr, Quoted};
use crate::wire::ipv4::{self, protocol, Ipv4Repr};
use crate::wire::WireError;

/// RFC 1812 4.3.2.3: an ICMP error carries as much of the offending datagram as fits in 576 bytes.
const MAX_ERROR_DATAGRAM: usize = 576;

impl Interface {
    pub(crate) fn receive_icmp(
        &mut self,
        now: Instant,
        ip: &Ipv4Repr,
        payload: &[u8],
        tcp: &mut TcpStack,
        udp: &mut UdpStack,
    ) {
        let repr = match icmpv4::Packet::new_checked(payload).and_then(|p| Icmpv4Repr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Checksum) => {
                self.stats.icmp_bad_checksum += 1;
                return;
            }
            Err(WireError::Unsupported) => {
                self.stats.icmp_ignored += 1;
                return;
            }
            Err(_) => {
                self.stats.rx_malformed += 1;
                return;
            }
        };
        match repr {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
                // RFC 1122 3.2.2.6: echo requests to a broadcast address may be ignored (Linux
                // does by default, icmp_echo_ignore_broadcasts).
                if self.is_broadcast(ip.dst_addr) || ip.dst_addr.is_multicast() {
                    self.stats.icmp_ignored += 1;
                    return;
                }
                let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
                self.stats.icmp_echo_answered += 1;
                self.send_ip(now, ip.dst_addr, ip.src_addr, protocol::ICMP, &reply.to_bytes());
            }
            Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                // An ICMP datagram socket with this identifier takes it (else the stack's own ping).
                if udp.echo_reply(ip.src_addr.into(), ip.dst_addr.into(), ip.ttl, payload) {
                    return;
                }
                if udp.has_raw(protocol::ICMP) {
                    return; // a raw ICMP socket read its copy: nothing ignored
                }
                if self.pings.len() >= MAX_PING_REPLIES {
                    self.stats.icmp_ignored += 1;
                    return;
                }
                self.pings.push(PingReply { from: ip.src_addr, ident, seq: seq_no, payload_len: data.len(), at: now });
            }
            Icmpv4Repr::DstUnreachable { code, next_hop_mtu, quoted } => {
                tracing::debug!(target: "tapstack::icmp", from = %ip.src_addr, code, about = %quoted.header.dst_addr, "destination unreachable");
                self.stats.icmp_unreachable_received += 1;
                let (t, info) = (msg_type::DST_UNREACHABLE, next_hop_mtu as u32);
                self.surface_error(now, (ip.src_addr, ip.ttl, ip.dscp_ecn), t, code, info, &quoted, tcp, udp);
            }
            Icmpv4Repr::TimeExceeded { code, quoted } => {
                // A soft error for connections (RFC 1122 4.2.3.9); traceroute's answer.
                self.stats.icmp_time_exceeded_received += 1;
                let from = (ip.src_addr, ip.ttl, ip.dscp_ecn);
                self.surface_error(now, from, msg_type::TIME_EXCEEDED, code, 0, &quoted, tcp, udp);
            }
            Icmpv4Repr::Redirect { gateway, quoted, .. } => self.redirect(ip.src_addr, gateway, &quoted),
        }
    }

    /// RFC 1122 3.2.2.2: a host MUST update its route on a redirect. Accepted only from the
    /// gateway we currently use for the quoted destination, about a datagram we sent, towards a
    /// gateway on our subnet; it installs a host route (RFC 1122 3.3.1.2).
    fn redirect(&mut self, from: Ipv4Addr, gateway: Ipv4Addr, q: &Quoted<'_>) {
        let dst = q.header.dst_addr;
        let current = self.routes.lookup(dst).and_then(|r| r.gateway);
        let on_link = self.routes.lookup(gateway).map(|r| r.gateway.is_none()).unwrap_or(false);
        let sane = current == Some(from)
            && self.is_local(q.header.src_addr)
            && on_link
            && gateway != self.addr
            && !gateway.is_unspecified()
            && !self.is_broadcast(gateway)
            && !gateway.is_multicast();
        if !sane || !self.routes.add(dst, 32, Some(gateway)) {
            self.stats.icmp_ignored += 1;
            return;
        }
        tracing::debug!(target: "tapstack::icmp", %dst, %gateway, "redirect: host route installed");
        self.stats.icmp_redirects_applied += 1;
    }

    /// RFC 1122 3.2.2.1 / 4.2.3.9: hands an ICMP error from `offender` to the transport that
    /// sent the quoted datagram, identified by the quoted addresses and the first 4 bytes
    /// (ports). TCP counts the errors it rejects (`icmp_out_of_window`). `from` is the ICMP
    /// message's IP source (the offender), TTL and TOS (reported with the error).
    #[allow(clippy::too_many_arguments)]
    fn surface_error(
        &mut self,
        now: Instant,
        from: (Ipv4Addr, u8, u8),
        icmp_type: u8,
        code: u8,
        info: u32,
        q: &Quoted<'_>,
        tcp: &mut TcpStack,
        udp: &mut UdpStack,
    ) {
        // Linux's icmp_unreach takes an error only with 8 bytes of the quoted datagram's payload.
        if !self.is_local(q.header.src_addr) || q.data.len() < 8 || q.header.frag_offset != 0 {
            self.stats.icmp_ignored += 1;
            return;
        }
        let sport = u16::from_be_bytes([q.data[0], q.data[1]]);
        let dport = u16::from_be_bytes([q.data[2], q.data[3]]);
        let r = IcmpReport {
            icmp_type,
            icmp_code: code,
            info,
            offender: from.0.into(),
            local: SocketAddrV4::new(q.header.src_addr, sport).into(),
            remote: SocketAddrV4::new(q.header.dst_addr, dport).into(),
            quoted: q.data,
            ttl: from.1,
            tos: from.2,
        };
        // Raw sockets of the quoted protocol hear it first (Linux icmp_socket_deliver).
        _ = udp.raw_error(q.header.protocol, &r);
        match q.header.protocol {
            protocol::TCP => _ = tcp.icmp_error(now, &r),
            protocol::UDP => _ = udp.icmp_error(&r),
            // Our echo request (ICMP datagram sockets): identifier as the port, peer port 0.
            protocol::ICMP if q.data.len() >= 8 && q.data[0] == msg_type::ECHO_REQUEST => {
                let ident = u16::from_be_bytes([q.data[4], q.data[5]]);
                let r = IcmpReport {
                    local: SocketAddrV4::new(q.header.src_addr, ident).into(),
                    remote: SocketAddrV4::new(q.header.dst_addr, 0).into(),
                    ..r
                };
                _ = udp.ping_error(&r)
            }
            _ => self.stats.icmp_ignored += 1,
        }
    }

    /// Reports datagrams ARP could not deliver (each `ethernet::HEADER_LEN` bytes of room, then
    /// the IPv4 datagram) to their sender as a local host unreachable, once per flow: UDP
    /// datagrams, and TCP SYNs (a connect() in SYN-SENT then fails with EHOSTUNREACH). Other TCP
    /// segments are left to TCP's own retransmission timeout.
    pub(crate) fn report_link_failure(
        &mut self,
        now: Instant,
        dropped: &[Vec<u8>],
        tcp: &mut TcpStack,
        udp: &mut UdpStack,
    ) {
        let mut seen: Vec<(u8, [u8; 4])> = Vec::new();
        for d in dropped {
            let Some(bytes) = d.get(ethernet::HEADER_LEN..) else { continue };
            let Ok(p) = ipv4::Packet::new_checked(bytes) else { continue };
            let Ok(header) = Ipv4Repr::parse(&p) else { continue };
            let data = p.payload();
            // TCP flags: SYN without ACK.
            let syn = header.protocol == protocol::TCP && data.len() >= 20 && data[13] & 0x12 == 0x02;
            if !(syn || header.protocol == protocol::UDP) || header.frag_offset != 0 || data.len() < 4 {
                continue;
            }
            let key = (header.protocol, [data[0], data[1], data[2], data[3]]);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            self.stats.arp_failure_reported += 1;
            let (us, t) = (self.addr, msg_type::DST_UNREACHABLE);
            self.surface_error(now, (us, 64, 0xc0), t, unreachable::HOST, 0, &Quoted { header, data }, tcp, udp);
        }
    }

    /// Sends destination unreachable `code` about a datagram we received.
    pub(crate) fn icmp_dst_unreachable(&mut self, now: Instant, orig: &Ipv4Repr, payload: &[u8], code: u8) {
        if !self.may_send_error(now, orig, payload) {
            return;
        }
        let data = &payload[..Self::quote_len(payload)];
        let repr = Icmpv4Repr::DstUnreachable { code, next_hop_mtu: 0, quoted: Quoted { header: *orig, data } };
        self.stats.icmp_unreachable_sent += 1;
        let bytes = repr.to_bytes();
        self.send_ip(now, self.addr, orig.src_addr, protocol::ICMP, &bytes);
    }

    /// Sends "fragment reassembly time exceeded" (code 1) for a datagram whose first fragment
    /// (`header`, first payload bytes `data`) arrived but which never completed.
    pub(crate) fn icmp_time_exceeded(&mut self, now: Instant, header: &Ipv4Repr, data: &[u8]) {
        if !self.may_send_error(now, header, data) {
            return;
        }
        let data = &data[..Self::quote_len(data)];
        let repr = Icmpv4Repr::TimeExceeded { code: 1, quoted: Quoted { header: *header, data } };
        self.stats.icmp_time_exceeded_sent += 1;
        let bytes = repr.to_bytes();
        self.send_ip(now, self.addr, header.src_addr, protocol::ICMP, &bytes);
    }

    /// How much of the offending payload fits after the quoted header (RFC 1812 4.3.2.3). The
    /// quoted header itself is the original, total length included, so the peer can match it.
    fn quote_len(payload: &[u8]) -> usize {
        payload.len().min(MAX_ERROR_DATAGRAM - ipv4::HEADER_LEN - icmpv4::HEADER_LEN - ipv4::HEADER_LEN)
    }

    /// RFC 1122 3.2.2: never about an ICMP error, a datagram to a broadcast or multicast
    /// address, a non-initial fragment, or from a source that is not a single host; and never
    /// faster than the rate limit allows.
    fn may_send_error(&mut self, now: Instant, orig: &Ipv4Repr, payload: &[u8]) -> bool {
        let src = orig.src_addr;
        if self.is_broadcast(orig.dst_addr)
            || orig.dst_addr.is_multicast()
            || orig.frag_offset != 0
            || src.is_unspecified()
            || ipv4::is_multicast_or_broadcast(src)
            || self.is_broadcast(src)
        {
            self.stats.icmp_error_suppressed += 1;
            return false;
        }
        if orig.protocol == protocol::ICMP {
            // Only echo and other informational messages may be answered with an error.
            let informational = payload.first().map(|&t| !msg_type::is_error(t)).unwrap_or(false);
            if !informational {
                self.stats.icmp_error_suppressed += 1;
                return false;
            }
        }
        if !self.icmp_limiter.take(now) {
            self.stats.icmp_rate_limited += 1;
            return false;
        }
        true
    }

    /// Sends an ICMP echo request (the stack's own ping).
    pub fn send_echo_request(&mut self, now: Instant, dst: Ipv4Addr, ident: u16, seq_no: u16, data: &[u8]) {
        let max = ipv4::MAX_DATAGRAM - ipv4::HEADER_LEN - icmpv4::HEADER_LEN;
        let repr = Icmpv4Repr::EchoRequest { ident, seq_no, data: &data[..data.len().min(max)] };
        self.stats.icmp_echo_sent += 1;
        let bytes = repr.to_bytes();
        self.send_ip(now, self.addr, dst, protocol::ICMP, &bytes);
    }
}
