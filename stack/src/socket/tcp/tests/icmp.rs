//! ICMP errors for TCP (issue 11 item 10): RFC 5927 4.1 validation of the quoted sequence
//! number, RFC 1191 path MTU discovery, and the IP_RECVERR queue during the handshake.
use crate::wire::ip::{IpAddress, IpEndpoint};
use std::cell::RefCell;
use std::rc::Rc;

use super::harness::{Pair, Seg};
use super::*;
use crate::socket::errqueue::{origin, IcmpReport};

const A: IpAddress = IpAddress::v4(10, 0, 0, 1);
const B: IpAddress = IpAddress::v4(10, 0, 0, 2);
const ROUTER: IpAddress = IpAddress::v4(10, 0, 0, 254);

fn report(local: IpEndpoint, remote: IpEndpoint, t: u8, code: u8, info: u32, quoted: &[u8]) -> IcmpReport<'_> {
    IcmpReport { icmp_type: t, icmp_code: code, info, offender: ROUTER, local, remote, quoted, ttl: 63, tos: 0 }
}

/// The first 8 bytes of a TCP header from `local` to `remote` with sequence number `seq`.
fn quote(local: IpEndpoint, remote: IpEndpoint, seq: u32) -> [u8; 8] {
    let mut q = [0u8; 8];
    q[0..2].copy_from_slice(&local.port().to_be_bytes());
    q[2..4].copy_from_slice(&remote.port().to_be_bytes());
    q[4..8].copy_from_slice(&seq.to_be_bytes());
    q
}

#[test]
fn spoofed_unreachable_without_the_sequence_number_does_not_abort_connect() {
    let mut p = Pair::new();
    p.drop = Box::new(|_| true);
    let c = p.a.socket();
    p.a.set_recverr(c, true).unwrap();
    let remote = IpEndpoint::new(B, 80);
    p.a.connect(p.now, c, remote).unwrap();
    p.run_for(Duration::from_millis(10));
    let local = p.a.local_addr(c).unwrap();
    let iss = p.log.iter().find(|s| s.src == A && s.repr().syn()).unwrap().repr().seq;
    // An attacker who knows the 4-tuple but not the ISN: port unreachable, hard error.
    for seq in [0u32, iss.wrapping_add(2), iss.wrapping_sub(1), iss ^ 0x8000_0000] {
        let q = quote(local, remote, seq);
        assert!(!p.a.icmp_error(p.now, &report(local, remote, 3, 3, 0, &q)), "seq {seq}");
    }
    // Too short a quote to check (only the ports): ignored as well.
    assert!(!p.a.icmp_error(p.now, &report(local, remote, 3, 3, 0, &quote(local, remote, iss)[..4])));
    assert_eq!(p.a.stats().icmp_out_of_window, 4);
    assert_eq!(p.a.state(c), Ok(TcpState::SynSent));
    assert!(!p.a.readiness(c).error);
    // The genuine error (quoting our SYN) aborts the connect, and is queued for MSG_ERRQUEUE.
    let q = quote(local, remote, iss);
    assert!(p.a.icmp_error(p.now, &report(local, remote, 3, 3, 0, &q)));
    assert_eq!(p.a.state(c), Ok(TcpState::Closed));
    assert!(p.a.readiness(c).error);
    let e = p.a.recv_error(c).unwrap();
    assert_eq!((e.errno, e.origin, e.icmp_type, e.icmp_code), (Error::ConnectionRefused, origin::ICMP, 3, 3));
    assert_eq!((e.offender, e.dst, &e.payload[..]), (Some(ROUTER), remote, &q[..]));
    assert_eq!(p.a.recv_error(c), Err(Error::WouldBlock));
    assert_eq!(p.a.take_error(c), Some(Error::ConnectionRefused));
}

#[test]
fn established_errors_are_soft_and_checked() {
    let mut p = Pair::new();
    let (c, _l, _s) = p.connect(81);
    let (local, remote) = (p.a.local_addr(c).unwrap(), p.a.remote_addr(c).unwrap());
    let una = p.log.iter().rev().find(|s| s.src == A).unwrap().repr().seq;
    // Out of window: nothing recorded.
    assert!(!p.a.icmp_error(p.now, &report(local, remote, 3, 1, 0, &quote(local, remote, una.wrapping_add(5000)))));
    assert_eq!(p.a.take_error(c), None);
    assert!(p.a.icmp_error(p.now, &report(local, remote, 3, 1, 0, &quote(local, remote, una))));
    assert!(p.a.icmp_error(p.now, &report(local, remote, 11, 0, 0, &quote(local, remote, una))));
    let mut buf = [0u8; 4];
    assert_eq!(p.a.recv(p.now, c, &mut buf), Err(Error::WouldBlock));
    assert_eq!(p.a.take_error(c), Some(Error::HostUnreachable));
    assert_eq!(p.a.state(c), Ok(TcpState::Established));
}

/// RFC 1191 through a path whose MTU is 1280: segments over it are dropped and answered with
/// "fragmentation needed"; a forged one (wrong sequence number) must not shrink the MSS.
#[test]
fn fragmentation_needed_lowers_mss_and_data_gets_through() {
    let mut p = Pair::new();
    let (c, _l, s) = p.connect(82);
    let (local, remote) = (p.a.local_addr(c).unwrap(), p.a.remote_addr(c).unwrap());
    assert_eq!(p.a.info(c).unwrap().snd_mss, 1460 - 12);
    // Forged, out of window: ignored.
    let far = p.log.iter().rev().find(|s| s.src == A).unwrap().repr().seq.wrapping_add(1 << 30);
    assert!(!p.a.icmp_error(p.now, &report(local, remote, 3, 4, 1280, &quote(local, remote, far))));
    assert_eq!(p.a.info(c).unwrap().snd_mss, 1460 - 12);

    let too_big: Rc<RefCell<Vec<Seg>>> = Rc::default();
    let tb = too_big.clone();
    p.drop = Box::new(move |s: &Seg| {
        let big = s.src == A && s.bytes.len() + 20 > 1280;
        if big {
            tb.borrow_mut().push(s.clone());
        }
        big
    });
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = vec![0u8; 65536];
    let start = p.now;
    let mut icmps = 0;
    while got.len() < data.len() && p.now < start + Duration::from_secs(5) {
        if sent < data.len() {
            sent += p.a.send(p.now, c, &data[sent..]).unwrap_or(0);
        }
        while let Ok(n) = p.b.recv(p.now, s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        let dropped: Vec<Seg> = too_big.borrow_mut().drain(..).collect();
        for d in dropped {
            // The router quotes the IP header and the first 8 bytes (RFC 792).
            let q = d.bytes[..8].to_vec();
            assert!(p.a.icmp_error(p.now, &report(local, remote, 3, 4, 1280, &q)));
            icmps += 1;
        }
        p.run_for(Duration::from_millis(1));
    }
    assert_eq!(got, data, "all data through the 1280-byte path");
    assert_eq!(p.a.info(c).unwrap().snd_mss, 1240 - 12);
    assert!(icmps >= 1);
    // Lost only to the MTU, recovered without waiting for a retransmission timeout.
    assert!(p.now - start < Duration::from_millis(500), "took {:?}", p.now - start);
    assert_eq!(p.a.info(c).unwrap().rto_expirations, 0);
    // A new connection to the same destination starts with the learned MSS.
    let c2 = p.a.socket();
    p.a.connect(p.now, c2, IpEndpoint::new(B, 82)).unwrap();
    p.run_for(Duration::from_millis(50));
    assert_eq!(p.a.info(c2).unwrap().snd_mss, 1240 - 12);
}

/// A half-open request (SYN queue, no control block yet): an error must quote the SYN-ACK's
/// ISN to drop it (Linux tcp_req_err); a forged one leaves it, and its SYN-ACKs, alone.
#[test]
fn request_records_drop_only_on_errors_quoting_the_synack() {
    let mut p = Pair::new();
    let l = p.b.socket();
    p.b.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 83)).unwrap();
    p.b.listen(l, 8).unwrap();
    // A's SYN gets through; everything B sends is lost.
    p.drop = Box::new(|s: &Seg| s.src == B);
    let c = p.a.socket();
    p.a.connect(p.now, c, IpEndpoint::new(B, 83)).unwrap();
    p.run_for(Duration::from_millis(20));
    p.a.abort(p.now, c); // no SYN retransmissions: B's SYN-ACKs now come from its request only
    let synack = p.log.iter().find(|s| s.src == B && s.repr().syn()).expect("SYN-ACK").clone();
    let iss = synack.repr().seq;
    let (local, remote) = (IpEndpoint::new(B, 83), IpEndpoint::new(A, synack.repr().dst_port));
    let synacks = |p: &Pair| p.log.iter().filter(|s| s.src == B && s.repr().syn()).count();
    assert!(!p.b.icmp_error(p.now, &report(local, remote, 3, 1, 0, &quote(local, remote, iss.wrapping_add(9)))));
    p.run_for(Duration::from_secs(2));
    let before = synacks(&p);
    assert!(before >= 2, "the request lives on and retransmits its SYN-ACK");
    assert!(p.b.icmp_error(p.now, &report(local, remote, 3, 1, 0, &quote(local, remote, iss))));
    p.run_for(Duration::from_secs(10));
    assert_eq!(synacks(&p), before, "dropped: no more SYN-ACKs");
}
