//! Regression tests for the sender of issue 11: SACK reneging, sender SWS avoidance,
//! congestion window validation, RACK, timestamps and the crossed SYN-ACK.
use std::net::SocketAddrV4;

use super::tests_segments::{Out, H, PEER, PP, US};
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
    h.s.bind(c, SocketAddrV4::new(US, 80)).unwrap();
    h.s.connect(h.now, c, SocketAddrV4::new(PEER, PP)).unwrap();
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
