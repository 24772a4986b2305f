//! `TAPSTACK_TRACE=ladder`: each connection drawn as a ladder diagram on 80 columns, live.
//!
//! ```text
//! ==== 10.0.0.2:41234 -> 10.0.0.1:8000 (relative seq/ack) =======================
//!    time s 10.0.0.2:41234                                  10.0.0.1:8000
//!     0.000 |  [CLOSED -> SYN-SENT]                         |
//!     0.000 |- S 0:0(0) win 65535 ------------------------->|
//!           |    <mss 1460,ws 3,sackOK,TS>                  |
//!     0.001 |<------------ S. 0:0(0) ack 1 win 65160 ------|
//! ```
//! Our side is the left rail, the peer the right one. A row per segment: flags (tcpdump
//! letters, `.` = ACK), `seq:end(len)`, ack, window in bytes, and the stack's reason in the
//! right margin (retransmissions say "retransmit"). Handshake options go on the row below the
//! SYN. Sequence numbers are relative to each side's ISN unless `abs`. Runs of ordinary
//! segments once synchronized (delayed ACKs and window updates included) are summarised after
//! the first few rows ("... 812 segments, 1.1 MiB ...") unless `all`.
use crate::wire::ip::IpEndpoint;
use std::collections::HashMap;
use std::fmt::Write;

use super::{flag_string, state_name, Dir, Reason, Segment, TimerKind, TraceEvent, TraceKind};
use crate::socket::tcp::TcpState;
use crate::time::Instant;
use crate::wire::tcp::flags;

/// Rendering options (`TAPSTACK_TRACE=ladder,abs,all`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LadderOpts {
    /// Absolute sequence numbers.
    pub abs: bool,
    /// One row per segment, never summarised.
    pub all: bool,
}

/// Plain rows shown at the start of each run before the rest is summarised.
pub const RUN_ROWS: u32 = 4;
/// A summary row is written at least this often (microseconds) during a long run.
const SUMMARY_EVERY_US: u64 = 1_000_000;
/// Width of the arrow between the rails.
const ARROW: usize = 46;

#[derive(Default)]
struct Run {
    segs: u64,
    bytes: u64,
    segs_in: u64,
    segs_out: u64,
    first: Option<Instant>,
    last: Instant,
}

struct Conn {
    start: Instant,
    /// Our ISN / the peer's ISN (relative numbering).
    base_out: Option<u32>,
    base_in: Option<u32>,
    state: TcpState,
    shown_in_run: u32,
    run: Run,
}

/// The renderer: feed events, collect lines.
pub struct Ladder {
    opts: LadderOpts,
    conns: HashMap<(IpEndpoint, IpEndpoint), Conn>,
    /// Connection of the last row written (a header line when it changes).
    last: Option<(IpEndpoint, IpEndpoint)>,
}

fn fmt_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

fn secs(us: u64) -> String {
    format!("{:9.3}", us as f64 / 1e6)
}

impl Ladder {
    pub fn new(opts: LadderOpts) -> Ladder {
        Ladder { opts, conns: HashMap::new(), last: None }
    }

    /// Renders `ev`, appending complete lines (each ending in '\n') to `out`.
    pub fn event(&mut self, ev: &TraceEvent, out: &mut String) {
        if ev.remote.port() == 0 {
            return; // a listener's own state changes: no ladder
        }
        let key = (ev.local, ev.remote);
        self.conns.entry(key).or_insert_with(|| Conn {
            start: ev.at,
            base_out: None,
            base_in: None,
            state: match &ev.kind {
                TraceKind::State { from, .. } => *from,
                _ => TcpState::Closed,
            },
            shown_in_run: 0,
            run: Run::default(),
        });
        match &ev.kind {
            TraceKind::Segment(dir, s) => self.segment(key, ev.at, *dir, s, out),
            TraceKind::State { from, to } => {
                self.flush_run(key, out);
                self.conn(key).state = *to;
                let text = format!("  [{} -> {}]", state_name(*from), state_name(*to));
                self.row(key, ev.at, &rail(&text), "", out);
                if *to == TcpState::Closed {
                    self.conns.remove(&key);
                    if self.last == Some(key) {
                        self.last = None;
                    }
                }
            }
            TraceKind::Timer(TimerKind::Rto) => {
                self.flush_run(key, out);
                self.row(key, ev.at, &rail("  (retransmission timer fired)"), "RTO", out);
            }
            TraceKind::Timer(_) | TraceKind::Cc(_) => {}
        }
        self.flush_if_old(key, ev.at, out);
    }

    /// Writes every pending summary (end of trace).
    pub fn finish(&mut self, out: &mut String) {
        let mut keys: Vec<_> = self.conns.keys().copied().collect();
        keys.sort();
        for k in keys {
            self.flush_run(k, out);
        }
    }

    fn conn(&mut self, key: (IpEndpoint, IpEndpoint)) -> &mut Conn {
        self.conns.get_mut(&key).expect("connection registered")
    }

    fn segment(&mut self, key: (IpEndpoint, IpEndpoint), at: Instant, dir: Dir, s: &Segment, out: &mut String) {
        let abs = self.opts.abs;
        let c = self.conn(key);
        let syn = s.flags & flags::SYN != 0;
        let (base_seq, base_ack) = match dir {
            Dir::Out => (&mut c.base_out, &mut c.base_in),
            Dir::In => (&mut c.base_in, &mut c.base_out),
        };
        if base_seq.is_none() {
            *base_seq = Some(if syn { s.seq } else { s.seq.wrapping_sub(1) });
        }
        if base_ack.is_none() {
            if let Some(a) = s.ack {
                *base_ack = Some(a.wrapping_sub(1));
            }
        }
        let (bs, ba) = if abs { (0, 0) } else { (base_seq.unwrap_or(0), base_ack.unwrap_or(0)) };
        // Routine ACK reasons do not interrupt a summarised run (a bulk download sends a window
        // update per read); retransmissions, probes, ACKs carrying SACK blocks (the duplicate
        // ACKs of a loss) and the rest always get their row.
        let minor = matches!(s.reason, Reason::None | Reason::DelayedAck | Reason::WindowUpdate);
        let special = s.flags & (flags::SYN | flags::FIN | flags::RST) != 0 || !minor || !s.sack.is_empty();
        let synced =
            !matches!(c.state, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived);
        let plain = !special && synced && !self.opts.all;
        if plain {
            let c = self.conn(key);
            if c.shown_in_run >= RUN_ROWS {
                let r = &mut c.run;
                r.segs += 1;
                r.bytes += s.len as u64;
                match dir {
                    Dir::In => r.segs_in += 1,
                    Dir::Out => r.segs_out += 1,
                }
                r.first.get_or_insert(at);
                r.last = at;
                return;
            }
            c.shown_in_run += 1;
        } else {
            self.flush_run(key, out);
        }
        let seq = s.seq.wrapping_sub(bs);
        let mut label =
            format!("{} {}:{}({})", flag_string(s.flags, s.ack.is_some()), seq, seq.wrapping_add(s.len), s.len);
        if let Some(a) = s.ack {
            let _ = write!(label, " ack {}", a.wrapping_sub(ba));
        }
        let _ = write!(label, " win {}", s.window);
        // SACK blocks (the first, and how many more) go in the margin.
        let mut why = s.reason.label().to_string();
        if let Some(&(l, r)) = s.sack.first() {
            if why.is_empty() {
                why = format!("sack {}-{}", l.wrapping_sub(ba), r.wrapping_sub(ba));
                if s.sack.len() > 1 {
                    let _ = write!(why, " +{}", s.sack.len() - 1);
                }
            }
        }
        let body = arrow(dir, &label);
        self.row(key, at, &body, &why, out);
        if syn {
            let mut o = Vec::new();
            if let Some(m) = s.mss {
                o.push(format!("mss {m}"));
            }
            if let Some(w) = s.wscale {
                o.push(format!("ws {w}"));
            }
            if s.sack_perm {
                o.push("sackOK".into());
            }
            if s.ts.is_some() {
                o.push("TS".into());
            }
            if !o.is_empty() {
                let text = format!("<{}>", o.join(","));
                let inner = match dir {
                    Dir::Out => format!("    {text}"),
                    Dir::In => format!("{text:>w$}", w = ARROW - 4),
                };
                self.cont(&rail(&inner), out);
            }
        }
        if !plain {
            self.conn(key).shown_in_run = 0;
        }
    }

    fn flush_if_old(&mut self, key: (IpEndpoint, IpEndpoint), at: Instant, out: &mut String) {
        let old = self
            .conns
            .get(&key)
            .and_then(|c| c.run.first)
            .is_some_and(|f| at.total_micros().saturating_sub(f.total_micros()) >= SUMMARY_EVERY_US);
        if old {
            self.flush_run(key, out);
        }
    }

    /// Writes the summary of the run of hidden rows, if any.
    fn flush_run(&mut self, key: (IpEndpoint, IpEndpoint), out: &mut String) {
        let Some(c) = self.conns.get_mut(&key) else { return };
        let r = std::mem::take(&mut c.run);
        let Some(first) = r.first else { return };
        let dt = r.last.total_micros().saturating_sub(first.total_micros());
        let text = format!("  ... {} segments, {}, {:.3} s ...", r.segs, fmt_bytes(r.bytes), dt as f64 / 1e6);
        let side = format!("{} in, {} out", r.segs_in, r.segs_out);
        self.row(key, first, &rail(&text), &side, out);
    }

    fn row(&mut self, key: (IpEndpoint, IpEndpoint), at: Instant, body: &str, why: &str, out: &mut String) {
        if self.last != Some(key) {
            self.header(key, out);
        }
        let start = self.conns.get(&key).map_or(at, |c| c.start);
        let t = secs(at.total_micros().saturating_sub(start.total_micros()));
        let line = if why.is_empty() { format!("{t} {body}") } else { format!("{t} {body} {why}") };
        out.push_str(line.trim_end());
        out.push('\n');
    }

    fn cont(&mut self, body: &str, out: &mut String) {
        out.push_str(format!("{:9} {body}", "").trim_end());
        out.push('\n');
    }

    fn header(&mut self, key: (IpEndpoint, IpEndpoint), out: &mut String) {
        let (l, r) = key;
        let mode = if self.opts.abs { "absolute" } else { "relative" };
        let title = format!("==== {l} -> {r} ({mode} seq/ack) ");
        let _ = writeln!(out, "{title:=<80}");
        let ls = l.to_string();
        let rs = r.to_string();
        let _ = writeln!(out, "{:>9} {ls}{rs:>w$}", "time s", w = ARROW + 2 - ls.len());
        self.last = Some(key);
    }
}

/// `|text ... |` padded to the arrow width.
fn rail(text: &str) -> String {
    format!("|{text:<ARROW$}|")
}

/// An arrow between the rails carrying `label`: left to right for our segments.
fn arrow(dir: Dir, label: &str) -> String {
    let fill = ARROW.saturating_sub(label.len() + 4);
    match dir {
        Dir::Out => format!("|- {label} {}>|", "-".repeat(fill)),
        Dir::In => format!("|<{} {label} -|", "-".repeat(fill)),
    }
}

#[cfg(test)]
pub(super) fn render_all(opts: LadderOpts, evs: &[TraceEvent]) -> String {
    let mut l = Ladder::new(opts);
    let mut out = String::new();
    for e in evs {
        l.event(e, &mut out);
    }
    l.finish(&mut out);
    out
}
