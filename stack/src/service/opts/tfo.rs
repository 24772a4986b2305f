//! TCP_FASTOPEN, TCP_FASTOPEN_CONNECT, TCP_FASTOPEN_NO_COOKIE and TCP_WINDOW_CLAMP: options
//! whose answer depends on the connection's state (Linux do_tcp_setsockopt,
//! do_tcp_getsockopt, tcp_set_window_clamp).
//!
//! Fast Open is answered as Linux with its default net.ipv4.tcp_fastopen = 1: the client side
//! is on, the server side off (a listener accepts and reports its queue length, and stays a
//! plain listener). Without a cookie from the server Linux's Fast Open connect is a plain
//! handshake (its SYN asks for a cookie, which a server without Fast Open never gives); here
//! the SYN carries no cookie request, the rest is the same: connect() or sendto(MSG_FASTOPEN)
//! returns as after any handshake and the data follows; non-blocking (O_NONBLOCK, or
//! MSG_DONTWAIT on the send) it returns EINPROGRESS once the SYN is on its way (the shim's
//! `svc::route::fastopen`).
use crate::socket::tcp::{TcpHandle, TcpOption, TcpState};
use crate::stack::Stack;
use crate::Error;

/// The Fast Open options of one socket as set (Linux's defaults: all 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tfo {
    /// TCP_FASTOPEN: a listener's queue length (not inherited by accepted sockets).
    pub qlen: i32,
    /// TCP_FASTOPEN_CONNECT.
    pub connect: bool,
    /// TCP_FASTOPEN_NO_COOKIE.
    pub no_cookie: bool,
}

/// The smallest clamp tcp_set_window_clamp sets (SOCK_MIN_RCVBUF / 2 on Linux 6.x).
pub const MIN_CLAMP: i32 = 1152;
/// net.core.somaxconn's default: a listener's Fast Open queue is capped at it
/// (fastopen_queue_tune).
const SOMAXCONN: i32 = 4096;

/// setsockopt of one of these options: None if `name` is not one.
pub fn set(stack: &mut Stack, h: TcpHandle, o: &mut Tfo, name: i32, v: i32) -> Option<Result<(), i32>> {
    let st = stack.tcp.state(h).ok();
    let closed = matches!(st, Some(TcpState::Closed) | None);
    let listen = st == Some(TcpState::Listen);
    let bool_opt = (0..=1).contains(&v);
    Some(match name {
        libc::TCP_FASTOPEN if v >= 0 && (closed || listen) => {
            o.qlen = v.min(SOMAXCONN);
            Ok(())
        }
        libc::TCP_FASTOPEN_CONNECT if bool_opt && closed => {
            o.connect = v == 1;
            Ok(())
        }
        libc::TCP_FASTOPEN_NO_COOKIE if bool_opt && (closed || listen) => {
            o.no_cookie = v == 1;
            Ok(())
        }
        libc::TCP_FASTOPEN | libc::TCP_FASTOPEN_CONNECT | libc::TCP_FASTOPEN_NO_COOKIE => Err(libc::EINVAL),
        // 0 (no clamp) only before connecting; below the minimum means the minimum.
        libc::TCP_WINDOW_CLAMP if v == 0 && !closed => Err(libc::EINVAL),
        libc::TCP_WINDOW_CLAMP => {
            let c = if v == 0 { 0 } else { v.max(MIN_CLAMP) as u32 };
            stack.tcp.set_option(h, TcpOption::WindowClamp(c)).map_err(Error::errno)
        }
        _ => return None,
    })
}

/// getsockopt of one of these options: None if `name` is not one.
pub fn get(stack: &Stack, h: TcpHandle, o: &Tfo, name: i32) -> Option<Result<i32, i32>> {
    Some(match name {
        libc::TCP_FASTOPEN => Ok(o.qlen),
        libc::TCP_FASTOPEN_CONNECT => Ok(o.connect as i32),
        libc::TCP_FASTOPEN_NO_COOKIE => Ok(o.no_cookie as i32),
        libc::TCP_WINDOW_CLAMP => match stack.tcp.get_option(h, TcpOption::WindowClamp(0)) {
            Ok(TcpOption::WindowClamp(c)) => Ok(c.min(i32::MAX as u32) as i32),
            Ok(_) => Ok(0),
            Err(e) => Err(e.errno()),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn as_linux_before_connecting() {
        let cfg = Config::from_lookup(|_| None).unwrap();
        let mut s = Stack::new(&cfg, 1);
        let h = s.tcp.socket();
        let mut o = Tfo::default();
        assert_eq!(get(&s, h, &o, libc::TCP_WINDOW_CLAMP), Some(Ok(0)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_WINDOW_CLAMP, 100), Some(Ok(())));
        assert_eq!(get(&s, h, &o, libc::TCP_WINDOW_CLAMP), Some(Ok(MIN_CLAMP)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_WINDOW_CLAMP, 0), Some(Ok(())));
        assert_eq!(get(&s, h, &o, libc::TCP_WINDOW_CLAMP), Some(Ok(0)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_FASTOPEN, -1), Some(Err(libc::EINVAL)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_FASTOPEN, 100_000), Some(Ok(())));
        assert_eq!(get(&s, h, &o, libc::TCP_FASTOPEN), Some(Ok(SOMAXCONN)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_FASTOPEN_CONNECT, 2), Some(Err(libc::EINVAL)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_FASTOPEN_CONNECT, 1), Some(Ok(())));
        assert_eq!(get(&s, h, &o, libc::TCP_FASTOPEN_CONNECT), Some(Ok(1)));
        s.tcp.bind(h, crate::wire::ip::IpEndpoint::new(crate::wire::ip::IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
        s.tcp.listen(h, 4).unwrap();
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_FASTOPEN_CONNECT, 1), Some(Err(libc::EINVAL)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_WINDOW_CLAMP, 0), Some(Err(libc::EINVAL)));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_FASTOPEN, 5), Some(Ok(())));
        assert_eq!(set(&mut s, h, &mut o, libc::TCP_NODELAY, 1), None);
    }
}
