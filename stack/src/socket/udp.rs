//! UDP (RFC 768, RFC 1122 4.1). CONTRACT for `stack.rs` and the shim; the UDP owner fills it in.
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::error::Result;
use crate::socket::Readiness;
use crate::time::Instant;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdpHandle(pub u32);

/// Result of a receive: bytes copied, the datagram's full length (MSG_TRUNC), its source.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecvMeta {
    pub copied: usize,
    pub len: usize,
    pub from: SocketAddrV4,
}

pub struct UdpStack {
    local_addr: Ipv4Addr,
}

#[allow(unused_variables)]
impl UdpStack {
    pub fn new(local_addr: Ipv4Addr, seed: u64) -> UdpStack {
        UdpStack { local_addr }
    }
    /// Input: one UDP datagram (IPv4 payload). Returns false if no socket is bound to the
    /// destination port, so the caller answers ICMP port unreachable.
    pub fn process(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> bool {
        false
    }
    /// Output: every queued datagram as `emit(src, dst, udp_header+payload)` with checksum.
    pub fn dispatch(&mut self, now: Instant, emit: &mut dyn FnMut(Ipv4Addr, Ipv4Addr, &[u8])) {
        
    }
    /// ICMP unreachable quoting a datagram we sent: ECONNREFUSED on a connected socket.
    pub fn icmp_unreachable(&mut self, local: SocketAddrV4, remote: SocketAddrV4, code: u8) {
        let _ = self.local_addr;
    }
    pub fn take_changed(&mut self, out: &mut Vec<UdpHandle>) {
        
    }
    pub fn socket(&mut self) -> UdpHandle {
        todo!()
    }
    pub fn bind(&mut self, h: UdpHandle, local: SocketAddrV4) -> Result<()> {
        todo!()
    }
    /// connect(): default destination and source filter; port 0 address 0.0.0.0 (AF_UNSPEC) disconnects.
    pub fn connect(&mut self, h: UdpHandle, remote: Option<SocketAddrV4>) -> Result<()> {
        todo!()
    }
    /// sendto()/send(): `dst` None uses the connected peer (ENOTCONN if none); EMSGSIZE over 65507.
    pub fn send_to(&mut self, h: UdpHandle, data: &[u8], dst: Option<SocketAddrV4>) -> Result<usize> {
        todo!()
    }
    /// recvfrom(): WouldBlock if the queue is empty; a pending error (ECONNREFUSED) first.
    pub fn recv_from(&mut self, h: UdpHandle, buf: &mut [u8], peek: bool) -> Result<RecvMeta> {
        todo!()
    }
    pub fn close(&mut self, h: UdpHandle) {
        todo!()
    }
    pub fn set_broadcast(&mut self, h: UdpHandle, on: bool) -> Result<()> {
        todo!()
    }
    pub fn set_recv_buffer(&mut self, h: UdpHandle, bytes: usize) -> Result<()> {
        todo!()
    }
    pub fn readiness(&self, h: UdpHandle) -> Readiness {
        todo!()
    }
    pub fn take_error(&mut self, h: UdpHandle) -> Option<crate::error::Error> {
        todo!()
    }
    pub fn local_addr(&self, h: UdpHandle) -> Option<SocketAddrV4> {
        todo!()
    }
    pub fn remote_addr(&self, h: UdpHandle) -> Option<SocketAddrV4> {
        todo!()
    }
    /// FIONREAD: size of the next datagram (0 if none), as Linux reports for UDP.
    pub fn recv_queue(&self, h: UdpHandle) -> usize {
        todo!()
    }
    /// Datagrams dropped because the receive queue was full.
    pub fn drops(&self) -> u64 {
        todo!()
    }
}
