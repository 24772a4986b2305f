//! A new pair for a socket whose connect failed (`Op::Renew`). The service reports a failed
//! connect by shutting the pair down both ways (poll shows POLLOUT|POLLHUP, reads end, writes
//! fail with EPIPE) and forgetting it (`dead`), but Linux's socket may connect again once the
//! failure was reported (tcp_disconnect in __inet_stream_connect): the "wait until the server
//! is up" loop, connect() again on the same socket until it works. Such a connect is answered
//! `proto::RENEW`; the shim asks for a new pair, puts the program's new end in place of the old
//! one (dup3: same number, flags kept) and connects again.
use super::fdpass;
use super::proto::Msg;
use super::sock::Proto;
use super::{Service, T_SOCK};
use crate::socket::tcp::TcpState;

/// Sets up a new pair's ends as every socket's: the service's end `a` non-blocking (and reading
/// urgent data in line for a stream), both buffers sized, the program's end `b` marked.
pub(super) fn prepare_pair(a: i32, b: i32, stream: bool) {
    let _ = fdpass::set_nonblock(a);
    if stream {
        super::sock::urgent_inline(a);
    }
    super::sock::set_pair_buffer(a);
    super::sock::set_pair_buffer(b);
    super::mark_program_end(b);
}

impl Service {
    /// `Op::Renew` for socket `i`: replaces its spent pair; the reply passes the program's new
    /// end. EINVAL unless it is a TCP socket whose failed connect spent its pair.
    pub(super) fn op_renew(&mut self, i: usize, op: u8) -> (Msg, Option<i32>) {
        let Some(s) = self.socks[i].as_ref() else { return (Msg::reply(op, libc::EBADF), None) };
        let spent = match s.proto {
            Proto::Tcp(h) => s.dead && !s.was_connected && self.stack.tcp.state(h) == Ok(TcpState::Closed),
            Proto::Udp(_) => false,
        };
        if !spent {
            return (Msg::reply(op, libc::EINVAL), None);
        }
        let (a, b) = match fdpass::socketpair(libc::SOCK_STREAM) {
            Ok(p) => p,
            Err(e) => return (Msg::reply(op, e), None),
        };
        prepare_pair(a, b, true);
        let ident = match fdpass::identity(b) {
            Ok(id) => id,
            Err(e) => {
                let _ = crate::sys::close(a);
                let _ = crate::sys::close(b);
                return (Msg::reply(op, e), None);
            }
        };
        // The old end goes (closed with the other forgotten ones); the socket keeps its engine
        // handle, options, owner and family, and starts over as a new one.
        let s = self.socks[i].take().expect("looked up");
        if !s.parked {
            self.ep_del(s.a);
        }
        self.closing.push(s.a);
        self.zombies.retain(|&(j, _)| j != i);
        self.by_ident.remove(&s.ident);
        let mut n = super::sock::Sock::new(s.proto, a, ident);
        n.opts = s.opts;
        n.uid = s.uid;
        n.dual = s.dual;
        n.connect_failed = s.connect_failed;
        n.active = s.active;
        n.interest = n.wanted();
        self.ep_add(a, n.interest, T_SOCK | i as u64);
        self.socks[i] = Some(n);
        self.by_ident.insert(ident, i);
        (Msg::reply(op, 0), Some(b))
    }
}
