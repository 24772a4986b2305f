//! The Linux TAP device (IFF_TAP | IFF_NO_PI), opened close-on-exec and nonblocking.
//!
//! The device must already exist (tests create it with `ip tuntap add dev tap0 mode tap`): we
//! check with SIOCGIFINDEX first, because TUNSETIFF on an unknown name would silently create a
//! new, unconfigured interface. All I/O is raw syscalls (see `crate::sys`), never the libc
//! wrappers the preload shim hooks.
use std::ffi::CString;

use super::Device;
use crate::sys::{self, strerror, IfReq};
use crate::time::Instant;

const IFNAMSIZ: usize = 16;
/// `_IOW('T', 202, int)`
const TUNSETIFF: u64 = 0x4004_54ca;
const SIOCGIFINDEX: u64 = 0x8933;
const SIOCGIFFLAGS: u64 = 0x8913;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
/// `_IOW('T', 208, unsigned int)`
const TUNSETOFFLOAD: u64 = 0x4004_54d0;
const TUN_F_CSUM: u64 = 0x01;
const TUN_F_TSO4: u64 = 0x02;
/// `struct virtio_net_hdr` (no mergeable buffers): flags, gso_type, hdr_len, gso_size,
/// csum_start, csum_offset; the 16-bit fields in the host's byte order.
const VNET_HDR_LEN: usize = 10;
const VNET_F_NEEDS_CSUM: u8 = 1;

/// Counters of the TAP device's own failures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TapStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    pub rx_errors: u64,
    /// Frames the kernel refused (queue full, interface down...): dropped.
    pub tx_dropped: u64,
}

/// An open TAP device.
#[derive(Debug)]
pub struct TapDevice {
    fd: i32,
    name: String,
    mtu: usize,
    stats: TapStats,
    /// The device was opened with IFF_VNET_HDR and receive offloads: every read and write
    /// carries a virtio_net_hdr, and the kernel may hand over TCP super-frames (up to 64 KiB,
    /// one TCP header) with a partial checksum, which `receive` completes.
    vnet: bool,
    /// Transmit coalescing (see [`TxBatch`]), when enabled by [`TapDevice::enable_tx_batching`].
    batch: Option<std::sync::Arc<parking_lot::Mutex<TxBatch>>>,
}

/// The interface index of `name` in the current network namespace (SIOCGIFINDEX).
fn ifindex(name: &str) -> Result<i32, i32> {
    let s = sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)?;
    let mut req = IfReq::new(name);
    let r = sys::ioctl_ifreq(s, SIOCGIFINDEX, &mut req);
    let _ = sys::close(s);
    r.map(|_| i32::from_ne_bytes([req.data[0], req.data[1], req.data[2], req.data[3]]))
}

/// The interface flags of `name` (SIOCGIFFLAGS).
fn ifflags(name: &str) -> Result<i16, i32> {
    let s = sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)?;
    let mut req = IfReq::new(name);
    let r = sys::ioctl_ifreq(s, SIOCGIFFLAGS, &mut req);
    let _ = sys::close(s);
    r.map(|_| i16::from_ne_bytes([req.data[0], req.data[1]]))
}

/// After TUNSETIFF the carrier comes on, but the kernel activates the interface's transmit
/// queue asynchronously (linkwatch): frames it sends before that (e.g. the answer to our first
/// ARP request) are dropped. If the interface is administratively up, wait (at most `limit`)
/// until it reports IFF_RUNNING.
fn wait_running(name: &str, limit: std::time::Duration) {
    let start = std::time::Instant::now();
    while let Ok(flags) = ifflags(name) {
        let (up, running) = (flags & libc::IFF_UP as i16 != 0, flags & libc::IFF_RUNNING as i16 != 0);
        if !up || running || start.elapsed() >= limit {
            return;
        }
        let _ = sys::ppoll(&mut [], Some(std::time::Duration::from_millis(1)));
    }
}

impl TapDevice {
    /// Opens the existing TAP interface `name`; `mtu` is the IP MTU reported to the stack.
    /// Errors are one line naming the cause: no /dev/net/tun, no such device, not a TAP
    /// device, device busy, permission denied.
    pub fn open(name: &str, mtu: usize) -> Result<TapDevice, String> {
        if name.is_empty() || name.len() >= IFNAMSIZ || name.contains('/') || name.contains('\0') {
            return Err(format!("TAP device {name:?}: invalid interface name"));
        }
        match ifindex(name) {
            Ok(_) => {}
            Err(libc::ENODEV) => {
                return Err(format!(
                    "TAP device {name}: no such device (create it first: ip tuntap add dev {name} mode tap)"
                ))
            }
            Err(e) => return Err(format!("TAP device {name}: cannot look up interface: {}", strerror(e))),
        }
        let path = CString::new("/dev/net/tun").expect("no NUL");
        let fd = match sys::open(&path, libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK, 0) {
            Ok(fd) => fd,
            Err(libc::ENOENT) | Err(libc::ENXIO) | Err(libc::ENODEV) => {
                return Err("TAP device: no /dev/net/tun (is the tun module loaded?)".into())
            }
            Err(e @ (libc::EACCES | libc::EPERM)) => {
                return Err(format!("TAP device {name}: permission denied opening /dev/net/tun ({})", strerror(e)))
            }
            Err(e) => return Err(format!("TAP device {name}: cannot open /dev/net/tun: {}", strerror(e))),
        };
        let mut req = IfReq::new(name);
        req.data[..2].copy_from_slice(&(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR).to_ne_bytes());
        let r = sys::ioctl_ifreq(fd, TUNSETIFF, &mut req);
        if let Err(e) = r {
            let _ = sys::close(fd);
            return Err(match e {
                libc::EBUSY => format!("TAP device {name}: device busy (another process has it open)"),
                libc::EPERM | libc::EACCES => {
                    format!("TAP device {name}: permission denied (needs CAP_NET_ADMIN or a TAP owned by this user)")
                }
                libc::EINVAL => format!("TAP device {name}: not a TAP device (a TUN or other interface?)"),
                e => format!("TAP device {name}: TUNSETIFF failed: {}", strerror(e)),
            });
        }
        // Receive offloads: the kernel's TCP then sends through the TAP without segmenting
        // (one read per 64 KiB instead of one per MSS). If refused, frames stay MTU-sized.
        // TUNSETOFFLOAD takes its argument by value.
        let _ = sys::ioctl_value(fd, TUNSETOFFLOAD, (TUN_F_CSUM | TUN_F_TSO4) as usize);
        wait_running(name, std::time::Duration::from_millis(500));
        Ok(TapDevice { fd, name: name.to_string(), mtu, stats: TapStats::default(), vnet: true, batch: None })
    }

    /// The descriptor, for polling (POLLIN when a frame is waiting).
    pub fn raw_fd(&self) -> i32 {
        self.fd
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn stats(&self) -> &TapStats {
        &self.stats
    }

    /// Turns on transmit coalescing: from now on consecutive TCP segments of one flow are held
    /// and written as one GSO super-frame. The caller MUST call [`TxFlush::flush`] on the
    /// returned handle after every batch of `transmit` calls (the runtime does after each
    /// `Stack::poll` round), or held frames are never sent.
    pub fn enable_tx_batching(&mut self) -> TxFlush {
        let b = std::sync::Arc::new(parking_lot::Mutex::new(TxBatch::new(self.fd, self.vnet)));
        self.batch = Some(b.clone());
        TxFlush(b)
    }
}

impl Drop for TapDevice {
    fn drop(&mut self) {
        let _ = sys::close(self.fd);
    }
}

impl Device for TapDevice {
    fn mtu(&self) -> usize {
        self.mtu
    }

    fn receive(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let mut hdr = [0u8; VNET_HDR_LEN];
        let r = if self.vnet { sys::readv2(self.fd, &mut hdr, buf) } else { sys::read(self.fd, buf) };
        match r {
            Ok(n) if self.vnet && n <= VNET_HDR_LEN => None,
            Ok(0) => None,
            Ok(n) => {
                let n = if self.vnet { n - VNET_HDR_LEN } else { n };
                self.stats.rx_frames += 1;
                if self.vnet && hdr[0] & VNET_F_NEEDS_CSUM != 0 {
                    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; finish it over
                    // csum_start.. (what skb_checksum_help does), so the stack sees a normal frame.
                    let start = u16::from_ne_bytes([hdr[6], hdr[7]]) as usize;
                    let field = start + u16::from_ne_bytes([hdr[8], hdr[9]]) as usize;
                    if field + 2 > n {
                        self.stats.rx_errors += 1;
                        return None;
                    }
                    let c = crate::wire::checksum::checksum(&buf[start..n]);
                    buf[field..field + 2].copy_from_slice(&c.to_be_bytes());
                }
                Some(n)
            }
            Err(libc::EAGAIN) => None,
            Err(_) => {
                self.stats.rx_errors += 1;
                None
            }
        }
    }

    fn transmit(&mut self, _now: Instant, frame: &[u8]) {
        if let Some(b) = &self.batch {
            self.stats.tx_frames += 1;
            b.lock().push(frame);
            return;
        }
        let r = if self.vnet { sys::writev2(self.fd, &NO_OFFLOAD, frame) } else { sys::write(self.fd, frame) };
        match r {
            Ok(_) => self.stats.tx_frames += 1,
            Err(e) => {
                self.stats.tx_dropped += 1;
                tracing::debug!(target: "tapstack::tap", "transmit of {} bytes failed: {}", frame.len(), strerror(e));
            }
        }
    }
}

const NO_OFFLOAD: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];
const GSO_TCPV4: u8 = 1;
/// Largest IPv4 total length of a super-frame (the field is 16 bits; the TAP's GSO limit is 64 KiB).
const GSO_MAX_IP_LEN: usize = 65_000;
const ETH_IP: usize = 14 + 20;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// The handle that writes out what a [`TxBatch`] holds.
#[derive(Clone)]
pub struct TxFlush(std::sync::Arc<parking_lot::Mutex<TxBatch>>);

impl TxFlush {
    /// Writes the held super-frame (if any) to the device.
    pub fn flush(&self) {
        self.0.lock().flush();
    }
}

/// Transmit coalescing, the sending half of TSO through IFF_VNET_HDR: consecutive TCP segments
/// of one flow (same addresses, ports, ACK, window and options, contiguous sequence numbers,
/// plain ACK flags, every payload but the last of the same size) are joined into one frame of
/// up to 64 KiB with one header, written once with a virtio_net_hdr asking the kernel to
/// segment it (gso_type TCPV4, gso_size = the first payload's length) and to finish the
/// checksum (NEEDS_CSUM: the TCP checksum field holds the pseudo-header sum). The kernel cuts it
/// back into exactly the segments we built (PSH/FIN only on the last, as tcp_gso_segment does),
/// or delivers it whole to a local socket, as it does with GRO. Anything else is written as is,
/// in order.
#[derive(Debug)]
pub struct TxBatch {
    fd: i32,
    vnet: bool,
    /// The super-frame so far: the first frame whole, then the payloads of the others.
    buf: Vec<u8>,
    frames: usize,
    hdr_len: usize,
    gso_size: usize,
    next_seq: u32,
    /// The last segment was short or carried PSH/FIN: nothing more may join.
    closed: bool,
    pub dropped: u64,
}

fn be16(b: &[u8], i: usize) -> usize {
    u16::from_be_bytes([b[i], b[i + 1]]) as usize
}
fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The header length and payload length of `frame` if it is a TCP data segment that may take
/// part in a super-frame (IPv4 without options or fragmentation, ACK with at most PSH/FIN).
fn tso_candidate(f: &[u8]) -> Option<(usize, usize)> {
    if f.len() <= ETH_IP + 20 || f[12..14] != [0x08, 0x00] || f[14] != 0x45 || f[23] != 6 {
        return None;
    }
    if be16(f, 20) & 0x3fff != 0 || be16(f, 16) + 14 != f.len() {
        return None;
    }
    let thlen = (f[ETH_IP + 12] >> 4) as usize * 4;
    let flags = f[ETH_IP + 13];
    if thlen < 20 || ETH_IP + thlen >= f.len() || flags & !(TCP_PSH | TCP_FIN) != TCP_ACK {
        return None;
    }
    Some((ETH_IP + thlen, f.len() - ETH_IP - thlen))
}

impl TxBatch {
    fn new(fd: i32, vnet: bool) -> TxBatch {
        TxBatch {
            fd,
            vnet,
            buf: Vec::with_capacity(65_600),
            frames: 0,
            hdr_len: 0,
            gso_size: 0,
            next_seq: 0,
            closed: false,
            dropped: 0,
        }
    }

    /// True if `f` (a candidate with header `hl` and payload `pl`) continues the held frame.
    fn joins(&self, f: &[u8], hl: usize, pl: usize) -> bool {
        let b = &self.buf;
        self.frames > 0
            && !self.closed
            && hl == self.hdr_len
            && pl <= self.gso_size
            && b.len() + pl - 14 <= GSO_MAX_IP_LEN
            && be32(f, ETH_IP + 4) == self.next_seq
            // Equal except IP length/ident/checksum and TCP seq/flags/checksum.
            && f[..16] == b[..16]
            && f[20..24] == b[20..24]
            && f[26..ETH_IP + 4] == b[26..ETH_IP + 4]
            && f[ETH_IP + 8..ETH_IP + 13] == b[ETH_IP + 8..ETH_IP + 13]
            && f[ETH_IP + 14..ETH_IP + 16] == b[ETH_IP + 14..ETH_IP + 16]
            && f[ETH_IP + 18..hl] == b[ETH_IP + 18..hl]
    }

    fn push(&mut self, f: &[u8]) {
        if !self.vnet {
            self.write(&NO_OFFLOAD, f);
            return;
        }
        let Some((hl, pl)) = tso_candidate(f) else {
            self.flush();
            self.write(&NO_OFFLOAD, f);
            return;
        };
        if self.joins(f, hl, pl) {
            self.buf.extend_from_slice(&f[hl..]);
            self.buf[ETH_IP + 13] = f[ETH_IP + 13];
            self.frames += 1;
        } else {
            self.flush();
            self.buf.extend_from_slice(f);
            self.frames = 1;
            self.hdr_len = hl;
            self.gso_size = pl;
        }
        self.next_seq = be32(f, ETH_IP + 4).wrapping_add(pl as u32);
        self.closed = pl < self.gso_size || f[ETH_IP + 13] & (TCP_PSH | TCP_FIN) != 0;
    }

    fn flush(&mut self) {
        match self.frames {
            0 => return,
            1 => {
                let buf = std::mem::take(&mut self.buf);
                self.write(&NO_OFFLOAD, &buf);
                self.buf = buf;
            }
            _ => {
                let b = &mut self.buf;
                let ip_len = b.len() - 14;
                b[16..18].copy_from_slice(&(ip_len as u16).to_be_bytes());
                b[24..26].copy_from_slice(&[0, 0]);
                let c = crate::wire::checksum::checksum(&b[14..ETH_IP]);
                b[24..26].copy_from_slice(&c.to_be_bytes());
                let src = std::net::Ipv4Addr::new(b[26], b[27], b[28], b[29]);
                let dst = std::net::Ipv4Addr::new(b[30], b[31], b[32], b[33]);
                let pseudo = crate::wire::checksum::pseudo_header(src, dst, 6, (ip_len - 20) as u32);
                let partial = crate::wire::checksum::fold(&[pseudo]);
                b[ETH_IP + 16..ETH_IP + 18].copy_from_slice(&partial.to_be_bytes());
                let mut h = [0u8; VNET_HDR_LEN];
                h[0] = VNET_F_NEEDS_CSUM;
                h[1] = GSO_TCPV4;
                h[2..4].copy_from_slice(&(self.hdr_len as u16).to_ne_bytes());
                h[4..6].copy_from_slice(&(self.gso_size as u16).to_ne_bytes());
                h[6..8].copy_from_slice(&(ETH_IP as u16).to_ne_bytes());
                h[8..10].copy_from_slice(&16u16.to_ne_bytes());
                let buf = std::mem::take(&mut self.buf);
                self.write(&h, &buf);
                self.buf = buf;
            }
        }
        self.buf.clear();
        self.frames = 0;
        self.closed = false;
    }

    fn write(&mut self, hdr: &[u8; VNET_HDR_LEN], frame: &[u8]) {
        let r = if self.vnet { sys::writev2(self.fd, hdr, frame) } else { sys::write(self.fd, frame) };
        if let Err(e) = r {
            self.dropped += 1;
            tracing::debug!(target: "tapstack::tap", "transmit of {} bytes failed: {}", frame.len(), strerror(e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn bad_names_and_missing_device() {
        assert!(TapDevice::open("", 1500).unwrap_err().contains("invalid"));
        assert!(TapDevice::open("a/b", 1500).unwrap_err().contains("invalid"));
        assert!(TapDevice::open("0123456789abcdef", 1500).unwrap_err().contains("invalid"));
        let e = TapDevice::open("tsnonexist9", 1500).err().unwrap();
        assert!(e.contains("no such device"), "{e}");
        assert!(!e.contains('\n'));
    }
    #[test]
    fn loopback_is_not_a_tap() {
        // "lo" exists in every namespace; TUNSETIFF refuses it (EINVAL), or without root the
        // open of /dev/net/tun / the ioctl is refused with a permission error.
        let e = TapDevice::open("lo", 1500).err().unwrap();
        assert!(e.contains("not a TAP") || e.contains("permission") || e.contains("/dev/net/tun"), "{e}");
    }

    /// A TCP/IPv4 frame 10.0.0.2:4000 -> 10.0.0.1:80 with a valid checksum and `n` bytes.
    fn seg(seq: u32, flags: u8, n: usize, ident: u16) -> Vec<u8> {
        let mut f = vec![0u8; ETH_IP + 20 + n];
        f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&[8, 0]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((40 + n) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&ident.to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = 6;
        f[26..34].copy_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
        let c = crate::wire::checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[34..36].copy_from_slice(&4000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        f[42..46].copy_from_slice(&7u32.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = flags;
        f[48..50].copy_from_slice(&1000u16.to_be_bytes());
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = (seq as usize + i) as u8;
        }
        let (s, d) = (std::net::Ipv4Addr::new(10, 0, 0, 2), std::net::Ipv4Addr::new(10, 0, 0, 1));
        let c = crate::wire::checksum::transport(s, d, 6, &f[34..]);
        f[50..52].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// A batch writing into one end of a datagram socketpair; returns it and the other end.
    fn batch() -> (TxBatch, i32) {
        let (a, b) = sys::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        (TxBatch::new(a, true), b)
    }

    fn records(fd: i32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut b = vec![0u8; 70_000];
        while let Ok((n @ 1.., _)) = sys::recvfrom_v4(fd, &mut b, libc::MSG_DONTWAIT) {
            out.push(b[..n].to_vec());
        }
        out
    }

    #[test]
    fn contiguous_segments_become_one_gso_frame() {
        let (mut b, peer) = batch();
        let segs = [seg(1000, TCP_ACK, 1448, 1), seg(2448, TCP_ACK, 1448, 2), seg(3896, TCP_ACK | TCP_PSH, 500, 3)];
        for s in &segs {
            b.push(s);
        }
        assert!(records(peer).is_empty(), "held until flush");
        b.flush();
        let r = records(peer);
        assert_eq!(r.len(), 1);
        let (h, f) = r[0].split_at(VNET_HDR_LEN);
        assert_eq!((h[0], h[1]), (VNET_F_NEEDS_CSUM, GSO_TCPV4));
        let ne = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
        assert_eq!((ne(2), ne(4), ne(6), ne(8)), (54, 1448, 34, 16));
        assert_eq!(f.len(), 54 + 1448 * 2 + 500);
        assert_eq!(be16(f, 16), f.len() - 14);
        assert_eq!(crate::wire::checksum::checksum(&f[14..34]), 0, "IP header checksum");
        assert_eq!(f[47], TCP_ACK | TCP_PSH, "flags of the last segment");
        assert_eq!(be32(f, 38), 1000);
        let payload: Vec<u8> = segs.iter().flat_map(|s| s[54..].to_vec()).collect();
        assert_eq!(&f[54..], &payload[..]);
        // Finishing the partial checksum as the kernel would gives a valid TCP checksum.
        let mut done = f.to_vec();
        let c = crate::wire::checksum::checksum(&done[34..]);
        done[50..52].copy_from_slice(&c.to_be_bytes());
        let (s, d) = (std::net::Ipv4Addr::new(10, 0, 0, 2), std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert!(crate::wire::checksum::verify_transport(s, d, 6, &done[34..]));
        let _ = sys::close(peer);
        let _ = sys::close(b.fd);
    }

    #[test]
    fn gaps_other_frames_and_singles_stay_in_order_and_intact() {
        let (mut b, peer) = batch();
        let a1 = seg(1, TCP_ACK, 100, 1);
        let a2 = seg(101, TCP_ACK | TCP_PSH, 100, 2);
        let a3 = seg(201, TCP_ACK, 100, 3); // after PSH: a new frame
        let gap = seg(5000, TCP_ACK, 100, 4); // not contiguous
        let syn = seg(9000, 0x12, 0, 5);
        let arp = vec![0xffu8; 42];
        for f in [&a1, &a2, &a3, &gap, &syn, &arp] {
            b.push(f);
        }
        b.flush();
        let r = records(peer);
        assert_eq!(r.len(), 5, "a1+a2, a3, gap, syn, arp");
        assert_eq!(r[0][1], GSO_TCPV4);
        for (got, want) in r[1..].iter().zip([&a3, &gap, &syn, &arp]) {
            assert_eq!(&got[..VNET_HDR_LEN], &NO_OFFLOAD);
            assert_eq!(&got[VNET_HDR_LEN..], &want[..], "a single frame is written unchanged");
        }
        // A longer segment after a shorter one never joins (every segment but the last is full).
        b.push(&seg(1, TCP_ACK, 100, 1));
        b.push(&seg(101, TCP_ACK, 200, 2));
        b.flush();
        assert_eq!(records(peer).len(), 2);
        let _ = sys::close(peer);
        let _ = sys::close(b.fd);
    }
}
