//! dup, dup2, dup3, close. Duplicates of a tapstack descriptor are real duplicates of its
//! eventfd that map to the same socket; the socket closes when its last descriptor does.
//! dup2/dup3 onto a tapstack descriptor release that socket first (like the kernel's implicit
//! close). close_range closes our sockets in the range through `close`. fstat reports S_IFSOCK
//! for our descriptors, as for a kernel socket. These bookkeeping paths run even when re-entered, so the table never goes stale.
use libc::{c_int, c_uint};

use crate::fdtable::{install, uninstall, EPOLLS, MAX_FDS, SOCKS};
use crate::{fail, real};

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if crate::rt::is_runtime_fd(fd) || crate::fdtable::is_internal(fd) {
        // The TAP (or the runtime's eventfd/pcap file): the program never got this number from
        // us and must not take the network down with a blanket close; pretend it is closed.
        return 0;
    }
    crate::svc::forget(fd);
    if SOCKS.contains(fd) {
        if let Some(s) = uninstall(fd) {
            let r = real::sys_close(fd);
            // The socket's engine close (if this was its last descriptor) happens here.
            drop(s);
            return if r < 0 { fail(-r) } else { 0 };
        }
    }
    if EPOLLS.contains(fd) {
        drop(EPOLLS.replace(fd, None));
    }
    real::close(fd)
}

/// Maps a freshly made duplicate `nfd` of `old` like `old`.
fn mirror(old: c_int, nfd: c_int) -> c_int {
    if nfd < 0 {
        return nfd;
    }
    if let Some(s) = SOCKS.get(old) {
        if nfd as usize >= MAX_FDS {
            real::sys_close(nfd);
            return fail(libc::EMFILE);
        }
        install(nfd, &s);
    }
    if let Some(e) = EPOLLS.get(old) {
        drop(EPOLLS.replace(nfd, Some(e)));
    }
    nfd
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    if !SOCKS.contains(fd) && !EPOLLS.contains(fd) {
        let r = real::dup(fd);
        crate::svc::mirror(fd, r);
        return r;
    }
    mirror(fd, real::dup(fd))
}

/// dup2/dup3: `real` performs the kernel call once `new`'s old mapping is out of the way.
unsafe fn dup_onto(old: c_int, new: c_int, real_call: impl FnOnce() -> c_int) -> c_int {
    if !SOCKS.contains(old)
        && !EPOLLS.contains(old)
        && !SOCKS.contains(new)
        && !EPOLLS.contains(new)
        && !crate::rt::is_runtime_fd(new)
        && !crate::fdtable::is_internal(new)
    {
        return real_call();
    }
    if old == new {
        return real_call();
    }
    if crate::rt::is_runtime_fd(new) || crate::fdtable::is_internal(new) {
        return fail(libc::EBUSY);
    }
    // Unmap `new` before the kernel reuses the number, so no signal lands in the new file.
    let prev = uninstall(new);
    let prev_ep = EPOLLS.replace(new, None);
    let r = real_call();
    if r < 0 {
        // Nothing changed in the kernel: restore the mapping.
        if let Some(p) = &prev {
            install(new, p);
        }
        if let Some(e) = prev_ep {
            drop(EPOLLS.replace(new, Some(e)));
        }
        return r;
    }
    let r = mirror(old, r);
    drop(prev);
    r
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let r = dup_onto(old, new, || real::dup2(old, new));
    if r >= 0 {
        crate::svc::mirror(old, r);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let r = dup_onto(old, new, || real::dup3(old, new, flags));
    if r >= 0 {
        crate::svc::mirror(old, r);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    // CLOSE_RANGE_CLOEXEC only marks descriptors; CLOSE_RANGE_UNSHARE first unshares the table,
    // after which our closes would still act on the right (now private) table.
    const CLOSE_RANGE_CLOEXEC: c_int = 1 << 2;
    if flags & CLOSE_RANGE_CLOEXEC == 0 && first <= last {
        let hi = (last as usize).min(MAX_FDS - 1);
        for fd in (first as usize)..=hi {
            crate::svc::forget(fd as c_int);
            if SOCKS.contains(fd as c_int) || EPOLLS.contains(fd as c_int) {
                close(fd as c_int);
            }
        }
    }
    // Close around the runtime's own descriptors.
    let mut lo = first;
    let mut protected = crate::rt::runtime_fds();
    if first <= last {
        protected.extend(crate::fdtable::internal_in(first, last));
    }
    protected.sort_unstable();
    protected.dedup();
    for fd in protected {
        let fd = fd as c_uint;
        if fd < lo || fd > last {
            continue;
        }
        if fd > lo && real::close_range(lo, fd - 1, flags) < 0 {
            return -1;
        }
        if fd == c_uint::MAX {
            return 0;
        }
        lo = fd + 1;
    }
    if lo > last {
        return 0;
    }
    real::close_range(lo, last, flags)
}

/// st_mode as a kernel socket's: S_IFSOCK | 0777.
fn as_socket_mode(mode: libc::mode_t) -> libc::mode_t {
    (mode & !libc::S_IFMT) | libc::S_IFSOCK | 0o777
}

#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
    let r = real::fstat(fd, st);
    if r == 0 && SOCKS.contains(fd) && !st.is_null() {
        (*st).st_mode = as_socket_mode((*st).st_mode);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, st: *mut libc::stat64) -> c_int {
    let r = real::fstat64(fd, st);
    if r == 0 && SOCKS.contains(fd) && !st.is_null() {
        (*st).st_mode = as_socket_mode((*st).st_mode);
    }
    r
}
