//! The socket table and counters of real stacks (an in-memory link under a virtual clock),
//! formatted as `ss` and `tapstack stats`.
use crate::wire::ip::{IpAddress, IpEndpoint};

use super::counters::{fields, format_stats};
use super::*;
use crate::config::Config;
use crate::phy::link::Link;
use crate::stack::Stack;
use crate::time::{Duration, Instant};

fn cfg(ip: &str, mac: &str) -> Config {
    let v = [("TAPSTACK_ADDR", format!("{ip}/24")), ("TAPSTACK_MAC", mac.to_string()), ("TAPSTACK_GW", "none".into())];
    Config::from_lookup(|k| v.iter().find(|(n, _)| *n == k).map(|(_, x)| x.clone())).unwrap()
}

#[test]
fn ss_table_of_a_transfer() {
    let link = Link::new(1500, Default::default(), Default::default());
    let (mut da, mut db) = (link.a(), link.b());
    let mut a = Stack::new(&cfg("10.0.0.2", "02:00:00:00:00:02"), 1);
    let mut b = Stack::new(&cfg("10.0.0.1", "02:00:00:00:00:01"), 2);
    let mut now = Instant::from_secs(1);
    let l = b.tcp.socket();
    b.tcp.bind(l, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 8000)).unwrap();
    b.tcp.listen(l, 16).unwrap();
    let u = a.udp.socket();
    a.udp.bind(u, IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 5353)).unwrap();
    let h = a.tcp.socket();
    a.tcp.connect(now, h, IpEndpoint::new(IpAddress::v4(10, 0, 0, 1), 8000)).unwrap();
    let data = vec![7u8; 300_000];
    let (mut sent, mut hb) = (0, None);
    for _ in 0..2000 {
        a.poll(now, &mut da);
        b.poll(now, &mut db);
        if hb.is_none() {
            hb = b.tcp.accept(l).ok();
        }
        if sent < data.len() {
            if let Ok(k) = a.tcp.send(now, h, &data[sent..]) {
                sent += k;
            }
        }
        if sent == data.len() {
            break;
        }
        now += Duration::from_millis(1);
    }
    // The receiver has not read: its Recv-Q holds data; the sender's Send-Q is unacked data.
    for _ in 0..50 {
        a.poll(now, &mut da);
        b.poll(now, &mut db);
        now += Duration::from_millis(1);
    }
    let ta = a.socket_table();
    let c = ta.iter().find(|e| e.proto == Proto::Tcp).unwrap();
    assert_eq!(c.state, Some(TcpState::Established));
    assert_eq!(c.remote, Some(IpEndpoint::new(IpAddress::v4(10, 0, 0, 1), 8000)));
    let info = c.info.as_ref().unwrap();
    assert!(info.bytes_acked > 0 && !info.srtt.is_zero(), "{info:?}");
    assert!(info.delivery_rate > 0, "{info:?}");
    let tb = b.socket_table();
    let lst = tb.iter().find(|e| e.state == Some(TcpState::Listen)).unwrap();
    assert_eq!((lst.recv_q, lst.send_q), (0, 16));
    let conn_b = tb.iter().find(|e| e.state == Some(TcpState::Established)).unwrap();
    assert!(conn_b.recv_q > 0 && conn_b.recv_q as u64 == conn_b.info.as_ref().unwrap().bytes_received);

    let mut with_owner = ta.clone();
    with_owner[0].owner = Some(("curl".into(), 4242));
    let text = format_ss(&with_owner, SsOpts::parse(["-tuna"]).unwrap());
    eprintln!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Netid State") && lines[0].contains("Recv-Q  Send-Q Local Address:Port"));
    assert!(lines.iter().any(|l| l.starts_with("tcp   ESTAB")
        && l.contains("10.0.0.1:8000")
        && l.contains("users:((\"curl\",pid=4242))")));
    assert!(lines.iter().any(|l| l.starts_with("udp   UNCONN") && l.contains("0.0.0.0:5353")));
    // -ti: TCP only, non-listening, with the internals line.
    let ti = format_ss(&with_owner, SsOpts::parse(["-ti"]).unwrap());
    eprintln!("{ti}");
    assert!(!ti.contains("udp"));
    let il = ti.lines().find(|l| l.starts_with('\t')).unwrap();
    for k in ["rto:", "rtt:", "mss:1448", "cwnd:", "bytes_acked:", "bytes_received:", "delivery_rate ", "retrans:0/0"] {
        assert!(il.contains(k), "{k} missing in {il}");
    }
    // -l: only the listener.
    let lt = format_ss(&tb, SsOpts::parse(["-lt"]).unwrap());
    assert_eq!(lt.lines().count(), 2, "{lt}");
    assert!(lt.contains("LISTEN") && lt.contains("0.0.0.0:8000"));
    assert!(SsOpts::parse(["-x"]).is_err() && SsOpts::parse(["foo"]).is_err());

    // Close both ends: the active closer's TIME-WAIT is a record (no control block), listed and
    // counted.
    a.tcp.close(now, h);
    let hb = hb.unwrap();
    let mut buf = vec![0u8; 65536];
    for _ in 0..200 {
        a.poll(now, &mut da);
        b.poll(now, &mut db);
        while let Ok(k) = b.tcp.recv(now, hb, &mut buf) {
            if k == 0 {
                b.tcp.close(now, hb);
                break;
            }
        }
        now += Duration::from_millis(1);
    }
    let c = a.counters(now);
    assert_eq!(c.time_wait, 1);
    let tw = a.socket_table();
    assert!(tw.iter().any(|e| e.state == Some(TcpState::TimeWait) && e.orphan && e.handle == 0), "{tw:?}");
    assert!(format_ss(&tw, SsOpts::parse(["-t"]).unwrap()).contains("TIME-WAIT"));
    assert_eq!(c.arp_entries, 1);
    let s = format_stats(&c, "tap0", false);
    eprintln!("{s}");
    assert!(s.starts_with("interface tap0: 10.0.0.2/24 mac 02:00:00:00:00:02 mtu 1500\n"));
    assert!(s.contains(&format!(
        "TCP: {} control blocks, 1 in TIME-WAIT; SYN cookies: 0 sent, 0 valid, 0 invalid",
        c.tcp_control_blocks
    )));
    assert!(s.contains("ARP cache: 1 entries, 0 being resolved"));
    assert!(s.contains(&format!("frames: rx {} tx {}", c.iface.rx_frames, c.iface.tx_frames)));
    assert!(s.contains("drops: none"));
    assert!(s.contains(&format!("ip.tx_frames{:>30}", c.iface.tx_frames)));
    assert!(!s.contains("ip.no_route"), "zeros hidden");
    assert!(format_stats(&c, "tap0", true).contains("ip.no_route"));
}

#[test]
fn stats_show_drops_by_reason() {
    let mut a = Stack::new(&cfg("10.0.0.2", "02:00:00:00:00:02"), 1);
    let now = Instant::from_secs(1);
    // A runt frame and a frame for another MAC.
    a.receive_frame(now, &[1, 2, 3]);
    let mut f = vec![0x02, 0, 0, 0, 0, 0x77, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[0u8; 40]);
    a.receive_frame(now, &f);
    let s = format_stats(&a.counters(now), "tap0", false);
    assert!(s.contains("drops: ip.rx_not_for_us 1, ip.rx_malformed 1") || s.contains("ip.rx_malformed 1"), "{s}");
    assert!(s.contains("ip.rx_not_for_us"), "{s}");
    let f = fields("Stats { a: 1, b_c: 22, d: 0 }");
    assert_eq!(f, vec![("a".into(), 1), ("b_c".into(), 22), ("d".into(), 0)]);
}

#[test]
fn rates() {
    assert_eq!(rate(1.5e9), "1.5Gbps");
    assert_eq!(rate(2e6), "2.0Mbps");
    assert_eq!(rate(999.0), "999bps");
}
