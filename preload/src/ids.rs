//! setuid, seteuid, setreuid, setresuid. A daemon started as root often gives up root before
//! it makes its first socket (`memcached -u`, `setpriv`/`su` in front of `postgres`); by then
//! it may no longer open the TAP to start the service. So when a call would take the effective
//! uid from 0 to another user, the shim first makes sure the service runs (starting it while
//! it still may) and opens this process's control channel, which keeps root's credentials
//! (SO_PEERCRED is taken at connect, as the kernel's socket keeps its creator's rights).
//! The service serves any user's sockets (`tapstack::service` perm), so a program exec'd after
//! the change connects as its new user and is served too.
//!
//! Safety (for every hook here): the arguments are the program's own integers, handed to libc
//! unchanged.
use libc::{c_int, uid_t};

use crate::{real, svc};

/// The calling thread's effective uid (raw system call: never a hooked name).
fn euid() -> uid_t {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_geteuid) as uid_t }
}

/// Before a call that sets the effective uid to `new` (`uid_t::MAX`: unchanged).
fn before(new: uid_t) {
    if new == uid_t::MAX || new == 0 || euid() != 0 {
        return;
    }
    let Some(_guard) = crate::ShimGuard::enter_masked() else { return };
    let saved = crate::errno();
    svc::before_drop_root();
    crate::set_errno(saved);
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn setuid(uid: uid_t) -> c_int {
    before(uid);
    real::setuid(uid)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn seteuid(euid: uid_t) -> c_int {
    before(euid);
    real::seteuid(euid)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn setreuid(ruid: uid_t, euid: uid_t) -> c_int {
    before(euid);
    real::setreuid(ruid, euid)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn setresuid(ruid: uid_t, euid: uid_t, suid: uid_t) -> c_int {
    before(euid);
    real::setresuid(ruid, euid, suid)
}
