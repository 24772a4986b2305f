//! ARP (RFC 826): a zero-copy [`Packet`] view for any hardware/protocol sizes and an [`ArpRepr`]
//! for Ethernet + IPv4, the only combination this stack speaks.
use std::net::Ipv4Addr;

use super::ethernet::MacAddr;
use super::WireError;

/// Fixed part: htype, ptype, hlen, plen, oper.
const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// ar$op (RFC 826).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
}

/// A view of an ARP packet. After `new_checked` succeeds no accessor panics.
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

    /// The buffer must hold the fixed part and the four addresses whose sizes it announces.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(WireError::Truncated);
        }
        let need = FIXED_LEN + 2 * (self.hardware_len() as usize + self.protocol_len() as usize);
        if len < need {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    fn u16_at(&self, i: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[i], b[i + 1]])
    }
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(0)
    }
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(2)
    }
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[4]
    }
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[5]
    }
    pub fn operation(&self) -> u16 {
        self.u16_at(6)
    }
    fn field(&self, start: usize, len: usize) -> &[u8] {
        &self.buffer.as_ref()[start..start + len]
    }
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.field(FIXED_LEN, self.hardware_len() as usize)
    }
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.field(FIXED_LEN + self.hardware_len() as usize, self.protocol_len() as usize)
    }
    pub fn target_hardware_addr(&self) -> &[u8] {
        let (h, p) = (self.hardware_len() as usize, self.protocol_len() as usize);
        self.field(FIXED_LEN + h + p, h)
    }
    pub fn target_protocol_addr(&self) -> &[u8] {
        let (h, p) = (self.hardware_len() as usize, self.protocol_len() as usize);
        self.field(FIXED_LEN + 2 * h + p, p)
    }
}

/// An Ethernet/IPv4 ARP request or reply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: Operation,
    pub source_hardware_addr: MacAddr,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: MacAddr,
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Accepts only htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 1 or 2.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<ArpRepr, WireError> {
        p.check_len()?;
        if p.hardware_type() != 1 || p.protocol_type() != 0x0800 || p.hardware_len() != 6 || p.protocol_len() != 4 {
            return Err(WireError::Unsupported);
        }
        let operation = match p.operation() {
            1 => Operation::Request,
            2 => Operation::Reply,
            _ => return Err(WireError::Unsupported),
        };
        let mac = |s: &[u8]| -> MacAddr { [s[0], s[1], s[2], s[3], s[4], s[5]] };
        let ip = |s: &[u8]| Ipv4Addr::new(s[0], s[1], s[2], s[3]);
        Ok(ArpRepr {
            operation,
            source_hardware_addr: mac(p.source_hardware_addr()),
            source_protocol_addr: ip(p.source_protocol_addr()),
            target_hardware_addr: mac(p.target_hardware_addr()),
            target_protocol_addr: ip(p.target_protocol_addr()),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first `PACKET_LEN` bytes of `buf` (which must be that long).
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..PACKET_LEN];
        b[0..2].copy_from_slice(&1u16.to_be_bytes());
        b[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
        b[4] = 6;
        b[5] = 4;
        let op: u16 = match self.operation {
            Operation::Request => 1,
            Operation::Reply => 2,
        };
        b[6..8].copy_from_slice(&op.to_be_bytes());
        b[8..14].copy_from_slice(&self.source_hardware_addr);
        b[14..18].copy_from_slice(&self.source_protocol_addr.octets());
        b[18..24].copy_from_slice(&self.target_hardware_addr);
        b[24..28].copy_from_slice(&self.target_protocol_addr.octets());
    }

    pub fn to_bytes(&self) -> [u8; PACKET_LEN] {
        let mut b = [0u8; PACKET_LEN];
        self.emit(&mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real ARP request "who has 192.168.1.1? tell 192.168.1.100" (after the Ethernet header).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x64,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x01,
    ];

    #[test]
    fn parse_known_bytes() {
        let r = ArpRepr::parse(&Packet::new_checked(&REQUEST[..]).unwrap()).unwrap();
        assert_eq!(r.operation, Operation::Request);
        assert_eq!(r.source_hardware_addr, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(r.source_protocol_addr, Ipv4Addr::new(192, 168, 1, 100));
        assert_eq!(r.target_hardware_addr, [0; 6]);
        assert_eq!(r.target_protocol_addr, Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(r.to_bytes(), REQUEST);
    }

    #[test]
    fn roundtrip_reply() {
        let r = ArpRepr {
            operation: Operation::Reply,
            source_hardware_addr: [2, 0, 0, 0, 0, 1],
            source_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
            target_hardware_addr: [2, 0, 0, 0, 0, 2],
            target_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut b = vec![0u8; 60]; // with Ethernet padding after
        r.emit(&mut b);
        assert_eq!(ArpRepr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn malformed() {
        for n in 0..28 {
            assert_eq!(Packet::new_checked(&REQUEST[..n]).unwrap_err(), WireError::Truncated);
        }
        let mut b = REQUEST;
        b[7] = 9; // unknown op
        assert_eq!(ArpRepr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Unsupported));
        let mut b = REQUEST;
        b[1] = 6; // IEEE 802 hardware
        assert_eq!(ArpRepr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(WireError::Unsupported));
        let mut b = REQUEST;
        b[4] = 200; // hlen claims more than present
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
        let mut b = REQUEST;
        b[4] = 1; // consistent but unsupported sizes: still parses as a view
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.target_protocol_addr().len(), 4);
        assert_eq!(ArpRepr::parse(&p), Err(WireError::Unsupported));
    }
}
