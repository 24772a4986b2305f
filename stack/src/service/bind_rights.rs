//! The credential checks of bind() (`perm`) on a socket of the service: the port's privilege
//! and the owner of an SO_REUSEPORT group.
use super::engine::Proto;
use super::perm::may_bind;
use super::Service;
use crate::client::sockaddr as sa;

impl Service {
    /// The credential checks of bind() on socket `i` by the requesting client (`self.peer`),
    /// made once the address is valid (a malformed one gets its own errno from the bind).
    pub(super) fn bind_allowed(&self, i: usize, data: &[u8]) -> Result<(), i32> {
        let Some(s) = self.socks[i].as_ref() else { return Ok(()) };
        let Ok(t) = super::ops::translate(s, sa::Op::Bind, data) else { return Ok(()) };
        let port = match t {
            sa::Target::V4(a) => a.port(),
            sa::Target::MappedAny(p) | sa::Target::Loopback6(p) | sa::Target::V6Only(_, p) => p,
            sa::Target::Unspec => 0,
        };
        let want = t.engine();
        if let Some(w) = want {
            // Linux checks the address first (EADDRNOTAVAIL, the stack's bind says it).
            let ip = *w.ip();
            let udp = matches!(s.proto, Proto::Udp(_));
            let mask = u32::MAX.checked_shl(32 - self.cfg.prefix_len.min(32) as u32).unwrap_or(0);
            let subnet_bcast = std::net::Ipv4Addr::from(u32::from(self.cfg.addr) | !mask);
            let local = ip.is_unspecified()
                || ip == self.cfg.addr
                || ip.is_loopback()
                || (udp && (ip.is_multicast() || ip.is_broadcast() || ip == subnet_bcast));
            if !local {
                return Ok(());
            }
        }
        may_bind(self.peer, port, self.unpriv_port)?;
        let Some(want) = want else { return Ok(()) };
        if port == 0 || !s.opts.reuseport {
            return Ok(());
        }
        // Another user's SO_REUSEPORT socket on an overlapping address: not one group.
        let local = |p: Proto| match p {
            Proto::Tcp(h) => self.stack.tcp.local_addr(h),
            Proto::Udp(h) => self.stack.udp.local_addr(h),
        };
        let clash = self.socks.iter().enumerate().any(|(j, o)| {
            let Some(o) = o.as_ref() else { return false };
            j != i
                && o.opts.reuseport
                && o.uid != s.uid
                && matches!(o.proto, Proto::Tcp(_)) == matches!(s.proto, Proto::Tcp(_))
                && local(o.proto).is_some_and(|l| {
                    let ip = l.ip().as_v4();
                    l.port() == port && (ip.is_unspecified() || want.ip().is_unspecified() || ip == *want.ip())
                })
        });
        if clash {
            return Err(libc::EADDRINUSE);
        }
        Ok(())
    }
}
