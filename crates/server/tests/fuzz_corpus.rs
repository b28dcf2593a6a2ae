//! The fuzz targets' saved corpora, replayed (see `fuzz/replay.rs`).

#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn if_match_corpus_replays() {
    replay::replay("if_match", histoscore_server::fuzzing::if_match);
}

#[test]
fn multipart_corpus_replays() {
    replay::replay("multipart", histoscore_server::fuzzing::multipart);
}

#[test]
fn training_csv_corpus_replays() {
    replay::replay("training_csv", histoscore_server::fuzzing::training_csv);
}
