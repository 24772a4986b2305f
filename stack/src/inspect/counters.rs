//! `tapstack stats`: the interface and stack counters (frames, drops by reason, ARP cache,
//! reassembly, TCP and UDP), formatted like `nstat`: one `name value` per line, zeros hidden
//! unless asked for.
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::iface::stats::Stats;
use crate::socket::tcp::TcpStats;
use crate::socket::udp::UdpStats;

/// A copy of every counter of one stack at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Counters {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    pub mac: [u8; 6],
    pub mtu: usize,
    pub iface: Stats,
    pub tcp: TcpStats,
    pub udp: UdpStats,
    pub arp_entries: usize,
    pub arp_pending: usize,
    pub reasm_datagrams: usize,
    pub reasm_bytes: usize,
    pub tcp_control_blocks: usize,
    pub time_wait: usize,
}

/// `(field, value)` of a flat struct of integers, from its `Debug` form (so a counter added to
/// `Stats` shows up here without being listed twice).
pub fn fields(debug: &str) -> Vec<(String, u64)> {
    let body = debug.split_once('{').map_or("", |(_, b)| b).trim_end_matches('}');
    body.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Counter names that are drops (a reason something was discarded).
fn is_drop(name: &str) -> bool {
    ["malformed", "not_for_us", "unknown", "bad_", "failed", "dropped", "discarded", "too_big", "ignored"]
        .iter()
        .any(|p| name.contains(p))
        || matches!(
            name,
            "no_route"
                | "udp_no_socket"
                | "rx_no_socket"
                | "listen_overflows"
                | "icmp_rate_limited"
                | "syn_queue_drops"
                | "tw_overflows"
                | "orphan_overflows"
        )
}

/// The `tapstack stats` text; `all` shows zero counters too.
pub fn format_stats(c: &Counters, tap: &str, all: bool) -> String {
    let m = c.mac;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "interface {tap}: {}/{} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} mtu {}",
        c.addr, c.prefix_len, m[0], m[1], m[2], m[3], m[4], m[5], c.mtu
    );
    let _ = writeln!(out, "frames: rx {} tx {}", c.iface.rx_frames, c.iface.tx_frames);
    let _ = writeln!(out, "ARP cache: {} entries, {} being resolved", c.arp_entries, c.arp_pending);
    let _ = writeln!(
        out,
        "IP reassembly: {} datagrams ({} bytes) in progress, {} reassembled, {} dropped",
        c.reasm_datagrams, c.reasm_bytes, c.iface.ip_reassembled, c.iface.ip_reassembly_dropped
    );
    let _ = writeln!(
        out,
        "TCP: {} control blocks, {} in TIME-WAIT; SYN cookies: {} sent, {} valid, {} invalid; listen overflows {}",
        c.tcp_control_blocks,
        c.time_wait,
        c.tcp.syncookies_sent,
        c.tcp.syncookies_recv,
        c.tcp.syncookies_failed,
        c.tcp.listen_overflows
    );
    let groups = [
        ("ip", fields(&format!("{:?}", c.iface))),
        ("tcp", fields(&format!("{:?}", c.tcp))),
        ("udp", fields(&format!("{:?}", c.udp))),
    ];
    let mut drops = Vec::new();
    for (g, fs) in &groups {
        for (k, v) in fs {
            if is_drop(k) && *v > 0 {
                drops.push(format!("{g}.{k} {v}"));
            }
        }
    }
    let _ = writeln!(out, "drops: {}", if drops.is_empty() { "none".to_string() } else { drops.join(", ") });
    let _ = writeln!(out, "#counter{:>34}", "value");
    for (g, fs) in &groups {
        for (k, v) in fs {
            if all || *v > 0 {
                let name = format!("{g}.{k}");
                let _ = writeln!(out, "{name:<32}{v:>10}");
            }
        }
    }
    out
}
