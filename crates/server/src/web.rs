//! The web UI: built by `build.rs` from `web/` and embedded in the binary. Paths that are not
//! files serve `index.html` so the UI's own routes (e.g. `/history`) load on refresh.
//! Text files go out brotli- or gzip-compressed to browsers that accept it (compressed at build
//! time; brotli preferred: the main script's 316 kB go out as 81 kB, 94 kB with gzip).
//! `HISTOSCORE_WEB_DIR` serves the files from a directory instead (UI development).

use axum::http::{header, HeaderMap, StatusCode, Uri};
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

/// A compressed form of the files, as named in `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Gzip => ".gz",
        }
    }
}

fn respond(path: &str, bytes: Vec<u8>, encoding: Option<Encoding>) -> Response {
    // Vite puts content-hashed files under assets/: they never change.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut res = (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache.to_string()),
            (header::VARY, "accept-encoding".to_string()),
        ],
        bytes,
    )
        .into_response();
    if let Some(e) = encoding {
        res.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(e.name()),
        );
    }
    res
}

/// Whether the browser's `Accept-Encoding` takes `name` (or `*`), not refused with `q=0`.
fn accepts(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let given = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (given.eq_ignore_ascii_case(name) || given == "*") && !refused
        })
}

/// The encodings the browser takes, best first.
fn accepted(headers: &HeaderMap) -> Vec<Encoding> {
    [Encoding::Brotli, Encoding::Gzip]
        .into_iter()
        .filter(|e| accepts(headers, e.name()))
        .collect()
}

/// The file, in the best compressed form the browser takes that exists, else plain.
fn serve(path: &str, encodings: &[Encoding]) -> Option<Response> {
    for &e in encodings {
        if let Some(bytes) = load(&format!("{path}{}", e.suffix())) {
            return Some(respond(path, bytes, Some(e)));
        }
    }
    load(path).map(|bytes| respond(path, bytes, None))
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

pub async fn static_handler(uri: Uri, headers: HeaderMap) -> Response {
    let encodings = accepted(&headers);
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
        if let Some(res) = serve(path, &encodings) {
            return res;
        }
        // A missing hashed asset is a real 404, not the app shell.
        if path.starts_with("assets/") {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
    }
    match serve("index.html", &encodings) {
        Some(res) => res,
        None => (
            StatusCode::NOT_FOUND,
            "the web UI is not built into this binary",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn with(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, encoding.parse().unwrap());
        h
    }

    #[test]
    fn compression_is_sent_only_to_browsers_that_take_it() {
        use Encoding::{Brotli, Gzip};
        assert_eq!(accepted(&with("gzip, deflate, br, zstd")), [Brotli, Gzip]);
        assert_eq!(accepted(&with("*")), [Brotli, Gzip]);
        assert_eq!(accepted(&with("br")), [Brotli]);
        assert_eq!(accepted(&with("gzip;q=0, br")), [Brotli]);
        assert_eq!(accepted(&with("gzip, br;q=0")), [Gzip]);
        assert!(accepted(&HeaderMap::new()).is_empty());
    }

    #[tokio::test]
    async fn brotli_is_preferred_and_unpacks_to_the_same_bytes() {
        let plain = load("index.html").expect("index.html is embedded");
        let res = static_handler("/".parse().unwrap(), with("gzip, deflate, br")).await;
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let mut unpacked = Vec::new();
        brotli::Decompressor::new(&body[..], 4096)
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, plain);
    }

    #[tokio::test]
    async fn the_page_goes_out_compressed_and_unpacks_to_the_same_bytes() {
        let plain = load("index.html").expect("index.html is embedded");
        let res = static_handler("/".parse().unwrap(), with("gzip")).await;
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.len() < plain.len(), "{} ≥ {}", body.len(), plain.len());
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, plain);
        // Without gzip in Accept-Encoding, the plain file.
        let res = static_handler("/".parse().unwrap(), HeaderMap::new()).await;
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body.to_vec(), plain);
    }
}
