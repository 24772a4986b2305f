//! The socket table's input side: `TcpStack::process` takes a segment from the IP layer to its
//! TIME-WAIT record, connection or listener (RST when none); 4-tuple demultiplexing, control
//! block lifetime, port allocation and bind conflicts (Linux SO_REUSEADDR rules).
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::input::{Rst, MAX_QUEUED_RST};
use super::isn;
use super::seq::SeqNum;
use super::table::{TcpStack, PORT_BUCKETS};
use super::tcb::Tcb;
use super::trace;
use super::types::TcpState;
use crate::error::{Error, Result};
use crate::time::Instant;
use crate::wire::tcp::{TcpPacket, TcpRepr};

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

    /// A handle number no live control block uses: the counter wraps after 2^32 sockets and
    /// skips 0 and numbers still in use (a long-lived socket must never be replaced).
    pub(super) fn alloc_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if id != 0 && !self.socks.contains_key(&id) {
                return id;
            }
        }
    }

    /// The listener for a segment to `local` from `remote`: one bound to `local`'s address before
    /// one bound to the wildcard (Linux's compute_score); within an SO_REUSEPORT group, the one a
    /// keyed hash of the remote endpoint picks (Linux's reuseport_select_sock), so every segment
    /// of a flow (and the ACK of a SYN cookie) meets the same listener.
    pub(super) fn find_listener(&self, local: IpEndpoint, remote: IpEndpoint) -> Option<u32> {
        let ids = self.listen_ports.get(&local.port())?;
        let fits = |id: &u32, exact: bool| {
            self.socks.get(id).is_some_and(|t| {
                t.state == TcpState::Listen
                    && if exact { t.local.ip() == local.ip() } else { t.local.ip().is_unspecified() }
            })
        };
        let exact = ids.iter().any(|id| fits(id, true));
        let n = ids.iter().filter(|id| fits(id, exact)).count();
        let k = match n {
            0 => return None,
            1 => 0,
            _ => {
                let mut b = [0u8; 20];
                let m = isn::put_endpoint(&mut b, 0, remote);
                b[m..m + 2].copy_from_slice(&local.port().to_be_bytes());
                (isn::siphash24(&self.config.isn_secret, &b[..m + 2]) % n as u64) as usize
            }
        };
        ids.iter().copied().filter(|id| fits(id, exact)).nth(k)
    }

    /// `id` no longer listens on `port`.
    pub(super) fn unlisten(&mut self, port: u16, id: u32) {
        if let Some(v) = self.listen_ports.get_mut(&port) {
            v.retain(|&x| x != id);
            if v.is_empty() {
                self.listen_ports.remove(&port);
            }
        }
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
                self.release_auto_port(id);
            }
        }
    }

    /// A socket the user holds reached CLOSED: an automatic local port goes back to the pool
    /// (Linux tcp_set_state -> inet_put_port without SOCK_BINDPORT_LOCK), so bind() works
    /// again; getsockname keeps showing the old port, as inet_sport stays.
    pub(super) fn release_auto_port(&mut self, id: u32) {
        let Some(t) = self.socks.get_mut(&id) else { return };
        if !t.bound || t.port_locked || t.state != TcpState::Closed || !t.closed_since_bind {
            return;
        }
        (t.bound, t.closed_since_bind) = (false, false);
        let port = t.local.port();
        self.ports.unbind(port, id);
    }

    /// Frees a control block.
    pub(super) fn remove(&mut self, id: u32) {
        if let Some(t) = self.socks.remove(&id) {
            if t.bound {
                self.ports.unbind(t.local.port(), id);
            }
            self.out_busy.remove(&id);
            self.cancel_trim(id);
            if t.orphan {
                self.orphans -= 1;
            }
            let key = (t.local, t.remote);
            if self.conns.get(&key) == Some(&id) {
                self.conns.remove(&key);
            }
            if let Some(k) = t.timer_key {
                self.timers.remove(&(k, id));
            }
            if t.state == TcpState::Listen {
                let port = t.local.port();
                self.unlisten(port, id);
            }
            if t.listener.is_some_and(|l| l.syn_queue > 0) {
                self.drop_reqs_of(id);
            }
            if let Some(p) = t.parent {
                if let Some(l) = self.socks.get_mut(&p).and_then(|l| l.listener.as_mut()) {
                    l.remove(id);
                }
            }
        }
    }

    /// True if binding `id` to `addr` conflicts with another socket (Linux SO_REUSEADDR rules).
    /// Sockets that all set SO_REUSEPORT share the address (Linux: and the same owner).
    /// Looks at the holders of the port only (`ports`).
    pub(super) fn bind_conflict(&self, id: u32, addr: IpEndpoint, reuse: bool) -> bool {
        let reuse_port = self.socks.get(&id).is_some_and(|t| t.reuse_port);
        self.ports.holders(addr.port()).any(|oid| {
            let Some(o) = self.socks.get(&oid) else { return false };
            oid != id
                && o.bound
                && !(reuse_port && o.reuse_port)
                && o.local.port() == addr.port()
                && (o.local.ip().is_unspecified() || addr.ip().is_unspecified() || o.local.ip() == addr.ip())
                && !(reuse && o.state != TcpState::Listen && o.reuse_addr)
        }) || self.tw_blocks(addr.port(), reuse, reuse_port)
    }

    /// A free local port for `id`: for bind(0) (`conn` None) or for a connection from `conn.0`
    /// to `conn.1`. For a connection: RFC 6056 algorithm 4 (double-hash, as Linux): a keyed-hash
    /// start per destination plus a per-bucket counter, then in order, skipping ports bound by
    /// listeners or bound-only sockets and ports whose 4-tuple is in use (TIME-WAIT included).
    /// Consecutive connections to one server get consecutive ports, so a port comes back to that
    /// server only after the whole range, long after its TIME-WAIT. For bind(0): a random
    /// start, then in order, skipping every bound port.
    pub(super) fn ephemeral_port(&mut self, id: u32, conn: Option<(IpAddress, IpEndpoint)>) -> Result<u16> {
        let remote = conn.map(|c| c.1);
        let sk = self.socks.get(&id).map_or(0, |t| t.port_range);
        let (lo, hi) = crate::socket::local_port_range(self.config.ephemeral_ports, sk);
        let span = (hi.max(lo) - lo) as u64 + 1;
        let ip = conn.map_or(self.config.local_addr, |c| c.0);
        let (start, bucket) = match remote {
            Some(r) => {
                let (f, g) = isn::port_offsets(&self.config.isn_secret, ip, r);
                let b = g % PORT_BUCKETS;
                (f as u64 + self.port_perturb[b] as u64, Some(b))
            }
            None => (self.rand(), None),
        };
        // A candidate is ruled out by a holder of the port (`ports`, not a scan of every socket):
        // for connect() a listener or a bound-only socket (the 4-tuple is checked separately);
        // for bind(0) any.
        let taken = |s: &TcpStack, port: u16| {
            s.ports.holders(port).any(|oid| {
                oid != id
                    && s.socks.get(&oid).is_some_and(|o| {
                        o.bound && (remote.is_none() || matches!(o.state, TcpState::Listen | TcpState::Closed))
                    })
            })
        };
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            let free = !taken(self, port)
                && remote.is_none_or(|r| {
                    let k = (IpEndpoint::new(ip, port), r);
                    !self.conns.contains_key(&k) && !self.tw_exists(k)
                });
            if free {
                if let Some(b) = bucket {
                    // RFC 6056 3.3.4: table[index] = table[index] + i + 1.
                    self.port_perturb[b] = self.port_perturb[b].wrapping_add(i as u16 + 1);
                }
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

    /// Input: one TCP segment (the IPv4 payload) from `src` to `dst`. The checksum is verified
    /// here; malformed segments are dropped and counted. Answers (ACK, RST, SYN-ACK) are queued
    /// for the next `dispatch`.
    pub fn process(&mut self, now: Instant, src: IpAddress, dst: IpAddress, segment: &[u8]) {
        self.process_offloaded(now, src, dst, segment, false);
    }

    /// `process`, skipping the checksum when the device vouched for it (`checksum_ok`: the
    /// kernel handed the frame over locally made or verified; see `Device::rx_checksum_ok`).
    pub fn process_offloaded(
        &mut self,
        now: Instant,
        src: IpAddress,
        dst: IpAddress,
        segment: &[u8],
        checksum_ok: bool,
    ) {
        self.stats.rx_segments += 1;
        let Ok(pkt) = TcpPacket::new_checked(segment) else {
            self.stats.rx_malformed += 1;
            return;
        };
        if !checksum_ok && !pkt.verify_checksum(src, dst) {
            self.stats.rx_bad_checksum += 1;
            return;
        }
        let Ok(seg) = TcpRepr::parse(&pkt) else {
            self.stats.rx_malformed += 1;
            return;
        };
        if src.is_broadcast() || src.is_multicast() || dst.is_broadcast() || dst.is_multicast() {
            self.stats.rx_malformed += 1;
            return;
        }
        let local = IpEndpoint::new(dst, seg.dst_port);
        let remote = IpEndpoint::new(src, seg.src_port);
        if self.tracer.is_some() {
            self.trace_in(now, local, remote, &seg);
        }
        if self.tw_exists((local, remote)) {
            let has_listener = self.find_listener(local, remote).is_some();
            if self.tw_input(now, (local, remote), &seg, has_listener) {
                return;
            }
        }
        if let Some(&id) = self.conns.get(&(local, remote)) {
            let has_listener = self.find_listener(local, remote).is_some();
            let tcb = self.socks.get_mut(&id).expect("conns entry without tcb");
            // RFC 9293 3.10.7.4 / RFC 6191: a new SYN may reopen a TIME-WAIT connection.
            let reopen = tcb.state == TcpState::TimeWait
                && tcb.orphan
                && seg.syn()
                && seg.ack.is_none()
                && !seg.rst()
                && SeqNum(seg.seq) > tcb.rcv.nxt
                && has_listener;
            if reopen {
                self.remove(id);
            } else {
                tcb.input(now, &self.config, &seg, &mut self.rsts);
                tcb.pending = true;
                trace::drain(&mut self.tracer, tcb, now);
                self.note(id);
                self.after_event(id);
                return;
            }
        }
        if let Some(lid) = self.find_listener(local, remote) {
            self.listen_input(now, lid, local, remote, &seg);
            return;
        }
        self.stats.rx_no_socket += 1;
        if !seg.rst() && self.rsts.len() < MAX_QUEUED_RST {
            self.rsts.push(Rst::answer(local, remote, &seg));
        }
    }
}
