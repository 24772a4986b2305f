//! TCP_WINDOW_CLAMP with receive-buffer auto-tuning (`autotune.rs`): whatever the buffer grows
//! to, the window advertised stays within the clamp (tcp(7): "Bound the size of the advertised
//! window to this value"), the window scale of the handshake is chosen for the clamp as Linux's
//! tcp_select_initial_window does (min of tcp_rmem[2] and window_clamp), and a clamp lowered
//! during a transfer never moves the right edge beyond it (the window offered before is not
//! shrunk, RFC 9293 3.8.6.2.2, as Linux's tcp_select_window).

use super::*;

use super::harness::{pattern, transfer, Pair, Seg, B};

/// The window `s` (a segment from B) advertises, in bytes, and its right edge (ACK + window).
fn window(s: &Seg, ws: u8) -> (u32, u32) {
    let r = s.repr();
    let w = if r.syn() { r.window as u32 } else { (r.window as u32) << ws };
    (w, r.ack.unwrap_or(0).wrapping_add(w))
}

/// A listener at B with TCP_WINDOW_CLAMP `clamp`, A connected to it; (client, accepted).
fn clamped_pair(p: &mut Pair, clamp: u32) -> (TcpHandle, TcpHandle) {
    let (c, _, s) = p.connect_set(80, |p, l| p.b.set_option(l, TcpOption::WindowClamp(clamp)).unwrap());
    (c, s)
}

fn rcvbuf(p: &Pair, s: TcpHandle) -> usize {
    match p.b.get_option(s, TcpOption::RecvBuffer(0)) {
        Ok(TcpOption::RecvBuffer(n)) => n,
        x => panic!("{x:?}"),
    }
}

/// A clamp above the initial buffer (256 KiB) and below tcp_rmem[2] (6 MiB): a prompt reader
/// makes auto-tuning grow the buffer past the clamp, and no window exceeds it; the handshake's
/// window scale is the clamp's (3 for 400 000 bytes, where 6 MiB takes 7).
#[test]
fn autotuning_never_lifts_the_window_above_the_clamp() {
    const CLAMP: u32 = 400_000;
    let mut p = Pair::new();
    let (c, s) = clamped_pair(&mut p, CLAMP);
    let synack = p.log.iter().find(|x| x.src == B).unwrap().repr();
    assert!(synack.syn());
    assert_eq!(synack.window_scale, Some(3), "Linux: ilog2(min(tcp_rmem[2], clamp)) - 15");
    let ws = p.b.info(s).unwrap().wscale_rcv;
    assert_eq!(ws, 3);
    let before = rcvbuf(&p, s);
    let data = pattern(12 << 20, 7);
    assert!(transfer(&mut p, true, c, s, &data, Duration::from_secs(60)) == data);
    assert!(rcvbuf(&p, s) > before, "auto-tuning grew the buffer ({before} -> {})", rcvbuf(&p, s));
    assert!(rcvbuf(&p, s) <= 65535 << 3, "no larger than the window scale can advertise");
    let mut largest = 0;
    for seg in p.log.iter().filter(|x| x.src == B) {
        let (w, _) = window(seg, ws);
        assert!(w <= CLAMP, "advertised window {w} above the clamp {CLAMP}");
        largest = largest.max(w);
    }
    assert!(largest > CLAMP * 3 / 4, "the clamp, not the buffer, bounded the window (largest {largest})");
    assert_eq!(p.b.get_option(s, TcpOption::WindowClamp(0)), Ok(TcpOption::WindowClamp(CLAMP)));
}

/// No clamp: the same transfer's window grows with the buffer beyond 400 000 bytes (what the
/// test above bounds is the clamp's doing).
#[test]
fn without_a_clamp_the_window_follows_the_buffer() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    let ws = p.b.info(s).unwrap().wscale_rcv;
    assert_eq!(ws, 7);
    let data = pattern(12 << 20, 7);
    assert!(transfer(&mut p, true, c, s, &data, Duration::from_secs(60)) == data);
    let largest = p.log.iter().filter(|x| x.src == B).map(|x| window(x, ws).0).max().unwrap();
    assert!(largest > 400_000, "largest window {largest}");
}

/// A clamp set on an established connection whose buffer auto-tuning grew: the right edge
/// never moves beyond ACK + clamp past what was already offered, and once the old offer is
/// used, every window is within the clamp.
#[test]
fn a_clamp_lowered_mid_transfer_bounds_the_window_from_then_on() {
    const CLAMP: u32 = 100_000;
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(80);
    let ws = p.b.info(s).unwrap().wscale_rcv;
    let data = pattern(8 << 20, 3);
    assert!(transfer(&mut p, true, c, s, &data, Duration::from_secs(60)) == data);
    assert!(rcvbuf(&p, s) > 256 * 1024, "auto-tuning grew the buffer first");
    let offered = p.log.iter().rev().find(|x| x.src == B).map(|x| window(x, ws).1).unwrap();
    p.b.set_option(s, TcpOption::WindowClamp(CLAMP)).unwrap();
    let mark = p.log.len();
    let more = pattern(8 << 20, 4);
    assert!(transfer(&mut p, true, c, s, &more, Duration::from_secs(60)) == more);
    let after: Vec<(u32, u32, u32)> = p.log[mark..]
        .iter()
        .filter(|x| x.src == B)
        .map(|x| {
            let (w, edge) = window(x, ws);
            (w, edge, x.repr().ack.unwrap())
        })
        .collect();
    assert!(after.len() > 100);
    for &(w, edge, ack) in &after {
        let bound = ack.wrapping_add(CLAMP);
        let beyond_old = edge.wrapping_sub(offered) as i32 > 0;
        assert!(!beyond_old || (edge.wrapping_sub(bound) as i32) <= 0, "window {w} at {ack}: edge past the clamp");
    }
    assert!(after[after.len() / 2..].iter().all(|&(w, _, _)| w <= CLAMP), "the old offer used: within the clamp");
}
