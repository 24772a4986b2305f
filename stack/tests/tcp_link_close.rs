//! Closing TCP connections between two of our stacks on the in-memory link (virtual clock):
//! half-close, simultaneous close, TIME_WAIT, resets on abort and on close with unread data,
//! listener close, data and FIN before accept, reading after FIN; poll readiness through a
//! connection's life; RTO timing on a quiet link.
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
fn half_close_then_reverse_transfer() {
    // A sends a request and shuts down writing; B reads to EOF, then answers with 1 MiB and
    // closes. Under mild loss.
    let cfg = FaultConfig { loss: 0.02, delay: Duration::from_millis(1), seed: 52, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 52);
    let (ha, hb, _) = connect_pair(&mut sim, 7300);
    let req = 10_000u64;
    let resp = MIB;
    let mut a = Flow::new(ha, Source::new(Pattern(1), req), Sink::new(Pattern(2), resp, sim.now));
    let mut b_sink = Sink::new(Pattern(1), req, sim.now);
    let mut b_src = Source::new(Pattern(2), resp);
    let mut saw_close_wait = false;
    let ok = sim.run_until(Duration::from_secs(600), |s| {
        let now = s.now;
        a.pump(s.a.tcp(), now);
        if drain(s.b.tcp(), now, hb, &mut b_sink) || b_sink.eof {
            saw_close_wait |= s.b.tcp().state(hb) == Ok(TcpState::CloseWait);
            while !b_src.done() {
                match s.b.tcp().send(now, hb, b_src.chunk()) {
                    Ok(n) if n > 0 => b_src.sent += n as u64,
                    Ok(_) | Err(Error::WouldBlock) => break,
                    Err(e) => panic!("B send in half-closed connection: {e}"),
                }
            }
            if b_src.done() && !b_src.shut {
                s.b.tcp().shutdown(now, hb, tapstack::socket::Shutdown::Write).unwrap();
                b_src.shut = true;
            }
        }
        a.sink.complete()
    });
    assert!(
        ok,
        "A got {} of {resp} (eof {}), B got {} (eof {})",
        a.sink.received, a.sink.eof, b_sink.received, b_sink.eof
    );
    assert!(saw_close_wait, "B was never in CLOSE_WAIT after A's FIN");
    assert!(b_sink.complete());
    // A is the active closer: TIME_WAIT; B: LAST_ACK then CLOSED.
    let ok = sim.run_until(Duration::from_secs(30), |s| {
        conn_state(s.a.tcp(), ha) == TcpState::TimeWait && s.b.tcp().state(hb) == Ok(TcpState::Closed)
    });
    assert!(ok, "after close: A {:?} B {:?}", sim.a.tcp().state(ha), sim.b.tcp().state(hb));
}

#[test]
fn abort_resets_the_peer() {
    let mut sim = stack_pair(Link::new(1500, None, None), 53);
    let (ha, hb, _) = connect_pair(&mut sim, 7400);
    let now = sim.now;
    sim.a.tcp().abort(now, ha);
    let mut err = None;
    let ok = sim.run_until(Duration::from_secs(5), |s| {
        let mut buf = [0u8; 16];
        match s.b.tcp().recv(s.now, hb, &mut buf) {
            Err(Error::WouldBlock) => false,
            r => {
                err = Some(r);
                true
            }
        }
    });
    assert!(ok, "B never noticed the reset: {:?}", sim.b.tcp().state(hb));
    assert_eq!(err, Some(Err(Error::ConnectionReset)));
    assert_eq!(sim.b.tcp().state(hb), Ok(TcpState::Closed));
    let now = sim.now;
    assert!(sim.b.tcp().send(now, hb, b"x").is_err(), "send after reset must fail");
}

#[test]
fn reading_after_fin_sends_no_window_update() {
    // A closes first; B sends 200 KB then FIN while A's application is not reading (A's buffer
    // fills part way). A is then in TIME_WAIT with unread data. When A reads it, the window
    // opens, but no more data can come after a FIN: no window update may be sent (Linux
    // tcp_cleanup_rbuf), and TIME_WAIT must last its full 2*MSL (tcp-findings F2).
    let mut sim = stack_pair(Link::new(1500, None, None), 67);
    let (ha, hb, _) = connect_pair(&mut sim, 8200);
    let now = sim.now;
    sim.a.tcp().shutdown(now, ha, tapstack::socket::Shutdown::Write).unwrap();
    let bytes = 200_000u64;
    let mut src = Source::new(Pattern(67), bytes);
    let ok = sim.run_until(Duration::from_secs(10), |s| {
        let now = s.now;
        fill(s.b.tcp(), now, hb, &mut src);
        if src.done() && !src.shut {
            s.b.tcp().shutdown(now, hb, tapstack::socket::Shutdown::Write).unwrap();
            src.shut = true;
        }
        conn_state(s.a.tcp(), ha) == TcpState::TimeWait && s.b.tcp().state(hb) == Ok(TcpState::Closed)
    });
    assert!(ok, "A {:?} B {:?}", sim.a.tcp().state(ha), sim.b.tcp().state(hb));
    let entered = sim.now;
    let from_a = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let f2 = from_a.clone();
    sim.link.add_monitor(Box::new(move |dir, now, f| {
        if dir == Dir::AToB && is_tcp(f) {
            f2.borrow_mut().push(describe_frame(dir, now, f));
        }
    }));
    let mut sink = Sink::new(Pattern(67), bytes, sim.now);
    let mut closed_at = None;
    let two_msl = sim.a.tcp().config().msl * 2;
    sim.run_until(two_msl + Duration::from_secs(5), |s| {
        drain(s.a.tcp(), s.now, ha, &mut sink);
        if closed_at.is_none() && s.a.tcp().state(ha) == Ok(TcpState::Closed) && s.a.tcp().time_wait_count() == 0 {
            closed_at = Some(s.now);
        }
        closed_at.is_some()
    });
    assert!(sink.complete(), "A read {} of {bytes} (eof {})", sink.received, sink.eof);
    assert!(from_a.borrow().is_empty(), "A sent segments from TIME_WAIT: {:#?}", from_a.borrow());
    let lasted = closed_at.expect("TIME_WAIT never ended") - entered;
    assert!(lasted >= two_msl, "TIME_WAIT lasted {lasted:?}");
}

#[test]
fn simultaneous_close_both_time_wait() {
    // RFC 9293 3.6 figure 13: both ends close at the same instant; the FINs cross on a 5 ms
    // link, both pass through CLOSING and both end in TIME_WAIT, then CLOSED.
    let cfg = FaultConfig { delay: Duration::from_millis(5), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 92);
    let (ha, hb, _) = connect_pair(&mut sim, 8700);
    sim.advance(Duration::from_millis(100));
    let now = sim.now;
    sim.a.tcp().shutdown(now, ha, tapstack::socket::Shutdown::Write).unwrap();
    sim.b.tcp().shutdown(now, hb, tapstack::socket::Shutdown::Write).unwrap();
    let mut seen = Vec::new();
    let ok = sim.run_until(Duration::from_secs(5), |s| {
        let st = (conn_state(s.a.tcp(), ha), conn_state(s.b.tcp(), hb));
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        st == (TcpState::TimeWait, TcpState::TimeWait)
    });
    assert!(ok, "states went {seen:?}");
    assert!(seen.iter().any(|&(a, b)| a == TcpState::Closing && b == TcpState::Closing), "{seen:?}");
    let entered = sim.now;
    let two_msl = sim.a.tcp().config().msl * 2;
    let ok = sim.run_until(two_msl + Duration::from_secs(1), |s| {
        s.a.tcp().time_wait_count() == 0 && s.b.tcp().time_wait_count() == 0
    });
    assert!(ok && sim.now - entered >= two_msl - Duration::from_millis(10), "closed after {:?}", sim.now - entered);
}

#[test]
fn client_sends_and_closes_before_accept() {
    // An HTTP/1.0-style client connects, writes its request and closes before the server calls
    // accept: the accepted socket must still deliver every byte, then end of stream.
    let cfg = FaultConfig { delay: Duration::from_millis(1), loss: 0.02, seed: 93, ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 93);
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8800).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    let c = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 8800).into()).unwrap();
    let bytes = 100_000u64;
    let mut src = Source::new(Pattern(93), bytes);
    let ok = sim.run_until(Duration::from_secs(60), |s| {
        let now = s.now;
        if s.a.tcp().state(c) == Ok(TcpState::Established) {
            fill(s.a.tcp(), now, c, &mut src);
            if src.done() && !src.shut {
                s.a.tcp().close(now, c);
                src.shut = true;
            }
        }
        src.shut
    });
    assert!(ok, "client could not write its request: sent {}", src.sent);
    // Let the FIN arrive, still without accepting.
    sim.advance(Duration::from_secs(2));
    let h = sim.b.tcp().accept(l).expect("connection queued on the listener");
    let mut sink = Sink::new(Pattern(93), bytes, sim.now);
    let ok = sim.run_until(Duration::from_secs(60), |s| drain(s.b.tcp(), s.now, h, &mut sink));
    assert!(ok && sink.complete(), "server read {} of {bytes} (eof {})", sink.received, sink.eof);
}

#[test]
fn listener_close_resets_unaccepted_connections() {
    let mut sim = stack_pair(Link::new(1500, None, None), 94);
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8900).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    let cs: Vec<_> = (0..3)
        .map(|_| {
            let c = sim.a.tcp().socket();
            let now = sim.now;
            sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 8900).into()).unwrap();
            c
        })
        .collect();
    sim.advance(Duration::from_millis(100));
    for &c in &cs {
        assert_eq!(sim.a.tcp().state(c), Ok(TcpState::Established));
    }
    let now = sim.now;
    sim.b.tcp().close(now, l);
    sim.advance(Duration::from_millis(100));
    for &c in &cs {
        let mut buf = [0u8; 4];
        let now = sim.now;
        assert_eq!(sim.a.tcp().recv(now, c, &mut buf), Err(Error::ConnectionReset), "client {c:?}");
    }
    // The port is free again.
    let l2 = sim.b.tcp().socket();
    assert_eq!(sim.b.tcp().bind(l2, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8900).into()), Ok(()));
}

#[test]
fn readiness_through_a_connection_lifecycle() {
    use tapstack::socket::Readiness;
    // poll(2) as Linux's tcp_poll reports it, at each step of a connection's life.
    let cfg = FaultConfig { delay: Duration::from_millis(2), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 120);
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9500).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    assert_eq!(sim.b.tcp().readiness(l), Readiness::default(), "idle listener");
    let c = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 9500).into()).unwrap();
    let r = sim.a.tcp().readiness(c);
    assert!(!r.writable && !r.readable && !r.error, "connecting: {r:?}");
    sim.advance(Duration::from_millis(50));
    assert!(sim.b.tcp().readiness(l).readable, "listener with a pending connection");
    let h = sim.b.tcp().accept(l).unwrap();
    assert!(!sim.b.tcp().readiness(l).readable, "listener after accept");
    let r = sim.a.tcp().readiness(c);
    assert!(r.writable && !r.readable && !r.read_hup && !r.hup, "established, no data: {r:?}");
    // Data arrives: readable.
    let now = sim.now;
    sim.b.tcp().send(now, h, b"hello").unwrap();
    sim.advance(Duration::from_millis(50));
    assert!(sim.a.tcp().readiness(c).readable);
    let mut buf = [0u8; 16];
    let now = sim.now;
    assert_eq!(sim.a.tcp().recv(now, c, &mut buf), Ok(5));
    assert!(!sim.a.tcp().readiness(c).readable, "drained");
    // Peer's FIN: readable (EOF) and POLLRDHUP, still writable (half-close).
    let now = sim.now;
    sim.b.tcp().shutdown(now, h, tapstack::socket::Shutdown::Write).unwrap();
    sim.advance(Duration::from_millis(50));
    let r = sim.a.tcp().readiness(c);
    assert!(r.readable && r.read_hup && r.writable && !r.hup, "after peer FIN: {r:?}");
    assert_eq!(sim.a.tcp().recv(sim.now, c, &mut buf), Ok(0));
    // Our FIN too: both directions closed, POLLHUP.
    let now = sim.now;
    sim.a.tcp().shutdown(now, c, tapstack::socket::Shutdown::Write).unwrap();
    sim.advance(Duration::from_millis(50));
    let r = sim.a.tcp().readiness(c);
    assert!(r.hup && r.readable, "both directions shut: {r:?}");
    // A reset connection: POLLERR (and POLLHUP, POLLIN) until the error is read.
    let c2 = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c2, SocketAddrV4::new(B_IP, 9500).into()).unwrap();
    sim.advance(Duration::from_millis(50));
    let h2 = sim.b.tcp().accept(l).unwrap();
    let now = sim.now;
    sim.b.tcp().abort(now, h2);
    sim.advance(Duration::from_millis(50));
    let r = sim.a.tcp().readiness(c2);
    assert!(r.error && r.hup && r.readable, "after RST: {r:?}");
    assert_eq!(sim.a.tcp().take_error(c2), Some(Error::ConnectionReset));
    assert!(!sim.a.tcp().readiness(c2).error, "SO_ERROR read clears POLLERR");
}

#[test]
fn rto_follows_the_measured_rtt_and_backs_off() {
    // RFC 6298: with a steady 300 ms RTT the RTO settles at SRTT + max(G, 4*RTTVAR) (above the
    // 200 ms minimum); a lost lone segment is resent one RTO after it was sent, and a lost
    // resend after twice that (5.5). Not a closing test, but it needs the same quiet link.
    let cfg = FaultConfig { delay: Duration::from_millis(150), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 122);
    let l = sim.b.tcp().socket();
    sim.b.tcp().bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9700).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    let c = sim.a.tcp().socket();
    let now = sim.now;
    sim.a.tcp().connect(now, c, SocketAddrV4::new(B_IP, 9700).into()).unwrap();
    sim.advance(Duration::from_secs(2));
    let h = sim.b.tcp().accept(l).unwrap();
    // Twenty request/response rounds to train the estimator.
    let mut buf = [0u8; 64];
    for _ in 0..20 {
        let now = sim.now;
        sim.a.tcp().send(now, c, b"ping").unwrap();
        let ok = sim.run_until(Duration::from_secs(5), |s| s.b.tcp().recv(s.now, h, &mut buf) == Ok(4));
        assert!(ok);
        let now = sim.now;
        sim.b.tcp().send(now, h, b"pong").unwrap();
        let ok = sim.run_until(Duration::from_secs(5), |s| s.a.tcp().recv(s.now, c, &mut buf) == Ok(4));
        assert!(ok);
    }
    let info = sim.a.tcp().info(c).unwrap();
    let srtt = info.srtt.as_millis();
    assert!((295..=340).contains(&srtt), "srtt {:?} for a 300 ms RTT", info.srtt);
    assert!(info.rto >= info.srtt && info.rto <= info.srtt + info.rttvar * 4 + Duration::from_millis(210), "{info:?}");
    // Lose the next data segment and its first resend; record when A sends them.
    let sends = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s2 = sends.clone();
    sim.link.set_filter(Some(Box::new(move |dir, now, f| {
        if dir == Dir::AToB && is_tcp(f) && tcp_payload_len(f) > 0 {
            s2.borrow_mut().push(now);
            return s2.borrow().len() <= 2;
        }
        false
    })));
    let now = sim.now;
    sim.a.tcp().send(now, c, b"lost").unwrap();
    let ok = sim.run_until(Duration::from_secs(30), |s| s.b.tcp().recv(s.now, h, &mut buf) == Ok(4));
    assert!(ok, "never delivered: {:?}", sim.a.tcp().info(c));
    let t = sends.borrow().clone();
    assert!(t.len() >= 3, "{t:?}");
    let (first, second) = (t[1] - t[0], t[2] - t[1]);
    eprintln!(
        "srtt {:?} rttvar {:?} rto {:?}: resends after {first:?} then {second:?}",
        info.srtt, info.rttvar, info.rto
    );
    let rto = info.rto;
    let tol = Duration::from_millis(20);
    // A tail loss probe (RFC 8985) may resend earlier than the RTO; never later.
    assert!(first <= rto + tol && first >= Duration::from_millis(200), "first resend after {first:?}, RTO {rto:?}");
    assert!(
        second + tol >= first * 2 || second + tol >= rto,
        "second resend after {second:?} (first {first:?}): no backoff"
    );
}
