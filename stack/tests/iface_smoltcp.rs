//! Interop: our Stack and smoltcp's interface on one in-memory Ethernet link. smoltcp answers
//! our ARP requests and echo requests only if our frames, headers and checksums are right, and
//! it must resolve us through our ARP replies to send its answer.
use std::net::Ipv4Addr;

use smoltcp::iface::{Config as SConfig, Interface as SIface, SocketSet};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use tapstack::config::Config;
use tapstack::time::{Duration, Instant};
use tapstack::Stack;

mod smol;
use smol::{OurEnd, SEnd};

#[test]
fn smoltcp_answers_our_arp_and_pings() {
    let vars = [("TAPSTACK_ADDR", "10.0.0.2/24"), ("TAPSTACK_MAC", "02:00:00:00:00:02"), ("TAPSTACK_GW", "10.0.0.1")];
    let cfg = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    let mut ours = Stack::new(&cfg, 9);
    let mut link = SEnd::default();
    let smac = EthernetAddress([2, 0, 0, 0, 0, 1]);
    let mut theirs =
        SIface::new(SConfig::new(HardwareAddress::Ethernet(smac)), &mut link, smoltcp::time::Instant::ZERO);
    theirs.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24)).unwrap());
    let mut sockets = SocketSet::new(vec![]);

    let peer = Ipv4Addr::new(10, 0, 0, 1);
    let mut now = Instant::from_secs(1);
    for seq in 0..5u16 {
        ours.ping(now, peer, 0x77, seq, &[seq as u8; 100]);
        for _ in 0..20 {
            ours.poll(now, &mut OurEnd(&mut link));
            theirs.poll(smoltcp::time::Instant::from_micros(now.total_micros() as i64), &mut link, &mut sockets);
            now += Duration::from_millis(1);
        }
    }
    let replies = ours.take_ping_replies();
    assert_eq!(replies.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    assert!(replies.iter().all(|r| r.from == peer && r.payload_len == 100 && r.ident == 0x77));
    assert_eq!(ours.arp_lookup(now, peer), Some([2, 0, 0, 0, 0, 1]));
    let s = ours.stats();
    assert_eq!((s.rx_malformed, s.ip_bad_checksum, s.icmp_bad_checksum), (0, 0, 0));
    assert_eq!(s.arp_requests_sent, 1);
}
