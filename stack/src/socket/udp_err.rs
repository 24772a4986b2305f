//! UDP and ICMP errors (Linux __udp4_lib_err): the socket that sent the quoted datagram gets
//! the error as a pending error (connected sockets, hard errors; every socket with
//! IP_RECVERR) and, with IP_RECVERR, an entry in its error queue (recvmsg(MSG_ERRQUEUE)).
use crate::wire::ip::IpEndpoint;

use super::{UdpHandle, UdpStack};
use crate::error::{Error, Result};
use crate::socket::errqueue::{IcmpReport, SockError};

impl UdpStack {
    /// ICMP destination unreachable `code` quoting a datagram we sent from `local` to `remote`
    /// (no quote: see `icmp_error`). Without IP_RECVERR only connected sockets see it.
    pub fn icmp_unreachable(&mut self, local: IpEndpoint, remote: IpEndpoint, code: u8) {
        // As our own host's icmp_send would send it: the default TTL, IPTOS_PREC_INTERNETCONTROL.
        let (ttl, tos) = (64, 0xc0);
        let r = IcmpReport {
            icmp_type: 3,
            icmp_code: code,
            info: 0,
            offender: *remote.ip(),
            local,
            remote,
            quoted: &[],
            ttl,
            tos,
        };
        self.icmp_error(&r);
    }

    /// An ICMP error about a datagram from `r.local` to `r.remote`; found like an incoming
    /// datagram from `r.remote` to `r.local` (Linux looks the socket up the same way). Returns
    /// false if no socket took it.
    pub fn icmp_error(&mut self, r: &IcmpReport<'_>) -> bool {
        let Some((errno, hard)) = r.errno() else { return false };
        let Some(h) = self.error_target(r.local, r.remote) else { return false };
        let s = self.sockets.get_mut(&h).expect("indexed socket exists");
        if s.errq.enabled {
            // ip_icmp_error: the data read back is the payload after the UDP header.
            s.errq.push(SockError::from_icmp(r, errno, 8));
            s.error = Some(errno);
        } else if hard && !r.frag_needed() && s.remote == Some(r.remote) {
            // RFC 1122 4.1.3.3; like Linux, without IP_RECVERR only connected sockets see it.
            s.error = Some(errno);
        } else {
            return false;
        }
        self.changed.insert(h);
        true
    }

    fn error_target(&self, local: IpEndpoint, remote: IpEndpoint) -> Option<u32> {
        self.sockets_on(local.port())
            .filter_map(|(h, s)| s.score(remote, local).map(|sc| (sc, s.bind_seq, h)))
            .max_by_key(|&(sc, seq, _)| (sc, seq))
            .map(|(_, _, h)| h)
    }

    /// IP_RECVERR (off: the queue is purged).
    pub fn set_recverr(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        self.get_mut(h)?.errq.set_enabled(on);
        Ok(())
    }
    pub fn recverr(&self, h: UdpHandle) -> Result<bool> {
        Ok(self.get(h)?.errq.enabled)
    }

    /// The pending error becomes the queue's front entry's errno (none if empty): what
    /// `recv_error` leaves, for a caller that cleared it in between (the shared service).
    pub fn rearm_error(&mut self, h: UdpHandle) {
        if let Ok(s) = self.get_mut(h) {
            s.error = s.errq.front().map(|n| n.errno);
            self.changed.insert(h.0);
        }
    }

    /// recvmsg(MSG_ERRQUEUE): the oldest queued error (EAGAIN if none). As Linux's
    /// sock_dequeue_err_skb, the pending error becomes the next entry's, or none.
    pub fn recv_error(&mut self, h: UdpHandle) -> Result<SockError> {
        let s = self.get_mut(h)?;
        let e = s.errq.pop().ok_or(Error::WouldBlock)?;
        s.error = s.errq.front().map(|n| n.errno);
        self.changed.insert(h.0);
        Ok(e)
    }
}
