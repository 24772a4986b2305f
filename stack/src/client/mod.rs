//! Logic of the LD_PRELOAD client (the shim) that needs no process state: pure functions over
//! bytes and small values, unit-tested here, called by `tapstack-preload`.
//!
//! - [`sockaddr`]: raw `sockaddr` buffers of AF_INET and AF_INET6 sockets in and out, with the
//!   errno Linux gives for each malformed or unsupported address (dual-stack translation).
//! - [`dual`]: the dual-stack state of one socket (family, IPPROTO_IPV6 options, virtual
//!   binding), kept by the service.
//! - [`fdtable`]: descriptor -> kind of shared-stack socket, and the set of the shim's own
//!   descriptors; one atomic load per lookup.
//! - [`ipv6opt`]: the IPPROTO_IPV6 socket options of an AF_INET6 socket (IPV6_V6ONLY ...).
//! - [`rtnl`]: rtnetlink address messages a program reads show the TAP with tapstack's address.
//! - [`exec`]: what the exec hooks read of a program: static or Go (out of LD_PRELOAD's reach),
//!   a script's interpreter, the shim in an LD_PRELOAD value.
pub mod dual;
pub mod exec;
pub mod fdtable;
pub mod ipv6opt;
pub mod rtnl;
pub mod sockaddr;
#[cfg(test)]
mod sockaddr_tests;
