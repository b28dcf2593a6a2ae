//! The original system's API, for the clients written against it (its Next.js page, lab
//! scripts): `POST /api/upload-image[/]`, `PUT /api/scores/{db_id}`, `GET /health`. On only
//! with `--original-api`. The answers keep the original's shapes; what Histoscore does
//! differently on purpose (values are validated, duplicates are recognised by content, a
//! different image under a known name is refused) is listed in the README.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use histoscore_store::{ImageRecord, ImageStatus, ScoreUpdate, StoreError};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::extract::{Json, Path};
use crate::upload::{receive_upload, Outcome};
use crate::visibility::View;
use crate::{ApiError, AppState};

/// How long an upload waits for its AI draft before answering without it.
const DRAFT_WAIT: Duration = Duration::from_secs(120);

fn enabled(s: &AppState) -> Result<(), ApiError> {
    if s.original_api {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the original system's API is off on this server: start it with --original-api \
             (HISTOSCORE_ORIGINAL_API=1), or use Histoscore's own API (/docs)",
        ))
    }
}

/// The original accepted TIFF only, and said so before reading the file.
fn tiff_only(filename: &str) -> Result<(), ApiError> {
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".tif") || lower.ends_with(".tiff") {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "unsupported_image",
            "Only .tif files supported (the original system's upload route takes .tif/.tiff; \
             Histoscore's own POST /api/images also takes PNG and JPEG)",
        ))
    }
}

/// The original's answer to an upload.
#[derive(Serialize, ToSchema)]
pub struct OriginalUploadResponse {
    /// `success`
    status: &'static str,
    filename: String,
    serial_number: Option<String>,
    sample_id: Option<String>,
    /// The four metrics in the schema's order, then `Total` (their sum).
    #[schema(value_type = Object)]
    scores: IndexMap<String, Option<f64>>,
    /// The image's preview, a URL relative to this server (`/api/images/{id}/preview.jpg`),
    /// where the original sent a base64 data URL. The original page shows it through its
    /// `/api/*` rewrite to `NEXT_PUBLIC_API_URL`; scripts resolve it against the server's
    /// address.
    display_url: String,
    db_id: i64,
}

/// The scores as the original sent them, in its order (its page lists them as they come):
/// every metric of the schema (null where there is no score yet), then `Total`, the sum of
/// those present, rounded to hundredths.
fn original_scores(s: &AppState, r: &ImageRecord) -> IndexMap<String, Option<f64>> {
    let mut out = IndexMap::new();
    for m in &s.scorer.schema.metrics {
        out.insert(m.name.clone(), r.scores.get(&m.name).copied());
    }
    let total = total(&s.scorer.schema, r);
    out.insert("Total".into(), Some((total * 100.0).round() / 100.0));
    out
}

/// Waits until the image's scoring job has ended (any worker, any process), or `DRAFT_WAIT`.
async fn await_draft(s: &AppState, mut r: ImageRecord) -> Result<ImageRecord, ApiError> {
    let started = Instant::now();
    let mut changes = s.events.subscribe();
    while matches!(r.status, ImageStatus::Queued | ImageStatus::Scoring)
        && started.elapsed() < DRAFT_WAIT
    {
        // A change anywhere wakes this up; the half-second cap covers workers in other
        // processes whose changes reach the hub by polling.
        let _ = tokio::time::timeout(Duration::from_millis(500), changes.recv()).await;
        r = s.store.get_image(r.id).await?;
    }
    Ok(r)
}

/// Upload one TIFF the way the original's clients do (multipart field `file`) and wait for its
/// AI draft. A file already stored under the same name with the same content answers its saved
/// (possibly corrected) scores without scoring again, as the original did.
#[utoipa::path(post, path = "/api/upload-image", tag = "compatibility",
    request_body(content_type = "multipart/form-data", description = "One `file` field (.tif/.tiff)"),
    responses((status = 200, body = OriginalUploadResponse),
              (status = 400, body = crate::ErrorBody, description = "Not a .tif file"),
              (status = 409, body = crate::ErrorBody, description = "A different image under a known filename"),
              (status = 413, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 500, body = crate::ErrorBody, description = "Scoring failed"),
              (status = 503, body = crate::ErrorBody, description = "Busy; see Retry-After")))]
pub async fn upload_image(
    State(s): State<AppState>,
    caller: Caller,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    upload(s, caller, req).await
}

/// The same as `POST /api/upload-image` (the original's route has the trailing slash).
#[utoipa::path(post, path = "/api/upload-image/", tag = "compatibility",
    request_body(content_type = "multipart/form-data", description = "One `file` field (.tif/.tiff)"),
    responses((status = 200, body = OriginalUploadResponse),
              (status = 400, body = crate::ErrorBody, description = "Not a .tif file"),
              (status = 409, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody),
              (status = 503, body = crate::ErrorBody)))]
pub async fn upload_image_slash(
    State(s): State<AppState>,
    caller: Caller,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    upload(s, caller, req).await
}

async fn upload(
    s: AppState,
    caller: Caller,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    enabled(&s)?;
    let mut results = receive_upload(&s, &caller, req, false, tiff_only).await?;
    let (_, outcome) = results.swap_remove(0);
    let r = match outcome {
        Outcome::New(r) | Outcome::Known(r) | Outcome::Duplicate(r) => r,
        Outcome::Refused(e) => return Err(e),
    };
    let mut r = await_draft(&s, r).await?;
    View::of(&s, &caller).await?.record(&mut r);
    if r.status == ImageStatus::Failed {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "scoring_failed",
            format!(
                "the image was stored (id {}) but scoring it failed: {}",
                r.id,
                r.error.as_deref().unwrap_or("unknown error")
            ),
        ));
    }
    let body = OriginalUploadResponse {
        status: "success",
        display_url: format!("/api/images/{}/preview.jpg", r.id),
        scores: original_scores(&s, &r),
        filename: r.filename,
        serial_number: r.serial,
        sample_id: r.group_name,
        db_id: r.id,
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// The original's answer to a score update.
#[derive(Serialize, ToSchema)]
pub struct OriginalUpdateResponse {
    /// `updated`
    status: &'static str,
    /// The sum of the record's four scores after the change.
    new_total: f64,
}

/// Change scores with the original's body: metric names as keys, e.g. `{"Fibrosis": 2.5}`
/// (`Total` is ignored: it is recomputed). Values are checked against the schema (422 with the
/// allowed range instead of storing them) and the change is audited as the caller's.
#[utoipa::path(put, path = "/api/scores/{db_id}", tag = "compatibility",
    params(("db_id" = i64, Path, description = "The record's id (db_id of the upload answer)")),
    request_body(content = Object, description = "Metric name → new value"),
    responses((status = 200, body = OriginalUpdateResponse),
              (status = 404, body = crate::ErrorBody, description = "Score record not found"),
              (status = 422, body = crate::ErrorBody, description = "A value outside the metric's range or step; `allowed` says what is")))]
pub async fn update_scores(
    State(s): State<AppState>,
    caller: Caller,
    Path(db_id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<OriginalUpdateResponse>, ApiError> {
    enabled(&s)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("Score record not found: there is no image with db_id {db_id}"),
        )
    };
    let payload: Map<String, Value> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "send a JSON object of metric names and values, e.g. {{\"Fibrosis\": 2.5}} ({e})"
            ),
        )
    })?;
    let schema = &s.scorer.schema;
    let allowed =
        |m: &histoscore_domain::Metric| json!({"min": 0, "max": m.max, "step": schema.step});
    let mut changes = histoscore_domain::Scores::new();
    for (key, value) in &payload {
        if key == "Total" {
            continue;
        }
        let Some(metric) = schema.metrics.iter().find(|m| &m.name == key) else {
            return Err(ApiError::invalid(
                key,
                format!(
                    "{key:?} is not a metric of this schema; the metrics are {}",
                    schema.metric_names().join(", ")
                ),
            ));
        };
        let v = value.as_f64().ok_or_else(|| {
            ApiError::invalid(key, format!("{key} must be a number"))
                .with(json!({"allowed": allowed(metric)}))
        })?;
        let v = schema.check_value(key, v).map_err(|e| {
            ApiError::invalid(key, e.to_string()).with(json!({"allowed": allowed(metric)}))
        })?;
        changes.insert(key.clone(), v);
    }
    let view = View::of(&s, &caller).await?;
    view.may_change(db_id)?;
    if changes.is_empty() {
        let r = s.store.get_image(db_id).await.map_err(|e| match e {
            StoreError::NotFound { .. } => not_found(),
            other => other.into(),
        })?;
        if r.is_deleted() {
            return Err(not_found());
        }
        let mut r = r;
        view.record(&mut r);
        return Ok(Json(OriginalUpdateResponse {
            status: "updated",
            new_total: total(schema, &r),
        }));
    }
    // The original's clients send no version: the change applies to the record as it is now
    // (retried if someone else changes it in between), and is audited like any other.
    let mut attempts = 0;
    let record = loop {
        let current = s.store.get_image(db_id).await.map_err(|e| match e {
            StoreError::NotFound { .. } => not_found(),
            other => other.into(),
        })?;
        if current.is_deleted() {
            return Err(not_found());
        }
        let update = ScoreUpdate {
            expected_version: current.version,
            changes: changes.clone(),
            reviewed: None,
            reason: None,
            actor: caller.name.clone(),
            study_id: None,
        };
        match s.store.update_scores(db_id, &update, schema).await {
            Ok(r) => break r,
            Err(StoreError::Conflict { .. }) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    s.events.poke();
    Ok(Json(OriginalUpdateResponse {
        status: "updated",
        new_total: total(schema, &record),
    }))
}

/// The sum of the record's scores over the schema's metrics (a missing one counts 0, as in
/// the original).
fn total(schema: &histoscore_domain::Schema, r: &ImageRecord) -> f64 {
    schema
        .metrics
        .iter()
        .filter_map(|m| r.scores.get(&m.name))
        .sum::<f64>()
}

/// The original's health answer (for its load balancer checks): the database answers and a
/// model is loaded.
#[utoipa::path(get, path = "/health", tag = "compatibility",
    responses((status = 200, description = "`{status: healthy, model_loaded: true, database: connected}`"),
              (status = 503, body = crate::ErrorBody)))]
pub async fn health(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    enabled(&s)?;
    s.store.health_check().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy",
            format!("Unhealthy: the database does not answer ({e})"),
        )
    })?;
    Ok(Json(json!({
        "status": "healthy",
        "model_loaded": true,
        "database": "connected",
        "model": s.active_model().await,
    })))
}

/// The original's root answer, for clients that check it (browsers get the web UI).
pub fn root_message() -> Value {
    json!({"message": "AI Scoring API Ready"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tiff_names_pass() {
        assert!(tiff_only("S-1-10X_Image001.tif").is_ok());
        assert!(tiff_only("a.TIFF").is_ok());
        let e = tiff_only("test.jpg").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.detail.starts_with("Only .tif files supported"));
    }
}
