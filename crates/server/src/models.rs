//! The model registry over HTTP, importing model files, and the engines that score with a
//! chosen model: the one this process started with, and others loaded from the registry on
//! demand (the active one after an activation, or the one a re-score job names).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use histoscore_domain::Schema;
use histoscore_engine::{InferenceQueue, Model, ModelRef};
use histoscore_store::{ModelEntry, NewModel, Store};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::blobs::BlobStore;
use crate::{ApiError, AppState};

/// Starts an inference engine for the weights in a file (checked against the schema).
pub type ModelLoader =
    Arc<dyn Fn(&Path) -> Result<(ModelRef, InferenceQueue), String> + Send + Sync>;

/// An engine ready to score with one model.
#[derive(Clone)]
pub struct Loaded {
    pub model: ModelRef,
    pub queue: InferenceQueue,
}

/// Engines of registered models this process has loaded (the most recent few).
#[derive(Default)]
pub struct Engines {
    pub loader: Option<ModelLoader>,
    cache: Mutex<Vec<Loaded>>,
}

/// How many engines besides the startup one a process keeps loaded.
const CACHED_ENGINES: usize = 2;

impl Engines {
    pub fn new(loader: Option<ModelLoader>) -> Self {
        Self {
            loader,
            cache: Mutex::new(Vec::new()),
        }
    }

    fn cached(&self, id: &str) -> Option<Loaded> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.iter().find(|l| l.model.id == id).cloned()
    }

    fn insert(&self, loaded: Loaded) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|l| l.model.id != loaded.model.id);
        cache.push(loaded);
        while cache.len() > CACHED_ENGINES {
            cache.remove(0);
        }
    }
}

impl AppState {
    /// The engine to score with: the model `wanted` names, else the active model, else the
    /// model this process started with.
    pub async fn engine_for(&self, wanted: Option<&str>) -> Result<Loaded, String> {
        let id = match wanted {
            Some(id) => Some(id.to_string()),
            None => self
                .store
                .active_model_id()
                .await
                .map_err(|e| e.to_string())?,
        };
        let startup = Loaded {
            model: self.scorer.model.clone(),
            queue: self.queue.clone(),
        };
        let Some(id) = id.filter(|id| *id != self.scorer.model.id) else {
            return Ok(startup);
        };
        if let Some(l) = self.engines.cached(&id) {
            return Ok(l);
        }
        let Some(loader) = self.engines.loader.clone() else {
            return Err(format!(
                "model {id} is active but this process cannot load other models; restart it"
            ));
        };
        let entry = self.store.model(&id).await.map_err(|e| e.to_string())?;
        let copy = self
            .blobs
            .local_copy(&entry.storage_key)
            .await
            .map_err(|e| format!("the weights of model {id} are missing from the store ({e})"))?;
        let loaded = tokio::task::spawn_blocking(move || loader(&copy.path))
            .await
            .map_err(|e| e.to_string())??;
        if loaded.0.id != id {
            return Err(format!(
                "the stored weights of model {id} have id {}; the file store is damaged",
                loaded.0.id
            ));
        }
        tracing::info!(model = %id, "loaded model");
        let l = Loaded {
            model: loaded.0,
            queue: loaded.1,
        };
        self.engines.insert(l.clone());
        Ok(l)
    }

    /// The active model, as `/api/config` reports it.
    pub async fn active_model(&self) -> ModelRef {
        match self.store.active_model_id().await {
            Ok(Some(id)) if id != self.scorer.model.id => ModelRef { id, demo: false },
            _ => self.scorer.model.clone(),
        }
    }
}

pub fn models_key(sha256: &str) -> String {
    format!("models/{}/{sha256}", &sha256[..2])
}

/// Registers the model file at `path`: checks it loads and fits the schema, stores a copy, and
/// records it. Returns the entry and whether it is new.
pub async fn import_file(
    store: &Store,
    blobs: &dyn BlobStore,
    path: &Path,
    name: Option<&str>,
    schema: &Schema,
    actor: &str,
) -> Result<(ModelEntry, bool), ApiError> {
    let p = path.to_path_buf();
    let (model, sha, format) = tokio::task::spawn_blocking(move || {
        let model = Model::load(&p).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&p).map_err(|e| e.to_string())?;
        let format = if bytes.starts_with(b"PK") {
            "pth"
        } else {
            "safetensors"
        };
        Ok::<_, String>((model, hex::encode(Sha256::digest(&bytes)), format))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_model", e))?;
    if model.head() != schema.metrics.len() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_model",
            format!(
                "the model has {} outputs but this server scores {} metrics ({}); it was \
                 trained for another schema",
                model.head(),
                schema.metrics.len(),
                schema.metric_names().join(", ")
            ),
        ));
    }
    if let Ok(existing) = store.model(model.id()).await {
        return Ok((existing, false));
    }
    let key = models_key(&sha);
    blobs
        .put_file(&key, path)
        .await
        .map_err(ApiError::internal)?;
    let default_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.id().to_string());
    let new = NewModel {
        id: model.id().to_string(),
        name: name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .unwrap_or(default_name),
        sha256: sha,
        format: format.into(),
        storage_key: key,
        schema: schema.clone(),
        parent_id: None,
        training: None,
        metrics: None,
        source: "import".into(),
    };
    Ok(store.register_model(&new, actor).await?)
}

/// Every registered model, newest first.
#[utoipa::path(get, path = "/api/models", tag = "models",
    responses((status = 200, body = [ModelEntry])))]
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<ModelEntry>>, ApiError> {
    Ok(Json(s.store.list_models().await?))
}

fn not_found(e: histoscore_store::StoreError) -> ApiError {
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
    let mut multipart = Multipart::from_request(req, &s)
        .await
        .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?;
    let tmp = s.scratch.temp_file(&format!("model-{}", crate::unique()));
    let mut name: Option<String> = None;
    let mut got_file = false;
    let result =
        async {
            while let Some(mut field) = multipart
                .next_field()
                .await
                .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?
            {
                match field.name() {
                    Some("name") => {
                        name =
                            Some(field.text().await.map_err(|e| {
                                ApiError::bad_request("bad_multipart", e.body_text())
                            })?)
                    }
                    Some("file") => {
                        let mut f = tokio::fs::File::create(&tmp)
                            .await
                            .map_err(ApiError::internal)?;
                        while let Some(chunk) = field
                            .chunk()
                            .await
                            .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?
                        {
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
    body: axum::body::Bytes,
) -> Result<Json<ModelEntry>, ApiError> {
    let body: crate::images::ReasonBody = crate::error::optional_json(&body, r#"{"reason": "…"}"#)?;
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
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
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
