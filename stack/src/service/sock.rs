//! One socket of the shared stack as the service holds it: the engine handle, the service's
//! end `a` of the socketpair whose other end the program holds, and the data moving between
//! them. TCP: bytes ride a SOCK_STREAM pair; the service reads `a` straight into the TCP send
//! buffer, only while it has room (the program's write blocks natively = flow control), and
//! writes received data from the TCP receive buffer into `a` only as far as `a` takes it (the
//! rest stays in the engine: the window shrinks when the program stops reading); no copy in
//! between (`send_with`, `recv_with`). UDP: a SOCK_SEQPACKET pair, one record per datagram
//! with a `proto::UDP_HDR` header.
use std::collections::VecDeque;
use std::net::SocketAddrV4;

use crate::client::dual::Dual;
use crate::socket::tcp::{TcpHandle, TcpState};
use crate::socket::udp::UdpHandle;
use crate::stack::Stack;
use crate::time::Instant;
use crate::Error;

pub use super::engine::Proto;
use super::fdpass;
use super::opts::Opts;
use super::proto::UDP_HDR;

/// The pair buffer size asked for each end (root may exceed wmem_max with SO_SNDBUFFORCE).
const PAIR_BUF: i32 = 1 << 20;

/// Sets the send buffer of one end of a pair to the service's standard size.
pub(crate) fn set_pair_buffer(fd: i32) {
    if fdpass::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, PAIR_BUF / 2).is_err() {
        let _ = fdpass::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, PAIR_BUF / 2);
    }
}

/// Makes the service's end `a` of a TCP pair read urgent data in line. A program's
/// `send(MSG_OOB)` puts its byte out of band of the AF_UNIX stream; without SO_OOBINLINE the
/// service's reads of `a` skip that byte and it would be lost. In line, it reaches the TCP
/// stream in its place (tapstack sends no urgent pointer: the peer reads it as if it had
/// SO_OOBINLINE set; RFC 6093 asks new applications not to use urgent data).
pub(crate) fn urgent_inline(a: i32) {
    let _ = fdpass::setsockopt_int(a, libc::SOL_SOCKET, libc::SO_OOBINLINE, 1);
}

/// Connects in progress in this process, each holding one more descriptor (`Hold::b`): the
/// descriptor budget counts them (`store.rs`).
pub static HOLDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Closes a hold's copy of the program's end.
fn release_hold(hold: Hold) {
    HOLDS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let _ = crate::sys::close(hold.b);
}

/// A connect in progress: the service holds a copy of the program's end, stuffed with
/// `filler` bytes so it does not poll writable before the handshake ends.
pub struct Hold {
    pub b: i32,
    pub filler: usize,
}

/// Bytes taken from one side and not yet accepted by the other.
#[derive(Default)]
pub struct Pending {
    pub buf: Vec<u8>,
    pub off: usize,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.off >= self.buf.len()
    }
    pub fn rest(&self) -> &[u8] {
        &self.buf[self.off..]
    }
    pub fn set(&mut self, d: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(d);
        self.off = 0;
    }
    pub fn advance(&mut self, n: usize) {
        self.off += n;
        if self.is_empty() {
            // Memory follows use: a large chunk goes back (an idle socket holds none).
            if self.buf.capacity() > KEEP {
                self.buf = Vec::new();
            }
            self.buf.clear();
            self.off = 0;
        }
    }
}

pub struct Sock {
    pub proto: Proto,
    /// The service's end of the pair.
    pub a: i32,
    /// (st_dev, st_ino) of the program's end: how requests name this socket.
    pub ident: (u64, u64),
    pub opts: Opts,
    /// The user whose process made it (Linux `sk_uid`; SO_REUSEPORT groups, `perm`).
    pub uid: u32,
    /// The family, IPPROTO_IPV6 options and virtual binding (dual-stack, `client::dual`).
    pub dual: Dual,
    pub listening: bool,
    pub backlog: usize,
    /// Connections taken from the engine, not yet handed to the program.
    pub accept_q: VecDeque<TcpHandle>,
    /// Accept tokens written into `a` and not yet redeemed.
    pub tokens: usize,
    pub hold: Option<Hold>,
    /// A non-blocking connect returned EINPROGRESS and no later connect() saw it finish.
    pub connecting: bool,
    /// Program -> stack bytes read from `a` that the engine did not take yet (TCP reads `a`
    /// straight into the engine's send buffer; only bytes that arrive while `a` is read to
    /// learn whether it ended can land here).
    pub tx: Pending,
    /// Stack -> program datagrams the engine gave that `a` did not take yet (UDP; TCP bytes
    /// stay in the engine's receive buffer until `a` takes them).
    pub rx: Pending,
    /// The engine's send buffer had no room at the last try: `a` is not read (the program's
    /// writes block natively) until the engine reports progress.
    pub tx_full: bool,
    /// `a` took less than the engine offered at the last try: wait for it to turn writable.
    pub a_full: bool,
    /// Read 0 from `a`: the program shut down writing (or closed).
    pub a_eof: bool,
    /// `a` reported POLLHUP: every copy of the program's end is closed.
    pub a_hup: bool,
    /// The last read of `a` found it empty and epoll has not reported it readable since:
    /// reading it again would only give EAGAIN.
    pub a_dry: bool,
    /// We told the engine to send FIN.
    pub fin_sent: bool,
    /// We shut `a` down for writing (the program reads EOF).
    pub eof_to_a: bool,
    /// Why the program's read returned 0 (errno), 0 for a plain end of stream.
    pub reason: i32,
    /// The program shut down its writing (through the shim's shutdown()).
    pub prog_shut_wr: bool,
    /// The connection was established once (a later Closed is a reset or an end).
    pub was_connected: bool,
    /// A connect() reported the connection's failure: listen() is EINVAL from then on, as on
    /// Linux (connect() may try again).
    pub connect_failed: bool,
    /// shutdown() stopped this listener: connect() is EINVAL, as Linux's after that.
    pub listen_shut: bool,
    /// The connection is over (reset, refused, timed out, or both directions closed): `a` is
    /// shut down both ways (the program reads EOF, its writes fail with EPIPE) and out of
    /// epoll; the service waits for the program's close through sock_diag.
    pub dead: bool,
    /// Current epoll interest of `a`.
    pub interest: u32,
    /// Removed from epoll while the engine cannot take what `a` has (HUP would spin).
    pub parked: bool,
    /// `a` is with a keeper (`keep.rs`) under this ticket (`a` is -1 then); 0 when in hand.
    pub stored: u64,
    /// When it last moved (the service's clock, ms): only long-idle connections are stored.
    pub active: u32,
}

/// Storage a drained `Pending` keeps (more goes back to the allocator).
const KEEP: usize = 4096;

/// How much is read from `a` or the engine per step.
pub const CHUNK: usize = 256 * 1024;

impl Sock {
    pub fn new(proto: Proto, a: i32, ident: (u64, u64)) -> Sock {
        Sock {
            proto,
            a,
            ident,
            opts: Opts::default(),
            uid: 0,
            dual: Dual::default(),
            listening: false,
            backlog: 0,
            accept_q: VecDeque::new(),
            tokens: 0,
            hold: None,
            connecting: false,
            tx: Pending::default(),
            rx: Pending::default(),
            tx_full: false,
            a_full: false,
            a_eof: false,
            a_hup: false,
            a_dry: false,
            fin_sent: false,
            eof_to_a: false,
            reason: 0,
            prog_shut_wr: false,
            was_connected: false,
            connect_failed: false,
            listen_shut: false,
            dead: false,
            interest: 0,
            parked: false,
            stored: 0,
            active: 0,
        }
    }

    /// The epoll interest this socket needs now.
    pub fn wanted(&self) -> u32 {
        let mut ev = 0u32;
        let reading = !self.a_eof && self.tx.is_empty() && !self.tx_full && self.hold.is_none() && !self.listening;
        if reading {
            ev |= libc::EPOLLIN as u32;
        }
        if !self.rx.is_empty() || self.a_full || (self.listening && self.tokens < self.accept_q.len()) {
            ev |= libc::EPOLLOUT as u32;
        }
        ev
    }

    /// True once the program is gone and nothing remains to move: the service forgets it.
    pub fn finished(&self) -> bool {
        self.a_hup && !self.both_shut() && (self.listening || self.hold.is_some() || (self.a_eof && self.tx.is_empty()))
    }

    /// Both directions are shut (the program's shutdown(SHUT_WR), which the shim reported, and
    /// our end of `a` after the peer's FIN): POLLHUP on `a` no longer means "closed", so the
    /// close is learnt through sock_diag (the socket becomes `dead` once nothing is left to move).
    pub fn both_shut(&self) -> bool {
        self.prog_shut_wr && self.eof_to_a
    }
}

/// Writes what is pending for the program into `a`. Returns false if `a` is full.
fn flush_rx(s: &mut Sock) -> bool {
    while !s.rx.is_empty() {
        match fdpass::send(s.a, s.rx.rest(), 0) {
            Ok(n) => s.rx.advance(n),
            Err(libc::EAGAIN) => return false,
            Err(_) => {
                // The program's end is gone: nobody will read it.
                s.rx = Pending::default();
                return true;
            }
        }
        if matches!(s.proto, Proto::Udp(_)) {
            // One record per datagram: a partial send does not exist for SEQPACKET.
            s.rx = Pending::default();
        }
    }
    true
}

/// Moves data and state from the engine to the program: finishes a connect, delivers received
/// bytes, end of stream and errors, queues accept tokens.
pub fn pump_out(stack: &mut Stack, now: Instant, s: &mut Sock, scratch: &mut [u8]) {
    match s.proto {
        Proto::Tcp(h) => pump_tcp_out(stack, now, s, h, scratch),
        Proto::Udp(h) => pump_udp_out(stack, s, h, scratch),
    }
}

fn pump_tcp_out(stack: &mut Stack, now: Instant, s: &mut Sock, h: TcpHandle, scratch: &mut [u8]) {
    s.a_full = false;
    if let Some(hold) = &s.hold {
        match stack.tcp.state(h) {
            Ok(TcpState::SynSent) | Ok(TcpState::SynReceived) => return,
            st => {
                if matches!(st, Ok(TcpState::Closed) | Err(_)) {
                    // Failed: shut the pair first, so the program never sees a writable end
                    // without the hang-up that goes with the failure.
                    let _ = fdpass::shutdown(s.a, libc::SHUT_RDWR);
                }
                // Done (either way): take the filler back out so the program's end turns
                // writable, which is its POLLOUT for the connect.
                let mut left = hold.filler;
                let cap = scratch.len();
                while left > 0 {
                    match fdpass::recv(s.a, &mut scratch[..left.min(cap)], 0) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => left -= n,
                    }
                }
                set_pair_buffer(hold.b);
                if let Some(hold) = s.hold.take() {
                    release_hold(hold);
                }
                if matches!(stack.tcp.state(h), Ok(TcpState::Closed) | Err(_)) {
                    // Refused, unreachable, timed out: the error waits for SO_ERROR.
                    s.dead = true;
                    return;
                }
            }
        }
    }
    if s.listening {
        while s.accept_q.len() < s.backlog.max(1) {
            match stack.tcp.accept(h) {
                Ok(c) => s.accept_q.push_back(c),
                Err(_) => break,
            }
        }
        while s.tokens < s.accept_q.len() {
            match fdpass::send(s.a, &[1], 0) {
                Ok(_) => s.tokens += 1,
                Err(_) => break,
            }
        }
        return;
    }
    if !flush_rx(s) {
        return;
    }
    if s.eof_to_a {
        if s.was_connected && matches!(stack.tcp.state(h), Ok(TcpState::Closed) | Err(_)) {
            s.dead = true;
        }
        return;
    }
    loop {
        let st = stack.tcp.state(h);
        if matches!(st, Ok(TcpState::SynSent) | Ok(TcpState::SynReceived)) {
            return;
        }
        if matches!(st, Ok(TcpState::Closed) | Err(_)) && stack.tcp.recv_queue(h) == 0 {
            // Nothing more to read. A pending error (refused, reset, timeout) stays for
            // SO_ERROR and for the reason of the program's next 0 read (`Op::Reason`).
            if s.was_connected {
                s.eof_to_a = true;
                s.dead = true;
            }
            return;
        }
        s.was_connected = true;
        // Straight from the engine's receive buffer into `a`: what `a` does not take stays
        // there (and keeps the window closed) until `a` turns writable.
        let a = s.a;
        let mut wrote = None;
        let r = stack.tcp.recv_with(now, h, CHUNK, |x, y| {
            let w = fdpass::send_vectored(a, x, y, 0);
            wrote = Some((w, x.len() + y.len()));
            match w {
                Ok(k) => k,
                Err(libc::EAGAIN) => 0,
                Err(_) => x.len() + y.len(), // the program's end is gone: nobody will read it
            }
        });
        match (r, wrote) {
            (Ok(0), None) => {
                let _ = fdpass::shutdown(s.a, libc::SHUT_WR);
                s.eof_to_a = true;
                return;
            }
            (Ok(_), Some((Ok(k), n))) if k == n => continue,
            (Ok(_), Some((Ok(_) | Err(libc::EAGAIN), _))) => {
                s.a_full = true;
                return;
            }
            (Ok(_), _) => return,
            (Err(Error::WouldBlock) | Err(Error::NotConnected), _) => return,
            (Err(e), _) => {
                // Reset, timeout, refused: the program reads EOF and asks why (`Op::Reason`).
                s.reason = e.errno();
                s.eof_to_a = true;
                s.dead = true;
                return;
            }
        }
    }
}

fn pump_udp_out(stack: &mut Stack, s: &mut Sock, h: UdpHandle, scratch: &mut [u8]) {
    if !flush_rx(s) {
        return;
    }
    loop {
        let m = match stack.udp.recv_from(h, &mut scratch[UDP_HDR..], false) {
            Ok(m) => m,
            Err(Error::WouldBlock) | Err(Error::NotConnected) | Err(Error::BadHandle) => return,
            Err(e) => {
                let _ = fdpass::send(s.a, &super::proto::udp_err_hdr(e.errno()), 0);
                continue;
            }
        };
        let hdr = super::proto::udp_hdr_rx(m.from.into(), &rx_info(stack, &s.opts, &m));
        scratch[..UDP_HDR].copy_from_slice(&hdr);
        let d = &scratch[..UDP_HDR + m.copied];
        match fdpass::send(s.a, d, 0) {
            Ok(_) => {}
            Err(libc::EAGAIN) => {
                s.rx.set(d);
                return;
            }
            Err(libc::EPIPE) => {} // the program shut down reading (shut::udp): dropped
            Err(_) => return,
        }
    }
}

/// Moves data from the program into the engine: reads `a` while the engine takes it.
/// Returns Err(errno) if reading `a` failed (ECONNRESET: closed with unread data).
pub fn pump_in(stack: &mut Stack, now: Instant, s: &mut Sock, scratch: &mut [u8]) -> Result<(), i32> {
    match s.proto {
        Proto::Tcp(h) => pump_tcp_in(stack, now, s, h, scratch),
        Proto::Udp(h) => pump_udp_in(stack, s, h, scratch),
    }
}

fn pump_tcp_in(stack: &mut Stack, now: Instant, s: &mut Sock, h: TcpHandle, scratch: &mut [u8]) -> Result<(), i32> {
    if s.hold.is_some() || s.listening {
        if s.listening && s.a_hup {
            s.a_eof = true;
        }
        return Ok(());
    }
    s.tx_full = false;
    loop {
        if !s.tx.is_empty() {
            match stack.tcp.send(now, h, s.tx.rest()) {
                Ok(n) => s.tx.advance(n),
                Err(Error::WouldBlock) => return Ok(()),
                Err(_) => s.tx = Pending::default(), // the connection is gone: drop it
            }
            if !s.tx.is_empty() {
                return Ok(());
            }
        }
        if s.a_eof {
            break;
        }
        if s.a_dry && !s.a_hup {
            return Ok(());
        }
        // Straight from `a` into the engine's send buffer, asking it for room for what `a`
        // holds (the buffer grows to what arrives, as `send` grows it).
        let held = fdpass::unread(s.a).unwrap_or(0);
        if held > 0 {
            let (a, ask) = (s.a, held.min(CHUNK));
            let mut got = None;
            let r = stack.tcp.send_with(now, h, ask, |x, y| {
                let g = fdpass::recv_vectored(a, x, y, 0);
                got = Some((g, x.len() + y.len()));
                g.unwrap_or(0)
            });
            match (r, got) {
                (Err(Error::WouldBlock), _) => {
                    s.tx_full = true;
                    return Ok(());
                }
                (_, Some((Ok(0), _))) => {
                    s.a_eof = true;
                    break;
                }
                (_, Some((Ok(n), room))) => {
                    // All it held read: `a` is empty (as a short read says below).
                    s.a_dry = n >= held && !s.a_hup;
                    if n == room && room < ask {
                        // The engine's buffer is full now.
                        s.tx_full = true;
                        return Ok(());
                    }
                    continue;
                }
                (_, Some((Err(libc::EAGAIN), _))) => {
                    s.a_dry = true;
                    return Ok(());
                }
                (_, Some((Err(e), _))) => return Err(e),
                (_, None) => {} // the connection is gone: read and drop below
            }
        }
        match fdpass::recv(s.a, scratch, 0) {
            Ok(0) => {
                s.a_eof = true;
                break;
            }
            Ok(n) => {
                // A short read of a stream emptied it: the next read waits for epoll (unless
                // the program is gone: then the end of stream is still to be read, and epoll
                // says nothing more).
                s.a_dry = n < scratch.len() && !s.a_hup;
                // Into the engine; only what it cannot take yet waits in `tx`.
                let k = match stack.tcp.send(now, h, &scratch[..n]) {
                    Ok(k) => k,
                    Err(Error::WouldBlock) => 0,
                    Err(_) => n, // the connection is gone: drop it
                };
                if k < n {
                    s.tx.set(&scratch[k..n]);
                    return Ok(());
                }
            }
            Err(libc::EAGAIN) => {
                s.a_dry = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    if s.a_eof && s.tx.is_empty() && !s.fin_sent {
        // The program shut down writing: FIN after the data.
        let _ = stack.tcp.shutdown(now, h, crate::socket::Shutdown::Write);
        s.fin_sent = true;
    }
    Ok(())
}

fn pump_udp_in(stack: &mut Stack, s: &mut Sock, h: UdpHandle, scratch: &mut [u8]) -> Result<(), i32> {
    loop {
        if !s.tx.is_empty() {
            if let Some(e) = stack.udp.take_error(h) {
                // Linux fails the send with the pending error; the program's send returned
                // already, so the error goes to its stream (next recv, POLLERR) and the
                // datagram still leaves rather than vanish unreported.
                let _ = fdpass::send(s.a, &super::proto::udp_err_hdr(e.errno()), 0);
            }
            let (dst, data) = split_udp(s.tx.rest());
            let src = super::proto::parse_udp_src(s.tx.rest()).map(Into::into);
            // The shim checked the route already (`Op::Route`); a group it could not reach
            // never leaves.
            let routed = dst.map_or(Ok(()), |d| stack.udp_route(h, (*d.ip()).into(), src));
            match routed.and_then(|()| stack.udp.send_from(h, data, dst.map(Into::into), src)) {
                Err(Error::WouldBlock) => return Ok(()),
                Ok(_) if s.opts.ip_opts_set => {
                    // The send may have bound the socket (its port, or a ping identifier): IP_TTL
                    // and IP_TOS follow that port.
                    super::opts::apply_ip_opts(stack, s.proto, &s.opts);
                }
                Ok(_) => {}
                Err(e) => {
                    // Reported through SO_ERROR-like reason (the program's send already returned).
                    s.reason = e.errno();
                }
            }
            s.tx = Pending::default();
        }
        if s.a_dry && !s.a_hup {
            return Ok(());
        }
        match fdpass::recv(s.a, scratch, 0) {
            Ok(0) => {
                s.a_eof = true;
                return Ok(());
            }
            Ok(n) => s.tx.set(&scratch[..n]),
            Err(libc::EAGAIN) => {
                s.a_dry = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
}

/// What recvmsg's control messages need of a datagram, as its socket's options ask (Linux's
/// ipv4_pktinfo_prepare: a unicast datagram from this host came in on the loopback device,
/// index 1; `ipi_spec_dst` is the destination when it is our unicast address, else the address
/// a reply would come from).
fn rx_info(stack: &Stack, o: &Opts, m: &crate::socket::udp::RecvMeta) -> super::proto::RxInfo {
    let pktinfo = o.pktinfo.then(|| {
        let (src, dst) = (m.from.ip().as_v4(), m.dst.as_v4());
        // (A looped-back copy of our own multicast keeps the outgoing device: dev_loopback_xmit.)
        let local = (src.is_loopback() || src == stack.addr()) && !dst.is_multicast();
        let unicast = dst == stack.addr() || dst.is_loopback();
        super::proto::PktInfo {
            ifindex: if local { 1 } else { super::mcast::tap_ifindex() },
            spec_dst: if unicast { dst } else { stack.addr() },
            addr: dst,
        }
    });
    // SO_TIMESTAMP(NS): when the service queues it (Linux stamps at the device; the same clock).
    let tstamp = (o.tstamp != 0).then(|| super::proto::Tstamp::now(o.tstamp == 2));
    super::proto::RxInfo { ttl: m.ttl, tos: m.tos.filter(|_| o.recvtos), pktinfo, tstamp }
}

fn split_udp(rec: &[u8]) -> (Option<SocketAddrV4>, &[u8]) {
    match super::proto::parse_udp_hdr(rec) {
        Some(dst) => (dst, &rec[UDP_HDR..]),
        None => (None, &[]),
    }
}

/// The program is gone (every copy of its end closed): close the socket as the kernel would.
/// TCP: RST if data it never read remains (or `reset`), FIN otherwise; a listener resets the
/// connections it never accepted.
pub fn close(stack: &mut Stack, now: Instant, s: &mut Sock, reset: bool) {
    match s.proto {
        Proto::Tcp(h) => {
            for c in s.accept_q.drain(..) {
                stack.tcp.abort(now, c);
            }
            let unread = !s.rx.is_empty() || stack.tcp.recv_queue(h) > 0;
            if reset || (unread && !s.listening) {
                stack.tcp.abort(now, h);
            } else {
                stack.tcp.close(now, h);
            }
        }
        Proto::Udp(h) => stack.udp.close(h),
    }
    if let Some(hold) = s.hold.take() {
        release_hold(hold);
    }
}
