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
    /// TIME-WAIT records per local port.
    pub(super) tw: HashMap<u16, u32>,
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
    /// A TIME-WAIT record for local port `port` was made.
    pub fn tw_add(&mut self, port: u16) {
        *self.tw.entry(port).or_insert(0) += 1;
    }
    /// A TIME-WAIT record for local port `port` was freed.
    pub fn tw_del(&mut self, port: u16) {
        if let Some(n) = self.tw.get_mut(&port) {
            *n -= 1;
            if *n == 0 {
                self.tw.remove(&port);
            }
        }
    }
    /// True if a TIME-WAIT record holds `port`.
    pub fn tw_holds(&self, port: u16) -> bool {
        self.tw.contains_key(&port)
    }
}

/// True while `t` has unsent or unacknowledged data, an unsent or unacknowledged FIN, or an
/// RST to send (what a program that exits must still see leave).
pub(super) fn has_output(t: &Tcb) -> bool {
    t.send_rst
        || (!matches!(t.state, TcpState::Closed | TcpState::Listen | TcpState::TimeWait)
            && (!t.tx.is_empty() || (t.fin_queued && !t.fin_acked)))
}
