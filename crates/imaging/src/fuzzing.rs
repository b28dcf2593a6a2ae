//! Entry points of the fuzz targets in `fuzz/`, also used by the tests that replay their saved
//! corpora (`tests/fuzz_corpus.rs`), so `cargo test` needs no fuzzing engine.

use crate::{decode_bytes, DecodeOptions};

/// The decode path (TIFF, BigTIFF, PNG, JPEG, sniffed by content) on any bytes, with the
/// server's limits: an image or a refusal, never a panic, never more than the limits allow.
pub fn decode(data: &[u8]) {
    if let Ok(img) = decode_bytes(data, &DecodeOptions::default()) {
        assert_eq!(
            img.rgb.len() as u64,
            u64::from(img.width) * u64::from(img.height) * 3
        );
    }
}
