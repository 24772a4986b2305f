//! `send_with` / `recv_with` (issue 12): the caller writes into the send ring and reads from
//! the receive ring in place. The ring wraps (the space or the data comes as two slices), the
//! caller takes less than offered or nothing, and the send ring still grows on demand.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::harness::{pattern, Pair, B};
use super::*;

/// A connection from A to B whose receive buffer at B is `rcvbuf`; returns (a_conn, b_conn).
fn connect_with_rcvbuf(p: &mut Pair, rcvbuf: usize) -> (TcpHandle, TcpHandle) {
    let l = p.b.socket();
    p.b.set_option(l, TcpOption::RecvBuffer(rcvbuf)).unwrap();
    p.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 80)).unwrap();
    p.b.listen(l, 4).unwrap();
    let c = p.a.socket();
    p.a.connect(p.now, c, IpEndpoint::new(B, 80)).unwrap();
    let mut acc = None;
    assert!(p.run_until(Duration::from_secs(10), |p| {
        acc = acc.or_else(|| p.b.accept(l).ok());
        acc.is_some() && p.a.state(c) == Ok(TcpState::Established)
    }));
    (c, acc.unwrap())
}

/// A sends `d[sent..]` on `c` while B reads `s` into `got`, for at most `rounds` rounds of
/// 20 ms or until all of `d` arrived; returns what B got.
fn send_rest_and_collect(
    p: &mut Pair,
    (c, s): (TcpHandle, TcpHandle),
    d: &[u8],
    mut sent: usize,
    mut got: Vec<u8>,
    rounds: usize,
) -> Vec<u8> {
    for _ in 0..rounds {
        if let Ok(n) = p.a.send(p.now, c, &d[sent..]) {
            sent += n;
        }
        got.extend(drain(p, s));
        p.run_for(Duration::from_millis(20));
        if got.len() == d.len() {
            break;
        }
    }
    got.extend(drain(p, s));
    got
}

/// Everything B can read now, through `recv`.
fn drain(p: &mut Pair, s: TcpHandle) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = p.b.recv(p.now, s, &mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn send_with_grows_on_demand_and_queues_what_was_written() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    assert!(!p.a.socks[&c.0].tx.holds_storage(), "no storage before data");
    // Nothing asked for: Ok(0), `fill` never called; nothing written: nothing queued.
    assert_eq!(p.a.send_with(p.now, c, 0, |_, _| panic!("called for nothing")), Ok(0));
    assert_eq!(p.a.send_with(p.now, c, 100, |_, _| 0), Ok(0));
    assert_eq!(p.a.send_queue(c), 0);
    // A small write grows the ring as a `send` of its size does (the first step), not to the limit.
    let r = p.a.send_with(p.now, c, 100, |x, y| {
        assert_eq!((x.len(), y.len()), (100, 0));
        x[..40].copy_from_slice(b"0123456789012345678901234567890123456789");
        40 // less than offered
    });
    assert_eq!(r, Ok(40));
    assert_eq!(p.a.send_queue(c), 40);
    assert_eq!(p.a.socks[&c.0].tx.allocated(), 2048);
    // The next space starts right after the 40 bytes; a larger request grows the ring.
    let big = pattern(100_000, 3);
    let r = p.a.send_with(p.now, c, big.len(), |x, y| {
        assert_eq!(x.len() + y.len(), 100_000);
        x.copy_from_slice(&big[..x.len()]);
        x.len()
    });
    assert_eq!(r, Ok(100_000));
    let alloc = p.a.socks[&c.0].tx.allocated();
    assert!((100_040..=256 * 1024).contains(&alloc), "{alloc}");
    // `fill` claiming more than offered counts only what was offered.
    assert_eq!(p.a.send_with(p.now, c, 10, |x, _| x.len() + 5), Ok(10));
    p.run_for(Duration::from_millis(200));
    let got = drain(&mut p, s);
    assert_eq!(got.len(), 100_050);
    assert_eq!(&got[..40], b"0123456789012345678901234567890123456789");
    assert!(got[40..100_040] == big[..]);
}

#[test]
fn send_with_offers_the_space_of_a_wrapped_ring_as_two_slices() {
    let mut p = Pair::new();
    // B takes only 64 KiB and does not read: part of A's ring is acknowledged, the rest waits.
    let (c, s) = connect_with_rcvbuf(&mut p, 64 * 1024);
    let d = pattern(400_000, 5);
    assert_eq!(p.a.send(p.now, c, &d[..200_000]), Ok(200_000));
    p.run_for(Duration::from_secs(1));
    let acked = 200_000 - p.a.send_queue(c);
    assert!(acked > 30_000 && acked < 100_000, "acked {acked}");
    // The free space runs from the end of the storage into its start.
    let free = 256 * 1024 - p.a.send_queue(c);
    let mut split = (0, 0);
    let r = p.a.send_with(p.now, c, 400_000, |x, y| {
        split = (x.len(), y.len());
        x.copy_from_slice(&d[200_000..200_000 + x.len()]);
        let half = y.len() / 2;
        let k = x.len() + half; // less than offered, across the wrap
        y[..half].copy_from_slice(&d[200_000 + x.len()..200_000 + k]);
        k
    });
    assert!(split.0 > 0 && split.1 > 0, "not wrapped: {split:?}");
    assert_eq!(split.0 + split.1, free);
    let k = r.unwrap();
    assert_eq!(k, split.0 + split.1 / 2);
    assert_eq!(p.a.send_queue(c), 256 * 1024 - free + k);
    // The ring is full to `k`; the rest of `d` follows by `send`, and B reads it all in order.
    let got = send_rest_and_collect(&mut p, (c, s), &d, 200_000 + k, Vec::new(), 200);
    assert!(got == d, "{} of {}", got.len(), d.len());
}

#[test]
fn recv_with_reads_a_wrapped_ring_and_consumes_what_it_took() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    // Nothing readable yet: WouldBlock, `take` never called.
    assert_eq!(p.b.recv_with(p.now, s, usize::MAX, |_, _| panic!("nothing to read")), Err(Error::WouldBlock));
    let d = pattern(300_000, 9);
    assert_eq!(p.a.send(p.now, c, &d[..200_000]), Ok(200_000));
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.b.recv_queue(s), 200_000);
    // Nothing asked for, or nothing taken: Ok(0) and the data stays.
    assert_eq!(p.b.recv_with(p.now, s, 0, |_, _| panic!("called for nothing")), Ok(0));
    assert_eq!(p.b.recv_with(p.now, s, usize::MAX, |_, _| 0), Ok(0));
    assert_eq!(p.b.recv_queue(s), 200_000);
    // Take 150 000 of what is offered.
    let r = p.b.recv_with(p.now, s, usize::MAX, |x, y| {
        assert_eq!((x.len(), y.len()), (200_000, 0));
        assert!(x == &d[..200_000]);
        150_000
    });
    assert_eq!(r, Ok(150_000));
    assert_eq!(p.b.recv_queue(s), 50_000);
    // More data lands past the end of the storage: the readable bytes come in two slices.
    assert_eq!(p.a.send(p.now, c, &d[200_000..]), Ok(100_000));
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.b.recv_queue(s), 150_000);
    let mut split = (0, 0);
    let r = p.b.recv_with(p.now, s, usize::MAX, |x, y| {
        split = (x.len(), y.len());
        assert!([x, y].concat() == d[150_000..]);
        x.len() + 10 // across the wrap
    });
    assert!(split.0 > 0 && split.1 > 0, "not wrapped: {split:?}");
    assert_eq!(r, Ok(split.0 + 10));
    // `max` bounds what is offered; `take` claiming more than offered counts only that.
    assert_eq!(p.b.recv_with(p.now, s, 5, |x, y| x.len() + y.len() + 7), Ok(5));
    let rest = drain(&mut p, s);
    assert!(rest == d[150_000 + split.0 + 15..]);
    // End of stream.
    p.a.shutdown(p.now, c, Shutdown::Write).unwrap();
    p.run_for(Duration::from_millis(100));
    assert_eq!(p.b.recv_with(p.now, s, usize::MAX, |_, _| panic!("no data")), Ok(0));
}

#[test]
fn recv_with_opens_the_window_as_recv_does() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    // B does not read: A fills B's buffer and stops at a zero window.
    let d = pattern(600_000, 11);
    assert_eq!(p.a.send(p.now, c, &d), Ok(256 * 1024));
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.a.info(c).unwrap().snd_wnd, 0);
    let mark = p.log.len();
    // Consuming in place announces the space (window update) and the data flows again.
    let q = p.b.recv_queue(s);
    assert_eq!(p.b.recv_with(p.now, s, usize::MAX, |x, y| x.len() + y.len()), Ok(q));
    p.flush();
    let update = p.log[mark..].iter().filter(|g| g.src == B).map(|g| g.repr()).any(|r| r.window > 0);
    assert!(update, "no window update after recv_with");
    let got = send_rest_and_collect(&mut p, (c, s), &d, 256 * 1024, d[..q].to_vec(), 500);
    assert!(got == d, "{} of {}", got.len(), d.len());
}
