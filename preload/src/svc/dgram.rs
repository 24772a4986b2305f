//! What the shim keeps per UDP descriptor of ours, and the write of one datagram into its pair
//! (`datagram`; `udp.rs` has the calls). A leaf: `udp.rs`, `hooks.rs` and `mod.rs` use it.
//!
//! UDP_CORK and MSG_MORE on UDP (Linux udp_sendmsg's `corkreq` and ip_append_data): the pieces
//! of a datagram wait in the program's process until a send without MSG_MORE on an uncorked
//! socket, or the cork's removal, sends them as one datagram to the first piece's destination
//! (later pieces' addresses are not looked at). A piece that would take the datagram past
//! 65,507 bytes fails with EMSGSIZE and drops what was pending; close drops it too, as Linux
//! drops pending frames. Kept per descriptor (a dup'ed descriptor does not see the other's
//! pieces). Also: whether a datagram was received (SIOCGSTAMP), whether the socket is bound
//! with IP_FREEBIND to an address that is not ours (its sends have no route), and its
//! UDP_SEGMENT size (`segments`: a send larger than it leaves as datagrams of that size, as
//! Linux's UDP GSO).
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};

use libc::{c_int, c_void, iovec, msghdr, ssize_t};
use parking_lot::Mutex;
use tapstack::client::fdtable::FdBits;
use tapstack::service::proto::{self, UDP_HDR};

/// A datagram being built.
pub(crate) struct Pending {
    pub to: Option<SocketAddrV4>,
    pub src: Option<Ipv4Addr>,
    pub data: Vec<u8>,
}

#[derive(Default)]
struct Cork {
    /// UDP_CORK is set.
    on: bool,
    pending: Option<Pending>,
}

/// Whether any descriptor ever corked: the send path skips the lock until one does.
static USED: AtomicBool = AtomicBool::new(false);
static CORKS: Mutex<BTreeMap<c_int, Cork>> = Mutex::new(BTreeMap::new());

/// The largest UDP payload over IPv4 (65,535 - 20 - 8).
const MAX_PAYLOAD: usize = 65507;

/// Whether a send on `fd` with MSG_MORE = `more` joins a datagram: MSG_MORE, UDP_CORK set, or
/// pieces already pending.
#[inline]
pub(crate) fn joins(fd: c_int, more: bool) -> bool {
    more || (USED.load(Ordering::Relaxed) && CORKS.lock().get(&fd).is_some_and(|c| c.on || c.pending.is_some()))
}

/// Whether `fd` has pieces pending (then a send appends without looking at its address).
pub(crate) fn pending(fd: c_int) -> bool {
    USED.load(Ordering::Relaxed) && CORKS.lock().get(&fd).is_some_and(|c| c.pending.is_some())
}

/// Adds `piece` to `fd`'s datagram (started with `to` and `src` if none is pending). Ok(Some)
/// the whole datagram when it is to leave now (no MSG_MORE, no cork), Ok(None) when it waits;
/// Err(EMSGSIZE) when it would pass the largest payload (what was pending is dropped).
pub(crate) fn append(
    fd: c_int,
    piece: &[&[u8]],
    more: bool,
    to: Option<SocketAddrV4>,
    src: Option<Ipv4Addr>,
) -> Result<Option<Pending>, c_int> {
    USED.store(true, Ordering::Relaxed);
    let mut t = CORKS.lock();
    let c = t.entry(fd).or_default();
    let p = c.pending.get_or_insert_with(|| Pending { to, src, data: Vec::new() });
    let n: usize = piece.iter().map(|s| s.len()).sum();
    if p.data.len() + n > MAX_PAYLOAD {
        c.pending = None;
        return Err(libc::EMSGSIZE);
    }
    for s in piece {
        p.data.extend_from_slice(s);
    }
    if more || c.on {
        return Ok(None);
    }
    Ok(c.pending.take())
}

/// setsockopt(UDP_CORK) succeeded on `fd`: removing the cork hands back what was pending.
fn set(fd: c_int, on: bool) -> Option<Pending> {
    if !on && !USED.load(Ordering::Relaxed) {
        return None;
    }
    USED.store(true, Ordering::Relaxed);
    let mut t = CORKS.lock();
    let c = t.entry(fd).or_default();
    c.on = on;
    if on {
        return None;
    }
    let p = c.pending.take();
    t.remove(&fd);
    p
}

/// `fd` was closed: its cork, pending pieces and marks go.
pub(crate) fn forget(fd: c_int) {
    RECEIVED.set(fd, false);
    FOREIGN.set(fd, false);
    set_gso(fd, 0);
    if USED.load(Ordering::Relaxed) {
        CORKS.lock().remove(&fd);
    }
}

/// `new` became a duplicate of `old`: it shares the cork (not the pieces pending on `old`).
pub(crate) fn mirror(old: c_int, new: c_int) {
    set_gso(new, gso(old));
    if USED.load(Ordering::Relaxed) {
        let mut t = CORKS.lock();
        let on = t.get(&old).is_some_and(|c| c.on);
        t.remove(&new);
        if on {
            t.insert(new, Cork { on, pending: None });
        }
    }
}

/// UDP_SEGMENT sizes set (0 is not kept); `GSO_USED` spares the lock until one is.
static GSO: Mutex<BTreeMap<c_int, u16>> = Mutex::new(BTreeMap::new());
static GSO_USED: AtomicBool = AtomicBool::new(false);

/// Linux's UDP_MAX_SEGMENTS: a GSO send makes at most this many datagrams.
const MAX_SEGMENTS: usize = 128;

/// setsockopt(UDP_SEGMENT, `size`) succeeded on `fd`.
pub(crate) fn set_gso(fd: c_int, size: u16) {
    if size == 0 && !GSO_USED.load(Ordering::Relaxed) {
        return;
    }
    GSO_USED.store(true, Ordering::Relaxed);
    let mut t = GSO.lock();
    if size == 0 {
        t.remove(&fd);
    } else {
        t.insert(fd, size);
    }
}

/// `fd`'s UDP_SEGMENT size (0: none).
pub(crate) fn gso(fd: c_int) -> u16 {
    if !GSO_USED.load(Ordering::Relaxed) {
        return 0;
    }
    GSO.lock().get(&fd).copied().unwrap_or(0)
}

/// Linux udp_send_skb's checks of a GSO send of `total` bytes in `size`-byte segments over a
/// path of `mtu` bytes: a segment with its headers must fit the path (else EMSGSIZE) and the
/// count UDP_MAX_SEGMENTS (else EINVAL); a send up to one segment long is checked too.
pub(crate) fn gso_check(total: usize, size: u16, mtu: usize) -> Result<(), c_int> {
    if 20 + 8 + total.min(size as usize) > mtu {
        return Err(libc::EMSGSIZE);
    }
    if total > size as usize * MAX_SEGMENTS {
        return Err(libc::EINVAL);
    }
    Ok(())
}

/// `data` into the pair of `fd` as datagrams of `size` bytes (the last one shorter), in one
/// sendmmsg. The bytes sent, or -1 with errno (ENETDOWN when the service is gone); datagrams
/// the pair of a non-blocking socket has no room for are dropped, as a full queue drops them.
///
/// Safety: plain memory only; `fd` is a UDP socket of ours.
pub(crate) unsafe fn segments(
    fd: c_int,
    to: Option<SocketAddrV4>,
    src: Option<Ipv4Addr>,
    data: &[u8],
    size: u16,
    flags: c_int,
) -> ssize_t {
    let hdr = proto::udp_hdr_from(to, src);
    let chunks: Vec<&[u8]> = data.chunks(size.max(1) as usize).collect();
    let mut iovs: Vec<[iovec; 2]> = chunks
        .iter()
        .map(|c| {
            [
                iovec { iov_base: hdr.as_ptr() as *mut c_void, iov_len: UDP_HDR },
                iovec { iov_base: c.as_ptr() as *mut c_void, iov_len: c.len() },
            ]
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|v| {
            let mut m: libc::mmsghdr = std::mem::zeroed();
            m.msg_hdr.msg_iov = v.as_mut_ptr();
            m.msg_hdr.msg_iovlen = 2;
            m
        })
        .collect();
    let f = ((flags & !libc::MSG_MORE) | libc::MSG_NOSIGNAL) as usize;
    let (mp, n) = (msgs.as_mut_ptr() as usize, msgs.len());
    let r = crate::native_wait(true, || crate::raw_syscall(libc::SYS_sendmmsg, &[fd as usize, mp, n, f]));
    if r < 0 {
        if crate::errno() == libc::EPIPE {
            crate::set_errno(libc::ENETDOWN);
        }
        return -1;
    }
    data.len() as ssize_t
}

/// UDP sockets of ours that received a datagram (SIOCGSTAMP then has a time to give).
static RECEIVED: FdBits = FdBits::new();

/// UDP sockets of ours bound with IP_FREEBIND to an address that is not ours: their sends
/// have no route (ENETUNREACH, as Linux's route lookup for such a source).
static FOREIGN: FdBits = FdBits::new();

pub(crate) fn received(fd: c_int) -> bool {
    RECEIVED.contains(fd)
}
pub(crate) fn mark_received(fd: c_int) {
    if !RECEIVED.contains(fd) {
        RECEIVED.set(fd, true);
    }
}
pub(crate) fn foreign(fd: c_int) -> bool {
    FOREIGN.contains(fd)
}

/// A bind() of UDP socket `fd` to the sockaddr `sa` succeeded; `ours` tells whether an IPv4
/// address is one of this host's (or any, loopback, broadcast or a group).
pub(crate) fn note_bound(fd: c_int, sa: &[u8], ours: impl Fn(Ipv4Addr) -> bool) {
    let fam = sa.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]]) as c_int);
    let ip = match fam {
        Some(libc::AF_INET) => sa.get(4..8),
        Some(libc::AF_INET6) if sa.get(8..20) == Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff][..]) => {
            sa.get(20..24)
        }
        _ => None,
    };
    if let Some(ip) = ip.map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3])) {
        FOREIGN.set(fd, !ours(ip));
    }
}

/// One datagram into the pair of `fd`: the header (destination `to`, source `src`), then
/// `iov`. The payload's length, or -1 with errno (ENETDOWN when the service is gone).
///
/// Safety: `iov` describes memory that outlives the call.
pub(crate) unsafe fn datagram(
    fd: c_int,
    to: Option<SocketAddrV4>,
    src: Option<Ipv4Addr>,
    iov: &[iovec],
    flags: c_int,
) -> ssize_t {
    let hdr = proto::udp_hdr_from(to, src);
    let mut v: Vec<iovec> = Vec::with_capacity(iov.len() + 1);
    v.push(iovec { iov_base: hdr.as_ptr() as *mut c_void, iov_len: UDP_HDR });
    v.extend_from_slice(iov);
    let mut mh: msghdr = std::mem::zeroed();
    mh.msg_iov = v.as_mut_ptr();
    mh.msg_iovlen = v.len();
    let f = (flags & !libc::MSG_MORE) | libc::MSG_NOSIGNAL;
    let (mp, f) = (&mh as *const msghdr as usize, f as usize);
    let n = crate::native_wait(true, || crate::raw_syscall(libc::SYS_sendmsg, &[fd as usize, mp, f]));
    if n < 0 {
        if crate::errno() == libc::EPIPE {
            crate::set_errno(libc::ENETDOWN);
        }
        return -1;
    }
    (n as usize).saturating_sub(UDP_HDR) as ssize_t
}

/// setsockopt(UDP_CORK) succeeded on `fd`: on, later sends join; off, what was pending leaves
/// as one datagram (its error, if any, is not the call's: Linux's udp_lib_setsockopt ignores it).
pub(crate) fn cork(fd: c_int, on: bool) {
    if let Some(p) = set(fd, on) {
        let v = iovec { iov_base: p.data.as_ptr() as *mut c_void, iov_len: p.data.len() };
        // SAFETY: `p.data` outlives the call.
        unsafe { datagram(fd, p.to, p.src, &[v], 0) };
    }
}
