//! The UDP calls on service sockets: one SOCK_SEQPACKET record per datagram, a
//! `proto::UDP_HDR` header in front (the destination on the way out, the source and what
//! recvmsg's control messages need on the way in). C convention and errno as in `hooks.rs`.
//!
//! Safety (for every `unsafe fn` here): as `hooks.rs` says.
use std::net::SocketAddrV4;

use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use tapstack::service::proto::{self, Msg, Op, UDP_HDR};

use super::addr::write_peer;
use super::hooks::{err, Errno};
use super::KIND_UDP_CONNECTED;

/// MSG_CMSG_COMPAT (linux/socket.h): set only by the kernel's 32-bit entry points.
const MSG_CMSG_COMPAT: c_int = 0x8000_0000_u32 as c_int;
/// MSG_PROBE (linux/socket.h, glibc's MSG_PROXY): probe the path, send nothing.
const MSG_PROBE: c_int = 0x10;

/// send/sendto/write on a UDP socket: one record, header + data.
pub(crate) unsafe fn udp_send(
    fd: c_int,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    to: Option<SocketAddrV4>,
) -> ssize_t {
    // MSG_CMSG_COMPAT means nothing to send/sendto (Linux ignores it there); the pair's
    // sendmsg would refuse it.
    send_record(fd, iov, cnt, flags & !MSG_CMSG_COMPAT, to, None)
}

/// sendmsg on a UDP socket: `udp_send` with the control messages Linux's ip_cmsg_send reads
/// (IP_PKTINFO's `ipi_spec_dst` becomes the source address).
pub(crate) unsafe fn udp_sendmsg(fd: c_int, m: &msghdr, flags: c_int, to: Option<SocketAddrV4>) -> ssize_t {
    send_record(fd, m.msg_iov, m.msg_iovlen, flags, to, Some(m))
}

/// What a send's control messages ask for.
#[derive(Default)]
struct Control {
    /// IP_PKTINFO's source address (Some(0.0.0.0): the route's choice).
    src: Option<std::net::Ipv4Addr>,
    /// IP_PKTINFO names an interface (`ipi_ifindex`).
    ifindex: bool,
    /// UDP_SEGMENT's size for this send (udp_cmsg_send).
    gso: Option<u16>,
}

/// The control messages of a send on a UDP socket (`udp`; a ping or raw one reads SOL_IP
/// only), with Linux's EINVAL for a malformed control buffer (CMSG_OK), an SOL_IP message of
/// the wrong length or of a type sendmsg does not take, an SOL_UDP one other than a 2-byte
/// UDP_SEGMENT; ENETUNREACH for a source not ours. IP_TTL and IP_TOS messages are checked as
/// Linux checks them but not applied; other levels pass.
unsafe fn control(m: &msghdr, udp: bool) -> Result<Control, c_int> {
    if m.msg_controllen == 0 || m.msg_control.is_null() {
        return Ok(Control::default());
    }
    let base = m.msg_control as *const u8;
    let total = m.msg_controllen;
    let hdr = std::mem::size_of::<libc::cmsghdr>();
    let (mut off, mut src, mut ifindex, mut gso) = (0usize, None, false, None);
    while off + hdr <= total {
        let c = std::ptr::read_unaligned(base.add(off) as *const libc::cmsghdr);
        let len = c.cmsg_len as usize;
        if len < hdr || len > total - off {
            return Err(libc::EINVAL);
        }
        let data = base.add(off + libc::CMSG_LEN(0) as usize);
        if c.cmsg_level == libc::SOL_IP {
            match c.cmsg_type {
                libc::IP_PKTINFO if len == libc::CMSG_LEN(12) as usize => {
                    ifindex = std::ptr::read_unaligned(data as *const c_int) != 0;
                    let a = std::slice::from_raw_parts(data.add(4), 4);
                    src = Some(std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]));
                }
                libc::IP_TTL if len == libc::CMSG_LEN(4) as usize => {
                    if !(1..=255).contains(&std::ptr::read_unaligned(data as *const c_int)) {
                        return Err(libc::EINVAL);
                    }
                }
                libc::IP_TOS if len == libc::CMSG_LEN(4) as usize || len == libc::CMSG_LEN(1) as usize => {}
                _ => return Err(libc::EINVAL),
            }
        }
        if c.cmsg_level == libc::SOL_UDP && udp {
            if c.cmsg_type != libc::UDP_SEGMENT || len != libc::CMSG_LEN(2) as usize {
                return Err(libc::EINVAL);
            }
            gso = Some(std::ptr::read_unaligned(data as *const u16));
        }
        off += (len + 7) & !7;
    }
    // Linux's route lookup (ip_route_output_key_hash): a group, broadcast or 0.x source is
    // EINVAL, one that is not ours ENETUNREACH.
    match src {
        Some(a) if a.is_multicast() || a.is_broadcast() || (a.octets()[0] == 0 && !a.is_unspecified()) => {
            Err(libc::EINVAL)
        }
        Some(a) if !(a.is_unspecified() || a.is_loopback() || Some(a) == super::local_addr()) => Err(libc::ENETUNREACH),
        src => Ok(Control { src, ifindex, gso }),
    }
}

/// Linux's inet_send_prepare binds an unbound UDP socket to a port before udp_sendmsg looks
/// at the datagram (so a send that then fails, EMSGSIZE or EDESTADDRREQ, leaves it bound): the
/// same with bind(ANY:0) of the socket's family, whose EINVAL on a bound socket is ignored. Only
/// on those error paths (a round trip).
pub(crate) fn autobind(fd: c_int) {
    if super::family(fd) & proto::FAM_PING != 0 {
        return; // raw and ping sockets have no port to pick
    }
    use tapstack::client::sockaddr::{encode, Domain, Name, Style};
    let domain = if super::family(fd) & proto::FAM_INET6 != 0 { Domain::Inet6 } else { Domain::Inet };
    let any = Name::V4(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)); // `::` on AF_INET6
    let mut m = Msg::new(Op::Bind);
    m.data = encode(domain, any, Style::default()).bytes().to_vec();
    let _ = super::hooks::call(&m, fd);
}

unsafe fn send_record(
    fd: c_int,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    to: Option<SocketAddrV4>,
    msg: Option<&msghdr>,
) -> ssize_t {
    let e = Errno::save();
    let total = (0..cnt).map(|i| (*iov.add(i)).iov_len).fold(0usize, usize::saturating_add);
    // udp_sendmsg: `if (len > 0xFFFF) return -EMSGSIZE;` before it looks for a destination
    // (writev comes here without `addr::udp_dest`'s check).
    if total > 0xFFFF {
        autobind(fd);
        return err(libc::EMSGSIZE);
    }
    let more = flags & libc::MSG_MORE != 0;
    let corkable = super::family(fd) & proto::FAM_PING == 0;
    if corkable && super::dgram::pending(fd) {
        // Linux's udp_sendmsg goes straight to appending: no destination, route or size check
        // of this piece alone.
        return corked(fd, iov, cnt, flags, None, None, &e);
    }
    if to.is_none() && super::kind(fd) != KIND_UDP_CONNECTED {
        autobind(fd);
        return err(libc::EDESTADDRREQ);
    }
    if super::family(fd) & proto::FAM_PING != 0 {
        // An ICMP datagram or raw socket: 65,535 bytes with the IP header, which raw_sendmsg
        // with IP_HDRINCL takes from the data (then at least 20 bytes of it, EINVAL, and never
        // more than the link's MTU away from this host, EMSGSIZE: raw_send_hdrinc).
        let (ours, mtu) = crate::pmtu::link().unwrap_or((std::net::Ipv4Addr::UNSPECIFIED, usize::MAX));
        let hdrincl = (total < 20 || total > mtu.min(65515)) && super::errq::hdrincl(fd);
        let away = to.is_none_or(|d| !(d.ip().is_loopback() || d.ip().is_unspecified() || *d.ip() == ours));
        if (total > 65515 && !hdrincl) || (hdrincl && total > mtu && away) {
            return err(libc::EMSGSIZE);
        }
        if hdrincl && total < 20 {
            return err(libc::EINVAL);
        }
    } else if total > 65507 {
        return err(libc::EMSGSIZE);
    }
    let ping = super::family(fd) & proto::FAM_PING != 0;
    let ctl = match msg.map(|m| control(m, !ping)) {
        Some(Err(x)) => return err(x),
        Some(Ok(c)) => c,
        None => Control::default(),
    };
    let (mut src, ifindex) = (ctl.src, ctl.ifindex);
    if let Some(d) = to {
        let b = d.ip().is_broadcast() || Some(*d.ip()) == super::subnet_broadcast();
        if b && !super::broadcast_ok(fd) {
            return err(libc::EACCES);
        }
        // A group no route covers: Linux's udp_sendmsg fails with ENETUNREACH unless the socket
        // names the device (IP_MULTICAST_IF, its address): the service knows (one round trip,
        // only then). IP_PKTINFO naming an interface or one of our addresses is enough.
        if d.ip().is_multicast() && src.is_none_or(|a| a.is_unspecified()) && !super::routed(*d.ip()) {
            if ifindex {
                // The interface's address is the source Linux picks (inet_select_addr), and
                // tells the service the device is named.
                src = super::local_addr().or(src);
            } else if let Err(x) = super::hooks::udp_route(fd, *d.ip()) {
                return err(x);
            }
        }
    }
    if let Some(x) = super::errq::send_error(fd) {
        return err(x);
    }
    if super::udp_wr_shut(fd) {
        return err(libc::EPIPE); // after the pending error, as sock_alloc_send_pskb
    }
    if super::dgram::foreign(fd) && src.is_none() {
        return err(libc::ENETUNREACH); // the route lookup for the bound source fails
    }
    if flags & MSG_PROBE != 0 {
        return e.ok(total as ssize_t); // udp_sendmsg: checked, routed, not sent
    }
    if corkable && super::dgram::joins(fd, more) {
        // The first piece of a datagram (MSG_MORE or UDP_CORK): checked as a datagram of its
        // own would be, then kept.
        return corked(fd, iov, cnt, flags, to, src, &e);
    }
    let gso = if ping { 0 } else { ctl.gso.unwrap_or_else(|| super::dgram::gso(fd)) };
    if gso > 0 {
        if let Err(x) = gso_check(total, gso) {
            return err(x);
        }
        if total > gso as usize {
            let data: Vec<u8> = (0..cnt).flat_map(|i| iov_bytes(&*iov.add(i)).iter().copied()).collect();
            let n = super::dgram::segments(fd, to, src, &data, gso, flags);
            return if n < 0 { n } else { e.ok(n) };
        }
    }
    let n = super::dgram::datagram(fd, to, src, std::slice::from_raw_parts(iov, cnt), flags);
    if n < 0 {
        return n;
    }
    e.ok(n)
}

/// A send joining a datagram (`dgram`): the piece is kept (the first one with its destination
/// and source), and the whole datagram leaves when the piece ends it. The piece's length, or
/// -1 with errno.
unsafe fn corked(
    fd: c_int,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    to: Option<SocketAddrV4>,
    src: Option<std::net::Ipv4Addr>,
    e: &Errno,
) -> ssize_t {
    let piece: Vec<&[u8]> = (0..cnt).map(|i| iov_bytes(&*iov.add(i))).collect();
    let total = piece.iter().map(|p| p.len()).sum::<usize>() as ssize_t;
    match super::dgram::append(fd, &piece, flags & libc::MSG_MORE != 0, to, src) {
        Err(x) => err(x),
        Ok(None) => e.ok(total),
        Ok(Some(p)) => {
            // The datagram leaves in the socket's UDP_SEGMENT segments, checked now, as Linux
            // checks them when it pushes the corked frames.
            let gso = super::dgram::gso(fd);
            let n = match gso_check(p.data.len(), gso) {
                Err(x) => return err(x),
                Ok(()) if gso > 0 && p.data.len() > gso as usize => {
                    super::dgram::segments(fd, p.to, p.src, &p.data, gso, flags)
                }
                Ok(()) => super::dgram::datagram(fd, p.to, p.src, &[iov_of(&p.data)], flags),
            };
            if n < 0 {
                n
            } else {
                e.ok(total)
            }
        }
    }
}

/// `dgram::gso_check` on the link's MTU (0: no UDP_SEGMENT, nothing to check).
fn gso_check(total: usize, gso: u16) -> Result<(), c_int> {
    if gso == 0 {
        return Ok(());
    }
    let mtu = crate::pmtu::link().map_or(1500, |(_, m)| m);
    super::dgram::gso_check(total, gso, mtu)
}

/// The bytes an iovec of the program's names.
///
/// Safety: `v` describes memory the program passed to a send call.
unsafe fn iov_bytes(v: &iovec) -> &[u8] {
    if v.iov_len == 0 || v.iov_base.is_null() {
        return &[];
    }
    std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
}

fn iov_of(d: &[u8]) -> iovec {
    iovec { iov_base: d.as_ptr() as *mut c_void, iov_len: d.len() }
}

/// SIOCGSTAMP / SIOCGSTAMPNS (`req`, the timeval or timespec forms, old and _NEW: 16 bytes
/// each on 64-bit) on socket `fd` of kind `k`, as Linux's sock_gettstamp: ENOENT until a
/// datagram arrived (always on TCP, whose receives never stamp the socket), then the time of
/// the call (the first call after a receive without timestamps on gives the current time).
pub(crate) unsafe fn timestamp(fd: c_int, k: u8, req: libc::c_ulong, arg: *mut c_void) -> c_int {
    if !super::is_udp(k) || !super::dgram::received(fd) {
        return err(libc::ENOENT);
    }
    if arg.is_null() {
        return err(libc::EFAULT);
    }
    let e = Errno::save();
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
    let frac = if req & 0xff == 0x07 { ts.tv_nsec } else { ts.tv_nsec / 1000 };
    let v: [i64; 2] = [ts.tv_sec, frac];
    std::ptr::copy_nonoverlapping(v.as_ptr() as *const u8, arg as *mut u8, 16);
    e.ok(0)
}

/// recvmsg on a UDP socket: strips the header into msg_name (or reports the error it carries).
pub(crate) unsafe fn udp_recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let e = Errno::save();
    if msg.is_null() {
        return err(libc::EFAULT);
    }
    let m = &mut *msg;
    let mut hdr = [0u8; UDP_HDR];
    let mut v: Vec<iovec> = Vec::with_capacity(m.msg_iovlen + 1);
    v.push(iovec { iov_base: hdr.as_mut_ptr() as *mut c_void, iov_len: UDP_HDR });
    for i in 0..m.msg_iovlen {
        v.push(*m.msg_iov.add(i));
    }
    let mut mh: msghdr = std::mem::zeroed();
    mh.msg_iov = v.as_mut_ptr();
    mh.msg_iovlen = v.len();
    let mp = &mut mh as *mut msghdr as usize;
    // udp_recvmsg ignores MSG_OOB (the pair would refuse it).
    let flags = flags & !libc::MSG_OOB;
    let n = crate::native_wait(true, || crate::raw_syscall(libc::SYS_recvmsg, &[fd as usize, mp, flags as usize]));
    if n < 0 {
        return -1;
    }
    if n == 0 {
        // The pair's end of stream: the socket was shut down for reading (service/shut.rs),
        // so an empty queue reads 0 as on Linux; or the service is gone.
        return match super::hooks::call(&Msg::new(Op::Reason), fd) {
            Err(None) | Err(Some(libc::ENETDOWN)) => err(libc::ECONNRESET),
            // Linux's empty queue after SHUT_RD: EAGAIN when not waiting, 0 when waiting.
            _ if flags & libc::MSG_DONTWAIT != 0 || super::hooks::is_nonblock(fd) => err(libc::EAGAIN),
            _ => {
                m.msg_namelen = 0;
                m.msg_flags = 0;
                e.ok(0)
            }
        };
    }
    if (n as usize) < UDP_HDR {
        return err(libc::ECONNRESET); // the service is gone
    }
    if let Some(x) = proto::udp_hdr_error(&hdr) {
        return err(x);
    }
    m.msg_flags = mh.msg_flags & libc::MSG_TRUNC;
    put_cmsgs(m, &proto::parse_udp_rx(&hdr));
    match proto::parse_udp_hdr(&hdr).flatten() {
        Some(a) if !m.msg_name.is_null() => {
            let mut l = m.msg_namelen;
            write_peer(fd, a, m.msg_name as *mut sockaddr, &mut l);
            m.msg_namelen = l;
        }
        _ => m.msg_namelen = 0,
    }
    super::dgram::mark_received(fd);
    e.ok((n as usize - UDP_HDR) as ssize_t)
}

/// recv/recvfrom/read on a UDP socket through `udp_recvmsg`.
pub(crate) unsafe fn udp_recv(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    let mut iov = iovec { iov_base: buf, iov_len: n };
    let mut m: msghdr = std::mem::zeroed();
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    if !addr.is_null() && !len.is_null() {
        m.msg_name = addr as *mut c_void;
        m.msg_namelen = *len;
    }
    let r = udp_recvmsg(fd, &mut m, flags & !MSG_CMSG_COMPAT); // as in `udp_send`
                                                               // __sys_recvfrom writes the length only with an address (a null address leaves it alone),
                                                               // and an address without a length is EFAULT once the datagram is taken.
    if r >= 0 && !addr.is_null() {
        if len.is_null() {
            return err(libc::EFAULT);
        }
        *len = m.msg_namelen;
    }
    r
}

/// ioctl(FIONREAD) on a UDP socket: the size of the next datagram (without our header).
pub(crate) unsafe fn udp_fionread(fd: c_int, arg: *mut c_void) -> c_int {
    let e = Errno::save();
    if arg.is_null() {
        return err(libc::EFAULT);
    }
    // Held so that libc's syscall() (which the shim interposes) goes straight to the kernel.
    let _g = crate::ShimGuard::enter();
    let mut h = [0u8; UDP_HDR];
    let r = libc::syscall(
        libc::SYS_recvfrom,
        fd,
        h.as_mut_ptr(),
        h.len(),
        libc::MSG_PEEK | libc::MSG_DONTWAIT | libc::MSG_TRUNC,
        0usize,
        0usize,
    );
    let n = if r < 0 { 0 } else { (r as usize).saturating_sub(UDP_HDR) };
    std::ptr::write_unaligned(arg as *mut c_int, n as c_int);
    e.ok(0)
}

/// recvmsg's control messages for one datagram, in Linux's order (sock_recv_cmsgs first:
/// SCM_TIMESTAMP or SCM_TIMESTAMPNS; then ip_cmsg_recv_offset: IP_PKTINFO, IP_TTL, IP_TOS),
/// each written as Linux's put_cmsg writes it: one that does not
/// fit whole is cut to the room left and MSG_CTRUNC set; none without room for a header.
unsafe fn put_cmsgs(m: &mut msghdr, info: &proto::RxInfo) {
    let mut room = if m.msg_control.is_null() { 0 } else { m.msg_controllen };
    let mut at = m.msg_control as *mut u8;
    let mut put = |level: c_int, ty: c_int, data: &[u8]| {
        let hdr = std::mem::size_of::<libc::cmsghdr>();
        if room < hdr {
            m.msg_flags |= libc::MSG_CTRUNC;
            return;
        }
        let mut len = libc::CMSG_LEN(data.len() as u32) as usize;
        if room < len {
            m.msg_flags |= libc::MSG_CTRUNC;
            len = room;
        }
        let c = libc::cmsghdr { cmsg_len: len as _, cmsg_level: level, cmsg_type: ty };
        std::ptr::write_unaligned(at as *mut libc::cmsghdr, c);
        let body = libc::CMSG_LEN(0) as usize;
        std::ptr::copy_nonoverlapping(data.as_ptr(), at.add(body), len.saturating_sub(body).min(data.len()));
        let step = (libc::CMSG_SPACE(data.len() as u32) as usize).min(room);
        at = at.add(step);
        room -= step;
    };
    if let Some(t) = info.tstamp {
        // struct timeval or struct timespec: seconds, then microseconds or nanoseconds.
        let (secs, frac) = ((t.ns / 1_000_000_000) as i64, (t.ns % 1_000_000_000) as i64);
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&secs.to_ne_bytes());
        b[8..16].copy_from_slice(&(if t.nanos { frac } else { frac / 1000 }).to_ne_bytes());
        put(libc::SOL_SOCKET, if t.nanos { libc::SCM_TIMESTAMPNS } else { libc::SCM_TIMESTAMP }, &b);
    }
    if let Some(p) = info.pktinfo {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&(p.ifindex as c_int).to_ne_bytes());
        b[4..8].copy_from_slice(&p.spec_dst.octets());
        b[8..12].copy_from_slice(&p.addr.octets());
        put(libc::SOL_IP, libc::IP_PKTINFO, &b);
    }
    if let Some(t) = info.ttl {
        put(libc::SOL_IP, libc::IP_TTL, &(t as c_int).to_ne_bytes());
    }
    if let Some(t) = info.tos {
        put(libc::SOL_IP, libc::IP_TOS, &[t]);
    }
    if !m.msg_control.is_null() {
        m.msg_controllen = at as usize - m.msg_control as usize;
    } else {
        m.msg_controllen = 0;
    }
}
