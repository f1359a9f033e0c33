//! Replays every seed input and every input a fuzzer once crashed on (fuzz/seeds/<target>/,
//! fuzz/regressions/<target>/) through its target, on stable Rust, in every `cargo test`: a
//! fixed crash stays fixed without a fuzzer installed.

use songforge_fuzz_targets::TARGETS;
use songforge_fuzz_targets::alloc_cap::CappedAllocator;
use std::path::{Path, PathBuf};

// The fuzzers' allocation limits hold here too: an input that once made a parser reserve
// gigabytes aborts this test if it ever does again.
#[global_allocator]
static ALLOC: CappedAllocator = CappedAllocator;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_binary_and_seeds() {
    for (name, _) in TARGETS {
        let binary = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(
            binary.is_file(),
            "no cargo-fuzz binary {}",
            binary.display()
        );
        assert!(
            !inputs("seeds", name).is_empty(),
            "fuzz/seeds/{name}/ is empty: the fuzzer would start from nothing"
        );
    }
}

#[test]
fn seeds_and_past_crashes_pass() {
    let mut replayed = 0;
    for (name, target) in TARGETS {
        for file in inputs("seeds", name)
            .into_iter()
            .chain(inputs("regressions", name))
        {
            let data = std::fs::read(&file).expect("read a fuzz input");
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name} panicked on {}", file.display());
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len(), "replayed only {replayed} inputs");
}
