//! A new pair for a socket whose connect failed (`Op::Renew`, `tapstack::service` renew.rs):
//! the service shut the old pair down both ways to report the failure, and Linux's socket may
//! connect again (the "wait until the server is up" loop). The program's new end takes the old
//! one's place with dup3: same number, close-on-exec and file status flags, and the same epoll
//! registrations (read from /proc/self/fdinfo of each epoll instance, which lists every
//! registration with its events and data), so an event loop waiting on it sees the new
//! attempt. Only system calls here: nothing goes through the shim's own hooks.
use libc::c_int;
use tapstack::service::proto::{Msg, Op};

use super::{ask, KINDS};

/// Most epoll registrations of one socket carried over.
const MAX_CARRIED: usize = 64;

fn sys(nr: libc::c_long, args: &[usize]) -> Result<usize, c_int> {
    // SAFETY: descriptor calls (fcntl, dup3, epoll_ctl, getdents64, readlinkat) whose pointer
    // arguments name live buffers of the given sizes.
    unsafe { tapstack::sys::syscall(nr, args) }
}

/// The answer to a connect said `proto::RENEW`: asks for a new pair and puts it in place of
/// socket `fd`'s spent one; clears its shutdown flag (tcp_disconnect clears sk_shutdown).
pub(crate) fn renew(fd: c_int) -> Result<(), c_int> {
    let b = match ask(&Msg::new(Op::Renew), fd) {
        Ok((r, Some(b))) if r.a == 0 => b,
        Ok((r, passed)) => {
            if let Some(b) = passed {
                crate::real::sys_close(b);
            }
            return Err(if r.a != 0 { r.a } else { libc::EIO });
        }
        Err(e) => return Err(e.unwrap_or(libc::EBADF)),
    };
    let _held = crate::SignalsHeld::hold();
    let watches = registrations(fd);
    let fl = sys(libc::SYS_fcntl, &[fd as usize, libc::F_GETFL as usize]);
    let fdfl = sys(libc::SYS_fcntl, &[fd as usize, libc::F_GETFD as usize]).unwrap_or(0);
    let cloexec = if fdfl as c_int & libc::FD_CLOEXEC != 0 { libc::O_CLOEXEC } else { 0 };
    let r = sys(libc::SYS_dup3, &[b as usize, fd as usize, cloexec as usize]);
    if let (Ok(_), Ok(fl)) = (r, fl) {
        let _ = sys(libc::SYS_fcntl, &[fd as usize, libc::F_SETFL as usize, fl]);
    }
    crate::real::sys_close(b);
    r?;
    for (ep, events, data) in watches {
        let mut ev = libc::epoll_event { events, u64: data };
        let _ = sys(
            libc::SYS_epoll_ctl,
            &[ep as usize, libc::EPOLL_CTL_ADD as usize, fd as usize, &mut ev as *mut _ as usize],
        );
    }
    KINDS.clear_rd_shut(fd);
    Ok(())
}

/// The epoll registrations of the file open at `fd`: (epoll descriptor, events, data).
fn registrations(fd: c_int) -> Vec<(c_int, u32, u64)> {
    let mut out = Vec::new();
    let Ok((_, ino)) = tapstack::service::fdpass::identity(fd) else { return out };
    let Ok(dir) = tapstack::sys::open(c"/proc/self/fd", libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0) else {
        return out;
    };
    let mut buf = [0u8; 4096];
    while let Ok(n) = sys(libc::SYS_getdents64, &[dir as usize, buf.as_mut_ptr() as usize, buf.len()]) {
        if n == 0 || out.len() >= MAX_CARRIED {
            break;
        }
        let mut off = 0;
        // linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name (NUL-terminated).
        while off + 19 < n {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 || off + reclen > n {
                break;
            }
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
            if let Some(ep) = std::str::from_utf8(name).ok().and_then(|s| s.parse::<c_int>().ok()) {
                if ep != dir && ep != fd && is_epoll(dir, name) {
                    watches_of(ep, fd, ino, &mut out);
                }
            }
            off += reclen;
        }
    }
    let _ = tapstack::sys::close(dir);
    out
}

/// Whether the entry `name` of /proc/self/fd (open as `dir`) is an epoll instance.
fn is_epoll(dir: c_int, name: &[u8]) -> bool {
    let mut path = name.to_vec();
    path.push(0);
    let mut link = [0u8; 64];
    let n = sys(libc::SYS_readlinkat, &[dir as usize, path.as_ptr() as usize, link.as_mut_ptr() as usize, link.len()]);
    n.is_ok_and(|n| link[..n.min(link.len())] == *b"anon_inode:[eventpoll]")
}

/// Appends epoll instance `ep`'s registrations of descriptor `fd` whose file has inode `ino`
/// (fdinfo lines `tfd: FD events: HEX data: HEX pos:.. ino:HEX sdev:..`).
fn watches_of(ep: c_int, fd: c_int, ino: u64, out: &mut Vec<(c_int, u32, u64)>) {
    let path = format!("/proc/self/fdinfo/{ep}\0");
    let Ok(path) = std::ffi::CStr::from_bytes_with_nul(path.as_bytes()) else { return };
    let Ok(text) = tapstack::sys::read_file(path, 1 << 20) else { return };
    for line in String::from_utf8_lossy(&text).lines() {
        let mut f = line.split_whitespace();
        if f.next() != Some("tfd:") || f.next().and_then(|v| v.parse::<c_int>().ok()) != Some(fd) {
            continue;
        }
        let (mut events, mut data, mut file) = (None, None, None);
        while let Some(k) = f.next() {
            match k {
                "events:" => events = f.next().and_then(|v| u32::from_str_radix(v, 16).ok()),
                "data:" => data = f.next().and_then(|v| u64::from_str_radix(v, 16).ok()),
                _ if k.starts_with("ino:") => file = u64::from_str_radix(&k[4..], 16).ok(),
                _ => {}
            }
        }
        if let (Some(e), Some(d), Some(i)) = (events, data, file) {
            if i == ino && out.len() < MAX_CARRIED {
                out.push((ep, e, d));
            }
        }
    }
}
