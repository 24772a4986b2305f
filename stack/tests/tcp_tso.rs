//! TSO (`Stack::set_tso`): TCP hands the device super-segments of up to 44 MSS of new data,
//! which the device cuts into MSS-sized segments; with checksums left to the device, the
//! payload goes to it straight from the send ring (`Device::transmit_gso_parts`). Nothing on
//! the wire may change: the same transfers, both ways at once, under loss, reordering,
//! duplication and corruption, must put exactly the same frames on the link with TSO (and
//! partial checksums, finished by the device as the TAP's kernel does) as without (headers,
//! sequence numbers, flags, IP idents, checksums, timing), and deliver every byte. Fails if a
//! super-segment leaves uncut (the link drops frames over its MTU), if its cuts differ from
//! MSS-at-a-time segments, or if TSO is never used.
mod common;

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use common::*;
use tapstack::phy::link::{Dir, Link, LinkEnd};
use tapstack::phy::Device;
use tapstack::socket::tcp::TcpHandle;
use tapstack::time::{Duration, Instant};
use tapstack::wire::tcp::TcpPacket;
use tapstack::Stack;

/// The link end behind a device that finishes TCP checksums (what the TAP's kernel does with
/// NEEDS_CSUM): every TCP frame leaves with its full checksum. Super-segments are cut by the
/// trait's defaults (`transmit_gso`, `transmit_gso_parts`), then finished here.
struct Finishing(LinkEnd);

impl Device for Finishing {
    fn mtu(&self) -> usize {
        self.0.mtu()
    }
    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.0.receive(now, buf)
    }
    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        let mut f = frame.to_vec();
        if f.len() >= 54 && f[12..14] == [8, 0] && f[23] == 6 && f[14] == 0x45 {
            let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
            let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
            let end = 14 + u16::from_be_bytes([f[16], f[17]]) as usize;
            TcpPacket::new_unchecked(&mut f[34..end]).fill_checksum(src, dst);
        }
        self.0.transmit(now, &f)
    }
    fn poll_at(&self) -> Option<Instant> {
        self.0.poll_at()
    }
}

struct Host2 {
    stack: Stack,
    dev: Finishing,
}

impl Host for Host2 {
    fn poll(&mut self, now: Instant) {
        self.stack.poll(now, &mut self.dev);
    }
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.stack.poll_at(now)
    }
}

fn host(ip: Ipv4Addr, mac: [u8; 6], dev: LinkEnd, seed: u64, tso: bool) -> Host2 {
    let mut stack = Stack::new(&host_config(ip, mac, 1500), seed);
    if tso {
        stack.set_tcp_checksum_offload(true);
        stack.set_tso(tapstack::stack::TSO_MAX);
    }
    Host2 { stack, dev: Finishing(dev) }
}

/// B listens on `port`, A connects: (A's connection, B's accepted one).
fn connected(sim: &mut Sim<Host2, Host2>, port: u16) -> (TcpHandle, TcpHandle) {
    let l = sim.b.stack.tcp.socket();
    sim.b.stack.tcp.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into()).unwrap();
    sim.b.stack.tcp.listen(l, 4).unwrap();
    let ha = sim.a.stack.tcp.socket();
    let now = sim.now;
    sim.a.stack.tcp.connect(now, ha, SocketAddrV4::new(B_IP, port).into()).unwrap();
    let mut hb: Option<TcpHandle> = None;
    assert!(sim.run_until(Duration::from_secs(30), |s| {
        hb = hb.or_else(|| s.b.stack.tcp.accept(l).ok());
        hb.is_some()
    }));
    (ha, hb.unwrap())
}

const BYTES: u64 = 3 << 20;

type Frames = Vec<(Dir, Instant, Vec<u8>)>;

/// Moves BYTES each way at once over a harsh link; returns every frame offered to the link and
/// the TSO super-segments both stacks handed their devices.
fn run(tso: bool) -> (Frames, u64) {
    let link = Link::symmetric(1500, harsh(77, 2));
    let (a, b) = (host(A_IP, A_MAC, link.a(), 155, tso), host(B_IP, B_MAC, link.b(), 156, tso));
    let mut sim = Sim::new(link, a, b);
    let frames = Rc::new(RefCell::new(Frames::new()));
    let f2 = frames.clone();
    sim.link.add_monitor(Box::new(move |dir, now, f| f2.borrow_mut().push((dir, now, f.to_vec()))));
    let (ha, hb) = connected(&mut sim, 9300);
    let (mut src_a, mut src_b) = (Source::new(Pattern(1), BYTES), Source::new(Pattern(2), BYTES));
    let (mut sink_b, mut sink_a) = (Sink::new(Pattern(1), BYTES, sim.now), Sink::new(Pattern(2), BYTES, sim.now));
    let done = sim.run_until(Duration::from_secs(600), |s| {
        let now = s.now;
        fill(&mut s.a.stack.tcp, now, ha, &mut src_a);
        fill(&mut s.b.stack.tcp, now, hb, &mut src_b);
        drain(&mut s.b.stack.tcp, now, hb, &mut sink_b);
        drain(&mut s.a.stack.tcp, now, ha, &mut sink_a);
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

/// TCP_CORK with and without TSO: whole segments leave at once, the tail under the MSS is not
/// carried inside a super-segment but waits for the persist timer (Linux tcp_mss_split_point).
#[test]
fn a_corked_tail_stays_out_of_super_segments() {
    use tapstack::phy::fault::FaultConfig;
    use tapstack::socket::tcp::TcpOption;
    for tso in [false, true] {
        let cfg = FaultConfig { delay: Duration::from_millis(1), ..Default::default() };
        let link = Link::symmetric(1500, cfg);
        let (a, b) = (host(A_IP, A_MAC, link.a(), 11, tso), host(B_IP, B_MAC, link.b(), 12, tso));
        let mut sim = Sim::new(link, a, b);
        let (ha, hb) = connected(&mut sim, 9301);
        sim.a.stack.tcp.set_option(ha, TcpOption::Cork(true)).unwrap();
        let t0 = sim.now;
        assert_eq!(sim.a.stack.tcp.send(t0, ha, &[5u8; 70000]), Ok(70000));
        sim.run_until(Duration::from_millis(100), |_| false);
        assert_eq!(sim.b.stack.tcp.recv_queue(hb), 48 * 1448, "tso={tso}: whole segments only");
        assert!(sim.run_until(Duration::from_secs(3), |s| s.b.stack.tcp.recv_queue(hb) == 70000));
        assert!(sim.now - t0 >= Duration::from_millis(200), "tso={tso}: the tail after {:?}", sim.now - t0);
    }
}
