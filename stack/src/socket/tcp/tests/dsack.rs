//! D-SACK (RFC 2883): a segment received twice is reported once, as the first SACK block of
//! the next ACK, so the sender can tell a spurious retransmission from a loss (Linux
//! tcp_dsack_set, on by default with `net.ipv4.tcp_dsack`).
use super::harness::*;
use super::*;

/// An established connection (SACK permitted, timestamps as asked) that has received and
/// acknowledged 1001..3001 in two segments.
fn received_two(ts: bool) -> (H, u32, Vec<u8>) {
    let mut h = H::new();
    let (_l, _c, iss) = h.established(true, ts);
    let data = vec![7u8; 1000];
    for seq in [1001, 2001] {
        let mut s = h.seg(seq, Some(iss + 1), flags::PSH);
        s.payload = &data;
        s.timestamp = ts.then_some((102, 0));
        h.feed(&s);
    }
    let o = h.advance(Duration::from_millis(40));
    assert_eq!(o.last().and_then(|o| o.ack), Some(3001));
    assert!(o.iter().all(|o| o.sack.is_empty()));
    (h, iss, data)
}

#[test]
fn a_whole_duplicate_is_reported_once() {
    let (mut h, iss, data) = received_two(false);
    let mut dup = h.seg(1001, Some(iss + 1), flags::PSH);
    dup.payload = &data;
    h.feed(&dup);
    let o = h.out();
    assert_eq!(o.len(), 1, "a duplicate is answered at once");
    assert_eq!((o[0].ack, o[0].sack.clone()), (Some(3001), vec![(1001, 2001)]));
    // Reported once: the next ACK (new data, then the delayed ACK) carries no block.
    let mut s = h.seg(3001, Some(iss + 1), flags::PSH);
    s.payload = &data;
    h.feed(&s);
    let o = h.advance(Duration::from_millis(40));
    assert_eq!((o.len(), o[0].ack, o[0].sack.len()), (1, Some(4001), 0));
}

#[test]
fn a_partial_duplicate_reports_the_part_below_rcv_nxt() {
    let (mut h, iss, _) = received_two(false);
    // 2501..3501: 2501..3001 was received, 3001..3501 is new.
    let data = vec![9u8; 1000];
    let mut s = h.seg(2501, Some(iss + 1), flags::PSH);
    s.payload = &data;
    h.feed(&s);
    let o = h.out();
    assert_eq!((o.len(), o[0].ack, o[0].sack.clone()), (1, Some(3501), vec![(2501, 3001)]));
}

#[test]
fn an_out_of_order_duplicate_comes_first_then_its_block() {
    let (mut h, iss, data) = received_two(false);
    for seq in [4001, 6001, 4001] {
        let mut s = h.seg(seq, Some(iss + 1), flags::PSH);
        s.payload = &data;
        h.feed(&s);
    }
    let o = h.out();
    let last = o.last().unwrap();
    // RFC 2883 4: the duplicate, then the block that holds it, then the others.
    assert_eq!((last.ack, last.sack.clone()), (Some(3001), vec![(4001, 5001), (4001, 5001), (6001, 7001)]));
}

#[test]
fn with_timestamps_the_block_takes_one_of_three() {
    let (mut h, iss, data) = received_two(true);
    for seq in [4001, 6001, 8001] {
        let mut s = h.seg(seq, Some(iss + 1), flags::PSH);
        s.payload = &data;
        s.timestamp = Some((103, 0));
        h.feed(&s);
    }
    h.out();
    let mut dup = h.seg(1001, Some(iss + 1), flags::PSH);
    dup.payload = &data;
    dup.timestamp = Some((104, 0));
    h.feed(&dup);
    let o = h.out();
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].sack.len(), 3, "40 bytes of options: timestamps and three blocks");
    assert_eq!(o[0].sack[0], (1001, 2001));
    assert_eq!(o[0].sack[1], (8001, 9001), "the most recent block next");
}

#[test]
fn an_old_duplicate_outside_the_window_edge_is_reported() {
    let (mut h, iss, data) = received_two(false);
    // Move RCV.NXT on (and our last ACK with it), then repeat the very first segment.
    let mut s = h.seg(3001, Some(iss + 1), flags::PSH);
    s.payload = &data;
    h.feed(&s);
    h.advance(Duration::from_millis(40));
    let mut dup = h.seg(1001, Some(iss + 1), flags::PSH);
    dup.payload = &data;
    h.feed(&dup);
    let o = h.out();
    assert_eq!((o.len(), o[0].ack, o[0].sack.clone()), (1, Some(4001), vec![(1001, 2001)]));
}

#[test]
fn no_block_without_sack_permitted() {
    let mut h = H::new();
    let (_l, _c, iss) = h.established(false, false);
    let data = vec![7u8; 1000];
    let mut s = h.seg(1001, Some(iss + 1), flags::PSH);
    s.payload = &data;
    h.feed(&s);
    h.advance(Duration::from_millis(40));
    h.feed(&s);
    let o = h.out();
    assert_eq!((o.len(), o[0].ack, o[0].sack.len()), (1, Some(2001), 0));
}
