//! Which engine (TCP or UDP) a socket of the service lives in, with its handle there. A leaf,
//! so both `sock.rs` (a socket holds its options) and `opts.rs` (options are set on an engine)
//! use it without importing each other.
use crate::socket::tcp::TcpHandle;
use crate::socket::udp::UdpHandle;

/// Which engine a socket lives in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp(TcpHandle),
    Udp(UdpHandle),
}
