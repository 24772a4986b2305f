//! Buffer auto-tuning on a long path (Linux tcp_rcv_space_adjust / tcp_sndbuf_expand): two of
//! our stacks on the in-memory link with a 50 ms round trip move 16 MiB. With the default
//! buffers the window and the send buffer grow past 256 KiB, which alone would cap the rate at
//! 256 KiB per round trip (5 MiB/s); with SO_RCVBUF (and SO_SNDBUF) fixed at 256 KiB they
//! stay there and the transfer takes at least as long as that cap says.
mod common;

use common::*;
use tapstack::phy::fault::FaultConfig;
use tapstack::phy::link::Link;
use tapstack::socket::tcp::{TcpHandle, TcpOption};
use tapstack::time::Duration;

const MIB: u64 = 1024 * 1024;
const BYTES: u64 = 16 * MIB;

/// Moves BYTES from A to B over a 25 ms + 25 ms link; returns the virtual seconds it took and
/// B's receive buffer (SO_RCVBUF as getsockopt reports it) at the end.
fn transfer(fixed: Option<usize>) -> (f64, usize, usize) {
    let cfg = FaultConfig { delay: Duration::from_millis(25), ..Default::default() };
    let mut sim = stack_pair(Link::symmetric(1500, cfg), 131);
    warm_arp(&mut sim);
    let l = sim.b.tcp().socket();
    if let Some(n) = fixed {
        sim.b.tcp().set_option(l, TcpOption::RecvBuffer(n)).unwrap();
    }
    sim.b.tcp().bind(l, std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 9200).into()).unwrap();
    sim.b.tcp().listen(l, 4).unwrap();
    let ha = sim.a.tcp().socket();
    if let Some(n) = fixed {
        sim.a.tcp().set_option(ha, TcpOption::SendBuffer(n)).unwrap();
    }
    let now = sim.now;
    sim.a.tcp().connect(now, ha, std::net::SocketAddrV4::new(B_IP, 9200).into()).unwrap();
    let mut hb: Option<TcpHandle> = None;
    assert!(sim.run_until(Duration::from_secs(10), |s| {
        if hb.is_none() {
            hb = s.b.tcp().accept(l).ok();
        }
        hb.is_some()
    }));
    let hb = hb.unwrap();
    let start = sim.now;
    let mut src = Source::new(Pattern(131), BYTES);
    let mut sink = Sink::new(Pattern(131), BYTES, sim.now);
    let mut next_print = sim.now;
    let ok = sim.run_until(Duration::from_secs(120), |s| {
        let now = s.now;
        fill(s.a.tcp(), now, ha, &mut src);
        drain(s.b.tcp(), now, hb, &mut sink);
        if std::env::var("AT_DEBUG").is_ok() && now >= next_print {
            next_print = now + Duration::from_millis(100);
            let ia = s.a.tcp().info(ha).unwrap();
            let ib = s.b.tcp().info(hb).unwrap();
            eprintln!(
                "{:?} recv {} cwnd {} ssthresh {} snd_wnd {} rcv_wnd {} srtt {:?} queued_b {}",
                now,
                sink.received,
                ia.cwnd,
                ia.ssthresh,
                ia.snd_wnd,
                ib.rcv_wnd,
                ia.srtt,
                s.b.tcp().recv_queue(hb)
            );
        }
        sink.received == BYTES
    });
    assert!(ok, "B got {} of {BYTES}", sink.received);
    let secs = (sim.now - start).as_micros() as f64 / 1e6;
    let rcvbuf = match sim.b.tcp().get_option(hb, TcpOption::RecvBuffer(0)).unwrap() {
        TcpOption::RecvBuffer(n) => n,
        o => panic!("{o:?}"),
    };
    let sndbuf = match sim.a.tcp().get_option(ha, TcpOption::SendBuffer(0)).unwrap() {
        TcpOption::SendBuffer(n) => n,
        o => panic!("{o:?}"),
    };
    (secs, rcvbuf, sndbuf)
}

#[test]
fn buffers_grow_on_a_long_path_unless_the_program_fixed_them() {
    // 256 KiB per 50 ms round trip: 5 MiB/s, so 16 MiB take at least 3.2 s.
    let cap_secs = BYTES as f64 / (256.0 * 1024.0 / 0.050);
    let (fixed_secs, fixed_rcv, fixed_snd) = transfer(Some(256 * 1024));
    let (auto_secs, auto_rcv, auto_snd) = transfer(None);
    eprintln!(
        "fixed 256 KiB: {fixed_secs:.2} s (rcvbuf {fixed_rcv}, sndbuf {fixed_snd}); auto-tuned: {auto_secs:.2} s \
         (rcvbuf {auto_rcv}, sndbuf {auto_snd}); the 256 KiB cap allows {cap_secs:.2} s at best"
    );
    assert_eq!((fixed_rcv, fixed_snd), (256 * 1024, 256 * 1024), "SO_RCVBUF / SO_SNDBUF stay as set");
    assert!(fixed_secs >= cap_secs * 0.95, "fixed buffers beat their own cap: {fixed_secs} s");
    assert!(auto_rcv >= 2 * MIB as usize, "the receive buffer did not grow: {auto_rcv}");
    assert!(auto_snd >= 2 * MIB as usize, "the send buffer did not grow: {auto_snd}");
    assert!(auto_secs < cap_secs * 0.5, "auto-tuned transfer not faster than the 256 KiB cap: {auto_secs} s");
}
