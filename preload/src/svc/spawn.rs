//! Starting `tapstackd` from a shimmed process: detached (double fork, a process group of its
//! own in the starter's session: see [`fork_service`]), stdio to
//! /dev/null or TAPSTACK_SERVICE_LOG (stderr stays the program's when TAPSTACK_TRACE asks for
//! output and no service log is set), without LD_PRELOAD. Racing starters agree through the
//! attach point: every loser's service finds it bound and exits at once.
//!
//! The service reports a failed start (no such TAP, no permission...) through a pipe it finds
//! as descriptor 3 (`TAPSTACK_SERVICE_REPORT_FD`): the starter reads that one line, or the
//! end of the pipe once the service is up (or lost a race), instead of waiting for an attach
//! point that will never come.
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
    // SAFETY: Dl_info is plain data (pointers may be null); all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr writes into the live `info`; the address is a function of this library.
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

/// The descriptor on which a starting service reports why it could not start.
const REPORT_FD: i32 = 3;

/// Starts the service detached and waits (at most `wait`) for its report: Ok once it is up (or
/// another service won the race), Err(the service's message) if it could not start.
pub(super) fn start_service(wait: std::time::Duration) -> Result<(), String> {
    let mut p = [-1i32; 2];
    // SAFETY: pipe2 writes two descriptors into the live array.
    if unsafe { libc::syscall(libc::SYS_pipe2, p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err("pipe failed".into());
    }
    let r = fork_service(p[1]);
    crate::real::sys_close(p[1]);
    let r = r.and_then(|()| read_report(p[0], wait));
    crate::real::sys_close(p[0]);
    r
}

/// The service's report on `fd`: EOF without a word = started (or not our business: it lost
/// the race for the attach point to another service, which serves us); a line = its error.
fn read_report(fd: i32, wait: std::time::Duration) -> Result<(), String> {
    let deadline = std::time::Instant::now() + wait;
    let mut msg = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(()); // slow to start: the caller's own deadline decides
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: raw poll on one live pollfd.
        let n = unsafe { libc::syscall(libc::SYS_poll, &mut pfd as *mut libc::pollfd, 1, left.as_millis() as c_long) };
        if n <= 0 {
            continue; // EINTR or timeout: the deadline check above
        }
        // SAFETY: raw read into the live buffer.
        let r = unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) };
        match r {
            0 => break,
            r if r > 0 => {
                msg.extend_from_slice(&buf[..r as usize]);
                if msg.len() > 4096 {
                    break;
                }
            }
            _ if crate::errno() == libc::EINTR => {}
            _ => break,
        }
    }
    if msg.is_empty() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&msg).trim().to_string())
    }
}

/// Forks the detached service with `report` (a pipe's write end) as its descriptor 3.
fn fork_service(report: i32) -> Result<(), String> {
    let path = service_path()?;
    let log = std::env::var_os("TAPSTACK_SERVICE_LOG")
        .map(|p| CString::new(p.into_encoded_bytes()).unwrap_or_else(|_| c"/dev/null".into()))
        .unwrap_or_else(|| c"/dev/null".into());
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != "LD_PRELOAD" && k != "TAPSTACK_SERVICE_REPORT_FD")
        .filter_map(|(k, v)| {
            let mut b = k.into_encoded_bytes();
            b.push(b'=');
            b.extend(v.into_encoded_bytes());
            CString::new(b).ok()
        })
        .collect();
    env.push(CString::new(format!("TAPSTACK_SERVICE_REPORT_FD={REPORT_FD}")).expect("no NUL"));
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
            // A process group of its own: the terminal's signals (^C, ^Z, hang-up) go to the
            // foreground group and the session leader, not to the service. Not a session of its
            // own (setsid): with autogroup scheduling (kernel.sched_autogroup_enabled, the
            // default of desktop distributions) a new session is a new scheduling group, and a
            // sched_yield in the service's polling loop (`Service::wait`) then yields only
            // within that group: the kernel peer it waits for, woken in the programs' group,
            // waited for the end of the service's slice. With one core busy that made the
            // ping-pong median 27.7 us against 21.0 (bench/PERF.md, tenth session).
            libc::syscall(libc::SYS_setpgid, 0 as c_long, 0 as c_long);
            // The report pipe out of the way of 0-2 (a program that closed stdin may have had
            // it as descriptor 0, which the redirections below replace).
            let report = libc::syscall(libc::SYS_fcntl, report as c_long, libc::F_DUPFD as c_long, 16 as c_long);
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
            // The report pipe as descriptor 3 (dup3 without O_CLOEXEC: it survives the exec);
            // nothing else of the program's (pipes, sockets) may stay open in the service.
            libc::syscall(libc::SYS_dup3, report as c_long, REPORT_FD as c_long, 0 as c_long);
            libc::syscall(libc::SYS_close_range, (REPORT_FD + 1) as c_long, !0u32 as c_long, 0 as c_long);
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
