//! poll, ppoll, __poll_chk, select, pselect over mixed sets (docs/preload.md, "poll/select").
//! (`__fdelt_chk`, the FD_SET bounds check, needs no hook and passes through.)
//!
//! Readiness of tapstack sockets comes from the stack; kernel descriptors are polled by the
//! kernel together with our sockets' eventfds, which the stack thread signals when a socket
//! changes. Each round: drain our eventfds, compute our readiness, then poll the kernel (with
//! timeout 0 if something of ours is ready). The deadline is computed once, up front. The
//! kernel wait is cut into slices of at most `SLICE` so a wakeup consumed by another thread
//! polling the same socket costs at most that much latency.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libc::{c_int, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};
use tapstack::socket::Readiness;
use tapstack::Stack;

use crate::fdtable::{Proto, Sock, SOCKS};
use crate::{fail, real, rt};

const SLICE: Duration = Duration::from_millis(200);
/// Safety-net slice when waiting on the thread's own eventfd (no wakeup can be lost there).
const OWN_SLICE: Duration = Duration::from_secs(5);

/// poll(2) bits for a readiness, as tcp_poll/udp_poll set them.
pub(crate) fn poll_bits(r: Readiness) -> i16 {
    let mut m = 0;
    if r.readable {
        m |= libc::POLLIN | libc::POLLRDNORM;
    }
    if r.writable {
        m |= libc::POLLOUT | libc::POLLWRNORM;
    }
    if r.read_hup {
        m |= libc::POLLRDHUP;
    }
    if r.hup {
        m |= libc::POLLHUP;
    }
    if r.error {
        m |= libc::POLLERR;
    }
    m
}

pub(crate) fn readiness(stack: &Stack, p: Proto) -> Readiness {
    match p {
        Proto::Tcp(h) => stack.tcp.readiness(h),
        Proto::Udp(h) => stack.udp.readiness(h),
    }
}

fn to_timespec(d: Duration) -> timespec {
    timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as libc::c_long }
}

/// Our sockets in a poll set: (index, socket).
fn ours_in(fds: &[pollfd]) -> Vec<(usize, Arc<Sock>)> {
    let mut v = Vec::new();
    for (i, p) in fds.iter().enumerate() {
        if SOCKS.contains(p.fd) {
            if let Some(s) = SOCKS.get(p.fd) {
                v.push((i, s));
            }
        }
    }
    v
}

/// The shared engine of poll/ppoll/select/pselect once at least one of our sockets is involved.
/// `timeout` None waits forever.
pub(crate) unsafe fn poll_mixed(
    user: &mut [pollfd],
    ours: &[(usize, Arc<Sock>)],
    timeout: Option<Duration>,
    sigmask: *const sigset_t,
) -> c_int {
    let Some(rt) = rt::running() else {
        // A forked child: inherited sockets are invalid here.
        for (i, _) in ours {
            user[*i].revents = libc::POLLNVAL;
        }
        return ours.len() as c_int;
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut is_ours = vec![usize::MAX; user.len()];
    for (k, (i, _)) in ours.iter().enumerate() {
        is_ours[*i] = k;
    }
    let mut tmp: Vec<pollfd> = user.to_vec();
    // Preferably this thread's own wait eventfd, registered on each of our sockets (no other
    // thread can consume its wakeups); else the sockets' shared eventfds, in slices.
    let own = rt::wait_fd();
    let _regs: Vec<crate::fdtable::Waiter<'_>> = match own {
        Some(w) => ours.iter().map(|(_, s)| crate::fdtable::Waiter::new(&s.sig, w)).collect(),
        None => Vec::new(),
    };
    for (i, s) in ours {
        if own.is_some() {
            tmp[*i].fd = -1; // ignored by the kernel; readiness comes from the stack
        } else {
            s.sig.armed.store(true, Ordering::Release);
            tmp[*i].events = libc::POLLIN;
        }
    }
    if let Some(w) = own {
        tmp.push(pollfd { fd: w, events: libc::POLLIN, revents: 0 });
    }
    let cap = if own.is_some() { OWN_SLICE } else { SLICE };
    let mut ours_rev = vec![0i16; ours.len()];
    loop {
        match own {
            Some(w) => crate::real::eventfd_drain(w),
            None => {
                for (i, s) in ours {
                    s.sig.drain(user[*i].fd);
                }
            }
        }
        {
            let g = rt.lock();
            for (k, (i, s)) in ours.iter().enumerate() {
                let want = user[*i].events | libc::POLLERR | libc::POLLHUP;
                let r = crate::dual::readiness_override(s).unwrap_or_else(|| readiness(&g, s.proto));
                ours_rev[k] = poll_bits(r) & want;
            }
        }
        let nready = ours_rev.iter().filter(|&&r| r != 0).count();
        let slice = if nready > 0 {
            Duration::ZERO
        } else {
            let rem = deadline.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or(cap);
            rem.min(cap)
        };
        for t in tmp.iter_mut() {
            t.revents = 0;
        }
        let ts = to_timespec(slice);
        let r = real::ppoll(tmp.as_mut_ptr(), tmp.len() as nfds_t, &ts, sigmask);
        if r < 0 && nready == 0 {
            return -1;
        }
        let mut total = 0;
        for (j, u) in user.iter_mut().enumerate() {
            u.revents = match is_ours[j] {
                usize::MAX if r >= 0 => tmp[j].revents,
                usize::MAX => 0,
                k => ours_rev[k],
            };
            if u.revents != 0 {
                total += 1;
            }
        }
        if total > 0 {
            return total;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
    }
}

unsafe fn poll_impl(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: Option<Duration>,
    sigmask: *const sigset_t,
) -> Option<c_int> {
    if fds.is_null() || nfds == 0 {
        return None;
    }
    let user = std::slice::from_raw_parts_mut(fds, nfds as usize);
    let ours = ours_in(user);
    if ours.is_empty() {
        return None;
    }
    let _guard = crate::ShimGuard::enter()?;
    Some(poll_mixed(user, &ours, timeout, sigmask))
}

fn ms_timeout(t: c_int) -> Option<Duration> {
    (t >= 0).then(|| Duration::from_millis(t as u64))
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    match poll_impl(fds, nfds, ms_timeout(timeout), std::ptr::null()) {
        Some(r) => r,
        None => {
            let r = real::poll(fds, nfds, timeout);
            if r > 0 {
                crate::svc::route::fix_poll(fds, nfds);
            }
            r
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn __poll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: c_int, fdslen: size_t) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < nfds as usize {
        libc::abort();
    }
    match poll_impl(fds, nfds, ms_timeout(timeout), std::ptr::null()) {
        Some(r) => r,
        None => {
            let r = real::__poll_chk(fds, nfds, timeout, fdslen);
            if r > 0 {
                crate::svc::route::fix_poll(fds, nfds);
            }
            r
        }
    }
}

unsafe fn ts_timeout(ts: *const timespec) -> Result<Option<Duration>, c_int> {
    if ts.is_null() {
        return Ok(None);
    }
    let t = &*ts;
    if t.tv_sec < 0 || t.tv_nsec < 0 || t.tv_nsec >= 1_000_000_000 {
        return Err(libc::EINVAL);
    }
    Ok(Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32)))
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(fds: *mut pollfd, nfds: nfds_t, ts: *const timespec, mask: *const sigset_t) -> c_int {
    let Ok(timeout) = ts_timeout(ts) else { return real::ppoll(fds, nfds, ts, mask) };
    match poll_impl(fds, nfds, timeout, mask) {
        Some(r) => r,
        None => {
            let r = real::ppoll(fds, nfds, ts, mask);
            if r > 0 {
                crate::svc::route::fix_poll(fds, nfds);
            }
            r
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    ts: *const timespec,
    mask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    if (fdslen / std::mem::size_of::<pollfd>()) < nfds as usize {
        libc::abort();
    }
    let Ok(timeout) = ts_timeout(ts) else { return real::__ppoll_chk(fds, nfds, ts, mask, fdslen) };
    match poll_impl(fds, nfds, timeout, mask) {
        Some(r) => r,
        None => {
            let r = real::__ppoll_chk(fds, nfds, ts, mask, fdslen);
            if r > 0 {
                crate::svc::route::fix_poll(fds, nfds);
            }
            r
        }
    }
}

/// select/pselect: converted to a poll set when one of our sockets is in it (Linux's
/// POLLIN_SET/POLLOUT_SET/POLLEX_SET mapping).
unsafe fn select_impl(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    timeout: Option<Duration>,
    sigmask: *const sigset_t,
) -> Option<c_int> {
    let n = n.clamp(0, libc::FD_SETSIZE as c_int);
    let isset = |set: *mut fd_set, fd: c_int| !set.is_null() && libc::FD_ISSET(fd, set);
    let mut any = false;
    let mut fds: Vec<pollfd> = Vec::new();
    for fd in 0..n {
        let mut ev = 0;
        if isset(r, fd) {
            ev |= libc::POLLIN;
        }
        if isset(w, fd) {
            ev |= libc::POLLOUT;
        }
        if isset(e, fd) {
            ev |= libc::POLLPRI;
        }
        if ev != 0 {
            any |= SOCKS.contains(fd);
            fds.push(pollfd { fd, events: ev, revents: 0 });
        }
    }
    if !any {
        return None;
    }
    let ours = ours_in(&fds);
    if ours.is_empty() {
        return None;
    }
    let _guard = crate::ShimGuard::enter()?;
    let rc = poll_mixed(&mut fds, &ours, timeout, sigmask);
    if rc < 0 {
        return Some(-1);
    }
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return Some(fail(libc::EBADF));
    }
    for set in [r, w, e] {
        if !set.is_null() {
            libc::FD_ZERO(set);
        }
    }
    let mut count = 0;
    for p in &fds {
        let rv = p.revents;
        if p.events & libc::POLLIN != 0 && rv & (libc::POLLIN | libc::POLLRDNORM | libc::POLLHUP | libc::POLLERR) != 0 {
            libc::FD_SET(p.fd, r);
            count += 1;
        }
        if p.events & libc::POLLOUT != 0 && rv & (libc::POLLOUT | libc::POLLWRNORM | libc::POLLERR) != 0 {
            libc::FD_SET(p.fd, w);
            count += 1;
        }
        if p.events & libc::POLLPRI != 0 && rv & libc::POLLPRI != 0 {
            libc::FD_SET(p.fd, e);
            count += 1;
        }
    }
    Some(count)
}

#[no_mangle]
pub unsafe extern "C" fn select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tv: *mut timeval) -> c_int {
    let timeout = if tv.is_null() {
        None
    } else {
        let t = &*tv;
        if t.tv_sec < 0 || t.tv_usec < 0 {
            return real::select(n, r, w, e, tv);
        }
        Some(Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64))
    };
    let start = Instant::now();
    match select_impl(n, r, w, e, timeout, std::ptr::null()) {
        Some(rc) => {
            // Linux writes back the time not slept.
            if let (Some(t), false) = (timeout, tv.is_null()) {
                let left = t.saturating_sub(start.elapsed());
                (*tv).tv_sec = left.as_secs() as libc::time_t;
                (*tv).tv_usec = left.subsec_micros() as libc::suseconds_t;
            }
            rc
        }
        None => real::select(n, r, w, e, tv),
    }
}

#[no_mangle]
pub unsafe extern "C" fn pselect(
    n: c_int,
    r: *mut fd_set,
    w: *mut fd_set,
    e: *mut fd_set,
    ts: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    let Ok(timeout) = ts_timeout(ts) else { return real::pselect(n, r, w, e, ts, mask) };
    match select_impl(n, r, w, e, timeout, mask) {
        Some(rc) => rc,
        None => real::pselect(n, r, w, e, ts, mask),
    }
}
