//! `/api/images`: upload, read, list, correct, retract, restore, audit.

use axum::extract::{FromRequest, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use histoscore_store::{
    AuditEntry, GroupSummary, ImageRecord, ImageStatus, ListQuery, NewImage, ReviewStatus,
    ScoreUpdate, SortDir, SortField,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::blobs::{original_key, preview_key};
use crate::visibility::View;
use crate::{ApiError, AppState};
use std::collections::HashSet;

fn etag(r: &ImageRecord) -> String {
    format!("\"{}\"", r.version)
}

pub(crate) fn record_response(status: StatusCode, r: &ImageRecord) -> Response {
    (status, [(header::ETAG, etag(r))], Json(r)).into_response()
}

/// The version an `If-Match` header names.
pub(crate) fn parse_if_match(v: &axum::http::HeaderValue) -> Result<i64, ApiError> {
    v.to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad_if_match",
                "If-Match must be the ETag from GET /api/images/{id}",
            )
        })
}

/// Images whose AI draft (and current score) this caller must not see yet: a reader in a
/// blinded study before their blind score. Administrators see everything.
pub(crate) async fn hidden_from(s: &AppState, caller: &Caller) -> Result<HashSet<i64>, ApiError> {
    Ok(View::of(s, caller).await?.hidden)
}

/// A record answer as this caller may see it.
fn visible_response(status: StatusCode, view: &View, mut r: ImageRecord) -> Response {
    view.record(&mut r);
    record_response(status, &r)
}

/// A store error as this caller may see it: a conflict's `current` record is masked too.
fn visible_error(view: &View, e: histoscore_store::StoreError) -> ApiError {
    match e {
        histoscore_store::StoreError::Conflict { mut current } => {
            view.record(&mut current);
            histoscore_store::StoreError::Conflict { current }.into()
        }
        other => other.into(),
    }
}

/// Blanks what a blinded reader must not see of a record.
pub(crate) fn mask(r: &mut ImageRecord, hidden: &HashSet<i64>) {
    if hidden.contains(&r.id) {
        r.draft = None;
        r.scores.clear();
    }
}

async fn live(s: &AppState, id: i64) -> Result<ImageRecord, ApiError> {
    let r = s.store.get_image(id).await?;
    if r.is_deleted() {
        return Err(ApiError::not_found(id));
    }
    Ok(r)
}

/// One record, with its version as a quoted `ETag`.
#[utoipa::path(get, path = "/api/images/{id}", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 200, body = ImageRecord, headers(("ETag" = String, description = "The record's version, quoted"))),
              (status = 404, body = crate::ErrorBody)))]
pub async fn get_image(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let r = live(&s, id).await?;
    Ok(visible_response(
        StatusCode::OK,
        &View::of(&s, &caller).await?,
        r,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Case-insensitive part of the filename, serial or group.
    search: Option<String>,
    group: Option<String>,
    status: Option<String>,
    /// `unreviewed` or `reviewed`.
    review_status: Option<String>,
    /// Created at or after (ISO 8601, e.g. `2026-01-31` or `2026-01-31T12:00:00Z`).
    created_from: Option<String>,
    /// Created before (ISO 8601).
    created_to: Option<String>,
    /// Has a draft from this model id.
    model_id: Option<String>,
    /// id, filename, serial, group, image_number, created_at, updated_at, status, review_status
    sort: Option<String>,
    /// asc or desc
    dir: Option<String>,
    /// Page size, 1–1000 (default 50).
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ListResponse {
    items: Vec<ImageRecord>,
    /// How many records match (all pages).
    total: i64,
    /// Per-group count, reviewed count and mean of each metric, over every match whose
    /// scores the caller may see (a blinded reader's unread images are left out).
    groups: Vec<GroupSummary>,
}

fn parse_time(field: &'static str, v: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(ApiError::bad_request(
        "invalid_query",
        format!("{field}: {v:?} is not a date; use 2026-01-31 or 2026-01-31T12:00:00Z"),
    ))
}

fn parse_enum<T: std::str::FromStr<Err = histoscore_store::StoreError>>(
    v: Option<&str>,
) -> Result<Option<T>, ApiError> {
    v.filter(|v| !v.is_empty())
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
}

/// The history: search, filter, sort and page through every record, with per-group summary.
#[utoipa::path(get, path = "/api/images", tag = "images", params(ListParams),
    responses((status = 200, body = ListResponse), (status = 400, body = crate::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<ListResponse>, ApiError> {
    let q = ListQuery {
        search: p.search.filter(|x| !x.is_empty()),
        group: p.group.filter(|x| !x.is_empty()),
        status: parse_enum::<ImageStatus>(p.status.as_deref())?,
        review_status: parse_enum::<ReviewStatus>(p.review_status.as_deref())?,
        created_from: p
            .created_from
            .as_deref()
            .filter(|x| !x.is_empty())
            .map(|v| parse_time("created_from", v))
            .transpose()?,
        created_to: p
            .created_to
            .as_deref()
            .filter(|x| !x.is_empty())
            .map(|v| parse_time("created_to", v))
            .transpose()?,
        model_id: p.model_id.filter(|x| !x.is_empty()),
        sort: parse_enum::<SortField>(p.sort.as_deref())?.unwrap_or(SortField::Id),
        dir: parse_enum::<SortDir>(p.dir.as_deref())?.unwrap_or(SortDir::Asc),
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0).max(0),
    };
    let (mut items, total) = s.store.list_images(&q).await?;
    let view = View::of(&s, &caller).await?;
    for r in &mut items {
        view.record(r);
    }
    // Summaries leave out what the caller may not see, so that no mean reveals a hidden draft.
    let hidden_for = (!view.hidden.is_empty()).then_some(caller.name.as_str());
    let groups = s.store.group_summary(&q, hidden_for).await?;
    Ok(Json(ListResponse {
        items,
        total,
        groups,
    }))
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; parsed by hand for precise errors
pub struct ScoresPatch {
    /// New values per metric name (as in the schema), e.g. `{"Fibrosis": 1.5}`.
    scores: Option<std::collections::BTreeMap<String, f64>>,
    /// Mark the image reviewed (`true`) or not (`false`).
    reviewed: Option<bool>,
    /// Why, kept in the audit log.
    reason: Option<String>,
}

/// Correct scores. Send the record's ETag in `If-Match`; a stale one gets 409 with the
/// current record instead of overwriting someone's change.
#[utoipa::path(patch, path = "/api/images/{id}/scores", tag = "images",
    params(("id" = i64, Path, description = "Image id"),
           ("If-Match" = String, Header, description = "The ETag from GET /api/images/{id}")),
    request_body = ScoresPatch,
    responses((status = 200, body = ImageRecord), (status = 409, body = crate::ErrorBody, description = "Changed by someone else; `current` holds the record"),
              (status = 422, body = crate::ErrorBody, description = "Invalid value; `field` and `allowed` say which and what"),
              (status = 428, body = crate::ErrorBody, description = "No If-Match header")))]
pub async fn patch_scores(
    State(s): State<AppState>,
    caller: Caller,
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
    let version = parse_if_match(if_match)?;
    let view = View::of(&s, &caller).await?;
    view.may_change(id)?;
    let schema = &s.scorer.schema;
    let invalid =
        |detail: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", detail);
    let allowed = |metric: &str| {
        schema
            .metrics
            .iter()
            .find(|x| x.name == metric)
            .map(|m| json!({"min": 0, "max": m.max, "step": schema.step}))
    };
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    let mut changes = histoscore_domain::Scores::new();
    match v.get("scores") {
        Some(Value::Object(m)) => {
            for (metric, value) in m {
                let Some(x) = value.as_f64() else {
                    return Err(invalid(format!("{metric}: the value must be a number"))
                        .with(json!({"field": metric, "allowed": allowed(metric)})));
                };
                let x = schema.check_value(metric, x).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_value",
                        e.to_string(),
                    )
                    .with(json!({"field": metric, "allowed": allowed(metric)}))
                })?;
                changes.insert(metric.clone(), x);
            }
        }
        None | Some(Value::Null) => {}
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
    // The store refuses a retracted image (404) and a stale version (409) atomically.
    let update = ScoreUpdate {
        expected_version: version,
        changes,
        reviewed,
        reason,
        actor: caller.name.clone(),
        study_id: None,
    };
    let r = s
        .store
        .update_scores(id, &update, schema)
        .await
        .map_err(|e| visible_error(&view, e))?;
    s.events.poke();
    Ok(visible_response(StatusCode::OK, &view, r))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ReasonBody {
    /// Why, kept in the audit log.
    pub(crate) reason: Option<String>,
}

/// Retract a wrong upload: hidden from lists, lookups and exports; audited; restorable.
#[utoipa::path(delete, path = "/api/images/{id}", tag = "images",
    params(("id" = i64, Path, description = "Image id")), request_body(content = Option<ReasonBody>),
    responses((status = 200, body = ImageRecord), (status = 404, body = crate::ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let reason: ReasonBody = crate::error::optional_json(&body, r#"{"reason": "…"}"#)?;
    live(&s, id).await?;
    let view = View::of(&s, &caller).await?;
    view.may_change(id)?;
    let r = s
        .store
        .soft_delete(id, &caller.name, reason.reason.as_deref())
        .await?;
    s.events.poke();
    Ok(visible_response(StatusCode::OK, &view, r))
}

/// Undo a retraction.
#[utoipa::path(post, path = "/api/images/{id}/restore", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 200, body = ImageRecord), (status = 404, body = crate::ErrorBody)))]
pub async fn restore(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let view = View::of(&s, &caller).await?;
    view.may_change(id)?;
    let r = s.store.restore(id, &caller.name).await?;
    s.events.poke();
    Ok(visible_response(StatusCode::OK, &view, r))
}

/// Score the image again (after a failure, or with a newer model). Human scores are kept.
#[utoipa::path(post, path = "/api/images/{id}/rescore", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 202, body = ImageRecord), (status = 404, body = crate::ErrorBody)))]
pub async fn rescore(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    live(&s, id).await?;
    let view = View::of(&s, &caller).await?;
    let r = s.store.enqueue_rescore(id, &caller.name).await?;
    s.events.poke();
    s.work.notify_waiters();
    Ok(visible_response(StatusCode::ACCEPTED, &view, r))
}

#[derive(Serialize, ToSchema)]
pub struct AuditResponse {
    entries: Vec<AuditEntry>,
}

/// Every change to one image, oldest first: who, when, field, old → new, reason.
#[utoipa::path(get, path = "/api/images/{id}/audit", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 200, body = AuditResponse), (status = 404, body = crate::ErrorBody)))]
pub async fn audit(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AuditResponse>, ApiError> {
    s.store.get_image(id).await?;
    let mut entries = s.store.audit_for_image(id).await?;
    View::of(&s, &caller).await?.audit(id, &mut entries);
    Ok(Json(AuditResponse { entries }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// `keep_both`: store a different image under a filename that is already known.
    on_conflict: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UploadResult {
    filename: String,
    /// new, known, duplicate, conflict or refused
    status: &'static str,
    id: Option<i64>,
    error: Option<String>,
}

/// What happened to one uploaded file.
enum Outcome {
    New(ImageRecord),
    Known(ImageRecord),
    Duplicate(ImageRecord),
    Refused(ApiError),
}

/// Counts an upload in flight; refuses when too many are, in all or from one user.
struct InFlight(AppState, Option<String>);

/// The most upload slots one user may hold when accounts exist: a quarter (at least one) is
/// always left to the others.
fn per_user_uploads(max: usize) -> usize {
    max.saturating_sub((max / 4).max(1)).max(1)
}

impl InFlight {
    fn enter(s: &AppState, caller: &Caller) -> Result<Self, ApiError> {
        let n = s.uploads_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.metrics.uploads_in_flight.inc();
        let mut guard = InFlight(s.clone(), None);
        if n > s.limits.max_pending_uploads {
            return Err(ApiError::busy(
                2,
                format!(
                    "the server is already receiving {} uploads; try again shortly",
                    s.limits.max_pending_uploads
                ),
            ));
        }
        if !caller.single_user {
            let share = per_user_uploads(s.limits.max_pending_uploads);
            let mut by_user = s.uploads_by_user.lock().unwrap_or_else(|e| e.into_inner());
            let mine = by_user.entry(caller.name.clone()).or_insert(0);
            if *mine >= share {
                return Err(ApiError::busy(
                    2,
                    format!(
                        "you are already sending {share} uploads at once (your share of the \
                         server's upload slots); wait for one to finish"
                    ),
                ));
            }
            *mine += 1;
            guard.1 = Some(caller.name.clone());
        }
        Ok(guard)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.uploads_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.uploads_in_flight.dec();
        if let Some(name) = &self.1 {
            let mut by_user = self
                .0
                .uploads_by_user
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = by_user.get_mut(name) {
                *n -= 1;
                if *n == 0 {
                    by_user.remove(name);
                }
            }
        }
    }
}

/// Upload images (multipart field `file`, repeatable). One file: 201 with the record when
/// new, 200 when known (with its saved, possibly corrected scores) or a duplicate of known
/// content, 4xx when refused. Several files: 200 with one result per file.
#[utoipa::path(post, path = "/api/images", tag = "images", params(UploadParams),
    request_body(content_type = "multipart/form-data", description = "One or more `file` fields"),
    responses((status = 201, body = ImageRecord, description = "New image, queued for scoring"),
              (status = 200, body = ImageRecord, description = "Already known (or several files: `{results: [UploadResult]}`)"),
              (status = 409, body = crate::ErrorBody, description = "A different image under a known filename"),
              (status = 413, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 503, body = crate::ErrorBody, description = "Busy; see Retry-After")))]
pub async fn upload(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<UploadParams>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    crate::refuse_declared_oversize(req.headers(), s.limits.max_upload_bytes)?;
    let busy = match InFlight::enter(&s, &caller) {
        Err(e) => Err(e),
        Ok(guard) => match s.store.queue_depth().await {
            Ok(d) if d.queued >= s.limits.max_queued_jobs => Err(ApiError::busy(
                10,
                format!(
                    "{} images are waiting to be scored; try again when the queue is shorter",
                    d.queued
                ),
            )),
            Ok(_) => Ok(guard),
            Err(e) => Err(e.into()),
        },
    };
    let _in_flight = match busy {
        Ok(g) => g,
        Err(e) => {
            // Read (and drop) what the client is sending, so that it gets the answer instead
            // of a connection reset; nothing is stored.
            discard_body(req.into_body(), s.limits.max_upload_bytes).await;
            return Err(e);
        }
    };
    let mut multipart = Multipart::from_request(req, &s)
        .await
        .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?;
    let keep_both = p.on_conflict.as_deref() == Some("keep_both");
    let mut results: Vec<(String, Outcome)> = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field
            .file_name()
            .map(clean_filename)
            .unwrap_or_else(|| "upload".to_string());
        let outcome = receive(&s, field, &filename, keep_both, &caller.name).await;
        if let Outcome::Refused(e) = &outcome {
            s.metrics.refused.with_label_values(&[e.error]).inc();
        }
        results.push((filename, outcome));
    }
    let view = View::of(&s, &caller).await?;
    for (_, o) in &mut results {
        if let Outcome::New(r) | Outcome::Known(r) | Outcome::Duplicate(r) = o {
            view.record(r);
        }
    }
    if results.iter().any(|(_, o)| matches!(o, Outcome::New(_))) {
        s.events.poke();
        s.work.notify_waiters();
    }
    if results.is_empty() {
        return Err(ApiError::bad_request(
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
    let items: Vec<UploadResult> = results
        .into_iter()
        .map(|(filename, o)| {
            let (status, id, error) = match o {
                Outcome::New(r) => ("new", Some(r.id), None),
                Outcome::Known(r) => ("known", Some(r.id), None),
                Outcome::Duplicate(r) => ("duplicate", Some(r.id), None),
                Outcome::Refused(e) if e.status == StatusCode::CONFLICT => {
                    ("conflict", None, Some(e.detail))
                }
                Outcome::Refused(e) => ("refused", None, Some(e.detail)),
            };
            UploadResult {
                filename,
                status,
                id,
                error,
            }
        })
        .collect();
    Ok((StatusCode::OK, Json(json!({"results": items}))).into_response())
}

async fn discard_body(body: axum::body::Body, limit: u64) {
    let mut stream = body.into_data_stream();
    let mut seen: u64 = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len() as u64;
        if seen > limit {
            break;
        }
    }
}

/// The client's file name as data: the last path component, without control characters,
/// at most 255 characters. It is stored and shown, never used as a path.
pub fn clean_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "upload".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Streams one file to a temporary file (hashing as it goes), then applies the upsert rules.
async fn receive(
    s: &AppState,
    mut field: axum::extract::multipart::Field<'_>,
    filename: &str,
    keep_both: bool,
    actor: &str,
) -> Outcome {
    let tmp = s.scratch.temp_file(&format!("upload-{}", crate::unique()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(ApiError::internal)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad_request("upload_interrupted", e.body_text()))?
        {
            size += chunk.len() as u64;
            if size > s.limits.max_upload_bytes {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "the file is larger than the server's limit of {} MB (--max-upload-mb)",
                        s.limits.max_upload_bytes >> 20
                    ),
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        if size == 0 {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_image",
                "the file is empty",
            ));
        }
        file.flush().await.map_err(ApiError::internal)?;
        Ok((hex::encode(hasher.finalize()), size))
    }
    .await;
    let outcome = match result {
        Err(e) => Outcome::Refused(e),
        Ok((sha, size)) => match decide(s, &tmp, filename, &sha, size, keep_both, actor).await {
            Ok(o) => o,
            Err(e) => Outcome::Refused(e),
        },
    };
    drop(tmp);
    outcome
}

async fn decide(
    s: &AppState,
    tmp: &std::path::Path,
    filename: &str,
    sha: &str,
    size: u64,
    keep_both: bool,
    actor: &str,
) -> Result<Outcome, ApiError> {
    let same_content = s.store.find_by_sha256(sha).await?;
    if let Some(existing) = same_content.as_ref().filter(|r| r.filename == filename) {
        return Ok(Outcome::Known(existing.clone()));
    }
    if let Some(existing) = s.store.find_by_filename(filename).await? {
        if !keep_both {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "filename_conflict",
                format!(
                    "a different image named {filename:?} is already stored; upload with \
                     ?on_conflict=keep_both to keep both"
                ),
            )
            .with(json!({"existing_sha256": existing.sha256, "uploaded_sha256": sha, "existing_id": existing.id})));
        }
    }
    if let Some(existing) = same_content {
        return Ok(Outcome::Duplicate(existing));
    }
    // Decode once, fully, before accepting: anything the engine refuses leaves nothing
    // behind. The decoded pixels also give the previews.
    let permit = s.decode_slots.acquire().await.map_err(ApiError::internal)?;
    let opts = s.scorer.decode.clone();
    let path = tmp.to_path_buf();
    let decoded = tokio::task::spawn_blocking(move || {
        let img = histoscore_imaging::decode_file(&path, &opts)?;
        let previews = crate::media::make_previews(&img);
        Ok::<_, histoscore_imaging::ImageError>((img.width, img.height, img.format, previews))
    })
    .await
    .map_err(ApiError::internal)?;
    drop(permit);
    let (width, height, format, previews) = decoded.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_image",
            format!("{e}"),
        )
    })?;
    s.blobs
        .put_file(&original_key(sha), tmp)
        .await
        .map_err(ApiError::internal)?;
    match previews {
        Ok((thumb, preview)) => {
            let _ = s
                .blobs
                .put_bytes(&preview_key(sha, "thumb.jpg"), thumb)
                .await;
            let _ = s
                .blobs
                .put_bytes(&preview_key(sha, "preview.jpg"), preview)
                .await;
        }
        Err(e) => tracing::warn!("previews of {sha}: {e}"),
    }
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
        storage_key: Some(original_key(sha)),
    };
    Ok(Outcome::New(s.store.insert_image(&new, actor).await?))
}

#[cfg(test)]
mod tests {
    use super::{clean_filename, per_user_uploads};

    #[test]
    fn one_user_leaves_a_quarter_of_the_upload_slots() {
        assert_eq!(per_user_uploads(64), 48);
        assert_eq!(per_user_uploads(4), 3);
        assert_eq!(per_user_uploads(2), 1);
        assert_eq!(per_user_uploads(1), 1);
    }

    #[test]
    fn filenames_are_data_not_paths() {
        assert_eq!(clean_filename("../x.tif"), "x.tif");
        assert_eq!(clean_filename("a/b/../../c.tif"), "c.tif");
        assert_eq!(clean_filename("C:\\Users\\x\\s.tif"), "s.tif");
        assert_eq!(clean_filename(".."), "upload");
        assert_eq!(clean_filename("a\u{0}b\nc.tif"), "abc.tif");
        assert_eq!(clean_filename("S-1 image.tif"), "S-1 image.tif");
    }
}
