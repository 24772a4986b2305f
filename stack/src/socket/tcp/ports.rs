//! Indexes that keep per-call work independent of the number of connections (issue 12): the
//! control blocks holding each local port (Linux's bind hash buckets) and the TIME-WAIT records
//! per local port, so bind, listen and connect look at one port's holders instead of scanning
//! every socket; and the control blocks that may have output left, so `has_pending_output`
//! looks at those instead of every connection (that index lives in `dispatch.rs`, its tests in
//! `tests/ports.rs`).
use std::collections::{BTreeSet, HashMap};

use super::tcb::Tcb;
use super::types::TcpState;

/// Who holds which local port.
#[derive(Default)]
pub(super) struct PortIndex {
    /// (local port, handle) of every control block with `bound` set.
    pub(super) bound: BTreeSet<(u16, u32)>,
    /// TIME-WAIT records per local port (of any local address).
    pub(super) tw: HashMap<u16, TwPort>,
}

/// The TIME-WAIT records of one local port: how many, and the options all of them had since
/// the port's first (`TwRec::flags`' REUSE_ADDR 1 and REUSE_PORT 2).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct TwPort {
    pub(super) n: u32,
    pub(super) shared: u8,
}

impl PortIndex {
    /// Control block `id` now holds `port` (set where `bound` becomes true).
    pub fn bind(&mut self, port: u16, id: u32) {
        self.bound.insert((port, id));
    }
    /// Control block `id` (freed) no longer holds `port`.
    pub fn unbind(&mut self, port: u16, id: u32) {
        self.bound.remove(&(port, id));
    }
    /// Handles of the control blocks bound to `port`, in handle order.
    pub fn holders(&self, port: u16) -> impl Iterator<Item = u32> + '_ {
        self.bound.range((port, 0)..=(port, u32::MAX)).map(|&(_, id)| id)
    }
    /// A TIME-WAIT record for local port `port` was made; `reuse` its REUSE_ADDR / REUSE_PORT.
    pub fn tw_add(&mut self, port: u16, reuse: u8) {
        let e = self.tw.entry(port).or_insert(TwPort { n: 0, shared: 3 });
        e.n += 1;
        e.shared &= reuse;
    }
    /// A TIME-WAIT record for local port `port` was freed.
    pub fn tw_del(&mut self, port: u16) {
        if let Some(e) = self.tw.get_mut(&port) {
            e.n -= 1;
            if e.n == 0 {
                self.tw.remove(&port);
            }
        }
    }
    /// True if a TIME-WAIT record on `port` blocks a bind() by a socket with `reuse` bits
    /// (SO_REUSEADDR 1, SO_REUSEPORT 2): one whose socket shared neither option with it (Linux
    /// inet_bind_conflict with tw_reuse / tw_reuseport). Judged by the options every record
    /// of the port had (exact while they had the same, as the connections of one listener).
    pub fn tw_blocks(&self, port: u16, reuse: u8) -> bool {
        self.tw.get(&port).is_some_and(|e| e.shared & reuse == 0)
    }
}

/// True while `t` has unsent or unacknowledged data, an unsent or unacknowledged FIN, or an
/// RST to send (what a program that exits must still see leave).
pub(super) fn has_output(t: &Tcb) -> bool {
    t.send_rst
        || (!matches!(t.state, TcpState::Closed | TcpState::Listen | TcpState::TimeWait)
            && (!t.tx.is_empty() || (t.fin_queued && !t.fin_acked)))
}
