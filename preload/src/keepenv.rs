//! The environment an exec passes on keeps tapstack. A program that builds its child's
//! environment itself (nginx's binary upgrade keeps only TZ and its `env` lines; daemons; a
//! Python subprocess with `env=`; `env -i`) would otherwise start the child without LD_PRELOAD:
//! its sockets would be the kernel's, and a tapstack socket it inherits (the listener nginx
//! hands to its new binary) a bare socketpair end. As on one host with one stack, a program
//! started under tapstack stays on it: when the new environment's LD_PRELOAD lacks this library
//! it is put first there, and each TAPSTACK_* variable this process started with that the new
//! environment does not set is added (one it sets is its own choice and kept), also when the
//! program passed LD_PRELOAD on itself (lighttpd's CGI environment keeps only that).
//!
//! Armed only when this process started with the library in its own LD_PRELOAD (the launcher's
//! way). Runs where exec runs, in a child after fork or vfork: the additions are prepared when
//! the library is loaded (`init`); at exec time only stack buffers, or one mmap for an
//! environment too large for them.
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use libc::c_char;
use once_cell::sync::OnceCell;
use tapstack::client::exec::preload_has;

struct Keep {
    /// This library's file name, to find it in an LD_PRELOAD value.
    name: Vec<u8>,
    /// `LD_PRELOAD=` and this library's absolute path, NUL-terminated.
    preload: Vec<u8>,
    /// `TAPSTACK_NAME=value`, NUL-terminated, as this process started with them.
    vars: Vec<Vec<u8>>,
}

static KEEP: OnceCell<Keep> = OnceCell::new();

const PRELOAD: &[u8] = b"LD_PRELOAD=";

/// Records what an exec must keep; called once when the library is loaded.
pub(crate) fn init() {
    let _ = KEEP.get_or_try_init(|| -> Result<Keep, ()> {
        // SAFETY: Dl_info is plain data (pointers and integers): all zeroes is a valid value.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr reads the loader's tables for an address of this library and fills
        // `info`, whose dli_fname is then a NUL-terminated path owned by the loader.
        let path = unsafe {
            if libc::dladdr(init as *const libc::c_void, &mut info) == 0 || info.dli_fname.is_null() {
                return Err(());
            }
            std::ffi::CStr::from_ptr(info.dli_fname).to_bytes()
        };
        let path = std::fs::canonicalize(OsStr::from_bytes(path)).map_err(|_| ())?;
        let path = path.as_os_str().as_bytes().to_vec();
        let name = path.rsplit(|&c| c == b'/').next().unwrap_or(&path).to_vec();
        let mut vars = Vec::new();
        let mut armed = false;
        for (k, v) in std::env::vars_os() {
            let (k, v) = (k.as_bytes(), v.as_bytes());
            if k == b"LD_PRELOAD" {
                armed = preload_has(v, &name);
            } else if k.starts_with(b"TAPSTACK_") && k != b"TAPSTACK_SERVICE_REPORT_FD" {
                vars.push([k, b"=", v, b"\0"].concat());
            }
        }
        if !armed {
            return Err(());
        }
        Ok(Keep { name, preload: [PRELOAD, &path[..], b"\0"].concat(), vars })
    });
}

/// The entry `e` (NUL-terminated) as bytes, without its NUL.
unsafe fn entry<'a>(e: *const c_char) -> &'a [u8] {
    std::ffi::CStr::from_ptr(e).to_bytes()
}

/// The key of `NAME=value` with its `=`.
fn key(var: &[u8]) -> &[u8] {
    var.iter().position(|&c| c == b'=').map_or(var, |i| &var[..=i])
}

/// Pointers on the stack for the new environment; more take an mmap.
const STACK_PTRS: usize = 1024;

/// Calls `f` with `envp`, or with a copy of it that keeps tapstack (the module's doc). A null
/// `envp` is an empty environment (as execve takes it).
pub(crate) unsafe fn keeping<R>(envp: *const *const c_char, f: impl FnOnce(*const *const c_char) -> R) -> R {
    let Some(keep) = KEEP.get() else { return f(envp) };
    let mut n = 0;
    let mut preload_at = None;
    let mut has_ours = false;
    while !envp.is_null() && !(*envp.add(n)).is_null() {
        let e = entry(*envp.add(n));
        if preload_at.is_none() && e.starts_with(PRELOAD) {
            has_ours = preload_has(&e[PRELOAD.len()..], &keep.name);
            preload_at = Some(n);
        }
        n += 1;
    }
    let is_set = |k: &[u8]| (0..n).any(|i| entry(*envp.add(i)).starts_with(k));
    let missing = keep.vars.iter().filter(|v| !is_set(key(v))).count();
    if has_ours && missing == 0 {
        return f(envp);
    }
    // A program that passes LD_PRELOAD on by itself (lighttpd's CGI environment) but not the
    // TAPSTACK_* variables gets those: its LD_PRELOAD entry stays as it is.
    let preload_at = if has_ours { None } else { preload_at };
    let total = n + missing + 2;
    // The merged LD_PRELOAD: ours, a space, the program's.
    let old = preload_at.map_or(&[][..], |i| &entry(*envp.add(i))[PRELOAD.len()..]);
    let merged_len = if has_ours { 0 } else { keep.preload.len() + 1 + old.len() };
    let mut ptrs_stack = [std::ptr::null::<c_char>(); STACK_PTRS];
    let mut text_stack = [0u8; 4096];
    let bytes = total * std::mem::size_of::<*const c_char>() + merged_len;
    let mapped = if total > STACK_PTRS || merged_len > text_stack.len() {
        let p = libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return f(envp);
        }
        Some(p)
    } else {
        None
    };
    let (ptrs, text): (&mut [*const c_char], &mut [u8]) = match mapped {
        Some(p) => (
            std::slice::from_raw_parts_mut(p as *mut *const c_char, total),
            std::slice::from_raw_parts_mut(
                (p as *mut u8).add(total * std::mem::size_of::<*const c_char>()),
                merged_len,
            ),
        ),
        None => (&mut ptrs_stack[..], &mut text_stack[..]),
    };
    let mut k = 0;
    if !has_ours {
        // "LD_PRELOAD=/path/lib.so" (without its NUL), then " old" when the program had one.
        let ours = &keep.preload[..keep.preload.len() - 1];
        text[..ours.len()].copy_from_slice(ours);
        let mut len = ours.len();
        if !old.is_empty() {
            text[len] = b' ';
            text[len + 1..len + 1 + old.len()].copy_from_slice(old);
            len += 1 + old.len();
        }
        text[len] = 0;
        ptrs[k] = text.as_ptr() as *const c_char;
        k += 1;
    }
    for i in 0..n {
        if Some(i) != preload_at {
            ptrs[k] = *envp.add(i);
            k += 1;
        }
    }
    for v in keep.vars.iter().filter(|v| !is_set(key(v))) {
        ptrs[k] = v.as_ptr() as *const c_char;
        k += 1;
    }
    ptrs[k] = std::ptr::null();
    let r = f(ptrs.as_ptr());
    if let Some(p) = mapped {
        libc::munmap(p, bytes);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::{CStr, CString};

    /// `keeping` of `env` (None: a null envp), as strings, and whether it passed `env` itself.
    fn kept(env: Option<&[&str]>) -> (Vec<String>, bool) {
        let owned: Vec<CString> = env.unwrap_or(&[]).iter().map(|s| CString::new(*s).unwrap()).collect();
        let mut ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        let envp = if env.is_some() { ptrs.as_ptr() } else { std::ptr::null() };
        // SAFETY: a NULL-terminated array of NUL-terminated strings (or null); `f` reads the
        // array it is given before `keeping` returns.
        unsafe {
            keeping(envp, |e| {
                let mut out = Vec::new();
                let mut i = 0;
                while !(*e.add(i)).is_null() {
                    out.push(CStr::from_ptr(*e.add(i)).to_str().unwrap().to_string());
                    i += 1;
                }
                (out, e == envp)
            })
        }
    }

    #[test]
    fn an_environment_without_the_shim_gets_it_back() {
        let _ = KEEP.set(Keep {
            name: b"libtapstack_preload.so".to_vec(),
            preload: b"LD_PRELOAD=/x/libtapstack_preload.so\0".to_vec(),
            vars: vec![b"TAPSTACK_TAP=tap0\0".to_vec(), b"TAPSTACK_DNS=10.0.0.1\0".to_vec()],
        });
        // The program's own LD_PRELOAD entries follow ours; its TAPSTACK_DNS stays.
        let (env, same) = kept(Some(&["FOO=1", "LD_PRELOAD=libfoo.so", "TAPSTACK_DNS=10.0.0.9"]));
        assert!(!same);
        assert_eq!(
            env,
            ["LD_PRELOAD=/x/libtapstack_preload.so libfoo.so", "FOO=1", "TAPSTACK_DNS=10.0.0.9", "TAPSTACK_TAP=tap0"]
        );
        // Already there (any directory), and the variables too: the same array.
        let all = ["LD_PRELOAD=/y/libtapstack_preload.so", "FOO=1", "TAPSTACK_TAP=tap1", "TAPSTACK_DNS=x"];
        let (env, same) = kept(Some(&all));
        assert!(same);
        assert_eq!(env, all);
        // LD_PRELOAD passed on without the variables (lighttpd's CGI environment): they are added.
        let (env, same) = kept(Some(&["LD_PRELOAD=/y/libtapstack_preload.so", "FOO=1"]));
        assert!(!same);
        assert_eq!(
            env,
            ["LD_PRELOAD=/y/libtapstack_preload.so", "FOO=1", "TAPSTACK_TAP=tap0", "TAPSTACK_DNS=10.0.0.1"]
        );
        // Null and empty environments.
        let want = ["LD_PRELOAD=/x/libtapstack_preload.so", "TAPSTACK_TAP=tap0", "TAPSTACK_DNS=10.0.0.1"];
        assert_eq!(kept(None).0, want);
        assert_eq!(kept(Some(&[])).0, want);
        // Larger than the stack buffers: mapped.
        let big: Vec<String> = (0..3000).map(|i| format!("V{i}=x")).collect();
        let big: Vec<&str> = big.iter().map(|s| s.as_str()).collect();
        let (env, _) = kept(Some(&big));
        assert_eq!(env.len(), 3003);
        assert_eq!(env[0], "LD_PRELOAD=/x/libtapstack_preload.so");
        assert_eq!(env[3000], "V2999=x");
        let long = format!("LD_PRELOAD={}", "/l/libz.so ".repeat(500));
        let (env, _) = kept(Some(&[long.as_str()]));
        assert!(env[0].starts_with("LD_PRELOAD=/x/libtapstack_preload.so /l/libz.so") && env[0].len() > 5000);
    }
}
