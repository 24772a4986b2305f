//! close, close_range, closefrom, dup, dup2, dup3, and stdio's fclose and freopen (a socket
//! wrapped by fdopen is closed inside libc). The descriptors are the kernel's; these hooks keep the
//! shim's table of shared-stack sockets (`svc::kind`) in step, and keep the program from
//! closing or replacing the shim's own descriptors (the control channel to the service and
//! per-thread signalfds), which it never got from us. They run even when re-entered, so the
//! table never goes stale.
//!
//! Safety (for every hook here): the arguments are the program's own integers, handed to libc
//! unchanged.
use libc::{c_int, c_uint};

use crate::{fail, real, svc};

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if svc::is_internal(fd) {
        // The program never got this number from us and must not take the channel down with a
        // blanket close: pretend it is closed.
        return 0;
    }
    forget(fd);
    real::close(fd)
}

/// `fd` is about to be closed: no longer a socket of ours.
fn forget(fd: c_int) {
    svc::forget(fd);
    crate::netlink::forget(fd);
    crate::pmtu::forget(fd);
}

/// fclose: glibc closes the stream's descriptor inside libc, past `close`; a socket wrapped by
/// fdopen kept its mark, and the next file opened on that number was taken for the socket (its
/// reads failed with ENOTSOCK, its poll said nothing). Forgotten first, as `close` does: the
/// stream's last buffered bytes still reach the pair, whose TCP data path is the kernel's.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fclose(f: *mut libc::FILE) -> c_int {
    if !f.is_null() {
        let fd = libc::fileno(f);
        if fd >= 0 && !svc::is_internal(fd) {
            forget(fd);
        }
    }
    real::fclose(f)
}

/// freopen with a path closes the stream's descriptor inside libc, as fclose.
unsafe fn reopening(path: *const libc::c_char, f: *mut libc::FILE) {
    if !path.is_null() && !f.is_null() {
        let fd = libc::fileno(f);
        if fd >= 0 && !svc::is_internal(fd) {
            forget(fd);
        }
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn freopen(
    path: *const libc::c_char,
    mode: *const libc::c_char,
    f: *mut libc::FILE,
) -> *mut libc::FILE {
    reopening(path, f);
    real::freopen(path, mode, f)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn freopen64(
    path: *const libc::c_char,
    mode: *const libc::c_char,
    f: *mut libc::FILE,
) -> *mut libc::FILE {
    reopening(path, f);
    real::freopen64(path, mode, f)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let r = real::dup(fd);
    svc::mirror(fd, r);
    crate::netlink::mirror(fd, r);
    crate::pmtu::mirror(fd, r);
    r
}

/// dup2/dup3: the kernel call, unless `new` is one of the shim's own descriptors.
unsafe fn dup_onto(old: c_int, new: c_int, real_call: impl FnOnce() -> c_int) -> c_int {
    if old != new && svc::is_internal(new) {
        return fail(libc::EBUSY);
    }
    let r = real_call();
    if r >= 0 {
        svc::mirror(old, r);
        crate::netlink::mirror(old, r);
        crate::pmtu::mirror(old, r);
    }
    r
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    dup_onto(old, new, || real::dup2(old, new))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    dup_onto(old, new, || real::dup3(old, new, flags))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    // CLOSE_RANGE_CLOEXEC only marks descriptors; CLOSE_RANGE_UNSHARE first unshares the table,
    // after which the closes still act on the right (now private) table.
    const CLOSE_RANGE_CLOEXEC: c_int = 1 << 2;
    if first > last {
        return real::close_range(first, last, flags);
    }
    if flags & CLOSE_RANGE_CLOEXEC == 0 {
        let hi = (last as usize).min(tapstack::client::fdtable::MAX_FDS - 1);
        for fd in (first as usize)..=hi {
            svc::forget(fd as c_int);
        }
    }
    // Close around the shim's own descriptors.
    let mut lo = first;
    for fd in svc::internal_in(first, last) {
        let fd = fd as c_uint;
        if fd > lo && real::close_range(lo, fd - 1, flags) < 0 {
            return -1;
        }
        lo = fd + 1;
    }
    if lo > last {
        return 0;
    }
    real::close_range(lo, last, flags)
}

/// closefrom (glibc 2.34; daemons and OpenSSH close every descriptor above stderr with it):
/// glibc's runs its close_range inside libc, past the hook above, and took the shim's control
/// channel with it (the next connect failed with ENETDOWN). Closes as close_range does, around
/// the shim's own descriptors; on a kernel without close_range, one close per descriptor.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn closefrom(low: c_int) {
    let low = low.max(0) as c_uint;
    let saved = crate::errno();
    if close_range(low, c_uint::MAX, 0) == 0 {
        return;
    }
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    let max = match libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) {
        0 => lim.rlim_cur.min(1 << 20) as c_uint,
        _ => 1024,
    };
    for fd in low..max {
        close(fd as c_int);
    }
    crate::set_errno(saved);
}
