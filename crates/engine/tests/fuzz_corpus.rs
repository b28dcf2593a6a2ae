//! The fuzz targets' saved corpora, replayed (see `fuzz/replay.rs`).

#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn model_file_corpus_replays() {
    replay::replay("model_file", histoscore_engine::fuzzing::model_file);
}
