//! Scoring studies: readers, blinded reading, adjudication, agreement and study exports.
//! Who sees what: administrators, and anyone who is not one of the study's readers, see every
//! reader's work; a reader sees only their own, and in a blinded study no AI draft until
//! their blind score is in.

use std::collections::BTreeMap;

use crate::extract::{Json, Path};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use histoscore_domain::agreement::{self, Agreement, ImageRatings};
use histoscore_domain::Scores;
use histoscore_store::{
    ImageRecord, NewStudy, ReaderRead, Role, ScoreUpdate, Study, StudyImageRow, StudyPatch,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Whether the caller sees every reader's work in this study.
pub(crate) fn full_view(caller: &Caller, study: &Study) -> bool {
    caller.role == Role::Admin || !study.has_reader(&caller.name)
}

/// The study as this caller may see it (a reader sees only their own progress).
fn visible_study(caller: &Caller, mut study: Study) -> Study {
    if !full_view(caller, &study) {
        study.progress.retain(|r, _| *r == caller.name);
    }
    study
}

pub(crate) async fn load_study(s: &AppState, caller: &Caller, id: i64) -> Result<Study, ApiError> {
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
                return Err(ApiError::invalid(
                    "readers",
                    format!(
                        "readers: {r:?} has no account; in single-user mode the only reader \
                         is \"local\" (create accounts with `histoscore user add`)"
                    ),
                ));
            }
            continue;
        }
        match s.store.user(r).await? {
            Some(u) if u.role.at_least(Role::Pathologist) && !u.disabled => {}
            Some(u) => {
                return Err(ApiError::invalid(
                    "readers",
                    format!(
                        "readers: {r} is a {}{}; readers must be enabled pathologists or \
                         administrators",
                        u.role,
                        if u.disabled { " (disabled)" } else { "" }
                    ),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    "readers",
                    format!("readers: there is no account named {r:?}"),
                ))
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
    /// The study-local code (`3-007`): what a blinded reader sees instead of the file name.
    code: String,
    /// The file name; for a blinded reader whose read is open, `case <code>`.
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
    // A blinded reader sees the code until their read is adjudicated (the View's rule).
    let coded = !full && study.blinded && is_reader;
    StudyImage {
        image_id: row.record.id,
        code: row.code.clone(),
        filename: if coded {
            crate::visibility::coded_name(&row.code)
        } else {
            row.record.filename.clone()
        },
        serial: if coded {
            None
        } else {
            row.record.serial.clone()
        },
        group: if coded {
            None
        } else {
            row.record.group_name.clone()
        },
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
    let mut rows = s.store.study_rows(&study).await?;
    if study.has_reader(&caller.name) {
        // Each reader reads in their own random order, fixed by the study's seed.
        let ids: Vec<i64> = rows.iter().map(|r| r.record.id).collect();
        let order =
            histoscore_domain::reading::reading_order(study.order_seed as u64, &caller.name, &ids);
        let rank: std::collections::HashMap<i64, usize> = order
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        rows.sort_by_key(|r| rank.get(&r.record.id).copied());
    }
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

/// The image as a reader of `study` sees it, with the AI draft the study was made with (not a
/// later re-scoring's).
async fn study_record(
    s: &AppState,
    caller: &Caller,
    study: &Study,
    image_id: i64,
) -> Result<ImageRecord, ApiError> {
    let mut record = coded_record(s, caller, image_id).await?;
    record.draft = s.store.study_draft(study.id, image_id).await?;
    Ok(record)
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
    let record = study_record(&s, &caller, &study, image_id).await?;
    Ok(Json(read_view(&study, &record, &read)))
}

/// The image's record with its name and group replaced by the study-local code while the
/// caller's blinded read is open.
async fn coded_record(
    s: &AppState,
    caller: &Caller,
    image_id: i64,
) -> Result<ImageRecord, ApiError> {
    let mut record = s.store.get_image(image_id).await?;
    if let Some(code) = crate::visibility::View::of(s, caller).await?.code(image_id) {
        record.filename = code;
        record.serial = None;
        record.group_name = None;
    }
    Ok(record)
}

#[derive(Deserialize, ToSchema)]
pub struct ActiveBody {
    /// Milliseconds of active viewing since the last report (1 to 60 000).
    ms: i64,
}

/// Report active viewing of an image being read (the page visible and in use): time on
/// task counts this, not the time since the image was first opened. The web UI reports
/// every few seconds while the reader works.
#[utoipa::path(post, path = "/api/studies/{id}/images/{image_id}/active", tag = "studies",
    request_body = ActiveBody,
    params(("id" = i64, Path, description = "Study id"), ("image_id" = i64, Path, description = "Image id")),
    responses((status = 200, body = Read), (status = 403, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody)))]
pub async fn active(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, image_id)): Path<(i64, i64)>,
    Json(body): Json<ActiveBody>,
) -> Result<Json<Read>, ApiError> {
    let study = reader_study(&s, &caller, id).await?;
    let read = s
        .store
        .add_active_time(&study, image_id, &caller.name, body.ms)
        .await?;
    let record = study_record(&s, &caller, &study, image_id).await?;
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
    let record = study_record(&s, &caller, &study, image_id).await?;
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
        return Err(ApiError::invalid(
            "reason",
            "reason: this study asks for a reason with every adjudication",
        ));
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

/// What was scored on each image, for the agreement statistics.
fn ratings(rows: &[StudyImageRow]) -> Vec<ImageRatings> {
    rows.iter()
        .map(|row| ImageRatings {
            ai: row
                .record
                .draft
                .as_ref()
                .map(|d| d.rounded.clone().into_iter().collect()),
            blind: row
                .reads
                .iter()
                .filter_map(|(r, read)| {
                    Some((r.clone(), read.blind.clone()?.into_iter().collect()))
                })
                .collect(),
            revised: row
                .reads
                .iter()
                .filter_map(|(r, read)| {
                    Some((r.clone(), read.revised.clone()?.into_iter().collect()))
                })
                .collect(),
        })
        .collect()
}

pub(crate) async fn study_agreement(
    s: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Agreement, ApiError> {
    let study = load_study(s, caller, id).await?;
    if !full_view(caller, &study) {
        return Err(ApiError::forbidden(
            "readers see the agreement statistics of a study they read in only through an \
             administrator: they include the other readers' scores",
        ));
    }
    let rows = s.store.study_rows(&study).await?;
    Ok(agreement::study_agreement(
        study.id,
        &study.readers,
        study.blinded,
        &s.scorer.schema,
        &ratings(&rows),
    ))
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
