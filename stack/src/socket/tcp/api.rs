//! The socket calls: socket, connect, send, recv, bind, listen, accept, shutdown, close,
//! abort, options and queries (`calls.rs` holds the longer bodies; `TcpInfo` and `TcpOption`
//! are in `types.rs`).
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::isn;
use super::listener::Listener;
use super::table::TcpStack;
use super::tcb::Tcb;
use super::types::{TcpHandle, TcpInfo, TcpOption, TcpState};
use crate::error::{Error, Result};
use crate::socket::{Readiness, Shutdown};
use crate::time::{Duration, Instant};

impl TcpStack {
    /// bind(): port 0 picks an ephemeral port; EADDRINUSE unless SO_REUSEADDR semantics allow.
    pub fn bind(&mut self, h: TcpHandle, local: IpEndpoint) -> Result<()> {
        let t = self.user(h)?;
        if t.bound || t.state != TcpState::Closed {
            return Err(Error::InvalidInput);
        }
        let ip = *local.ip();
        // Ours: the interface address and the loopback network 127.0.0.0/8 (any with IP_FREEBIND).
        if !(ip.is_unspecified() || ip == self.config.local_addr || ip.is_loopback() || t.freebind) {
            return Err(Error::AddrNotAvailable);
        }
        let reuse = t.reuse_addr;
        let port = if local.port() == 0 {
            self.ephemeral_port(h.0, None)?
        } else {
            if self.bind_conflict(h.0, local, reuse) {
                // inet_bind set the address before get_port failed, and then clears it: an
                // address an earlier connect left goes (the port getsockname shows stays).
                let t = self.user_mut(h)?;
                t.local = IpEndpoint::new(t.local.ip().unspecified(), t.local.port());
                return Err(Error::AddrInUse);
            }
            local.port()
        };
        let t = self.user_mut(h)?;
        t.local = IpEndpoint::new(ip, port);
        t.bound = true;
        t.port_locked = local.port() != 0;
        t.addr_locked = !ip.is_unspecified();
        t.closed_since_bind = false;
        self.ports.bind(port, h.0);
        Ok(())
    }
    /// bind() of an address alone (IP_BIND_ADDRESS_NO_PORT, port 0): no port is taken now;
    /// connect() picks one for its 4-tuple, listen() one of its own (Linux inet_bind with
    /// BIND_NO_PORT). getsockname shows the address and port 0 until then.
    pub fn bind_address(&mut self, h: TcpHandle, ip: IpAddress) -> Result<()> {
        let t = self.user(h)?;
        if t.bound || t.state != TcpState::Closed {
            return Err(Error::InvalidInput);
        }
        if !(ip.is_unspecified() || ip == self.config.local_addr || ip.is_loopback() || t.freebind) {
            return Err(Error::AddrNotAvailable);
        }
        let t = self.user_mut(h)?;
        t.local = IpEndpoint::new(ip, 0);
        t.addr_locked = !ip.is_unspecified();
        Ok(())
    }
    /// SO_REUSEADDR.
    pub fn set_reuse_addr(&mut self, h: TcpHandle, on: bool) -> Result<()> {
        self.user_mut(h)?.reuse_addr = on;
        Ok(())
    }
    /// SO_REUSEPORT: sockets that all set it bind one address and port; listeners among them
    /// share the incoming connections (by a hash of the peer's endpoint).
    pub fn set_reuse_port(&mut self, h: TcpHandle, on: bool) -> Result<()> {
        self.user_mut(h)?.reuse_port = on;
        Ok(())
    }
    /// listen(): backlog bounds established, not-yet-accepted connections (half-open ones are
    /// in the SYN queue, see `TcpConfig::max_syn_backlog`).
    pub fn listen(&mut self, h: TcpHandle, backlog: usize) -> Result<()> {
        let t = self.user(h)?;
        match t.state {
            TcpState::Listen => {
                let t = self.user_mut(h)?;
                t.listener.as_mut().unwrap().backlog = backlog.clamp(1, 4096);
                return Ok(());
            }
            TcpState::Closed => {}
            _ => return Err(Error::InvalidInput),
        }
        if !t.bound {
            // An address bound alone (IP_BIND_ADDRESS_NO_PORT) keeps it (inet_csk_get_port).
            let ip = if t.addr_locked { *t.local.ip() } else { IpAddress::v4(0, 0, 0, 0) };
            self.bind(h, IpEndpoint::new(ip, 0))?;
        }
        let t = self.user(h)?;
        let local = t.local;
        let reuse_port = t.reuse_port;
        // The listeners of this port (`listen_ports`), not every socket.
        let clash = self.listen_ports.get(&local.port()).into_iter().flatten().any(|&oid| {
            let Some(o) = self.socks.get(&oid) else { return false };
            oid != h.0
                && o.state == TcpState::Listen
                && !(reuse_port && o.reuse_port)
                && o.local.port() == local.port()
                && (o.local.ip().is_unspecified() || local.ip().is_unspecified() || o.local.ip() == local.ip())
        });
        if clash {
            return Err(Error::AddrInUse);
        }
        self.listen_ports.entry(local.port()).or_default().push(h.0);
        self.note(h.0);
        let t = self.user_mut(h)?;
        t.listener = Some(Listener::new(backlog));
        t.set_state(TcpState::Listen);
        Ok(())
    }
    /// accept(): an established connection, or WouldBlock.
    pub fn accept(&mut self, h: TcpHandle) -> Result<TcpHandle> {
        let r = self.accept_inner(h);
        self.settle(h.0);
        r
    }
    /// MSG_PEEK.
    pub fn peek(&self, h: TcpHandle, buf: &mut [u8]) -> Result<usize> {
        let t = self.user(h)?;
        if !t.rx.is_empty() {
            return Ok(t.rx.read_at(0, buf));
        }
        if let Some(e) = t.error {
            return Err(e);
        }
        if t.peer_fin || t.rx_shut || t.reset {
            return Ok(0);
        }
        match t.state {
            TcpState::Closed | TcpState::Listen => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }
    /// shutdown(): Write sends FIN after queued data. Read, as Linux (inet_shutdown,
    /// tcp_recvmsg): nothing is sent, queued and later data stay readable, and an empty queue
    /// reads 0 instead of blocking.
    pub fn shutdown(&mut self, now: Instant, h: TcpHandle, how: Shutdown) -> Result<()> {
        self.note(h.0);
        let _ = now;
        let t = self.user_mut(h)?;
        match t.state {
            TcpState::Closed => return Err(Error::NotConnected),
            // Linux inet_shutdown: SHUT_RD on a listener stops it (waking accept), SHUT_WR is a no-op.
            TcpState::Listen => {
                if how != Shutdown::Write {
                    self.stop_listening(h.0);
                }
                return Ok(());
            }
            TcpState::SynSent => {
                t.terminate(None);
                let id = h.0;
                self.after_event(id);
                return Ok(());
            }
            _ => {}
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            t.rx_shut = true;
            t.changed = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            Self::queue_fin(t);
        }
        Ok(())
    }

    /// close(): releases the handle. Graceful close continues in the background (FIN, TIME_WAIT);
    /// RST instead if unread data remains or linger is 0. A listener resets its unaccepted queue.
    pub fn close(&mut self, now: Instant, h: TcpHandle) {
        self.note(h.0);
        let Ok(t) = self.user(h) else { return };
        if t.state == TcpState::Listen {
            self.stop_listening(h.0);
            self.remove(h.0);
            return;
        }
        let abortive = !t.rx.is_empty() || t.linger == Some(Duration::ZERO);
        if abortive {
            self.abort(now, h);
            return;
        }
        let msl = self.config.msl;
        if !matches!(t.state, TcpState::TimeWait | TcpState::Closed | TcpState::SynSent)
            && self.orphans >= self.config.max_orphans
        {
            // Linux tcp_close -> tcp_check_oom: too many orphans, reset instead.
            self.stats.orphan_overflows += 1;
            self.abort(now, h);
            return;
        }
        let t = self.user_mut(h).unwrap();
        match t.state {
            TcpState::Closed | TcpState::SynSent => {
                self.remove(h.0);
                return;
            }
            _ => {}
        }
        t.orphan = true;
        self.orphans += 1;
        let t = self.user_mut_any(h.0);
        Self::queue_fin(t);
        if t.state == TcpState::FinWait2 && t.timers.timewait_at.is_none() {
            t.timers.timewait_at = Some(now + msl * 2);
        }
    }

    /// Abortive close: RST now, handle released.
    pub fn abort(&mut self, now: Instant, h: TcpHandle) {
        self.note(h.0);
        let _ = now;
        let Ok(t) = self.user_mut(h) else { return };
        match t.state {
            TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::TimeWait => {
                if t.state == TcpState::Listen {
                    self.close(now, h);
                } else {
                    self.remove(h.0);
                }
            }
            _ => {
                t.orphan = true;
                t.send_rst = true;
                t.pending = true;
                self.orphans += 1;
            }
        }
    }
    pub fn set_option(&mut self, h: TcpHandle, opt: TcpOption) -> Result<()> {
        let r = self.set_option_inner(h, opt);
        self.note(h.0); // timers (keepalive) may change
        r
    }
    /// getsockopt(): the current value of the option of the kind passed (its value is ignored).
    pub fn get_option(&self, h: TcpHandle, kind: TcpOption) -> Result<TcpOption> {
        let t = self.user(h)?;
        Ok(match kind {
            TcpOption::NoDelay(_) => TcpOption::NoDelay(t.nodelay),
            TcpOption::Cork(_) => TcpOption::Cork(t.cork),
            TcpOption::More(_) => TcpOption::More(t.more),
            TcpOption::SynCnt(_) => TcpOption::SynCnt(t.timers.syn_cnt),
            TcpOption::FreeBind(_) => TcpOption::FreeBind(t.freebind),
            TcpOption::DeferAccept(_) => TcpOption::DeferAccept(t.defer_accept),
            TcpOption::LocalPortRange(_) => TcpOption::LocalPortRange(t.port_range),
            TcpOption::UserTimeout(_) => {
                TcpOption::UserTimeout(t.timers.user_timeout.as_millis().min(u32::MAX as u128) as u32)
            }
            TcpOption::KeepAlive(_) => TcpOption::KeepAlive(t.timers.keepalive.on),
            TcpOption::KeepIdle(_) => TcpOption::KeepIdle(t.timers.keepalive.idle),
            TcpOption::KeepIntvl(_) => TcpOption::KeepIntvl(t.timers.keepalive.intvl),
            TcpOption::KeepCnt(_) => TcpOption::KeepCnt(t.timers.keepalive.cnt),
            TcpOption::Linger(_) => TcpOption::Linger(t.linger),
            TcpOption::RecvBuffer(_) => {
                TcpOption::RecvBuffer(if t.rx.capacity() > 0 { t.rx.capacity() } else { t.want_rx })
            }
            TcpOption::SendBuffer(_) => {
                TcpOption::SendBuffer(if t.tx.capacity() > 0 { t.tx.capacity() } else { t.want_tx })
            }
            // Not set: 0 until the connection has its buffers (Linux: until connect or accept
            // sizes the window), then the largest window the receive buffer allows.
            TcpOption::WindowClamp(_) if t.window_clamp == 0 && t.rx.capacity() > 0 => {
                TcpOption::WindowClamp((t.rx.capacity() as u32).min(65535u32 << t.opts.rcv_wscale))
            }
            TcpOption::WindowClamp(_) => TcpOption::WindowClamp(t.window_clamp),
            TcpOption::MaxSeg(_) => TcpOption::MaxSeg(t.opts.user_mss),
            TcpOption::Congestion(_) => TcpOption::Congestion(t.cc.algo),
        })
    }
    /// SO_REUSEADDR as set.
    pub fn reuse_addr(&self, h: TcpHandle) -> Result<bool> {
        Ok(self.user(h)?.reuse_addr)
    }
    pub fn state(&self, h: TcpHandle) -> Result<TcpState> {
        Ok(self.user(h)?.state)
    }
    pub fn readiness(&self, h: TcpHandle) -> Readiness {
        match self.user(h) {
            Ok(t) => t.readiness(),
            Err(_) => Readiness { hup: true, error: true, ..Readiness::default() },
        }
    }
    /// SO_ERROR: returns and clears the pending error.
    pub fn take_error(&mut self, h: TcpHandle) -> Option<crate::error::Error> {
        let r = self.take_error_inner(h);
        self.settle(h.0);
        r
    }
    pub fn local_addr(&self, h: TcpHandle) -> Option<IpEndpoint> {
        self.user(h).ok().filter(|t| t.bound).map(|t| t.local)
    }
    /// A failed connect that connect() reported (Linux tcp_disconnect): the source address goes
    /// back to 0.0.0.0 unless bind() named it (SOCK_BINDADDR_LOCK).
    /// connect(AF_UNSPEC) (Linux tcp_disconnect): a connection is reset (RST to the peer, its
    /// queues dropped, SO_ERROR ECONNRESET), a connect under way abandoned, a listener stopped;
    /// the socket is CLOSED and may connect again (its automatic port goes back as it closes).
    pub fn disconnect(&mut self, now: Instant, h: TcpHandle) -> Result<()> {
        let _ = now;
        let r = self.disconnect_inner(h);
        self.note(h.0);
        self.settle(h.0);
        r
    }
    pub fn reset_source(&mut self, h: TcpHandle) {
        if let Ok(t) = self.user_mut(h) {
            if t.state == TcpState::Closed && !t.addr_locked {
                t.local = IpEndpoint::new(t.local.ip().unspecified(), t.local.port());
            }
        }
    }
    /// getsockname: the local address, also the port an ended connection released
    /// (`release_auto_port`), as Linux's inet_sport outlives inet_put_port.
    pub fn sock_name(&self, h: TcpHandle) -> Option<IpEndpoint> {
        self.user(h).ok().filter(|t| t.bound || t.local.port() != 0 || t.addr_locked).map(|t| t.local)
    }
    pub fn remote_addr(&self, h: TcpHandle) -> Option<IpEndpoint> {
        self.user(h)
            .ok()
            .filter(|t| {
                !matches!(t.state, TcpState::Closed | TcpState::Listen) || (t.ever_connected && t.remote.port() != 0)
            })
            .map(|t| t.remote)
    }
    /// FIONREAD: bytes ready to read.
    pub fn recv_queue(&self, h: TcpHandle) -> usize {
        self.user(h).map(|t| t.rx.len()).unwrap_or(0)
    }
    /// TIOCOUTQ: bytes not yet acknowledged.
    pub fn send_queue(&self, h: TcpHandle) -> usize {
        self.user(h).map(|t| t.tx.len()).unwrap_or(0)
    }
    /// SIOCOUTQNSD: bytes in the send buffer never sent yet (Linux: write_seq - snd_nxt).
    pub fn unsent_queue(&self, h: TcpHandle) -> usize {
        self.user(h).map(|t| (t.data_end() - t.snd.max.max(t.snd.tx_base)).max(0) as usize).unwrap_or(0)
    }
    pub fn info(&self, h: TcpHandle) -> Result<TcpInfo> {
        Ok(self.user(h)?.info())
    }
    /// Number of control blocks (user sockets, unaccepted children, orphans in FIN/TIME-WAIT)
    /// plus request records of half-open connections.
    pub fn control_blocks(&self) -> usize {
        self.socks.len() + self.reqs.len() + self.tw.len()
    }
    /// Half-open connections in SYN queues (request records).
    pub fn syn_queue_len(&self) -> usize {
        self.reqs.len()
    }
}

/// The socket calls that make or move segments (socket, connect, send, recv).
impl TcpStack {
    /// socket(): a new closed socket.
    pub fn socket(&mut self) -> TcpHandle {
        let id = self.alloc_id();
        let mut t = Tcb::new(&self.config, Instant::ZERO);
        t.local = IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 0);
        t.tr = self.new_trace();
        self.socks.insert(id, t);
        TcpHandle(id)
    }

    /// connect(): sends SYN and returns Ok at once; completion shows in `state`/`readiness`,
    /// failure in `take_error`. EISCONN / EALREADY / EINVAL as Linux.
    pub fn connect(&mut self, now: Instant, h: TcpHandle, remote: IpEndpoint) -> Result<()> {
        let t = self.user(h)?;
        match t.state {
            TcpState::Closed => {}
            TcpState::Listen => return Err(Error::AlreadyConnected), // Linux: EISCONN
            TcpState::SynSent | TcpState::SynReceived => return Err(Error::Already),
            _ => return Err(Error::AlreadyConnected),
        }
        let own = self.config.local_addr;
        // Linux ip_route_output_key_hash_rcu: 0.0.0.0 means this host, the bound address or
        // else loopback (`curl http://0.0.0.0:8000/` reaches a server listening on 0.0.0.0).
        let remote = if remote.ip().is_unspecified() {
            let to = match *t.local.ip() {
                a if (t.bound || t.addr_locked) && !a.is_unspecified() => a,
                _ => IpAddress::v4(127, 0, 0, 1),
            };
            IpEndpoint::new(to, remote.port())
        } else {
            remote
        };
        // tcp_v4_connect: no connection to a broadcast (limited or this network's directed one)
        // or multicast address.
        if remote.ip().is_broadcast()
            || remote.ip().is_subnet_broadcast(own, self.config.prefix_len)
            || remote.ip().is_multicast()
        {
            return Err(Error::NetUnreachable);
        }
        // The source address: the bound one (kept when a failed connect released the port bind()
        // left to us: SOCK_BINDADDR_LOCK), else what the route to `remote` gives.
        let src_ip = match *t.local.ip() {
            a if (t.bound || t.addr_locked) && !a.is_unspecified() => a,
            _ => crate::iface::route::source_for(own, *remote.ip()),
        };
        if src_ip.is_multicast() || src_ip.is_broadcast() {
            return Err(Error::InvalidInput); // bound there with IP_FREEBIND: a martian source
        }
        if !crate::iface::route::source_is_ours(own, src_ip) {
            return Err(Error::NetUnreachable);
        }
        if !crate::iface::route::source_reaches(own, src_ip, *remote.ip()) {
            return Err(Error::InvalidInput);
        }
        let local = if t.bound {
            let l = IpEndpoint::new(src_ip, t.local.port());
            self.tw_remove((l, remote)); // RFC 6191-like reuse, as for a TIME-WAIT block below
            if let Some(&other) = self.conns.get(&(l, remote)) {
                if self.socks.get(&other).is_some_and(|o| o.state == TcpState::TimeWait) {
                    self.remove(other);
                } else {
                    return Err(Error::AddrNotAvailable);
                }
            }
            l
        } else {
            IpEndpoint::new(src_ip, self.ephemeral_port(h.0, Some((src_ip, remote)))?)
        };
        let iss = isn::isn(&self.config.isn_secret, local, remote, now);
        let ts_offset = isn::ts_offset(&self.config.isn_secret, *local.ip(), *remote.ip());
        let cfg = self.config.clone();
        let path_mss = self.path_mss(now, *remote.ip());
        let tr = self.new_trace();
        let may_hold = self.server_first.get(&remote).is_none_or(|&(_, until)| now >= until);
        let t = self.user_mut(h)?;
        // Fresh control block state (a socket may connect again after a failure).
        let keep = (
            t.reuse_addr,
            t.nodelay,
            t.timers.keepalive.clone(),
            t.linger,
            t.want_rx,
            t.want_tx,
            t.rx_locked,
            t.tx_locked,
        );
        let mut n = Tcb::new(&cfg, now);
        (n.reuse_addr, n.nodelay, n.timers.keepalive, n.linger, n.want_rx, n.want_tx, n.rx_locked, n.tx_locked) = keep;
        n.window_clamp = t.window_clamp;
        n.cork = t.cork;
        n.defer_accept = t.defer_accept;
        n.port_range = t.port_range;
        n.timers.user_timeout = t.timers.user_timeout;
        n.timers.syn_cnt = t.timers.syn_cnt;
        n.opts.user_mss = t.opts.user_mss;
        if n.opts.user_mss > 0 {
            n.opts.rcv_mss = n.opts.rcv_mss.min(n.opts.user_mss); // TCP_MAXSEG bounds our SYN's MSS
        }
        n.local = local;
        n.remote = remote;
        n.bound = true;
        (n.port_locked, n.addr_locked) = (t.port_locked, t.addr_locked);
        n.active = true;
        n.alloc_buffers(n.want_rx, n.want_tx);
        n.init_send(iss);
        n.opts.ts_offset = ts_offset;
        n.opts.mtu_mss = path_mss.unwrap_or(u16::MAX);
        n.errq.enabled = t.errq.enabled;
        n.tr = tr;
        n.tr_state(t.state, TcpState::SynSent);
        n.state = TcpState::SynSent;
        n.ack.may_hold = may_hold;
        n.pending = true;
        n.changed = true;
        *t = n;
        self.ports.bind(local.port(), h.0); // a no-op if bind() already indexed it
        self.conns.insert((local, remote), h.0);
        self.note(h.0);
        Ok(())
    }
    /// send(): copies as much as fits into the send buffer; WouldBlock if none fits; EPIPE after
    /// shutdown(Write) or peer reset (ECONNRESET first if the reset is unreported).
    pub fn send(&mut self, now: Instant, h: TcpHandle, data: &[u8]) -> Result<usize> {
        self.send_with(now, h, data.len(), |a, b| {
            a.copy_from_slice(&data[..a.len()]);
            b.copy_from_slice(&data[a.len()..a.len() + b.len()]);
            a.len() + b.len()
        })
    }
    /// send() with the caller writing in place (SEND, RFC 9293 3.10.2): `fill` gets the free
    /// space of the send buffer for up to `max` bytes as two slices (the second one non-empty
    /// when the ring wraps; the buffer grows on demand to hold them, as for `send` of `max`
    /// bytes) and returns how many it wrote from their start, first slice first. Those are
    /// queued as `send` queues its copy. Ok(0) if `max` is 0; WouldBlock (`fill` not called) if
    /// nothing fits; errors as `send`.
    pub fn send_with(
        &mut self,
        now: Instant,
        h: TcpHandle,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> Result<usize> {
        let r = self.send_inner(now, h, max, fill);
        self.settle(h.0);
        r
    }
    /// recv(): Ok(0) at end of stream; WouldBlock if nothing yet; a pending error first.
    pub fn recv(&mut self, now: Instant, h: TcpHandle, buf: &mut [u8]) -> Result<usize> {
        self.recv_with(now, h, buf.len(), |a, b| {
            buf[..a.len()].copy_from_slice(a);
            buf[a.len()..a.len() + b.len()].copy_from_slice(b);
            a.len() + b.len()
        })
    }
    /// recv() with the caller reading in place (RECEIVE, RFC 9293 3.10.4): `take` gets up to
    /// `max` readable bytes as two slices (the second one non-empty when the ring wraps) and
    /// returns how many it consumed from their start; those leave the receive buffer as `recv`
    /// takes its copy (window update, RFC 1122 4.2.3.3). Ok(0) at end of stream, if `max` is 0
    /// or if `take` consumed nothing; WouldBlock (`take` not called) if nothing yet; errors as
    /// `recv`.
    pub fn recv_with(
        &mut self,
        now: Instant,
        h: TcpHandle,
        max: usize,
        take: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize> {
        let r = self.recv_inner(now, h, max, take);
        self.settle(h.0);
        r
    }
}
