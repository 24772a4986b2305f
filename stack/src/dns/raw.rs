//! Raw lookups, for libc's res_query, res_search, res_querydomain and res_send (resolver(3)):
//! any class and type, and the response itself as the result, for the program to parse. The
//! same tries as an address lookup (servers x attempts, TC => TCP, answers validated by ID and
//! question); what counts as an answer follows glibc's res_nquery and send_dg:
//! - res_query / res_search (`Lookup::raw`): NOERROR with answer records. NXDOMAIN or NOERROR
//!   without answers moves on to the next search candidate; at the end the error is HOST_NOT_FOUND,
//!   or NO_DATA if some candidate had the name; SERVFAIL, NOTIMP, REFUSED try the next server.
//! - res_send (`Lookup::send`): the query's bytes and ID as given; any response but SERVFAIL,
//!   NOTIMP and REFUSED (which try the next server), NXDOMAIN included.
use super::*;

impl Lookup {
    /// res_search (`search`: the search list applies, as `Lookup::new`) or res_query (the name
    /// as it is) of `name`, class `qclass`, type `qtype`. The response is `raw_answer()`.
    pub fn raw(name: &str, qclass: u16, qtype: u16, conf: &ResolvConf, seed: u64, search: bool) -> Lookup {
        let plain = ResolvConf { search: Vec::new(), ..conf.clone() };
        let mut l = Lookup::new(name, if search { conf } else { &plain }, seed);
        l.qclass = qclass;
        l.qtype = qtype;
        l.mode = Mode::Raw;
        l
    }

    /// res_send of `query` (one question, not a response): sent as it is to each server in
    /// turn. A query that cannot be parsed fails at once (NO_RECOVERY).
    pub fn send(query: &[u8], conf: &ResolvConf, seed: u64) -> Lookup {
        let mut l = Lookup::new(".", conf, seed);
        l.mode = Mode::Send;
        match Message::parse_head(query) {
            Ok((h, qs)) if !h.qr && qs.len() == 1 => {
                l.candidates = vec![qs[0].name.clone()];
                l.qtype = qs[0].qtype;
                l.qclass = qs[0].qclass;
                l.fixed = Some(query.to_vec());
                l.result = None;
            }
            _ => l.result = Some(Err(ResolveError::Fail)),
        }
        l
    }

    /// The response of a raw lookup: the answer once `Done(Ok)`, else the last response seen
    /// (NXDOMAIN, no data), if any.
    pub fn raw_answer(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    /// A validated response to a raw lookup.
    pub(super) fn answer_raw(&mut self, msg: &[u8]) {
        self.outstanding = None;
        let Ok((h, _)) = Message::parse_head(msg) else { return self.fail_try(false) };
        // parse_head read the 12-byte header.
        let answers = u16::from_be_bytes([msg[6], msg[7]]);
        let send = self.mode == Mode::Send;
        match h.rcode {
            wire::RCODE_SERVFAIL | wire::RCODE_NOTIMP | wire::RCODE_REFUSED => return self.fail_try(false),
            _ if !send && h.rcode != wire::RCODE_NOERROR && h.rcode != wire::RCODE_NXDOMAIN => {
                return self.fail_try(false)
            }
            _ => {}
        }
        self.raw = Some(msg.to_vec());
        if send || (h.rcode == wire::RCODE_NOERROR && answers > 0) {
            self.result = Some(Ok(Answer { canonical: String::new(), addrs: Vec::new(), ttl: 0 }));
        } else {
            self.got_nodata |= h.rcode == wire::RCODE_NOERROR;
            self.next_candidate();
        }
    }
}
