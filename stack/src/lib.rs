//! tapstack: a userspace TCP/IP stack.
//!
//! The protocol core (`wire`, `iface`, `socket`, `dns`, `stack`) is sans-IO: frames go in and out
//! through [`phy::Device`] and time is passed in as [`time::Instant`]. The [`runtime`] module wraps
//! it with a TAP device, a background thread and a real clock.
pub mod config;
pub mod dns;
pub mod error;
pub mod iface;
pub mod log;
pub mod phy;
pub mod runtime;
pub mod socket;
pub mod stack;
pub mod time;
pub mod trace;
pub mod wire;

pub use error::{Error, Result};
pub use stack::Stack;
pub use time::{Duration, Instant};
