//! The ACK that completes an active open (`TcpConfig::handshake_ack_hold`): sent at once by
//! default; held, it leaves with the program's first bytes, or alone when the hold ends.
use super::harness::{Out, H, PEER, US};
use super::*;
use crate::wire::tcp::flags;

const HOLD: Duration = Duration::from_micros(50);

/// A connection from us to PEER:5000 after the peer's SYN-ACK; returns (handle, our iss).
fn syn_acked(h: &mut H) -> (TcpHandle, u32) {
    syn_acked_from(h, 5001)
}

fn syn_acked_from(h: &mut H, port: u16) -> (TcpHandle, u32) {
    let c = h.socket();
    h.bind(c, IpEndpoint::new(US, port)).unwrap();
    h.s.connect(h.now, c, IpEndpoint::new(PEER, 5000)).unwrap();
    let syn = h.out();
    assert_eq!(syn.len(), 1);
    let iss = syn[0].seq;
    let sa = TcpRepr {
        src_port: 5000,
        dst_port: port,
        seq: 7000,
        ack: Some(iss.wrapping_add(1)),
        flags: flags::SYN | flags::ACK,
        window: 65535,
        mss: Some(1460),
        ..TcpRepr::default()
    };
    h.feed(&sa);
    assert_eq!(h.s.state(c), Ok(TcpState::Established), "connect() completes at the SYN-ACK");
    (c, iss)
}

fn held() -> H {
    let mut c = TcpConfig::new(US, 1500);
    c.isn_secret = [5; 16];
    c.handshake_ack_hold = HOLD;
    H::with(c)
}

#[test]
fn by_default_the_third_segment_leaves_at_once() {
    let mut h = H::new();
    let (_c, iss) = syn_acked(&mut h);
    let o = h.out();
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!((o[0].seq, o[0].ack, o[0].len), (iss.wrapping_add(1), Some(7001), 0));
}

#[test]
fn held_ack_rides_on_the_first_data() {
    let mut h = held();
    let (c, iss) = syn_acked(&mut h);
    assert!(h.out().is_empty(), "the ACK waits for data");
    assert_eq!(h.s.poll_at(h.now), Some(h.now + HOLD), "but no longer than the hold");
    h.now += Duration::from_micros(10);
    h.s.send(h.now, c, b"GET").unwrap();
    let o = h.out();
    assert_eq!(o.len(), 1, "one segment: data and ACK together: {o:?}");
    assert_eq!((o[0].seq, o[0].ack, o[0].len), (iss.wrapping_add(1), Some(7001), 3));
    // Nothing else owed: no bare ACK follows when the hold would have ended.
    let later: Vec<Out> = h.advance(Duration::from_micros(100));
    assert!(later.is_empty(), "{later:?}");
}

#[test]
fn held_ack_leaves_alone_when_the_program_waits_for_the_server() {
    let mut h = held();
    let (_c, iss) = syn_acked(&mut h);
    let t0 = h.now;
    let o = h.advance(Duration::from_millis(1));
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!((o[0].seq, o[0].ack, o[0].len, o[0].at - t0), (iss.wrapping_add(1), Some(7001), 0, HOLD));
}

#[test]
fn a_peer_that_speaks_first_is_remembered() {
    let mut h = held();
    let mut iss = 0;
    // The program waits for the server's banner, three times: each hold ends with no data.
    for port in 6001..6004 {
        let (c, i) = syn_acked_from(&mut h, port);
        iss = i;
        let o = h.advance(Duration::from_millis(1));
        assert_eq!(o.len(), 1, "{o:?}");
        h.s.close(h.now, c);
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(h.s.stats().held_acks_expired, 3);
    // The next connection to the same peer: its ACK leaves at once.
    let c2 = h.socket();
    h.bind(c2, IpEndpoint::new(US, 5002)).unwrap();
    h.s.connect(h.now, c2, IpEndpoint::new(PEER, 5000)).unwrap();
    let iss2 = h.out()[0].seq;
    assert_ne!(iss2, iss);
    let sa = TcpRepr {
        src_port: 5000,
        dst_port: 5002,
        seq: 9000,
        ack: Some(iss2.wrapping_add(1)),
        flags: flags::SYN | flags::ACK,
        window: 65535,
        ..TcpRepr::default()
    };
    h.feed(&sa);
    let o = h.out();
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!((o[0].ack, o[0].len), (Some(9001), 0));
}

#[test]
fn a_peer_that_spoke_first_is_tried_again_later() {
    let mut h = held();
    for port in 6001..6004 {
        let (c, _) = syn_acked_from(&mut h, port);
        h.advance(Duration::from_millis(1));
        h.s.close(h.now, c);
        h.advance(Duration::from_millis(1));
    }
    assert_eq!(h.s.stats().held_acks_expired, 3);
    h.advance(Duration::from_secs(2));
    let (_c2, _) = syn_acked_from(&mut h, 5003);
    assert!(h.out().is_empty(), "held again once the peer is forgotten");
}

#[test]
fn one_slow_program_does_not_stop_the_hold() {
    let mut h = held();
    for port in [6001, 6002, 6004, 6005] {
        // Twice no data within the hold, then data: the count starts again.
        let (c, _) = syn_acked_from(&mut h, port);
        if port == 6004 {
            h.s.send(h.now, c, b"x").unwrap();
        }
        h.advance(Duration::from_millis(1));
        h.s.close(h.now, c);
        h.advance(Duration::from_millis(1));
    }
    let (_c, _) = syn_acked_from(&mut h, 6006);
    assert!(h.out().is_empty(), "still held: {:?}", h.s.stats());
}
