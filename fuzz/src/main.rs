//! `tapstack-fuzz [--seconds N] [--seed N] [--save] [--write-seeds] [TARGET...]`: fuzzes each
//! target (all by default) for N seconds (default `FUZZ_SECONDS`, else 20). An input that
//! panics is written to `fuzz/regressions/<target>/` (the test suite replays that directory)
//! and the exit status is 1. `--save` adds inputs that reached new outcomes to the corpus.
use std::time::Duration;

use tapstack_fuzz::{fuzz, fuzz_dir, input_name, load_corpus, seeds, targets};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut seconds: f64 = std::env::var("FUZZ_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20.0);
    let mut seed: u64 =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(1);
    let (mut save, mut names) = (false, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).expect("--seconds N"),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed N"),
            "--save" => save = true,
            "--write-seeds" => {
                for (t, name, bytes) in seeds::seeds() {
                    let dir = fuzz_dir().join("corpus").join(t);
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(dir.join(name), bytes).unwrap();
                }
                return;
            }
            "-h" | "--help" => {
                let names: Vec<_> = targets::TARGETS.iter().map(|t| t.name).collect();
                println!("usage: tapstack-fuzz [--seconds N] [--seed N] [--save] [--write-seeds] [TARGET...]");
                println!("targets: {}", names.join(" "));
                return;
            }
            t if targets::target(t).is_some() => names.push(t.to_string()),
            other => {
                eprintln!("tapstack-fuzz: unknown target or option {other:?} (--help lists them)");
                std::process::exit(2);
            }
        }
    }
    if names.is_empty() {
        names = targets::TARGETS.iter().map(|t| t.name.to_string()).collect();
    }
    // A panic's own message is printed by the runner; keep the default hook quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for n in &names {
        let t = targets::target(n).unwrap();
        let rep = fuzz(t, load_corpus(t), Duration::from_secs_f64(seconds), u64::MAX, seed);
        println!(
            "fuzz {:<12} {:>9} runs in {:>5.1}s  corpus {:>4}  outcomes {:>4}  findings {}  (seed {seed})",
            t.name,
            rep.execs,
            seconds,
            rep.corpus,
            rep.features,
            rep.findings.len()
        );
        if save {
            let dir = fuzz_dir().join("corpus").join(t.name);
            std::fs::create_dir_all(&dir).unwrap();
            for i in &rep.new_inputs {
                std::fs::write(dir.join(input_name(i)), i).unwrap();
            }
        }
        for (input, msg) in &rep.findings {
            failed = true;
            let dir = fuzz_dir().join("regressions").join(t.name);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("crash-{}", input_name(input)));
            std::fs::write(&path, input).unwrap();
            println!("FINDING in {}: {msg}\n  input saved to {}", t.name, path.display());
        }
    }
    std::process::exit(if failed { 1 } else { 0 });
}
