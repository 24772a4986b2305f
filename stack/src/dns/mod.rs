//! DNS: total, bounded wire parsing and a sans-IO stub resolver (hosts file, resolv.conf,
//! queries, answer validation, CNAME chains). The shim drives it over tapstack UDP/TCP.
pub mod names;
pub mod resolver;
pub mod wire;

pub use resolver::{Action, Answer, Hosts, Lookup, ResolvConf, ResolveError};
pub use wire::{DnsError, Message, Name};
