//! TCP_CONGESTION (tcp(7)): the algorithm of a connection by name, as Linux's
//! tcp_set_congestion_control takes it and getsockopt reports it. tapstack has two: "cubic"
//! (the default) and "reno" (NewReno); any other name is ENOENT, as on a kernel without that
//! module.
use crate::socket::tcp::Congestion;

/// TCP_CA_NAME_MAX: a name is at most 15 bytes and its NUL.
const NAME_MAX: usize = 16;

/// The algorithm setsockopt's `val` names (up to its first NUL, at most 15 bytes).
pub fn by_name(val: &[u8]) -> Result<Congestion, i32> {
    if val.is_empty() {
        return Err(libc::EINVAL);
    }
    let val = &val[..val.len().min(NAME_MAX - 1)];
    let name = val.split(|&c| c == 0).next().unwrap_or(val);
    match name {
        b"cubic" => Ok(Congestion::Cubic),
        b"reno" => Ok(Congestion::Reno),
        _ => Err(libc::ENOENT),
    }
}

/// What getsockopt reports: the name and its NUL.
pub fn name(a: Congestion) -> Vec<u8> {
    match a {
        Congestion::Cubic => b"cubic\0".to_vec(),
        Congestion::Reno => b"reno\0".to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_linux_reads_them() {
        assert_eq!(by_name(b"reno"), Ok(Congestion::Reno));
        assert_eq!(by_name(b"cubic\0garbage"), Ok(Congestion::Cubic));
        assert_eq!(by_name(b"bbr"), Err(libc::ENOENT));
        assert_eq!(by_name(b"renoX"), Err(libc::ENOENT));
        assert_eq!(by_name(b""), Err(libc::EINVAL));
        assert_eq!(by_name(b"cubicxxxxxxxxxxxxxxxxxx"), Err(libc::ENOENT), "cut at 15 bytes");
        assert_eq!(name(Congestion::Reno), b"reno\0");
    }
}
