//! shutdown() on a socket of the service, as Linux's inet_shutdown and tcp_shutdown, and why a
//! program's read or write found the end (`Op::Reason`).
//!
//! SHUT_RD sends nothing to the peer. Linux then keeps delivering: data already queued and
//! data that arrives later stay readable, and a read returns 0 only when the queue is empty
//! (tcp_recvmsg looks at RCV_SHUTDOWN only when it copied nothing); poll reports
//! POLLIN|POLLRDHUP at once. The program reads the pair's end `b`, so the service moves what the
//! engine holds into `a` (growing `a`'s buffer for it) and shuts `a`'s writing once the
//! engine's queue is empty: `b` then reads the rest and 0 after it, with POLLIN|POLLRDHUP (the
//! kernel's AF_UNIX RCV_SHUTDOWN). Data arriving after that stays in the engine (the pair
//! cannot carry it past the end of stream it already gave): the shim, whose read found that
//! end on a socket it shut down for reading, asks for it with `Op::LateRead` ([`late_read`]),
//! so that it is read after the 0 as on Linux; unread, it keeps the window closing as on Linux,
//! and close() resets the connection as Linux does with unread data.
use crate::socket::tcp::{TcpHandle, TcpState};
use crate::socket::udp::UdpHandle;
use crate::socket::Shutdown;
use crate::stack::Stack;
use crate::time::Instant;

use super::fdpass;
use super::proto::{Msg, MAX_DATA};
use super::sock::{Proto, Sock};

/// Tokens written to wake the accept() calls blocked on a listener that shutdown() stopped.
const WAKE_TOKENS: usize = 64;

/// shutdown(how) on TCP socket `s` (engine handle `h`); the reply to the shim.
pub(super) fn tcp(stack: &mut Stack, now: Instant, s: &mut Sock, h: TcpHandle, how: i32, op: u8) -> Msg {
    let how = match how {
        libc::SHUT_RD => Shutdown::Read,
        libc::SHUT_WR => Shutdown::Write,
        libc::SHUT_RDWR => Shutdown::Both,
        _ => return Msg::reply(op, libc::EINVAL),
    };
    match stack.tcp.state(h) {
        Ok(TcpState::Closed) | Err(_) => return Msg::reply(op, libc::ENOTCONN),
        Ok(TcpState::Listen) | Ok(TcpState::SynSent) => {
            if let Err(e) = stack.tcp.shutdown(now, h, how) {
                return Msg::reply(op, e.errno());
            }
            if s.listening && how != Shutdown::Write {
                // The listener stops (Linux: CLOSE; accept() is EINVAL until listen() again,
                // which HAProxy does to resume a paused listener). Tokens without a connection
                // wake the accept() calls blocked on it, in every process: each asks and hears
                // EINVAL; after a new listen() a stale one is a spurious wake-up (EAGAIN).
                // The pair stays open for that listen().
                s.listening = false;
                s.listen_shut = true;
                for c in s.accept_q.drain(..) {
                    stack.tcp.abort(now, c); // as the engine's own queue: reset (inet_csk_listen_stop)
                }
                s.tokens = 0;
                let _ = fdpass::send(s.a, &[0u8; WAKE_TOKENS], 0);
            }
        }
        _ => {
            // inet_shutdown: a non-blocking connect that finished is SS_CONNECTED from here on
            // (a later connect() is EISCONN, not the "0 once" of a connect that completes it).
            s.connecting = false;
            s.was_connected = true;
            if how != Shutdown::Read {
                s.prog_shut_wr = true;
            }
            if how != Shutdown::Write {
                let _ = stack.tcp.shutdown(now, h, Shutdown::Read);
                if !s.eof_to_a && s.hold.is_none() {
                    make_room(s.a, stack.tcp.recv_queue(h));
                    // With no connect's filler to take back (`hold`), the pump needs no
                    // scratch buffer. (A connect the pump has not finished yet gets the same
                    // at the next round: the engine marked the socket changed.)
                    super::pump::pump_out(stack, now, s, &mut []);
                }
            }
        }
    }
    Msg::reply(op, 0)
}

/// shutdown(how) on UDP socket `s`, as Linux's inet_shutdown: ENOTCONN unless connected, but
/// the flags are set either way ("to wake up other listeners ... even on unconnected UDP
/// sockets"). Reading shut: the program's end `b` gets the pair's end of stream, so a recv()
/// blocked on it returns 0 (programs stop a receiving thread this way), an empty queue reads 0
/// (EAGAIN without waiting) and poll reports POLLIN|POLLRDHUP, exactly as a UDP socket's;
/// datagrams queued before stay readable, later ones are dropped (Linux would still queue
/// them). Writing shut: nothing (sends go on; Linux's fail with EPIPE).
pub(super) fn udp(stack: &mut Stack, s: &mut Sock, h: UdpHandle, how: i32, op: u8) -> Msg {
    if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
        return Msg::reply(op, libc::EINVAL);
    }
    if how != libc::SHUT_WR {
        let _ = fdpass::shutdown(s.a, libc::SHUT_WR);
    }
    Msg::reply(op, if stack.udp.remote_addr(h).is_some() { 0 } else { libc::ENOTCONN })
}

/// `Op::LateRead` on TCP socket `s`: up to `m.a` bytes the engine holds (peeked with
/// `m.b` = 1) once the pair has given its end of stream, so that nothing overtakes what the
/// pair still carries; reply `c` = the bytes the engine holds.
pub(super) fn late_read(stack: &mut Stack, now: Instant, s: &Sock, h: TcpHandle, m: &Msg) -> Msg {
    let queued = stack.tcp.recv_queue(h);
    let mut r = Msg::reply(m.op, 0);
    r.c = queued.min(i32::MAX as usize) as i32;
    let n = (m.a.max(0) as usize).min(MAX_DATA).min(queued);
    if !s.eof_to_a || n == 0 {
        return r;
    }
    let mut buf = vec![0u8; n];
    let got = if m.b == 1 { stack.tcp.peek(h, &mut buf) } else { stack.tcp.recv(now, h, &mut buf) };
    match got {
        Ok(k) => {
            buf.truncate(k);
            r.data = buf;
            r
        }
        Err(e) => Msg::reply(m.op, e.errno()),
    }
}

/// Grows the send buffer of `a` so that the `queued` bytes still in the engine fit in the pair
/// now and the program sees its end of stream at once (SO_SNDBUFFORCE, else as far as
/// SO_SNDBUF allows; what does not fit follows as the program reads, and the end after it).
fn make_room(a: i32, queued: usize) {
    if queued == 0 {
        return;
    }
    let Ok(cur) = fdpass::getsockopt_int(a, libc::SOL_SOCKET, libc::SO_SNDBUF) else { return };
    // The kernel doubles the value set; getsockopt reports the doubled one. Skb overhead is
    // covered by the margin.
    let want = (cur as usize).saturating_add(queued.saturating_mul(2)).saturating_add(64 << 10);
    let v = (want / 2).min(i32::MAX as usize / 2) as i32;
    if fdpass::setsockopt_int(a, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v).is_err() {
        let _ = fdpass::setsockopt_int(a, libc::SOL_SOCKET, libc::SO_SNDBUF, v);
    }
}

/// `Op::Reason`: why the program's read (`m.c` = 1) or write on socket `s` found the pair's end:
/// the errno the connection ended with, once (`m.b` = 1: only look, for poll's POLLERR), 0 for
/// a plain end; ENOTCONN for a read on a socket whose failed connect a connect() reported
/// (Linux's tcp_disconnect clears RCV_SHUTDOWN; unreported, the read gives 0). A read after
/// the peer's FIN ends with 0 whatever came later (tcp_recvmsg looks at SOCK_DONE before
/// sk_err): the error stays.
pub(super) fn reason(stack: &mut Stack, s: &mut Sock, p: Proto, m: &Msg) -> Msg {
    let peek = m.b == 1;
    if m.c == 1 && !peek && s.peer_fin && s.reason == 0 && matches!(p, Proto::Tcp(_)) {
        return Msg::reply(m.op, 0);
    }
    let mut e = if peek { s.reason } else { std::mem::take(&mut s.reason) };
    if let (0, Proto::Tcp(h)) = (e, p) {
        if peek {
            if stack.tcp.readiness(h).error {
                e = libc::EIO; // some error is pending: that is all poll needs
            }
        } else if let Some(x) = stack.tcp.take_error(h) {
            e = x.errno();
        } else if m.c == 1 && s.connect_failed && !s.was_connected && stack.tcp.state(h) == Ok(TcpState::Closed) {
            e = libc::ENOTCONN;
        }
    }
    Msg::reply(m.op, e)
}
