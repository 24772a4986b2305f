//! TCP between two of our stacks on the in-memory link (virtual clock) when the link fails:
//! giving up after the retransmission limit, a 20 s outage, short outages during a transfer,
//! 30% loss, simultaneous RTOs after lost ACKs.
mod common;

use common::*;
use tapstack::error::Error;
use tapstack::phy::fault::FaultConfig;
use tapstack::phy::link::Link;
use tapstack::socket::tcp::TcpState;
use tapstack::time::Duration;

const MIB: u64 = 1024 * 1024;

#[test]
fn retransmission_gives_up_after_max_retries() {
    let mut sim = stack_pair(Link::new(1500, None, None), 63);
    let (ha, _hb, _) = connect_pair(&mut sim, 7800);
    sim.link.set_up(false);
    let now = sim.now;
    sim.a.tcp().send(now, ha, &[1u8; 10_000]).unwrap();
    let start = sim.now;
    let cfg = sim.a.tcp().config().clone();
    let mut err = None;
    let ok = sim.run_until(Duration::from_secs(3600), |s| {
        err = s.a.tcp().take_error(ha);
        err.is_some()
    });
    let info = sim.a.tcp().info(ha).unwrap();
    assert!(ok, "still retrying after an hour: {info:?}");
    assert_eq!(err, Some(Error::TimedOut));
    assert_eq!(sim.a.tcp().state(ha), Ok(TcpState::Closed));
    // RTO doubles from its minimum up to rto_max; the total is bounded by the sum of the
    // max_retries + 1 timeouts (RFC 6298 5.5, RFC 1122 4.2.3.5 R2).
    let mut bound = Duration::ZERO;
    let mut rto = cfg.rto_initial.max(cfg.rto_min);
    for _ in 0..=cfg.max_retries {
        bound += rto;
        rto = (rto * 2).min(cfg.rto_max);
    }
    let took = sim.now - start;
    assert!(took <= bound + Duration::from_secs(1), "gave up after {took:?}, bound {bound:?}");
    assert!(took >= Duration::from_secs(60), "gave up too early: {took:?}");
    assert!(info.retransmits >= cfg.max_retries as u64, "{info:?}");
}

#[test]
fn transfer_survives_a_20s_outage() {
    let cfg = FaultConfig { delay: Duration::from_millis(3), seed: 64, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 64);
    let (ha, hb, _) = connect_pair(&mut sim, 7900);
    let bytes = 4 * MIB;
    let mut fa = Flow::new(ha, Source::new(Pattern(1), bytes), Sink::new(Pattern(2), bytes, sim.now));
    let mut fb = Flow::new(hb, Source::new(Pattern(2), bytes), Sink::new(Pattern(1), bytes, sim.now));
    let mut cut = None;
    // The test switches the link on its own schedule: wake up at least every 10 ms.
    sim.tick = Some(Duration::from_millis(10));
    let ok = sim.run_until(Duration::from_secs(600), |s| {
        let now = s.now;
        fa.pump(s.a.tcp(), now);
        fb.pump(s.b.tcp(), now);
        if cut.is_none() && fa.sink.received > bytes / 3 {
            s.link.set_up(false);
            cut = Some(now);
        }
        if let Some(t) = cut {
            if now - t >= Duration::from_secs(20) {
                s.link.set_up(true);
            }
        }
        fa.done() && fb.done()
    });
    assert!(ok, "A got {} B got {}; A {:?}", fa.sink.received, fb.sink.received, sim.a.tcp().info(ha));
    // After the link returns, the next backed-off RTO (at most rto_max, here well below)
    // restarts the flow: the stall is the outage plus at most one doubled RTO.
    assert!(fa.sink.max_stall < Duration::from_secs(45), "stall {:?}", fa.sink.max_stall);
}

#[test]
fn short_outages_during_bidirectional_transfer() {
    // Both directions cut at once for 0.3..3 s while data flows both ways: frames already on
    // the wire still arrive, their ACKs do not, both ends time out and retransmit. Recovery must
    // follow the first RTO after the link returns (tcp-findings F3 was a deadlock here).
    for (i, (cut_ms, delay_ms)) in
        [(300u64, 1u64), (1000, 1), (2000, 5), (3000, 5), (700, 10), (1500, 2), (1000, 30), (2000, 50)]
            .into_iter()
            .enumerate()
    {
        let cfg = FaultConfig { delay: Duration::from_millis(delay_ms), seed: 70 + i as u64, ..Default::default() };
        let mut sim = stack_pair(Link::symmetric(1500, cfg), 70 + i as u64);
        let (ha, hb, _) = connect_pair(&mut sim, 8300 + i as u16);
        let bytes = 2 * MIB;
        let mut fa = Flow::new(ha, Source::new(Pattern(1), bytes), Sink::new(Pattern(2), bytes, sim.now));
        let mut fb = Flow::new(hb, Source::new(Pattern(2), bytes), Sink::new(Pattern(1), bytes, sim.now));
        let mut cut = None;
        sim.tick = Some(Duration::from_millis(1));
        let ok = sim.run_until(Duration::from_secs(300), |s| {
            let now = s.now;
            fa.pump(s.a.tcp(), now);
            fb.pump(s.b.tcp(), now);
            if cut.is_none() && fa.sink.received > bytes / 2 {
                s.link.set_up(false);
                cut = Some(now);
            }
            if cut.is_some_and(|t| now - t >= Duration::from_millis(cut_ms)) {
                s.link.set_up(true);
            }
            fa.done() && fb.done()
        });
        assert!(
            ok,
            "cut {cut_ms} ms, delay {delay_ms} ms: A got {} B got {}\nA {:?}\nB {:?}",
            fa.sink.received,
            fb.sink.received,
            sim.a.tcp().info(ha),
            sim.b.tcp().info(hb)
        );
        let stall = fa.sink.max_stall.max(fb.sink.max_stall);
        assert!(stall < Duration::from_millis(3 * cut_ms + 1000), "cut {cut_ms} ms: stall {stall:?}");
    }
}

#[test]
fn heavy_loss_30pct_still_completes() {
    // 30% loss each way (plus reordering and duplication): slow, but every byte arrives and the
    // connection neither aborts nor stalls forever (15 losses in a row of one segment: 1e-8).
    for seed in 80..83u64 {
        let cfg = FaultConfig {
            loss: 0.30,
            reorder: 0.05,
            dup: 0.02,
            delay: Duration::from_millis(2),
            seed,
            ..Default::default()
        };
        let mut sim = stack_pair(Link::symmetric(1500, cfg), seed);
        let (ha, hb, _) = connect_pair(&mut sim, 8400 + seed as u16);
        let r = transfer_both_ways(&mut sim, ha, hb, MIB / 2, seed, Duration::from_secs(3 * 3600));
        eprintln!("seed {seed}: {:?} virtual, stalls {:?} {:?}", r.elapsed, r.stall_a, r.stall_b);
    }
}

#[test]
fn simultaneous_rto_after_lost_acks() {
    // Both ends send one initial window at the same instant; every pure ACK is lost for the next
    // 500 ms, so both ends time out together although each has received all the peer's data.
    // Each then retransmits data the peer already has and must accept the peer's ACK for it
    // (tcp-findings F3: both ends dropped each other's ACKs forever and aborted).
    let cfg = FaultConfig { delay: Duration::from_millis(1), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 90);
    let (ha, hb, _) = connect_pair(&mut sim, 8500);
    let until = sim.now + Duration::from_millis(500);
    sim.link.set_filter(Some(Box::new(move |_, now, f| {
        now < until && is_tcp(f) && tcp_payload_len(f) == 0 && tcp_flags(f) & 0x07 == 0
    })));
    let bytes = 8 * 1448;
    let mut fa = Flow::new(ha, Source::new(Pattern(3), bytes), Sink::new(Pattern(4), bytes, sim.now));
    let mut fb = Flow::new(hb, Source::new(Pattern(4), bytes), Sink::new(Pattern(3), bytes, sim.now));
    let ok = sim.run_until(Duration::from_secs(60), |s| {
        let now = s.now;
        fa.pump(s.a.tcp(), now);
        fb.pump(s.b.tcp(), now);
        fa.done() && fb.done() && s.a.tcp().send_queue(ha) == 0 && s.b.tcp().send_queue(hb) == 0
    });
    assert!(
        ok,
        "not done after 60 s: A got {} B got {}\nA {:?}\nB {:?}",
        fa.sink.received,
        fb.sink.received,
        sim.a.tcp().info(ha),
        sim.b.tcp().info(hb)
    );
}
