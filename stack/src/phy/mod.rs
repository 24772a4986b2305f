//! Devices: how frames enter and leave the stack.
//!
//! The core only sees the [`Device`] trait. `tap` is the real device (`gso` joins its outgoing
//! TCP segments into offloaded super-frames), `pcap` records frames, `fault` injects
//! loss/duplication/reordering/corruption (`TAPSTACK_FAULTS`), `trace` logs every frame
//! (`TAPSTACK_TRACE`), and `link` joins two stacks in memory for deterministic tests.
pub mod fault;
pub mod gso;
pub mod link;
pub mod pcap;
pub mod tap;
pub mod trace;

use crate::time::Instant;

/// A link-layer device carrying Ethernet II frames.
pub trait Device {
    /// The largest IP datagram (not frame) the link carries, e.g. 1500.
    fn mtu(&self) -> usize;
    /// Copies one received frame into `buf` and returns its length, or `None` if nothing is
    /// waiting. Never blocks.
    fn receive(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// Sends one complete frame. A device that cannot send drops it (and counts it).
    fn transmit(&mut self, now: Instant, frame: &[u8]);
    /// `transmit` of a frame the caller gives up: a device that keeps frames (the TAP's
    /// transmit batch) takes it without a copy. Returns a buffer the caller may reuse (this
    /// one, or one the device is done with), if any.
    fn transmit_buf(&mut self, now: Instant, frame: Vec<u8>) -> Option<Vec<u8>> {
        self.transmit(now, &frame);
        Some(frame)
    }
    /// `transmit_buf` of a TCP super-segment (TSO, `Stack::set_tso`) to be sent as segments of
    /// `gso_size` bytes of payload. A device that cannot offload it (the default) cuts it here,
    /// into exactly the frames the stack would have sent one MSS at a time.
    fn transmit_gso(&mut self, now: Instant, frame: Vec<u8>, gso_size: u16) -> Option<Vec<u8>> {
        transmit_split(self, now, &frame, gso_size);
        Some(frame)
    }
    /// `transmit_gso` of a super-segment given as its headers (`head`: Ethernet, IPv4, TCP,
    /// the IP length already the whole's) and its payload `parts`, borrowed from TCP's send
    /// ring: the TAP writes them in one gathered write; the default joins them first.
    fn transmit_gso_parts(&mut self, now: Instant, head: &[u8], parts: &[&[u8]], gso_size: u16) {
        let mut f = Vec::with_capacity(head.len() + parts.iter().map(|p| p.len()).sum::<usize>());
        f.extend_from_slice(head);
        for p in parts {
            f.extend_from_slice(p);
        }
        self.transmit_gso(now, f, gso_size);
    }
    /// True if the transport checksum of the frame `receive` last returned is known good, so
    /// the stack need not verify it: the kernel handed it over locally made (CHECKSUM_PARTIAL:
    /// never computed, the data never crossed a wire) or already verified (DATA_VALID). Linux
    /// skips verification alike (`skb_csum_unnecessary`). A device that may alter or reorder
    /// frames answers false (the default).
    fn rx_checksum_ok(&self) -> bool {
        false
    }
    /// When the device itself next needs attention (e.g. a delayed frame in a fault injector).
    fn poll_at(&self) -> Option<Instant> {
        None
    }
}

/// `Device::transmit_gso` done in software: `frame` cut into its segments (full checksums),
/// each handed to `dev.transmit`; a frame that is not TCP/IPv4 goes as it is.
pub fn transmit_split<D: Device + ?Sized>(dev: &mut D, now: Instant, frame: &[u8], gso_size: u16) {
    if crate::wire::tcp_gso::split_frame(frame, gso_size.into(), false, &mut |f| dev.transmit(now, f)).is_err() {
        dev.transmit(now, frame);
    }
}
