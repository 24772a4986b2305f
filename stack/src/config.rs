//! Configuration from the environment (`TAPSTACK_*`), validated with one-line errors.
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Everything a stack and its runtime need, read from `TAPSTACK_*` variables.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `TAPSTACK_TAP`, default `tap0`.
    pub tap: String,
    /// `TAPSTACK_ADDR` address part, default 10.0.0.2.
    pub addr: Ipv4Addr,
    /// `TAPSTACK_ADDR` prefix length, default 24.
    pub prefix_len: u8,
    /// `TAPSTACK_GW`, default 10.0.0.1; `none` for no default route.
    pub gateway: Option<Ipv4Addr>,
    /// `TAPSTACK_MAC`, default random locally administered unicast.
    pub mac: [u8; 6],
    /// `TAPSTACK_MTU`, default 1500 (IP MTU, 576..=9000).
    pub mtu: usize,
    /// `TAPSTACK_DNS`: comma-separated nameservers; empty means /etc/resolv.conf.
    pub dns: Vec<Ipv4Addr>,
    /// `TAPSTACK_PCAP`: write every frame to this pcap file.
    pub pcap: Option<PathBuf>,
    /// `TAPSTACK_LOG`: a tracing filter (e.g. `debug`, `tapstack=trace`); silent if unset.
    pub log: Option<String>,
    /// `TAPSTACK_TRACE=1` (or `frames`): log a one-line summary of every frame in and out.
    pub trace: bool,
    /// `TAPSTACK_TRACE=ladder[,abs][,all]` / `events`: TCP trace events (see `crate::trace`).
    pub trace_spec: crate::trace::sink::TraceSpec,
    /// `TAPSTACK_TRACE_FILE`: where the ladder / events go (default stderr).
    pub trace_file: Option<PathBuf>,
    /// `TAPSTACK_FAULTS`: fault injection spec, see `phy::fault::FaultConfig::parse`.
    pub faults: Option<String>,
}

/// A malformed or unusable setting, with a message naming the variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (so tests need not touch the environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let val = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let tap = val("TAPSTACK_TAP").unwrap_or_else(|| "tap0".into());
        if tap.len() >= libc::IFNAMSIZ || tap.contains('/') || tap.contains(char::is_whitespace) {
            return Err(ConfigError(format!("TAPSTACK_TAP: invalid interface name {tap:?}")));
        }
        let (addr, prefix_len) = match val("TAPSTACK_ADDR") {
            None => (Ipv4Addr::new(10, 0, 0, 2), 24),
            Some(s) => {
                parse_cidr(&s).ok_or_else(|| ConfigError(format!("TAPSTACK_ADDR: expected a.b.c.d/len, got {s:?}")))?
            }
        };
        let gateway = match val("TAPSTACK_GW").as_deref() {
            None => Some(Ipv4Addr::new(10, 0, 0, 1)),
            Some("none") => None,
            Some(s) => {
                Some(s.parse().map_err(|_| ConfigError(format!("TAPSTACK_GW: expected a.b.c.d or none, got {s:?}")))?)
            }
        };
        let mac = match val("TAPSTACK_MAC") {
            None => random_mac(),
            Some(s) => parse_mac(&s)
                .ok_or_else(|| ConfigError(format!("TAPSTACK_MAC: expected a unicast xx:xx:xx:xx:xx:xx, got {s:?}")))?,
        };
        let mtu = match val("TAPSTACK_MTU") {
            None => 1500,
            Some(s) => match s.parse::<usize>() {
                Ok(m) if (576..=9000).contains(&m) => m,
                _ => return Err(ConfigError(format!("TAPSTACK_MTU: expected 576..9000, got {s:?}"))),
            },
        };
        let dns = match val("TAPSTACK_DNS") {
            None => Vec::new(),
            Some(s) => s
                .split(',')
                .map(|p| p.trim().parse::<Ipv4Addr>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ConfigError(format!("TAPSTACK_DNS: expected a.b.c.d[,a.b.c.d], got {s:?}")))?,
        };
        let trace_spec = match val("TAPSTACK_TRACE") {
            None => Default::default(),
            Some(v) => crate::trace::sink::TraceSpec::parse(&v).map_err(ConfigError)?,
        };
        let trace = trace_spec.frames;
        Ok(Config {
            tap,
            addr,
            prefix_len,
            gateway,
            mac,
            mtu,
            dns,
            pcap: val("TAPSTACK_PCAP").map(PathBuf::from),
            log: val("TAPSTACK_LOG"),
            trace,
            trace_spec,
            trace_file: val("TAPSTACK_TRACE_FILE").map(PathBuf::from),
            faults: val("TAPSTACK_FAULTS"),
        })
    }
}

/// The settings that belong to a TAP's one stack: its service reads them when it starts, and a
/// program that attaches to a running service gets the service's, whatever its own environment
/// says (see [`Config::settings_differ`]).
pub const SERVICE_KEYS: [&str; 6] =
    ["TAPSTACK_ADDR", "TAPSTACK_GW", "TAPSTACK_MAC", "TAPSTACK_MTU", "TAPSTACK_PCAP", "TAPSTACK_FAULTS"];

impl Config {
    /// The value of one of [`SERVICE_KEYS`], normalized (so `02:00:00:00:00:0A` and
    /// `02-00-00-00-00-0a` compare equal); "" for an unset optional one.
    pub fn setting(&self, key: &str) -> String {
        match key {
            "TAPSTACK_ADDR" => format!("{}/{}", self.addr, self.prefix_len),
            "TAPSTACK_GW" => self.gateway.map_or_else(|| "none".into(), |g| g.to_string()),
            "TAPSTACK_MAC" => self.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
            "TAPSTACK_MTU" => self.mtu.to_string(),
            "TAPSTACK_PCAP" => self.pcap.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            "TAPSTACK_FAULTS" => self.faults.clone().unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// The service's settings as `NAME=value` lines (what `tapstackd` answers `Op::Config`).
    pub fn service_settings(&self) -> String {
        SERVICE_KEYS.iter().map(|k| format!("{k}={}\n", self.setting(k))).collect()
    }

    /// The settings this program's environment sets (`is_set`) to something else than the
    /// running service has (`theirs`, as [`Config::service_settings`] wrote it): (name,
    /// the service's value, this program's value).
    pub fn settings_differ(&self, is_set: impl Fn(&str) -> bool, theirs: &str) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for line in theirs.lines() {
            let Some((k, v)) = line.split_once('=') else { continue };
            if !SERVICE_KEYS.contains(&k) || !is_set(k) {
                continue;
            }
            let ours = self.setting(k);
            if ours != v {
                out.push((k.to_string(), v.to_string(), ours));
            }
        }
        out
    }
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let len: u8 = l.parse().ok()?;
    (len <= 32).then_some(())?;
    Some((a.parse().ok()?, len))
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    (parts.next().is_none() && mac[0] & 1 == 0 && mac != [0; 6]).then_some(mac)
}

/// A random locally administered unicast MAC (02:xx:...).
fn random_mac() -> [u8; 6] {
    let mut b = [0u8; 6];
    if crate::sys::getrandom(&mut b) != Ok(b.len()) {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
            as u64
            ^ (std::process::id() as u64) << 32;
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    b[0] = (b[0] & 0xfc) | 0x02;
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let v: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Config::from_lookup(|k| v.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone()))
    }
    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.tap, "tap0");
        assert_eq!((c.addr, c.prefix_len), (Ipv4Addr::new(10, 0, 0, 2), 24));
        assert_eq!(c.gateway, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(c.mac[0] & 3, 2);
        assert_eq!(c.mtu, 1500);
    }
    #[test]
    fn explicit_and_errors() {
        let c =
            cfg(&[("TAPSTACK_ADDR", "192.168.5.9/16"), ("TAPSTACK_MAC", "02:00:00:00:00:05"), ("TAPSTACK_GW", "none")])
                .unwrap();
        assert_eq!((c.addr, c.prefix_len, c.gateway), (Ipv4Addr::new(192, 168, 5, 9), 16, None));
        assert_eq!(c.mac, [2, 0, 0, 0, 0, 5]);
        for (k, v) in [
            ("TAPSTACK_ADDR", "10.0.0.2"),
            ("TAPSTACK_ADDR", "10.0.0.2/33"),
            ("TAPSTACK_MAC", "01:00:00:00:00:05"),
            ("TAPSTACK_MAC", "zz"),
            ("TAPSTACK_MTU", "100"),
            ("TAPSTACK_GW", "x"),
            ("TAPSTACK_DNS", "1.2.3"),
            ("TAPSTACK_TAP", "a/b"),
            ("TAPSTACK_TRACE", "ladder,x"),
        ] {
            let e = cfg(&[(k, v)]).unwrap_err();
            assert!(e.0.starts_with(k), "{e}");
        }
    }
    #[test]
    fn settings_differ_names_what_the_program_set_otherwise() {
        let svc = cfg(&[("TAPSTACK_MAC", "02:00:00:00:00:0A"), ("TAPSTACK_FAULTS", "loss=0.1")]).unwrap();
        let text = svc.service_settings();
        assert!(text.contains("TAPSTACK_MAC=02:00:00:00:00:0a\n"), "{text}");
        assert!(text.contains("TAPSTACK_PCAP=\n"), "{text}");
        // The same settings, spelled otherwise: nothing to say.
        let same = cfg(&[("TAPSTACK_MAC", "02-00-00-00-00-0a"), ("TAPSTACK_FAULTS", "loss=0.1")]).unwrap();
        assert!(same.settings_differ(|_| true, &text).is_empty());
        // Another fault spec and address: both named, with the service's value first.
        let other = cfg(&[("TAPSTACK_FAULTS", "delay=5ms"), ("TAPSTACK_ADDR", "10.0.0.9/24")]).unwrap();
        let set = |k: &str| k == "TAPSTACK_FAULTS" || k == "TAPSTACK_ADDR";
        let d = other.settings_differ(set, &text);
        assert_eq!(
            d,
            vec![
                ("TAPSTACK_ADDR".to_string(), "10.0.0.2/24".to_string(), "10.0.0.9/24".to_string()),
                ("TAPSTACK_FAULTS".to_string(), "loss=0.1".to_string(), "delay=5ms".to_string()),
            ]
        );
        // A setting the program leaves unset (its random MAC) is not a difference.
        assert!(cfg(&[]).unwrap().settings_differ(|_| false, &text).is_empty());
    }
}
