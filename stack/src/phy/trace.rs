//! A device wrapper that logs every frame in and out, one line each (`TAPSTACK_TRACE`, target
//! `tapstack::frame` at TRACE level; see `log.rs` for the filter).
use std::net::Ipv4Addr;

use super::Device;
use crate::time::Instant;

/// One-line summary of an Ethernet frame: addresses, EtherType and for ARP/IPv4 the essentials.
/// Total on any input.
pub fn summarize(frame: &[u8]) -> String {
    let mac = |b: &[u8]| format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5]);
    if frame.len() < 14 {
        return format!("runt frame ({} bytes)", frame.len());
    }
    let (dst, src) = (mac(&frame[0..6]), mac(&frame[6..12]));
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let p = &frame[14..];
    let ip4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    let rest = match ethertype {
        0x0806 if p.len() >= 28 => {
            let op = u16::from_be_bytes([p[6], p[7]]);
            let (spa, tpa) = (ip4(&p[14..18]), ip4(&p[24..28]));
            match op {
                1 => format!("ARP who-has {tpa} tell {spa}"),
                2 => format!("ARP reply {spa} is-at {}", mac(&p[8..14])),
                _ => format!("ARP op {op}"),
            }
        }
        0x0800 if p.len() >= 20 => {
            let (s, d) = (ip4(&p[12..16]), ip4(&p[16..20]));
            let total = u16::from_be_bytes([p[2], p[3]]);
            let id = u16::from_be_bytes([p[4], p[5]]);
            let frag = u16::from_be_bytes([p[6], p[7]]);
            let proto = match p[9] {
                1 => "ICMP".to_string(),
                6 => "TCP".to_string(),
                17 => "UDP".to_string(),
                n => format!("proto {n}"),
            };
            let mut s = format!("IPv4 {s} > {d} {proto} len {total} id {id}");
            if frag & 0x3fff != 0 {
                s += &format!(" frag off {} {}", (frag & 0x1fff) * 8, if frag & 0x2000 != 0 { "MF" } else { "last" });
            }
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if frag & 0x1fff == 0 && ihl >= 20 {
                if let Some(l4) = p.get(ihl..) {
                    if p[9] == 1 && l4.len() >= 8 {
                        s += &format!(" type {} code {} seq {}", l4[0], l4[1], u16::from_be_bytes([l4[6], l4[7]]));
                    } else if p[9] == 6 && l4.len() >= 14 {
                        let f = l4[13];
                        let flags: String = [(0x02, 'S'), (0x10, '.'), (0x01, 'F'), (0x04, 'R'), (0x08, 'P')]
                            .iter()
                            .filter(|(m, _)| f & m != 0)
                            .map(|(_, c)| *c)
                            .collect();
                        s += &format!(
                            " {} > {} [{flags}] seq {} ack {}",
                            u16::from_be_bytes([l4[0], l4[1]]),
                            u16::from_be_bytes([l4[2], l4[3]]),
                            u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
                            u32::from_be_bytes([l4[8], l4[9], l4[10], l4[11]])
                        );
                    } else if p[9] == 17 && l4.len() >= 8 {
                        s += &format!(
                            " {} > {}",
                            u16::from_be_bytes([l4[0], l4[1]]),
                            u16::from_be_bytes([l4[2], l4[3]])
                        );
                    }
                }
            }
            s
        }
        t => format!("ethertype 0x{t:04x}"),
    };
    format!("{src} > {dst} {rest} ({} bytes)", frame.len())
}

/// A device wrapper logging every frame in and out at target `tapstack::frame` (TRACE level).
pub struct TraceDevice<D: Device> {
    inner: D,
}

impl<D: Device> TraceDevice<D> {
    pub fn new(inner: D) -> TraceDevice<D> {
        TraceDevice { inner }
    }
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }
}

impl<D: Device> Device for TraceDevice<D> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = self.inner.receive(now, buf)?;
        tracing::trace!(target: "tapstack::frame", "in  {}", summarize(&buf[..n]));
        Some(n)
    }
    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        tracing::trace!(target: "tapstack::frame", "out {}", summarize(frame));
        self.inner.transmit(now, frame);
    }
    fn rx_checksum_ok(&self) -> bool {
        self.inner.rx_checksum_ok()
    }
    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn summaries() {
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        assert_eq!(
            summarize(&arp),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP who-has 10.0.0.2 tell 10.0.0.1 (42 bytes)"
        );
        let mut ip = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        ip.extend_from_slice(&[0x45, 0, 0, 28, 0, 7, 0x20, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        ip.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 3]);
        let s = summarize(&ip);
        assert!(s.contains("IPv4 10.0.0.1 > 10.0.0.2 ICMP len 28 id 7 frag off 0 MF type 8 code 0 seq 3"), "{s}");
        // Total on anything.
        for n in 0..ip.len() {
            let _ = summarize(&ip[..n]);
            let _ = summarize(&arp[..n.min(arp.len())]);
        }
        let mut bad_ihl = ip.clone();
        bad_ihl[14] = 0x4f;
        let _ = summarize(&bad_ihl);
    }
}
