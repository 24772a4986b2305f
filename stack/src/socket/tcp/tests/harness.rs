//! The engine-level test harness: `TcpStack`s on a virtual clock, segment in and segment out,
//! no IP layer. [`H`] is one engine whose peer the test plays by hand ([`H::feed`] a segment,
//! [`H::out`] what it answered, [`H::advance`] the timers). [`Pair`] joins two `H`s by a link
//! with a one-way delay and a drop rule, for behaviour that needs a real peer. Tests of two
//! whole stacks (IP, ARP, the in-memory Ethernet link) live in `stack/tests/` (`common::Sim`).
use crate::wire::ip::{IpAddress, IpEndpoint};
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};

use super::*;
use crate::phy::fault::{FaultConfig, Impairer};
use crate::wire::tcp::{flags, TcpPacket, TcpRepr};

/// The address of the peer a test plays by hand, and ours.
pub(super) const PEER: IpAddress = IpAddress::v4(10, 0, 0, 9);
pub(super) const US: IpAddress = IpAddress::v4(10, 0, 0, 2);
/// The peer's port.
pub(super) const PP: u16 = 40000;
/// The two ends of a [`Pair`].
pub(super) const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
pub(super) const B: IpAddress = US;

/// A configuration at `addr` with its ISN secret and ephemeral port seed from `seed`.
pub(super) fn cfg(addr: IpAddress, seed: u64) -> TcpConfig {
    let mut c = TcpConfig::new(addr, 1500);
    c.seed = seed;
    c.isn_secret = [seed as u8; 16];
    c
}

/// An owned copy of a segment the stack sent.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Out {
    /// Our port.
    pub sport: u16,
    pub seq: u32,
    pub ack: Option<u32>,
    pub flags: u8,
    pub window: u16,
    pub mss: Option<u16>,
    pub ws: Option<u8>,
    pub sack_perm: bool,
    pub sack: Vec<(u32, u32)>,
    pub ts: Option<(u32, u32)>,
    pub len: usize,
    pub at: Instant,
}

/// A captured segment between the two ends of a [`Pair`].
#[derive(Clone, Debug)]
pub(super) struct Seg {
    pub src: IpAddress,
    pub dst: IpAddress,
    pub bytes: Vec<u8>,
}

impl Seg {
    pub fn repr(&self) -> TcpRepr<'_> {
        let p = TcpPacket::new_checked(&self.bytes[..]).unwrap();
        assert!(p.verify_checksum(self.src, self.dst));
        TcpRepr::parse(&p).unwrap()
    }
}

/// One engine and its clock; the test is the peer at `PEER:PP`. Derefs to the `TcpStack`.
pub(super) struct H {
    pub s: TcpStack,
    pub now: Instant,
}

impl Deref for H {
    type Target = TcpStack;
    fn deref(&self) -> &TcpStack {
        &self.s
    }
}

impl DerefMut for H {
    fn deref_mut(&mut self) -> &mut TcpStack {
        &mut self.s
    }
}

impl H {
    pub(super) fn new() -> H {
        let mut c = TcpConfig::new(US, 1500);
        c.isn_secret = [3; 16];
        H::with(c)
    }
    pub(super) fn with(c: TcpConfig) -> H {
        H { s: TcpStack::new(c), now: Instant::from_secs(10) }
    }
    pub(super) fn feed(&mut self, r: &TcpRepr) {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, PEER, US);
        self.s.process(self.now, PEER, US, &b);
    }
    pub(super) fn out(&mut self) -> Vec<Out> {
        let mut v = Vec::new();
        let at = self.now;
        self.s.dispatch(self.now, &mut |src, dst, b| {
            assert_eq!((src, dst), (US, PEER));
            let p = TcpPacket::new_checked(b).unwrap();
            assert!(p.verify_checksum(src, dst));
            let r = TcpRepr::parse(&p).unwrap();
            v.push(Out {
                sport: r.src_port,
                seq: r.seq,
                ack: r.ack,
                flags: r.flags,
                window: r.window,
                mss: r.mss,
                ws: r.window_scale,
                sack_perm: r.sack_permitted,
                sack: r.sack.iter().flatten().copied().collect(),
                ts: r.timestamp,
                len: r.payload.len(),
                at,
            });
        });
        v
    }
    /// Runs timers until `d` from now, collecting everything sent.
    pub(super) fn advance(&mut self, d: Duration) -> Vec<Out> {
        let end = self.now + d;
        let mut all = self.out();
        while let Some(t) = self.s.poll_at(self.now) {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            all.extend(self.out());
        }
        self.now = end;
        all.extend(self.out());
        all
    }
    pub(super) fn seg(&self, seq: u32, ack: Option<u32>, fl: u8) -> TcpRepr<'static> {
        TcpRepr { src_port: PP, dst_port: 80, seq, ack, flags: fl, window: 65535, ..TcpRepr::default() }
    }
    /// Listener on 80 and an established connection with `peer_opts` in the SYN.
    /// Returns (listener, conn, our iss).
    pub(super) fn established(&mut self, sack: bool, ts: bool) -> (TcpHandle, TcpHandle, u32) {
        let l = self.s.socket();
        self.s.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
        self.s.listen(l, 4).unwrap();
        let mut syn = self.seg(1000, None, flags::SYN);
        syn.mss = Some(1460);
        syn.window_scale = Some(0);
        syn.sack_permitted = sack;
        syn.timestamp = ts.then_some((100, 0));
        self.feed(&syn);
        let sa = self.out();
        assert_eq!(sa.len(), 1);
        let iss = sa[0].seq;
        let mut ack = self.seg(1001, Some(iss.wrapping_add(1)), 0);
        ack.timestamp = ts.then_some((101, sa[0].ts.map_or(0, |t| t.0)));
        self.feed(&ack);
        let c = self.s.accept(l).unwrap();
        assert!(self.out().is_empty());
        (l, c, iss)
    }
}

/// Two engines, A and B, and a link with one-way `delay`; `drop` decides per segment (true =
/// lost); `log` keeps every segment sent. Or, after [`Pair::impair`], a seeded
/// `phy::fault::Impairer` each way (loss, reordering, duplication, delay) and no log. The
/// pair's clock drives both ends' clocks.
pub(super) struct Pair {
    pub a: H,
    pub b: H,
    pub now: Instant,
    pub delay: Duration,
    queue: VecDeque<(Instant, Seg)>,
    pub drop: Box<dyn FnMut(&Seg) -> bool>,
    pub log: Vec<Seg>,
    /// A to B and B to A impairments, replacing `delay`, `drop` and `log`.
    impaired: Option<Box<(Impairer, Impairer)>>,
}

impl Pair {
    pub fn new() -> Pair {
        Pair::with(cfg(A, 1), cfg(B, 2))
    }
    pub fn with(ca: TcpConfig, cb: TcpConfig) -> Pair {
        let now = Instant::from_secs(1);
        Pair {
            a: H { s: TcpStack::new(ca), now },
            b: H { s: TcpStack::new(cb), now },
            now,
            delay: Duration::from_millis(5),
            queue: VecDeque::new(),
            drop: Box::new(|_| false),
            log: Vec::new(),
            impaired: None,
        }
    }
    /// Impairs the link: `ab` from A to B, `ba` from B to A.
    pub fn impair(&mut self, ab: FaultConfig, ba: FaultConfig) {
        self.impaired = Some(Box::new((Impairer::new(ab), Impairer::new(ba))));
    }
    pub fn flush(&mut self) {
        let now = self.now;
        (self.a.now, self.b.now) = (now, now);
        if let Some(l) = self.impaired.as_deref_mut() {
            self.a.s.dispatch(now, &mut |_, _, seg| l.0.submit(now, seg.to_vec()));
            self.b.s.dispatch(now, &mut |_, _, seg| l.1.submit(now, seg.to_vec()));
            return;
        }
        let mut out = Vec::new();
        self.a.s.dispatch(now, &mut |s, d, b| out.push(Seg { src: s, dst: d, bytes: b.to_vec() }));
        self.b.s.dispatch(now, &mut |s, d, b| out.push(Seg { src: s, dst: d, bytes: b.to_vec() }));
        for s in out {
            self.log.push(s.clone());
            if !(self.drop)(&s) {
                self.queue.push_back((now + self.delay, s));
            }
        }
    }
    /// Advances virtual time by one event (delivery or timer), at most to `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let (ab, ba) = self.impaired.as_deref().map_or((None, None), |l| (l.0.next_due(), l.1.next_due()));
        let next = [self.queue.front().map(|q| q.0), ab, ba, self.a.poll_at(self.now), self.b.poll_at(self.now)]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else { return false };
        if t > limit {
            self.now = limit;
            return false;
        }
        self.now = self.now.max(t);
        if let Some(l) = self.impaired.as_deref_mut() {
            while let Some(p) = l.0.pop_due(self.now) {
                self.b.s.process(self.now, A, B, &p);
            }
            while let Some(p) = l.1.pop_due(self.now) {
                self.a.s.process(self.now, B, A, &p);
            }
        }
        while self.queue.front().is_some_and(|q| q.0 <= self.now) {
            let (_, s) = self.queue.pop_front().unwrap();
            let to = if s.dst == B { &mut self.b.s } else { &mut self.a.s };
            to.process(self.now, s.src, s.dst, &s.bytes);
        }
        true
    }
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = self.now.max(limit);
        self.flush();
    }
    pub fn run_until(&mut self, max: Duration, mut f: impl FnMut(&mut Pair) -> bool) -> bool {
        let limit = self.now + max;
        loop {
            if f(self) {
                return true;
            }
            if !self.step(limit) {
                return f(self);
            }
        }
    }
    /// B listens on `port`, A connects; returns (a_conn, b_listener, b_conn).
    pub fn connect(&mut self, port: u16) -> (TcpHandle, TcpHandle, TcpHandle) {
        self.connect_set(port, |_, _| {})
    }
    /// `connect`, with `set` applied to B's listener before it listens (the options its
    /// connections inherit).
    pub fn connect_set(
        &mut self,
        port: u16,
        set: impl FnOnce(&mut Pair, TcpHandle),
    ) -> (TcpHandle, TcpHandle, TcpHandle) {
        let l = self.b.socket();
        self.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), port)).unwrap();
        set(self, l);
        self.b.listen(l, 8).unwrap();
        let c = self.a.socket();
        self.a.s.connect(self.now, c, IpEndpoint::new(B, port)).unwrap();
        let mut acc = None;
        assert!(self.run_until(Duration::from_secs(10), |p| {
            if acc.is_none() {
                acc = p.b.accept(l).ok();
            }
            acc.is_some() && p.a.state(c) == Ok(TcpState::Established)
        }));
        (c, l, acc.unwrap())
    }
}

/// Moves `data` from `tx` side to `rx` side, reading as it arrives; returns what was read.
pub(super) fn transfer(
    p: &mut Pair,
    a_to_b: bool,
    h_tx: TcpHandle,
    h_rx: TcpHandle,
    data: &[u8],
    max: Duration,
) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let limit = p.now + max;
    while got.len() < data.len() && p.now < limit {
        let now = p.now;
        let (tx, rx) = if a_to_b { (&mut p.a.s, &mut p.b.s) } else { (&mut p.b.s, &mut p.a.s) };
        if sent < data.len() {
            if let Ok(n) = tx.send(now, h_tx, &data[sent..]) {
                sent += n;
            }
        }
        while let Ok(n) = rx.recv(now, h_rx, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if !p.step(limit) && got.len() < data.len() && p.a.poll_at(p.now).is_none() && p.b.poll_at(p.now).is_none() {
            break;
        }
    }
    got
}

/// `n` pseudo-random bytes from `seed`.
pub(super) fn pattern(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
