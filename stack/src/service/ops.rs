//! The control requests: each names its socket by the descriptor passed with it, never by an
//! id, and never blocks (waiting happens natively on the program's end).
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::client::dual::Dual;
use crate::client::ipv6opt::int_arg;
use crate::client::sockaddr::{self as sa, Kind, Target};
use crate::socket::tcp::{TcpOption, TcpState};
use crate::Error;

use super::engine::Proto;
use super::fdpass;
use super::opts;
use super::proto::{
    family_flags, Msg, Op, FAM_PING, KIND_PING, KIND_RAW, KIND_TCP, KIND_TCP_LISTEN, KIND_TCP_NEW, KIND_UDP,
};
use super::Service;

/// Picks the ports of virtual (IPv6-only) bindings.
static VIRT_SEQ: AtomicU32 = AtomicU32::new(0);

/// Reply `a` for a descriptor that is not one of the service's sockets.
pub const NOT_OURS: i32 = -1;

pub(super) fn unspecified() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
}

impl Service {
    /// Handles one request; returns the reply and a descriptor to pass with it (closed after).
    /// `kept` is set when the request keeps the passed descriptor (a connect's hold).
    pub(super) fn request(&mut self, m: Msg, fd: Option<i32>, kept: &mut bool) -> (Msg, Option<i32>) {
        let op = m.op;
        let Some(o) = m.op() else { return (Msg::reply(op, libc::EINVAL), None) };
        match o {
            Op::Socket => return self.op_socket(&m),
            Op::Stats => {
                let mut r = Msg::reply(op, 0);
                r.data = self.stats_text().into_bytes();
                return (r, None);
            }
            Op::Sockets | Op::Counters => return (self.query(o, &m), None),
            Op::Config => {
                let mut r = Msg::reply(op, 0);
                r.data = self.cfg.service_settings().into_bytes();
                r.data.truncate(super::proto::MAX_DATA);
                return (r, None);
            }
            _ => {}
        }
        let Some(i) = self.lookup(fd) else {
            if let Some(e) = fd.and_then(|f| fdpass::identity(f).ok()).and_then(|id| self.failed.remove(&id)) {
                // A socket() whose `Op::Adopt` failed: its error, once.
                return (Msg::reply(op, e), None);
            }
            let mut r = Msg::reply(op, NOT_OURS);
            r.kind = 0;
            return (r, None);
        };
        if !self.unstore(i) {
            return (Msg::reply(op, libc::ENOBUFS), None);
        }
        let now = self.now();
        if o == Op::More
            || (o == Op::SetOpt && m.a == libc::IPPROTO_TCP && matches!(m.b, libc::TCP_CORK | libc::TCP_NODELAY))
        {
            // What the program wrote before the call leaves under the old setting, as it left
            // its send() on Linux.
            self.pump(i, now);
            if self.socks.get(i).is_none_or(|s| s.is_none()) {
                return (Msg::reply(op, libc::EBADF), None);
            }
        }
        let r = match o {
            Op::Ident => {
                let s = self.socks[i].as_ref().expect("looked up");
                let mut r = Msg::reply(op, 0);
                r.kind = match s.proto {
                    Proto::Tcp(_) if s.listening => KIND_TCP_LISTEN,
                    Proto::Tcp(h)
                        if !s.was_connected
                            && s.hold.is_none()
                            && self.stack.tcp.state(h) == Ok(crate::socket::tcp::TcpState::Closed) =>
                    {
                        KIND_TCP_NEW
                    }
                    Proto::Tcp(_) => KIND_TCP,
                    Proto::Udp(_) => KIND_UDP,
                };
                r.b = family_flags(&s.dual) | ping_flag(&self.stack, s.proto);
                r
            }
            Op::Accept => return self.op_accept(i),
            Op::Connect => self.op_connect(i, &m, fd.expect("looked up"), kept),
            Op::Bind => {
                let r = self.op_simple(i, o, &m);
                // The port may belong to a socket the program already closed (the kernel's
                // close frees it at once; we learn it from `a`'s hang-up, or for a socket whose
                // connection ended, from the sweep): handle those first.
                if r.a == libc::EADDRINUSE
                    && (self.reap_hangups() | self.sweep_zombies_now())
                    && self.socks.get(i).is_some_and(|s| s.is_some())
                {
                    self.op_simple(i, o, &m)
                } else {
                    r
                }
            }
            Op::ErrQueue => self.op_errqueue(i, &m),
            Op::Renew => return self.op_renew(i, op),
            Op::More => {
                if let Some(Proto::Tcp(h)) = self.socks[i].as_ref().map(|s| s.proto) {
                    let _ = self.stack.tcp.set_option(h, TcpOption::More(m.a != 0));
                }
                Msg::reply(op, 0)
            }
            _ => self.op_simple(i, o, &m),
        };
        self.pump(i, now);
        (r, None)
    }

    fn op_socket(&mut self, m: &Msg) -> (Msg, Option<i32>) {
        let (proto, ty) = match m.kind {
            KIND_TCP => (Proto::Tcp(self.stack.tcp.socket()), libc::SOCK_STREAM),
            KIND_UDP => (Proto::Udp(self.stack.udp.socket()), libc::SOCK_SEQPACKET),
            KIND_PING => (Proto::Udp(self.stack.udp.ping_socket()), libc::SOCK_SEQPACKET),
            KIND_RAW if (1..=255).contains(&m.port) => {
                (Proto::Udp(self.stack.udp.raw_socket(m.port as u8)), libc::SOCK_SEQPACKET)
            }
            _ => return (Msg::reply(m.op, libc::EINVAL), None),
        };
        let fail = |s: &mut Service, e: i32| {
            let now = s.now();
            match proto {
                Proto::Tcp(h) => s.stack.tcp.abort(now, h),
                Proto::Udp(h) => s.stack.udp.close(h),
            }
            (Msg::reply(m.op, e), None)
        };
        let (a, b) = match fdpass::socketpair(ty) {
            Ok(p) => p,
            Err(e) => return fail(self, e),
        };
        super::renew::prepare_pair(a, b, ty == libc::SOCK_STREAM);
        let i = match self.install(proto, a, b) {
            Ok(i) => i,
            Err(e) => {
                let _ = crate::sys::close(a);
                let _ = crate::sys::close(b);
                return fail(self, e);
            }
        };
        let dual = Dual::for_family(m.c);
        let mut r = Msg::reply(m.op, 0);
        r.b = family_flags(&dual);
        if let Some(s) = self.socks[i].as_mut() {
            s.dual = dual;
            opts::family_defaults(&mut self.stack, proto, &mut s.opts, m.c);
        }
        r.kind = m.kind;
        (r, Some(b))
    }

    /// Takes in a socket the client made (`Op::Adopt`): `a` is the service's end, `b` a copy
    /// of the program's end (closed here). On failure `a` is closed (the program's end sees
    /// the hang-up) and the first request about `b` gets the errno.
    pub(super) fn op_adopt(&mut self, m: &Msg, a: Option<i32>, b: Option<i32>) {
        let (Some(a), Some(b)) = (a, b) else {
            for f in [a, b].into_iter().flatten() {
                let _ = crate::sys::close(f);
            }
            return;
        };
        let id = fdpass::identity(b);
        let r = if id.is_ok_and(|id| self.by_ident.contains_key(&id)) {
            Err(libc::EINVAL) // already one of ours: a confused client
        } else if let Err(e) = id {
            Err(e)
        } else {
            let proto = match m.kind {
                KIND_TCP => Ok(Proto::Tcp(self.stack.tcp.socket())),
                KIND_UDP => Ok(Proto::Udp(self.stack.udp.socket())),
                KIND_PING => Ok(Proto::Udp(self.stack.udp.ping_socket())),
                KIND_RAW if (1..=255).contains(&m.port) => Ok(Proto::Udp(self.stack.udp.raw_socket(m.port as u8))),
                _ => Err(libc::EINVAL),
            };
            proto.and_then(|p| {
                super::renew::prepare_pair(a, b, matches!(p, Proto::Tcp(_)));
                self.install_as(p, a, id.expect("checked"))
                    .map(|i| {
                        if let Some(s) = self.socks[i].as_mut() {
                            s.dual = Dual::for_family(m.c);
                            opts::family_defaults(&mut self.stack, p, &mut s.opts, m.c);
                        }
                    })
                    .inspect_err(|_| {
                        let now = self.now();
                        match p {
                            Proto::Tcp(h) => self.stack.tcp.abort(now, h),
                            Proto::Udp(h) => self.stack.udp.close(h),
                        }
                    })
            })
        };
        if let Err(e) = r {
            let _ = crate::sys::close(a);
            if let Ok(id) = id {
                if self.failed.len() >= 256 {
                    self.failed.clear(); // bounded: an error nobody asked about is dropped
                }
                self.failed.insert(id, e);
            }
        }
        let _ = crate::sys::close(b);
    }

    fn op_accept(&mut self, i: usize) -> (Msg, Option<i32>) {
        let op = Op::Accept as u8;
        let s = self.socks[i].as_mut().expect("looked up");
        if !s.listening {
            return (Msg::reply(op, libc::EINVAL), None);
        }
        let Some(h) = s.accept_q.pop_front() else { return (Msg::reply(op, libc::EAGAIN), None) };
        s.tokens = s.tokens.saturating_sub(1);
        // A listener's TCP_FASTOPEN queue length is its own (the accepted socket reads 0).
        let mut inherited = s.opts.clone();
        inherited.tfo.qlen = 0;
        let dual = s.dual.for_accepted();
        let peer = self.stack.tcp.remote_addr(h).map_or_else(unspecified, Into::into);
        let o = &inherited;
        let mut set = |opt| {
            let _ = self.stack.tcp.set_option(h, opt);
        };
        if o.nodelay {
            set(TcpOption::NoDelay(true));
        }
        if o.kept.get(true, libc::IPPROTO_TCP, libc::TCP_CORK) == Some(1) {
            set(TcpOption::Cork(true));
        }
        if let Some(ms) = o.kept.get(true, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT).filter(|&v| v > 0) {
            set(TcpOption::UserTimeout(ms as u32));
        }
        if o.keepalive {
            set(TcpOption::KeepAlive(true));
        }
        set(TcpOption::KeepIdle(std::time::Duration::from_secs(o.keepidle as u64)));
        set(TcpOption::KeepIntvl(std::time::Duration::from_secs(o.keepintvl as u64)));
        set(TcpOption::KeepCnt(o.keepcnt as u32));
        if let Some(l) = o.linger {
            set(TcpOption::Linger(Some(std::time::Duration::from_secs(l as u64))));
        }
        if let Some(b) = o.sndbuf {
            set(TcpOption::SendBuffer(b));
        }
        let now = self.now();
        let (a, b) = match fdpass::socketpair(libc::SOCK_STREAM) {
            Ok(p) => p,
            Err(e) => {
                self.stack.tcp.abort(now, h);
                return (Msg::reply(op, e), None);
            }
        };
        super::renew::prepare_pair(a, b, true);
        let c = match self.install(Proto::Tcp(h), a, b) {
            Ok(c) => c,
            Err(e) => {
                let _ = crate::sys::close(a);
                let _ = crate::sys::close(b);
                self.stack.tcp.abort(now, h);
                return (Msg::reply(op, e), None);
            }
        };
        let name = dual.peer(peer);
        let flags = family_flags(&dual);
        if let Some(cs) = self.socks[c].as_mut() {
            cs.dual = dual;
            cs.opts = inherited;
            opts::apply_ip_opts(&mut self.stack, cs.proto, &cs.opts);
        }
        self.pump(c, now);
        self.pump(i, now);
        let mut r = Msg::reply(op, 0).with_name(peer, &name);
        r.kind = KIND_TCP;
        r.b = flags;
        (r, Some(b))
    }

    fn op_simple(&mut self, i: usize, o: Op, m: &Msg) -> Msg {
        let op = m.op;
        let now = self.now();
        if o == Op::Bind {
            if let Err(e) = self.bind_allowed(i, &m.data) {
                return Msg::reply(op, e);
            }
        }
        let stack = &mut self.stack;
        let s = self.socks[i].as_mut().expect("looked up");
        let err = |e: Error| Msg::reply(op, e.errno());
        match (o, s.proto) {
            (Op::Bind, p) => {
                let a = match translate(s, sa::Op::Bind, &m.data) {
                    Ok(Target::V6Only(ip, port)) => {
                        let bound = local_port(stack, p);
                        let eph = crate::client::dual::virtual_ephemeral(VIRT_SEQ.fetch_add(1, Ordering::Relaxed));
                        return Msg::reply(op, s.dual.bind_virtual(bound, ip, port, eph).err().unwrap_or(0));
                    }
                    Ok(t) => match s.dual.engine_addr(t) {
                        Some(a) => a,
                        None => return Msg::reply(op, libc::EINVAL),
                    },
                    Err(e) => return Msg::reply(op, e),
                };
                let no_port = s.opts.kept.get(true, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT) == Some(1);
                let r = match p {
                    Proto::Tcp(h) if no_port && a.port() == 0 => stack.tcp.bind_address(h, (*a.ip()).into()),
                    Proto::Tcp(h) => stack.tcp.bind(h, a.into()),
                    Proto::Udp(h) if no_port && a.port() == 0 => stack.udp.bind_address(h, (*a.ip()).into()),
                    Proto::Udp(h) => stack.udp.bind(h, a.into()),
                };
                if let Err(e) = r {
                    return err(e);
                }
                opts::apply_ip_opts(stack, p, &s.opts);
                Msg::reply(op, 0)
            }
            (Op::Listen, Proto::Tcp(h)) => {
                if s.connect_failed || s.was_connected || (s.connecting && !s.listening) {
                    // inet_listen: not SS_UNCONNECTED (a connect is or was under way, or the
                    // socket was connected: SS_CONNECTED stays after the connection ends); after a
                    // failed connect Linux has taken a port by then (a later bind is EINVAL).
                    if s.connect_failed && stack.tcp.local_addr(h).is_none() {
                        let _ = stack.tcp.bind(h, unspecified().into());
                    }
                    return Msg::reply(op, libc::EINVAL);
                }
                let backlog = m.a.clamp(1, 4096) as usize;
                if s.dual.virt.is_some() {
                    // Bound to an IPv6-only address: listens, and only IPv6 could ever connect.
                    s.dual.virt_listening = true;
                    s.listening = true;
                    s.backlog = backlog;
                    return Msg::reply(op, 0);
                }
                if let Err(e) = stack.tcp.listen(h, backlog) {
                    return err(e);
                }
                s.listening = true;
                s.backlog = backlog;
                Msg::reply(op, 0)
            }
            (Op::Listen, Proto::Udp(_)) => Msg::reply(op, libc::EOPNOTSUPP),
            (Op::Shutdown, Proto::Tcp(h)) => super::shut::tcp(stack, now, s, h, m.a, op),
            (Op::LateRead, Proto::Tcp(h)) => super::shut::late_read(stack, now, s, h, m),
            (Op::Shutdown, Proto::Udp(h)) => super::shut::udp(stack, s, h, m.a, op),
            (Op::SockName, p) => {
                let a = match p {
                    Proto::Tcp(h) => stack.tcp.sock_name(h),
                    Proto::Udp(h) => stack.udp.local_addr(h),
                };
                let a = a.map_or_else(unspecified, Into::into);
                Msg::reply(op, 0).with_name(a, &s.dual.name(a))
            }
            (Op::PeerName, p) => {
                let a = match p {
                    Proto::Tcp(h) => match stack.tcp.state(h) {
                        Ok(TcpState::Closed) | Ok(TcpState::Listen) | Ok(TcpState::SynSent) | Err(_) => None,
                        _ => stack.tcp.remote_addr(h),
                    },
                    // Linux's inet_getname: no peer without a port (a raw socket's is always 0).
                    Proto::Udp(h) => stack.udp.remote_addr(h).filter(|a| a.port != 0),
                };
                match a {
                    Some(a) => {
                        let a = a.into();
                        Msg::reply(op, 0).with_name(a, &s.dual.peer(a))
                    }
                    None => Msg::reply(op, libc::ENOTCONN),
                }
            }
            (Op::SetOpt, p) if m.a == libc::IPPROTO_IPV6 => {
                let v = m.data.get(..4).map(|b| [b[0], b[1], b[2], b[3]]);
                let r = s.dual.set_opt(kind_of(p), m.b, int_arg(v), m.c.max(0) as u32, local_port(stack, p));
                let mut r = Msg::reply(op, r.err().unwrap_or(0));
                r.b = family_flags(&s.dual) | ping_flag(stack, p);
                r
            }
            (Op::GetOpt, _) if m.a == libc::IPPROTO_IPV6 || (m.a == libc::SOL_SOCKET && m.b == libc::SO_DOMAIN) => {
                let v = if m.a == libc::SOL_SOCKET { Ok(s.dual.family()) } else { s.dual.get_opt(m.b) };
                match v {
                    Ok(v) => {
                        let mut r = Msg::reply(op, 0);
                        r.data = v.to_ne_bytes().to_vec();
                        r
                    }
                    Err(e) => Msg::reply(op, e),
                }
            }
            (Op::SetOpt, p) if super::mcast::msf::handles(m.a, m.b) => {
                let r = super::mcast::msf::set(stack, p, m.b, &m.data, m.c.max(0) as usize);
                Msg::reply(op, r.err().unwrap_or(0))
            }
            (Op::GetOpt, p) if super::mcast::msf::handles(m.a, m.b) => {
                match super::mcast::msf::get(stack, p, m.b, &m.data, m.c.max(0) as usize) {
                    Ok(v) => Msg { data: v, ..Msg::reply(op, 0) },
                    Err(e) => Msg::reply(op, e),
                }
            }
            (Op::SetOpt, p) => {
                let r = opts::set_opt(stack, p, &mut s.opts, m.a, m.b, &m.data);
                Msg::reply(op, r.err().unwrap_or(0))
            }
            (Op::GetOpt, p) if m.a == libc::IPPROTO_IP && m.b == libc::IP_MTU => match opts::ip_mtu(stack, p, now) {
                Ok(v) => Msg { data: v.to_ne_bytes().to_vec(), ..Msg::reply(op, 0) },
                Err(e) => Msg::reply(op, e),
            },
            (Op::GetOpt, p) => match opts::get_opt(stack, p, &s.opts, s.listening, m.a, m.b) {
                Ok(v) => {
                    let mut r = Msg::reply(op, 0);
                    r.data = v;
                    r
                }
                Err(e) => Msg::reply(op, e),
            },
            (Op::Ioctl, _) if m.b as libc::c_ulong == libc::SIOCGARP => super::query::arp_entry(stack, m),
            (Op::Route, Proto::Udp(h)) => {
                let dst = Ipv4Addr::from(m.ip);
                Msg::reply(op, stack.udp_route(h, dst.into(), None).err().map_or(0, Error::errno))
            }
            (Op::Reason, p) => super::shut::reason(stack, s, p, m),
            _ => Msg::reply(op, libc::EINVAL),
        }
    }
}

/// Translates the program's sockaddr bytes for socket `s` (dual-stack, `client::sockaddr`).
pub(super) fn translate(s: &super::sock::Sock, op: sa::Op, data: &[u8]) -> Result<Target, i32> {
    sa::parse(s.dual.info(kind_of(s.proto)), op, Some(data), &fdpass::ifindex_exists)
}

fn kind_of(p: Proto) -> Kind {
    if matches!(p, Proto::Tcp(_)) {
        Kind::Stream
    } else {
        Kind::Dgram
    }
}

/// The engine socket has a local port (bound, or given one by connect/send).
fn local_port(stack: &crate::stack::Stack, p: Proto) -> bool {
    match p {
        Proto::Tcp(h) => stack.tcp.local_addr(h),
        Proto::Udp(h) => stack.udp.local_addr(h),
    }
    .is_some_and(|a| a.port() != 0)
}

/// [`FAM_PING`] for an ICMP datagram or raw socket, else 0 (the family flags of Ident and setsockopt).
fn ping_flag(stack: &crate::stack::Stack, p: Proto) -> i32 {
    match p {
        Proto::Udp(h) if stack.udp.is_ping(h) => FAM_PING,
        Proto::Udp(h) if stack.udp.raw_protocol(h).is_some() => FAM_PING,
        _ => 0,
    }
}

#[allow(dead_code)]
fn _assert_kinds() {
    let _ = (KIND_TCP, KIND_UDP, KIND_TCP_LISTEN);
}
