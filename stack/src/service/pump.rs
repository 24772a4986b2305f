//! The data pump of a socket: what moves between the program's pair and the engine, either
//! way, whenever either side can take it. TCP: bytes ride a SOCK_STREAM pair; the service reads
//! `a` straight into the TCP send buffer, only while it has room (the program's write blocks
//! natively = flow control), and writes received data from the TCP receive buffer into `a` only
//! as far as `a` takes it (the rest stays in the engine: the window shrinks when the program
//! stops reading); no copy in between (`send_with`, `recv_with`). UDP (`pump_udp.rs`): a
//! SOCK_SEQPACKET pair, one record per datagram with a `proto::UDP_HDR` header.
use crate::socket::tcp::{TcpHandle, TcpState};
use crate::stack::Stack;
use crate::time::Instant;
use crate::Error;

use super::engine::Proto;
use super::fdpass;
use super::sock::{flush_rx, release_hold, set_pair_buffer, Pending, Sock, CHUNK};

/// Moves data and state from the engine to the program: finishes a connect, delivers received
/// bytes, end of stream and errors, queues accept tokens.
pub fn pump_out(stack: &mut Stack, now: Instant, s: &mut Sock, scratch: &mut [u8]) {
    match s.proto {
        Proto::Tcp(h) => pump_tcp_out(stack, now, s, h, scratch),
        Proto::Udp(h) => super::pump_udp::pump_out(stack, s, h, scratch),
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
                (s.eof_to_a, s.peer_fin) = (true, true);
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

/// Moves data from the program into the engine: reads `a` while the engine takes it.
/// Returns Err(errno) if reading `a` failed (ECONNRESET: closed with unread data).
pub fn pump_in(stack: &mut Stack, now: Instant, s: &mut Sock, scratch: &mut [u8]) -> Result<(), i32> {
    match s.proto {
        Proto::Tcp(h) => pump_tcp_in(stack, now, s, h, scratch),
        Proto::Udp(h) => super::pump_udp::pump_in(stack, s, h, scratch),
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
