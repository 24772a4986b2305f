//! The errno table of tests/net/t_60 (measured on Linux 6.x), checked against [`parse`].
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};

use super::sockaddr::*;
use libc::{EADDRNOTAVAIL, EAFNOSUPPORT, EFAULT, EINVAL, ENETUNREACH};

fn sin(fam: u16, port: u16, a: &str) -> Vec<u8> {
    let mut b = fam.to_ne_bytes().to_vec();
    b.extend_from_slice(&port.to_be_bytes());
    b.extend_from_slice(&a.parse::<Ipv4Addr>().unwrap().octets());
    b.extend_from_slice(&[0; 8]);
    b
}

fn sin6(fam: u16, port: u16, a: &str, scope: u32) -> Vec<u8> {
    let mut b = fam.to_ne_bytes().to_vec();
    b.extend_from_slice(&port.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&a.parse::<Ipv6Addr>().unwrap().octets());
    b.extend_from_slice(&scope.to_ne_bytes());
    b
}

fn info(domain: Domain, kind: Kind, v6only: bool) -> SockInfo {
    SockInfo { domain, kind, v6only }
}

/// parse() after the user-memory step, on `len` bytes of `b` (NULL when `b` is None).
fn run(s: SockInfo, op: Op, b: Option<&[u8]>, len: u32) -> Result<Target, i32> {
    let n = user_len(op, b.is_none(), len, false)?;
    let mut buf = b.map(|b| b.to_vec()).unwrap_or_default();
    buf.resize(SOCKADDR_STORAGE, 0);
    parse(s, op, n.map(|n| &buf[..n]), &|i| i == 1)
}

fn v4t(a: &str, p: u16) -> Result<Target, i32> {
    Ok(Target::V4(SocketAddrV4::new(a.parse().unwrap(), p)))
}

const M: &str = "::ffff:10.0.0.2";
const MR: &str = "::ffff:10.0.0.1";

#[test]
fn inet6_bind_matches_linux() {
    for kind in [Kind::Stream, Kind::Dgram] {
        for v6only in [false, true] {
            let s = info(Domain::Inet6, kind, v6only);
            let any = sin6(AF_INET6, 80, "::", 0);
            assert_eq!(run(s, Op::Bind, None, 0), Err(EINVAL));
            assert_eq!(run(s, Op::Bind, None, 28), Err(EFAULT));
            assert_eq!(run(s, Op::Bind, Some(&any), 129), Err(EINVAL));
            for len in [1, 2, 23] {
                assert_eq!(run(s, Op::Bind, Some(&any), len), Err(EINVAL), "len {len}");
            }
            let want_any = if v6only { Ok(Target::V6Only(Ipv6Addr::UNSPECIFIED, 80)) } else { v4t("0.0.0.0", 80) };
            assert_eq!(run(s, Op::Bind, Some(&any), 24), want_any);
            assert_eq!(run(s, Op::Bind, Some(&any), 28), want_any);
            assert_eq!(run(s, Op::Bind, Some(&sin(AF_INET, 0, "10.0.0.2")), 16), Err(EINVAL));
            let mut inet28 = sin(AF_INET, 0, "10.0.0.2");
            inet28.resize(28, 0);
            assert_eq!(run(s, Op::Bind, Some(&inet28), 28), Err(EAFNOSUPPORT));
            assert_eq!(run(s, Op::Bind, Some(&sin6(AF_UNSPEC, 0, "::", 0)), 28), Err(EAFNOSUPPORT));
            assert_eq!(run(s, Op::Bind, Some(&sin6(99, 0, "::", 0)), 28), Err(EAFNOSUPPORT));
            let mapped = |a: &str| run(s, Op::Bind, Some(&sin6(AF_INET6, 7, a, 0)), 28);
            if v6only {
                for a in [M, "::ffff:10.0.0.9", "::ffff:0.0.0.0", "::ffff:127.0.0.1"] {
                    assert_eq!(mapped(a), Err(EINVAL), "{a}");
                }
            } else {
                assert_eq!(mapped(M), v4t("10.0.0.2", 7));
                // Not ours: the engine's bind gives EADDRNOTAVAIL, as Linux.
                assert_eq!(mapped("::ffff:10.0.0.9"), v4t("10.0.0.9", 7));
                assert_eq!(mapped("::ffff:0.0.0.0"), Ok(Target::MappedAny(7)));
                assert_eq!(mapped("::ffff:127.0.0.1"), v4t("127.0.0.1", 7));
            }
            assert_eq!(mapped("2001:db8::1"), Err(EADDRNOTAVAIL));
            assert_eq!(mapped("::1"), Ok(Target::Loopback6(7)));
            assert_eq!(mapped("fe80::1"), Err(EINVAL));
            assert_eq!(run(s, Op::Bind, Some(&sin6(AF_INET6, 7, "fe80::1", 1)), 28), Err(EADDRNOTAVAIL));
            assert_eq!(run(s, Op::Bind, Some(&sin6(AF_INET6, 7, "fe80::1", 99)), 28), Err(libc::ENODEV));
            assert_eq!(mapped("ff02::1"), Err(EINVAL));
            let gm = "ff0e::1".parse().unwrap();
            assert_eq!(mapped("ff0e::1"), if kind == Kind::Stream { Err(EINVAL) } else { Ok(Target::V6Only(gm, 7)) });
        }
    }
}

#[test]
fn inet6_connect_matches_linux() {
    for kind in [Kind::Stream, Kind::Dgram] {
        for v6only in [false, true] {
            let s = info(Domain::Inet6, kind, v6only);
            let c = |b: &[u8], len: u32| run(s, Op::Connect, Some(b), len);
            let mr = sin6(AF_INET6, 53, MR, 0);
            assert_eq!(c(&sin6(AF_INET6, 53, "::", 0), 0), Err(EINVAL));
            assert_eq!(c(&sin6(AF_INET6, 53, "::", 0), 1), Err(EINVAL));
            assert_eq!(run(s, Op::Connect, None, 28), Err(EFAULT));
            assert_eq!(c(&mr, 23), Err(EINVAL));
            let udp4 = kind == Kind::Dgram;
            let inet = sin(AF_INET, 53, "10.0.0.1");
            assert_eq!(c(&inet, 8), Err(if udp4 && v6only { EAFNOSUPPORT } else { EINVAL }));
            assert_eq!(
                c(&inet, 16),
                match (udp4, v6only) {
                    (true, false) => v4t("10.0.0.1", 53),
                    (true, true) => Err(EAFNOSUPPORT),
                    _ => Err(EINVAL),
                }
            );
            assert_eq!(c(&sin6(99, 53, MR, 0), 28), Err(EAFNOSUPPORT));
            assert_eq!(c(&sin6(AF_INET6, 53, "2001:db8::1", 0), 28), Err(ENETUNREACH));
            assert_eq!(c(&sin6(AF_INET6, 53, "ff02::1", 0), 28), Err(if udp4 { EINVAL } else { ENETUNREACH }));
            assert_eq!(c(&sin6(AF_INET6, 53, "ff0e::1", 0), 28), Err(ENETUNREACH));
            assert_eq!(c(&sin6(AF_INET6, 53, "fe80::1", 0), 28), Err(EINVAL));
            assert_eq!(c(&sin6(AF_INET6, 53, "fe80::1", 1), 28), Err(ENETUNREACH));
            assert_eq!(c(&mr, 28), if v6only { Err(ENETUNREACH) } else { v4t("10.0.0.1", 53) });
            assert_eq!(c(&mr, 24), if v6only { Err(ENETUNREACH) } else { v4t("10.0.0.1", 53) });
            assert_eq!(c(&sin6(AF_INET6, 53, "::1", 0), 28), Ok(Target::Loopback6(53)));
            assert_eq!(c(&sin6(AF_INET6, 53, "::", 0), 28), Ok(Target::Loopback6(53)));
            assert_eq!(c(&sin6(AF_UNSPEC, 0, "::", 0), 2), Ok(Target::Unspec));
        }
    }
}

#[test]
fn inet6_sendto_matches_linux() {
    for v6only in [false, true] {
        let s = info(Domain::Inet6, Kind::Dgram, v6only);
        let t = |b: Option<&[u8]>, len: u32| run(s, Op::SendTo, b, len);
        let mr = sin6(AF_INET6, 53, MR, 0);
        // No address: the engine gives EDESTADDRREQ on an unconnected socket.
        assert_eq!(t(None, 0), Ok(Target::Unspec));
        assert_eq!(t(Some(&mr), 0), Err(EINVAL));
        assert_eq!(t(Some(&mr), 1), Err(EINVAL));
        assert_eq!(t(Some(&mr), 129), Err(EINVAL));
        assert_eq!(t(Some(&mr), 23), Err(EINVAL));
        let inet = sin(AF_INET, 53, "10.0.0.1");
        assert_eq!(t(Some(&inet), 8), Err(if v6only { ENETUNREACH } else { EINVAL }));
        assert_eq!(t(Some(&inet), 16), if v6only { Err(ENETUNREACH) } else { v4t("10.0.0.1", 53) });
        assert_eq!(t(Some(&sin6(AF_UNSPEC, 53, MR, 0)), 28), Ok(Target::Unspec));
        assert_eq!(t(Some(&sin6(99, 53, MR, 0)), 28), Err(EINVAL));
        for a in ["2001:db8::1", "ff02::1", "ff0e::1", "fe80::1"] {
            assert_eq!(t(Some(&sin6(AF_INET6, 53, a, 0)), 28), Err(ENETUNREACH), "{a}");
        }
        assert_eq!(t(Some(&sin6(AF_INET6, 53, "fe80::1", 1)), 28), Err(ENETUNREACH));
        let want = if v6only { Err(ENETUNREACH) } else { v4t("10.0.0.1", 53) };
        assert_eq!(t(Some(&mr), 28), want);
        assert_eq!(t(Some(&mr), 24), want);
    }
    // TCP ignores the address of sendto.
    let s = info(Domain::Inet6, Kind::Stream, false);
    assert_eq!(run(s, Op::SendTo, Some(&sin(99, 0, "1.2.3.4")), 16), Ok(Target::Unspec));
}

#[test]
fn inet_matches_linux() {
    for kind in [Kind::Stream, Kind::Dgram] {
        let s = info(Domain::Inet, kind, false);
        let b = |x: &[u8], len: u32| run(s, Op::Bind, Some(x), len);
        assert_eq!(run(s, Op::Bind, None, 0), Err(EINVAL));
        assert_eq!(b(&sin(AF_INET, 0, "0.0.0.0"), 1), Err(EINVAL));
        assert_eq!(b(&sin6(AF_INET6, 0, "::", 0), 8), Err(EINVAL));
        assert_eq!(b(&sin6(AF_INET6, 0, "::", 0), 28), Err(EAFNOSUPPORT));
        assert_eq!(b(&sin(AF_UNSPEC, 5, "0.0.0.0"), 16), v4t("0.0.0.0", 5));
        assert_eq!(b(&sin(AF_UNSPEC, 5, "10.0.0.2"), 16), Err(EAFNOSUPPORT));
        assert_eq!(b(&sin(99, 0, "0.0.0.0"), 16), Err(EAFNOSUPPORT));
        assert_eq!(b(&sin(AF_INET, 0, "0.0.0.0"), 15), Err(EINVAL));
        let c = |x: &[u8], len: u32| run(s, Op::Connect, Some(x), len);
        assert_eq!(c(&sin(AF_INET, 53, "10.0.0.1"), 1), Err(EINVAL));
        assert_eq!(c(&sin(AF_INET, 53, "10.0.0.1"), 8), Err(EINVAL));
        assert_eq!(c(&sin6(AF_INET6, 53, MR, 0), 28), Err(EAFNOSUPPORT));
        assert_eq!(c(&sin(99, 53, "10.0.0.1"), 16), Err(EAFNOSUPPORT));
        assert_eq!(c(&sin(AF_INET, 53, "10.0.0.1"), 16), v4t("10.0.0.1", 53));
        assert_eq!(c(&sin(AF_UNSPEC, 0, "0.0.0.0"), 2), Ok(Target::Unspec));
    }
    let s = info(Domain::Inet, Kind::Dgram, false);
    let t = |x: &[u8], len: u32| run(s, Op::SendTo, Some(x), len);
    assert_eq!(t(&sin(AF_INET, 53, "10.0.0.1"), 1), Err(EINVAL));
    assert_eq!(t(&sin(AF_INET, 53, "10.0.0.1"), 8), Err(EINVAL));
    assert_eq!(t(&sin6(AF_INET6, 53, MR, 0), 28), Err(EAFNOSUPPORT));
    assert_eq!(t(&sin(AF_UNSPEC, 53, "10.0.0.1"), 16), v4t("10.0.0.1", 53));
    assert_eq!(t(&sin(99, 53, "10.0.0.1"), 16), Err(EAFNOSUPPORT));
    assert_eq!(t(&sin(AF_INET, 53, "10.0.0.1"), 129), Err(EINVAL));
}

#[test]
fn sendmsg_name_is_clamped_not_refused() {
    assert_eq!(user_len(Op::SendTo, false, 200, true), Ok(Some(SOCKADDR_STORAGE)));
    assert_eq!(user_len(Op::SendTo, false, 0, true), Ok(None));
    assert_eq!(user_len(Op::SendTo, true, 28, true), Ok(None));
    assert_eq!(user_len(Op::SendTo, false, u32::MAX, true), Err(EINVAL));
}

#[test]
fn encode_and_truncate_like_linux() {
    // getsockname of an AF_INET6 socket bound to ::ffff:10.0.0.2:4321 (bytes from Linux).
    let e = encode(Domain::Inet6, Name::V4("10.0.0.2:4321".parse().unwrap()), Style::default());
    let want = "0a0010e10000000000000000000000000000ffff0a00000200000000";
    let hex: String = e.bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, want);
    for (ul, copy) in [(0u32, 0usize), (2, 2), (4, 4), (27, 27), (28, 28), (100, 28)] {
        assert_eq!(copy_out_len(e.len, ul), Ok((copy, 28)));
    }
    assert_eq!(copy_out_len(e.len, -1i32 as u32), Err(EINVAL));
    let any = encode(Domain::Inet6, Name::V4("0.0.0.0:4322".parse().unwrap()), Style::default());
    assert_eq!(&any.bytes()[8..24], &[0u8; 16]);
    let many = encode(Domain::Inet6, Name::V4("0.0.0.0:4323".parse().unwrap()), Style { mapped_any: true });
    assert_eq!(&many.bytes()[8..24], &Ipv4Addr::UNSPECIFIED.to_ipv6_mapped().octets());
    let lo = encode(Domain::Inet6, Name::V4(loopback6(9)), Style::default());
    assert_eq!(&lo.bytes()[8..24], &Ipv6Addr::LOCALHOST.octets());
    assert_eq!(&lo.bytes()[2..4], &9u16.to_be_bytes());
    let lo4 = encode(Domain::Inet6, Name::V4("127.0.0.1:9".parse().unwrap()), Style::default());
    assert_eq!(
        mapped_v4(&Ipv6Addr::from(<[u8; 16]>::try_from(&lo4.bytes()[8..24]).unwrap())),
        Some(Ipv4Addr::LOCALHOST)
    );
    let v4 = encode(Domain::Inet, Name::V4("10.0.0.2:80".parse().unwrap()), Style::default());
    assert_eq!(v4.len, SIN_LEN);
    assert_eq!(&v4.bytes()[..8], &[2, 0, 0, 80, 10, 0, 0, 2]);
}
