//! Starting `tapstackd` from a shimmed process: detached (double fork, setsid), stdio to
//! /dev/null or TAPSTACK_SERVICE_LOG (stderr stays the program's when TAPSTACK_TRACE asks for
//! output and no service log is set), without LD_PRELOAD. Racing starters agree through the
//! attach point: every loser's service finds it bound and exits at once.
//!
//! Everything is prepared before forking (paths, argv, environment); the children only make
//! raw system calls, which is all that is safe after fork in a multi-threaded program.
use std::ffi::{CStr, CString};

use libc::{c_char, c_long};

/// The tapstackd binary: TAPSTACK_SERVICE, else next to this library, else ../bin/.
fn service_path() -> Result<CString, String> {
    if let Some(p) = std::env::var_os("TAPSTACK_SERVICE") {
        return CString::new(p.into_encoded_bytes()).map_err(|_| "bad TAPSTACK_SERVICE".into());
    }
    // SAFETY: dladdr fills info for an address inside this library.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::dladdr(service_path as *const libc::c_void, &mut info) };
    if r != 0 && !info.dli_fname.is_null() {
        // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
        let so = unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned();
        let dir = std::path::Path::new(&so).parent().map(|p| p.to_path_buf()).unwrap_or_default();
        for cand in [dir.join("tapstackd"), dir.join("../bin/tapstackd")] {
            if cand.is_file() {
                return CString::new(cand.into_os_string().into_encoded_bytes()).map_err(|_| "bad path".into());
            }
        }
    }
    Err("tapstackd not found (set TAPSTACK_SERVICE)".into())
}

/// True when TAPSTACK_TRACE asks for any output (the service's, see `start_service`).
fn trace_wanted() -> bool {
    std::env::var("TAPSTACK_TRACE")
        .ok()
        .and_then(|v| tapstack::trace::sink::TraceSpec::parse(&v).ok())
        .is_some_and(|t| t.wants_events() || t.frames)
}

/// Starts the service detached. Returns once the intermediate child is reaped.
pub(super) fn start_service() -> Result<(), String> {
    let path = service_path()?;
    let log = std::env::var_os("TAPSTACK_SERVICE_LOG")
        .map(|p| CString::new(p.into_encoded_bytes()).unwrap_or_else(|_| c"/dev/null".into()))
        .unwrap_or_else(|| c"/dev/null".into());
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != "LD_PRELOAD")
        .filter_map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b).ok()
        })
        .collect();
    let mut envp: Vec<*const c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let argv: [*const c_char; 2] = [path.as_ptr(), std::ptr::null()];
    // TAPSTACK_TRACE (ladder, events, frames) is drawn by the service: without a service log,
    // its stderr is the starting program's own, so `tapstack --trace CMD` shows CMD's ladder.
    let trace_to_stderr = log.as_bytes() == b"/dev/null" && trace_wanted();
    let devnull = c"/dev/null";
    // SAFETY: raw fork; the child only makes raw syscalls on data prepared above, then exits.
    unsafe {
        let pid =
            libc::syscall(libc::SYS_clone, libc::SIGCHLD as c_long, 0 as c_long, 0 as c_long, 0 as c_long, 0 as c_long);
        if pid < 0 {
            return Err("fork failed".into());
        }
        if pid == 0 {
            libc::syscall(libc::SYS_setsid);
            let gpid = libc::syscall(
                libc::SYS_clone,
                libc::SIGCHLD as c_long,
                0 as c_long,
                0 as c_long,
                0 as c_long,
                0 as c_long,
            );
            if gpid != 0 {
                libc::syscall(libc::SYS_exit_group, 0 as c_long);
            }
            let nul = libc::syscall(libc::SYS_openat, libc::AT_FDCWD, devnull.as_ptr(), libc::O_RDWR, 0);
            let out = libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                log.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
                0o644,
            );
            let out = if out >= 0 { out } else { nul };
            if nul >= 0 {
                libc::syscall(libc::SYS_dup3, nul, 0, 0);
            }
            if out >= 0 {
                libc::syscall(libc::SYS_dup3, out, 1, 0);
                if !trace_to_stderr {
                    libc::syscall(libc::SYS_dup3, out, 2, 0);
                }
            }
            // Nothing of the program's (pipes, sockets) may stay open in the service.
            libc::syscall(libc::SYS_close_range, 3 as c_long, !0u32 as c_long, 0 as c_long);
            // Signals: the service starts with default dispositions and an empty mask.
            let empty: u64 = 0;
            libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &empty as *const u64, 0, 8);
            libc::syscall(libc::SYS_execve, path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::syscall(libc::SYS_exit_group, 127 as c_long);
        }
        let mut status: libc::c_int = 0;
        while libc::syscall(libc::SYS_wait4, pid, &mut status as *mut libc::c_int, 0, 0) < 0
            && crate::errno() == libc::EINTR
        {}
    }
    Ok(())
}
