//! `TAPSTACK_TRACE=events`: one JSON object per event, one per line. Fields:
//! `t_us` (stack clock, microseconds), `local`, `remote` (`a.b.c.d:port`), `ev` and then
//! - `"seg"`: `dir` (`in`/`out`), `flags` (tcpdump letters, `.` = ACK), `seq`, `ack` (absent
//!   without ACK), `len`, `win` (bytes, scaled), handshake options `mss`, `wscale`,
//!   `sack_perm`, `ts` ([TSval, TSecr]), `sack` ([[left, right], ...]), `reason` (absent or one of
//!   [`Reason::name`]);
//! - `"state"`: `from`, `to` (RFC 9293 names: `SYN-SENT`, `ESTABLISHED`, ...);
//! - `"timer"`: `timer` (`rto`, `delayed-ack`, `persist`, `keepalive`, `rack`, `tlp`, `time-wait`);
//! - `"cc"`: `cwnd`, `ssthresh` (bytes; 4294967295 = not yet set), `srtt_us`, `rttvar_us`, `rto_us`.
//!
//! Written by hand (numbers and fixed names only; addresses contain nothing to escape).
use std::fmt::Write;

use super::{flag_string, state_name, Dir, TraceEvent, TraceKind};

/// Appends `ev` as one JSON line (with the trailing newline) to `out`.
pub fn write_event(out: &mut String, ev: &TraceEvent) {
    let _ = write!(out, "{{\"t_us\":{},\"local\":\"{}\",\"remote\":\"{}\"", ev.at.total_micros(), ev.local, ev.remote);
    match &ev.kind {
        TraceKind::Segment(dir, s) => {
            let d = if *dir == Dir::In { "in" } else { "out" };
            let _ = write!(
                out,
                ",\"ev\":\"seg\",\"dir\":\"{d}\",\"flags\":\"{}\",\"seq\":{}",
                flag_string(s.flags, s.ack.is_some()),
                s.seq
            );
            if let Some(a) = s.ack {
                let _ = write!(out, ",\"ack\":{a}");
            }
            let _ = write!(out, ",\"len\":{},\"win\":{}", s.len, s.window);
            if let Some(m) = s.mss {
                let _ = write!(out, ",\"mss\":{m}");
            }
            if let Some(w) = s.wscale {
                let _ = write!(out, ",\"wscale\":{w}");
            }
            if s.sack_perm {
                out.push_str(",\"sack_perm\":true");
            }
            if let Some((v, e)) = s.ts {
                let _ = write!(out, ",\"ts\":[{v},{e}]");
            }
            if !s.sack.is_empty() {
                out.push_str(",\"sack\":[");
                for (i, (l, r)) in s.sack.iter().enumerate() {
                    let _ = write!(out, "{}[{l},{r}]", if i > 0 { "," } else { "" });
                }
                out.push(']');
            }
            if s.reason != super::Reason::None {
                let _ = write!(out, ",\"reason\":\"{}\"", s.reason.name());
            }
        }
        TraceKind::State { from, to } => {
            let _ = write!(out, ",\"ev\":\"state\",\"from\":\"{}\",\"to\":\"{}\"", state_name(*from), state_name(*to));
        }
        TraceKind::Timer(k) => {
            let _ = write!(out, ",\"ev\":\"timer\",\"timer\":\"{}\"", k.name());
        }
        TraceKind::Cc(c) => {
            let _ = write!(
                out,
                ",\"ev\":\"cc\",\"cwnd\":{},\"ssthresh\":{},\"srtt_us\":{},\"rttvar_us\":{},\"rto_us\":{}",
                c.cwnd,
                c.ssthresh,
                c.srtt.as_micros(),
                c.rttvar.as_micros(),
                c.rto.as_micros()
            );
        }
    }
    out.push_str("}\n");
}
