//! The runtime against the real kernel: a private network namespace with a TAP device, the
//! kernel side at 10.0.0.1/24, a `Runtime` at 10.0.0.2. Checks the contract `tapstack-host`
//! relies on: one runtime per TAP, inline flush on guard release, `wait` woken by the stack
//! thread, `stop`, pcap capture.
//!
//! Needs root (namespaces, TAP): without it the test says so and passes, unless CI=true.
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use super::*;

const TAP: &str = "tsrt0";

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ns_run(ns: &str, args: &[&str]) -> std::process::Output {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    Command::new("ip").args(&full).output().expect("run ip netns exec")
}

fn can_run() -> bool {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    let root = crate::sys::geteuid() == 0;
    let tools = Command::new("ip").arg("-V").output().is_ok() && Command::new("ping").arg("-V").output().is_ok();
    if !root || !tools {
        assert!(!ci, "CI=true but the runtime TAP test cannot run (root: {root}, ip/ping: {tools})");
        eprintln!("SKIP runtime TAP test: needs root, ip and ping");
        return false;
    }
    true
}

/// Starts a runtime from a thread that joined namespace `ns` (only that thread changes
/// namespace; the TAP descriptor keeps working from any thread afterwards).
fn start_in(ns: &str, vars: Vec<(&'static str, String)>) -> Result<Arc<Runtime>, RuntimeError> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&path).expect("open netns");
        crate::sys::setns(f.as_raw_fd(), libc::CLONE_NEWNET).expect("setns");
        let cfg = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
        Runtime::start(cfg)
    })
    .join()
    .expect("start thread")
}

/// Pings `dst` from the stack and waits (with `Runtime::wait`) for the reply.
fn stack_ping(rt: &Runtime, seq: u16, timeout: Duration) -> Option<Duration> {
    let t0 = StdInstant::now();
    let deadline = t0 + timeout;
    {
        let mut g = rt.lock();
        let now = rt.now();
        g.ping(now, Ipv4Addr::new(10, 0, 0, 1), 0x7777, seq, b"runtime test");
    }
    let mut g = rt.lock();
    loop {
        if g.take_ping_replies().iter().any(|r| r.ident == 0x7777 && r.seq == seq) {
            return Some(t0.elapsed());
        }
        if StdInstant::now() >= deadline {
            return None;
        }
        rt.wait(&mut g, Some(deadline));
    }
}

#[test]
fn runtime_over_a_real_tap() {
    if !can_run() {
        return;
    }
    let ns = Netns(format!("tsrt{}", std::process::id()));
    assert!(Command::new("ip").args(["netns", "add", &ns.0]).status().unwrap().success());
    for args in [
        vec!["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
        vec!["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
        vec!["ip", "addr", "add", "10.0.0.1/24", "dev", TAP],
        vec!["ip", "link", "set", TAP, "up"],
    ] {
        let o = ns_run(&ns.0, &args);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let pcap = std::env::temp_dir().join(format!("tapstack-rt-{}.pcap", std::process::id()));
    let vars = vec![
        ("TAPSTACK_TAP", TAP.to_string()),
        ("TAPSTACK_ADDR", "10.0.0.2/24".to_string()),
        ("TAPSTACK_MAC", "02:00:00:00:00:02".to_string()),
        ("TAPSTACK_PCAP", pcap.to_string_lossy().to_string()),
    ];
    let rt = start_in(&ns.0, vars.clone()).expect("runtime starts");
    assert!(rt.is_alive());

    // A second runtime on the same TAP: one line, "device busy".
    let e = start_in(&ns.0, vars).err().expect("second open fails");
    assert!(e.0.contains("device busy") && !e.0.contains('\n'), "{e}");

    // The kernel pings the stack: the stack thread answers on its own.
    let o = ns_run(&ns.0, &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 received"), "{}", String::from_utf8_lossy(&o.stdout));

    // Inline flush: the echo request is transmitted when the guard is released, not later.
    let before = rt.stats();
    {
        let mut g = rt.lock();
        let now = rt.now();
        g.ping(now, Ipv4Addr::new(10, 0, 0, 1), 0x7777, 100, b"x");
    }
    let after = rt.stats();
    assert!(after.tx_frames > before.tx_frames, "{before:?} -> {after:?}");
    assert!(after.inline_rounds > before.inline_rounds);

    // wait() is woken by the stack thread when the reply arrives; the ARP cache is warm now.
    for seq in 1..=5 {
        let rtt = stack_ping(&rt, seq, Duration::from_secs(2)).expect("echo reply");
        assert!(rtt < Duration::from_millis(500), "reply after {rtt:?}");
    }

    // A UDP datagram to a neighbour not yet resolved (ARP in flight) leaves once ARP answers.
    let o = ns_run(&ns.0, &["ip", "addr", "add", "10.0.0.3/24", "dev", TAP]);
    assert!(o.status.success());
    {
        let mut g = rt.lock();
        let h = g.udp.socket();
        let dst = std::net::SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 9);
        assert_eq!(g.udp.send_to(h, b"drain me", Some(dst.into())), Ok(8));
        g.udp.close(h);
    }
    let t0 = StdInstant::now();
    let deadline = t0 + Duration::from_secs(5);
    let mut g = rt.lock();
    while g.has_pending_output() && StdInstant::now() < deadline {
        rt.wait(&mut g, Some(deadline));
    }
    assert!(!g.has_pending_output(), "the datagram still waits after {:?}", t0.elapsed());
    drop(g);

    assert!(stack_ping(&rt, 50, Duration::from_secs(2)).is_some());

    rt.stop();
    assert!(!rt.is_alive());
    let total = rt.stats();
    let recs = crate::phy::pcap::parse(&std::fs::read(&pcap).unwrap()).unwrap();
    std::fs::remove_file(&pcap).ok();
    assert_eq!(recs.len() as u64, total.rx_frames + total.tx_frames);
    // The datagram is on the wire: IPv4, UDP, to 10.0.0.3.
    assert!(
        recs.iter().any(|r| r.data.len() >= 34
            && r.data[12..14] == [8, 0]
            && r.data[23] == 17
            && r.data[30..34] == [10, 0, 0, 3]),
        "no UDP datagram to 10.0.0.3 in the capture"
    );
    assert!(recs.len() >= 2 * (3 + 6));
}

/// The runtime's own I/O (and `sys`, which the shim uses too) must never go through the libc
/// wrappers the preload shim hooks (a hooked `write` would re-enter the shim). Scans the non-test part of
/// every runtime-side source file for calls to them.
#[test]
fn runtime_io_never_calls_hooked_libc_wrappers() {
    let files = [
        ("runtime/mod.rs", include_str!("mod.rs")),
        ("sys.rs", include_str!("../sys.rs")),
        ("phy/tap.rs", include_str!("../phy/tap.rs")),
        ("phy/pcap.rs", include_str!("../phy/pcap.rs")),
        ("log.rs", include_str!("../log.rs")),
    ];
    let hooked = [
        "read",
        "write",
        "readv",
        "writev",
        "close",
        "poll",
        "ppoll",
        "select",
        "ioctl",
        "fcntl",
        "socket",
        "open",
        "openat",
        "eventfd",
        "dup",
        "dup2",
        "send",
        "recv",
        "epoll_wait",
    ];
    let forbidden_std =
        ["std::fs::", "std::io::stderr", "std::io::stdout", "eprintln!", "println!", "eprint!", "print!"];
    for (name, src) in files {
        let code = src.split("#[cfg(test)]").next().unwrap();
        for f in hooked {
            let pat = format!("libc::{f}(");
            assert!(!code.contains(&pat), "{name} calls the hooked wrapper {pat}");
        }
        for p in forbidden_std {
            assert!(!code.contains(p), "{name} uses {p}, which writes through hooked libc wrappers");
        }
        assert!(code.contains("sys::") || name == "sys.rs", "{name}: expected raw syscalls");
    }
}
