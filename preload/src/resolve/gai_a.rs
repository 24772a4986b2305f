//! getaddrinfo_a, gai_error, gai_suspend, gai_cancel (getaddrinfo_a(3)): glibc's run its
//! getaddrinfo inside libc, on the kernel's stack unseen; these run ours. GAI_WAIT resolves
//! the list before returning; GAI_NOWAIT on a thread of its own, then notifies as the
//! `sigevent` asks (SIGEV_NONE, SIGEV_SIGNAL: sigqueue to this process, SIGEV_THREAD: a new
//! thread calls the function). A request's state is its `__return` field, read by gai_error:
//! EAI_INPROGRESS until its lookup is done. A running lookup cannot be cancelled
//! (EAI_NOTCANCELED), a finished one reports EAI_ALLDONE.
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use libc::{c_void, sigevent, timespec};

use super::*;

/// glibc's `struct gaicb`.
#[repr(C)]
pub struct Gaicb {
    ar_name: *const c_char,
    ar_service: *const c_char,
    ar_request: *const addrinfo,
    ar_result: *mut addrinfo,
    ret: c_int,
    reserved: [c_int; 5],
}

const GAI_WAIT: c_int = 0;
const GAI_NOWAIT: c_int = 1;
const EAI_INPROGRESS: c_int = -100;
const EAI_NOTCANCELED: c_int = -102;
const EAI_ALLDONE: c_int = -103;
const EAI_SYSTEM: c_int = -11;

/// A request's `__return`, shared with the thread that resolves it.
unsafe fn state<'a>(r: *mut Gaicb) -> &'a AtomicI32 {
    &*(std::ptr::addr_of_mut!((*r).ret) as *const AtomicI32)
}

/// Resolves every request of `reqs` (addresses of `Gaicb`s), publishing each result.
unsafe fn run(reqs: &[usize]) {
    for &r in reqs {
        let r = r as *mut Gaicb;
        let mut res = ptr::null_mut();
        let e = super::gai::getaddrinfo((*r).ar_name, (*r).ar_service, (*r).ar_request, &mut res);
        (*r).ar_result = res;
        state(r).store(e, Ordering::Release);
    }
}

/// The notification a GAI_NOWAIT list asks for once it is resolved (the parts of a `sigevent`
/// it needs: SIGEV_THREAD's function is the union member after `sigev_notify`).
#[derive(Clone, Copy)]
struct Notify {
    kind: c_int,
    signo: c_int,
    value: usize,
    func: usize,
}

impl Notify {
    unsafe fn of(sev: *const sigevent) -> Option<Notify> {
        let s = sev.as_ref()?;
        let func = std::ptr::read_unaligned((sev as *const u8).add(16) as *const usize);
        Some(Notify { kind: s.sigev_notify, signo: s.sigev_signo, value: s.sigev_value.sival_ptr as usize, func })
    }

    unsafe fn send(self) {
        let value = libc::sigval { sival_ptr: self.value as *mut c_void };
        match self.kind {
            libc::SIGEV_SIGNAL => {
                libc::sigqueue(libc::getpid(), self.signo, value);
            }
            libc::SIGEV_THREAD if self.func != 0 => {
                let f: extern "C" fn(libc::sigval) = std::mem::transmute(self.func);
                let v = self.value;
                let _ = std::thread::Builder::new().spawn(move || f(libc::sigval { sival_ptr: v as *mut c_void }));
            }
            _ => {}
        }
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getaddrinfo_a(mode: c_int, list: *const *mut Gaicb, n: c_int, sev: *const sigevent) -> c_int {
    if (mode != GAI_WAIT && mode != GAI_NOWAIT) || n < 0 || (list.is_null() && n > 0) {
        crate::set_errno(libc::EINVAL);
        return EAI_SYSTEM;
    }
    let reqs: Vec<usize> = (0..n as usize).map(|i| *list.add(i) as usize).filter(|&r| r != 0).collect();
    for &r in &reqs {
        state(r as *mut Gaicb).store(EAI_INPROGRESS, Ordering::Release);
    }
    if mode == GAI_WAIT {
        run(&reqs);
        return 0;
    }
    let notify = Notify::of(sev);
    let work = move || {
        // SAFETY: the program keeps its requests alive until gai_error says they are done.
        unsafe {
            run(&reqs);
            if let Some(n) = notify {
                n.send();
            }
        }
    };
    match std::thread::Builder::new().name("tapstack-gai".into()).spawn(work) {
        Ok(_) => 0,
        Err(_) => libc::EAI_AGAIN,
    }
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gai_error(req: *mut Gaicb) -> c_int {
    state(req).load(Ordering::Acquire)
}

#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gai_cancel(req: *mut Gaicb) -> c_int {
    if req.is_null() || state(req).load(Ordering::Acquire) != EAI_INPROGRESS {
        EAI_ALLDONE
    } else {
        EAI_NOTCANCELED
    }
}

/// Waits until one of the listed requests that are in progress is done (0), or the timeout
/// passes (EAI_AGAIN); EAI_ALLDONE at once when none listed is in progress, as glibc's
/// __gai_suspend (a finished request does not end the wait for the others).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gai_suspend(list: *const *const Gaicb, n: c_int, timeout: *const timespec) -> c_int {
    let reqs: Vec<*mut Gaicb> = (0..n.max(0) as usize)
        .map(|i| *list.add(i) as *mut Gaicb)
        .filter(|r| !r.is_null() && state(*r).load(Ordering::Acquire) == EAI_INPROGRESS)
        .collect();
    if reqs.is_empty() {
        return EAI_ALLDONE;
    }
    let deadline = (!timeout.is_null()).then(|| {
        Instant::now() + Duration::new((*timeout).tv_sec.max(0) as u64, (*timeout).tv_nsec.clamp(0, 999_999_999) as u32)
    });
    loop {
        if reqs.iter().any(|&r| state(r).load(Ordering::Acquire) != EAI_INPROGRESS) {
            return 0;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return libc::EAI_AGAIN;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
