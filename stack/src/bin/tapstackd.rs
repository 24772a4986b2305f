//! tapstackd: the service that owns one TAP device and its stack, shared by every shimmed
//! process (see `tapstack::service`). Usually started by the first shimmed process that needs
//! it; start it by hand in the foreground for debugging:
//!
//!     TAPSTACK_TAP=tap0 TAPSTACK_ADDR=10.0.0.2/24 tapstackd [--persist]
//!
//! Environment: the TAPSTACK_* configuration (TAPSTACK_TAP, _ADDR, _GW, _MAC, _MTU, _PCAP,
//! _LOG, _TRACE, _FAULTS...), TAPSTACK_IDLE_MS (grace period before an idle service exits,
//! default 2000), TAPSTACK_BUSY_POLL_US (how long to poll before sleeping while traffic flows,
//! default 50, 0 = never). SIGTERM, SIGINT and SIGHUP stop it cleanly. Exit status: 0 idle exit or
//! stopped by a signal, 3 another service already serves this TAP, 1 cannot start.
use std::time::Duration;

use tapstack::config::Config;
use tapstack::service::{Options, Service, StartError};

fn main() {
    // A keeper the service started (tapstack::service::keep): holds idle connections' ends.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 3 && args[0] == "--keeper" {
        let (Ok(ctl), Ok(fetch)) = (args[1].parse::<i32>(), args[2].parse::<i32>()) else { std::process::exit(2) };
        std::process::exit(tapstack::service::keep::keeper_main(ctl, fetch));
    }
    let mut persist = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--persist" => persist = true,
            "-h" | "--help" => {
                println!("usage: tapstackd [--persist]   (configuration from TAPSTACK_* variables)");
                return;
            }
            _ => {
                eprintln!("tapstackd: unknown argument {a:?}");
                std::process::exit(2);
            }
        }
    }
    // A shim that started us reads why we could not start from this pipe (its end of file
    // without a word: we are up, or another service serves the TAP).
    let report = std::env::var("TAPSTACK_SERVICE_REPORT_FD").ok().and_then(|v| v.parse::<i32>().ok());
    let fail = |msg: String| -> ! {
        eprintln!("tapstackd: {msg}");
        if let Some(fd) = report {
            let _ = tapstack::sys::write_all(fd, msg.as_bytes());
        }
        std::process::exit(1);
    };
    let cfg = match Config::from_env() {
        Ok(c) => c,
        Err(e) => fail(format!("bad configuration: {e}")),
    };
    // A number, or the default when unset; anything else is a bad configuration.
    let number = |name: &str, default: u64, max: u64| -> u64 {
        match std::env::var(name) {
            Err(_) => default,
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(n) if n <= max => n,
                _ => fail(format!("bad configuration: {name}={v:?} (a number from 0 to {max})")),
            },
        }
    };
    let idle = number("TAPSTACK_IDLE_MS", 2000, u32::MAX as u64);
    let busy_poll = number("TAPSTACK_BUSY_POLL_US", 50, 1_000_000);
    // One descriptor per socket: the soft limit (often 1024) would cap the connections.
    if let Err(e) = tapstack::sys::raise_nofile_limit() {
        eprintln!("tapstackd: cannot raise RLIMIT_NOFILE: {}", tapstack::sys::strerror(e));
    }
    // SIGPIPE: a program that vanished must not kill the service (writes get EPIPE).
    tapstack::service::fdpass::ignore_signals(&[libc::SIGPIPE]);
    if report.is_some() {
        // Started by a program's shim: a background process group of that program's session
        // (preload/src/svc/spawn.rs). Its terminal must not stop it: with `stty tostop` a
        // write of its trace to the program's terminal would raise SIGTTOU (or fail with EIO,
        // its group being orphaned), and ^Z belongs to the program.
        tapstack::service::fdpass::ignore_signals(&[libc::SIGTTOU, libc::SIGTTIN, libc::SIGTSTP]);
    }
    let tap = cfg.tap.clone();
    let mut svc = match Service::new(
        cfg,
        Options { persist, idle: Duration::from_millis(idle), busy_poll: Duration::from_micros(busy_poll) },
    ) {
        Ok(s) => s,
        Err(StartError::Busy) => {
            eprintln!("tapstackd: a service already serves TAP {tap:?}");
            std::process::exit(3);
        }
        Err(StartError::Failed(e)) => fail(format!("cannot start the stack on TAP {tap:?}: {e}")),
    };
    if let Some(fd) = report {
        let _ = tapstack::sys::close(fd);
    }
    // SIGTERM, SIGINT, SIGHUP: a clean stop (trace and pcap complete), as an idle exit.
    if let Err(e) = svc.stop_on_signals() {
        eprintln!("tapstackd: cannot watch stop signals: {}", tapstack::sys::strerror(e));
    }
    std::process::exit(svc.run());
}
