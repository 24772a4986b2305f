//! Input: Ethernet II demux, ARP (RFC 826 packet reception), IPv4 validation and filtering
//! (RFC 791, RFC 1122 3.2.1), reassembly and transport demux.
use std::net::Ipv4Addr;

use super::Interface;
use crate::socket::tcp::TcpStack;
use crate::socket::udp::UdpStack;
use crate::time::Instant;
use crate::wire::arp::{self, ArpRepr, Operation};
use crate::wire::ethernet::{self, EtherType, Frame};
use crate::wire::icmpv4::unreachable;
use crate::wire::ipv4::{self, protocol, Ipv4Repr};
use crate::wire::WireError;

impl Interface {
    /// Processes one received Ethernet frame; answers are queued in `self.tx`.
    pub fn receive_frame(&mut self, now: Instant, frame: &[u8], tcp: &mut TcpStack, udp: &mut UdpStack) {
        self.receive_frame_offloaded(now, frame, false, tcp, udp);
    }

    /// `receive_frame` of a frame whose transport checksum the device vouches for
    /// (`Device::rx_checksum_ok`): TCP does not verify it again.
    pub fn receive_frame_offloaded(
        &mut self,
        now: Instant,
        frame: &[u8],
        checksum_ok: bool,
        tcp: &mut TcpStack,
        udp: &mut UdpStack,
    ) {
        self.rx_checksum_ok = checksum_ok;
        self.receive_ethernet(now, frame, tcp, udp);
        self.rx_checksum_ok = false;
    }

    fn receive_ethernet(&mut self, now: Instant, frame: &[u8], tcp: &mut TcpStack, udp: &mut UdpStack) {
        self.stats.rx_frames += 1;
        let f = match Frame::new_checked(frame) {
            Ok(f) => f,
            Err(_) => {
                self.stats.rx_malformed += 1;
                return;
            }
        };
        let dst = f.dst_addr();
        let group = dst != self.mac && dst != ethernet::BROADCAST;
        if group && !self.accepts_group_mac(&dst, udp) {
            self.stats.rx_not_for_us += 1;
            return;
        }
        if !ethernet::is_unicast(&f.src_addr()) {
            // RFC 1812 / 802.3: a group address is never a valid source.
            self.stats.rx_malformed += 1;
            return;
        }
        match f.ethertype() {
            EtherType::Arp => self.receive_arp(now, f.payload()),
            EtherType::Ipv4 => self.receive_ipv4(now, f.payload(), dst == ethernet::BROADCAST || group, tcp, udp),
            EtherType::Unknown(_) => self.stats.rx_unknown_ethertype += 1,
        }
    }

    /// RFC 826 "Packet Reception", with the merge rule: an existing entry for the sender is
    /// updated whatever the target; a new entry is created only if we are the target. So a
    /// gratuitous ARP refreshes a neighbour we know and never adds one.
    fn receive_arp(&mut self, now: Instant, payload: &[u8]) {
        let repr = match arp::Packet::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Unsupported) => {
                self.stats.arp_unsupported += 1;
                return;
            }
            Err(_) => {
                self.stats.rx_malformed += 1;
                return;
            }
        };
        let spa = repr.source_protocol_addr;
        let sha = repr.source_hardware_addr;
        let for_us = repr.target_protocol_addr == self.addr;
        if spa == self.addr {
            // Someone else claims our address (or our own frame looped back).
            tracing::debug!(target: "tapstack::arp", mac = %ethernet::fmt_mac(&sha), "another host claims our address");
            self.stats.arp_conflict += 1;
            return;
        }
        // Never learn nonsense: group or our own MAC, unspecified or broadcast senders (RFC 5227
        // probes have sender 0.0.0.0 and are answered but not learned).
        let learnable = ethernet::is_unicast(&sha)
            && sha != self.mac
            && !spa.is_unspecified()
            && !ipv4::is_multicast_or_broadcast(spa)
            && !self.is_broadcast(spa);
        let merged = learnable && self.arp.update_existing(now, spa, sha);
        if !for_us {
            if !merged {
                self.stats.arp_ignored += 1;
            }
            return;
        }
        if learnable && !merged {
            tracing::trace!(target: "tapstack::arp", ip = %spa, mac = %ethernet::fmt_mac(&sha), "learned");
            // `learned` also sends the datagrams that were waiting for this neighbour.
            self.learned(now, spa, sha);
        }
        if repr.operation == Operation::Request && ethernet::is_unicast(&sha) && sha != self.mac {
            let reply = ArpRepr {
                operation: Operation::Reply,
                source_hardware_addr: self.mac,
                source_protocol_addr: self.addr,
                target_hardware_addr: sha,
                target_protocol_addr: spa,
            };
            self.stats.arp_requests_answered += 1;
            self.queue_frame(sha, EtherType::Arp, &reply.to_bytes());
        } else if repr.operation == Operation::Request {
            self.stats.arp_ignored += 1;
        }
    }

    /// IPv4 input (RFC 1122 3.2.1): validates, filters by destination, reassembles, demuxes.
    fn receive_ipv4(
        &mut self,
        now: Instant,
        payload: &[u8],
        link_broadcast: bool,
        tcp: &mut TcpStack,
        udp: &mut UdpStack,
    ) {
        let packet = match ipv4::Packet::new_checked(payload) {
            Ok(p) => p,
            Err(_) => {
                self.stats.rx_malformed += 1;
                return;
            }
        };
        let repr = match Ipv4Repr::parse(&packet) {
            Ok(r) => r,
            Err(WireError::Checksum) => {
                self.stats.ip_bad_checksum += 1;
                return;
            }
            Err(_) => {
                self.stats.rx_malformed += 1;
                return;
            }
        };
        // RFC 1122 3.2.1.3: silently discard datagrams from a source that is not one host.
        let src = repr.src_addr;
        if ipv4::is_multicast_or_broadcast(src) || self.is_broadcast(src) || src.is_loopback() {
            self.stats.ip_bad_src += 1;
            return;
        }
        let dst = repr.dst_addr;
        // RFC 1112 6.2: a group's datagrams only while this host belongs to it.
        let ours = dst == self.addr || self.is_broadcast(dst) || (dst.is_multicast() && udp.host_joined(dst.into()));
        // RFC 1122 3.3.6: a unicast datagram in a link-layer broadcast (or multicast) is
        // discarded too.
        if !ours || (link_broadcast && dst == self.addr) {
            self.stats.ip_not_for_us += 1;
            return;
        }
        // RFC 1122 3.2.1.7: a host must not discard a datagram only because its TTL is below 2.
        if repr.more_frags || repr.frag_offset != 0 {
            self.stats.ip_fragments_in += 1;
            // The device vouched for this fragment only, not for the datagram it completes.
            self.rx_checksum_ok = false;
            let whole = self.reasm.add(now, &repr, packet.payload(), &mut self.stats);
            if let Some((header, data)) = whole {
                self.deliver(now, &header, &data, tcp, udp);
            }
            return;
        }
        self.deliver(now, &repr, packet.payload(), tcp, udp);
    }

    /// Transport demux (protocol 1, 2, 6, 17, and raw sockets) of a whole datagram addressed to us.
    pub(crate) fn deliver(
        &mut self,
        now: Instant,
        repr: &Ipv4Repr,
        payload: &[u8],
        tcp: &mut TcpStack,
        udp: &mut UdpStack,
    ) {
        // Raw sockets read their copies first (Linux ip_local_deliver_finish).
        let raw = self.deliver_raw(repr, payload, udp);
        match repr.protocol {
            protocol::ICMP => self.receive_icmp(now, repr, payload, tcp, udp),
            protocol::TCP => {
                // TCP never uses broadcast or multicast (RFC 1122 4.2.3.10).
                if self.is_broadcast(repr.dst_addr) || repr.dst_addr.is_multicast() {
                    self.stats.ip_not_for_us += 1;
                    return;
                }
                let (src, dst) = (repr.src_addr.into(), repr.dst_addr.into());
                tcp.process_offloaded(now, src, dst, payload, self.rx_checksum_ok);
            }
            protocol::IGMP => self.receive_igmp(now, repr, payload, udp),
            protocol::UDP => {
                let (ttl, tos) = (Some(repr.ttl), Some(repr.dscp_ecn));
                if !udp.process_ip(now, repr.src_addr.into(), repr.dst_addr.into(), payload, ttl, tos) {
                    self.stats.udp_no_socket += 1;
                    self.icmp_dst_unreachable(now, repr, payload, unreachable::PORT);
                }
            }
            // A protocol only a raw socket speaks is no error.
            _ if raw => {}
            _ => {
                self.stats.ip_unknown_protocol += 1;
                self.icmp_dst_unreachable(now, repr, payload, unreachable::PROTOCOL);
            }
        }
    }

    /// Delivers the datagrams we sent to ourselves (at most `limit`); returns how many.
    pub fn deliver_loopback(&mut self, now: Instant, tcp: &mut TcpStack, udp: &mut UdpStack, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            let Some(d) = self.loopback.pop_front() else { break };
            let repr = Ipv4Repr::new(d.src, d.dst, d.protocol, d.payload.len(), 0);
            self.rx_checksum_ok = d.partial;
            self.deliver(now, &repr, &d.payload, tcp, udp);
            self.rx_checksum_ok = false;
            self.stats.loopback_delivered += 1;
            n += 1;
        }
        n
    }

    /// For tests and diagnostics: is `a` one of the addresses we accept datagrams for?
    pub fn accepts(&self, a: Ipv4Addr) -> bool {
        a == self.addr || self.is_broadcast(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::fragment::fragment;
    use crate::socket::tcp::TcpConfig;
    use crate::wire::tcp::{flags, TcpPacket, TcpRepr};

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// The Ethernet frames of a SYN from PEER to a closed port of US whose TCP checksum is
    /// wrong (as a partial sum left by the kernel looks), cut into fragments of `mtu`.
    fn bad_syn_frames(mtu: usize) -> Vec<Vec<u8>> {
        let r = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 1000,
            flags: flags::SYN,
            window: 65535,
            ..TcpRepr::default()
        };
        let mut seg = vec![0u8; r.buffer_len()];
        r.emit(&mut seg, PEER, US);
        seg[16] ^= 0xff;
        let ip = Ipv4Repr::new(PEER, US, protocol::TCP, seg.len(), 7);
        let mut frames = Vec::new();
        fragment(&ip, &seg, mtu, 14, &mut |mut f| {
            f[..6].copy_from_slice(&MAC);
            f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            frames.push(f);
        })
        .unwrap();
        frames
    }

    #[test]
    fn the_device_vouches_for_a_frame_never_for_a_reassembled_datagram() {
        let mut iface = Interface::new(MAC, US, 24, None, 1500, 1);
        let mut tcp = TcpStack::new(TcpConfig::new(US.into(), 1500));
        let mut udp = UdpStack::new(US.into(), 1);
        let now = Instant::from_secs(1);
        for f in bad_syn_frames(28) {
            iface.receive_frame_offloaded(now, &f, true, &mut tcp, &mut udp);
        }
        assert_eq!(tcp.stats().rx_bad_checksum, 1, "the reassembled segment was verified");
        let whole = bad_syn_frames(1500);
        assert_eq!(whole.len(), 1);
        iface.receive_frame(now, &whole[0], &mut tcp, &mut udp);
        assert_eq!(tcp.stats().rx_bad_checksum, 2, "no device word: verified");
        iface.receive_frame_offloaded(now, &whole[0], true, &mut tcp, &mut udp);
        assert_eq!(tcp.stats().rx_bad_checksum, 2, "vouched for: not verified");
        assert_eq!(tcp.stats().rx_no_socket, 1, "and processed (a SYN to a closed port)");
        assert!(!iface.rx_checksum_ok, "the device's word holds for one frame only");
    }

    #[test]
    fn partial_tcp_sums_are_trusted_on_the_loopback_and_finished_before_fragmenting() {
        let mut iface = Interface::new(MAC, US, 24, None, 1500, 1);
        iface.tx_tcp_partial = true;
        let mut tcp = TcpStack::new(TcpConfig::new(US.into(), 1500));
        let mut udp = UdpStack::new(US.into(), 1);
        let now = Instant::from_secs(1);
        let partial_seg = |src: Ipv4Addr, dst: Ipv4Addr, payload: &'static [u8]| {
            let r =
                TcpRepr { src_port: 40000, dst_port: 80, seq: 1000, flags: flags::SYN, payload, ..TcpRepr::default() };
            let mut seg = vec![0u8; r.buffer_len()];
            r.emit(&mut seg, src, dst);
            TcpPacket::new_unchecked(&mut seg[..]).fill_partial_checksum(src, dst);
            seg
        };
        // A SYN to ourselves with only its pseudo-header sum: over the loopback, trusted.
        iface.send_ip(now, US, US, protocol::TCP, &partial_seg(US, US, b""));
        iface.deliver_loopback(now, &mut tcp, &mut udp, 8);
        assert_eq!((tcp.stats().rx_bad_checksum, tcp.stats().rx_no_socket), (0, 1));
        // Too big for the link (no DF then): the fragments carry the whole checksum.
        iface.learned(now, PEER, [2, 0, 0, 0, 0, 1]);
        static BIG: [u8; 3000] = [7; 3000];
        iface.send_ip(now, US, PEER, protocol::TCP, &partial_seg(US, PEER, &BIG));
        let frames: Vec<Vec<u8>> = iface.tx.drain(..).map(|f| f.buf).collect();
        assert!(frames.len() >= 3, "fragmented: {} frames", frames.len());
        let mut whole = vec![0u8; 20 + 3000];
        for f in &frames {
            let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
            let off = ip.frag_offset() as usize;
            whole[off..off + ip.payload().len()].copy_from_slice(ip.payload());
        }
        let pkt = TcpPacket::new_checked(&whole[..]).unwrap();
        assert!(pkt.verify_checksum(US, PEER), "finished before cutting");
    }
}
