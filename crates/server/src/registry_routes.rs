//! The model registry over HTTP: list, import, activate, roll back, download the weights,
//! re-score with a chosen model.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use histoscore_app::registry::import_file;
use histoscore_engine::Model;
use histoscore_store::ModelEntry;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::extract::{Json, OptionalJson, Path as UrlPath};
use crate::{ApiError, AppState};

/// Every registered model, newest first.
#[utoipa::path(get, path = "/api/models", tag = "models",
    responses((status = 200, body = [ModelEntry])))]
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<ModelEntry>>, ApiError> {
    Ok(Json(s.store.list_models().await?))
}

pub(crate) fn not_found(e: histoscore_store::StoreError) -> ApiError {
    match e {
        histoscore_store::StoreError::Refused(d) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", d)
        }
        other => other.into(),
    }
}

/// One registered model.
#[utoipa::path(get, path = "/api/models/{id}", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = ModelEntry), (status = 404, body = crate::ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<ModelEntry>, ApiError> {
    Ok(Json(s.store.model(&id).await.map_err(not_found)?))
}

/// Register a model file (multipart `file`, optional `name`). Already registered → 200 with
/// the existing entry. Never activates it.
#[utoipa::path(post, path = "/api/models", tag = "models",
    request_body(content_type = "multipart/form-data", description = "`file` (.pth or .safetensors) and optional `name`"),
    responses((status = 201, body = ModelEntry), (status = 200, body = ModelEntry),
              (status = 422, body = crate::ErrorBody)))]
pub async fn import(
    State(s): State<AppState>,
    caller: Caller,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    crate::refuse_declared_oversize(req.headers(), s.limits.max_upload_bytes)?;
    let mut multipart = crate::extract::multipart(req, &s).await?;
    let tmp = s.scratch.temp_file(&format!("model-{}", crate::unique()));
    let mut name: Option<String> = None;
    let mut got_file = false;
    let result =
        async {
            while let Some(mut field) = multipart
                .next_field()
                .await
                .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?
            {
                match field.name() {
                    Some("name") => {
                        name = Some(field.text().await.map_err(|e| {
                            ApiError::bad_request("invalid_multipart", e.body_text())
                        })?)
                    }
                    Some("file") => {
                        let mut f = tokio::fs::File::create(&tmp)
                            .await
                            .map_err(ApiError::internal)?;
                        while let Some(chunk) = field.chunk().await.map_err(|e| {
                            ApiError::bad_request("invalid_multipart", e.body_text())
                        })? {
                            f.write_all(&chunk).await.map_err(ApiError::internal)?;
                        }
                        f.flush().await.map_err(ApiError::internal)?;
                        got_file = true;
                    }
                    _ => {}
                }
            }
            if !got_file {
                return Err(ApiError::bad_request(
                    "no_file",
                    "send the model in a multipart field named \"file\"",
                ));
            }
            import_file(
                &s.store,
                s.blobs.as_ref(),
                &tmp,
                name.as_deref(),
                &s.scorer.schema,
                &caller.name,
            )
            .await
            .map_err(ApiError::from)
        }
        .await;
    drop(tmp);
    let (entry, new) = result?;
    tracing::info!(by = %caller.name, model = %entry.id, new, "model imported");
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry)).into_response())
}

/// Make a registered model the one that scores new uploads (every process picks it up before
/// its next job).
#[utoipa::path(post, path = "/api/models/{id}/activate", tag = "models",
    params(("id" = String, Path, description = "Model id")), request_body(content = Option<crate::images::ReasonBody>),
    responses((status = 200, body = ModelEntry), (status = 404, body = crate::ErrorBody)))]
pub async fn activate(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    OptionalJson(body): OptionalJson<crate::images::ReasonBody>,
) -> Result<Json<ModelEntry>, ApiError> {
    s.store.model(&id).await.map_err(not_found)?;
    let entry = s
        .store
        .activate_model(&id, &caller.name, body.reason.as_deref())
        .await?;
    tracing::info!(by = %caller.name, model = %id, "model activated");
    Ok(Json(entry))
}

/// Activate the model that was active before the current one.
#[utoipa::path(post, path = "/api/models/rollback", tag = "models",
    responses((status = 200, body = ModelEntry), (status = 409, body = crate::ErrorBody)))]
pub async fn rollback(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<ModelEntry>, ApiError> {
    let entry = s.store.rollback_model(&caller.name).await?;
    tracing::info!(by = %caller.name, model = %entry.id, "model rolled back");
    Ok(Json(entry))
}

async fn load_model(s: &AppState, id: &str) -> Result<Model, ApiError> {
    let entry = s.store.model(id).await.map_err(not_found)?;
    let copy = s
        .blobs
        .local_copy(&entry.storage_key)
        .await
        .map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || Model::load(&copy.path))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

fn download(bytes: Vec<u8>, filename: String, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response()
}

/// The model's weights as `.safetensors` (PyTorch state_dict names, float32).
#[utoipa::path(get, path = "/api/models/{id}/model.safetensors", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, description = "safetensors", content_type = "application/octet-stream")))]
pub async fn safetensors(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let model = load_model(&s, &id).await?;
    let out = s
        .scratch
        .path(&format!("export-{}.safetensors", crate::unique()));
    let o = out.clone();
    let written = tokio::task::spawn_blocking(move || model.save_safetensors(&o))
        .await
        .map_err(ApiError::internal)?;
    let bytes = match written {
        Ok(()) => tokio::fs::read(&out).await.map_err(ApiError::internal),
        Err(e) => Err(ApiError::internal(e)),
    };
    let _ = tokio::fs::remove_file(&out).await;
    Ok(download(
        bytes?,
        format!("histoscore-{id}.safetensors"),
        "application/octet-stream",
    ))
}

/// The model as an ONNX graph.
#[utoipa::path(get, path = "/api/models/{id}/model.onnx", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, description = "ONNX", content_type = "application/octet-stream")))]
pub async fn onnx(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let model = load_model(&s, &id).await?;
    let bytes = tokio::task::spawn_blocking(move || model.onnx())
        .await
        .map_err(ApiError::internal)?;
    Ok(download(
        bytes,
        format!("histoscore-{id}.onnx"),
        "application/octet-stream",
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct RescoreBody {
    image_ids: Vec<i64>,
    model_id: String,
}

/// Queue new drafts for chosen images with a chosen registered model. Scores a person set are
/// kept.
#[utoipa::path(post, path = "/api/rescore", tag = "models", request_body = RescoreBody,
    responses((status = 202, description = "`{\"queued\": n}`"), (status = 404, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)))]
pub async fn rescore(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<RescoreBody>,
) -> Result<Response, ApiError> {
    s.store.model(&body.model_id).await.map_err(not_found)?;
    if body.image_ids.is_empty() || body.image_ids.len() > 10_000 {
        return Err(ApiError::invalid(
            "image_ids",
            "image_ids: choose between 1 and 10 000 images",
        ));
    }
    let mut queued = 0;
    let mut skipped = Vec::new();
    for id in &body.image_ids {
        match s
            .store
            .enqueue_rescore_with(*id, &caller.name, Some(&body.model_id))
            .await
        {
            Ok(_) => queued += 1,
            Err(e) => skipped.push(serde_json::json!({"id": id, "reason": e.to_string()})),
        }
    }
    s.events.poke();
    s.work.notify_waiters();
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"queued": queued, "skipped": skipped})),
    )
        .into_response())
}

/// Every draft of an image, oldest first (to compare models).
#[utoipa::path(get, path = "/api/images/{id}/drafts", tag = "images",
    params(("id" = i64, Path, description = "Image id")),
    responses((status = 200, body = [histoscore_store::Draft]), (status = 404, body = crate::ErrorBody)))]
pub async fn drafts(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<Vec<histoscore_store::Draft>>, ApiError> {
    s.store.get_image(id).await?;
    if crate::images::hidden_from(&s, &caller).await?.contains(&id) {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(s.store.drafts_for_image(id).await?))
}

/// The area one field covers when a model scores a slide.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct FieldBody {
    /// Width and height in µm, e.g. `[2040, 1388]`; `null` for the default assumption
    /// (2040 × 1388 µm: the original's 4080 × 2776 px images at 0.5 µm/px).
    #[schema(value_type = Option<Vec<f64>>)]
    pub field_um: Option<[f64; 2]>,
}

/// Set the physical field size a model scores slides with (admins). Slides scored afterwards
/// use it; existing drafts are unchanged (re-score them to apply it).
#[utoipa::path(put, path = "/api/models/{id}/field", tag = "models",
    params(("id" = String, Path, description = "Model id")), request_body = FieldBody,
    responses((status = 200, body = ModelEntry), (status = 404, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)))]
pub async fn set_field(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    crate::extract::Json(body): crate::extract::Json<FieldBody>,
) -> Result<Json<ModelEntry>, ApiError> {
    s.store.model(&id).await.map_err(not_found)?;
    let entry = s.store.set_model_field_um(&id, body.field_um).await?;
    tracing::info!(by = %caller.name, model = %id, field_um = ?body.field_um, "model field size set");
    Ok(Json(entry))
}
