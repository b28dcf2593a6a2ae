//! `histoscore serve`: the review server. Uploads are stored content-addressed, scored by a
//! background worker that takes jobs from the database, and every correction is versioned and
//! audited by the store. Handlers are thin: parse, call the store or scorer, map errors.

mod error;

pub use error::ApiError;

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use histoscore_domain::export::csv_text;
use histoscore_domain::Schema;
use histoscore_engine::{InferenceQueue, Scorer};
use histoscore_store::{ImageRecord, ListQuery, NewDraft, NewImage, ScoreUpdate, Store};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The user every change is attributed to until accounts exist.
pub const LOCAL_USER: &str = "local";

/// Everything the handlers and the worker share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub scorer: Arc<Scorer>,
    pub queue: InferenceQueue,
    pub data_dir: PathBuf,
    pub max_upload_bytes: u64,
}

impl AppState {
    fn schema(&self) -> &Schema {
        &self.scorer.schema
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.data_dir.join("blobs").join(&sha256[..2]).join(sha256)
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/api/images", post(upload).get(list))
        .route("/api/images/{id}", get(get_image))
        .route("/api/images/{id}/scores", patch(patch_scores))
        .route("/api/export.csv", get(export_csv))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    s.store.health_check().await?;
    Ok(Json(json!({
        "status": "ready",
        "database": s.store.backend_name(),
        "engine": s.queue.backend(),
        "model": s.scorer.model,
    })))
}

fn etag(r: &ImageRecord) -> String {
    format!("\"{}\"", r.version)
}

fn record_response(status: StatusCode, r: &ImageRecord) -> Response {
    (status, [(header::ETAG, etag(r))], Json(r)).into_response()
}

async fn get_image(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let r = s.store.get_image(id).await?;
    if r.is_deleted() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("image {id} not found"),
        ));
    }
    Ok(record_response(StatusCode::OK, &r))
}

#[derive(Deserialize)]
struct ListParams {
    search: Option<String>,
    group: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(s): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery {
        search: p.search,
        group: p.group,
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0),
        ..Default::default()
    };
    let (items, total) = s.store.list_images(&q).await?;
    let groups = s.store.group_summary(&q).await?;
    Ok(Json(
        json!({"items": items, "total": total, "groups": groups}),
    ))
}

/// `PATCH /api/images/{id}/scores` with `If-Match` and `{"scores": {...}, "reason", "reviewed"}`.
async fn patch_scores(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Some(if_match) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "send the record's ETag in an If-Match header so a concurrent change is not overwritten",
        ));
    };
    let version: i64 = if_match
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_if_match",
                "If-Match must be the ETag from GET /api/images/{id}",
            )
        })?;
    let invalid =
        |detail: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", detail);
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    let mut changes = histoscore_domain::Scores::new();
    match v.get("scores") {
        Some(Value::Object(m)) => {
            for (metric, value) in m {
                let Some(x) = value.as_f64() else {
                    let m = s.schema().metrics.iter().find(|x| &x.name == metric);
                    return Err(invalid(format!("{metric}: the value must be a number")).with(json!({
                        "field": metric,
                        "allowed": m.map(|m| json!({"min": 0, "max": m.max, "step": s.schema().step})),
                    })));
                };
                if let Err(e) = s.schema().check_value(metric, x) {
                    let m = s.schema().metrics.iter().find(|x| &x.name == metric);
                    return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", e.to_string()).with(json!({
                        "field": metric,
                        "allowed": m.map(|m| json!({"min": 0, "max": m.max, "step": s.schema().step})),
                    })));
                }
                changes.insert(metric.clone(), x);
            }
        }
        None => {}
        Some(_) => {
            return Err(invalid(
                "scores must be an object of metric name → number".into(),
            ))
        }
    }
    let reviewed = match v.get("reviewed") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("reviewed must be true or false".into())),
    };
    let reason = match v.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(invalid("reason must be text".into())),
    };
    let update = ScoreUpdate {
        expected_version: version,
        changes,
        reviewed,
        reason,
        actor: LOCAL_USER.to_string(),
    };
    let r = s.store.update_scores(id, &update, s.schema()).await?;
    Ok(record_response(StatusCode::OK, &r))
}

#[derive(Deserialize)]
struct UploadParams {
    on_conflict: Option<String>,
}

/// What happened to one uploaded file.
enum Outcome {
    New(ImageRecord),
    Known(ImageRecord),
    Duplicate(ImageRecord),
    Refused(ApiError),
}

async fn upload(
    State(s): State<AppState>,
    Query(p): Query<UploadParams>,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    let keep_both = p.on_conflict.as_deref() == Some("keep_both");
    let mut results: Vec<(String, Outcome)> = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_multipart", e.to_string()))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("upload").to_string();
        let outcome = receive(&s, field, &filename, keep_both).await;
        results.push((filename, outcome));
    }
    if results.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no_file",
            "send the image in a multipart field named \"file\"",
        ));
    }
    if results.len() == 1 {
        let (_, o) = results.pop().expect("one result");
        return Ok(match o {
            Outcome::New(r) => record_response(StatusCode::CREATED, &r),
            Outcome::Known(r) | Outcome::Duplicate(r) => record_response(StatusCode::OK, &r),
            Outcome::Refused(e) => e.into_response(),
        });
    }
    let items: Vec<Value> = results
        .into_iter()
        .map(|(filename, o)| match o {
            Outcome::New(r) => json!({"filename": filename, "status": "new", "id": r.id}),
            Outcome::Known(r) => json!({"filename": filename, "status": "known", "id": r.id}),
            Outcome::Duplicate(r) => {
                json!({"filename": filename, "status": "duplicate", "id": r.id})
            }
            Outcome::Refused(e) if e.status == StatusCode::CONFLICT => {
                json!({"filename": filename, "status": "conflict", "error": e.detail})
            }
            Outcome::Refused(e) => {
                json!({"filename": filename, "status": "refused", "error": e.detail})
            }
        })
        .collect();
    Ok((StatusCode::OK, Json(json!({"results": items}))).into_response())
}

/// Streams one file to disk (hashing as it goes), then applies the upsert rules.
async fn receive(
    s: &AppState,
    mut field: axum::extract::multipart::Field<'_>,
    filename: &str,
    keep_both: bool,
) -> Outcome {
    let tmp_dir = s.data_dir.join("tmp");
    let tmp = tmp_dir.join(format!("upload-{}-{}", std::process::id(), unique()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(ApiError::internal)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "upload_interrupted", e.to_string())
        })? {
            size += chunk.len() as u64;
            if size > s.max_upload_bytes {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "the file is larger than the server's limit of {} bytes",
                        s.max_upload_bytes
                    ),
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        file.flush().await.map_err(ApiError::internal)?;
        file.sync_all().await.map_err(ApiError::internal)?;
        Ok((hex::encode(hasher.finalize()), size))
    }
    .await;
    let outcome = match result {
        Err(e) => Outcome::Refused(e),
        Ok((sha, size)) => match decide(s, &tmp, filename, &sha, size, keep_both).await {
            Ok(o) => o,
            Err(e) => Outcome::Refused(e),
        },
    };
    let _ = tokio::fs::remove_file(&tmp).await;
    outcome
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn decide(
    s: &AppState,
    tmp: &std::path::Path,
    filename: &str,
    sha: &str,
    size: u64,
    keep_both: bool,
) -> Result<Outcome, ApiError> {
    if let Some(existing) = s.store.find_by_filename(filename).await? {
        if existing.sha256 == sha {
            return Ok(Outcome::Known(existing));
        }
        if !keep_both {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "filename_conflict",
                format!(
                    "a different image named {filename:?} is already stored; upload with ?on_conflict=keep_both to keep both"
                ),
            )
            .with(json!({"existing_sha256": existing.sha256, "uploaded_sha256": sha, "existing_id": existing.id})));
        }
    }
    if let Some(existing) = s.store.find_by_sha256(sha).await? {
        return Ok(Outcome::Duplicate(existing));
    }
    // Decode once, fully, before accepting: anything the engine refuses leaves nothing behind.
    let scorer = s.scorer.clone();
    let path = tmp.to_path_buf();
    let decoded = tokio::task::spawn_blocking(move || {
        histoscore_imaging::decode_file(&path, &scorer.decode)
            .map(|img| (img.width, img.height, img.format))
    })
    .await
    .map_err(ApiError::internal)?;
    let (width, height, format) = decoded.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_image",
            e.to_string(),
        )
    })?;
    let blob = s.blob_path(sha);
    if let Some(dir) = blob.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(ApiError::internal)?;
    }
    tokio::fs::copy(tmp, &blob)
        .await
        .map_err(ApiError::internal)?;
    let info = s.scorer.serials.parse(filename);
    let new = NewImage {
        filename: filename.to_string(),
        serial: Some(info.serial),
        group_name: Some(info.group),
        image_number: info.image_number.and_then(|n| n.parse().ok()),
        sha256: sha.to_string(),
        size_bytes: size as i64,
        width: Some(width.into()),
        height: Some(height.into()),
        format: Some(format),
        storage_key: Some(sha.to_string()),
    };
    Ok(Outcome::New(s.store.insert_image(&new, LOCAL_USER).await?))
}

async fn export_csv(State(s): State<AppState>) -> Result<Response, ApiError> {
    let schema = s.schema().clone();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "created_at",
        "updated_at",
        "review_status",
        "filename",
        "serial",
        "group",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    for m in &schema.metrics {
        header.push(format!("AI {}", m.name));
        header.push(m.name.clone());
    }
    header.extend(["total", "updated_by", "model_id", "app_version", "schema"].map(String::from));
    w.write_record(&header).map_err(ApiError::internal)?;
    let mut pages = s.store.all_images_for_export();
    while let Some(page) = pages.next_page().await? {
        for r in page {
            let mut rec = vec![
                r.created_at.to_rfc3339(),
                r.updated_at.to_rfc3339(),
                r.review_status.as_str().to_string(),
                csv_text(&r.filename),
                csv_text(r.serial.as_deref().unwrap_or("")),
                csv_text(r.group_name.as_deref().unwrap_or("")),
            ];
            let mut total = 0.0;
            for m in &schema.metrics {
                let ai = r
                    .draft
                    .as_ref()
                    .and_then(|d| d.rounded.get(&m.name))
                    .copied();
                let v = r.scores.get(&m.name).copied();
                total += v.unwrap_or(0.0);
                rec.push(ai.map(|x| x.to_string()).unwrap_or_default());
                rec.push(v.map(|x| x.to_string()).unwrap_or_default());
            }
            rec.push(schema.round_to_step(total).to_string());
            rec.push(csv_text(&r.updated_by));
            rec.push(
                r.draft
                    .as_ref()
                    .map(|d| d.model_id.clone())
                    .unwrap_or_default(),
            );
            rec.push(env!("CARGO_PKG_VERSION").to_string());
            rec.push(csv_text(&schema.name));
            w.write_record(&rec).map_err(ApiError::internal)?;
        }
    }
    let bytes = w.into_inner().map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"histoscore-export.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The background worker: claims queued jobs from the database (several processes may share
/// them), scores the stored file and records the draft. Runs until `stop` is set.
pub async fn run_worker(s: AppState, worker_id: String, stop: Arc<tokio::sync::Notify>) {
    let lease = Duration::from_secs(120);
    loop {
        let job = tokio::select! {
            _ = stop.notified() => return,
            j = s.store.claim_job(&worker_id, lease) => j,
        };
        let job = match job {
            Ok(Some(j)) => j,
            Ok(None) => {
                tokio::select! {
                    _ = stop.notified() => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::error!("claiming a job failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let record = match s.store.get_image(job.image_id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("job {}: {e}", job.id);
                continue;
            }
        };
        let path = s.blob_path(&record.sha256);
        let scorer = s.scorer.clone();
        let queue = s.queue.clone();
        let filename = record.filename.clone();
        let scored = tokio::task::spawn_blocking(move || {
            let prepared = scorer.prepare_file(&path).map_err(|e| e.to_string())?;
            scorer
                .finish(&filename, prepared, &queue)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("scoring crashed: {e}")));
        let result = match scored {
            Ok(img) => {
                let draft = NewDraft {
                    model_id: img.model.id.clone(),
                    model_demo: img.model.demo,
                    raw_outputs: s
                        .scorer
                        .schema
                        .metrics
                        .iter()
                        .zip(&img.raw_output)
                        .map(|(m, v)| (m.name.clone(), f64::from(*v)))
                        .collect(),
                    rounded: img.scores.clone(),
                };
                s.store
                    .complete_job(job.id, &worker_id, &draft)
                    .await
                    .map(|_| ())
            }
            Err(e) => s.store.fail_job(job.id, &worker_id, &e).await.map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!("job {}: could not record the result: {e}", job.id);
        }
    }
}
