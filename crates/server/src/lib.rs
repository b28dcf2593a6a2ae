//! `histoscore serve`: the review server. Uploads are stored content-addressed, scored by
//! background workers that take jobs from the database, and every correction is versioned
//! and audited by the store. Handlers are thin: parse, call the store or scorer, map errors.

mod accounts;
pub mod auth;
mod compat;
pub mod conn;
mod error;
pub mod events;
pub mod export;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod images;
pub mod media;
pub mod metrics;
mod openapi;
mod registry_routes;
pub mod resumable;
mod retraining;
mod routes;
pub mod scratch;
pub mod security;
mod slides;
mod studies;
mod training;
mod upload;
mod visibility;
mod web;

pub use error::ApiError;
pub use metrics::Metrics;
use openapi::ApiDoc;
pub use routes::openapi;
pub use upload::clean_filename;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::routing::get;
use axum::Router;
use events::EventHub;
use extract::Json;
use histoscore_app::blobs::LocalBlobs;
use histoscore_app::App;
pub use histoscore_app::{unique, worker_prefix, LOCAL_USER};
use histoscore_engine::{InferenceQueue, Scorer};
use histoscore_store::Store;
pub use scratch::Scratch;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::ToSchema;

/// Capacity limits: past them the server answers 503 with `Retry-After` instead of piling up
/// memory or work.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_upload_bytes: u64,
    /// Uploads being received or checked at once.
    pub max_pending_uploads: usize,
    /// Jobs waiting in the database queue.
    pub max_queued_jobs: i64,
    /// Full-resolution decodes at once (uploads, scoring, tiles).
    pub decode_slots: usize,
    /// A job whose worker has not sent a heartbeat for this long goes back to the queue.
    pub job_lease: Duration,
    /// Seconds a request (other than uploads, events, exports and tiles) may take.
    pub request_timeout: Duration,
    /// Connections: how many, per address, header and idle deadlines.
    pub conn: conn::ConnLimits,
    /// Resumable uploads (`/api/uploads`): largest file, chunk size, expiry.
    pub resumable: resumable::ResumableLimits,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_upload_bytes: 512 << 20,
            max_pending_uploads: 64,
            max_queued_jobs: 10_000,
            decode_slots: cores.clamp(1, 4),
            job_lease: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            conn: conn::ConnLimits::default(),
            resumable: resumable::ResumableLimits::default(),
        }
    }
}

/// Everything the handlers share: the application (database, files, engines, job settings;
/// `state.store` etc. reach it directly) and what only HTTP needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub limits: Limits,
    pub cors_origins: Vec<String>,
    /// Host names of `--public-url` (lower-case): with accounts, the only non-loopback names
    /// answered; empty answers any name.
    pub public_hosts: Vec<String>,
    /// `--trusted-proxies`: only from these addresses are `X-Forwarded-For` and
    /// `X-Forwarded-Proto` believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    pub events: EventHub,
    pub metrics: Arc<Metrics>,
    pub shutdown: watch::Receiver<bool>,
    /// Whether accounts exist (cached), and single-user mode's CSRF token.
    pub accounts: Arc<auth::AccountsFlag>,
    /// Mark session cookies Secure even without `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// Answer the original system's API (`--original-api`).
    pub original_api: bool,
    /// This process's scratch folder (temporary uploads, exports, tiles being cut).
    pub scratch: Arc<Scratch>,
    /// Resumable uploads being received (`DATA_DIR/uploads/`).
    pub uploads: Arc<resumable::Uploads>,
    uploads_in_flight: Arc<AtomicUsize>,
    /// Password hashes being computed, and requests waiting for one.
    hash_slots: Arc<Semaphore>,
    hash_waiting: Arc<AtomicUsize>,
    /// Uploads in flight per user (fair shares of the upload slots).
    uploads_by_user: Arc<Mutex<HashMap<String, usize>>>,
    tile_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut App {
        &mut self.app
    }
}

impl AppState {
    /// State over a data directory (`blobs/`, `tmp/`, `cache/` are created in it).
    /// `shutdown` turning true ends event streams and workers.
    pub fn new(
        store: Store,
        scorer: Arc<Scorer>,
        queue: InferenceQueue,
        data_dir: PathBuf,
        limits: Limits,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        for sub in ["tmp", "cache"] {
            std::fs::create_dir_all(data_dir.join(sub))?;
        }
        let blobs = Arc::new(LocalBlobs::new(data_dir.join("blobs"))?);
        let scratch = Arc::new(Scratch::create(&data_dir.join("tmp"))?);
        let uploads = Arc::new(resumable::Uploads::new(data_dir.join("uploads"))?);
        let events = EventHub::new();
        let metrics = Arc::new(Metrics::new());
        let mut app = App::new(store, blobs, scorer, queue, data_dir, limits.decode_slots);
        app.job_lease = limits.job_lease;
        app.observer = Arc::new(metrics::MetricsObserver {
            events: Some(events.clone()),
            metrics: metrics.clone(),
        });
        Ok(Self {
            app,
            scratch,
            uploads,
            limits,
            cors_origins: Vec::new(),
            public_hosts: Vec::new(),
            trusted_proxies: Arc::default(),
            events,
            metrics,
            shutdown,
            accounts: Arc::default(),
            secure_cookies: false,
            original_api: false,
            uploads_in_flight: Arc::new(AtomicUsize::new(0)),
            uploads_by_user: Arc::default(),
            hash_slots: Arc::new(Semaphore::new(accounts::HASH_SLOTS)),
            hash_waiting: Arc::default(),
            tile_locks: Arc::default(),
        })
    }

    /// Removes what a crash can leave behind: the scratch folders of processes that no longer
    /// run (partial uploads, tiles half cut), and stored originals with no record (the process
    /// died between storing the file and committing the record) older than `grace` (younger
    /// ones may belong to an upload still running in another process).
    pub async fn recover(&self, grace: Duration) -> std::io::Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let tmp = self.data_dir.join("tmp");
        let (dirs, files) = tokio::task::spawn_blocking(move || scratch::sweep(&tmp, grace))
            .await
            .map_err(std::io::Error::other)??;
        report.temp_files_removed += dirs + files;
        // Tile pyramids half cut by an earlier version (cut in place, named by process id).
        let tiles = self.data_dir.join("cache").join("tiles");
        if let Ok(mut rd) = tokio::fs::read_dir(&tiles).await {
            while let Ok(Some(e)) = rd.next_entry().await {
                let old = e
                    .metadata()
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= grace);
                if e.file_name().to_string_lossy().ends_with(".partial")
                    && old
                    && tokio::fs::remove_dir_all(e.path()).await.is_ok()
                {
                    report.temp_files_removed += 1;
                }
            }
        }
        // A file store that does not answer now is swept at the next start.
        let stored = match self.blobs.list("originals").await {
            Ok(keys) => keys,
            Err(e) if histoscore_app::s3::is_unavailable(&e) => {
                tracing::warn!(
                    "the file store {} did not answer; stored files were not checked: {e}",
                    self.blobs.describe()
                );
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        // Multipart uploads a dead process left unfinished (their parts take space but are
        // no object). Another process may be uploading right now (servers and workers often
        // start together, each registering its model), and some S3-compatible stores report
        // made-up start times: so the sweep runs a while after start, when no upload of the
        // start-up can still be in flight, and only uploads started before the grace period
        // go.
        let blobs = self.blobs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(UPLOAD_SWEEP_DELAY).await;
            match blobs
                .abort_stale_uploads(grace.max(Duration::from_secs(6 * 3600)))
                .await
            {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!("aborted {n} unfinished multipart uploads in the file store")
                }
                Err(e) => tracing::warn!(
                    "unfinished multipart uploads in {} were not checked: {e}",
                    blobs.describe()
                ),
            }
        });
        for (key, age) in stored {
            let Some(sha) = key.rsplit('/').next() else {
                continue;
            };
            if sha.starts_with('.') {
                // A partial write (`.name.pid.n.partial`).
                if age >= grace.as_secs() {
                    self.blobs.delete(&key).await?;
                    report.orphans_removed += 1;
                }
                continue;
            }
            if age >= grace.as_secs()
                && !self
                    .store
                    .sha256_known(sha)
                    .await
                    .map_err(std::io::Error::other)?
            {
                self.blobs.delete(&key).await?;
                report.orphans_removed += 1;
            }
        }
        Ok(report)
    }
}

/// What [`AppState::recover`] cleaned up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    pub temp_files_removed: usize,
    pub orphans_removed: usize,
}

/// The JSON body of every error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code, e.g. `not_found`, `invalid_value`, `conflict`, `busy`.
    pub error: String,
    /// What was wrong and what to do, for people.
    pub detail: String,
    /// The request field, path or query parameter that was wrong, where one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Everything that is not an API route: the web UI. With `--original-api`, a client that does
/// not ask for HTML at `/` (the original's scripts) gets the original's root answer.
async fn root_or_web(
    State(s): State<AppState>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if s.original_api && uri.path() == "/" && !wants_html {
        return Json(compat::root_message()).into_response();
    }
    web::static_handler(uri, headers).await
}

/// `/healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `/readyz`: the database answers and the engine is loaded.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, description = "Ready"), (status = 500, body = ErrorBody)))]
async fn readyz(State(s): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    s.store.health_check().await?;
    s.blobs.exists(".readyz").await.map_err(ApiError::storage)?;
    Ok(Json(serde_json::json!({
        "status": "ready",
        "database": s.store.backend_name(),
        "blob_store": s.blobs.describe(),
        "engine": s.queue.backend(),
        "model": s.active_model().await,
    })))
}

#[derive(Serialize, ToSchema)]
pub struct ModelInfo {
    id: String,
    /// The built-in demo model: its scores are not meaningful.
    demo: bool,
    /// `ort` or `tract`.
    #[schema(value_type = String, example = "ort")]
    engine: histoscore_engine::EngineKind,
}

#[derive(Serialize, ToSchema)]
pub struct ConfigResponse {
    version: String,
    schema: histoscore_domain::Schema,
    model: ModelInfo,
    max_upload_bytes: u64,
    /// The largest file a resumable upload (`/api/uploads`, tus) takes.
    resumable_max_bytes: u64,
    /// The chunk size the web UI sends resumable uploads in.
    upload_chunk_bytes: u64,
    /// Hours an unfinished resumable upload is kept.
    upload_expiry_hours: f64,
}

/// What the UI needs to know: the scoring schema, the model, limits.
#[utoipa::path(get, path = "/api/config", tag = "service",
    responses((status = 200, body = ConfigResponse)))]
async fn config(State(s): State<AppState>) -> Json<ConfigResponse> {
    let model = s.active_model().await;
    Json(ConfigResponse {
        version: histoscore_app::export::APP_VERSION.to_string(),
        schema: s.scorer.schema.clone(),
        model: ModelInfo {
            id: model.id,
            demo: model.demo,
            engine: s.queue.backend(),
        },
        max_upload_bytes: s.limits.max_upload_bytes,
        resumable_max_bytes: s.limits.resumable.max_bytes,
        upload_chunk_bytes: s.limits.resumable.chunk_bytes,
        upload_expiry_hours: s.limits.resumable.expiry.as_secs_f64() / 3600.0,
    })
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(routes::openapi())
}

/// The largest request body of routes that take JSON.
pub const MAX_JSON_BODY: usize = 1 << 20;

/// How long after start unfinished multipart uploads are looked for.
const UPLOAD_SWEEP_DELAY: Duration = Duration::from_secs(600);

/// Room for multipart framing around an uploaded file.
const MULTIPART_OVERHEAD: u64 = 1 << 20;

/// Answers 413 when a request declares (`Content-Length`) a body larger than `limit`, before
/// any of it is read.
pub(crate) fn refuse_declared_oversize(
    headers: &axum::http::HeaderMap,
    limit: u64,
) -> Result<(), ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit.saturating_add(MULTIPART_OVERHEAD) => Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the upload is {} MB, larger than the server's limit of {} MB \
                 (--max-upload-mb); nothing was read",
                n >> 20,
                limit >> 20
            ),
        )),
        _ => Ok(()),
    }
}

pub fn router(state: AppState) -> Router {
    let upload_limit = (state
        .limits
        .max_upload_bytes
        .saturating_add(MULTIPART_OVERHEAD))
    .try_into()
    .unwrap_or(usize::MAX);
    use tower_http::timeout::TimeoutLayer;
    let x_request_id = HeaderName::from_static("x-request-id");
    let table = routes::table();
    // Quick JSON routes get a time limit; uploads, streams, exports and tiles do not.
    let quick = Router::from(table.quick).layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        state.limits.request_timeout,
    ));
    let upload =
        Router::from(table.upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit));
    let mut app = Router::new()
        .merge(quick)
        .merge(upload)
        .merge(Router::from(table.stream))
        .route("/metrics", get(metrics::metrics))
        .route("/api/openapi.json", get(openapi_json))
        .merge(
            utoipa_swagger_ui::SwaggerUi::new("/docs")
                .config(utoipa_swagger_ui::Config::from("/api/openapi.json")),
        )
        // Every route above: who is calling, may they, and CSRF. Static assets are public.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .fallback(root_or_web)
        // JSON bodies: 1 MB; only the upload routes above take files.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        // Every 4xx/5xx leaves in the JSON envelope.
        .layer(axum::middleware::from_fn(error::envelope))
        // Before anything else: a request for another host name (DNS rebinding) gets 421.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::host_guard,
        ));
    if !state.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = state
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PATCH,
                    Method::PUT,
                    Method::DELETE,
                ])
                .allow_headers([
                    axum::http::header::CONTENT_TYPE,
                    axum::http::header::IF_MATCH,
                    axum::http::header::AUTHORIZATION,
                    HeaderName::from_static(auth::CSRF_HEADER),
                ])
                .allow_credentials(true)
                .expose_headers([axum::http::header::ETAG, axum::http::header::RETRY_AFTER]),
        );
    }
    app.layer(axum::middleware::from_fn(security::headers))
        .layer(
        tower_http::trace::TraceLayer::new_for_http()
            .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
            .make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            },
        ),
    )
    .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
    .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
    .with_state(state)
}

/// A running server: its address and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, finishes requests and the jobs in progress, then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts the HTTP server, the change feed and `workers` background workers on `listener`.
/// `stop`/`stop_rx` must be the pair `state.shutdown` was made from.
pub fn spawn(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: watch::Sender<bool>,
    workers: usize,
    worker_prefix: &str,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(
        state
            .events
            .clone()
            .follow(state.store.clone(), state.shutdown.clone()),
    ));
    for n in 0..workers {
        tasks.push(tokio::spawn(histoscore_app::jobs::run_worker(
            state.app.clone(),
            format!("{worker_prefix}-{n}"),
            state.shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(sweep_uploads(
        state.uploads.clone(),
        state.shutdown.clone(),
    )));
    let rx = state.shutdown.clone();
    let conn_limits = state.limits.conn.clone();
    let app = router(state);
    tasks.push(tokio::spawn(conn::serve(listener, app, conn_limits, rx)));
    Ok(Running { addr, stop, tasks })
}

/// Removes expired resumable uploads every ten minutes until shutdown.
async fn sweep_uploads(uploads: Arc<resumable::Uploads>, mut stop: watch::Receiver<bool>) {
    loop {
        let removed = uploads.sweep().await;
        if removed > 0 {
            tracing::info!("removed {removed} expired resumable uploads");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
