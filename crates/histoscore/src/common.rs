//! What the commands that open the data folder share: where the data is, the workers'
//! options, starting the inference engine, and the runtime.

use crate::{demo_banner, engine_in_use, serial_parser, EngineArg, ModelArg, SchemaArg};
use anyhow::{Context, Result};
use clap::Args;
use histoscore_app::registry::{Engines, ModelLoader};
use histoscore_app::{App, AppError};
use histoscore_domain::Schema;
use histoscore_engine::{Model, Scorer};
use histoscore_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the data lives: shared by every command that opens the database.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Folder for the database (SQLite), uploaded originals, previews and caches.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "./histoscore-data",
        env = "HISTOSCORE_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// Database URL: `postgres://user@host/db` for PostgreSQL. Default: SQLite in the data
    /// folder (`DATA_DIR/histoscore.db`).
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Where originals, previews and exports are kept: `file://DIR`, or `s3://BUCKET/PREFIX`
    /// (S3, MinIO, Ceph; connection from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY). Default: DATA_DIR/blobs. Every server and worker of one
    /// database must name the same store.
    #[arg(long, value_name = "URL", env = "HISTOSCORE_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// With an S3 store: the most this process keeps of downloaded files in
    /// DATA_DIR/cache/blobs (least recently used out first), in MB.
    #[arg(long, default_value_t = 4096, env = "HISTOSCORE_BLOB_CACHE_MB")]
    pub blob_cache_mb: u64,
}

impl DataArgs {
    pub fn url(&self) -> Result<String> {
        match &self.database {
            Some(u) => Ok(normalise_url(u)),
            None => {
                std::fs::create_dir_all(&self.data_dir).with_context(|| {
                    format!(
                        "could not create the data folder {}",
                        self.data_dir.display()
                    )
                })?;
                Ok(format!(
                    "sqlite://{}?mode=rwc",
                    self.data_dir.join("histoscore.db").display()
                ))
            }
        }
    }

    /// The blob store `--blob-store` names (default: the data folder's `blobs/`).
    pub fn blobs(&self) -> Result<Arc<dyn histoscore_app::blobs::BlobStore>> {
        histoscore_app::blobs::open(
            self.blob_store.as_deref(),
            &self.data_dir,
            self.blob_cache_mb.saturating_mul(1 << 20),
        )
        .with_context(|| {
            format!(
                "could not open the file store {}",
                self.blob_store.clone().unwrap_or_else(|| self
                    .data_dir
                    .join("blobs")
                    .display()
                    .to_string())
            )
        })
    }

    pub async fn open(&self) -> Result<Store> {
        let url = self.url()?;
        Store::open(&url)
            .await
            .with_context(|| "could not open the database (check --database / DATABASE_URL)")
    }

    /// Opens the database, waiting with backoff while it cannot be reached (a worker started
    /// before its database, or during an outage). `None`: `stop` turned true first. Any
    /// other failure (a wrong URL, a failed migration) ends at once.
    pub async fn open_waiting(
        &self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Option<Store>> {
        let url = self.url()?;
        let mut backoff = histoscore_app::jobs::Backoff::default();
        loop {
            match Store::open(&url).await {
                Ok(store) => return Ok(Some(store)),
                Err(e) if e.is_unreachable() => {
                    let wait = backoff.failed();
                    tracing::error!(
                        "the database cannot be reached ({e}); trying again in {:.1} s",
                        wait.as_secs_f64()
                    );
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => return Ok(None),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context("could not open the database (check --database / DATABASE_URL)"))
                }
            }
        }
    }
}

/// The data options to repeat in a suggested command, when they are not the defaults.
pub fn data_hint(d: &DataArgs) -> String {
    let mut out = String::new();
    if d.data_dir != Path::new("./histoscore-data") {
        out.push_str(&format!(" --data-dir {}", d.data_dir.display()));
    }
    if d.database.is_some() {
        out.push_str(" --database …");
    }
    out
}

/// The original deployment's `postgresql+asyncpg://` style URLs work too.
fn normalise_url(u: &str) -> String {
    for prefix in [
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ] {
        if let Some(rest) = u.strip_prefix(prefix) {
            return format!("postgres://{rest}");
        }
    }
    u.to_string()
}

/// Options of the background scoring workers (`serve` and `worker`).
#[derive(Args, Clone)]
pub struct WorkArgs {
    /// Background scoring workers in this process (0: only queue; run `histoscore worker`
    /// elsewhere).
    #[arg(long, default_value_t = 1, env = "HISTOSCORE_WORKERS")]
    pub workers: usize,
    /// A job whose worker has been silent this long (seconds) is given to another worker.
    #[arg(long, default_value_t = 60, env = "HISTOSCORE_JOB_LEASE_SECS")]
    pub job_lease_secs: u64,
    /// At start, stored files without a record and older than this (seconds) are removed
    /// (left by a crash between storing a file and recording it).
    #[arg(long, default_value_t = 600, env = "HISTOSCORE_ORPHAN_GRACE_SECS")]
    pub orphan_grace_secs: u64,
    /// Full-size image decodes at once (memory: about 3 bytes per pixel each).
    #[arg(long, env = "HISTOSCORE_DECODE_SLOTS")]
    pub decode_slots: Option<usize>,
    /// Skip the uncertainty of drafts (scoring each image flipped and rotated too): one
    /// forward pass per image instead of four.
    #[arg(long, env = "HISTOSCORE_NO_UNCERTAINTY")]
    pub no_uncertainty: bool,
    /// Whole-slide images: overlap between neighbouring fields, 0 to 0.9.
    #[arg(long, default_value_t = 0.5, env = "HISTOSCORE_FIELD_OVERLAP")]
    pub overlap: f64,
    /// Whole-slide images: fields with a smaller share of tissue than this (0 to 1) are
    /// skipped.
    #[arg(long, default_value_t = 0.25, env = "HISTOSCORE_MIN_TISSUE")]
    pub min_tissue: f64,
}

/// The original's `MODEL_PATH` works when `--model`/`HISTOSCORE_MODEL` is not given.
pub fn model_arg(m: &ModelArg) -> ModelArg {
    let mut m = m.clone();
    if m.model.is_none() {
        if let Some(p) = std::env::var_os("MODEL_PATH").filter(|p| !p.is_empty()) {
            m.model = Some(PathBuf::from(p));
        }
    }
    m
}

pub struct Engine {
    pub scorer: Arc<Scorer>,
    pub queue: histoscore_engine::InferenceQueue,
    pub thread: histoscore_engine::InferenceThread,
}

pub fn start_engine(model: &ModelArg, schema: &SchemaArg, engine: &EngineArg) -> Result<Engine> {
    let schema = schema.load()?;
    let model = model_arg(model).load(&schema)?;
    demo_banner(&model);
    engine_in_use(engine.kind())?;
    let (queue, thread) = model
        .start(engine.kind(), engine.threads(), 64, 8)
        .map_err(|e| anyhow::anyhow!("could not start the inference engine: {e}"))?;
    let scorer = Scorer {
        schema,
        serials: serial_parser(None)?,
        decode: Default::default(),
        model: model.reference(),
    };
    Ok(Engine {
        scorer: Arc::new(scorer),
        queue,
        thread,
    })
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Starts engines for registered models (the active one after an activation, or one a
/// re-score names) with the same engine settings as the startup model.
pub fn model_loader(schema: Schema, engine: EngineArg) -> ModelLoader {
    Arc::new(move |path: &Path| {
        let m = Model::load(path).map_err(|e| AppError::InvalidModel(e.to_string()))?;
        crate::check_fit(&m, &schema).map_err(|e| AppError::InvalidModel(e.to_string()))?;
        let (queue, _thread) = m
            .start(engine.kind(), engine.threads(), 64, 8)
            .map_err(|e| AppError::Failed(format!("could not start the inference engine: {e}")))?;
        Ok((m.reference(), queue))
    })
}

impl WorkArgs {
    /// How long a job's lease lasts.
    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(self.job_lease_secs.max(1))
    }
}

/// The application over the data folder (files in `DIR/blobs`), scoring with `engine`;
/// other registered models are loaded with the same engine settings.
pub fn app(
    store: Store,
    data: &DataArgs,
    engine: &Engine,
    engine_arg: &EngineArg,
    work: &WorkArgs,
) -> Result<App> {
    let blobs = data.blobs()?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut app = App::new(
        store,
        blobs,
        engine.scorer.clone(),
        engine.queue.clone(),
        data.data_dir.clone(),
        work.decode_slots.unwrap_or(cores.clamp(1, 4)),
    );
    configure(&mut app, engine, engine_arg, work);
    Ok(app)
}

/// The engine and worker settings the command line gives, for `serve` and `worker` alike.
pub fn configure(app: &mut App, engine: &Engine, engine_arg: &EngineArg, work: &WorkArgs) {
    app.engines = Arc::new(Engines::new(Some(model_loader(
        engine.scorer.schema.clone(),
        engine_arg.clone(),
    ))));
    app.train_engine = (engine_arg.kind(), engine_arg.threads());
    app.uncertainty = !work.no_uncertainty;
    app.job_lease = work.job_lease();
    app.slide_fields.overlap = work.overlap.clamp(0.0, 0.9);
    app.slide_fields.min_tissue = work.min_tissue.clamp(0.0, 1.0);
}

/// Logs as JSON (`--log-format json`): messages for people go through the log too.
pub static LOG_JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A message for whoever runs the server or worker: on stderr, or a log line in JSON mode
/// (so that a collector reads one JSON object per line).
pub fn announce(msg: impl std::fmt::Display) {
    if LOG_JSON.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::info!("{msg}");
    } else {
        eprintln!("histoscore: {msg}");
    }
}
