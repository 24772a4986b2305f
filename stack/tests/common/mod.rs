//! Test harness: two hosts on an in-memory [`Link`] driven by a virtual clock.
//!
//! Time never comes from the OS: [`Sim::run_until`] polls both hosts, lets the test act (send,
//! receive), then jumps the clock to the earliest deadline of the hosts and the link. Every run is
//! reproducible from the stack seeds and the link's fault seeds.
//!
//! Debugging: `TAPSTACK_TEST_PCAP=/tmp/x.pcap` records the link of every `Sim` created (the last
//! one wins) for Wireshark/tcpdump; `TAPSTACK_TEST_TRACE=200` prints the last 200 frames, one
//! line each, when a test panics.
#![allow(dead_code)]

mod flow;
pub mod net;
mod trace;
#[allow(unused_imports)]
pub use flow::*;
#[allow(unused_imports)]
pub use trace::*;

use std::net::Ipv4Addr;

use tapstack::config::Config;
use tapstack::phy::fault::FaultConfig;
use tapstack::phy::link::{Dir, Link, LinkEnd};
use tapstack::socket::tcp::TcpStack;
use tapstack::time::{earliest, Duration, Instant};
use tapstack::Stack;

pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const A_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const B_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// The configuration of a test host at `ip/24` with `mac`, no gateway.
pub fn host_config(ip: Ipv4Addr, mac: [u8; 6], mtu: usize) -> Config {
    let m = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let vars = [
        ("TAPSTACK_ADDR", format!("{ip}/24")),
        ("TAPSTACK_MAC", m),
        ("TAPSTACK_MTU", mtu.to_string()),
        ("TAPSTACK_GW", "none".to_string()),
    ];
    Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).expect("test config")
}

/// The impairments the issue asks for: 10% loss, 5% reordering, 1% duplication, 0.1% corruption.
pub fn harsh(seed: u64, delay_ms: u64) -> FaultConfig {
    FaultConfig {
        loss: 0.10,
        reorder: 0.05,
        dup: 0.01,
        corrupt: 0.001,
        delay: Duration::from_millis(delay_ms),
        reorder_delay: Duration::from_millis(3),
        seed,
        ..Default::default()
    }
}

/// Anything attached to one end of the link that the clock loop drives.
pub trait Host {
    /// Receive what is due, run timers, transmit.
    fn poll(&mut self, now: Instant);
    /// The host's next own deadline (the link's are counted separately).
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;
}

/// One of our stacks on one end of the link.
pub struct Node {
    pub stack: Stack,
    pub dev: LinkEnd,
}

impl Node {
    pub fn new(ip: Ipv4Addr, mac: [u8; 6], dev: LinkEnd, seed: u64) -> Node {
        use tapstack::phy::Device;
        let cfg = host_config(ip, mac, dev.mtu());
        Node { stack: Stack::new(&cfg, seed), dev }
    }
    /// A stack configured for IP MTU `mtu`, whatever the link carries.
    pub fn with_mtu(ip: Ipv4Addr, mac: [u8; 6], dev: LinkEnd, seed: u64, mtu: usize) -> Node {
        Node { stack: Stack::new(&host_config(ip, mac, mtu), seed), dev }
    }
    pub fn tcp(&mut self) -> &mut TcpStack {
        &mut self.stack.tcp
    }
}

impl Host for Node {
    fn poll(&mut self, now: Instant) {
        self.stack.poll(now, &mut self.dev);
    }
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.stack.poll_at(now)
    }
}

/// Two hosts on a link and the virtual clock.
pub struct Sim<A: Host, B: Host> {
    pub now: Instant,
    pub link: Link,
    pub a: A,
    pub b: B,
    /// Clock-loop iterations so far (a cost measure).
    pub iterations: u64,
    /// Last frames, printed if the test panics (`TAPSTACK_TEST_TRACE=<frames>`).
    pub trace: Option<Trace>,
    /// Longest clock step, for tests whose application acts on its own schedule.
    pub tick: Option<Duration>,
}

impl<A: Host, B: Host> Drop for Sim<A, B> {
    fn drop(&mut self) {
        if let (true, Some(t)) = (std::thread::panicking(), &self.trace) {
            eprintln!("---- last frames on the link (virtual time {:?}) ----\n{}", self.now, t.dump());
        }
    }
}

/// Iterations at one instant with no frame moving before the loop is declared a livelock.
const SPIN_LIMIT: u32 = 10_000;
/// Frames sent at one single instant before the loop is declared a packet storm (a 32 MiB
/// transfer over a zero-delay link needs about 50,000).
const STORM_LIMIT: u64 = 2_000_000;
/// Clock-loop iterations in one `run_until` before it is declared a timer storm (a 32 MiB
/// transfer each way under harsh impairments takes about 100,000).
const ITERATION_LIMIT: u64 = 20_000_000;

impl<A: Host, B: Host> Sim<A, B> {
    pub fn new(link: Link, a: A, b: B) -> Self {
        if let Some(p) = std::env::var_os("TAPSTACK_TEST_PCAP") {
            link.capture_pcap(std::path::Path::new(&p), None).expect("TAPSTACK_TEST_PCAP");
        }
        let trace =
            std::env::var("TAPSTACK_TEST_TRACE").ok().and_then(|v| v.parse().ok()).map(|n| Trace::attach(&link, n));
        // Start at 1 s rather than 0 so "time zero" never looks special to the stacks.
        Sim { now: Instant::from_secs(1), link, a, b, iterations: 0, trace, tick: None }
    }

    fn frames_offered(&self) -> u64 {
        self.link.stats(Dir::AToB).frames_in + self.link.stats(Dir::BToA).frames_in
    }

    /// Polls both hosts at the current instant.
    pub fn poll(&mut self) {
        self.a.poll(self.now);
        self.b.poll(self.now);
        self.iterations += 1;
    }

    /// The earliest deadline of both hosts and the link.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        let now = self.now;
        let t = earliest(earliest(self.a.poll_at(now), self.b.poll_at(now)), self.link.poll_at());
        earliest(t, self.tick.map(|d| now + d))
    }

    /// Runs the clock loop until `cond` (called after every poll; it may act on the hosts)
    /// returns true, or `limit` of virtual time passes (false). Panics on a livelock: a deadline
    /// that stays at "now" while no frame moves.
    pub fn run_until(&mut self, limit: Duration, mut cond: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now + limit;
        let mut spins = 0u32;
        let mut offered = self.frames_offered();
        let mut instant_start = offered;
        let first_iteration = self.iterations;
        loop {
            assert!(
                self.iterations - first_iteration < ITERATION_LIMIT,
                "timer storm: {ITERATION_LIMIT} clock-loop iterations by {:?}",
                self.now
            );
            self.poll();
            if cond(self) {
                return true;
            }
            match self.next_deadline() {
                Some(t) if t <= self.now => {
                    let o = self.frames_offered();
                    if o == offered {
                        spins += 1;
                        assert!(
                            spins < SPIN_LIMIT,
                            "livelock at {:?}: a deadline stays at now ({t:?}) but nothing is sent",
                            self.now
                        );
                    } else {
                        spins = 0;
                        offered = o;
                        assert!(
                            o - instant_start < STORM_LIMIT,
                            "packet storm: {} frames at the single instant {:?}",
                            o - instant_start,
                            self.now
                        );
                    }
                }
                Some(t) if t <= end => {
                    self.now = t;
                    spins = 0;
                    instant_start = self.frames_offered();
                }
                _ => {
                    // Nothing due before the limit: let the clock run out and look once more.
                    self.now = end;
                    self.poll();
                    return cond(self);
                }
            }
        }
    }

    /// Lets `d` of virtual time pass (hosts polled at every deadline).
    pub fn advance(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }
}

/// Two of our stacks, A = 10.0.0.1 and B = 10.0.0.2, on `link`.
pub fn stack_pair(link: Link, seed: u64) -> Sim<Node, Node> {
    let a = Node::new(A_IP, A_MAC, link.a(), seed.wrapping_mul(2).wrapping_add(1));
    let b = Node::new(B_IP, B_MAC, link.b(), seed.wrapping_mul(2).wrapping_add(2));
    Sim::new(link, a, b)
}
