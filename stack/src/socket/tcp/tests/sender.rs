//! Regression tests for the sender of issue 11: SACK reneging, sender SWS avoidance,
//! congestion window validation, RACK, timestamps and the crossed SYN-ACK.
use crate::wire::ip::IpEndpoint;

use super::harness::{Out, H, PEER, PP, US};
use super::*;
use crate::wire::tcp::flags;

const MSS: u32 = 1460;

fn data_segs(o: &[Out]) -> Vec<(u32, usize)> {
    o.iter().filter(|s| s.len > 0).map(|s| (s.seq, s.len)).collect()
}

#[test]
fn sacked_data_is_resent_after_an_rto_if_the_receiver_reneged() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(true, false);
    h.s.send(h.now, c, &[3u8; 10 * MSS as usize]).unwrap();
    assert_eq!(h.out().len(), 10);
    let s = |k: u32| iss + 1 + k * MSS;
    // Segment 0 lost, 1..10 SACKed; then silence until the retransmission timer fires.
    let mut a = h.seg(1001, Some(s(0)), 0);
    a.sack = [Some((s(1), s(10))), None, None, None];
    h.feed(&a);
    let mut rto = 0;
    while rto == 0 {
        h.advance(Duration::from_millis(50));
        rto = h.s.info(c).unwrap().rto_expirations;
    }
    // The receiver reneged (RFC 2018 8): it acknowledges segment 0 and reports no SACK.
    h.now += Duration::from_millis(10);
    h.feed(&h.seg(1001, Some(s(1)), 0));
    let o = h.out();
    assert!(data_segs(&o).contains(&(s(1), MSS as usize)), "segment 1 resent at once: {o:?}");
}

#[test]
fn no_runt_into_a_small_window_opening() {
    let mut h = H::new();
    let (_l, c, iss) = h.established(false, false);
    let s = |k: u32| iss + 1 + k * MSS;
    h.s.send(h.now, c, &[3u8; 40 * MSS as usize]).unwrap();
    assert_eq!(h.out().len(), 10);
    // Nine segments acknowledged; the window's right edge moves only 100 bytes past SND.MAX.
    h.now += Duration::from_millis(10);
    let mut a = h.seg(1001, Some(s(9)), 0);
    a.window = (MSS + 100) as u16;
    h.feed(&a);
    let o = h.out();
    assert!(data_segs(&o).is_empty(), "RFC 9293 3.8.6.2.1: no 100-byte segment: {o:?}");
    // Everything acknowledged, window 1560: one full segment, not the 100-byte tail.
    h.now += Duration::from_millis(10);
    let mut a = h.seg(1001, Some(s(10)), 0);
    a.window = (MSS + 100) as u16;
    h.feed(&a);
    assert_eq!(data_segs(&h.out()), vec![(s(10), MSS as usize)]);
    // Acknowledged with a 100-byte window and nothing in flight: nothing at once, then the
    // override (persist) timer sends what fits.
    h.now += Duration::from_millis(10);
    let mut a = h.seg(1001, Some(s(11)), 0);
    a.window = 100;
    h.feed(&a);
    assert!(data_segs(&h.out()).is_empty());
    let o = h.advance(Duration::from_secs(1));
    assert_eq!(data_segs(&o)[0], (s(11), 100), "{o:?}");
}

#[test]
fn ts_recent_follows_last_ack_sent_and_valid_segments_only() {
    let mut h = H::new();
    let (_l, _c, iss) = h.established(true, true);
    // Two small segments before our delayed ACK: RFC 7323 4.3 echoes the earlier TSval
    // (SEG.SEQ <= Last.ACK.sent), so the peer's RTT sample covers the delay.
    let mut d = h.seg(1001, Some(iss + 1), flags::PSH);
    d.payload = &[1u8; 100];
    d.timestamp = Some((200, 0));
    h.feed(&d);
    let mut d2 = h.seg(1101, Some(iss + 1), flags::PSH);
    d2.payload = &[2u8; 100];
    d2.timestamp = Some((300, 0));
    h.feed(&d2);
    assert!(h.out().is_empty());
    let o = h.advance(Duration::from_millis(100));
    assert_eq!((o.len(), o[0].ack, o[0].ts.map(|t| t.1)), (1, Some(1201), Some(200)), "{o:?}");
    // An in-window segment that fails validation (ACK of unsent data) does not move TS.Recent.
    h.now += Duration::from_secs(1);
    let mut bad = h.seg(1201, Some(iss + 5000), 0);
    bad.timestamp = Some((900_000, 0));
    h.feed(&bad);
    let o = h.out();
    assert_eq!(o[0].ts.map(|t| t.1), Some(200), "the challenge ACK echoes the last valid TSval: {o:?}");
    let mut ok = h.seg(1201, Some(iss + 1), 0);
    ok.timestamp = Some((400, 0));
    ok.payload = b"x";
    h.feed(&ok);
    assert_eq!(h.advance(Duration::from_millis(100))[0].ts.map(|t| t.1), Some(400));
}

#[test]
fn crossed_syn_ack_window_is_not_scaled() {
    let mut h = H::new();
    let c = h.s.socket();
    h.s.bind(c, IpEndpoint::new(US, 80)).unwrap();
    h.s.connect(h.now, c, IpEndpoint::new(PEER, PP)).unwrap();
    let iss = h.out()[0].seq;
    let mut syn = h.seg(5000, None, flags::SYN);
    syn.mss = Some(1460);
    syn.window_scale = Some(7);
    h.feed(&syn);
    h.out();
    // The peer's SYN-ACK: its window field is never scaled (RFC 7323 2.2).
    let mut sa = h.seg(5000, Some(iss + 1), flags::SYN);
    sa.window = 1000;
    sa.window_scale = Some(7);
    sa.mss = Some(1460);
    h.feed(&sa);
    assert_eq!(h.s.state(c), Ok(TcpState::Established));
    assert_eq!(h.s.info(c).unwrap().snd_wnd, 1000);
}

/// Acknowledges everything sent (an ACK per two segments), one round trip (10 ms) at a time,
/// until nothing more is sent. Returns the largest flight seen (segments).
fn ack_every_flight(h: &mut H) -> usize {
    let mut most = 0;
    let mut flight = data_segs(&h.out());
    while !flight.is_empty() {
        most = most.max(flight.len());
        h.now += Duration::from_millis(10);
        let mut next = Vec::new();
        for (i, &(seq, len)) in flight.iter().enumerate() {
            if i % 2 == 1 || i + 1 == flight.len() {
                h.feed(&h.seg(1001, Some(seq.wrapping_add(len as u32)), 0));
                next.extend(data_segs(&h.out()));
            }
        }
        flight = next;
    }
    most
}

#[test]
fn cwnd_does_not_grow_while_the_application_limits_sending() {
    let mut h = H::new();
    let (_l, c, _iss) = h.established(false, false);
    let iw = h.s.info(c).unwrap().cwnd;
    for _ in 0..40 {
        h.s.send(h.now, c, &[1u8; 500]).unwrap();
        ack_every_flight(&mut h);
        h.now += Duration::from_millis(40);
    }
    // RFC 7661 / Linux tcp_is_cwnd_limited: 500 bytes in flight never tested a 10-segment cwnd.
    assert_eq!(h.s.info(c).unwrap().cwnd, iw);
    // Bulk data does grow it.
    h.s.send(h.now, c, &vec![2u8; 100 * MSS as usize]).unwrap();
    ack_every_flight(&mut h);
    assert!(h.s.info(c).unwrap().cwnd > 2 * iw, "{:?}", h.s.info(c));
}

#[test]
fn cwnd_restarts_after_idle() {
    let mut h = H::new();
    let (_l, c, _iss) = h.established(false, false);
    h.s.send(h.now, c, &vec![2u8; 200 * MSS as usize]).unwrap();
    assert!(ack_every_flight(&mut h) > 30);
    // Idle for longer than an RTO (RFC 5681 4.1): the next burst starts from the initial window.
    h.now += Duration::from_secs(5);
    h.s.send(h.now, c, &vec![3u8; 100 * MSS as usize]).unwrap();
    assert_eq!(data_segs(&h.out()).len(), 10);
}

/// An established SACK connection (no timestamps) whose handshake took `rtt`.
fn established_rtt(h: &mut H, rtt: Duration) -> (TcpHandle, u32) {
    let l = h.s.socket();
    h.s.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
    h.s.listen(l, 4).unwrap();
    let mut syn = h.seg(1000, None, flags::SYN);
    syn.mss = Some(1460);
    syn.window_scale = Some(0);
    syn.sack_permitted = true;
    h.feed(&syn);
    let iss = h.out()[0].seq;
    h.now += rtt;
    h.feed(&h.seg(1001, Some(iss + 1), 0));
    (h.s.accept(l).unwrap(), iss)
}

#[test]
fn rack_waits_rack_rtt_plus_a_quarter_of_min_rtt() {
    let mut h = H::new();
    let (c, iss) = established_rtt(&mut h, Duration::from_millis(20));
    // Round trips of 100 ms: SRTT near 90 ms, min_RTT 20 ms.
    let mut una = iss + 1;
    for _ in 0..16 {
        h.s.send(h.now, c, &[1u8; 100]).unwrap();
        h.out();
        h.now += Duration::from_millis(100);
        una += 100;
        h.feed(&h.seg(1001, Some(una), 0));
        h.out();
    }
    h.s.send(h.now, c, &[2u8; 2 * MSS as usize]).unwrap();
    let t0 = h.now;
    assert_eq!(h.out().len(), 2);
    // The second segment is SACKed after 100 ms: the first is lost once RACK.rtt (100 ms) +
    // min_RTT / 4 (5 ms) passed since it was sent (RFC 8985 6.2), not 1.25 SRTT.
    h.now += Duration::from_millis(100);
    let mut a = h.seg(1001, Some(una), 0);
    a.sack = [Some((una + MSS, una + 2 * MSS)), None, None, None];
    h.feed(&a);
    let o = h.advance(Duration::from_millis(50));
    let rexmit: Vec<u64> = o.iter().filter(|s| s.seq == una).map(|s| (s.at - t0).as_millis() as u64).collect();
    assert_eq!(rexmit, vec![105], "{o:?}");
}

#[test]
fn rack_ignores_an_ambiguous_ack_of_a_retransmission() {
    let mut h = H::new();
    let (c, iss) = established_rtt(&mut h, Duration::from_millis(100));
    let s = |k: u32| iss + 1 + k * MSS;
    h.s.send(h.now, c, &[3u8; 4 * MSS as usize]).unwrap();
    let t0 = h.now;
    assert_eq!(h.out().len(), 4);
    // The tail loss probe (2 SRTT) resends the last segment.
    let o = h.advance(Duration::from_millis(200));
    assert_eq!(data_segs(&o), vec![(s(3), MSS as usize)], "{o:?}");
    // 5 ms later (less than min_RTT) an ACK SACKs it: that is the original arriving, so it
    // says nothing about the third segment, which is only delayed (RFC 8985 6.2 step 2).
    h.now = t0 + Duration::from_millis(205);
    let mut a = h.seg(1001, Some(s(2)), 0);
    a.sack = [Some((s(3), s(4))), None, None, None];
    h.feed(&a);
    let o = h.advance(Duration::from_millis(5));
    assert!(data_segs(&o).is_empty(), "no spurious retransmission of the delayed segment: {o:?}");
    h.feed(&h.seg(1001, Some(s(4)), 0));
    assert_eq!(h.s.info(c).unwrap().fast_retransmits, 0);
}

/// Four segments; the ACK at +100 ms leaves the last two outstanding; the tail loss probe
/// resends the last one, whose ACK then comes. Returns (conn, end of the probe).
fn tail_probe_answered(h: &mut H) -> (TcpHandle, u32) {
    let (_l, c, iss) = h.established(true, false);
    let s = |k: u32| iss + 1 + k * MSS;
    h.s.send(h.now, c, &[3u8; 4 * MSS as usize]).unwrap();
    assert_eq!(h.out().len(), 4);
    h.now += Duration::from_millis(100);
    h.feed(&h.seg(1001, Some(s(2)), 0));
    let o = h.advance(Duration::from_millis(150));
    assert_eq!(data_segs(&o), vec![(s(3), MSS as usize)], "the probe: {o:?}");
    h.feed(&h.seg(1001, Some(s(4)), 0));
    h.out();
    (c, s(4))
}

#[test]
fn a_loss_repaired_by_the_tail_loss_probe_reduces_cwnd() {
    let mut h = H::new();
    let (c, end) = tail_probe_answered(&mut h);
    assert_eq!(h.s.info(c).unwrap().ssthresh, u32::MAX);
    // No duplicate ACK for the probe followed: the original was lost (RFC 8985 7.4.3).
    h.s.send(h.now, c, &[4u8; 100]).unwrap();
    h.out();
    h.now += Duration::from_millis(10);
    h.feed(&h.seg(1001, Some(end + 100), 0));
    let i = h.s.info(c).unwrap();
    assert!(i.ssthresh < u32::MAX && i.cwnd <= i.ssthresh, "{i:?}");
}

#[test]
fn a_redundant_tail_loss_probe_does_not_reduce_cwnd() {
    let mut h = H::new();
    let (c, end) = tail_probe_answered(&mut h);
    // The duplicate ACK the probe itself brings: original and probe both arrived.
    h.feed(&h.seg(1001, Some(end), 0));
    h.s.send(h.now, c, &[4u8; 100]).unwrap();
    h.out();
    h.now += Duration::from_millis(10);
    h.feed(&h.seg(1001, Some(end + 100), 0));
    assert_eq!(h.s.info(c).unwrap().ssthresh, u32::MAX);
}

#[test]
fn a_trimmed_record_left_wholly_sacked_is_marked_sacked() {
    // A middlebox resegmented: the receiver SACKs the second half of segment 0, then a
    // cumulative ACK covers its first half. What is left of segment 0 is SACKed (the test build
    // checks every record's mark against the scoreboard after each ACK) and is not resent when
    // segment 1 is repaired (fast retransmit starts at the first hole, RFC 6675 NextSeg).
    let mut h = H::new();
    let (c, iss) = established_rtt(&mut h, Duration::from_millis(20));
    let s = |k: u32| iss + 1 + k * MSS;
    h.s.send(h.now, c, &[4u8; 4 * MSS as usize]).unwrap();
    assert_eq!(h.out().len(), 4);
    let half = s(0) + MSS / 2;
    let mut a = h.seg(1001, Some(s(0)), 0);
    a.sack = [Some((half, s(1))), Some((s(2), s(4))), None, None];
    h.feed(&a);
    let mut a = h.seg(1001, Some(half), 0);
    a.sack = [Some((half, s(1))), Some((s(2), s(4))), None, None];
    h.feed(&a);
    let o = h.advance(Duration::from_millis(100));
    // Once: the retransmission is not lost again for lying below the highest SACK.
    assert_eq!(data_segs(&o), vec![(s(1), MSS as usize)], "only the hole, once: {o:?}");
}
