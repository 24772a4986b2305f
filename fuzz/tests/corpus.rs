//! The fuzz corpus and every saved finding are regression tests: each input runs through its
//! target without a panic. Also a short fuzzing burst per target with a fixed seed, so the
//! mutator and the fix-ups keep reaching the layers above the checksums.
use std::time::Duration;

use tapstack_fuzz::{fuzz, fuzz_dir, load_corpus, read_dir_files, run_one, targets::TARGETS};

#[test]
fn corpus_and_regressions_replay() {
    for t in TARGETS {
        let corpus = read_dir_files(&fuzz_dir().join("corpus").join(t.name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{} has no seeds", t.name);
        let regressions = read_dir_files(&fuzz_dir().join("regressions").join(t.name));
        for (path, bytes) in corpus.iter().chain(&regressions) {
            if let Err(msg) = run_one(t, bytes) {
                panic!("{} panics on {}: {msg}", t.name, path.display());
            }
        }
    }
}

#[test]
fn seeds_reach_the_upper_layers() {
    // Each target's seeds parse all the way (a feature above the error codes 1..4).
    for t in TARGETS {
        let best = load_corpus(t).iter().map(|s| run_one(t, s).unwrap()).max().unwrap();
        assert!(best >= 10, "{}: no seed gets past the first parse (best outcome {best})", t.name);
    }
}

#[test]
fn brief_fixed_seed_run_finds_nothing() {
    for t in TARGETS {
        let rep = fuzz(t, load_corpus(t), Duration::from_secs(60), 3000, 42);
        assert!(rep.findings.is_empty(), "{}: {:?}", t.name, rep.findings.first().map(|f| &f.1));
        assert!(rep.features > 1, "{}: the fuzzer reached only {} outcome(s)", t.name, rep.features);
    }
}

#[test]
fn a_panicking_input_is_reported() {
    // The runner must catch a planted bug: a target that panics on inputs starting 0x42 0x42.
    fn planted(b: &[u8]) -> u64 {
        assert!(!b.starts_with(&[0x42, 0x42]), "planted bug");
        b.first().copied().unwrap_or(0) as u64
    }
    let t = tapstack_fuzz::targets::Target { name: "planted", run: planted, fix: |_| {}, max_len: 16 };
    let rep = fuzz(&t, vec![vec![0x42, 0, 0, 0]], Duration::from_secs(60), 1_000_000, 7);
    let (input, msg) = rep.findings.first().expect("the planted bug was not found");
    assert!(input.starts_with(&[0x42, 0x42]) && msg.contains("planted bug"), "{msg}");
}
