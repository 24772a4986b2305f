//! The data pump of a UDP socket (`pump.rs` has TCP's): one SOCK_SEQPACKET
//! record per datagram, with a `proto::UDP_HDR` header naming the peer (and, received, what
//! recvmsg's control messages need).
use std::net::SocketAddrV4;

use crate::socket::udp::UdpHandle;
use crate::stack::Stack;
use crate::Error;

use super::fdpass;
use super::opts::Opts;
use super::proto::UDP_HDR;
use super::sock::{flush_rx, Pending, Sock};

pub(super) fn pump_out(stack: &mut Stack, s: &mut Sock, h: UdpHandle, scratch: &mut [u8]) {
    if !flush_rx(s) {
        return;
    }
    loop {
        let m = match stack.udp.recv_from(h, &mut scratch[UDP_HDR..], false) {
            Ok(m) => m,
            Err(Error::WouldBlock) | Err(Error::NotConnected) | Err(Error::BadHandle) => return,
            Err(e) => {
                let _ = fdpass::send(s.a, &super::proto::udp_err_hdr(e.errno()), 0);
                continue;
            }
        };
        let hdr = super::proto::udp_hdr_rx(m.from.into(), &rx_info(stack, &s.opts, &m));
        scratch[..UDP_HDR].copy_from_slice(&hdr);
        let d = &scratch[..UDP_HDR + m.copied];
        match fdpass::send(s.a, d, 0) {
            Ok(_) => {}
            Err(libc::EAGAIN) => {
                s.rx.set(d);
                return;
            }
            Err(libc::EPIPE) => {} // the program shut down reading (shut::udp): dropped
            Err(_) => return,
        }
    }
}

pub(super) fn pump_in(stack: &mut Stack, s: &mut Sock, h: UdpHandle, scratch: &mut [u8]) -> Result<(), i32> {
    loop {
        if !s.tx.is_empty() {
            if let Some(e) = stack.udp.take_error(h) {
                // Linux fails the send with the pending error; the program's send returned
                // already, so the error goes to its stream (next recv, POLLERR) and the
                // datagram still leaves rather than vanish unreported.
                let _ = fdpass::send(s.a, &super::proto::udp_err_hdr(e.errno()), 0);
            }
            let (dst, data) = split_udp(s.tx.rest());
            let src = super::proto::parse_udp_src(s.tx.rest()).map(Into::into);
            // The shim checked the route already (`Op::Route`); a group it could not reach
            // never leaves.
            let routed = dst.map_or(Ok(()), |d| stack.udp_route(h, (*d.ip()).into(), src));
            match routed.and_then(|()| stack.udp.send_from(h, data, dst.map(Into::into), src)) {
                Err(Error::WouldBlock) => return Ok(()),
                Ok(_) if s.opts.ip_opts_set => {
                    // The send may have bound the socket (its port, or a ping identifier): IP_TTL
                    // and IP_TOS follow that port.
                    super::opts::apply_ip_opts(stack, s.proto, &s.opts);
                }
                Ok(_) => {}
                Err(e) => {
                    // Reported through SO_ERROR-like reason (the program's send already returned).
                    s.reason = e.errno();
                }
            }
            s.tx = Pending::default();
        }
        if s.a_dry && !s.a_hup {
            return Ok(());
        }
        match fdpass::recv(s.a, scratch, 0) {
            Ok(0) => {
                s.a_eof = true;
                return Ok(());
            }
            Ok(n) => s.tx.set(&scratch[..n]),
            Err(libc::EAGAIN) => {
                s.a_dry = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
}

/// What recvmsg's control messages need of a datagram, as its socket's options ask (Linux's
/// ipv4_pktinfo_prepare: a unicast datagram from this host came in on the loopback device,
/// index 1; `ipi_spec_dst` is the destination when it is our unicast address, else the address
/// a reply would come from).
fn rx_info(stack: &Stack, o: &Opts, m: &crate::socket::udp::RecvMeta) -> super::proto::RxInfo {
    let pktinfo = o.pktinfo.then(|| {
        let (src, dst) = (m.from.ip().as_v4(), m.dst.as_v4());
        // (A looped-back copy of our own multicast keeps the outgoing device: dev_loopback_xmit.)
        let local = (src.is_loopback() || src == stack.addr()) && !dst.is_multicast();
        let unicast = dst == stack.addr() || dst.is_loopback();
        super::proto::PktInfo {
            ifindex: if local { 1 } else { super::mcast::tap_ifindex() },
            spec_dst: if unicast { dst } else { stack.addr() },
            addr: dst,
        }
    });
    // SO_TIMESTAMP(NS): when the service queues it (Linux stamps at the device; the same clock).
    let tstamp = (o.tstamp != 0).then(|| super::proto::Tstamp::now(o.tstamp == 2));
    super::proto::RxInfo { ttl: m.ttl, tos: m.tos.filter(|_| o.recvtos), pktinfo, tstamp }
}

fn split_udp(rec: &[u8]) -> (Option<SocketAddrV4>, &[u8]) {
    match super::proto::parse_udp_hdr(rec) {
        Some(dst) => (dst, &rec[UDP_HDR..]),
        None => (None, &[]),
    }
}
