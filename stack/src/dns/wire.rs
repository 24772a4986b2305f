//! DNS messages (RFC 1035 4.1), parsed totally and boundedly: every malformed input is an
//! `Err`, never a panic. Names: labels at most 63 bytes, names at most 255 bytes in wire form
//! (RFC 1035 2.3.4); compression pointers (4.1.4) must point strictly backwards, which rules
//! out loops, and a chain may hold at most `MAX_POINTERS` hops.
use std::net::Ipv4Addr;

/// Record types used here (RFC 1035 3.2.2, RFC 3596).
pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const CLASS_IN: u16 = 1;

/// RCODE values (RFC 1035 4.1.1).
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

pub const HEADER_LEN: usize = 12;
pub const MAX_NAME: usize = 255;
pub const MAX_LABEL: usize = 63;
/// Longest compression-pointer chain followed while reading one name.
pub const MAX_POINTERS: usize = 64;
/// Largest message over TCP (2-byte length prefix).
pub const MAX_MESSAGE: usize = 65_535;

/// Why a DNS message could not be parsed or built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// The message ends inside a header, name or record.
    Truncated,
    /// A label longer than 63 bytes, or a reserved label type (0x40/0x80).
    LabelTooLong,
    /// A name longer than 255 bytes in wire form.
    NameTooLong,
    /// A compression pointer that does not point strictly backwards, or too many of them.
    BadPointer,
    /// Record data inconsistent with its type (A record not 4 bytes, trailing CNAME bytes).
    BadRdata,
    /// A name given to the builder is not a valid domain name (empty label, bad length).
    BadName,
}

impl core::fmt::Display for DnsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for DnsError {}

/// A domain name as its labels (raw bytes, case preserved). The root is no labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    labels: Vec<Vec<u8>>,
}

impl Name {
    /// Parses a dotted name ("files.test", "files.test." and "." accepted). Checks lengths.
    pub fn from_dotted(s: &str) -> Result<Name, DnsError> {
        let s = s.strip_suffix('.').unwrap_or(s);
        let mut labels = Vec::new();
        if !s.is_empty() {
            for l in s.split('.') {
                if l.is_empty() {
                    return Err(DnsError::BadName);
                }
                if l.len() > MAX_LABEL {
                    return Err(DnsError::LabelTooLong);
                }
                labels.push(l.as_bytes().to_vec());
            }
        }
        let n = Name { labels };
        if n.wire_len() > MAX_NAME {
            return Err(DnsError::NameTooLong);
        }
        Ok(n)
    }
    pub fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }
    /// Length in uncompressed wire form (length bytes, labels, root byte).
    pub fn wire_len(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1
    }
    /// RFC 4343: names compare case-insensitively (ASCII only).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.labels.len() == other.labels.len()
            && self.labels.iter().zip(&other.labels).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
    fn emit(&self, out: &mut Vec<u8>) {
        for l in &self.labels {
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
    }
}

/// Dotted text; bytes outside printable ASCII and '.'/'\\' inside labels are escaped as \DDD.
impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.labels.is_empty() {
            return f.write_str(".");
        }
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in l {
                if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        Ok(())
    }
}

/// The fixed header (RFC 1035 4.1.1).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub qr: bool,
    pub opcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub rcode: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa([u8; 16]),
    /// CNAME, NS or PTR target, decompressed.
    Name(Name),
    Other(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// A cursor over the whole message (compression pointers index into it).
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let end = self.pos.checked_add(n).ok_or(DnsError::Truncated)?;
        let s = self.msg.get(self.pos..end).ok_or(DnsError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a possibly compressed name at the cursor; the cursor ends after its in-place part.
    fn name(&mut self) -> Result<Name, DnsError> {
        let mut labels = Vec::new();
        let mut wire_len = 1usize;
        let mut pos = self.pos;
        let mut resume: Option<usize> = None;
        let mut hops = 0;
        loop {
            let len = *self.msg.get(pos).ok_or(DnsError::Truncated)? as usize;
            match len & 0xc0 {
                0x00 => {
                    if len == 0 {
                        pos += 1;
                        break;
                    }
                    let label = self.msg.get(pos + 1..pos + 1 + len).ok_or(DnsError::Truncated)?;
                    wire_len += len + 1;
                    if wire_len > MAX_NAME {
                        return Err(DnsError::NameTooLong);
                    }
                    labels.push(label.to_vec());
                    pos += 1 + len;
                }
                0xc0 => {
                    let lo = *self.msg.get(pos + 1).ok_or(DnsError::Truncated)? as usize;
                    let target = ((len & 0x3f) << 8) | lo;
                    hops += 1;
                    // Strictly backwards (before this pointer) makes loops impossible.
                    if target >= pos || hops > MAX_POINTERS {
                        return Err(DnsError::BadPointer);
                    }
                    if resume.is_none() {
                        resume = Some(pos + 2);
                    }
                    pos = target;
                }
                _ => return Err(DnsError::LabelTooLong), // 0x40/0x80: reserved (RFC 6891 drops them)
            }
        }
        self.pos = resume.unwrap_or(pos);
        Ok(Name { labels })
    }

    fn question(&mut self) -> Result<Question, DnsError> {
        Ok(Question { name: self.name()?, qtype: self.u16()?, qclass: self.u16()? })
    }

    fn record(&mut self) -> Result<Record, DnsError> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let rdlen = self.u16()? as usize;
        let start = self.pos;
        let rdata = self.take(rdlen)?;
        let data = match rtype {
            TYPE_A => RData::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).map_err(|_| DnsError::BadRdata)?)),
            TYPE_AAAA => RData::Aaaa(<[u8; 16]>::try_from(rdata).map_err(|_| DnsError::BadRdata)?),
            TYPE_CNAME | TYPE_NS | TYPE_PTR => {
                let mut sub = Reader { msg: &self.msg[..start + rdlen], pos: start };
                let n = sub.name()?;
                if sub.pos != start + rdlen {
                    return Err(DnsError::BadRdata);
                }
                RData::Name(n)
            }
            _ => RData::Other(rdata.to_vec()),
        };
        Ok(Record { name, rtype, class, ttl, data })
    }
}

impl Header {
    fn parse(r: &mut Reader<'_>) -> Result<(Header, [u16; 4]), DnsError> {
        let id = r.u16()?;
        let flags = r.u16()?;
        let h = Header {
            id,
            qr: flags & 0x8000 != 0,
            opcode: ((flags >> 11) & 0xf) as u8,
            aa: flags & 0x0400 != 0,
            tc: flags & 0x0200 != 0,
            rd: flags & 0x0100 != 0,
            ra: flags & 0x0080 != 0,
            rcode: (flags & 0xf) as u8,
        };
        Ok((h, [r.u16()?, r.u16()?, r.u16()?, r.u16()?]))
    }
    fn flags(&self) -> u16 {
        (self.qr as u16) << 15
            | ((self.opcode & 0xf) as u16) << 11
            | (self.aa as u16) << 10
            | (self.tc as u16) << 9
            | (self.rd as u16) << 8
            | (self.ra as u16) << 7
            | (self.rcode & 0xf) as u16
    }
}

impl Message {
    /// Parses a whole message. Counts are not trusted for allocation: each entry is parsed
    /// from the bytes actually present, so memory stays proportional to the input.
    pub fn parse(msg: &[u8]) -> Result<Message, DnsError> {
        if msg.len() > MAX_MESSAGE {
            return Err(DnsError::Truncated);
        }
        let mut r = Reader { msg, pos: 0 };
        let (header, [qd, an, ns, ar]) = Header::parse(&mut r)?;
        let mut m = Message { header, ..Message::default() };
        for _ in 0..qd {
            m.questions.push(r.question()?);
        }
        for (count, list) in [(an, &mut m.answers), (ns, &mut m.authorities), (ar, &mut m.additionals)] {
            for _ in 0..count {
                list.push(r.record()?);
            }
        }
        Ok(m)
    }

    /// Parses only the header and the question section (enough to validate a truncated reply).
    pub fn parse_head(msg: &[u8]) -> Result<(Header, Vec<Question>), DnsError> {
        let mut r = Reader { msg, pos: 0 };
        let (header, [qd, ..]) = Header::parse(&mut r)?;
        let mut qs = Vec::new();
        for _ in 0..qd {
            qs.push(r.question()?);
        }
        Ok((header, qs))
    }

    /// Serialises without compression. Fails if it would exceed 65,535 bytes.
    pub fn emit(&self) -> Result<Vec<u8>, DnsError> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.header.id.to_be_bytes());
        out.extend_from_slice(&self.header.flags().to_be_bytes());
        for n in [self.questions.len(), self.answers.len(), self.authorities.len(), self.additionals.len()] {
            out.extend_from_slice(&u16::try_from(n).map_err(|_| DnsError::Truncated)?.to_be_bytes());
        }
        for q in &self.questions {
            q.name.emit(&mut out);
            out.extend_from_slice(&q.qtype.to_be_bytes());
            out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        for rec in self.answers.iter().chain(&self.authorities).chain(&self.additionals) {
            rec.name.emit(&mut out);
            out.extend_from_slice(&rec.rtype.to_be_bytes());
            out.extend_from_slice(&rec.class.to_be_bytes());
            out.extend_from_slice(&rec.ttl.to_be_bytes());
            let mut rd = Vec::new();
            match &rec.data {
                RData::A(a) => rd.extend_from_slice(&a.octets()),
                RData::Aaaa(a) => rd.extend_from_slice(a),
                RData::Name(n) => n.emit(&mut rd),
                RData::Other(v) => rd.extend_from_slice(v),
            }
            out.extend_from_slice(&u16::try_from(rd.len()).map_err(|_| DnsError::BadRdata)?.to_be_bytes());
            out.extend_from_slice(&rd);
        }
        if out.len() > MAX_MESSAGE {
            return Err(DnsError::Truncated);
        }
        Ok(out)
    }
}

/// A standard query (RD set) for `name`/`qtype` class IN with the given ID.
pub fn build_query(id: u16, name: &Name, qtype: u16) -> Vec<u8> {
    build_query_class(id, name, qtype, CLASS_IN)
}

/// `build_query` of class `qclass` (res_query's class argument).
pub fn build_query_class(id: u16, name: &Name, qtype: u16, qclass: u16) -> Vec<u8> {
    let m = Message {
        header: Header { id, rd: true, ..Header::default() },
        questions: vec![Question { name: name.clone(), qtype, qclass }],
        ..Message::default()
    };
    m.emit().expect("a single-question query always fits")
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
