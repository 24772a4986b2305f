use super::*;
use proptest::prelude::*;

fn name(s: &str) -> Name {
    Name::from_dotted(s).unwrap()
}

fn a_record(n: &str, ip: [u8; 4]) -> Record {
    Record { name: name(n), rtype: TYPE_A, class: CLASS_IN, ttl: 60, data: RData::A(Ipv4Addr::from(ip)) }
}

#[test]
fn query_bytes() {
    // dig +noedns files.test A (ID 0x1234): header, question.
    let q = build_query(0x1234, &name("files.test"), TYPE_A);
    let want: &[u8] = &[
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header: RD, 1 question
        5, b'f', b'i', b'l', b'e', b's', 4, b't', b'e', b's', b't', 0, // name
        0, 1, 0, 1, // A IN
    ];
    assert_eq!(q, want);
    let m = Message::parse(&q).unwrap();
    assert_eq!(m.header, Header { id: 0x1234, rd: true, ..Header::default() });
    assert_eq!(m.questions, vec![Question { name: name("files.test"), qtype: TYPE_A, qclass: CLASS_IN }]);
}

#[test]
fn message_roundtrip() {
    let m = Message {
        header: Header { id: 7, qr: true, aa: true, rd: true, ra: true, rcode: RCODE_NOERROR, ..Header::default() },
        questions: vec![Question { name: name("www.example.com"), qtype: TYPE_A, qclass: CLASS_IN }],
        answers: vec![
            Record {
                name: name("www.example.com"),
                rtype: TYPE_CNAME,
                class: CLASS_IN,
                ttl: 300,
                data: RData::Name(name("web.example.net")),
            },
            a_record("web.example.net", [93, 184, 216, 34]),
        ],
        authorities: vec![Record {
            name: name("example.net"),
            rtype: TYPE_SOA,
            class: CLASS_IN,
            ttl: 5,
            data: RData::Other(vec![1, 2, 3]),
        }],
        additionals: vec![Record {
            name: name("x"),
            rtype: TYPE_AAAA,
            class: CLASS_IN,
            ttl: 1,
            data: RData::Aaaa([0xfe; 16]),
        }],
    };
    let bytes = m.emit().unwrap();
    assert_eq!(Message::parse(&bytes).unwrap(), m);
    let (h, q) = Message::parse_head(&bytes).unwrap();
    assert_eq!((h, q), (m.header, m.questions.clone()));
}

#[test]
fn compression_followed() {
    // Answer names are pointers to the question name (offset 12); CNAME target "web" + ptr.
    let mut b = vec![0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
    b.extend_from_slice(&[3, b'w', b'w', b'w', 7]);
    b.extend_from_slice(b"example");
    b.extend_from_slice(&[3, b'c', b'o', b'm', 0, 0, 1, 0, 1]);
    // CNAME www.example.com -> web.example.com (rdata: 3 web + pointer to offset 16 "example.com")
    b.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'w', b'e', b'b', 0xc0, 16]);
    let cname_at = b.len() - 6;
    // A for the CNAME target: pointer to the rdata name.
    b.extend_from_slice(&[0xc0, cname_at as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.answers[0].name, name("www.example.com"));
    assert_eq!(m.answers[0].data, RData::Name(name("web.example.com")));
    assert_eq!(m.answers[1].name, name("web.example.com"));
    assert_eq!(m.answers[1].data, RData::A(Ipv4Addr::new(10, 0, 0, 1)));
}

fn with_answer_name(name_bytes: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
    b.extend_from_slice(name_bytes);
    b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
    b
}

#[test]
fn malformed_names() {
    // Pointer to itself, and forward pointers: loops are impossible.
    assert_eq!(Message::parse(&with_answer_name(&[0xc0, 12])), Err(DnsError::BadPointer));
    assert_eq!(Message::parse(&with_answer_name(&[0xc0, 14])), Err(DnsError::BadPointer));
    // Two-pointer loop: 12 -> 14 -> 12.
    assert_eq!(Message::parse(&with_answer_name(&[0xc0, 14, 0xc0, 12])), Err(DnsError::BadPointer));
    // Pointer into the header (backwards, "valid") reads header bytes as labels: bounded.
    let _ = Message::parse(&with_answer_name(&[0xc0, 0]));
    // Reserved label types.
    assert_eq!(Message::parse(&with_answer_name(&[0x40, 0])), Err(DnsError::LabelTooLong));
    assert_eq!(Message::parse(&with_answer_name(&[0x80, 0])), Err(DnsError::LabelTooLong));
    // Name over 255 bytes: 5 labels of 63 = 320.
    let mut long = Vec::new();
    for _ in 0..5 {
        long.push(63);
        long.extend_from_slice(&[b'a'; 63]);
    }
    long.push(0);
    assert_eq!(Message::parse(&with_answer_name(&long)), Err(DnsError::NameTooLong));
    // Exactly 255 is fine: 3*64 + 62 + 1 = 255 (labels 63,63,63,61).
    let mut ok = Vec::new();
    for l in [63usize, 63, 63, 61] {
        ok.push(l as u8);
        ok.extend(std::iter::repeat_n(b'b', l));
    }
    ok.push(0);
    let m = Message::parse(&with_answer_name(&ok)).unwrap();
    assert_eq!(m.answers[0].name.wire_len(), 255);
    // Truncated inside a label, a header, a record.
    assert_eq!(Message::parse(&with_answer_name(&[5, b'a', b'b'])), Err(DnsError::Truncated));
    assert_eq!(Message::parse(&[0, 1, 2]), Err(DnsError::Truncated));
    let full = with_answer_name(&[1, b'x', 0]);
    for cut in 0..full.len() {
        assert!(Message::parse(&full[..cut]).is_err(), "cut at {cut}");
    }
    // A record with a 3-byte A rdata.
    let mut bad = with_answer_name(&[0]);
    let n = bad.len();
    bad[n - 5] = 3;
    bad.pop();
    assert_eq!(Message::parse(&bad), Err(DnsError::BadRdata));
    // Counts claiming more entries than present.
    let mut lie = build_query(1, &name("a"), TYPE_A);
    lie[5] = 0xff;
    assert_eq!(Message::parse(&lie), Err(DnsError::Truncated));
}

#[test]
fn long_name_through_pointers_rejected() {
    // Suffix name of 4 labels of 63 (wire 257 > 255) is already too long in place; build one
    // that is fine in place (3x63 = 193) and prefixed via pointer by a 63-byte label: 257.
    let mut b = vec![0, 1, 0x81, 0x80, 0, 0, 0, 2, 0, 0, 0, 0];
    let first = b.len();
    for _ in 0..3 {
        b.push(63);
        b.extend_from_slice(&[b'c'; 63]);
    }
    b.push(0);
    b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
    b.push(63);
    b.extend_from_slice(&[b'd'; 63]);
    b.extend_from_slice(&[0xc0, first as u8]);
    b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
    assert_eq!(Message::parse(&b), Err(DnsError::NameTooLong));
}

#[test]
fn builder_name_checks() {
    assert_eq!(Name::from_dotted("a..b"), Err(DnsError::BadName));
    assert_eq!(Name::from_dotted(&"x".repeat(64)), Err(DnsError::LabelTooLong));
    assert!(Name::from_dotted(&"x".repeat(63)).is_ok());
    let long = vec!["y".repeat(60); 5].join(".");
    assert_eq!(Name::from_dotted(&long), Err(DnsError::NameTooLong));
    assert_eq!(Name::from_dotted("."), Ok(Name::default()));
    assert_eq!(Name::from_dotted("files.test.").unwrap(), name("files.test"));
    assert!(name("Files.TEST").eq_ignore_case(&name("files.test")));
    assert!(!name("files.test").eq_ignore_case(&name("files.test.x")));
    assert_eq!(name("a.b").to_string(), "a.b");
    let odd = Name { labels: vec![b"a.b".to_vec(), vec![0, b'z']] };
    assert_eq!(odd.to_string(), "a\\046b.\\000z");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic, and parsing stays bounded in time.
    #[test]
    fn arbitrary_bytes_are_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let t = std::time::Instant::now();
        let r = Message::parse(&bytes);
        let _ = Message::parse_head(&bytes);
        prop_assert!(t.elapsed() < std::time::Duration::from_millis(200));
        if let Ok(m) = r {
            for rec in m.answers.iter().chain(&m.authorities).chain(&m.additionals) {
                prop_assert!(rec.name.wire_len() <= MAX_NAME);
            }
        }
    }

    /// Mutating a valid response never panics.
    #[test]
    fn mutated_responses_are_total(pos in 0usize..80, val in any::<u8>(), cut in 0usize..90) {
        let m = Message {
            header: Header { id: 9, qr: true, ..Header::default() },
            questions: vec![Question { name: name("files.test"), qtype: TYPE_A, qclass: CLASS_IN }],
            answers: vec![a_record("files.test", [10, 0, 0, 1])],
            ..Message::default()
        };
        let mut b = m.emit().unwrap();
        if pos < b.len() { b[pos] = val; }
        b.truncate(cut.max(1));
        let _ = Message::parse(&b);
    }

    /// emit/parse are inverses for generated messages.
    #[test]
    fn roundtrip(id in any::<u16>(), labels in proptest::collection::vec("[a-z0-9-]{1,20}", 1..5), ip in any::<[u8; 4]>()) {
        let n = labels.join(".");
        let m = Message {
            header: Header { id, qr: true, rd: true, ra: true, ..Header::default() },
            questions: vec![Question { name: name(&n), qtype: TYPE_A, qclass: CLASS_IN }],
            answers: vec![a_record(&n, ip)],
            ..Message::default()
        };
        prop_assert_eq!(Message::parse(&m.emit().unwrap()).unwrap(), m);
    }
}
