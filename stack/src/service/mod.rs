//! `tapstackd`: the one stack of a TAP device (in its network namespace), shared by every
//! shimmed process. It owns the TAP, the stack (ARP cache, routes, socket table, timers) and
//! one end of a socketpair per socket; programs hold the other ends, so fork, dup, exec,
//! SCM_RIGHTS, close-on-exec, poll/select/epoll, blocking, SO_RCVTIMEO and signals are the
//! kernel's own (docs/runtime.md, "The shared service").
//!
//! - `proto`: the control messages (pure, tested).
//! - `fdpass`: raw syscalls shared with the shim (descriptor passing, credentials).
//! - `gate`: the TAP device, read only when it can have something.
//! - `engine`: which engine (TCP or UDP) a socket lives in.
//! - `sock`: one socket; `pump`, `pump_udp`: the data between its pair and the engine.
//! - `opts`: socket options over the shared stack (pure, tested).
//! - `ops`: the control requests; `connect`: connect() of either protocol.
//! - `keep`, `store`: idle connections' ends held by keeper processes near RLIMIT_NOFILE.
//! - `renew`: a new pair for a socket whose failed connect spent its own.
//!
//! One thread: an epoll loop over the TAP, the attach socket, the clients' control connections
//! and every socket's end `a`; the stack's own deadline is the epoll timeout. This module runs
//! only inside `tapstackd` (never preloaded), so it may call libc directly.
mod attach;
mod bind_rights;
mod connect;
mod engine;
pub mod errq;
pub mod fdpass;
mod gate;
pub mod keep;
mod mcast;
mod ops;
pub mod opts;
mod perm;
pub mod proto;
mod pump;
mod pump_udp;
mod query;
mod reap;
mod renew;
mod shut;
pub mod sock;
mod stop;
mod store;

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Config;
use crate::phy::Device;
use crate::runtime::{open_device, RuntimeError};
use crate::socket::tcp::TcpHandle;
use crate::socket::udp::UdpHandle;
use crate::stack::Stack;
use crate::time::{earliest, Instant};

use engine::Proto;
use sock::Sock;

/// How the service was started.
#[derive(Clone, Debug)]
pub struct Options {
    /// Do not exit when idle.
    pub persist: bool,
    /// Grace period before an idle service exits.
    pub idle: Duration,
    /// Busy-poll budget (`TAPSTACK_BUSY_POLL_US`, 0 = off): see `Service::wait`.
    pub busy_poll: Duration,
}

const T_TAP: u64 = 1 << 60;
const T_ATTACH: u64 = 2 << 60;
const T_CLIENT: u64 = 3 << 60;
const T_SOCK: u64 = 4 << 60;
const T_STOP: u64 = 5 << 60;
const T_KEEP: u64 = 6 << 60;
const T_MASK: u64 = 0xf << 60;

/// Marks a program's end so that an exec'd program recognises it (`proto::PROGRAM_END_PRIORITY`).
pub(crate) fn mark_program_end(b: i32) {
    let _ = fdpass::setsockopt_int(b, libc::SOL_SOCKET, libc::SO_PRIORITY, proto::PROGRAM_END_PRIORITY);
}

pub struct Service {
    cfg: Config,
    stack: Stack,
    dev: gate::Gate,
    tx_flush: crate::phy::tap::TxFlush,
    tap_fd: i32,
    epfd: i32,
    /// The signalfd of SIGTERM/SIGINT/SIGHUP (`stop.rs`), once asked for.
    stop_fd: Option<i32>,
    attach_fd: i32,
    /// Control connections: fd -> its credentials (`perm`).
    clients: HashMap<i32, perm::Peer>,
    /// The credentials of the request being served; `ip_unprivileged_port_start`.
    peer: perm::Peer,
    unpriv_port: u16,
    socks: Vec<Option<Sock>>,
    free: Vec<usize>,
    by_ident: HashMap<(u64, u64), usize>,
    by_tcp: HashMap<u32, usize>,
    by_udp: HashMap<u32, usize>,
    /// Program ends whose `Op::Adopt` failed -> the errno for the first request about them.
    failed: HashMap<(u64, u64), i32>,
    epoch: std::time::Instant,
    opts: Options,
    scratch: Vec<u8>,
    changed_tcp: Vec<TcpHandle>,
    changed_udp: Vec<UdpHandle>,
    /// Sockets to pump after this round.
    dirty: Vec<usize>,
    idle_since: Option<std::time::Instant>,
    /// Traffic flows: the last wait found an event within the busy-poll budget (`wait`).
    hot: bool,
    tap_gone: bool,
    /// Dead sockets whose program end may still be open: (slot, inode of `a`).
    zombies: Vec<(usize, u64)>,
    /// NETLINK_SOCK_DIAG socket to ask whether a zombie's program end is closed.
    diag_fd: i32,
    next_sweep: std::time::Instant,
    /// Service ends of forgotten sockets, closed once the events at hand are handled (see
    /// `close_forgotten`).
    closing: Vec<i32>,
    /// Keeper processes holding idle connections' ends (`keep.rs`), ticket -> slot, and the
    /// descriptor budget that decides when (`store.rs`).
    keep: keep::Keepers,
    kept: HashMap<u64, usize>,
    budget: keep::Budget,
    last_scan: u32,
    store_cursor: usize,
    /// The keepers' returns wait: no descriptor to spare.
    keep_blocked: bool,
    /// Control connections not read until descriptors are spare again.
    paused: Vec<i32>,
    /// Stored sockets to pump once descriptors are spare again.
    deferred: Vec<usize>,
    /// Since when (ms) requests have waited for a spare descriptor.
    starved_since: Option<u32>,
}

/// Why the service could not start; `Busy` means another service already serves this TAP.
#[derive(Debug)]
pub enum StartError {
    Busy,
    Failed(String),
}

impl Service {
    /// Binds the attach point first (so racing starters agree: the loser gets `Busy` and
    /// never touches the TAP), then opens the TAP.
    pub fn new(cfg: Config, opts: Options) -> Result<Service, StartError> {
        let attach_fd = Service::bind_attach(&cfg.tap)?;
        crate::log::init(&cfg).map_err(StartError::Failed)?;
        let opened = open_device(&cfg).map_err(|RuntimeError(e)| StartError::Failed(e))?;
        let epfd =
            fdpass::epoll_create().map_err(|e| StartError::Failed(format!("epoll: {}", crate::sys::strerror(e))))?;
        mcast::set_tap_ifindex(crate::phy::tap::ifindex(&cfg.tap).unwrap_or(0).max(0) as u32);
        let mut stack = Stack::new(&cfg, crate::sys::random_u64());
        stack.set_tcp_checksum_offload(opened.tcp_checksum_offload);
        stack.set_tso(if opened.tso { crate::stack::TSO_MAX } else { 0 });
        // With busy polling, the ACK ending a program's connect waits up to the budget for its
        // first bytes (`TcpConfig::handshake_ack_hold`): the server is woken once, not twice.
        stack.tcp.set_handshake_ack_hold(crate::time::Duration::from_micros(opts.busy_poll.as_micros() as u64));
        // TAPSTACK_TRACE=ladder / events: the service draws every connection of the TAP.
        crate::runtime::install_tracer(&cfg, &mut stack).map_err(|RuntimeError(e)| StartError::Failed(e))?;
        let s = Service {
            cfg,
            stack,
            dev: gate::Gate::new(opened.dev),
            tx_flush: opened.tx_flush,
            tap_fd: opened.tap_fd,
            epfd,
            stop_fd: None,
            attach_fd,
            clients: HashMap::new(),
            peer: perm::Peer::SERVICE,
            unpriv_port: perm::unprivileged_port_start(),
            socks: Vec::new(),
            free: Vec::new(),
            by_ident: HashMap::new(),
            by_tcp: HashMap::new(),
            by_udp: HashMap::new(),
            failed: HashMap::new(),
            epoch: std::time::Instant::now(),
            opts,
            scratch: vec![0u8; sock::CHUNK],
            changed_tcp: Vec::new(),
            changed_udp: Vec::new(),
            dirty: Vec::new(),
            idle_since: None,
            hot: false,
            tap_gone: false,
            zombies: Vec::new(),
            closing: Vec::new(),
            diag_fd: fdpass::sock_diag_socket().unwrap_or(-1),
            next_sweep: std::time::Instant::now(),
            keep: keep::Keepers::default(),
            kept: HashMap::new(),
            budget: keep::Budget::new(crate::sys::raise_nofile_limit().unwrap_or(1024)),
            last_scan: 0,
            store_cursor: 0,
            keep_blocked: false,
            paused: Vec::new(),
            deferred: Vec::new(),
            starved_since: None,
        };
        s.ep_add(s.tap_fd, libc::EPOLLIN as u32, T_TAP);
        s.ep_add(s.attach_fd, libc::EPOLLIN as u32, T_ATTACH);
        tracing::info!(target: "tapstack::service", "serving TAP {} addr {}", s.cfg.tap, s.cfg.addr);
        Ok(s)
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros().min(u64::MAX as u128 - 1) as u64)
    }

    fn ep_add(&self, fd: i32, events: u32, token: u64) {
        let _ = fdpass::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, events, token);
    }
    fn ep_mod(&self, fd: i32, events: u32, token: u64) {
        let _ = fdpass::epoll_ctl(self.epfd, libc::EPOLL_CTL_MOD, fd, events, token);
    }
    fn ep_del(&self, fd: i32) {
        let _ = fdpass::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, 0, 0);
    }

    /// Runs until idle for the grace period (unless persistent). Returns the exit status.
    pub fn run(&mut self) -> i32 {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let now = self.now();
            let next = self.round(now);
            if self.idle_expired() {
                tracing::info!(target: "tapstack::service", "idle: exiting");
                // The ladder's pending summary rows and buffered events (TAPSTACK_TRACE).
                self.stack.tcp.trace_finish();
                return 0;
            }
            self.sweep_zombies();
            self.close_forgotten();
            self.keep_pressure();
            // Those may have served requests (a connect: its SYN's timer, a held ACK).
            let now = self.now();
            let next = earliest(next, earliest(self.stack.poll_at(now), self.dev.poll_at()));
            let mut timeout = next.map(|t| t.saturating_since(now));
            if !self.zombies.is_empty() {
                let d = self.next_sweep.saturating_duration_since(std::time::Instant::now());
                timeout = Some(timeout.map_or(d, |t| t.min(d)));
            }
            if self.keep_waiting() {
                timeout = Some(timeout.map_or(keep::RETRY, |t| t.min(keep::RETRY)));
            }
            if !self.dirty.is_empty() {
                timeout = Some(Duration::ZERO); // sockets handed back to be pumped (`store.rs`)
            }
            if self.idle_since.is_some() {
                timeout = Some(timeout.map_or(self.opts.idle, |t| t.min(self.opts.idle)));
            }
            let n = self.wait(&mut events, timeout);
            for ev in &events[..n] {
                let (e, tok) = (ev.events, ev.u64);
                match tok & T_MASK {
                    T_TAP if e & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 => {
                        self.ep_del(self.tap_fd);
                        self.tap_gone = true;
                        tracing::error!(target: "tapstack::service", "TAP {} is gone", self.cfg.tap);
                    }
                    T_TAP => self.dev.readable(),
                    T_ATTACH => self.accept_clients(),
                    T_CLIENT => self.client_ready((tok & !T_MASK) as i32, e),
                    T_SOCK => self.sock_event((tok & !T_MASK) as usize, e),
                    T_KEEP => self.keep_event((tok & !T_MASK) as usize),
                    T_STOP if self.stop_requested() => {
                        tracing::info!(target: "tapstack::service", "stopped by a signal");
                        self.stack.tcp.trace_finish();
                        return 0;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Waits up to `timeout` (None: until an event) for events, to the microsecond (a held
    /// handshake ACK is due within the budget). While traffic flows (the last wait found an event within
    /// the busy-poll budget), first polls for up to that budget without sleeping, giving the
    /// CPU to anything else runnable between polls. A sleeping service costs every frame the
    /// kernel hands the TAP, and every write of a program, a wake-up (on a VM without
    /// halt-polling, the exit of a halted vCPU: tens of microseconds), which Linux's busy
    /// polling (`net.core.busy_poll`) and NAPI's deferred interrupts avoid the same way. Once a
    /// wait finds nothing within the budget, the next ones sleep at once: a slow or idle flow
    /// costs no polling.
    fn wait(&mut self, events: &mut [libc::epoll_event], timeout: Option<Duration>) -> usize {
        let budget = self.opts.busy_poll;
        let start = std::time::Instant::now();
        let limit = timeout.map_or(budget, |t| budget.min(t));
        if timeout != Some(Duration::ZERO) && self.hot && !limit.is_zero() {
            loop {
                let n = fdpass::epoll_wait(self.epfd, events, 0).unwrap_or(0);
                if n > 0 {
                    return n;
                }
                if start.elapsed() >= limit {
                    break;
                }
                crate::sys::sched_yield();
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return 0; // a deadline within the budget came while polling
            }
        }
        let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
        let n = fdpass::epoll_wait_for(self.epfd, events, left).unwrap_or(0);
        if n > 0 {
            self.hot = start.elapsed() < budget;
        } else if timeout.is_none_or(|t| t >= budget) {
            // Nothing came within the budget. (A wait a timer cut shorter than the budget says
            // nothing about the traffic: `hot` stays as it was.)
            self.hot = false;
        }
        n
    }

    /// One stack round (frames in, timers, frames out), then the engine's news to the programs.
    /// Returns the next deadline.
    fn round(&mut self, now: Instant) -> Option<Instant> {
        let mut next = None;
        for _ in 0..4 {
            next = self.stack.poll(now, &mut self.dev);
            self.tx_flush.flush();
            self.dev.flushed();
            self.stack.tcp.take_changed(&mut self.changed_tcp);
            self.stack.udp.take_changed(&mut self.changed_udp);
            for h in std::mem::take(&mut self.changed_tcp) {
                if let Some(&i) = self.by_tcp.get(&h.0) {
                    self.dirty.push(i);
                }
            }
            for h in std::mem::take(&mut self.changed_udp) {
                if let Some(&i) = self.by_udp.get(&h.0) {
                    self.dirty.push(i);
                }
            }
            if self.dirty.is_empty() {
                break;
            }
            let mut d = std::mem::take(&mut self.dirty);
            d.sort_unstable();
            d.dedup();
            for i in d.drain(..) {
                self.pump(i, now);
            }
            self.dirty = d;
            if self.stack.poll_at(now).is_none_or(|t| t > now) {
                // Nothing due (pumping queued no output): sleep.
                break;
            }
        }
        // What the last pumps queued (segments to ourselves over the loopback, window updates)
        // is due now even when the last poll before them had nothing to do: without this the
        // loop slept with output pending until some unrelated event woke it (two shimmed
        // peers over the stack's own address stalled mid-transfer, tests/net/t_86).
        next = earliest(next, self.stack.poll_at(now));
        if !self.dirty.is_empty() {
            next = Some(now);
        }
        earliest(next, self.dev.poll_at())
    }

    fn idle_expired(&mut self) -> bool {
        if self.tap_gone && self.clients.is_empty() {
            // The TAP was deleted (its namespace too, usually): nothing can move any more.
            return true;
        }
        let idle = self.clients.is_empty()
            && self.by_ident.is_empty()
            && self.socks.iter().all(|s| s.is_none())
            && !self.stack.has_pending_output()
            // TIME-WAIT over (RFC 9293 3.6.1): a fresh stack on this TAP would answer a
            // retransmitted FIN with RST, and could reuse the 4-tuple within 2 MSL.
            && self.stack.tcp.time_wait_count() == 0;
        if !idle || self.opts.persist {
            self.idle_since = None;
            return false;
        }
        let since = *self.idle_since.get_or_insert_with(std::time::Instant::now);
        since.elapsed() >= self.opts.idle
    }

    fn sock_event(&mut self, i: usize, e: u32) {
        let now = self.now();
        if let Some(s) = self.socks.get_mut(i).and_then(|s| s.as_mut()) {
            if e & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                s.a_hup = true;
            }
            if e & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                s.a_dry = false;
            }
        } else {
            return;
        }
        self.pump(i, now);
    }

    /// Moves everything that can move for socket `i`, then updates its epoll interest or
    /// forgets it when the program is gone.
    fn pump(&mut self, i: usize, now: Instant) {
        if !self.unstore(i) {
            return; // its end stays with a keeper for now: the engine keeps what it holds
        }
        let now_ms = self.now_ms();
        let Some(s) = self.socks.get_mut(i).and_then(|s| s.as_mut()) else { return };
        s.active = now_ms;
        if s.parked && s.dead {
            return; // a zombie: only the sweep looks at it
        }
        let mut reset = false;
        if let Err(e) = pump::pump_in(&mut self.stack, now, s, &mut self.scratch) {
            // ECONNRESET: the program closed its end with data unread.
            reset = e == libc::ECONNRESET;
            s.a_hup = true;
            s.a_eof = true;
            s.tx = sock::Pending::default();
        }
        pump::pump_out(&mut self.stack, now, s, &mut self.scratch);
        if s.a_hup && s.listening {
            s.a_eof = true;
        }
        if s.both_shut() && s.a_eof && s.tx.is_empty() && !s.dead && !reset {
            // Nothing can move any more either way: wait for the program's close (sweep).
            s.dead = true;
        }
        if s.finished() || reset {
            let mut s = self.socks[i].take().expect("present");
            sock::close(&mut self.stack, now, &mut s, reset);
            self.forget(i, s);
            return;
        }
        if s.dead {
            // The connection is over: the program's reads end, its writes get EPIPE; `a`
            // leaves epoll (its HUP would spin) and the sweep watches for the program's close.
            let _ = fdpass::shutdown(s.a, libc::SHUT_RDWR);
            let was_parked = std::mem::replace(&mut s.parked, true);
            let a = s.a;
            if !was_parked {
                self.ep_del(a);
            }
            let ino = fdpass::identity(a).map(|x| x.1).unwrap_or(0);
            self.zombies.push((i, ino));
            if self.zombies.len() == 1 {
                self.next_sweep = std::time::Instant::now() + Duration::from_millis(250);
            }
            return;
        }
        let want = s.wanted();
        if s.a_hup {
            // The program is gone but the engine cannot take the rest yet, and HUP would wake
            // us forever: park until the engine reports progress.
            if !s.parked {
                s.parked = true;
                let a = s.a;
                self.ep_del(a);
            }
            return;
        }
        if s.parked {
            s.parked = false;
            s.interest = want;
            let a = s.a;
            self.ep_add(a, want, T_SOCK | i as u64);
        } else if want != s.interest {
            s.interest = want;
            let a = s.a;
            self.ep_mod(a, want, T_SOCK | i as u64);
        }
    }

    /// Registers a new socket whose program end is `b` (kept by the caller to pass out).
    fn install(&mut self, proto: Proto, a: i32, b: i32) -> Result<usize, i32> {
        self.install_as(proto, a, fdpass::identity(b)?)
    }

    /// `install` with the identity of the program's end already known.
    fn install_as(&mut self, proto: Proto, a: i32, ident: (u64, u64)) -> Result<usize, i32> {
        let mut s = Sock::new(proto, a, ident);
        s.uid = self.peer.uid;
        s.active = self.now_ms();
        let i = match self.free.pop() {
            Some(i) => {
                self.socks[i] = Some(s);
                i
            }
            None => {
                self.socks.push(Some(s));
                self.socks.len() - 1
            }
        };
        self.by_ident.insert(ident, i);
        match proto {
            Proto::Tcp(h) => self.by_tcp.insert(h.0, i),
            Proto::Udp(h) => self.by_udp.insert(h.0, i),
        };
        let want = self.socks[i].as_ref().map(|s| s.wanted()).unwrap_or(0);
        if let Some(s) = self.socks[i].as_mut() {
            s.interest = want;
        }
        self.ep_add(a, want, T_SOCK | i as u64);
        Ok(i)
    }

    /// The socket a passed descriptor names, if it is one of ours.
    fn lookup(&self, fd: Option<i32>) -> Option<usize> {
        let id = fdpass::identity(fd?).ok()?;
        self.by_ident.get(&id).copied()
    }

    /// Counters as text (tests and the future socket table query).
    fn stats_text(&self) -> String {
        let live = self.socks.iter().flatten().count();
        format!(
            "sockets {}\nclients {}\ntcp_control_blocks {}\nrx_frames {}\ntx_frames {}\n",
            live,
            self.clients.len(),
            self.stack.tcp.control_blocks(),
            self.stack.stats().rx_frames,
            self.stack.stats().tx_frames
        ) + &self.keep_stats()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = crate::sys::close(self.epfd);
        let _ = crate::sys::close(self.attach_fd);
        if self.diag_fd >= 0 {
            let _ = crate::sys::close(self.diag_fd);
        }
    }
}
