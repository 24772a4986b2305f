//! Bodies of the socket calls whose public wrappers in `api.rs` also schedule the control
//! block for `dispatch` (send, recv, accept, options, SO_ERROR, stopping a listener,
//! connect(AF_UNSPEC)).
use super::input::{Rst, MAX_QUEUED_RST};
use super::table::TcpStack;
use super::types::{TcpHandle, TcpOption, TcpState};
use crate::error::{Error, Result};
use crate::time::{Duration, Instant};

impl TcpStack {
    pub(super) fn send_inner(
        &mut self,
        now: Instant,
        h: TcpHandle,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> Result<usize> {
        let _ = now;
        let t = self.user_mut(h)?;
        if t.reset {
            if let Some(e) = t.error.take() {
                return Err(e);
            }
            return Err(Error::BrokenPipe);
        }
        if t.fin_queued {
            return Err(Error::BrokenPipe);
        }
        match t.state {
            TcpState::Established | TcpState::CloseWait => {}
            TcpState::SynSent | TcpState::SynReceived => return Err(Error::WouldBlock),
            // Linux sk_stream_wait_connect: EPIPE on a closed or listening socket.
            _ => return Err(Error::BrokenPipe),
        }
        if max == 0 {
            return Ok(0);
        }
        let (a, b) = t.tx.vacant(max);
        let room = a.len() + b.len();
        if room == 0 {
            return Err(Error::WouldBlock);
        }
        let n = fill(a, b).min(room);
        t.tx.commit(n);
        if n > 0 {
            t.pending = true;
        }
        Ok(n)
    }
    pub(super) fn recv_inner(
        &mut self,
        now: Instant,
        h: TcpHandle,
        max: usize,
        take: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize> {
        let _ = now;
        let t = self.user_mut(h)?;
        if max == 0 {
            return Ok(0);
        }
        if !t.rx.is_empty() {
            let before = t.rcv.adv.since(t.rcv.nxt);
            let (a, b) = t.rx.slices(0, max);
            let n = take(a, b).min(a.len() + b.len());
            if n == 0 {
                return Ok(0);
            }
            t.rx.discard(n);
            t.autotune_rx(now, n);
            // Window update (RFC 1122 4.2.3.3): once the window can grow by enough.
            let cap = t.rx.capacity();
            if t.synchronized() && !t.peer_fin {
                let now_free = t.rx.free();
                let step = (cap / 2).min(2 * t.opts.rcv_mss as usize);
                if now_free >= before + step && before < cap / 2 {
                    t.ack.now = true;
                    t.tr_ack_why(crate::trace::Reason::WindowUpdate);
                    t.pending = true;
                }
            }
            return Ok(n);
        }
        if let Some(e) = t.error.take() {
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
    pub(super) fn set_option_inner(&mut self, h: TcpHandle, opt: TcpOption) -> Result<()> {
        let cfg_mss = self.config.mss;
        let t = self.user_mut(h)?;
        match opt {
            TcpOption::MaxSeg(n) => {
                // Linux keeps it at any time; it acts on the SYN (ours, or a listener's children's).
                t.opts.user_mss = n;
                if matches!(t.state, TcpState::Closed | TcpState::Listen) {
                    t.opts.rcv_mss = if n > 0 { cfg_mss.min(n) } else { cfg_mss };
                }
            }
            TcpOption::NoDelay(on) => {
                // Linux __tcp_sock_set_nodelay: turned on, it pushes what is queued.
                t.nodelay = on;
                t.push |= on && !t.tx.is_empty();
                t.pending = true;
            }
            TcpOption::Cork(on) => {
                // Linux __tcp_sock_set_cork: removed, what is queued is pushed (past Nagle
                // too when TCP_NODELAY is on).
                t.push |= !on && t.cork && t.nodelay && !t.tx.is_empty();
                t.cork = on;
                t.pending = true;
            }
            TcpOption::More(on) => {
                t.more = on;
                t.pending = true;
            }
            TcpOption::KeepAlive(on) => t.timers.keepalive.on = on,
            TcpOption::SynCnt(n) => t.timers.syn_cnt = n,
            TcpOption::FreeBind(on) => t.freebind = on,
            TcpOption::DeferAccept(n) => t.defer_accept = n,
            TcpOption::LocalPortRange(v) => t.port_range = v,
            TcpOption::UserTimeout(ms) => t.timers.user_timeout = Duration::from_millis(ms as u64),
            TcpOption::KeepIdle(d) => t.timers.keepalive.idle = d.max(Duration::from_secs(1)),
            TcpOption::KeepIntvl(d) => t.timers.keepalive.intvl = d.max(Duration::from_secs(1)),
            TcpOption::KeepCnt(n) => t.timers.keepalive.cnt = n.max(1),
            TcpOption::Linger(l) => t.linger = l,
            TcpOption::RecvBuffer(n) => {
                let n = n.clamp(4096, 64 << 20);
                t.want_rx = n;
                t.rx_locked = true;
                if t.rx.capacity() > 0 && t.assembler.is_empty() && n <= (65535usize << t.opts.rcv_wscale) {
                    t.rx.grow(n);
                }
            }
            TcpOption::WindowClamp(n) => {
                t.window_clamp = n;
                t.pending = true; // a window update may be due (it never shrinks what was offered)
            }
            TcpOption::Congestion(a) => t.cc.set_algo(a),
            TcpOption::SendBuffer(n) => {
                let n = n.clamp(4096, 64 << 20);
                t.want_tx = n;
                t.tx_locked = true;
                if t.tx.capacity() > 0 {
                    t.tx.grow(n);
                }
            }
        }
        Ok(())
    }
    pub(super) fn take_error_inner(&mut self, h: TcpHandle) -> Option<crate::error::Error> {
        let t = self.user_mut(h).ok()?;
        let e = t.error.take().or_else(|| t.soft_error.take());
        if e.is_some() {
            t.changed = true;
        }
        e
    }
    pub(super) fn accept_inner(&mut self, h: TcpHandle) -> Result<TcpHandle> {
        let t = self.user_mut(h)?;
        let Some(l) = t.listener.as_mut() else { return Err(Error::InvalidInput) };
        let Some(child) = l.accept_queue.pop_front() else { return Err(Error::WouldBlock) };
        if let Some(c) = self.socks.get_mut(&child) {
            c.parent = None;
            c.changed = true;
        }
        self.note(child);
        Ok(TcpHandle(child))
    }
    /// connect(AF_UNSPEC), `TcpStack::disconnect`.
    pub(super) fn disconnect_inner(&mut self, h: TcpHandle) -> Result<()> {
        let t = self.user_mut(h)?;
        match t.state {
            TcpState::Closed => {}
            TcpState::Listen => self.stop_listening(h.0),
            TcpState::SynSent => t.terminate(Some(Error::ConnectionReset)),
            _ => {
                // tcp_need_reset (and CLOSING/LAST-ACK with data unsent): RST to the peer, sent
                // as one for a closed port so that the socket is CLOSED at once; the queues go.
                let rst =
                    Rst { local: t.local, remote: t.remote, seq: t.snd.nxt.max(t.snd.max).0, ack: Some(t.rcv.nxt.0) };
                t.rx.discard(t.rx.len());
                t.tx.discard(t.tx.len());
                t.fin_queued = false;
                t.terminate(Some(Error::ConnectionReset));
                if self.rsts.len() < MAX_QUEUED_RST {
                    self.rsts.push(rst);
                }
            }
        }
        self.after_event(h.0); // off the connection table; an automatic port goes back
        Ok(())
    }
    /// A listener stops: its unaccepted connections are reset (Linux inet_csk_listen_stop).
    pub(super) fn stop_listening(&mut self, id: u32) {
        let Some(t) = self.socks.get_mut(&id) else { return };
        let children: Vec<u32> = t.listener.as_ref().map(|l| l.children().collect()).unwrap_or_default();
        self.drop_reqs_of(id);
        let Some(t) = self.socks.get_mut(&id) else { return };
        t.listener = None;
        t.set_state(TcpState::Closed);
        t.changed = true;
        let port = t.local.port();
        self.unlisten(port, id);
        self.release_auto_port(id);
        self.note(id);
        for c in children {
            if let Some(ct) = self.socks.get_mut(&c) {
                ct.orphan = true;
                self.orphans += 1;
                ct.send_rst = true;
                ct.pending = true;
                ct.parent = None;
            }
            self.note(c);
        }
    }
}
