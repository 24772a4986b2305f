//! The Linux TAP device (IFF_TAP | IFF_NO_PI), opened close-on-exec and nonblocking.
//!
//! The device must already exist (tests create it with `ip tuntap add dev tap0 mode tap`): we
//! check with SIOCGIFINDEX first, because TUNSETIFF on an unknown name would silently create a
//! new, unconfigured interface. All I/O is raw syscalls (see `crate::sys`), never the libc
//! wrappers the preload shim hooks.
use std::ffi::CString;

use super::gso::{Coalescer, VnetHdr, MAX_PARTS, NO_OFFLOAD, VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_HDR_LEN};
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
    /// Complete partial checksums in `receive` (for wrappers that look at or alter frames:
    /// pcap, fault injection); off, a partial checksum stays as the kernel left it and only
    /// `rx_checksum_ok` vouches for the frame.
    finish_partial: bool,
    /// The last frame received came with NEEDS_CSUM or DATA_VALID (see `Device::rx_checksum_ok`).
    rx_ok: bool,
    /// TCP frames we transmit carry only the pseudo-header sum; the kernel finishes it.
    tx_partial: bool,
}

/// The interface index of `name` in the current network namespace (SIOCGIFINDEX).
pub fn ifindex(name: &str) -> Result<i32, i32> {
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
        Ok(TapDevice {
            fd,
            name: name.to_string(),
            mtu,
            stats: TapStats::default(),
            vnet: true,
            batch: None,
            finish_partial: true,
            rx_ok: false,
            tx_partial: false,
        })
    }

    /// Leaves the partial checksums of locally made frames unfinished (the stack trusts them
    /// through `rx_checksum_ok`, as Linux does): one pass over every received byte less. Only
    /// when nothing between the TAP and the stack reads or alters frames (no pcap, no faults).
    pub fn leave_partial_checksums(&mut self) {
        self.finish_partial = false;
    }

    /// Frames from the kernel arrive at wire size (one MSS each), not as TCP super-frames: the
    /// receive offload is turned off (TUN_F_TSO4), so the kernel segments before the TAP, as a
    /// NIC's wire would. For the fault injector, whose loss, corruption, reordering and rate
    /// apply per frame: a lost 64 KiB super-frame would be a burst of 45 lost segments.
    pub fn receive_wire_size(&mut self) {
        let _ = sys::ioctl_value(self.fd, TUNSETOFFLOAD, TUN_F_CSUM as usize);
    }

    /// TCP frames handed to `transmit` carry only their pseudo-header sum (the stack's
    /// `set_tcp_checksum_offload`): each goes out with NEEDS_CSUM and the kernel finishes it, as
    /// it does for super-frames. Needs the virtio_net_hdr; returns whether it is on.
    pub fn enable_tcp_checksum_offload(&mut self) -> bool {
        self.tx_partial = self.vnet;
        if let Some(b) = &self.batch {
            b.lock().gso.partial_tcp = self.tx_partial;
        }
        self.tx_partial
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
        self.rx_ok = false;
        let mut hdr = [0u8; VNET_HDR_LEN];
        let r = if self.vnet { sys::readv2(self.fd, &mut hdr, buf) } else { sys::read(self.fd, buf) };
        match r {
            Ok(n) if self.vnet && n <= VNET_HDR_LEN => None,
            Ok(0) => None,
            Ok(n) => {
                let n = if self.vnet { n - VNET_HDR_LEN } else { n };
                self.stats.rx_frames += 1;
                let h = VnetHdr::parse(&hdr);
                if self.vnet && h.flags & VNET_F_NEEDS_CSUM != 0 {
                    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum; finish it over
                    // csum_start.. (what skb_checksum_help does) if anyone looks at the frame.
                    let start = h.csum_start as usize;
                    let field = start + h.csum_offset as usize;
                    if field + 2 > n {
                        self.stats.rx_errors += 1;
                        return None;
                    }
                    // Only TCP trusts the device (Interface::receive_frame_offloaded); UDP
                    // and the rest verify, so their sums are finished here.
                    let ipv4_tcp = n > 23 && buf[12..14] == [0x08, 0x00] && buf[23] == 6;
                    if self.finish_partial || !ipv4_tcp {
                        let c = crate::wire::checksum::checksum(&buf[start..n]);
                        buf[field..field + 2].copy_from_slice(&c.to_be_bytes());
                    }
                }
                self.rx_ok = self.vnet && h.flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID) != 0;
                Some(n)
            }
            Err(libc::EAGAIN) => None,
            Err(_) => {
                self.stats.rx_errors += 1;
                None
            }
        }
    }

    fn rx_checksum_ok(&self) -> bool {
        self.rx_ok
    }

    /// With batching the frame is held as it is (no copy) and a buffer the batch is done
    /// with is handed back for reuse.
    fn transmit_buf(&mut self, now: Instant, frame: Vec<u8>) -> Option<Vec<u8>> {
        match &self.batch {
            Some(b) => {
                self.stats.tx_frames += 1;
                b.lock().push_buf(frame)
            }
            None => {
                self.transmit(now, &frame);
                Some(frame)
            }
        }
    }

    /// A TCP super-segment goes out whole, the kernel cutting it (virtio_net_hdr GSO), after
    /// whatever the batch holds.
    fn transmit_gso(&mut self, now: Instant, frame: Vec<u8>, gso_size: u16) -> Option<Vec<u8>> {
        let hdr = if self.vnet && self.tx_partial { super::gso::tso_header(&frame, gso_size) } else { None };
        let Some(hdr) = hdr else {
            super::transmit_split(self, now, &frame, gso_size);
            return Some(frame);
        };
        self.stats.tx_frames += 1;
        match &self.batch {
            Some(b) => b.lock().push_record(&hdr, &[&frame[..]]),
            None => write_record(self.fd, true, &mut self.stats.tx_dropped, &hdr, &[&frame[..]]),
        }
        Some(frame)
    }

    /// The zero-copy form: headers and the send ring's bytes in one gathered write.
    fn transmit_gso_parts(&mut self, now: Instant, head: &[u8], parts: &[&[u8]], gso_size: u16) {
        let hdr = if self.vnet && self.tx_partial && parts.len() < MAX_PARTS {
            super::gso::tso_header(head, gso_size)
        } else {
            None
        };
        let Some(hdr) = hdr else {
            let mut f = head.to_vec();
            for p in parts {
                f.extend_from_slice(p);
            }
            self.transmit_gso(now, f, gso_size);
            return;
        };
        self.stats.tx_frames += 1;
        let mut all: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
        all[0] = head;
        all[1..=parts.len()].copy_from_slice(parts);
        let all = &all[..=parts.len()];
        match &self.batch {
            Some(b) => b.lock().push_record(&hdr, all),
            None => write_record(self.fd, true, &mut self.stats.tx_dropped, &hdr, all),
        }
    }

    fn transmit(&mut self, _now: Instant, frame: &[u8]) {
        if let Some(b) = &self.batch {
            self.stats.tx_frames += 1;
            b.lock().push(frame);
            return;
        }
        let r = if self.vnet {
            sys::writev2(self.fd, &super::gso::single_header(frame, self.tx_partial), frame)
        } else {
            sys::write(self.fd, frame)
        };
        match r {
            Ok(_) => self.stats.tx_frames += 1,
            Err(e) => {
                self.stats.tx_dropped += 1;
                tracing::debug!(target: "tapstack::tap", "transmit of {} bytes failed: {}", frame.len(), strerror(e));
            }
        }
    }
}

/// The handle that writes out what a [`TxBatch`] holds.
#[derive(Clone)]
pub struct TxFlush(std::sync::Arc<parking_lot::Mutex<TxBatch>>);

impl TxFlush {
    /// Writes the held super-frame (if any) to the device.
    pub fn flush(&self) {
        self.0.lock().flush();
    }
}

/// Transmit coalescing through IFF_VNET_HDR (see [`Coalescer`]): consecutive TCP segments of
/// one flow are written as one GSO super-frame that the kernel segments; anything else is
/// written as is, in order.
#[derive(Debug)]
pub struct TxBatch {
    fd: i32,
    vnet: bool,
    gso: Coalescer,
    pub dropped: u64,
}

impl TxBatch {
    fn new(fd: i32, vnet: bool) -> TxBatch {
        TxBatch { fd, vnet, gso: Coalescer::new(), dropped: 0 }
    }

    fn push(&mut self, f: &[u8]) {
        let (fd, vnet, dropped) = (self.fd, self.vnet, &mut self.dropped);
        if !vnet {
            write_record(fd, vnet, dropped, &NO_OFFLOAD, &[f]);
            return;
        }
        self.gso.push(f, &mut |h, parts| write_record(fd, vnet, dropped, h, parts));
    }

    /// `push` of a frame handed over (held without a copy); returns a buffer to reuse.
    fn push_buf(&mut self, f: Vec<u8>) -> Option<Vec<u8>> {
        let (fd, vnet, dropped) = (self.fd, self.vnet, &mut self.dropped);
        if !vnet {
            write_record(fd, vnet, dropped, &NO_OFFLOAD, &[&f[..]]);
            return Some(f);
        }
        self.gso.push_buf(f, &mut |h, parts| write_record(fd, vnet, dropped, h, parts));
        self.gso.spare()
    }

    fn flush(&mut self) {
        let (fd, vnet, dropped) = (self.fd, self.vnet, &mut self.dropped);
        self.gso.flush(&mut |h, parts| write_record(fd, vnet, dropped, h, parts));
    }

    /// Writes a frame with its own virtio_net_hdr, after what is held (order kept).
    fn push_record(&mut self, hdr: &[u8; VNET_HDR_LEN], parts: &[&[u8]]) {
        self.flush();
        write_record(self.fd, self.vnet, &mut self.dropped, hdr, parts);
    }
}

/// Writes one frame given as its `parts` (after its virtio_net_hdr if `vnet`) in one gathered
/// write; a failure is counted in `dropped`.
fn write_record(fd: i32, vnet: bool, dropped: &mut u64, hdr: &[u8; VNET_HDR_LEN], parts: &[&[u8]]) {
    let mut iov: [&[u8]; 1 + MAX_PARTS] = [&[]; 1 + MAX_PARTS];
    let n = parts.len().min(MAX_PARTS);
    iov[0] = hdr;
    iov[1..=n].copy_from_slice(&parts[..n]);
    let r = sys::writev(fd, if vnet { &iov[..=n] } else { &iov[1..=n] });
    if let Err(e) = r {
        *dropped += 1;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        tracing::debug!(target: "tapstack::tap", "transmit of {len} bytes failed: {}", strerror(e));
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

    /// The batch writes what the coalescer hands out, one datagram per record, header first.
    #[test]
    fn batch_writes_records_with_their_virtio_header() {
        let (mut b, peer) = batch();
        let seg = super::super::gso::tests::seg;
        let (ack, psh) = (crate::wire::tcp::flags::ACK, crate::wire::tcp::flags::PSH);
        let segs = [seg(1000, ack, 1448, 1), seg(2448, ack | psh, 1448, 2), seg(3896, ack, 10, 3)];
        for s in &segs {
            b.push(s);
        }
        // The PSH segment closes the super-frame: it is written when the next one arrives.
        let r = records(peer);
        assert_eq!(r.len(), 1);
        assert_eq!(VnetHdr::parse(r[0][..VNET_HDR_LEN].try_into().unwrap()).gso_size, 1448);
        assert_eq!(r[0].len(), VNET_HDR_LEN + 54 + 2 * 1448);
        b.flush();
        let r = records(peer);
        assert_eq!(r.len(), 1);
        assert_eq!(&r[0][..VNET_HDR_LEN], &NO_OFFLOAD);
        assert_eq!(&r[0][VNET_HDR_LEN..], &segs[2][..]);
        assert_eq!(b.dropped, 0);
        let _ = sys::close(peer);
        let _ = sys::close(b.fd);
    }
}
