//! Ethernet II frames (IEEE 802.3 with an EtherType, RFC 894): a zero-copy [`Frame`] view and
//! an [`EthernetRepr`] whose `parse` and `emit` are exact inverses.
use super::WireError;

/// A 48-bit MAC address.
pub type MacAddr = [u8; 6];

/// ff:ff:ff:ff:ff:ff.
pub const BROADCAST: MacAddr = [0xff; 6];

/// Destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

/// EtherType values this stack understands (RFC 894, RFC 826).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EtherType {
    Ipv4,
    Arp,
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            x => EtherType::Unknown(x),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Unknown(x) => x,
        }
    }
}

/// True for a unicast address (group bit clear).
pub fn is_unicast(mac: &MacAddr) -> bool {
    mac[0] & 1 == 0
}

/// Formats a MAC as `xx:xx:xx:xx:xx:xx`.
pub fn fmt_mac(mac: &MacAddr) -> String {
    let m = mac;
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

/// A view of an Ethernet II frame. After `new_checked` succeeds no accessor panics.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length (for emitting into a buffer known to be large
    /// enough).
    pub fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a received buffer, checking it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>, WireError> {
        let f = Frame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> MacAddr {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[0..6]);
        m
    }

    pub fn src_addr(&self) -> MacAddr {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buffer.as_ref()[6..12]);
        m
    }

    pub fn ethertype(&self) -> EtherType {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[12], b[13]]).into()
    }

    /// Everything after the header (for IPv4 possibly followed by link padding).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, m: MacAddr) {
        self.buffer.as_mut()[0..6].copy_from_slice(&m);
    }
    pub fn set_src_addr(&mut self, m: MacAddr) {
        self.buffer.as_mut()[6..12].copy_from_slice(&m);
    }
    pub fn set_ethertype(&mut self, t: EtherType) {
        self.buffer.as_mut()[12..14].copy_from_slice(&u16::from(t).to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The header of an Ethernet II frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src_addr: MacAddr,
    pub dst_addr: MacAddr,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<EthernetRepr, WireError> {
        frame.check_len()?;
        Ok(EthernetRepr { src_addr: frame.src_addr(), dst_addr: frame.dst_addr(), ethertype: frame.ethertype() })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; `frame` must hold at least `HEADER_LEN` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }

    /// A complete frame: this header followed by `payload`.
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; HEADER_LEN + payload.len()];
        let mut f = Frame::new_unchecked(&mut v[..]);
        self.emit(&mut f);
        f.payload_mut().copy_from_slice(payload);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An ARP request captured on a real LAN: broadcast, from 52:54:00:12:34:56.
    const CAPTURED: [u8; 16] =
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00, 0x01];

    #[test]
    fn parse_known_bytes() {
        let f = Frame::new_checked(&CAPTURED[..]).unwrap();
        let r = EthernetRepr::parse(&f).unwrap();
        assert_eq!(r.dst_addr, BROADCAST);
        assert_eq!(r.src_addr, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(r.ethertype, EtherType::Arp);
        assert_eq!(f.payload(), &[0x00, 0x01]);
        assert!(!is_unicast(&r.dst_addr) && is_unicast(&r.src_addr));
    }

    #[test]
    fn roundtrip() {
        let r = EthernetRepr {
            src_addr: [2, 0, 0, 0, 0, 1],
            dst_addr: [2, 0, 0, 0, 0, 2],
            ethertype: EtherType::Unknown(0x86dd),
        };
        let bytes = r.build(&[1, 2, 3]);
        assert_eq!(bytes.len(), 17);
        let f = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&f).unwrap(), r);
        assert_eq!(f.payload(), &[1, 2, 3]);
        assert_eq!(u16::from(EtherType::from(0x0800)), 0x0800);
    }

    #[test]
    fn truncated() {
        for n in 0..HEADER_LEN {
            assert_eq!(Frame::new_checked(&CAPTURED[..n]).unwrap_err(), WireError::Truncated);
        }
    }
}
