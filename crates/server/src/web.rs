//! The web UI: built by `build.rs` from `web/` and embedded in the binary. Paths that are not
//! files serve `index.html` so the UI's own routes (e.g. `/history`) load on refresh.
//! `HISTOSCORE_WEB_DIR` serves the files from a directory instead (UI development).

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$OUT_DIR/web-dist"]
struct Assets;

fn content_type(path: &str) -> String {
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
    .to_string()
}

fn respond(path: &str, bytes: Vec<u8>) -> Response {
    // Vite puts content-hashed files under assets/: they never change.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache.to_string()),
        ],
        bytes,
    )
        .into_response()
}

fn load(path: &str) -> Option<Vec<u8>> {
    if let Ok(dir) = std::env::var("HISTOSCORE_WEB_DIR") {
        if path.split('/').any(|p| p == ".." || p.is_empty()) {
            return None;
        }
        return std::fs::read(std::path::Path::new(&dir).join(path)).ok();
    }
    Assets::get(path).map(|f| f.data.into_owned())
}

pub async fn static_handler(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return crate::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no API route {}", uri.path()),
        )
        .into_response();
    }
    if !path.is_empty() {
        if let Some(bytes) = load(path) {
            return respond(path, bytes);
        }
        // A missing hashed asset is a real 404, not the app shell.
        if path.starts_with("assets/") {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
    }
    match load("index.html") {
        Some(bytes) => respond("index.html", bytes),
        None => (
            StatusCode::NOT_FOUND,
            "the web UI is not built into this binary",
        )
            .into_response(),
    }
}
