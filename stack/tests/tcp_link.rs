//! TCP between two of our stacks on the deterministic in-memory link (virtual clock).
//!
//! Bulk transfers both ways at once, checked byte for byte, under seeded loss, reordering,
//! duplication, corruption, delay and a bandwidth limit; recovery by fast retransmit rather than
//! timeouts; FIN both ways, TIME_WAIT, CLOSED; refused and timed-out connects.
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::*;
use tapstack::error::Error;
use tapstack::phy::fault::FaultConfig;
use tapstack::phy::link::{Dir, Link};
use tapstack::socket::tcp::TcpState;
use tapstack::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

fn summary(name: &str, r: &TransferReport) {
    let i = |x: &tapstack::socket::tcp::TcpInfo| {
        format!(
            "segs_out {} retx {} fast {} rto {} cwnd {} srtt {:?}",
            x.segs_out, x.retransmits, x.fast_retransmits, x.rto_expirations, x.cwnd, x.srtt
        )
    };
    eprintln!(
        "{name}: {:?} virtual; max stall A {:?} B {:?}\n  A: {}\n  B: {}",
        r.elapsed,
        r.stall_a,
        r.stall_b,
        i(&r.info_a),
        i(&r.info_b)
    );
}

/// Both directions carried every byte, and the counters agree with that.
fn check_counters(r: &TransferReport, bytes: u64) {
    for (name, info) in [("A", &r.info_a), ("B", &r.info_b)] {
        assert!(info.bytes_acked >= bytes, "{name}: bytes_acked {} < {bytes}", info.bytes_acked);
        assert!(info.bytes_received >= bytes, "{name}: bytes_received {} < {bytes}", info.bytes_received);
        assert!(info.retransmits >= info.fast_retransmits, "{name}: {info:?}");
    }
}

#[test]
fn clean_link_transfer_both_ways() {
    let link = Link::new(1500, None, None);
    let mut sim = stack_pair(link, 1);
    let (ha, hb, _) = connect_pair(&mut sim, 5001);
    let info = sim.a.tcp().info(ha).unwrap();
    // MSS option 1460 from the 1500-byte MTU (snd_mss may exclude the 12-byte timestamp option,
    // like Linux's tcpi_snd_mss).
    let ts = if info.timestamps { 12 } else { 0 };
    assert!(info.rcv_mss == 1460 && (info.snd_mss == 1460 || info.snd_mss == 1460 - ts), "{info:?}");
    let r = transfer_both_ways(&mut sim, ha, hb, 8 * MIB, 1, Duration::from_secs(600));
    summary("clean", &r);
    check_counters(&r, 8 * MIB);
    for info in [&r.info_a, &r.info_b] {
        assert_eq!(info.retransmits, 0, "no loss, no retransmission: {info:?}");
        assert_eq!(info.rto_expirations, 0, "{info:?}");
    }
    // The link itself lost, corrupted or refused nothing, in either direction.
    for d in [Dir::AToB, Dir::BToA] {
        let s = sim.link.stats(d);
        assert_eq!(s.faults.lost + s.faults.corrupted + s.faults.queue_drops + s.oversize, 0, "{s:?}");
    }
}

#[test]
fn delayed_link_transfer_both_ways() {
    // 5 ms each way: 10 ms RTT. Measured SRTT must reflect it.
    let cfg = FaultConfig { delay: Duration::from_millis(5), seed: 11, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 2);
    let (ha, hb, _) = connect_pair(&mut sim, 5002);
    let r = transfer_both_ways(&mut sim, ha, hb, 4 * MIB, 2, Duration::from_secs(600));
    summary("delay", &r);
    check_counters(&r, 4 * MIB);
    for info in [&r.info_a, &r.info_b] {
        assert_eq!(info.retransmits, 0, "{info:?}");
        let srtt = info.srtt.as_micros();
        assert!((9_000..60_000).contains(&srtt), "srtt {:?} for a 10 ms RTT", info.srtt);
        assert!(info.rto >= sim.a.tcp().config().rto_min, "{info:?}");
    }
}

/// The acceptance test: 32 MiB each way simultaneously under 10% loss, 5% reordering,
/// 1% duplication, 0.1% corruption, with some delay.
fn harsh_transfer(seed: u64, delay_ms: u64, rate: Option<u64>) {
    let mut cfg = harsh(seed, delay_ms);
    cfg.rate = rate;
    let mut sim = stack_pair(Link::symmetric(1500, cfg), seed);
    let (ha, hb, _) = connect_pair(&mut sim, 6000 + seed as u16);
    let r = transfer_both_ways(&mut sim, ha, hb, 32 * MIB, seed, Duration::from_secs(4 * 3600));
    summary(&format!("harsh seed {seed}"), &r);
    eprintln!("  {} clock-loop iterations", sim.iterations);
    check_counters(&r, 32 * MIB);
    let (ab, ba) = (sim.link.stats(Dir::AToB), sim.link.stats(Dir::BToA));
    eprintln!("  link A->B {:?}\n  link B->A {:?}", ab.faults, ba.faults);
    // Every corrupted frame (one flipped bit past the Ethernet header) was caught by a checksum
    // and counted: the IPv4 header checksum or the TCP checksum detects any single-bit error.
    for (name, node, corrupted) in [("B", &sim.b, ab.faults.corrupted), ("A", &sim.a, ba.faults.corrupted)] {
        let (ip, tcp) = (node.stack.stats(), node.stack.tcp.stats());
        let caught = ip.ip_bad_checksum + ip.rx_malformed + ip.ip_not_for_us + tcp.rx_bad_checksum + tcp.rx_malformed;
        assert!(caught >= corrupted, "{name}: {corrupted} corrupted frames in, {caught} caught: {ip:?} {tcp:?}");
    }
    // The impairments really happened (in both directions), and were survived.
    for s in [&ab, &ba] {
        assert!(s.faults.lost > 1000 && s.faults.corrupted > 5 && s.faults.duplicated > 100, "{s:?}");
        assert!(s.faults.reordered > 500, "{s:?}");
    }
    for info in [&r.info_a, &r.info_b] {
        assert!(info.retransmits > 1000, "10% loss needs many retransmissions: {info:?}");
        // Even at 10% loss most holes are repaired by fast retransmit (SACK), not timeouts.
        assert!(info.fast_retransmits > 4 * info.rto_expirations, "{info:?}");
    }
    // A retransmission lost several times in a row backs off (0.2 + 0.4 + 0.8 + ... s); seven
    // consecutive losses of one segment (1e-7) would be needed for a 25 s stall.
    for stall in [r.stall_a, r.stall_b] {
        assert!(stall < Duration::from_secs(15), "data stalled for {stall:?}");
    }
}

#[test]
fn harsh_32mib_both_ways_seed_1() {
    harsh_transfer(1, 1, None);
}

#[test]
fn harsh_32mib_both_ways_seed_2() {
    harsh_transfer(2, 3, None);
}

#[test]
fn harsh_32mib_both_ways_seed_3_rate_limited() {
    // 100 Mbit/s with the default 256 KiB queue.
    harsh_transfer(3, 5, Some(100_000_000 / 8));
}

#[test]
fn harsh_32mib_both_ways_seed_4_slow_link() {
    // 50 Mbit/s, 8 ms each way, a 128 KiB queue: congestion drops on top of random ones.
    let mut cfg = harsh(4, 8);
    cfg.rate = Some(50_000_000 / 8);
    cfg.queue_limit = 128 * 1024;
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 4);
    let (ha, hb, _) = connect_pair(&mut sim, 6004);
    let r = transfer_both_ways(&mut sim, ha, hb, 32 * MIB, 4, Duration::from_secs(4 * 3600));
    summary("harsh seed 4 slow", &r);
    check_counters(&r, 32 * MIB);
}

/// One run of the breadth sweep: harsh impairments, delay `seed % 5` ms, MTU by `seed % 4`.
fn sweep_one(seed: u64, mib: u64) {
    let mtu = [1500, 576, 9000, 1280][seed as usize % 4];
    eprintln!("seed {seed} mtu {mtu} delay {} ms", seed % 5);
    let mut sim = stack_pair(Link::symmetric(mtu, harsh(seed, seed % 5)), seed);
    let (ha, hb, _) = connect_pair(&mut sim, 6100 + (seed % 1000) as u16);
    let r = transfer_both_ways(&mut sim, ha, hb, mib * MIB, seed, Duration::from_secs(4 * 3600));
    check_counters(&r, mib * MIB);
    assert_eq!(sim.link.stats(Dir::AToB).oversize + sim.link.stats(Dir::BToA).oversize, 0, "mtu {mtu}");
}

#[test]
fn harsh_8mib_both_ways_twenty_seeds() {
    // Breadth: many seeds, smaller transfers, delays from 0 to 4 ms, MTUs 576..9000.
    // TAPSTACK_TEST_SEEDS=a..b widens the sweep (and TAPSTACK_TEST_MIB the size) when hunting.
    let seeds = std::env::var("TAPSTACK_TEST_SEEDS")
        .ok()
        .and_then(|v| v.split_once("..").and_then(|(a, b)| Some(a.parse::<u64>().ok()?..b.parse::<u64>().ok()?)))
        .unwrap_or(100..120);
    let mib = std::env::var("TAPSTACK_TEST_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    for seed in seeds {
        sweep_one(seed, mib);
    }
}

#[test]
fn harsh_8mib_regression_seeds() {
    for seed in [116, 290, 310, 350, 370, 390, 401, 430, 470] {
        sweep_one(seed, 8);
    }
}

#[test]
fn info_byte_counters_are_consistent() {
    // Every byte acknowledged was sent first: bytes_sent (new data, counted once) can never be
    // below bytes_acked, and after a complete transfer both equal the bytes written.
    let mut sim = stack_pair(Link::symmetric(1500, harsh(5, 1)), 5);
    let (ha, hb, _) = connect_pair(&mut sim, 6005);
    let r = transfer_both_ways(&mut sim, ha, hb, 8 * MIB, 5, Duration::from_secs(3600));
    for (name, info) in [("A", &r.info_a), ("B", &r.info_b)] {
        assert!(info.bytes_sent >= info.bytes_acked, "{name}: bytes_sent < bytes_acked: {info:?}");
        assert_eq!((info.bytes_sent, info.bytes_acked, info.bytes_received), (8 * MIB, 8 * MIB, 8 * MIB), "{name}");
    }
}

/// With moderate random loss, losses are repaired by fast retransmit (three duplicate ACKs or
/// SACK), not by retransmission timeouts, and data never stalls for long.
fn moderate_loss(seed: u64, loss: f64) {
    let cfg = FaultConfig { loss, delay: Duration::from_millis(2), seed, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), seed);
    let (ha, hb, _) = connect_pair(&mut sim, 7000);
    let r = transfer_both_ways(&mut sim, ha, hb, 8 * MIB, seed, Duration::from_secs(3600));
    summary(&format!("loss {loss} seed {seed}"), &r);
    check_counters(&r, 8 * MIB);
    for (name, info) in [("A", &r.info_a), ("B", &r.info_b)] {
        assert!(info.fast_retransmits >= 20, "{name}: too few fast retransmits: {info:?}");
        assert!(
            info.fast_retransmits > 4 * info.rto_expirations,
            "{name}: recovery mostly by RTO ({} RTOs vs {} fast retransmits): {info:?}",
            info.rto_expirations,
            info.fast_retransmits
        );
    }
    // A lost retransmission may cost one RTO (200 ms minimum) and a backoff; never seconds.
    for (name, stall) in [("A", r.stall_a), ("B", r.stall_b)] {
        assert!(stall < Duration::from_millis(1500), "{name}: data stalled for {stall:?}");
    }
}

#[test]
fn moderate_loss_recovers_by_fast_retransmit_1pct() {
    moderate_loss(21, 0.01);
}

#[test]
fn moderate_loss_recovers_by_fast_retransmit_2pct() {
    moderate_loss(22, 0.02);
}

#[test]
fn rate_limited_link_is_used_well() {
    // 20 Mbit/s, 5 ms each way, a 64 KiB bottleneck queue: congestion control must fill the
    // pipe without collapsing (tail drops are its only losses).
    let rate = 20_000_000 / 8;
    let cfg = FaultConfig {
        rate: Some(rate),
        queue_limit: 64 * 1024,
        delay: Duration::from_millis(5),
        seed: 31,
        ..Default::default()
    };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 31);
    let (ha, hb, _) = connect_pair(&mut sim, 7100);
    let bytes = 8 * MIB;
    let r = transfer_both_ways(&mut sim, ha, hb, bytes, 31, Duration::from_secs(3600));
    summary("rate 20mbit", &r);
    check_counters(&r, bytes);
    let goodput = bytes as f64 / r.elapsed.as_secs_f64();
    eprintln!("  goodput {:.0} B/s of {rate} B/s; drops {:?}", goodput, sim.link.stats(Dir::AToB).faults.queue_drops);
    assert!(goodput > 0.5 * rate as f64, "goodput {goodput:.0} B/s on a {rate} B/s link");
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut sim = stack_pair(Link::new(1500, None, None), 41);
    let c = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 9).into()).expect("connect");
    let start = sim.now;
    let mut err = None;
    let done = sim.run_until(Duration::from_secs(10), |s| {
        err = s.a.tcp().take_error(c);
        err.is_some()
    });
    assert!(done, "no error after 10 s: state {:?}", sim.a.tcp().state(c));
    assert_eq!(err, Some(Error::ConnectionRefused));
    assert!(sim.now.saturating_since(start) < Duration::from_millis(100), "RST took {:?}", sim.now - start);
    assert_eq!(sim.a.tcp().state(c), Ok(TcpState::Closed));
    // Once the error is read, recv is end-of-file (Linux: RCV_SHUTDOWN after tcp_done) or ENOTCONN.
    let mut buf = [0u8; 8];
    let r = sim.a.tcp().recv(sim.now, c, &mut buf);
    assert!(matches!(r, Ok(0) | Err(Error::NotConnected)), "{r:?}");
}

#[test]
fn syn_to_silent_host_times_out_after_syn_retries() {
    let mut sim = stack_pair(Link::new(1500, None, None), 42);
    // Let A learn B's MAC first (a ping), so every SYN reaches the wire.
    let now = sim.now;
    sim.a.stack.ping(now, B_IP, 1, 1, b"hello");
    let ok = sim.run_until(Duration::from_secs(5), |s| !s.a.stack.take_ping_replies().is_empty());
    assert!(ok, "no ping reply");
    // B drops every TCP segment: SYNs go unanswered.
    let syns = std::rc::Rc::new(std::cell::RefCell::new(Vec::<Instant>::new()));
    let rec = syns.clone();
    sim.link.set_filter(Some(Box::new(move |dir, now, f| {
        if dir == Dir::AToB && is_tcp(f) {
            rec.borrow_mut().push(now);
            return true;
        }
        false
    })));
    let c = sim.a.tcp().socket();
    let start = sim.now;
    sim.a.tcp().connect(start, c, SocketAddrV4::new(B_IP, 80).into()).expect("connect");
    let mut err = None;
    let done = sim.run_until(Duration::from_secs(600), |s| {
        err = s.a.tcp().take_error(c);
        err.is_some()
    });
    let cfg = sim.a.tcp().config().clone();
    let syns = syns.borrow().clone();
    assert!(done, "connect still pending after 600 s: {:?}, {} SYNs", sim.a.tcp().state(c), syns.len());
    assert_eq!(err, Some(Error::TimedOut));
    // Linux 6.x (measured on this kernel, tcp_syn_retries 6, tcp_syn_linear_timeouts 4): SYNs at
    // 0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s (the first timeouts linear, then doubling), and the
    // error at 131 s: 6 + 4 resends, and past the 127 s exponential backoff takes for 6.
    assert_eq!(cfg.syn_retries + cfg.syn_linear_timeouts, 10);
    let at: Vec<u64> = syns.iter().map(|t| (*t - start).as_millis() as u64).collect();
    assert_eq!(at, vec![0, 1000, 2000, 3000, 4000, 5000, 7000, 11000, 19000, 35000, 67000]);
    assert_eq!((sim.now - start).as_millis(), 131_000);
    assert_eq!(sim.a.tcp().state(c), Ok(TcpState::Closed));
}

#[test]
fn syn_to_absent_host_fails() {
    // Nobody answers at all (not even ARP): connect must fail, not hang.
    let cfg = FaultConfig { loss: 1.0, ..Default::default() };
    let mut sim = stack_pair(Link::new(1500, Some(cfg), None), 43);
    let c = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 80).into()).expect("connect");
    let mut err = None;
    let done = sim.run_until(Duration::from_secs(600), |s| {
        err = s.a.tcp().take_error(c);
        err.is_some()
    });
    assert!(done, "connect still pending after 600 s: {:?}", sim.a.tcp().state(c));
    assert!(matches!(err, Some(Error::TimedOut) | Some(Error::HostUnreachable)), "{err:?}");
}

#[test]
fn connect_to_absent_host_is_host_unreachable_like_linux() {
    // Linux: the neighbour entry fails after 3 unanswered ARP probes, the queued SYN is dropped
    // with a local ICMP host unreachable (ipv4_link_failure), and tcp_v4_err aborts the
    // SYN-SENT connection: connect fails with EHOSTUNREACH ("No route to host") after ~3 s.
    let cfg = FaultConfig { loss: 1.0, ..Default::default() };
    let mut sim = stack_pair(Link::new(1500, Some(cfg), None), 44);
    let c = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 80).into()).expect("connect");
    let mut err = None;
    let done = sim.run_until(Duration::from_secs(10), |s| {
        err = s.a.tcp().take_error(c);
        err.is_some()
    });
    assert!(done, "no error 10 s after connecting to an absent on-link host: {:?}", sim.a.tcp().state(c));
    assert_eq!(err, Some(Error::HostUnreachable));
}
