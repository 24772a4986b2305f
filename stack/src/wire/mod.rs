//! Wire formats, in smoltcp's style: a zero-copy `Packet<T: AsRef<[u8]>>` view whose
//! `new_checked` validates lengths once (after which no accessor panics), and a plain `Repr`
//! whose `parse` and `emit` are exact inverses.
pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod igmp;
pub mod ip;
pub mod ipv4;
pub mod tcp;
pub mod tcp_gso;
pub mod udp;

/// Why a packet could not be parsed. Malformed input is always this, never a panic.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its headers or length fields claim.
    Truncated,
    /// A field holds a value the format forbids (version, IHL, option length...).
    Malformed,
    /// The checksum does not verify.
    Checksum,
    /// Well-formed but not supported (e.g. hardware type other than Ethernet).
    Unsupported,
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for WireError {}
