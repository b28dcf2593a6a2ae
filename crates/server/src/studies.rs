//! Scoring studies: readers, blinded reading, adjudication, agreement and study exports.
//! Who sees what: administrators, and anyone who is not one of the study's readers, see every
//! reader's work; a reader sees only their own, and in a blinded study no AI draft until
//! their blind score is in.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use histoscore_domain::agreement::{self, Interval, PairAgreement, Stat};
use histoscore_domain::export::csv_text;
use histoscore_domain::{Schema, Scores};
use histoscore_store::{
    ImageRecord, NewStudy, ReaderRead, Role, ScoreUpdate, Study, StudyImageRow, StudyPatch,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Whether the caller sees every reader's work in this study.
fn full_view(caller: &Caller, study: &Study) -> bool {
    caller.role == Role::Admin || !study.has_reader(&caller.name)
}

/// The study as this caller may see it (a reader sees only their own progress).
fn visible_study(caller: &Caller, mut study: Study) -> Study {
    if !full_view(caller, &study) {
        study.progress.retain(|r, _| *r == caller.name);
    }
    study
}

async fn load_study(s: &AppState, caller: &Caller, id: i64) -> Result<Study, ApiError> {
    let study = s.store.study(id).await?;
    if caller.role == Role::Pathologist && !study.has_reader(&caller.name) {
        // Pathologists see the studies they read in; viewers and admins see all.
        return Err(ApiError::forbidden(format!(
            "{} is not a reader of study {id}; ask an administrator to add you",
            caller.name
        )));
    }
    Ok(study)
}

/// Readers must be accounts that may score (or `local` in single-user mode).
async fn check_readers(s: &AppState, caller: &Caller, readers: &[String]) -> Result<(), ApiError> {
    for r in readers {
        if caller.single_user {
            if r != crate::LOCAL_USER {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_value",
                    format!(
                        "readers: {r:?} has no account; in single-user mode the only reader \
                         is \"local\" (create accounts with `histoscore user add`)"
                    ),
                )
                .with(serde_json::json!({"field": "readers"})));
            }
            continue;
        }
        match s.store.user(r).await? {
            Some(u) if u.role.at_least(Role::Pathologist) && !u.disabled => {}
            Some(u) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_value",
                    format!(
                        "readers: {r} is a {}{}; readers must be enabled pathologists or \
                         administrators",
                        u.role,
                        if u.disabled { " (disabled)" } else { "" }
                    ),
                )
                .with(serde_json::json!({"field": "readers"})))
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_value",
                    format!("readers: there is no account named {r:?}"),
                )
                .with(serde_json::json!({"field": "readers"})))
            }
        }
    }
    Ok(())
}

/// The studies this caller may see, newest first.
#[utoipa::path(get, path = "/api/studies", tag = "studies",
    responses((status = 200, body = [Study])))]
pub async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Vec<Study>>, ApiError> {
    let only = (caller.role == Role::Pathologist).then_some(caller.name.as_str());
    let studies = s.store.list_studies(only).await?;
    Ok(Json(
        studies
            .into_iter()
            .map(|st| visible_study(&caller, st))
            .collect(),
    ))
}

/// Create a study (administrators).
#[utoipa::path(post, path = "/api/studies", tag = "studies", request_body = NewStudy,
    responses((status = 201, body = Study), (status = 422, body = crate::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<NewStudy>,
) -> Result<Response, ApiError> {
    check_readers(&s, &caller, &body.readers).await?;
    let study = s.store.create_study(&body, &caller.name).await?;
    tracing::info!(by = %caller.name, study = study.id, "study created");
    Ok((StatusCode::CREATED, Json(study)).into_response())
}

/// One study with each reader's progress.
#[utoipa::path(get, path = "/api/studies/{id}", tag = "studies",
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, body = Study), (status = 404, body = crate::ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Study>, ApiError> {
    let study = load_study(&s, &caller, id).await?;
    Ok(Json(visible_study(&caller, study)))
}

/// Change a study's name, description, reason rule or readers (administrators).
#[utoipa::path(patch, path = "/api/studies/{id}", tag = "studies", request_body = StudyPatch,
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, body = Study), (status = 404, body = crate::ErrorBody)))]
pub async fn patch(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<StudyPatch>,
) -> Result<Json<Study>, ApiError> {
    if let Some(r) = &body.readers {
        check_readers(&s, &caller, r).await?;
    }
    Ok(Json(s.store.update_study(id, &body).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct AddImagesBody {
    groups: Vec<String>,
    image_ids: Vec<i64>,
}

/// Add images to a study, by sample group and/or id (administrators).
#[utoipa::path(post, path = "/api/studies/{id}/images", tag = "studies", request_body = AddImagesBody,
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, body = Study), (status = 422, body = crate::ErrorBody)))]
pub async fn add_images(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<AddImagesBody>,
) -> Result<Json<Study>, ApiError> {
    Ok(Json(
        s.store
            .add_study_images(id, &body.groups, &body.image_ids)
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ReadView {
    blind: Option<BTreeMap<String, f64>>,
    revised: Option<BTreeMap<String, f64>>,
    blind_seconds: Option<f64>,
    revised_seconds: Option<f64>,
}

impl From<&ReaderRead> for ReadView {
    fn from(r: &ReaderRead) -> Self {
        ReadView {
            blind: r.blind.clone(),
            revised: r.revised.clone(),
            blind_seconds: r.blind_seconds,
            revised_seconds: r.revised_seconds,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StudyImage {
    image_id: i64,
    filename: String,
    serial: Option<String>,
    group: Option<String>,
    status: histoscore_store::ImageStatus,
    /// `not_started`, `blind` (opened, blind score not in), `revealed`; null for non-readers.
    my_state: Option<&'static str>,
    /// The AI draft; null while hidden from this reader.
    ai: Option<Scores>,
    /// Readers' work: everyone's for administrators and non-readers, else only the caller's.
    reads: BTreeMap<String, ReadView>,
    /// The image's current (adjudicated) score; null while hidden from this reader.
    #[serde(rename = "final")]
    final_scores: Option<BTreeMap<String, f64>>,
    version: i64,
}

fn my_state(study: &Study, read: Option<&ReaderRead>) -> &'static str {
    match read {
        Some(r) if r.submitted() => "revealed",
        Some(_) if study.blinded => "blind",
        Some(_) => "not_started",
        None => "not_started",
    }
}

fn study_image(caller: &Caller, study: &Study, row: &StudyImageRow) -> StudyImage {
    let full = full_view(caller, study);
    let mine = row.reads.get(&caller.name);
    let is_reader = study.has_reader(&caller.name);
    let hidden = !full && study.blinded && !mine.is_some_and(|r| r.submitted());
    let reads = row
        .reads
        .iter()
        .filter(|(r, _)| full || **r == caller.name)
        .map(|(r, read)| (r.clone(), ReadView::from(read)))
        .collect();
    StudyImage {
        image_id: row.record.id,
        filename: row.record.filename.clone(),
        serial: row.record.serial.clone(),
        group: row.record.group_name.clone(),
        status: row.record.status,
        my_state: is_reader.then(|| my_state(study, mine)),
        ai: if hidden {
            None
        } else {
            row.record.draft.as_ref().map(|d| d.rounded.clone())
        },
        reads,
        final_scores: if full && !row.record.scores.is_empty() {
            Some(row.record.scores.clone())
        } else {
            None
        },
        version: row.record.version,
    }
}

/// The study's images with what this caller may see of each.
#[utoipa::path(get, path = "/api/studies/{id}/images", tag = "studies",
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, body = [StudyImage])))]
pub async fn images(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<StudyImage>>, ApiError> {
    let study = load_study(&s, &caller, id).await?;
    let rows = s.store.study_rows(&study).await?;
    Ok(Json(
        rows.iter()
            .map(|r| study_image(&caller, &study, r))
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ReadImage {
    id: i64,
    filename: String,
    serial: Option<String>,
    group: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    status: histoscore_store::ImageStatus,
}

#[derive(Serialize, ToSchema)]
pub struct Read {
    study_id: i64,
    image: ReadImage,
    blinded: bool,
    require_reason: bool,
    /// `blind` until the blind score is submitted (blinded studies), then `revealed`.
    state: &'static str,
    blind: Option<BTreeMap<String, f64>>,
    revised: Option<BTreeMap<String, f64>>,
    /// The AI draft; null while `state` is `blind`.
    ai: Option<Scores>,
    model_id: Option<String>,
    blind_seconds: Option<f64>,
    revised_seconds: Option<f64>,
}

fn read_view(study: &Study, record: &ImageRecord, read: &ReaderRead) -> Read {
    let state = if study.blinded && !read.submitted() {
        "blind"
    } else {
        "revealed"
    };
    let show_ai = state == "revealed";
    Read {
        study_id: study.id,
        image: ReadImage {
            id: record.id,
            filename: record.filename.clone(),
            serial: record.serial.clone(),
            group: record.group_name.clone(),
            width: record.width,
            height: record.height,
            status: record.status,
        },
        blinded: study.blinded,
        require_reason: study.require_reason,
        state,
        blind: read.blind.clone(),
        revised: read.revised.clone(),
        ai: show_ai
            .then(|| record.draft.as_ref().map(|d| d.rounded.clone()))
            .flatten(),
        model_id: show_ai
            .then(|| record.draft.as_ref().map(|d| d.model_id.clone()))
            .flatten(),
        blind_seconds: read.blind_seconds,
        revised_seconds: read.revised_seconds,
    }
}

async fn reader_study(s: &AppState, caller: &Caller, id: i64) -> Result<Study, ApiError> {
    let study = s.store.study(id).await?;
    if !study.has_reader(&caller.name) {
        return Err(ApiError::forbidden(format!(
            "{} is not a reader of study {id}; ask an administrator to add you",
            caller.name
        )));
    }
    Ok(study)
}

/// Open an image to read it (starts the reader's clock on first opening).
#[utoipa::path(get, path = "/api/studies/{id}/images/{image_id}/read", tag = "studies",
    params(("id" = i64, Path, description = "Study id"), ("image_id" = i64, Path, description = "Image id")),
    responses((status = 200, body = Read), (status = 403, body = crate::ErrorBody)))]
pub async fn open_read(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, image_id)): Path<(i64, i64)>,
) -> Result<Json<Read>, ApiError> {
    let study = reader_study(&s, &caller, id).await?;
    let read = s.store.open_read(&study, image_id, &caller.name).await?;
    let record = s.store.get_image(image_id).await?;
    Ok(Json(read_view(&study, &record, &read)))
}

#[derive(Deserialize, ToSchema)]
pub struct ReadBody {
    scores: Scores,
    reason: Option<String>,
}

/// Submit a score: the first (blind, in blinded studies) score, which reveals the AI draft,
/// or a revision.
#[utoipa::path(post, path = "/api/studies/{id}/images/{image_id}/read", tag = "studies",
    request_body = ReadBody,
    params(("id" = i64, Path, description = "Study id"), ("image_id" = i64, Path, description = "Image id")),
    responses((status = 200, body = Read), (status = 403, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)))]
pub async fn submit_read(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, image_id)): Path<(i64, i64)>,
    Json(body): Json<ReadBody>,
) -> Result<Json<Read>, ApiError> {
    let study = reader_study(&s, &caller, id).await?;
    let read = s
        .store
        .submit_read(
            &study,
            image_id,
            &caller.name,
            &body.scores,
            body.reason.as_deref(),
            &s.scorer.schema,
        )
        .await?;
    let record = s.store.get_image(image_id).await?;
    Ok(Json(read_view(&study, &record, &read)))
}

#[derive(Deserialize, ToSchema)]
pub struct FinalBody {
    scores: Scores,
    reason: Option<String>,
}

/// Set the adjudicated final score of a study image (administrators). It becomes the
/// image's score everywhere and is audited as `adjudicate`.
#[utoipa::path(put, path = "/api/studies/{id}/images/{image_id}/final", tag = "studies",
    request_body = FinalBody,
    params(("id" = i64, Path, description = "Study id"), ("image_id" = i64, Path, description = "Image id")),
    responses((status = 200, body = StudyImage), (status = 409, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)))]
pub async fn set_final(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, image_id)): Path<(i64, i64)>,
    headers: axum::http::HeaderMap,
    Json(body): Json<FinalBody>,
) -> Result<Json<StudyImage>, ApiError> {
    let study = s.store.study(id).await?;
    if !s.store.study_has_image(id, image_id).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("image {image_id} is not in study {id}"),
        ));
    }
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if study.require_reason && reason.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "reason: this study asks for a reason with every adjudication",
        )
        .with(serde_json::json!({"field": "reason"})));
    }
    let current = s.store.get_image(image_id).await?;
    // If-Match is optional here: without it the adjudication applies to the current version.
    let expected_version = match headers.get(header::IF_MATCH) {
        Some(v) => crate::images::parse_if_match(v)?,
        None => current.version,
    };
    let update = ScoreUpdate {
        expected_version,
        changes: body.scores,
        reviewed: Some(true),
        reason: reason.map(String::from),
        actor: caller.name.clone(),
        study_id: Some(id),
    };
    s.store
        .update_scores(image_id, &update, &s.scorer.schema)
        .await?;
    s.events.poke();
    let row = s
        .store
        .study_rows(&study)
        .await?
        .into_iter()
        .find(|r| r.record.id == image_id)
        .ok_or_else(|| ApiError::not_found(image_id))?;
    Ok(Json(study_image(&caller, &study, &row)))
}

// --- agreement ---------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct PairResult {
    a: String,
    b: String,
    #[serde(flatten)]
    #[schema(inline)]
    stats: PairAgreement,
}

#[derive(Serialize, ToSchema)]
pub struct ReadersIcc {
    n: usize,
    icc2_1: Interval,
    icc3_1: Interval,
}

#[derive(Serialize, ToSchema)]
pub struct Shift {
    reader: String,
    /// Images with a blind score, a revised score and an AI draft.
    n: usize,
    /// Revised differs from blind.
    changed: usize,
    /// Revised is closer to the AI than blind was.
    toward_ai: usize,
    away_from_ai: usize,
    mean_abs_to_ai_blind: Stat,
    mean_abs_to_ai_revised: Stat,
}

#[derive(Serialize, ToSchema)]
pub struct MetricAgreement {
    metric: String,
    max: f64,
    step: f64,
    grid: Vec<f64>,
    raters: Vec<String>,
    pairs: Vec<PairResult>,
    icc_readers: ReadersIcc,
    shift: Vec<Shift>,
}

#[derive(Serialize, ToSchema)]
pub struct Agreement {
    study_id: i64,
    metrics: Vec<MetricAgreement>,
}

/// The AI rater's name in agreement tables.
pub const AI_RATER: &str = "ai";

fn rater_value(row: &StudyImageRow, rater: &str, metric: &str) -> Option<f64> {
    if rater == AI_RATER {
        row.record
            .draft
            .as_ref()
            .and_then(|d| d.rounded.get(metric))
            .copied()
    } else {
        row.reads
            .get(rater)
            .and_then(|r| r.revised.as_ref())
            .and_then(|m| m.get(metric))
            .copied()
    }
}

fn interval(t: &agreement::IccRow) -> Interval {
    Interval::Value {
        value: t.icc,
        ci95: t.ci95,
    }
}

fn compute_agreement(study: &Study, schema: &Schema, rows: &[StudyImageRow]) -> Agreement {
    let mut raters = vec![AI_RATER.to_string()];
    raters.extend(study.readers.iter().cloned());
    let mut metrics = Vec::new();
    for m in &schema.metrics {
        let mut pairs = Vec::new();
        for i in 0..raters.len() {
            for j in i + 1..raters.len() {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for row in rows {
                    if let (Some(x), Some(y)) = (
                        rater_value(row, &raters[i], &m.name),
                        rater_value(row, &raters[j], &m.name),
                    ) {
                        a.push(x);
                        b.push(y);
                    }
                }
                pairs.push(PairResult {
                    a: raters[i].clone(),
                    b: raters[j].clone(),
                    stats: agreement::pair_agreement(&a, &b, m.max, schema.step),
                });
            }
        }
        // All human readers together, on the images every one of them scored.
        let complete: Vec<&StudyImageRow> = rows
            .iter()
            .filter(|row| {
                study
                    .readers
                    .iter()
                    .all(|r| rater_value(row, r, &m.name).is_some())
            })
            .collect();
        let icc_readers = if study.readers.len() < 2 {
            let why = "the study needs at least two readers for reader-to-reader ICC";
            ReadersIcc {
                n: complete.len(),
                icc2_1: Interval::not_defined(why),
                icc3_1: Interval::not_defined(why),
            }
        } else {
            let ratings: Vec<Vec<f64>> = study
                .readers
                .iter()
                .map(|r| {
                    complete
                        .iter()
                        .filter_map(|row| rater_value(row, r, &m.name))
                        .collect()
                })
                .collect();
            match agreement::icc(&ratings) {
                Ok(t) => ReadersIcc {
                    n: complete.len(),
                    icc2_1: interval(&t.icc2),
                    icc3_1: interval(&t.icc3),
                },
                Err(why) => ReadersIcc {
                    n: complete.len(),
                    icc2_1: Interval::not_defined(why.clone()),
                    icc3_1: Interval::not_defined(why),
                },
            }
        };
        let shift = if study.blinded {
            study
                .readers
                .iter()
                .map(|r| shift_of(r, &m.name, rows))
                .collect()
        } else {
            Vec::new()
        };
        metrics.push(MetricAgreement {
            metric: m.name.clone(),
            max: m.max,
            step: schema.step,
            grid: agreement::grid(m.max, schema.step),
            raters: raters.clone(),
            pairs,
            icc_readers,
            shift,
        });
    }
    Agreement {
        study_id: study.id,
        metrics,
    }
}

fn shift_of(reader: &str, metric: &str, rows: &[StudyImageRow]) -> Shift {
    let mut n = 0;
    let (mut changed, mut toward, mut away) = (0, 0, 0);
    let (mut sum_blind, mut sum_revised) = (0.0, 0.0);
    for row in rows {
        let Some(read) = row.reads.get(reader) else {
            continue;
        };
        let blind = read.blind.as_ref().and_then(|m| m.get(metric)).copied();
        let revised = read.revised.as_ref().and_then(|m| m.get(metric)).copied();
        let ai = rater_value(row, AI_RATER, metric);
        let (Some(blind), Some(revised), Some(ai)) = (blind, revised, ai) else {
            continue;
        };
        n += 1;
        let (db, dr) = ((blind - ai).abs(), (revised - ai).abs());
        sum_blind += db;
        sum_revised += dr;
        if revised != blind {
            changed += 1;
        }
        if dr < db {
            toward += 1;
        } else if dr > db {
            away += 1;
        }
    }
    let mean = |sum: f64| {
        if n == 0 {
            Stat::NotDefined("no image has both a blind and a revised score yet".into())
        } else {
            Stat::Value(sum / n as f64)
        }
    };
    Shift {
        reader: reader.to_string(),
        n,
        changed,
        toward_ai: toward,
        away_from_ai: away,
        mean_abs_to_ai_blind: mean(sum_blind),
        mean_abs_to_ai_revised: mean(sum_revised),
    }
}

async fn study_agreement(s: &AppState, caller: &Caller, id: i64) -> Result<Agreement, ApiError> {
    let study = load_study(s, caller, id).await?;
    if !full_view(caller, &study) {
        return Err(ApiError::forbidden(
            "readers see the agreement statistics of a study they read in only through an \
             administrator: they include the other readers' scores",
        ));
    }
    let rows = s.store.study_rows(&study).await?;
    Ok(compute_agreement(&study, &s.scorer.schema, &rows))
}

/// Agreement statistics per metric: AI vs each reader and reader vs reader.
#[utoipa::path(get, path = "/api/studies/{id}/agreement", tag = "studies",
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, body = Agreement)))]
pub async fn agreement(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Agreement>, ApiError> {
    Ok(Json(study_agreement(&s, &caller, id).await?))
}

fn stat_cell(s: &Stat, notes: &mut Vec<String>, what: &str) -> String {
    match s {
        Stat::Value(v) => v.to_string(),
        Stat::NotDefined(why) => {
            notes.push(format!("{what}: {why}"));
            String::new()
        }
    }
}

fn interval_cells(i: &Interval, notes: &mut Vec<String>, what: &str) -> [String; 3] {
    match i {
        Interval::Value { value, ci95 } => {
            [value.to_string(), ci95[0].to_string(), ci95[1].to_string()]
        }
        Interval::NotDefined { not_defined: why } => {
            notes.push(format!("{what}: {why}"));
            [String::new(), String::new(), String::new()]
        }
    }
}

fn csv_response(filename: &str, rows: Vec<Vec<String>>) -> Result<Response, ApiError> {
    let mut w = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    for r in rows {
        w.write_record(&r).map_err(ApiError::internal)?;
    }
    let bytes = w.into_inner().map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// The agreement statistics as CSV: one row per metric and rater pair (empty cells are
/// statistics that are not defined; `notes` says why).
#[utoipa::path(get, path = "/api/studies/{id}/agreement.csv", tag = "studies",
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, description = "CSV", content_type = "text/csv")))]
pub async fn agreement_csv(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let a = study_agreement(&s, &caller, id).await?;
    let mut rows = vec![[
        "metric",
        "a",
        "b",
        "n",
        "mae",
        "qwk",
        "icc2_1",
        "icc2_1_ci_low",
        "icc2_1_ci_high",
        "icc3_1",
        "icc3_1_ci_low",
        "icc3_1_ci_high",
        "ba_mean_diff",
        "ba_sd_diff",
        "ba_loa_low",
        "ba_loa_high",
        "notes",
    ]
    .map(String::from)
    .to_vec()];
    for m in &a.metrics {
        for p in &m.pairs {
            let mut notes = Vec::new();
            let st = &p.stats;
            let mut row = vec![
                csv_text(&m.metric),
                csv_text(&p.a),
                csv_text(&p.b),
                st.n.to_string(),
                stat_cell(&st.mae, &mut notes, "mae"),
                stat_cell(&st.qwk, &mut notes, "qwk"),
            ];
            row.extend(interval_cells(&st.icc2_1, &mut notes, "icc2_1"));
            row.extend(interval_cells(&st.icc3_1, &mut notes, "icc3_1"));
            let ba = &st.bland_altman;
            row.push(stat_cell(&ba.mean_diff, &mut notes, "ba_mean_diff"));
            row.push(stat_cell(&ba.sd_diff, &mut notes, "ba_sd_diff"));
            row.push(stat_cell(&ba.loa_low, &mut notes, "ba_loa_low"));
            row.push(stat_cell(&ba.loa_high, &mut notes, "ba_loa_high"));
            notes.dedup();
            row.push(csv_text(&notes.join("; ")));
            rows.push(row);
        }
    }
    csv_response(&format!("study-{id}-agreement.csv"), rows)
}

/// The study as CSV: one row per image with the AI draft, a column block per reader (blind,
/// revised, seconds) and the final score.
#[utoipa::path(get, path = "/api/studies/{id}/export.csv", tag = "studies",
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, description = "CSV", content_type = "text/csv")))]
pub async fn export_csv(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let study = load_study(&s, &caller, id).await?;
    if !full_view(&caller, &study) {
        return Err(ApiError::forbidden(
            "the study export holds every reader's scores; ask an administrator for it",
        ));
    }
    let schema = &s.scorer.schema;
    let rows = s.store.study_rows(&study).await?;
    let mut header = ["image_id", "filename", "serial", "group", "model_id"]
        .map(String::from)
        .to_vec();
    for m in &schema.metrics {
        header.push(format!("ai.{}", m.name));
    }
    for r in &study.readers {
        for m in &schema.metrics {
            header.push(format!("{r}.blind.{}", m.name));
        }
        for m in &schema.metrics {
            header.push(format!("{r}.{}", m.name));
        }
        header.push(format!("{r}.blind_seconds"));
        header.push(format!("{r}.revised_seconds"));
    }
    for m in &schema.metrics {
        header.push(format!("final.{}", m.name));
    }
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut out = vec![header];
    for row in &rows {
        let rec = &row.record;
        let mut line = vec![
            rec.id.to_string(),
            csv_text(&rec.filename),
            csv_text(rec.serial.as_deref().unwrap_or("")),
            csv_text(rec.group_name.as_deref().unwrap_or("")),
            csv_text(rec.draft.as_ref().map_or("", |d| d.model_id.as_str())),
        ];
        for m in &schema.metrics {
            line.push(num(rater_value(row, AI_RATER, &m.name)));
        }
        for r in &study.readers {
            let read = row.reads.get(r);
            for m in &schema.metrics {
                line.push(num(read
                    .and_then(|x| x.blind.as_ref())
                    .and_then(|x| x.get(&m.name))
                    .copied()));
            }
            for m in &schema.metrics {
                line.push(num(read
                    .and_then(|x| x.revised.as_ref())
                    .and_then(|x| x.get(&m.name))
                    .copied()));
            }
            line.push(num(read.and_then(|x| x.blind_seconds)));
            line.push(num(read.and_then(|x| x.revised_seconds)));
        }
        for m in &schema.metrics {
            line.push(num(rec.scores.get(&m.name).copied()));
        }
        out.push(line);
    }
    csv_response(&format!("study-{id}-export.csv"), out)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    study_id: Option<i64>,
    image_id: Option<i64>,
}

/// The audit log as CSV (everything, or one study's or one image's entries), oldest first.
#[utoipa::path(get, path = "/api/audit.csv", tag = "export", params(AuditParams),
    responses((status = 200, description = "CSV", content_type = "text/csv")))]
pub async fn audit_csv(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    if caller.role != Role::Admin {
        // A reader must not learn other readers' scores (or a hidden AI draft) from the log.
        let view = crate::visibility::View::of(&s, &caller).await?;
        if view.is_reader() || !view.hidden.is_empty() {
            return Err(ApiError::forbidden(
                "readers of a study cannot export the audit log (it holds the other readers' \
                 scores); ask an administrator",
            ));
        }
    }
    let store = s.store.clone();
    let head = [
        "id",
        "at",
        "actor",
        "image_id",
        "study_id",
        "action",
        "field",
        "old_value",
        "new_value",
        "reason",
    ]
    .map(String::from)
    .to_vec();
    let stream =
        futures_util::stream::unfold((Some(head), 0i64, false), move |(head, after, done)| {
            let store = store.clone();
            async move {
                if let Some(h) = head {
                    let mut w = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
                    let bytes = w
                        .write_record(&h)
                        .map_err(std::io::Error::other)
                        .and_then(|_| {
                            w.into_inner()
                                .map_err(|e| std::io::Error::other(e.to_string()))
                        });
                    return Some((bytes, (None, after, false)));
                }
                if done {
                    return None;
                }
                match store.audit_page(p.study_id, p.image_id, after, 1000).await {
                    Ok(page) if page.is_empty() => None,
                    Ok(page) => {
                        let last = page.last().map_or(after, |e| e.id);
                        let mut w = csv::Writer::from_writer(Vec::new());
                        for e in &page {
                            let rec = [
                                e.id.to_string(),
                                e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                                csv_text(&e.actor),
                                e.image_id.map(|x| x.to_string()).unwrap_or_default(),
                                e.study_id.map(|x| x.to_string()).unwrap_or_default(),
                                e.action.clone(),
                                csv_text(e.field.as_deref().unwrap_or("")),
                                csv_text(e.old_value.as_deref().unwrap_or("")),
                                csv_text(e.new_value.as_deref().unwrap_or("")),
                                csv_text(e.reason.as_deref().unwrap_or("")),
                            ];
                            if let Err(err) = w.write_record(&rec) {
                                return Some((Err(std::io::Error::other(err)), (None, last, true)));
                            }
                        }
                        let bytes = w
                            .into_inner()
                            .map_err(|e| std::io::Error::other(e.to_string()));
                        Some((bytes, (None, last, false)))
                    }
                    Err(e) => {
                        tracing::error!("audit export failed part-way: {e}");
                        Some((
                            Err(std::io::Error::other(e.to_string())),
                            (None, after, true),
                        ))
                    }
                }
            }
        });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"histoscore-audit.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
