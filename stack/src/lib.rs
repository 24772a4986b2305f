//! tapstack: a userspace TCP/IP stack.
//!
//! The protocol core (`wire`, `iface`, `socket`, `dns`, `stack`) is sans-IO: frames go in and out
//! through [`phy::Device`] and time is passed in as [`time::Instant`]. The [`runtime`] module wraps
//! it with a TAP device, a background thread and a real clock.
//!
//! [`sys`] holds the raw system calls (no errno, no hooked libc wrapper) that `phy`, `log`,
//! `runtime` and the preload shim use; it is the only module allowed `unsafe` code.
#![deny(unsafe_code)]
pub mod client;
pub mod config;
pub mod dns;
pub mod error;
pub mod iface;
pub mod inspect;
pub mod log;
pub mod phy;
pub mod runtime;
pub mod service;
pub mod socket;
pub mod stack;
#[allow(unsafe_code)]
pub mod sys;
pub mod time;
pub mod trace;
pub mod wire;

pub use error::{Error, Result};
pub use stack::Stack;
pub use time::{Duration, Instant};
