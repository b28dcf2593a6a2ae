//! Shared helpers for the decoder integration tests. The shared corpus lives beside the
//! repository (`../shared` from the repository root), as in CI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use histoscore_imaging::decode::{decode_file, DecodeOptions, DecodedImage, ImageError};

pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

pub fn generated(name: &str) -> PathBuf {
    shared(&format!("corpus/generated/{name}"))
}

pub fn real(name: &str) -> PathBuf {
    shared(&format!("corpus/real/{name}"))
}

pub fn fixture_image(name: &str) -> PathBuf {
    shared(&format!("fixtures/reference-model/images/{name}"))
}

pub fn extra(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/extra")
        .join(name)
}

pub fn decode(path: &Path) -> Result<DecodedImage, ImageError> {
    decode_file(path, &DecodeOptions::default())
}

pub fn ok(path: &Path) -> DecodedImage {
    match decode(path) {
        Ok(img) => img,
        Err(e) => panic!("{} should decode but failed: {e}", path.display()),
    }
}

pub fn err(path: &Path) -> ImageError {
    match decode(path) {
        Ok(img) => panic!(
            "{} should be refused but decoded as {}×{} {}",
            path.display(),
            img.width,
            img.height,
            img.source_mode
        ),
        Err(e) => e,
    }
}
