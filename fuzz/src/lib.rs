//! Fuzzing for tapstack on stable Rust: one target per parser (`targets`), a havoc-style
//! mutator (`mutate`) and a runner that mutates a corpus for a set time, keeps inputs that reach
//! new outcomes, and saves any input that panics. No compiler instrumentation is needed, so it
//! runs wherever the workspace builds; `make fuzz` drives it.
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod mutate;
pub mod seeds;
pub mod targets;

use mutate::{mutate, Rng};
use targets::Target;

/// The `fuzz/` directory of the source tree (corpus and regressions live under it).
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir`, sorted by name (missing directory: none).
pub fn read_dir_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    v.sort();
    v
}

/// Seeds of `t`: its corpus directory and its regression inputs.
pub fn load_corpus(t: &Target) -> Vec<Vec<u8>> {
    let root = fuzz_dir();
    let mut v: Vec<Vec<u8>> = read_dir_files(&root.join("corpus").join(t.name)).into_iter().map(|(_, b)| b).collect();
    v.extend(read_dir_files(&root.join("regressions").join(t.name)).into_iter().map(|(_, b)| b));
    if v.is_empty() {
        v.push(Vec::new());
    }
    v
}

/// Runs `t` on `input`; Err carries the panic message.
pub fn run_one(t: &Target, input: &[u8]) -> Result<u64, String> {
    panic::catch_unwind(AssertUnwindSafe(|| (t.run)(input))).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

/// What one run of a target did.
#[derive(Debug, Default)]
pub struct Report {
    pub execs: u64,
    pub corpus: usize,
    pub features: usize,
    /// Inputs that panicked (saved under `save_findings`, if given) and their messages.
    pub findings: Vec<(Vec<u8>, String)>,
    /// New-feature inputs found during the run (for `--save`).
    pub new_inputs: Vec<Vec<u8>>,
}

/// Mutates the corpus of `t` for `budget` (and at most `max_execs` runs), starting from `seeds`.
/// Stops at the first finding.
pub fn fuzz(t: &Target, seeds: Vec<Vec<u8>>, budget: Duration, max_execs: u64, seed: u64) -> Report {
    let mut rng = Rng::new(seed ^ t.name.len() as u64);
    let mut corpus = seeds;
    let mut feats = HashSet::new();
    let mut rep = Report::default();
    for s in &corpus {
        rep.execs += 1;
        match run_one(t, s) {
            Ok(f) => {
                feats.insert(f);
            }
            Err(msg) => {
                rep.findings.push((s.clone(), msg));
                return rep;
            }
        }
    }
    let start = Instant::now();
    while rep.execs < max_execs {
        if rep.execs.is_multiple_of(64) && start.elapsed() >= budget {
            break;
        }
        let base = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let mut input = base.clone();
        mutate(&mut input, other, t.max_len, &mut rng);
        if !rng.chance(4) {
            (t.fix)(&mut input);
        }
        rep.execs += 1;
        match run_one(t, &input) {
            Ok(f) => {
                if feats.insert(f) && corpus.len() < 4096 {
                    rep.new_inputs.push(input.clone());
                    corpus.push(input);
                }
            }
            Err(msg) => {
                rep.findings.push((input, msg));
                break;
            }
        }
    }
    rep.corpus = corpus.len();
    rep.features = feats.len();
    rep
}

/// A short stable name for an input (FNV-1a of its bytes).
pub fn input_name(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}
