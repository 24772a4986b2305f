//! Reading `TAPSTACK_TRACE=events` output (JSON lines, see `tapstack::trace::json`) into one
//! time-sequence model per connection.
use std::collections::BTreeMap;

use serde_json::Value;

/// A data segment of the plotted direction.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSeg {
    pub t: f64,
    /// Relative sequence numbers (bytes from the ISN of the sending side).
    pub start: f64,
    pub end: f64,
    pub retransmission: bool,
    pub reason: String,
}

/// What one connection did, seen from the side that carried most data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnPlot {
    /// "local -> remote" as the stack saw it.
    pub name: String,
    /// Data direction: "out" (tapstack sending) or "in".
    pub dir: String,
    pub data: Vec<DataSeg>,
    /// (t, relative ack) of the acknowledging side.
    pub acks: Vec<(f64, f64)>,
    /// (t, ack + advertised window) of the acknowledging side.
    pub window: Vec<(f64, f64)>,
    /// (t, left, right) SACK blocks from the acknowledging side.
    pub sacks: Vec<(f64, f64, f64)>,
    /// (t, cwnd, ssthresh (None: not yet set), srtt ms) of tapstack's side.
    pub cc: Vec<(f64, f64, Option<f64>, f64)>,
    pub bytes: u64,
    pub retransmissions: usize,
    pub duration: f64,
    /// Time window drawn (seconds from the connection's first event); None: everything.
    pub window_t: Option<(f64, f64)>,
}

#[derive(Default)]
struct Raw {
    first_us: Option<u64>,
    last_us: u64,
    evs: Vec<Value>,
    bytes_in: u64,
    bytes_out: u64,
}

/// Parses the events text; `dir` forces "in" or "out" (default: the direction with more data).
/// Malformed lines are counted and skipped; returns the connections in order of first event.
pub fn parse(text: &str, dir: Option<&str>) -> (Vec<ConnPlot>, usize) {
    let mut raws: BTreeMap<(u64, String), Raw> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut index: BTreeMap<String, u64> = BTreeMap::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            bad += 1;
            continue;
        };
        let (Some(t), Some(l), Some(r)) = (v["t_us"].as_u64(), v["local"].as_str(), v["remote"].as_str()) else {
            bad += 1;
            continue;
        };
        let name = format!("{l} -> {r}");
        // A new connection on the same 4-tuple starts after the previous one reached CLOSED.
        let gen = *index.entry(name.clone()).or_insert_with(|| {
            order.push(name.clone());
            0
        });
        let raw = raws.entry((gen, name.clone())).or_default();
        raw.first_us.get_or_insert(t);
        raw.last_us = raw.last_us.max(t);
        if v["ev"] == "seg" {
            let len = v["len"].as_u64().unwrap_or(0);
            if v["dir"] == "out" {
                raw.bytes_out += len;
            } else {
                raw.bytes_in += len;
            }
        }
        let closed = v["ev"] == "state" && v["to"] == "CLOSED";
        raw.evs.push(v);
        if closed {
            *index.get_mut(&name).unwrap() += 1;
        }
    }
    let mut out = Vec::new();
    for ((_, name), raw) in raws {
        out.push(build(name, raw, dir));
    }
    out.sort_by(|a, b| order.iter().position(|n| *n == a.name).cmp(&order.iter().position(|n| *n == b.name)));
    (out, bad)
}

fn build(name: String, raw: Raw, dir: Option<&str>) -> ConnPlot {
    let d = dir.map(str::to_string).unwrap_or_else(|| if raw.bytes_out >= raw.bytes_in { "out" } else { "in" }.into());
    let ackd = if d == "out" { "in" } else { "out" };
    let t0 = raw.first_us.unwrap_or(0);
    let secs = |v: &Value| v["t_us"].as_u64().unwrap_or(t0).saturating_sub(t0) as f64 / 1e6;
    // ISN of the data sender: its SYN's seq (else first seq seen - 1).
    let mut isn: Option<u32> = None;
    for v in &raw.evs {
        if v["ev"] == "seg" && v["dir"] == d.as_str() {
            let seq = v["seq"].as_u64().unwrap_or(0) as u32;
            let syn = v["flags"].as_str().is_some_and(|f| f.contains('S'));
            isn = Some(if syn { seq } else { seq.wrapping_sub(1) });
            break;
        }
    }
    let isn = isn.unwrap_or(0);
    let rel = |x: u64| (x as u32).wrapping_sub(isn) as f64;
    let mut c = ConnPlot { name, dir: d.clone(), ..Default::default() };
    let mut hi: f64 = 0.0;
    for v in &raw.evs {
        let t = secs(v);
        match v["ev"].as_str() {
            Some("seg") if v["dir"] == d.as_str() => {
                let len = v["len"].as_u64().unwrap_or(0);
                let fin = v["flags"].as_str().is_some_and(|f| f.contains('F'));
                if len == 0 && !fin {
                    continue;
                }
                let start = rel(v["seq"].as_u64().unwrap_or(0));
                let end = start + len as f64 + fin as u8 as f64;
                let reason = v["reason"].as_str().unwrap_or("").to_string();
                let retx = matches!(
                    reason.as_str(),
                    "rto" | "fast-retransmit" | "rack" | "tlp-retransmit" | "peer-retransmit"
                ) || (len > 0 && start < hi);
                if retx {
                    c.retransmissions += 1;
                }
                hi = hi.max(end);
                c.bytes += len;
                c.data.push(DataSeg { t, start, end, retransmission: retx, reason });
            }
            Some("seg") if v["dir"] == ackd => {
                if let Some(a) = v["ack"].as_u64() {
                    let syn = v["flags"].as_str().is_some_and(|f| f.contains('S'));
                    let ra = rel(a);
                    if ra > 1e9 {
                        continue; // ACK of our SYN before ours was sent (tracing started late)
                    }
                    c.acks.push((t, ra));
                    if !syn {
                        c.window.push((t, ra + v["win"].as_u64().unwrap_or(0) as f64));
                    }
                    if let Some(bs) = v["sack"].as_array() {
                        for b in bs {
                            if let (Some(l), Some(r)) = (b[0].as_u64(), b[1].as_u64()) {
                                c.sacks.push((t, rel(l), rel(r)));
                            }
                        }
                    }
                }
            }
            Some("cc") => {
                let ss = v["ssthresh"].as_u64().filter(|&s| s < u32::MAX as u64).map(|s| s as f64);
                c.cc.push((
                    t,
                    v["cwnd"].as_u64().unwrap_or(0) as f64,
                    ss,
                    v["srtt_us"].as_u64().unwrap_or(0) as f64 / 1000.0,
                ));
            }
            _ => {}
        }
    }
    c.duration = raw.last_us.saturating_sub(t0) as f64 / 1e6;
    c
}

impl ConnPlot {
    /// The same connection restricted to `[t0, t1]` seconds (a zoom); step lines keep the value
    /// they had at `t0`.
    pub fn zoom(&self, t0: f64, t1: f64) -> ConnPlot {
        let inside = |t: f64| t >= t0 && t <= t1;
        let steps = |v: &[(f64, f64)]| {
            let mut out: Vec<(f64, f64)> = v.iter().rev().find(|p| p.0 < t0).map(|p| (t0, p.1)).into_iter().collect();
            out.extend(v.iter().copied().filter(|p| inside(p.0)));
            out
        };
        let mut cc: Vec<_> = self.cc.iter().rev().find(|p| p.0 < t0).map(|p| (t0, p.1, p.2, p.3)).into_iter().collect();
        cc.extend(self.cc.iter().copied().filter(|p| inside(p.0)));
        ConnPlot {
            name: self.name.clone(),
            dir: self.dir.clone(),
            data: self.data.iter().filter(|d| inside(d.t)).cloned().collect(),
            acks: steps(&self.acks),
            window: steps(&self.window),
            sacks: self.sacks.iter().copied().filter(|s| inside(s.0)).collect(),
            cc,
            bytes: self.bytes,
            retransmissions: self.data.iter().filter(|d| inside(d.t) && d.retransmission).count(),
            duration: self.duration,
            window_t: Some((t0, t1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const EVS: &str = r#"{"t_us":1000,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"state","from":"CLOSED","to":"SYN-SENT"}
{"t_us":1000,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"seg","dir":"out","flags":"S","seq":4294967000,"len":0,"win":65535,"mss":1460}
{"t_us":2000,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"seg","dir":"in","flags":"S.","seq":7,"ack":4294967001,"len":0,"win":65535}
{"t_us":2000,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"seg","dir":"out","flags":".","seq":4294967001,"ack":8,"len":1000,"win":1000}
{"t_us":2100,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"seg","dir":"out","flags":".","seq":705,"ack":8,"len":1000,"win":1000}
{"t_us":3000,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"seg","dir":"in","flags":".","seq":8,"ack":4294967001,"len":0,"win":2000,"sack":[[705,1705]]}
not json
{"t_us":3000,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"seg","dir":"out","flags":".","seq":4294967001,"ack":8,"len":1000,"win":1000,"reason":"fast-retransmit"}
{"t_us":3500,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"cc","cwnd":2000,"ssthresh":4294967295,"srtt_us":1000,"rttvar_us":500,"rto_us":200000}
{"t_us":4000,"local":"10.0.0.2:5000","remote":"10.0.0.1:80","ev":"seg","dir":"in","flags":".","seq":8,"ack":1705,"len":0,"win":2000}
"#;
    #[test]
    fn model_of_a_connection_with_wraparound() {
        let (cs, bad) = parse(EVS, None);
        assert_eq!(bad, 1);
        assert_eq!(cs.len(), 1);
        let c = &cs[0];
        assert_eq!(c.name, "10.0.0.2:5000 -> 10.0.0.1:80");
        assert_eq!(c.dir, "out");
        assert_eq!(c.data.len(), 3);
        assert_eq!((c.data[0].start, c.data[0].end), (1.0, 1001.0));
        assert_eq!((c.data[1].start, c.data[1].end), (1001.0, 2001.0), "across the wrap");
        assert!(c.data[2].retransmission && !c.data[0].retransmission);
        assert_eq!(c.retransmissions, 1);
        assert_eq!(c.acks.last(), Some(&(0.003, 2001.0)));
        assert_eq!(c.window.last(), Some(&(0.003, 4001.0)));
        assert_eq!(c.sacks, vec![(0.002, 1001.0, 2001.0)]);
        assert_eq!(c.cc, vec![(0.0025, 2000.0, None, 1.0)]);
        // Forced direction: nothing came in.
        let (cs, _) = parse(EVS, Some("in"));
        assert!(cs[0].data.is_empty());
        let (cs, _) = parse(EVS, None);
        let z = cs[0].zoom(0.0015, 0.0035);
        assert_eq!(z.data.len(), 1);
        assert_eq!(z.retransmissions, 1);
        assert_eq!(z.acks[0], (0.0015, 1.0), "the ACK line enters the window at its value");
    }
}
