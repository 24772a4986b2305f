//! UDP input (Linux __udp4_lib_rcv): the demux of an arriving datagram to the socket(s) that
//! take it (compute_score; broadcasts and groups to every listener), the bounded receive
//! queues (drops counted, Linux's rcvbuf accounting) and recvfrom().
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::{Datagram, RecvMeta, Socket, UdpHandle, UdpStack, DATAGRAM_OVERHEAD};
use crate::error::{Error, Result};
use crate::time::Instant;
use crate::wire::udp as wire;

impl Socket {
    /// Demux score (Linux's compute_score): None if the socket does not accept the datagram.
    pub(super) fn score(&self, src: IpEndpoint, dst: IpEndpoint) -> Option<u8> {
        if self.local.port() != dst.port() {
            return None;
        }
        let mut score = 0;
        let la = *self.local.ip();
        if !la.is_unspecified() {
            // Exact match, broadcasts included (Linux __udp_is_mcast_sock).
            if la != *dst.ip() {
                return None;
            }
            score += 2;
        }
        if let Some(r) = self.remote {
            if r != src {
                return None;
            }
            score += 4;
        }
        Some(score)
    }
}

impl UdpStack {
    /// Input: one UDP datagram (IPv4 payload). Returns false if no socket is bound to the
    /// destination port, so the caller answers ICMP port unreachable.
    pub fn process(&mut self, now: Instant, src: IpAddress, dst: IpAddress, datagram: &[u8]) -> bool {
        self.process_ip(now, src, dst, datagram, None, None)
    }

    /// `process` with the IP header's TTL and TOS (IP_RECVTTL, IP_RECVTOS).
    pub fn process_ip(
        &mut self,
        now: Instant,
        src: IpAddress,
        dst: IpAddress,
        datagram: &[u8],
        ttl: Option<u8>,
        tos: Option<u8>,
    ) -> bool {
        let _ = now;
        if dst.is_multicast() && !self.host_allows(src, dst) {
            // Not for this host: no member takes this source (Linux's ip_check_mc_rcu).
            return true;
        }
        let packet = match wire::Packet::new_checked(datagram) {
            Ok(p) => p,
            Err(_) => {
                self.stats.in_errors += 1;
                return true;
            }
        };
        let repr = match wire::Repr::parse(&packet, src, dst) {
            Ok(r) => r,
            Err(e) => {
                self.stats.in_errors += 1;
                if e == crate::wire::WireError::Checksum {
                    self.stats.in_csum_errors += 1;
                }
                return true; // malformed: dropped silently, never an ICMP error
            }
        };
        let from = IpEndpoint::new(src, repr.src_port);
        let to = IpEndpoint::new(dst, repr.dst_port);
        let bcast = self.is_broadcast(dst) || dst.is_multicast();
        let targets: Vec<u32> = if bcast {
            // Broadcasts go to every matching socket (RFC 1122 4.1.3.5 leaves it open; Linux
            // does this); a group's datagrams to those that may hear it (Linux ip_mc_sf_allow).
            self.sockets_on(to.port())
                .filter(|(_, s)| s.score(from, to).is_some() && s.hears(src, dst))
                .map(|(h, _)| h)
                .collect()
        } else {
            let best = self
                .sockets_on(to.port())
                .filter_map(|(h, s)| s.score(from, to).map(|sc| (sc, s.bind_seq, h)))
                .max_by_key(|&(sc, seq, _)| (sc, seq))
                .map(|(sc, _, h)| (sc, h));
            best.map(|(_, h)| vec![h]).unwrap_or_default()
        };
        if targets.is_empty() {
            self.stats.no_ports += 1;
            // RFC 1122 4.1.3.1: no ICMP error for broadcast or multicast destinations.
            return bcast;
        }
        self.queue_rx(&targets, from, dst, packet.payload(), ttl, tos);
        true
    }

    /// Queues one received datagram on each of `targets` (drops counted when a queue is full).
    pub(super) fn queue_rx(
        &mut self,
        targets: &[u32],
        from: IpEndpoint,
        dst: IpAddress,
        payload: &[u8],
        ttl: Option<u8>,
        tos: Option<u8>,
    ) {
        for &h in targets {
            let s = self.sockets.get_mut(&h).expect("target exists");
            let cost = payload.len() + DATAGRAM_OVERHEAD;
            if s.rx_bytes + cost > s.rx_limit && !s.rx.is_empty() {
                self.stats.rcvbuf_errors += 1;
                continue;
            }
            s.rx_bytes += cost;
            s.rx.push_back(Datagram { from, data: payload.to_vec(), ttl, dst, tos });
            // (A raw socket's copy is not a UDP datagram.)
            self.stats.in_datagrams += u64::from(s.raw.is_none());
            self.changed.insert(h);
        }
    }

    /// recvfrom(): WouldBlock if the queue is empty; a pending error (ECONNREFUSED) first.
    pub fn recv_from(&mut self, h: UdpHandle, buf: &mut [u8], peek: bool) -> Result<RecvMeta> {
        let s = self.get_mut(h)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let d = s.rx.front().ok_or(Error::WouldBlock)?;
        let copied = d.data.len().min(buf.len());
        buf[..copied].copy_from_slice(&d.data[..copied]);
        let ttl = d.ttl.filter(|_| s.recv_ttl);
        let meta = RecvMeta { copied, len: d.data.len(), from: d.from, ttl, dst: d.dst, tos: d.tos };
        if !peek {
            let d = s.rx.pop_front().expect("front exists");
            s.rx_bytes = s.rx_bytes.saturating_sub(d.data.len() + DATAGRAM_OVERHEAD);
        }
        Ok(meta)
    }
}
