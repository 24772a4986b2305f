//! UDP socket options (SO_BROADCAST, SO_REUSEADDR, SO_RCVBUF, SO_SNDBUF with Linux's
//! doubling) and the per-socket queries: readiness as Linux's udp_poll, SO_ERROR, the bound and
//! connected addresses, FIONREAD.
use crate::wire::ip::IpEndpoint;

use super::{UdpHandle, UdpStack};
use crate::error::Result;
use crate::socket::Readiness;

impl UdpStack {
    pub fn set_broadcast(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        self.get_mut(h)?.broadcast = on;
        Ok(())
    }

    /// IP_FREEBIND: bind() may take an address that is not ours.
    pub fn set_freebind(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        self.get_mut(h)?.freebind = on;
        Ok(())
    }

    /// IP_LOCAL_PORT_RANGE: the ephemeral ports this socket may take (low 16 bits the lowest).
    pub fn set_port_range(&mut self, h: UdpHandle, v: u32) -> Result<()> {
        self.get_mut(h)?.port_range = v;
        Ok(())
    }

    /// SO_REUSEADDR / SO_REUSEPORT: sockets that all set it may bind the same address and port
    /// (a datagram goes to the most specific, then the most recently bound, socket).
    pub fn set_reuse_addr(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        self.get_mut(h)?.reuse = on;
        Ok(())
    }

    /// SO_RCVBUF: like Linux, the value is doubled (bookkeeping overhead), minimum 2304.
    pub fn set_recv_buffer(&mut self, h: UdpHandle, bytes: usize) -> Result<()> {
        self.get_mut(h)?.rx_limit = bytes.saturating_mul(2).max(2304);
        Ok(())
    }

    /// SO_SNDBUF: doubled like Linux, minimum 4608.
    pub fn set_send_buffer(&mut self, h: UdpHandle, bytes: usize) -> Result<()> {
        self.get_mut(h)?.tx_limit = bytes.saturating_mul(2).max(4608);
        Ok(())
    }

    /// The effective (doubled) SO_RCVBUF value, for getsockopt.
    pub fn recv_buffer(&self, h: UdpHandle) -> Result<usize> {
        Ok(self.get(h)?.rx_limit)
    }
    pub fn send_buffer(&self, h: UdpHandle) -> Result<usize> {
        Ok(self.get(h)?.tx_limit)
    }
    pub fn broadcast(&self, h: UdpHandle) -> Result<bool> {
        Ok(self.get(h)?.broadcast)
    }

    /// As Linux's udp_poll/datagram_poll: POLLIN only for a queued datagram, POLLERR for a
    /// pending error (which recv_from then returns), POLLOUT while the send queue has room.
    pub fn readiness(&self, h: UdpHandle) -> Readiness {
        let Ok(s) = self.get(h) else {
            return Readiness { error: true, hup: true, ..Readiness::default() };
        };
        Readiness {
            readable: !s.rx.is_empty(),
            writable: s.tx_bytes < s.tx_limit,
            read_hup: false,
            hup: false,
            error: s.error.is_some() || !s.errq.is_empty(),
        }
    }

    pub fn take_error(&mut self, h: UdpHandle) -> Option<crate::error::Error> {
        self.get_mut(h).ok()?.error.take()
    }

    /// getsockname(): 0.0.0.0:0 for an unbound socket, as Linux reports (a raw socket's "port"
    /// is its protocol there, Linux's inet_sport).
    pub fn local_addr(&self, h: UdpHandle) -> Option<IpEndpoint> {
        self.get(h).ok().map(|s| match s.raw {
            Some(p) => IpEndpoint::new(*s.local.ip(), p.into()),
            None => s.local,
        })
    }

    pub fn remote_addr(&self, h: UdpHandle) -> Option<IpEndpoint> {
        self.get(h).ok()?.remote
    }

    /// FIONREAD: size of the next datagram (0 if none), as Linux reports for UDP.
    pub fn recv_queue(&self, h: UdpHandle) -> usize {
        self.get(h).ok().and_then(|s| s.rx.front()).map_or(0, |d| d.data.len())
    }

    /// Datagrams dropped because the receive queue was full.
    pub fn drops(&self) -> u64 {
        self.stats.rcvbuf_errors
    }
}
