//! Real traffic against the Linux kernel: a private network namespace holding a TAP device,
//! the kernel side at 10.0.0.1/24, our `Stack` at 10.0.0.2 driven by a thread that attached to
//! the TAP from inside the namespace. The kernel pings us (small and 4000-byte, fragmented both
//! ways), we ping the kernel, and the kernel's neighbour table must show our MAC.
//!
//! Needs root (namespaces, TAP). Without root it says so and passes, unless CI=true, where it
//! fails loudly. The namespace is deleted on exit, even on panic (Drop guard).
use std::io;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tapstack::config::Config;
use tapstack::phy::Device;
use tapstack::time::Instant;
use tapstack::Stack;

const TAP: &str = "tsf0";
const MAC: &str = "02:00:00:00:00:02";

/// Deletes the namespace when dropped.
struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(ns: &str, args: &[&str]) -> std::process::Output {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    Command::new("ip").args(&full).output().expect("run ip netns exec")
}

fn must(ns: &str, args: &[&str]) {
    let o = sh(ns, args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A TAP device opened from inside the namespace (the calling thread must have joined it).
struct Tap {
    fd: i32,
}

impl Tap {
    fn open(name: &str) -> io::Result<Tap> {
        // SAFETY: plain syscalls on a descriptor we own; `ifr` outlives the ioctl.
        unsafe {
            let fd = libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut ifr = [0u8; 40];
            ifr[..name.len()].copy_from_slice(name.as_bytes());
            let flags: i16 = 0x0002 | 0x1000; // IFF_TAP | IFF_NO_PI
            ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
            if libc::ioctl(fd, 0x400454ca, ifr.as_mut_ptr()) < 0 {
                let e = io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            Ok(Tap { fd })
        }
    }

    fn wait(&self, ms: i32) {
        let mut p = libc::pollfd { fd: self.fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) };
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(self.fd) };
    }
}

impl Device for Tap {
    fn mtu(&self) -> usize {
        1500
    }
    fn receive(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        (n > 0).then_some(n as usize)
    }
    fn transmit(&mut self, _now: Instant, frame: &[u8]) {
        // SAFETY: frame is valid for frame.len() bytes.
        unsafe { libc::write(self.fd, frame.as_ptr().cast(), frame.len()) };
    }
}

/// How many echo requests `ping` sent (its summary line).
fn transmitted(out: &std::process::Output) -> u32 {
    let s = String::from_utf8_lossy(&out.stdout);
    s.lines().find_map(|l| l.split(',').next()?.strip_suffix(" packets transmitted")?.parse().ok()).unwrap_or(0)
}

/// True when each of icmp_seq 1..=n got its reply. The pings run with `-w`: `ping -c N` alone
/// gives the last reply only max(interval, 2 x the slowest RTT) (50 ms with -i 0.05), so one
/// reply delayed on a busy machine counted as lost; with -w it waits for all N (bounded) and
/// sends a further request only while a reply is late.
fn answered(out: &std::process::Output, n: u32) -> bool {
    let s = String::from_utf8_lossy(&out.stdout);
    (1..=n).all(|i| {
        let seq = format!(": icmp_seq={i} ");
        s.lines().any(|l| l.contains(" bytes from 10.0.0.2") && l.contains(&seq))
    })
}

#[test]
fn kernel_pings_stack_and_stack_pings_kernel() {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    let cannot_run = |why: &str| {
        assert!(!ci, "CI=true but this network test cannot run: {why}");
        eprintln!("SKIP kernel_pings_stack_and_stack_pings_kernel: {why}");
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return cannot_run("needs root");
    }
    if Command::new("ip").arg("-V").output().is_err() || Command::new("ping").arg("-V").output().is_err() {
        return cannot_run("needs ip and ping (make deps)");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return cannot_run("no /dev/net/tun");
    }
    let ns = Netns(format!("tsfnd{}", std::process::id()));
    let added = Command::new("ip").args(["netns", "add", &ns.0]).output();
    if !added.as_ref().map(|o| o.status.success()).unwrap_or(false) {
        let err = added.map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()).unwrap_or_default();
        return cannot_run(&format!("ip netns add failed: {err}"));
    }
    must(&ns.0, &["ip", "tuntap", "add", "dev", TAP, "mode", "tap"]);
    let _ = sh(&ns.0, &["sysctl", "-qw", &format!("net.ipv6.conf.{TAP}.disable_ipv6=1")]);
    must(&ns.0, &["ip", "addr", "add", "10.0.0.1/24", "dev", TAP]);
    must(&ns.0, &["ip", "link", "set", TAP, "up"]);

    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let path = ["/run/netns", "/var/run/netns"]
        .iter()
        .map(|d| format!("{d}/{}", ns.0))
        .find(|p| std::path::Path::new(p).exists())
        .expect("netns file");
    let stop2 = stop.clone();
    let worker = std::thread::spawn(move || {
        // Join the namespace on this thread only, then attach to its TAP.
        let f = std::fs::File::open(&path).expect("open netns");
        use std::os::fd::AsRawFd;
        // SAFETY: a valid netns descriptor; affects only this thread.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", io::Error::last_os_error());
        let mut tap = Tap::open(TAP).expect("open TAP inside the namespace");
        let vars = [("TAPSTACK_ADDR", "10.0.0.2/24"), ("TAPSTACK_MAC", MAC), ("TAPSTACK_GW", "10.0.0.1")];
        let cfg = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
        let mut stack = Stack::new(&cfg, 42);
        ready_tx.send(()).unwrap();
        let t0 = std::time::Instant::now();
        let clock = || Instant::from_micros(t0.elapsed().as_micros() as u64);
        let mut pinged = 0u16;
        let mut replies = Vec::new();
        while !stop2.load(Ordering::Relaxed) && t0.elapsed().as_secs() < 60 {
            let now = clock();
            // The stack pings the kernel three times, a second apart, starting at 0.5 s.
            if pinged < 3 && now.total_millis() >= 500 + 1000 * pinged as u64 {
                stack.ping(now, Ipv4Addr::new(10, 0, 0, 1), 0x5151, pinged, b"tapstack ping");
                pinged += 1;
            }
            let next = stack.poll(now, &mut tap);
            replies.extend(stack.take_ping_replies());
            let wait = next.map(|t| t.saturating_since(clock()).as_millis() as i32).unwrap_or(20).clamp(0, 20);
            tap.wait(wait);
        }
        (stack.stats().clone(), replies)
    });
    ready_rx.recv_timeout(std::time::Duration::from_secs(10)).expect("stack thread did not start");
    std::thread::sleep(std::time::Duration::from_millis(300));

    // Capture the kernel's view of the link, if tcpdump is installed, to check every checksum.
    let pcap = std::env::temp_dir().join(format!("{}.pcap", ns.0));
    let pcap_s = pcap.to_string_lossy().to_string();
    let mut capture = Command::new("ip")
        .args(["netns", "exec", &ns.0, "tcpdump", "-U", "-n", "-i", TAP, "-w", &pcap_s])
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok();
    if capture.is_some() {
        // tcpdump writes the pcap header once it listens; wait for it (bounded).
        for _ in 0..100 {
            if std::fs::metadata(&pcap).map(|m| m.len() >= 24).unwrap_or(false) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let small = sh(&ns.0, &["ping", "-c", "20", "-i", "0.05", "-w", "20", "10.0.0.2"]);
    let big = sh(&ns.0, &["ping", "-c", "5", "-i", "0.2", "-w", "20", "-s", "4000", "10.0.0.2"]);
    let huge = sh(&ns.0, &["ping", "-c", "2", "-i", "0.2", "-w", "20", "-s", "65507", "10.0.0.2"]);
    let neigh = sh(&ns.0, &["ip", "neigh", "show", "10.0.0.2", "dev", TAP]);
    std::thread::sleep(std::time::Duration::from_millis(3500 - 300)); // let the stack's pings finish
    stop.store(true, Ordering::Relaxed);
    let (stats, replies) = worker.join().expect("stack thread panicked");
    let mut dump = String::new();
    if let Some(c) = capture.as_mut() {
        // `ip netns exec` execs tcpdump, so this PID is tcpdump's: stop it cleanly.
        // SAFETY: kill on the PID of a child we spawned and have not reaped.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let _ = c.wait();
        let out = Command::new("tcpdump").args(["-r", &pcap_s, "-n", "-vv"]).output();
        dump = out.map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
        let _ = std::fs::remove_file(&pcap);
    }

    assert!(answered(&small, 20), "{}\n{stats:?}", String::from_utf8_lossy(&small.stdout));
    assert!(answered(&big, 5), "{}\n{stats:?}", String::from_utf8_lossy(&big.stdout));
    assert!(answered(&huge, 2), "largest ping: {}\n{stats:?}", String::from_utf8_lossy(&huge.stdout));
    let neigh = String::from_utf8_lossy(&neigh.stdout).to_lowercase();
    assert!(neigh.contains(MAC), "ip neigh: {neigh}");
    assert_eq!(replies.len(), 3, "stack's pings to the kernel: {replies:?}\n{stats:?}");
    assert!(replies.iter().all(|r| r.from == Ipv4Addr::new(10, 0, 0, 1) && r.payload_len == 13));
    assert!(stats.icmp_echo_answered >= 27, "{stats:?}");
    assert!(stats.ip_reassembled >= 7 && stats.ip_fragments_out >= 15 + 2 * 45, "{stats:?}");
    assert_eq!((stats.ip_bad_checksum, stats.icmp_bad_checksum, stats.ip_reassembly_dropped), (0, 0, 0));
    if capture.is_some() {
        // Every request the kernel sent was answered on the wire, and the stack's 3 pings.
        let sent = (transmitted(&small) + transmitted(&big) + transmitted(&huge)) as usize;
        assert_eq!(dump.matches("ICMP echo reply").count(), sent + 3, "capture:\n{dump}");
        assert!(!dump.contains("bad cksum") && !dump.contains("wrong"), "bad checksums in capture:\n{dump}");
    }
}
