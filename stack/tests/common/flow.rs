//! Seeded data streams checked byte for byte without keeping copies, and the bidirectional
//! transfer and close that most link tests run on a `Sim`.
use std::net::{Ipv4Addr, SocketAddrV4};

use tapstack::error::Error;
use tapstack::phy::link::Dir;
use tapstack::socket::tcp::{TcpHandle, TcpInfo, TcpStack, TcpState};
use tapstack::socket::Shutdown;
use tapstack::time::{Duration, Instant};

use super::{Node, Sim, B_IP};

/// An endless pseudo-random byte stream: byte `i` depends only on `(seed, i)`.
#[derive(Clone, Copy, Debug)]
pub struct Pattern(pub u64);

impl Pattern {
    fn word(&self, k: u64) -> [u8; 8] {
        let mut z = self.0 ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    }
    /// Fills `buf` with the stream's bytes from `offset`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut i = 0;
        while i < buf.len() {
            let pos = offset + i as u64;
            let w = self.word(pos / 8);
            let start = (pos % 8) as usize;
            let n = (8 - start).min(buf.len() - i);
            buf[i..i + n].copy_from_slice(&w[start..start + n]);
            i += n;
        }
    }
    /// Index of the first byte of `data` that differs from the stream at `offset`.
    pub fn mismatch(&self, offset: u64, data: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < data.len() {
            let pos = offset + i as u64;
            let w = self.word(pos / 8);
            let start = (pos % 8) as usize;
            let n = (8 - start).min(data.len() - i);
            if w[start..start + n] != data[i..i + n] {
                return (0..n).map(|j| i + j).find(|&k| data[k] != w[start + k - i]);
            }
            i += n;
        }
        None
    }
}

/// The sending half of a test flow: writes `total` bytes of a pattern, then shuts down writing.
#[derive(Debug)]
pub struct Source {
    pub pattern: Pattern,
    pub total: u64,
    pub sent: u64,
    pub shut: bool,
    /// Pattern bytes from stream offset `buf_at`, generated once and offered until accepted.
    buf: Vec<u8>,
    buf_at: u64,
}

impl Source {
    pub fn new(pattern: Pattern, total: u64) -> Source {
        Source { pattern, total, sent: 0, shut: false, buf: Vec::new(), buf_at: 0 }
    }
    /// The next bytes to offer (empty when everything was accepted).
    pub fn chunk(&mut self) -> &[u8] {
        if self.sent >= self.buf_at + self.buf.len() as u64 {
            let n = ((self.total - self.sent) as usize).min(64 * 1024);
            self.buf.resize(n, 0);
            self.buf_at = self.sent;
            self.pattern.fill(self.sent, &mut self.buf);
        }
        &self.buf[(self.sent - self.buf_at) as usize..]
    }
    pub fn done(&self) -> bool {
        self.sent == self.total
    }
}

/// The receiving half: checks every byte against the pattern, tracks stalls.
#[derive(Debug)]
pub struct Sink {
    pub pattern: Pattern,
    pub expected: u64,
    pub received: u64,
    pub eof: bool,
    /// When the last byte arrived (or the flow started).
    pub last_progress: Instant,
    /// Longest wait between two deliveries of new bytes.
    pub max_stall: Duration,
    /// Where the longest stall ended.
    pub max_stall_at: Instant,
}

impl Sink {
    pub fn new(pattern: Pattern, expected: u64, now: Instant) -> Sink {
        Sink {
            pattern,
            expected,
            received: 0,
            eof: false,
            last_progress: now,
            max_stall: Duration::ZERO,
            max_stall_at: now,
        }
    }
    /// Accounts for `data` read at `now`; panics on the first wrong byte or excess byte.
    pub fn accept(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        assert!(
            self.received + data.len() as u64 <= self.expected,
            "received {} bytes beyond the {} sent",
            self.received + data.len() as u64 - self.expected,
            self.expected
        );
        if let Some(i) = self.pattern.mismatch(self.received, data) {
            panic!(
                "byte {} of the stream differs (read of {} bytes at {:?}, stream {:#x})",
                self.received + i as u64,
                data.len(),
                now,
                self.pattern.0
            );
        }
        self.received += data.len() as u64;
        let stall = now.saturating_since(self.last_progress);
        if stall > self.max_stall {
            self.max_stall = stall;
            self.max_stall_at = now;
        }
        self.last_progress = now;
    }
    pub fn complete(&self) -> bool {
        self.eof && self.received == self.expected
    }
}

/// One end of a bidirectional test connection on one of our stacks.
#[derive(Debug)]
pub struct Flow {
    pub h: TcpHandle,
    pub src: Source,
    pub sink: Sink,
    /// Send FIN only after the peer's FIN arrived (the peer is the active closer).
    pub fin_after_eof: bool,
    rbuf: Vec<u8>,
}

impl Flow {
    pub fn new(h: TcpHandle, send: Source, recv: Sink) -> Flow {
        Flow { h, src: send, sink: recv, fin_after_eof: false, rbuf: vec![0; 64 * 1024] }
    }

    /// Writes what fits, shuts down writing after the last byte, reads what is there.
    /// Panics on any error other than WouldBlock.
    pub fn pump(&mut self, tcp: &mut TcpStack, now: Instant) {
        while !self.src.done() {
            let h = self.h;
            match tcp.send(now, h, self.src.chunk()) {
                Ok(0) => break,
                Ok(n) => self.src.sent += n as u64,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("send on {h:?} at {now:?} after {} bytes: {e}", self.src.sent),
            }
        }
        while !self.sink.eof {
            match tcp.recv(now, self.h, &mut self.rbuf) {
                Ok(0) => self.sink.eof = true,
                Ok(n) => self.sink.accept(now, &self.rbuf[..n]),
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("recv on {:?} at {now:?} after {} bytes: {e}", self.h, self.sink.received),
            }
        }
        if self.src.done() && !self.src.shut && (self.sink.eof || !self.fin_after_eof) {
            tcp.shutdown(now, self.h, Shutdown::Write).expect("shutdown(Write)");
            self.src.shut = true;
        }
    }

    pub fn done(&self) -> bool {
        self.src.shut && self.sink.complete()
    }
}

/// Pings B from A until a reply arrives (at most 50 tries), so both ARP caches are warm: under
/// heavy loss an unanswered ARP would otherwise fail the first SYN with EHOSTUNREACH, as on
/// Linux, before TCP is even involved.
pub fn warm_arp(sim: &mut Sim<Node, Node>) {
    for seq in 0..50u16 {
        let now = sim.now;
        sim.a.stack.ping(now, B_IP, 0x7e57, seq, b"arp");
        if sim.run_until(Duration::from_secs(2), |s| !s.a.stack.take_ping_replies().is_empty()) {
            return;
        }
    }
    panic!("no ping reply from B in 50 tries");
}

/// Listens on B at `port`, connects from A, runs until both ends are established.
/// Returns (A's handle, B's accepted handle, B's listener).
pub fn connect_pair(sim: &mut Sim<Node, Node>, port: u16) -> (TcpHandle, TcpHandle, TcpHandle) {
    warm_arp(sim);
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into()).expect("bind");
    sim.b.tcp().listen(l, 8).expect("listen");
    let c = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, port).into()).expect("connect");
    let mut acc = None;
    let ok = sim.run_until(Duration::from_secs(120), |s| {
        if acc.is_none() {
            match s.b.tcp().accept(l) {
                Ok(h) => acc = Some(h),
                Err(Error::WouldBlock) => {}
                Err(e) => panic!("accept: {e}"),
            }
        }
        acc.is_some() && s.a.tcp().state(c) == Ok(TcpState::Established)
    });
    assert!(ok, "handshake did not complete: client {:?}, error {:?}", sim.a.tcp().state(c), sim.a.tcp().take_error(c));
    (c, acc.unwrap(), l)
}

/// When each end was first seen in TIME_WAIT and in CLOSED.
#[derive(Debug, Default)]
pub struct CloseWatch {
    pub time_wait: [Option<Instant>; 2],
    pub closed: [Option<Instant>; 2],
}

impl CloseWatch {
    pub fn observe(&mut self, now: Instant, states: [TcpState; 2]) {
        for (i, st) in states.into_iter().enumerate() {
            if st == TcpState::TimeWait && self.time_wait[i].is_none() {
                self.time_wait[i] = Some(now);
            }
            if st == TcpState::Closed && self.closed[i].is_none() {
                self.closed[i] = Some(now);
            }
        }
    }
}

/// What a bidirectional transfer measured.
#[derive(Debug)]
pub struct TransferReport {
    pub elapsed: Duration,
    pub info_a: TcpInfo,
    pub info_b: TcpInfo,
    pub stall_a: Duration,
    pub stall_b: Duration,
    pub close: CloseWatch,
}

/// The state of socket `h`'s connection: a socket whose connection is in TIME-WAIT is CLOSED,
/// its stack holding a record of the connection (Linux's tcp_time_wait), shown as TIME_WAIT
/// while a record lasts (these tests have one connection per stack).
pub fn conn_state(t: &mut TcpStack, h: TcpHandle) -> TcpState {
    match t.state(h).expect("state") {
        TcpState::Closed if t.time_wait_count() > 0 => TcpState::TimeWait,
        st => st,
    }
}

fn states(sim: &mut Sim<Node, Node>, ha: TcpHandle, hb: TcpHandle) -> [TcpState; 2] {
    [conn_state(sim.a.tcp(), ha), conn_state(sim.b.tcp(), hb)]
}

/// Moves `bytes` each way at once over an established connection, checks every byte, closes
/// both directions with FIN and checks TIME_WAIT (at least one end, for 2*MSL) then CLOSED.
pub fn transfer_both_ways(
    sim: &mut Sim<Node, Node>,
    ha: TcpHandle,
    hb: TcpHandle,
    bytes: u64,
    seed: u64,
    limit: Duration,
) -> TransferReport {
    let (pa, pb) = (Pattern(seed ^ 0xa5a5), Pattern(seed ^ 0x5a5a_0000));
    let start = sim.now;
    let mut fa = Flow::new(ha, Source::new(pa, bytes), Sink::new(pb, bytes, start));
    let mut fb = Flow::new(hb, Source::new(pb, bytes), Sink::new(pa, bytes, start));
    let mut watch = CloseWatch::default();
    // RSTs on the link, by direction: a TIME_WAIT may legitimately end early on an RST.
    let rsts: std::rc::Rc<std::cell::RefCell<[Vec<Instant>; 2]>> = Default::default();
    let r2 = rsts.clone();
    sim.link.add_monitor(Box::new(move |dir, now, f| {
        if is_tcp(f) && tcp_flags(f) & 0x04 != 0 {
            r2.borrow_mut()[(dir == Dir::AToB) as usize].push(now);
        }
    }));
    let finished = sim.run_until(limit, |s| {
        let now = s.now;
        fa.pump(s.a.tcp(), now);
        fb.pump(s.b.tcp(), now);
        watch.observe(now, states(s, ha, hb));
        fa.done() && fb.done() && s.a.tcp().send_queue(ha) == 0 && s.b.tcp().send_queue(hb) == 0
    });
    let info_a = sim.a.tcp().info(ha).expect("info A");
    let info_b = sim.b.tcp().info(hb).expect("info B");
    assert!(
        finished,
        "transfer of {bytes} B each way unfinished after {:?}: A sent {} got {} eof {}; B sent {} got {} eof {}\nA {info_a:?}\nB {info_b:?}\nlink {:?}\n{:?}",
        sim.now.saturating_since(start),
        fa.src.sent,
        fa.sink.received,
        fa.sink.eof,
        fb.src.sent,
        fb.sink.received,
        fb.sink.eof,
        sim.link.stats(Dir::AToB),
        sim.link.stats(Dir::BToA),
    );
    let elapsed = sim.now.saturating_since(start);
    // Both FINs are acknowledged once the last ACK gets through; then no end waits for an ACK
    // of its FIN (FIN_WAIT_1, CLOSING, LAST_ACK): the active closer(s) in TIME_WAIT.
    let two_msl = sim.a.tcp().config().msl * 2;
    let ok = sim.run_until(two_msl + Duration::from_secs(60), |s| {
        let st = states(s, ha, hb);
        watch.observe(s.now, st);
        st.iter().all(|&x| x == TcpState::Closed)
    });
    let st = states(sim, ha, hb);
    assert!(ok, "connection did not reach CLOSED on both ends: {st:?}, {watch:?}");
    assert!(watch.time_wait.iter().any(Option::is_some), "no end went through TIME_WAIT: {watch:?}");
    for i in 0..2 {
        if let (Some(tw), Some(cl)) = (watch.time_wait[i], watch.closed[i]) {
            let waited = cl.saturating_since(tw);
            // Index 0 is A: RSTs towards A travel B-to-A (stored at index 0).
            let rst_in = rsts.borrow()[i].iter().any(|&t| t >= tw && t <= cl);
            assert!(
                waited >= two_msl || rst_in,
                "end {i}: TIME_WAIT lasted {waited:?} < 2*MSL = {two_msl:?} without an RST"
            );
            // Each retransmitted FIN from the peer restarts TIME_WAIT (RFC 9293 3.10.7.4), so
            // under heavy loss it may last a good deal longer, but not forever.
            assert!(waited <= two_msl * 3, "end {i}: TIME_WAIT lasted {waited:?}");
        }
    }
    let now = sim.now;
    sim.a.tcp().close(now, ha);
    sim.b.tcp().close(now, hb);
    TransferReport { elapsed, info_a, info_b, stall_a: fa.sink.max_stall, stall_b: fb.sink.max_stall, close: watch }
}

/// True for frames carrying TCP (EtherType IPv4, protocol 6).
pub fn is_tcp(frame: &[u8]) -> bool {
    frame.len() >= 34 && frame[12..14] == [0x08, 0x00] && frame[23] == 6
}

/// The TCP flags byte of a TCP frame (IPv4 header without options).
pub fn tcp_flags(frame: &[u8]) -> u8 {
    let ihl = (frame[14] & 15) as usize * 4;
    frame.get(14 + ihl + 13).copied().unwrap_or(0)
}

/// TCP payload length of a TCP frame.
pub fn tcp_payload_len(f: &[u8]) -> usize {
    let ihl = (f[14] & 15) as usize * 4;
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    let doff = f.get(14 + ihl + 12).map_or(0, |b| (b >> 4) as usize * 4);
    total.saturating_sub(ihl + doff)
}

/// Reads everything available on `h` into `sink`; true at end of stream.
pub fn drain(tcp: &mut TcpStack, now: Instant, h: TcpHandle, sink: &mut Sink) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tcp.recv(now, h, &mut buf) {
            Ok(0) => {
                sink.eof = true;
                return true;
            }
            Ok(n) => sink.accept(now, &buf[..n]),
            Err(Error::WouldBlock) => return false,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// Offers `src`'s next bytes until the send buffer is full; panics on errors but WouldBlock.
pub fn fill(tcp: &mut TcpStack, now: Instant, h: TcpHandle, src: &mut Source) {
    while !src.done() {
        match tcp.send(now, h, src.chunk()) {
            Ok(0) | Err(Error::WouldBlock) => break,
            Ok(n) => src.sent += n as u64,
            Err(e) => panic!("send on {h:?} after {} bytes: {e}", src.sent),
        }
    }
}
