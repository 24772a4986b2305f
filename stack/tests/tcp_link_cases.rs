//! TCP behaviours between two of our stacks on the in-memory link (virtual clock): zero window
//! and persist, many connections, simultaneous open, keepalive, sequence wraparound, small
//! buffers, delayed ACKs, the peer's MSS, readiness changes. Outages and heavy loss are in
//! tcp_link_outage.rs, closing in tcp_link_close.rs, bulk transfers in tcp_link.rs.
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::*;
use tapstack::error::Error;
use tapstack::phy::fault::FaultConfig;
use tapstack::phy::link::{Dir, Link};
use tapstack::socket::tcp::TcpState;
use tapstack::time::Duration;

const MIB: u64 = 1024 * 1024;

#[test]
fn zero_window_persist_and_lost_window_update() {
    // B does not read for 20 s: A fills B's receive window and must keep probing it (persist
    // timer, RFC 9293 3.8.6.1). The first window update B sends when it reads again is lost:
    // only a probe from A can restart the flow.
    let mut sim = stack_pair(Link::new(1500, None, None), 51);
    let (ha, hb, _) = connect_pair(&mut sim, 7200);
    let bytes = 2 * MIB;
    let mut src = Source::new(Pattern(51), bytes);
    sim.run_until(Duration::from_secs(20), |s| {
        let now = s.now;
        while !src.done() {
            match s.a.tcp().send(now, ha, src.chunk()) {
                Ok(n) if n > 0 => src.sent += n as u64,
                _ => break,
            }
        }
        false
    });
    let rx_buf = sim.b.tcp().recv_queue(hb);
    let info = sim.a.tcp().info(ha).unwrap();
    assert!(rx_buf >= 256 * 1024 - 1460, "B's buffer should be full: {rx_buf} bytes queued");
    assert!(info.snd_wnd < info.snd_mss as u32, "A should see a (nearly) zero window: {info:?}");
    assert_eq!(sim.a.tcp().state(ha), Ok(TcpState::Established), "zero window is no reason to abort");
    // Probes went out during the 20 s stall, with backoff (not one per RTO minimum).
    let probes_before = sim.link.stats(Dir::AToB).frames_in;
    sim.advance(Duration::from_secs(30));
    let probes = sim.link.stats(Dir::AToB).frames_in - probes_before;
    assert!((1..=40).contains(&probes), "{probes} frames from A in 30 s of zero window");
    // Drop B's next pure window update.
    let dropped = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let d2 = dropped.clone();
    sim.link.set_filter(Some(Box::new(move |dir, _, f| {
        if dir == Dir::BToA && is_tcp(f) && d2.get() == 0 {
            d2.set(1);
            return true;
        }
        false
    })));
    let mut sink = Sink::new(Pattern(51), bytes, sim.now);
    let ok = sim.run_until(Duration::from_secs(300), |s| {
        let now = s.now;
        while !src.done() {
            match s.a.tcp().send(now, ha, src.chunk()) {
                Ok(n) if n > 0 => src.sent += n as u64,
                _ => break,
            }
        }
        drain(s.b.tcp(), now, hb, &mut sink);
        sink.received == bytes
    });
    assert_eq!(dropped.get(), 1, "no window update was sent");
    assert!(
        ok,
        "flow did not resume after a lost window update: {} of {bytes} bytes; A {:?}",
        sink.received,
        sim.a.tcp().info(ha)
    );
}

#[test]
fn small_mtu_and_many_connections() {
    // IP MTU 576 (MSS 536), 16 connections at once from ephemeral ports, 256 KiB each way on
    // each, 1% loss: demultiplexing, port allocation, per-connection state.
    let cfg = FaultConfig { loss: 0.01, delay: Duration::from_millis(1), seed: 55, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(576, cfg), 55);
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7600).into()).unwrap();
    sim.b.tcp().listen(l, 32).unwrap();
    let n = 16;
    let bytes = 256 * 1024;
    let mut clients = Vec::new();
    for i in 0..n {
        let c = sim.a.tcp().socket();
        let now = sim.now;
        sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 7600).into()).unwrap();
        clients.push(Flow::new(c, Source::new(Pattern(100 + i), bytes), Sink::new(Pattern(200 + i), bytes, sim.now)));
    }
    let mut servers: Vec<Flow> = Vec::new();
    let ok = sim.run_until(Duration::from_secs(900), |s| {
        let now = s.now;
        while let Ok(h) = s.b.tcp().accept(l) {
            // Which client is it? Match by the peer's port.
            let peer = s.b.tcp().remote_addr(h).expect("accepted socket has a peer");
            let i = clients
                .iter()
                .position(|c| s.a.tcp().local_addr(c.h).map(|a| a.port()) == Some(peer.port()))
                .expect("unknown peer port");
            servers.push(Flow::new(
                h,
                Source::new(Pattern(200 + i as u64), bytes),
                Sink::new(Pattern(100 + i as u64), bytes, now),
            ));
        }
        for c in clients.iter_mut() {
            if s.a.tcp().state(c.h) != Ok(TcpState::SynSent) {
                c.pump(s.a.tcp(), now);
            }
        }
        for f in servers.iter_mut() {
            f.pump(s.b.tcp(), now);
        }
        servers.len() == n as usize && clients.iter().all(Flow::done) && servers.iter().all(Flow::done)
    });
    let done = clients.iter().filter(|c| c.done()).count();
    assert!(ok, "{done} of {n} clients done, {} accepted", servers.len());
    let mut ports: Vec<u16> = clients.iter().map(|c| sim.a.tcp().sock_name(c.h).unwrap().port()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), n as usize, "ephemeral ports must differ");
    let (lo, hi) = sim.a.tcp().config().ephemeral_ports;
    assert!(ports.iter().all(|p| (lo..=hi).contains(p)), "{ports:?}");
    let info = sim.a.tcp().info(clients[0].h).unwrap();
    let ts = if info.timestamps { 12 } else { 0 };
    assert!(info.rcv_mss == 536 && (info.snd_mss == 536 || info.snd_mss == 536 - ts), "{info:?}");
    assert_eq!(sim.link.stats(Dir::AToB).oversize, 0, "frames above the 576 MTU");
}

#[test]
fn simultaneous_open() {
    // RFC 9293 3.5 figure 8: both ends send SYN at the same instant, each gets the other's SYN in
    // SYN-SENT, answers SYN-ACK from SYN-RECEIVED, and both reach ESTABLISHED. 2 ms delay so
    // the SYNs cross on the wire.
    let cfg = FaultConfig { delay: Duration::from_millis(2), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 61);
    // Resolve ARP first so both SYNs leave at once.
    let now = sim.now;
    sim.a.stack.ping(now, B_IP, 1, 1, b"x");
    sim.b.stack.ping(now, A_IP, 1, 1, b"x");
    sim.advance(Duration::from_millis(50));
    let (pa, pb) = (40001, 40002);
    let ha = sim.a.tcp().socket();
    sim.a.tcp().bind(ha, SocketAddrV4::new(A_IP, pa).into()).unwrap();
    let hb = sim.b.tcp().socket();
    sim.b.tcp().bind(hb, SocketAddrV4::new(B_IP, pb).into()).unwrap();
    let now = sim.now;
    sim.a.tcp().connect(now, ha, SocketAddrV4::new(B_IP, pb).into()).unwrap();
    sim.b.tcp().connect(now, hb, SocketAddrV4::new(A_IP, pa).into()).unwrap();
    let mut seen = Vec::new();
    let ok = sim.run_until(Duration::from_secs(30), |s| {
        let st = (s.a.tcp().state(ha).unwrap(), s.b.tcp().state(hb).unwrap());
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        st == (TcpState::Established, TcpState::Established)
    });
    assert!(ok, "states went {seen:?}");
    assert!(
        seen.iter().any(|&(a, b)| a == TcpState::SynReceived || b == TcpState::SynReceived),
        "no SYN-RECEIVED on the way: {seen:?}"
    );
    let r = transfer_both_ways(&mut sim, ha, hb, MIB, 61, Duration::from_secs(60));
    assert!(r.close.time_wait.iter().any(Option::is_some));
}

#[test]
fn keepalive_detects_a_dead_peer() {
    use tapstack::socket::tcp::TcpOption;
    let mut sim = stack_pair(Link::new(1500, None, None), 62);
    let (ha, hb, _) = connect_pair(&mut sim, 7700);
    for o in [
        TcpOption::KeepAlive(true),
        TcpOption::KeepIdle(Duration::from_secs(10)),
        TcpOption::KeepIntvl(Duration::from_secs(2)),
        TcpOption::KeepCnt(3),
    ] {
        sim.a.tcp().set_option(ha, o).unwrap();
    }
    // An idle, healthy connection survives: probes are answered.
    let before = sim.link.stats(Dir::AToB).frames_in;
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.a.tcp().state(ha), Ok(TcpState::Established));
    let probes = sim.link.stats(Dir::AToB).frames_in - before;
    assert!((4..=30).contains(&probes), "{probes} frames from A in 60 s idle with keepalive every 10 s");
    // The peer vanishes: idle 10 s + 3 unanswered probes 2 s apart, then ETIMEDOUT.
    sim.link.set_up(false);
    let start = sim.now;
    let mut err = None;
    let ok = sim.run_until(Duration::from_secs(120), |s| {
        err = s.a.tcp().take_error(ha);
        err.is_some() || s.a.tcp().state(ha) == Ok(TcpState::Closed)
    });
    let took = sim.now - start;
    assert!(ok, "keepalive never gave up: {:?}", sim.a.tcp().info(ha));
    assert!(took <= Duration::from_secs(20), "gave up after {took:?}, expected about 10 + 3*2 s");
    let mut buf = [0u8; 4];
    let now = sim.now;
    let r = match err {
        Some(e) => Err(e),
        None => sim.a.tcp().recv(now, ha, &mut buf),
    };
    assert_eq!(r, Err(Error::TimedOut));
    let _ = hb;
}

#[test]
fn sequence_numbers_wrap_around() {
    // RFC 9293 3.4: all sequence arithmetic is modulo 2^32. Open connections until A's ISN falls
    // within 6 MiB below 2^32 (about 1 in 700 ISNs), then move 8 MiB each way under loss and
    // reordering, so A's send sequence (and B's receive sequence) wraps mid-transfer.
    let cfg =
        FaultConfig { loss: 0.02, reorder: 0.02, delay: Duration::from_millis(1), seed: 91, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 91);
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8600).into()).unwrap();
    sim.b.tcp().listen(l, 8).unwrap();
    let syn_seq = std::rc::Rc::new(std::cell::Cell::new(None::<u32>));
    let s2 = syn_seq.clone();
    sim.link.add_monitor(Box::new(move |dir, _, f| {
        if dir == Dir::AToB && is_tcp(f) && tcp_flags(f) & 0x12 == 0x02 {
            let ihl = (f[14] & 15) as usize * 4;
            let t = &f[14 + ihl..];
            s2.set(Some(u32::from_be_bytes([t[4], t[5], t[6], t[7]])));
        }
    }));
    let near = |isn: u32| (u32::MAX - 6 * MIB as u32..u32::MAX - MIB as u32).contains(&isn);
    let mut found = None;
    for _ in 0..20_000 {
        syn_seq.set(None);
        let c = sim.a.tcp().socket();
        let now = sim.now;
        sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 8600).into()).unwrap();
        sim.run_until(Duration::from_millis(1), |s| {
            s.a.tcp().state(c) != Ok(TcpState::SynSent) && syn_seq.get().is_some()
        });
        if syn_seq.get().is_some_and(near) {
            found = Some(c);
            break;
        }
        let now = sim.now;
        sim.a.tcp().abort(now, c);
        // Drop the server's half of it too.
        while let Ok(h) = sim.b.tcp().accept(l) {
            let now = sim.now;
            sim.b.tcp().abort(now, h);
        }
        sim.advance(Duration::from_millis(3));
    }
    let ha = found.expect("no ISN near 2^32 in 20000 connections: are ISNs uniform?");
    let isn = syn_seq.get().unwrap();
    let mut hb = None;
    let ok = sim.run_until(Duration::from_secs(30), |s| {
        if hb.is_none() {
            hb = s.b.tcp().accept(l).ok();
        }
        hb.is_some() && s.a.tcp().state(ha) == Ok(TcpState::Established)
    });
    assert!(ok, "handshake");
    eprintln!("A's ISN {isn:#x}: wraps after {} bytes", u32::MAX - isn);
    let r = transfer_both_ways(&mut sim, ha, hb.unwrap(), 8 * MIB, 91, Duration::from_secs(3600));
    assert!(r.info_a.bytes_acked >= 8 * MIB);
}

#[test]
fn small_socket_buffers_under_loss() {
    use tapstack::socket::tcp::TcpOption;
    // SO_RCVBUF/SO_SNDBUF of 8 KiB on both ends (set before connecting): windows of a few
    // segments, frequent window updates, 2% loss.
    let cfg =
        FaultConfig { loss: 0.02, reorder: 0.02, delay: Duration::from_millis(2), seed: 95, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 95);
    let l = sim.b.tcp().socket();
    for o in [TcpOption::RecvBuffer(8192), TcpOption::SendBuffer(8192)] {
        sim.b.tcp().set_option(l, o).unwrap();
    }
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9000).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    let c = sim.a.tcp().socket();
    for o in [TcpOption::RecvBuffer(8192), TcpOption::SendBuffer(8192)] {
        sim.a.tcp().set_option(c, o).unwrap();
    }
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 9000).into()).unwrap();
    let mut hb = None;
    let ok = sim.run_until(Duration::from_secs(30), |s| {
        if hb.is_none() {
            hb = s.b.tcp().accept(l).ok();
        }
        hb.is_some() && s.a.tcp().state(c) == Ok(TcpState::Established)
    });
    assert!(ok);
    let hb = hb.unwrap();
    let info = sim.a.tcp().info(c).unwrap();
    assert!(info.snd_wnd <= 16 * 1024, "peer's window should reflect its 8 KiB buffer: {info:?}");
    let r = transfer_both_ways(&mut sim, c, hb, MIB, 95, Duration::from_secs(600));
    assert!(r.info_a.bytes_acked >= MIB);
}

#[test]
fn partial_ack_with_short_tail_segment() {
    use tapstack::socket::tcp::TcpOption;
    // B's 8 KiB receive window lets A send 5 full segments and a short sixth; the first and
    // the sixth are lost. The retransmitted first segment draws a partial ACK up to the short
    // segment, while A has plenty more data buffered: the head retransmission must not carry
    // never-sent bytes beyond SND.MAX without accounting for them (the situation of
    // tcp-findings F4; here SACK recovery repairs it before the partial-ACK path is taken).
    let cfg = FaultConfig { delay: Duration::from_millis(5), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 96);
    let l = sim.b.tcp().socket();
    sim.b.tcp().set_option(l, TcpOption::RecvBuffer(8192)).unwrap();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9100).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    let ha = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, ha, SocketAddrV4::new(B_IP, 9100).into()).unwrap();
    let mut hb = None;
    let ok = sim.run_until(Duration::from_secs(10), |s| {
        if hb.is_none() {
            hb = s.b.tcp().accept(l).ok();
        }
        hb.is_some() && s.a.tcp().state(ha) == Ok(TcpState::Established)
    });
    assert!(ok);
    let hb = hb.unwrap();
    let dropped = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let d2 = dropped.clone();
    let mut n = 0;
    sim.link.set_filter(Some(Box::new(move |dir, _, f| {
        if dir == Dir::AToB && is_tcp(f) && tcp_payload_len(f) > 0 {
            n += 1;
            if n == 1 || n == 6 {
                d2.borrow_mut().push(tcp_payload_len(f));
                return true;
            }
        }
        false
    })));
    let bytes = 200_000u64;
    let mut src = Source::new(Pattern(96), bytes);
    let mut sink = Sink::new(Pattern(96), bytes, sim.now);
    let ok = sim.run_until(Duration::from_secs(60), |s| {
        let now = s.now;
        fill(s.a.tcp(), now, ha, &mut src);
        drain(s.b.tcp(), now, hb, &mut sink);
        sink.received == bytes
    });
    eprintln!("dropped segments of {:?} bytes", dropped.borrow());
    assert!(ok, "B got {} of {bytes}; A {:?}", sink.received, sim.a.tcp().info(ha));
}

#[test]
fn delayed_ack_rules() {
    // RFC 1122 4.2.3.2 / RFC 5681 4.2: an ACK at least for every second full-sized segment, and
    // a lone segment acknowledged within the delayed-ACK timeout (never above 500 ms; ours is
    // configured at most 200 ms).
    // 100 Mbit/s: segments arrive one by one (120 us apart), as on a real wire, rather than
    // in bursts processed by a single poll.
    let cfg = FaultConfig { delay: Duration::from_millis(10), rate: Some(100_000_000 / 8), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 97);
    let (ha, hb, _) = connect_pair(&mut sim, 9200);
    sim.advance(Duration::from_millis(500));
    let counts = std::rc::Rc::new(std::cell::RefCell::new((0u32, 0u32, Vec::new())));
    let c2 = counts.clone();
    sim.link.add_monitor(Box::new(move |dir, now, f| {
        if !is_tcp(f) {
            return;
        }
        let mut c = c2.borrow_mut();
        match (dir, tcp_payload_len(f)) {
            (Dir::AToB, n) if n > 0 => {
                c.0 += 1;
                c.2.push((now, 'D'));
            }
            (Dir::BToA, 0) => {
                c.1 += 1;
                c.2.push((now, 'A'));
            }
            _ => {}
        }
    }));
    // One lone 100-byte segment: acknowledged after at most the delayed-ACK timeout.
    let now = sim.now;
    sim.a.tcp().send(now, ha, &[5u8; 100]).unwrap();
    sim.advance(Duration::from_secs(1));
    let delack = sim.b.tcp().config().delayed_ack;
    {
        let c = counts.borrow();
        let d = c.2.iter().find(|e| e.1 == 'D').expect("data segment").0;
        let a = c.2.iter().find(|e| e.1 == 'A').expect("no ACK for a lone segment within 1 s").0;
        let wait = a - d - Duration::from_millis(10);
        assert!(
            wait <= delack + Duration::from_millis(1) && delack <= Duration::from_millis(200),
            "ACK after {wait:?}"
        );
    }
    let mut buf = [0u8; 100];
    let now = sim.now;
    assert_eq!(sim.b.tcp().recv(now, hb, &mut buf), Ok(100));
    // Bulk data A to B (B only acknowledges): at least one ACK per two full segments.
    *counts.borrow_mut() = (0, 0, Vec::new());
    let bytes = 2 * MIB;
    let mut src = Source::new(Pattern(97), bytes);
    let mut sink = Sink::new(Pattern(97), bytes, sim.now);
    let ok = sim.run_until(Duration::from_secs(60), |s| {
        let now = s.now;
        fill(s.a.tcp(), now, ha, &mut src);
        drain(s.b.tcp(), now, hb, &mut sink);
        sink.received == bytes
    });
    assert!(ok);
    let (data, acks, _) = counts.borrow().clone();
    assert!(acks * 20 >= data * 9, "{acks} ACKs for {data} data segments");
}

#[test]
fn many_connections_under_harsh_impairments() {
    // 12 connections at once, 1 MiB each way on each, sharing a 50 Mbit/s link with the issue's
    // harsh impairments and a 64 KiB bottleneck queue; then all close. Every byte checked.
    for seed in [98u64, 99] {
        let mut cfg = harsh(seed, 3);
        cfg.rate = Some(50_000_000 / 8);
        cfg.queue_limit = 64 * 1024;
        let mut sim = stack_pair(Link::symmetric(1500, cfg), seed);
        let l = sim.b.tcp().socket();
        sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9300).into()).unwrap();
        sim.b.tcp().listen(l, 16).unwrap();
        let n = 12u64;
        let bytes = MIB;
        let mut clients = Vec::new();
        for i in 0..n {
            let c = sim.a.tcp().socket();
            let now = sim.now;
            sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 9300).into()).unwrap();
            clients.push(Flow::new(
                c,
                Source::new(Pattern(seed * 100 + i), bytes),
                Sink::new(Pattern(seed * 1000 + i), bytes, sim.now),
            ));
        }
        let mut servers: Vec<Flow> = Vec::new();
        let ok = sim.run_until(Duration::from_secs(3600), |s| {
            let now = s.now;
            while let Ok(h) = s.b.tcp().accept(l) {
                let peer = s.b.tcp().remote_addr(h).expect("peer");
                let i = clients
                    .iter()
                    .position(|c| s.a.tcp().local_addr(c.h).map(|a| a.port()) == Some(peer.port()))
                    .expect("peer port");
                servers.push(Flow::new(
                    h,
                    Source::new(Pattern(seed * 1000 + i as u64), bytes),
                    Sink::new(Pattern(seed * 100 + i as u64), bytes, now),
                ));
            }
            for c in clients.iter_mut() {
                if s.a.tcp().state(c.h) != Ok(TcpState::SynSent) {
                    c.pump(s.a.tcp(), now);
                }
            }
            for f in servers.iter_mut() {
                f.pump(s.b.tcp(), now);
            }
            servers.len() == n as usize && clients.iter().all(Flow::done) && servers.iter().all(Flow::done)
        });
        let done = clients.iter().filter(|c| c.done()).count();
        assert!(ok, "seed {seed}: {done} of {n} clients done, {} accepted", servers.len());
        // Everything winds down to CLOSED (TIME_WAIT included) and the tables empty out.
        let ok = sim.run_until(Duration::from_secs(600), |s| {
            clients.iter().all(|c| s.a.tcp().state(c.h) == Ok(TcpState::Closed))
                && servers.iter().all(|f| s.b.tcp().state(f.h) == Ok(TcpState::Closed))
        });
        assert!(ok, "seed {seed}: not all closed");
        assert!(!sim.a.tcp().has_pending_output() && !sim.b.tcp().has_pending_output());
    }
}

#[test]
fn peers_mss_is_honoured() {
    // A is configured for a 9000-byte MTU, B for 1500, on a link carrying jumbo frames: each
    // side must send segments no larger than the MSS the other announced (RFC 9293 3.7.1).
    let link = Link::new(9000, None, None);
    let largest = std::rc::Rc::new(std::cell::RefCell::new([0usize; 2]));
    let l2 = largest.clone();
    link.add_monitor(Box::new(move |dir, _, f| {
        let mut l = l2.borrow_mut();
        let i = (dir == Dir::AToB) as usize;
        l[i] = l[i].max(f.len());
    }));
    let a = Node::with_mtu(A_IP, A_MAC, link.a(), 101, 9000);
    let b = Node::with_mtu(B_IP, B_MAC, link.b(), 102, 1500);
    let mut sim = Sim::new(link, a, b);
    let (ha, hb, _) = connect_pair(&mut sim, 9400);
    let r = transfer_both_ways(&mut sim, ha, hb, MIB, 100, Duration::from_secs(60));
    let [to_a, to_b] = *largest.borrow();
    assert!(to_b <= 1514, "A sent a {to_b}-byte frame to a peer with MSS 1460");
    assert!(to_b >= 1500, "A never sent a full-sized segment ({to_b})");
    assert!(to_a <= 1514, "B sent a {to_a}-byte frame with its 1500-byte MTU");
    assert_eq!(r.info_a.rcv_mss.max(r.info_b.rcv_mss), 8960, "{:?} {:?}", r.info_a, r.info_b);
}

#[test]
fn every_readiness_change_is_reported() {
    // The runtime wakes blocked callers only for handles `take_changed` reports: any readiness
    // change made by the stack itself (segments in, timers) must be reported, or a poll()er
    // could sleep forever. Checked after every clock step of a lossy transfer and its close.
    let cfg =
        FaultConfig { loss: 0.03, reorder: 0.02, delay: Duration::from_millis(2), seed: 121, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 121);
    let (ha, hb, _) = connect_pair(&mut sim, 9600);
    let bytes = MIB;
    let mut fa = Flow::new(ha, Source::new(Pattern(1), bytes), Sink::new(Pattern(2), bytes, sim.now));
    let mut fb = Flow::new(hb, Source::new(Pattern(2), bytes), Sink::new(Pattern(1), bytes, sim.now));
    let (mut last_a, mut last_b) = (sim.a.tcp().readiness(ha), sim.b.tcp().readiness(hb));
    let mut changed = Vec::new();
    let mut checks = 0u32;
    let ok = sim.run_until(Duration::from_secs(600), |s| {
        let now = s.now;
        for (tcp, h, last, name) in [(s.a.tcp(), ha, &mut last_a, "A"), (s.b.tcp(), hb, &mut last_b, "B")] {
            changed.clear();
            tcp.take_changed(&mut changed);
            let r = tcp.readiness(h);
            if r != *last {
                checks += 1;
                assert!(
                    changed.contains(&h),
                    "{name} at {now:?}: readiness {last:?} -> {r:?} not reported by take_changed"
                );
            }
        }
        fa.pump(s.a.tcp(), now);
        fb.pump(s.b.tcp(), now);
        last_a = s.a.tcp().readiness(ha);
        last_b = s.b.tcp().readiness(hb);
        let st = (s.a.tcp().state(ha).unwrap(), s.b.tcp().state(hb).unwrap());
        fa.done() && fb.done() && st.0 == TcpState::Closed && st.1 == TcpState::Closed
    });
    assert!(ok, "A got {} B got {}", fa.sink.received, fb.sink.received);
    assert!(checks > 50, "only {checks} readiness changes seen");
}
