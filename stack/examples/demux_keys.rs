//! Cost of the demultiplexing keys: the 4-tuple map keyed by `(IpEndpoint, IpEndpoint)` against
//! the same map keyed by `(SocketAddrV4, SocketAddrV4)` (what it was before the endpoints were
//! family-neutral), and the TIME-WAIT key as a struct against a packed u64.
//! `cargo run --release -p tapstack --example demux_keys` (docs/tcp.md, "IPv4 at the transport
//! boundary").
use std::collections::HashMap;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use tapstack::wire::ip::{IpAddress, IpEndpoint};

const CONNS: u32 = 10_000;
const LOOKUPS: usize = 5_000_000;

fn tuple(i: u32) -> (SocketAddrV4, SocketAddrV4) {
    let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 32768 + (i % 28000) as u16);
    let remote = SocketAddrV4::new(Ipv4Addr::from(0x0a01_0000 + i), 80 + (i % 7) as u16);
    (local, remote)
}

/// Shaped and hashed as `socket/tcp/timewait.rs`'s key.
#[derive(Copy, Clone, PartialEq, Eq)]
struct TwKey {
    remote: IpEndpoint,
    local_port: u16,
}
impl std::hash::Hash for TwKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.remote.hash_with(self.local_port, state);
    }
}

/// ns per lookup of `keys` in a map of them, one round.
/// The key is built from the connection's 4-tuple at each lookup, as `tw_exists` does.
fn round<T: Copy, K: std::hash::Hash + Eq + Copy>(map: &HashMap<K, u32>, tuples: &[T], key: fn(T) -> K) -> f64 {
    let t = Instant::now();
    let mut sum = 0u64;
    for i in 0..LOOKUPS {
        let k = key(*black_box(&tuples[i % tuples.len()]));
        sum = sum.wrapping_add(*map.get(&k).unwrap() as u64);
    }
    black_box(sum);
    t.elapsed().as_secs_f64() * 1e9 / LOOKUPS as f64
}

/// Best of 9 rounds of each, the two interleaved (a shared machine's noise hits both alike).
type V4Tuple = (SocketAddrV4, SocketAddrV4);
type Tuple = (IpEndpoint, IpEndpoint);

fn pair<A: std::hash::Hash + Eq + Copy, B: std::hash::Hash + Eq + Copy>(
    what: &str,
    (a, ka): (&[V4Tuple], fn(V4Tuple) -> A),
    (b, kb): (&[Tuple], fn(Tuple) -> B),
) -> (f64, f64) {
    let ma: HashMap<A, u32> = a.iter().enumerate().map(|(i, &t)| (ka(t), i as u32)).collect();
    let mb: HashMap<B, u32> = b.iter().enumerate().map(|(i, &t)| (kb(t), i as u32)).collect();
    let (mut ba, mut bb) = (f64::MAX, f64::MAX);
    for _ in 0..9 {
        ba = ba.min(round(&ma, a, ka));
        bb = bb.min(round(&mb, b, kb));
    }
    println!("{what:<12} before {ba:6.2} ns/lookup, neutral {bb:6.2} ns/lookup, ratio {:.3}", bb / ba);
    (ba, bb)
}

fn main() {
    let v4: Vec<V4Tuple> = (0..CONNS).map(tuple).collect();
    let neutral: Vec<Tuple> = v4.iter().map(|&(l, r)| (l.into(), r.into())).collect();
    assert_eq!(std::mem::size_of::<Tuple>(), std::mem::size_of::<V4Tuple>());
    assert_eq!(std::mem::size_of::<TwKey>(), 8);
    let _ = IpAddress::v4(0, 0, 0, 0);
    pair("4-tuple", (&v4, |t| t), (&neutral, |t| t));
    // Before: remote address, remote port and local port packed in a u64.
    let packed = |(l, r): V4Tuple| (u32::from(*r.ip()) as u64) << 32 | (r.port() as u64) << 16 | l.port() as u64;
    pair("TIME-WAIT", (&v4, packed), (&neutral, |(l, r)| TwKey { remote: r, local_port: l.port }));
}
