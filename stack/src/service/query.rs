//! `tapstack ss` and `tapstack stats` served by the service: the socket table (with the process
//! holding each socket, found as ss(8) does, through /proc/PID/fd) and the counters, formatted
//! by `crate::inspect` and sent back in pages of `proto::MAX_DATA` bytes.
use std::collections::HashMap;

use super::proto::{Msg, Op, MAX_DATA};
use super::Service;
use crate::inspect::{counters::format_stats, format_ss, Proto, SsOpts};

/// inode of a socket -> (command name, pid) of a process holding it (the first found).
fn socket_owners() -> HashMap<u64, (String, i32)> {
    let mut m = HashMap::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return m };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default().trim().to_string();
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else { continue };
            let l = link.to_string_lossy();
            if let Some(ino) = l.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')).and_then(|s| s.parse().ok())
            {
                m.entry(ino).or_insert_with(|| (comm.clone(), pid));
            }
        }
    }
    m
}

/// SIOCGARP: the ARP cache's entry for `m.ip` (Linux's arp_req_get: ATF_COM when resolved, no
/// flag and no address while it is being resolved, ENXIO for none).
pub(super) fn arp_entry(stack: &crate::stack::Stack, m: &Msg) -> Msg {
    match stack.arp_entry(std::net::Ipv4Addr::from(m.ip)) {
        Some((mac, done)) => {
            let mut r = Msg::reply(m.op, 0);
            r.c = if done { libc::ATF_COM } else { 0 };
            r.data = mac.to_vec();
            r
        }
        None => Msg::reply(m.op, libc::ENXIO),
    }
}

impl Service {
    /// The text of a `Sockets` / `Counters` request, one page of it per reply.
    pub(super) fn query(&mut self, o: Op, m: &Msg) -> Msg {
        let text = match o {
            Op::Sockets => {
                let flags = String::from_utf8_lossy(&m.data).to_string();
                let opts = match SsOpts::parse(flags.split_whitespace()) {
                    Ok(o) => o,
                    Err(e) => {
                        let mut r = Msg::reply(m.op, libc::EINVAL);
                        r.data = e.into_bytes();
                        return r;
                    }
                };
                let owners = socket_owners();
                let mut table = self.stack.socket_table();
                for e in &mut table {
                    let i = match e.proto {
                        Proto::Tcp if e.handle != 0 => self.by_tcp.get(&e.handle),
                        Proto::Udp | Proto::Raw => self.by_udp.get(&e.handle),
                        _ => None,
                    };
                    if let Some(s) = i.and_then(|&i| self.socks.get(i)).and_then(|s| s.as_ref()) {
                        e.owner = owners.get(&s.ident.1).cloned();
                    }
                }
                format_ss(&table, opts)
            }
            _ => format_stats(&self.stack.counters(self.now()), &self.cfg.tap, m.b == 1),
        };
        let bytes = text.as_bytes();
        let off = (m.a.max(0) as usize).min(bytes.len());
        let mut r = Msg::reply(m.op, 0);
        r.c = bytes.len() as i32;
        r.data = bytes[off..(off + MAX_DATA).min(bytes.len())].to_vec();
        r
    }
}
