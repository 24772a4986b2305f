//! The Linux TAP device (IFF_TAP | IFF_NO_PI), opened close-on-exec and nonblocking.
//!
//! The device must already exist (tests create it with `ip tuntap add dev tap0 mode tap`): we
//! check with SIOCGIFINDEX first, because TUNSETIFF on an unknown name would silently create a
//! new, unconfigured interface. All I/O is raw syscalls (see `runtime::sys`), never the libc
//! wrappers the preload shim hooks.
use std::ffi::CString;

use super::Device;
use crate::runtime::sys;
use crate::time::Instant;

const IFNAMSIZ: usize = 16;
/// `_IOW('T', 202, int)`
const TUNSETIFF: u64 = 0x4004_54ca;
const SIOCGIFINDEX: u64 = 0x8933;
const SIOCGIFFLAGS: u64 = 0x8913;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;

/// `struct ifreq`: a name and a 24-byte union (flags or ifindex at its start).
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> IfReq {
        let mut r = IfReq { name: [0; IFNAMSIZ], data: [0; 24] };
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        r
    }
}

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
}

/// The interface index of `name` in the current network namespace (SIOCGIFINDEX).
fn ifindex(name: &str) -> Result<i32, i32> {
    let s = sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)?;
    let mut req = IfReq::new(name);
    // SAFETY: req is a valid ifreq for SIOCGIFINDEX.
    let r = unsafe { sys::ioctl(s, SIOCGIFINDEX, &mut req as *mut IfReq as *mut libc::c_void) };
    let _ = sys::close(s);
    r.map(|_| i32::from_ne_bytes([req.data[0], req.data[1], req.data[2], req.data[3]]))
}

/// The interface flags of `name` (SIOCGIFFLAGS).
fn ifflags(name: &str) -> Result<i16, i32> {
    let s = sys::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)?;
    let mut req = IfReq::new(name);
    // SAFETY: req is a valid ifreq for SIOCGIFFLAGS.
    let r = unsafe { sys::ioctl(s, SIOCGIFFLAGS, &mut req as *mut IfReq as *mut libc::c_void) };
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
        req.data[..2].copy_from_slice(&(IFF_TAP | IFF_NO_PI).to_ne_bytes());
        // SAFETY: req is a valid ifreq for TUNSETIFF.
        let r = unsafe { sys::ioctl(fd, TUNSETIFF, &mut req as *mut IfReq as *mut libc::c_void) };
        if let Err(e) = r {
            let _ = sys::close(fd);
            return Err(match e {
                libc::EBUSY => format!("TAP device {name}: device busy (another process has it open)"),
                libc::EPERM | libc::EACCES => format!(
                    "TAP device {name}: permission denied (needs CAP_NET_ADMIN or a TAP owned by this user)"
                ),
                libc::EINVAL => format!("TAP device {name}: not a TAP device (a TUN or other interface?)"),
                e => format!("TAP device {name}: TUNSETIFF failed: {}", strerror(e)),
            });
        }
        wait_running(name, std::time::Duration::from_millis(500));
        Ok(TapDevice { fd, name: name.to_string(), mtu, stats: TapStats::default() })
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
        match sys::read(self.fd, buf) {
            Ok(0) => None,
            Ok(n) => {
                self.stats.rx_frames += 1;
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
        match sys::write(self.fd, frame) {
            Ok(_) => self.stats.tx_frames += 1,
            Err(e) => {
                self.stats.tx_dropped += 1;
                tracing::debug!(target: "tapstack::tap", "transmit of {} bytes failed: {}", frame.len(), strerror(e));
            }
        }
    }
}

/// A short description of an errno, without calling into libc's locale machinery.
pub(crate) fn strerror(e: i32) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
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
}
