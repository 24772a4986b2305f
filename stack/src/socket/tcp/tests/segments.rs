//! Scenario tests that feed one `TcpStack` hand-built segments and check the exact segments it
//! answers with (handshake and options, RST to a closed port, SACK after a hole, fast
//! retransmit, RTO backoff, zero-window probes, challenge ACKs, TIME-WAIT).
use crate::wire::ip::IpEndpoint;

use super::*;
use crate::wire::tcp::flags;

use super::harness::{H, PEER, PP, US};

#[test]
fn syn_ack_carries_our_options_and_echoes_theirs() {
    let mut h = H::new();
    let l = h.s.socket();
    h.s.bind(l, IpEndpoint::new(US, 80)).unwrap();
    h.s.listen(l, 4).unwrap();
    let mut syn = h.seg(1000, None, flags::SYN);
    syn.mss = Some(1400);
    syn.window_scale = Some(7);
    syn.sack_permitted = true;
    syn.timestamp = Some((555, 0));
    h.feed(&syn);
    let o = h.out();
    assert_eq!(o.len(), 1);
    let sa = &o[0];
    assert_eq!(sa.flags, flags::SYN);
    assert_eq!(sa.ack, Some(1001));
    assert_eq!((sa.mss, sa.ws, sa.sack_perm), (Some(1460), Some(7), true)); // sized for 6 MiB (auto-tuning)
    assert_eq!(sa.ts.map(|t| t.1), Some(555));
    assert_eq!(sa.window, 65535); // never scaled in a SYN
    assert_eq!(sa.len, 0);
    // A SYN without options gets a SYN-ACK without WS/SACK/TS.
    let mut syn2 = syn;
    syn2.src_port = PP + 1;
    syn2.window_scale = None;
    syn2.sack_permitted = false;
    syn2.timestamp = None;
    h.feed(&syn2);
    let o = h.out();
    assert_eq!((o[0].mss, o[0].ws, o[0].sack_perm, o[0].ts), (Some(1460), None, false, None));
    // Completing the first handshake makes it acceptable; the peer's MSS is honoured.
    let mut ack = h.seg(1001, Some(sa.seq.wrapping_add(1)), 0);
    ack.timestamp = Some((556, sa.ts.unwrap().0));
    h.feed(&ack);
    let c = h.s.accept(l).unwrap();
    assert_eq!(h.s.info(c).unwrap().snd_mss, 1388, "peer MSS less 12 bytes of timestamps");
    assert_eq!(h.s.info(c).unwrap().wscale_snd, 7);
}

#[test]
fn rst_answers_for_closed_ports() {
    let mut h = H::new();
    h.feed(&h.seg(1000, None, flags::SYN));
    let o = h.out();
    assert_eq!((o[0].seq, o[0].ack, o[0].flags), (0, Some(1001), flags::RST));
    h.feed(&h.seg(1000, Some(5000), 0));
    let o = h.out();
    assert_eq!((o[0].seq, o[0].ack, o[0].flags), (5000, None, flags::RST));
    // A segment with data and FIN: ack covers both.
    let mut d = h.seg(7, None, flags::FIN);
    d.payload = b"abc";
    h.feed(&d);
    assert_eq!(h.out()[0].ack, Some(7 + 4));
    // Never a RST for a RST.
    h.feed(&h.seg(9, None, flags::RST));
    assert!(h.out().is_empty());
    assert_eq!(h.s.stats().rx_no_socket, 4);
}

#[test]
fn sack_blocks_after_a_hole_and_delayed_ack() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(true, false);
    let data = vec![7u8; 1000];
    let mut s1 = h.seg(1001, Some(iss + 1), flags::PSH);
    s1.payload = &data;
    h.feed(&s1);
    assert!(h.out().is_empty(), "first segment: delayed ACK");
    let o = h.advance(Duration::from_millis(40));
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].ack, o[0].sack.len()), (Some(2001), 0));
    // Skip 2001..3001, send 3001..4001: immediate duplicate ACK with a SACK block.
    let mut s3 = s1;
    s3.seq = 3001;
    h.feed(&s3);
    let o = h.out();
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].ack, o[0].sack.clone()), (Some(2001), vec![(3001, 4001)]));
    let mut s5 = s1;
    s5.seq = 5001;
    h.feed(&s5);
    let o = h.out();
    assert_eq!(o[0].sack, vec![(5001, 6001), (3001, 4001)], "most recent block first");
    // Filling the first hole: ACK at once, remaining block reported.
    let mut s2 = s1;
    s2.seq = 2001;
    h.feed(&s2);
    let o = h.out();
    assert_eq!((o[0].ack, o[0].sack.clone()), (Some(4001), vec![(5001, 6001)]));
    assert_eq!(h.s.recv_queue(c), 3000);
    // Window reflects buffered bytes (scale 7: room for auto-tuning up to 6 MiB).
    assert_eq!(o[0].window as usize, (256 * 1024 - 3000) >> 7);
}

#[test]
fn three_duplicate_acks_trigger_fast_retransmit() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    let data = vec![1u8; 10 * 1460];
    assert_eq!(h.s.send(h.now, c, &data), Ok(data.len()));
    let o = h.out();
    assert_eq!(o.len(), 10, "initial window of 10 segments");
    assert!(o.iter().all(|s| s.len == 1460));
    let seq2 = iss.wrapping_add(1 + 1460);
    // Segment 2 lost: one new ACK then three duplicates (each for a later segment).
    h.now += Duration::from_millis(10);
    h.feed(&h.seg(1001, Some(seq2), 0));
    let o = h.out();
    assert!(o.iter().all(|s| s.seq != seq2));
    for i in 0..3 {
        h.feed(&h.seg(1001, Some(seq2), 0));
        let o = h.out();
        if i < 2 {
            assert!(o.iter().all(|s| s.seq != seq2), "no retransmission before the third duplicate");
        } else {
            assert_eq!(o[0].seq, seq2, "fast retransmit of the missing segment: {o:?}");
            assert_eq!(o[0].len, 1460);
        }
    }
    let i = h.s.info(c).unwrap();
    assert_eq!((i.fast_retransmits, i.retransmits, i.rto_expirations), (1, 1, 0));
    assert!(i.ssthresh < 15 * 1460);
}

#[test]
fn rto_backs_off_exponentially_then_aborts() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.send(h.now, c, b"hello").unwrap();
    let t0 = h.now;
    let o = h.out();
    assert_eq!((o[0].seq, o[0].len), (iss + 1, 5));
    let o = h.advance(Duration::from_millis(924_500));
    let times: Vec<u64> = o.iter().filter(|s| s.len == 5).map(|s| (s.at - t0).as_millis() as u64).collect();
    // RTO 200 ms (the handshake RTT sample was ~0) doubling, capped at 120 s (Linux
    // TCP_RTO_MAX); 15 retries (tcp_retries2), then the abort at the 16th timeout: 924.6 s,
    // Linux's figure for tcp_retries2 = 15.
    let mut expect = Vec::new();
    let (mut t, mut r) = (0u64, 200u64);
    for _ in 0..15 {
        t += r;
        expect.push(t);
        r = (r * 2).min(120_000);
    }
    assert_eq!(times, expect);
    assert_eq!(h.s.state(c), Ok(TcpState::Established));
    h.advance(Duration::from_millis(200));
    assert_eq!(h.s.take_error(c), Some(Error::TimedOut));
    assert_eq!(h.s.state(c), Ok(TcpState::Closed));
    assert_eq!(h.s.info(c).unwrap().rto_expirations, 16);
}

#[test]
fn zero_window_probes_back_off() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    // The peer acknowledges our (empty) state with a zero window.
    let mut z = h.seg(1001, Some(iss + 1), 0);
    z.window = 0;
    h.feed(&z);
    h.s.send(h.now, c, &[5u8; 3000]).unwrap();
    let t0 = h.now;
    let o = h.advance(Duration::from_millis(1700));
    assert!(o.iter().all(|s| s.len == 0), "no data into a zero window");
    let probes: Vec<_> = o.iter().map(|s| ((s.at - t0).as_millis(), s.seq)).collect();
    assert_eq!(probes, vec![(200, iss), (600, iss), (1400, iss)], "probes at snd_una-1 with backoff");
    // The window opens: data flows at once.
    h.feed(&h.seg(1001, Some(iss + 1), 0));
    let o = h.out();
    // Minshall's Nagle: the tail of the write goes at once (no small segment is in flight).
    assert_eq!(o.iter().map(|s| s.len).collect::<Vec<_>>(), vec![1460, 1460, 80]);
}

#[test]
fn challenge_acks_for_syn_and_bad_ack() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    // SYN on an established connection (RFC 5961 4.2): ACK, not RST, connection kept.
    h.feed(&h.seg(1500, None, flags::SYN));
    let o = h.out();
    assert_eq!((o[0].flags, o[0].seq, o[0].ack), (0, iss + 1, Some(1001)));
    // Challenge ACKs are rate-limited (one per 500 ms): a second SYN at once gets nothing.
    h.feed(&h.seg(1600, None, flags::SYN));
    assert!(h.out().is_empty());
    // ACK for unsent data is answered with an ACK.
    h.now += Duration::from_millis(500);
    h.feed(&h.seg(1001, Some(iss + 100), 0));
    let o = h.out();
    assert_eq!((o[0].flags, o[0].ack), (0, Some(1001)));
    assert_eq!(h.s.state(c), Ok(TcpState::Established));
    h.feed(&h.seg(1001, None, flags::RST));
    assert_eq!(h.s.state(c), Ok(TcpState::Closed));
    assert_eq!(h.s.take_error(c), Some(Error::ConnectionReset));
}

#[test]
fn time_wait_acks_fin_retransmission_then_expires() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.close(h.now, c);
    let o = h.out();
    assert_eq!((o[0].flags, o[0].seq), (flags::FIN, iss + 1));
    // Peer ACKs our FIN and sends its own.
    h.feed(&h.seg(1001, Some(iss + 2), flags::FIN));
    let o = h.out();
    assert_eq!((o[0].flags, o[0].ack), (0, Some(1002)));
    h.now += Duration::from_secs(30);
    // Retransmitted FIN: ACK again, 2*MSL restarts.
    h.feed(&h.seg(1001, Some(iss + 2), flags::FIN));
    assert_eq!(h.out()[0].ack, Some(1002));
    let o = h.advance(Duration::from_secs(59));
    assert!(o.is_empty());
    assert_eq!(h.s.control_blocks(), 2, "listener + TIME-WAIT");
    h.advance(Duration::from_secs(2));
    assert_eq!(h.s.control_blocks(), 1);
    // Afterwards the tuple is closed: RST.
    h.feed(&h.seg(1002, Some(iss + 2), 0));
    assert_eq!(h.out()[0].flags, flags::RST);
}

#[test]
fn time_wait_ignores_rst() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.shutdown(h.now, c, Shutdown::Write).unwrap();
    h.out();
    h.feed(&h.seg(1001, Some(iss + 2), flags::FIN));
    h.out();
    // The socket is CLOSED, its TIME-WAIT a record (Linux tcp_time_wait).
    assert_eq!(h.s.state(c), Ok(TcpState::Closed));
    assert_eq!(h.s.time_wait_count(), 1);
    // A duplicate FIN is ACKed; the peer (already closed) answers RST: RFC 1337 says keep waiting.
    h.feed(&h.seg(1002, None, flags::RST));
    assert_eq!(h.s.time_wait_count(), 1);
    assert!(h.out().is_empty());
    h.feed(&h.seg(1001, Some(iss + 2), flags::FIN));
    assert_eq!(h.out()[0].ack, Some(1002), "the record ACKs a retransmitted FIN");
}

#[test]
fn acks_after_an_rto_carry_snd_max() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.send(h.now, c, &[1u8; 3 * 1460]).unwrap();
    assert_eq!(h.out().len(), 3);
    let o = h.advance(Duration::from_millis(250)); // RTO: go back to snd_una
    assert_eq!((o.len(), o[0].seq), (1, iss + 1));
    // Data from the peer is ACKed with SEQ = SND.MAX, which the peer finds acceptable.
    let mut d = h.seg(1001, Some(iss + 1), flags::PSH);
    d.payload = b"x";
    h.feed(&d);
    h.feed(&h.seg(1001, None, flags::SYN)); // challenge ACK: immediate
    let o = h.out();
    assert_eq!(o.last().unwrap().seq, iss + 1 + 3 * 1460, "{o:?}");
}

#[test]
fn paws_drops_old_duplicates_only() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(true, true);
    let mut d = h.seg(1001, Some(iss + 1), flags::PSH);
    d.payload = b"new";
    d.timestamp = Some((1000, 0));
    h.feed(&d);
    assert_eq!(h.s.recv_queue(c), 3);
    // An old duplicate (TSval far behind TS.Recent) carrying new sequence space is dropped.
    let mut old = d;
    old.seq = 1004;
    old.payload = b"old";
    old.timestamp = Some((900, 0));
    h.feed(&old);
    assert_eq!(h.s.recv_queue(c), 3);
    // One tick of reordering is tolerated.
    old.timestamp = Some((999, 0));
    h.feed(&old);
    assert_eq!(h.s.recv_queue(c), 6);
}

#[test]
fn simultaneous_open_segment_by_segment() {
    let mut h = H::new();
    let c = h.s.socket();
    h.s.bind(c, IpEndpoint::new(US, 80)).unwrap();
    h.s.connect(h.now, c, IpEndpoint::new(PEER, PP)).unwrap();
    let o = h.out();
    let iss = o[0].seq;
    assert_eq!((o[0].flags, o[0].ack), (flags::SYN, None));
    // The peer's own SYN crosses ours: SYN-RECEIVED, SYN-ACK with the same ISN.
    let mut syn = h.seg(5000, None, flags::SYN);
    syn.mss = Some(1460);
    h.feed(&syn);
    assert_eq!(h.s.state(c), Ok(TcpState::SynReceived));
    let o = h.out();
    assert_eq!((o[0].flags, o[0].seq, o[0].ack), (flags::SYN, iss, Some(5001)));
    // The peer's SYN-ACK (its SYN repeated, our SYN acknowledged) completes it.
    h.feed(&h.seg(5000, Some(iss + 1), flags::SYN));
    assert_eq!(h.s.state(c), Ok(TcpState::Established));
    assert!(h.s.readiness(c).writable);
}

#[test]
fn simultaneous_close_segment_by_segment() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    h.s.shutdown(h.now, c, Shutdown::Write).unwrap();
    let o = h.out();
    assert_eq!((o[0].flags, o[0].seq, o[0].ack), (flags::FIN, iss + 1, Some(1001)));
    // The peer's FIN crosses ours (it has not seen our FIN): CLOSING, and we ACK it.
    h.feed(&h.seg(1001, Some(iss + 1), flags::FIN));
    assert_eq!(h.s.state(c), Ok(TcpState::Closing));
    let o = h.out();
    assert_eq!((o[0].flags, o[0].seq, o[0].ack), (0, iss + 2, Some(1002)));
    // Its ACK of our FIN: TIME-WAIT.
    h.feed(&h.seg(1002, Some(iss + 2), 0));
    assert_eq!(h.s.state(c), Ok(TcpState::TimeWait));
    assert!(h.out().is_empty());
}

#[test]
fn full_backlog_drops_syns_silently() {
    let mut h = H::new();
    let l = h.s.socket();
    h.s.bind(l, IpEndpoint::new(US, 80)).unwrap();
    h.s.listen(l, 1).unwrap();
    h.feed(&h.seg(1000, None, flags::SYN));
    let sa = h.out();
    assert_eq!(sa.len(), 1);
    // Half-open connections do not count against the backlog (they are in the SYN queue).
    let mut syn2 = h.seg(3000, None, flags::SYN);
    syn2.src_port = PP + 1;
    h.feed(&syn2);
    assert_eq!(h.out().len(), 1);
    // A retransmitted SYN gets the SYN-ACK again, at most once per 500 ms.
    h.feed(&h.seg(1000, None, flags::SYN));
    let o = h.out();
    assert_eq!((o.len(), o[0].flags, o[0].ack, o[0].seq), (1, flags::SYN, Some(1001), sa[0].seq));
    h.feed(&h.seg(1000, None, flags::SYN));
    assert!(h.out().is_empty(), "rate-limited");
    h.now += Duration::from_millis(500);
    h.feed(&h.seg(1000, None, flags::SYN));
    assert_eq!(h.out().len(), 1);
    // The first completes; the accept queue (backlog 1) is then full: a new SYN is dropped
    // without an answer (the client retries).
    h.feed(&h.seg(1001, Some(sa[0].seq.wrapping_add(1)), 0));
    assert!(h.s.readiness(l).readable);
    let mut syn3 = h.seg(5000, None, flags::SYN);
    syn3.src_port = PP + 2;
    h.feed(&syn3);
    assert!(h.out().is_empty(), "no SYN-ACK and no RST");
    assert_eq!(h.s.stats().listen_overflows, 1);
}

#[test]
fn fast_retransmit_never_sends_beyond_snd_max() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    let mut w = h.seg(1001, Some(iss + 1), 0);
    w.window = 1000;
    h.feed(&w);
    h.s.set_option(c, TcpOption::NoDelay(true)).unwrap();
    h.s.send(h.now, c, &[1u8; 1000]).unwrap();
    assert_eq!(h.out().iter().map(|s| s.len).sum::<usize>(), 1000);
    h.s.send(h.now, c, &[2u8; 5000]).unwrap(); // queued: the window is full
    assert!(h.out().is_empty());
    h.s.recv(h.now, c, &mut [0u8; 1]).ok();
    // Three duplicate ACKs (same window): the retransmission covers only what was sent.
    for _ in 0..3 {
        h.feed(&w);
    }
    let o = h.out();
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!((o[0].seq, o[0].len), (iss + 1, 1000));
}

#[test]
fn new_syn_reopens_an_orphaned_time_wait() {
    let mut h = H::new();
    let (l, c, iss) = h.established(false, false);
    h.s.close(h.now, c);
    h.out();
    h.feed(&h.seg(1001, Some(iss + 2), flags::FIN));
    h.out();
    assert_eq!(h.s.control_blocks(), 2, "listener + TIME-WAIT");
    // RFC 9293 3.10.7.4 / RFC 6191: a SYN above the old RCV.NXT starts a new incarnation.
    h.now += Duration::from_secs(1);
    h.feed(&h.seg(90_000, None, flags::SYN));
    let o = h.out();
    assert_eq!((o.len(), o[0].flags, o[0].ack), (1, flags::SYN, Some(90_001)), "{o:?}");
    h.feed(&h.seg(90_001, Some(o[0].seq.wrapping_add(1)), 0));
    assert!(h.s.accept(l).is_ok());
    // An old SYN (below RCV.NXT) on a TIME-WAIT gets a (rate-limited) ACK instead.
    let c2 = h.s.accept(l).err();
    assert_eq!(c2, Some(Error::WouldBlock));
}

#[test]
fn a_burst_in_one_poll_gets_an_ack_per_64_kib() {
    let mut h = H::new();
    let (_l, _c, iss) = h.established(false, false);
    let data = vec![3u8; 1460];
    for i in 0..100u32 {
        let mut d = h.seg(1001 + i * 1460, Some(iss + 1), 0);
        d.payload = &data;
        h.feed(&d);
    }
    let o = h.out();
    let acks: Vec<u32> = o.iter().map(|s| s.ack.unwrap().wrapping_sub(1001) / 1460).collect();
    // 45 segments (65,700 bytes) is the first count past 64 KiB.
    assert_eq!(acks, vec![45, 90, 100], "{o:?}");
    // Every ACK's right edge is the same or further right (the window never shrinks).
    let edges: Vec<u32> = o.iter().map(|s| s.ack.unwrap().wrapping_add((s.window as u32) << 3)).collect();
    assert!(edges.windows(2).all(|w| w[1] >= w[0]), "{edges:?}");
    // Segments arriving one per poll are ACKed every second segment.
    let mut n = 0;
    for i in 100..110u32 {
        let mut d = h.seg(1001 + i * 1460, Some(iss + 1), 0);
        d.payload = &data;
        h.feed(&d);
        n += h.out().len();
    }
    assert_eq!(n, 5);
}

#[test]
fn closed_socket_resets_on_new_data_only() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    let mut d = h.seg(1001, Some(iss + 1), flags::PSH);
    d.payload = b"abcd";
    h.feed(&d);
    let mut buf = [0u8; 8];
    assert_eq!(h.s.recv(h.now, c, &mut buf), Ok(4));
    h.s.close(h.now, c);
    let o = h.advance(Duration::from_millis(50));
    assert!(o.iter().any(|s| s.flags == flags::FIN));
    // A retransmission of data already delivered: ACK, no RST.
    h.feed(&d);
    let o = h.out();
    assert!(o.iter().all(|s| s.flags & flags::RST == 0), "{o:?}");
    // New data after close(): RST.
    let mut d2 = d;
    d2.seq = 1005;
    h.feed(&d2);
    let o = h.out();
    assert!(o.iter().any(|s| s.flags & flags::RST != 0), "{o:?}");
    assert_eq!(h.s.control_blocks(), 1);
}

#[test]
fn no_tail_loss_probe_after_an_rto() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(true, true);
    // A second RTT sample (100 ms) after the handshake's ~0: SRTT 12.5 ms, RTO 200 ms.
    h.s.send(h.now, c, b"one").unwrap();
    h.out();
    h.now += Duration::from_millis(100);
    let mut a = h.seg(1001, Some(iss + 4), 0);
    a.timestamp = Some((200, 0));
    h.feed(&a);
    h.out();
    h.s.send(h.now, c, b"two").unwrap();
    let t0 = h.now;
    let o = h.advance(Duration::from_secs(3));
    let times: Vec<u128> = o.iter().filter(|s| s.len == 3).map(|s| (s.at - t0).as_millis()).collect();
    // The original, then RTOs doubling from 200 ms. After the first RTO a PTO (2*SRTT + 200 ms
    // = 225 ms) would fall before the 400 ms backed-off RTO: RFC 8985 7.2 forbids it.
    assert_eq!(times, vec![0, 200, 600, 1400, 3000]);
}

#[test]
fn a_coalesced_super_segment_is_acked_at_once() {
    let mut h = H::new();
    let (_l, _c, iss) = h.established(false, false);
    // One 64 KiB segment (what the TAP delivers after the kernel's GRO/TSO): more than one
    // full segment's worth, so no delayed ACK (Linux __tcp_ack_snd_check).
    let data = vec![9u8; 65000];
    let mut d = h.seg(1001, Some(iss + 1), flags::PSH);
    d.payload = &data;
    h.feed(&d);
    let o = h.out();
    assert_eq!((o.len(), o[0].ack), (1, Some(1001 + 65000)));
    // One small segment still waits for the delayed-ACK timer.
    let mut d2 = h.seg(66001, Some(iss + 1), flags::PSH);
    d2.payload = b"x";
    h.feed(&d2);
    assert!(h.out().is_empty());
}

#[test]
fn a_bad_checksum_is_dropped_unless_the_device_vouched_for_it() {
    let mut h = H::new();
    let r = h.seg(1000, None, flags::SYN);
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut b, PEER, US);
    b[16] ^= 0xff; // the checksum field: e.g. the partial sum the kernel leaves (CHECKSUM_PARTIAL)
    h.s.process(h.now, PEER, US, &b);
    assert!(h.out().is_empty(), "dropped, not answered");
    assert_eq!(h.s.stats().rx_bad_checksum, 1);
    h.s.process_offloaded(h.now, PEER, US, &b, true);
    let o = h.out();
    assert_eq!((o[0].ack, o[0].flags), (Some(1001), flags::RST), "processed: no listener, so a RST");
    assert_eq!(h.s.stats().rx_bad_checksum, 1);
}

#[test]
fn segments_leave_their_checksum_to_the_device_when_asked() {
    let mut h = H::new();
    let (_, c, _) = h.established(false, false);
    h.s.set_tx_partial_checksum(true);
    let now = h.now;
    assert_eq!(h.s.send(now, c, &[9u8; 3000]).unwrap(), 3000);
    h.feed(&h.seg(1, None, flags::SYN)); // and a RST for a closed port (Emitter::send)
    let mut segs = Vec::new();
    h.s.dispatch(now, &mut |src, dst, b| segs.push((src, dst, b.to_vec())));
    assert!(segs.len() >= 3, "two data segments and a RST: {}", segs.len());
    for (src, dst, b) in &segs {
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum(*src, *dst), "not finished");
        let mut done = b.clone();
        TcpPacket::new_unchecked(&mut done[..]).fill_checksum(*src, *dst);
        let full = TcpPacket::new_checked(&done[..]).unwrap().checksum();
        // What the device adds to the field: the sum of header and payload.
        let finished = !crate::wire::checksum::fold(&[crate::wire::checksum::sum(b)]);
        assert_eq!(finished, full);
    }
}
