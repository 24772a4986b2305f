//! TCP (RFC 9293), split by concern like Linux; docs/tcp.md says which file holds what.
//!
//! CONTRACT (used by `stack.rs`, the preload shim and the tests; keep the signatures):
//! a `TcpStack` owns every TCP control block of one host. The IP layer feeds it segments with
//! `process` and collects segments to send with `dispatch`; time is always passed in.
//!
//! This file only declares the parts and re-exports the public API. The parts form layers and
//! import only from layers below them, so no two files import each other, directly or in a loop:
//! plain types (`types.rs`, `seq.rs`, the buffers and estimators, `vars.rs`, the records of
//! `listener.rs` and `timewait.rs`); the control block (`tcb.rs`) and the files that work on
//! control blocks (`input.rs`, `output.rs`, `timer.rs`, `rack.rs`, `trace.rs`, `ports.rs`...);
//! the socket table (`table.rs`); the files that work on the table (`demux.rs`, `dispatch.rs`, `api.rs`,
//! `synq.rs`, `twtable.rs`...). No part imports from this file.

mod api;
mod assembler;
mod autotune;
mod buffer;
mod calls;
mod congestion;
mod demux;
mod dispatch;
mod icmp;
mod input;
mod inspect;
pub mod isn;
mod listener;
mod memtrim;
mod output;
mod ports;
mod rack;
mod rtt;
mod sack;
mod sentlog;
pub mod seq;
mod syncookie;
mod synq;
mod table;
mod tcb;
#[cfg(test)]
mod tests;
mod timer;
mod timewait;
mod trace;
mod twtable;
mod types;
mod vars;

pub use output::HEADROOM;
pub use table::TcpStack;
pub use types::{Congestion, TcpConfig, TcpHandle, TcpInfo, TcpOption, TcpState, TcpStats};
