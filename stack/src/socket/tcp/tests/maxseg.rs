//! TCP_MAXSEG (`TcpOption::MaxSeg`, Linux rx_opt.user_mss): it bounds the MSS our SYN
//! advertises and the one we send with; a listener's goes to its children.
use super::harness::{H, PEER, US};
use super::*;
use crate::wire::tcp::flags;

#[test]
fn the_user_mss_bounds_the_syn_and_the_segments() {
    let mut h = H::new();
    let c = h.socket();
    h.s.set_option(c, TcpOption::MaxSeg(500)).unwrap();
    assert_eq!(h.s.get_option(c, TcpOption::MaxSeg(0)), Ok(TcpOption::MaxSeg(500)));
    h.bind(c, IpEndpoint::new(US, 5001)).unwrap();
    h.s.connect(h.now, c, IpEndpoint::new(PEER, 5000)).unwrap();
    let syn = h.out();
    assert_eq!(syn[0].mss, Some(500), "the SYN advertises the user's MSS");
    let sa = TcpRepr {
        src_port: 5000,
        dst_port: 5001,
        seq: 7000,
        ack: Some(syn[0].seq.wrapping_add(1)),
        flags: flags::SYN | flags::ACK,
        window: 65535,
        mss: Some(1460),
        ..TcpRepr::default()
    };
    h.feed(&sa);
    h.out();
    h.s.send(h.now, c, &[7u8; 3000]).unwrap();
    let o = h.out();
    assert!(
        !o.is_empty() && o.iter().all(|s| s.len <= 500),
        "segments of at most 500: {:?}",
        o.iter().map(|s| s.len).collect::<Vec<_>>()
    );
}

#[test]
fn a_listeners_user_mss_goes_to_its_syn_ack_and_children() {
    let mut h = H::new();
    let l = h.socket();
    h.bind(l, IpEndpoint::new(US, 6000)).unwrap();
    h.s.set_option(l, TcpOption::MaxSeg(700)).unwrap();
    h.s.listen(l, 4).unwrap();
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 6000,
        seq: 100,
        flags: flags::SYN,
        window: 65535,
        mss: Some(1460),
        ..TcpRepr::default()
    };
    h.feed(&syn);
    let sa = h.out();
    assert_eq!(sa[0].mss, Some(700), "the SYN-ACK advertises the listener's MSS");
    let ack = TcpRepr {
        src_port: 40000,
        dst_port: 6000,
        seq: 101,
        ack: Some(sa[0].seq.wrapping_add(1)),
        window: 65535,
        ..TcpRepr::default()
    };
    h.feed(&ack);
    let c = h.s.accept(l).unwrap();
    assert_eq!(h.s.get_option(c, TcpOption::MaxSeg(0)), Ok(TcpOption::MaxSeg(700)));
    h.s.send(h.now, c, &[7u8; 3000]).unwrap();
    let o = h.out();
    assert!(!o.is_empty() && o.iter().all(|s| s.len <= 700), "{:?}", o.iter().map(|s| s.len).collect::<Vec<_>>());
}
