//! How Linux reads a setsockopt value before it looks at the option: the length rules of
//! sk_setsockopt, do_tcp_setsockopt, udp_lib_setsockopt and do_ip_setsockopt (found by sweeping
//! every option with odd lengths on both stacks, `c-tests/opt_sweep.c`).

/// An int value: at least 4 bytes (the first 4 taken), else EINVAL.
pub(super) fn int(v: &[u8]) -> Result<i32, i32> {
    if v.len() < 4 {
        return Err(libc::EINVAL);
    }
    Ok(i32::from_ne_bytes([v[0], v[1], v[2], v[3]]))
}

/// do_ip_setsockopt's value of an int option: an int, else one unsigned byte, else 0.
pub(super) fn ip_int(v: &[u8]) -> i32 {
    match v.len() {
        0 => 0,
        1..=3 => v[0] as i32,
        _ => i32::from_ne_bytes([v[0], v[1], v[2], v[3]]),
    }
}

/// TCP_ULP and TCP_FASTOPEN_KEY (linux/tcp.h).
pub(super) const TCP_ULP: i32 = 31;
const TCP_FASTOPEN_KEY: i32 = 33;

/// Linux checks a value's length before the option's name: sk_setsockopt (every SOL_SOCKET
/// option but SO_BINDTODEVICE), do_tcp_setsockopt (all but its string options) and
/// udp_lib_setsockopt want an int, else EINVAL, also for an option they then refuse.
pub(super) fn length_rule(tcp: bool, level: i32, name: i32, len: usize) -> Result<(), i32> {
    let wants_int = match level {
        libc::SOL_SOCKET => name != libc::SO_BINDTODEVICE,
        libc::IPPROTO_TCP => tcp && !matches!(name, libc::TCP_CONGESTION | TCP_ULP | TCP_FASTOPEN_KEY),
        libc::IPPROTO_UDP => !tcp,
        _ => false,
    };
    if wants_int && len < 4 {
        return Err(libc::EINVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_as_linux() {
        assert_eq!(ip_int(&[]), 0);
        assert_eq!(ip_int(&[200, 1]), 200);
        assert_eq!(ip_int(&7i32.to_ne_bytes()), 7);
        assert_eq!(length_rule(true, libc::SOL_SOCKET, 12345, 1), Err(libc::EINVAL));
        assert_eq!(length_rule(false, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, 0), Ok(()));
        assert_eq!(length_rule(true, libc::IPPROTO_TCP, TCP_ULP, 0), Ok(()));
        assert_eq!(length_rule(true, libc::IPPROTO_TCP, libc::TCP_NODELAY, 2), Err(libc::EINVAL));
        assert_eq!(length_rule(false, libc::IPPROTO_TCP, libc::TCP_NODELAY, 2), Ok(())); // ENOPROTOOPT later
        assert_eq!(length_rule(false, libc::IPPROTO_UDP, 1, 3), Err(libc::EINVAL));
        assert_eq!(length_rule(true, libc::IPPROTO_IP, libc::IP_TTL, 1), Ok(()));
    }
}
