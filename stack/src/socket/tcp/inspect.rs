//! What `tapstack ss` reads from the TCP engine: one `SockEntry` per control block (listeners,
//! connections, not-yet-accepted children, orphans finishing in the background), and the
//! delivery-rate estimate of `ss -i` (bytes acknowledged per round trip, RFC 9293 has none;
//! like Linux's tcpi_delivery_rate, measured over about one SRTT; `vars.rs` holds the sample).
use crate::wire::ip::IpEndpoint;

use super::table::TcpStack;
use super::tcb::Tcb;
use super::types::TcpState;
use crate::inspect::{Proto, SockEntry};

impl TcpStack {
    /// The socket table: every control block in handle order, then the half-open connections
    /// of the SYN queue (SYN-RECV) and the TIME-WAIT records (handle 0: no control block).
    pub fn snapshot(&self) -> Vec<SockEntry> {
        let mut v: Vec<SockEntry> = self.socks.iter().map(|(&id, t)| entry(id, t)).collect();
        let bare = |state, (local, remote): (IpEndpoint, IpEndpoint)| SockEntry {
            proto: Proto::Tcp,
            handle: 0,
            state: Some(state),
            local,
            remote: Some(remote),
            recv_q: 0,
            send_q: 0,
            orphan: true,
            owner: None,
            info: None,
        };
        let mut reqs: Vec<_> = self.reqs.keys().copied().collect();
        reqs.sort();
        v.extend(reqs.into_iter().map(|k| bare(TcpState::SynReceived, k)));
        let mut tw: Vec<_> = self.tw.iter().map(|(&k, r)| Self::key_of(k, r)).collect();
        tw.sort();
        v.extend(tw.into_iter().map(|k| bare(TcpState::TimeWait, k)));
        v
    }
    /// Connections in TIME-WAIT (control blocks and records).
    pub fn time_wait_count(&self) -> usize {
        self.socks.values().filter(|t| t.state == TcpState::TimeWait).count() + self.tw.len()
    }
}

fn entry(id: u32, t: &Tcb) -> SockEntry {
    let (recv_q, send_q) = match &t.listener {
        Some(l) => (l.accept_queue.len(), l.backlog),
        None => (t.rx.len(), t.tx.len()),
    };
    let connected = !matches!(t.state, TcpState::Closed | TcpState::Listen) && t.remote.port() != 0;
    SockEntry {
        proto: Proto::Tcp,
        handle: id,
        state: Some(t.state),
        local: t.local,
        remote: connected.then_some(t.remote),
        recv_q,
        send_q,
        orphan: t.orphan,
        owner: None,
        info: (t.listener.is_none()).then(|| t.info()),
    }
}
