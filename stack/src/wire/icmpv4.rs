//! ICMPv4 (RFC 792): a zero-copy [`Packet`] view and an [`Icmpv4Repr`] for echo request/reply,
//! destination unreachable and time exceeded, whose `parse` and `emit` are exact inverses.
use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::{self, Ipv4Repr};
use super::WireError;

/// Type, code, checksum and the 4-byte rest-of-header.
pub const HEADER_LEN: usize = 8;

/// Message types (RFC 792).
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    /// True for the error messages that must never trigger another ICMP error (RFC 1122 3.2.2).
    pub fn is_error(t: u8) -> bool {
        matches!(t, 3 | 4 | 5 | 11 | 12)
    }
}

/// Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1).
pub mod unreachable {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
}

/// A view of an ICMPv4 message. After `new_checked` succeeds no accessor panics.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }
    fn u16_at(&self, i: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[i], b[i + 1]])
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(2)
    }
    /// Echo identifier (bytes 4..6).
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(4)
    }
    /// Echo sequence number (bytes 6..8).
    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(6)
    }
    /// Next-hop MTU of "fragmentation needed" (RFC 1191), bytes 6..8.
    pub fn next_hop_mtu(&self) -> u16 {
        self.u16_at(6)
    }
    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// The checksum covers the whole message.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

/// A quoted datagram in an ICMP error: its IPv4 header and the payload bytes that follow it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Quoted<'a> {
    pub header: Ipv4Repr,
    pub data: &'a [u8],
}

/// An ICMPv4 message this stack sends or understands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// Type 3. `next_hop_mtu` is meaningful only for code 4 (RFC 1191) and zero otherwise.
    DstUnreachable {
        code: u8,
        next_hop_mtu: u16,
        quoted: Quoted<'a>,
    },
    /// Type 11; code 0 TTL exceeded in transit, 1 fragment reassembly time exceeded.
    TimeExceeded {
        code: u8,
        quoted: Quoted<'a>,
    },
    /// Type 5 (RFC 792, RFC 1122 3.2.2.2): send datagrams for the quoted destination to `gateway`.
    Redirect {
        code: u8,
        gateway: Ipv4Addr,
        quoted: Quoted<'a>,
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a received message (checksum verified). Other types give `Unsupported`.
    pub fn parse(p: &Packet<&'a [u8]>) -> Result<Icmpv4Repr<'a>, WireError> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let buf: &'a [u8] = p.buffer;
        let data: &'a [u8] = &buf[HEADER_LEN..];
        match (p.msg_type(), p.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => {
                Ok(Icmpv4Repr::EchoRequest { ident: p.echo_ident(), seq_no: p.echo_seq_no(), data })
            }
            (msg_type::ECHO_REPLY, 0) => {
                Ok(Icmpv4Repr::EchoReply { ident: p.echo_ident(), seq_no: p.echo_seq_no(), data })
            }
            (msg_type::DST_UNREACHABLE, code) if code <= 15 => {
                let next_hop_mtu = if code == unreachable::FRAG_NEEDED { p.next_hop_mtu() } else { 0 };
                Ok(Icmpv4Repr::DstUnreachable { code, next_hop_mtu, quoted: parse_quoted(data)? })
            }
            (msg_type::TIME_EXCEEDED, code) if code <= 1 => {
                Ok(Icmpv4Repr::TimeExceeded { code, quoted: parse_quoted(data)? })
            }
            (msg_type::REDIRECT, code) if code <= 3 => {
                let b = &buf[4..8];
                let gateway = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                Ok(Icmpv4Repr::Redirect { code, gateway, quoted: parse_quoted(data)? })
            }
            _ => Err(WireError::Unsupported),
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => data.len(),
                Icmpv4Repr::DstUnreachable { quoted, .. }
                | Icmpv4Repr::TimeExceeded { quoted, .. }
                | Icmpv4Repr::Redirect { quoted, .. } => ipv4::HEADER_LEN + quoted.data.len(),
            }
    }

    /// Writes the message with its checksum into `buf[..self.buffer_len()]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let b = &mut buf[..len];
        b[..HEADER_LEN].fill(0);
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } | Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                b[0] = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    msg_type::ECHO_REQUEST
                } else {
                    msg_type::ECHO_REPLY
                };
                b[4..6].copy_from_slice(&ident.to_be_bytes());
                b[6..8].copy_from_slice(&seq_no.to_be_bytes());
                b[HEADER_LEN..].copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable { code, next_hop_mtu, quoted } => {
                b[0] = msg_type::DST_UNREACHABLE;
                b[1] = code;
                if code == unreachable::FRAG_NEEDED {
                    b[6..8].copy_from_slice(&next_hop_mtu.to_be_bytes());
                }
                emit_quoted(&quoted, &mut b[HEADER_LEN..]);
            }
            Icmpv4Repr::TimeExceeded { code, quoted } => {
                b[0] = msg_type::TIME_EXCEEDED;
                b[1] = code;
                emit_quoted(&quoted, &mut b[HEADER_LEN..]);
            }
            Icmpv4Repr::Redirect { code, gateway, quoted } => {
                b[0] = msg_type::REDIRECT;
                b[1] = code;
                b[4..8].copy_from_slice(&gateway.octets());
                emit_quoted(&quoted, &mut b[HEADER_LEN..]);
            }
        }
        let c = checksum::checksum(b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.buffer_len()];
        self.emit(&mut v);
        v
    }
}

/// The quoted header starts the data; the quoted payload follows its IHL (options skipped).
fn parse_quoted(data: &[u8]) -> Result<Quoted<'_>, WireError> {
    let p = ipv4::Packet::new_unchecked(data);
    let header = Ipv4Repr::parse_quoted(&p)?;
    Ok(Quoted { header, data: &data[p.header_len()..] })
}

fn emit_quoted(q: &Quoted<'_>, buf: &mut [u8]) {
    q.header.emit(&mut buf[..ipv4::HEADER_LEN]);
    buf[ipv4::HEADER_LEN..].copy_from_slice(q.data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::tests::{PING, PONG};

    #[test]
    fn parse_captured_ping_and_reply() {
        let p = Packet::new_checked(&PING[20..]).unwrap();
        assert_eq!(p.checksum(), 0x3986);
        let r = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(r, Icmpv4Repr::EchoRequest { ident: 0x2ce3, seq_no: 1, data: b"abcdefgh" });
        assert_eq!(r.to_bytes(), PING[20..]);
        let p = Packet::new_checked(&PONG[20..]).unwrap();
        let r = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(r, Icmpv4Repr::EchoReply { ident: 0x2ce3, seq_no: 1, data: b"abcdefgh" });
        assert_eq!(r.to_bytes(), PONG[20..]);
    }

    #[test]
    fn roundtrip_errors() {
        let mut h = Ipv4Repr::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), 17, 100, 7);
        h.ttl = 1;
        let data = [0x12, 0x34, 0x00, 0x35, 0, 108, 0xab, 0xcd];
        for r in [
            Icmpv4Repr::DstUnreachable { code: 3, next_hop_mtu: 0, quoted: Quoted { header: h, data: &data } },
            Icmpv4Repr::DstUnreachable { code: 4, next_hop_mtu: 1400, quoted: Quoted { header: h, data: &data } },
            Icmpv4Repr::TimeExceeded { code: 1, quoted: Quoted { header: h, data: &data[..4] } },
            Icmpv4Repr::Redirect {
                code: 1,
                gateway: Ipv4Addr::new(10, 0, 0, 3),
                quoted: Quoted { header: h, data: &data },
            },
        ] {
            let b = r.to_bytes();
            let p = Packet::new_checked(&b[..]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(Icmpv4Repr::parse(&p).unwrap(), r);
        }
    }

    #[test]
    fn malformed_rejected() {
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&PING[20..20 + n]).unwrap_err(), WireError::Truncated);
        }
        let mut b = PING;
        b[30] ^= 0xff; // data corrupted
        assert_eq!(Icmpv4Repr::parse(&Packet::new_checked(&b[20..]).unwrap()), Err(WireError::Checksum));
        // an unreachable whose quote is too short to hold an IPv4 header
        let mut b = vec![3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 20];
        let c = checksum::checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Icmpv4Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Truncated));
        // unknown type
        let mut b = vec![13, 0, 0, 0, 0, 0, 0, 0];
        let c = checksum::checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Icmpv4Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Unsupported));
        assert!(msg_type::is_error(3) && !msg_type::is_error(8));
    }
}
