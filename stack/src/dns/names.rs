//! Pure helpers for the shim's getaddrinfo family: numeric IPv4 hosts as inet_aton(3) reads
//! them, services(5), and the resolver settings (resolv.conf + environment overrides).
use std::net::Ipv4Addr;

use super::resolver::ResolvConf;

/// inet_aton(3) as glibc's getaddrinfo applies it (exact: no trailing characters): one to
/// four parts, each decimal, octal (leading 0) or hex (0x); the last part fills the
/// remaining bytes ("127.1" = 127.0.0.1, "0x7f000001").
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        if !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        // "0x" alone is 0 for inet_aton.
        let v = if digits.is_empty() { 0 } else { u64::from_str_radix(digits, radix).ok()? };
        vals.push(v);
    }
    let n = vals.len();
    let (head, last) = vals.split_at(n - 1);
    if head.iter().any(|&v| v > 255) {
        return None;
    }
    let last_bits = 8 * (4 - head.len() as u32);
    if last[0] >= 1u64 << last_bits {
        return None;
    }
    let mut addr: u32 = 0;
    for (i, v) in head.iter().enumerate() {
        addr |= (*v as u32) << (24 - 8 * i);
    }
    addr |= last[0] as u32;
    Some(Ipv4Addr::from(addr))
}

/// services(5): name/port/protocol with aliases.
#[derive(Clone, Debug, Default)]
pub struct Services {
    entries: Vec<(u16, String, Vec<String>)>, // port, protocol, names (first is official)
}

/// Used when /etc/services is missing: the names our target programs use.
const BUILTIN: &str = "ftp 21/tcp\nssh 22/tcp\ntelnet 23/tcp\nsmtp 25/tcp mail\ndomain 53/tcp\ndomain 53/udp\n\
http 80/tcp www\nntp 123/udp\nhttps 443/tcp\nhttps 443/udp\n";

impl Services {
    pub fn parse(text: &str) -> Services {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut w = line.split_whitespace();
            let (Some(name), Some(pp)) = (w.next(), w.next()) else { continue };
            let Some((port, proto)) = pp.split_once('/') else { continue };
            let Ok(port) = port.parse::<u16>() else { continue };
            let mut names = vec![name.to_string()];
            names.extend(w.map(str::to_string));
            entries.push((port, proto.to_string(), names));
        }
        Services { entries }
    }
    pub fn builtin() -> Services {
        Services::parse(BUILTIN)
    }
    /// The port of service `name` for `proto` ("tcp"/"udp").
    pub fn port(&self, name: &str, proto: &str) -> Option<u16> {
        self.entries.iter().find(|(_, p, n)| p == proto && n.iter().any(|x| x == name)).map(|e| e.0)
    }
    /// The official name of `port`/`proto`.
    pub fn name(&self, port: u16, proto: &str) -> Option<&str> {
        self.entries.iter().find(|(p, pr, _)| *p == port && pr == proto).map(|e| e.2[0].as_str())
    }
}

/// A numeric service as glibc's getaddrinfo reads it: decimal digits only, converted with
/// strtoul (saturating) and truncated to 16 bits by htons ("65536" is port 0).
pub fn numeric_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX) as u16)
}

/// Resolver settings: resolv.conf text, then glibc's environment overrides (`LOCALDOMAIN`
/// replaces the search list, `RES_OPTIONS` adds options), then `TAPSTACK_DNS` replaces the
/// nameservers.
pub fn resolver_conf(resolv_conf: &str, env: impl Fn(&str) -> Option<String>, dns: &[Ipv4Addr]) -> ResolvConf {
    let mut text = resolv_conf.to_string();
    if let Some(d) = env("LOCALDOMAIN") {
        text.push_str(&format!("\nsearch {d}\n"));
    }
    if let Some(o) = env("RES_OPTIONS") {
        text.push_str(&format!("\noptions {o}\n"));
    }
    let mut c = ResolvConf::parse(&text);
    if !dns.is_empty() {
        c.nameservers = dns.iter().take(3).copied().collect();
    }
    c
}

/// glibc's EAI_ADDRFAMILY (not in the libc crate).
pub const EAI_ADDRFAMILY: i32 = -9;

/// gai_strerror(3)'s text for `code`, NUL-terminated, exactly as glibc words it (glibc has no
/// text for 0 or EAI_OVERFLOW: "Unknown error").
pub fn gai_message(code: i32) -> &'static [u8] {
    match code {
        libc::EAI_BADFLAGS => b"Bad value for ai_flags\0",
        libc::EAI_NONAME => b"Name or service not known\0",
        libc::EAI_AGAIN => b"Temporary failure in name resolution\0",
        libc::EAI_FAIL => b"Non-recoverable failure in name resolution\0",
        libc::EAI_NODATA => b"No address associated with hostname\0",
        libc::EAI_FAMILY => b"ai_family not supported\0",
        libc::EAI_SOCKTYPE => b"ai_socktype not supported\0",
        libc::EAI_SERVICE => b"Servname not supported for ai_socktype\0",
        EAI_ADDRFAMILY => b"Address family for hostname not supported\0",
        libc::EAI_MEMORY => b"Memory allocation failure\0",
        libc::EAI_SYSTEM => b"System error\0",
        -100 => b"Processing request in progress\0",
        -101 => b"Request canceled\0",
        -102 => b"Request not canceled\0",
        -103 => b"All requests done\0",
        -104 => b"Interrupted by a signal\0",
        -105 => b"Parameter string not correctly encoded\0",
        _ => b"Unknown error\0",
    }
}

/// The (socktype, protocol) pairs getaddrinfo returns per address for the hints and service,
/// in glibc's order (stream/TCP, datagram/UDP, raw); an EAI_* code if none fits.
pub fn socktypes(socktype: i32, protocol: i32, service: Option<&str>) -> Result<Vec<(i32, i32)>, i32> {
    let named_service = service.is_some_and(|s| numeric_port(s).is_none());
    if socktype == libc::SOCK_RAW && service.is_some() {
        return Err(libc::EAI_SERVICE); // raw sockets have no ports
    }
    let all = [(libc::SOCK_STREAM, libc::IPPROTO_TCP), (libc::SOCK_DGRAM, libc::IPPROTO_UDP), (libc::SOCK_RAW, 0)];
    let v: Vec<(i32, i32)> = all
        .iter()
        .copied()
        .filter(|&(t, p)| (socktype == 0 || socktype == t) && (protocol == 0 || protocol == p || t == libc::SOCK_RAW))
        .filter(|&(t, _)| !(t == libc::SOCK_RAW && socktype == 0 && (named_service || protocol != 0)))
        .map(|(t, p)| if t == libc::SOCK_RAW && protocol != 0 { (t, protocol) } else { (t, p) })
        .collect();
    if v.is_empty() {
        let known = all.iter().any(|&(t, _)| t == socktype);
        return Err(if socktype != 0 && !known { libc::EAI_SOCKTYPE } else { libc::EAI_SERVICE });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aton_forms() {
        let ip = |a, b, c, d| Some(Ipv4Addr::new(a, b, c, d));
        assert_eq!(inet_aton("10.0.0.1"), ip(10, 0, 0, 1));
        assert_eq!(inet_aton("127.1"), ip(127, 0, 0, 1));
        assert_eq!(inet_aton("10.1.2"), ip(10, 1, 0, 2));
        assert_eq!(inet_aton("0x7f000001"), ip(127, 0, 0, 1));
        assert_eq!(inet_aton("0177.0.0.01"), ip(127, 0, 0, 1));
        assert_eq!(inet_aton("1"), ip(0, 0, 0, 1));
        assert_eq!(inet_aton("255.255.255.255"), ip(255, 255, 255, 255));
        for bad in [
            "",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.256",
            "1.2.65536",
            "08.1.1.1",
            "a.b.c.d",
            "1..2",
            "1.2.3.4 ",
            "files.test",
            "4294967296",
        ] {
            assert_eq!(inet_aton(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn services() {
        let s = Services::parse("# x\nhttp\t\t80/tcp\t\twww # WorldWideWeb\nhttp 80/udp\nbad line\nx 99999/tcp\n");
        assert_eq!(s.port("http", "tcp"), Some(80));
        assert_eq!(s.port("www", "tcp"), Some(80));
        assert_eq!(s.port("http", "sctp"), None);
        assert_eq!(s.name(80, "udp"), Some("http"));
        assert_eq!(s.name(81, "tcp"), None);
        assert_eq!(Services::builtin().port("domain", "udp"), Some(53));
        assert_eq!(numeric_port("8080"), Some(8080));
        assert_eq!(numeric_port("65536"), Some(0));
        assert_eq!(numeric_port("99999999999999999999999"), Some(0xffff));
        assert_eq!(numeric_port("-1"), None);
        assert_eq!(numeric_port("http"), None);
    }

    #[test]
    fn conf_overrides() {
        let env = |k: &str| match k {
            "RES_OPTIONS" => Some("timeout:1 attempts:1".to_string()),
            "LOCALDOMAIN" => Some("lab.test".to_string()),
            _ => None,
        };
        let c =
            resolver_conf("nameserver 1.1.1.1\nsearch corp\noptions timeout:4\n", env, &[Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(c.nameservers, vec![Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(c.search, vec!["lab.test"]);
        assert_eq!((c.timeout.as_secs(), c.attempts), (1, 1));
        let c = resolver_conf("nameserver 1.1.1.1\n", |_| None, &[]);
        assert_eq!(c.nameservers, vec![Ipv4Addr::new(1, 1, 1, 1)]);
    }

    #[test]
    fn socktype_table() {
        use libc::{IPPROTO_TCP as TCP, IPPROTO_UDP as UDP, SOCK_DGRAM as DG, SOCK_RAW as RAW, SOCK_STREAM as ST};
        assert_eq!(socktypes(0, 0, Some("80")), Ok(vec![(ST, TCP), (DG, UDP), (RAW, 0)]));
        assert_eq!(socktypes(0, 0, None), Ok(vec![(ST, TCP), (DG, UDP), (RAW, 0)]));
        assert_eq!(socktypes(0, 0, Some("http")), Ok(vec![(ST, TCP), (DG, UDP)]));
        assert_eq!(socktypes(ST, 0, Some("80")), Ok(vec![(ST, TCP)]));
        assert_eq!(socktypes(0, UDP, Some("80")), Ok(vec![(DG, UDP)]));
        assert_eq!(socktypes(RAW, 0, None), Ok(vec![(RAW, 0)]));
        assert_eq!(socktypes(RAW, 0, Some("80")), Err(libc::EAI_SERVICE));
        assert_eq!(socktypes(99, 0, Some("80")), Err(libc::EAI_SOCKTYPE));
        assert_eq!(socktypes(ST, UDP, Some("80")), Err(libc::EAI_SERVICE));
    }

    #[test]
    fn gai_messages() {
        assert_eq!(gai_message(libc::EAI_NONAME), b"Name or service not known\0");
        assert_eq!(gai_message(libc::EAI_AGAIN), b"Temporary failure in name resolution\0");
        assert_eq!(gai_message(0), b"Unknown error\0");
        assert_eq!(gai_message(libc::EAI_OVERFLOW), b"Unknown error\0");
        for c in -110..5 {
            assert_eq!(gai_message(c).last(), Some(&0), "{c}");
        }
    }
}
