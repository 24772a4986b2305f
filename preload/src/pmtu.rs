//! IP_MTU_DISCOVER on tapstack UDP sockets: with IP_PMTUDISC_DO, PROBE or INTERFACE Linux never
//! fragments a datagram, and one that does not fit the MTU fails the send with EMSGSIZE
//! (`__ip_append_data`: `maxnonfragsize` is the MTU unless `ip_sk_ignore_df`; the MTU is the
//! path MTU for DO, the device's for PROBE and INTERFACE). tapstack fragmented it and the send
//! succeeded, so a program that learns the MTU from EMSGSIZE never learned it: `openssl s_client
//! -dtls` wrote 4 KB records that Linux refuses over a 1500-byte link (there it queries IP_MTU
//! and fragments its records), and QUIC's path MTU probes (DPLPMTUD, RFC 8899) all "succeed".
//!
//! A datagram leaves through the socketpair and the service sends it later, so the check is
//! here, before the shim hands the datagram over: setsockopt marks the sockets whose mode never
//! fragments ([`after_setsockopt`]); a send of more than `MTU - 28` bytes on a marked socket
//! fails with EMSGSIZE unless it goes to this host (the loopback's MTU, 65536). The MTU is the
//! link's (TAPSTACK_MTU), so that a send that fits costs one atomic load more. With IP_RECVERR
//! the failure also queues what Linux's ip_local_error does: recvmsg(MSG_ERRQUEUE) returns no
//! data, the destination as msg_name, and a `sock_extended_err` {EMSGSIZE, SO_EE_ORIGIN_LOCAL,
//! ee_info = the MTU} with no offender; tracepath reads the MTU there (its "send failed"
//! otherwise). These entries are the shim's, read before the service's ICMP errors. Not done:
//! for DO, a path MTU below the link's (a "fragmentation needed", RFC 1191: getsockopt IP_MTU
//! shows it, the send is not refused); sendmmsg; select's view of a queued local error (poll,
//! ppoll and epoll report POLLERR / EPOLLERR, [`local_pending`]); the DF bit on the wire. A mark does not survive exec (the socket then fragments as before).
use std::net::{Ipv4Addr, SocketAddrV4};

use libc::{c_int, c_void, sockaddr, sockaddr_in, socklen_t};
use tapstack::client::fdtable::FdBits;

use crate::svc;

/// UDP sockets whose IP_MTU_DISCOVER is DO, PROBE or INTERFACE.
static NO_FRAG: FdBits = FdBits::new();
/// UDP sockets with IP_RECVERR on.
static RECVERR: FdBits = FdBits::new();
/// Local EMSGSIZE errors not yet read: (descriptor, destination, MTU), oldest first.
static LOCAL: parking_lot::Mutex<Vec<(c_int, SocketAddrV4, u32)>> = parking_lot::Mutex::new(Vec::new());
/// How many entries `LOCAL` holds: poll looks at it with one atomic load.
static QUEUED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Linux's bound on a socket's error queue is its receive buffer; a few entries are plenty.
const LOCAL_MAX: usize = 64;
/// linux/errqueue.h SO_EE_ORIGIN_LOCAL.
const SO_EE_ORIGIN_LOCAL: u8 = 1;

/// IPv4 and UDP headers.
const HEADERS: usize = 28;

/// After setsockopt on `fd` returned `r`.
///
/// # Safety
/// `val` is null or valid for `len` bytes (the program's setsockopt argument).
pub(crate) unsafe fn after_setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
    r: c_int,
) {
    let ours = name == libc::IP_MTU_DISCOVER || name == libc::IP_RECVERR;
    if r != 0 || level != libc::IPPROTO_IP || !ours || val.is_null() || len < 1 {
        return;
    }
    if !svc::is_udp(svc::kind(fd)) {
        return;
    }
    // Linux reads an int, or one byte when the option is shorter (ip_setsockopt).
    let v = if len as usize >= std::mem::size_of::<c_int>() {
        std::ptr::read_unaligned(val as *const c_int)
    } else {
        c_int::from(*(val as *const u8))
    };
    if name == libc::IP_RECVERR {
        RECVERR.set(fd, v != 0);
        return;
    }
    let no_frag = matches!(v, libc::IP_PMTUDISC_DO | libc::IP_PMTUDISC_PROBE | libc::IP_PMTUDISC_INTERFACE);
    NO_FRAG.set(fd, no_frag);
}

/// `fd` is a new socket or was closed: no mark.
#[inline]
pub(crate) fn forget(fd: c_int) {
    if NO_FRAG.contains(fd) || RECVERR.contains(fd) {
        NO_FRAG.set(fd, false);
        RECVERR.set(fd, false);
        let mut q = LOCAL.lock();
        q.retain(|e| e.0 != fd);
        counted(&q);
    }
}

fn counted(q: &[(c_int, SocketAddrV4, u32)]) {
    QUEUED.store(q.len(), std::sync::atomic::Ordering::Relaxed);
}

/// Some descriptor has a local error queued (one atomic load).
#[inline]
pub(crate) fn any_local() -> bool {
    QUEUED.load(std::sync::atomic::Ordering::Relaxed) != 0
}

/// `fd` has a local error queued: Linux's datagram_poll reports POLLERR while the error queue
/// is not empty.
pub(crate) fn local_pending(fd: c_int) -> bool {
    any_local() && LOCAL.lock().iter().any(|e| e.0 == fd)
}

/// `new` became a duplicate of `old`.
#[inline]
pub(crate) fn mirror(old: c_int, new: c_int) {
    if new >= 0 && old != new && (NO_FRAG.contains(old) || NO_FRAG.contains(new)) {
        NO_FRAG.set(new, NO_FRAG.contains(old));
        RECVERR.set(new, RECVERR.contains(old));
    }
}

/// `fd` is marked: its sends are checked ([`too_big`]). One atomic load.
#[inline]
pub(crate) fn marked(fd: c_int) -> bool {
    NO_FRAG.contains(fd)
}

/// tapstack's address and the link MTU (TAPSTACK_ADDR, TAPSTACK_MTU).
pub(crate) fn link() -> Option<(Ipv4Addr, usize)> {
    static L: once_cell::sync::OnceCell<Option<(Ipv4Addr, usize)>> = once_cell::sync::OnceCell::new();
    *L.get_or_init(|| tapstack::config::Config::from_env().ok().map(|c| (c.addr, c.mtu)))
}

/// The send of `n` bytes on `fd` to `dst` (null: the connected peer) must fail: EMSGSIZE.
/// One atomic load for any other descriptor.
///
/// # Safety
/// `dst` is null or valid for `dlen` bytes.
#[inline]
pub(crate) unsafe fn too_big(fd: c_int, n: usize, dst: *const sockaddr, dlen: socklen_t) -> bool {
    NO_FRAG.contains(fd) && check(fd, n, dst, dlen)
}

#[cold]
unsafe fn check(fd: c_int, n: usize, dst: *const sockaddr, dlen: socklen_t) -> bool {
    let Some((ours, link_mtu)) = link() else { return false };
    if n + HEADERS <= link_mtu || !svc::is_udp(svc::kind(fd)) {
        return false;
    }
    // Where it goes: the address given, else the peer.
    let mut peer: sockaddr_in = std::mem::zeroed();
    let to = if !dst.is_null() && dlen as usize >= std::mem::size_of::<sockaddr_in>() {
        if (*dst).sa_family as c_int != libc::AF_INET {
            return false; // AF_INET6 (dual-stack) or a malformed address: the usual path decides
        }
        *(dst as *const sockaddr_in)
    } else {
        let mut l = std::mem::size_of::<sockaddr_in>() as socklen_t;
        if peer_name(fd, &mut peer, &mut l) != 0 {
            return false; // not connected: the usual path gives its error
        }
        peer
    };
    let ip = Ipv4Addr::from(u32::from_be(to.sin_addr.s_addr));
    if ip.is_loopback() || ip.is_unspecified() || ip == ours {
        return false; // this host: the loopback's MTU
    }
    if RECVERR.contains(fd) && svc::family(fd) == 0 {
        // Linux queues the datagram's destination address with the socket's peer port
        // (inet_dport: 0 when not connected), not the port sent to.
        let port = if dst.is_null() {
            u16::from_be(to.sin_port)
        } else {
            let mut l = std::mem::size_of::<sockaddr_in>() as socklen_t;
            let r = peer_name(fd, &mut peer, &mut l);
            if r == 0 {
                u16::from_be(peer.sin_port)
            } else {
                0
            }
        };
        let mut q = LOCAL.lock();
        if q.iter().filter(|e| e.0 == fd).count() < LOCAL_MAX {
            q.push((fd, SocketAddrV4::new(ip, port), link_mtu.min(u32::MAX as usize) as u32));
            counted(&q);
        }
    }
    true
}

/// recvmsg(MSG_ERRQUEUE) on `fd` while a local error of ours waits: that error, laid out as
/// Linux's ip_recv_error (0 bytes of data). None: ask the service as usual.
///
/// # Safety
/// `msg` is the program's msghdr (null allowed).
pub(crate) unsafe fn recv_local_error(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> Option<libc::ssize_t> {
    if flags & libc::MSG_ERRQUEUE == 0 || msg.is_null() || !RECVERR.contains(fd) {
        return None;
    }
    let (dst, mtu) = {
        let mut q = LOCAL.lock();
        let i = q.iter().position(|e| e.0 == fd)?;
        let (_, d, m) = q.remove(i);
        counted(&q);
        (d, m)
    };
    let e = tapstack::service::errq::ErrEntry {
        errno: libc::EMSGSIZE,
        origin: SO_EE_ORIGIN_LOCAL,
        icmp_type: 0,
        icmp_code: 0,
        info: mtu,
        offender: None,
        dst,
        payload: Vec::new(),
        next_errno: 0,
        ttl: None,
        tos: None,
    };
    let n = crate::errq::fill_errqueue_msg(&mut *msg, &e, |name, len| {
        let sin = sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: dst.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*dst.ip()).to_be() },
            sin_zero: [0; 8],
        };
        let full = std::mem::size_of::<sockaddr_in>();
        // SAFETY: `name` is the program's msg_name, valid for *len bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                &sin as *const sockaddr_in as *const u8,
                name as *mut u8,
                full.min(*len as usize),
            )
        };
        *len = full as socklen_t;
    });
    Some(n as libc::ssize_t)
}

/// The connected peer of `fd` as getpeername(2) gives it (the service's view for a socket of
/// ours); not the exported hook, so that this file does not lean on `socket.rs`.
///
/// # Safety
/// `peer` and `len` are valid for writes.
unsafe fn peer_name(fd: c_int, peer: &mut sockaddr_in, len: &mut socklen_t) -> c_int {
    let (a, l) = (peer as *mut sockaddr_in as *mut sockaddr, len as *mut socklen_t);
    svc::route::getname(fd, a, l, true).unwrap_or_else(|| crate::real::getpeername(fd, a, l))
}
