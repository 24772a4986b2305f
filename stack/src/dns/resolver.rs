//! A sans-IO stub resolver (RFC 1035 7, RFC 1123 6.1.3, glibc's res_search behaviour):
//! hosts file, resolv.conf, A queries with random IDs, answer validation (source, ID,
//! question), CNAME chains, retries over servers and attempts, TC => TCP.
//!
//! The caller owns all I/O: it calls `Lookup::poll` and performs the returned `Action`
//! (send a UDP query, send a TCP query, wait), feeding responses back with `on_udp`/`on_tcp`.
use std::net::Ipv4Addr;

use crate::wire::ip::{IpAddress, IpEndpoint};

use super::wire::{self, Message, Name, RData};
use crate::time::{Duration, Instant};

pub const DNS_PORT: u16 = 53;
/// Longest CNAME chain followed inside one answer (glibc stops at a similar depth).
pub const MAX_CNAME_CHAIN: usize = 16;

/// resolv.conf(5) settings that the stub resolver honours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, IPv4 only, at most 3 (MAXNS). Empty means 127.0.0.1 (glibc).
    pub nameservers: Vec<Ipv4Addr>,
    /// `search` (or `domain`) list, at most 6 entries; the last of the two keywords wins.
    pub search: Vec<String>,
    /// `options ndots:n` (default 1, max 15).
    pub ndots: u8,
    /// `options timeout:n` seconds (default 5, max 30): how long each try waits.
    pub timeout: Duration,
    /// `options attempts:n` (default 2, max 5): rounds over the server list.
    pub attempts: u32,
    /// `options rotate`: start each lookup at a different server.
    pub rotate: bool,
}

impl Default for ResolvConf {
    fn default() -> Self {
        ResolvConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
        }
    }
}

impl ResolvConf {
    /// Parses resolv.conf text. Unknown keywords and malformed values are ignored, like glibc.
    pub fn parse(text: &str) -> ResolvConf {
        let mut c = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.parse::<Ipv4Addr>().ok()) {
                        if c.nameservers.len() < 3 {
                            c.nameservers.push(ip);
                        }
                    }
                }
                Some("domain") => {
                    let d = words.next().map(|d| d.trim_end_matches('.').to_string()).filter(|d| !d.is_empty());
                    c.search = d.into_iter().collect();
                }
                Some("search") => {
                    c.search =
                        words.take(6).map(|d| d.trim_end_matches('.').to_string()).filter(|d| !d.is_empty()).collect();
                }
                Some("options") => {
                    for opt in words {
                        let (k, v) = opt.split_once(':').unwrap_or((opt, ""));
                        let n = v.parse::<u32>().ok();
                        match (k, n) {
                            ("ndots", Some(n)) => c.ndots = n.min(15) as u8,
                            ("timeout", Some(n)) => c.timeout = Duration::from_secs(n.clamp(1, 30) as u64),
                            ("attempts", Some(n)) => c.attempts = n.clamp(1, 5),
                            ("rotate", _) => c.rotate = true,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// The servers to query: the configured ones or 127.0.0.1.
    pub fn servers(&self) -> Vec<Ipv4Addr> {
        if self.nameservers.is_empty() {
            vec![Ipv4Addr::LOCALHOST]
        } else {
            self.nameservers.clone()
        }
    }

    /// The names to try, in order (glibc res_nsearch): with at least `ndots` dots (or a
    /// trailing dot) the name as is first; then the search domains (not after a trailing dot);
    /// then the name as is if not yet tried.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        let trailing = name.ends_with('.');
        let bare = name.trim_end_matches('.');
        let dots = bare.matches('.').count();
        let mut out = Vec::new();
        let as_is_first = trailing || dots >= self.ndots as usize;
        if as_is_first {
            out.push(bare.to_string());
        }
        if !trailing {
            for d in &self.search {
                out.push(format!("{bare}.{d}"));
            }
        }
        if !as_is_first {
            out.push(bare.to_string());
        }
        out
    }
}

/// /etc/hosts (hosts(5)): IPv4 lines only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hosts {
    entries: Vec<(Ipv4Addr, Vec<String>)>,
}

impl Hosts {
    pub fn parse(text: &str) -> Hosts {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(ip) = words.next().and_then(|w| w.parse::<Ipv4Addr>().ok()) else { continue };
            let names: Vec<String> = words.map(str::to_string).collect();
            if !names.is_empty() {
                entries.push((ip, names));
            }
        }
        Hosts { entries }
    }

    /// Every address listed for `name` (case-insensitive; like glibc, "name." does not match
    /// "name"), in file order, with the canonical name (first name of the first matching line).
    pub fn lookup(&self, name: &str) -> Option<Answer> {
        let mut ans: Option<Answer> = None;
        for (ip, names) in &self.entries {
            if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                let a = ans.get_or_insert_with(|| Answer { canonical: names[0].clone(), addrs: Vec::new(), ttl: 0 });
                let ip = IpAddress::from(*ip);
                if !a.addrs.contains(&ip) {
                    a.addrs.push(ip);
                }
            }
        }
        ans
    }

    /// The first name listed for `ip`.
    pub fn reverse(&self, ip: Ipv4Addr) -> Option<&str> {
        self.entries.iter().find(|(a, _)| *a == ip).map(|(_, n)| n[0].as_str())
    }
}

/// A successful lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The canonical name (end of the CNAME chain), without a trailing dot.
    pub canonical: String,
    /// The addresses, family-neutral (A records today).
    pub addrs: Vec<IpAddress>,
    /// The smallest TTL along the chain (0 for hosts-file answers).
    pub ttl: u32,
}

/// Why a lookup failed (glibc's h_errno values, mapped to EAI_* by the shim).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// HOST_NOT_FOUND: NXDOMAIN for every candidate (EAI_NONAME).
    NotFound,
    /// NO_DATA: the name exists but has no A record (EAI_NODATA).
    NoData,
    /// TRY_AGAIN: timeouts, SERVFAIL, refused (EAI_AGAIN).
    TryAgain,
    /// NO_RECOVERY: the name cannot be queried (invalid), or answers were unusable (EAI_FAIL).
    Fail,
}

/// What the caller must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `query` in one datagram to `server` (port 53) from a fresh random source port,
    /// then hand every datagram received on that socket to `on_udp`.
    SendUdp {
        server: IpEndpoint,
        query: Vec<u8>,
    },
    /// Connect over TCP to `server`, send `query` with a 2-byte length prefix (RFC 1035
    /// 4.2.2), read one length-prefixed response and give it to `on_tcp` (or call
    /// `on_tcp_failed`). Issued after a truncated (TC) UDP answer.
    SendTcp {
        server: IpEndpoint,
        query: Vec<u8>,
    },
    /// Wait for input until this instant, then call `poll` again.
    Wait(Instant),
    Done(Result<Answer, ResolveError>),
}

struct Outstanding {
    id: u16,
    server: IpEndpoint,
    question: Name,
    deadline: Instant,
    tcp: bool,
}

/// One resolution of one name to IPv4 addresses.
pub struct Lookup {
    conf: ResolvConf,
    /// TYPE_A (forward) or TYPE_PTR (reverse), or any type of a raw lookup.
    qtype: u16,
    /// CLASS_IN, or any class of a raw lookup.
    qclass: u16,
    /// An address lookup, or a raw one for libc's res_* functions (`raw.rs`).
    mode: Mode,
    /// The response a raw lookup keeps (the last one seen, or the answer).
    raw: Option<Vec<u8>>,
    /// res_send's query, sent as it is (its ID too).
    fixed: Option<Vec<u8>>,
    servers: Vec<Ipv4Addr>,
    candidates: Vec<Name>,
    cand: usize,
    /// Tries made for the current candidate (attempts x servers in total).
    tries: u32,
    first_server: usize,
    rng: u64,
    outstanding: Option<Outstanding>,
    next: Option<Action>,
    result: Option<Result<Answer, ResolveError>>,
    got_nodata: bool,
    got_servfail: bool,
    /// The address of a reverse lookup.
    reverse_of: Option<Ipv4Addr>,
    /// Whether the last failed try of this candidate was a timeout (vs. an error answer).
    last_timed_out: bool,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Lookup {
    /// Starts resolving `name` (A records) with settings `conf`; `seed` must be unpredictable
    /// (query IDs come from it, RFC 5452 9.2).
    pub fn new(name: &str, conf: &ResolvConf, seed: u64) -> Lookup {
        let mut rng = seed;
        let servers = conf.servers();
        let first_server = if conf.rotate { (splitmix(&mut rng) % servers.len() as u64) as usize } else { 0 };
        // An invalid name (empty, label > 63, > 255 bytes) is never queried; candidates made
        // too long by a search suffix are skipped.
        let valid = !name.trim_end_matches('.').is_empty() && Name::from_dotted(name).is_ok();
        let candidates: Vec<Name> = if valid {
            conf.candidates(name).iter().filter_map(|c| Name::from_dotted(c).ok()).collect()
        } else {
            Vec::new()
        };
        let result = if valid { None } else { Some(Err(ResolveError::NotFound)) };
        Lookup {
            conf: conf.clone(),
            qtype: wire::TYPE_A,
            qclass: wire::CLASS_IN,
            mode: Mode::Addr,
            raw: None,
            fixed: None,
            servers,
            candidates,
            cand: 0,
            tries: 0,
            first_server,
            rng,
            outstanding: None,
            next: None,
            result,
            got_nodata: false,
            got_servfail: false,
            reverse_of: None,
            last_timed_out: false,
        }
    }

    /// A reverse lookup (RFC 1035 3.5): the PTR record of `d.c.b.a.in-addr.arpa`, no search
    /// list. On success the answer's `canonical` is the host name and `addrs` holds `ip`.
    pub fn reverse(ip: Ipv4Addr, conf: &ResolvConf, seed: u64) -> Lookup {
        let o = ip.octets();
        let name = format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0]);
        let mut l = Lookup::new(&name, conf, seed);
        l.qtype = wire::TYPE_PTR;
        l.reverse_of = Some(ip);
        l
    }

    /// The name currently being queried (for logs).
    pub fn current(&self) -> Option<&Name> {
        self.candidates.get(self.cand)
    }

    fn max_tries(&self) -> u32 {
        self.conf.attempts * self.servers.len() as u32
    }

    /// What to do now.
    pub fn poll(&mut self, now: Instant) -> Action {
        loop {
            if let Some(r) = &self.result {
                return Action::Done(r.clone());
            }
            if let Some(a) = self.next.take() {
                return a;
            }
            if let Some(o) = &self.outstanding {
                if now < o.deadline {
                    return Action::Wait(o.deadline);
                }
                // Timeout: this try failed.
                self.outstanding = None;
                self.fail_try(true);
                continue;
            }
            let Some(qname) = self.candidates.get(self.cand).cloned() else {
                self.finish_candidates();
                continue;
            };
            let idx = (self.first_server + self.tries as usize) % self.servers.len();
            let server = IpEndpoint::new(self.servers[idx].into(), DNS_PORT);
            let (id, query) = match &self.fixed {
                Some(q) => (u16::from_be_bytes([q[0], q[1]]), q.clone()),
                None => {
                    let id = splitmix(&mut self.rng) as u16;
                    (id, wire::build_query_class(id, &qname, self.qtype, self.qclass))
                }
            };
            self.outstanding =
                Some(Outstanding { id, server, question: qname, deadline: now + self.conf.timeout, tcp: false });
            return Action::SendUdp { server, query };
        }
    }

    /// A try failed (timeout, error answer, unreachable): next server/attempt, or give up on
    /// this candidate.
    fn fail_try(&mut self, timed_out: bool) {
        self.last_timed_out = timed_out;
        self.tries += 1;
        if self.tries >= self.max_tries() {
            if timed_out {
                // glibc stops searching when the servers do not answer at all.
                self.result = Some(Err(ResolveError::TryAgain));
            } else {
                self.got_servfail = true;
                self.next_candidate();
            }
        }
    }

    fn next_candidate(&mut self) {
        self.outstanding = None;
        self.cand += 1;
        self.tries = 0;
    }

    fn finish_candidates(&mut self) {
        self.result = Some(Err(if self.got_nodata {
            ResolveError::NoData
        } else if self.got_servfail {
            ResolveError::TryAgain
        } else {
            ResolveError::NotFound
        }));
    }

    /// True if `msg` is a response to the outstanding query: ID, QR, and exactly our question
    /// (RFC 5452 9.1). Anything else is ignored (spoofing, stale answers).
    fn matches(&self, msg: &[u8]) -> bool {
        let Some(o) = &self.outstanding else { return false };
        let Ok((h, qs)) = Message::parse_head(msg) else { return false };
        h.id == o.id
            && h.qr
            && h.opcode == 0
            && qs.len() == 1
            && qs[0].qtype == self.qtype
            && qs[0].qclass == self.qclass
            && qs[0].name.eq_ignore_case(&o.question)
    }

    /// A datagram arrived on the query socket. Returns true if it was accepted as the answer.
    pub fn on_udp(&mut self, now: Instant, from: IpEndpoint, msg: &[u8]) -> bool {
        let Some(o) = &self.outstanding else { return false };
        if o.tcp || from != o.server || !self.matches(msg) {
            return false;
        }
        let Ok((h, _)) = Message::parse_head(msg) else { return false };
        if h.tc {
            // RFC 1035 4.2.1 / RFC 7766: retry the same question over TCP.
            let o = self.outstanding.as_mut().expect("checked above");
            o.tcp = true;
            o.deadline = now + self.conf.timeout;
            let query = match &self.fixed {
                Some(q) => q.clone(),
                None => wire::build_query_class(o.id, &o.question, self.qtype, self.qclass),
            };
            self.next = Some(Action::SendTcp { server: o.server, query });
            return true;
        }
        self.answer(msg);
        true
    }

    /// The response read over TCP (without its length prefix).
    pub fn on_tcp(&mut self, now: Instant, msg: &[u8]) -> bool {
        let _ = now;
        match &self.outstanding {
            Some(o) if o.tcp && self.matches(msg) => {
                self.answer(msg);
                true
            }
            _ => false,
        }
    }

    /// The TCP exchange failed (refused, reset, closed early): counts as a failed try.
    pub fn on_tcp_failed(&mut self, now: Instant) {
        let _ = now;
        if matches!(&self.outstanding, Some(o) if o.tcp) {
            self.outstanding = None;
            self.fail_try(false);
        }
    }

    /// ICMP unreachable (ECONNREFUSED on the query socket): this server is not serving DNS.
    pub fn on_unreachable(&mut self, now: Instant) {
        let _ = now;
        if self.outstanding.take().is_some() {
            self.fail_try(false);
        }
    }

    /// Handles a validated response.
    fn answer(&mut self, msg: &[u8]) {
        if self.mode != Mode::Addr {
            return self.answer_raw(msg);
        }
        let o = self.outstanding.take().expect("answer() needs an outstanding query");
        let m = match Message::parse(msg) {
            Ok(m) => m,
            Err(_) => return self.fail_try(false),
        };
        match m.header.rcode {
            wire::RCODE_NOERROR => match self.reverse_of {
                Some(ip) => match follow_ptr(&m, &o.question) {
                    Some(host) => self.result = Some(Ok(Answer { canonical: host, addrs: vec![ip.into()], ttl: 0 })),
                    None => {
                        self.got_nodata = true;
                        self.next_candidate();
                    }
                },
                None => self.answer_a(&m, &o.question),
            },
            wire::RCODE_NXDOMAIN => self.next_candidate(),
            _ => self.fail_try(false), // SERVFAIL, NOTIMP, REFUSED, FORMERR: next server
        }
    }

    fn answer_a(&mut self, m: &Message, qname: &Name) {
        match follow_chain(m, qname) {
            Some(a) if !a.addrs.is_empty() => self.result = Some(Ok(a)),
            _ => {
                self.got_nodata = true;
                self.next_candidate();
            }
        }
    }
}

/// The PTR target for `qname` (after CNAMEs, RFC 2317 delegations use them), without the
/// trailing dot. None if there is none or the chain is too long.
pub fn follow_ptr(m: &Message, qname: &Name) -> Option<String> {
    let mut name = qname.clone();
    for _ in 0..=MAX_CNAME_CHAIN {
        let mut next = None;
        for r in m.answers.iter().filter(|r| r.class == wire::CLASS_IN && r.name.eq_ignore_case(&name)) {
            match (&r.data, r.rtype) {
                (RData::Name(t), wire::TYPE_PTR) => return Some(t.to_string()),
                (RData::Name(t), wire::TYPE_CNAME) => next = Some(t.clone()),
                _ => {}
            }
        }
        name = next?;
    }
    None
}

/// Follows CNAMEs from `qname` through the answer section and collects the A records of the
/// final name. None if the chain loops or is longer than `MAX_CNAME_CHAIN`.
pub fn follow_chain(m: &Message, qname: &Name) -> Option<Answer> {
    let mut name = qname.clone();
    let mut ttl = u32::MAX;
    for _ in 0..=MAX_CNAME_CHAIN {
        let addrs: Vec<(Ipv4Addr, u32)> = m
            .answers
            .iter()
            .filter(|r| r.class == wire::CLASS_IN && r.name.eq_ignore_case(&name))
            .filter_map(|r| match r.data {
                RData::A(a) => Some((a, r.ttl)),
                _ => None,
            })
            .collect();
        if !addrs.is_empty() {
            let ttl = addrs.iter().map(|a| a.1).min().unwrap_or(0).min(ttl);
            let mut out = Vec::new();
            for (a, _) in addrs {
                let a = IpAddress::from(a);
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            return Some(Answer { canonical: name.to_string(), addrs: out, ttl });
        }
        let next = m.answers.iter().find_map(|r| match &r.data {
            RData::Name(target) if r.rtype == wire::TYPE_CNAME && r.name.eq_ignore_case(&name) => {
                Some((target.clone(), r.ttl))
            }
            _ => None,
        });
        match next {
            Some((target, t)) => {
                ttl = ttl.min(t);
                name = target;
            }
            None => return Some(Answer { canonical: name.to_string(), addrs: Vec::new(), ttl: 0 }),
        }
    }
    None
}

/// What a lookup returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Mode {
    /// Addresses (getaddrinfo, gethostbyname) or a host name (getnameinfo).
    Addr,
    /// res_query, res_search: the response with answers (`raw.rs`).
    Raw,
    /// res_send: the response to a query given whole (`raw.rs`).
    Send,
}

#[path = "raw.rs"]
mod raw;

#[cfg(test)]
#[path = "resolver_tests.rs"]
mod tests;
