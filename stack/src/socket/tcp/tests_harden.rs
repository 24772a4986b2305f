//! Hardening tests (issue 11): socket id wrap, SYN queue and SYN cookies, compact TIME-WAIT,
//! bounded loss-recovery work per ACK.
use std::net::{Ipv4Addr, SocketAddrV4};

use super::tests_segments::{H, PEER, PP, US};
use super::*;
use crate::wire::tcp::flags;

#[test]
fn socket_ids_never_collide_after_wrap() {
    let mut h = H::new();
    // A long-lived listener holds a low id.
    let l = h.s.socket();
    h.s.bind(l, SocketAddrV4::new(US, 80)).unwrap();
    h.s.listen(l, 4).unwrap();
    let held = h.s.socket();
    h.s.next_id = u32::MAX - 2;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..8 {
        let s = h.s.socket();
        assert!(s != l && s != held && s.0 != 0, "id {} reused", s.0);
        assert!(seen.insert(s), "id {} handed out twice", s.0);
    }
    assert_eq!(h.s.state(l), Ok(TcpState::Listen), "the listener survived the wrap");
    assert_eq!(h.s.state(held), Ok(TcpState::Closed));
    assert_eq!(h.s.control_blocks(), 10);
    // And the listener still answers SYNs.
    h.feed(&h.seg(1000, None, flags::SYN));
    assert_eq!(h.out().len(), 1);
    let _ = (PEER, PP, Ipv4Addr::UNSPECIFIED);
}
