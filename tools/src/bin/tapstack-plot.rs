//! tapstack-plot EVENTS.jsonl [-o OUT.svg | -d DIR] [--conn TEXT] [--dir in|out]
//!
//! Time-sequence graphs (SVG) of the connections in a `TAPSTACK_TRACE=events` file: one SVG with
//! every connection (default EVENTS with .svg, or -o), or one file per connection in DIR (-d).
use std::path::PathBuf;
use std::process::ExitCode;

use tapstack_tools::{events, plot};

const USAGE: &str = "usage: tapstack plot EVENTS.jsonl [-o OUT.svg | -d DIR] [--conn TEXT] [--dir in|out]
  EVENTS.jsonl   output of TAPSTACK_TRACE=events (TAPSTACK_TRACE_FILE)
  -o OUT.svg     one SVG with every connection (default: EVENTS with .svg)
  -d DIR         one SVG per connection in DIR
  --conn TEXT    only connections whose \"local -> remote\" contains TEXT
  --dir in|out   plot this data direction (default: the one that carried more bytes)
  --time A..B    only seconds A to B of each connection (a zoom)";

struct Args {
    input: PathBuf,
    out: Option<PathBuf>,
    dir_out: Option<PathBuf>,
    conn: Option<String>,
    dir: Option<String>,
    time: Option<(f64, f64)>,
}

fn args() -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_env();
    let (mut input, mut out, mut dir_out, mut conn, mut dir, mut time) = (None, None, None, None, None, None);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('o') | Long("output") => out = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?)),
            Short('d') | Long("dir-out") => dir_out = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?)),
            Long("conn") => conn = Some(p.value().map_err(|e| e.to_string())?.string().map_err(|_| "bad --conn")?),
            Long("dir") => {
                let d = p.value().map_err(|e| e.to_string())?.string().map_err(|_| "bad --dir")?;
                if d != "in" && d != "out" {
                    return Err(format!("--dir: expected in or out, got {d:?}"));
                }
                dir = Some(d);
            }
            Long("time") => {
                let v = p.value().map_err(|e| e.to_string())?.string().map_err(|_| "bad --time")?;
                let (a, b) = v.split_once("..").ok_or("--time: expected A..B (seconds)")?;
                let (a, b): (f64, f64) =
                    (a.parse().map_err(|_| "--time: bad A")?, b.parse().map_err(|_| "--time: bad B")?);
                if b <= a {
                    return Err("--time: B must be after A".into());
                }
                time = Some((a, b));
            }
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Value(v) if input.is_none() => input = Some(PathBuf::from(v)),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let input = input.ok_or("missing EVENTS file")?;
    Ok(Args { input, out, dir_out, conn, dir, time })
}

fn file_name(conn: &str) -> String {
    conn.replace(" -> ", "_").replace([':', '.'], "-") + ".svg"
}

fn run() -> Result<(), String> {
    let a = args()?;
    let text = std::fs::read_to_string(&a.input).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let (mut conns, bad) = events::parse(&text, a.dir.as_deref());
    if bad > 0 {
        eprintln!("tapstack plot: skipped {bad} malformed lines");
    }
    if let Some(f) = &a.conn {
        conns.retain(|c| c.name.contains(f.as_str()));
    }
    if let Some((a, b)) = a.time {
        conns = conns.iter().map(|c| c.zoom(a, b)).collect();
    }
    if conns.is_empty() {
        return Err(format!("{}: no TCP connection in the events", a.input.display()));
    }
    let render = |cs: &[events::ConnPlot]| plot::svg(cs).map_err(|e| format!("drawing failed: {e}"));
    if let Some(d) = &a.dir_out {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        for c in &conns {
            let p = d.join(file_name(&c.name));
            std::fs::write(&p, render(std::slice::from_ref(c))?).map_err(|e| format!("{}: {e}", p.display()))?;
            println!(
                "{}: {} ({} data segments, {} retransmitted)",
                p.display(),
                c.name,
                c.data.len(),
                c.retransmissions
            );
        }
    } else {
        let p = a.out.clone().unwrap_or_else(|| a.input.with_extension("svg"));
        std::fs::write(&p, render(&conns)?).map_err(|e| format!("{}: {e}", p.display()))?;
        for c in &conns {
            println!(
                "{}: {} ({} data segments, {} retransmitted)",
                p.display(),
                c.name,
                c.data.len(),
                c.retransmissions
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapstack plot: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
