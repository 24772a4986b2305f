//! smolpeer: a smoltcp client on a TAP device, the bench's second userspace peer (`make bench`,
//! column "smoltcp"). It runs the same client workloads as the C programs of `c-tests/`, with
//! the same arguments and the same output lines, so `bench/run.sh` reads both alike:
//!
//! ```text
//! smolpeer bulk_send -c HOST -p PORT -m MIB [-t] [-w SECS]   send MIB MiB, close (server measures)
//! smolpeer bulk_recv -c HOST -p PORT [-t] [-w SECS]          read to EOF: "mib_per_s X"
//! smolpeer pingpong [client] -c HOST -p PORT -n ROUNDS [-t] [-w SECS] 1 byte each way: "median_us", "p99_us"
//! ```
//!
//! The device is the TAP itself (a raw `/dev/net/tun` descriptor, `IFF_TAP | IFF_NO_PI`, no
//! offloads), configured by `SMOL_TAP` (tap0), `SMOL_ADDR` (10.0.0.2/24), `SMOL_GW` (10.0.0.1)
//! and `SMOL_MAC` (02:00:00:00:00:02). smoltcp settings: 1 MiB send and receive buffers (window
//! scaling), no delayed ACK, Nagle off; its congestion control is its default. The event loop
//! waits in poll(2) on the TAP for smoltcp's next deadline. Every run is bounded by `-w` (60 s).
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use smoltcp::iface::{Config, Interface, PollResult, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};

const BUF: usize = 1 << 20;

/// A TAP device read and written frame by frame.
struct Tap {
    fd: OwnedFd,
    rx: Vec<u8>,
}

impl Tap {
    fn open(name: &str) -> std::io::Result<Tap> {
        // SAFETY: plain syscalls on a descriptor we own; `ifr` is a zeroed ifreq.
        unsafe {
            let fd = libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mut ifr: libc::ifreq = std::mem::zeroed();
            for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
                *d = s as libc::c_char;
            }
            ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
            if libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &ifr) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // A previous user of the TAP (tapstack) may have turned offloads on: off, so the
            // kernel hands over plain MTU-sized frames with full checksums.
            libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD as _, 0 as libc::c_ulong);
            Ok(Tap { fd, rx: vec![0; 65536] })
        }
    }

    /// Waits until the TAP is readable or `timeout` passes.
    fn wait(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(100, |d| d.as_millis().min(100) as i32);
        let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) };
    }
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a OwnedFd);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = [0u8; 1514];
        let r = f(&mut b[..len]);
        // SAFETY: writes `len` initialised bytes. A full TAP queue drops the frame, as a wire.
        unsafe { libc::write(self.0.as_raw_fd(), b.as_ptr().cast(), len) };
        r
    }
}

impl Device for Tap {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _t: Instant) -> Option<(Rx, Tx<'_>)> {
        // SAFETY: reads into our buffer.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), self.rx.as_mut_ptr().cast(), self.rx.len()) };
        if n <= 0 {
            return None;
        }
        Some((Rx(self.rx[..n as usize].to_vec()), Tx(&self.fd)))
    }
    fn transmit(&mut self, _t: Instant) -> Option<Tx<'_>> {
        Some(Tx(&self.fd))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

struct Args {
    mode: String,
    host: Ipv4Address,
    port: u16,
    mib: u64,
    rounds: usize,
    timing: bool,
    watchdog: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: smolpeer (bulk_send|bulk_recv|pingpong) -c HOST -p PORT ...")?;
    let mut a =
        Args { mode, host: Ipv4Address::new(10, 0, 0, 1), port: 0, mib: 1, rounds: 1000, timing: false, watchdog: 60 };
    while let Some(f) = it.next() {
        if f == "client" {
            continue; // `pingpong client -c ...`, as the C program is called
        }
        let mut val = || it.next().ok_or(format!("{f} needs a value"));
        match f.as_str() {
            "-c" => a.host = val()?.parse().map_err(|e| format!("-c: {e}"))?,
            "-p" => a.port = val()?.parse().map_err(|e| format!("-p: {e}"))?,
            "-m" => a.mib = val()?.parse().map_err(|e| format!("-m: {e}"))?,
            "-n" => a.rounds = val()?.parse().map_err(|e| format!("-n: {e}"))?,
            "-w" => a.watchdog = val()?.parse().map_err(|e| format!("-w: {e}"))?,
            "-t" => a.timing = true,
            _ => return Err(format!("unknown argument {f}")),
        }
    }
    if a.port == 0 || a.rounds == 0 {
        return Err("need -p PORT (and -n ROUNDS > 0)".into());
    }
    Ok(a)
}

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}

struct Peer {
    tap: Tap,
    iface: Interface,
    sockets: SocketSet<'static>,
    h: smoltcp::iface::SocketHandle,
    deadline: std::time::Instant,
}

impl Peer {
    fn new(a: &Args) -> Result<Peer, String> {
        let mut tap = Tap::open(&env_or("SMOL_TAP", "tap0")).map_err(|e| format!("open TAP: {e}"))?;
        let mac: EthernetAddress = env_or("SMOL_MAC", "02:00:00:00:00:02").parse().map_err(|_| "bad SMOL_MAC")?;
        let cidr: Ipv4Cidr = env_or("SMOL_ADDR", "10.0.0.2/24").parse().map_err(|_| "bad SMOL_ADDR")?;
        let gw: Ipv4Address = env_or("SMOL_GW", "10.0.0.1").parse().map_err(|_| "bad SMOL_GW")?;
        let mut cfg = Config::new(HardwareAddress::Ethernet(mac));
        cfg.random_seed = std::process::id() as u64 ^ 0x5eed;
        let mut iface = Interface::new(cfg, &mut tap, Instant::now());
        iface.update_ip_addrs(|ips| ips.push(IpCidr::Ipv4(cidr)).expect("one address"));
        iface.routes_mut().add_default_ipv4_route(gw).map_err(|_| "route")?;
        let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; BUF]), tcp::SocketBuffer::new(vec![0; BUF]));
        s.set_ack_delay(None);
        s.set_nagle_enabled(false);
        let local = 40000 + (std::process::id() % 20000) as u16;
        s.connect(iface.context(), (a.host, a.port), local).map_err(|e| format!("connect: {e}"))?;
        let mut sockets = SocketSet::new(vec![]);
        let h = sockets.add(s);
        let deadline = std::time::Instant::now() + Duration::from_secs(a.watchdog);
        Ok(Peer { tap, iface, sockets, h, deadline })
    }

    fn sock(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.h)
    }

    /// One round of the stack: frames in and out, timers.
    fn poll(&mut self) -> Result<(), String> {
        if std::time::Instant::now() > self.deadline {
            return Err("watchdog: out of time".into());
        }
        let now = Instant::now();
        self.iface.poll(now, &mut self.tap, &mut self.sockets);
        // smoltcp emits one segment per socket per egress pass: keep passing while it sends
        // (bounded), so a window's worth of data leaves in one round as from a kernel.
        for _ in 0..64 {
            if self.iface.poll_egress(now, &mut self.tap, &mut self.sockets) == PollResult::None {
                break;
            }
        }
        Ok(())
    }

    /// Polls, then sleeps on the TAP until smoltcp's next deadline.
    fn step(&mut self) -> Result<(), String> {
        self.poll()?;
        let d = self.iface.poll_delay(Instant::now(), &self.sockets);
        if d != Some(smoltcp::time::Duration::ZERO) {
            self.tap.wait(d.map(|d| Duration::from_micros(d.total_micros())));
        }
        Ok(())
    }

    fn established(&mut self) -> Result<(), String> {
        loop {
            self.step()?;
            match self.sock().state() {
                tcp::State::Established => return Ok(()),
                tcp::State::SynSent => {}
                s => return Err(format!("connect failed (state {s})")),
            }
        }
    }

    /// Closes and polls until our FIN is acknowledged (every byte delivered).
    fn finish(&mut self) -> Result<(), String> {
        self.sock().close();
        loop {
            self.step()?;
            match self.sock().state() {
                tcp::State::FinWait2 | tcp::State::TimeWait | tcp::State::Closed => return Ok(()),
                _ => {}
            }
        }
    }
}

fn bulk_send(a: &Args) -> Result<(), String> {
    let mut p = Peer::new(a)?;
    p.established()?;
    let chunk = vec![0x61u8; 65536];
    let mut left = a.mib << 20;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        let sent = p.sock().send_slice(&chunk[..n]).map_err(|e| format!("send: {e}"))?;
        left -= sent as u64;
        if sent == 0 || left == 0 {
            p.step()?;
        } else {
            p.poll()?;
        }
    }
    p.finish()?;
    println!("sent {} bytes", a.mib << 20);
    Ok(())
}

fn bulk_recv(a: &Args) -> Result<(), String> {
    let mut p = Peer::new(a)?;
    p.established()?;
    let t0 = std::time::Instant::now();
    let mut buf = vec![0u8; 262144];
    let mut total = 0u64;
    loop {
        let s = p.sock();
        if s.can_recv() {
            total += s.recv_slice(&mut buf).map_err(|e| format!("recv: {e}"))? as u64;
            p.poll()?;
            continue;
        }
        if !s.may_recv() {
            break;
        }
        p.step()?;
    }
    let secs = t0.elapsed().as_secs_f64();
    p.finish()?;
    println!("received {total} bytes");
    if a.timing {
        println!("mib_per_s {:.1}", if secs > 0.0 { total as f64 / 1048576.0 / secs } else { 0.0 });
    }
    Ok(())
}

fn pingpong(a: &Args) -> Result<(), String> {
    let mut p = Peer::new(a)?;
    p.established()?;
    let mut rtt = Vec::with_capacity(a.rounds);
    let mut ok = 0;
    for i in 0..a.rounds {
        let b = i as u8;
        let t0 = std::time::Instant::now();
        p.sock().send_slice(&[b]).map_err(|e| format!("send: {e}"))?;
        let mut got = [0u8; 1];
        loop {
            p.poll()?;
            if p.sock().recv_slice(&mut got).map_err(|e| format!("recv: {e}"))? == 1 {
                break;
            }
            if !p.sock().may_recv() {
                return Err("connection closed during ping-pong".into());
            }
            let d = p.iface.poll_delay(Instant::now(), &p.sockets);
            if d != Some(smoltcp::time::Duration::ZERO) {
                p.tap.wait(d.map(|d| Duration::from_micros(d.total_micros())));
            }
        }
        rtt.push(t0.elapsed().as_nanos() as u64);
        if got[0] == b ^ 0x5a {
            ok += 1;
        }
    }
    p.finish()?;
    println!("client: rounds {} ok {ok}", a.rounds);
    if a.timing {
        rtt.sort_unstable();
        let pct = |q: f64| rtt[((rtt.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
        println!("median_us {:.1}\np99_us {:.1}", pct(0.5), pct(0.99));
    }
    if ok == a.rounds {
        Ok(())
    } else {
        Err(format!("{} replies wrong", a.rounds - ok))
    }
}

fn main() -> ExitCode {
    let r = parse_args().and_then(|a| match a.mode.as_str() {
        "bulk_send" => bulk_send(&a),
        "bulk_recv" => bulk_recv(&a),
        "pingpong" => pingpong(&a),
        m => Err(format!("unknown workload {m} (bulk_send, bulk_recv, pingpong)")),
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smolpeer: {e}");
            ExitCode::FAILURE
        }
    }
}
