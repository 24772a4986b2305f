//! tapstack-query ss [-tuanli] | stats [-a]: the socket table and the counters of the running
//! service (`tapstackd`) of TAP `TAPSTACK_TAP` (the launcher's `tapstack ss` / `tapstack stats`).
//! Reads only: the service answers from its stack without touching the traffic.
use std::process::ExitCode;

use tapstack::service::{fdpass, proto};

fn query(fd: i32, op: proto::Op, data: &[u8], b: i32) -> Result<String, String> {
    let mut text = Vec::new();
    loop {
        let mut m = proto::Msg::new(op);
        m.a = text.len() as i32;
        m.b = b;
        m.data = data.to_vec();
        fdpass::send_with_fd(fd, &m.encode(), None, 0).map_err(|e| format!("send: {}", tapstack::sys::strerror(e)))?;
        let mut buf = vec![0u8; proto::MAX_MSG];
        let (n, _) =
            fdpass::recv_with_fd(fd, &mut buf, 0).map_err(|e| format!("recv: {}", tapstack::sys::strerror(e)))?;
        let r = proto::Msg::decode(&buf[..n]).map_err(|_| "malformed reply".to_string())?;
        if r.a != 0 {
            let why = String::from_utf8_lossy(&r.data).to_string();
            return Err(if why.is_empty() { tapstack::sys::strerror(r.a) } else { why });
        }
        if r.data.is_empty() && (text.len() as i32) < r.c {
            return Err("short reply".into());
        }
        text.extend_from_slice(&r.data);
        if text.len() as i32 >= r.c {
            return Ok(String::from_utf8_lossy(&text).to_string());
        }
    }
}

fn run() -> Result<(), (String, u8)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || ("usage: tapstack ss [-t] [-u] [-w] [-a|-l] [-n] [-i] | tapstack stats [-a]".to_string(), 2);
    let (cmd, rest) = args.split_first().ok_or_else(usage)?;
    let (op, data, b) = match cmd.as_str() {
        "ss" => {
            tapstack::inspect::SsOpts::parse(rest.iter().map(String::as_str)).map_err(|e| (e, 2))?;
            (proto::Op::Sockets, rest.join(" ").into_bytes(), 0)
        }
        "stats" => match rest.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            [] => (proto::Op::Counters, Vec::new(), 0),
            ["-a"] => (proto::Op::Counters, Vec::new(), 1),
            _ => return Err(usage()),
        },
        _ => return Err(usage()),
    };
    let tap = std::env::var("TAPSTACK_TAP").ok().filter(|t| !t.is_empty()).unwrap_or_else(|| "tap0".into());
    let fd = match fdpass::connect_abstract(&proto::attach_name(&tap)) {
        Ok(fd) => fd,
        Err(e) if e == libc::ECONNREFUSED || e == libc::ENOENT => {
            return Err((format!("tapstack {cmd}: no tapstack service (tapstackd) is running for TAP {tap}"), 1));
        }
        Err(e) => return Err((format!("tapstack {cmd}: cannot reach tapstackd: {}", tapstack::sys::strerror(e)), 1)),
    };
    let r = query(fd, op, &data, b).map_err(|e| (format!("tapstack {cmd}: {e}"), 1));
    let _ = tapstack::sys::close(fd);
    print!("{}", r?);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err((msg, code)) => {
            eprintln!("{msg}");
            ExitCode::from(code)
        }
    }
}
