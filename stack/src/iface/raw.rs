//! IP input and output of raw sockets (`socket/udp_raw.rs`): the copy of an arriving datagram
//! they read (Linux raw_local_deliver) and the datagrams they write, with the header IP output
//! builds or, with IP_HDRINCL, the application's own (Linux raw_send_hdrinc).
use std::net::Ipv4Addr;

use super::{Interface, LocalDatagram};
use crate::socket::udp::TxRaw;
use crate::socket::udp::UdpStack;
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4::{self, Ipv4Repr};

impl Interface {
    /// Copies a datagram for this host (whole, reassembled) to the raw sockets of its protocol,
    /// its header as a raw socket reads it (total length of the whole, no fragment fields).
    /// Returns whether a raw socket of the protocol is open.
    pub(crate) fn deliver_raw(&mut self, repr: &Ipv4Repr, payload: &[u8], udp: &mut UdpStack) -> bool {
        if !udp.has_raw(repr.protocol) {
            return false;
        }
        let mut header = *repr;
        header.more_frags = false;
        header.frag_offset = 0;
        header.payload_len = payload.len();
        let mut d = vec![0u8; ipv4::HEADER_LEN + payload.len()];
        header.emit(&mut d[..ipv4::HEADER_LEN]);
        d[ipv4::HEADER_LEN..].copy_from_slice(payload);
        let (src, dst) = (repr.src_addr.into(), repr.dst_addr.into());
        udp.raw_input(src, dst, repr.protocol, &d, Some(repr.ttl), Some(repr.dscp_ecn))
    }

    /// IP output of a raw socket's datagram.
    pub(crate) fn send_raw(&mut self, now: Instant, d: &TxRaw) {
        let (src, dst) = (d.src.as_v4(), d.dst.as_v4());
        if !d.hdrincl {
            self.tx_opts = Some(super::IpOpts { ttl: d.ttl, tos: d.tos, mc_ttl: None });
            self.send_ip(now, src, dst, d.protocol, &d.data);
            self.tx_opts = None;
            return;
        }
        // The application's header, completed as Linux's raw_send_hdrinc does: a source for
        // 0.0.0.0, the total length, an identification for 0, the checksum. It is routed to
        // the address it was sent to; a header shorter than 20 bytes leaves as written.
        let mut frame = self.take_buf();
        frame.clear();
        frame.resize(ethernet::HEADER_LEN, 0);
        frame.extend_from_slice(&d.data);
        let ihl = usize::from(d.data[0] & 0x0f) * 4;
        if ihl >= ipv4::HEADER_LEN {
            let id = (d.data[4..6] == [0, 0]).then(|| self.next_ident());
            let p = &mut frame[ethernet::HEADER_LEN..];
            if p[12..16] == [0; 4] {
                p[12..16].copy_from_slice(&src.octets());
            }
            let len = p.len() as u16;
            p[2..4].copy_from_slice(&len.to_be_bytes());
            if let Some(id) = id {
                p[4..6].copy_from_slice(&id.to_be_bytes());
            }
            p[10..12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&p[..ihl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        if self.is_local(dst) {
            let p = &frame[ethernet::HEADER_LEN..];
            let ihl = ihl.max(ipv4::HEADER_LEN).min(p.len());
            let at = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
            let (hsrc, hdst, protocol) = (at(12), at(16), p[9]);
            let payload = p[ihl..].to_vec();
            self.recycle(frame);
            if self.loopback.len() < super::MAX_LOOPBACK_QUEUE {
                self.loopback.push_back(LocalDatagram { src: hsrc, dst: hdst, protocol, payload, partial: false });
            } else {
                self.stats.tx_dropped += 1;
            }
            return;
        }
        if frame.len() - ethernet::HEADER_LEN > self.mtu {
            // Linux fails the send with EMSGSIZE; the datagram never leaves.
            self.stats.ip_too_big += 1;
            self.recycle(frame);
            return;
        }
        let Some((next_hop, known)) = self.next_hop(dst) else {
            self.recycle(frame);
            return;
        };
        match self.resolve(now, next_hop, known) {
            Some(mac) => self.queue_prepared(mac, EtherType::Ipv4, frame, 0),
            None => self.enqueue_for_arp(now, next_hop, frame),
        }
    }
}
