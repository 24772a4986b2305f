//! The client side of the shared stack (`tapstackd`, see `tapstack::service`): the descriptor
//! kinds, the control channel to the service (opened lazily, reopened in a forked child), and
//! starting the service when nothing listens on the attach point.
//!
//! A tapstack socket here is one end of an AF_UNIX socketpair whose other end the service
//! holds: reads, writes, poll/select/epoll, O_NONBLOCK, SO_RCVTIMEO, fork, dup, exec and close
//! are the kernel's own. The shim only translates the socket calls (connect, bind, accept,
//! options, names...) into control requests, and adds/strips the datagram header on UDP.
pub(crate) mod addr;
pub(crate) mod dns;
mod ends;
pub(crate) mod errq;
pub(crate) mod hooks;
mod renew;
pub(crate) use renew::renew;
mod dgram;
pub(crate) mod inq;
mod more;
pub(crate) mod route;
pub(crate) mod signals;
mod spawn;
pub(crate) mod spin;
pub(crate) mod udp;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use libc::c_int;
use parking_lot::Mutex;
use tapstack::client::fdtable::{FdBits, KindTable, MAX_FDS};
use tapstack::service::fdpass;
use tapstack::service::proto::{self, Msg, Op};

pub(crate) use tapstack::client::fdtable::{
    is_udp, KIND_TCP, KIND_TCP_LISTEN, KIND_TCP_NEW, KIND_UDP, KIND_UDP_CONNECTED,
};

/// Reply `a` for "not one of the service's sockets" (`tapstack::service` ops::NOT_OURS).
const NOT_OURS: i32 = -1;

/// fd -> kind (0: not a service socket as far as we know) and SO_BROADCAST. One load per lookup.
static KINDS: KindTable = KindTable::new();

/// The shim's own descriptors (the control channel, per-thread signalfds): a program's
/// close()/dup2()/close_range() must not reach them.
static INTERNAL: FdBits = FdBits::new();

pub(crate) fn mark_internal(fd: c_int, on: bool) {
    INTERNAL.set(fd, on);
}
#[inline]
pub(crate) fn is_internal(fd: c_int) -> bool {
    INTERNAL.contains(fd)
}
/// The shim's own descriptors in [first, last] (for close_range).
pub(crate) fn internal_in(first: u32, last: u32) -> Vec<c_int> {
    INTERNAL.members_in(first, last)
}

pub(crate) fn broadcast_ok(fd: c_int) -> bool {
    KINDS.broadcast(fd)
}
pub(crate) fn set_broadcast(fd: c_int, on: bool) {
    KINDS.set_broadcast(fd, on);
}
/// The program shut down reading on TCP socket `fd` (`hooks::after_read` asks for late data).
pub(crate) fn rd_shut(fd: c_int) -> bool {
    KINDS.rd_shut(fd)
}
pub(crate) fn set_rd_shut(fd: c_int) {
    KINDS.set_rd_shut(fd);
}
pub(crate) fn udp_wr_shut(fd: c_int) -> bool {
    KINDS.udp_wr_shut(fd)
}
pub(crate) fn set_udp_wr_shut(fd: c_int) {
    KINDS.set_udp_wr_shut(fd);
    UDP_SHUT.store(true, Ordering::Relaxed);
}

/// Some UDP socket of this process was shut down for writing: waits look for ones shut both
/// ways (`udp_shut_both`). False until then.
static UDP_SHUT: AtomicBool = AtomicBool::new(false);

/// UDP sockets of ours shut down for reading (the service shut their pair's reading; the
/// table's flag bit is their writing's).
static UDP_RD_SHUT: FdBits = FdBits::new();

pub(crate) fn set_udp_rd_shut(fd: c_int) {
    UDP_RD_SHUT.set(fd, true);
}

/// A UDP socket of ours shut down both ways: Linux's datagram_poll reports POLLHUP for it
/// (the socketpair, shut for reading only, cannot).
#[inline]
pub(crate) fn udp_shut_both(fd: c_int) -> bool {
    UDP_SHUT.load(Ordering::Relaxed) && is_udp(kind(fd)) && KINDS.udp_wr_shut(fd) && UDP_RD_SHUT.contains(fd)
}

/// Whether any UDP socket of this process was ever shut down for writing.
#[inline]
pub(crate) fn any_udp_shut() -> bool {
    UDP_SHUT.load(Ordering::Relaxed)
}
/// `proto::family_flags` of the socket at `fd` (0: AF_INET or not ours).
pub(crate) fn family(fd: c_int) -> i32 {
    KINDS.family(fd)
}
pub(crate) fn set_family(fd: c_int, flags: i32) {
    KINDS.set_family(fd, flags);
}

#[inline]
pub(crate) fn kind(fd: c_int) -> u8 {
    KINDS.kind(fd)
}

pub(crate) fn set_kind(fd: c_int, k: u8) {
    table_owner(); // the first socket names the owner
    KINDS.set_kind(fd, k);
    if k == KIND_TCP_LISTEN && !LISTENED.load(Ordering::Relaxed) {
        LISTENED.store(true, Ordering::Relaxed);
    }
    if k == KIND_TCP_NEW && !CLOSED_SEEN.load(Ordering::Relaxed) {
        CLOSED_SEEN.store(true, Ordering::Relaxed);
    }
}

/// Some socket of ours listened in this process: waits then look for listeners among their
/// descriptors (`listener_out`).
static LISTENED: AtomicBool = AtomicBool::new(false);

/// Some TCP socket of ours was in the CLOSE state (every one starts there): until then select
/// need not look for such sockets among its descriptors.
static CLOSED_SEEN: AtomicBool = AtomicBool::new(false);

#[inline]
pub(crate) fn any_tcp_closed() -> bool {
    CLOSED_SEEN.load(Ordering::Relaxed)
}

/// Whether write readiness asked of `fd` is to be left out: a listener of ours, which Linux
/// never reports writable (its pair would be). False at once until some socket listened.
#[inline]
pub(crate) fn listener_out(fd: c_int) -> bool {
    LISTENED.load(Ordering::Relaxed) && kind(fd) == KIND_TCP_LISTEN
}

/// Whether a wait may have a listener of ours among its descriptors.
#[inline]
pub(crate) fn any_listener() -> bool {
    LISTENED.load(Ordering::Relaxed)
}

/// The process whose descriptor table the tables describe. A child made with vfork (or
/// posix_spawn, clone(CLONE_VM)) shares our memory but not our descriptors until it execs: its
/// close/dup2 must not touch the tables. A fork child gets its own copy (the atfork handler
/// makes it the owner).
static OWNER: AtomicI32 = AtomicI32::new(0);

fn table_owner() -> bool {
    let me = sys_getpid();
    match OWNER.load(Ordering::Relaxed) {
        0 => {
            OWNER.store(me, Ordering::Relaxed);
            true
        }
        o if o == me => true,
        o if own_copy(o, me) => {
            OWNER.store(me, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

/// A process that is not the tables' owner `owner` was made without libc's fork, so no atfork
/// handler made it the owner: true if it has its own copy of our memory (a raw
/// `clone(SIGCHLD)` system call, as vsftpd forks each session with CLONE_NEWIPC), false if it
/// shares the owner's (vfork, posix_spawn: CLONE_VM) or that cannot be told (kcmp(2)
/// unavailable). An owner we cannot see (it exited, or we are in a new PID namespace) shares
/// no memory with us.
fn own_copy(owner: c_int, me: c_int) -> bool {
    const KCMP_VM: c_int = 1;
    // SAFETY: kcmp only compares two processes' kernel objects; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, me, owner, KCMP_VM, 0, 0) };
    r > 0 || (r < 0 && crate::errno() == libc::ESRCH)
}

/// A descriptor was closed (or is about to be reused).
#[inline]
pub(crate) fn forget(fd: c_int) {
    if kind(fd) != 0 && table_owner() {
        KINDS.forget(fd);
        if UDP_RD_SHUT.contains(fd) {
            UDP_RD_SHUT.set(fd, false);
        }
        dgram::forget(fd);
        more::forget(fd);
        inq::forget(fd);
    }
}

/// `new` became a duplicate of `old`.
pub(crate) fn mirror(old: c_int, new: c_int) {
    if new >= 0 && new != old && (kind(old) != 0 || kind(new) != 0) && table_owner() {
        KINDS.mirror(old, new);
        let rd = UDP_RD_SHUT.contains(old);
        if rd || UDP_RD_SHUT.contains(new) {
            UDP_RD_SHUT.set(new, rd);
        }
        dgram::mirror(old, new);
        inq::mirror(old, new);
    }
}

struct Ctl {
    fd: c_int,
    pid: c_int,
    service_pid: c_int,
}

static CTL: Mutex<Ctl> = Mutex::new(Ctl { fd: -1, pid: 0, service_pid: 0 });
static ATFORK: AtomicBool = AtomicBool::new(false);
/// The control descriptor in this process (-1: none), for the close/dup2 protection.
static CTL_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn fork_prepare() {
    // Hold the channel across fork so the child never inherits it locked mid-request.
    std::mem::forget(CTL.lock());
}
extern "C" fn fork_parent() {
    // SAFETY: locked by fork_prepare in this thread.
    unsafe { CTL.force_unlock() };
}
extern "C" fn fork_child() {
    // SAFETY: locked by fork_prepare before the fork; the child's copy is ours alone.
    unsafe { CTL.force_unlock() };
    OWNER.store(sys_getpid(), Ordering::Relaxed);
    // The child's copy of the channel is shared with the parent: never use it (closed lazily).
}

fn sys_getpid() -> c_int {
    crate::real::sys_getpid()
}

/// Opens the control channel, starting the service if nothing listens (retrying ~3 s).
fn open_channel(c: &mut Ctl, spawn: bool) -> Result<(), c_int> {
    if !ATFORK.swap(true, Ordering::SeqCst) {
        // SAFETY: registering plain extern "C" functions.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child)) };
    }
    let pid = sys_getpid();
    if c.fd >= 0 {
        if c.pid == pid {
            return Ok(());
        }
        // Inherited from the parent: its connection, not ours.
        mark_internal(c.fd, false);
        crate::real::sys_close(c.fd);
        CTL_FD.store(-1, Ordering::Relaxed);
        c.fd = -1;
    }
    let cfg = tapstack::config::Config::from_env().map_err(|e| {
        // Said once per process: every later socket() fails the same way.
        static SAID: AtomicBool = AtomicBool::new(false);
        if !QUIET.load(Ordering::Relaxed) && !SAID.swap(true, Ordering::Relaxed) {
            say(&format!("tapstack: bad configuration: {e}"));
        }
        libc::EINVAL
    })?;
    let name = proto::attach_name(&cfg.tap);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut spawned = false;
    let fd = loop {
        match fdpass::connect_abstract(&name) {
            Ok(fd) => break fd,
            Err(e) if e == libc::ECONNREFUSED || e == libc::ENOENT || e == libc::EAGAIN => {
                if !spawn {
                    return Err(libc::ENETDOWN);
                }
                if !spawned {
                    spawned = true;
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if let Err(msg) = spawn::start_service(left) {
                        say(&format!("tapstack: {msg}"));
                        return Err(libc::ENETDOWN);
                    }
                }
                if std::time::Instant::now() >= deadline {
                    say(&format!(
                        "tapstack: tapstackd for TAP {:?} did not come up (set TAPSTACK_SERVICE_LOG to see why)",
                        cfg.tap
                    ));
                    return Err(libc::ENETDOWN);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    };
    // Out of the program's way: a high number, close-on-exec, protected from close/dup2.
    // SAFETY: raw fcntl on our own descriptor.
    let hi = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, 512) } as c_int;
    let fd = if hi >= 0 && (hi as usize) < MAX_FDS {
        crate::real::sys_close(fd);
        hi
    } else {
        fd
    };
    mark_internal(fd, true);
    CTL_FD.store(fd, Ordering::Relaxed);
    c.service_pid = fdpass::peer_cred(fd).map(|(p, _)| p).unwrap_or(0);
    c.fd = fd;
    c.pid = pid;
    if !spawned {
        check_settings(fd, &cfg);
    }
    Ok(())
}

/// Attached to a service this process did not start: says on stderr, once per program, which
/// of the TAP settings its environment sets the service does not have (a TAP has one stack,
/// set up from the environment of the program that started its service; the others' are not
/// applied, e.g. a TAPSTACK_FAULTS given while an earlier program's service still runs).
fn check_settings(fd: c_int, cfg: &tapstack::config::Config) {
    static CHECKED: AtomicBool = AtomicBool::new(false);
    let is_set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    if QUIET.load(Ordering::Relaxed) || !tapstack::config::SERVICE_KEYS.iter().any(|k| is_set(k)) {
        return;
    }
    if CHECKED.swap(true, Ordering::Relaxed) {
        return;
    }
    if fdpass::send_with_fd(fd, &Msg::new(Op::Config).encode(), None, 0).is_err() {
        return;
    }
    let mut reply = [0u8; proto::MAX_MSG];
    let got = loop {
        match fdpass::recv_with_fd(fd, &mut reply, 0) {
            Err(libc::EINTR) => continue,
            x => break x,
        }
    };
    let Ok((n, passed)) = got else { return };
    if let Some(f) = passed {
        crate::real::sys_close(f);
    }
    let Ok(r) = Msg::decode(&reply[..n]) else { return };
    let theirs = String::from_utf8_lossy(&r.data);
    for (k, svc, ours) in cfg.settings_differ(is_set, &theirs) {
        say(&format!(
            "tapstack: tapstackd for TAP {:?} runs with {k}={svc:?}, not this program's {ours:?}: a TAP has one \
             stack, set up when its service starts; it exits TAPSTACK_IDLE_MS after its last program and connection \
             (TIME-WAIT included: `tapstack ss`)",
            cfg.tap
        ));
    }
}

/// How long a request polls for its answer before it sleeps (yielding the CPU between polls),
/// as glibc's adaptive mutexes spin before they sleep: the service answers most requests
/// within microseconds (a blocking connect to a peer on the TAP: the handshake is done inside
/// its own write), and sleeping costs a wake-up, on a VM without halt-polling the exit of a
/// halted vCPU, tens of microseconds.
const REPLY_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// One request/reply exchange; `fd` names the socket. Err(errno) if the service is gone.
pub(crate) fn request(m: &Msg, fd: Option<c_int>) -> Result<(Msg, Option<c_int>), c_int> {
    let _held = crate::SignalsHeld::hold();
    let mut c = CTL.lock();
    // A request about a socket needs the service that holds it (its sockets keep it running):
    // none is started for it (nor a message said) when none answers, e.g. in a process that
    // moved to another network namespace (vsftpd's session process) or after the service died.
    open_channel(&mut c, fd.is_none())?;
    let buf = m.encode();
    let mut reply = [0u8; proto::MAX_MSG];
    let res = fdpass::send_with_fd(c.fd, &buf, fd, 0).and_then(|_| {
        let start = std::time::Instant::now();
        loop {
            let wait = start.elapsed() >= REPLY_SPIN;
            match fdpass::recv_with_fd(c.fd, &mut reply, if wait { 0 } else { libc::MSG_DONTWAIT }) {
                Err(libc::EINTR) => continue,
                Err(libc::EAGAIN) if !wait => tapstack::sys::sched_yield(),
                Ok((0, _)) => break Err(libc::ECONNRESET),
                x => break x,
            }
        }
    });
    match res {
        Ok((n, passed)) => match Msg::decode(&reply[..n]) {
            Ok(r) => Ok((r, passed)),
            Err(_) => Err(libc::EIO),
        },
        Err(_) => {
            // The service died: the next call starts a fresh one.
            mark_internal(c.fd, false);
            crate::real::sys_close(c.fd);
            CTL_FD.store(-1, Ordering::Relaxed);
            c.fd = -1;
            Err(libc::ENETDOWN)
        }
    }
}

/// A new socket of `kind` (`Op::Adopt`): the pair is made here and the service's end sent
/// without waiting for an answer (the channel is ordered: the service has it before any later
/// request). Returns the program's end, made with `SOCK_CLOEXEC` (the caller clears it).
pub(crate) fn new_socket(domain: c_int, kind: u8, flags: c_int, protocol: u16) -> Result<c_int, c_int> {
    let ty = if kind == KIND_TCP { libc::SOCK_STREAM } else { libc::SOCK_SEQPACKET };
    // Held across the pair's making so that no fork copies the service's end into a child.
    let _held = crate::SignalsHeld::hold();
    let mut c = CTL.lock();
    open_channel(&mut c, true)?;
    // The program's end is the lower number, as the kernel would have given it.
    let (b, a) = fdpass::socketpair(ty | (flags & libc::SOCK_NONBLOCK))?;
    let mut m = Msg::new(Op::Adopt);
    m.kind = kind;
    m.b = flags;
    m.c = domain;
    m.port = protocol;
    let sent = fdpass::send_with_fds(c.fd, &m.encode(), &[a, b], 0);
    crate::real::sys_close(a);
    if sent.is_err() {
        crate::real::sys_close(b);
        // The service died: the next call starts a fresh one.
        mark_internal(c.fd, false);
        crate::real::sys_close(c.fd);
        CTL_FD.store(-1, Ordering::Relaxed);
        c.fd = -1;
        return Err(libc::ENETDOWN);
    }
    Ok(b)
}

/// Set while `before_drop_root` opens the channel: it says nothing on failure (the program's
/// stderr may be its client's connection, as in vsftpd's session process).
static QUIET: AtomicBool = AtomicBool::new(false);

/// A message of `open_channel` on stderr, unless `QUIET`.
fn say(msg: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        crate::eprint_raw(msg);
    }
}

/// Before this root process gives up root (`ids`): the service runs (started now, while the
/// TAP may still be opened). Our channel is then closed: the service takes a channel's
/// credentials when it connects, and later requests are the new user's (as the kernel checks
/// the caller's rights at each bind).
pub(crate) fn before_drop_root() {
    if !table_owner() {
        return; // a vfork child: our memory is its parent's, the channel too
    }
    let _held = crate::SignalsHeld::hold();
    let mut c = CTL.lock();
    QUIET.store(true, Ordering::Relaxed);
    let r = open_channel(&mut c, true);
    QUIET.store(false, Ordering::Relaxed);
    if r.is_ok() {
        mark_internal(c.fd, false);
        crate::real::sys_close(c.fd);
        CTL_FD.store(-1, Ordering::Relaxed);
        c.fd = -1;
    }
}

/// The service's pid (0 if no channel yet).
pub(crate) fn service_pid() -> c_int {
    let _held = crate::SignalsHeld::hold();
    let mut c = CTL.lock();
    if open_channel(&mut c, false).is_err() {
        return 0;
    }
    c.service_pid
}

/// A request about socket `fd`: Ok(reply) with reply.a the errno (0 = ok); Err(None) if the
/// descriptor is not a service socket (the caller forgets it and calls libc), Err(Some(e)) if
/// the service is unreachable.
pub(crate) fn ask(m: &Msg, fd: c_int) -> Result<(Msg, Option<c_int>), Option<c_int>> {
    match request(m, Some(fd)) {
        Ok((r, _)) if r.a == NOT_OURS => {
            let was = kind(fd);
            forget(fd);
            if was != 0 {
                // Ours, but the service does not know it: the service that made it died
                // (the one answering was started since). The socket is gone with it.
                return Err(Some(libc::ENETDOWN));
            }
            Err(None)
        }
        Ok(x) => Ok(x),
        Err(e) => Err(Some(e)),
    }
}

/// Identifies a descriptor this process did not create (inherited across exec, or received
/// over SCM_RIGHTS): an AF_UNIX socket whose peer is the service, confirmed by the service.
pub(crate) fn probe(fd: c_int) -> u8 {
    if fd < 0 || fd as usize >= MAX_FDS {
        return 0;
    }
    let k = kind(fd);
    if k != 0 {
        return k;
    }
    if fdpass::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) != Ok(libc::AF_UNIX) {
        return 0;
    }
    // Marked by the service (the pair may be the program's own making: SO_PEERCRED names the
    // service only for the ends it made itself).
    let marked = fdpass::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PRIORITY) == Ok(proto::PROGRAM_END_PRIORITY);
    if !marked {
        let Ok((peer, _)) = fdpass::peer_cred(fd) else { return 0 };
        if peer == 0 || peer != service_pid() {
            return 0;
        }
    }
    // A socket of the service keeps it running, so none is started here: when none answers
    // (the program moved to another network namespace, as vsftpd's session process does),
    // the descriptor stays a plain one whose reads and writes still reach the peer.
    let up = {
        let _held = crate::SignalsHeld::hold();
        open_channel(&mut CTL.lock(), false).is_ok()
    };
    if !up {
        return 0;
    }
    match request(&Msg::new(Op::Ident), Some(fd)) {
        Ok((r, _)) if r.a == 0 => {
            set_kind(fd, r.kind);
            addr::set_family(fd, r.b);
            r.kind
        }
        _ => 0,
    }
}

/// Counters of the service (for tests).
#[allow(dead_code)]
pub(crate) fn stats() -> Option<String> {
    let (r, _) = request(&Msg::new(Op::Stats), None).ok()?;
    String::from_utf8(r.data).ok()
}

/// This host's address (TAPSTACK_ADDR): the source an IP_PKTINFO message may name.
pub(crate) fn local_addr() -> Option<std::net::Ipv4Addr> {
    static A: once_cell::sync::OnceCell<Option<std::net::Ipv4Addr>> = once_cell::sync::OnceCell::new();
    *A.get_or_init(|| tapstack::config::Config::from_env().ok().map(|c| c.addr))
}

/// Whether this host's routes (TAPSTACK_ADDR's subnet, TAPSTACK_GW's default route) cover
/// `dst`; a datagram to a group they do not cover asks the service (`hooks::udp_route`).
pub(crate) fn routed(dst: std::net::Ipv4Addr) -> bool {
    use tapstack::iface::route::Routes;
    static R: once_cell::sync::OnceCell<Option<Routes>> = once_cell::sync::OnceCell::new();
    let r = R.get_or_init(|| {
        tapstack::config::Config::from_env().ok().map(|c| Routes::new(c.addr, c.prefix_len, c.gateway))
    });
    r.as_ref().is_none_or(|r| r.lookup(dst).is_some())
}

/// The subnet broadcast address of this host (from TAPSTACK_ADDR), for the SO_BROADCAST check.
pub(crate) fn subnet_broadcast() -> Option<std::net::Ipv4Addr> {
    static B: once_cell::sync::OnceCell<Option<std::net::Ipv4Addr>> = once_cell::sync::OnceCell::new();
    *B.get_or_init(|| {
        let c = tapstack::config::Config::from_env().ok()?;
        if c.prefix_len >= 31 {
            return None;
        }
        let mask = u32::MAX << (32 - c.prefix_len as u32);
        Some(std::net::Ipv4Addr::from(u32::from(c.addr) | !mask))
    })
}
