//! Microbenchmark of the TCP engine with and without tracing: two `TcpStack`s joined in memory
//! (no device, no delay) move MIB mebibytes one way; prints MiB/s of engine time.
//!
//!     cargo run --release --example trace_cost -- [off|ladder|events] [MIB] [ROUNDS]
//!
//! `ladder` / `events` install the runtime's sink writing to /dev/null (rendering and the
//! write calls included). bench/trace-cost.sh runs it interleaved against a build of main.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant as WallClock;

use tapstack::socket::tcp::{TcpConfig, TcpStack};
use tapstack::time::{Duration, Instant};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn run(mode: &str, mib: usize) -> f64 {
    let mut a = TcpStack::new(TcpConfig::new(A.into(), 1500));
    let mut b = TcpStack::new(TcpConfig::new(B.into(), 1500));
    // TRACER BEGIN
    if mode != "off" {
        let spec = tapstack::trace::sink::TraceSpec::parse(mode).expect("mode");
        let fd = std::fs::OpenOptions::new().write(true).open("/dev/null").expect("/dev/null");
        let fd = std::os::fd::IntoRawFd::into_raw_fd(fd);
        a.set_tracer(Some(Box::new(tapstack::trace::sink::WriterSink::new(&spec, fd, fd))));
    }
    // TRACER END
    let _ = mode;
    let mut now = Instant::from_secs(1);
    let l = b.socket();
    b.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80).into()).unwrap();
    b.listen(l, 4).unwrap();
    let h = a.socket();
    a.connect(now, h, SocketAddrV4::new(B, 80).into()).unwrap();
    let total = mib << 20;
    let chunk = vec![0x5au8; 64 * 1024];
    let mut buf = vec![0u8; 256 * 1024];
    let (mut sent, mut got, mut hb) = (0usize, 0usize, None);
    let mut q: Vec<(bool, Ipv4Addr, Ipv4Addr, Vec<u8>)> = Vec::new();
    let start = WallClock::now();
    while got < total {
        if hb.is_none() {
            hb = b.accept(l).ok();
        }
        while sent < total {
            match a.send(now, h, &chunk[..chunk.len().min(total - sent)]) {
                Ok(k) => sent += k,
                Err(_) => break,
            }
        }
        if let Some(hb) = hb {
            while let Ok(k) = b.recv(now, hb, &mut buf) {
                if k == 0 {
                    break;
                }
                got += k;
            }
        }
        a.dispatch(now, &mut |s, d, seg| q.push((true, s.into(), d.into(), seg.to_vec())));
        b.dispatch(now, &mut |s, d, seg| q.push((false, s.into(), d.into(), seg.to_vec())));
        for (to_b, s, d, seg) in q.drain(..) {
            if to_b {
                b.process(now, s.into(), d.into(), &seg);
            } else {
                a.process(now, s.into(), d.into(), &seg);
            }
        }
        a.trace_flush();
        now += Duration::from_micros(20);
    }
    let secs = start.elapsed().as_secs_f64();
    total as f64 / (1 << 20) as f64 / secs
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("off").to_string();
    let mib: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(512);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    for _ in 0..rounds {
        println!("{mode} {mib} MiB {:.1} MiB/s", run(&mode, mib));
    }
}
