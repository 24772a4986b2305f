//! Scenario tests on two engines joined by the harness's `Pair` (virtual clock): negotiated
//! options, data both ways and close, windows, Linux errnos and poll bits, ports, inherited options.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::*;
use crate::wire::tcp::{flags, TcpRepr};

use super::harness::{cfg, pattern, transfer, Pair, A, B};

#[test]
fn handshake_negotiates_options() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    let syn = p.log[0].repr();
    assert!(syn.syn() && syn.ack.is_none());
    assert_eq!(syn.mss, Some(1460));
    assert_eq!(syn.window_scale, Some(7)); // room for 6 MiB (rx_buffer_max), as Linux
    assert!(syn.sack_permitted && syn.timestamp.is_some());
    let synack = p.log[1].repr();
    assert!(synack.syn() && synack.ack == Some(syn.seq.wrapping_add(1)));
    let ia = p.a.info(c).unwrap();
    assert!(ia.timestamps && ia.sack);
    assert_eq!((ia.wscale_snd, ia.wscale_rcv), (7, 7));
    assert_eq!(ia.snd_mss, 1448);
    assert_eq!(p.b.state(s), Ok(TcpState::Established));
    assert_eq!(p.b.remote_addr(s), p.a.local_addr(c));
    assert!(p.a.readiness(c).writable);
}

#[test]
fn isns_are_unpredictable_per_tuple() {
    let mut p = Pair::new();
    let (c1, _, _) = p.connect(80);
    let a1 = p.log[0].repr().seq;
    let c2 = p.a.socket();
    p.a.connect(p.now, c2, IpEndpoint::new(B, 80)).unwrap();
    p.run_for(Duration::from_millis(50));
    let a2 = p.log.iter().filter(|s| s.src == A).map(|s| s.repr()).filter(|r| r.syn()).nth(1).unwrap().seq;
    assert_ne!(a1.wrapping_add(1), a2);
    assert_ne!(p.a.local_addr(c1), p.a.local_addr(c2));
}

#[test]
fn data_both_ways_and_close() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    let d1 = pattern(300_000, 1);
    let got = transfer(&mut p, true, c, s, &d1, Duration::from_secs(30));
    assert!(got == d1, "a->b {} of {}", got.len(), d1.len());
    let d2 = pattern(200_000, 2);
    let got = transfer(&mut p, false, s, c, &d2, Duration::from_secs(30));
    assert!(got == d2);
    // A closes, then B: A goes through FIN-WAIT-2 to TIME-WAIT.
    p.a.shutdown(p.now, c, Shutdown::Write).unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.a.state(c), Ok(TcpState::FinWait2));
    assert_eq!(p.b.state(s), Ok(TcpState::CloseWait));
    let mut buf = [0u8; 10];
    assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(0));
    assert!(p.b.readiness(s).read_hup);
    // Half-close: B may still send.
    assert_eq!(p.b.send(p.now, s, b"late"), Ok(4));
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.a.recv(p.now, c, &mut buf), Ok(4));
    p.b.close(p.now, s);
    p.run_for(Duration::from_millis(100));
    // TIME-WAIT: a record holds the 4-tuple, the socket itself is CLOSED (Linux tcp_time_wait).
    assert_eq!(p.a.state(c), Ok(TcpState::Closed));
    assert_eq!(p.a.s.time_wait_count(), 1);
    assert_eq!(p.a.recv(p.now, c, &mut buf), Ok(0));
    assert!(p.a.readiness(c).hup);
    assert!(!p.a.has_pending_output() && !p.b.has_pending_output());
    assert_eq!(p.b.control_blocks(), 1); // only the listener remains
    let i = p.a.info(c).unwrap();
    assert_eq!(i.bytes_acked, 300_000);
    assert_eq!(i.bytes_received, 200_004);
    assert_eq!(i.retransmits, 0);
}

#[test]
fn retransmission_after_dropped_segment() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    let mut n = 0;
    p.drop = Box::new(move |s| {
        if s.src == A && s.bytes.len() > 100 {
            n += 1;
            return n == 3;
        }
        false
    });
    let d = pattern(5000, 4);
    let got = transfer(&mut p, true, c, s, &d, Duration::from_secs(10));
    assert_eq!(got, d);
    let i = p.a.info(c).unwrap();
    assert_eq!(i.retransmits, 1);
    // The segment after the hole was SACKed: the hole is found lost by time (RACK), no RTO.
    assert_eq!((i.rto_expirations, i.fast_retransmits), (0, 1));
}

#[test]
fn listen_backlog_bounds_connections() {
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, IpEndpoint::new(B, 80)).unwrap();
    p.b.listen(l, 2).unwrap();
    let cs: Vec<_> = (0..4)
        .map(|_| {
            let c = p.a.socket();
            p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
            c
        })
        .collect();
    p.run_for(Duration::from_millis(100));
    // As on Linux: every SYN gets a SYN-ACK (half-open connections are in the SYN queue), the
    // ACKs that find the accept queue full are dropped and the request kept.
    let est = cs.iter().filter(|&&c| p.a.state(c) == Ok(TcpState::Established)).count();
    assert_eq!(est, 4);
    assert_eq!(p.b.stats().listen_overflows, 2);
    assert_eq!(p.b.syn_queue_len(), 2);
    assert!(p.b.readiness(l).readable);
    let s1 = p.b.accept(l).unwrap();
    let _s2 = p.b.accept(l).unwrap();
    assert_eq!(p.b.accept(l), Err(Error::WouldBlock));
    // The retransmitted SYN-ACK draws the clients' ACK again, which now finds room.
    p.run_for(Duration::from_secs(3));
    assert!(p.b.accept(l).is_ok() && p.b.accept(l).is_ok());
    assert_eq!(p.b.syn_queue_len(), 0);
    assert_eq!(p.b.state(s1), Ok(TcpState::Established));
}

#[test]
fn nagle_coalesces_small_writes_nodelay_does_not() {
    for nodelay in [false, true] {
        let mut p = Pair::new();
        let (c, _l, s) = p.connect(80);
        p.a.set_option(c, TcpOption::NoDelay(nodelay)).unwrap();
        let before = p.log.iter().filter(|s| s.src == A).count();
        for i in 0..10u8 {
            p.a.send(p.now, c, &[i; 10]).unwrap();
            p.flush();
            p.step(p.now + Duration::from_micros(100));
        }
        p.run_for(Duration::from_millis(200));
        let data_segs = p
            .log
            .iter()
            .filter(|s| s.src == A)
            .skip(before)
            .filter(|s| s.bytes.len() > 32)
            .filter(|s| !s.repr().payload.is_empty())
            .count();
        if nodelay {
            assert_eq!(data_segs, 10);
        } else {
            assert_eq!(data_segs, 2, "first write alone, the rest coalesced");
        }
        assert_eq!(p.b.recv_queue(s), 100);
    }
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.send(p.now, c, b"unread").unwrap();
    p.run_for(Duration::from_millis(100));
    p.b.close(p.now, s);
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.log.iter().filter(|s| s.src == B && s.repr().rst()).count(), 1, "exactly one RST from B");
    assert_eq!(p.a.state(c), Ok(TcpState::Closed));
    let mut buf = [0u8; 4];
    assert_eq!(p.a.recv(p.now, c, &mut buf), Err(Error::ConnectionReset));
    assert_eq!(p.a.send(p.now, c, b"x"), Err(Error::BrokenPipe));
    assert!(p.a.readiness(c).hup);
}

#[test]
fn challenge_ack_for_in_window_rst() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    let i = p.b.info(s).unwrap();
    let _ = i;
    // Find B's rcv_nxt from A's last segment.
    let last = p.log.iter().rev().find(|s| s.src == A).unwrap().clone();
    let last_a = last.repr();
    let seq = last_a.seq.wrapping_add(1000); // in window, not exact
    let r = TcpRepr { src_port: last_a.src_port, dst_port: 80, seq, flags: flags::RST, ..Default::default() };
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b, A, B);
    let before = p.log.len();
    p.b.process(p.now, A, B, &b);
    p.flush();
    let ans = p.log[before].repr();
    assert!(!ans.rst() && ans.ack == Some(last_a.seq) && ans.payload.is_empty());
    assert_eq!(p.b.state(s), Ok(TcpState::Established));
    assert_eq!(p.a.state(c), Ok(TcpState::Established));
}

#[test]
fn advertised_window_never_exceeds_buffer() {
    // Fixed buffers (no auto-tuning, as after SO_RCVBUF/SO_SNDBUF): the limits are 256 KiB.
    let fixed = |ip, s| {
        let mut c = cfg(ip, s);
        (c.rx_buffer_max, c.tx_buffer_max) = (c.rx_buffer, c.tx_buffer);
        c
    };
    let mut p = Pair::with(fixed(A, 1), fixed(B, 2));
    let (c, _l, s) = p.connect(80);
    let d = pattern(600_000, 7);
    let got = transfer(&mut p, true, c, s, &d, Duration::from_secs(30));
    assert!(got == d);
    for seg in p.log.iter().filter(|s| s.src == B) {
        let r = seg.repr();
        if !r.syn() {
            assert!((r.window as usize) << 3 <= 256 * 1024, "window {} too large", r.window);
        }
    }
    // A receiver that does not read: the sender stops at exactly the buffer size.
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.a.send(p.now, c, &d), Ok(256 * 1024));
    p.run_for(Duration::from_secs(2));
    // Receiver SWS avoidance (RFC 1122 4.2.3.3): the last sub-MSS space is not offered.
    let q = p.b.recv_queue(s);
    assert!(q > 256 * 1024 - 1460 && q <= 256 * 1024, "{q}");
    assert_eq!(p.a.send_queue(c), 256 * 1024 - q);
    assert_eq!(p.a.info(c).unwrap().snd_wnd, 0);
    assert_eq!(p.a.info(c).unwrap().snd_wnd, 0);
}

#[test]
fn linux_errnos_and_poll_bits() {
    let mut p = Pair::new();
    let fresh = p.a.socket();
    assert_eq!(p.a.send(p.now, fresh, b"x"), Err(Error::BrokenPipe));
    let mut buf = [0u8; 4];
    assert_eq!(p.a.recv(p.now, fresh, &mut buf), Err(Error::NotConnected));
    let r = p.a.readiness(fresh);
    assert!(r.writable && r.hup && !r.readable);
    let (c, l, s) = p.connect(80);
    assert_eq!(p.b.connect(p.now, l, IpEndpoint::new(A, 1)), Err(Error::AlreadyConnected));
    assert_eq!(p.b.send(p.now, l, b"x"), Err(Error::BrokenPipe));
    // Peer FIN, then our shutdown(WR): POLLIN|POLLOUT|POLLRDHUP|POLLHUP.
    p.a.shutdown(p.now, c, Shutdown::Write).unwrap();
    p.run_for(Duration::from_millis(50));
    let mut ch = Vec::new();
    p.b.take_changed(&mut ch);
    p.b.shutdown(p.now, s, Shutdown::Write).unwrap();
    p.b.take_changed(&mut ch);
    assert!(ch.contains(&s));
    let r = p.b.readiness(s);
    assert!(r.readable && r.writable && r.read_hup && r.hup && !r.error, "{r:?}");
    assert_eq!(p.a.get_option(c, TcpOption::NoDelay(true)), Ok(TcpOption::NoDelay(false)));
}

#[test]
fn rst_in_close_wait_gives_epipe() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.close(p.now, c);
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.state(s), Ok(TcpState::CloseWait));
    // A's socket is gone: its stack answers B's data with RST.
    p.b.send(p.now, s, b"hello").unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.state(s), Ok(TcpState::Closed));
    assert_eq!(p.b.send(p.now, s, b"x"), Err(Error::BrokenPipe));
    assert_eq!(p.b.send(p.now, s, b"x"), Err(Error::BrokenPipe));
}

#[test]
fn accepted_socket_inherits_options() {
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.set_option(l, TcpOption::NoDelay(true)).unwrap();
    p.b.set_option(l, TcpOption::KeepAlive(true)).unwrap();
    p.b.bind(l, IpEndpoint::new(B, 80)).unwrap();
    p.b.listen(l, 4).unwrap();
    let c = p.a.socket();
    p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
    p.run_for(Duration::from_millis(50));
    let s = p.b.accept(l).unwrap();
    assert_eq!(p.b.get_option(s, TcpOption::NoDelay(false)), Ok(TcpOption::NoDelay(true)));
    assert_eq!(p.b.get_option(s, TcpOption::KeepAlive(false)), Ok(TcpOption::KeepAlive(true)));
}

#[test]
fn exit_drain_and_linger_zero() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.send(p.now, c, &pattern(100_000, 9)).unwrap();
    p.a.close(p.now, c);
    assert!(p.a.has_pending_output());
    p.run_until(Duration::from_secs(5), |p| !p.a.has_pending_output());
    assert!(!p.a.has_pending_output());
    assert_eq!(p.b.recv_queue(s), 100_000);
    // linger 0: RST at once, peer sees ECONNRESET.
    let (c, _l2, s) = p.connect(81);
    p.a.set_option(c, TcpOption::Linger(Some(Duration::ZERO))).unwrap();
    p.a.close(p.now, c);
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.take_error(s), Some(Error::ConnectionReset));
    assert_eq!(p.a.state(c), Err(Error::BadHandle));
}

#[test]
fn bind_conflicts_follow_linux() {
    let mut p = Pair::new();
    let x = p.a.socket();
    p.a.bind(x, IpEndpoint::new(A, 7000)).unwrap();
    let y = p.a.socket();
    assert_eq!(p.a.bind(y, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 7000)), Err(Error::AddrInUse));
    assert_eq!(p.a.bind(y, IpEndpoint::new(IpAddress::v4(1, 2, 3, 4), 7001)), Err(Error::AddrNotAvailable));
    p.a.bind(y, IpEndpoint::new(A, 0)).unwrap();
    let port = p.a.local_addr(y).unwrap().port();
    assert!((32768..=60999).contains(&port));
    assert_eq!(p.a.bind(y, IpEndpoint::new(A, 7002)), Err(Error::InvalidInput));
    // A server restarting while its old connection sits in TIME-WAIT needs SO_REUSEADDR, on
    // the old listener (the record's tw_reuse) and the new socket; SO_REUSEPORT likewise.
    for (port, old, reuse, want) in [
        (8080, (true, false), (true, false), Ok(())),
        (8081, (false, false), (true, false), Err(Error::AddrInUse)),
        (8082, (true, false), (false, true), Err(Error::AddrInUse)),
        (8083, (false, true), (false, true), Ok(())),
        (8084, (true, true), (false, false), Err(Error::AddrInUse)),
    ] {
        let (c, l, s) = p.connect_set(port, |p, l| {
            p.b.set_reuse_addr(l, old.0).unwrap();
            p.b.set_reuse_port(l, old.1).unwrap();
        });
        p.b.close(p.now, s);
        p.run_for(Duration::from_millis(50));
        p.a.close(p.now, c);
        p.b.close(p.now, l);
        p.run_for(Duration::from_millis(50));
        let n = p.b.socket();
        assert_eq!(p.b.bind(n, IpEndpoint::new(B, port)), Err(Error::AddrInUse));
        p.b.set_reuse_addr(n, reuse.0).unwrap();
        p.b.set_reuse_port(n, reuse.1).unwrap();
        assert_eq!(p.b.bind(n, IpEndpoint::new(B, port)), want, "port {port}");
        if want.is_ok() {
            p.b.listen(n, 1).unwrap();
        }
    }
}

#[test]
fn shutdown_read_on_listener_stops_it() {
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, IpEndpoint::new(B, 80)).unwrap();
    p.b.listen(l, 4).unwrap();
    let c = p.a.socket();
    p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.shutdown(p.now, l, Shutdown::Write), Ok(()));
    assert_eq!(p.b.state(l), Ok(TcpState::Listen));
    let mut ch = Vec::new();
    p.b.take_changed(&mut ch);
    assert_eq!(p.b.shutdown(p.now, l, Shutdown::Read), Ok(()));
    p.b.take_changed(&mut ch);
    assert!(ch.contains(&l));
    assert_eq!(p.b.accept(l), Err(Error::InvalidInput));
    assert!(p.b.readiness(l).hup);
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.take_error(c), Some(Error::ConnectionReset), "unaccepted connection reset");
}

#[test]
fn many_short_connections_leave_time_wait_behind() {
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, IpEndpoint::new(B, 80)).unwrap();
    p.b.listen(l, 64).unwrap();
    let mut ports = std::collections::HashSet::new();
    for i in 0..300u32 {
        let c = p.a.socket();
        p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
        ports.insert(p.a.local_addr(c).unwrap().port());
        p.run_for(Duration::from_millis(15));
        let s = p.b.accept(l).unwrap();
        p.a.send(p.now, c, &i.to_be_bytes()).unwrap();
        p.a.close(p.now, c);
        p.run_for(Duration::from_millis(15));
        let mut buf = [0u8; 8];
        assert_eq!(p.b.recv(p.now, s, &mut buf), Ok(4));
        assert_eq!(buf[..4], i.to_be_bytes());
        p.b.close(p.now, s);
        p.run_for(Duration::from_millis(15));
    }
    assert_eq!(ports.len(), 300, "each connection got its own ephemeral port");
    assert_eq!(p.a.control_blocks(), 300, "the active closer keeps TIME-WAIT");
    assert_eq!(p.b.control_blocks(), 1);
    p.run_for(Duration::from_secs(61));
    assert_eq!(p.a.control_blocks(), 0);
}

/// shutdown(Read) as Linux: nothing is sent; queued data and data arriving later stay
/// readable; an empty queue reads 0 (not WouldBlock); readiness says readable + read hang-up.
#[test]
fn shutdown_read_keeps_data_readable() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.b.send(p.now, s, b"before").unwrap();
    p.run_for(Duration::from_millis(50));
    let sent = p.log.len();
    assert_eq!(p.a.shutdown(p.now, c, Shutdown::Read), Ok(()));
    p.run_for(Duration::from_millis(300));
    assert_eq!(p.log.len(), sent, "SHUT_RD sends nothing");
    let r = p.a.readiness(c);
    assert!(r.readable && r.read_hup && !r.hup);
    let mut buf = [0u8; 64];
    assert_eq!(p.a.recv(p.now, c, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b"before");
    assert_eq!(p.a.recv(p.now, c, &mut buf), Ok(0), "empty after SHUT_RD: 0, not WouldBlock");
    p.b.send(p.now, s, b"after").unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.recv(p.now, c, &mut buf), Ok(5), "data arriving after SHUT_RD is queued");
    assert_eq!(p.b.state(s), Ok(TcpState::Established), "the peer saw no reset");
}

/// After shutdown(SHUT_RDWR), new data in FIN-WAIT is answered with RST and the connection is
/// reset (Linux tcp_rcv_state_process, RFC 1122 4.2.2.13).
#[test]
fn data_after_shutdown_both_resets() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    assert_eq!(p.a.shutdown(p.now, c, Shutdown::Both), Ok(()));
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.state(c), Ok(TcpState::FinWait2));
    p.b.send(p.now, s, b"late").unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.state(c), Ok(TcpState::Closed));
    assert_eq!(p.a.take_error(c), Some(Error::ConnectionReset));
    // The peer, in CLOSE-WAIT, takes the RST as Linux's tcp_reset does there: EPIPE.
    assert_eq!(p.b.take_error(s), Some(Error::BrokenPipe), "the peer got a RST");
}

/// TCP_WINDOW_CLAMP set on a listener: the SYN-ACK and every later window the accepted
/// connection advertises stay within it, through a transfer; the child reads the clamp back.
#[test]
fn window_clamp_bounds_every_advertised_window() {
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
    p.b.set_option(l, TcpOption::WindowClamp(3000)).unwrap();
    p.b.listen(l, 8).unwrap();
    let c = p.a.socket();
    p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
    let mut s = None;
    assert!(p.run_until(Duration::from_secs(5), |p| {
        s = s.or_else(|| p.b.accept(l).ok());
        s.is_some()
    }));
    let s = s.unwrap();
    assert_eq!(p.b.get_option(s, TcpOption::WindowClamp(0)), Ok(TcpOption::WindowClamp(3000)));
    let data = pattern(200_000, 5);
    assert_eq!(transfer(&mut p, true, c, s, &data, Duration::from_secs(30)), data);
    let ws = p.b.info(s).unwrap().wscale_rcv;
    let mut seen = 0;
    for seg in p.log.iter().filter(|x| x.src == B) {
        let r = seg.repr();
        let w = if r.syn() { r.window as u32 } else { (r.window as u32) << ws };
        assert!(w <= 3000, "advertised window {w} above the clamp");
        seen += 1;
    }
    assert!(seen > 10);
}
