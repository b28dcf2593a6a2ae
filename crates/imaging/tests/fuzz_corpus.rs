//! The fuzz targets' saved corpora, replayed (see `fuzz/replay.rs`).

#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn decode_corpus_replays() {
    replay::replay("decode", histoscore_imaging::fuzzing::decode);
}
