//! The socket table: `TcpStack` owns every control block of one host, its SYN queue,
//! TIME-WAIT records and indexes. Its methods live in the files of each concern (`demux.rs`
//! input, `dispatch.rs` output, `api.rs` the socket calls...); this file holds the struct and
//! the helpers they share. It imports only lower files (types, control block, records).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::input::Rst;
use super::listener::{Key, SynAck, SynReq};
use super::ports::PortIndex;
use super::tcb::Tcb;
use super::timewait::{TwKey, TwRec};
use super::types::{TcpConfig, TcpHandle, TcpStats};
use crate::error::{Error, Result};
use crate::time::Instant;
use crate::wire::ip::{IpAddress, IpEndpoint};

/// Every TCP control block of one host: listeners, connections, the port table.
pub struct TcpStack {
    pub(super) config: TcpConfig,
    /// All control blocks by handle number (ordered: deterministic dispatch).
    pub(super) socks: BTreeMap<u32, Tcb>,
    pub(super) next_id: u32,
    /// (local, remote) -> handle number, for synchronized and half-open connections.
    pub(super) conns: HashMap<(IpEndpoint, IpEndpoint), u32>,
    /// RSTs answering segments without a connection.
    pub(super) rsts: Vec<Rst>,
    pub(super) stats: TcpStats,
    pub(super) rng: u64,
    pub(super) scratch: Vec<u8>,
    /// Control blocks touched since the last `dispatch` (may have output or changed readiness).
    pub(super) dirty: Vec<u32>,
    /// Timer index: (deadline, handle), so dispatch and poll_at cost O(log n), not O(n).
    pub(super) timers: BTreeSet<(Instant, u32)>,
    /// Handles whose readiness changed during `dispatch`, for `take_changed`.
    pub(super) changed_ids: Vec<u32>,
    /// Listening socket per port.
    /// Listeners by port (several: other addresses, or an SO_REUSEPORT group), in listen order.
    pub(super) listen_ports: HashMap<u16, Vec<u32>>,
    pub(super) work: Vec<u32>,
    /// RFC 6056 algorithm 4 counters (ephemeral port selection for connect).
    pub(super) port_perturb: Vec<u16>,
    /// RFC 1191 path MTU per destination: (MSS it allows, until when).
    pub(super) pmtu: HashMap<IpAddress, (u16, Instant)>,
    /// Peers whose held handshake ACKs saw no data before the hold ended (they speak first):
    /// (holds in a row that expired, until when connects to them ACK at once). See
    /// `TcpConfig::handshake_ack_hold`.
    pub(super) server_first: HashMap<IpEndpoint, (u8, Instant)>,
    /// Trace sink (`crate::trace`); None: tracing off.
    pub(super) tracer: Option<Box<dyn crate::trace::TraceSink>>,
    /// The SYN queue: request records of half-open connections of every listener.
    pub(super) reqs: HashMap<Key, SynReq>,
    /// SYN-ACK retransmission deadlines of `reqs`.
    pub(super) req_timers: BTreeSet<(Instant, Key)>,
    /// SYN-ACKs to send at the next `dispatch`.
    pub(super) synacks: Vec<SynAck>,
    /// TIME-WAIT records, their expiry index and the ACKs they owe.
    pub(super) tw: HashMap<TwKey, TwRec>,
    pub(super) tw_timers: BTreeSet<(Instant, TwKey)>,
    pub(super) tw_acks: Vec<TwKey>,
    /// Control blocks with `orphan` set.
    pub(super) orphans: usize,
    /// Local ports held by control blocks and TIME-WAIT records.
    pub(super) ports: PortIndex,
    /// Control blocks that had output left when `dispatch` last handled them.
    pub(super) out_busy: BTreeSet<u32>,
    /// Pending checks of ring storage (`memtrim.rs`): (when, handle), and the handles in it.
    pub(super) trims: BTreeSet<(Instant, u32)>,
    pub(super) trim_ids: HashMap<u32, Instant>,
}

/// Most peers remembered in `server_first` (then forgotten all at once); how many holds in a
/// row must expire before a peer counts as speaking first, and for how long it does: it is
/// tried again after that (a program once slow to send must not turn the hold off for good).
pub(super) const SERVER_FIRST_MAX: usize = 1024;
pub(super) const SERVER_FIRST_AFTER: u8 = 3;
pub(super) const SERVER_FIRST_FOR: crate::time::Duration = crate::time::Duration::from_secs(1);

/// Counters of RFC 6056 algorithm 4 (Linux: INET_TABLE_PERTURB_SIZE, 65536).
pub(super) const PORT_BUCKETS: usize = 256;

impl TcpStack {
    pub fn new(config: TcpConfig) -> TcpStack {
        let rng = config.seed ^ 0x9e37_79b9_7f4a_7c15;
        TcpStack {
            config,
            socks: BTreeMap::new(),
            next_id: 1,
            conns: HashMap::new(),
            rsts: Vec::new(),
            stats: TcpStats::default(),
            rng: rng.max(1),
            scratch: Vec::with_capacity(2048),
            dirty: Vec::new(),
            timers: BTreeSet::new(),
            changed_ids: Vec::new(),
            listen_ports: HashMap::new(),
            work: Vec::new(),
            port_perturb: vec![0; PORT_BUCKETS],
            pmtu: HashMap::new(),
            server_first: HashMap::new(),
            tracer: None,
            reqs: HashMap::new(),
            req_timers: BTreeSet::new(),
            synacks: Vec::new(),
            tw: HashMap::new(),
            tw_timers: BTreeSet::new(),
            tw_acks: Vec::new(),
            orphans: 0,
            ports: PortIndex::default(),
            out_busy: BTreeSet::new(),
            trims: BTreeSet::new(),
            trim_ids: HashMap::new(),
        }
    }
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }
    /// Drop and event counters.
    /// See `TcpConfig::tx_partial_checksum`.
    pub fn set_tx_partial_checksum(&mut self, on: bool) {
        self.config.tx_partial_checksum = on;
    }

    /// See `TcpConfig::tso_max`.
    pub fn set_tso_max(&mut self, bytes: usize) {
        self.config.tso_max = bytes;
    }

    /// See `TcpConfig::handshake_ack_hold`.
    pub fn set_handshake_ack_hold(&mut self, d: crate::time::Duration) {
        self.config.handshake_ack_hold = d;
    }

    pub fn stats(&self) -> &TcpStats {
        &self.stats
    }

    pub(super) fn user(&self, h: TcpHandle) -> Result<&Tcb> {
        self.socks.get(&h.0).filter(|t| !t.orphan && t.parent.is_none()).ok_or(Error::BadHandle)
    }
    pub(super) fn user_mut_any(&mut self, id: u32) -> &mut Tcb {
        self.socks.get_mut(&id).expect("live control block")
    }
    pub(super) fn user_mut(&mut self, h: TcpHandle) -> Result<&mut Tcb> {
        self.socks.get_mut(&h.0).filter(|t| !t.orphan && t.parent.is_none()).ok_or(Error::BadHandle)
    }

    /// Queues `id` only if a call left something to send (calls made in a loop, like recv
    /// returning WouldBlock, must not keep `poll_at` at now).
    pub(super) fn settle(&mut self, id: u32) {
        if self.socks.get(&id).is_some_and(|t| t.pending) {
            self.note(id);
        }
    }

    /// Keeps control block `id`'s entry in the timer index at its next deadline.
    pub(super) fn reindex_timer(timers: &mut BTreeSet<(Instant, u32)>, t: &mut Tcb, id: u32) {
        let next = t.next_timer();
        if next != t.timer_key {
            if let Some(old) = t.timer_key {
                timers.remove(&(old, id));
            }
            if let Some(n) = next {
                timers.insert((n, id));
            }
            t.timer_key = next;
        }
    }

    /// Queues control block `id` for the next `dispatch` (output, timer re-index, readiness).
    pub(super) fn note(&mut self, id: u32) {
        if let Some(t) = self.socks.get_mut(&id) {
            if !t.queued {
                t.queued = true;
                self.dirty.push(id);
            }
        }
    }
}
