//! SO_BINDTODEVICE (socket(7)): a socket bound to a device. tapstack's interfaces are its TAP
//! and its loopback, so those names are accepted (as Linux accepts any device of the
//! namespace), read back by getsockopt, and any other name fails with ENODEV, as for a device
//! that does not exist. The value is kept, not enforced: every tapstack socket already leaves
//! through the TAP (or stays on tapstack's loopback). Found with `curl --interface tap0`: curl
//! sets SO_BINDTODEVICE first and returns when it succeeds; on ENOPROTOOPT it fell back to
//! binding the address the kernel's tap0 has (10.0.0.1), which is not ours: EADDRNOTAVAIL.

/// Linux's IFNAMSIZ: a device name has at most 15 bytes.
const IFNAMSIZ: usize = 16;
/// The loopback's interface index in every network namespace (LOOPBACK_IFINDEX).
const LOOPBACK_IFINDEX: i32 = 1;

/// The device a socket is bound to: its interface index and its name as given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Device {
    pub index: i32,
    pub name: Vec<u8>,
}

/// setsockopt(SO_BINDTODEVICE, val) as Linux's sock_setbindtodevice reads it: at most
/// IFNAMSIZ - 1 bytes, up to the first NUL; an empty name (or length 0) unbinds (None).
/// `tap` is the TAP's interface index; `lookup` gives a name's index (SIOCGIFINDEX).
pub fn bind(val: &[u8], tap: i32, lookup: impl Fn(&str) -> Result<i32, i32>) -> Result<Option<Device>, i32> {
    let val = &val[..val.len().min(IFNAMSIZ - 1)];
    let name = &val[..val.iter().position(|&b| b == 0).unwrap_or(val.len())];
    if name.is_empty() {
        return Ok(None);
    }
    let index = std::str::from_utf8(name).ok().and_then(|n| lookup(n).ok()).ok_or(libc::ENODEV)?;
    if index != LOOPBACK_IFINDEX && (index != tap || tap <= 0) {
        return Err(libc::ENODEV); // a device of the kernel's, not of tapstack
    }
    Ok(Some(Device { index, name: name.to_vec() }))
}

/// getsockopt(SO_BINDTODEVICE): the name with its NUL, nothing when unbound
/// (sock_getbindtodevice).
pub fn name(d: &Option<Device>) -> Vec<u8> {
    d.as_ref().map_or_else(Vec::new, |d| {
        let mut v = d.name.clone();
        v.push(0);
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(n: &str) -> Result<i32, i32> {
        match n {
            "lo" => Ok(1),
            "eth0" => Ok(2),
            "tap0" => Ok(7),
            _ => Err(libc::ENODEV),
        }
    }

    #[test]
    fn names_of_tapstack_devices_bind_others_fail_as_missing() {
        let tap0 = Some(Device { index: 7, name: b"tap0".to_vec() });
        assert_eq!(bind(b"tap0", 7, lookup), Ok(tap0.clone()));
        assert_eq!(bind(b"tap0\0junk", 7, lookup), Ok(tap0.clone()), "up to the NUL");
        assert_eq!(bind(b"lo", 7, lookup), Ok(Some(Device { index: 1, name: b"lo".to_vec() })));
        assert_eq!(bind(b"", 7, lookup), Ok(None), "the empty name unbinds");
        assert_eq!(bind(b"\0tap0", 7, lookup), Ok(None));
        assert_eq!(bind(b"eth0", 7, lookup), Err(libc::ENODEV), "the kernel's, not ours");
        assert_eq!(bind(b"nosuch", 7, lookup), Err(libc::ENODEV));
        assert_eq!(bind(b"tap0", 0, lookup), Err(libc::ENODEV), "no TAP index known");
        assert_eq!(bind(&[0xff, 0xfe], 7, lookup), Err(libc::ENODEV));
        assert_eq!(
            bind(b"0123456789abcdefgh", 7, |n| if n.len() == 15 { Ok(7) } else { Err(libc::ENODEV) })
                .map(|d| d.unwrap().name.len()),
            Ok(15)
        );
        assert_eq!(name(&tap0), b"tap0\0".to_vec());
        assert_eq!(name(&None), Vec::<u8>::new());
    }
}
