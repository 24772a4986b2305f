//! Socket options in the service: setsockopt/getsockopt on a socket of the shared stack, from
//! and to the raw option bytes the program passed (the shim only copies them). Same values and
//! errors as Linux. SO_RCVTIMEO/SO_SNDTIMEO and O_NONBLOCK
//! never get here: they live on the program's descriptor, where the kernel's own waits honour
//! them.
use std::time::Duration;

use crate::socket::tcp::{Congestion, TcpOption, TcpState};
use crate::stack::Stack;
use crate::Error;

use super::engine::Proto;

mod congestion;
pub mod device;
mod kept;
mod lengths;
pub mod raw;
mod tcp_info;
pub mod tfo;
pub use kept::Kept;
use lengths::{int, ip_int, length_rule, TCP_ULP};
pub use tcp_info::{linux_state, tcp_info_bytes};

/// Per-socket options the service keeps (the engine gets the ones it implements).
#[derive(Clone, Debug)]
pub struct Opts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub keepalive: bool,
    pub nodelay: bool,
    pub broadcast: bool,
    /// SO_LINGER: Some(seconds) when on.
    pub linger: Option<i32>,
    pub keepidle: i32,
    pub keepintvl: i32,
    pub keepcnt: i32,
    /// As set by the user (getsockopt reports twice this, like Linux).
    pub rcvbuf: Option<usize>,
    pub sndbuf: Option<usize>,
    pub ip_ttl: i32,
    pub ip_tos: i32,
    /// IP_TTL or IP_TOS was set: the stack carries them for this socket's local port.
    pub ip_opts_set: bool,
    /// Options accepted without effect, reported back as set (`kept`).
    pub kept: Kept,
    /// IP_PKTINFO and IP_RECVTOS (kept in `kept` for getsockopt; cached for the data path).
    pub pktinfo: bool,
    pub recvtos: bool,
    /// SO_TIMESTAMP (1) or SO_TIMESTAMPNS (2) on, 0 off (cached for the data path).
    pub tstamp: u8,
    /// IP_MULTICAST_IF's address (Linux's mc_addr, read back by getsockopt).
    pub mc_addr: [u8; 4],
    /// TCP_FASTOPEN, TCP_FASTOPEN_CONNECT, TCP_FASTOPEN_NO_COOKIE (`tfo`).
    pub tfo: tfo::Tfo,
    /// SO_BINDTODEVICE (`device`): the TAP or the loopback, kept.
    pub device: Option<device::Device>,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            nodelay: false,
            broadcast: false,
            linger: None,
            keepidle: 7200,
            keepintvl: 75,
            keepcnt: 9,
            rcvbuf: None,
            sndbuf: None,
            ip_ttl: 64,
            ip_tos: 0,
            ip_opts_set: false,
            kept: Kept::default(),
            pktinfo: false,
            recvtos: false,
            tstamp: 0,
            mc_addr: [0; 4],
            tfo: tfo::Tfo::default(),
            device: None,
        }
    }
}

fn tcp_handle(p: Proto) -> Result<crate::socket::tcp::TcpHandle, i32> {
    match p {
        Proto::Tcp(h) => Ok(h),
        Proto::Udp(_) => Err(libc::ENOPROTOOPT),
    }
}

fn engine(stack: &mut Stack, p: Proto, opt: TcpOption) -> Result<(), i32> {
    match p {
        Proto::Tcp(h) => stack.tcp.set_option(h, opt).map_err(Error::errno),
        Proto::Udp(_) => Ok(()),
    }
}

/// setsockopt(level, name, value).
pub fn set_opt(stack: &mut Stack, p: Proto, o: &mut Opts, level: i32, name: i32, val: &[u8]) -> Result<(), i32> {
    let tcp = matches!(p, Proto::Tcp(_));
    let v = if level == libc::IPPROTO_IP { Ok(ip_int(val)) } else { int(val) };
    if let Some(r) = raw::set(stack, p, level, name, val, v) {
        return r;
    }
    length_rule(tcp, level, name, val.len())?;
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) | (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {
            let on = int(val)? != 0;
            if name == libc::SO_REUSEADDR {
                o.reuseaddr = on;
            } else {
                o.reuseport = on;
            }
            match p {
                // Apart, as Linux's sk_reuse and sk_reuseport (inet_bind_conflict).
                Proto::Tcp(h) => {
                    stack.tcp.set_reuse_addr(h, o.reuseaddr).map_err(Error::errno)?;
                    stack.tcp.set_reuse_port(h, o.reuseport).map_err(Error::errno)?;
                }
                Proto::Udp(h) => stack.udp.set_reuse_addr(h, o.reuseaddr || o.reuseport).map_err(Error::errno)?,
            }
        }
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
            let on = int(val)? != 0;
            o.keepalive = on;
            engine(stack, p, TcpOption::KeepAlive(on))?;
        }
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => {
            let on = int(val)? != 0;
            o.broadcast = on;
            if let Proto::Udp(h) = p {
                stack.udp.set_broadcast(h, on).map_err(Error::errno)?;
            }
        }
        (libc::SOL_SOCKET, libc::SO_RCVBUF) | (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
            let v = int(val)?.max(1024) as usize;
            if name == libc::SO_RCVBUF {
                o.rcvbuf = Some(v);
                match p {
                    Proto::Tcp(_) => engine(stack, p, TcpOption::RecvBuffer(v))?,
                    Proto::Udp(h) => stack.udp.set_recv_buffer(h, v).map_err(Error::errno)?,
                }
            } else {
                o.sndbuf = Some(v);
                match p {
                    Proto::Tcp(_) => engine(stack, p, TcpOption::SendBuffer(v))?,
                    Proto::Udp(h) => stack.udp.set_send_buffer(h, v).map_err(Error::errno)?,
                }
            }
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            if val.len() < 8 {
                return Err(libc::EINVAL);
            }
            let onoff = int(&val[0..4])?;
            let secs = int(&val[4..8])?;
            let v = (onoff != 0).then_some(secs.max(0));
            o.linger = v;
            engine(stack, p, TcpOption::Linger(v.map(|s| Duration::from_secs(s as u64))))?;
        }
        (libc::SOL_SOCKET, libc::SO_BINDTODEVICE) => {
            let tap = super::mcast::tap_ifindex() as i32;
            o.device = device::bind(val, tap, crate::phy::tap::ifindex)?;
        }
        (libc::IPPROTO_IP, libc::IP_TTL) => {
            let v = ip_int(val);
            o.ip_ttl = match v {
                -1 => 64,
                1..=255 => v,
                _ => return Err(libc::EINVAL),
            };
            o.ip_opts_set = true;
            apply_ip_opts(stack, p, o);
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => {
            // TCP keeps the ECN bits its own (do_ip_setsockopt): a program sets the rest.
            let v = ip_int(val);
            o.ip_tos = if tcp { (v & 0xfc) | (o.ip_tos & 3) } else { v & 0xff };
            o.ip_opts_set = true;
            apply_ip_opts(stack, p, o);
        }
        (libc::IPPROTO_IP, libc::IP_RECVERR) => {
            let on = ip_int(val) != 0;
            match p {
                Proto::Tcp(h) => stack.tcp.set_recverr(h, on).map_err(Error::errno)?,
                Proto::Udp(h) => stack.udp.set_recverr(h, on).map_err(Error::errno)?,
            }
        }
        (libc::IPPROTO_IP, libc::IP_RECVTTL) => {
            // UDP sockets accept it; ICMP datagram sockets then report each echo reply's TTL.
            let on = ip_int(val) != 0;
            if let Proto::Udp(h) = p {
                stack.udp.set_recv_ttl(h, on).map_err(Error::errno)?;
            }
            let _ = o.kept.set(tcp, level, name, on as i32);
        }
        (libc::SOL_SOCKET, libc::SO_PASSCRED) => return Err(libc::EOPNOTSUPP), // AF_UNIX's
        (libc::IPPROTO_TCP, TCP_ULP) if tcp => {
            // No upper-layer protocol (kTLS) here: tcp_set_ulp's answer for an unknown name.
            return Err(if val.is_empty() { libc::EINVAL } else { libc::ENOENT });
        }
        (libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP) | (libc::IPPROTO_IP, libc::IP_DROP_MEMBERSHIP) => {
            super::mcast::membership(stack, p, name == libc::IP_ADD_MEMBERSHIP, val)?
        }
        (libc::IPPROTO_IP, libc::IP_MULTICAST_IF) => o.mc_addr = super::mcast::multicast_if(stack, p, val)?,
        (
            libc::IPPROTO_IP,
            libc::IP_ADD_SOURCE_MEMBERSHIP
            | libc::IP_DROP_SOURCE_MEMBERSHIP
            | libc::IP_BLOCK_SOURCE
            | libc::IP_UNBLOCK_SOURCE,
        ) => super::mcast::source_membership(stack, p, name, val)?,
        (libc::IPPROTO_IP, libc::MCAST_JOIN_GROUP | libc::MCAST_LEAVE_GROUP) => {
            super::mcast::group::membership(stack, p, name == libc::MCAST_JOIN_GROUP, val)?
        }
        (
            libc::IPPROTO_IP,
            libc::MCAST_JOIN_SOURCE_GROUP
            | libc::MCAST_LEAVE_SOURCE_GROUP
            | libc::MCAST_BLOCK_SOURCE
            | libc::MCAST_UNBLOCK_SOURCE,
        ) => super::mcast::group::source(stack, p, name, val)?,
        (libc::IPPROTO_TCP, _) if !tcp => return Err(libc::ENOPROTOOPT),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
            let on = int(val)? != 0;
            o.nodelay = on;
            engine(stack, p, TcpOption::NoDelay(on))?;
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) | (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => {
            let v = int(val)?;
            if !(1..=32767).contains(&v) {
                return Err(libc::EINVAL);
            }
            let d = Duration::from_secs(v as u64);
            if name == libc::TCP_KEEPIDLE {
                o.keepidle = v;
                engine(stack, p, TcpOption::KeepIdle(d))?;
            } else {
                o.keepintvl = v;
                engine(stack, p, TcpOption::KeepIntvl(d))?;
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => {
            let v = int(val)?;
            if !(1..=127).contains(&v) {
                return Err(libc::EINVAL);
            }
            o.keepcnt = v;
            engine(stack, p, TcpOption::KeepCnt(v as u32))?;
        }
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
            // Linux: 0 (none) or TCP_MIN_MSS (88) ..= MAX_TCP_WINDOW (32767).
            let v = int(val)?;
            if v != 0 && !(88..=32767).contains(&v) {
                return Err(libc::EINVAL);
            }
            engine(stack, p, TcpOption::MaxSeg(v as u16))?;
        }
        (libc::IPPROTO_TCP, _) if tfo::get(stack, tcp_handle(p)?, &o.tfo, name).is_some() => {
            tfo::set(stack, tcp_handle(p)?, &mut o.tfo, name, int(val)?).unwrap_or(Err(libc::ENOPROTOOPT))?
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let Proto::Tcp(h) = p else { return Err(libc::ENOPROTOOPT) };
            let a = congestion::by_name(val)?;
            stack.tcp.set_option(h, TcpOption::Congestion(a)).map_err(Error::errno)?;
        }
        // Another protocol's level: ip_setsockopt's answer (tcp_setsockopt and udp_setsockopt
        // pass it on).
        (libc::IPPROTO_UDP, _) if tcp => return Err(libc::ENOPROTOOPT),
        // MSG_ZEROCOPY would promise completions on the error queue that never come: refused
        // as Linux refuses it on a socket that cannot (the program then copies).
        (libc::SOL_SOCKET, libc::SO_ZEROCOPY) if !(0..=1).contains(&int(val)?) => return Err(libc::EINVAL),
        (libc::SOL_SOCKET, libc::SO_ZEROCOPY) if int(val)? != 0 => return Err(libc::EOPNOTSUPP),
        _ => {
            // IPPROTO_IP options also take a single byte (do_ip_setsockopt), as mDNS
            // responders pass IP_MULTICAST_TTL and IP_MULTICAST_LOOP.
            // do_ip_setsockopt: these want at least the byte.
            let byte = matches!(name, libc::IP_MULTICAST_TTL | libc::IP_MULTICAST_LOOP | libc::IP_MULTICAST_ALL);
            if level == libc::IPPROTO_IP
                && val.is_empty()
                && (byte || matches!(name, libc::IP_FREEBIND | libc::IP_MINTTL))
            {
                return Err(libc::EINVAL);
            }
            if (level, name) == (libc::IPPROTO_IP, kept::IP_LOCAL_PORT_RANGE) && val.len() != 4 {
                return Err(libc::EINVAL); // a __u32 exactly (do_ip_setsockopt)
            }
            match o.kept.set(tcp, level, name, v.unwrap_or(0)) {
                None => return Err(libc::ENOPROTOOPT),
                Some(r) => {
                    v?;
                    r?
                }
            }
            if level == libc::SOL_SOCKET && matches!(name, libc::SO_TIMESTAMP | libc::SO_TIMESTAMPNS) {
                timestamps(o, tcp, name);
            }
            match (level, name) {
                (libc::IPPROTO_TCP, libc::TCP_CORK) => {
                    engine(stack, p, TcpOption::Cork(o.kept.get(tcp, level, name) == Some(1)))?
                }
                (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => {
                    let ms = o.kept.get(tcp, level, name).unwrap_or(0).max(0) as u32;
                    engine(stack, p, TcpOption::UserTimeout(ms))?
                }
                (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT) => {
                    let secs = o.kept.get(tcp, level, name).unwrap_or(0);
                    engine(stack, p, TcpOption::DeferAccept(kept::secs_to_retrans(secs).clamp(0, 255) as u8))?
                }
                (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => {
                    let n = o.kept.get(tcp, level, name).unwrap_or(0).clamp(0, 127) as u8;
                    engine(stack, p, TcpOption::SynCnt(n))?
                }
                _ => {}
            }
            if level == libc::IPPROTO_IP {
                let on = o.kept.get(tcp, level, name) == Some(1);
                match (name, p) {
                    (libc::IP_PKTINFO, _) => o.pktinfo = on,
                    (libc::IP_FREEBIND, Proto::Tcp(_)) => engine(stack, p, TcpOption::FreeBind(on))?,
                    (libc::IP_FREEBIND, Proto::Udp(h)) => stack.udp.set_freebind(h, on).map_err(Error::errno)?,
                    (kept::IP_LOCAL_PORT_RANGE, _) => {
                        let r = o.kept.get(tcp, level, name).unwrap_or(0) as u32;
                        match p {
                            Proto::Tcp(_) => engine(stack, p, TcpOption::LocalPortRange(r))?,
                            Proto::Udp(h) => stack.udp.set_port_range(h, r).map_err(Error::errno)?,
                        }
                    }
                    (libc::IP_RECVTOS, _) => o.recvtos = on,
                    (libc::IP_MULTICAST_LOOP, Proto::Udp(h)) => {
                        stack.udp.set_multicast_loop(h, on).map_err(Error::errno)?
                    }
                    (libc::IP_MULTICAST_ALL, Proto::Udp(h)) => {
                        stack.udp.set_multicast_all(h, on).map_err(Error::errno)?
                    }
                    (libc::IP_MULTICAST_TTL, _) => {
                        if let (Proto::Udp(h), Some(t)) = (p, o.kept.get(tcp, level, name)) {
                            stack.udp.set_multicast_ttl(h, t as u8).map_err(Error::errno)?;
                        }
                        o.ip_opts_set = true;
                        apply_ip_opts(stack, p, o);
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// SO_TIMESTAMP and SO_TIMESTAMPNS as Linux's sock_set_timestamp: one is on at a time (setting
/// one on turns the other off; either off turns both off), and SO_TIMESTAMP reads 0 while
/// SO_TIMESTAMPNS is on.
fn timestamps(o: &mut Opts, tcp: bool, name: i32) {
    let on = o.kept.get(tcp, libc::SOL_SOCKET, name) == Some(1);
    let other = if name == libc::SO_TIMESTAMP { libc::SO_TIMESTAMPNS } else { libc::SO_TIMESTAMP };
    let _ = o.kept.set(tcp, libc::SOL_SOCKET, other, 0);
    o.tstamp = match (on, name) {
        (false, _) => 0,
        (true, libc::SO_TIMESTAMP) => 1,
        (true, _) => 2,
    };
}

/// Hands IP_TTL/IP_TOS to the stack for the socket's local port (once it has one: called
/// again after bind, connect, accept and a UDP send).
pub fn apply_ip_opts(stack: &mut Stack, p: Proto, o: &Opts) {
    if !o.ip_opts_set {
        return;
    }
    let mc_ttl = o.kept.get(false, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL).unwrap_or(1) as u8;
    let opts = crate::iface::IpOpts { ttl: Some(o.ip_ttl as u8), tos: Some(o.ip_tos as u8), mc_ttl: Some(mc_ttl) };
    let (proto, local) = match p {
        Proto::Tcp(h) => (6u8, stack.tcp.local_addr(h)),
        Proto::Udp(h) if stack.udp.is_ping(h) => (1u8, stack.udp.local_addr(h)), // the echo identifier
        Proto::Udp(h) if stack.udp.raw_protocol(h).is_some() => {
            // No port to find it by: the socket's datagrams carry them.
            let _ = stack.udp.set_raw_ip_opts(h, opts.ttl, opts.tos);
            return;
        }
        Proto::Udp(h) => (17u8, stack.udp.local_addr(h)),
    };
    if let Some(port) = local.map(|a| a.port()).filter(|&p| p != 0) {
        stack.set_ip_opts(proto, port, opts);
    }
}

fn i(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// getsockopt(level, name): the value bytes (the shim truncates to the caller's length).
pub fn get_opt(stack: &mut Stack, p: Proto, o: &Opts, listening: bool, level: i32, name: i32) -> Result<Vec<u8>, i32> {
    let tcp = matches!(p, Proto::Tcp(_));
    if (level, name) == (libc::SOL_SOCKET, libc::SO_PEERCRED) {
        // An inet socket has no peer process: Linux's cred_to_ucred gives pid 0, uid and gid -1
        // (ENOPROTOOPT before; a program asks it of any socket it was handed).
        return Ok([0u32, u32::MAX, u32::MAX].iter().flat_map(|v| v.to_ne_bytes()).collect());
    }
    if let Some(r) = raw::get(stack, p, level, name) {
        return r;
    }
    let v: i32 = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_PASSCRED) => return Err(libc::EOPNOTSUPP),
        (libc::IPPROTO_TCP, TCP_ULP) if tcp => return Ok(Vec::new()),
        (libc::SOL_SOCKET, libc::SO_ERROR) => {
            let e = match p {
                Proto::Tcp(h) => stack.tcp.take_error(h),
                Proto::Udp(h) => stack.udp.take_error(h),
            };
            e.map(Error::errno).unwrap_or(0)
        }
        (libc::SOL_SOCKET, libc::SO_TYPE) => {
            if tcp {
                libc::SOCK_STREAM
            } else {
                libc::SOCK_DGRAM
            }
        }
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => libc::AF_INET,
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => match p {
            Proto::Tcp(_) => libc::IPPROTO_TCP,
            Proto::Udp(h) if stack.udp.is_ping(h) => libc::IPPROTO_ICMP,
            Proto::Udp(_) => libc::IPPROTO_UDP,
        },
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => listening as i32,
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => o.reuseaddr as i32,
        (libc::SOL_SOCKET, libc::SO_REUSEPORT) => o.reuseport as i32,
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => o.keepalive as i32,
        (libc::SOL_SOCKET, libc::SO_BROADCAST) => o.broadcast as i32,
        (libc::SOL_SOCKET, libc::SO_RCVBUF) | (libc::SOL_SOCKET, libc::SO_SNDBUF) if !tcp => {
            let Proto::Udp(h) = p else { return Err(libc::EINVAL) };
            let v = if name == libc::SO_RCVBUF { stack.udp.recv_buffer(h) } else { stack.udp.send_buffer(h) };
            v.map_err(Error::errno)?.min(i32::MAX as usize) as i32
        }
        (libc::SOL_SOCKET, libc::SO_RCVBUF) => match o.rcvbuf {
            Some(v) => (2 * v).min(i32::MAX as usize) as i32,
            None => 131072,
        },
        (libc::SOL_SOCKET, libc::SO_SNDBUF) => match o.sndbuf {
            Some(v) => (2 * v).min(i32::MAX as usize) as i32,
            None => 16384,
        },
        // The device's name with its NUL; unbound: the empty name, length 0.
        (libc::SOL_SOCKET, libc::SO_BINDTODEVICE) => return Ok(device::name(&o.device)),
        (libc::SOL_SOCKET, libc::SO_LINGER) => {
            let mut b = i(o.linger.is_some() as i32);
            b.extend_from_slice(&o.linger.unwrap_or(0).to_ne_bytes());
            return Ok(b);
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => o.ip_tos,
        (libc::IPPROTO_IP, libc::IP_MULTICAST_IF) => return Ok(o.mc_addr.to_vec()),
        (libc::IPPROTO_IP, libc::IP_TTL) => o.ip_ttl,
        (libc::IPPROTO_IP, libc::IP_RECVERR) => match p {
            Proto::Tcp(h) => stack.tcp.recverr(h),
            Proto::Udp(h) => stack.udp.recverr(h),
        }
        .map_err(Error::errno)? as i32,
        (libc::IPPROTO_TCP, _) if !tcp => return Err(libc::EOPNOTSUPP),
        (libc::IPPROTO_UDP, _) if tcp => return Err(libc::EOPNOTSUPP),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => o.nodelay as i32,
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => o.keepidle,
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => o.keepintvl,
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => o.keepcnt,
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) | (libc::IPPROTO_TCP, libc::TCP_INFO) => {
            let Proto::Tcp(h) = p else { return Err(libc::ENOPROTOOPT) };
            let info = stack.tcp.info(h).map_err(Error::errno)?;
            let unacked = stack.tcp.send_queue(h);
            if name == libc::TCP_MAXSEG {
                // Linux 6.18 (measured: c-tests/tcp_maxseg): a listener's user MSS, else
                // mss_cache: 536 (TCP_MSS_DEFAULT) until the handshake sets it.
                let user = match stack.tcp.get_option(h, TcpOption::MaxSeg(0)) {
                    Ok(TcpOption::MaxSeg(u)) => u,
                    _ => 0,
                };
                match info.state {
                    Some(TcpState::Listen) if user > 0 => user as i32,
                    Some(TcpState::Closed | TcpState::Listen) | None => 536,
                    _ if info.snd_mss == 0 => 536,
                    _ => info.snd_mss as i32,
                }
            } else {
                return Ok(tcp_info_bytes(&info, unacked));
            }
        }
        (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let Proto::Tcp(h) = p else { return Err(libc::ENOPROTOOPT) };
            return match stack.tcp.get_option(h, TcpOption::Congestion(Congestion::Cubic)) {
                Ok(TcpOption::Congestion(a)) => Ok(congestion::name(a)),
                _ => Ok(congestion::name(Congestion::Cubic)),
            };
        }
        (libc::IPPROTO_TCP, _) if tfo::get(stack, tcp_handle(p)?, &o.tfo, name).is_some() => {
            tfo::get(stack, tcp_handle(p)?, &o.tfo, name).unwrap_or(Err(libc::ENOPROTOOPT))?
        }
        _ => o.kept.get(tcp, level, name).ok_or(libc::ENOPROTOOPT)?,
    };
    Ok(i(v))
}

/// What an AF_INET6 socket starts with that an AF_INET one does not: IP_MULTICAST_ALL off
/// (inet6_create clears mc_all).
pub fn family_defaults(stack: &mut Stack, p: Proto, o: &mut Opts, af: i32) {
    if af == libc::AF_INET6 {
        let _ = o.kept.set(matches!(p, Proto::Tcp(_)), libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, 0);
        if let Proto::Udp(h) = p {
            let _ = stack.udp.set_multicast_all(h, false);
        }
    }
}

/// getsockopt(IP_MTU), Linux ip_sockglue.c: the path MTU to the connected peer (RFC 1191: what a
/// "fragmentation needed" taught, else the link MTU); ENOTCONN without a peer.
pub fn ip_mtu(stack: &Stack, p: Proto, now: crate::time::Instant) -> Result<i32, i32> {
    let peer = match p {
        Proto::Tcp(h) => match stack.tcp.state(h) {
            Ok(TcpState::Closed) | Ok(TcpState::Listen) | Err(_) => None,
            _ => stack.tcp.remote_addr(h),
        },
        Proto::Udp(h) => stack.udp.remote_addr(h),
    };
    let peer = peer.ok_or(libc::ENOTCONN)?;
    let path = stack.tcp.path_mss(now, *peer.ip()).map_or(usize::MAX, |m| m as usize + 40);
    Ok(stack.mtu().min(path).min(i32::MAX as usize) as i32)
}

#[cfg(test)]
mod tests;
