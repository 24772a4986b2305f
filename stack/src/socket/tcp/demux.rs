//! The socket table: 4-tuple demultiplexing, listeners answering SYNs (RFC 9293 3.10.7.2),
//! control block lifetime, port allocation and bind conflicts (Linux SO_REUSEADDR rules).
use std::net::SocketAddrV4;

use super::input::Rst;
use super::seq::SeqNum;
use super::tcb::Tcb;
use super::{isn, TcpStack, TcpState, MAX_QUEUED_RST};
use crate::error::{Error, Result};
use crate::time::Instant;
use crate::wire::tcp::TcpRepr;

impl TcpStack {
    pub(super) fn rand(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn find_listener(&self, local: SocketAddrV4) -> Option<u32> {
        let &id = self.listen_ports.get(&local.port())?;
        let t = self.socks.get(&id)?;
        (t.state == TcpState::Listen && (t.local.ip().is_unspecified() || t.local.ip() == local.ip())).then_some(id)
    }

    /// RFC 9293 3.10.7.2: a segment for a listening socket.
    pub(super) fn listen_input(
        &mut self,
        now: Instant,
        lid: u32,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &TcpRepr,
    ) {
        if seg.rst() {
            return;
        }
        if seg.ack.is_some() {
            if self.rsts.len() < MAX_QUEUED_RST {
                self.rsts.push(Rst::answer(local, remote, seg));
            }
            return;
        }
        if !seg.syn() {
            return;
        }
        let cfg = self.config.clone();
        let l = self.socks.get_mut(&lid).unwrap();
        let lst = l.listener.as_mut().unwrap();
        if lst.full() {
            lst.overflows += 1;
            self.stats.listen_overflows += 1;
            return;
        }
        let mut c = Tcb::new(&cfg, now);
        c.local = local;
        c.remote = remote;
        c.bound = true;
        c.reuse_addr = l.reuse_addr;
        c.nodelay = l.nodelay;
        c.keepalive = l.keepalive.clone();
        c.linger = l.linger;
        c.want_rx = l.want_rx;
        c.want_tx = l.want_tx;
        c.parent = Some(lid);
        c.alloc_buffers(c.want_rx, c.want_tx);
        c.init_send(isn::isn(&cfg.isn_secret, local, remote, now));
        c.irs = SeqNum(seg.seq);
        c.rcv_nxt = c.irs + 1;
        c.rcv_adv = c.rcv_nxt;
        c.rcv_wup = c.rcv_nxt;
        c.take_syn_options(seg);
        c.cc.set_mss(c.eff_mss() as u16);
        c.snd_wnd = seg.window as u32;
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = c.irs;
        c.snd_wl2 = c.iss;
        c.tr = self.tracer.is_some().then(Box::default);
        c.tr_state(TcpState::Listen, TcpState::SynReceived);
        c.state = TcpState::SynReceived;
        c.counters.segs_in = 1;
        c.pending = true;
        let id = self.next_id;
        self.next_id += 1;
        lst.half_open.push(id);
        self.socks.insert(id, c);
        self.conns.insert((local, remote), id);
        self.note(id);
        self.trace_drain(now, id);
    }

    /// Bookkeeping after input or timers changed a connection's state.
    pub(super) fn after_event(&mut self, id: u32) {
        let Some(t) = self.socks.get(&id) else { return };
        let (state, parent, orphan) = (t.state, t.parent, t.orphan);
        if let Some(p) = parent {
            if state != TcpState::SynReceived && state != TcpState::Closed {
                if let Some(l) = self.socks.get_mut(&p) {
                    if let Some(lst) = l.listener.as_mut() {
                        if !lst.accept_queue.contains(&id) {
                            lst.established(id);
                            l.changed = true;
                            self.note(p);
                        }
                    }
                }
            }
        }
        if state == TcpState::Closed {
            if orphan || parent.is_some() {
                self.remove(id);
            } else if let Some(t) = self.socks.get(&id) {
                let key = (t.local, t.remote);
                if self.conns.get(&key) == Some(&id) {
                    self.conns.remove(&key);
                }
            }
        }
    }

    /// Frees a control block.
    pub(super) fn remove(&mut self, id: u32) {
        if let Some(t) = self.socks.remove(&id) {
            let key = (t.local, t.remote);
            if self.conns.get(&key) == Some(&id) {
                self.conns.remove(&key);
            }
            if let Some(k) = t.timer_key {
                self.timers.remove(&(k, id));
            }
            if self.listen_ports.get(&t.local.port()) == Some(&id) {
                self.listen_ports.remove(&t.local.port());
            }
            if let Some(p) = t.parent {
                if let Some(l) = self.socks.get_mut(&p).and_then(|l| l.listener.as_mut()) {
                    l.remove(id);
                }
            }
        }
    }

    /// True if binding `id` to `addr` conflicts with another socket (Linux SO_REUSEADDR rules).
    pub(super) fn bind_conflict(&self, id: u32, addr: SocketAddrV4, reuse: bool) -> bool {
        self.socks.iter().any(|(&oid, o)| {
            oid != id
                && o.bound
                && o.local.port() == addr.port()
                && (o.local.ip().is_unspecified() || addr.ip().is_unspecified() || o.local.ip() == addr.ip())
                && !(reuse && o.state != TcpState::Listen && (o.reuse_addr || o.state == TcpState::TimeWait))
        })
    }

    pub(super) fn ephemeral_port(&mut self, id: u32, remote: Option<SocketAddrV4>) -> Result<u16> {
        let (lo, hi) = self.config.ephemeral_ports;
        let span = (hi.max(lo) - lo) as u64 + 1;
        let start = self.rand() % span;
        let ip = self.config.local_addr;
        // Ports that rule a candidate out, gathered once (O(sockets + span), not their product):
        // for connect() listeners and bound-only sockets (the 4-tuple is checked separately);
        // for bind(0) every bound port.
        let taken: std::collections::HashSet<u16> = self
            .socks
            .iter()
            .filter(|(&oid, o)| {
                oid != id && o.bound && (remote.is_none() || matches!(o.state, TcpState::Listen | TcpState::Closed))
            })
            .map(|(_, o)| o.local.port())
            .collect();
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            let free = !taken.contains(&port)
                && remote.is_none_or(|r| !self.conns.contains_key(&(SocketAddrV4::new(ip, port), r)));
            if free {
                return Ok(port);
            }
        }
        Err(Error::AddrNotAvailable)
    }

    /// Queues our FIN after the buffered data (RFC 9293 3.10.4 CLOSE).
    pub(super) fn queue_fin(t: &mut Tcb) {
        if t.fin_queued {
            return;
        }
        t.fin_queued = true;
        t.pending = true;
        t.changed = true;
        match t.state {
            TcpState::Established => t.set_state(TcpState::FinWait1),
            TcpState::CloseWait => t.set_state(TcpState::LastAck),
            _ => {} // SYN-RECEIVED: FIN-WAIT-1 once established
        }
    }
}
