//! Minimal sequences the fuzzer found on defects since fixed (issue 11): they fail without the
//! fix and are kept as fixed cases.
use super::stateful::{run_ops, Call, Off, Op, Seg};
use crate::wire::tcp::flags as fl;

fn ack(peer: u8, ack: Off) -> Op {
    Op::Seg(Seg {
        peer,
        flags: fl::ACK,
        seq: Off::Exact,
        ack,
        window: 0,
        mss: None,
        ws: None,
        sack_perm: false,
        ts: None,
        sack: vec![],
        len: 0,
        raw_opts: None,
    })
}

/// Issue 11 item 6: a zero window, one byte queued, the peer vanishes: persist probing
/// went on forever.
#[test]
fn zero_window_then_silence_gives_up() {
    let ops = [
        Op::Handshake(1, 128),
        Op::Connect(3),
        Op::Handshake(0, 128),
        Op::Data(1, 0, false, 0),
        Op::App(34, Call::Send(1)),
    ];
    run_ops(&ops, 4096, 256).unwrap();
}

/// Issue 11 item 2: data in flight, then an ACK of all but one byte with a zero window:
/// the RTO fired with nothing to send and left no timer.
#[test]
fn zero_window_with_data_in_flight_keeps_a_timer() {
    let ops = [
        Op::Handshake(0, 0),
        Op::App(0, Call::Accept),
        Op::App(118, Call::Close),
        Op::Connect(3),
        Op::Data(0, 1, false, 0),
        Op::Handshake(0, 128),
        Op::Connect(3),
        Op::Handshake(2, 128),
        Op::Connect(3),
        Op::Connect(3),
        Op::Handshake(1, 0),
        Op::Handshake(0, 128),
        Op::App(185, Call::Send(4019)),
        ack(2, Off::Near(-1)),
        ack(0, Off::Exact),
    ];
    run_ops(&ops, 4096, 256).unwrap();
}
