//! Entry points of the fuzz targets in `fuzz/`, also used by the tests that replay their saved
//! corpora (`tests/fuzz_corpus.rs`), so `cargo test` needs no fuzzing engine.

use crate::SerialParser;

/// The file-name/serial parser on any text: never panics; a match keeps its invariants.
pub fn serial(data: &[u8]) {
    let name = String::from_utf8_lossy(data);
    let info = SerialParser::default().parse(&name);
    assert!(!info.group.is_empty());
    assert!(info.serial.starts_with(&info.group), "{info:?}");
}
