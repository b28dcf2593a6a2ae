//! The fuzz targets' saved corpora, replayed (see `fuzz/replay.rs`).

#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn serial_corpus_replays() {
    replay::replay("serial", histoscore_domain::fuzzing::serial);
}
