//! The socket table of a stack (`Stack::socket_table`).
use super::{Proto, SockEntry};
use crate::socket::tcp::TcpStack;
use crate::socket::udp::UdpStack;
use crate::wire::ip::{IpAddress, IpEndpoint};

/// TCP control blocks (in handle order), then UDP (and raw) sockets.
pub fn table(tcp: &TcpStack, udp: &UdpStack) -> Vec<SockEntry> {
    let mut v = tcp.snapshot();
    for h in udp.handles() {
        let local = udp.local_addr(h).unwrap_or(IpEndpoint::new(IpAddress::v4(0, 0, 0, 0), 0));
        v.push(SockEntry {
            proto: if udp.raw_protocol(h).is_some() { Proto::Raw } else { Proto::Udp },
            handle: h.0,
            state: None,
            local,
            remote: udp.remote_addr(h),
            recv_q: udp.recv_queue(h),
            send_q: 0,
            orphan: false,
            owner: None,
            info: None,
        });
    }
    v
}
