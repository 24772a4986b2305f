//! Who may do what through the service: any user may make and use sockets, as with the kernel's
//! stack (a daemon that dropped root before its first socket, `memcached -u`, `postgres` run
//! as its own user), and the checks the kernel makes by credentials are made here by the
//! control connection's (SO_PEERCRED, taken when the program connected):
//! - bind() to a port below `net.ipv4.ip_unprivileged_port_start` needs
//!   CAP_NET_BIND_SERVICE (Linux `__inet_bind`: EACCES);
//! - an SO_REUSEPORT group only takes sockets of the user that made its first one (Linux
//!   `inet_csk_bind_conflict`/`sk_reuseport_match`: `uid_eq(sk_uid)`, else EADDRINUSE), so
//!   another user cannot join a listener's group and take its connections.
//!
//! (`bind_rights.rs` applies them to a bind.)
//!
//! The sockets themselves are capabilities: requests name them by the descriptor passed along,
//! which only a process that was handed one holds.

/// CAP_NET_BIND_SERVICE (linux/capability.h).
const CAP_NET_BIND_SERVICE: u32 = 10;

/// The credentials of one control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    /// May bind ports below `ip_unprivileged_port_start`.
    pub low_ports: bool,
}

impl Peer {
    /// The service itself (requests that come from no client): root's rights.
    pub const SERVICE: Peer = Peer { uid: 0, low_ports: true };

    /// The peer `pid`/`uid` of a control connection: CAP_NET_BIND_SERVICE from its effective
    /// capabilities (/proc/PID/status `CapEff`); if that cannot be read (it exited), root.
    pub fn of(pid: i32, uid: u32) -> Peer {
        let cap = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| cap_eff(&s))
            .map(|c| c & (1 << CAP_NET_BIND_SERVICE) != 0);
        Peer { uid, low_ports: cap.unwrap_or(uid == 0) }
    }
}

/// `CapEff:` of a /proc/PID/status text.
fn cap_eff(status: &str) -> Option<u64> {
    let v = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(v.trim(), 16).ok()
}

/// `net.ipv4.ip_unprivileged_port_start` of the service's namespace (the programs' own), read
/// once; Linux's default 1024 if unreadable.
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(1024, |p| p.min(65535) as u16)
}

/// bind() of `port` by `peer`: EACCES when the port is privileged and the peer may not.
pub fn may_bind(peer: Peer, port: u16, unpriv_start: u16) -> Result<(), i32> {
    if port != 0 && port < unpriv_start && !peer.low_ports {
        return Err(libc::EACCES);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capeff_parses() {
        let s = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000000400\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(cap_eff(s), Some(0x400));
        assert_eq!(cap_eff("Name: x\n"), None);
        assert_eq!(cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn low_ports_need_the_capability() {
        let user = Peer { uid: 1000, low_ports: false };
        assert_eq!(may_bind(user, 80, 1024), Err(libc::EACCES));
        assert_eq!(may_bind(user, 0, 1024), Ok(()));
        assert_eq!(may_bind(user, 1024, 1024), Ok(()));
        assert_eq!(may_bind(user, 80, 0), Ok(()));
        assert_eq!(may_bind(Peer::SERVICE, 80, 1024), Ok(()));
    }
}
