//! Interop: our Stack's UDP against smoltcp's UDP on one in-memory Ethernet link. smoltcp
//! accepts our datagrams only if header, length and checksum are right; its echoes must pass
//! our checks; its ICMP port unreachable must become ECONNREFUSED on a connected socket.
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::iface::{Config as SConfig, Interface as SIface, SocketSet};
use smoltcp::socket::udp as sudp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use tapstack::config::Config;
use tapstack::error::Error;
use tapstack::time::{Duration, Instant};
use tapstack::Stack;

mod smol;
use smol::{OurEnd, SEnd};

#[test]
fn udp_echo_with_smoltcp_and_port_unreachable() {
    let vars = [("TAPSTACK_ADDR", "10.0.0.2/24"), ("TAPSTACK_MAC", "02:00:00:00:00:02"), ("TAPSTACK_GW", "10.0.0.1")];
    let cfg = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
    let mut ours = Stack::new(&cfg, 5);
    let mut link = SEnd::default();
    let smac = EthernetAddress([2, 0, 0, 0, 0, 1]);
    let mut theirs =
        SIface::new(SConfig::new(HardwareAddress::Ethernet(smac)), &mut link, smoltcp::time::Instant::ZERO);
    theirs.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24)).unwrap());
    let rx = sudp::PacketBuffer::new(vec![sudp::PacketMetadata::EMPTY; 64], vec![0; 65536]);
    let tx = sudp::PacketBuffer::new(vec![sudp::PacketMetadata::EMPTY; 64], vec![0; 65536]);
    let mut echo = sudp::Socket::new(rx, tx);
    echo.bind(7).unwrap();
    let mut sockets = SocketSet::new(vec![]);
    let eh = sockets.add(echo);

    let peer = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7);
    let h = ours.udp.socket();
    ours.udp.connect(h, Some(peer.into())).unwrap();
    let local = ours.udp.local_addr(h).unwrap();
    let mut now = Instant::from_secs(1);
    let mut step = |ours: &mut Stack, sockets: &mut SocketSet, link: &mut SEnd, now: &mut Instant| {
        for _ in 0..10 {
            ours.poll(*now, &mut OurEnd(link));
            theirs.poll(smoltcp::time::Instant::from_micros(now.total_micros() as i64), link, sockets);
            // smoltcp's application: echo every datagram to its sender.
            let s = sockets.get_mut::<sudp::Socket>(eh);
            while let Ok((data, meta)) = s.recv() {
                let (data, ep) = (data.to_vec(), meta.endpoint);
                s.send_slice(&data, ep).unwrap();
            }
            *now += Duration::from_millis(1);
        }
    };
    let mut buf = vec![0u8; 2000];
    for (i, n) in [0usize, 1, 2, 100, 513, 1000, 1471, 1472].into_iter().enumerate() {
        let data: Vec<u8> = (0..n).map(|j| (j * 7 + i) as u8).collect();
        assert_eq!(ours.udp.send_to(h, &data, None), Ok(n));
        step(&mut ours, &mut sockets, &mut link, &mut now);
        let m = ours.udp.recv_from(h, &mut buf, false).unwrap_or_else(|e| panic!("echo of {n} bytes: {e}"));
        assert_eq!((m.len, m.from), (n, peer.into()));
        assert_eq!(&buf[..n], &data[..], "{n} bytes");
    }
    // smoltcp saw our source port and address.
    assert_eq!(*local.ip(), Ipv4Addr::new(10, 0, 0, 2).into());

    // A closed smoltcp port: smoltcp answers ICMP port unreachable -> ECONNREFUSED (connected only).
    let c = ours.udp.socket();
    ours.udp.connect(c, Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9).into())).unwrap();
    let u = ours.udp.socket();
    ours.udp.send_to(c, b"anyone?", None).unwrap();
    ours.udp.send_to(u, b"anyone?", Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 9).into())).unwrap();
    step(&mut ours, &mut sockets, &mut link, &mut now);
    assert!(ours.udp.readiness(c).error);
    assert_eq!(ours.udp.recv_from(c, &mut buf, false), Err(Error::ConnectionRefused));
    assert_eq!(ours.udp.recv_from(u, &mut buf, false), Err(Error::WouldBlock));
    assert_eq!(ours.stats().icmp_unreachable_received, 2);
    assert_eq!(ours.udp.stats().in_csum_errors, 0);
}
