//! One socket of the shared stack as the service holds it: the engine handle, the service's
//! end `a` of the socketpair whose other end the program holds, the data taken from one side
//! and not yet accepted by the other (`Pending`), and the close when the program is gone. What
//! moves the data: `pump.rs`.
use std::collections::VecDeque;

use crate::client::dual::Dual;
use crate::socket::tcp::TcpHandle;
use crate::stack::Stack;
use crate::time::Instant;

pub use super::engine::Proto;
use super::fdpass;
use super::opts::Opts;

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
pub(super) fn release_hold(hold: Hold) {
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
    /// That EOF was the peer's FIN (Linux's SOCK_DONE): reads end with 0 from then on, and an
    /// error that comes later (a reset in CLOSE-WAIT) stays for SO_ERROR and the next send.
    pub peer_fin: bool,
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
            peer_fin: false,
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
pub(super) fn flush_rx(s: &mut Sock) -> bool {
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
