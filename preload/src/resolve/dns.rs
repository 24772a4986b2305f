//! DNS queries of the resolver: over the shared stack's UDP (TCP after a truncated answer), or a
//! kernel UDP socket for a loopback nameserver.
use super::*;

/// The socket of the query in flight.
enum QuerySock {
    /// A kernel UDP socket (raw syscalls) for a loopback nameserver such as systemd-resolved's
    /// 127.0.0.53: loopback never leaves the host, so it cannot be reached through the TAP.
    Kernel(c_int),
    /// A UDP socket of the shared stack (every other nameserver, reached through the TAP).
    Svc(c_int),
}

/// The resolver settings: /etc/resolv.conf, LOCALDOMAIN, RES_OPTIONS, TAPSTACK_DNS.
pub(super) fn resolver_conf() -> tapstack::dns::ResolvConf {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let dns: Vec<Ipv4Addr> =
        env("TAPSTACK_DNS").map(|s| s.split(',').filter_map(|p| p.trim().parse().ok()).collect()).unwrap_or_default();
    names::resolver_conf(&read_file("/etc/resolv.conf").unwrap_or_default(), env, &dns)
}

/// DNS A lookup of `name` over tapstack.
pub(super) fn dns_lookup(name: &str) -> Result<Answer, ResolveError> {
    let conf = resolver_conf();
    dns_run(&mut Lookup::new(name, &conf, random_u64()), &conf)
}

/// Runs one lookup over tapstack UDP (and TCP after TC), bounded by its timeouts.
pub(super) fn dns_run(lookup: &mut Lookup, conf: &tapstack::dns::ResolvConf) -> Result<Answer, ResolveError> {
    // The lookup's own clock (independent of the runtime, which may not be needed at all).
    let epoch = std::time::Instant::now();
    let clock = || tapstack::Instant::from_micros(epoch.elapsed().as_micros() as u64);
    let to_std = |t: tapstack::Instant| epoch + std::time::Duration::from_micros(t.total_micros());
    let mut sock: Option<QuerySock> = None;
    let mut buf = vec![0u8; 65536];
    let result = loop {
        let now = clock();
        match lookup.poll(now) {
            Action::Done(r) => break r,
            Action::SendUdp { server, query } => {
                close_query_sock(sock.take());
                let sent = if server.ip().is_loopback() {
                    kernel_udp_send(server.into(), &query).map(|fd| sock = Some(QuerySock::Kernel(fd)))
                } else {
                    // A fresh socket (fresh random port) per query; connect() filters the
                    // source and turns ICMP port unreachable into ECONNREFUSED.
                    crate::svc::dns::udp_send(server.into(), &query).map(|fd| sock = Some(QuerySock::Svc(fd)))
                };
                if sent.is_err() {
                    lookup.on_unreachable(now);
                }
            }
            Action::SendTcp { server, query } => {
                let resp = (!server.ip().is_loopback())
                    .then(|| crate::svc::dns::tcp_exchange(server.into(), &query, to_std(now + conf.timeout)))
                    .flatten();
                match resp {
                    Some(resp) if lookup.on_tcp(clock(), &resp) => {}
                    _ => lookup.on_tcp_failed(clock()),
                }
            }
            Action::Wait(deadline) => match sock {
                Some(QuerySock::Svc(fd) | QuerySock::Kernel(fd)) => {
                    let svc = matches!(sock, Some(QuerySock::Svc(_)));
                    crate::svc::dns::wait(fd, libc::POLLIN, to_std(deadline));
                    loop {
                        let r =
                            if svc { crate::svc::dns::udp_recv(fd, &mut buf) } else { kernel_udp_recv(fd, &mut buf) };
                        match r {
                            Ok(Some((from, n))) => {
                                if lookup.on_udp(now, from.into(), &buf[..n]) {
                                    break;
                                }
                            }
                            Ok(None) => break,
                            Err(()) => {
                                lookup.on_unreachable(now);
                                break;
                            }
                        }
                    }
                }
                None => std::thread::sleep(deadline.saturating_since(clock())),
            },
        }
    };
    close_query_sock(sock);
    result
}

fn close_query_sock(s: Option<QuerySock>) {
    match s {
        Some(QuerySock::Svc(fd)) => crate::svc::dns::close(fd),
        Some(QuerySock::Kernel(fd)) => {
            // SAFETY: closing a descriptor this lookup opened.
            unsafe { libc::syscall(libc::SYS_close, fd) };
        }
        None => {}
    }
}

/// A connected, non-blocking kernel UDP socket to `server` with `query` sent on it.
fn kernel_udp_send(server: SocketAddrV4, query: &[u8]) -> Result<c_int, ()> {
    let sa = crate::svc::dns::sin(server);
    // SAFETY: raw syscalls (never the hooked wrappers) on a socket this function owns.
    unsafe {
        let ty = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let fd = libc::syscall(libc::SYS_socket, libc::AF_INET, ty, 0) as c_int;
        if fd < 0 {
            return Err(());
        }
        let salen = core::mem::size_of::<sockaddr_in>() as socklen_t;
        let ok = libc::syscall(libc::SYS_connect, fd, &sa as *const sockaddr_in, salen) == 0
            && libc::syscall(libc::SYS_sendto, fd, query.as_ptr(), query.len(), 0, ptr::null::<sockaddr>(), 0) >= 0;
        if !ok {
            libc::syscall(libc::SYS_close, fd);
            return Err(());
        }
        Ok(fd)
    }
}

/// One datagram from `fd`: Ok(None) if none is queued, Err on ECONNREFUSED and other errors.
fn kernel_udp_recv(fd: c_int, buf: &mut [u8]) -> Result<Option<(SocketAddrV4, usize)>, ()> {
    // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
    let mut sa: sockaddr_in = unsafe { core::mem::zeroed() };
    let mut salen = core::mem::size_of::<sockaddr_in>() as socklen_t;
    // SAFETY: buffer and address are live and sized as passed.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            libc::MSG_DONTWAIT,
            &mut sa as *mut sockaddr_in,
            &mut salen as *mut socklen_t,
        )
    };
    if n < 0 {
        let e = crate::errno();
        return if e == libc::EAGAIN || e == libc::EINTR { Ok(None) } else { Err(()) };
    }
    let from = SocketAddrV4::new(Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes()), u16::from_be(sa.sin_port));
    Ok(Some((from, n as usize)))
}
