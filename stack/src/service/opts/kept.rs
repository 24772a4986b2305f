//! Options Linux accepts that tapstack takes without acting on them (corking, quick ACKs,
//! user timeouts, urgent data in line, receive low-water marks...): setsockopt keeps the value
//! as Linux stores it (booleans as 0/1, the same range checks), getsockopt reports it, or
//! Linux's default before any set. A program reads back what it set, as on Linux, instead of
//! ENOPROTOOPT for an option its setsockopt was allowed.

/// The kept values of one socket: (level, name, value), a handful at most.
#[derive(Clone, Debug, Default)]
pub struct Kept(Vec<(i32, i32, i32)>);

/// How Linux stores a value.
#[derive(Clone, Copy)]
enum Form {
    /// Any int, as given.
    Raw,
    /// 0 or 1 (`val ? 1 : 0`).
    Bool,
    /// SO_RCVLOWAT: negative means INT_MAX, 0 means 1 (sock_setsockopt; Linux's TCP also caps
    /// it at half its largest receive buffer, tcp_set_rcvlowat: not done here).
    LowWater,
    /// Not negative, else EINVAL (TCP_USER_TIMEOUT).
    NonNegative,
    /// 0 ..= 5 (IP_PMTUDISC_DONT .. IP_PMTUDISC_OMIT), else EINVAL.
    PmtuDisc,
    /// -1 means 1, else 0 ..= 255 (IP_MULTICAST_TTL); not on a stream socket.
    McastTtl,
    /// TCP_DEFER_ACCEPT: seconds, kept as SYN-ACK retransmissions and reported back as the
    /// seconds they cover (do_tcp_setsockopt, secs_to_retrans and retrans_to_secs).
    DeferAccept,
    /// TCP_SYNCNT: 1 ..= 127 (MAX_TCP_SYNCNT), else EINVAL.
    SynCnt,
    /// TCP_LINGER2: seconds; negative kept as -1, above 120 (TCP_FIN_TIMEOUT_MAX) as 120, 0
    /// reads back as the default (net.ipv4.tcp_fin_timeout, 60).
    Linger2,
    /// 0 or 1, else EINVAL (TCP_THIN_LINEAR_TIMEOUTS).
    ZeroOne,
    /// Read only (SO_SNDLOWAT: Linux's setsockopt refuses it with ENOPROTOOPT, reads 1;
    /// SO_INCOMING_NAPI_ID).
    ReadOnly,
    /// 0 ..= 255, else EINVAL (IP_MINTTL).
    Byte,
    /// A datagram socket's boolean; EINVAL on a stream socket (IP_RECVFRAGSIZE).
    DgramBool,
    /// Obsolete: 0 or 1 accepted (else EINVAL), reads 0 (TCP_THIN_DUPACK).
    Obsolete,
    /// 0 ..= 65535, else EINVAL (UDP_SEGMENT).
    U16,
    /// IP_LOCAL_PORT_RANGE: the lowest port in the low 16 bits, the highest in the high 16;
    /// EINVAL when both are set and the lowest is above the highest.
    PortRange,
}

/// IP_LOCAL_PORT_RANGE (linux/in.h).
pub(crate) const IP_LOCAL_PORT_RANGE: i32 = 51;

/// (level, name, TCP only, Linux's default, form).
const TABLE: &[(i32, i32, bool, i32, Form)] = &[
    (libc::SOL_SOCKET, libc::SO_PRIORITY, false, 0, Form::Raw),
    (libc::SOL_SOCKET, libc::SO_OOBINLINE, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT, false, 1, Form::LowWater),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMP, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_MARK, false, 0, Form::Raw),
    (libc::SOL_SOCKET, libc::SO_ZEROCOPY, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, false, libc::IP_PMTUDISC_WANT, Form::PmtuDisc),
    (libc::IPPROTO_IP, libc::IP_PKTINFO, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, false, 1, Form::McastTtl),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, false, 1, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, false, 1, Form::ZeroOne),
    (libc::IPPROTO_IP, libc::IP_RECVTOS, false, 0, Form::Bool),
    (libc::IPPROTO_TCP, libc::TCP_QUICKACK, true, 1, Form::Bool),
    (libc::IPPROTO_TCP, libc::TCP_CORK, true, 0, Form::Bool),
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, true, 0, Form::NonNegative),
    (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, true, 0, Form::Raw),
    (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, true, 0, Form::DeferAccept),
    (libc::IPPROTO_TCP, libc::TCP_SYNCNT, true, 6, Form::SynCnt),
    (libc::IPPROTO_TCP, libc::TCP_LINGER2, true, 0, Form::Linger2),
    (libc::SOL_SOCKET, libc::SO_SNDLOWAT, false, 1, Form::ReadOnly),
    // Busy polling (net.core.busy_read = 0), the CPU and NAPI queue a socket's packets came
    // in on (-1 and 0: none, as for a socket that has received nothing), the receive-queue
    // overflow counter and wireless status messages, FCS, and the pacing cap (~0: none; read
    // in 4 bytes). Found by asking a socket what Linux answers on any: these were ENOPROTOOPT.
    (libc::SOL_SOCKET, libc::SO_BUSY_POLL, false, 0, Form::NonNegative),
    (libc::SOL_SOCKET, libc::SO_PREFER_BUSY_POLL, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_INCOMING_CPU, false, -1, Form::Raw),
    (libc::SOL_SOCKET, libc::SO_INCOMING_NAPI_ID, false, 0, Form::ReadOnly),
    (libc::SOL_SOCKET, libc::SO_RXQ_OVFL, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_WIFI_STATUS, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_NOFCS, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE, false, -1, Form::Raw),
    // Found by comparing setsockopt on both stacks: nanosecond receive timestamps (on UDP
    // acted on as SO_TIMESTAMP, `opts::timestamps`), a port chosen at connect rather than at bind
    // (tapstack's bind(port 0) already picks one that suits), thin-stream timeouts (0 or 1),
    // and UDP receive offload (a datagram at a time is what it allows).
    (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, false, 0, Form::Bool),
    (libc::IPPROTO_TCP, libc::TCP_THIN_LINEAR_TIMEOUTS, true, 0, Form::ZeroOne),
    (libc::IPPROTO_UDP, UDP_GRO, false, 0, Form::Bool),
    // UDP_CORK: the shim builds the corked datagram (`preload/src/svc/dgram.rs`).
    (libc::IPPROTO_UDP, libc::UDP_CORK, false, 0, Form::Bool),
    // Found by sweeping every option with values and lengths on both stacks (2026-12-06):
    // flags Linux stores for any inet socket, and IP_FREEBIND (stored here, acted on by the
    // engine: bind() to an address not ours, `opts.rs`).
    (libc::SOL_SOCKET, libc::SO_DONTROUTE, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_NO_CHECK, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_SELECT_ERR_QUEUE, false, 0, Form::Bool),
    (libc::SOL_SOCKET, libc::SO_LOCK_FILTER, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_FREEBIND, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_RECVTTL, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_RECVOPTS, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_RETOPTS, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_PASSSEC, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_RECVORIGDSTADDR, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_CHECKSUM, false, 0, Form::Bool),
    (libc::IPPROTO_IP, libc::IP_MINTTL, false, 0, Form::Byte),
    (libc::IPPROTO_IP, IP_RECVFRAGSIZE, false, 0, Form::DgramBool),
    (libc::IPPROTO_IP, libc::IP_HDRINCL, false, 0, Form::ReadOnly),
    (libc::IPPROTO_IP, libc::IP_NODEFRAG, false, 0, Form::ReadOnly),
    (libc::IPPROTO_TCP, libc::TCP_THIN_DUPACK, true, 0, Form::Obsolete),
    // IP_LOCAL_PORT_RANGE: the engines pick ephemeral ports within it (`socket::local_port_range`).
    (libc::IPPROTO_IP, IP_LOCAL_PORT_RANGE, false, 0, Form::PortRange),
    // UDP_SEGMENT: the shim sends the segments (`preload/src/svc/dgram.rs`).
    (libc::IPPROTO_UDP, libc::UDP_SEGMENT, false, 0, Form::U16),
    // TCP_INQ: the shim adds the TCP_CM_INQ control message to reads (`preload/src/svc/inq.rs`).
    (libc::IPPROTO_TCP, libc::TCP_INQ, true, 0, Form::ZeroOne),
];

/// IP_RECVFRAGSIZE (linux/in.h).
const IP_RECVFRAGSIZE: i32 = 25;

/// UDP_GRO (linux/udp.h).
const UDP_GRO: i32 = 104;

/// net.ipv4.tcp_fin_timeout's default and TCP_FIN_TIMEOUT_MAX, in seconds.
const FIN_TIMEOUT: i32 = 60;
const FIN_TIMEOUT_MAX: i32 = 120;

/// Linux's TCP_TIMEOUT_INIT and TCP_RTO_MAX in seconds.
const TIMEOUT_INIT: i32 = 1;
const RTO_MAX: i32 = 120;

/// Seconds to SYN-ACK retransmissions (secs_to_retrans with timeout 1 s, max 120 s).
pub(crate) fn secs_to_retrans(secs: i32) -> i32 {
    if secs <= 0 {
        return 0;
    }
    let (mut res, mut timeout, mut period) = (1, TIMEOUT_INIT, TIMEOUT_INIT);
    while secs > period && res < 255 {
        res += 1;
        timeout = (timeout << 1).min(RTO_MAX);
        period += timeout;
    }
    res
}

/// Retransmissions back to seconds (retrans_to_secs).
fn retrans_to_secs(retrans: i32) -> i32 {
    if retrans <= 0 {
        return 0;
    }
    let (mut timeout, mut period) = (TIMEOUT_INIT, TIMEOUT_INIT);
    for _ in 1..retrans {
        timeout = (timeout << 1).min(RTO_MAX);
        period += timeout;
    }
    period
}

fn entry(tcp: bool, level: i32, name: i32) -> Option<(i32, Form)> {
    TABLE.iter().find(|e| e.0 == level && e.1 == name && (tcp || !e.2)).map(|e| (e.3, e.4))
}

impl Kept {
    /// setsockopt of a kept option: None if (level, name) is not one; else Ok or Linux's errno.
    pub fn set(&mut self, tcp: bool, level: i32, name: i32, v: i32) -> Option<Result<(), i32>> {
        let (_, form) = entry(tcp, level, name)?;
        let stored = match form {
            Form::Raw => v,
            Form::Bool => (v != 0) as i32,
            Form::LowWater if v < 0 => i32::MAX,
            Form::LowWater => v.max(1),
            Form::NonNegative if v < 0 => return Some(Err(libc::EINVAL)),
            Form::NonNegative => v,
            Form::ZeroOne if !(0..=1).contains(&v) => return Some(Err(libc::EINVAL)),
            Form::ZeroOne => v,
            Form::PmtuDisc if !(0..=5).contains(&v) => return Some(Err(libc::EINVAL)),
            Form::PmtuDisc => v,
            Form::McastTtl if tcp => return Some(Err(libc::EINVAL)),
            Form::McastTtl if v == -1 => 1,
            Form::McastTtl if !(0..=255).contains(&v) => return Some(Err(libc::EINVAL)),
            Form::McastTtl => v,
            Form::DeferAccept => secs_to_retrans(v),
            Form::SynCnt if !(1..=127).contains(&v) => return Some(Err(libc::EINVAL)),
            Form::SynCnt => v,
            Form::Linger2 => v.clamp(-1, FIN_TIMEOUT_MAX),
            Form::ReadOnly => return Some(Err(libc::ENOPROTOOPT)),
            Form::Byte if !(0..=255).contains(&v) => return Some(Err(libc::EINVAL)),
            Form::Byte => v,
            Form::DgramBool if tcp => return Some(Err(libc::EINVAL)),
            Form::DgramBool => (v != 0) as i32,
            Form::Obsolete if !(0..=1).contains(&v) => return Some(Err(libc::EINVAL)),
            Form::Obsolete => 0,
            Form::U16 if !(0..=65535).contains(&v) => return Some(Err(libc::EINVAL)),
            Form::U16 => v,
            Form::PortRange => {
                let (lo, hi) = (v as u32 & 0xffff, v as u32 >> 16);
                if lo != 0 && hi != 0 && lo > hi {
                    return Some(Err(libc::EINVAL));
                }
                v
            }
        };
        match self.0.iter_mut().find(|e| e.0 == level && e.1 == name) {
            Some(e) => e.2 = stored,
            None => self.0.push((level, name, stored)),
        }
        Some(Ok(()))
    }

    /// getsockopt of a kept option: None if (level, name) is not one.
    pub fn get(&self, tcp: bool, level: i32, name: i32) -> Option<i32> {
        let (default, form) = entry(tcp, level, name)?;
        let v = self.0.iter().find(|e| e.0 == level && e.1 == name).map_or(default, |e| e.2);
        Some(match form {
            Form::DeferAccept => retrans_to_secs(v),
            Form::Linger2 if v == 0 => FIN_TIMEOUT,
            _ => v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_level_options_linux_answers_on_any_socket() {
        let mut k = Kept::default();
        assert_eq!(k.get(false, libc::SOL_SOCKET, libc::SO_INCOMING_CPU), Some(-1));
        assert_eq!(k.get(true, libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE), Some(-1));
        assert_eq!(k.set(true, libc::SOL_SOCKET, libc::SO_BUSY_POLL, -1), Some(Err(libc::EINVAL)));
        assert_eq!(k.set(false, libc::SOL_SOCKET, libc::SO_INCOMING_NAPI_ID, 1), Some(Err(libc::ENOPROTOOPT)));
        k.set(false, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 7).unwrap().unwrap();
        assert_eq!(k.get(false, libc::SOL_SOCKET, libc::SO_RXQ_OVFL), Some(1));
    }

    #[test]
    fn read_back_as_linux() {
        let mut k = Kept::default();
        assert_eq!(k.get(true, libc::IPPROTO_TCP, libc::TCP_CORK), Some(0));
        assert_eq!(k.set(true, libc::IPPROTO_TCP, libc::TCP_CORK, 7), Some(Ok(())));
        assert_eq!(k.get(true, libc::IPPROTO_TCP, libc::TCP_CORK), Some(1));
        assert_eq!(k.get(true, libc::SOL_SOCKET, libc::SO_RCVLOWAT), Some(1));
        k.set(true, libc::SOL_SOCKET, libc::SO_RCVLOWAT, 0).unwrap().unwrap();
        assert_eq!(k.get(true, libc::SOL_SOCKET, libc::SO_RCVLOWAT), Some(1));
        k.set(false, libc::SOL_SOCKET, libc::SO_RCVLOWAT, -5).unwrap().unwrap();
        assert_eq!(k.get(false, libc::SOL_SOCKET, libc::SO_RCVLOWAT), Some(i32::MAX));
        assert_eq!(k.set(true, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, -1), Some(Err(libc::EINVAL)));
        assert_eq!(k.set(false, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, 6), Some(Err(libc::EINVAL)));
        assert_eq!(k.set(true, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, 3), Some(Err(libc::EINVAL)));
        k.set(false, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, -1).unwrap().unwrap();
        assert_eq!(k.get(false, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL), Some(1));
        // TCP options are not kept for UDP sockets; unknown options are not kept at all.
        assert_eq!(k.get(false, libc::IPPROTO_TCP, libc::TCP_CORK), None);
        assert_eq!(k.set(true, libc::IPPROTO_TCP, libc::TCP_MAXSEG + 1000, 3), None);
    }

    #[test]
    fn syncnt_linger2_sndlowat_as_linux() {
        let mut k = Kept::default();
        let tcp = libc::IPPROTO_TCP;
        assert_eq!(k.get(true, tcp, libc::TCP_SYNCNT), Some(6));
        assert_eq!(k.set(true, tcp, libc::TCP_SYNCNT, 0), Some(Err(libc::EINVAL)));
        assert_eq!(k.set(true, tcp, libc::TCP_SYNCNT, 128), Some(Err(libc::EINVAL)));
        k.set(true, tcp, libc::TCP_SYNCNT, 2).unwrap().unwrap();
        assert_eq!(k.get(true, tcp, libc::TCP_SYNCNT), Some(2));
        assert_eq!(k.get(true, tcp, libc::TCP_LINGER2), Some(60));
        for (set, got) in [(-7, -1), (500, 120), (30, 30), (0, 60)] {
            k.set(true, tcp, libc::TCP_LINGER2, set).unwrap().unwrap();
            assert_eq!(k.get(true, tcp, libc::TCP_LINGER2), Some(got), "TCP_LINGER2 {set}");
        }
        assert_eq!(k.get(false, libc::SOL_SOCKET, libc::SO_SNDLOWAT), Some(1));
        assert_eq!(k.set(false, libc::SOL_SOCKET, libc::SO_SNDLOWAT, 5), Some(Err(libc::ENOPROTOOPT)));
    }

    #[test]
    fn defer_accept_rounds_as_linux() {
        // Linux 6.x: set 0, 1, 2, 5, 10, 30, 200 seconds, read back 0, 1, 3, 7, 15, 31, 247.
        let mut k = Kept::default();
        for (set, got) in [(0, 0), (1, 1), (2, 3), (5, 7), (10, 15), (30, 31), (200, 247)] {
            k.set(true, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, set).unwrap().unwrap();
            assert_eq!(k.get(true, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT), Some(got), "set {set}");
        }
    }
}
