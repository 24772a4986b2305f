//! pcap capture of every frame sent and received (`TAPSTACK_PCAP`).
//!
//! Classic libpcap format (magic 0xa1b2c3d4 in host byte order, version 2.4, microsecond
//! timestamps, LINKTYPE_ETHERNET), readable by `tcpdump -r` and Wireshark. Each record is
//! written with one raw `write` syscall (never the hooked libc wrapper), unbuffered, so a
//! process that exits abruptly still leaves a complete file.
use std::ffi::CString;
use std::path::Path;

use super::Device;
use crate::sys;
use crate::time::Instant;

/// pcap global-header magic for microsecond timestamps.
pub const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Largest frame captured whole; longer ones are truncated (incl_len < orig_len).
pub const SNAPLEN: u32 = 65535;

/// The 24-byte global header.
pub fn global_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&PCAP_MAGIC.to_ne_bytes());
    h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    h[6..8].copy_from_slice(&4u16.to_ne_bytes());
    // thiszone (8..12) and sigfigs (12..16) are zero.
    h[16..20].copy_from_slice(&SNAPLEN.to_ne_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
    h
}

/// One record (16-byte header + data) as bytes.
pub fn record(secs: u32, micros: u32, frame: &[u8]) -> Vec<u8> {
    let incl = frame.len().min(SNAPLEN as usize);
    let mut r = Vec::with_capacity(16 + incl);
    r.extend_from_slice(&secs.to_ne_bytes());
    r.extend_from_slice(&micros.to_ne_bytes());
    r.extend_from_slice(&(incl as u32).to_ne_bytes());
    r.extend_from_slice(&(frame.len().min(u32::MAX as usize) as u32).to_ne_bytes());
    r.extend_from_slice(&frame[..incl]);
    r
}

/// A parsed record: timestamp and captured bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    pub secs: u32,
    pub micros: u32,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Parses a whole pcap file written in host byte order (as [`PcapWriter`] writes it).
/// Total: malformed input is an error, never a panic.
pub fn parse(bytes: &[u8]) -> Result<Vec<PcapRecord>, String> {
    let u32_at = |b: &[u8], i: usize| -> Option<u32> { Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?)) };
    if bytes.len() < 24 {
        return Err("pcap: shorter than the global header".into());
    }
    if u32_at(bytes, 0) != Some(PCAP_MAGIC) {
        return Err("pcap: bad magic".into());
    }
    if u32_at(bytes, 20) != Some(LINKTYPE_ETHERNET) {
        return Err("pcap: not LINKTYPE_ETHERNET".into());
    }
    let mut out = Vec::new();
    let mut i = 24;
    while i < bytes.len() {
        let hdr = bytes.get(i..i + 16).ok_or("pcap: truncated record header")?;
        let incl = u32_at(hdr, 8).unwrap_or(0) as usize;
        if incl > SNAPLEN as usize {
            return Err("pcap: record longer than snaplen".into());
        }
        let data = bytes.get(i + 16..i + 16 + incl).ok_or("pcap: truncated record")?;
        out.push(PcapRecord {
            secs: u32_at(hdr, 0).unwrap_or(0),
            micros: u32_at(hdr, 4).unwrap_or(0),
            orig_len: u32_at(hdr, 12).unwrap_or(0),
            data: data.to_vec(),
        });
        i += 16 + incl;
    }
    Ok(out)
}

/// Writes a pcap file through raw syscalls.
pub struct PcapWriter {
    fd: i32,
    /// Records that could not be written (disk full...): counted, never fatal.
    pub write_errors: u64,
    pub records: u64,
}

impl PcapWriter {
    /// Creates (truncates) `path` and writes the global header. Close-on-exec.
    pub fn create(path: &Path) -> Result<PcapWriter, String> {
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| format!("TAPSTACK_PCAP: path {path:?} contains a NUL byte"))?;
        let fd = sys::open(&c, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o644)
            .map_err(|e| format!("TAPSTACK_PCAP: cannot create {}: {}", path.display(), sys::strerror(e)))?;
        sys::write_all(fd, &global_header()).map_err(|e| {
            let _ = sys::close(fd);
            format!("TAPSTACK_PCAP: cannot write {}: {}", path.display(), sys::strerror(e))
        })?;
        Ok(PcapWriter { fd, write_errors: 0, records: 0 })
    }

    /// The file's descriptor.
    pub fn raw_fd(&self) -> i32 {
        self.fd
    }

    /// Records `frame` with an explicit timestamp.
    pub fn write_frame_at(&mut self, secs: u32, micros: u32, frame: &[u8]) {
        match sys::write_all(self.fd, &record(secs, micros, frame)) {
            Ok(()) => self.records += 1,
            Err(_) => self.write_errors += 1,
        }
    }

    /// Records `frame` stamped with the current wall-clock time.
    pub fn write_frame(&mut self, frame: &[u8]) {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        self.write_frame_at(t.as_secs() as u32, t.subsec_micros(), frame);
    }
}

impl Drop for PcapWriter {
    fn drop(&mut self) {
        let _ = sys::close(self.fd);
    }
}

/// A device wrapper recording every frame received and transmitted through `inner`.
pub struct PcapDevice<D: Device> {
    inner: D,
    writer: PcapWriter,
}

impl<D: Device> PcapDevice<D> {
    pub fn new(inner: D, writer: PcapWriter) -> PcapDevice<D> {
        PcapDevice { inner, writer }
    }
    pub fn inner(&self) -> &D {
        &self.inner
    }
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }
    pub fn writer(&self) -> &PcapWriter {
        &self.writer
    }
}

impl<D: Device> Device for PcapDevice<D> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = self.inner.receive(now, buf)?;
        self.writer.write_frame(&buf[..n]);
        Some(n)
    }
    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.writer.write_frame(frame);
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
    use std::collections::VecDeque;

    struct Queue {
        rx: VecDeque<Vec<u8>>,
        tx: Vec<Vec<u8>>,
    }
    impl Device for Queue {
        fn mtu(&self) -> usize {
            1500
        }
        fn receive(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
            let f = self.rx.pop_front()?;
            buf[..f.len()].copy_from_slice(&f);
            Some(f.len())
        }
        fn transmit(&mut self, _: Instant, frame: &[u8]) {
            self.tx.push(frame.to_vec());
        }
    }

    fn temp_path(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tapstack-pcap-{tag}-{}-{}.pcap", std::process::id(), sys::random_u64()))
    }

    #[test]
    fn header_bytes() {
        let h = global_header();
        // Little-endian host (x86_64, aarch64): the classic on-disk bytes.
        if cfg!(target_endian = "little") {
            assert_eq!(&h[..8], &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
            assert_eq!(&h[16..], &[0xff, 0xff, 0, 0, 1, 0, 0, 0]);
        }
        assert_eq!(&h[8..16], &[0; 8]);
    }

    #[test]
    fn device_records_both_directions_and_parses_back() {
        let path = temp_path("dev");
        let w = PcapWriter::create(&path).unwrap();
        let rx_frame: Vec<u8> = (0..60u8).collect();
        let tx_frame: Vec<u8> = (0..1514u32).map(|i| (i * 7) as u8).collect();
        let mut dev = PcapDevice::new(Queue { rx: VecDeque::from(vec![rx_frame.clone()]), tx: vec![] }, w);
        let mut buf = [0u8; 2048];
        assert_eq!(dev.receive(Instant::ZERO, &mut buf), Some(60));
        assert_eq!(dev.receive(Instant::ZERO, &mut buf), None);
        dev.transmit(Instant::ZERO, &tx_frame);
        assert_eq!(dev.inner().tx, vec![tx_frame.clone()]);
        assert_eq!(dev.writer().records, 2);
        drop(dev);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(bytes.len(), 24 + 16 + 60 + 16 + 1514);
        assert_eq!(&bytes[..24], &global_header());
        let recs = parse(&bytes).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].data, rx_frame);
        assert_eq!(recs[1].data, tx_frame);
        assert_eq!(recs[1].orig_len, 1514);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32;
        assert!(recs[0].secs <= now && recs[0].secs + 60 > now, "wall-clock timestamp");
        assert!(recs[0].micros < 1_000_000);
    }

    #[test]
    fn explicit_timestamp_and_truncation() {
        let path = temp_path("ts");
        let mut w = PcapWriter::create(&path).unwrap();
        w.write_frame_at(1_700_000_000, 999_999, &[1, 2, 3]);
        w.write_frame_at(5, 6, &vec![0xab; 70000]);
        drop(w);
        let recs = parse(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!((recs[0].secs, recs[0].micros, &recs[0].data[..]), (1_700_000_000, 999_999, &[1u8, 2, 3][..]));
        assert_eq!((recs[1].data.len(), recs[1].orig_len), (65535, 70000));
    }

    #[test]
    fn parse_is_total() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[0; 24]).is_err());
        let mut b = global_header().to_vec();
        assert_eq!(parse(&b).unwrap(), vec![]);
        b.extend_from_slice(&record(1, 2, &[9; 10]));
        for cut in 25..b.len() {
            assert!(parse(&b[..cut]).is_err(), "cut {cut}");
        }
        let mut huge = global_header().to_vec();
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn create_error_is_one_line() {
        let e = PcapWriter::create(Path::new("/nonexistent-dir-tapstack/x.pcap")).err().unwrap();
        assert!(e.starts_with("TAPSTACK_PCAP:") && !e.contains('\n'), "{e}");
    }
}
