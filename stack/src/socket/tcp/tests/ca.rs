//! TCP_CONGESTION (`TcpOption::Congestion`): read back as set, inherited by an accepted
//! connection from its listener (Linux: the child takes the listener's icsk_ca_ops), and
//! switched during a transfer, which goes on intact (tcp_reinit_congestion_control).
use super::*;

use super::harness::{pattern, transfer, Pair};

fn algo(t: &TcpStack, h: TcpHandle) -> Congestion {
    match t.get_option(h, TcpOption::Congestion(Congestion::Cubic)) {
        Ok(TcpOption::Congestion(a)) => a,
        x => panic!("{x:?}"),
    }
}

#[test]
fn reno_is_inherited_and_switching_keeps_the_transfer_intact() {
    let mut p = Pair::new();
    let (c, l, s) = p.connect_set(80, |p, l| {
        assert_eq!(algo(&p.b, l), Congestion::Cubic, "the default");
        p.b.set_option(l, TcpOption::Congestion(Congestion::Reno)).unwrap();
    });
    assert_eq!(algo(&p.b, l), Congestion::Reno);
    assert_eq!(algo(&p.b, s), Congestion::Reno, "inherited from the listener");
    assert_eq!(algo(&p.a, c), Congestion::Cubic);
    let data = pattern(2 << 20, 3);
    assert!(transfer(&mut p, false, s, c, &data, Duration::from_secs(30)) == data, "Reno sender");
    p.b.set_option(s, TcpOption::Congestion(Congestion::Cubic)).unwrap();
    p.a.set_option(c, TcpOption::Congestion(Congestion::Reno)).unwrap();
    assert_eq!((algo(&p.b, s), algo(&p.a, c)), (Congestion::Cubic, Congestion::Reno));
    let data = pattern(2 << 20, 4);
    assert!(transfer(&mut p, true, c, s, &data, Duration::from_secs(30)) == data, "switched mid-connection");
    assert!(transfer(&mut p, false, s, c, &data, Duration::from_secs(30)) == data);
}
