//! `histoscore serve`: the review server (web UI and API) with its background workers.

use crate::common::{
    configure, data_hint, model_arg, runtime, shutdown_signal, start_engine, DataArgs, WorkArgs,
};
use crate::{EngineArg, ModelArg, SchemaArg};
use anyhow::{bail, Context, Result};
use clap::Args;
use histoscore_app::registry::import_file;
use histoscore_server::{AppState, Limits};
use std::time::Duration;

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
    /// Also answer the original system's API (`POST /api/upload-image`, `PUT
    /// /api/scores/{db_id}`, `GET /health`), so that its Next.js page and scripts keep working.
    /// With accounts, scripts send an API token (`histoscore token create`).
    #[arg(long, env = "HISTOSCORE_ORIGINAL_API")]
    original_api: bool,
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
    /// Largest whole-slide image (or other file) sent as a resumable upload, in GB.
    #[arg(long, default_value_t = 20, env = "HISTOSCORE_MAX_RESUMABLE_UPLOAD_GB")]
    max_resumable_upload_gb: u64,
    /// The chunk size the web UI sends resumable uploads in, in KB (an interrupted upload
    /// resends at most one chunk).
    #[arg(long, default_value_t = 16384, env = "HISTOSCORE_UPLOAD_CHUNK_KB")]
    upload_chunk_kb: u64,
    /// Hours an unfinished resumable upload is kept; then its bytes are removed.
    #[arg(long, default_value_t = 24.0, env = "HISTOSCORE_UPLOAD_EXPIRY_HOURS")]
    upload_expiry_hours: f64,
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
    /// Reverse proxies / load balancers in front of this server (CIDRs or addresses,
    /// comma-separated, e.g. `10.0.0.0/8,127.0.0.1`): only from these are `X-Forwarded-For`
    /// (the client's address, for login limits) and `X-Forwarded-Proto` (HTTPS, for secure
    /// cookies) believed, and the per-address connection limit does not apply to them.
    #[arg(
        long,
        value_name = "CIDRS",
        env = "HISTOSCORE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// Mark the login cookie Secure (HTTPS only) even when no proxy sends
    /// `X-Forwarded-Proto: https`.
    #[arg(long, env = "HISTOSCORE_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Creates the first administrator (named by --admin-user) with this password at start,
    /// when the database has no accounts yet; ignored once any account exists. For
    /// containers and scripted installs: give it in the environment, not on the command line.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "HISTOSCORE_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    admin_password: Option<String>,
    /// Name of the administrator --admin-password creates.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "admin",
        env = "HISTOSCORE_ADMIN_USER"
    )]
    admin_user: String,
}

/// Creates the first administrator from `--admin-password` when there are no accounts. Two
/// servers starting at once on one database may both try: the second finds the account made.
async fn first_admin(store: &histoscore_store::Store, args: &ServeArgs) -> Result<()> {
    let Some(password) = args.admin_password.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    if store.has_users().await? {
        tracing::info!(
            "accounts exist; HISTOSCORE_ADMIN_PASSWORD is not used (change passwords with \
             `histoscore user passwd`)"
        );
        return Ok(());
    }
    let name = args.admin_user.trim();
    histoscore_store::check_user_name(name)
        .map_err(|e| anyhow::anyhow!("--admin-user {name:?}: {e}"))?;
    if let Some(problem) = histoscore_app::passwords::password_problem(password, name) {
        bail!("HISTOSCORE_ADMIN_PASSWORD (--admin-password): {problem}; no account was created");
    }
    let hash = histoscore_app::passwords::hash_password(password)?;
    match store
        .create_user(name, histoscore_store::Role::Admin, &hash)
        .await
    {
        Ok(u) => {
            crate::common::announce(format!(
                "created the first administrator {:?} from HISTOSCORE_ADMIN_PASSWORD",
                u.name
            ));
            Ok(())
        }
        Err(e) if store.user(name).await.ok().flatten().is_some() => {
            tracing::info!("administrator {name:?} was created by another process ({e})");
            Ok(())
        }
        Err(e) => Err(crate::users::explain(e)),
    }
}

fn limits(work: &WorkArgs) -> Limits {
    let mut l = Limits {
        job_lease: work.job_lease(),
        ..Limits::default()
    };
    if let Some(n) = work.decode_slots {
        l.decode_slots = n.max(1);
    }
    l
}

pub fn serve(args: ServeArgs) -> Result<bool> {
    let engine = start_engine(&args.model, &args.schema, &args.engine)?;
    runtime()?.block_on(async move {
        let store = args.data.open().await?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut l = limits(&args.work);
        l.max_upload_bytes = args.max_upload_mb.saturating_mul(1 << 20);
        l.max_pending_uploads = args.max_pending_uploads.max(1);
        l.resumable.max_bytes = args.max_resumable_upload_gb.max(1).saturating_mul(1 << 30);
        l.resumable.chunk_bytes = args.upload_chunk_kb.clamp(64, 1 << 20) << 10;
        if !(args.upload_expiry_hours.is_finite() && args.upload_expiry_hours > 0.0) {
            anyhow::bail!("--upload-expiry-hours must be a positive number of hours (e.g. 24)");
        }
        l.resumable.expiry = Duration::from_secs_f64((args.upload_expiry_hours * 3600.0).max(1.0));
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
        let trusted = std::sync::Arc::new(
            histoscore_server::security::trusted_proxies(&args.trusted_proxies)
                .map_err(anyhow::Error::msg)?,
        );
        l.conn.trusted_proxies = trusted.clone();
        let mut state = AppState::new(
            store.clone(),
            engine.scorer.clone(),
            engine.queue.clone(),
            args.data.data_dir.clone(),
            l,
            stop_rx,
        )
        .with_context(|| format!("could not prepare the data folder {}", args.data.data_dir.display()))?;
        state.app.blobs = args.data.blobs()?;
        configure(&mut state.app, &engine, &args.engine, &args.work);
        register_startup_model(&state, &args.model).await?;
        state.original_api = args.original_api;
        state.trusted_proxies = trusted;
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
        first_admin(&store, &args).await?;
        let accounts = store.has_active_admin().await?;
        if !addr.ip().is_loopback() && !accounts {
            drop(listener);
            bail!(
                "refusing to listen on {addr}: other computers can reach it, and without accounts \
                 anyone could read and change every score.\n\
                 Create the first administrator, then start again:\n  \
                 histoscore user add NAME --role admin{}\n\
                 (or set HISTOSCORE_ADMIN_PASSWORD for this start to create one named \
                 --admin-user, default \"admin\";\n\
                 or keep the default --bind 127.0.0.1:8000 for single-user use on this computer)",
                data_hint(&args.data)
            );
        }
        state.secure_cookies = args.secure_cookies;
        if store.has_users().await? {
            crate::common::announce("accounts are set up; everyone logs in");
            if state.public_hosts.is_empty() && !addr.ip().is_loopback() {
                tracing::warn!(
                    "--public-url is not set: requests naming any host are answered; set \
                     --public-url (HISTOSCORE_PUBLIC_URL) to the address people open, so that \
                     other web pages cannot reach this server through their own names"
                );
            }
        } else {
            crate::common::announce("single-user mode (no accounts; create them with `histoscore user add`)");
        }
        let running = histoscore_server::spawn(
            listener,
            state,
            stop,
            args.work.workers,
            &histoscore_app::worker_prefix(),
        )?;
        crate::common::announce(format!(
            "listening on http://{addr} (database: {}, engine: {}, data: {})",
            store.backend_name(),
            engine.queue.backend(),
            args.data.data_dir.display()
        ));
        shutdown_signal().await;
        crate::common::announce("shutting down; finishing requests and jobs in progress");
        running.shutdown().await;
        store.close().await;
        drop(engine.queue);
        engine.thread.join();
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(true)
}

/// Registers the `--model` file; it becomes active only when no model is.
async fn register_startup_model(state: &AppState, model: &ModelArg) -> Result<()> {
    let Some(path) = model_arg(model).model else {
        return Ok(());
    };
    let (entry, _) = import_file(
        &state.store,
        state.blobs.as_ref(),
        &path,
        None,
        &state.scorer.schema,
        "serve --model",
    )
    .await
    .with_context(|| format!("could not register {}", path.display()))?;
    match state.store.active_model_id().await? {
        None => {
            state
                .store
                .activate_model(&entry.id, "serve --model", Some("the first model"))
                .await?;
        }
        Some(active) if active != entry.id => {
            crate::common::announce(format!(
                "model {active} is the active model in the registry and scores new \
                 uploads; {} (model {}) is registered but not active (activate it on the Models \
                 page or with `histoscore model activate {}`)",
                path.display(),
                entry.id,
                entry.id
            ));
        }
        Some(_) => {}
    }
    Ok(())
}
