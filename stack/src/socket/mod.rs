//! Sockets: TCP (`tcp/`, split by concern like Linux's tcp_input/tcp_output/tcp_timer) and UDP.
//!
//! Each protocol is a self-contained sans-IO engine that takes transport segments with their
//! family-neutral addresses (`process`, `crate::wire::ip::IpAddress`) and hands out segments to
//! send (`dispatch`); `crate::stack::Stack` wraps them in IPv4 and Ethernet. Sockets are named by
//! `crate::wire::ip::IpEndpoint`.
#[cfg(test)]
mod endpoint_tests;
pub mod errqueue;
pub mod tcp;
pub mod udp;

/// Readiness of one socket, as poll(2) reports it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// POLLIN: data, EOF, a pending connection (listener), or an error to read.
    pub readable: bool,
    /// POLLOUT: send buffer space (connected), or a finished non-blocking connect.
    pub writable: bool,
    /// POLLRDHUP: the peer sent FIN.
    pub read_hup: bool,
    /// POLLHUP: both directions closed (or reset).
    pub hup: bool,
    /// POLLERR: a pending error (SO_ERROR).
    pub error: bool,
}

/// The ephemeral ports of a socket with IP_LOCAL_PORT_RANGE `sk` (low 16 bits the lowest
/// port, high 16 the highest, 0: unset) within the host's range `sys`: each end of its own
/// that lies within the host's range replaces the host's (Linux inet_sk_get_local_port_range).
pub fn local_port_range(sys: (u16, u16), sk: u32) -> (u16, u16) {
    let (mut lo, mut hi) = sys;
    let (sk_lo, sk_hi) = ((sk & 0xffff) as u16, (sk >> 16) as u16);
    if sk != 0 {
        if (lo..=hi).contains(&sk_lo) {
            lo = sk_lo;
        }
        if (lo..=hi).contains(&sk_hi) {
            hi = sk_hi;
        }
    }
    (lo, hi)
}

/// Which directions `shutdown` closes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}
