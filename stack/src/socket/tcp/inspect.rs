//! What `tapstack ss` reads from the TCP engine: one `SockEntry` per control block (listeners,
//! connections, not-yet-accepted children, orphans finishing in the background), and the
//! delivery-rate estimate of `ss -i` (bytes acknowledged per round trip, RFC 9293 has none;
//! like Linux's tcpi_delivery_rate, measured over about one SRTT).
use crate::wire::ip::IpEndpoint;

use super::tcb::Tcb;
use super::{TcpStack, TcpState};
use crate::inspect::{Proto, SockEntry};
use crate::time::{Duration, Instant};

/// Delivery-rate sampling: bytes acknowledged over a window of at least one SRTT (1 ms min).
#[derive(Clone, Debug, Default)]
pub struct DeliveryRate {
    start: Option<(Instant, u64)>,
    /// Bytes per second over the last completed window.
    pub rate: u64,
}

impl DeliveryRate {
    /// `acked_total` bytes acknowledged so far at `now`.
    pub fn on_ack(&mut self, now: Instant, acked_total: u64, srtt: Duration) {
        let Some((t0, b0)) = self.start else {
            self.start = Some((now, acked_total));
            return;
        };
        let dt = now.saturating_since(t0);
        if dt >= srtt.max(Duration::from_millis(1)) {
            self.rate = ((acked_total - b0) as f64 / dt.as_secs_f64()) as u64;
            self.start = Some((now, acked_total));
        }
    }
}

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
        let mut tw: Vec<_> = self.tw.keys().map(|&k| self.key_of(k)).collect();
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
        None => (if t.rx_shut { 0 } else { t.rx.len() }, t.tx.len()),
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
