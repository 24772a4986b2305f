//! IGMP version 2 (RFC 2236 2): a zero-copy view and a `Repr` whose `parse`/`emit` are
//! inverses. Queries of IGMPv3 (RFC 3376 4.1, longer than 8 octets) parse as queries: RFC 3376
//! 7.1 lets an IGMPv2 host treat them so; their source list is ignored.
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |  Type  | MaxRsp |    Checksum     |
//! +--------+--------+--------+--------+
//! |          Group Address            |
//! +--------+--------+--------+--------+
//! ```
use std::net::Ipv4Addr;

use super::checksum;
use super::WireError;

/// IPv4 protocol number of IGMP.
pub const PROTOCOL: u8 = 2;
/// Length of an IGMPv2 message.
pub const LEN: usize = 8;
/// Where leaves go (RFC 2236 3: the all-routers group).
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);

/// RFC 1112 6.4: the Ethernet address of an IPv4 group, 01:00:5e + its low 23 bits.
pub fn group_mac(group: Ipv4Addr) -> super::ethernet::MacAddr {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// Message types (RFC 2236 2.1).
pub mod kind {
    pub const QUERY: u8 = 0x11;
    pub const V1_REPORT: u8 = 0x12;
    pub const V2_REPORT: u8 = 0x16;
    pub const LEAVE: u8 = 0x17;
}

/// A read view of an IGMP message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer, checking that the 8-octet message fits. After this no accessor panics.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        if buffer.as_ref().len() < LEN {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Max Response Time in tenths of a second (queries; 0 in other messages).
    pub fn max_resp(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    pub fn group(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[4], b[5], b[6], b[7])
    }
    /// RFC 2236 2.3: the checksum covers the whole IGMP message.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

/// One IGMPv2 message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Repr {
    /// Membership Query: general (group 0.0.0.0) or group-specific; `max_resp` in 1/10 s
    /// (0 from an IGMPv1 router, RFC 2236 4: then 10 s).
    Query { max_resp: u8, group: Ipv4Addr },
    /// Version 2 Membership Report.
    Report { group: Ipv4Addr },
    /// Version 1 Membership Report (RFC 1112 appendix I), heard from older hosts.
    V1Report { group: Ipv4Addr },
    /// Leave Group.
    Leave { group: Ipv4Addr },
}

impl Repr {
    /// Parses a message: Truncated if short, Checksum if it does not verify, Unsupported for
    /// other types (IGMPv3 reports, DVMRP...), Malformed for a report or leave whose group is
    /// not a multicast address or a longer-than-8 message that is not a query.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        if !p.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let group = p.group();
        let long = p.buffer.as_ref().len() > LEN;
        let r = match p.msg_type() {
            kind::QUERY => {
                if !(group.is_unspecified() || group.is_multicast()) {
                    return Err(WireError::Malformed);
                }
                return Ok(Repr::Query { max_resp: p.max_resp(), group });
            }
            kind::V2_REPORT => Repr::Report { group },
            kind::V1_REPORT => Repr::V1Report { group },
            kind::LEAVE => Repr::Leave { group },
            _ => return Err(WireError::Unsupported),
        };
        if long || !group.is_multicast() {
            return Err(WireError::Malformed);
        }
        Ok(r)
    }

    pub fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the 8-octet message with its checksum into `buf[..8]` (`buf` at least 8 long).
    pub fn emit(&self, buf: &mut [u8]) {
        let (t, max_resp, group) = match *self {
            Repr::Query { max_resp, group } => (kind::QUERY, max_resp, group),
            Repr::Report { group } => (kind::V2_REPORT, 0, group),
            Repr::V1Report { group } => (kind::V1_REPORT, 0, group),
            Repr::Leave { group } => (kind::LEAVE, 0, group),
        };
        let b = &mut buf[..LEN];
        b[0] = t;
        b[1] = max_resp;
        b[2..4].copy_from_slice(&[0, 0]);
        b[4..8].copy_from_slice(&group.octets());
        let c = checksum::checksum(b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }

    /// The message as a new buffer.
    pub fn to_bytes(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        self.emit(&mut b);
        b
    }

    /// The IPv4 destination of a message a host sends (RFC 2236 3 and 9): reports to the
    /// group itself, leaves to all-routers.
    pub fn destination(&self) -> Ipv4Addr {
        match *self {
            Repr::Leave { .. } => ALL_ROUTERS,
            Repr::Query { group, .. } if group.is_unspecified() => Ipv4Addr::new(224, 0, 0, 1),
            Repr::Query { group, .. } | Repr::Report { group } | Repr::V1Report { group } => group,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);

    #[test]
    fn roundtrip() {
        for r in [
            Repr::Query { max_resp: 100, group: Ipv4Addr::UNSPECIFIED },
            Repr::Query { max_resp: 10, group: G },
            Repr::Report { group: G },
            Repr::V1Report { group: G },
            Repr::Leave { group: G },
        ] {
            let b = r.to_bytes();
            assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Ok(r));
            assert_eq!(r.buffer_len(), b.len());
        }
        assert_eq!(Repr::Leave { group: G }.destination(), ALL_ROUTERS);
        assert_eq!(Repr::Report { group: G }.destination(), G);
        assert_eq!(group_mac(Ipv4Addr::new(239, 129, 2, 3)), [0x01, 0x00, 0x5e, 0x01, 2, 3], "23 bits");
    }

    /// The checksum worked by hand (RFC 1071): 0x1600 + 0xef01 + 0x0203 = 0x10704, folded
    /// 0x0705, complemented 0xf8fa.
    #[test]
    fn checksum_by_hand() {
        let b = Repr::Report { group: G }.to_bytes();
        assert_eq!(b, [0x16, 0x00, 0xf8, 0xfa, 0xef, 0x01, 0x02, 0x03]);
    }

    #[test]
    fn malformed_is_an_error() {
        assert_eq!(Packet::new_checked(&[0x16u8, 0, 0][..]).unwrap_err(), WireError::Truncated);
        let mut b = Repr::Report { group: G }.to_bytes();
        b[7] ^= 1;
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Checksum));
        let bad_group = Repr::Report { group: Ipv4Addr::new(10, 0, 0, 1) }.to_bytes();
        assert_eq!(Repr::parse(&Packet::new_checked(&bad_group[..]).unwrap()), Err(WireError::Malformed));
        let mut v3 = [0u8; 8];
        v3[0] = 0x22;
        let c = checksum::checksum(&v3);
        v3[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Repr::parse(&Packet::new_checked(&v3[..]).unwrap()), Err(WireError::Unsupported));
        // An IGMPv3 query (12 octets and more) reads as a query.
        let mut q = [0u8; 12];
        q[0] = kind::QUERY;
        q[1] = 100;
        let c = checksum::checksum(&q);
        q[2..4].copy_from_slice(&c.to_be_bytes());
        let r = Repr::parse(&Packet::new_checked(&q[..]).unwrap()).unwrap();
        assert_eq!(r, Repr::Query { max_resp: 100, group: Ipv4Addr::UNSPECIFIED });
        // Any bytes: an error or a message, never a panic.
        for n in 0..16 {
            for v in [0u8, 0x11, 0x16, 0xff] {
                let buf = vec![v; n];
                if let Ok(p) = Packet::new_checked(&buf[..]) {
                    let _ = Repr::parse(&p);
                }
            }
        }
    }
}
