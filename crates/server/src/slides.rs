//! A whole-slide image's scored fields: as JSON (for the viewer's heatmap), as CSV and as
//! GeoJSON (QuPath: File → Import objects). Readers of a blinded study see none of them before
//! their own blind score is in, as with drafts.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use histoscore_domain::slide::{
    fields_csv_header, fields_csv_record, fields_geojson, summarise, FieldRow,
};
use histoscore_store::ImageRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::{Path, Query};
use crate::{ApiError, AppState};

#[derive(Deserialize, IntoParams)]
pub struct FieldsQuery {
    /// The model whose fields to give; default: the model of the slide's latest draft.
    model: Option<String>,
}

/// Per metric, in schema order.
#[derive(Serialize, ToSchema)]
pub struct Distribution {
    pub metric: String,
    /// The tissue-weighted mean, rounded to the schema's step (the draft).
    pub draft: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

/// A slide's fields and what they add up to.
#[derive(Serialize, ToSchema)]
pub struct SlideFields {
    pub image_id: i64,
    pub model_id: Option<String>,
    /// Level-0 size of the slide.
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub fields: Vec<FieldRow>,
    /// Empty until a field has been scored.
    pub distribution: Vec<Distribution>,
}

/// The record of a live slide the caller may see the fields of.
async fn visible_slide(s: &AppState, caller: &Caller, id: i64) -> Result<ImageRecord, ApiError> {
    let mut r = s.store.get_image(id).await?;
    // A blinded reader's downloads are named by the study-local code, not the file name.
    if let Some(code) = crate::visibility::View::of(s, caller).await?.code(id) {
        r.filename = code;
    }
    if r.is_deleted() {
        return Err(ApiError::not_found(id));
    }
    if !r.is_slide() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_a_slide",
            format!(
                "image {id} is a microscope image, not a whole-slide image: it has one score, no fields"
            ),
        ));
    }
    if crate::images::hidden_from(s, caller).await?.contains(&id) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "blinded_read",
            format!(
                "you read image {id} in a blinded study: its field scores are shown once your \
                 own blind score is in"
            ),
        ));
    }
    Ok(r)
}

async fn load(
    s: &AppState,
    caller: &Caller,
    id: i64,
    model: Option<String>,
) -> Result<(ImageRecord, Option<String>, Vec<FieldRow>), ApiError> {
    let r = visible_slide(s, caller, id).await?;
    let model = match model {
        Some(m) => Some(m),
        None => match r.draft.as_ref() {
            Some(d) => Some(d.model_id.clone()),
            None => s
                .store
                .active_model_id()
                .await?
                .or_else(|| Some(s.scorer.model.id.clone())),
        },
    };
    let fields = match &model {
        Some(m) => s.store.slide_fields(id, m).await?,
        None => Vec::new(),
    };
    Ok((r, model, fields))
}

/// `GET /api/images/{id}/fields`
#[utoipa::path(get, path = "/api/images/{id}/fields", tag = "slides",
    params(("id" = i64, Path, description = "Image id (a slide)"), FieldsQuery),
    responses((status = 200, body = SlideFields),
               (status = 403, description = "A blinded reader before their own score", body = crate::ErrorBody),
               (status = 404, description = "No such slide", body = crate::ErrorBody)))]
pub async fn fields(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<FieldsQuery>,
) -> Result<Json<SlideFields>, ApiError> {
    let (r, model_id, fields) = load(&s, &caller, id, q.model).await?;
    let schema = &s.scorer.schema;
    let pairs: Vec<(f64, &[f32])> = fields
        .iter()
        .filter(|f| !f.roi)
        .filter_map(|f| f.raw.as_deref().map(|raw| (f.tissue_share, raw)))
        .collect();
    let distribution = summarise(schema, &pairs)
        .map(|sum| {
            schema
                .metrics
                .iter()
                .enumerate()
                .map(|(i, m)| Distribution {
                    metric: m.name.clone(),
                    draft: sum.scores[&m.name],
                    p10: sum.p10[i],
                    p50: sum.p50[i],
                    p90: sum.p90[i],
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(SlideFields {
        image_id: id,
        model_id,
        width: r.width,
        height: r.height,
        fields,
        distribution,
    }))
}

fn stem(r: &ImageRecord) -> String {
    let name = r
        .filename
        .rsplit_once('.')
        .map_or(r.filename.as_str(), |(s, _)| s);
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A download: its type and the file name it is saved under.
fn attachment(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/images/{id}/fields.csv`
#[utoipa::path(get, path = "/api/images/{id}/fields.csv", tag = "slides",
    params(("id" = i64, Path, description = "Image id (a slide)"), FieldsQuery),
    responses((status = 200, description = "One row per field: position and size in level-0 pixels, tissue share, scores", content_type = "text/csv"),
               (status = 403, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)))]
pub async fn fields_csv(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<FieldsQuery>,
) -> Result<Response, ApiError> {
    let (r, _, fields) = load(&s, &caller, id, q.model).await?;
    let schema = &s.scorer.schema;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| ApiError::internal(e);
    w.write_record(fields_csv_header(schema)).map_err(io)?;
    for f in &fields {
        w.write_record(fields_csv_record(schema, f)).map_err(io)?;
    }
    let body = w.into_inner().map_err(ApiError::internal)?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        &format!("{}-fields.csv", stem(&r)),
        body,
    ))
}

/// `GET /api/images/{id}/fields.geojson`
#[utoipa::path(get, path = "/api/images/{id}/fields.geojson", tag = "slides",
    params(("id" = i64, Path, description = "Image id (a slide)"), FieldsQuery),
    responses((status = 200, description = "GeoJSON FeatureCollection of the fields (level-0 pixels, origin top left) with their scores as measurements, for QuPath's File → Import objects", content_type = "application/geo+json"),
               (status = 403, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)))]
pub async fn fields_geojson_route(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<FieldsQuery>,
) -> Result<Response, ApiError> {
    let (r, _, fields) = load(&s, &caller, id, q.model).await?;
    let g = fields_geojson(&s.scorer.schema, &fields);
    Ok(attachment(
        "application/geo+json",
        &format!("{}.geojson", stem(&r)),
        g.to_string().into_bytes(),
    ))
}

/// `POST /api/images/{id}/roi`
#[utoipa::path(post, path = "/api/images/{id}/roi", tag = "slides",
    params(("id" = i64, Path, description = "Image id (a slide)")),
    request_body = histoscore_app::slides::Region,
    responses((status = 201, body = FieldRow, description = "The region scored as a field with the model that drafted the slide, kept as a region of interest of the caller's"),
               (status = 403, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody),
               (status = 422, body = crate::ErrorBody, description = "The region is too small, outside the slide or too large to read")))]
pub async fn roi(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    crate::extract::Json(region): crate::extract::Json<histoscore_app::slides::Region>,
) -> Result<Response, ApiError> {
    let r = visible_slide(&s, &caller, id).await?;
    let field = histoscore_app::slides::score_region(&s.app, &r, region, &caller.name).await?;
    Ok((StatusCode::CREATED, Json(field)).into_response())
}
