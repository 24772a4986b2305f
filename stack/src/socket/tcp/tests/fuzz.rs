//! Robustness: arbitrary segments (valid checksums, hostile fields and options) fed to a stack
//! with a listener and live connections never panic, and resources stay bounded.
use crate::wire::ip::{IpAddress, IpEndpoint};

use proptest::prelude::*;

use super::harness::{Pair, A, B, H, US};
use super::*;
use crate::wire::tcp::TcpRepr;

#[derive(Debug, Clone)]
struct Fuzz {
    sport: u16,
    dport: u16,
    seq_off: i32,
    ack_off: Option<i32>,
    flags: u8,
    window: u16,
    mss: Option<u16>,
    ws: Option<u8>,
    sack_perm: bool,
    sack: Vec<(i32, u16)>,
    ts: Option<(u32, u32)>,
    len: usize,
    advance_ms: u16,
    action: u8,
}

fn fuzz() -> impl Strategy<Value = Fuzz> {
    (
        (
            prop_oneof![Just(40000u16), Just(40001), Just(5000), Just(5000), any::<u16>().prop_map(|p| p.max(1))],
            prop_oneof![Just(80u16), Just(81), Just(5001), Just(5001)],
            prop_oneof![-2i32..3, -3000i32..3000, any::<i32>()],
            proptest::option::of(prop_oneof![-1i32..3, -3000i32..3000, any::<i32>()]),
            prop_oneof![Just(0u8), Just(0x08), Just(0x01), Just(0x09), any::<u8>()],
            any::<u16>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
        ),
        (
            proptest::collection::vec((-5000i32..5000, any::<u16>()), 0..4),
            proptest::option::of((any::<u32>(), any::<u32>())),
            prop_oneof![Just(0usize), 1usize..1500],
            0u16..3000,
            any::<u8>(),
        ),
    )
        .prop_map(
            |(
                (sport, dport, seq_off, ack_off, flags, window, mss, ws, sack_perm),
                (sack, ts, len, advance_ms, action),
            )| Fuzz {
                sport,
                dport,
                seq_off,
                ack_off,
                flags,
                window,
                mss,
                ws,
                sack_perm,
                sack,
                ts,
                len,
                advance_ms,
                action,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn hostile_segments_never_panic(segs in proptest::collection::vec(fuzz(), 1..60)) {
        let mut cfg = TcpConfig::new(US, 1500);
        cfg.isn_secret = [1; 16];
        let mut h = H::with(cfg);
        h.now = Instant::from_secs(1);
        let l = h.socket();
        h.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
        h.listen(l, 4).unwrap();
        let c = h.socket();
        h.bind(c, IpEndpoint::new(US, 5001)).unwrap();
        h.s.connect(h.now, c, IpEndpoint::new(super::harness::PEER, 5000)).unwrap();
        // Learn our ISNs from what we send, to aim near valid sequence numbers.
        let mut our_seq: u32 = 0;
        let capture = |h: &mut H, our: &mut u32| {
            if let Some(o) = h.out().last() {
                *our = o.seq;
            }
        };
        capture(&mut h, &mut our_seq);
        let peer_base = 1_000_000u32;
        // Complete the handshake so most segments hit an established connection.
        let synack = TcpRepr {
            src_port: 5000,
            dst_port: 5001,
            seq: peer_base - 1,
            ack: Some(our_seq.wrapping_add(1)),
            flags: crate::wire::tcp::flags::SYN,
            window: 65535,
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((1, 1)),
            ..TcpRepr::default()
        };
        h.feed(&synack);
        capture(&mut h, &mut our_seq);
        prop_assert_eq!(h.state(c), Ok(TcpState::Established));
        let payload = vec![0x5au8; 1500];
        let mut buf = vec![0u8; 4096];
        for f in segs {
            let mut sack = [None; 4];
            for (i, (o, l)) in f.sack.iter().enumerate() {
                let left = our_seq.wrapping_add(*o as u32);
                sack[i] = Some((left, left.wrapping_add(*l as u32)));
            }
            let r = TcpRepr {
                src_port: f.sport,
                dst_port: f.dport,
                seq: peer_base.wrapping_add(f.seq_off as u32),
                ack: f.ack_off.map(|o| our_seq.wrapping_add(o as u32)),
                flags: f.flags & !0x10,
                window: f.window,
                urgent: 0,
                mss: f.mss,
                window_scale: f.ws,
                sack_permitted: f.sack_perm,
                sack,
                timestamp: f.ts,
                payload: &payload[..f.len],
            };
            if r.options_len() > 40 {
                continue;
            }
            h.feed(&r);
            let now = h.now;
            let s = &mut h.s;
            match f.action % 8 {
                0 => { let _ = s.send(now, c, &payload[..f.len]); }
                1 => { let _ = s.recv(now, c, &mut buf); }
                2 => { if let Ok(a) = s.accept(l) { let _ = s.send(now, a, b"hi"); s.close(now, a); } }
                3 => { let _ = s.shutdown(now, c, Shutdown::Write); }
                _ => {}
            }
            h.now += Duration::from_millis(f.advance_ms as u64);
            capture(&mut h, &mut our_seq);
            let (s, now) = (&mut h.s, h.now);
            let mut ch = Vec::new();
            s.take_changed(&mut ch);
            let _ = s.poll_at(now);
            let _ = s.readiness(c);
            let _ = s.info(c);
            prop_assert!(s.control_blocks() <= 2 + 4 + 60);
        }
        // Everything winds down: after a long time only the user's sockets remain.
        for _ in 0..200 {
            h.now += Duration::from_secs(5);
            capture(&mut h, &mut our_seq);
        }
        h.s.close(h.now, c);
        h.s.close(h.now, l);
        for _ in 0..100 {
            h.now += Duration::from_secs(5);
            capture(&mut h, &mut our_seq);
        }
        prop_assert!(h.control_blocks() <= 1, "{} control blocks left", h.control_blocks());
    }
}

/// Random application behaviour on both ends of an impaired link: whatever arrives is a prefix
/// of what was sent, nothing panics, and every control block eventually goes away.
mod apps {
    use super::*;
    use crate::phy::fault::FaultConfig;

    /// What one end's application did.
    #[derive(Default)]
    struct App {
        h: Option<TcpHandle>,
        sent: Vec<u8>,
        got: Vec<u8>,
        closed: bool,
    }

    /// Runs the network until `end`; Issue 11 item 2: unacknowledged data or FIN always has a timer.
    fn run(p: &mut Pair, end: Instant) -> std::result::Result<(), TestCaseError> {
        for _ in 0..1_000_000 {
            p.flush();
            for st in [&p.a.s, &p.b.s] {
                prop_assert!(
                    !st.has_pending_output() || st.poll_at(p.now).is_some(),
                    "data or FIN unacknowledged, no timer"
                );
            }
            if !p.step(end) {
                break;
            }
        }
        p.now = p.now.max(end);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn random_apps_over_a_lossy_link(ops in proptest::collection::vec((any::<bool>(), 0u8..10, 1usize..20_000, 0u16..400), 1..80),
                                         loss in 0.0f64..0.2, seed in any::<u64>(), rx_a in 2048usize..65536, rx_b in 2048usize..65536) {
            // Receive buffers of 2-64 KiB: zero and small windows happen (persist, SWS, probes).
            let mk = |ip, s, rx: usize| { let mut c = TcpConfig::new(ip, 1500); c.isn_secret = [s; 16]; c.seed = s as u64; c.rx_buffer = rx; c };
            let mut p = Pair::with(mk(A, 1, rx_a), mk(B, 2, rx_b));
            let fc = FaultConfig { loss, reorder: 0.05, dup: 0.02, delay: Duration::from_millis(3), seed, ..FaultConfig::default() };
            p.impair(fc.clone(), FaultConfig { seed: seed ^ 1, ..fc });
            let (mut a, mut b) = (App::default(), App::default());
            let l = p.b.socket();
            p.b.bind(l, IpEndpoint::new(B, 80)).unwrap();
            p.b.listen(l, 2).unwrap();
            let c = p.a.socket();
            p.a.s.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
            a.h = Some(c);
            let pattern: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut buf = vec![0u8; 16384];
            for (on_a, op, n, wait) in ops {
                if b.h.is_none() {
                    b.h = p.b.accept(l).ok();
                }
                let now = p.now;
                let (e, s) = if on_a { (&mut a, &mut p.a.s) } else { (&mut b, &mut p.b.s) };
                if let Some(h) = e.h {
                    match op {
                        0..=3 => {
                            let off = e.sent.len() % 20_000;
                            if let Ok(k) = s.send(now, h, &pattern[off..off + n]) {
                                e.sent.extend_from_slice(&pattern[off..off + k]);
                            }
                        }
                        4..=6 => {
                            while let Ok(k) = s.recv(now, h, &mut buf) {
                                if k == 0 { break; }
                                e.got.extend_from_slice(&buf[..k]);
                            }
                        }
                        7 => { let _ = s.shutdown(now, h, Shutdown::Write); }
                        8 => { if !e.closed { s.close(now, h); e.closed = true; e.h = None; } }
                        _ => { let _ = s.set_option(h, TcpOption::NoDelay(n % 2 == 0)); }
                    }
                }
                // Run the network for `wait` ms.
                run(&mut p, now + Duration::from_millis(wait as u64))?;
            }
            // Drain what is readable, then check integrity: received == a prefix of sent.
            let now = p.now;
            for (e, s) in [(&mut a, &mut p.a.s), (&mut b, &mut p.b.s)] {
                if let Some(h) = e.h {
                    while let Ok(k) = s.recv(now, h, &mut buf) {
                        if k == 0 { break; }
                        e.got.extend_from_slice(&buf[..k]);
                    }
                }
            }
            prop_assert!(a.sent.starts_with(&b.got), "B got {} bytes not a prefix of A's {}", b.got.len(), a.sent.len());
            prop_assert!(b.sent.starts_with(&a.got), "A got {} bytes not a prefix of B's {}", a.got.len(), b.sent.len());
            // Close everything; within 10 virtual minutes every control block is gone.
            for (e, s) in [(&mut a, &mut p.a.s), (&mut b, &mut p.b.s)] { if let Some(h) = e.h.take() { s.close(now, h); } }
            p.b.s.close(now, l);
            run(&mut p, now + Duration::from_secs(600))?;
            prop_assert_eq!(p.a.control_blocks() + p.b.control_blocks(), 0);
        }
    }
}
