//! TIME-WAIT as a compact record (like Linux's inet_timewait_sock): once an orphaned
//! connection enters TIME-WAIT its control block and both buffers are freed and ~40 bytes
//! remain, enough to ACK a retransmitted FIN (RFC 9293 3.10.7.4), ignore RSTs (RFC 1337) and
//! let a new SYN reopen the 4-tuple. The number of records is capped (Linux
//! tcp_max_tw_buckets): beyond it a connection closes without TIME-WAIT, counted. This file
//! holds the record and its answers; `twtable.rs` the socket table's side (enter, look up, expire).
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::listener::Key;
use crate::time::{Duration, Instant};
use crate::wire::tcp::TcpRepr;

/// A record's key: remote address and port, local port. The local address (the stack's, or a
/// loopback one: a connection over 127.0.0.0/8 waits out its TIME-WAIT too, as on Linux) is in
/// the record (`TwRec::local_ip`), which keeps the key 8 bytes: two records that differ only
/// in it (127.0.0.1:p and 127.0.0.2:p to one peer) cannot both be kept, the later replaces
/// the earlier. Ordered like the 4-tuple (remote address, remote port, local port).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TwKey {
    pub(super) remote: IpEndpoint,
    pub(super) local_port: u16,
}

/// One hasher step (as the packed u64 key this struct replaced): looked up for every segment
/// while records exist.
impl std::hash::Hash for TwKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.remote.hash_with(self.local_port, state);
    }
}

pub fn tw_key(key: Key) -> TwKey {
    TwKey { remote: key.1, local_port: key.0.port() }
}

/// 40 bytes (the 10,000-record budget of `tests/tcp_memory.rs`).
#[derive(Copy, Clone, Debug)]
pub struct TwRec {
    /// Our next sequence number (SND.MAX): the seq of every ACK we send.
    pub snd_nxt: u32,
    pub rcv_nxt: u32,
    pub ts_recent: u32,
    pub ts_offset: u32,
    /// Receive window in bytes (acceptability) and as advertised (scaled).
    pub rcv_wnd: u32,
    /// Last rate-limited ACK (RFC 5961 7), in milliseconds of the clock (wrapping), valid if
    /// `flags & ACKED`.
    pub last_ack_ms: u32,
    /// The connection's local address.
    pub local_ip: IpAddress,
    pub window: u16,
    pub ts_ok: bool,
    /// REUSE_ADDR and REUSE_PORT: the socket's SO_REUSEADDR and SO_REUSEPORT (Linux tw_reuse,
    /// tw_reuseport: which later bind() calls this record does not block); ACKED.
    pub flags: u8,
    pub expires: Instant,
}

const _: () = assert!(std::mem::size_of::<TwRec>() <= 40);

/// `TwRec::flags`: SO_REUSEADDR, SO_REUSEPORT, a rate-limited ACK was sent.
pub const REUSE_ADDR: u8 = 1;
pub const REUSE_PORT: u8 = 2;
pub const ACKED: u8 = 4;

/// Upper bound on TIME-WAIT ACKs queued between two dispatches.
pub(super) const MAX_QUEUED_TW_ACK: usize = 1024;

/// What a segment for a TIME-WAIT record asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TwAction {
    Nothing,
    Ack,
    /// A new SYN may reopen the connection (RFC 9293 3.10.7.4, RFC 6191).
    Reopen,
}

impl TwRec {
    pub(super) fn oow_ack(&mut self, now: Instant) -> TwAction {
        let ms = now.total_millis() as u32;
        if self.flags & ACKED == 0 || ms.wrapping_sub(self.last_ack_ms) >= 500 {
            (self.last_ack_ms, self.flags) = (ms, self.flags | ACKED);
            TwAction::Ack
        } else {
            TwAction::Nothing
        }
    }
    /// RFC 9293 3.10.7.4 in TIME-WAIT (Linux tcp_timewait_state_process).
    pub fn input(&mut self, now: Instant, seg: &TcpRepr, two_msl: Duration) -> TwAction {
        if seg.rst() {
            return TwAction::Nothing; // RFC 1337: no TIME-WAIT assassination
        }
        let seq = super::seq::SeqNum(seg.seq);
        let rcv_nxt = super::seq::SeqNum(self.rcv_nxt);
        if seg.syn() && seg.ack.is_none() {
            if seq > rcv_nxt {
                return TwAction::Reopen;
            }
            return self.oow_ack(now);
        }
        let len = seg.segment_len();
        if self.ts_ok && len > 0 {
            if let Some((tsval, _)) = seg.timestamp {
                if (self.ts_recent.wrapping_sub(tsval) as i32) > 1 {
                    return TwAction::Ack; // RFC 7323 5.3 PAWS
                }
            }
        }
        let acceptable = seq + len >= rcv_nxt && seq <= rcv_nxt + self.rcv_wnd as usize;
        if seg.fin() {
            self.expires = now + two_msl; // restart the 2*MSL timeout
            return TwAction::Ack;
        }
        if !acceptable || seg.syn() {
            return if len > 0 && !seg.syn() { TwAction::Ack } else { self.oow_ack(now) };
        }
        if let Some((tsval, _)) = seg.timestamp {
            if self.ts_ok && seq <= rcv_nxt && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
            }
        }
        if len > 0 {
            TwAction::Ack
        } else {
            TwAction::Nothing
        }
    }
    /// The ACK this record sends.
    pub fn ack(&self, key: Key, now: Instant) -> TcpRepr<'static> {
        TcpRepr {
            src_port: key.0.port(),
            dst_port: key.1.port(),
            seq: self.snd_nxt,
            ack: Some(self.rcv_nxt),
            window: self.window,
            timestamp: self.ts_ok.then(|| ((now.total_millis() as u32).wrapping_add(self.ts_offset), self.ts_recent)),
            ..TcpRepr::default()
        }
    }
}
