//! `histoscore serve`, `histoscore worker`, `histoscore export`, `histoscore backup` and
//! `histoscore restore`: the review server and its administration.

use crate::{demo_banner, engine_in_use, serial_parser, EngineArg, ModelArg, SchemaArg};
use anyhow::{bail, Context, Result};
use clap::Args;
use histoscore_domain::Schema;
use histoscore_engine::{Model, Scorer};
use histoscore_server::{AppState, Limits};
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

    pub async fn open(&self) -> Result<Store> {
        let url = self.url()?;
        Store::open(&url)
            .await
            .with_context(|| "could not open the database (check --database / DATABASE_URL)")
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

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on. The default answers this computer only.
    #[arg(long, default_value = "127.0.0.1:8000", env = "HISTOSCORE_BIND")]
    bind: String,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    engine: EngineArg,
    #[command(flatten)]
    work: WorkArgs,
    /// Web origins allowed to call the API from another site, comma-separated (e.g.
    /// `http://localhost:3000`). Default: none (same origin only).
    #[arg(
        long,
        value_name = "ORIGINS",
        env = "CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// The address people open, e.g. `https://histoscore.lab.example` (comma-separated if
    /// several). With accounts, requests naming any other host (except localhost) get 421,
    /// which stops web pages that point their own name at this server (DNS rebinding).
    /// Without accounts only localhost, 127.0.0.1 and [::1] are answered.
    #[arg(
        long,
        value_name = "URL",
        env = "HISTOSCORE_PUBLIC_URL",
        value_delimiter = ','
    )]
    public_url: Vec<String>,
    /// Largest upload accepted, in MB.
    #[arg(long, default_value_t = 512, env = "HISTOSCORE_MAX_UPLOAD_MB")]
    max_upload_mb: u64,
    /// Uploads received at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 64, env = "HISTOSCORE_MAX_PENDING_UPLOADS")]
    max_pending_uploads: usize,
    /// Images waiting for the model; past this, uploads get 503 with Retry-After.
    #[arg(long, default_value_t = 10_000, env = "HISTOSCORE_MAX_QUEUED")]
    max_queued: i64,
    /// Seconds a normal API request may take.
    #[arg(long, default_value_t = 60, env = "HISTOSCORE_REQUEST_TIMEOUT_SECS")]
    request_timeout_secs: u64,
    /// Open connections at once (default: below this process's file-descriptor limit).
    #[arg(long, env = "HISTOSCORE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Open connections from one client address at once (default: a quarter of
    /// --max-connections, 16 to 256).
    #[arg(long, env = "HISTOSCORE_MAX_CONNECTIONS_PER_ADDRESS")]
    max_connections_per_address: Option<usize>,
    /// Seconds a client has to send a request's headers.
    #[arg(long, default_value_t = 15, env = "HISTOSCORE_HEADER_TIMEOUT_SECS")]
    header_timeout_secs: u64,
    /// Seconds a connection may stay silent (nothing sent either way, e.g. a stalled
    /// upload) before it is closed.
    #[arg(long, default_value_t = 60, env = "HISTOSCORE_IDLE_TIMEOUT_SECS")]
    idle_timeout_secs: u64,
    /// Mark the login cookie Secure (HTTPS only) even when no proxy sends
    /// `X-Forwarded-Proto: https`.
    #[arg(long, env = "HISTOSCORE_SECURE_COOKIES")]
    secure_cookies: bool,
}

/// Options of the background scoring workers (`serve` and `worker`).
#[derive(Args, Clone)]
pub struct WorkArgs {
    /// Background scoring workers in this process (0: only queue; run `histoscore worker`
    /// elsewhere).
    #[arg(long, default_value_t = 1, env = "HISTOSCORE_WORKERS")]
    workers: usize,
    /// A job whose worker has been silent this long (seconds) is given to another worker.
    #[arg(long, default_value_t = 60, env = "HISTOSCORE_JOB_LEASE_SECS")]
    job_lease_secs: u64,
    /// At start, stored files without a record and older than this (seconds) are removed
    /// (left by a crash between storing a file and recording it).
    #[arg(long, default_value_t = 600, env = "HISTOSCORE_ORPHAN_GRACE_SECS")]
    orphan_grace_secs: u64,
    /// Full-size image decodes at once (memory: about 3 bytes per pixel each).
    #[arg(long, env = "HISTOSCORE_DECODE_SLOTS")]
    decode_slots: Option<usize>,
    /// Skip the uncertainty of drafts (scoring each image flipped and rotated too): one
    /// forward pass per image instead of four.
    #[arg(long, env = "HISTOSCORE_NO_UNCERTAINTY")]
    no_uncertainty: bool,
}

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    engine: EngineArg,
    #[command(flatten)]
    work: WorkArgs,
}

/// The original's `MODEL_PATH` works when `--model`/`HISTOSCORE_MODEL` is not given.
fn model_arg(m: &ModelArg) -> ModelArg {
    let mut m = m.clone();
    if m.model.is_none() {
        if let Some(p) = std::env::var_os("MODEL_PATH").filter(|p| !p.is_empty()) {
            m.model = Some(PathBuf::from(p));
        }
    }
    m
}

struct Engine {
    scorer: Arc<Scorer>,
    queue: histoscore_engine::InferenceQueue,
    thread: histoscore_engine::InferenceThread,
}

fn start_engine(model: &ModelArg, schema: &SchemaArg, engine: &EngineArg) -> Result<Engine> {
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

fn limits(work: &WorkArgs) -> Limits {
    let mut l = Limits {
        job_lease: Duration::from_secs(work.job_lease_secs.max(1)),
        ..Limits::default()
    };
    if let Some(n) = work.decode_slots {
        l.decode_slots = n.max(1);
    }
    l
}

async fn shutdown_signal() {
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

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn serve(args: ServeArgs) -> Result<bool> {
    let engine = start_engine(&args.model, &args.schema, &args.engine)?;
    runtime()?.block_on(async move {
        let store = args.data.open().await?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut l = limits(&args.work);
        l.max_upload_bytes = args.max_upload_mb.saturating_mul(1 << 20);
        l.max_pending_uploads = args.max_pending_uploads.max(1);
        l.max_queued_jobs = args.max_queued.max(1);
        l.request_timeout = Duration::from_secs(args.request_timeout_secs.max(1));
        if let Some(n) = args.max_connections {
            l.conn.max_connections = n.max(1);
            l.conn.max_per_address = (n / 4).clamp(1, 256);
        }
        if let Some(n) = args.max_connections_per_address {
            l.conn.max_per_address = n.max(1);
        }
        l.conn.header_timeout = Duration::from_secs(args.header_timeout_secs.max(1));
        l.conn.idle_timeout = Duration::from_secs(args.idle_timeout_secs.max(1));
        let mut state = AppState::new(
            store.clone(),
            engine.scorer.clone(),
            engine.queue.clone(),
            args.data.data_dir.clone(),
            l,
            stop_rx,
        )
        .with_context(|| format!("could not prepare the data folder {}", args.data.data_dir.display()))?;
        state.engines = Arc::new(histoscore_server::models::Engines::new(Some(model_loader(
            engine.scorer.schema.clone(),
            args.engine.clone(),
        ))));
        state.train_engine = (args.engine.kind(), args.engine.threads());
        state.uncertainty = !args.work.no_uncertainty;
        register_startup_model(&state, &args.model).await?;
        state.cors_origins = args.cors_origins.iter().map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        state.public_hosts = histoscore_server::security::public_hosts(&args.public_url)
            .map_err(anyhow::Error::msg)?;
        let report = state
            .recover(Duration::from_secs(args.work.orphan_grace_secs))
            .await
            .map_err(|e| anyhow::anyhow!("cleaning up after the last run failed: {e}"))?;
        if report.temp_files_removed + report.orphans_removed > 0 {
            tracing::warn!(
                "removed {} partial uploads and {} stored files without a record",
                report.temp_files_removed,
                report.orphans_removed
            );
        }
        let listener = tokio::net::TcpListener::bind(&args.bind)
            .await
            .with_context(|| format!("could not listen on {} (is another server running there? choose another with --bind)", args.bind))?;
        let addr = listener.local_addr()?;
        let accounts = store.has_active_admin().await?;
        if !addr.ip().is_loopback() && !accounts {
            drop(listener);
            bail!(
                "refusing to listen on {addr}: other computers can reach it, and without accounts \
                 anyone could read and change every score.\n\
                 Create the first administrator, then start again:\n  \
                 histoscore user add NAME --role admin{}\n\
                 (or keep the default --bind 127.0.0.1:8000 for single-user use on this computer)",
                data_hint(&args.data)
            );
        }
        state.secure_cookies = args.secure_cookies;
        if store.has_users().await? {
            eprintln!("histoscore: accounts are set up; everyone logs in");
            if state.public_hosts.is_empty() && !addr.ip().is_loopback() {
                tracing::warn!(
                    "--public-url is not set: requests naming any host are answered; set \
                     --public-url (HISTOSCORE_PUBLIC_URL) to the address people open, so that \
                     other web pages cannot reach this server through their own names"
                );
            }
        } else {
            eprintln!("histoscore: single-user mode (no accounts; create them with `histoscore user add`)");
        }
        let running = histoscore_server::spawn(
            listener,
            state,
            stop,
            args.work.workers,
            &histoscore_server::worker_prefix(),
        )?;
        eprintln!(
            "histoscore: listening on http://{addr} (database: {}, engine: {}, data: {})",
            store.backend_name(),
            engine.queue.backend(),
            args.data.data_dir.display()
        );
        shutdown_signal().await;
        eprintln!("histoscore: shutting down; finishing requests and jobs in progress");
        running.shutdown().await;
        store.close().await;
        drop(engine.queue);
        engine.thread.join();
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(true)
}

/// Starts engines for registered models (the active one after an activation, or one a
/// re-score names) with the same engine settings as the startup model.
fn model_loader(schema: Schema, engine: EngineArg) -> histoscore_server::models::ModelLoader {
    Arc::new(move |path: &Path| {
        let m = Model::load(path).map_err(|e| e.to_string())?;
        crate::check_fit(&m, &schema).map_err(|e| e.to_string())?;
        let (queue, _thread) = m
            .start(engine.kind(), engine.threads(), 64, 8)
            .map_err(|e| format!("could not start the inference engine: {e}"))?;
        Ok((m.reference(), queue))
    })
}

/// Registers the `--model` file; it becomes active only when no model is.
async fn register_startup_model(state: &AppState, model: &ModelArg) -> Result<()> {
    let Some(path) = model_arg(model).model else {
        return Ok(());
    };
    let (entry, _) = histoscore_server::models::import_file(
        &state.store,
        state.blobs.as_ref(),
        &path,
        None,
        &state.scorer.schema,
        "serve --model",
    )
    .await
    .map_err(|e| anyhow::anyhow!("could not register {}: {}", path.display(), e.detail))?;
    match state.store.active_model_id().await? {
        None => {
            state
                .store
                .activate_model(&entry.id, "serve --model", Some("the first model"))
                .await?;
        }
        Some(active) if active != entry.id => {
            eprintln!(
                "histoscore: model {active} is the active model in the registry and scores new \
                 uploads; {} (model {}) is registered but not active (activate it on the Models \
                 page or with `histoscore model activate {}`)",
                path.display(),
                entry.id,
                entry.id
            );
        }
        Some(_) => {}
    }
    Ok(())
}

/// `histoscore model import|list|activate|rollback`.
pub fn registry(cmd: crate::ModelCommand) -> Result<bool> {
    use crate::ModelCommand as M;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            M::Import {
                file,
                name,
                schema,
                data,
            } => {
                let schema = schema.load()?;
                let store = data.open().await?;
                let blobs = histoscore_server::blobs::LocalBlobs::new(data.data_dir.join("blobs"))?;
                let (entry, new) = histoscore_server::models::import_file(
                    &store,
                    &blobs,
                    &file,
                    name.as_deref(),
                    &schema,
                    "cli",
                )
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
                if new {
                    println!("registered model {} ({}); not active", entry.id, entry.name);
                } else {
                    println!("model {} ({}) was already registered", entry.id, entry.name);
                }
            }
            M::Show { id, data } => {
                let store = data.open().await?;
                let m = store.model(&id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}", serde_json::to_string_pretty(&m)?);
            }
            M::List { data } => {
                let store = data.open().await?;
                let models = store.list_models().await?;
                if models.is_empty() {
                    println!(
                        "no registered models (serve --model FILE or histoscore model import FILE)"
                    );
                }
                for m in models {
                    println!(
                        "{} {:<14} {:<8} {:<24} {}",
                        if m.active { "*" } else { " " },
                        m.id,
                        m.source,
                        m.name,
                        m.created_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
            M::Activate { id, reason, data } => {
                let store = data.open().await?;
                let m = store
                    .activate_model(&id, "cli", reason.as_deref())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("model {} ({}) is now active", m.id, m.name);
            }
            M::Rollback { data } => {
                let store = data.open().await?;
                let m = store
                    .rollback_model("cli")
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("rolled back: model {} ({}) is active again", m.id, m.name);
            }
            M::Inspect { .. } | M::Export { .. } => unreachable!("handled in main"),
        }
        Ok(true)
    })
}

pub fn worker(args: WorkerArgs) -> Result<bool> {
    let engine = start_engine(&args.model, &args.schema, &args.engine)?;
    runtime()?.block_on(async move {
        let store = args.data.open().await?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut state = AppState::new(
            store.clone(),
            engine.scorer.clone(),
            engine.queue.clone(),
            args.data.data_dir.clone(),
            limits(&args.work),
            stop_rx,
        )?;
        state.uncertainty = !args.work.no_uncertainty;
        state.engines = Arc::new(histoscore_server::models::Engines::new(Some(model_loader(
            engine.scorer.schema.clone(),
            args.engine.clone(),
        ))));
        let prefix = histoscore_server::worker_prefix();
        let n = args.work.workers.max(1);
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                tokio::spawn(histoscore_server::run_worker(
                    state.clone(),
                    format!("{prefix}-{i}"),
                    state.shutdown.clone(),
                ))
            })
            .collect();
        eprintln!(
            "histoscore: {n} worker(s) taking jobs from the {} database",
            store.backend_name()
        );
        shutdown_signal().await;
        eprintln!("histoscore: stopping after the jobs in progress");
        let _ = stop.send(true);
        for t in tasks {
            let _ = t.await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(true)
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    schema: SchemaArg,
    /// File to write; `.json` writes JSON, anything else CSV. `-` writes CSV to stdout.
    #[arg(long, value_name = "FILE", env = "HISTOSCORE_EXPORT_OUT")]
    out: PathBuf,
}

pub fn export(args: ExportArgs) -> Result<bool> {
    let schema = args.schema.load()?;
    runtime()?.block_on(async move {
        let store = args.data.open().await?;
        let json = args
            .out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut out: Box<dyn std::io::Write> = if args.out.as_os_str() == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(&args.out)
                    .with_context(|| format!("could not create {}", args.out.display()))?,
            ))
        };
        let mut n = 0usize;
        if json {
            let mut records = Vec::new();
            let mut pages = store.all_images_for_export();
            while let Some(page) = pages.next_page().await? {
                records.extend(page);
            }
            n = records.len();
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({
                    "app_version": histoscore_server::export::APP_VERSION,
                    "schema": schema,
                    "exported_at": chrono_now(),
                    "records": records,
                }),
            )?;
        } else {
            let mut e = histoscore_server::export::CsvExport::new(&store, schema);
            let mut first = true;
            while let Some(chunk) = e.next_chunk().await.map_err(|e| anyhow::anyhow!(e))? {
                if !first {
                    n += chunk.iter().filter(|&&b| b == b'\n').count();
                }
                first = false;
                out.write_all(&chunk)?;
            }
        }
        out.flush()?;
        if args.out.as_os_str() != "-" {
            eprintln!("histoscore: wrote {n} records to {}", args.out.display());
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(true)
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Args)]
pub struct BackupArgs {
    /// Folder to write the copy to (created; must be empty or missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A folder written by `histoscore backup`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Replace an existing database in the data folder.
    #[arg(long, env = "HISTOSCORE_RESTORE_FORCE")]
    force: bool,
}

fn copy_tree(from: &Path, to: &Path) -> Result<u64> {
    let mut n = 0;
    if !from.exists() {
        return Ok(0);
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // partial writes
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            n += copy_tree(&src, &dst)?;
        } else if !dst.exists() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("could not copy {}", src.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

pub fn backup(args: BackupArgs) -> Result<bool> {
    if args.dir.exists() && std::fs::read_dir(&args.dir)?.next().is_some() {
        bail!(
            "{} is not empty; back up into a new folder",
            args.dir.display()
        );
    }
    std::fs::create_dir_all(&args.dir)?;
    runtime()?.block_on(async {
        let store = args.data.open().await?;
        if store.backend() != histoscore_store::Backend::Sqlite {
            bail!(
                "this database is PostgreSQL: back it up with `pg_dump --format=custom DATABASE_URL > histoscore.dump`, \
                 then copy {} (see the README)",
                args.data.data_dir.join("blobs").display()
            );
        }
        // The database first: every file it refers to was stored before its record, and
        // stored files never change, so copying the files afterwards gives a consistent set.
        store
            .backup_sqlite(&args.dir.join("histoscore.db"))
            .await
            .context("could not copy the database")?;
        let copy = Store::open(&format!(
            "sqlite://{}?mode=rw",
            args.dir.join("histoscore.db").display()
        ))
        .await?;
        let problems = copy.integrity_check().await?;
        copy.close().await;
        if !problems.is_empty() {
            bail!("the copied database fails its integrity check: {}", problems.join("; "));
        }
        let files = copy_tree(&args.data.data_dir.join("blobs"), &args.dir.join("blobs"))?;
        eprintln!(
            "histoscore: backed up the database and {files} stored files to {}",
            args.dir.display()
        );
        Ok(())
    })?;
    Ok(true)
}

pub fn restore(args: RestoreArgs) -> Result<bool> {
    let src_db = args.dir.join("histoscore.db");
    if !src_db.exists() {
        bail!(
            "{} is not a Histoscore backup (no histoscore.db)",
            args.dir.display()
        );
    }
    if args.data.database.is_some() {
        bail!("restore writes the SQLite database of --data-dir; for PostgreSQL use pg_restore (see the README)");
    }
    let dst_db = args.data.data_dir.join("histoscore.db");
    if dst_db.exists() && !args.force {
        bail!(
            "{} already has a database; stop the server and pass --force to replace it",
            args.data.data_dir.display()
        );
    }
    std::fs::create_dir_all(&args.data.data_dir)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(args.data.data_dir.join(format!("histoscore.db{suffix}")));
    }
    let tmp = args.data.data_dir.join(".histoscore.db.restoring");
    std::fs::copy(&src_db, &tmp)?;
    std::fs::rename(&tmp, &dst_db)?;
    let files = copy_tree(&args.dir.join("blobs"), &args.data.data_dir.join("blobs"))?;
    runtime()?.block_on(async {
        let store = args.data.open().await?;
        let problems = store.integrity_check().await?;
        if !problems.is_empty() {
            bail!(
                "the restored database fails its integrity check: {}",
                problems.join("; ")
            );
        }
        Ok(())
    })?;
    eprintln!(
        "histoscore: restored the database and {files} stored files into {}",
        args.data.data_dir.display()
    );
    Ok(true)
}
