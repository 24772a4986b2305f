//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait (docs/preload.md, "epoll").
//!
//! Kernel descriptors go into the real epoll set untouched. A tapstack socket's eventfd is
//! added to the real set (level-triggered, with a tagged `data` the program can never produce:
//! `TAG | fd`, above any user-space pointer) so a change wakes the kernel wait; the program's
//! events and data are kept here. `epoll_wait` reports our sockets from stack readiness:
//! level-triggered ones whenever ready, EPOLLET ones only after a change since they were last
//! reported (per-socket change counter), EPOLLONESHOT ones once until re-armed by EPOLL_CTL_MOD.
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use libc::{c_int, epoll_event, sigset_t};
use parking_lot::Mutex;

use crate::fdtable::{Sock, EPOLLS, SOCKS};
use crate::poll::{poll_bits, readiness};
use crate::{fail, real, rt};

const TAG: u64 = 0x7461_7073_0000_0000; // "taps"
const TAG_MASK: u64 = 0xffff_ffff_0000_0000;
/// Longest single kernel wait (re-checks stack readiness after it; it bounds the delay when
/// another thread waiting on the same epoll instance consumed a socket's wakeup).
const SLICE: Duration = Duration::from_millis(1000);

struct Reg {
    fd: c_int,
    sock: Weak<Sock>,
    events: u32,
    data: u64,
    /// EPOLLONESHOT fired; silent until EPOLL_CTL_MOD.
    disabled: bool,
    /// The socket's change counter when last reported (EPOLLET).
    seen_gen: u64,
}

/// The tapstack side of one epoll instance.
#[derive(Default)]
pub struct EpollSet {
    regs: Mutex<Vec<Reg>>,
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    real::epoll_create(size)
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    real::epoll_create1(flags)
}

fn set_for(epfd: c_int) -> Arc<EpollSet> {
    if let Some(s) = EPOLLS.get(epfd) {
        return s;
    }
    let s = Arc::new(EpollSet::default());
    drop(EPOLLS.replace(epfd, Some(s.clone())));
    s
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
    if !SOCKS.contains(fd) {
        return real::epoll_ctl(epfd, op, fd, ev);
    }
    let Some(sock) = SOCKS.get(fd) else { return real::epoll_ctl(epfd, op, fd, ev) };
    let Some(_guard) = crate::ShimGuard::enter() else { return real::epoll_ctl(epfd, op, fd, ev) };
    if rt::in_forked_child() {
        return fail(rt::child_errno());
    }
    if epfd == fd {
        return fail(libc::EINVAL);
    }
    if op != libc::EPOLL_CTL_DEL && ev.is_null() {
        return fail(libc::EFAULT);
    }
    // The tapstack side of this epoll instance; created only by a successful ADD, so a bad
    // epfd never gets an entry.
    let set = match (EPOLLS.get(epfd), op) {
        (Some(s), _) => s,
        (None, libc::EPOLL_CTL_ADD) => {
            let mut kev = epoll_event { events: libc::EPOLLIN as u32, u64: TAG | fd as u32 as u64 };
            if real::epoll_ctl(epfd, op, fd, &mut kev) < 0 {
                return -1;
            }
            real::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, &mut kev);
            set_for(epfd)
        }
        // MOD/DEL of a socket never added here: the kernel gives EBADF/EINVAL/ENOENT.
        (None, _) => return real::epoll_ctl(epfd, op, fd, ev),
    };
    let mut regs = set.regs.lock();
    // Forget registrations whose descriptor was closed (the kernel dropped them too).
    regs.retain(|r| {
        r.sock.strong_count() > 0 && SOCKS.get(r.fd).is_some_and(|s| Weak::ptr_eq(&r.sock, &Arc::downgrade(&s)))
    });
    let pos = regs.iter().position(|r| r.fd == fd);
    match op {
        libc::EPOLL_CTL_ADD => {
            if pos.is_some() {
                return fail(libc::EEXIST);
            }
            let mut kev = epoll_event { events: libc::EPOLLIN as u32, u64: TAG | fd as u32 as u64 };
            if real::epoll_ctl(epfd, op, fd, &mut kev) < 0 {
                return -1;
            }
            sock.sig.armed.store(true, Ordering::Release);
            let gen = sock.sig.gen.load(Ordering::Acquire);
            regs.push(Reg {
                fd,
                sock: Arc::downgrade(&sock),
                events: (*ev).events,
                data: (*ev).u64,
                disabled: false,
                seen_gen: gen.wrapping_sub(1),
            });
            0
        }
        libc::EPOLL_CTL_MOD => {
            let Some(p) = pos else { return fail(libc::ENOENT) };
            let r = &mut regs[p];
            r.events = (*ev).events;
            r.data = (*ev).u64;
            r.disabled = false;
            r.seen_gen = sock.sig.gen.load(Ordering::Acquire).wrapping_sub(1);
            0
        }
        libc::EPOLL_CTL_DEL => {
            let Some(p) = pos else { return fail(libc::ENOENT) };
            regs.remove(p);
            real::epoll_ctl(epfd, op, fd, ev);
            0
        }
        _ => fail(libc::EINVAL),
    }
}

/// One pass over our registrations: fills `out` with ready ones (up to its length).
fn collect_ours(set: &EpollSet, out: &mut Vec<epoll_event>, max: usize) {
    let Some(rt) = rt::running() else { return };
    let mut regs = set.regs.lock();
    let socks: Vec<Option<Arc<Sock>>> = regs.iter().map(|r| r.sock.upgrade()).collect();
    {
        let g = rt.lock();
        for (r, s) in regs.iter_mut().zip(socks.iter()) {
            if out.len() >= max {
                break;
            }
            let Some(s) = s else { continue };
            if r.disabled {
                continue;
            }
            let want = r.events | libc::EPOLLERR as u32 | libc::EPOLLHUP as u32;
            let rd = crate::dual::readiness_override(s).unwrap_or_else(|| readiness(&g, s.proto));
            let bits = poll_bits(rd) as u16 as u32 & want;
            if bits == 0 {
                continue;
            }
            if r.events & libc::EPOLLET as u32 != 0 {
                let gen = s.sig.gen.load(Ordering::Acquire);
                if gen == r.seen_gen {
                    continue;
                }
                r.seen_gen = gen;
            }
            if r.events & libc::EPOLLONESHOT as u32 != 0 {
                r.disabled = true;
            }
            out.push(epoll_event { events: bits, u64: r.data });
        }
    }
    drop(regs);
    // Socket references drop here, outside both locks.
    drop(socks);
}

unsafe fn wait_impl(
    epfd: c_int,
    evs: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
) -> Option<c_int> {
    if !EPOLLS.contains(epfd) || max <= 0 || evs.is_null() {
        return None;
    }
    let set = EPOLLS.get(epfd)?;
    let _guard = crate::ShimGuard::enter()?;
    let deadline = (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    let max = max as usize;
    let mut out: Vec<epoll_event> = Vec::with_capacity(max);
    let mut kbuf: Vec<epoll_event> = vec![epoll_event { events: 0, u64: 0 }; max];
    loop {
        out.clear();
        collect_ours(&set, &mut out, max);
        let slice = if !out.is_empty() {
            0
        } else {
            let rem = deadline.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or(SLICE).min(SLICE);
            rem.as_millis().max(if rem.is_zero() { 0 } else { 1 }) as c_int
        };
        let n = real::epoll_pwait(epfd, kbuf.as_mut_ptr(), max as c_int, slice, mask);
        if n < 0 && out.is_empty() {
            return Some(-1);
        }
        let mut fired = false;
        for ev in kbuf.iter().take(n.max(0) as usize) {
            let (events, data) = (ev.events, ev.u64);
            if data & TAG_MASK == TAG {
                let fd = (data & 0xffff_ffff) as c_int;
                if let Some(s) = SOCKS.get(fd) {
                    s.sig.drain(fd);
                }
                fired = true;
            } else if out.len() < max {
                out.push(epoll_event { events, u64: data });
            }
        }
        if !out.is_empty() {
            std::ptr::copy_nonoverlapping(out.as_ptr(), evs, out.len());
            return Some(out.len() as c_int);
        }
        if !fired && deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(0);
        }
    }
}

/// After a kernel wait on a set that held no tapstack socket when the wait began: another
/// thread may have added one meanwhile, whose tagged eventfd woke this one. Tagged events never
/// reach the program: they become the sockets' own events (with the program's data), and if
/// nothing is left the wait goes on as ours for the rest of the timeout.
unsafe fn untag(
    epfd: c_int,
    evs: *mut epoll_event,
    n: c_int,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
    start: Instant,
) -> c_int {
    if n <= 0 || evs.is_null() {
        return n;
    }
    let got = std::slice::from_raw_parts(evs, n as usize);
    if !got.iter().any(|e| e.u64 & TAG_MASK == TAG) {
        return n;
    }
    let mut out: Vec<epoll_event> = Vec::with_capacity(max as usize);
    for e in got {
        let (events, data) = (e.events, e.u64);
        if data & TAG_MASK == TAG {
            if let Some(s) = SOCKS.get((data & 0xffff_ffff) as c_int) {
                s.sig.drain((data & 0xffff_ffff) as c_int);
            }
        } else {
            out.push(epoll_event { events, u64: data });
        }
    }
    if let (Some(set), Some(_g)) = (EPOLLS.get(epfd), crate::ShimGuard::enter()) {
        collect_ours(&set, &mut out, max as usize);
    }
    if !out.is_empty() {
        std::ptr::copy_nonoverlapping(out.as_ptr(), evs, out.len());
        return out.len() as c_int;
    }
    let rest = if timeout < 0 {
        -1
    } else {
        (timeout as u128).saturating_sub(start.elapsed().as_millis()).min(c_int::MAX as u128) as c_int
    };
    match wait_impl(epfd, evs, max, rest, mask) {
        Some(r) => r,
        // The tagged socket left the set meanwhile: the kernel's wait, as the program asked.
        None => real::epoll_pwait(epfd, evs, max, rest, mask),
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(epfd: c_int, evs: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    match wait_impl(epfd, evs, max, timeout, std::ptr::null()) {
        Some(r) => r,
        None => {
            let start = Instant::now();
            let n = real::epoll_wait(epfd, evs, max, timeout);
            untag(epfd, evs, n, max, timeout, std::ptr::null(), start)
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    evs: *mut epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const sigset_t,
) -> c_int {
    match wait_impl(epfd, evs, max, timeout, mask) {
        Some(r) => r,
        None => {
            let start = Instant::now();
            let n = real::epoll_pwait(epfd, evs, max, timeout, mask);
            untag(epfd, evs, n, max, timeout, mask, start)
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    evs: *mut epoll_event,
    max: c_int,
    ts: *const libc::timespec,
    mask: *const sigset_t,
) -> c_int {
    // Our wait works in milliseconds: round a timeout up so it never ends early.
    let timeout = if ts.is_null() {
        -1
    } else {
        let t = &*ts;
        if t.tv_sec < 0 || t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000 {
            return real::epoll_pwait2(epfd, evs, max, ts, mask);
        }
        let ms = (t.tv_sec as i128) * 1000 + (t.tv_nsec as i128 + 999_999) / 1_000_000;
        ms.min(c_int::MAX as i128) as c_int
    };
    match wait_impl(epfd, evs, max, timeout, mask) {
        Some(r) => r,
        None => {
            let start = Instant::now();
            let n = real::epoll_pwait2(epfd, evs, max, ts, mask);
            untag(epfd, evs, n, max, timeout, mask, start)
        }
    }
}
