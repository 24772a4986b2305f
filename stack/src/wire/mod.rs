//! Wire formats, in smoltcp's style: a zero-copy `Packet<T: AsRef<[u8]>>` view whose
//! `new_checked` validates lengths once (after which no accessor panics), and a plain `Repr`
//! whose `parse` and `emit` are exact inverses.
//!
//! Owners: ethernet/arp/ipv4/icmpv4/checksum (foundation), tcp (TCP engine), udp (UDP), dns
//! lives in `crate::dns`.
