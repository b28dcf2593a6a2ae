//! Entry points of the fuzz targets in `fuzz/`, also used by the tests that replay their saved
//! corpora (`tests/fuzz_corpus.rs`), so `cargo test` needs no fuzzing engine.

use crate::Weights;

/// The model-file readers (`.pth` PyTorch zip, `.safetensors`, recognised by content) on any
/// bytes: weights that fit ResNet18 or a refusal, never a panic or an allocation beyond what
/// the file holds.
pub fn model_file(data: &[u8]) {
    // The readers take a path (PyTorch archives are zip files read by seeking).
    let path = std::env::temp_dir().join(format!(
        "histoscore-fuzz-{}-{:?}.bin",
        std::process::id(),
        std::thread::current().id()
    ));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(w) = Weights::load(&path) {
        assert!(w.head() > 0);
    }
    let _ = std::fs::remove_file(&path);
}
