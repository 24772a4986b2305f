//! Stateful TCP fuzzer on the virtual clock: arbitrary sequences of segments (any flags, seq
//! and ack near and far from the window, well-formed and malformed options, any length) from
//! several peers, against a listener and against connections in every state, interleaved with
//! socket calls (send, recv, close, shutdown, abort, accept, options) and clock jumps.
//!
//! A small peer model learns our sequence numbers from what the stack sends, so offsets like
//! "exactly RCV.NXT" or "ACK everything" reach deep states. After every step the invariants of
//! `stateful_inv.rs` hold; at the end, with the peers silent, every connection that owed
//! them data gives up, and once the handles are closed every control block is freed.
//! `PROPTEST_CASES` scales the run; a failure prints the minimal op sequence.
use crate::wire::ip::{IpAddress, IpEndpoint};

use proptest::prelude::*;

use super::harness::{H, PEER, US};
use super::stateful_inv::{check_all_freed, check_gave_up, check_step, later};
use super::*;
use crate::socket::tcp::seq::SeqNum;
use crate::wire::tcp::{flags as fl, TcpPacket, TcpRepr};

/// Peers 0..3 are clients of our listener on port 80; peers 3..5 are servers we connect to.
const PEERS: usize = 5;
const LISTEN_PORT: u16 = 80;

/// Where a sequence or acknowledgment number points, relative to what the model knows.
#[derive(Clone, Debug)]
pub enum Off {
    Exact,
    Near(i16),
    Wide(i32),
    Any(u32),
}

fn off() -> impl Strategy<Value = Off> {
    prop_oneof![
        4 => Just(Off::Exact),
        3 => (-3000i16..3000).prop_map(Off::Near),
        1 => (-(1i32 << 20)..(1 << 20)).prop_map(Off::Wide),
        1 => any::<u32>().prop_map(Off::Any),
    ]
}

impl Off {
    fn at(&self, base: u32) -> u32 {
        match *self {
            Off::Exact => base,
            Off::Near(d) => base.wrapping_add(d as i32 as u32),
            Off::Wide(d) => base.wrapping_add(d as u32),
            Off::Any(v) => v,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Seg {
    pub peer: u8,
    /// Raw flag byte (the ACK bit decides whether `ack` is sent).
    pub flags: u8,
    pub seq: Off,
    pub ack: Off,
    pub window: u16,
    pub mss: Option<u16>,
    pub ws: Option<u8>,
    pub sack_perm: bool,
    pub ts: Option<Off>,
    pub sack: Vec<(Off, u16)>,
    pub len: u16,
    /// Raw option bytes replacing the well-formed ones (malformed on purpose, often).
    pub raw_opts: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
pub enum Call {
    Send(u16),
    Recv(u16),
    Peek,
    Close,
    Shutdown(u8),
    Abort,
    Accept,
    Opt(u8, u32),
    Error,
}

#[derive(Clone, Debug)]
pub enum Op {
    /// One arbitrary segment.
    Seg(Seg),
    /// A correct three-way handshake from client peer `n` (options chosen by the bits; some
    /// stop after the SYN, some accept at once).
    Handshake(u8, u8),
    /// socket + bind + connect to server peer `n`.
    Connect(u8),
    /// A correct SYN-ACK from server peer `n` (options chosen by the bits).
    SynAck(u8, u8),
    /// In-order data (and maybe FIN) from peer `n`, acknowledging everything we sent.
    Data(u8, u16, bool, u16),
    /// A socket call on handle number `n` (modulo the handles opened so far).
    App(u8, Call),
    Advance(u16),
    Jump(u32),
    /// Let `ms` of virtual time pass with the peers silent, running every timer on time.
    Run(u16),
}

/// Windows: zero (persist), tiny (sender SWS), ordinary, anything.
fn window() -> impl Strategy<Value = u16> {
    prop_oneof![2 => Just(0u16), 1 => 1u16..600, 3 => Just(65535u16), 2 => any::<u16>()]
}

/// Flag bytes: mostly ACK with at most one of SYN/FIN/RST/PSH, sometimes anything.
fn flags() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => prop_oneof![Just(fl::ACK), Just(fl::ACK | fl::PSH), Just(fl::ACK | fl::FIN), Just(fl::ACK | fl::RST),
                         Just(fl::RST), Just(fl::SYN), Just(fl::ACK | fl::SYN), Just(fl::FIN), Just(0)],
        1 => any::<u8>(),
    ]
}

fn seg() -> impl Strategy<Value = Seg> {
    (
        (0u8..PEERS as u8, flags(), off(), off(), window(), proptest::option::of(any::<u16>())),
        (
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::option::of(off()),
            proptest::collection::vec((off(), any::<u16>()), 0..4),
            prop_oneof![3 => Just(0u16), 2 => 1u16..1500, 1 => 1500u16..3000],
            proptest::option::weighted(0.15, proptest::collection::vec(any::<u8>(), 0..41)),
        ),
    )
        .prop_map(|((peer, flags, seq, ack, window, mss), (ws, sack_perm, ts, sack, len, raw_opts))| Seg {
            peer,
            flags,
            seq,
            ack,
            window,
            mss,
            ws,
            sack_perm,
            ts,
            sack,
            len,
            raw_opts,
        })
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => any::<u16>().prop_map(Call::Send),
        4 => any::<u16>().prop_map(Call::Recv),
        1 => Just(Call::Peek),
        2 => Just(Call::Close),
        1 => (0u8..3).prop_map(Call::Shutdown),
        1 => Just(Call::Abort),
        3 => Just(Call::Accept),
        1 => (0u8..6, any::<u32>()).prop_map(|(k, v)| Call::Opt(k, v)),
        1 => Just(Call::Error),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0u8..PEERS as u8;
    prop_oneof![
        8 => seg().prop_map(Op::Seg),
        2 => (0u8..3, any::<u8>()).prop_map(|(n, b)| Op::Handshake(n, b)),
        1 => (3u8..5).prop_map(Op::Connect),
        2 => (3u8..5, any::<u8>()).prop_map(|(n, b)| Op::SynAck(n, b)),
        6 => (p, prop_oneof![Just(0u16), 1u16..3000], proptest::bool::weighted(0.3), window()).prop_map(|(n, l, f, w)| Op::Data(n, l, f, w)),
        8 => (any::<u8>(), call()).prop_map(|(h, c)| Op::App(h, c)),
        2 => (0u16..2000).prop_map(Op::Advance),
        1 => (0u32..4000).prop_map(Op::Jump),
        2 => (0u16..20_000).prop_map(Op::Run),
    ]
}

/// The byte a peer sends at sequence number `seq` (so any accepted data can be checked).
fn peer_byte(seq: u32) -> u8 {
    (seq.wrapping_mul(2_654_435_761) >> 24) as u8
}

fn peer_bytes(seq: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| peer_byte(seq.wrapping_add(i as u32))).collect()
}

/// Data handed to the application must be exactly what the peer sent at those sequence numbers.
fn check_peer_bytes(start: u32, got: &[u8]) {
    for (i, &b) in got.iter().enumerate() {
        let seq = start.wrapping_add(i as u32);
        assert_eq!(b, peer_byte(seq), "received byte at seq {seq} is not what the peer sent");
    }
    stat("bytes received, checked", got.len());
}

fn stat(what: &str, n: usize) {
    if std::env::var("TCP_FUZZ_STATS").is_ok() {
        *SEEN.lock().entry(what.to_string()).or_default() += n as u64;
    }
}

/// The byte the application writes at stream offset `k`.
fn app_byte(k: usize) -> u8 {
    ((k as u64).wrapping_mul(0x9E37_79B9) >> 16) as u8
}

/// What one peer knows of its connection with us.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// Our port and the peer's port.
    local: u16,
    remote: u16,
    /// The peer's next sequence number (resynchronized from our ACKs).
    nxt: u32,
    /// Highest sequence number we sent (end of our data and FIN).
    our_max: u32,
    /// Our last TSval, echoed as TSecr.
    our_ts: u32,
    /// The peer's timestamp clock.
    ts: u32,
    /// Connections opened so far (a new ISN each time).
    gen: u32,
}

struct World {
    /// The engine under test and its clock.
    h: H,
    peers: Vec<Peer>,
    handles: Vec<TcpHandle>,
    max_buf: usize,
    /// Segments the stack sent (for a failure report).
    out: usize,
}

impl World {
    fn new(buf: usize, synq: usize) -> World {
        let mut cfg = TcpConfig::new(US, 1500);
        cfg.isn_secret = [7; 16];
        cfg.rx_buffer = buf;
        cfg.tx_buffer = buf;
        // Auto-tuning may double them once (bounded, so the invariant below has a limit).
        cfg.rx_buffer_max = 2 * buf;
        cfg.tx_buffer_max = 2 * buf;
        cfg.max_syn_backlog = synq; // small: SYN cookies answer the SYNs beyond it
        if synq < 256 {
            // Small caps too: connections close without TIME-WAIT, close() resets.
            cfg.max_tw_buckets = synq;
            cfg.max_orphans = synq;
        }
        let mut s = TcpStack::new(cfg);
        let l = s.socket();
        s.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), LISTEN_PORT)).unwrap();
        s.listen(l, 3).unwrap();
        let peers = (0..PEERS)
            .map(|i| {
                let (local, remote) =
                    if i < 3 { (LISTEN_PORT, 40000 + i as u16) } else { (6000 + i as u16, 5000 + i as u16) };
                Peer { local, remote, nxt: 1_000_000 * (i as u32 + 1), ts: 100, ..Peer::default() }
            })
            .collect();
        World {
            h: H { s, now: Instant::from_secs(100) },
            peers,
            handles: vec![l],
            max_buf: (2 * buf).max(4096),
            out: 0,
        }
    }

    /// Runs the stack's output and teaches the peers what it sent.
    fn dispatch(&mut self) {
        let mut segs: Vec<Vec<u8>> = Vec::new();
        self.h.s.dispatch(self.h.now, &mut |_, _, b| segs.push(b.to_vec()));
        self.out += segs.len();
        for b in segs {
            let p = TcpPacket::new_checked(&b[..]).expect("the stack emitted a malformed segment");
            assert!(p.verify_checksum(US, PEER), "the stack emitted a bad checksum");
            let r = TcpRepr::parse(&p).expect("the stack emitted unparsable options");
            if !r.payload.is_empty() {
                let key = (IpEndpoint::new(US, r.src_port), IpEndpoint::new(PEER, r.dst_port));
                if let Some(t) = self.h.s.conns.get(&key).and_then(|id| self.h.s.socks.get(id)) {
                    let k = SeqNum(r.seq).since(t.snd.iss + 1);
                    for (i, &b) in r.payload.iter().enumerate() {
                        assert_eq!(b, app_byte(k + i), "sent byte at stream offset {} is wrong", k + i);
                    }
                    stat("bytes sent, checked", r.payload.len());
                }
            }
            let Some(peer) = self.peers.iter_mut().find(|q| q.local == r.src_port && q.remote == r.dst_port) else {
                continue; // an RST to a port the model does not track
            };
            let end = r.seq.wrapping_add(r.segment_len() as u32);
            peer.our_max = if r.syn() { end } else { later(peer.our_max, end) };
            if let Some(a) = r.ack {
                if !r.rst() {
                    peer.nxt = a;
                }
            }
            if let Some((v, _)) = r.timestamp {
                peer.our_ts = v;
            }
        }
    }

    fn feed(&mut self, r: &TcpRepr, raw_opts: Option<&[u8]>) {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b, PEER, US);
        if let Some(raw) = raw_opts {
            // Replace the options with raw bytes (padded with zeros to a multiple of 4).
            let n = raw.len().div_ceil(4) * 4;
            let mut nb = Vec::with_capacity(20 + n + r.payload.len());
            nb.extend_from_slice(&b[..20]);
            nb.extend_from_slice(raw);
            nb.resize(20 + n, 0);
            nb.extend_from_slice(r.payload);
            let mut p = TcpPacket::new_unchecked(&mut nb[..]);
            p.set_header_len(20 + n);
            p.fill_checksum(PEER, US);
            b = nb;
        }
        self.h.s.process(self.h.now, PEER, US, &b);
    }

    fn base(&self, n: u8) -> TcpRepr<'static> {
        let p = &self.peers[n as usize % PEERS];
        TcpRepr { src_port: p.remote, dst_port: p.local, window: 65535, ..TcpRepr::default() }
    }

    /// SYN options from bits: MSS, window scale, SACK-permitted, timestamps.
    fn syn_opts(&self, r: &mut TcpRepr, n: u8, bits: u8) {
        let p = &self.peers[n as usize % PEERS];
        r.mss = (bits & 1 != 0).then_some([1460u16, 536, 64, 9000][(bits >> 4 & 3) as usize]);
        r.window_scale = (bits & 2 != 0).then_some((bits >> 6) * 5);
        r.sack_permitted = bits & 4 != 0;
        r.timestamp = (bits & 8 != 0).then_some((p.ts, p.our_ts));
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Seg(g) => self.seg(g),
            Op::Handshake(n, bits) => {
                let i = *n as usize % PEERS;
                self.peers[i].gen += 1;
                let iss =
                    1_000_000u32.wrapping_mul(i as u32 + 1).wrapping_add(self.peers[i].gen.wrapping_mul(7_777_777));
                let mut r = self.base(*n);
                r.seq = iss;
                r.flags = fl::SYN;
                self.syn_opts(&mut r, *n, *bits);
                self.feed(&r, None);
                self.dispatch();
                if bits & 0x40 != 0 && bits & 0x80 == 0 {
                    return; // left half-open: fills the SYN queue
                }
                let p = &self.peers[i];
                let mut a = self.base(*n);
                a.seq = iss.wrapping_add(1);
                a.ack = Some(p.our_max);
                a.timestamp = r.timestamp.map(|_| (p.ts, p.our_ts));
                self.feed(&a, None);
                if bits & 0x80 != 0 {
                    self.call(self.handles[0], &Call::Accept);
                }
            }
            Op::Connect(n) => {
                let i = *n as usize % PEERS;
                let h = self.h.s.socket();
                self.handles.push(h);
                let (local, remote) = (self.peers[i].local, self.peers[i].remote);
                let _ = self.h.s.set_reuse_addr(h, true);
                if self.h.s.bind(h, IpEndpoint::new(US, local)).is_ok() {
                    let _ = self.h.s.connect(self.h.now, h, IpEndpoint::new(PEER, remote));
                }
            }
            Op::SynAck(n, bits) => {
                let i = *n as usize % PEERS;
                self.peers[i].gen += 1;
                let iss = 3_000_000u32.wrapping_add(self.peers[i].gen.wrapping_mul(5_555_555));
                let mut r = self.base(*n);
                r.seq = iss;
                r.flags = fl::SYN;
                r.ack = Some(self.peers[i].our_max);
                self.syn_opts(&mut r, *n, *bits);
                self.feed(&r, None);
            }
            Op::Data(n, len, fin, window) => {
                let p = &self.peers[*n as usize % PEERS];
                let mut r = self.base(*n);
                r.seq = p.nxt;
                r.ack = Some(p.our_max);
                r.window = *window;
                r.flags = if *fin { fl::FIN } else { 0 } | fl::PSH;
                r.timestamp = Some((p.ts, p.our_ts));
                let payload = peer_bytes(r.seq, *len as usize);
                r.payload = &payload;
                self.feed(&r, None);
            }
            Op::App(h, c) => {
                // Mostly the newest handles: they are the ones with something going on.
                // (wrapping, as release builds computed it: the found cases keep their meaning)
                let k =
                    if h & 0x80 != 0 { *h as usize } else { self.handles.len().wrapping_sub(1 + (*h as usize & 3)) };
                self.call(self.handles[k % self.handles.len()], c)
            }
            Op::Advance(ms) => self.h.now += Duration::from_millis(*ms as u64),
            Op::Jump(s) => self.h.now += Duration::from_secs(*s as u64),
            Op::Run(ms) => self.run(Duration::from_millis(*ms as u64)),
        }
        for p in &mut self.peers {
            p.ts = p.ts.wrapping_add(1);
        }
    }

    fn seg(&mut self, g: &Seg) {
        let p = self.peers[g.peer as usize % PEERS].clone();
        let seq = g.seq.at(p.nxt);
        let payload = peer_bytes(seq, g.len as usize);
        let mut sack = [None; 4];
        for (i, (o, l)) in g.sack.iter().enumerate() {
            let left = o.at(p.our_max);
            sack[i] = Some((left, left.wrapping_add(*l as u32)));
        }
        let r = TcpRepr {
            src_port: p.remote,
            dst_port: p.local,
            seq,
            ack: (g.flags & fl::ACK != 0).then(|| g.ack.at(p.our_max)),
            flags: g.flags & !fl::ACK,
            window: g.window,
            urgent: 0,
            mss: g.mss,
            window_scale: g.ws,
            sack_permitted: g.sack_perm,
            sack,
            timestamp: g.ts.as_ref().map(|o| (o.at(p.ts), p.our_ts)),
            payload: &payload,
        };
        if r.options_len() > 40 {
            let mut r = r;
            r.sack = [None; 4];
            return self.feed(&r, g.raw_opts.as_deref());
        }
        self.feed(&r, g.raw_opts.as_deref());
    }

    fn call(&mut self, h: TcpHandle, c: &Call) {
        let now = self.h.now;
        let mut buf = vec![0u8; 4096];
        match *c {
            Call::Send(n) => {
                // The bytes at stream offset k are app_byte(k), checked when they go out.
                let k = self.h.s.user(h).map(|t| t.data_end().since(t.snd.iss + 1)).unwrap_or(0);
                let data: Vec<u8> = (0..n as usize % 3000).map(|i| app_byte(k + i)).collect();
                let _ = self.h.s.send(now, h, &data);
            }
            Call::Recv(n) => {
                let n = (n as usize % 4096).max(1);
                let start = self.read_start(h);
                if let (Ok(k), Some(start)) = (self.h.s.recv(now, h, &mut buf[..n]), start) {
                    check_peer_bytes(start, &buf[..k]);
                }
            }
            Call::Peek => {
                let start = self.read_start(h);
                if let (Ok(k), Some(start)) = (self.h.s.peek(h, &mut buf), start) {
                    check_peer_bytes(start, &buf[..k]);
                }
            }
            Call::Close => self.h.s.close(now, h),
            Call::Shutdown(k) => {
                let _ = self.h.s.shutdown(now, h, [Shutdown::Read, Shutdown::Write, Shutdown::Both][k as usize % 3]);
            }
            Call::Abort => self.h.s.abort(now, h),
            Call::Accept => {
                if let Ok(a) = self.h.s.accept(h) {
                    self.handles.push(a);
                }
            }
            Call::Opt(k, v) => {
                let o = match k {
                    0 => TcpOption::NoDelay(v % 2 == 0),
                    1 => TcpOption::KeepAlive(v % 2 == 0),
                    2 => TcpOption::Linger((v % 3 != 0).then(|| Duration::from_secs((v % 3) as u64 - 1))),
                    3 => TcpOption::KeepIdle(Duration::from_secs((v % 100) as u64)),
                    4 => TcpOption::RecvBuffer((v as usize) % self.max_buf),
                    _ => TcpOption::SendBuffer((v as usize) % self.max_buf),
                };
                let _ = self.h.s.set_option(h, o);
            }
            Call::Error => {
                let _ = self.h.s.take_error(h);
                let _ = (self.h.s.readiness(h), self.h.s.info(h), self.h.s.state(h));
            }
        }
    }

    /// Sequence number of the next byte `recv` returns on `h`.
    fn read_start(&self, h: TcpHandle) -> Option<u32> {
        let t = self.h.s.user(h).ok()?;
        Some((t.rcv.nxt - t.peer_fin as usize - t.rx.len()).0)
    }

    /// Lets `d` pass with the peers silent, dispatching at every timer.
    fn run(&mut self, d: Duration) {
        let end = self.h.now + d;
        for _ in 0..100_000 {
            self.dispatch();
            match self.h.s.poll_at(self.h.now) {
                Some(t) if t <= end => self.h.now = self.h.now.max(t),
                _ => break,
            }
        }
        self.h.now = self.h.now.max(end);
        self.dispatch();
    }
}

/// Runs `ops` and checks every invariant; Err names the step that broke one.
pub(super) fn run_ops(ops: &[Op], buf: usize, synq: usize) -> std::result::Result<(), String> {
    let mut w = World::new(buf, synq);
    for (i, op) in ops.iter().enumerate() {
        w.apply(op);
        w.dispatch();
        check_step(&w.h.s, w.max_buf).map_err(|e| format!("after step {i} ({op:?}): {e}"))?;
        if std::env::var("TCP_FUZZ_STATS").is_ok() {
            let mut seen = SEEN.lock();
            for t in w.h.s.socks.values() {
                *seen.entry(format!("{:?}{}", t.state, if t.orphan { " orphan" } else { "" })).or_default() += 1;
            }
            *seen.entry("TIME-WAIT records (summed over steps)".into()).or_default() += w.h.s.tw.len() as u64;
        }
    }
    let st = w.h.s.stats().clone();
    stat("syn cookies sent", st.syncookies_sent as usize);
    stat("syn cookies accepted", st.syncookies_recv as usize);
    stat("segments malformed", st.rx_malformed as usize);
    stat("TIME-WAIT records left at the end of the ops", w.h.s.tw.len());
    stat("TIME-WAIT cap hit", st.tw_overflows as usize);
    stat("orphan cap hit", st.orphan_overflows as usize);
    // The peers are gone. Connections that owe them anything give up (15 retries with the RTO
    // capped at 60 s is about 15 minutes; SYNs far less).
    w.run(Duration::from_secs(3 * 3600));
    check_step(&w.h.s, w.max_buf).map_err(|e| format!("after silence: {e}"))?;
    check_gave_up(&w.h.s).map_err(|e| format!("after 3 silent hours: {e}"))?;
    for h in w.handles.clone() {
        w.h.s.close(w.h.now, h);
    }
    w.run(Duration::from_secs(3 * 3600));
    check_all_freed(&w.h.s).map_err(|e| format!("3 hours after closing every handle: {e}"))?;
    Ok(())
}

/// States visited, printed with `TCP_FUZZ_STATS=1` (to see what the generator reaches).
static SEEN: parking_lot::Mutex<std::collections::BTreeMap<String, u64>> =
    parking_lot::Mutex::new(std::collections::BTreeMap::new());

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_shrink_iters: 4096, ..ProptestConfig::default() })]
    #[test]
    fn stateful_tcp_fuzz(ops in proptest::collection::vec(op(), 1..200), buf in prop_oneof![Just(4096usize), Just(65536), Just(256 * 1024)],
                        synq in prop_oneof![Just(1usize), Just(2), Just(256)]) {
        if let Err(e) = run_ops(&ops, buf, synq) {
            prop_assert!(false, "{}", e);
        }
        if std::env::var("TCP_FUZZ_STATS").is_ok() {
            eprintln!("{:?}", SEEN.lock());
        }
    }
}
