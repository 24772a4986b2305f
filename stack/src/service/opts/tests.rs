//! Unit tests of `service::opts` (setsockopt/getsockopt as Linux answers them).
use super::*;
use crate::config::Config;
use crate::socket::tcp::TcpInfo;

fn stack() -> Stack {
    let cfg = Config::from_lookup(|_| None).unwrap();
    Stack::new(&cfg, 1)
}

#[test]
fn ip_mtu_needs_a_peer() {
    let mut s = stack();
    let now = crate::time::Instant::from_millis(1);
    let t = s.tcp.socket();
    assert_eq!(ip_mtu(&s, Proto::Tcp(t), now), Err(libc::ENOTCONN));
    let u = s.udp.socket();
    assert_eq!(ip_mtu(&s, Proto::Udp(u), now), Err(libc::ENOTCONN));
    use crate::wire::ip::{IpAddress, IpEndpoint};
    s.udp.connect(u, Some(IpEndpoint::new(IpAddress::v4(10, 0, 0, 9), 53))).unwrap();
    assert_eq!(ip_mtu(&s, Proto::Udp(u), now), Ok(1500), "the link MTU (TAPSTACK_MTU default)");
}

#[test]
fn set_get_tcp() {
    let mut s = stack();
    let h = s.tcp.socket();
    let p = Proto::Tcp(h);
    let mut o = Opts::default();
    set_opt(&mut s, p, &mut o, libc::IPPROTO_TCP, libc::TCP_NODELAY, &1i32.to_ne_bytes()).unwrap();
    assert_eq!(get_opt(&mut s, p, &o, false, libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap(), i(1));
    assert_eq!(
        set_opt(&mut s, p, &mut o, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, &0i32.to_ne_bytes()),
        Err(libc::EINVAL)
    );
    assert_eq!(set_opt(&mut s, p, &mut o, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &[1]), Err(libc::EINVAL));
    set_opt(&mut s, p, &mut o, libc::SOL_SOCKET, libc::SO_SNDBUF, &4096i32.to_ne_bytes()).unwrap();
    assert_eq!(get_opt(&mut s, p, &o, false, libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap(), i(8192));
    assert_eq!(get_opt(&mut s, p, &o, true, libc::SOL_SOCKET, libc::SO_ACCEPTCONN).unwrap(), i(1));
    let cred = get_opt(&mut s, p, &o, true, libc::SOL_SOCKET, libc::SO_PEERCRED).unwrap();
    assert_eq!(cred, [i(0), i(-1), i(-1)].concat(), "no peer process: pid 0, uid and gid -1");
    assert_eq!(get_opt(&mut s, p, &o, false, libc::SOL_SOCKET, libc::SO_ERROR).unwrap(), i(0));
    assert_eq!(get_opt(&mut s, p, &o, false, libc::SOL_SOCKET, libc::SO_BINDTODEVICE).unwrap(), Vec::<u8>::new());
    assert_eq!(get_opt(&mut s, p, &o, false, 999, 1), Err(libc::ENOPROTOOPT));
    let info = get_opt(&mut s, p, &o, false, libc::IPPROTO_TCP, libc::TCP_INFO).unwrap();
    assert_eq!(info.len(), std::mem::size_of::<libc::tcp_info>());
    assert_eq!(info[0], 7); // TCP_CLOSE
}

/// Every field written sits at libc's own offset of `struct tcp_info`.
#[test]
fn tcp_info_layout_matches_libc() {
    use std::mem::offset_of;
    let i = TcpInfo {
        state: Some(TcpState::Established),
        rto: Duration::from_micros(200_000),
        srtt: Duration::from_micros(1_234),
        rttvar: Duration::from_micros(567),
        snd_mss: 1448,
        rcv_mss: 1400,
        cwnd: 10 * 1448,
        ssthresh: 20 * 1448,
        retransmits: 3,
        segs_out: 11,
        segs_in: 12,
        bytes_acked: 0x1122_3344_5566,
        bytes_received: 0x2233_4455_6677,
        bytes_sent: 0x3344_5566_7788,
        snd_wnd: 65_535,
        rcv_wnd: 131_072,
        rto_expirations: 2,
        ..TcpInfo::default()
    };
    let b = tcp_info_bytes(&i, 2 * 1448);
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
    type T = libc::tcp_info;
    assert_eq!(b[offset_of!(T, tcpi_state)], 1);
    assert_eq!(u32_at(offset_of!(T, tcpi_rto)), 200_000);
    assert_eq!(u32_at(offset_of!(T, tcpi_snd_mss)), 1448);
    assert_eq!(u32_at(offset_of!(T, tcpi_rcv_mss)), 1400);
    assert_eq!(u32_at(offset_of!(T, tcpi_unacked)), 2);
    assert_eq!(u32_at(offset_of!(T, tcpi_pmtu)), 1488);
    assert_eq!(u32_at(offset_of!(T, tcpi_rtt)), 1_234);
    assert_eq!(u32_at(offset_of!(T, tcpi_rttvar)), 567);
    assert_eq!(u32_at(offset_of!(T, tcpi_snd_ssthresh)), 20);
    assert_eq!(u32_at(offset_of!(T, tcpi_snd_cwnd)), 10);
    assert_eq!(u32_at(offset_of!(T, tcpi_advmss)), 1400);
    assert_eq!(u32_at(offset_of!(T, tcpi_total_retrans)), 3);
    assert_eq!(u32_at(offset_of!(T, tcpi_segs_out)), 11);
    assert_eq!(u32_at(offset_of!(T, tcpi_segs_in)), 12);
    assert_eq!(u64_at(offset_of!(T, tcpi_bytes_acked)), 0x1122_3344_5566);
    assert_eq!(u64_at(offset_of!(T, tcpi_bytes_received)), 0x2233_4455_6677);
    assert_eq!(u64_at(offset_of!(T, tcpi_bytes_sent)), 0x3344_5566_7788);
    assert_eq!(u32_at(offset_of!(T, tcpi_snd_wnd)), 65_535);
    assert_eq!(u32_at(offset_of!(T, tcpi_rcv_wnd)), 131_072);
    let o = offset_of!(T, tcpi_total_rto);
    assert_eq!(u16::from_ne_bytes([b[o], b[o + 1]]), 2);
}

#[test]
fn udp_levels() {
    let mut s = stack();
    let h = s.udp.socket();
    let p = Proto::Udp(h);
    let mut o = Opts::default();
    assert_eq!(set_opt(&mut s, p, &mut o, libc::IPPROTO_TCP, libc::TCP_NODELAY, &i(1)), Err(libc::ENOPROTOOPT));
    assert_eq!(get_opt(&mut s, p, &o, false, libc::IPPROTO_TCP, libc::TCP_NODELAY), Err(libc::EOPNOTSUPP));
    assert_eq!(get_opt(&mut s, p, &o, false, libc::SOL_SOCKET, libc::SO_TYPE).unwrap(), i(libc::SOCK_DGRAM));
    set_opt(&mut s, p, &mut o, libc::IPPROTO_IP, libc::IP_TTL, &i(-1)).unwrap();
    assert_eq!(o.ip_ttl, 64);
    assert_eq!(set_opt(&mut s, p, &mut o, libc::IPPROTO_IP, libc::IP_TTL, &i(300)), Err(libc::EINVAL));
    let l = get_opt(&mut s, p, &o, false, libc::SOL_SOCKET, libc::SO_LINGER).unwrap();
    assert_eq!(l.len(), 8);
}
