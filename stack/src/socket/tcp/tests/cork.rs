//! TCP_CORK (Linux TCP_NAGLE_CORK): segments under the MSS wait for the cork's removal or the
//! persist timer; full segments leave at once.
use super::*;

use super::harness::{Pair, A};

/// Data segments A sent after the first `skip` of the log: their payload lengths.
fn sent_by_a(p: &Pair, skip: usize) -> Vec<usize> {
    p.log.iter().skip(skip).filter(|s| s.src == A).map(|s| s.repr().payload.len()).filter(|&n| n > 0).collect()
}

#[test]
fn cork_holds_small_writes_until_removed() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.set_option(c, TcpOption::Cork(true)).unwrap();
    assert_eq!(p.a.get_option(c, TcpOption::Cork(false)), Ok(TcpOption::Cork(true)));
    let before = p.log.len();
    for i in 0..3u8 {
        p.a.send(p.now, c, &[i; 10]).unwrap();
        p.run_for(Duration::from_millis(20));
    }
    assert_eq!(p.b.recv_queue(s), 0, "nothing in flight, yet corked: held");
    assert!(sent_by_a(&p, before).is_empty());
    p.a.set_option(c, TcpOption::Cork(false)).unwrap();
    p.run_for(Duration::from_millis(20));
    assert_eq!(sent_by_a(&p, before), vec![30], "one segment when the cork comes out");
    assert_eq!(p.b.recv_queue(s), 30);
}

#[test]
fn cork_sends_full_segments_and_the_tail_after_the_persist_timer() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.set_option(c, TcpOption::Cork(true)).unwrap();
    let before = p.log.len();
    let t0 = p.now;
    p.a.send(p.now, c, &[7u8; 3000]).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.recv_queue(s), 2896, "whole segments leave, the 104-byte tail waits");
    assert!(p.run_until(Duration::from_secs(2), |p| p.b.recv_queue(s) == 3000));
    // Linux tcp_probe0_base: max(RTO, 200 ms) after the last ACK left nothing in flight.
    assert!(p.now - t0 >= Duration::from_millis(200), "tail after {:?}", p.now - t0);
    assert!(p.now - t0 < Duration::from_millis(1500), "tail after {:?}", p.now - t0);
    assert_eq!(sent_by_a(&p, before).last(), Some(&104));
}

#[test]
fn cork_overrides_nodelay_and_removing_it_pushes() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.set_option(c, TcpOption::NoDelay(true)).unwrap();
    p.a.set_option(c, TcpOption::Cork(true)).unwrap();
    p.a.send(p.now, c, b"header").unwrap();
    p.run_for(Duration::from_millis(20));
    assert_eq!(p.b.recv_queue(s), 0, "TCP_CORK wins over TCP_NODELAY");
    p.a.send(p.now, c, b"body").unwrap();
    p.a.set_option(c, TcpOption::Cork(false)).unwrap();
    p.run_for(Duration::from_millis(20));
    assert_eq!(p.b.recv_queue(s), 10);
    // Uncorked with TCP_NODELAY: small writes leave one by one again.
    let before = p.log.len();
    p.a.send(p.now, c, b"a").unwrap();
    p.flush();
    p.a.send(p.now, c, b"b").unwrap();
    p.run_for(Duration::from_millis(20));
    assert_eq!(sent_by_a(&p, before), vec![1, 1]);
}

#[test]
fn nagle_holds_after_the_cork_comes_out_while_a_small_segment_is_in_flight() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    let before = p.log.len();
    p.a.send(p.now, c, b"first").unwrap(); // leaves: nothing in flight
    p.flush();
    p.a.set_option(c, TcpOption::Cork(true)).unwrap();
    p.a.send(p.now, c, b"second").unwrap();
    p.a.set_option(c, TcpOption::Cork(false)).unwrap();
    p.flush();
    // Without TCP_NODELAY, removing the cork pushes under Nagle's rule (Linux
    // tcp_push_pending_frames): "second" waits for the ACK of "first".
    assert_eq!(sent_by_a(&p, before), vec![5]);
    p.run_for(Duration::from_millis(100));
    assert_eq!(sent_by_a(&p, before), vec![5, 6]);
    assert_eq!(p.b.recv_queue(s), 11);
}

#[test]
fn cork_is_kept_across_connect_and_inherited_by_accepted_connections() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect_set(80, |p, l| p.b.set_option(l, TcpOption::Cork(true)).unwrap());
    assert_eq!(p.b.get_option(s, TcpOption::Cork(false)), Ok(TcpOption::Cork(true)));
    assert_eq!(p.a.get_option(c, TcpOption::Cork(true)), Ok(TcpOption::Cork(false)));
    let c2 = p.a.socket();
    p.a.set_option(c2, TcpOption::Cork(true)).unwrap();
    p.a.connect(p.now, c2, IpEndpoint::new(super::harness::B, 80)).unwrap();
    assert_eq!(p.a.get_option(c2, TcpOption::Cork(false)), Ok(TcpOption::Cork(true)));
}

#[test]
fn msg_more_holds_the_tail_until_a_write_without_it() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.set_option(c, TcpOption::NoDelay(true)).unwrap();
    let before = p.log.len();
    p.a.set_option(c, TcpOption::More(true)).unwrap();
    p.a.send(p.now, c, b"header").unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.b.recv_queue(s), 0, "MSG_MORE holds a segment under the MSS, TCP_NODELAY or not");
    p.a.send(p.now, c, b"body").unwrap();
    p.a.set_option(c, TcpOption::More(false)).unwrap();
    p.run_for(Duration::from_millis(20));
    assert_eq!(sent_by_a(&p, before), vec![10], "header and body in one segment");
    assert_eq!(p.a.get_option(c, TcpOption::More(true)), Ok(TcpOption::More(false)));
}

#[test]
fn msg_more_tail_leaves_with_the_next_ack_or_the_persist_timer() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    p.a.set_option(c, TcpOption::NoDelay(true)).unwrap();
    // Data in flight: the ACK of the whole segments pushes the tail (Linux
    // tcp_data_snd_check), long before the persist timer.
    let t0 = p.now;
    p.a.set_option(c, TcpOption::More(true)).unwrap();
    p.a.send(p.now, c, &[1u8; 3000]).unwrap();
    assert!(p.run_until(Duration::from_secs(2), |p| p.b.recv_queue(s) == 3000));
    assert!(p.now - t0 < Duration::from_millis(100), "tail after {:?}", p.now - t0);
    // Nothing in flight: the tail waits for the persist timer (Linux tcp_probe0_base).
    p.b.recv(p.now, s, &mut [0u8; 4096]).unwrap();
    p.run_for(Duration::from_millis(50));
    let t1 = p.now;
    p.a.set_option(c, TcpOption::More(true)).unwrap();
    p.a.send(p.now, c, b"tail").unwrap();
    assert!(p.run_until(Duration::from_secs(2), |p| p.b.recv_queue(s) == 4));
    assert!(p.now - t1 >= Duration::from_millis(200), "tail after {:?}", p.now - t1);
}
