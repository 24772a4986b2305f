//! getsockopt, setsockopt, fcntl, fcntl64, ioctl on tapstack sockets.
//!
//! Options the engine implements are passed to it (`TcpOption`); IP_TTL and IP_TOS go to the
//! stack's per-port IP options (`apply_ip_opts`), so outgoing datagrams carry them; the rest that
//! Linux accepts harmlessly (SO_PRIORITY, TCP_CORK...) are accepted and ignored; unknown ones give
//! ENOPROTOOPT.
use std::sync::atomic::Ordering;
use std::time::Duration;

use libc::{c_int, c_ulong, c_void, socklen_t};
use tapstack::socket::tcp::TcpOption;
use tapstack::Error;

use crate::fdtable::{install, Proto, Sock, MAX_FDS};
use crate::{fail, ours_or, real, Ctx};

unsafe fn get_int(val: *const c_void, len: socklen_t) -> Result<c_int, c_int> {
    if val.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<c_int>() {
        return Err(libc::EINVAL);
    }
    Ok(std::ptr::read_unaligned(val as *const c_int))
}

unsafe fn get_timeval(val: *const c_void, len: socklen_t) -> Result<Option<Duration>, c_int> {
    if val.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < std::mem::size_of::<libc::timeval>() {
        return Err(libc::EINVAL);
    }
    let tv = std::ptr::read_unaligned(val as *const libc::timeval);
    if tv.tv_usec < 0 || tv.tv_usec >= 1_000_000 {
        return Err(libc::EDOM);
    }
    if tv.tv_sec < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)))
}

/// Copies `bytes` to a user (val, len) pair, truncated to `*len`, like the kernel.
unsafe fn put_bytes(bytes: &[u8], val: *mut c_void, len: *mut socklen_t) -> Result<(), c_int> {
    if val.is_null() || len.is_null() {
        return Err(libc::EFAULT);
    }
    if (*len as i32) < 0 {
        return Err(libc::EINVAL);
    }
    let n = (*len as usize).min(bytes.len());
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), val as *mut u8, n);
    *len = n as socklen_t;
    Ok(())
}

unsafe fn put_int(v: c_int, val: *mut c_void, len: *mut socklen_t) -> Result<(), c_int> {
    put_bytes(&v.to_ne_bytes(), val, len)
}

fn timeval_bytes(d: Option<Duration>) -> Vec<u8> {
    let d = d.unwrap_or(Duration::ZERO);
    let tv = libc::timeval { tv_sec: d.as_secs() as libc::time_t, tv_usec: d.subsec_micros() as libc::suseconds_t };
    // SAFETY: timeval is plain old data.
    unsafe {
        std::slice::from_raw_parts(&tv as *const libc::timeval as *const u8, std::mem::size_of::<libc::timeval>())
            .to_vec()
    }
}

fn engine(c: &Ctx, opt: TcpOption) -> Result<(), c_int> {
    match c.s.proto {
        Proto::Tcp(h) => c.rt.lock().tcp.set_option(h, opt).map_err(Error::errno),
        Proto::Udp(_) => Ok(()),
    }
}

unsafe fn set_opt(c: &Ctx, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> Result<(), c_int> {
    let tcp = c.s.is_tcp();
    if level == libc::IPPROTO_IPV6 {
        return crate::dual::set_ipv6_opt(c, name, val, len);
    }
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => c.s.opts.lock().rcvtimeo = get_timeval(val, len)?,
        (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => c.s.opts.lock().sndtimeo = get_timeval(val, len)?,
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) | (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {
            let on = get_int(val, len)? != 0;
            {
                let mut o = c.s.opts.lock();
                if name == libc::SO_REUSEADDR {
                    o.reuseaddr = on;
                } else {
                    o.reuseport = on;
                }
            }
            let o = c.s.opts.lock().clone();
            match c.s.proto {
                Proto::Tcp(h) => c.rt.lock().tcp.set_reuse_addr(h, o.reuseaddr || o.reuseport).map_err(Error::errno)?,
                Proto::Udp(h) => c.rt.lock().udp.set_reuse_addr(h, o.reuseaddr || o.reuseport).map_err(Error::errno)?,
            }
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
            let on = get_int(val, len)? != 0;
            c.s.opts.lock().keepalive = on;
            engine(c, TcpOption::KeepAlive(on))?;
        }
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => {
            let on = get_int(val, len)? != 0;
            c.s.opts.lock().broadcast = on;
            if let Proto::Udp(h) = c.s.proto {
                c.rt.lock().udp.set_broadcast(h, on).map_err(Error::errno)?;
            }
        }
        (libc::SOL_SOCKET, libc::SO_RCVBUF) | (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
            // Linux doubles the request (bookkeeping overhead) and clamps; we keep the request.
            let v = get_int(val, len)?.max(1024) as usize;
            if name == libc::SO_RCVBUF {
                c.s.opts.lock().rcvbuf = Some(v);
                match c.s.proto {
                    Proto::Tcp(_) => engine(c, TcpOption::RecvBuffer(v))?,
                    Proto::Udp(h) => c.rt.lock().udp.set_recv_buffer(h, v).map_err(Error::errno)?,
                }
            } else {
                c.s.opts.lock().sndbuf = Some(v);
                match c.s.proto {
                    Proto::Tcp(_) => engine(c, TcpOption::SendBuffer(v))?,
                    Proto::Udp(h) => c.rt.lock().udp.set_send_buffer(h, v).map_err(Error::errno)?,
                }
            }
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            if val.is_null() {
                return Err(libc::EFAULT);
            }
            if (len as usize) < std::mem::size_of::<libc::linger>() {
                return Err(libc::EINVAL);
            }
            let l = std::ptr::read_unaligned(val as *const libc::linger);
            let v = (l.l_onoff != 0).then_some(l.l_linger.max(0));
            c.s.opts.lock().linger = v;
            engine(c, TcpOption::Linger(v.map(|s| Duration::from_secs(s as u64))))?;
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => {
            let v = get_int(val, len)?;
            // Linux: -1 restores the default; otherwise 1..=255.
            {
                let mut o = c.s.opts.lock();
                o.ip_ttl = match v {
                    -1 => 64,
                    1..=255 => v,
                    _ => return Err(libc::EINVAL),
                };
                o.ip_opts_set = true;
            }
            apply_ip_opts(c.rt, &c.s);
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => {
            let v = get_int(val, len)? & 0xff;
            {
                let mut o = c.s.opts.lock();
                o.ip_tos = v;
                o.ip_opts_set = true;
            }
            apply_ip_opts(c.rt, &c.s);
        }
        (libc::SOL_SOCKET, libc::SO_PRIORITY)
        | (libc::SOL_SOCKET, libc::SO_OOBINLINE)
        | (libc::SOL_SOCKET, libc::SO_RCVLOWAT)
        | (libc::SOL_SOCKET, libc::SO_TIMESTAMP)
        | (libc::SOL_SOCKET, libc::SO_MARK)
        | (libc::SOL_SOCKET, libc::SO_ZEROCOPY)
        | (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER)
        | (libc::IPPROTO_IP, libc::IP_PKTINFO)
        | (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL)
        | (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP) => {
            get_int(val, len)?;
        }
        (libc::IPPROTO_IP, libc::IP_RECVERR) => crate::errq::set_recverr(c, get_int(val, len)? != 0)?,
        (libc::IPPROTO_IP, libc::IP_RECVTTL) => crate::errq::set_recv_ttl(c, get_int(val, len)? != 0)?,
        // IP options on replies (ping sets none): accepted, like Linux, up to 40 bytes.
        (libc::IPPROTO_IP, libc::IP_RETOPTS) if len <= 40 => {}
        (libc::IPPROTO_TCP, _) if !tcp => return Err(libc::ENOPROTOOPT),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
            let on = get_int(val, len)? != 0;
            c.s.opts.lock().nodelay = on;
            engine(c, TcpOption::NoDelay(on))?;
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) | (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => {
            let v = get_int(val, len)?;
            if !(1..=32767).contains(&v) {
                return Err(libc::EINVAL);
            }
            let d = Duration::from_secs(v as u64);
            if name == libc::TCP_KEEPIDLE {
                c.s.opts.lock().keepidle = v;
                engine(c, TcpOption::KeepIdle(d))?;
            } else {
                c.s.opts.lock().keepintvl = v;
                engine(c, TcpOption::KeepIntvl(d))?;
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => {
            let v = get_int(val, len)?;
            if !(1..=127).contains(&v) {
                return Err(libc::EINVAL);
            }
            c.s.opts.lock().keepcnt = v;
            engine(c, TcpOption::KeepCnt(v as u32))?;
        }
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG)
        | (libc::IPPROTO_TCP, libc::TCP_QUICKACK)
        | (libc::IPPROTO_TCP, libc::TCP_CORK)
        | (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT)
        | (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT)
        | (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT) => {
            get_int(val, len)?;
        }
        (libc::SOL_SOCKET, _) | (libc::IPPROTO_IP, _) | (libc::IPPROTO_TCP, _) | (libc::IPPROTO_UDP, _) => {
            return Err(libc::ENOPROTOOPT)
        }
        _ => return Err(libc::ENOPROTOOPT),
    }
    Ok(())
}

/// Hands IP_TTL/IP_TOS to the stack for the socket's local port (once it has one: called
/// again after bind, connect, accept and a UDP send). Connections sharing a local port (a
/// listener's accepted sockets) share the setting.
pub(crate) fn apply_ip_opts(rt: &tapstack::runtime::Runtime, s: &Sock) {
    let o = s.opts.lock().clone();
    if !o.ip_opts_set {
        return;
    }
    let mut g = rt.lock();
    let (proto, local) = match s.proto {
        Proto::Tcp(h) => (6u8, g.tcp.local_addr(h)),
        Proto::Udp(h) if g.udp.is_ping(h) => (1u8, g.udp.local_addr(h)),
        Proto::Udp(h) => (17u8, g.udp.local_addr(h)),
    };
    if let Some(port) = local.map(|a| a.port()).filter(|&p| p != 0) {
        let opts = tapstack::iface::IpOpts { ttl: Some(o.ip_ttl as u8), tos: Some(o.ip_tos as u8) };
        g.set_ip_opts(proto, port, opts);
    }
}

unsafe fn get_opt(c: &Ctx, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> Result<(), c_int> {
    if len.is_null() {
        return Err(libc::EFAULT);
    }
    let o = c.s.opts.lock().clone();
    let tcp = c.s.is_tcp();
    let v: c_int = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_ERROR) => {
            let mut g = c.rt.lock();
            let e = match c.s.proto {
                Proto::Tcp(h) => g.tcp.take_error(h),
                Proto::Udp(h) => g.udp.take_error(h),
            };
            drop(g);
            // (A failed non-blocking connect stays "connecting": the next connect() gives
            // ECONNABORTED, as in Linux, before a new attempt is possible.)
            e.map(Error::errno).unwrap_or(0)
        }
        (libc::SOL_SOCKET, libc::SO_TYPE) => {
            if tcp {
                libc::SOCK_STREAM
            } else {
                libc::SOCK_DGRAM
            }
        }
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => crate::dual::domain(&c.s),
        (libc::IPPROTO_IPV6, _) => crate::dual::get_ipv6_opt(c, name)?,
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => {
            if tcp {
                libc::IPPROTO_TCP
            } else {
                libc::IPPROTO_UDP
            }
        }
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => c.s.listening.load(Ordering::Relaxed) as c_int,
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => o.reuseaddr as c_int,
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => o.reuseport as c_int,
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => o.keepalive as c_int,
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => o.broadcast as c_int,
        // Defaults as Linux reports them: tcp_rmem[1] (not doubled), wmem/rmem_default doubled.
        (libc::SOL_SOCKET, libc::SO_RCVBUF) | (libc::SOL_SOCKET, libc::SO_SNDBUF) if !tcp => {
            // The UDP engine reports its buffer sizes as Linux does (doubled).
            let Proto::Udp(h) = c.s.proto else { return Err(libc::EINVAL) };
            let g = c.rt.lock();
            let v = if name == libc::SO_RCVBUF { g.udp.recv_buffer(h) } else { g.udp.send_buffer(h) };
            drop(g);
            v.map_err(Error::errno)?.min(c_int::MAX as usize) as c_int
        }
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => match o.rcvbuf {
            Some(v) => (2 * v).min(c_int::MAX as usize) as c_int,
            None => {
                if tcp {
                    131072
                } else {
                    212992
                }
            }
        },
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => match o.sndbuf {
            Some(v) => (2 * v).min(c_int::MAX as usize) as c_int,
            None => {
                if tcp {
                    16384
                } else {
                    212992
                }
            }
        },
        (libc::SOL_SOCKET, libc::SO_PRIORITY) | (libc::SOL_SOCKET, libc::SO_OOBINLINE) => 0,
        (libc::SOL_SOCKET, libc::SO_RCVLOWAT) => 1,
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO) | (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => {
            let d = if name == libc::SO_RCVTIMEO { o.rcvtimeo } else { o.sndtimeo };
            return put_bytes(&timeval_bytes(d), val, len);
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            let l = libc::linger { l_onoff: o.linger.is_some() as c_int, l_linger: o.linger.unwrap_or(0) };
            let b =
                std::slice::from_raw_parts(&l as *const libc::linger as *const u8, std::mem::size_of::<libc::linger>());
            return put_bytes(b, val, len);
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => o.ip_tos,
        (libc::IPPROTO_IP, libc::IP_TTL) => o.ip_ttl,
        (libc::IPPROTO_IP, libc::IP_RECVERR) => crate::errq::recverr(c)?,
        // getsockopt at another transport's level: EOPNOTSUPP (setsockopt: ENOPROTOOPT), as Linux.
        (libc::IPPROTO_TCP, _) if !tcp => return Err(libc::EOPNOTSUPP),
        (libc::IPPROTO_UDP, _) if tcp => return Err(libc::EOPNOTSUPP),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => o.nodelay as c_int,
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => o.keepidle,
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => o.keepintvl,
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => o.keepcnt,
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) | (libc::IPPROTO_TCP, libc::TCP_INFO) => {
            let Proto::Tcp(h) = c.s.proto else { return Err(libc::ENOPROTOOPT) };
            let g = c.rt.lock();
            let info = g.tcp.info(h).map_err(Error::errno)?;
            let unacked = g.tcp.send_queue(h);
            drop(g);
            if name == libc::TCP_MAXSEG {
                if info.snd_mss == 0 {
                    g_default_mss(c)
                } else {
                    info.snd_mss as c_int
                }
            } else {
                return put_bytes(&tapstack::service::opts::tcp_info_bytes(&info, unacked), val, len);
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            return put_bytes(b"cubic\0", val, len);
        }
        _ => return Err(libc::ENOPROTOOPT),
    };
    put_int(v, val, len)
}

fn g_default_mss(c: &Ctx) -> c_int {
    c.rt.lock().tcp.config().mss as c_int
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    if let Some(r) = crate::svc::route::setsockopt(fd, level, name, val, len) {
        return r;
    }
    let c = ours_or!(fd, real::setsockopt(fd, level, name, val, len));
    match set_opt(&c, level, name, val, len) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    if let Some(r) = crate::svc::route::getsockopt(fd, level, name, val, len) {
        return r;
    }
    let c = ours_or!(fd, real::getsockopt(fd, level, name, val, len));
    match get_opt(&c, level, name, val, len) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

/// fcntl on a tapstack descriptor. O_NONBLOCK is ours (the eventfd itself stays non-blocking);
/// FD_CLOEXEC lives on the real descriptor; F_DUPFD* duplicate the eventfd and share the socket.
unsafe fn do_fcntl(c: &Ctx, fd: c_int, cmd: c_int, arg: c_ulong, f64: bool) -> c_int {
    let realf = |cmd: c_int, arg: c_ulong| if f64 { real::fcntl64(fd, cmd, arg) } else { real::fcntl(fd, cmd, arg) };
    match cmd {
        // O_NONBLOCK is ours; the other status flags (O_APPEND...) are kept on the eventfd,
        // which itself stays non-blocking, so F_GETFL gives back what F_SETFL set, as Linux.
        libc::F_GETFL => {
            let fl = realf(cmd, arg);
            if fl < 0 {
                return fl;
            }
            (fl & !libc::O_NONBLOCK) | if c.s.is_nonblock() { libc::O_NONBLOCK } else { 0 }
        }
        libc::F_SETFL => {
            let r = realf(cmd, arg | libc::O_NONBLOCK as c_ulong);
            if r >= 0 {
                c.s.nonblock.store(arg as c_int & libc::O_NONBLOCK != 0, Ordering::Relaxed);
            }
            r
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let nfd = realf(cmd, arg);
            if nfd >= 0 {
                if nfd as usize >= MAX_FDS {
                    real::sys_close(nfd);
                    return fail(libc::EMFILE);
                }
                install(nfd, &c.s);
            }
            nfd
        }
        // The owner and signal belong to the open file (kept, as Linux; SIGIO is not sent).
        libc::F_GETFD | libc::F_SETFD | libc::F_GETOWN | libc::F_SETOWN | 10 | 11 => realf(cmd, arg), // F_SETSIG, F_GETSIG
        _ => fail(libc::EINVAL),
    }
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    if crate::svc::kind(fd) != 0 {
        let r = real::fcntl(fd, cmd, arg);
        if r >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
            crate::svc::mirror(fd, r);
        }
        return r;
    }
    let c = ours_or!(fd, real::fcntl(fd, cmd, arg));
    do_fcntl(&c, fd, cmd, arg, false)
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    if crate::svc::kind(fd) != 0 {
        let r = real::fcntl64(fd, cmd, arg);
        if r >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
            crate::svc::mirror(fd, r);
        }
        return r;
    }
    let c = ours_or!(fd, real::fcntl64(fd, cmd, arg));
    do_fcntl(&c, fd, cmd, arg, true)
}

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    let k = crate::svc::kind(fd);
    if k != 0 {
        if req == libc::FIONREAD && crate::svc::is_udp(k) {
            return crate::svc::hooks::udp_fionread(fd, arg);
        }
        if k == crate::svc::KIND_TCP_LISTEN && matches!(req, libc::FIONREAD | libc::TIOCOUTQ | 0x894b) {
            return crate::fail(libc::EINVAL); // Linux: no queues on a listener (checked first)
        }
        if req == 0x8905 /* SIOCATMARK */ && crate::svc::is_udp(k) {
            return crate::fail(libc::ENOTTY); // Linux: no SIOCATMARK on UDP sockets
        }
        const SIOCOUTQNSD: c_ulong = 0x894b;
        if req == SIOCOUTQNSD && !crate::svc::is_udp(k) {
            // Bytes not yet sent: what still waits in the pair (SIOCOUTQ of the program's end).
            return real::ioctl(fd, libc::TIOCOUTQ, arg);
        }
        return real::ioctl(fd, req, arg);
    }
    let c = ours_or!(fd, real::ioctl(fd, req, arg));
    // The request before the argument, as the kernel: FIOCLEX/FIONCLEX take none (Python's
    // set_inheritable passes NULL); they act on the descriptor, which is ours and real.
    if req == libc::FIOCLEX || req == libc::FIONCLEX {
        return real::ioctl(fd, req, arg);
    }
    const SIOCOUTQNSD: c_ulong = 0x894b;
    const SIOCATMARK: c_ulong = 0x8905;
    // As the kernel: the request and the socket's state are checked before the argument.
    let tcp = c.s.is_tcp();
    match req {
        libc::FIONBIO | libc::FIONREAD | libc::TIOCOUTQ => {}
        SIOCOUTQNSD | SIOCATMARK if tcp => {}
        _ => return fail(libc::ENOTTY), // unknown, or SIOCOUTQNSD/SIOCATMARK on UDP
    }
    let listening = tcp && c.s.listening.load(Ordering::Relaxed);
    if listening && matches!(req, libc::FIONREAD | libc::TIOCOUTQ | SIOCOUTQNSD) {
        return fail(libc::EINVAL); // no queues on a listener
    }
    if arg.is_null() {
        return fail(libc::EFAULT);
    }
    if req == libc::FIONBIO {
        let on = std::ptr::read_unaligned(arg as *const c_int) != 0;
        c.s.nonblock.store(on, Ordering::Relaxed);
        return 0;
    }
    let g = c.rt.lock();
    let n = match (c.s.proto, req) {
        (Proto::Tcp(h), libc::FIONREAD) => g.tcp.recv_queue(h),
        (Proto::Tcp(h), libc::TIOCOUTQ) => g.tcp.send_queue(h),
        (Proto::Tcp(h), SIOCOUTQNSD) => g.tcp.unsent_queue(h),
        (Proto::Tcp(_), _) => 0, // SIOCATMARK: no urgent data is ever marked
        (Proto::Udp(h), libc::FIONREAD) => g.udp.recv_queue(h),
        (Proto::Udp(_), _) => 0,
    };
    drop(g);
    std::ptr::write_unaligned(arg as *mut c_int, n.min(c_int::MAX as usize) as c_int);
    0
}
