//! The runtime: a `Stack` driven by a real device (TAP), a monotonic clock and a background
//! thread, for `tapstack-host` (the shared service, `tapstack::service`, drives its own loop and
//! shares [`open_device`] and the trace set-up with it).
//!
//! All of the runtime's own I/O (TAP, eventfd, poll, pcap, logs) uses raw `libc::syscall` (see
//! [`sys`]), never libc wrappers. Locks are parking_lot (futex syscalls), the clock is
//! `std::time::Instant` (clock_gettime through the vDSO).
//!
//! # Threads and latency
//! One background thread ("tapstack") loops: lock the stack, `Stack::poll` (receive, timers,
//! transmit), unlock, notify waiters, then sleep in `ppoll` on the TAP descriptor and a kick
//! eventfd until the next deadline. Its signals are blocked, so a signal handler never runs on
//! it while it holds the lock.
//!
//! A [`RuntimeGuard`] that was used mutably (a socket call) flushes when dropped: it runs one
//! `Stack::poll` inline in the caller's thread, so a segment queued by `send` is on the wire
//! before `send` returns. If that inline round moved the next deadline earlier than the one the
//! thread sleeps until, the thread is kicked. Every dirty guard release and every round in
//! which frames moved or a timer fired notifies `wait`ers.
//!
//! Locks are not reentrant: while holding a guard, do not call `lock` or `stats` on the same
//! runtime (use `wait` to block with the guard).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::config::Config;
use crate::phy::fault::{FaultConfig, FaultDevice};
use crate::phy::pcap::{PcapDevice, PcapWriter};
use crate::phy::tap::TapDevice;
use crate::phy::Device;
use crate::stack::Stack;
use crate::sys;
use crate::time::{earliest, Instant};

/// Why a runtime could not start: one line, naming the cause (no /dev/net/tun, no such
/// device, device busy, permission denied, bad configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeError(pub String);

impl core::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for RuntimeError {}

/// The TAP device of a configuration with its wrappers (pcap, faults, trace) stacked as
/// configured: what the runtime and the service drive.
pub struct OpenedDevice {
    pub dev: Box<dyn Device + Send>,
    /// Writes out the TAP's coalesced TCP super-frame; call after every round.
    pub tx_flush: crate::phy::tap::TxFlush,
    pub tap_fd: i32,
    /// The TAP finishes TCP checksums: call `Stack::set_tcp_checksum_offload(true)`.
    pub tcp_checksum_offload: bool,
    /// The TAP cuts TCP super-segments, nothing between reads frames: `Stack::set_tso`.
    pub tso: bool,
}

/// Opens the TAP named in `config` and stacks pcap, faults and trace on it.
pub fn open_device(config: &Config) -> Result<OpenedDevice, RuntimeError> {
    let faults = match config.faults.as_deref() {
        Some(spec) => Some(FaultConfig::parse(spec).map_err(RuntimeError)?),
        None => None,
    };
    let mut tap = TapDevice::open(&config.tap, config.mtu).map_err(RuntimeError)?;
    let tx_flush = tap.enable_tx_batching();
    // Checksums left to the kernel both ways, unless something between the TAP and the stack
    // reads or alters frames (a capture must show finished sums; faults may corrupt).
    let mut tcp_checksum_offload = false;
    if config.pcap.is_none() && faults.is_none() {
        tap.leave_partial_checksums();
        tcp_checksum_offload = tap.enable_tcp_checksum_offload();
    }
    if faults.is_some() {
        // Impairments apply per frame: frames as on a wire, not 64 KiB super-frames.
        tap.receive_wire_size();
    }
    // TSO only where every frame goes to the TAP as the stack made it (a capture, faults and
    // the frame trace see wire-sized segments).
    let tso = tcp_checksum_offload && !config.trace;
    let tap_fd = tap.raw_fd();
    // Wire order: TAP <- pcap (what really crossed the wire) <- faults <- trace <- meter.
    let mut dev = DynDevice(Box::new(tap));
    if let Some(path) = &config.pcap {
        let w = PcapWriter::create(path).map_err(RuntimeError)?;
        dev = DynDevice(Box::new(PcapDevice::new(dev, w)));
    }
    if let Some(fc) = faults {
        dev = DynDevice(Box::new(FaultDevice::new(dev, fc)));
    }
    if config.trace {
        dev = DynDevice(Box::new(crate::phy::trace::TraceDevice::new(dev)));
    }
    Ok(OpenedDevice { dev: dev.0, tx_flush, tap_fd, tcp_checksum_offload, tso })
}

/// An owned, type-erased device (so the wrappers can be stacked as configured).
struct DynDevice(Box<dyn Device + Send>);

impl Device for DynDevice {
    fn mtu(&self) -> usize {
        self.0.mtu()
    }
    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.0.receive(now, buf)
    }
    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.0.transmit(now, frame)
    }
    fn transmit_buf(&mut self, now: Instant, frame: Vec<u8>) -> Option<Vec<u8>> {
        self.0.transmit_buf(now, frame)
    }
    fn transmit_gso(&mut self, now: Instant, frame: Vec<u8>, gso_size: u16) -> Option<Vec<u8>> {
        self.0.transmit_gso(now, frame, gso_size)
    }
    fn transmit_gso_parts(&mut self, now: Instant, head: &[u8], parts: &[&[u8]], gso_size: u16) {
        self.0.transmit_gso_parts(now, head, parts, gso_size)
    }
    fn rx_checksum_ok(&self) -> bool {
        self.0.rx_checksum_ok()
    }
    fn poll_at(&self) -> Option<Instant> {
        self.0.poll_at()
    }
}

/// The outermost device: counts frames so a round knows whether anything happened.
struct Meter {
    inner: DynDevice,
    rx: u64,
    tx: u64,
}

impl Device for Meter {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = self.inner.receive(now, buf)?;
        self.rx += 1;
        Some(n)
    }
    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.tx += 1;
        self.inner.transmit(now, frame)
    }
    fn transmit_buf(&mut self, now: Instant, frame: Vec<u8>) -> Option<Vec<u8>> {
        self.tx += 1;
        self.inner.transmit_buf(now, frame)
    }
    fn transmit_gso(&mut self, now: Instant, frame: Vec<u8>, gso_size: u16) -> Option<Vec<u8>> {
        self.tx += 1;
        self.inner.transmit_gso(now, frame, gso_size)
    }
    fn transmit_gso_parts(&mut self, now: Instant, head: &[u8], parts: &[&[u8]], gso_size: u16) {
        self.tx += 1;
        self.inner.transmit_gso_parts(now, head, parts, gso_size)
    }
    fn rx_checksum_ok(&self) -> bool {
        self.inner.rx_checksum_ok()
    }
    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }
}

struct Inner {
    stack: Stack,
    dev: Meter,
    /// Writes out the TAP's coalesced TCP super-frame at the end of every round.
    tx_flush: crate::phy::tap::TxFlush,
}

/// What one `Stack::poll` round did.
struct Round {
    /// Frames received, plus datagrams delivered through the loopback (input all the same:
    /// sockets may have become readable).
    rx: u64,
    tx: u64,
    next: Option<Instant>,
}

impl Inner {
    fn round(&mut self, now: Instant) -> Round {
        let (rx0, tx0, lo0) = (self.dev.rx, self.dev.tx, self.stack.stats().loopback_delivered);
        let next = self.stack.poll(now, &mut self.dev);
        self.tx_flush.flush();
        let lo = self.stack.stats().loopback_delivered - lo0;
        Round { rx: self.dev.rx - rx0 + lo, tx: self.dev.tx - tx0, next: earliest(next, self.dev.poll_at()) }
    }
}

const NO_DEADLINE: u64 = u64::MAX;

/// Frame and round counters of the runtime itself (the stack keeps its own `Stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Rounds run by the stack thread.
    pub thread_rounds: u64,
    /// Rounds run inline when a guard was released.
    pub inline_rounds: u64,
    /// Times the stack thread was woken through its eventfd.
    pub kicks: u64,
}

/// A running stack. Lock it to make socket calls; dropping the guard transmits what the calls
/// queued and wakes the background thread if its next deadline moved earlier.
pub struct Runtime {
    inner: Mutex<Inner>,
    cond: Condvar,
    epoch: std::time::Instant,
    config: Config,
    tap_fd: i32,
    kick_fd: i32,
    /// False once the stack thread has exited (stopped, or died of a panic).
    alive: AtomicBool,
    /// The TAP reported an error condition (interface deleted): no longer polled.
    tap_gone: AtomicBool,
    /// The stack thread's current wake-up deadline (micros on our clock, NO_DEADLINE if none).
    sleep_until: AtomicU64,
    stop: AtomicBool,
    thread_rounds: AtomicU64,
    inline_rounds: AtomicU64,
    kicks: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Exclusive access to the stack. Derefs to `Stack`.
pub struct RuntimeGuard<'a> {
    rt: &'a Runtime,
    inner: MutexGuard<'a, Inner>,
    /// Set by `deref_mut`: a socket call may have queued output.
    dirty: bool,
}

impl Runtime {
    /// Opens the TAP device named in `config`, installs logging/pcap/faults, starts the thread.
    pub fn start(config: Config) -> Result<Arc<Runtime>, RuntimeError> {
        crate::log::init(&config).map_err(RuntimeError)?;
        let opened = open_device(&config)?;
        let (dev, tx_flush, tap_fd) = (DynDevice(opened.dev), opened.tx_flush, opened.tap_fd);
        let kick_fd = sys::eventfd().map_err(|e| RuntimeError(format!("eventfd: {}", sys::strerror(e))))?;
        let mut stack = Stack::new(&config, sys::random_u64());
        stack.set_tcp_checksum_offload(opened.tcp_checksum_offload);
        stack.set_tso(if opened.tso { crate::stack::TSO_MAX } else { 0 });
        install_tracer(&config, &mut stack)?;
        tracing::info!(
            target: "tapstack::runtime",
            "started on {} addr {}/{} mac {} mtu {}",
            config.tap,
            config.addr,
            config.prefix_len,
            mac_string(&config.mac),
            config.mtu
        );
        let rt = Arc::new(Runtime {
            inner: Mutex::new(Inner { stack, dev: Meter { inner: dev, rx: 0, tx: 0 }, tx_flush }),
            cond: Condvar::new(),
            epoch: std::time::Instant::now(),
            config,
            tap_fd,
            kick_fd,
            alive: AtomicBool::new(true),
            tap_gone: AtomicBool::new(false),
            sleep_until: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            thread_rounds: AtomicU64::new(0),
            inline_rounds: AtomicU64::new(0),
            kicks: AtomicU64::new(0),
            thread: Mutex::new(None),
        });
        let rt2 = Arc::clone(&rt);
        // The thread inherits a mask with every asynchronous signal blocked.
        let old = sys::block_async_signals();
        let spawned = std::thread::Builder::new().name("tapstack".into()).spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt2.run()));
            rt2.alive.store(false, Ordering::SeqCst);
            rt2.cond.notify_all();
            if r.is_err() {
                let _ = sys::write_all(2, b"tapstack: the stack thread panicked; networking has stopped\n");
            }
        });
        sys::restore_sigmask(old);
        let handle = spawned.map_err(|e| RuntimeError(format!("cannot start the stack thread: {e}")))?;
        *rt.thread.lock() = Some(handle);
        Ok(rt)
    }

    /// The current time on the runtime's monotonic clock.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros().min(u64::MAX as u128 - 1) as u64)
    }

    /// The configuration the runtime was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// False once the stack thread has exited ([`Runtime::stop`], or a panic in the stack):
    /// nothing moves any more except through inline rounds of socket calls.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// True once the TAP descriptor reported an error (e.g. the interface was deleted): frames
    /// no longer move. Reported once on stderr.
    pub fn tap_gone(&self) -> bool {
        self.tap_gone.load(Ordering::SeqCst)
    }

    pub fn lock(&self) -> RuntimeGuard<'_> {
        RuntimeGuard { rt: self, inner: self.inner.lock(), dirty: false }
    }

    /// Waits with the stack unlocked until the stack thread reports progress or `deadline`
    /// passes (None: no deadline). Returns false on timeout. Spurious wakeups are allowed.
    ///
    /// Output the guard's socket calls queued is flushed first; if that flush itself received
    /// frames, returns true at once (the caller re-checks its condition).
    pub fn wait(&self, guard: &mut RuntimeGuard<'_>, deadline: Option<std::time::Instant>) -> bool {
        if guard.flush() {
            return true;
        }
        match deadline {
            None => {
                self.cond.wait(&mut guard.inner);
                true
            }
            Some(d) => !self.cond.wait_until(&mut guard.inner, d).timed_out(),
        }
    }

    /// Stops the stack thread (frames are no longer processed) and waits for it to finish.
    /// Used by `tapstack-host` and tests.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kick();
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Ends the trace (process exit): the ladder's pending summary and buffered events are
    /// written. Bounded: gives up if the stack stays locked for a second.
    pub fn finish_trace(&self) {
        if let Some(mut g) = self.inner.try_lock_for(std::time::Duration::from_secs(1)) {
            g.stack.tcp.trace_finish();
        }
    }

    /// Runtime-level counters.
    pub fn stats(&self) -> RuntimeStats {
        let g = self.inner.lock();
        RuntimeStats {
            rx_frames: g.dev.rx,
            tx_frames: g.dev.tx,
            thread_rounds: self.thread_rounds.load(Ordering::Relaxed),
            inline_rounds: self.inline_rounds.load(Ordering::Relaxed),
            kicks: self.kicks.load(Ordering::Relaxed),
        }
    }

    fn kick(&self) {
        sys::eventfd_signal(self.kick_fd);
    }

    /// The stack thread.
    fn run(&self) {
        let mut fds = [
            libc::pollfd { fd: self.tap_fd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.kick_fd, events: libc::POLLIN, revents: 0 },
        ];
        let mut timer_fired = true;
        let mut busy_rounds = 0u32;
        while !self.stop.load(Ordering::SeqCst) {
            let mut g = self.inner.lock();
            let now = self.now();
            let r = g.round(now);
            self.thread_rounds.fetch_add(1, Ordering::Relaxed);
            let progress = r.rx > 0 || r.tx > 0 || timer_fired;
            // The round may have queued work that is due now.
            let next = earliest(r.next, g.stack.poll_at(now));
            self.sleep_until.store(next.map_or(NO_DEADLINE, |t| t.total_micros()), Ordering::SeqCst);
            drop(g);
            if progress {
                self.cond.notify_all();
            }
            let mut timeout = next.map(|t| t.saturating_since(self.now()));
            if timeout == Some(std::time::Duration::ZERO) {
                // Guard against a deadline that never moves: at most 64 back-to-back rounds.
                busy_rounds += 1;
                if busy_rounds > 64 {
                    timeout = Some(std::time::Duration::from_millis(1));
                    busy_rounds = 0;
                }
            } else {
                busy_rounds = 0;
            }
            fds[0].revents = 0;
            fds[1].revents = 0;
            let ready = sys::ppoll(&mut fds, timeout).unwrap_or(0);
            timer_fired = ready == 0 && timeout.is_some();
            if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                // A detached TAP (interface deleted) polls as POLLERR forever: stop polling it
                // rather than spin. Timers and the kick eventfd keep working.
                fds[0].fd = -1;
                self.tap_gone.store(true, Ordering::SeqCst);
                let msg =
                    format!("tapstack: TAP device {} is gone (interface deleted?); no more frames\n", self.config.tap);
                let _ = sys::write_all(2, msg.as_bytes());
                tracing::error!(target: "tapstack::runtime", "TAP device {} reported an error; stopped polling it", self.config.tap);
            }
            if fds[1].revents & libc::POLLIN != 0 {
                sys::eventfd_drain(self.kick_fd);
                self.kicks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = sys::close(self.kick_fd);
    }
}

impl RuntimeGuard<'_> {
    /// Runs one inline round if a socket call may have queued output. Returns true if it
    /// received frames (readiness may have changed). See the module documentation.
    fn flush(&mut self) -> bool {
        if !self.dirty {
            return false;
        }
        self.dirty = false;
        let rt = self.rt;
        let r = self.inner.round(rt.now());
        rt.inline_rounds.fetch_add(1, Ordering::Relaxed);
        // A socket call may have changed what another thread waits for (even without frames);
        // notifying with no waiter is nearly free, a spurious wakeup is allowed.
        rt.cond.notify_all();
        let next = r.next.map_or(NO_DEADLINE, |t| t.total_micros());
        if next < rt.sleep_until.load(Ordering::SeqCst) {
            rt.kick();
        }
        r.rx > 0
    }
}

impl Drop for RuntimeGuard<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl core::ops::Deref for RuntimeGuard<'_> {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.inner.stack
    }
}
impl core::ops::DerefMut for RuntimeGuard<'_> {
    fn deref_mut(&mut self) -> &mut Stack {
        self.dirty = true;
        &mut self.inner.stack
    }
}

/// Installs the trace sink `TAPSTACK_TRACE` asks for (ladder and/or JSON events) writing to
/// stderr or `TAPSTACK_TRACE_FILE`; returns the file's descriptor. With both ladder and events
/// and a file, the ladder goes to stderr and the events to the file.
pub(crate) fn install_tracer(config: &Config, stack: &mut Stack) -> Result<Option<i32>, RuntimeError> {
    let spec = &config.trace_spec;
    if !spec.wants_events() {
        return Ok(None);
    }
    let file = match &config.trace_file {
        None => None,
        Some(path) => {
            use std::os::unix::ffi::OsStrExt;
            let c = std::ffi::CString::new(path.as_os_str().as_bytes())
                .map_err(|_| RuntimeError(format!("TAPSTACK_TRACE_FILE: path {path:?} contains a NUL byte")))?;
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
            let fd = sys::open(&c, flags, 0o644).map_err(|e| {
                RuntimeError(format!("TAPSTACK_TRACE_FILE: cannot create {}: {}", path.display(), sys::strerror(e)))
            })?;
            Some(fd)
        }
    };
    let out = file.unwrap_or(2);
    let ladder_fd = if spec.events && file.is_some() { 2 } else { out };
    let sink = crate::trace::sink::WriterSink::new(spec, ladder_fd, out);
    stack.set_tracer(Some(Box::new(sink)));
    Ok(file)
}

fn mac_string(m: &[u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

#[cfg(test)]
mod tests;
