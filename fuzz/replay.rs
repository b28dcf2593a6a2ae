//! Replays the saved corpus of a fuzz target (`fuzz/corpus/<target>/`, grown by
//! `scripts/fuzz`) through its entry function, so every input the fuzzer found interesting is
//! checked by `cargo test` without a fuzzing engine. Included by each crate's
//! `tests/fuzz_corpus.rs`.

use std::path::PathBuf;

/// Runs `entry` on every saved input of `target`; fails if the corpus is missing or empty.
pub fn replay(target: &str, entry: impl Fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/fuzz {target})", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    for f in files {
        let data = std::fs::read(&f).unwrap();
        eprintln!("{}", f.display());
        entry(&data);
    }
}
