//! ICMP datagram sockets, socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), as Linux's net/ipv4/ping.c:
//! what `ping` opens first. They live in the UDP engine (same calls, queues, readiness and
//! error queue) in their own identifier space: a ping socket's port is its echo identifier.
//! The application writes an ICMP echo request (type 8, code 0, at least the 8-byte header);
//! the identifier is replaced by the socket's and the checksum computed. Echo replies carrying
//! that identifier are read back whole (ICMP header + data) from (source, port 0).
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::{Datagram, Socket, TxDatagram, UdpHandle, UdpStack, DATAGRAM_OVERHEAD};
use crate::error::{Error, Result};
use crate::socket::errqueue::{IcmpReport, SockError};
use crate::time::Instant;
use crate::wire::checksum;

/// Largest ICMP message: 65535 - 20 (IP header), like Linux's ping_common_sendmsg.
const MAX_ICMP: usize = 65_515;

impl UdpStack {
    /// A new ICMP datagram socket.
    pub fn ping_socket(&mut self) -> UdpHandle {
        let h = self.socket();
        if let Some(s) = self.sockets.get_mut(&h.0) {
            s.ping = true;
        }
        h
    }

    /// IP_RECVTTL: `recv_from` reports the TTL of echo replies (ICMP datagram sockets).
    pub fn set_recv_ttl(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        self.get_mut(h)?.recv_ttl = on;
        Ok(())
    }

    /// Whether IP_RECVTTL is on (the error queue reports the ICMP error's TTL then).
    pub fn recv_ttl(&self, h: UdpHandle) -> bool {
        self.get(h).is_ok_and(|s| s.recv_ttl)
    }

    /// True for an ICMP datagram socket.
    pub fn is_ping(&self, h: UdpHandle) -> bool {
        self.sockets.get(&h.0).is_some_and(|s| s.ping)
    }

    /// sendto() on a ping socket: EINVAL unless `data` is an echo request header (+ data),
    /// EMSGSIZE over 65515 bytes, EACCES to a broadcast without SO_BROADCAST.
    pub(super) fn ping_send(&mut self, h: UdpHandle, data: &[u8], dst: Option<IpEndpoint>) -> Result<usize> {
        let s = self.get(h)?;
        let Some(dst) = dst.or(s.remote) else { return Err(Error::NotConnected) };
        if data.len() < 8 || data[0] != 8 || data[1] != 0 {
            return Err(Error::InvalidInput);
        }
        if data.len() > MAX_ICMP {
            return Err(Error::MessageTooLong);
        }
        if self.is_broadcast(*dst.ip()) && !s.broadcast {
            return Err(Error::PermissionDenied);
        }
        if s.tx_bytes >= s.tx_limit {
            return Err(Error::WouldBlock);
        }
        self.autobind(h)?;
        let s = self.get_mut(h)?;
        let ident = s.local.port();
        let mut m = data.to_vec();
        m[4..6].copy_from_slice(&ident.to_be_bytes());
        m[2..4].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        s.tx_bytes += m.len();
        let src = match *s.local.ip() {
            a if a.is_unspecified() || a.is_broadcast() || a.is_multicast() => self.local_addr,
            a => a,
        };
        let dst_ip = if dst.ip().is_unspecified() { self.local_addr } else { *dst.ip() };
        self.tx_icmp.push_back(TxDatagram { handle: h.0, src, dst: dst_ip, datagram: m });
        Ok(data.len())
    }

    /// Output of ping sockets: every queued echo request as `emit(src, dst, icmp_message)`.
    pub fn dispatch_icmp(&mut self, now: Instant, emit: &mut dyn FnMut(IpAddress, IpAddress, &[u8])) {
        let _ = now;
        while let Some(d) = self.tx_icmp.pop_front() {
            emit(d.src, d.dst, &d.datagram);
            if let Some(s) = self.sockets.get_mut(&d.handle) {
                let was_writable = s.tx_bytes < s.tx_limit;
                s.tx_bytes = s.tx_bytes.saturating_sub(d.datagram.len());
                if !was_writable {
                    self.changed.insert(d.handle);
                }
            }
        }
    }

    /// The ping socket for echo identifier `ident` and the peer `remote` (port 0), if any.
    fn ping_target(&self, local: IpEndpoint, remote: IpEndpoint) -> Option<u32> {
        self.sockets_of(local.port(), true)
            .filter_map(|(h, s)| ping_score(s, remote, local).map(|sc| (sc, s.bind_seq, h)))
            .max_by_key(|&(sc, seq, _)| (sc, seq))
            .map(|(_, _, h)| h)
    }

    /// An echo reply (`icmp`: the whole ICMP message, checksum verified) from `src` to `dst`:
    /// queued on the ping socket whose identifier it carries. False if there is none.
    pub fn echo_reply(&mut self, src: IpAddress, dst: IpAddress, ttl: u8, icmp: &[u8]) -> bool {
        if icmp.len() < 8 {
            return false;
        }
        let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
        let from = IpEndpoint::new(src, 0);
        let Some(h) = self.ping_target(IpEndpoint::new(dst, ident), from) else { return false };
        let s = self.sockets.get_mut(&h).expect("indexed socket exists");
        let cost = icmp.len() + DATAGRAM_OVERHEAD;
        if s.rx_bytes + cost > s.rx_limit && !s.rx.is_empty() {
            self.stats.rcvbuf_errors += 1;
            return true;
        }
        s.rx_bytes += cost;
        s.rx.push_back(Datagram { from, data: icmp.to_vec(), ttl: Some(ttl), dst, tos: None });
        self.changed.insert(h);
        true
    }

    /// An ICMP error quoting one of our echo requests (`r.quoted` starts with its ICMP header;
    /// `r.local` port = identifier, `r.remote` port 0). As Linux's ping_err.
    pub fn ping_error(&mut self, r: &IcmpReport<'_>) -> bool {
        let Some((errno, hard)) = r.errno() else { return false };
        let Some(h) = self.ping_target(r.local, r.remote) else { return false };
        let s = self.sockets.get_mut(&h).expect("indexed socket exists");
        if s.errq.enabled {
            s.errq.push(SockError::from_icmp(r, errno, 0));
            s.error = Some(errno);
        } else if hard && !r.frag_needed() && s.remote.is_some_and(|p| p.ip() == r.remote.ip()) {
            s.error = Some(errno);
        } else {
            return false;
        }
        self.changed.insert(h);
        true
    }
}

/// Like `Socket::score` for a ping socket: the peer's port does not matter.
fn ping_score(s: &Socket, from: IpEndpoint, to: IpEndpoint) -> Option<u8> {
    if s.local.port() != to.port() {
        return None;
    }
    let mut score = 0;
    if !s.local.ip().is_unspecified() {
        if s.local.ip() != to.ip() {
            return None;
        }
        score += 2;
    }
    if let Some(r) = s.remote {
        if r.ip() != from.ip() {
            return None;
        }
        score += 4;
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: IpAddress = IpAddress::v4(10, 0, 0, 2);
    const PEER: IpAddress = IpAddress::v4(10, 0, 0, 1);

    #[test]
    fn echo_request_out_reply_in() {
        let mut u = UdpStack::new(US, 1);
        let p = u.ping_socket();
        assert!(u.is_ping(p));
        let dst = Some(IpEndpoint::new(PEER, 0));
        assert_eq!(u.send_to(p, &[0, 0, 0, 0, 0, 0, 0, 1], dst), Err(Error::InvalidInput), "not an echo request");
        assert_eq!(u.send_to(p, &[8, 0, 0], dst), Err(Error::InvalidInput), "short");
        assert_eq!(u.send_to(p, &[8, 0, 0, 0, 0x12, 0x34, 0, 1, b'x'], None), Err(Error::NotConnected));
        assert_eq!(u.send_to(p, &[8, 0, 0, 0, 0x12, 0x34, 0, 1, b'x'], dst), Ok(9));
        let ident = u.local_addr(p).unwrap().port();
        assert_ne!(ident, 0);
        let mut out = Vec::new();
        u.dispatch(Instant::ZERO, &mut |_, _, _| panic!("not UDP"));
        u.dispatch_icmp(Instant::ZERO, &mut |s, d, m| out.push((s, d, m.to_vec())));
        assert_eq!(out.len(), 1);
        let (s, d, m) = &out[0];
        assert_eq!((*s, *d), (US, PEER));
        assert_eq!(u16::from_be_bytes([m[4], m[5]]), ident, "identifier is the socket's");
        assert_eq!(checksum::checksum(m), 0);
        // A UDP socket on the same number is another space: it gets no replies.
        let udp = u.socket();
        u.bind(udp, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), ident)).unwrap();
        let mut reply = m.clone();
        reply[0] = 0;
        reply[2..4].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&reply);
        reply[2..4].copy_from_slice(&c.to_be_bytes());
        u.set_recv_ttl(p, true).unwrap();
        assert!(u.echo_reply(PEER, US, 63, &reply));
        let mut other = reply.clone();
        other[4] ^= 0xff;
        assert!(!u.echo_reply(PEER, US, 63, &other), "another identifier");
        assert!(u.readiness(p).readable && !u.readiness(udp).readable);
        let mut buf = [0u8; 64];
        let r = u.recv_from(p, &mut buf, false).unwrap();
        assert_eq!((r.copied, r.from, r.ttl), (9, IpEndpoint::new(PEER, 0), Some(63)));
        assert_eq!(&buf[..9], &reply[..]);
    }

    #[test]
    fn errors_quoting_our_echo_request() {
        let mut u = UdpStack::new(US, 1);
        let p = u.ping_socket();
        u.send_to(p, &[8, 0, 0, 0, 0, 0, 0, 1], Some(IpEndpoint::new(PEER, 0))).unwrap();
        let local = IpEndpoint::new(US, u.local_addr(p).unwrap().port());
        let quoted = [8u8, 0, 0, 0, 0, 0, 0, 1];
        let r = IcmpReport {
            icmp_type: 11,
            icmp_code: 0,
            info: 0,
            offender: IpAddress::v4(10, 0, 0, 254),
            local,
            remote: IpEndpoint::new(PEER, 0),
            quoted: &quoted,
            ttl: 63,
            tos: 0,
        };
        assert!(!u.ping_error(&r), "soft, unconnected, no IP_RECVERR");
        u.set_recverr(p, true).unwrap();
        assert!(u.ping_error(&r));
        let e = u.recv_error(p).unwrap();
        assert_eq!((e.icmp_type, e.offender, &e.payload[..]), (11, Some(r.offender), &quoted[..]));
    }
}
