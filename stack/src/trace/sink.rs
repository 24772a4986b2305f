//! The runtime's trace sink: renders events as a ladder and/or JSON lines into a buffer and
//! writes it to a descriptor (stderr or `TAPSTACK_TRACE_FILE`) with raw syscalls at the end of
//! every poll round, or when the buffer grows past 64 KiB.
use super::ladder::{Ladder, LadderOpts};
use super::{TraceEvent, TraceSink};
use crate::sys;

/// What `TAPSTACK_TRACE` asks for (besides the per-frame log, `TAPSTACK_TRACE=1`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSpec {
    /// `ladder`: the ladder diagram, with `abs` / `all`.
    pub ladder: Option<LadderOpts>,
    /// `events`: JSON lines.
    pub events: bool,
    /// `frames` (or the historical `1`): one log line per frame.
    pub frames: bool,
}

impl TraceSpec {
    /// Parses `TAPSTACK_TRACE`: `1`/`frames`, or comma-separated words among `ladder`, `events`,
    /// `abs`, `all`, `frames`. `0`/`false`/`off` is off. Any other single word keeps the old
    /// meaning (frame log); an unknown word in a list is an error.
    pub fn parse(v: &str) -> Result<TraceSpec, String> {
        let v = v.trim();
        let mut s = TraceSpec::default();
        if matches!(v, "" | "0" | "false" | "off" | "no") {
            return Ok(s);
        }
        let words: Vec<&str> = v.split(',').map(str::trim).filter(|w| !w.is_empty()).collect();
        let known = |w: &str| matches!(w, "ladder" | "events" | "abs" | "all" | "frames" | "1");
        if words.len() == 1 && !known(words[0]) {
            s.frames = true;
            return Ok(s);
        }
        let mut opts = LadderOpts::default();
        let mut ladder = false;
        for w in &words {
            match *w {
                "ladder" => ladder = true,
                "events" => s.events = true,
                "abs" => opts.abs = true,
                "all" => opts.all = true,
                "frames" | "1" => s.frames = true,
                _ => return Err(format!("TAPSTACK_TRACE: unknown word {w:?} (ladder, events, abs, all, frames)")),
            }
        }
        if (opts.abs || opts.all) && !ladder {
            ladder = true;
        }
        s.ladder = ladder.then_some(opts);
        Ok(s)
    }
    /// True if TCP events are wanted (a sink must be installed).
    pub fn wants_events(&self) -> bool {
        self.ladder.is_some() || self.events
    }
}

/// Renders and writes events to file descriptors: the ladder to `ladder_fd`, JSON to
/// `events_fd` (the same descriptor is fine when only one is on).
pub struct WriterSink {
    ladder: Option<(Ladder, i32, String)>,
    events: Option<(i32, String)>,
}

const FLUSH_AT: usize = 64 * 1024;

impl WriterSink {
    pub fn new(spec: &TraceSpec, ladder_fd: i32, events_fd: i32) -> WriterSink {
        WriterSink {
            ladder: spec.ladder.map(|o| (Ladder::new(o), ladder_fd, String::new())),
            events: spec.events.then(|| (events_fd, String::new())),
        }
    }
    fn write_out(fd: i32, buf: &mut String) {
        if !buf.is_empty() {
            let _ = sys::write_all(fd, buf.as_bytes());
            buf.clear();
        }
    }
}

impl TraceSink for WriterSink {
    fn event(&mut self, ev: &TraceEvent) {
        if let Some((l, fd, buf)) = &mut self.ladder {
            l.event(ev, buf);
            if buf.len() >= FLUSH_AT {
                Self::write_out(*fd, buf);
            }
        }
        if let Some((fd, buf)) = &mut self.events {
            super::json::write_event(buf, ev);
            if buf.len() >= FLUSH_AT {
                Self::write_out(*fd, buf);
            }
        }
    }
    fn finish(&mut self) {
        if let Some((l, _, buf)) = &mut self.ladder {
            l.finish(buf);
        }
        self.flush();
    }
    fn flush(&mut self) {
        if let Some((_, fd, buf)) = &mut self.ladder {
            Self::write_out(*fd, buf);
        }
        if let Some((fd, buf)) = &mut self.events {
            Self::write_out(*fd, buf);
        }
    }
}
