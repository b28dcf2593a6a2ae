//! Histoscore's application layer: the use cases the command line and the HTTP server share.
//!
//! - [`jobs`]: the background job system (one [`jobs::Job`] per kind: scoring, training),
//!   and the worker loop that takes them from the database;
//! - [`training`]: training a new model from reviewed scores;
//! - [`registry`]: importing model files, and the engines of registered models;
//! - [`export`]: the paged, streamed CSV/JSON downloads;
//! - [`blobs`]: where files are kept; [`passwords`]: hashes and password rules;
//! - [`import`]: the original system's scores, imported as records.
//!
//! Nothing here knows HTTP: errors are [`AppError`], which the server maps to statuses.

pub mod archive;
pub mod blobs;
mod error;
pub mod export;
pub mod handoff;
pub mod import;
pub mod intake;
pub mod jobs;
pub mod originals;
pub mod passwords;
pub mod registry;
pub mod retraining;
pub mod s3;
pub mod slides;
pub mod training;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use histoscore_engine::{EngineKind, InferenceQueue, Scorer};
use histoscore_store::Store;
use tokio::sync::{Notify, Semaphore};

pub use error::{AppError, Result};
pub use jobs::{JobObserver, Quiet};

pub use histoscore_store::LOCAL_USER;

/// Everything the use cases share: the database, the files, the engines. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub blobs: Arc<dyn blobs::BlobStore>,
    /// The scoring pipeline and the engine this process started with.
    pub scorer: Arc<Scorer>,
    pub queue: InferenceQueue,
    /// Engines of registered models other than the startup one, loaded on demand.
    pub engines: Arc<registry::Engines>,
    /// The data folder (`cache/`, `tmp/`).
    pub data_dir: PathBuf,
    /// Score each image also flipped and rotated to measure the draft's uncertainty (four
    /// forward passes instead of one).
    pub uncertainty: bool,
    /// Engine and threads for computing features when training.
    pub train_engine: (EngineKind, usize),
    /// A job whose worker has not sent a heartbeat for this long goes back to the queue.
    pub job_lease: Duration,
    /// Full-resolution decodes at once (uploads, scoring, tiles).
    pub decode_slots: Arc<Semaphore>,
    /// Wakes this process's idle workers when a job is queued.
    pub work: Arc<Notify>,
    /// Told when jobs start and end (the server: metrics and the event stream).
    pub observer: Arc<dyn JobObserver>,
    /// Preprocessed uploads waiting for this process's scoring worker.
    pub handoff: Arc<handoff::Handoff>,
    /// How whole-slide images are cut into fields (overlap, least tissue; a registered
    /// model's own field size replaces the default size).
    pub slide_fields: histoscore_imaging::slide::FieldOptions,
}

impl App {
    /// An application over `store` and `blobs`, scoring with `scorer`/`queue`; the other
    /// settings start at their defaults.
    pub fn new(
        store: Store,
        blobs: Arc<dyn blobs::BlobStore>,
        scorer: Arc<Scorer>,
        queue: InferenceQueue,
        data_dir: PathBuf,
        decode_slots: usize,
    ) -> Self {
        Self {
            store,
            blobs,
            scorer,
            queue,
            engines: Arc::default(),
            data_dir,
            uncertainty: true,
            train_engine: (EngineKind::Tract, histoscore_engine::default_threads()),
            job_lease: Duration::from_secs(60),
            decode_slots: Arc::new(Semaphore::new(decode_slots.max(1))),
            work: Arc::new(Notify::new()),
            observer: Arc::new(Quiet),
            handoff: Arc::default(),
            slide_fields: Default::default(),
        }
    }
}

/// A number unique within this process (temporary file names).
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The worker id prefix for this process: host and process id.
pub fn worker_prefix() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}", std::process::id())
}
