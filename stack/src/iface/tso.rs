//! IP output of TCP super-segments (TSO, `Stack::set_tso`): whole to a device that cuts them,
//! cut here where it cannot, and the zero-copy form whose payload stays in TCP's send ring
//! until the device has written it (`send_tcp_parts`).
use std::net::Ipv4Addr;

use super::{Interface, TX_HEADROOM};
use crate::phy::Device;
use crate::time::Instant;
use crate::wire::ethernet::{self, EtherType, EthernetRepr};
use crate::wire::{ipv4, tcp_gso};

impl Interface {
    /// True if a TCP super-segment to `dst` (not ours) can go to the device whole (TSO): the
    /// device cuts it, and the next hop's address is known (a frame waiting for ARP is a
    /// datagram of the wire's size).
    pub(super) fn offloads_to(&self, now: Instant, dst: Ipv4Addr) -> bool {
        self.tso
            && !dst.is_unspecified()
            && !dst.is_multicast()
            && !self.is_broadcast(dst)
            && self.routes.next_hop(dst).is_some_and(|h| self.arp.lookup(now, h).is_some())
    }

    /// Sends TCP super-segment `frame` (behind `TX_HEADROOM`) as the segments of `gso` bytes
    /// of payload the device would have cut it into (`wire::tcp_gso`).
    pub(super) fn send_split(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr, frame: Vec<u8>, gso: u16) {
        let partial = self.tx_tcp_partial;
        let mut scratch = self.take_buf();
        let mut pieces = Vec::new();
        let r = tcp_gso::split_segment(&frame[TX_HEADROOM..], gso.into(), src, dst, partial, &mut scratch, &mut |s| {
            pieces.push(s.to_vec())
        });
        self.recycle(scratch);
        self.recycle(frame);
        if r.is_err() {
            self.stats.tx_dropped += 1;
            return;
        }
        self.stats.tso_split += 1;
        for p in pieces {
            let mut f = self.take_buf();
            f.resize(TX_HEADROOM, 0);
            f.extend_from_slice(&p);
            self.send_ip_frame(now, src, dst, ipv4::protocol::TCP, f, 0);
        }
    }

    /// The IP idents of a super-segment's segments (Linux ip_select_ident_segs): the device
    /// numbers them from the one just taken on, so the next datagram's follows the last.
    pub(super) fn tso_idents(&mut self, tcp: &[u8], payload_len: usize, gso: u16) {
        let hl = usize::from(tcp.get(12).copied().unwrap_or(0x50) >> 4) * 4;
        let segs = payload_len.saturating_sub(hl).div_ceil(usize::from(gso)).max(1);
        self.ident = self.ident.wrapping_add(segs as u16 - 1);
        self.stats.tso_out += 1;
    }

    /// IP output of a TCP super-segment whose header is at `head[TX_HEADROOM..]` and whose
    /// payload is `parts` (TCP's send ring, borrowed): when it can go to the device whole, the
    /// Ethernet and IP headers are written in front of the TCP header, the frames queued before
    /// it are handed to `dev` first (order kept), and the device writes header and payload in
    /// one gathered write (`Device::transmit_gso_parts`): the payload is copied once, by the
    /// kernel, instead of into a frame first. Otherwise the segment is assembled and takes the
    /// usual path (`send_ip_frame`). `head` stays the caller's.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_tcp_parts(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        head: &mut [u8],
        parts: &[&[u8]],
        gso: u16,
        dev: &mut dyn Device,
    ) {
        let len = head.len() - TX_HEADROOM + parts.iter().map(|p| p.len()).sum::<usize>();
        let hop = self.routes.next_hop(dst);
        let mac = match hop {
            Some(h) if gso > 0 && !src.is_unspecified() && !self.is_local(dst) && self.offloads_to(now, dst) => {
                self.arp.lookup_for_send(now, h).map(|(mac, refresh)| (h, mac, refresh))
            }
            _ => None,
        };
        let Some((hop, mac, refresh)) = mac else {
            let mut f = self.take_buf();
            f.reserve(TX_HEADROOM + len);
            f.extend_from_slice(head);
            for p in parts {
                f.extend_from_slice(p);
            }
            self.send_ip_frame(now, src, dst, ipv4::protocol::TCP, f, gso);
            return;
        };
        if refresh {
            self.send_arp_request_to(hop, mac);
        }
        let mut repr = self.ip_repr(src, dst, ipv4::protocol::TCP, &head[TX_HEADROOM..], len);
        repr.dont_frag = true;
        repr.ident = self.next_ident();
        self.tso_idents(&head[TX_HEADROOM..], len, gso);
        repr.emit(&mut head[ethernet::HEADER_LEN..TX_HEADROOM]);
        let eth = EthernetRepr { src_addr: self.mac, dst_addr: mac, ethertype: EtherType::Ipv4 };
        eth.emit(&mut ethernet::Frame::new_unchecked(&mut head[..]));
        self.flush_tx(now, dev);
        dev.transmit_gso_parts(now, head, parts, gso);
        self.stats.tx_frames += 1;
    }
}
