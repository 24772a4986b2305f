//! Invariants the stateful TCP fuzzer (`stateful.rs`) checks after every step and at the
//! end. They read the socket table directly, so they name the internals they rely on here, in
//! one place.
//!
//! Checks that failed on known defects while their fixes were pending are named, so one can be
//! left out of the default run (remove it from `ENFORCED`) and still run with
//! `TCP_FUZZ_ENFORCE=name,...` (or `all`). Both are enforced since the fixes landed:
//! - `rto-timer`: issue 11 item 2, an RTO with nothing to send (zero window with data in flight,
//!   or everything in flight SACKed) left no timer.
//! - `persist-limit`: issue 11 item 6, persist probing never gave up on a vanished peer.
use crate::socket::tcp::input::MAX_QUEUED_RST;
use crate::socket::tcp::seq::SeqNum;
use crate::socket::tcp::tcb::Tcb;
use crate::socket::tcp::{TcpStack, TcpState};

/// Known-defect checks enforced by default (a name is added when its fix has landed).
const ENFORCED: &[&str] = &["rto-timer", "persist-limit"];

/// True if the known-defect check `name` is enforced (by `ENFORCED` or `TCP_FUZZ_ENFORCE`).
pub fn enforced(name: &str) -> bool {
    ENFORCED.contains(&name)
        || std::env::var("TCP_FUZZ_ENFORCE").is_ok_and(|v| v.split(',').any(|n| n.trim() == name || n.trim() == "all"))
}

/// States in which the connection still owes the peer something and must keep a timer running
/// while it does (RFC 9293 3.8.1, RFC 6298 5.1).
fn sending_state(s: TcpState) -> bool {
    matches!(
        s,
        TcpState::SynSent
            | TcpState::SynReceived
            | TcpState::Established
            | TcpState::CloseWait
            | TcpState::FinWait1
            | TcpState::Closing
            | TcpState::LastAck
    )
}

/// Unacknowledged data, or data or a FIN not yet sent.
pub fn owes(t: &Tcb) -> bool {
    let fin_unacked = t.fin_queued && !t.fin_acked;
    t.snd.una != t.snd.max
        || !t.tx.is_empty()
        || fin_unacked
        || matches!(t.state, TcpState::SynSent | TcpState::SynReceived)
}

/// The "RTO with nothing to send" defect (issue 11 item 2): the peer's window is zero with data
/// in flight, or SACK covers what is in flight.
pub fn known_rto_defect(t: &Tcb) -> bool {
    t.snd.wnd == 0 || t.loss.scoreboard.sacked_bytes() > 0
}

/// Checks after a `dispatch`: memory bounded by the configured limits, the timer index
/// consistent, and a timer armed for every connection that owes the peer data or a FIN.
/// `max_buf` is the largest buffer size any socket may have asked for.
pub fn check_step(s: &TcpStack, max_buf: usize) -> Result<(), String> {
    if s.rsts.len() > MAX_QUEUED_RST {
        return Err(format!("{} RSTs queued", s.rsts.len()));
    }
    if s.timers.len() > s.socks.len() {
        return Err(format!("{} timers for {} control blocks", s.timers.len(), s.socks.len()));
    }
    for &(at, id) in &s.timers {
        match s.socks.get(&id) {
            Some(t) if t.timer_key == Some(at) => {}
            _ => return Err(format!("timer index entry ({at:?}, {id}) without a matching control block")),
        }
    }
    for (key, id) in &s.conns {
        let Some(t) = s.socks.get(id) else { return Err(format!("conns entry {key:?} -> freed id {id}")) };
        if (t.local, t.remote) != *key {
            return Err(format!("conns entry {key:?} -> id {id} with 4-tuple {:?}", (t.local, t.remote)));
        }
    }
    for (&id, t) in &s.socks {
        let who = format!("id {id} {:?} {} -> {}", t.state, t.local, t.remote);
        if t.rx.capacity() > max_buf || t.tx.capacity() > max_buf {
            return Err(format!(
                "{who}: buffers rx {} tx {} above the limit {max_buf}",
                t.rx.capacity(),
                t.tx.capacity()
            ));
        }
        if t.rx.len() > t.rx.capacity() || t.tx.len() > t.tx.capacity() {
            return Err(format!("{who}: ring over capacity"));
        }
        if t.assembler.ranges().len() > super::assembler::MAX_RANGES || t.ack.points.len() > 64 {
            return Err(format!("{who}: reassembly ranges or ACK points unbounded"));
        }
        if let Some(l) = &t.listener {
            if l.accept_queue.len() > l.backlog || l.syn_queue > s.config.max_syn_backlog {
                return Err(format!(
                    "{who}: accept queue {} over backlog {} or SYN queue {} over {}",
                    l.accept_queue.len(),
                    l.backlog,
                    l.syn_queue,
                    s.config.max_syn_backlog
                ));
            }
        }
        if t.synchronized() && t.state != TcpState::TimeWait {
            // In flight: at most the send buffer plus SYN and FIN; one log record per byte at most.
            let flight = t.snd.max.since(t.snd.una);
            if flight > t.tx.len() + 2 || t.loss.sent.len() > flight + 1 {
                return Err(format!(
                    "{who}: {flight} bytes in flight, {} in tx, {} log records",
                    t.tx.len(),
                    t.loss.sent.len()
                ));
            }
            // The loss-recovery counters agree with the marks, and SACKED with the scoreboard.
            t.check_marks().map_err(|e| format!("{who}: {e}"))?;
            if t.snd.nxt > t.snd.max || t.snd.una > t.snd.nxt {
                return Err(format!("{who}: una {:?} nxt {:?} max {:?} out of order", t.snd.una, t.snd.nxt, t.snd.max));
            }
        }
        if t.queued {
            continue; // touched after the last dispatch; checked after the next one
        }
        if t.timer_key != t.next_timer() {
            return Err(format!("{who}: indexed timer {:?} but next timer {:?}", t.timer_key, t.next_timer()));
        }
        if sending_state(t.state) && owes(t) && t.timer_key.is_none() && !t.send_rst {
            if known_rto_defect(t) && !enforced("rto-timer") {
                continue;
            }
            return Err(format!(
                "{who}: owes the peer (una {:?} nxt {:?} max {:?}, tx {}, fin {}/{}, wnd {}) but no timer",
                t.snd.una,
                t.snd.nxt,
                t.snd.max,
                t.tx.len(),
                t.fin_queued,
                t.fin_acked,
                t.snd.wnd
            ));
        }
    }
    // The SYN queue: counted per listener, each request with its SYN-ACK timer.
    let counted: usize = s.socks.values().filter_map(|t| t.listener.as_ref()).map(|l| l.syn_queue).sum();
    if counted != s.reqs.len() || s.req_timers.len() != s.reqs.len() {
        return Err(format!(
            "SYN queue: {} requests, {} counted by listeners, {} timers",
            s.reqs.len(),
            counted,
            s.req_timers.len()
        ));
    }
    for r in s.reqs.values() {
        if s.socks.get(&r.listener).and_then(|t| t.listener.as_ref()).is_none() {
            return Err(format!("a SYN queue request outlives its listener {}", r.listener));
        }
    }
    // TIME-WAIT records and orphans: within their caps, counted right, each record timed.
    if s.tw.len() > s.config.max_tw_buckets || s.tw_timers.len() != s.tw.len() || !s.tw_acks.is_empty() {
        return Err(format!(
            "TIME-WAIT: {} records (cap {}), {} timers, {} ACKs left after dispatch",
            s.tw.len(),
            s.config.max_tw_buckets,
            s.tw_timers.len(),
            s.tw_acks.len()
        ));
    }
    let orphans = s.socks.values().filter(|t| t.orphan).count();
    let live = s.socks.values().filter(|t| t.orphan && t.state != TcpState::TimeWait && !t.queued).count();
    if orphans != s.orphans || live > s.config.max_orphans {
        return Err(format!("{orphans} orphans, counted {}, {live} live (cap {})", s.orphans, s.config.max_orphans));
    }
    let timers = s.socks.values().any(|t| t.timer_key.is_some()) || !s.reqs.is_empty() || !s.tw.is_empty();
    if timers && s.poll_at(crate::time::Instant::ZERO).is_none() {
        return Err("a control block has a timer but poll_at is None".into());
    }
    Ok(())
}

/// After the peer has been silent long enough, with the user's handles still open: every
/// connection that owed the peer data or a FIN has given up (RFC 9293 3.8.3 R2).
pub fn check_gave_up(s: &TcpStack) -> Result<(), String> {
    for (&id, t) in &s.socks {
        if sending_state(t.state) && owes(t) {
            if t.snd.wnd == 0 && t.timers.persist_at.is_some() && !enforced("persist-limit") {
                continue;
            }
            if t.timer_key.is_none() && known_rto_defect(t) && !enforced("rto-timer") {
                continue;
            }
            return Err(format!(
                "id {id} {:?} {} -> {} still owes a silent peer (una {:?} max {:?} tx {} wnd {} timer {:?})",
                t.state,
                t.local,
                t.remote,
                t.snd.una,
                t.snd.max,
                t.tx.len(),
                t.snd.wnd,
                t.timer_key
            ));
        }
    }
    Ok(())
}

/// After every handle was closed and the peer stayed silent long enough: nothing is left.
pub fn check_all_freed(s: &TcpStack) -> Result<(), String> {
    if !s.reqs.is_empty() || !s.tw.is_empty() {
        return Err(format!("{} SYN queue requests and {} TIME-WAIT records left", s.reqs.len(), s.tw.len()));
    }
    for (&id, t) in &s.socks {
        let known = (t.snd.wnd == 0 && t.timers.persist_at.is_some() && !enforced("persist-limit"))
            || (t.timer_key.is_none() && owes(t) && known_rto_defect(t) && !enforced("rto-timer"));
        if known {
            continue;
        }
        return Err(format!(
            "id {id} {:?} {} -> {} lives on (orphan {}, una {:?} max {:?} tx {} wnd {} timer {:?})",
            t.state,
            t.local,
            t.remote,
            t.orphan,
            t.snd.una,
            t.snd.max,
            t.tx.len(),
            t.snd.wnd,
            t.timer_key
        ));
    }
    Ok(())
}

/// Sequence-space helper for the model: the later of two sequence numbers.
pub fn later(a: u32, b: u32) -> u32 {
    SeqNum(a).max(SeqNum(b)).0
}
