//! Segment traces for bug reports: one line per frame on the link.
use std::net::Ipv4Addr;

use tapstack::phy::link::{Dir, Link};
use tapstack::time::Instant;

/// A one-line summary of an Ethernet frame: ARP, or IPv4 + TCP header fields and options.
pub fn describe_frame(dir: Dir, now: Instant, f: &[u8]) -> String {
    let arrow = if dir == Dir::AToB { "A>B" } else { "B>A" };
    let t = now.total_micros();
    let head = format!("{:>6}.{:06} {arrow}", t / 1_000_000, t % 1_000_000);
    if f.len() < 14 {
        return format!("{head} runt {}", f.len());
    }
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0806 => return format!("{head} ARP op {}", f.get(21).copied().unwrap_or(0)),
        0x0800 => {}
        et => return format!("{head} ethertype {et:#06x}"),
    }
    let ip = &f[14..];
    if ip.len() < 20 {
        return format!("{head} short IPv4");
    }
    let ihl = (ip[0] & 15) as usize * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    let (src, dst) = (Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]), Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
    if ip[9] != 6 || frag & 0x3fff != 0 || ip.len() < ihl + 20 || total < ihl + 20 || total > ip.len() {
        return format!("{head} IPv4 {src}>{dst} proto {} len {total} frag {frag:#x}", ip[9]);
    }
    let tcp = &ip[ihl..total];
    let port = |i: usize| u16::from_be_bytes([tcp[i], tcp[i + 1]]);
    let word = |i: usize| u32::from_be_bytes([tcp[i], tcp[i + 1], tcp[i + 2], tcp[i + 3]]);
    let doff = ((tcp[12] >> 4) as usize * 4).clamp(20, tcp.len());
    let fl = tcp[13];
    let flags: String = [(0x02, 'S'), (0x10, '.'), (0x08, 'P'), (0x01, 'F'), (0x04, 'R'), (0x20, 'U')]
        .iter()
        .filter(|(b, _)| fl & b != 0)
        .map(|(_, c)| *c)
        .collect();
    let mut opts = String::new();
    let o = &tcp[20..doff];
    let mut i = 0;
    while i < o.len() {
        match o[i] {
            0 => break,
            1 => i += 1,
            k => {
                let len = o.get(i + 1).copied().unwrap_or(0) as usize;
                if len < 2 || i + len > o.len() {
                    opts.push_str(" badopt");
                    break;
                }
                let v = &o[i + 2..i + len];
                let be32 = |j: usize| u32::from_be_bytes([v[j], v[j + 1], v[j + 2], v[j + 3]]);
                match (k, len) {
                    (2, 4) => opts.push_str(&format!(" mss={}", u16::from_be_bytes([v[0], v[1]]))),
                    (3, 3) => opts.push_str(&format!(" ws={}", v[0])),
                    (4, 2) => opts.push_str(" sackOK"),
                    (8, 10) => opts.push_str(&format!(" ts={}/{}", be32(0), be32(4))),
                    (5, _) => {
                        opts.push_str(" sack");
                        for b in v.chunks_exact(8) {
                            let (l, r) = (
                                u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                                u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                            );
                            opts.push_str(&format!(" {l}-{r}"));
                        }
                    }
                    _ => opts.push_str(&format!(" opt{k}")),
                }
                i += len;
            }
        }
    }
    format!(
        "{head} {}>{} [{flags}] seq {} ack {} win {} len {}{opts}",
        port(0),
        port(2),
        word(4),
        word(8),
        port(14),
        tcp.len() - doff
    )
}

/// The last frames offered to the link, as one-line summaries.
#[derive(Clone, Default)]
pub struct Trace {
    lines: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<String>>>,
}

impl Trace {
    /// Records the last `keep` frames of `link`.
    pub fn attach(link: &Link, keep: usize) -> Trace {
        let t = Trace::default();
        let lines = t.lines.clone();
        link.add_monitor(Box::new(move |dir, now, f| {
            let mut l = lines.borrow_mut();
            if l.len() == keep {
                l.pop_front();
            }
            l.push_back(describe_frame(dir, now, f));
        }));
        t
    }
    pub fn dump(&self) -> String {
        self.lines.borrow().iter().cloned().collect::<Vec<_>>().join("\n")
    }
}
