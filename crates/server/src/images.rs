//! `/api/images`: upload, read, list, correct, retract, restore, audit.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use histoscore_store::{
    AuditEntry, GroupSummary, ImageRecord, ImageStatus, ListQuery, ReviewStatus, ScoreUpdate,
    SortDir, SortField,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::{Json, OptionalJson, Path, Query};
use crate::visibility::View;
use crate::{ApiError, AppState};

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
    /// Case-insensitive part of the filename (also a name it was uploaded again under),
    /// serial or group.
    search: Option<String>,
    /// The start of the group name, in any case (`s-36` matches S-3602 and S-3618).
    group: Option<String>,
    /// `true`: the retracted (deleted) records, to restore them; default: the live ones.
    deleted: Option<bool>,
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
    /// For each group with a record on this page: count, reviewed count and mean of each
    /// metric over every match in that group whose scores the caller may see (a blinded
    /// reader's unread images are left out).
    groups: Vec<GroupSummary>,
}

pub(crate) fn parse_time(
    field: &'static str,
    v: &str,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(ApiError::bad_query(
        field,
        format!("{field}: {v:?} is not a date; use 2026-01-31 or 2026-01-31T12:00:00Z"),
    ))
}

/// A query parameter naming one of a fixed set of values (empty: not given).
pub(crate) fn parse_enum<T: std::str::FromStr<Err = histoscore_store::StoreError>>(
    field: &'static str,
    v: Option<&str>,
) -> Result<Option<T>, ApiError> {
    v.filter(|v| !v.is_empty())
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::bad_query(field, format!("{field}: {e}")))
}

/// The history: search, filter, sort and page through every record, with per-group summary.
#[utoipa::path(get, path = "/api/images", tag = "images", params(ListParams),
    responses((status = 200, body = ListResponse), (status = 400, body = crate::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<ListResponse>, ApiError> {
    let view = View::of(&s, &caller).await?;
    let q = ListQuery {
        exclude_ids: view.coded_ids(),
        search: p.search.filter(|x| !x.is_empty()),
        group: p.group.filter(|x| !x.is_empty()),
        deleted: p.deleted.unwrap_or(false),
        status: parse_enum::<ImageStatus>("status", p.status.as_deref())?,
        review_status: parse_enum::<ReviewStatus>("review_status", p.review_status.as_deref())?,
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
        sort: parse_enum::<SortField>("sort", p.sort.as_deref())?.unwrap_or(SortField::Id),
        dir: parse_enum::<SortDir>("dir", p.dir.as_deref())?.unwrap_or(SortDir::Asc),
        limit: p.limit.unwrap_or(50),
        offset: p.offset.unwrap_or(0).max(0),
    };
    let (mut items, total) = s.store.list_images(&q).await?;
    for r in &mut items {
        view.record(r);
    }
    // Summaries leave out what the caller may not see, so that no mean reveals a hidden draft.
    let hidden_for = (!view.hidden.is_empty()).then_some(caller.name.as_str());
    // Only the page's groups: the cost stays that of one page however many records match.
    let mut on_page: Vec<Option<String>> = items.iter().map(|r| r.group_name.clone()).collect();
    on_page.sort();
    on_page.dedup();
    let metrics = s.scorer.schema.metric_names();
    let groups = s
        .store
        .group_summary(&q, hidden_for, Some(&on_page), &metrics)
        .await?;
    Ok(Json(ListResponse {
        items,
        total,
        groups,
    }))
}

/// Every sample group: its image count, reviewed count and the mean of each metric, over the
/// records whose scores the caller may see (for choosing groups, e.g. for a reader study; the
/// history's `groups` cover the page shown).
#[utoipa::path(get, path = "/api/groups", tag = "images",
    responses((status = 200, body = Vec<GroupSummary>)))]
pub async fn groups(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<GroupSummary>>, ApiError> {
    let view = View::of(&s, &caller).await?;
    let hidden_for = (!view.hidden.is_empty()).then_some(caller.name.as_str());
    let metrics = s.scorer.schema.metric_names();
    // A blinded reader's coded study images are left out: their groups are not to be known.
    let q = ListQuery {
        exclude_ids: view.coded_ids(),
        ..ListQuery::default()
    };
    Ok(Json(
        s.store
            .group_summary(&q, hidden_for, None, &metrics)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
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
    let allowed = |metric: &str| {
        schema
            .metrics
            .iter()
            .find(|x| x.name == metric)
            .map(|m| json!({"min": 0, "max": m.max, "step": schema.step}))
    };
    // A wrong value names the metric and what it may be.
    let patch: ScoresPatch = crate::extract::parse(&body).map_err(|mut e| {
        if let Some(metric) = e.field.as_deref().and_then(|f| f.strip_prefix("scores.")) {
            let metric = metric.to_string();
            e = e.with(json!({"allowed": allowed(&metric)}));
            e.field = Some(metric);
        }
        e
    })?;
    let mut changes = histoscore_domain::Scores::new();
    for (metric, x) in patch.scores.unwrap_or_default() {
        let x = schema.check_value(&metric, x).map_err(|e| {
            ApiError::invalid(&metric, e.to_string()).with(json!({"allowed": allowed(&metric)}))
        })?;
        changes.insert(metric, x);
    }
    let ScoresPatch {
        reviewed, reason, ..
    } = patch;
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
    OptionalJson(reason): OptionalJson<ReasonBody>,
) -> Result<Response, ApiError> {
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
