//! The runtime: a `Stack` driven by a real device (TAP), a monotonic clock and a background
//! thread. CONTRACT for the shim and `tapstack-host`; the runtime owner fills it in.
//!
//! All of the runtime's own I/O (TAP, eventfd, poll, pcap, logs) uses raw `libc::syscall`, never
//! the libc wrappers that the preload shim hooks (read, write, poll, close, ioctl, fcntl...).
use std::sync::Arc;

use crate::config::Config;
use crate::stack::Stack;
use crate::time::Instant;

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

/// A running stack. Lock it to make socket calls; dropping the guard transmits what the calls
/// queued and wakes the background thread if its next deadline moved earlier.
pub struct Runtime {
    _private: (),
}

/// Exclusive access to the stack. Derefs to `Stack`.
pub struct RuntimeGuard<'a> {
    _rt: &'a Runtime,
}

#[allow(unused_variables)]
impl Runtime {
    /// Opens the TAP device named in `config`, installs logging/pcap/faults, starts the thread.
    pub fn start(config: Config) -> Result<Arc<Runtime>, RuntimeError> {
        todo!()
    }
    /// The current time on the runtime's monotonic clock.
    pub fn now(&self) -> Instant {
        todo!()
    }
    pub fn lock(&self) -> RuntimeGuard<'_> {
        todo!()
    }
    /// Registers a callback the stack thread calls (with the stack locked) after every round in
    /// which anything happened; the shim uses it to signal per-socket eventfds.
    pub fn set_event_hook(&self, hook: Box<dyn FnMut(&mut Stack) + Send>) {
        todo!()
    }
    /// Waits with the stack unlocked until the stack thread reports progress or `deadline`
    /// passes (None: no deadline). Returns false on timeout. Spurious wakeups are allowed.
    pub fn wait(&self, guard: &mut RuntimeGuard<'_>, deadline: Option<std::time::Instant>) -> bool {
        todo!()
    }
    /// Blocks up to `timeout` until no connection has pending output (exit drain).
    pub fn drain(&self, timeout: std::time::Duration) {
        todo!()
    }
}

impl core::ops::Deref for RuntimeGuard<'_> {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        todo!()
    }
}
impl core::ops::DerefMut for RuntimeGuard<'_> {
    fn deref_mut(&mut self) -> &mut Stack {
        todo!()
    }
}
