//! What `tapstack ss` and `tapstack stats` show: pure snapshots of a stack (its socket table and
//! its counters) and their formatting, in the spirit of `ss -tuna` / `ss -ti` and `nstat`.
//! Taking a snapshot reads the stack and changes nothing; formatting is plain text. The
//! service (`tapstackd`) fills in which process holds each socket ([`SockEntry::owner`]).
use crate::wire::ip::IpEndpoint;
use std::fmt::Write;

use crate::socket::tcp::{TcpInfo, TcpState};
use crate::trace::state_name;

pub mod counters;
pub mod snapshot;

/// Transport of a socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    /// A raw IP socket (its protocol in the local port, as ss -n shows it).
    Raw,
}

/// One socket of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct SockEntry {
    pub proto: Proto,
    /// The engine's handle number (the service maps it to the process holding it).
    pub handle: u32,
    /// TCP state; None for UDP (`UNCONN`, or `ESTAB` when connected, as ss prints).
    pub state: Option<TcpState>,
    pub local: IpEndpoint,
    /// Peer, if any (`0.0.0.0:*` otherwise).
    pub remote: Option<IpEndpoint>,
    /// Bytes received and not read (listeners: connections waiting in accept).
    pub recv_q: usize,
    /// Bytes not yet acknowledged (listeners: the backlog).
    pub send_q: usize,
    /// Closed by its process, finishing in the background (FIN-WAIT, TIME-WAIT...).
    pub orphan: bool,
    /// `name,pid` of the holder, when known.
    pub owner: Option<(String, i32)>,
    /// TCP details (`-i`).
    pub info: Option<TcpInfo>,
}

/// Which sockets and columns to show (`ss` options).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SsOpts {
    pub tcp: bool,
    pub udp: bool,
    /// `-w`: raw sockets.
    pub raw: bool,
    /// `-a`: listening and non-listening; `-l`: listening only; default: non-listening only.
    pub all: bool,
    pub listening: bool,
    /// `-i`: TCP internals on a second line.
    pub info: bool,
}

impl SsOpts {
    /// Parses ss-style flags (`-tuna`, `-ti`, `-l`); `-n` is accepted (we never resolve names).
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<SsOpts, String> {
        let mut o = SsOpts::default();
        for a in args {
            let Some(fl) = a.strip_prefix('-').filter(|f| !f.is_empty() && !f.starts_with('-')) else {
                return Err(format!("ss: unknown argument {a:?} (flags: -t -u -w -a -l -n -i)"));
            };
            for c in fl.chars() {
                match c {
                    't' => o.tcp = true,
                    'u' => o.udp = true,
                    'w' => o.raw = true,
                    'a' => o.all = true,
                    'l' => o.listening = true,
                    'n' => {}
                    'i' => o.info = true,
                    _ => return Err(format!("ss: unknown flag -{c} (flags: -t -u -w -a -l -n -i)")),
                }
            }
        }
        if !o.tcp && !o.udp && !o.raw {
            o.tcp = true;
            o.udp = true;
            o.raw = true;
        }
        Ok(o)
    }
}

fn ss_state(e: &SockEntry) -> &'static str {
    match (e.proto, e.state) {
        (Proto::Udp | Proto::Raw, _) => {
            if e.remote.is_some() {
                "ESTAB"
            } else {
                "UNCONN"
            }
        }
        (Proto::Tcp, Some(TcpState::Established)) => "ESTAB",
        (Proto::Tcp, Some(TcpState::Listen)) => "LISTEN",
        (Proto::Tcp, Some(TcpState::SynSent)) => "SYN-SENT",
        (Proto::Tcp, Some(TcpState::SynReceived)) => "SYN-RECV",
        (Proto::Tcp, Some(s)) => state_name(s),
        (Proto::Tcp, None) => "UNKNOWN",
    }
}

fn listening(e: &SockEntry) -> bool {
    match e.proto {
        Proto::Tcp => e.state == Some(TcpState::Listen),
        Proto::Udp | Proto::Raw => e.remote.is_none(),
    }
}

fn us(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// Bits per second the way ss prints them.
pub fn rate(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.1}Gbps", bps / 1e9)
    } else if bps >= 1e6 {
        format!("{:.1}Mbps", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1}Kbps", bps / 1e3)
    } else {
        format!("{bps:.0}bps")
    }
}

/// The `-i` line of a TCP socket.
pub fn info_line(i: &TcpInfo) -> String {
    let mut s = String::new();
    if i.timestamps {
        s.push_str(" ts");
    }
    if i.sack {
        s.push_str(" sack");
    }
    let _ = write!(s, " wscale:{},{}", i.wscale_snd, i.wscale_rcv);
    let _ = write!(s, " rto:{} rtt:{}/{}", i.rto.as_millis(), us(i.srtt), us(i.rttvar));
    let mss = i.snd_mss.max(1) as u32;
    let _ = write!(s, " mss:{} rcvmss:{}", i.snd_mss, i.rcv_mss);
    let _ = write!(s, " cwnd:{}", i.cwnd.div_ceil(mss));
    if i.ssthresh != u32::MAX {
        let _ = write!(s, " ssthresh:{}", i.ssthresh.div_ceil(mss));
    }
    let _ = write!(s, " bytes_sent:{} bytes_acked:{} bytes_received:{}", i.bytes_sent, i.bytes_acked, i.bytes_received);
    let _ = write!(s, " segs_out:{} segs_in:{}", i.segs_out, i.segs_in);
    if !i.srtt.is_zero() {
        let _ = write!(s, " send {}", rate(i.cwnd as f64 * 8.0 / i.srtt.as_secs_f64()));
    }
    if i.delivery_rate > 0 {
        let _ = write!(s, " delivery_rate {}", rate(i.delivery_rate as f64 * 8.0));
    }
    let _ = write!(s, " retrans:{}/{}", i.backoff, i.retransmits);
    if i.fast_retransmits > 0 || i.rto_expirations > 0 {
        let _ = write!(s, " fast_retrans:{} rto_expired:{}", i.fast_retransmits, i.rto_expirations);
    }
    if i.dsacks > 0 || i.undos > 0 {
        let _ = write!(s, " dsack_dups:{} undos:{}", i.dsacks, i.undos);
    }
    if i.reord_seen {
        let _ = write!(s, " reord_seen");
    }
    let _ = write!(s, " snd_wnd:{} rcv_wnd:{}", i.snd_wnd, i.rcv_wnd);
    s
}

/// The socket table as `ss -tuna` (and with `-i`, `ss -tuni`) prints it.
pub fn format_ss(entries: &[SockEntry], o: SsOpts) -> String {
    let shown: Vec<&SockEntry> = entries
        .iter()
        .filter(|e| match e.proto {
            Proto::Tcp => o.tcp,
            Proto::Udp => o.udp,
            Proto::Raw => o.raw,
        })
        .filter(|e| o.all || (o.listening == listening(e)))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6}{:<11}{:>7} {:>7} {:<23}{:<23}Process",
        "Netid", "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    for e in shown {
        let netid = match e.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Raw => "raw",
        };
        let peer = e.remote.map_or_else(|| "0.0.0.0:*".to_string(), |r| r.to_string());
        let owner = match &e.owner {
            Some((name, pid)) => format!("users:((\"{name}\",pid={pid}))"),
            None if e.orphan => "(orphan)".into(),
            None => String::new(),
        };
        let line = format!(
            "{:<6}{:<11}{:>7} {:>7} {:<23}{:<23}{}",
            netid,
            ss_state(e),
            e.recv_q,
            e.send_q,
            e.local.to_string(),
            peer,
            owner
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if o.info {
            if let Some(i) = e.info.as_ref().filter(|_| e.state != Some(TcpState::Listen)) {
                let _ = writeln!(out, "\t{}", info_line(i).trim_start());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
