//! TCP_INFO and the TCP state numbers as Linux's uapi spells them (`ss`, getsockopt).
use std::time::Duration;

use crate::socket::tcp::{TcpInfo, TcpState};

/// Linux `TCP_*` state numbers (include/net/tcp_states.h).
pub fn linux_state(s: Option<TcpState>) -> u8 {
    match s {
        Some(TcpState::Established) => 1,
        Some(TcpState::SynSent) => 2,
        Some(TcpState::SynReceived) => 3,
        Some(TcpState::FinWait1) => 4,
        Some(TcpState::FinWait2) => 5,
        Some(TcpState::TimeWait) => 6,
        Some(TcpState::Closed) | None => 7,
        Some(TcpState::CloseWait) => 8,
        Some(TcpState::LastAck) => 9,
        Some(TcpState::Listen) => 10,
        Some(TcpState::Closing) => 11,
    }
}

/// `struct tcp_info` (include/uapi/linux/tcp.h) as bytes, the fields we have, at the offsets
/// of the uapi layout; as long as the C library's `struct tcp_info` (fields past it dropped).
pub fn tcp_info_bytes(i: &TcpInfo, unacked_bytes: usize) -> Vec<u8> {
    let mut t = vec![0u8; std::mem::size_of::<libc::tcp_info>()];
    let u8_at = |t: &mut Vec<u8>, o: usize, v: u8| {
        if o < t.len() {
            t[o] = v;
        }
    };
    let put = |t: &mut Vec<u8>, o: usize, b: &[u8]| {
        if o + b.len() <= t.len() {
            t[o..o + b.len()].copy_from_slice(b);
        }
    };
    let mss = (i.snd_mss.max(1)) as u32;
    let us = |d: Duration| d.as_micros().min(u32::MAX as u128) as u32;
    u8_at(&mut t, 0, linux_state(i.state));
    u8_at(&mut t, 2, i.backoff.min(255) as u8); // retransmits: current consecutive ones
    u8_at(&mut t, 4, i.backoff.min(255) as u8);
    u8_at(
        &mut t,
        5,
        (i.timestamps as u8) | ((i.sack as u8) << 1) | ((((i.wscale_snd | i.wscale_rcv) != 0) as u8) << 2),
    );
    u8_at(&mut t, 6, (i.wscale_snd & 0xf) | ((i.wscale_rcv & 0xf) << 4));
    let u32s: [(usize, u32); 13] = [
        (8, us(i.rto)),
        (16, i.snd_mss as u32),
        (20, i.rcv_mss as u32),
        (24, (unacked_bytes.min(u32::MAX as usize) as u32).div_ceil(mss)),
        (60, i.snd_mss as u32 + 40),
        (68, us(i.srtt)),
        (72, us(i.rttvar)),
        (76, if i.ssthresh >= u32::MAX / 2 { 0x7fff_ffff } else { i.ssthresh / mss }),
        (80, i.cwnd / mss),
        (84, i.rcv_mss as u32),
        (100, i.retransmits.min(u32::MAX as u64) as u32),
        (136, i.segs_out as u32),
        (140, i.segs_in as u32),
    ];
    for (o, v) in u32s {
        put(&mut t, o, &v.to_ne_bytes());
    }
    put(&mut t, 120, &i.bytes_acked.to_ne_bytes());
    put(&mut t, 128, &i.bytes_received.to_ne_bytes());
    put(&mut t, 200, &i.bytes_sent.to_ne_bytes());
    put(&mut t, 216, &(i.dsacks.min(u32::MAX as u64) as u32).to_ne_bytes());
    put(&mut t, 220, &(i.reord_seen as u32).to_ne_bytes());
    put(&mut t, 228, &i.snd_wnd.to_ne_bytes());
    put(&mut t, 232, &i.rcv_wnd.to_ne_bytes());
    put(&mut t, 240, &(i.rto_expirations.min(u16::MAX as u64) as u16).to_ne_bytes());
    t
}
