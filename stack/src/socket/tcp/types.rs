//! Plain TCP types shared by every part of the engine and by its users: handles, states,
//! settings, counters, per-connection counters (`TcpInfo`) and socket options (`TcpOption`).
//! A leaf: it imports nothing from the engine, so any file may use it.
use crate::time::Duration;
use crate::wire::ip::IpAddress;

/// Identifies one user-visible TCP socket of a `TcpStack`. Stale handles give `Error::BadHandle`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TcpHandle(pub u32);

/// RFC 9293 section 3.3.2 states.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpState {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

/// Congestion control algorithm.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Congestion {
    /// RFC 5681 + RFC 6582 NewReno.
    Reno,
    /// RFC 9438 CUBIC (default).
    Cubic,
}

/// Stack-wide TCP settings.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Address used as the source of connections (the interface address).
    pub local_addr: IpAddress,
    /// Prefix length of `local_addr`'s network: its directed broadcast is no peer (32: none).
    pub prefix_len: u8,
    /// Our MSS: IP MTU minus 40.
    pub mss: u16,
    /// Default receive buffer per connection (at least 256 KiB).
    pub rx_buffer: usize,
    /// Default send buffer per connection (at least 256 KiB).
    pub tx_buffer: usize,
    /// Most a receive buffer grows to by auto-tuning (Linux tcp_rmem[2], 6 MiB): a peer whose
    /// sending our window limits gets a larger one (`Tcb::autotune_rx`). The window scale of
    /// every SYN allows it. SO_RCVBUF fixes a socket's buffer, as on Linux. Equal to
    /// `rx_buffer`: no auto-tuning.
    pub rx_buffer_max: usize,
    /// Most a send buffer grows to by auto-tuning (Linux tcp_wmem[2], 4 MiB): twice the
    /// congestion window (`Tcb::autotune_tx`). SO_SNDBUF fixes it. Equal to `tx_buffer`: none.
    pub tx_buffer_max: usize,
    /// RFC 6298 lower bound on RTO (default 200 ms).
    pub rto_min: Duration,
    /// Upper bound on RTO (default 120 s, Linux TCP_RTO_MAX).
    pub rto_max: Duration,
    /// Initial RTO before any RTT sample (default 1 s).
    pub rto_initial: Duration,
    /// Delayed ACK timeout (default 40 ms, never above 200 ms).
    pub delayed_ack: Duration,
    /// Maximum segment lifetime; TIME_WAIT lasts 2*MSL (default MSL 30 s, so 60 s like Linux).
    pub msl: Duration,
    /// Retransmissions of a data segment before the connection is aborted with ETIMEDOUT (15).
    pub max_retries: u32,
    /// SYN retransmissions before connect fails with ETIMEDOUT (6, net.ipv4.tcp_syn_retries;
    /// TCP_SYNCNT sets a socket's own).
    pub syn_retries: u32,
    /// Our SYN's first retransmission timeouts that do not back off (4,
    /// net.ipv4.tcp_syn_linear_timeouts): SYNs leave at 0, 1, 2, 3, 4, 5, 7, 11, 19... s.
    pub syn_linear_timeouts: u32,
    /// Retransmissions or unanswered window probes before an orphaned connection (closed by
    /// the application) is dropped: Linux tcp_orphan_retries (sysctl 0 means 8).
    pub orphan_retries: u32,
    /// Congestion control for new connections.
    pub congestion: Congestion,
    /// Secret key for RFC 6528 ISNs (random per stack in production, fixed in tests).
    pub isn_secret: [u8; 16],
    /// Ephemeral port range, inclusive (default 32768..=60999 like Linux).
    pub ephemeral_ports: (u16, u16),
    /// Seed for ephemeral port choice and other randomness.
    pub seed: u64,
    /// Half-open connections (request records) per listener before SYN cookies answer
    /// (Linux tcp_max_syn_backlog; default 256). listen()'s backlog bounds only the accept queue.
    pub max_syn_backlog: usize,
    /// Answer SYNs with SYN cookies when the SYN queue is full (Linux tcp_syncookies=1).
    pub syncookies: bool,
    /// SYN-ACK retransmissions for a request before it is dropped (Linux tcp_synack_retries 5).
    pub synack_retries: u32,
    /// Most TIME-WAIT records (Linux tcp_max_tw_buckets); beyond it connections close without
    /// TIME-WAIT (counted in `tw_overflows`). Default 32768 (about 5 MiB).
    pub max_tw_buckets: usize,
    /// Most orphaned connections (closed by the user, not yet done, TIME-WAIT excluded; Linux
    /// tcp_max_orphans): close() beyond it resets the connection (`orphan_overflows`). Default 4096.
    pub max_orphans: usize,
    /// Segments leave with only the pseudo-header sum in the checksum field: the device
    /// finishes it (Stack::set_tcp_checksum_offload; a TAP with offloads). Off by default.
    pub tx_partial_checksum: bool,
    /// Largest payload of new data handed to the device as one segment, which the device cuts
    /// into MSS-sized ones (TSO: Stack::set_tso, a TAP with offloads; the segments and their
    /// accounting are those of MSS-sized sends). 0, the default: every segment at most one MSS.
    pub tso_max: usize,
    /// How long the ACK that completes an active open may wait for the program's first data
    /// to ride on it (zero: sent at once, the default). Linux holds it while data is pending
    /// (tcp_rcv_synsent_state_process: "save one ACK"); a client that writes right after
    /// connect() then wakes the server once (accept finds the request) instead of twice.
    pub handshake_ack_hold: Duration,
}

impl TcpConfig {
    /// Defaults for a host at `local_addr` on a link with IP MTU `mtu`.
    pub fn new(local_addr: IpAddress, mtu: usize) -> TcpConfig {
        TcpConfig {
            tx_partial_checksum: false,
            tso_max: 0,
            handshake_ack_hold: Duration::ZERO,
            local_addr,
            prefix_len: 32,
            mss: (mtu.saturating_sub(40)).min(u16::MAX as usize) as u16,
            rx_buffer: 256 * 1024,
            tx_buffer: 256 * 1024,
            rx_buffer_max: 6 << 20,
            tx_buffer_max: 4 << 20,
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            rto_initial: Duration::from_secs(1),
            delayed_ack: Duration::from_millis(40),
            msl: Duration::from_secs(30),
            max_retries: 15,
            syn_retries: 6,
            syn_linear_timeouts: 4,
            orphan_retries: 8,
            congestion: Congestion::Cubic,
            isn_secret: [0; 16],
            ephemeral_ports: (32768, 60999),
            seed: 0,
            max_syn_backlog: 256,
            syncookies: true,
            synack_retries: 5,
            max_tw_buckets: 32768,
            max_orphans: 4096,
        }
    }
}

/// Drop and event counters of a `TcpStack`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    pub rx_segments: u64,
    pub rx_malformed: u64,
    pub rx_bad_checksum: u64,
    /// ICMP errors ignored: quoted sequence number outside snd_una..=snd_max (RFC 5927 4.1).
    pub icmp_out_of_window: u64,
    /// Segments for which no connection or listener exists (answered with RST).
    pub rx_no_socket: u64,
    pub rsts_sent: u64,
    /// SYNs or handshake-completing ACKs dropped because a listener's accept queue was full.
    pub listen_overflows: u64,
    /// Handshake ACKs without data a TCP_DEFER_ACCEPT listener set aside (Linux
    /// TCPDeferAcceptDrop): the connection waits for its data.
    pub defer_accept_drops: u64,
    /// SYN-ACKs sent with a SYN cookie (the SYN queue was full).
    pub syncookies_sent: u64,
    /// ACKs whose SYN cookie was valid (a connection was made from it).
    pub syncookies_recv: u64,
    /// ACKs to a listener whose SYN cookie was invalid (answered with RST).
    pub syncookies_failed: u64,
    /// SYNs dropped for a full SYN queue (cookies off) or a full SYN-ACK queue.
    pub syn_queue_drops: u64,
    /// Connections that closed without TIME-WAIT because `max_tw_buckets` records existed.
    pub tw_overflows: u64,
    /// close() calls that reset the connection because `max_orphans` orphans existed.
    pub orphan_overflows: u64,
    /// Held handshake ACKs (`TcpConfig::handshake_ack_hold`) that left alone: no data came.
    pub held_acks_expired: u64,
}

/// Per-connection counters a user can read (TCP_INFO and tooling).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TcpInfo {
    pub state: Option<TcpState>,
    pub srtt: Duration,
    pub rttvar: Duration,
    pub rto: Duration,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub snd_mss: u16,
    pub rcv_mss: u16,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u64,
    pub segs_in: u64,
    /// Segments retransmitted, for any reason.
    pub retransmits: u64,
    /// Retransmissions triggered by three duplicate ACKs (or SACK).
    pub fast_retransmits: u64,
    /// Retransmission timeouts that fired.
    pub rto_expirations: u64,
    /// Window reductions undone as spurious: every retransmission of the episode was D-SACKed,
    /// or the originals filled the holes (Eifel).
    pub undos: u64,
    /// D-SACK blocks received (Linux tcpi_dsack_dups counts segments).
    pub dsacks: u64,
    /// Reordering was seen (RACK.reordering_seen; Linux tcpi_reord_seen counts events).
    pub reord_seen: bool,
    /// Current consecutive-backoff count.
    pub backoff: u32,
    pub wscale_snd: u8,
    pub wscale_rcv: u8,
    pub timestamps: bool,
    pub sack: bool,
    /// Bytes acknowledged per second over about the last round trip (`ss -i` delivery_rate).
    pub delivery_rate: u64,
}

/// Per-socket options (setsockopt).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    /// TCP_NODELAY: disable Nagle.
    NoDelay(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// TCP_KEEPIDLE / TCP_KEEPINTVL (seconds) and TCP_KEEPCNT.
    KeepIdle(Duration),
    KeepIntvl(Duration),
    KeepCnt(u32),
    /// SO_LINGER: None = off; Some(0) = RST on close.
    Linger(Option<Duration>),
    /// SO_RCVBUF / SO_SNDBUF in bytes.
    RecvBuffer(usize),
    SendBuffer(usize),
    /// TCP_WINDOW_CLAMP in bytes (0: none): the largest window advertised.
    WindowClamp(u32),
    /// TCP_MAXSEG (0: none): the user's MSS (Linux rx_opt.user_mss), which bounds the MSS we
    /// advertise in our SYN and the one we send with; set before the SYN, inherited by accepted
    /// connections.
    MaxSeg(u16),
    /// IP_FREEBIND: bind() may take an address that is not ours.
    FreeBind(bool),
    /// TCP_SYNCNT: SYN retransmissions before connect() gives up (1-127; 0: the stack's).
    SynCnt(u8),
    /// TCP_USER_TIMEOUT in milliseconds (0: off; RFC 5482, Linux tcp(7)).
    UserTimeout(u32),
    /// IP_LOCAL_PORT_RANGE: the ephemeral ports this socket may take (low 16 bits the lowest).
    LocalPortRange(u32),
    /// TCP_DEFER_ACCEPT in SYN-ACK timeouts (see `Tcb::defer_accept`).
    DeferAccept(u8),
    /// TCP_CORK: hold segments under the MSS (see `Tcb::cork`); removing it sends them.
    Cork(bool),
    /// Not a socket option: whether the data written next carries MSG_MORE (see `Tcb::more`);
    /// turned off, what is queued leaves as Nagle allows.
    More(bool),
    /// TCP_CONGESTION: the algorithm of this connection (inherited by accepted connections).
    Congestion(Congestion),
}
