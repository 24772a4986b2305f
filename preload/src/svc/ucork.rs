//! UDP_CORK and MSG_MORE on UDP (Linux udp_sendmsg's `corkreq` and ip_append_data): the pieces
//! of a datagram wait in the program's process until a send without MSG_MORE on an uncorked
//! socket, or the cork's removal, sends them as one datagram to the first piece's destination
//! (later pieces' addresses are not looked at). A piece that would take the datagram past
//! 65,507 bytes fails with EMSGSIZE and drops what was pending; close drops it too, as Linux
//! drops pending frames. Kept per descriptor (a dup'ed descriptor does not see the other's
//! pieces).
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};

use libc::c_int;
use parking_lot::Mutex;

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
pub(crate) fn set(fd: c_int, on: bool) -> Option<Pending> {
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

/// `fd` was closed: its cork and pending pieces go.
pub(crate) fn forget(fd: c_int) {
    if USED.load(Ordering::Relaxed) {
        CORKS.lock().remove(&fd);
    }
}

/// `new` became a duplicate of `old`: it shares the cork (not the pieces pending on `old`).
pub(crate) fn mirror(old: c_int, new: c_int) {
    if USED.load(Ordering::Relaxed) {
        let mut t = CORKS.lock();
        let on = t.get(&old).is_some_and(|c| c.on);
        t.remove(&new);
        if on {
            t.insert(new, Cork { on, pending: None });
        }
    }
}
