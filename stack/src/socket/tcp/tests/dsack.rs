//! D-SACK (RFC 2883): a segment received twice is reported once, as the first SACK block of
//! the next ACK, so the sender can tell a spurious retransmission from a loss (Linux
//! tcp_dsack_set, on by default with `net.ipv4.tcp_dsack`).
use super::harness::*;
use super::*;

/// The peer sends `payload` at `seq` (acknowledging our SYN), with timestamp `ts`.
fn data(h: &mut H, iss: u32, seq: u32, payload: &[u8], ts: Option<(u32, u32)>) {
    let mut s = h.seg(seq, Some(iss + 1), flags::PSH);
    s.payload = payload;
    s.timestamp = ts;
    h.feed(&s);
}

/// An established connection (SACK permitted, timestamps as asked) that has received and
/// acknowledged 1001..3001 in two segments.
fn received_two(ts: bool) -> (H, u32, Vec<u8>) {
    let mut h = H::new();
    let (_l, _c, iss) = h.established(true, ts);
    let payload = vec![7u8; 1000];
    for seq in [1001, 2001] {
        data(&mut h, iss, seq, &payload, ts.then_some((102, 0)));
    }
    let o = h.advance(Duration::from_millis(40));
    assert_eq!(o.last().and_then(|o| o.ack), Some(3001));
    assert!(o.iter().all(|o| o.sack.is_empty()));
    (h, iss, payload)
}

#[test]
fn a_whole_duplicate_is_reported_once() {
    let (mut h, iss, p) = received_two(false);
    data(&mut h, iss, 1001, &p, None);
    let o = h.out();
    assert_eq!(o.len(), 1, "a duplicate is answered at once");
    assert_eq!((o[0].ack, o[0].sack.clone()), (Some(3001), vec![(1001, 2001)]));
    // Reported once: the next ACK (new data, then the delayed ACK) carries no block.
    data(&mut h, iss, 3001, &p, None);
    let o = h.advance(Duration::from_millis(40));
    assert_eq!((o.len(), o[0].ack, o[0].sack.len()), (1, Some(4001), 0));
}

#[test]
fn a_partial_duplicate_reports_the_part_below_rcv_nxt() {
    let (mut h, iss, _) = received_two(false);
    // 2501..3501: 2501..3001 was received, 3001..3501 is new.
    data(&mut h, iss, 2501, &[9u8; 1000], None);
    let o = h.out();
    assert_eq!((o.len(), o[0].ack, o[0].sack.clone()), (1, Some(3501), vec![(2501, 3001)]));
}

#[test]
fn an_out_of_order_duplicate_comes_first_then_its_block() {
    let (mut h, iss, p) = received_two(false);
    for seq in [4001, 6001, 4001] {
        data(&mut h, iss, seq, &p, None);
    }
    let o = h.out();
    let last = o.last().unwrap();
    // RFC 2883 4: the duplicate, then the block that holds it, then the others.
    assert_eq!((last.ack, last.sack.clone()), (Some(3001), vec![(4001, 5001), (4001, 5001), (6001, 7001)]));
}

#[test]
fn with_timestamps_the_block_takes_one_of_three() {
    let (mut h, iss, p) = received_two(true);
    for seq in [4001, 6001, 8001] {
        data(&mut h, iss, seq, &p, Some((103, 0)));
    }
    h.out();
    data(&mut h, iss, 1001, &p, Some((104, 0)));
    let o = h.out();
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].sack.len(), 3, "40 bytes of options: timestamps and three blocks");
    assert_eq!(o[0].sack[0], (1001, 2001));
    assert_eq!(o[0].sack[1], (8001, 9001), "the most recent block next");
}

#[test]
fn an_old_duplicate_outside_the_window_edge_is_reported() {
    let (mut h, iss, p) = received_two(false);
    // Move RCV.NXT on (and our last ACK with it), then repeat the very first segment.
    data(&mut h, iss, 3001, &p, None);
    h.advance(Duration::from_millis(40));
    data(&mut h, iss, 1001, &p, None);
    let o = h.out();
    assert_eq!((o.len(), o[0].ack, o[0].sack.clone()), (1, Some(4001), vec![(1001, 2001)]));
}

#[test]
fn no_block_without_sack_permitted() {
    let mut h = H::new();
    let (_l, _c, iss) = h.established(false, false);
    data(&mut h, iss, 1001, &[7u8; 1000], None);
    h.advance(Duration::from_millis(40));
    data(&mut h, iss, 1001, &[7u8; 1000], None);
    let o = h.out();
    assert_eq!((o.len(), o[0].ack, o[0].sack.len()), (1, Some(2001), 0));
}
