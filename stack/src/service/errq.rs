//! The error queue over the shared service (IP_RECVERR, recvmsg(MSG_ERRQUEUE)): the engine keeps
//! each socket's queue (`socket::errqueue`); an `Op::ErrQueue` request dequeues the oldest entry
//! and the reply carries it whole (the shim lays it out as Linux's ip_recv_error does).
//!
//! The pending error (Linux's sk_err) travels in the datagram stream as an error record
//! (`proto::udp_err_hdr`), which the program's poll sees as POLLERR. Linux replaces sk_err with
//! the next entry's errno when an entry is dequeued; here the dequeue clears the engine's copy,
//! the shim drops the stale record at the head of its stream, and asks again (b = 1) to re-arm
//! the pending error when more entries wait, so the new record follows the old one's removal.
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::socket::errqueue::SockError;
use crate::Error;

use super::engine::Proto;
use super::proto::{Msg, Op};
use super::Service;

/// One dequeued error as the shim needs it (`struct sock_extended_err`, the offender, the
/// original destination and the quoted payload), plus the errno the queue's next entry holds
/// (0: the queue is empty now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrEntry {
    pub errno: i32,
    pub origin: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub info: u32,
    pub offender: Option<Ipv4Addr>,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
    pub next_errno: i32,
    /// The ICMP error's IP TTL, given when the socket has IP_RECVTTL (an IP_TTL control
    /// message, as Linux's ip_recv_error adds through ip_cmsg_recv for an ICMP error).
    pub ttl: Option<u8>,
    /// Its TOS byte, given when the socket has IP_RECVTOS (IP_TOS).
    pub tos: Option<u8>,
}

/// Bytes of `data` before the payload: flags, offender, errno, next errno, which of TTL and
/// TOS are there, TTL, TOS.
const FIXED: usize = 16;

impl ErrEntry {
    pub fn new(e: &SockError, next_errno: i32) -> ErrEntry {
        ErrEntry {
            errno: e.errno.errno(),
            origin: e.origin,
            icmp_type: e.icmp_type,
            icmp_code: e.icmp_code,
            info: e.info,
            offender: e.offender.map(Into::into),
            dst: e.dst.into(),
            payload: e.payload.clone(),
            next_errno,
            ttl: None,
            tos: None,
        }
    }

    /// The reply to an `Op::ErrQueue` request.
    pub fn encode(&self) -> Msg {
        let mut m = Msg::reply(Op::ErrQueue as u8, 0).with_addr(self.dst);
        m.kind = self.origin;
        m.b = self.icmp_type as i32 | (self.icmp_code as i32) << 8;
        m.c = self.info as i32;
        let mut d = Vec::with_capacity(FIXED + self.payload.len());
        d.push(self.offender.is_some() as u8);
        d.extend_from_slice(&self.offender.map_or([0; 4], |a| a.octets()));
        d.extend_from_slice(&self.errno.to_le_bytes());
        d.extend_from_slice(&self.next_errno.to_le_bytes());
        d.push(self.ttl.is_some() as u8 | (self.tos.is_some() as u8) << 1);
        d.push(self.ttl.unwrap_or(0));
        d.push(self.tos.unwrap_or(0));
        d.extend_from_slice(&self.payload);
        m.data = d;
        m
    }

    /// Parses a successful reply (total: None for anything malformed).
    pub fn decode(m: &Msg) -> Option<ErrEntry> {
        let d = &m.data;
        if m.a != 0 || d.len() < FIXED {
            return None;
        }
        let i32_at = |o: usize| i32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        Some(ErrEntry {
            errno: i32_at(5),
            origin: m.kind,
            icmp_type: (m.b & 0xff) as u8,
            icmp_code: ((m.b >> 8) & 0xff) as u8,
            info: m.c as u32,
            offender: (d[0] & 1 != 0).then(|| Ipv4Addr::new(d[1], d[2], d[3], d[4])),
            dst: m.addr(),
            payload: d[FIXED..].to_vec(),
            next_errno: i32_at(9),
            ttl: (d[13] & 1 != 0).then_some(d[14]),
            tos: (d[13] & 2 != 0).then_some(d[15]),
        })
    }
}

impl Service {
    /// `Op::ErrQueue` on socket `i` (the caller pumps the socket afterwards).
    pub(super) fn op_errqueue(&mut self, i: usize, m: &Msg) -> Msg {
        let op = m.op;
        let Some(s) = self.socks[i].as_ref() else { return Msg::reply(op, libc::EBADF) };
        let udp = &mut self.stack.udp;
        let r = match s.proto {
            Proto::Udp(h) if m.b == 1 => {
                udp.rearm_error(h);
                return Msg::reply(op, 0);
            }
            Proto::Udp(h) => udp.recv_error(h).map(|e| {
                // Dequeuing re-armed the pending error with the next entry's errno: clear it
                // here, the shim asks for it once it has dropped the stale record.
                let next = udp.take_error(h).map_or(0, Error::errno);
                let mut r = ErrEntry::new(&e, next);
                // ip_recv_error: an ICMP error's IP header answers IP_RECVTTL and IP_RECVTOS.
                if let Some((ttl, tos)) = e.ip_ttl_tos {
                    r.ttl = udp.recv_ttl(h).then_some(ttl);
                    r.tos = s.opts.recvtos.then_some(tos);
                }
                r
            }),
            Proto::Tcp(h) => self.stack.tcp.recv_error(h).map(|e| ErrEntry::new(&e, 0)),
        };
        match r {
            Ok(e) => e.encode(),
            Err(e) => Msg::reply(op, e.errno()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let e = ErrEntry {
            errno: libc::EHOSTUNREACH,
            origin: 2,
            icmp_type: 11,
            icmp_code: 0,
            info: 0,
            offender: Some(Ipv4Addr::new(10, 0, 0, 1)),
            dst: "10.0.1.2:33434".parse().unwrap(),
            payload: b"probe".to_vec(),
            next_errno: libc::ECONNREFUSED,
            ttl: Some(63),
            tos: None,
        };
        let m = Msg::decode(&e.encode().encode()).unwrap();
        assert_eq!(ErrEntry::decode(&m), Some(e.clone()));
        let local = ErrEntry { offender: None, payload: vec![], next_errno: 0, ttl: None, tos: Some(0xc0), ..e };
        assert_eq!(ErrEntry::decode(&local.encode()), Some(local));
    }

    #[test]
    fn total() {
        assert_eq!(ErrEntry::decode(&Msg::reply(Op::ErrQueue as u8, libc::EAGAIN)), None);
        let mut m = Msg::reply(Op::ErrQueue as u8, 0);
        for n in 0..FIXED {
            m.data = vec![0xff; n];
            assert_eq!(ErrEntry::decode(&m), None);
        }
    }
}
