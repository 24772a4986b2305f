use super::*;
use crate::dns::wire::{Header, Question, Record};

const NS1: IpAddress = IpAddress::v4(10, 0, 0, 1);
const NS2: IpAddress = IpAddress::v4(10, 0, 0, 3);

fn conf(servers: &[IpAddress]) -> ResolvConf {
    ResolvConf {
        nameservers: servers.iter().map(|a| a.as_v4()).collect(),
        timeout: Duration::from_secs(2),
        ..ResolvConf::default()
    }
}

fn expect_udp(a: Action) -> (IpEndpoint, Message) {
    match a {
        Action::SendUdp { server, query } => (server, Message::parse(&query).unwrap()),
        other => panic!("expected SendUdp, got {other:?}"),
    }
}

/// A response to `q` with `rcode`, answers given, optional TC.
fn reply(q: &Message, rcode: u8, answers: Vec<Record>, tc: bool) -> Vec<u8> {
    Message {
        header: Header { id: q.header.id, qr: true, rd: true, ra: true, rcode, tc, ..Header::default() },
        questions: q.questions.clone(),
        answers,
        ..Message::default()
    }
    .emit()
    .unwrap()
}

fn a(name: &str, ip: [u8; 4], ttl: u32) -> Record {
    Record {
        name: Name::from_dotted(name).unwrap(),
        rtype: wire::TYPE_A,
        class: wire::CLASS_IN,
        ttl,
        data: RData::A(ip.into()),
    }
}
fn cname(name: &str, target: &str) -> Record {
    Record {
        name: Name::from_dotted(name).unwrap(),
        rtype: wire::TYPE_CNAME,
        class: wire::CLASS_IN,
        ttl: 30,
        data: RData::Name(Name::from_dotted(target).unwrap()),
    }
}

fn sa(ip: IpAddress) -> IpEndpoint {
    IpEndpoint::new(ip, 53)
}

#[test]
fn resolv_conf_parsing() {
    let c = ResolvConf::parse(
        "# comment\nnameserver 10.0.0.1\nnameserver fe80::1\nnameserver 10.0.0.3 ; x\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n\
         domain old.example\nsearch a.example b.example.\noptions ndots:2 timeout:3 attempts:9 rotate bogus:1\n",
    );
    assert_eq!(
        c.nameservers.iter().map(|&a| IpAddress::from(a)).collect::<Vec<_>>(),
        vec![NS1, NS2, IpAddress::v4(1, 1, 1, 1)],
        "IPv4 only, at most 3"
    );
    assert_eq!(c.search, vec!["a.example", "b.example"]);
    assert_eq!((c.ndots, c.timeout, c.attempts, c.rotate), (2, Duration::from_secs(3), 5, true));
    let d = ResolvConf::parse("search x.example\ndomain y.example\noptions timeout:0 ndots:99\n");
    assert_eq!(d.search, vec!["y.example"], "last of domain/search wins");
    assert_eq!((d.timeout, d.ndots, d.attempts), (Duration::from_secs(1), 15, 2));
    assert_eq!(
        ResolvConf::parse("").servers().into_iter().map(IpAddress::from).collect::<Vec<_>>(),
        vec![IpAddress::v4(127, 0, 0, 1)]
    );
    // "search ." / "domain ." (systemd) mean no search list.
    assert!(ResolvConf::parse("search .\n").search.is_empty());
    assert!(ResolvConf::parse("domain .\n").search.is_empty());
    assert_eq!(
        ResolvConf::parse("nameserver ::1\n").servers().into_iter().map(IpAddress::from).collect::<Vec<_>>(),
        vec![IpAddress::v4(127, 0, 0, 1)]
    );
}

#[test]
fn search_order_and_ndots() {
    let c = ResolvConf { search: vec!["s1".into(), "s2".into()], ndots: 1, ..ResolvConf::default() };
    assert_eq!(c.candidates("host"), vec!["host.s1", "host.s2", "host"]);
    assert_eq!(c.candidates("files.test"), vec!["files.test", "files.test.s1", "files.test.s2"]);
    assert_eq!(c.candidates("files.test."), vec!["files.test"]);
    let c2 = ResolvConf { ndots: 3, ..c };
    assert_eq!(c2.candidates("a.b"), vec!["a.b.s1", "a.b.s2", "a.b"]);
}

#[test]
fn hosts_file() {
    let h = Hosts::parse(
        "127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.0.0.1 files.test files # the server\n\
         10.0.0.5 Files.test\n#10.9.9.9 files.test\n10.0.0.1 files.test\n",
    );
    assert!(h.lookup("files.test.").is_none(), "glibc does not strip the dot for files");
    let ans = h.lookup("FILES.test").unwrap();
    assert_eq!(ans.addrs, vec![NS1, IpAddress::v4(10, 0, 0, 5)]);
    assert_eq!(ans.canonical, "files.test");
    assert_eq!(h.lookup("files").unwrap().addrs, vec![NS1]);
    assert_eq!(h.lookup("localhost").unwrap().addrs, vec![IpAddress::v4(127, 0, 0, 1)]);
    assert!(h.lookup("ip6-localhost").is_none());
    assert!(h.lookup("nope").is_none());
    assert_eq!(h.reverse(NS1.into()), Some("files.test"));
    assert_eq!(h.reverse(IpAddress::v4(1, 2, 3, 4).into()), None);
}

#[test]
fn simple_answer() {
    let mut l = Lookup::new("files.test", &conf(&[NS1]), 42);
    let t0 = Instant::from_secs(100);
    let (server, q) = expect_udp(l.poll(t0));
    assert_eq!(server, sa(NS1));
    assert!(q.header.rd && !q.header.qr);
    assert_eq!(q.questions[0].name.to_string(), "files.test");
    assert_eq!(l.poll(t0), Action::Wait(t0 + Duration::from_secs(2)));
    assert!(l.on_udp(t0, sa(NS1), &reply(&q, 0, vec![a("files.test", [10, 0, 0, 1], 60)], false)));
    let want = Answer { canonical: "files.test".into(), addrs: vec![NS1], ttl: 60 };
    assert_eq!(l.poll(t0), Action::Done(Ok(want)));
}

#[test]
fn random_ids() {
    let ids: std::collections::BTreeSet<u16> = (0..50)
        .map(|seed| expect_udp(Lookup::new("x.test", &conf(&[NS1]), seed).poll(Instant::ZERO)).1.header.id)
        .collect();
    assert!(ids.len() > 45, "{ids:?}");
}

#[test]
fn invalid_responses_ignored() {
    let mut l = Lookup::new("files.test", &conf(&[NS1]), 7);
    let t = Instant::ZERO;
    let (_, q) = expect_udp(l.poll(t));
    let good = reply(&q, 0, vec![a("files.test", [10, 0, 0, 1], 60)], false);
    // Wrong ID.
    let mut q_wrong = q.clone();
    q_wrong.header.id = q.header.id.wrapping_add(1);
    assert!(!l.on_udp(t, sa(NS1), &reply(&q_wrong, 0, vec![a("files.test", [6, 6, 6, 6], 60)], false)));
    // Wrong source address / port.
    assert!(!l.on_udp(t, sa(NS2), &good));
    assert!(!l.on_udp(t, IpEndpoint::new(NS1, 5353), &good));
    // Wrong question.
    let mut q_other = q.clone();
    q_other.questions[0].name = Name::from_dotted("evil.test").unwrap();
    assert!(!l.on_udp(t, sa(NS1), &reply(&q_other, 0, vec![a("evil.test", [6, 6, 6, 6], 60)], false)));
    let mut q_type = q.clone();
    q_type.questions[0].qtype = wire::TYPE_AAAA;
    assert!(!l.on_udp(t, sa(NS1), &reply(&q_type, 0, vec![], false)));
    // Not a response (QR clear), garbage.
    assert!(!l.on_udp(t, sa(NS1), &wire::build_query(q.header.id, &q.questions[0].name, wire::TYPE_A)));
    assert!(!l.on_udp(t, sa(NS1), &[1, 2, 3]));
    assert!(matches!(l.poll(t), Action::Wait(_)));
    // Question name case differs (0x20 style): still ours.
    let mut q_case = q.clone();
    q_case.questions[0].name = Name::from_dotted("FILES.Test").unwrap();
    assert!(l.on_udp(t, sa(NS1), &reply(&q_case, 0, vec![a("files.test", [10, 0, 0, 1], 60)], false)));
    assert!(matches!(l.poll(t), Action::Done(Ok(ref a)) if a.addrs == vec![NS1]));
}

#[test]
fn cname_chain() {
    let mut l = Lookup::new("www.test", &conf(&[NS1]), 1);
    let t = Instant::ZERO;
    let (_, q) = expect_udp(l.poll(t));
    let answers = vec![
        a("unrelated.test", [9, 9, 9, 9], 10),
        cname("www.test", "mid.test"),
        cname("mid.test", "files.test"),
        a("files.test", [10, 0, 0, 1], 100),
        a("files.test", [10, 0, 0, 4], 20),
    ];
    l.on_udp(t, sa(NS1), &reply(&q, 0, answers, false));
    let want = Answer { canonical: "files.test".into(), addrs: vec![NS1, IpAddress::v4(10, 0, 0, 4)], ttl: 20 };
    assert_eq!(l.poll(t), Action::Done(Ok(want)));
}

#[test]
fn cname_loop_and_dangling() {
    let q = Message {
        questions: vec![Question { name: Name::from_dotted("a.test").unwrap(), qtype: 1, qclass: 1 }],
        ..Message::default()
    };
    let looped = Message { answers: vec![cname("a.test", "b.test"), cname("b.test", "a.test")], ..q.clone() };
    assert_eq!(follow_chain(&looped, &q.questions[0].name), None);
    // A CNAME without the target's address: no data for this name.
    let mut l = Lookup::new("a.test", &conf(&[NS1]), 3);
    let (_, qm) = expect_udp(l.poll(Instant::ZERO));
    l.on_udp(Instant::ZERO, sa(NS1), &reply(&qm, 0, vec![cname("a.test", "b.test")], false));
    assert_eq!(l.poll(Instant::ZERO), Action::Done(Err(ResolveError::NoData)));
}

#[test]
fn timeout_retries_then_gives_up() {
    let mut c = conf(&[NS1, NS2]);
    c.attempts = 2;
    let mut l = Lookup::new("files.test", &c, 5);
    let mut t = Instant::from_secs(1);
    let mut sent = Vec::new();
    let mut ids = Vec::new();
    loop {
        match l.poll(t) {
            Action::SendUdp { server, query } => {
                sent.push(server);
                ids.push(Message::parse(&query).unwrap().header.id);
            }
            Action::Wait(d) => {
                assert_eq!(d, t + Duration::from_secs(2));
                t = d;
            }
            Action::Done(r) => {
                assert_eq!(r, Err(ResolveError::TryAgain));
                break;
            }
            a => panic!("{a:?}"),
        }
        assert!(sent.len() <= 4);
    }
    assert_eq!(sent, vec![sa(NS1), sa(NS2), sa(NS1), sa(NS2)]);
    assert_eq!(t, Instant::from_secs(1 + 8), "bounded: attempts x servers x timeout");
    // A late answer to an earlier query is not accepted (ID changed per try).
    assert!(ids.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn late_answer_after_retry_uses_new_id() {
    let mut l = Lookup::new("files.test", &conf(&[NS1]), 9);
    let (_, q1) = expect_udp(l.poll(Instant::ZERO));
    // The first try times out; the retry carries a fresh ID.
    let (_, q2) = expect_udp(l.poll(Instant::from_secs(2)));
    assert_ne!(q1.header.id, q2.header.id);
    let stale = reply(&q1, 0, vec![a("files.test", [6, 6, 6, 6], 1)], false);
    assert!(!l.on_udp(Instant::from_secs(2), sa(NS1), &stale));
    assert!(l.on_udp(Instant::from_secs(2), sa(NS1), &reply(&q2, 0, vec![a("files.test", [10, 0, 0, 1], 1)], false)));
    assert!(matches!(l.poll(Instant::from_secs(2)), Action::Done(Ok(ref a)) if a.addrs == vec![NS1]));
}

#[test]
fn truncated_answer_goes_to_tcp() {
    let mut l = Lookup::new("big.test", &conf(&[NS1]), 11);
    let t = Instant::ZERO;
    let (_, q) = expect_udp(l.poll(t));
    assert!(l.on_udp(t, sa(NS1), &reply(&q, 0, vec![], true)));
    let (server, tq) = match l.poll(t) {
        Action::SendTcp { server, query } => (server, Message::parse(&query).unwrap()),
        a => panic!("{a:?}"),
    };
    assert_eq!((server, tq.header.id, &tq.questions), (sa(NS1), q.header.id, &q.questions));
    assert!(matches!(l.poll(t), Action::Wait(_)));
    // UDP answers are no longer accepted for this query.
    assert!(!l.on_udp(t, sa(NS1), &reply(&q, 0, vec![a("big.test", [1, 1, 1, 1], 5)], false)));
    let many: Vec<Record> = (1..=40).map(|i| a("big.test", [10, 1, 0, i], 5)).collect();
    assert!(l.on_tcp(t, &reply(&q, 0, many, false)));
    match l.poll(t) {
        Action::Done(Ok(ans)) => assert_eq!(ans.addrs.len(), 40),
        a => panic!("{a:?}"),
    }
    // TCP failure counts as a failed try: with one server and 2 attempts, a UDP retry follows.
    let mut l = Lookup::new("big.test", &conf(&[NS1]), 12);
    let (_, q) = expect_udp(l.poll(t));
    l.on_udp(t, sa(NS1), &reply(&q, 0, vec![], true));
    assert!(matches!(l.poll(t), Action::SendTcp { .. }));
    l.on_tcp_failed(t);
    assert!(matches!(l.poll(t), Action::SendUdp { .. }));
}

#[test]
fn nxdomain_walks_search_list() {
    let c = ResolvConf { search: vec!["lab".into()], ..conf(&[NS1]) };
    let mut l = Lookup::new("host", &c, 2);
    let t = Instant::ZERO;
    let (_, q) = expect_udp(l.poll(t));
    assert_eq!(q.questions[0].name.to_string(), "host.lab");
    l.on_udp(t, sa(NS1), &reply(&q, wire::RCODE_NXDOMAIN, vec![], false));
    let (_, q) = expect_udp(l.poll(t));
    assert_eq!(q.questions[0].name.to_string(), "host");
    l.on_udp(t, sa(NS1), &reply(&q, wire::RCODE_NXDOMAIN, vec![], false));
    assert_eq!(l.poll(t), Action::Done(Err(ResolveError::NotFound)));
}

#[test]
fn servfail_tries_next_server_then_try_again() {
    let mut l = Lookup::new("x.test", &conf(&[NS1, NS2]), 2);
    let t = Instant::ZERO;
    let mut servers = Vec::new();
    for _ in 0..4 {
        let (s, q) = expect_udp(l.poll(t));
        servers.push(s);
        l.on_udp(t, s, &reply(&q, wire::RCODE_SERVFAIL, vec![], false));
    }
    assert_eq!(servers, vec![sa(NS1), sa(NS2), sa(NS1), sa(NS2)]);
    assert_eq!(l.poll(t), Action::Done(Err(ResolveError::TryAgain)));
    // Refused by the first, answered by the second.
    let mut l = Lookup::new("x.test", &conf(&[NS1, NS2]), 2);
    let (_, q) = expect_udp(l.poll(t));
    l.on_unreachable(t);
    let (s, q2) = expect_udp(l.poll(t));
    assert_eq!(s, sa(NS2));
    assert_ne!(q.header.id, q2.header.id);
    l.on_udp(t, sa(NS2), &reply(&q2, 0, vec![a("x.test", [1, 2, 3, 4], 9)], false));
    assert!(matches!(l.poll(t), Action::Done(Ok(_))));
}

#[test]
fn invalid_names_never_queried() {
    for n in ["", ".", "a..b", &"x".repeat(64), &vec!["y".repeat(60); 5].join(".")] {
        let mut l = Lookup::new(n, &conf(&[NS1]), 1);
        assert_eq!(l.poll(Instant::ZERO), Action::Done(Err(ResolveError::NotFound)), "{n:?}");
    }
}

#[test]
fn reverse_lookup() {
    let mut l =
        Lookup::reverse(IpAddress::v4(10, 0, 0, 1).into(), &ResolvConf { search: vec!["x".into()], ..conf(&[NS1]) }, 4);
    let t = Instant::ZERO;
    let (_, q) = expect_udp(l.poll(t));
    assert_eq!(q.questions[0].name.to_string(), "1.0.0.10.in-addr.arpa", "no search list");
    assert_eq!(q.questions[0].qtype, wire::TYPE_PTR);
    // An A-type answer to a PTR question is not ours.
    let mut qa = q.clone();
    qa.questions[0].qtype = wire::TYPE_A;
    assert!(!l.on_udp(t, sa(NS1), &reply(&qa, 0, vec![], false)));
    let ptr = Record {
        name: Name::from_dotted("1.0.0.10.in-addr.arpa").unwrap(),
        rtype: wire::TYPE_PTR,
        class: wire::CLASS_IN,
        ttl: 5,
        data: RData::Name(Name::from_dotted("files.test").unwrap()),
    };
    assert!(l.on_udp(t, sa(NS1), &reply(&q, 0, vec![ptr], false)));
    let want = Answer { canonical: "files.test".into(), addrs: vec![NS1], ttl: 0 };
    assert_eq!(l.poll(t), Action::Done(Ok(want)));
    // NXDOMAIN: not found.
    let mut l = Lookup::reverse(IpAddress::v4(10, 0, 0, 9).into(), &conf(&[NS1]), 5);
    let (_, q) = expect_udp(l.poll(t));
    l.on_udp(t, sa(NS1), &reply(&q, wire::RCODE_NXDOMAIN, vec![], false));
    assert_eq!(l.poll(t), Action::Done(Err(ResolveError::NotFound)));
}

const TYPE_TXT: u16 = 16;

fn txt(name: &str, text: &[u8]) -> Record {
    let mut data = vec![text.len() as u8];
    data.extend_from_slice(text);
    Record {
        name: Name::from_dotted(name).unwrap(),
        rtype: TYPE_TXT,
        class: wire::CLASS_IN,
        ttl: 60,
        data: RData::Other(data),
    }
}

#[test]
fn raw_search_tries_the_candidates_and_returns_the_response() {
    let c = ResolvConf { search: vec!["test".into()], ..conf(&[NS1]) };
    let mut l = Lookup::raw("seven", wire::CLASS_IN, TYPE_TXT, &c, 7, true);
    let t = Instant::from_millis(0);
    let (s, q) = expect_udp(l.poll(t));
    assert_eq!((s, q.questions[0].name.to_string(), q.questions[0].qtype), (sa(NS1), "seven.test".into(), TYPE_TXT));
    assert!(l.on_udp(t, s, &reply(&q, wire::RCODE_NXDOMAIN, vec![], false)));
    let (s, q) = expect_udp(l.poll(t));
    assert_eq!(q.questions[0].name.to_string(), "seven");
    let resp = reply(&q, wire::RCODE_NOERROR, vec![txt("seven", b"hello")], false);
    assert!(l.on_udp(t, s, &resp));
    assert!(matches!(l.poll(t), Action::Done(Ok(_))));
    assert_eq!(l.raw_answer(), Some(&resp[..]), "the response itself");
}

#[test]
fn raw_query_is_the_name_alone_and_no_data_is_an_error_with_its_response() {
    let c = ResolvConf { search: vec!["test".into()], ..conf(&[NS1]) };
    let mut l = Lookup::raw("seven", wire::CLASS_IN, TYPE_TXT, &c, 7, false);
    let t = Instant::from_millis(0);
    let (s, q) = expect_udp(l.poll(t));
    assert_eq!(q.questions[0].name.to_string(), "seven", "no search list");
    let resp = reply(&q, wire::RCODE_NOERROR, vec![], false);
    assert!(l.on_udp(t, s, &resp));
    assert_eq!(l.poll(t), Action::Done(Err(ResolveError::NoData)));
    assert_eq!(l.raw_answer(), Some(&resp[..]));
    // Truncated: the same class and type over TCP.
    let mut l = Lookup::raw("big.test", 3 /* CH */, TYPE_TXT, &c, 9, false);
    let (s, q) = expect_udp(l.poll(t));
    assert_eq!(q.questions[0].qclass, 3);
    let mut chaos = reply(&q, wire::RCODE_NOERROR, vec![], true);
    assert!(l.on_udp(t, s, &chaos));
    match l.poll(t) {
        Action::SendTcp { query, .. } => assert_eq!(Message::parse(&query).unwrap().questions, q.questions),
        other => panic!("expected SendTcp, got {other:?}"),
    }
    chaos[7] = 1; // one answer, as ancount says; the record itself is not parsed
    chaos[2] &= !0x02; // no TC
    chaos.extend_from_slice(&[0xc0, 12, 0, 16, 0, 3, 0, 0, 0, 60, 0, 2, 1, b'x']);
    assert!(l.on_tcp(t, &chaos));
    assert!(matches!(l.poll(t), Action::Done(Ok(_))));
    assert_eq!(l.raw_answer(), Some(&chaos[..]));
}

#[test]
fn send_keeps_the_query_and_takes_nxdomain_as_an_answer() {
    let query = wire::build_query(0x1234, &Name::from_dotted("nope.test").unwrap(), wire::TYPE_A);
    let mut l = Lookup::send(&query, &conf(&[NS1, NS2]), 5);
    let t = Instant::from_millis(0);
    let (s, q) = match l.poll(t) {
        Action::SendUdp { server, query: sent } => {
            assert_eq!(sent, query, "the bytes as given");
            (server, Message::parse(&sent).unwrap())
        }
        other => panic!("expected SendUdp, got {other:?}"),
    };
    assert_eq!(s, sa(NS1));
    let mut wrong = reply(&q, wire::RCODE_NXDOMAIN, vec![], false);
    wrong[1] ^= 1; // another ID: ignored
    assert!(!l.on_udp(t, s, &wrong));
    assert!(l.on_udp(t, s, &reply(&q, wire::RCODE_SERVFAIL, vec![], false)));
    let (s2, q2) = expect_udp(l.poll(t));
    assert_eq!((s2, q2.header.id), (sa(NS2), 0x1234), "SERVFAIL: the next server, same query");
    let nx = reply(&q2, wire::RCODE_NXDOMAIN, vec![], false);
    assert!(l.on_udp(t, s2, &nx));
    assert!(matches!(l.poll(t), Action::Done(Ok(_))));
    assert_eq!(l.raw_answer(), Some(&nx[..]));
    // Not a query: fails at once, nothing sent.
    let mut l = Lookup::send(&[1, 2, 3], &conf(&[NS1]), 5);
    assert_eq!(l.poll(t), Action::Done(Err(ResolveError::Fail)));
    let mut l = Lookup::send(&nx, &conf(&[NS1]), 5);
    assert_eq!(l.poll(t), Action::Done(Err(ResolveError::Fail)), "a response is no query");
}
