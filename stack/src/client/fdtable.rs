//! The shim's per-descriptor bookkeeping, indexed by descriptor number with no lock: every hooked
//! call asks "is this descriptor a tapstack socket?", so that question is one relaxed atomic load.
//!
//! - [`KindTable`]: descriptor -> kind of shared-stack socket (`KIND_*`, 0 for "not ours"), its
//!   SO_BROADCAST flag (the shim refuses broadcast sends without it, as Linux does) and its
//!   family flags (`proto::FAM_INET6`, `FAM_V6ONLY`: how UDP addresses read and are written;
//!   `FAM_PING`: an ICMP datagram socket, which takes destination port 0) and, for TCP, whether
//!   the program shut its reading down (a read's end of stream then asks the service for data
//!   that arrived since, which Linux keeps readable).
//! - [`FdBits`]: a set of descriptors (the shim's own control channel and signalfds, which a
//!   program's close/dup2/close_range must not reach).
//!
//! Which process owns the table (a vfork child shares our memory but not our descriptors) is
//! the shim's business; these types only store.
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

pub use crate::service::proto::{KIND_TCP, KIND_TCP_LISTEN, KIND_TCP_NEW, KIND_UDP};

/// A UDP socket with a default destination (send() without an address is allowed). Known to
/// the shim only: the service sees a UDP socket that is connected.
pub const KIND_UDP_CONNECTED: u8 = 4;

/// Descriptors at or above this number are never tapstack sockets (socket() gives EMFILE).
pub const MAX_FDS: usize = 1 << 16;

/// A UDP kind (the others are TCP: new, connected, listening).
#[inline]
pub fn is_udp(k: u8) -> bool {
    k == KIND_UDP || k == KIND_UDP_CONNECTED
}

/// The slot of `fd`, None outside `0..MAX_FDS`.
#[inline]
fn slot(fd: i32) -> Option<usize> {
    usize::try_from(fd).ok().filter(|&i| i < MAX_FDS)
}

const BROADCAST: u8 = 0x80;
/// The family flags (`proto::FAM_*`, three bits) sit at this shift.
const FAM_SHIFT: u8 = 4;
const FAM_MASK: u8 = 0x7 << FAM_SHIFT;
/// The shutdown bit: shutdown(SHUT_RD) on a TCP socket, shutdown(SHUT_WR) on a UDP one (the
/// direction the service cannot express on that socket's pair).
const RD_SHUT: u8 = 0x08;
/// Everything but the kind.
const FLAGS: u8 = BROADCAST | FAM_MASK | RD_SHUT;

/// Descriptor -> kind (low 3 bits), SHUT_RD (bit 3), family flags (bits 4-6) and SO_BROADCAST
/// (high bit).
pub struct KindTable {
    slots: [AtomicU8; MAX_FDS],
}

impl Default for KindTable {
    fn default() -> Self {
        Self::new()
    }
}

impl KindTable {
    pub const fn new() -> KindTable {
        KindTable { slots: [const { AtomicU8::new(0) }; MAX_FDS] }
    }

    /// The kind of `fd`; 0 if it is not a tapstack socket (or out of range).
    #[inline]
    pub fn kind(&self, fd: i32) -> u8 {
        slot(fd).map_or(0, |i| self.slots[i].load(Ordering::Relaxed) & !FLAGS)
    }

    /// Sets the kind of `fd` (0: forget it), keeping its flags unless forgotten.
    pub fn set_kind(&self, fd: i32, k: u8) {
        if let Some(i) = slot(fd) {
            let keep = if k == 0 { 0 } else { self.slots[i].load(Ordering::Relaxed) & FLAGS };
            self.slots[i].store((k & !FLAGS) | keep, Ordering::Relaxed);
        }
    }

    /// The family flags of `fd` (`proto::family_flags`; 0 for AF_INET or not ours).
    #[inline]
    pub fn family(&self, fd: i32) -> i32 {
        slot(fd).map_or(0, |i| ((self.slots[i].load(Ordering::Relaxed) & FAM_MASK) >> FAM_SHIFT) as i32)
    }

    /// Sets the family flags of `fd` (only their three low bits are kept).
    pub fn set_family(&self, fd: i32, flags: i32) {
        if let Some(i) = slot(fd) {
            let f = ((flags as u8) << FAM_SHIFT) & FAM_MASK;
            let _ = self.slots[i].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some((v & !FAM_MASK) | f));
        }
    }

    /// SO_BROADCAST was set on `fd`.
    #[inline]
    pub fn broadcast(&self, fd: i32) -> bool {
        slot(fd).is_some_and(|i| self.slots[i].load(Ordering::Relaxed) & BROADCAST != 0)
    }

    pub fn set_broadcast(&self, fd: i32, on: bool) {
        if let Some(i) = slot(fd) {
            if on {
                self.slots[i].fetch_or(BROADCAST, Ordering::Relaxed);
            } else {
                self.slots[i].fetch_and(!BROADCAST, Ordering::Relaxed);
            }
        }
    }

    /// The program shut down reading on TCP socket `fd` (shutdown(SHUT_RD)).
    #[inline]
    pub fn rd_shut(&self, fd: i32) -> bool {
        slot(fd).is_some_and(|i| self.slots[i].load(Ordering::Relaxed) & RD_SHUT != 0)
    }

    pub fn set_rd_shut(&self, fd: i32) {
        if let Some(i) = slot(fd) {
            self.slots[i].fetch_or(RD_SHUT, Ordering::Relaxed);
        }
    }

    /// The socket at `fd` starts over (a new pair after a failed connect: Linux's
    /// tcp_disconnect clears the shutdown flags).
    pub fn clear_rd_shut(&self, fd: i32) {
        if let Some(i) = slot(fd) {
            self.slots[i].fetch_and(!RD_SHUT, Ordering::Relaxed);
        }
    }

    /// The program shut down writing on UDP socket `fd`: its sends fail with EPIPE, as Linux's
    /// (sock_alloc_send_pskb). The same bit as TCP's SHUT_RD.
    #[inline]
    pub fn udp_wr_shut(&self, fd: i32) -> bool {
        self.rd_shut(fd)
    }

    pub fn set_udp_wr_shut(&self, fd: i32) {
        self.set_rd_shut(fd);
    }

    /// `fd` was closed: it is nothing any more. True if it was a tapstack socket.
    pub fn forget(&self, fd: i32) -> bool {
        slot(fd).is_some_and(|i| self.slots[i].swap(0, Ordering::Relaxed) != 0)
    }

    /// `new` became a duplicate of `old` (dup, dup2, F_DUPFD): it is whatever `old` is,
    /// including nothing (dup2 over a tapstack socket replaces it).
    pub fn mirror(&self, old: i32, new: i32) {
        if old == new {
            return;
        }
        if let Some(j) = slot(new) {
            let v = slot(old).map_or(0, |i| self.slots[i].load(Ordering::Relaxed));
            self.slots[j].store(v, Ordering::Relaxed);
        }
    }
}

/// A set of descriptors, one bit each.
pub struct FdBits {
    words: [AtomicU64; MAX_FDS / 64],
}

impl Default for FdBits {
    fn default() -> Self {
        Self::new()
    }
}

impl FdBits {
    pub const fn new() -> FdBits {
        FdBits { words: [const { AtomicU64::new(0) }; MAX_FDS / 64] }
    }

    pub fn set(&self, fd: i32, on: bool) {
        if let Some(i) = slot(fd) {
            let (w, b) = (i / 64, 1u64 << (i % 64));
            if on {
                self.words[w].fetch_or(b, Ordering::AcqRel);
            } else {
                self.words[w].fetch_and(!b, Ordering::AcqRel);
            }
        }
    }

    #[inline]
    pub fn contains(&self, fd: i32) -> bool {
        slot(fd).is_some_and(|i| self.words[i / 64].load(Ordering::Acquire) & (1u64 << (i % 64)) != 0)
    }

    /// The members in `first..=last`, ascending (for close_range).
    pub fn members_in(&self, first: u32, last: u32) -> Vec<i32> {
        let hi = (last as usize).min(MAX_FDS - 1);
        (first as usize..=hi).filter(|&f| self.contains(f as i32)).map(|f| f as i32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stored_per_descriptor_and_forgotten() {
        let t = Box::new(KindTable::new());
        assert_eq!(t.kind(3), 0);
        t.set_kind(3, KIND_TCP_NEW);
        assert_eq!(t.kind(3), KIND_TCP_NEW);
        assert_eq!(t.kind(4), 0);
        assert!(t.forget(3));
        assert!(!t.forget(3));
        assert_eq!(t.kind(3), 0);
    }

    #[test]
    fn out_of_range_descriptors_are_never_ours() {
        let t = Box::new(KindTable::new());
        for fd in [-1, i32::MIN, MAX_FDS as i32, i32::MAX] {
            t.set_kind(fd, KIND_UDP);
            t.set_broadcast(fd, true);
            assert_eq!(t.kind(fd), 0);
            assert!(!t.broadcast(fd));
            assert!(!t.forget(fd));
        }
        t.set_kind(MAX_FDS as i32 - 1, KIND_UDP);
        assert_eq!(t.kind(MAX_FDS as i32 - 1), KIND_UDP);
    }

    #[test]
    fn broadcast_flag_follows_the_socket() {
        let t = Box::new(KindTable::new());
        t.set_kind(5, KIND_UDP);
        t.set_broadcast(5, true);
        assert!(t.broadcast(5));
        // Connecting changes the kind, not the option.
        t.set_kind(5, KIND_UDP_CONNECTED);
        assert!(t.broadcast(5));
        assert_eq!(t.kind(5), KIND_UDP_CONNECTED);
        t.mirror(5, 9);
        assert!(t.broadcast(9));
        assert_eq!(t.kind(9), KIND_UDP_CONNECTED);
        t.set_broadcast(5, false);
        assert!(!t.broadcast(5));
        assert!(t.broadcast(9), "a duplicate shares the socket, but the flag was copied at dup");
        t.forget(9);
        assert!(!t.broadcast(9));
    }

    #[test]
    fn rd_shut_follows_the_socket() {
        let t = Box::new(KindTable::new());
        t.set_kind(6, KIND_TCP);
        assert!(!t.rd_shut(6));
        t.set_rd_shut(6);
        assert!(t.rd_shut(6));
        assert_eq!(t.kind(6), KIND_TCP, "the flag is not part of the kind");
        t.mirror(6, 7);
        assert!(t.rd_shut(7));
        t.forget(6);
        assert!(!t.rd_shut(6));
        t.set_rd_shut(-1);
        assert!(!t.rd_shut(-1));
        // UDP's SHUT_WR, the same bit, kept when connect() turns the kind to CONNECTED.
        t.set_kind(8, KIND_UDP);
        t.set_udp_wr_shut(8);
        t.set_kind(8, KIND_UDP_CONNECTED);
        assert!(t.udp_wr_shut(8));
        // A new pair after a failed connect clears it, and only it.
        t.set_broadcast(7, true);
        t.clear_rd_shut(7);
        assert!(!t.rd_shut(7));
        assert!(t.broadcast(7) && t.kind(7) == KIND_TCP);
        t.clear_rd_shut(-1);
    }

    #[test]
    fn family_flags_follow_the_socket() {
        use crate::service::proto::{FAM_INET6, FAM_PING, FAM_V6ONLY};
        let t = Box::new(KindTable::new());
        t.set_kind(3, KIND_UDP);
        t.set_family(3, FAM_PING);
        t.set_kind(3, KIND_UDP_CONNECTED);
        assert_eq!((t.kind(3), t.family(3)), (KIND_UDP_CONNECTED, FAM_PING));
        t.set_kind(4, KIND_UDP);
        t.set_family(4, FAM_INET6);
        t.set_broadcast(4, true);
        assert_eq!(t.family(4), FAM_INET6);
        t.set_family(4, FAM_INET6 | FAM_V6ONLY);
        t.set_kind(4, KIND_UDP_CONNECTED);
        assert_eq!((t.kind(4), t.family(4)), (KIND_UDP_CONNECTED, FAM_INET6 | FAM_V6ONLY));
        assert!(t.broadcast(4));
        t.mirror(4, 8);
        assert_eq!(t.family(8), FAM_INET6 | FAM_V6ONLY);
        t.forget(4);
        assert_eq!((t.kind(4), t.family(4)), (0, 0));
    }

    #[test]
    fn dup_onto_a_socket_replaces_it() {
        let t = Box::new(KindTable::new());
        t.set_kind(7, KIND_TCP);
        t.mirror(1, 7); // dup2(1, 7): fd 7 is now a copy of stdout
        assert_eq!(t.kind(7), 0);
        t.set_kind(7, KIND_TCP_LISTEN);
        t.mirror(7, 7);
        assert_eq!(t.kind(7), KIND_TCP_LISTEN);
        t.mirror(-1, 7);
        assert_eq!(t.kind(7), 0);
    }

    #[test]
    fn udp_kinds() {
        assert!(is_udp(KIND_UDP) && is_udp(KIND_UDP_CONNECTED));
        assert!(!is_udp(KIND_TCP) && !is_udp(KIND_TCP_NEW) && !is_udp(KIND_TCP_LISTEN) && !is_udp(0));
        let all = [KIND_TCP, KIND_UDP, KIND_TCP_LISTEN, KIND_UDP_CONNECTED, KIND_TCP_NEW];
        for (i, a) in all.iter().enumerate() {
            assert!(*a != 0 && *a & FLAGS == 0);
            assert!(all[i + 1..].iter().all(|b| b != a), "kinds are distinct");
        }
    }

    #[test]
    fn fd_bits() {
        let b = Box::new(FdBits::new());
        b.set(0, true);
        b.set(63, true);
        b.set(64, true);
        b.set(MAX_FDS as i32 - 1, true);
        b.set(-3, true);
        b.set(MAX_FDS as i32, true);
        assert!(b.contains(0) && b.contains(63) && b.contains(64) && b.contains(MAX_FDS as i32 - 1));
        assert!(!b.contains(1) && !b.contains(-3) && !b.contains(MAX_FDS as i32));
        assert_eq!(b.members_in(1, 100), vec![63, 64]);
        assert_eq!(b.members_in(0, u32::MAX), vec![0, 63, 64, MAX_FDS as i32 - 1]);
        b.set(63, false);
        assert_eq!(b.members_in(0, 64), vec![0, 64]);
    }
}
