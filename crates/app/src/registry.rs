//! The model registry's use cases: importing a model file, and the engines that score with a
//! chosen model (the one this process started with, and others loaded from the registry on
//! demand: the active one after an activation, or the one a re-score job names).

use std::path::Path;
use std::sync::{Arc, Mutex};

use histoscore_domain::Schema;
use histoscore_engine::{InferenceQueue, Model, ModelRef};
use histoscore_store::{ModelEntry, ModelSource, NewModel, Store, WeightFormat};
use sha2::{Digest, Sha256};

use crate::blobs::BlobStore;
use crate::{App, AppError, Result};

/// Starts an inference engine for the weights in a file (checked against the schema).
pub type ModelLoader = Arc<dyn Fn(&Path) -> Result<(ModelRef, InferenceQueue)> + Send + Sync>;

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

impl App {
    /// The engine to score with: the model `wanted` names, else the active model, else the
    /// model this process started with.
    pub async fn engine_for(&self, wanted: Option<&str>) -> Result<Loaded> {
        let id = match wanted {
            Some(id) => Some(id.to_string()),
            None => self.store.active_model_id().await?,
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
            return Err(AppError::Failed(format!(
                "model {id} is active but this process cannot load other models; restart it"
            )));
        };
        let entry = self.store.model(&id).await?;
        let copy = self
            .blobs
            .local_copy(&entry.storage_key)
            .await
            .map_err(|e| {
                AppError::Failed(format!(
                    "the weights of model {id} are missing from the store ({e})"
                ))
            })?;
        let loaded = tokio::task::spawn_blocking(move || loader(&copy.path))
            .await
            .map_err(AppError::failed)??;
        if loaded.0.id != id {
            return Err(AppError::Failed(format!(
                "the stored weights of model {id} have id {}; the file store is damaged",
                loaded.0.id
            )));
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
) -> Result<(ModelEntry, bool)> {
    let p = path.to_path_buf();
    let (model, sha, format) = tokio::task::spawn_blocking(move || {
        let model = Model::load(&p).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&p).map_err(|e| e.to_string())?;
        let format = if bytes.starts_with(b"PK") {
            WeightFormat::Pth
        } else {
            WeightFormat::Safetensors
        };
        Ok::<_, String>((model, hex::encode(Sha256::digest(&bytes)), format))
    })
    .await
    .map_err(AppError::failed)?
    .map_err(AppError::InvalidModel)?;
    if model.head() != schema.metrics.len() {
        return Err(AppError::InvalidModel(format!(
            "the model has {} outputs but this server scores {} metrics ({}); it was \
                 trained for another schema",
            model.head(),
            schema.metrics.len(),
            schema.metric_names().join(", ")
        )));
    }
    if let Ok(existing) = store.model(model.id()).await {
        return Ok((existing, false));
    }
    let key = models_key(&sha);
    blobs
        .put_file(&key, path)
        .await
        .map_err(|e| AppError::Failed(format!("could not store the model file: {e}")))?;
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
        format,
        storage_key: key,
        schema: schema.clone(),
        parent_id: None,
        training: None,
        metrics: None,
        source: ModelSource::Import,
        field_um: None,
    };
    Ok(store.register_model(&new, actor).await?)
}
