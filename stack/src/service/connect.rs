//! connect(): TCP's active open (the program's end stuffed until the handshake ends, a
//! blocking connect settled within the request when a peer on the TAP answers at once), UDP's
//! association, and connect(AF_UNSPEC) on either.
use crate::client::sockaddr::{self as sa, Target};
use crate::socket::tcp::TcpState;
use crate::Error;

use super::engine::Proto;
use super::fdpass;
use super::ops::{translate, unspecified};
use super::opts;
use super::proto::Msg;
use super::sock::Hold;
use super::Service;

impl Service {
    pub(super) fn op_connect(&mut self, i: usize, m: &Msg, b: i32, kept: &mut bool) -> Msg {
        let op = m.op;
        let now = self.now();
        let stack = &mut self.stack;
        let s = self.socks[i].as_mut().expect("looked up");
        let t = match translate(s, sa::Op::Connect, &m.data) {
            Ok(t) => t,
            Err(e) => return Msg::reply(op, e),
        };
        let h = match s.proto {
            Proto::Udp(h) => {
                let remote = match t {
                    Target::Unspec => None,
                    t => match s.dual.engine_addr(t) {
                        Some(a) => Some(a),
                        None => return Msg::reply(op, libc::EINVAL),
                    },
                };
                // Linux's __ip4_datagram_connect looks the route up first (ENETUNREACH).
                let r = match remote {
                    Some(a) => stack.udp_route(h, (*a.ip()).into(), None),
                    None => Ok(()),
                }
                .and_then(|()| stack.udp.connect(h, remote.map(Into::into)));
                if r.is_ok() {
                    opts::apply_ip_opts(stack, s.proto, &s.opts);
                }
                let mut r = Msg::reply(op, r.err().map_or(0, Error::errno));
                r.kind = remote.is_none() as u8;
                return r;
            }
            Proto::Tcp(h) => h,
        };
        let remote = match t {
            // AF_UNSPEC: Linux dissolves the association; on a socket that has none that is a no-op.
            Target::Unspec => {
                let st = stack.tcp.state(h);
                if st == Ok(TcpState::Listen) {
                    // tcp_disconnect stops a listener, as shutdown() does (inet_shutdown runs the
                    // same): connect() is EINVAL from then on and listen() resumes it (this
                    // kernel's answers). The wake-up tokens stay in the pair, never read as data.
                    super::shut::tcp(stack, now, s, h, libc::SHUT_RD, op);
                } else if !matches!(st, Ok(TcpState::Closed) | Err(_)) {
                    // A connection is reset (or a connect abandoned) at once; the pair goes with
                    // what it holds (Linux purges the queues), the next connect gets a new one.
                    let _ = stack.tcp.disconnect(now, h);
                    (s.dead, s.was_connected, s.connect_failed) = (true, false, true);
                }
                // An address bind() did not name goes, and a failed connect is forgotten
                // (SS_UNCONNECTED: the next connect is a new one); listen() stays EINVAL on a
                // socket that ever tried to connect (as this kernel answers).
                stack.tcp.reset_source(h);
                s.connect_failed |= std::mem::take(&mut s.connecting);
                let mut r = Msg::reply(op, 0);
                r.b = s.dead as i32; // the shim drops what the old pair still holds for the program
                r.kind = 1;
                return r;
            }
            t => match s.dual.engine_addr(t) {
                Some(a) => a,
                None => return Msg::reply(op, libc::EINVAL),
            },
        };
        if s.opts.ip_opts_set
            && stack.tcp.state(h) == Ok(TcpState::Closed)
            && stack.tcp.local_addr(h).is_none_or(|a| a.port() == 0)
        {
            let _ = stack.tcp.bind(h, unspecified().into());
            opts::apply_ip_opts(stack, s.proto, &s.opts);
        }
        let state = stack.tcp.state(h);
        if state == Ok(TcpState::Listen) {
            return Msg::reply(op, libc::EISCONN);
        }
        if state == Ok(TcpState::Closed) && s.connecting {
            // Failed, or made and ended before connect() looked again: Linux's sock_error path
            // (the error, else ECONNABORTED) and tcp_disconnect (unconnected from then on).
            s.connecting = false;
            s.connect_failed = true;
            s.was_connected = false;
            stack.tcp.reset_source(h);
            let e = stack.tcp.take_error(h).map(Error::errno).unwrap_or(libc::ECONNABORTED);
            return Msg::reply(op, e);
        }
        let connected = s.was_connected && !s.connecting;
        if connected || (state == Ok(TcpState::Closed) && s.listen_shut) {
            // Linux keeps SS_CONNECTED once connected: a connection, ended or not, is not made
            // again on the same socket (EISCONN); a non-blocking connect that finished is told
            // by the next connect() first (below). A listener that shutdown() stopped: EINVAL.
            return Msg::reply(op, if connected { libc::EISCONN } else { libc::EINVAL });
        }
        if s.dead {
            // The pair was shut down to report the earlier failure: a new one first (`renew.rs`).
            return Msg::reply(op, super::proto::RENEW);
        }
        match stack.tcp.connect(now, h, remote.into()) {
            // A new attempt: what an earlier failure's connect() reported is forgotten (Linux's
            // tcp_disconnect ran then; this attempt failing unreported leaves RCV_SHUTDOWN set
            // by tcp_done, and the read gives 0, not ENOTCONN).
            Ok(()) => s.connect_failed = false,
            Err(Error::AlreadyConnected) if s.connecting => {
                s.connecting = false;
                return Msg::reply(op, 0);
            }
            Err(e) => {
                if s.connecting && e != Error::Already {
                    s.connecting = false;
                    if let Some(p) = stack.tcp.take_error(h) {
                        s.connect_failed = true;
                        stack.tcp.reset_source(h);
                        return Msg::reply(op, p.errno());
                    }
                }
                return Msg::reply(op, e.errno());
            }
        }
        opts::apply_ip_opts(stack, s.proto, &s.opts);
        if m.c == 1 && self.settle_connect(h) {
            // A blocking connect whose handshake ended while we served it (a peer on the TAP
            // answers within our own write): connected, nothing to wait for.
            return Msg::reply(op, 0);
        }
        let s = self.socks[i].as_mut().expect("looked up");
        // Stuff the program's end so it is not writable until the handshake ends.
        let _ = fdpass::setsockopt_int(b, libc::SOL_SOCKET, libc::SO_SNDBUF, 1);
        let mut filler = 0;
        let chunk = [0u8; 512];
        while let Ok(n) = fdpass::send(b, &chunk, 0) {
            filler += n;
            if filler > (4 << 20) {
                break;
            }
        }
        s.hold = Some(Hold { b, filler });
        super::sock::HOLDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *kept = true;
        (s.connecting, s.peer_fin) = (true, false);
        s.interest = u32::MAX; // re-evaluated by the pump
        Msg::reply(op, libc::EINPROGRESS)
    }

    /// Runs stack rounds while `h`'s handshake is in flight and the TAP keeps answering (at
    /// most three); true once it is synchronized (established or later).
    fn settle_connect(&mut self, h: crate::socket::tcp::TcpHandle) -> bool {
        // Round 1 sends the SYN (after ARP if need be), the next ones read what came back.
        for k in 0..3 {
            let rx = self.stack.stats().rx_frames;
            let now = self.now();
            self.round(now);
            match self.stack.tcp.state(h) {
                Ok(TcpState::SynSent) | Ok(TcpState::SynReceived) => {}
                Ok(TcpState::Closed) | Ok(TcpState::Listen) | Err(_) => return false,
                Ok(_) => return true,
            }
            if k > 0 && self.stack.stats().rx_frames == rx {
                return false; // nothing came back: a remote peer, wait natively
            }
        }
        false
    }
}
