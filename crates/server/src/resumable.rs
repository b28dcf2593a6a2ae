//! `/api/uploads`: resumable uploads (tus 1.0: core, creation, termination, expiration) for
//! whole-slide images of many gigabytes. The bytes go to `DATA_DIR/uploads/ID.part`, beside
//! `ID.json` (name, length, owner, expiry); the offset is the part file's length, so an upload
//! goes on after a dropped connection or a server restart. When the last byte arrives the file
//! is hashed (SHA-256; checked against the client's `sha256` when it sent one) and takes the
//! same path as a multipart upload. An unfinished upload expires (default 24 h) and its bytes
//! are removed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::auth::Caller;
use crate::upload::{clean_filename, decide, Outcome};
use crate::{ApiError, AppState};

pub const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,termination,expiration";
/// tus's status for a checksum that does not match.
const CHECKSUM_MISMATCH: u16 = 460;

/// Settings of resumable uploads.
#[derive(Debug, Clone)]
pub struct ResumableLimits {
    /// The largest file accepted.
    pub max_bytes: u64,
    /// The chunk size the web UI sends (any size is accepted).
    pub chunk_bytes: u64,
    /// An unfinished upload is removed this long after it was created.
    pub expiry: Duration,
}

impl Default for ResumableLimits {
    fn default() -> Self {
        Self {
            max_bytes: 20 << 30,
            chunk_bytes: 16 << 20,
            expiry: Duration::from_secs(24 * 3600),
        }
    }
}

/// What is known of one upload (`ID.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Info {
    filename: String,
    length: u64,
    owner: String,
    keep_both: bool,
    /// The client's SHA-256 of the whole file, checked at the end.
    sha256: Option<String>,
    /// Unix seconds.
    created: u64,
    expires: u64,
    /// Once finished: the record it became.
    done: Option<Done>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Done {
    image_id: i64,
    status: String,
}

/// The uploads folder and one lock per upload (a PATCH and the finishing step hold it).
pub struct Uploads {
    dir: PathBuf,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn http_date(unix: u64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

impl Uploads {
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            locks: Mutex::default(),
        })
    }

    fn part(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    fn info_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    fn forget_lock(&self, id: &str) {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    async fn read_info(&self, id: &str) -> Option<Info> {
        let bytes = tokio::fs::read(self.info_path(id)).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    async fn write_info(&self, id: &str, info: &Info) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{id}.json.tmp"));
        tokio::fs::write(&tmp, serde_json::to_vec(info)?).await?;
        tokio::fs::rename(&tmp, self.info_path(id)).await
    }

    async fn remove(&self, id: &str) {
        let _ = tokio::fs::remove_file(self.part(id)).await;
        let _ = tokio::fs::remove_file(self.info_path(id)).await;
    }

    async fn offset(&self, id: &str) -> u64 {
        tokio::fs::metadata(self.part(id))
            .await
            .map_or(0, |m| m.len())
    }

    /// Removes expired uploads (and their bytes). Returns how many.
    pub async fn sweep(&self) -> usize {
        let mut removed = 0;
        let Ok(mut rd) = tokio::fs::read_dir(&self.dir).await else {
            return 0;
        };
        let t = now();
        while let Ok(Some(e)) = rd.next_entry().await {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json").filter(|id| valid_id(id)) else {
                // A part file whose description is gone (a crash between the two writes).
                if let Some(id) = name.strip_suffix(".part") {
                    if !self.info_path(id).exists() {
                        let _ = tokio::fs::remove_file(e.path()).await;
                    }
                }
                continue;
            };
            match self.read_info(id).await {
                Some(info) if info.expires > t => {}
                _ => {
                    // Not while a request writes it.
                    if let Ok(_g) = self.lock(id).try_lock() {
                        self.remove(id).await;
                        removed += 1;
                    }
                    self.forget_lock(id);
                }
            }
        }
        removed
    }
}

/// Ids are made here: 32 hex digits. Anything else is unknown.
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn tus_headers(res: &mut Response) {
    let h = res.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn with_tus(mut res: Response) -> Response {
    tus_headers(&mut res);
    res
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The refusal of a request without `Tus-Resumable: 1.0.0`, if it is one.
fn wrong_version(headers: &HeaderMap) -> Option<Response> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => None,
        _ => {
            let mut res = ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "tus_version",
                "this server speaks tus 1.0.0: send `Tus-Resumable: 1.0.0`",
            )
            .into_response();
            res.headers_mut()
                .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
            Some(res)
        }
    }
}

/// `Upload-Metadata`: `key base64,key base64,…` (a key may have no value).
fn parse_metadata(raw: &str) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_metadata",
                    format!("Upload-Metadata: the value of {key:?} is not base64"),
                )
            })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            ApiError::bad_request(
                "invalid_metadata",
                format!("Upload-Metadata: the value of {key:?} is not UTF-8 text"),
            )
        })?;
        out.insert(key.to_string(), text);
    }
    Ok(out)
}

fn unknown_upload() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_upload",
        "there is no such upload (it finished, was cancelled or expired): start the upload again",
    )
}

/// The upload `id` if `caller` may touch it (its owner, or an admin).
async fn owned(s: &AppState, caller: &Caller, id: &str) -> Result<Info, ApiError> {
    if !valid_id(id) {
        return Err(unknown_upload());
    }
    let info = s.uploads.read_info(id).await.ok_or_else(unknown_upload)?;
    if info.owner != caller.name && !caller.may(histoscore_store::Role::Admin) {
        return Err(unknown_upload());
    }
    if info.done.is_none() && info.expires <= now() {
        s.uploads.remove(id).await;
        return Err(ApiError::new(
            StatusCode::GONE,
            "upload_expired",
            "this upload expired before it was finished and its bytes were removed: start it \
             again",
        ));
    }
    Ok(info)
}

/// tus discovery: the version, extensions and largest size this server takes.
#[utoipa::path(options, path = "/api/uploads", tag = "images",
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`")))]
pub async fn options(State(s): State<AppState>) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut res);
    let h = res.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert("tus-max-size", s.limits.resumable.max_bytes.into());
    res
}

/// Start a resumable upload (tus creation): `Upload-Length` and `Upload-Metadata` with
/// `filename` (and optionally `sha256`, the file's SHA-256 in hex, checked at the end, and
/// `on_conflict` `keep_both`). Answers 201 with its `Location`; send the bytes with PATCH.
#[utoipa::path(post, path = "/api/uploads", tag = "images",
    responses((status = 201, description = "Created: `Location`, `Upload-Expires`"),
              (status = 400, body = crate::ErrorBody), (status = 412, body = crate::ErrorBody),
              (status = 413, body = crate::ErrorBody)))]
pub async fn create(State(s): State<AppState>, caller: Caller, headers: HeaderMap) -> Response {
    if let Some(res) = wrong_version(&headers) {
        return with_tus(res);
    }
    with_tus(match create_upload(&s, &caller, &headers).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    })
}

async fn create_upload(
    s: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    s.uploads.sweep().await;
    let Some(length) = header_u64(headers, "upload-length") else {
        return Err(ApiError::bad_request(
            "missing_length",
            "send the file's size in bytes as `Upload-Length` (deferred lengths are not supported)",
        ));
    };
    let max = s.limits.resumable.max_bytes;
    if length > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the file is {} MB, larger than the server's limit of {} MB for resumable uploads \
                 (--max-resumable-upload-gb)",
                length >> 20,
                max >> 20
            ),
        ));
    }
    if length == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_image",
            "the file is empty",
        ));
    }
    let meta = parse_metadata(
        headers
            .get("upload-metadata")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )?;
    let filename = meta
        .get("filename")
        .or_else(|| meta.get("name"))
        .map(|n| clean_filename(n))
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_filename",
                "name the file in `Upload-Metadata` (`filename` followed by the name in base64)",
            )
        })?;
    let sha256 = match meta.get("sha256") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(h.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_metadata",
                "Upload-Metadata: `sha256` must be the file's SHA-256 as 64 hex digits",
            ))
        }
        None => None,
    };
    let id = crate::auth::random_token()[..32].to_string();
    let created = now();
    let info = Info {
        filename,
        length,
        owner: caller.name.clone(),
        keep_both: meta.get("on_conflict").map(String::as_str) == Some("keep_both"),
        sha256,
        created,
        expires: created + s.limits.resumable.expiry.as_secs().max(1),
        done: None,
    };
    tokio::fs::File::create(s.uploads.part(&id))
        .await
        .map_err(ApiError::internal)?;
    s.uploads
        .write_info(&id, &info)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(
        upload = %id, file = %info.filename, bytes = length, user = %caller.name,
        "resumable upload started"
    );
    let mut res = StatusCode::CREATED.into_response();
    let h = res.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/uploads/{id}")).map_err(ApiError::internal)?,
    );
    h.insert(
        "upload-expires",
        HeaderValue::from_str(&http_date(info.expires)).map_err(ApiError::internal)?,
    );
    Ok(res)
}

fn offset_headers(res: &mut Response, offset: u64, info: &Info) {
    let h = res.headers_mut();
    h.insert("upload-offset", offset.into());
    h.insert("upload-length", info.length.into());
    if let Ok(v) = HeaderValue::from_str(&http_date(info.expires)) {
        h.insert("upload-expires", v);
    }
    if let Some(done) = &info.done {
        h.insert(
            HeaderName::from_static("histoscore-image-id"),
            done.image_id.into(),
        );
        if let Ok(v) = HeaderValue::from_str(&done.status) {
            h.insert(HeaderName::from_static("histoscore-upload-status"), v);
        }
    }
}

/// How far an upload got (tus `HEAD`): `Upload-Offset` and `Upload-Length`. A finished
/// upload also names its record (`Histoscore-Image-Id`, `Histoscore-Upload-Status`).
#[utoipa::path(head, path = "/api/uploads/{id}", tag = "images",
    params(("id" = String, Path, description = "From the `Location` of the creation")),
    responses((status = 200, description = "`Upload-Offset`, `Upload-Length`"),
              (status = 404, body = crate::ErrorBody), (status = 410, body = crate::ErrorBody)))]
pub async fn head(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    with_tus(match owned(&s, &caller, &id).await {
        Err(e) => e.into_response(),
        Ok(_) => {
            // Wait for a finishing step that is running (hashing a large slide).
            let lock = s.uploads.lock(&id);
            let _g = lock.lock().await;
            match s.uploads.read_info(&id).await {
                None => unknown_upload().into_response(),
                Some(info) => {
                    let offset = if info.done.is_some() {
                        info.length
                    } else {
                        s.uploads.offset(&id).await
                    };
                    let mut res = StatusCode::OK.into_response();
                    offset_headers(&mut res, offset, &info);
                    res
                }
            }
        }
    })
}

/// Cancel an upload (tus termination): its bytes are removed.
#[utoipa::path(delete, path = "/api/uploads/{id}", tag = "images",
    params(("id" = String, Path, description = "From the `Location` of the creation")),
    responses((status = 204, description = "Removed"), (status = 404, body = crate::ErrorBody)))]
pub async fn terminate(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    with_tus(match owned(&s, &caller, &id).await {
        Err(e) => e.into_response(),
        Ok(_) => {
            let lock = s.uploads.lock(&id);
            let _g = lock.lock().await;
            s.uploads.remove(&id).await;
            drop(_g);
            s.uploads.forget_lock(&id);
            StatusCode::NO_CONTENT.into_response()
        }
    })
}

/// Send bytes (tus `PATCH`, `Content-Type: application/offset+octet-stream`) from
/// `Upload-Offset`. The request that completes the file also checks and registers it, as a
/// multipart upload is: 204 with `Histoscore-Image-Id` and `Histoscore-Upload-Status` (new,
/// known, duplicate), or the usual error (422, 409, 460 for a SHA-256 that does not match),
/// after which the upload is gone.
#[utoipa::path(patch, path = "/api/uploads/{id}", tag = "images",
    params(("id" = String, Path, description = "From the `Location` of the creation")),
    request_body(content_type = "application/offset+octet-stream", description = "The next bytes"),
    responses((status = 204, description = "`Upload-Offset` (and, when finished, the record)"),
              (status = 409, body = crate::ErrorBody, description = "Wrong `Upload-Offset`, or a different image under a known filename"),
              (status = 415, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 460, body = crate::ErrorBody, description = "SHA-256 mismatch")))]
pub async fn patch(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    req: axum::extract::Request,
) -> Response {
    // An upload that does not exist (or is not the caller's) is simply not found.
    if let Err(e) = owned(&s, &caller, &id).await {
        return with_tus(e.into_response());
    }
    if let Some(res) = wrong_version(req.headers()) {
        return with_tus(res);
    }
    with_tus(match receive(&s, &caller, &id, req).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    })
}

async fn receive(
    s: &AppState,
    caller: &Caller,
    id: &str,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    let info = owned(s, caller, id).await?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/offset+octet-stream" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the bytes with `Content-Type: application/offset+octet-stream`",
        ));
    }
    let Some(claimed) = header_u64(req.headers(), "upload-offset") else {
        return Err(ApiError::bad_request(
            "missing_offset",
            "send where these bytes start as `Upload-Offset`",
        ));
    };
    let lock = s.uploads.lock(id);
    // A request cut off by a dropped connection may still hold the lock for a moment.
    let Ok(guard) = tokio::time::timeout(Duration::from_secs(10), lock.lock_owned()).await else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "upload_busy",
            "another request is writing this upload; ask for its offset (HEAD) and go on",
        ));
    };
    // Read again under the lock: it may have finished meanwhile.
    let info = s.uploads.read_info(id).await.unwrap_or(info);
    if info.done.is_some() {
        let mut res = StatusCode::NO_CONTENT.into_response();
        offset_headers(&mut res, info.length, &info);
        return Ok(res);
    }
    let offset = s.uploads.offset(id).await;
    if claimed != offset {
        let mut res = ApiError::new(
            StatusCode::CONFLICT,
            "wrong_offset",
            format!(
                "the server has {offset} bytes of this upload, not {claimed}: send from \
                 Upload-Offset {offset}"
            ),
        )
        .into_response();
        res.headers_mut().insert("upload-offset", offset.into());
        return Ok(res);
    }
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(s.uploads.part(id))
        .await
        .map_err(|_| unknown_upload())?;
    let mut stream = req.into_body().into_data_stream();
    let mut at = offset;
    let mut interrupted = false;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            // The connection dropped: what arrived is kept, the client resumes from it.
            interrupted = true;
            break;
        };
        if at + chunk.len() as u64 > info.length {
            let room = (info.length - at) as usize;
            file.write_all(&chunk[..room])
                .await
                .map_err(storage_error)?;
            file.flush().await.map_err(storage_error)?;
            return Err(ApiError::bad_request(
                "too_many_bytes",
                format!(
                    "more bytes than the Upload-Length of {} were sent; the first {} are kept",
                    info.length, info.length
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(storage_error)?;
        at += chunk.len() as u64;
    }
    file.flush().await.map_err(storage_error)?;
    drop(file);
    if interrupted || at < info.length {
        let mut res = StatusCode::NO_CONTENT.into_response();
        offset_headers(&mut res, at, &info);
        return Ok(res);
    }
    // Complete: finish in a task of its own, so that a client that goes away now does not
    // leave the file half registered; HEAD waits for it through the lock.
    let (s2, id2, caller2) = (s.clone(), id.to_string(), caller.name.clone());
    let finished = tokio::spawn(async move {
        let _guard = guard;
        finish(&s2, &id2, info, &caller2).await
    })
    .await
    .map_err(ApiError::internal)?;
    match finished {
        Ok(info) => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            offset_headers(&mut res, info.length, &info);
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

fn storage_error(e: std::io::Error) -> ApiError {
    if e.raw_os_error() == Some(28) {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "disk_full",
            "the server's disk is full: the bytes so far are kept; try again when an \
             administrator has made room",
        )
    } else {
        ApiError::internal(e)
    }
}

/// The last byte is in: hash, check, register as an upload. The upload's bytes are gone
/// afterwards either way; a finished one keeps its description (with its record) until it
/// expires, so that a client that lost the answer can ask for it.
async fn finish(s: &AppState, id: &str, mut info: Info, actor: &str) -> Result<Info, ApiError> {
    let part = s.uploads.part(id);
    let path = part.clone();
    let sha = tokio::task::spawn_blocking(move || histoscore_app::originals::sha256_file(&path))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    if let Some(claimed) = info.sha256.as_deref().filter(|c| *c != sha) {
        s.uploads.remove(id).await;
        return Err(ApiError::new(
            StatusCode::from_u16(CHECKSUM_MISMATCH).expect("a valid status"),
            "checksum_mismatch",
            format!(
                "the file that arrived is not the one you sent (SHA-256 {sha}, expected \
                 {claimed}): nothing was stored; upload it again"
            ),
        ));
    }
    let outcome = decide(
        s,
        &part,
        &info.filename,
        &sha,
        info.length,
        info.keep_both,
        actor,
    )
    .await
    .unwrap_or_else(Outcome::Refused);
    let (record, status) = match outcome {
        Outcome::New(r) => {
            s.events.poke();
            s.work.notify_waiters();
            (r, "new")
        }
        Outcome::Known(r) => (r, "known"),
        Outcome::Duplicate(r) => (r, "duplicate"),
        Outcome::Refused(e) => {
            s.metrics.refused.with_label_values(&[e.error]).inc();
            s.uploads.remove(id).await;
            return Err(e);
        }
    };
    let _ = tokio::fs::remove_file(&part).await;
    info.done = Some(Done {
        image_id: record.id,
        status: status.to_string(),
    });
    s.uploads
        .write_info(id, &info)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(upload = %id, image = record.id, status, "resumable upload finished");
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::{parse_metadata, valid_id};

    #[test]
    fn metadata_is_base64_pairs() {
        let m =
            parse_metadata("filename U2xpZGUgMS5zdnM=,on_conflict a2VlcF9ib3Ro, empty").unwrap();
        assert_eq!(m["filename"], "Slide 1.svs");
        assert_eq!(m["on_conflict"], "keep_both");
        assert_eq!(m["empty"], "");
        assert!(parse_metadata("filename ***").is_err());
    }

    #[test]
    fn ids_are_ours_only() {
        assert!(valid_id("0123456789abcdef0123456789abcdef"));
        assert!(!valid_id("../../etc/passwd"));
        assert!(!valid_id("0123456789abcdef0123456789abcde/"));
    }
}
