//! `tapstack-host`: runs the stack over the TAP device named by `TAPSTACK_TAP`, answering ARP and
//! ICMP (and later serving as a test peer). Configuration comes from the same `TAPSTACK_*`
//! environment as the shim.
//!
//! ```text
//! tapstack-host                         serve until SIGINT/SIGTERM, then print statistics
//! tapstack-host --ping ADDR [-c N] [-s SIZE] [-i SECS] [-W SECS]
//!                                       ping ADDR from the stack, like ping(8)
//! ```
//! Exit status: 0 served / at least one reply; 1 no reply, or the TAP device went away; 2 bad
//! usage, configuration or device.
#![deny(unsafe_code)]

use std::net::Ipv4Addr;
use std::process::exit;
use std::time::Duration;

use tapstack::config::Config;
use tapstack::runtime::Runtime;
use tapstack::sys::{self, SigSet};

const USAGE: &str = "usage: tapstack-host [--ping ADDR [-c COUNT] [-s SIZE] [-i INTERVAL] [-W TIMEOUT]]";

struct PingArgs {
    dst: Ipv4Addr,
    count: u16,
    size: usize,
    interval: Duration,
    timeout: Duration,
}

fn die(msg: &str) -> ! {
    eprintln!("tapstack-host: {msg}");
    exit(2)
}

fn secs(flag: &str, v: &str) -> Duration {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Duration::from_secs_f64(s),
        _ => die(&format!("{flag}: expected seconds, got {v:?}")),
    }
}

fn parse_args() -> Option<PingArgs> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return None;
    }
    let mut p = PingArgs {
        dst: Ipv4Addr::UNSPECIFIED,
        count: 4,
        size: 56,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
    };
    let mut have_dst = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| die(&format!("{a}: missing value; {USAGE}")));
        match a.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            "--ping" => {
                let v = val();
                p.dst = v.parse().unwrap_or_else(|_| die(&format!("--ping: expected a.b.c.d, got {v:?}")));
                have_dst = true;
            }
            "-c" => {
                let v = val();
                p.count = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => die(&format!("-c: expected 1..65535, got {v:?}")),
                };
            }
            "-s" => {
                let v = val();
                p.size = match v.parse() {
                    Ok(n) if n <= 65507 => n,
                    _ => die(&format!("-s: expected 0..65507, got {v:?}")),
                };
            }
            "-i" => p.interval = secs("-i", &val()),
            "-W" => p.timeout = secs("-W", &val()),
            _ => die(&format!("unknown argument {a:?}; {USAGE}")),
        }
    }
    if !have_dst {
        die(USAGE);
    }
    Some(p)
}

/// Blocks SIGINT and SIGTERM (before any thread starts) so they can be taken with sigtimedwait.
fn block_term_signals() -> SigSet {
    let set = sys::sigset(&[libc::SIGINT, libc::SIGTERM]);
    let _ = sys::sigprocmask(libc::SIG_BLOCK, Some(set));
    set
}

/// Waits up to `timeout` for SIGINT/SIGTERM; returns the signal number, if one came.
fn take_signal(set: &SigSet, timeout: Duration) -> Option<i32> {
    sys::sigtimedwait(*set, timeout).ok().flatten()
}

fn print_stats(rt: &Runtime) {
    let g = rt.lock();
    println!("{:#?}", g.stats());
    drop(g);
    println!("{:#?}", rt.stats());
}

fn serve(rt: &Runtime, sigs: &SigSet) -> i32 {
    loop {
        if rt.tap_gone() {
            rt.stop();
            rt.finish_trace();
            print_stats(rt);
            return 1;
        }
        if let Some(sig) = take_signal(sigs, Duration::from_secs(1)) {
            println!("tapstack-host: signal {sig}, stopping");
            rt.stop();
            rt.finish_trace();
            print_stats(rt);
            return 0;
        }
    }
}

/// Replies and timing of one `--ping` run.
struct PingState {
    ident: u16,
    dst: Ipv4Addr,
    size: usize,
    sent_at: Vec<Option<tapstack::Instant>>,
    got: Vec<bool>,
    received: usize,
    dups: usize,
    rtts: Vec<f64>,
}

impl PingState {
    fn collect(&mut self, g: &mut tapstack::runtime::RuntimeGuard<'_>) {
        for r in g.take_ping_replies() {
            let seq = usize::from(r.seq);
            if r.ident != self.ident || r.from != self.dst || seq >= self.sent_at.len() {
                continue;
            }
            let Some(t0) = self.sent_at[seq] else { continue };
            let ms = r.at.saturating_since(t0).as_micros() as f64 / 1000.0;
            let dup = self.got[seq];
            let bad = if r.payload_len != self.size { " (wrong length)" } else { "" };
            println!(
                "{} bytes from {}: icmp_seq={} time={:.3} ms{}{}",
                r.payload_len + 8,
                r.from,
                r.seq,
                ms,
                if dup { " (DUP!)" } else { "" },
                bad
            );
            if dup {
                self.dups += 1;
            } else if bad.is_empty() {
                self.got[seq] = true;
                self.received += 1;
                self.rtts.push(ms);
            }
        }
    }
}

fn ping(rt: &Runtime, sigs: &SigSet, p: &PingArgs) -> i32 {
    let payload: Vec<u8> = (0..p.size).map(|i| (i % 251) as u8).collect();
    println!("PING {} {}({}) bytes of data.", p.dst, p.size, p.size + 28);
    let mut st = PingState {
        ident: (std::process::id() & 0xffff) as u16,
        dst: p.dst,
        size: p.size,
        sent_at: vec![None; p.count as usize + 1],
        got: vec![false; p.count as usize + 1],
        received: 0,
        dups: 0,
        rtts: Vec::new(),
    };
    let start = std::time::Instant::now();
    let mut interrupted = false;
    for seq in 1..=p.count {
        {
            let mut g = rt.lock();
            let now = rt.now();
            st.sent_at[usize::from(seq)] = Some(now);
            g.ping(now, p.dst, st.ident, seq, &payload);
        }
        // Until the next send (or, after the last, until every reply or the timeout).
        let last = seq == p.count;
        let until = std::time::Instant::now() + if last { p.timeout } else { p.interval };
        let mut g = rt.lock();
        loop {
            st.collect(&mut g);
            if last && st.received == p.count as usize {
                break;
            }
            let now = std::time::Instant::now();
            if now >= until {
                break;
            }
            // Check for ^C at least every 100 ms.
            let step = (now + Duration::from_millis(100)).min(until);
            rt.wait(&mut g, Some(step));
            if take_signal(sigs, Duration::ZERO).is_some() {
                interrupted = true;
                break;
            }
        }
        drop(g);
        if interrupted {
            break;
        }
    }
    let transmitted = st.sent_at.iter().filter(|s| s.is_some()).count();
    let received = st.received;
    let loss = if transmitted == 0 { 0.0 } else { 100.0 * (transmitted - received) as f64 / transmitted as f64 };
    println!();
    println!("--- {} ping statistics ---", p.dst);
    println!(
        "{transmitted} packets transmitted, {received} received,{} {loss:.0}% packet loss, time {}ms",
        if st.dups > 0 { format!(" +{} duplicates,", st.dups) } else { String::new() },
        start.elapsed().as_millis()
    );
    if !st.rtts.is_empty() {
        let min = st.rtts.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = st.rtts.iter().cloned().fold(0.0, f64::max);
        let avg = st.rtts.iter().sum::<f64>() / st.rtts.len() as f64;
        println!("rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms");
    }
    let failed = rt.lock().stats().arp_resolution_failed;
    if received == 0 && failed > 0 {
        println!("(ARP resolution failed {failed} time(s): no host answered)");
    }
    if received > 0 {
        0
    } else {
        1
    }
}

fn main() {
    let ping_args = parse_args();
    let config = Config::from_env().unwrap_or_else(|e| die(&e.to_string()));
    let sigs = block_term_signals();
    let rt = Runtime::start(config).unwrap_or_else(|e| die(&e.to_string()));
    let code = match &ping_args {
        None => {
            let c = rt.config();
            println!(
                "tapstack-host: up on {} addr {}/{} mac {}",
                c.tap,
                c.addr,
                c.prefix_len,
                c.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
            );
            serve(&rt, &sigs)
        }
        Some(p) => {
            let code = ping(&rt, &sigs, p);
            rt.stop();
            rt.finish_trace();
            code
        }
    };
    exit(code)
}
