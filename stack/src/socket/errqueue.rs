//! ICMP errors reported to sockets: what the IP layer hands a transport (`IcmpReport`), and the
//! per-socket error queue that Linux keeps when IP_RECVERR is set (`ErrQueue` of `SockError`,
//! read with recvmsg(MSG_ERRQUEUE); ip(7), RFC 1122 4.1.3.3 and 4.2.3.9).
use crate::wire::ip::{IpAddress, IpEndpoint};
use std::collections::VecDeque;

use crate::error::Error;

/// `ee_origin` values (linux/errqueue.h).
pub mod origin {
    pub const LOCAL: u8 = 1;
    pub const ICMP: u8 = 2;
}

/// An ICMP error about a datagram one of our sockets sent, as the IP layer decoded it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IcmpReport<'a> {
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Next-hop MTU for "fragmentation needed" (RFC 1191), else 0.
    pub info: u32,
    /// The host that sent the ICMP message (SO_EE_OFFENDER).
    pub offender: IpAddress,
    /// Source (ours) and destination of the quoted datagram, ports from its transport header.
    pub local: IpEndpoint,
    pub remote: IpEndpoint,
    /// The quoted transport header and whatever of its payload the ICMP message carried.
    pub quoted: &'a [u8],
    /// The TTL and TOS byte of the ICMP message's own IP header (IP_RECVTTL and IP_RECVTOS
    /// report them on the error queue, as Linux's ip_recv_error calls ip_cmsg_recv).
    pub ttl: u8,
    pub tos: u8,
}

impl IcmpReport<'_> {
    /// True for "fragmentation needed and DF set" (type 3 code 4).
    pub fn frag_needed(&self) -> bool {
        self.icmp_type == 3 && self.icmp_code == 4
    }
    /// The errno Linux gives (icmp_err_convert; time exceeded is EHOSTUNREACH, fragmentation
    /// needed EMSGSIZE) and whether the error is hard (RFC 1122 4.2.3.9 / Linux's `fatal`).
    pub fn errno(&self) -> Option<(Error, bool)> {
        match (self.icmp_type, self.icmp_code) {
            (3, 4) => Some((Error::MessageTooLong, false)),
            (3, 0 | 6 | 9 | 11) => Some((Error::NetUnreachable, true)),
            // Linux's icmp_err_convert: protocol unreachable is ENOPROTOOPT, port unreachable
            // ECONNREFUSED, both hard.
            (3, 2) => Some((Error::NoProtocolOption, true)),
            (3, 3) => Some((Error::ConnectionRefused, true)),
            (3, 5) => Some((Error::NotSupported, false)),
            (3, 1 | 7 | 8 | 10 | 12..=15) => Some((Error::HostUnreachable, true)),
            (11, _) => Some((Error::HostUnreachable, false)),
            _ => None,
        }
    }
}

/// One queued error: `struct sock_extended_err` plus the original destination (recvmsg's
/// msg_name) and the payload of the datagram that caused it (recvmsg's data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockError {
    pub errno: Error,
    /// `origin::ICMP` or `origin::LOCAL`.
    pub origin: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub info: u32,
    /// None for local errors (Linux then fills the offender with AF_UNSPEC).
    pub offender: Option<IpAddress>,
    pub dst: IpEndpoint,
    pub payload: Vec<u8>,
    /// The ICMP message's IP TTL and TOS (None for local errors: Linux adds no IP_TTL/IP_TOS).
    pub ip_ttl_tos: Option<(u8, u8)>,
}

impl SockError {
    /// The queue entry for `r`, whose payload starts `skip` bytes into the quote (8 for UDP:
    /// the data after the UDP header; 0 for TCP and ICMP: the header itself, as Linux).
    pub fn from_icmp(r: &IcmpReport<'_>, errno: Error, skip: usize) -> SockError {
        let payload = r.quoted.get(skip..).unwrap_or(&[]);
        SockError {
            errno,
            origin: origin::ICMP,
            icmp_type: r.icmp_type,
            icmp_code: r.icmp_code,
            info: r.info,
            offender: Some(r.offender),
            dst: r.remote,
            payload: payload[..payload.len().min(MAX_PAYLOAD)].to_vec(),
            ip_ttl_tos: Some((r.ttl, r.tos)),
        }
    }
}

/// Entries kept per socket (Linux bounds the queue by the receive buffer; this is smaller).
pub const MAX_ENTRIES: usize = 64;
/// Payload bytes kept per entry (an ICMP error quotes at most 576 bytes anyway).
const MAX_PAYLOAD: usize = 576;

/// A socket's error queue, filled only while IP_RECVERR is on.
#[derive(Clone, Debug, Default)]
pub struct ErrQueue {
    /// IP_RECVERR.
    pub enabled: bool,
    q: VecDeque<SockError>,
    /// Entries dropped because the queue was full.
    pub dropped: u64,
}

impl ErrQueue {
    /// Queues `e` if IP_RECVERR is on; returns whether it was queued.
    pub fn push(&mut self, e: SockError) -> bool {
        if !self.enabled {
            return false;
        }
        if self.q.len() >= MAX_ENTRIES {
            self.dropped += 1;
            return false;
        }
        self.q.push_back(e);
        true
    }
    pub fn pop(&mut self) -> Option<SockError> {
        self.q.pop_front()
    }
    pub fn front(&self) -> Option<&SockError> {
        self.q.front()
    }
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
    pub fn len(&self) -> usize {
        self.q.len()
    }
    /// IP_RECVERR on or off; turning it off purges the queue (Linux ip_setsockopt).
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.q.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(t: u8, c: u8) -> IcmpReport<'static> {
        IcmpReport {
            icmp_type: t,
            icmp_code: c,
            info: 0,
            offender: IpAddress::v4(10, 0, 0, 1),
            local: IpEndpoint::new(IpAddress::v4(10, 0, 0, 2), 5000),
            remote: IpEndpoint::new(IpAddress::v4(10, 0, 1, 2), 33434),
            quoted: &[0x13, 0x88, 0x82, 0x9a, 0, 12, 0, 0, b'h', b'i'],
            ttl: 63,
            tos: 0xc0,
        }
    }

    #[test]
    fn errno_as_linux() {
        assert_eq!(report(3, 3).errno(), Some((Error::ConnectionRefused, true)));
        assert_eq!(report(3, 2).errno(), Some((Error::NoProtocolOption, true)));
        assert_eq!(report(3, 1).errno(), Some((Error::HostUnreachable, true)));
        assert_eq!(report(3, 4).errno(), Some((Error::MessageTooLong, false)));
        assert_eq!(report(11, 0).errno(), Some((Error::HostUnreachable, false)));
        assert_eq!(report(5, 0).errno(), None);
        assert!(report(3, 4).frag_needed());
    }

    #[test]
    fn queue_only_when_enabled_bounded_and_purged() {
        let r = report(11, 0);
        let e = SockError::from_icmp(&r, Error::HostUnreachable, 8);
        assert_eq!(e.payload, b"hi");
        assert_eq!(e.dst, r.remote);
        let mut q = ErrQueue::default();
        assert!(!q.push(e.clone()));
        q.set_enabled(true);
        for _ in 0..MAX_ENTRIES + 5 {
            q.push(e.clone());
        }
        assert_eq!((q.len(), q.dropped), (MAX_ENTRIES, 5));
        assert_eq!(q.pop(), Some(e));
        q.set_enabled(false);
        assert!(q.is_empty());
    }
}
