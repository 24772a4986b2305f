//! Memory bounds of the TCP engine, measured with a counting global allocator (bytes live on
//! the heap, deterministic): 10,000 actively closed connections in TIME-WAIT and a flood of
//! spoofed SYNs cost little above the idle baseline (issue 11 items 4 and 5).
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;

use tapstack::socket::tcp::{TcpConfig, TcpHandle, TcpStack, TcpState};
use tapstack::time::{Duration, Instant};
use tapstack::wire::tcp::{flags, TcpRepr};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;
/// One measurement at a time (the test harness runs tests on threads).
static SERIAL: Mutex<()> = Mutex::new(());

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Two stacks joined by a lossless zero-delay link, driven under a virtual clock.
struct Pair {
    a: TcpStack,
    b: TcpStack,
    now: Instant,
}
impl Pair {
    fn new() -> Pair {
        let mut ca = TcpConfig::new(A.into(), 1500);
        ca.seed = 1;
        ca.isn_secret = [1; 16];
        let mut cb = TcpConfig::new(B.into(), 1500);
        cb.isn_secret = [2; 16];
        Pair { a: TcpStack::new(ca), b: TcpStack::new(cb), now: Instant::from_secs(1) }
    }
    /// Exchanges segments until both stacks are quiet at `now`, then advances time by `d`.
    fn run(&mut self, d: Duration) {
        for _ in 0..100_000 {
            let mut to_b = Vec::new();
            let mut to_a = Vec::new();
            self.a.dispatch(self.now, &mut |s, _, b| to_b.push((s, b.to_vec())));
            self.b.dispatch(self.now, &mut |s, _, b| to_a.push((s, b.to_vec())));
            if to_a.is_empty() && to_b.is_empty() {
                break;
            }
            for (s, b) in to_b {
                self.b.process(self.now, s, B.into(), &b);
            }
            for (s, b) in to_a {
                self.a.process(self.now, s, A.into(), &b);
            }
        }
        self.now += d;
    }
}

#[test]
fn ten_thousand_time_wait_connections_cost_under_2_mib() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, SocketAddrV4::new(B, 80).into()).unwrap();
    p.b.listen(l, 128).unwrap();
    let base = live();
    let mut total = 0;
    for _batch in 0..100 {
        let cs: Vec<TcpHandle> = (0..100)
            .map(|_| {
                let c = p.a.socket();
                p.a.connect(p.now, c, SocketAddrV4::new(B, 80).into()).unwrap();
                c
            })
            .collect();
        p.run(Duration::from_millis(1));
        let ss: Vec<TcpHandle> = cs.iter().map(|_| p.b.accept(l).unwrap()).collect();
        for &c in &cs {
            p.a.send(p.now, c, b"request").unwrap();
            p.a.close(p.now, c); // active close: A ends in TIME-WAIT
        }
        p.run(Duration::from_millis(1));
        for &s in &ss {
            let mut buf = [0u8; 16];
            assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(7));
            p.b.close(p.now, s);
        }
        p.run(Duration::from_millis(1));
        total += cs.len();
    }
    p.run(Duration::ZERO);
    assert_eq!(total, 10_000);
    assert_eq!(p.a.control_blocks(), 10_000, "every connection in TIME-WAIT");
    assert_eq!(p.b.control_blocks(), 1, "the passive closer kept only its listener");
    assert_eq!(p.a.stats().tw_overflows, 0);
    let grown = live() - base;
    eprintln!("10,000 TIME-WAIT: {grown} bytes above the idle baseline");
    assert!(grown < 2 << 20, "{grown} bytes for 10,000 TIME-WAIT connections");
    // They expire after 2*MSL and the memory comes back.
    p.run(Duration::from_secs(61));
    p.run(Duration::ZERO);
    assert_eq!(p.a.control_blocks(), 0);
    let _ = TcpState::TimeWait;
}

#[test]
fn fifty_thousand_spoofed_syns_allocate_no_connection_buffers() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, SocketAddrV4::new(B, 80).into()).unwrap();
    p.b.listen(l, 128).unwrap();
    p.run(Duration::ZERO);
    let base = live();
    let mut buf = vec![0u8; 64];
    for i in 0..50_000u32 {
        let src = Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + i);
        let syn = TcpRepr {
            src_port: 1024 + (i % 60_000) as u16,
            dst_port: 80,
            seq: i.wrapping_mul(2_654_435_761),
            flags: flags::SYN,
            window: 64240,
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((i, 0)),
            ..TcpRepr::default()
        };
        buf.resize(syn.buffer_len(), 0);
        syn.emit(&mut buf, src, B);
        p.b.process(p.now, src.into(), B.into(), &buf);
        if i % 500 == 499 {
            p.b.dispatch(p.now, &mut |_, _, _| {});
            p.now += Duration::from_millis(1);
        }
    }
    let grown = live() - base;
    eprintln!("50,000 spoofed SYNs: {grown} bytes above the baseline, {} cookies", p.b.stats().syncookies_sent);
    assert!(grown < 256 << 10, "{grown} bytes after a SYN flood");
    assert!(p.b.stats().syncookies_sent >= 49_000);
    // A real client still gets in.
    let c = p.a.socket();
    p.a.connect(p.now, c, SocketAddrV4::new(B, 80).into()).unwrap();
    p.run(Duration::from_millis(1));
    p.run(Duration::ZERO);
    assert_eq!(p.a.state(c), Ok(TcpState::Established));
    assert!(p.b.accept(l).is_ok());
}

/// Issue 12: memory follows use. 50,000 established connections that exchanged a request and a
/// reply and then went idle cost at most 4 KiB of heap each on either side (their buffer limits
/// are 256 KiB; a ring holds storage only while it holds bytes), and they still work.
#[test]
fn fifty_thousand_idle_connections_cost_under_4_kib_each() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 50_000;
    let mut p = Pair::new();
    // Two server ports: one destination has 28,232 ephemeral ports (Linux's default range).
    let ls: Vec<TcpHandle> = [80, 81]
        .iter()
        .map(|&port| {
            let l = p.b.socket();
            p.b.bind(l, SocketAddrV4::new(B, port).into()).unwrap();
            p.b.listen(l, 1024).unwrap();
            l
        })
        .collect();
    p.run(Duration::ZERO);
    let base = live();
    let t0 = std::time::Instant::now();
    let (mut cs, mut ss) = (Vec::with_capacity(N), Vec::with_capacity(N));
    let mut buf = [0u8; 64];
    while cs.len() < N {
        let k = cs.len() / 500 % 2;
        let batch: Vec<TcpHandle> = (0..500)
            .map(|_| {
                let c = p.a.socket();
                p.a.connect(p.now, c, SocketAddrV4::new(B, 80 + k as u16).into()).unwrap();
                c
            })
            .collect();
        p.run(Duration::from_millis(1));
        for &c in &batch {
            let s = p.b.accept(ls[k]).unwrap();
            p.a.send(p.now, c, b"request").unwrap();
            ss.push(s);
        }
        p.run(Duration::from_millis(1));
        for &s in &ss[ss.len() - batch.len()..] {
            assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(7));
            p.b.send(p.now, s, b"reply").unwrap();
        }
        p.run(Duration::from_millis(1));
        for &c in &batch {
            assert_eq!(p.a.recv(p.now, c, &mut buf), Ok(5));
        }
        cs.extend(batch);
    }
    // Let delayed ACKs and timers settle: the connections are idle.
    p.run(Duration::from_secs(1));
    p.run(Duration::ZERO);
    assert_eq!(p.a.control_blocks(), N);
    assert_eq!(p.b.control_blocks(), N + 2);
    // Both sides' heap (two stacks, the handles' vectors aside) over 2N connections.
    let per_conn = (live() - base) as usize / (2 * N);
    eprintln!("{N} idle connections each side: {per_conn} bytes per connection, set up in {:?}", t0.elapsed());
    assert!(per_conn <= 4096, "{per_conn} bytes per idle connection");
    // They still work: one last exchange on the first and the last.
    for &(c, s) in &[(cs[0], ss[0]), (cs[N - 1], ss[N - 1])] {
        p.a.send(p.now, c, b"again").unwrap();
        p.run(Duration::from_millis(1));
        assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(5));
    }
}
