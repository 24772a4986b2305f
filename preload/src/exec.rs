//! execve and its family: a program the shimmed process runs that LD_PRELOAD cannot reach, a
//! statically linked one (no PT_INTERP: the dynamic loader never runs) or a Go program (its
//! runtime makes its socket system calls itself), puts its sockets on the kernel's stack. The
//! launcher refuses such a program at the top (`scripts/tapstack`); deeper down (a shell, make,
//! a Python subprocess) the exec goes on, since the program may not use the network at all,
//! but one line on stderr says so: a fall-back to the kernel is never silent.
//!
//! The check runs where exec runs, in a child after fork or vfork, so it makes only system
//! calls (openat, pread, close, write) on stack buffers: no allocation, no lock. execve and
//! execv are the system call itself; the functions that search PATH or spawn are libc's,
//! resolved when the library is loaded (`init`), never first in a child.
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{c_char, c_int, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t};

use tapstack::client::exec::{elf_reach, shebang_interpreter, Reach};

use crate::keepenv::keeping;

/// `elf_reach` of the file at `path` (NUL-terminated).
unsafe fn probe(path: *const c_char) -> Option<Reach> {
    if path.is_null() {
        return None;
    }
    let p = std::ffi::CStr::from_ptr(path);
    let fd = tapstack::sys::open(p, libc::O_RDONLY | libc::O_CLOEXEC, 0).ok()?;
    let read_at = |buf: &mut [u8], off: u64| tapstack::sys::pread(fd, buf, off as i64).is_ok_and(|n| n == buf.len());
    let r = elf_reach(read_at, p.to_bytes());
    let _ = tapstack::sys::close(fd);
    r
}

/// The interpreter a `#!` script at `path` names, NUL-terminated in `buf` (None for anything
/// else).
unsafe fn interpreter(path: *const c_char, buf: &mut [u8; 256]) -> Option<*const c_char> {
    let fd = tapstack::sys::open(std::ffi::CStr::from_ptr(path), libc::O_RDONLY | libc::O_CLOEXEC, 0).ok()?;
    let n = tapstack::sys::pread(fd, &mut buf[..255], 0).unwrap_or(0);
    let _ = tapstack::sys::close(fd);
    let name = shebang_interpreter(&buf[..n], n < 255)?;
    let (from, len) = (name.as_ptr() as usize - buf.as_ptr() as usize, name.len());
    buf.copy_within(from..from + len, 0);
    buf[len] = 0;
    Some(buf.as_ptr() as *const c_char)
}

/// One line on stderr if the program at `path` is out of LD_PRELOAD's reach: itself, or for a
/// `#!` script its interpreter (as the launcher checks its command).
unsafe fn warn(path: *const c_char) {
    if path.is_null() {
        return;
    }
    let mut interp = [0u8; 256];
    let path = interpreter(path, &mut interp).unwrap_or(path);
    let Some(r) = probe(path) else { return };
    let mut line = [0u8; 512];
    let mut n = 0;
    let mut put = |s: &[u8]| {
        let k = s.len().min(line.len() - n);
        line[n..n + k].copy_from_slice(&s[..k]);
        n += k;
    };
    put(b"tapstack: ");
    let name = std::ffi::CStr::from_ptr(path).to_bytes();
    put(&name[..name.len().min(300)]);
    put(match r {
        Reach::Static => b" is statically linked: LD_PRELOAD cannot reach it, its sockets use the kernel's stack, not tapstack\n",
        Reach::Go => b" is a Go program: it makes its socket system calls without libc, so they use the kernel's stack, not tapstack\n",
    });
    let _ = tapstack::sys::write_all(2, &line[..n]);
}

/// `warn` for `file` as execvp finds it: itself if it names a path, else the first executable
/// regular file of that name in PATH (the caller's environment, as glibc searches).
unsafe fn warn_search(file: *const c_char) {
    if file.is_null() {
        return;
    }
    let f = std::ffi::CStr::from_ptr(file).to_bytes();
    if f.is_empty() || f.contains(&b'/') {
        return warn(file);
    }
    let path = libc::getenv(c"PATH".as_ptr());
    let dirs: &[u8] = if path.is_null() { b"/bin:/usr/bin" } else { std::ffi::CStr::from_ptr(path).to_bytes() };
    let mut buf = [0u8; 4096];
    for d in dirs.split(|&c| c == b':') {
        let d: &[u8] = if d.is_empty() { b"." } else { d };
        if d.len() + 1 + f.len() + 1 > buf.len() {
            continue;
        }
        buf[..d.len()].copy_from_slice(d);
        buf[d.len()] = b'/';
        buf[d.len() + 1..d.len() + 1 + f.len()].copy_from_slice(f);
        buf[d.len() + 1 + f.len()] = 0;
        let p = buf.as_ptr() as *const c_char;
        let args = [libc::AT_FDCWD as usize, p as usize, libc::X_OK as usize, 0];
        if tapstack::sys::syscall(libc::SYS_faccessat, &args[..3]).is_ok() {
            return warn(p);
        }
    }
}

extern "C" {
    static environ: *const *const c_char;
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    warn(path);
    keeping(envp, |e| libc::syscall(libc::SYS_execve, path, argv, e) as c_int)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    warn(path);
    keeping(environ, |e| libc::syscall(libc::SYS_execve, path, argv, e) as c_int)
}

/// fexecve is execveat of the descriptor itself (as glibc's, without its /proc fallback for
/// kernels before 3.19).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    keeping(envp, |e| libc::syscall(libc::SYS_execveat, fd, c"".as_ptr(), argv, e, libc::AT_EMPTY_PATH) as c_int)
}

/// libc's execvp, execvpe, posix_spawn and posix_spawnp, resolved by `init`.
static LIBC: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];
const NAMES: [&std::ffi::CStr; 4] = [c"execvp", c"execvpe", c"posix_spawn", c"posix_spawnp"];

/// libc's function `i` of [`NAMES`] (resolved now if `init` did not run).
fn libc_fn(i: usize) -> usize {
    match LIBC[i].load(Ordering::Acquire) {
        0 => {
            // SAFETY: a NUL-terminated name; dlsym is thread-safe.
            let p = unsafe { libc::dlsym(libc::RTLD_NEXT, NAMES[i].as_ptr()) } as usize;
            LIBC[i].store(p, Ordering::Release);
            p
        }
        p => p,
    }
}

type SpawnFn = unsafe extern "C" fn(
    *mut pid_t,
    *const c_char,
    *const posix_spawn_file_actions_t,
    *const posix_spawnattr_t,
    *const *mut c_char,
    *const *mut c_char,
) -> c_int;

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    warn_search(file);
    // libc's execvpe with the environment kept (execvp itself would pass `environ` as it is).
    let f: unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int =
        std::mem::transmute(libc_fn(1));
    keeping(environ, |e| f(file, argv, e))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    warn_search(file);
    let f: unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int =
        std::mem::transmute(libc_fn(1));
    keeping(envp, |e| f(file, argv, e))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    warn(path);
    let f: SpawnFn = std::mem::transmute(libc_fn(2));
    keeping(envp as _, |e| f(pid, path, actions, attr, argv, e as _))
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    actions: *const posix_spawn_file_actions_t,
    attr: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    warn_search(file);
    let f: SpawnFn = std::mem::transmute(libc_fn(3));
    keeping(envp as _, |e| f(pid, file, actions, attr, argv, e as _))
}

/// Resolves libc's functions above when the library is loaded, so that a child after fork or
/// vfork never calls dlsym (which takes the loader's lock) to reach them.
extern "C" fn init() {
    for i in 0..NAMES.len() {
        libc_fn(i);
    }
    crate::keepenv::init();
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = init;
