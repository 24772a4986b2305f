//! Logging: `tracing` events filtered by `TAPSTACK_LOG` (an EnvFilter directive such as `debug`
//! or `tapstack=trace`), written to stderr with raw `write` syscalls (never the libc wrapper the
//! preload shim hooks). Silent unless `TAPSTACK_LOG` or `TAPSTACK_TRACE` is set.
//!
//! `TAPSTACK_TRACE` adds one line per frame in and out (target `tapstack::frame`), produced by
//! [`crate::phy::trace::TraceDevice`] around the device the stack sees.
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::sys;

/// A `std::io::Write` that writes to fd 2 with raw syscalls; each formatted event is one write.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawStderr;

impl std::io::Write for RawStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sys::write(2, buf).map_err(std::io::Error::from_raw_os_error)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The filter for a configuration, or None when logging stays silent.
pub fn filter_spec(log: Option<&str>, trace: bool) -> Option<String> {
    match (log, trace) {
        (None, false) => None,
        (Some(l), false) => Some(l.to_string()),
        (None, true) => Some("off,tapstack::frame=trace".into()),
        (Some(l), true) => Some(format!("{l},tapstack::frame=trace")),
    }
}

/// Installs the global subscriber as `config` asks. Idempotent; silent by default. Returns an
/// error line if `TAPSTACK_LOG` is not a valid filter (logging then stays off).
pub fn init(config: &Config) -> Result<(), String> {
    let Some(spec) = filter_spec(config.log.as_deref(), config.trace) else { return Ok(()) };
    let filter = EnvFilter::builder()
        .parse(&spec)
        .map_err(|e| format!("TAPSTACK_LOG: invalid filter {:?}: {e}", config.log.as_deref().unwrap_or("")))?;
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let sub = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(|| RawStderr)
        .with_thread_names(true)
        .finish();
    // Another subscriber (e.g. the host program's own) wins; ours is then simply not installed.
    let _ = tracing::subscriber::set_global_default(sub);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn specs() {
        assert_eq!(filter_spec(None, false), None);
        assert_eq!(filter_spec(Some("debug"), false).as_deref(), Some("debug"));
        assert_eq!(filter_spec(None, true).as_deref(), Some("off,tapstack::frame=trace"));
        for s in [filter_spec(Some("debug"), true).unwrap(), "info".into()] {
            assert!(EnvFilter::builder().parse(&s).is_ok(), "{s}");
        }
    }
}
