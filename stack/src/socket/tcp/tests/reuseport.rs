//! SO_REUSEPORT (socket(7)): listeners that all set it share one address and port, and incoming
//! connections are spread among them by a hash of the peer's endpoint (what lets several
//! processes of one program accept on one port through the shared stack). Listeners on different
//! addresses of one port each get their own connections.
use crate::wire::ip::{IpAddress, IpEndpoint};
use std::time::Duration;

use super::harness::Pair;
use super::*;
use crate::error::{Error, Result};

const B: IpAddress = IpAddress::v4(10, 0, 0, 2);

fn listener(s: &mut TcpStack, ip: IpAddress, port: u16, reuse_port: bool) -> Result<TcpHandle> {
    let l = s.socket();
    s.set_reuse_port(l, reuse_port)?;
    s.bind(l, IpEndpoint::new(ip, port))?;
    s.listen(l, 128)?;
    Ok(l)
}

/// Opens `n` connections from `p.a` to B:port; returns how many each listener accepted.
fn spread(p: &mut Pair, port: u16, n: usize, ls: &[TcpHandle]) -> Vec<usize> {
    let mut conns = Vec::new();
    for _ in 0..n {
        let c = p.a.socket();
        p.a.connect(p.now, c, IpEndpoint::new(B, port)).unwrap();
        conns.push(c);
    }
    p.run_for(Duration::from_millis(200));
    for c in conns {
        assert_eq!(p.a.state(c), Ok(TcpState::Established));
    }
    ls.iter()
        .map(|&l| {
            let mut k = 0;
            while p.b.accept(l).is_ok() {
                k += 1;
            }
            k
        })
        .collect()
}

#[test]
fn reuseport_listeners_share_the_connections() {
    let mut p = Pair::new();
    let l1 = listener(&mut p.b, IpAddress::v4(0, 0, 0, 0), 80, true).unwrap();
    let l2 = listener(&mut p.b, IpAddress::v4(0, 0, 0, 0), 80, true).unwrap();
    // A socket without SO_REUSEPORT may not join the group (bind fails as on Linux).
    assert_eq!(listener(&mut p.b, IpAddress::v4(0, 0, 0, 0), 80, false), Err(Error::AddrInUse));
    let n = spread(&mut p, 80, 60, &[l1, l2]);
    assert_eq!(n.iter().sum::<usize>(), 60);
    assert!(n[0] >= 10 && n[1] >= 10, "connections spread over both listeners: {n:?}");
    // One listener closes: the other gets every new connection.
    p.b.close(p.now, l1);
    assert_eq!(spread(&mut p, 80, 10, &[l2]), vec![10]);
}

#[test]
fn listeners_on_two_addresses_of_one_port() {
    let mut p = Pair::new();
    let l = listener(&mut p.b, B, 8080, false).unwrap();
    let lo = listener(&mut p.b, IpAddress::v4(127, 0, 0, 1), 8080, false).unwrap();
    // A connection to B meets B's listener, not the loopback one bound after it.
    assert_eq!(spread(&mut p, 8080, 3, &[l, lo]), vec![3, 0]);
    // The wildcard may not join them (both are bound without SO_REUSEPORT).
    assert_eq!(listener(&mut p.b, IpAddress::v4(0, 0, 0, 0), 8080, false), Err(Error::AddrInUse));
}
