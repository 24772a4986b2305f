//! prctl, and the seccomp calls made through `syscall()`: noticing that the program put itself
//! in a seccomp sandbox. A filter allows the calls the program makes (OpenSSH's
//! pre-authentication child: read and write, not sendto or recvfrom; SECCOMP_MODE_STRICT:
//! read and write only), and any other call kills the process (SIGSYS). After that a write()
//! on a tapstack socket goes to the kernel as write(2) instead of send(MSG_NOSIGNAL): a write
//! on a connection reset by the peer then gives SIGPIPE + EPIPE where Linux reports ECONNRESET
//! once, and a read() at the end of a failed connection gives 0 where Linux gives its error
//! (the reason is the service's, which the sandbox cannot ask). read() is read(2) always.
use std::sync::atomic::{AtomicBool, Ordering};

use libc::{c_int, c_long, c_ulong};

static SANDBOXED: AtomicBool = AtomicBool::new(false);

/// linux/prctl.h (not in the libc crate for Linux).
const PR_SET_SECCOMP: c_int = 22;

/// Whether this process installed a seccomp filter (or strict mode); inherited by fork, and
/// by exec as the filter itself is.
#[inline]
pub(crate) fn sandboxed() -> bool {
    SANDBOXED.load(Ordering::Relaxed)
}

/// The call `n` with `args` returned `ok`: if it installed a seccomp mode, remember it.
pub(crate) fn note(n: c_long, args: &[c_long], ok: bool) {
    let seccomp = match n {
        libc::SYS_prctl => args.first() == Some(&(PR_SET_SECCOMP as c_long)),
        libc::SYS_seccomp => {
            let op = args.first().map(|&a| a as libc::c_uint);
            op == Some(libc::SECCOMP_SET_MODE_STRICT) || op == Some(libc::SECCOMP_SET_MODE_FILTER)
        }
        _ => false,
    };
    if ok && seccomp {
        SANDBOXED.store(true, Ordering::Relaxed);
    }
}

/// # Safety
/// Called by C code as `prctl(option, ...)` (variadic in C: on x86_64 the integer arguments
/// arrive as with a fixed signature, see `syscall.rs`); the arguments must be valid for
/// `option`, as for the real prctl, which is this system call with five arguments.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn prctl(option: c_int, a2: c_ulong, a3: c_ulong, a4: c_ulong, a5: c_ulong) -> c_int {
    let args = [option as usize, a2 as usize, a3 as usize, a4 as usize, a5 as usize];
    // SAFETY: the program's own call, passed on unchanged (glibc's prctl does the same).
    let r = unsafe { tapstack::sys::syscall(libc::SYS_prctl, &args) };
    note(libc::SYS_prctl, &[option as c_long], r.is_ok());
    match r {
        Ok(v) => v as c_int,
        Err(e) => crate::fail(e),
    }
}
