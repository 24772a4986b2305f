//! socket, bind, listen, accept, accept4, connect, shutdown, getsockname, getpeername.
//! AF_INET and AF_INET6 SOCK_STREAM (TCP) and SOCK_DGRAM (UDP) become tapstack sockets (AF_INET6
//! ones dual-stack: see `dual`); everything else (AF_UNIX, AF_NETLINK, raw sockets) goes to
//! libc untouched.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use libc::{c_int, sockaddr, socklen_t};
use std::time::Duration;

use tapstack::socket::tcp::{TcpOption, TcpState};
use tapstack::socket::Shutdown;
use tapstack::Error;

use crate::fdtable::{install, Proto, Sock, MAX_FDS};
use tapstack::client::sockaddr::{Op, Target};

use crate::{dual, fail, ours_or, real, ret_int, rt, Ctx};

fn unspecified() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
}

/// Reserves the kernel descriptor for a new socket and maps it; closes the handle on failure.
fn new_fd(rt: &tapstack::runtime::Runtime, proto: Proto, nonblock: bool) -> Result<c_int, c_int> {
    let efd = real::eventfd();
    let err = if efd < 0 {
        Some(crate::errno())
    } else if efd as usize >= MAX_FDS {
        real::sys_close(efd);
        Some(libc::EMFILE)
    } else {
        None
    };
    if let Some(e) = err {
        let mut g = rt.lock();
        let now = rt.now();
        match proto {
            Proto::Tcp(h) => g.tcp.abort(now, h),
            Proto::Udp(h) => g.udp.close(h),
        }
        return Err(e);
    }
    let s = Arc::new(Sock::new(proto, nonblock));
    rt::register(proto, &s.sig);
    install(efd, &s);
    Ok(efd)
}

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let base = ty & 0xf;
    let flags = ty & !0xf;
    let tcp = base == libc::SOCK_STREAM && (protocol == 0 || protocol == libc::IPPROTO_TCP);
    let udp = base == libc::SOCK_DGRAM && (protocol == 0 || protocol == libc::IPPROTO_UDP);
    // ICMP datagram ("ping") sockets live in the UDP engine (tapstack::socket::udp ping).
    let ping = domain == libc::AF_INET && base == libc::SOCK_DGRAM && protocol == libc::IPPROTO_ICMP;
    if domain == libc::AF_INET && base == libc::SOCK_RAW {
        crate::errq::note_raw_socket();
    }
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    if inet && base == libc::SOCK_STREAM && protocol == 262 {
        // IPPROTO_MPTCP: a kernel MPTCP socket would bypass tapstack; programs fall back to TCP.
        return fail(libc::EPROTONOSUPPORT);
    }
    if !inet || !(tcp || udp || ping) || flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return real::socket(domain, ty, protocol);
    }
    let Some(_guard) = crate::ShimGuard::enter() else { return real::socket(domain, ty, protocol) };
    if crate::svc::enabled() {
        if domain != libc::AF_INET {
            // The shared service speaks AF_INET only so far: programs fall back to IPv4.
            return fail(libc::EAFNOSUPPORT);
        }
        let kind = if tcp {
            crate::svc::KIND_TCP
        } else if ping {
            tapstack::service::proto::KIND_PING
        } else {
            crate::svc::KIND_UDP
        };
        return crate::svc::hooks::socket(kind, flags);
    }
    let rt = match rt::start() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let proto = {
        let mut g = rt.lock();
        if tcp {
            Proto::Tcp(g.tcp.socket())
        } else if ping {
            Proto::Udp(g.udp.ping_socket())
        } else {
            Proto::Udp(g.udp.socket())
        }
    };
    let fd = new_fd(rt, proto, flags & libc::SOCK_NONBLOCK != 0);
    if let (Ok(fd), libc::AF_INET6) = (fd, domain) {
        if let Some(s) = crate::fdtable::sock(fd) {
            *s.dual.lock() = dual::Dual::inet6();
        }
    }
    ret_int(fd)
}

#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if let Some(r) = crate::svc::route::bind(fd, addr, len) {
        return r;
    }
    let c = ours_or!(fd, real::bind(fd, addr, len));
    let a = match dual::target(&c.s, Op::Bind, addr, len, false) {
        Ok(Target::V6Only(ip, port)) => return ret_int(dual::bind_virtual(&c, ip, port).map(|_| 0)),
        Ok(t) => match dual::engine_addr(&c.s, t) {
            Some(a) => a,
            None => return fail(libc::EINVAL),
        },
        Err(e) => return fail(e),
    };
    let mut g = c.rt.lock();
    let r = match c.s.proto {
        Proto::Tcp(h) => g.tcp.bind(h, a),
        Proto::Udp(h) => g.udp.bind(h, a),
    };
    drop(g);
    if r.is_ok() {
        crate::opts::apply_ip_opts(c.rt, &c.s);
    }
    ret_int(r.map(|_| 0).map_err(Error::errno))
}

#[no_mangle]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    if let Some(r) = crate::svc::route::listen(fd, backlog) {
        return r;
    }
    let c = ours_or!(fd, real::listen(fd, backlog));
    let Proto::Tcp(h) = c.s.proto else { return fail(libc::EOPNOTSUPP) };
    // Like Linux: a negative or huge backlog is clamped (somaxconn 4096).
    let backlog = backlog.clamp(1, 4096) as usize;
    if dual::is_virtual(&c.s) {
        // Bound to an IPv6-only address: listens, and only IPv6 could ever connect.
        c.s.dual.lock().virt_listening = true;
        c.s.listening.store(true, Ordering::Relaxed);
        return 0;
    }
    let r = c.rt.lock().tcp.listen(h, backlog);
    if r.is_ok() {
        c.s.listening.store(true, Ordering::Relaxed);
    }
    ret_int(r.map(|_| 0).map_err(Error::errno))
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if let Some(r) = crate::svc::route::accept4(fd, addr, len, 0) {
        return r;
    }
    let c = ours_or!(fd, real::accept(fd, addr, len));
    ret_int(do_accept(&c, addr, len, 0))
}

#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    if let Some(r) = crate::svc::route::accept4(fd, addr, len, flags) {
        return r;
    }
    let c = ours_or!(fd, real::accept4(fd, addr, len, flags));
    ret_int(do_accept(&c, addr, len, flags))
}

unsafe fn do_accept(c: &Ctx, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> Result<c_int, c_int> {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(libc::EINVAL);
    }
    let Proto::Tcp(lh) = c.s.proto else { return Err(libc::EOPNOTSUPP) };
    if !addr.is_null() && len.is_null() {
        return Err(libc::EFAULT);
    }
    let timeout = c.s.opts.lock().rcvtimeo;
    if dual::is_virtual(&c.s) {
        // A virtual (IPv6-only) listener: no connection ever arrives; wait like an idle one.
        rt::block_on(c, c.s.is_nonblock(), timeout, |_, _| Err::<(), _>(Error::WouldBlock))?;
    }
    let h = rt::block_on(c, c.s.is_nonblock(), timeout, |g, _| g.tcp.accept(lh))?;
    let peer = c.rt.lock().tcp.remote_addr(h).unwrap_or_else(unspecified);
    // Like Linux, the accepted socket inherits the listener's socket options.
    let opts = c.s.opts.lock().clone();
    {
        let mut g = c.rt.lock();
        let o = &opts;
        let mut set = |opt| {
            let _ = g.tcp.set_option(h, opt);
        };
        if o.nodelay {
            set(TcpOption::NoDelay(true));
        }
        if o.keepalive {
            set(TcpOption::KeepAlive(true));
        }
        set(TcpOption::KeepIdle(Duration::from_secs(o.keepidle as u64)));
        set(TcpOption::KeepIntvl(Duration::from_secs(o.keepintvl as u64)));
        set(TcpOption::KeepCnt(o.keepcnt as u32));
        if let Some(l) = o.linger {
            set(TcpOption::Linger(Some(Duration::from_secs(l as u64))));
        }
        if let Some(b) = o.sndbuf {
            set(TcpOption::SendBuffer(b));
        }
    }
    let nfd = new_fd(c.rt, Proto::Tcp(h), flags & libc::SOCK_NONBLOCK != 0)?;
    if let Some(s) = crate::fdtable::sock(nfd) {
        *s.opts.lock() = opts;
        *s.dual.lock() = c.s.dual.lock().for_accepted();
        let _ = dual::write_peer(&s, peer, addr, len);
        crate::opts::apply_ip_opts(c.rt, &s);
    }
    Ok(nfd)
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if let Some(r) = crate::svc::route::connect(fd, addr, len) {
        return r;
    }
    let c = ours_or!(fd, real::connect(fd, addr, len));
    match c.s.proto {
        Proto::Tcp(_) => {
            let r = connect_tcp(&c, addr, len);
            if matches!(r, Ok(_) | Err(libc::EINPROGRESS)) {
                crate::opts::apply_ip_opts(c.rt, &c.s);
            }
            ret_int(r)
        }
        Proto::Udp(h) => {
            let remote = match dual::target(&c.s, Op::Connect, addr, len, false) {
                Ok(Target::Unspec) => None,
                Ok(t) => match dual::engine_addr(&c.s, t) {
                    Some(a) => Some(a),
                    None => return fail(libc::EINVAL),
                },
                Err(e) => return fail(e),
            };
            let r = c.rt.lock().udp.connect(h, remote);
            if r.is_ok() {
                crate::opts::apply_ip_opts(c.rt, &c.s);
            }
            ret_int(r.map(|_| 0).map_err(Error::errno))
        }
    }
}

unsafe fn connect_tcp(c: &Ctx, addr: *const sockaddr, len: socklen_t) -> Result<c_int, c_int> {
    let Proto::Tcp(h) = c.s.proto else { return Err(libc::EINVAL) };
    let rt = c.rt;
    let remote = match dual::target(&c.s, Op::Connect, addr, len, false)? {
        // AF_UNSPEC: Linux dissolves the association; on a socket that has none that is a no-op.
        Target::Unspec => {
            return match rt.lock().tcp.state(h) {
                Ok(TcpState::Closed) => Ok(0),
                _ => Err(libc::EAFNOSUPPORT),
            }
        }
        t => dual::engine_addr(&c.s, t).ok_or(libc::EINVAL)?,
    };
    let nonblock = c.s.is_nonblock();
    if c.s.opts.lock().ip_opts_set {
        // The SYN must already carry IP_TTL/IP_TOS: take the ephemeral port first.
        let mut g = rt.lock();
        if g.tcp.state(h) == Ok(TcpState::Closed) && g.tcp.local_addr(h).is_none_or(|a| a.port() == 0) {
            let _ = g.tcp.bind(h, unspecified());
        }
        drop(g);
        crate::opts::apply_ip_opts(rt, &c.s);
    }
    let mut g = rt.lock();
    let now = rt.now();
    let state = g.tcp.state(h);
    if state == Ok(TcpState::Listen) {
        return Err(libc::EISCONN);
    }
    if state == Ok(TcpState::Closed) && c.s.connecting.swap(false, Ordering::Relaxed) {
        // A non-blocking connect that failed: connect() reports the failure (Linux
        // sock_error), ECONNABORTED if SO_ERROR already consumed it, instead of a new attempt.
        return Err(g.tcp.take_error(h).map(Error::errno).unwrap_or(libc::ECONNABORTED));
    }
    match g.tcp.connect(now, h, remote) {
        Ok(()) => {}
        // The first connect() after a non-blocking connect completed reports success (Linux).
        Err(Error::AlreadyConnected) if c.s.connecting.swap(false, Ordering::Relaxed) => return Ok(0),
        Err(Error::Already) if !nonblock => {}
        Err(e) => {
            if c.s.connecting.load(Ordering::Relaxed) && e != Error::Already {
                // A failed non-blocking connect: the error is reported once, here or via SO_ERROR.
                c.s.connecting.store(false, Ordering::Relaxed);
                if let Some(pending) = g.tcp.take_error(h) {
                    return Err(pending.errno());
                }
            }
            return Err(e.errno());
        }
    }
    if nonblock {
        c.s.connecting.store(true, Ordering::Relaxed);
        return Err(libc::EINPROGRESS);
    }
    // Blocking: wait for the handshake, bounded by SO_SNDTIMEO like Linux. A signal handler
    // interrupts it with EINTR (the connection goes on in the background, as in Linux).
    let timeout = c.s.opts.lock().sndtimeo;
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let waiter = rt::WaitOn::new(&c.s.sig, c.fd);
    let mut restart: Option<u64> = None;
    loop {
        match g.tcp.state(h) {
            Ok(TcpState::SynSent) | Ok(TcpState::SynReceived) => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    c.s.connecting.store(true, Ordering::Relaxed);
                    return Err(libc::EINPROGRESS);
                }
                drop(g);
                let r = *restart.get_or_insert_with(rt::restart_signals);
                if let Err(e) = rt::wait_change(&waiter, deadline, timeout.is_some(), r) {
                    c.s.connecting.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                waiter.reset();
                g = rt.lock();
            }
            Ok(TcpState::Closed) | Err(_) => {
                return Err(g.tcp.take_error(h).map(Error::errno).unwrap_or(libc::ECONNREFUSED));
            }
            Ok(_) => {
                if let Some(e) = g.tcp.take_error(h) {
                    return Err(e.errno());
                }
                return Ok(0);
            }
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    if let Some(r) = crate::svc::route::shutdown(fd, how) {
        return r;
    }
    let c = ours_or!(fd, real::shutdown(fd, how));
    let how = match how {
        libc::SHUT_RD => Shutdown::Read,
        libc::SHUT_WR => Shutdown::Write,
        libc::SHUT_RDWR => Shutdown::Both,
        _ => return fail(libc::EINVAL),
    };
    let mut g = c.rt.lock();
    let now = c.rt.now();
    let r = match c.s.proto {
        Proto::Tcp(h) => g.tcp.shutdown(now, h, how).map_err(Error::errno),
        Proto::Udp(h) => {
            if g.udp.remote_addr(h).is_some() {
                Ok(())
            } else {
                Err(libc::ENOTCONN)
            }
        }
    };
    drop(g);
    if r.is_ok() {
        // Our own shutdown changes readiness now: an EPOLLET waiter must see the edge even
        // before the stack thread reports the change.
        c.s.sig.notify();
    }
    ret_int(r.map(|_| 0))
}

#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if let Some(r) = crate::svc::route::getname(fd, addr, len, false) {
        return r;
    }
    let c = ours_or!(fd, real::getsockname(fd, addr, len));
    if addr.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    let g = c.rt.lock();
    let a = match c.s.proto {
        Proto::Tcp(h) => g.tcp.local_addr(h),
        Proto::Udp(h) => g.udp.local_addr(h),
    };
    drop(g);
    ret_int(dual::write_name(&c.s, a.unwrap_or_else(unspecified), addr, len).map(|_| 0))
}

#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if let Some(r) = crate::svc::route::getname(fd, addr, len, true) {
        return r;
    }
    let c = ours_or!(fd, real::getpeername(fd, addr, len));
    if addr.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    let g = c.rt.lock();
    let a = match c.s.proto {
        Proto::Tcp(h) => match g.tcp.state(h) {
            Ok(TcpState::Closed) | Ok(TcpState::Listen) | Ok(TcpState::SynSent) | Err(_) => None,
            _ => g.tcp.remote_addr(h),
        },
        Proto::Udp(h) => g.udp.remote_addr(h),
    };
    drop(g);
    match a {
        Some(a) => ret_int(dual::write_peer(&c.s, a, addr, len).map(|_| 0)),
        None => fail(libc::ENOTCONN),
    }
}
