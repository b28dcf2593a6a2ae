//! Replays the saved corpus of the fuzz targets (`fuzz/corpus/<target>/`, grown by
//! `scripts/fuzz`) through the same entry functions, so every input the fuzzer found
//! interesting, and every crash it found, is checked by `cargo test` without a fuzzing engine.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<PathBuf> {
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
    files
}

#[test]
fn serial_corpus_replays() {
    for f in corpus("serial") {
        let data = std::fs::read(&f).unwrap();
        eprintln!("{}", f.display());
        histoscore_domain::fuzzing::serial(&data);
    }
}
