//! Trace events from two TCP stacks joined by an in-memory wire (5 ms each way, virtual clock),
//! the ladder and JSON renderings of them, and tracing changing nothing on the wire.
use crate::wire::ip::{IpAddress, IpEndpoint};
use std::collections::VecDeque;

use super::ladder::{render_all, LadderOpts};
use super::*;
use crate::socket::tcp::{TcpConfig, TcpHandle, TcpOption, TcpStack};
use crate::socket::Shutdown;
use crate::wire::tcp::{flags, TcpPacket, TcpRepr};

const A: IpAddress = IpAddress::v4(10, 0, 0, 2);
const B: IpAddress = IpAddress::v4(10, 0, 0, 1);
const DELAY: Duration = Duration::from_millis(5);

type Drop = Box<dyn FnMut(bool, &TcpRepr) -> bool>;

struct Wire {
    a: TcpStack,
    b: TcpStack,
    now: Instant,
    /// (deliver at, to b?, src, dst, bytes)
    q: VecDeque<(Instant, bool, IpAddress, IpAddress, Vec<u8>)>,
    /// Every segment put on the wire (a->b true), for comparing runs.
    log: Vec<(bool, Vec<u8>)>,
    drop: Drop,
}

impl Wire {
    fn new(drop: Drop) -> Wire {
        let mut ca = TcpConfig::new(A, 1500);
        ca.isn_secret = [7; 16];
        let mut cb = TcpConfig::new(B, 1500);
        cb.isn_secret = [9; 16];
        Wire {
            a: TcpStack::new(ca),
            b: TcpStack::new(cb),
            now: Instant::from_secs(1),
            q: VecDeque::new(),
            log: Vec::new(),
            drop,
        }
    }
    fn step(&mut self) {
        let now = self.now;
        while self.q.front().is_some_and(|f| f.0 <= now) {
            let (_, to_b, s, d, seg) = self.q.pop_front().unwrap();
            let st = if to_b { &mut self.b } else { &mut self.a };
            st.process(now, s, d, &seg);
        }
        for to_b in [true, false] {
            let mut out = Vec::new();
            let st = if to_b { &mut self.a } else { &mut self.b };
            st.dispatch(now, &mut |s, d, seg| out.push((s, d, seg.to_vec())));
            for (s, d, seg) in out {
                self.log.push((to_b, seg.clone()));
                let pkt = TcpPacket::new_checked(&seg[..]).unwrap();
                let repr = TcpRepr::parse(&pkt).unwrap();
                if !(self.drop)(to_b, &repr) {
                    self.q.push_back((now + DELAY, to_b, s, d, seg));
                }
            }
        }
    }
    fn advance(&mut self) {
        let next = [self.a.poll_at(self.now), self.b.poll_at(self.now), self.q.front().map(|f| f.0)]
            .into_iter()
            .flatten()
            .min();
        self.now = match next {
            Some(t) if t > self.now => t.min(self.now + Duration::from_millis(100)),
            Some(_) => self.now + Duration::from_micros(10),
            None => self.now + Duration::from_millis(100),
        };
    }
}

/// A (traced if `trace`) connects to B:80, sends `n` bytes in `chunk`-byte writes, then both
/// close. Returns the wire and A's events.
fn run(n: usize, chunk: usize, trace: bool, nodelay: bool, drop: Drop) -> (Wire, Vec<TraceEvent>) {
    let (w, sink) = run_sink(n, chunk, trace, nodelay, drop);
    let evs = sink.0.lock().clone();
    (w, evs)
}

fn run_sink(n: usize, chunk: usize, trace: bool, nodelay: bool, drop: Drop) -> (Wire, VecSink) {
    let mut w = Wire::new(drop);
    let sink = VecSink::default();
    if trace {
        w.a.set_tracer(Some(Box::new(sink.clone())));
    }
    let l = w.b.socket();
    w.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
    w.b.listen(l, 4).unwrap();
    let h = w.a.socket();
    w.a.set_option(h, TcpOption::NoDelay(nodelay)).unwrap();
    w.a.connect(w.now, h, IpEndpoint::new(B, 80)).unwrap();
    let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    let (mut sent, mut got, mut hb, mut closed_b) = (0, 0, None::<TcpHandle>, false);
    let mut buf = vec![0u8; 65536];
    let end = w.now + Duration::from_secs(120);
    while w.now < end {
        w.step();
        if hb.is_none() {
            hb = w.b.accept(l).ok();
        }
        if sent < n && w.a.state(h) != Ok(TcpState::SynSent) {
            let k = chunk.min(n - sent);
            if let Ok(k) = w.a.send(w.now, h, &data[sent..sent + k]) {
                sent += k;
                if sent == n {
                    w.a.shutdown(w.now, h, Shutdown::Write).unwrap();
                }
            }
        }
        if let Some(hb) = hb {
            while let Ok(k) = w.b.recv(w.now, hb, &mut buf) {
                if k == 0 {
                    if !closed_b {
                        w.b.close(w.now, hb);
                        closed_b = true;
                    }
                    break;
                }
                assert_eq!(&buf[..k], &data[got..got + k]);
                got += k;
            }
        }
        // TIME-WAIT reached: the socket itself is CLOSED then, a record waits (Linux's).
        if closed_b && w.a.state(h) == Ok(TcpState::Closed) {
            break;
        }
        w.step();
        w.advance();
    }
    assert_eq!(got, n, "all data delivered");
    (w, sink)
}

fn segs(evs: &[TraceEvent]) -> Vec<(Dir, &Segment)> {
    evs.iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Segment(d, s) => Some((*d, s)),
            _ => None,
        })
        .collect()
}

fn states(evs: &[TraceEvent]) -> Vec<(TcpState, TcpState)> {
    evs.iter()
        .filter_map(|e| match e.kind {
            TraceKind::State { from, to } => Some((from, to)),
            _ => None,
        })
        .collect()
}

#[test]
fn handshake_data_and_close_events() {
    let (_, evs) = run(200_000, 16384, true, false, Box::new(|_, _| false));
    let s = segs(&evs);
    let (d0, syn) = s[0];
    assert_eq!(d0, Dir::Out);
    assert_eq!(syn.flags, flags::SYN);
    assert_eq!((syn.mss, syn.wscale, syn.sack_perm), (Some(1460), Some(7), true));
    assert!(syn.ts.is_some() && syn.ack.is_none());
    let (d1, synack) = s[1];
    assert_eq!(d1, Dir::In);
    assert_eq!(synack.flags, flags::SYN);
    assert_eq!(synack.ack, Some(syn.seq.wrapping_add(1)));
    let (d2, ack) = s[2];
    assert_eq!((d2, ack.flags, ack.len), (Dir::Out, 0, 0));
    assert_eq!((ack.seq, ack.ack), (syn.seq.wrapping_add(1), Some(synack.seq.wrapping_add(1))));
    let data_out: u64 = s.iter().filter(|(d, _)| *d == Dir::Out).map(|(_, x)| x.len as u64).sum();
    assert_eq!(data_out, 200_000, "no retransmission on a clean wire");
    assert!(s.iter().all(|(_, x)| x.reason != Reason::Rto));
    use TcpState::*;
    assert_eq!(
        states(&evs),
        vec![
            (Closed, SynSent),
            (SynSent, Established),
            (Established, FinWait1),
            (FinWait1, FinWait2),
            (FinWait2, TimeWait)
        ]
    );
    // The peer's FIN arrives, ours left; cwnd and srtt were reported.
    assert!(s.iter().any(|(d, x)| *d == Dir::In && x.flags & flags::FIN != 0));
    assert!(s.iter().any(|(d, x)| *d == Dir::Out && x.flags & flags::FIN != 0));
    let cc: Vec<&CcState> =
        evs.iter().filter_map(|e| if let TraceKind::Cc(c) = &e.kind { Some(c) } else { None }).collect();
    assert!(cc.iter().any(|c| c.srtt >= Duration::from_millis(9) && c.srtt <= Duration::from_millis(11)), "{cc:?}");
    assert!(cc.last().unwrap().cwnd > cc[0].cwnd, "slow start grew cwnd");
    // Every event is stamped with the connection and non-decreasing times.
    assert!(evs.iter().all(|e| e.local.ip() == &A && e.remote == IpEndpoint::new(B, 80)));
    assert!(evs.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn time_wait_entered_and_left() {
    let (mut w, sink) = run_sink(10_000, 10_000, true, false, Box::new(|_, _| false));
    let end = w.now + Duration::from_secs(61);
    while w.now < end {
        w.step();
        w.advance();
    }
    let evs = sink.0.lock().clone();
    let tw = evs.iter().position(|e| e.kind == TraceKind::State { from: TcpState::FinWait2, to: TcpState::TimeWait });
    let left = evs.iter().position(|e| e.kind == TraceKind::State { from: TcpState::TimeWait, to: TcpState::Closed });
    let (tw, left) = (tw.unwrap(), left.unwrap());
    assert_eq!(evs[left - 1].kind, TraceKind::Timer(TimerKind::TimeWait));
    let held = evs[left].at.total_micros() - evs[tw].at.total_micros();
    assert!((60_000_000..60_100_000).contains(&held), "2*MSL: {held} us");
    let text = render_all(LadderOpts::default(), &evs);
    assert!(text.trim_end().ends_with("[TIME-WAIT -> CLOSED]                       |"), "{text}");
}

#[test]
fn ladder_rows_relative_and_summarised() {
    let (_, evs) = run(200_000, 16384, true, false, Box::new(|_, _| false));
    let text = render_all(LadderOpts::default(), &evs);
    eprintln!("{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "80 columns");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("==== 10.0.0.2:") && lines[0].contains("-> 10.0.0.1:80 (relative"));
    let find = |pat: &str| lines.iter().position(|l| l.contains(pat)).unwrap_or_else(|| panic!("no row {pat:?}"));
    let any = |pats: &[&str]| pats.iter().filter_map(|p| lines.iter().position(|l| l.contains(p))).min().unwrap();
    let syn = find("|- S 0:0(0) win 65535 ");
    assert!(lines[syn + 1].contains("<mss 1460,ws 7,sackOK,TS>"));
    let synack = find(" S. 0:0(0) ack 1 win ");
    let ack = find("|- . 1:1(0) ack 1 win ");
    assert!(syn < synack && synack < ack);
    assert!(find("[SYN-SENT -> ESTABLISHED]") > synack);
    let data = any(&["|- P. 1:1449(1448) ack 1 win", "|- . 1:1449(1448) ack 1 win"]);
    assert!(data > ack);
    let summary = find("... ");
    assert!(lines[summary].contains(" segments, ") && lines[summary].contains("KiB"), "{}", lines[summary]);
    let fin = any(&["|- FP. ", "|- F. "]);
    assert!(fin > summary);
    assert!(find("[FIN-WAIT-2 -> TIME-WAIT]") > fin);
    // With `all`, no summary and one row per segment; with `abs`, the ISN shows.
    let all = render_all(LadderOpts { all: true, abs: false }, &evs);
    assert!(!all.contains("... "));
    let rows = all.lines().filter(|l| l.contains("|- ") || l.contains(" -|")).count();
    assert_eq!(rows, segs(&evs).len());
    let abs = render_all(LadderOpts { all: false, abs: true }, &evs);
    let isn = segs(&evs)[0].1.seq;
    assert!(abs.contains(&format!("|- S {isn}:{isn}(0) win 65535")), "{abs}");
}

#[test]
fn lost_segment_is_marked_and_recovered() {
    // Drop the 20th data segment from A once: SACK recovery resends it.
    let mut n = 0;
    let mut lost = None;
    let drop: Drop = Box::new(move |to_b, r| {
        if to_b && !r.payload.is_empty() {
            n += 1;
            if n == 20 && lost.is_none() {
                lost = Some(r.seq);
                return true;
            }
        }
        false
    });
    let (_, evs) = run(400_000, 65536, true, false, drop);
    let s = segs(&evs);
    let outs: Vec<&Segment> = s.iter().filter(|(d, x)| *d == Dir::Out && x.len > 0).map(|(_, x)| *x).collect();
    let orig = outs[19];
    let retx: Vec<&&Segment> = outs.iter().filter(|x| x.reason.is_retransmission()).collect();
    assert!(!retx.is_empty());
    assert_eq!(retx[0].seq, orig.seq, "the lost segment is the one resent");
    assert!(matches!(retx[0].reason, Reason::FastRetransmit | Reason::Rack), "{:?}", retx[0].reason);
    // The peer's duplicate ACKs carried SACK blocks; ssthresh dropped.
    assert!(s.iter().any(|(d, x)| *d == Dir::In && !x.sack.is_empty()));
    assert!(evs.iter().any(|e| matches!(&e.kind, TraceKind::Cc(c) if c.ssthresh != u32::MAX)));
    let text = render_all(LadderOpts::default(), &evs);
    let row = text.lines().find(|l| l.ends_with(retx[0].reason.label())).expect("a marked row");
    assert!(row.contains("retransmit") && row.contains("|- "), "{row}");
}

#[test]
fn rto_after_blackout_marked() {
    // The last three of twenty data segments are lost, and their first resends too: the
    // tail loss probe and the retransmission timer resend them.
    let mut n = 0;
    let drop: Drop = Box::new(move |to_b, r| {
        if to_b && !r.payload.is_empty() {
            n += 1;
        }
        to_b && (18..24).contains(&n)
    });
    let (_, evs) = run(20 * 1448, 65536, true, true, drop);
    assert!(evs.iter().any(|e| e.kind == TraceKind::Timer(TimerKind::Tlp)));
    assert!(evs.iter().any(|e| e.kind == TraceKind::Timer(TimerKind::Rto)));
    let s = segs(&evs);
    assert!(s.iter().any(|(d, x)| *d == Dir::Out && x.reason == Reason::TlpRetransmit));
    assert!(s.iter().any(|(d, x)| *d == Dir::Out && x.reason == Reason::Rto));
    let text = render_all(LadderOpts::default(), &evs);
    assert!(text.contains("(retransmission timer fired)"), "{text}");
}

#[test]
fn nagle_release_and_delayed_ack() {
    // Small writes without TCP_NODELAY: the second waits for the ACK of the first.
    let (_, evs) = run(3000, 100, true, false, Box::new(|_, _| false));
    let s = segs(&evs);
    assert!(s.iter().any(|(d, x)| *d == Dir::Out && x.reason == Reason::NagleRelease), "{s:#?}");
    let (_, evs) = run(3000, 100, true, true, Box::new(|_, _| false));
    assert!(segs(&evs).iter().all(|(_, x)| x.reason != Reason::NagleRelease));
}

#[test]
fn tracing_changes_nothing_on_the_wire() {
    let mk = || {
        let mut n = 0;
        Box::new(move |to_b: bool, r: &TcpRepr| {
            n += 1;
            to_b && !r.payload.is_empty() && n % 37 == 0
        }) as Drop
    };
    let (off, e0) = run(300_000, 20000, false, false, mk());
    let (on, e1) = run(300_000, 20000, true, false, mk());
    assert!(e0.is_empty() && !e1.is_empty());
    assert_eq!(off.log, on.log, "the same segments, byte for byte");
    // And the events account for every segment A sent and received.
    let s = segs(&e1);
    let out = s.iter().filter(|(d, _)| *d == Dir::Out).count();
    assert_eq!(out, on.log.iter().filter(|(to_b, _)| *to_b).count());
}

#[test]
fn json_lines_parse() {
    let (_, evs) = run(100_000, 65536, true, false, Box::new(|_, _| false));
    let mut s = String::new();
    for e in &evs {
        json::write_event(&mut s, e);
    }
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), evs.len());
    for (l, e) in lines.iter().zip(&evs) {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|err| panic!("{l}: {err}"));
        assert_eq!(v["t_us"].as_u64(), Some(e.at.total_micros()));
        assert_eq!(v["local"].as_str().unwrap(), e.local.to_string());
        match &e.kind {
            TraceKind::Segment(d, seg) => {
                assert_eq!(v["ev"], "seg");
                assert_eq!(v["dir"], if *d == Dir::In { "in" } else { "out" });
                assert_eq!(v["seq"].as_u64(), Some(seg.seq as u64));
                assert_eq!(v["ack"].as_u64(), seg.ack.map(|a| a as u64));
                assert_eq!(v["len"].as_u64(), Some(seg.len as u64));
                assert_eq!(v["mss"].as_u64(), seg.mss.map(|a| a as u64));
            }
            TraceKind::State { to, .. } => assert_eq!(v["to"].as_str().and_then(state_from_name), Some(*to)),
            TraceKind::Timer(k) => assert_eq!(v["timer"].as_str().and_then(TimerKind::from_name), Some(*k)),
            TraceKind::Cc(c) => assert_eq!(v["cwnd"].as_u64(), Some(c.cwnd as u64)),
        }
    }
    assert!(s.contains("\"ev\":\"state\",\"from\":\"CLOSED\",\"to\":\"SYN-SENT\""));
}

#[test]
fn trace_spec_parsing() {
    use super::sink::TraceSpec;
    assert_eq!(TraceSpec::parse("0").unwrap(), TraceSpec::default());
    assert!(TraceSpec::parse("1").unwrap().frames && !TraceSpec::parse("1").unwrap().wants_events());
    assert!(TraceSpec::parse("yes").unwrap().frames, "old meaning kept");
    let s = TraceSpec::parse("ladder,abs").unwrap();
    assert_eq!(s.ladder, Some(LadderOpts { abs: true, all: false }));
    assert!(!s.frames && !s.events);
    let s = TraceSpec::parse("events").unwrap();
    assert!(s.events && s.ladder.is_none());
    assert!(TraceSpec::parse("ladder,bogus").unwrap_err().contains("bogus"));
    for r in ALL_REASONS {
        assert_eq!(Reason::from_name(r.name()), Some(r));
        assert!(r.label().len() <= 17);
    }
}

#[test]
fn server_side_and_time_wait_record() {
    // B (server) traced: its half-open connection lives in the SYN queue, not in a control
    // block; A closes first (orphan), so its TIME-WAIT is a record, not a control block.
    let mut w = Wire::new(Box::new(|_, _| false));
    let (sa, sb) = (VecSink::default(), VecSink::default());
    w.a.set_tracer(Some(Box::new(sa.clone())));
    w.b.set_tracer(Some(Box::new(sb.clone())));
    let l = w.b.socket();
    w.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
    w.b.listen(l, 4).unwrap();
    let h = w.a.socket();
    w.a.connect(w.now, h, IpEndpoint::new(B, 80)).unwrap();
    let (mut hb, mut sent, mut closed) = (None, false, false);
    let mut buf = [0u8; 8192];
    let end = w.now + Duration::from_secs(70);
    while w.now < end {
        w.step();
        if hb.is_none() {
            hb = w.b.accept(l).ok();
        }
        if !sent && w.a.state(h) == Ok(TcpState::Established) {
            w.a.send(w.now, h, &[1u8; 5000]).unwrap();
            w.a.close(w.now, h);
            sent = true;
        }
        if let (Some(hb), false) = (hb, closed) {
            while let Ok(k) = w.b.recv(w.now, hb, &mut buf) {
                if k == 0 {
                    w.b.close(w.now, hb);
                    closed = true;
                    break;
                }
            }
        }
        w.step();
        w.advance();
    }
    let all = sb.0.lock().clone();
    assert_eq!(all[0].kind, TraceKind::State { from: TcpState::Closed, to: TcpState::Listen }, "the listener");
    let eb: Vec<TraceEvent> = all.into_iter().filter(|e| e.remote.port() != 0).collect();
    let sg = segs(&eb);
    assert_eq!((sg[0].0, sg[0].1.flags), (Dir::In, flags::SYN));
    assert_eq!((sg[1].0, sg[1].1.flags & flags::SYN, sg[1].1.mss), (Dir::Out, flags::SYN, Some(1460)));
    assert_eq!(sg[1].1.ack, Some(sg[0].1.seq.wrapping_add(1)));
    use TcpState::*;
    assert_eq!(
        states(&eb),
        vec![
            (Listen, SynReceived),
            (SynReceived, Established),
            (Established, CloseWait),
            (CloseWait, LastAck),
            (LastAck, Closed)
        ]
    );
    let text = render_all(LadderOpts::default(), &eb);
    assert!(text.contains("|<- S 0:0(0) win 65535 ") || text.contains(" S 0:0(0) win 65535 -|"), "{text}");
    assert!(text.contains("|- S. 0:0(0) ack 1 win "), "{text}");
    let ea = sa.0.lock().clone();
    let last: Vec<&TraceKind> = ea.iter().rev().take(2).map(|e| &e.kind).collect();
    assert_eq!(last, vec![&TraceKind::State { from: TimeWait, to: Closed }, &TraceKind::Timer(TimerKind::TimeWait)]);
}
