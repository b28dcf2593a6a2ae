//! Entry points of the fuzz targets in `fuzz/`, also used by the tests that replay their saved
//! corpora (`tests/fuzz_corpus.rs`), so `cargo test` needs no fuzzing engine.

use axum::extract::{FromRequest, Multipart};
use histoscore_domain::Schema;

/// `If-Match` parsing on any header bytes: a version or a 400, never a panic.
pub fn if_match(data: &[u8]) {
    if let Ok(v) = axum::http::HeaderValue::from_bytes(data) {
        let _ = crate::images::parse_if_match(&v);
    }
}

/// The boundary the multipart target's inputs use.
pub const BOUNDARY: &str = "histoscore-fuzz";

/// Multipart parsing as the upload route does it (fields, file names, chunks), then the file
/// name cleaning: the names that come out are data, never paths.
pub fn multipart(data: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let req = axum::http::Request::builder()
            .method("POST")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(axum::body::Body::from(data.to_vec()))
            .expect("a request");
        let Ok(mut mp) = Multipart::from_request(req, &()).await else {
            return;
        };
        while let Ok(Some(mut field)) = mp.next_field().await {
            if let Some(raw) = field.file_name() {
                let name = crate::upload::clean_filename(raw);
                assert!(!name.is_empty() && name.chars().count() <= 255, "{name:?}");
                assert!(!name.contains(['/', '\\']), "{name:?}");
                assert!(!name.chars().any(char::is_control), "{name:?}");
                assert!(name != "." && name != "..");
            }
            while let Ok(Some(_)) = field.chunk().await {}
        }
    });
}

/// The training labels CSV reader on any bytes: rows on the schema's grid, or a message.
pub fn training_csv(data: &[u8]) {
    let schema = Schema::default();
    if let Ok(rows) = histoscore_app::training::read_labels(data, "labels.csv", &schema) {
        for (_, values) in rows {
            assert_eq!(values.len(), schema.metrics.len());
            for (m, v) in schema.metrics.iter().zip(values) {
                assert!((0.0..=m.max).contains(&v));
            }
        }
    }
}
