//! TCP engine tests, one file per concern, all on the harness in `harness.rs` (one `TcpStack`
//! fed hand-built segments, or two joined by a delayed, lossy link; virtual clock).
//! - `segments.rs`: exact answers to hand-built segments (handshake, RST, SACK, RTO, TIME-WAIT).
//! - `sessions.rs`: two engines: negotiated options, data and close, windows, errnos, binds.
//! - `sender.rs`, `timers.rs`: regressions of the sender and of the timers (issue 11);
//!   `user_timeout.rs`: TCP_USER_TIMEOUT.
//! - `harden.rs`: SYN flood and cookies, TIME-WAIT and orphan caps, bounded loss recovery.
//! - `inplace.rs`: `send_with`/`recv_with`, the caller writing and reading the rings in place.
//! - `clamp.rs`: TCP_WINDOW_CLAMP against receive-buffer auto-tuning; `dsack.rs`: D-SACK blocks;
//!   `cork.rs`: TCP_CORK and MSG_MORE; `defer_accept.rs`: TCP_DEFER_ACCEPT.
//! - `icmp.rs`: ICMP errors for TCP; `ports.rs`: ephemeral ports and timestamp offsets;
//!   `reuseport.rs`: SO_REUSEPORT listeners sharing a port; `reorder.rs`: a reordering path.
//! - `fuzz.rs`: arbitrary segments; `stateful.rs` (+ `stateful_inv.rs` invariants,
//!   `stateful_found.rs` minimal cases): the stateful fuzzer.
use super::*;
// What the engine files share, in scope for every test file (`use super::*`).
#[allow(unused_imports)]
use super::{input::Rst, output::Emitter, seq::SeqNum, tcb::Tcb};
#[allow(unused_imports)]
use crate::error::{Error, Result};
#[allow(unused_imports)]
use crate::socket::Shutdown;
#[allow(unused_imports)]
use crate::time::{Duration, Instant};
#[allow(unused_imports)]
use crate::wire::ip::{IpAddress, IpEndpoint};
#[allow(unused_imports)]
use crate::wire::tcp::{flags, TcpPacket, TcpRepr};
#[allow(unused_imports)]
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod ca;
mod clamp;
mod cork;
mod defer_accept;
mod dsack;
mod fuzz;
mod handshake;
mod harden;
mod harness;
mod icmp;
mod inplace;
mod maxseg;
mod ports;
mod reorder;
mod reuseport;
mod segments;
mod sender;
mod sessions;
mod stateful;
mod stateful_found;
mod stateful_inv;
mod timers;
mod user_timeout;
