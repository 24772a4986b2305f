//! Keepers: processes that hold the service's end of idle connections' pairs, so the number of
//! connections is not capped by the service's own RLIMIT_NOFILE.
//!
//! The service holds one descriptor per socket (its end `a` of the socketpair whose other end
//! the program holds). Without CAP_SYS_RESOURCE the hard RLIMIT_NOFILE of one process (20,000
//! in this project's containers) caps what one service can serve, while Linux itself holds a
//! socket without any descriptor of its own. When the service nears its limit it hands the `a`
//! of connections idle for a while to a keeper (`tapstackd --keeper`, one more process per
//! ~20,000 held) over a SOCK_SEQPACKET pair with SCM_RIGHTS, and closes its copy. The keeper
//! watches each for the program's side (a write, a shutdown or a close makes `a` readable or
//! hung up) and gives it straight back; the service asks for one back (`Keepers::fetch`) as
//! soon as it has to touch it (data or a FIN from the peer, a request naming the socket). The
//! connection's state stays in the service: a keeper only holds descriptors.
//!
//! Two SOCK_SEQPACKET pairs per keeper. On the first, STORE (service -> keeper, with the
//! descriptor) and the keeper's own RETURNs (with the descriptor); the service reads those only
//! while it has descriptors to spare (one it cannot install is lost). On the second, FETCH and
//! its answer, one at a time: RETURN with the descriptor, or without one when it is already
//! on its way back on the first pair. Records are 16 bytes: op (u32), 0 (u32), ticket (u64); a
//! ticket is unique per store, the keeper's index in its top 16 bits.
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::fdpass;

const OP_STORE: u32 = 1;
const OP_FETCH: u32 = 2;
const OP_RETURN: u32 = 3;
/// At most this many keepers (each ~20,000 descriptors here): the stack's own table and memory
/// bound the connections long before.
const MAX_KEEPERS: usize = 16;
/// How long the service waits for a descriptor it asked back before giving the socket up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// How soon the loop looks again while programs or keepers wait for descriptors.
pub const RETRY: Duration = Duration::from_millis(20);

/// Descriptor budget of a service whose limit is `limit`: above `high` in hand, idle
/// connections are stored until `low` are; fewer than `spare` free and anything idle goes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    pub high: usize,
    pub low: usize,
    pub spare: usize,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        let limit = limit.min(1 << 40) as usize;
        Budget {
            high: limit - (limit / 8).min(1024),
            low: limit - (limit / 4).min(2048),
            spare: limit - (limit / 32).clamp(8, 64),
        }
    }
}

fn record(op: u32, ticket: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0..4].copy_from_slice(&op.to_le_bytes());
    m[8..16].copy_from_slice(&ticket.to_le_bytes());
    m
}

fn parse(d: &[u8]) -> Option<(u32, u64)> {
    if d.len() != 16 {
        return None;
    }
    let op = u32::from_le_bytes(d[0..4].try_into().ok()?);
    Some((op, u64::from_le_bytes(d[8..16].try_into().ok()?)))
}

struct Keeper {
    /// The service's end of the control pair (stores and the keeper's own returns).
    fd: i32,
    /// The service's end of the fetch pair.
    fetch_fd: i32,
    held: usize,
    cap: usize,
}

/// The service's side: its keepers and what they hold.
#[derive(Default)]
pub struct Keepers {
    list: Vec<Keeper>,
    seq: u64,
    /// Descriptors stored / given back, since the start (counters).
    pub stores: u64,
    pub returns: u64,
    /// Spawning a keeper failed once: do not try again (the service then works as before).
    broken: bool,
}

impl Keepers {
    /// No keeper could be started: nothing can be stored.
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// The control descriptors, with their keeper's index (for epoll).
    pub fn control_fds(&self) -> impl Iterator<Item = (usize, i32)> + '_ {
        self.list.iter().enumerate().map(|(i, k)| (i, k.fd))
    }

    /// Hands `a` to a keeper. On success the caller closes its copy (after taking it out of its
    /// epoll set). Returns the ticket and, when a keeper was started for it, its control fd.
    pub fn store(&mut self, a: i32) -> Result<(u64, Option<i32>), i32> {
        let mut new = None;
        let k = match self.list.iter().position(|k| k.held < k.cap) {
            Some(k) => k,
            None => {
                new = Some(self.spawn()?);
                self.list.len() - 1
            }
        };
        self.seq += 1;
        let ticket = (k as u64) << 48 | (self.seq & ((1 << 48) - 1));
        fdpass::send_with_fd(self.list[k].fd, &record(OP_STORE, ticket), Some(a), 0)?;
        self.list[k].held += 1;
        self.stores += 1;
        Ok((ticket, new))
    }

    /// Asks for the descriptor of `ticket` back and waits for the answer: Some(fd), or None
    /// when the keeper has already sent it back on its own (it arrives through `take_returns`).
    pub fn fetch(&mut self, ticket: u64) -> Result<Option<i32>, i32> {
        let k = (ticket >> 48) as usize;
        let fd = self.list.get(k).ok_or(libc::EBADF)?.fetch_fd;
        fdpass::send(fd, &record(OP_FETCH, ticket), libc::MSG_NOSIGNAL)?;
        let deadline = std::time::Instant::now() + FETCH_TIMEOUT;
        let mut buf = [0u8; 32];
        loop {
            match fdpass::recv_with_fd(fd, &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, _)) => return Err(libc::EPIPE),
                Ok((n, got)) => match parse(&buf[..n]) {
                    Some((OP_RETURN, t)) if t == ticket => {
                        if got.is_some() {
                            self.list[k].held = self.list[k].held.saturating_sub(1);
                            self.returns += 1;
                        }
                        return Ok(got);
                    }
                    _ => {
                        if let Some(f) = got {
                            let _ = crate::sys::close(f);
                        }
                    }
                },
                Err(libc::EAGAIN) | Err(libc::EINTR) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(libc::ETIMEDOUT);
                    }
                    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                    match crate::sys::ppoll(std::slice::from_mut(&mut p), Some(left)) {
                        Ok(_) | Err(libc::EINTR) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every RETURN already queued by keeper `k`, at most `max` of them (the service's free
    /// descriptors: one that cannot be installed would be lost).
    pub fn take_returns(&mut self, k: usize, max: usize, out: &mut Vec<(u64, i32)>) -> Result<(), i32> {
        for _ in 0..max {
            match self.take_one(k)? {
                Some(r) => out.push(r),
                None => break,
            }
        }
        Ok(())
    }

    fn take_one(&mut self, k: usize) -> Result<Option<(u64, i32)>, i32> {
        let Some(kp) = self.list.get_mut(k) else { return Err(libc::EBADF) };
        let mut buf = [0u8; 32];
        loop {
            match fdpass::recv_with_fd(kp.fd, &mut buf, libc::MSG_DONTWAIT) {
                Ok((0, _)) => return Err(libc::EPIPE), // the keeper is gone
                Ok((n, fd)) => match (parse(&buf[..n]), fd) {
                    (Some((OP_RETURN, t)), Some(fd)) => {
                        kp.held = kp.held.saturating_sub(1);
                        self.returns += 1;
                        return Ok(Some((t, fd)));
                    }
                    (_, fd) => {
                        if let Some(fd) = fd {
                            let _ = crate::sys::close(fd);
                        }
                    }
                },
                Err(libc::EAGAIN) => return Ok(None),
                Err(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts one more keeper: this program (`tapstackd`) or the `tapstackd` beside it, run as
    /// `--keeper FD`.
    fn spawn(&mut self) -> Result<i32, i32> {
        if self.broken || self.list.len() >= MAX_KEEPERS {
            return Err(libc::EMFILE);
        }
        let r = self.spawn_inner();
        if r.is_err() {
            self.broken = true;
            tracing::error!(target: "tapstack::service", "cannot start a keeper: idle connections stay in the service");
        }
        r
    }

    fn spawn_inner(&mut self) -> Result<i32, i32> {
        let exe = std::env::current_exe().map_err(|_| libc::ENOENT)?;
        let bin = if exe.file_name().is_some_and(|n| n == "tapstackd") { exe } else { exe.with_file_name("tapstackd") };
        if !bin.is_file() {
            return Err(libc::ENOENT);
        }
        let (ours, theirs) = fdpass::socketpair(libc::SOCK_SEQPACKET)?;
        let (f_ours, f_theirs) = match fdpass::socketpair(libc::SOCK_SEQPACKET) {
            Ok(p) => p,
            Err(e) => {
                let _ = crate::sys::close(ours);
                let _ = crate::sys::close(theirs);
                return Err(e);
            }
        };
        for fd in [ours, theirs] {
            let _ = fdpass::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20);
        }
        // The keeper's ends cross exec; ours do not.
        let _ = crate::sys::fcntl(theirs, libc::F_SETFD, 0);
        let _ = crate::sys::fcntl(f_theirs, libc::F_SETFD, 0);
        let child = std::process::Command::new(&bin)
            .arg("--keeper")
            .arg(theirs.to_string())
            .arg(f_theirs.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn();
        let _ = crate::sys::close(theirs);
        let _ = crate::sys::close(f_theirs);
        let child = child.map_err(|e| {
            let _ = crate::sys::close(ours);
            let _ = crate::sys::close(f_ours);
            e.raw_os_error().unwrap_or(libc::EIO)
        })?;
        let cap = crate::sys::raise_nofile_limit().unwrap_or(1024).min(1 << 40) as usize;
        tracing::info!(target: "tapstack::service", "keeper {} started (pid {})", self.list.len(), child.id());
        // Reaped by init once the service is gone (it ends when its control pair closes).
        std::mem::forget(child);
        self.list.push(Keeper { fd: ours, fetch_fd: f_ours, held: 0, cap: cap.saturating_sub(64).max(16) });
        Ok(ours)
    }
}

/// The keeper's side: reads every STORE queued on the control pair, holds each descriptor and
/// watches it (`out` gets those that cannot be watched: back at once). False when the service
/// is gone.
fn take_stores(ctl: i32, ep: i32, held: &mut HashMap<u64, i32>, out: &mut VecDeque<u64>) -> bool {
    let watch = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
    let mut buf = [0u8; 32];
    loop {
        match fdpass::recv_with_fd(ctl, &mut buf, libc::MSG_DONTWAIT) {
            Ok((0, _)) => return false,
            Ok((k, Some(fd))) => match parse(&buf[..k]) {
                Some((OP_STORE, t)) => {
                    held.insert(t, fd);
                    if fdpass::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, watch, t).is_err() {
                        out.push_back(t);
                    }
                }
                _ => {
                    let _ = crate::sys::close(fd);
                }
            },
            Ok(_) | Err(libc::EINTR) => continue,
            Err(libc::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
}

/// The keeper process (`tapstackd --keeper CTL FETCH`): holds what the service stores, gives
/// each back when its program end moves or when asked, exits when the service is gone.
/// Returns the exit status.
pub fn keeper_main(ctl: i32, fetch: i32) -> i32 {
    // Nothing else of the service's: the two pairs become 3 and 4, every other inherited
    // descriptor is closed.
    let moved = |from: i32, to: i32| {
        if from != to && crate::sys::unix::dup_to(from, to).is_ok() {
            let _ = crate::sys::close(from);
        }
    };
    let fetch = if fetch == 3 {
        moved(3, 5);
        5
    } else {
        fetch
    };
    moved(ctl, 3);
    moved(fetch, 4);
    let (ctl, fetch) = (3, 4);
    let _ = crate::sys::unix::close_from(5);
    // PR_SET_PDEATHSIG fires when the thread that forked us ends: the service is one thread.
    let _ = crate::sys::unix::die_with_parent();
    let _ = crate::sys::raise_nofile_limit();
    let Ok(ep) = fdpass::epoll_create() else { return 1 };
    const CTL: u64 = u64::MAX;
    const FETCH: u64 = u64::MAX - 1;
    let mut ctl_events = libc::EPOLLIN as u32;
    if fdpass::epoll_ctl(ep, libc::EPOLL_CTL_ADD, ctl, ctl_events, CTL).is_err()
        || fdpass::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fetch, libc::EPOLLIN as u32, FETCH).is_err()
    {
        return 1;
    }
    let mut held: HashMap<u64, i32> = HashMap::new();
    let mut out: VecDeque<u64> = VecDeque::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = [0u8; 32];
    loop {
        let n = fdpass::epoll_wait(ep, &mut events, -1).unwrap_or(0);
        for ev in &events[..n] {
            match ev.u64 {
                CTL => {
                    if !take_stores(ctl, ep, &mut held, &mut out) {
                        return 0;
                    }
                }
                FETCH => loop {
                    // A STORE is sent before any FETCH of it, on the other pair: read the stores
                    // first, or a fetch could overtake its own store.
                    if !take_stores(ctl, ep, &mut held, &mut out) {
                        return 0;
                    }
                    match fdpass::recv_with_fd(fetch, &mut buf, libc::MSG_DONTWAIT) {
                        Ok((0, _)) => return 0,
                        Ok((k, None)) => {
                            let Some((OP_FETCH, t)) = parse(&buf[..k]) else { continue };
                            // With the descriptor, or without: already sent back on its own.
                            let fd = held.remove(&t);
                            if let Some(fd) = fd {
                                let _ = fdpass::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, 0, 0);
                            }
                            let r = fdpass::send_with_fd(fetch, &record(OP_RETURN, t), fd, 0);
                            if let Some(fd) = fd {
                                let _ = crate::sys::close(fd);
                            }
                            if r.is_err() {
                                return 0;
                            }
                        }
                        Ok((_, Some(fd))) => {
                            let _ = crate::sys::close(fd);
                        }
                        Err(libc::EINTR) => continue,
                        Err(libc::EAGAIN) => break,
                        Err(_) => return 0,
                    }
                },
                t => {
                    // The program wrote, shut down or closed: back to the service.
                    if let Some(&fd) = held.get(&t) {
                        let _ = fdpass::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, 0, 0);
                        out.push_back(t);
                    }
                }
            }
            if (ev.u64 == CTL || ev.u64 == FETCH) && ev.events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 {
                return 0;
            }
        }
        // Give back what is due; the service's queue may be full (it reads returns only while
        // it has descriptors to spare): then wait until it drains.
        while let Some(&t) = out.front() {
            let Some(&fd) = held.get(&t) else {
                out.pop_front(); // already given back (fetched meanwhile)
                continue;
            };
            match fdpass::send_with_fd(ctl, &record(OP_RETURN, t), Some(fd), libc::MSG_DONTWAIT) {
                Ok(_) => {
                    let _ = crate::sys::close(fd);
                    held.remove(&t);
                    out.pop_front();
                }
                Err(libc::EAGAIN) | Err(libc::ENOBUFS) => break,
                Err(_) => return 0,
            }
        }
        let want = if out.is_empty() { libc::EPOLLIN as u32 } else { (libc::EPOLLIN | libc::EPOLLOUT) as u32 };
        if want != ctl_events {
            ctl_events = want;
            let _ = fdpass::epoll_ctl(ep, libc::EPOLL_CTL_MOD, ctl, want, CTL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_room_at_every_size() {
        let b = Budget::new(20_000);
        assert_eq!((b.high, b.low, b.spare), (18_976, 17_952, 19_936));
        let b = Budget::new(300);
        assert!(b.low < b.high && b.high < b.spare && b.spare < 300, "{b:?}");
        let b = Budget::new(1 << 20);
        assert!(b.low < b.high && b.high < b.spare && b.spare < 1 << 20);
    }

    #[test]
    fn records_round_trip_and_reject_other_lengths() {
        let r = record(OP_RETURN, 7 << 48 | 42);
        assert_eq!(parse(&r), Some((OP_RETURN, 7 << 48 | 42)));
        assert_eq!(parse(&r[..15]), None);
        assert_eq!(parse(&[0u8; 17]), None);
    }
}
