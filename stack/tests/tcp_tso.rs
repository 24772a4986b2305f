//! TSO (`Stack::set_tso`): TCP hands the device super-segments of up to 44 MSS of new data,
//! which the device (here the in-memory link's default `transmit_gso`) cuts into MSS-sized
//! segments. Nothing on the wire may change: the same transfers, both ways at once, under
//! loss, reordering, duplication and corruption, must put exactly the same frames on the link
//! with TSO as without (headers, sequence numbers, flags, IP idents, checksums, timing), and
//! deliver every byte. Fails if a super-segment leaves uncut (the link drops frames over its
//! MTU), if its cuts differ from MSS-at-a-time segments, or if TSO is never used.
mod common;

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use common::*;
use tapstack::phy::link::{Dir, Link};
use tapstack::socket::tcp::TcpHandle;
use tapstack::time::{Duration, Instant};

const BYTES: u64 = 3 << 20;

type Frames = Vec<(Dir, Instant, Vec<u8>)>;

/// Moves BYTES each way at once over a harsh link; returns every frame offered to the link and
/// the TSO super-segments both stacks handed their devices.
fn run(tso: bool) -> (Frames, u64) {
    let mut sim = stack_pair(Link::symmetric(1500, harsh(77, 2)), 77);
    if tso {
        sim.a.stack.set_tso(tapstack::stack::TSO_MAX);
        sim.b.stack.set_tso(tapstack::stack::TSO_MAX);
    }
    let frames = Rc::new(RefCell::new(Frames::new()));
    let f2 = frames.clone();
    sim.link.add_monitor(Box::new(move |dir, now, f| f2.borrow_mut().push((dir, now, f.to_vec()))));
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9300).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    let ha = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, ha, SocketAddrV4::new(B_IP, 9300).into()).unwrap();
    let mut hb: Option<TcpHandle> = None;
    assert!(sim.run_until(Duration::from_secs(30), |s| {
        if hb.is_none() {
            hb = s.b.tcp().accept(l).ok();
        }
        hb.is_some()
    }));
    let hb = hb.unwrap();
    let (mut src_a, mut src_b) = (Source::new(Pattern(1), BYTES), Source::new(Pattern(2), BYTES));
    let (mut sink_b, mut sink_a) = (Sink::new(Pattern(1), BYTES, sim.now), Sink::new(Pattern(2), BYTES, sim.now));
    let done = sim.run_until(Duration::from_secs(600), |s| {
        let now = s.now;
        fill(s.a.tcp(), now, ha, &mut src_a);
        fill(s.b.tcp(), now, hb, &mut src_b);
        drain(s.b.tcp(), now, hb, &mut sink_b);
        drain(s.a.tcp(), now, ha, &mut sink_a);
        sink_a.received == BYTES && sink_b.received == BYTES
    });
    assert!(done, "tso={tso}: {} and {} of {BYTES} bytes arrived", sink_b.received, sink_a.received);
    assert_eq!(sim.link.stats(Dir::AToB).oversize + sim.link.stats(Dir::BToA).oversize, 0, "a frame over the MTU");
    let used = sim.a.stack.stats().tso_out + sim.b.stack.stats().tso_out;
    let v = frames.borrow().clone();
    (v, used)
}

#[test]
fn tso_puts_the_same_frames_on_the_wire_as_one_mss_at_a_time() {
    let (plain, none) = run(false);
    let (tso, used) = run(true);
    assert_eq!(none, 0);
    assert!(used > 20, "TSO used for only {used} super-segments");
    assert!(plain.len() > 4000, "{} frames", plain.len());
    for (i, (a, b)) in plain.iter().zip(&tso).enumerate() {
        if a != b {
            for (j, (x, y)) in plain.iter().zip(&tso).enumerate().skip(i.saturating_sub(3)).take(6) {
                eprintln!("{j}: plain {}  tso {}", show(x), show(y));
            }
        }
        assert!(
            a == b,
            "frame {i} differs: without TSO {:?} at {:?}, {} bytes; with {:?} at {:?}, {} bytes",
            a.0,
            a.1,
            a.2.len(),
            b.0,
            b.1,
            b.2.len()
        );
    }
    assert_eq!(plain.len(), tso.len());
}

fn show(f: &(Dir, Instant, Vec<u8>)) -> String {
    let b = &f.2;
    if b.len() < 54 || b[23] != 6 {
        return format!("{:?} {:?} non-TCP {}", f.0, f.1, b.len());
    }
    let id = u16::from_be_bytes([b[18], b[19]]);
    let t = &b[34..];
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    format!(
        "{:?} {:?} id {id} seq {seq} ack {ack} fl {:02x} win {} len {}",
        f.0,
        f.1.total_micros(),
        t[13],
        u16::from_be_bytes([t[14], t[15]]),
        b.len()
    )
}
