//! Histoscore's database layer: images, AI drafts, reviewed scores, the append-only audit log
//! and the inference job queue.
//!
//! One code path serves SQLite (the embedded default: WAL, foreign keys on, busy timeout) and
//! PostgreSQL, chosen by URL (`sqlite://path?mode=rwc` or `postgres://…`). Queries go through
//! `sqlx::Any` with `$n` placeholders, which both drivers accept; the only SQL that differs per
//! backend is the migrations and the `FOR UPDATE SKIP LOCKED` of job claiming.
//!
//! Timestamps are stored as UTC text in one fixed format (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so
//! text order is time order on both backends.
//!
//! Every write runs in one transaction whose first statement takes the write lock (SQLite:
//! `BEGIN IMMEDIATE`; PostgreSQL: the row lock of the first `UPDATE`), and every change to an
//! image bumps its `version`. Optimistic concurrency is `UPDATE … WHERE id = ? AND version = ?`:
//! of two writers holding the same version exactly one wins, the other gets
//! [`StoreError::Conflict`] with the current record.

mod accounts;
mod error;
mod model;
mod models;
mod studies;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use histoscore_domain::{Schema, Scores};
use indexmap::IndexMap;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Row};

pub use accounts::{check_user_name, LoginAttempt, User, UserUpdate};
pub use error::{Result, StoreError};
pub use model::*;
pub use models::*;
pub use studies::*;

/// The largest page `list_images` returns.
pub const MAX_PAGE: i64 = 1000;
/// A job whose worker died this many times is marked failed instead of being requeued.
pub const MAX_ATTEMPTS: i64 = 3;
/// Ids per `IN (…)` list when loading records in bulk.
const CHUNK: usize = 500;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const IMAGE_COLS: &str = "i.id, i.filename, i.serial, i.group_name, i.image_number, i.sha256, \
     i.size_bytes, i.width, i.height, i.format, i.status, i.error, i.review_status, i.version, \
     i.created_at, i.updated_at, i.updated_by, i.deleted_at, i.storage_key, i.reviewed_at";
const JOB_COLS: &str =
    "id, image_id, state, attempts, locked_by, locked_at, heartbeat, error, created_at, model_id";
const DRAFT_COLS: &str =
    "id, image_id, model_id, model_demo, raw_outputs, rounded, created_at, uncertainty";
const AUDIT_COLS: &str =
    "id, at, actor, image_id, action, field, old_value, new_value, reason, study_id";

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// SQLite durability: by default (`synchronous = NORMAL` in WAL mode) a committed change
/// survives the process being killed at any moment; a power cut may lose the last commits but
/// never corrupts the database. `?sync=full` on the URL makes every commit wait for the disk
/// (survives power cuts; edits are then several times slower under load). The parameter is
/// removed before the URL reaches the driver.
fn take_sync_param(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), false);
    };
    let mut full = false;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("sync=") {
            Some(v) => {
                full = v.eq_ignore_ascii_case("full");
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    if rest.is_empty() {
        (base.to_string(), full)
    } else {
        (format!("{base}?{}", rest.join("&")), full)
    }
}

/// Drops a password from a URL before it goes into an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The database handle. Cheap to clone (a connection pool inside).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Writers of this process queue here in order instead
    /// of polling SQLite's lock with growing sleeps (which made edit latency jump under load).
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Held for the whole of a write transaction on SQLite.
type WriteGuard = Option<tokio::sync::OwnedMutexGuard<()>>;

type Tx = sqlx::Transaction<'static, Any>;

// ---------------------------------------------------------------------------------------------
// Small helpers: time, binds, row decoding.

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn now() -> String {
    ts(Utc::now())
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

fn parse_opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

fn lease_cutoff(lease: Duration) -> String {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    ts(Utc::now()
        .checked_sub_signed(lease)
        .unwrap_or(DateTime::<Utc>::MIN_UTC))
}

fn fmt_value(v: f64) -> String {
    format!("{v}")
}

/// A bind value for dynamically built SQL.
#[derive(Debug, Clone)]
enum Arg {
    I64(i64),
    Text(String),
}

/// SQL text plus its binds, numbered `$1, $2, …` as they are added.
#[derive(Debug, Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Adds a bind and returns its placeholder.
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::I64(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }
}

fn image_from_row(r: &AnyRow) -> Result<ImageRecord> {
    Ok(ImageRecord {
        id: r.try_get("id")?,
        filename: r.try_get("filename")?,
        serial: r.try_get("serial")?,
        group_name: r.try_get("group_name")?,
        image_number: r.try_get("image_number")?,
        sha256: r.try_get("sha256")?,
        size_bytes: r.try_get("size_bytes")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        format: r.try_get("format")?,
        status: r.try_get::<String, _>("status")?.parse().map_err(corrupt)?,
        error: r.try_get("error")?,
        review_status: r
            .try_get::<String, _>("review_status")?
            .parse()
            .map_err(corrupt)?,
        version: r.try_get("version")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        updated_by: r.try_get("updated_by")?,
        deleted_at: parse_opt_ts(r.try_get("deleted_at")?)?,
        reviewed_at: parse_opt_ts(r.try_get("reviewed_at")?)?,
        storage_key: r.try_get("storage_key")?,
        draft: None,
        scores: BTreeMap::new(),
        locked_by_study: None,
    })
}

fn corrupt(e: StoreError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn job_from_row(r: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: r.try_get("id")?,
        image_id: r.try_get("image_id")?,
        state: r.try_get::<String, _>("state")?.parse().map_err(corrupt)?,
        attempts: r.try_get("attempts")?,
        locked_by: r.try_get("locked_by")?,
        locked_at: parse_opt_ts(r.try_get("locked_at")?)?,
        heartbeat: parse_opt_ts(r.try_get("heartbeat")?)?,
        error: r.try_get("error")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        model_id: r.try_get("model_id")?,
    })
}

fn draft_from_row(r: &AnyRow) -> Result<Draft> {
    let raw: IndexMap<String, Option<f64>> =
        serde_json::from_str(&r.try_get::<String, _>("raw_outputs")?)
            .map_err(|e| StoreError::Corrupt(format!("draft raw outputs: {e}")))?;
    let rounded: Scores = serde_json::from_str(&r.try_get::<String, _>("rounded")?)
        .map_err(|e| StoreError::Corrupt(format!("draft scores: {e}")))?;
    Ok(Draft {
        id: r.try_get("id")?,
        image_id: r.try_get("image_id")?,
        model_id: r.try_get("model_id")?,
        model_demo: r.try_get::<i64, _>("model_demo")? != 0,
        raw_outputs: raw
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect(),
        rounded,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        uncertainty: r
            .try_get::<Option<String>, _>("uncertainty")?
            .map(|u| {
                serde_json::from_str(&u)
                    .map_err(|e| StoreError::Corrupt(format!("draft uncertainty: {e}")))
            })
            .transpose()?,
    })
}

fn audit_from_row(r: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: parse_ts(&r.try_get::<String, _>("at")?)?,
        actor: r.try_get("actor")?,
        image_id: r.try_get("image_id")?,
        action: r.try_get("action")?,
        field: r.try_get("field")?,
        old_value: r.try_get("old_value")?,
        new_value: r.try_get("new_value")?,
        reason: r.try_get("reason")?,
        study_id: r.try_get("study_id")?,
    })
}

/// One audit row to append.
struct Audit<'a> {
    actor: &'a str,
    image_id: Option<i64>,
    action: &'a str,
    field: Option<&'a str>,
    old_value: Option<String>,
    new_value: Option<String>,
    reason: Option<&'a str>,
}

async fn append_audit(tx: &mut Tx, at: &str, a: Audit<'_>) -> Result<()> {
    append_study_audit(tx, at, a, None).await
}

/// The longest reason kept in the audit log, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// Refuses a reason longer than [`MAX_REASON_CHARS`] (the audit log keeps it forever).
pub fn check_reason(reason: Option<&str>) -> Result<()> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(StoreError::invalid(
            "reason",
            format!(
                "the reason has {} characters; keep it to {MAX_REASON_CHARS} (put long notes \
                 in a document and cite it)",
                r.chars().count()
            ),
        )),
        _ => Ok(()),
    }
}

/// Appends one audit row that belongs to a study.
async fn append_study_audit(
    tx: &mut Tx,
    at: &str,
    a: Audit<'_>,
    study_id: Option<i64>,
) -> Result<()> {
    check_reason(a.reason)?;
    sqlx::query(
        "INSERT INTO audit_log \
         (at, actor, image_id, action, field, old_value, new_value, reason, study_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(at)
    .bind(a.actor)
    .bind(a.image_id)
    .bind(a.action)
    .bind(a.field)
    .bind(a.old_value)
    .bind(a.new_value)
    .bind(a.reason)
    .bind(study_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Current (reader, phase) scores of one image, inside a transaction.
async fn current_scores(tx: &mut Tx, image_id: i64) -> Result<BTreeMap<String, f64>> {
    let rows = sqlx::query(
        "SELECT metric, value FROM scores WHERE image_id = $1 AND reader = $2 AND phase = $3",
    )
    .bind(image_id)
    .bind(LOCAL_READER)
    .bind(FINAL_PHASE)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| -> Result<(String, f64)> { Ok((r.try_get("metric")?, r.try_get("value")?)) })
        .collect()
}

async fn upsert_score(
    tx: &mut Tx,
    image_id: i64,
    metric: &str,
    value: f64,
    version: i64,
    at: &str,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO scores (image_id, reader, phase, metric, value, version, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (image_id, reader, phase, metric) DO UPDATE SET \
         value = excluded.value, version = excluded.version, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(image_id)
    .bind(LOCAL_READER)
    .bind(FINAL_PHASE)
    .bind(metric)
    .bind(value)
    .bind(version)
    .bind(at)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn check_actor(actor: &str) -> Result<()> {
    if actor.trim().is_empty() {
        return Err(StoreError::invalid("actor", "must not be empty"));
    }
    Ok(())
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// What history search matches: file name, serial and group, lower-cased.
fn search_text(new: &NewImage) -> String {
    format!(
        "{} {} {}",
        new.filename,
        new.serial.as_deref().unwrap_or(""),
        new.group_name.as_deref().unwrap_or("")
    )
    .to_lowercase()
}

/// Appends the `WHERE` clause of a list query (always hides soft-deleted images).
fn push_filters(sql: &mut Sql, q: &ListQuery) {
    sql.push(" WHERE i.deleted_at IS NULL");
    if let Some(s) = q.search.as_deref().filter(|s| !s.is_empty()) {
        let p = sql.arg(Arg::Text(escape_like(s)));
        sql.push(&format!(" AND i.search_text LIKE {p} ESCAPE '\\'"));
    }
    if let Some(g) = &q.group {
        let p = sql.arg(Arg::Text(g.clone()));
        sql.push(&format!(" AND i.group_name = {p}"));
    }
    if let Some(s) = q.status {
        let p = sql.arg(Arg::Text(s.as_str().into()));
        sql.push(&format!(" AND i.status = {p}"));
    }
    if let Some(s) = q.review_status {
        let p = sql.arg(Arg::Text(s.as_str().into()));
        sql.push(&format!(" AND i.review_status = {p}"));
    }
    if let Some(t) = q.created_from {
        let p = sql.arg(Arg::Text(ts(t)));
        sql.push(&format!(" AND i.created_at >= {p}"));
    }
    if let Some(t) = q.created_to {
        let p = sql.arg(Arg::Text(ts(t)));
        sql.push(&format!(" AND i.created_at < {p}"));
    }
    if let Some(m) = &q.model_id {
        let p = sql.arg(Arg::Text(m.clone()));
        sql.push(&format!(
            " AND EXISTS (SELECT 1 FROM drafts d WHERE d.image_id = i.id AND d.model_id = {p})"
        ));
    }
}

// ---------------------------------------------------------------------------------------------

impl Store {
    /// Opens (creating if the URL allows) the database and runs pending migrations.
    ///
    /// SQLite: `sqlite://path/to/file.db?mode=rwc` (WAL, foreign keys, 10 s busy timeout are set
    /// on every connection). `sqlite::memory:` works with a single connection.
    /// PostgreSQL: `postgres://user[:password]@host[:port]/database`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let (url, full_sync) = take_sync_param(url);
        let url = url.as_str();
        let mut opts = AnyPoolOptions::new();
        match backend {
            Backend::Sqlite => {
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                opts = if memory {
                    // Every connection to an in-memory database is a separate database.
                    opts.max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    opts.max_connections(8)
                };
                let synchronous = if full_sync { "FULL" } else { "NORMAL" };
                opts = opts.after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            format!(
                                "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                                 PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
                            )
                            .as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                });
            }
            Backend::Postgres => opts = opts.max_connections(16),
        }
        let pool = opts.connect(url).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        tracing::debug!(backend = backend.name(), "store opened");
        Ok(Store {
            pool,
            backend,
            write_lock: Default::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The underlying pool, for administration and tests. Writes through it bypass the
    /// store's invariants (the audit log and drafts are still protected by triggers).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes all connections (waits for them to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// `SELECT 1`.
    pub async fn health_check(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Problems the database reports about itself; empty means healthy.
    /// SQLite runs `PRAGMA integrity_check`; PostgreSQL has no equivalent and reports none.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        match self.backend {
            Backend::Postgres => {
                self.health_check().await?;
                Ok(Vec::new())
            }
            Backend::Sqlite => {
                let rows = sqlx::query("PRAGMA integrity_check")
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = Vec::new();
                for r in rows {
                    let line: String = r.try_get(0)?;
                    if line != "ok" {
                        out.push(line);
                    }
                }
                Ok(out)
            }
        }
    }

    /// A transaction that holds the write lock from its start on SQLite (`BEGIN IMMEDIATE`,
    /// so it never fails half-way on a lock upgrade) and a plain one on PostgreSQL.
    /// Keep the guard until the transaction has committed or rolled back.
    async fn begin_write(&self) -> Result<(WriteGuard, Tx)> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let guard = self.write_lock.clone().lock_owned().await;
                (Some(guard), self.pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Backend::Postgres => (None, self.pool.begin().await?),
        })
    }

    // --- images ------------------------------------------------------------------------------

    /// Stores a new image (status `queued`) and enqueues its inference job, in one transaction.
    pub async fn insert_image(&self, new: &NewImage, actor: &str) -> Result<ImageRecord> {
        check_actor(actor)?;
        if new.filename.trim().is_empty() {
            return Err(StoreError::invalid("filename", "must not be empty"));
        }
        if new.sha256.len() != 64 || !new.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::invalid(
                "sha256",
                "must be 64 hexadecimal characters",
            ));
        }
        if new.size_bytes < 0 {
            return Err(StoreError::invalid("size_bytes", "must not be negative"));
        }
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO images (filename, serial, group_name, image_number, sha256, size_bytes, \
             width, height, format, status, review_status, version, created_at, updated_at, \
             updated_by, storage_key, search_text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 'unreviewed', 1, $10, $10, \
             $11, $12, $13) RETURNING id",
        )
        .bind(&new.filename)
        .bind(&new.serial)
        .bind(&new.group_name)
        .bind(new.image_number)
        .bind(new.sha256.to_ascii_lowercase())
        .bind(new.size_bytes)
        .bind(new.width)
        .bind(new.height)
        .bind(&new.format)
        .bind(&at)
        .bind(actor)
        .bind(&new.storage_key)
        .bind(search_text(new))
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
        sqlx::query(
            "INSERT INTO jobs (image_id, state, attempts, created_at, updated_at) \
             VALUES ($1, 'queued', 0, $2, $2)",
        )
        .bind(id)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: "create",
                field: Some("filename"),
                old_value: None,
                new_value: Some(new.filename.clone()),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_image(id).await
    }

    /// The image with this id, including a soft-deleted one (check `deleted_at`).
    pub async fn get_image(&self, id: i64) -> Result<ImageRecord> {
        self.load_records(&[id])
            .await?
            .pop()
            .ok_or(StoreError::NotFound { what: "image", id })
    }

    /// The oldest non-deleted image with this content hash.
    pub async fn find_by_sha256(&self, sha256: &str) -> Result<Option<ImageRecord>> {
        self.find_one("i.sha256", &sha256.to_ascii_lowercase())
            .await
    }

    /// Whether any image, retracted ones included, has this content hash.
    pub async fn sha256_known(&self, sha256: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM images WHERE sha256 = $1")
            .bind(sha256.to_ascii_lowercase())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// The newest non-deleted image uploaded under this file name.
    pub async fn find_by_filename(&self, filename: &str) -> Result<Option<ImageRecord>> {
        self.find_one("i.filename", filename).await
    }

    async fn find_one(&self, column: &'static str, value: &str) -> Result<Option<ImageRecord>> {
        // sha256: the first upload wins; filename: the latest upload wins.
        let dir = if column == "i.sha256" { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT i.id FROM images i WHERE {column} = $1 AND i.deleted_at IS NULL \
             ORDER BY i.id {dir} LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(self.get_image(r.try_get(0)?).await?)),
            None => Ok(None),
        }
    }

    /// Loads full records (latest draft and current scores) for these ids, in the given order;
    /// ids that do not exist are skipped.
    async fn load_records(&self, ids: &[i64]) -> Result<Vec<ImageRecord>> {
        let mut by_id: HashMap<i64, ImageRecord> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut sql = Sql::default();
            let list = chunk
                .iter()
                .map(|id| sql.arg(Arg::I64(*id)))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push(&format!(
                "SELECT {IMAGE_COLS} FROM images i WHERE i.id IN ({list})"
            ));
            for r in sql.query().fetch_all(&self.pool).await? {
                let rec = image_from_row(&r)?;
                by_id.insert(rec.id, rec);
            }

            let mut sql = Sql::default();
            let reader = sql.arg(Arg::Text(LOCAL_READER.into()));
            let phase = sql.arg(Arg::Text(FINAL_PHASE.into()));
            let list = chunk
                .iter()
                .map(|id| sql.arg(Arg::I64(*id)))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push(&format!(
                "SELECT image_id, metric, value FROM scores \
                 WHERE reader = {reader} AND phase = {phase} AND image_id IN ({list})"
            ));
            for r in sql.query().fetch_all(&self.pool).await? {
                let id: i64 = r.try_get("image_id")?;
                if let Some(rec) = by_id.get_mut(&id) {
                    rec.scores.insert(r.try_get("metric")?, r.try_get("value")?);
                }
            }

            let mut sql = Sql::default();
            let list = chunk
                .iter()
                .map(|id| sql.arg(Arg::I64(*id)))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push(&format!(
                "SELECT {DRAFT_COLS} FROM drafts d WHERE d.image_id IN ({list}) \
                 AND d.id = (SELECT MAX(d2.id) FROM drafts d2 WHERE d2.image_id = d.image_id)"
            ));
            for r in sql.query().fetch_all(&self.pool).await? {
                let draft = draft_from_row(&r)?;
                if let Some(rec) = by_id.get_mut(&draft.image_id) {
                    rec.draft = Some(draft);
                }
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// The record as it is now, for a `Conflict` answer (or `NotFound` when it is gone).
    async fn conflict_or_missing(&self, id: i64) -> StoreError {
        match self.get_image(id).await {
            Ok(rec) if rec.is_deleted() => StoreError::NotFound { what: "image", id },
            Ok(rec) => StoreError::Conflict {
                current: Box::new(rec),
            },
            Err(e) => e,
        }
    }

    /// Changes scores and/or the review status of one image, if it is still at
    /// `update.expected_version`. Every value is checked against the schema first (a bad one
    /// fails the whole update with `Invalid { field: metric }` and writes nothing). One audit row
    /// is appended per field that actually changed. The version is bumped even if nothing did.
    pub async fn update_scores(
        &self,
        id: i64,
        update: &ScoreUpdate,
        schema: &Schema,
    ) -> Result<ImageRecord> {
        check_actor(&update.actor)?;
        let mut changes = Scores::new();
        for (metric, value) in &update.changes {
            let v = schema
                .check_value(metric, *value)
                .map_err(|e| StoreError::invalid(metric.clone(), e.to_string()))?;
            changes.insert(metric.clone(), v);
        }
        let actor = update.actor.as_str();
        let reason = update.reason.as_deref();
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        // The first statement takes the row's write lock and checks the version atomically.
        let row = sqlx::query(
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND version = $4 AND deleted_at IS NULL \
             RETURNING version, review_status",
        )
        .bind(&at)
        .bind(actor)
        .bind(id)
        .bind(update.expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(self.conflict_or_missing(id).await);
        };
        let version: i64 = row.try_get("version")?;
        let old_review: String = row.try_get("review_status")?;

        let old = current_scores(&mut tx, id).await?;
        for (metric, value) in &changes {
            let before = old.get(metric).copied();
            if before == Some(*value) {
                continue;
            }
            upsert_score(&mut tx, id, metric, *value, version, &at, actor).await?;
            append_study_audit(
                &mut tx,
                &at,
                Audit {
                    actor,
                    image_id: Some(id),
                    action: if update.study_id.is_some() {
                        "adjudicate"
                    } else {
                        "score"
                    },
                    field: Some(metric),
                    old_value: before.map(fmt_value),
                    new_value: Some(fmt_value(*value)),
                    reason,
                },
                update.study_id,
            )
            .await?;
        }
        if let Some(reviewed) = update.reviewed {
            let new_review = if reviewed {
                ReviewStatus::Reviewed
            } else {
                ReviewStatus::Unreviewed
            };
            if new_review.as_str() != old_review {
                sqlx::query("UPDATE images SET review_status = $1, reviewed_at = $2 WHERE id = $3")
                    .bind(new_review.as_str())
                    .bind(reviewed.then(|| at.clone()))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                append_audit(
                    &mut tx,
                    &at,
                    Audit {
                        actor,
                        image_id: Some(id),
                        action: "review",
                        field: Some("review_status"),
                        old_value: Some(old_review),
                        new_value: Some(new_review.as_str().into()),
                        reason,
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.get_image(id).await
    }

    /// Hides an image from lists, lookups and export (audited). Deleting a deleted image
    /// returns it unchanged.
    pub async fn soft_delete(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<ImageRecord> {
        self.set_deleted(id, actor, reason, true).await
    }

    /// Undoes [`Store::soft_delete`] (audited). Restoring a live image returns it unchanged.
    pub async fn restore(&self, id: i64, actor: &str) -> Result<ImageRecord> {
        self.set_deleted(id, actor, None, false).await
    }

    async fn set_deleted(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
        delete: bool,
    ) -> Result<ImageRecord> {
        check_actor(actor)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        // The first statement takes the write lock; RETURNING gives the old deleted_at.
        let sql = if delete {
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND deleted_at IS NULL RETURNING deleted_at"
        } else {
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND deleted_at IS NOT NULL RETURNING deleted_at"
        };
        let row = sqlx::query(sql)
            .bind(&at)
            .bind(actor)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            // Already in the wanted state, or missing.
            return self.get_image(id).await;
        };
        let old_value: Option<String> = row.try_get(0)?;
        let new_value = delete.then(|| at.clone());
        sqlx::query("UPDATE images SET deleted_at = $1 WHERE id = $2")
            .bind(&new_value)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: if delete { "delete" } else { "restore" },
                field: Some("deleted_at"),
                old_value,
                new_value,
                reason,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_image(id).await
    }

    /// One page of non-deleted images matching the query, and the total number that match.
    pub async fn list_images(&self, q: &ListQuery) -> Result<(Vec<ImageRecord>, i64)> {
        if !(1..=MAX_PAGE).contains(&q.limit) {
            return Err(StoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        if q.offset < 0 {
            return Err(StoreError::invalid("offset", "must not be negative"));
        }
        let mut count = Sql::new("SELECT COUNT(*) FROM images i");
        push_filters(&mut count, q);
        let total: i64 = count.query().fetch_one(&self.pool).await?.try_get(0)?;

        let mut sql = Sql::new("SELECT i.id FROM images i");
        push_filters(&mut sql, q);
        let col = q.sort.column();
        let dir = match q.dir {
            SortDir::Asc => "ASC",
            SortDir::Desc => "DESC",
        };
        // NULLs last in both directions on both backends, then id as the tie-breaker. Columns
        // that are never NULL sort plainly, so an index can give the order.
        let limit = sql.arg(Arg::I64(q.limit));
        let offset = sql.arg(Arg::I64(q.offset));
        let order = match q.sort {
            SortField::Id => format!("i.id {dir}"),
            SortField::Serial
            | SortField::Group
            | SortField::ImageNumber
            | SortField::Uncertainty => {
                format!("CASE WHEN {col} IS NULL THEN 1 ELSE 0 END, {col} {dir}, i.id {dir}")
            }
            _ => format!("{col} {dir}, i.id {dir}"),
        };
        sql.push(&format!(" ORDER BY {order} LIMIT {limit} OFFSET {offset}"));
        let ids = sql
            .query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self.load_records(&ids).await?, total))
    }

    /// Per group (non-deleted images matching the query's filters; sort and page are ignored):
    /// image count, reviewed count and the mean current score of each metric. Sorted by group
    /// name, images without a group first.
    ///
    /// `hidden_from`: leave out the images whose AI draft that reader may not see yet (their
    /// blind score in a blinded study is not in), so that no mean reveals a hidden draft.
    pub async fn group_summary(
        &self,
        q: &ListQuery,
        hidden_from: Option<&str>,
    ) -> Result<Vec<GroupSummary>> {
        let exclude = |sql: &mut Sql| {
            if let Some(reader) = hidden_from {
                let p = sql.arg(Arg::Text(reader.into()));
                sql.push(&format!(
                    " AND i.id NOT IN (SELECT si.image_id FROM study_images si \
                     JOIN studies st ON st.id = si.study_id AND st.blinded = 1 \
                     JOIN study_readers sr ON sr.study_id = si.study_id AND sr.reader = {p} \
                     LEFT JOIN study_reads sd ON sd.study_id = si.study_id \
                       AND sd.image_id = si.image_id AND sd.reader = {p} \
                     WHERE sd.submitted_at IS NULL)"
                ));
            }
        };
        let mut sql = Sql::new(
            "SELECT i.group_name, COUNT(*) AS n, \
             CAST(SUM(CASE WHEN i.review_status = 'reviewed' THEN 1 ELSE 0 END) AS BIGINT) AS r \
             FROM images i",
        );
        push_filters(&mut sql, q);
        exclude(&mut sql);
        sql.push(" GROUP BY i.group_name");
        let mut groups: BTreeMap<Option<String>, GroupSummary> = BTreeMap::new();
        for r in sql.query().fetch_all(&self.pool).await? {
            let group: Option<String> = r.try_get(0)?;
            groups.insert(
                group.clone(),
                GroupSummary {
                    group,
                    count: r.try_get(1)?,
                    reviewed: r.try_get(2)?,
                    means: BTreeMap::new(),
                },
            );
        }

        let mut sql = Sql::new(
            "SELECT i.group_name, s.metric, CAST(AVG(s.value) AS DOUBLE PRECISION) AS mean \
             FROM images i JOIN scores s ON s.image_id = i.id",
        );
        push_filters(&mut sql, q);
        exclude(&mut sql);
        let reader = sql.arg(Arg::Text(LOCAL_READER.into()));
        let phase = sql.arg(Arg::Text(FINAL_PHASE.into()));
        sql.push(&format!(
            " AND s.reader = {reader} AND s.phase = {phase} GROUP BY i.group_name, s.metric"
        ));
        for r in sql.query().fetch_all(&self.pool).await? {
            let group: Option<String> = r.try_get(0)?;
            if let Some(g) = groups.get_mut(&group) {
                g.means.insert(r.try_get(1)?, r.try_get(2)?);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Every draft of the image, oldest first.
    pub async fn drafts_for_image(&self, id: i64) -> Result<Vec<Draft>> {
        let sql = format!("SELECT {DRAFT_COLS} FROM drafts d WHERE d.image_id = $1 ORDER BY d.id");
        sqlx::query(&sql)
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(draft_from_row)
            .collect()
    }

    /// The image's audit trail, oldest first (includes deleted images).
    pub async fn audit_for_image(&self, id: i64) -> Result<Vec<AuditEntry>> {
        let sql = format!("SELECT {AUDIT_COLS} FROM audit_log WHERE image_id = $1 ORDER BY id");
        sqlx::query(&sql)
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    /// All non-deleted images in id order, a page at a time (1000 records per page).
    pub fn all_images_for_export(&self) -> ExportPages {
        self.export_pages(1000)
    }

    /// All non-deleted images in id order, `page_size` records per page (keyset paging, so
    /// the cost per page stays constant and memory stays bounded).
    pub fn export_pages(&self, page_size: usize) -> ExportPages {
        ExportPages {
            store: self.clone(),
            after_id: 0,
            page_size: page_size.clamp(1, 10_000),
            done: false,
        }
    }

    /// Images changed after `after` (a timestamp string from an earlier [`Change`]; `None`
    /// means "from now on": only the current high-water mark is returned, with no changes).
    /// Deleted images are included. Used to push record changes made by any process.
    pub async fn changes_since(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Change>, String)> {
        let Some(after) = after else {
            let row = sqlx::query("SELECT MAX(updated_at) FROM images")
                .fetch_one(&self.pool)
                .await?;
            let mark: Option<String> = row.try_get(0)?;
            return Ok((Vec::new(), mark.unwrap_or_default()));
        };
        let rows = sqlx::query(
            "SELECT id, status, version, updated_at, deleted_at FROM images \
             WHERE updated_at > $1 ORDER BY updated_at, id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut mark = after.to_string();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let updated_at: String = r.try_get("updated_at")?;
            out.push(Change {
                id: r.try_get("id")?,
                status: r.try_get::<String, _>("status")?.parse().map_err(corrupt)?,
                version: r.try_get("version")?,
                deleted: r.try_get::<Option<String>, _>("deleted_at")?.is_some(),
            });
            mark = updated_at;
        }
        Ok((out, mark))
    }

    /// Writes a consistent copy of an SQLite database to `path` while others keep using it
    /// (`VACUUM INTO`). PostgreSQL databases are backed up with `pg_dump` instead.
    pub async fn backup_sqlite(&self, path: &std::path::Path) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::invalid(
                "backend",
                "online backup here is for SQLite; back up PostgreSQL with pg_dump",
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::invalid("path", "the backup path must be UTF-8"))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- jobs --------------------------------------------------------------------------------

    /// Jobs waiting and running.
    pub async fn queue_depth(&self) -> Result<QueueDepth> {
        let row = sqlx::query(
            "SELECT CAST(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END) AS BIGINT) \
             FROM jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueDepth {
            queued: row.try_get::<Option<i64>, _>(0)?.unwrap_or(0),
            running: row.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
        })
    }

    /// Takes the oldest queued job (of a non-deleted image) for `worker_id`, after returning
    /// jobs whose heartbeat is older than `lease` to the queue. Two claimers never get the
    /// same job: PostgreSQL locks the candidate with `FOR UPDATE SKIP LOCKED`, SQLite claims
    /// in one `UPDATE … RETURNING` inside a `BEGIN IMMEDIATE` transaction.
    /// The image goes to status `scoring`.
    pub async fn claim_job(&self, worker_id: &str, lease: Duration) -> Result<Option<Job>> {
        check_actor(worker_id)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        requeue_stale_in(&mut tx, &at, lease).await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE OF j SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_at = $2, heartbeat = $2, updated_at = $2, error = NULL \
             WHERE id = (SELECT j.id FROM jobs j WHERE j.state = 'queued' AND EXISTS \
             (SELECT 1 FROM images i WHERE i.id = j.image_id AND i.deleted_at IS NULL) \
             ORDER BY j.id LIMIT 1{lock}) \
             RETURNING {JOB_COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(worker_id)
            .bind(&at)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        sqlx::query(
            "UPDATE images SET status = 'scoring', error = NULL, version = version + 1, \
             updated_at = $1, updated_by = $2 WHERE id = $3",
        )
        .bind(&at)
        .bind(format!("worker:{worker_id}"))
        .bind(job.image_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Queues another inference job for an existing (non-deleted) image, e.g. after a failure
    /// or with a new model. The image goes back to `queued` (audited); its scores stay, and a
    /// reviewed image keeps its human scores when the new draft arrives.
    pub async fn enqueue_rescore(&self, id: i64, actor: &str) -> Result<ImageRecord> {
        self.enqueue_rescore_with(id, actor, None).await
    }

    /// [`Store::enqueue_rescore`] with a chosen registered model (`None`: the active one).
    pub async fn enqueue_rescore_with(
        &self,
        id: i64,
        actor: &str,
        model_id: Option<&str>,
    ) -> Result<ImageRecord> {
        check_actor(actor)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND deleted_at IS NULL RETURNING status",
        )
        .bind(&at)
        .bind(actor)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::NotFound { what: "image", id });
        };
        let old: String = row.try_get(0)?;
        let busy = sqlx::query(
            "SELECT id FROM jobs WHERE image_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if busy.is_some() {
            tx.rollback().await?;
            return Err(StoreError::invalid(
                "status",
                "the image already has a queued or running job",
            ));
        }
        sqlx::query("UPDATE images SET status = 'queued', error = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO jobs (image_id, state, attempts, created_at, updated_at, model_id) \
             VALUES ($1, 'queued', 0, $2, $2, $3)",
        )
        .bind(id)
        .bind(&at)
        .bind(model_id)
        .execute(&mut *tx)
        .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: "rescore",
                field: Some("status"),
                old_value: Some(old),
                new_value: Some(ImageStatus::Queued.as_str().into()),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_image(id).await
    }

    /// Extends the lease of a running job. `false` means the worker lost the job (its lease
    /// expired and it was requeued, or it is finished): stop working on it.
    pub async fn heartbeat(&self, job_id: i64, worker_id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET heartbeat = $1, updated_at = $1 \
             WHERE id = $2 AND state = 'running' AND locked_by = $3",
        )
        .bind(now())
        .bind(job_id)
        .bind(worker_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Returns running jobs whose heartbeat is older than `lease` to the queue (or fails them
    /// after [`MAX_ATTEMPTS`] claims, with their image). Returns how many jobs were touched.
    pub async fn requeue_stale(&self, lease: Duration) -> Result<u64> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let n = requeue_stale_in(&mut tx, &at, lease).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Finishes a job: stores the draft (immutable), makes its rounded values the current
    /// scores if the image is still unreviewed (a reviewed image keeps its human scores),
    /// sets the image `scored` and appends audit rows as actor `model:<model_id>`.
    /// Fails with `JobNotHeld` if the job is not running under `worker_id`.
    pub async fn complete_job(
        &self,
        job_id: i64,
        worker_id: &str,
        draft: &NewDraft,
    ) -> Result<ImageRecord> {
        if draft.model_id.trim().is_empty() {
            return Err(StoreError::invalid("model_id", "must not be empty"));
        }
        for (metric, v) in &draft.rounded {
            if !v.is_finite() {
                return Err(StoreError::invalid(
                    metric.clone(),
                    format!("draft score must be finite (got {v})"),
                ));
            }
        }
        let raw: IndexMap<&str, Option<f64>> = draft
            .raw_outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.is_finite().then_some(*v)))
            .collect();
        let raw_json = serde_json::to_string(&raw).expect("map of numbers serialises");
        let rounded_json =
            serde_json::to_string(&draft.rounded).expect("map of numbers serialises");
        let actor = format!("model:{}", draft.model_id);

        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'done', heartbeat = $1, updated_at = $1, error = NULL \
             WHERE id = $2 AND state = 'running' AND locked_by = $3 RETURNING image_id",
        )
        .bind(&at)
        .bind(job_id)
        .bind(worker_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::JobNotHeld { job_id });
        };
        let image_id: i64 = row.try_get(0)?;
        let row = sqlx::query(
            "UPDATE images SET status = 'scored', error = NULL, version = version + 1, \
             updated_at = $1, updated_by = $2 WHERE id = $3 \
             RETURNING version, review_status, status",
        )
        .bind(&at)
        .bind(&actor)
        .bind(image_id)
        .fetch_one(&mut *tx)
        .await?;
        let version: i64 = row.try_get(0)?;
        let review: String = row.try_get(1)?;
        let uncertainty_json = draft
            .uncertainty
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::invalid("uncertainty", e.to_string()))?;
        let most_uncertain = draft.uncertainty.as_ref().and_then(|u| {
            u.values()
                .copied()
                .filter(|v| v.is_finite())
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        });
        sqlx::query(
            "INSERT INTO drafts \
             (image_id, model_id, model_demo, raw_outputs, rounded, created_at, uncertainty) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(image_id)
        .bind(&draft.model_id)
        .bind(i64::from(draft.model_demo))
        .bind(&raw_json)
        .bind(&rounded_json)
        .bind(&at)
        .bind(uncertainty_json)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE images SET uncertainty = $1 WHERE id = $2")
            .bind(most_uncertain)
            .bind(image_id)
            .execute(&mut *tx)
            .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor: &actor,
                image_id: Some(image_id),
                action: "scored",
                field: Some("status"),
                old_value: Some(ImageStatus::Scoring.as_str().into()),
                new_value: Some(ImageStatus::Scored.as_str().into()),
                reason: None,
            },
        )
        .await?;
        if review == ReviewStatus::Unreviewed.as_str() {
            // A value a person set is never replaced by a model's draft (e.g. a correction
            // made while the image was still being scored, or before a rescore).
            let rows = sqlx::query(
                "SELECT metric, value, updated_by FROM scores \
                 WHERE image_id = $1 AND reader = $2 AND phase = $3",
            )
            .bind(image_id)
            .bind(LOCAL_READER)
            .bind(FINAL_PHASE)
            .fetch_all(&mut *tx)
            .await?;
            let mut old: HashMap<String, (f64, bool)> = HashMap::new();
            for r in rows {
                let by: String = r.try_get("updated_by")?;
                old.insert(
                    r.try_get("metric")?,
                    (r.try_get("value")?, !by.starts_with("model:")),
                );
            }
            for (metric, value) in &draft.rounded {
                let before = old.get(metric).map(|(v, _)| *v);
                let human = old.get(metric).is_some_and(|(_, h)| *h);
                if human || before == Some(*value) {
                    continue;
                }
                upsert_score(&mut tx, image_id, metric, *value, version, &at, &actor).await?;
                append_audit(
                    &mut tx,
                    &at,
                    Audit {
                        actor: &actor,
                        image_id: Some(image_id),
                        action: "ai_score",
                        field: Some(metric),
                        old_value: before.map(fmt_value),
                        new_value: Some(fmt_value(*value)),
                        reason: None,
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.get_image(image_id).await
    }

    /// Marks a job and its image failed with `error` (audited). The image keeps any scores.
    /// Fails with `JobNotHeld` if the job is not running under `worker_id`.
    pub async fn fail_job(&self, job_id: i64, worker_id: &str, error: &str) -> Result<ImageRecord> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'failed', error = $1, heartbeat = $2, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND locked_by = $4 RETURNING image_id",
        )
        .bind(error)
        .bind(&at)
        .bind(job_id)
        .bind(worker_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::JobNotHeld { job_id });
        };
        let image_id: i64 = row.try_get(0)?;
        let actor = format!("worker:{worker_id}");
        fail_image(&mut tx, &at, image_id, &actor, error).await?;
        tx.commit().await?;
        self.get_image(image_id).await
    }
}

async fn fail_image(tx: &mut Tx, at: &str, image_id: i64, actor: &str, error: &str) -> Result<()> {
    let old: Option<String> = sqlx::query("SELECT status FROM images WHERE id = $1")
        .bind(image_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    sqlx::query(
        "UPDATE images SET status = 'failed', error = $1, version = version + 1, \
         updated_at = $2, updated_by = $3 WHERE id = $4",
    )
    .bind(error)
    .bind(at)
    .bind(actor)
    .bind(image_id)
    .execute(&mut **tx)
    .await?;
    append_audit(
        tx,
        at,
        Audit {
            actor,
            image_id: Some(image_id),
            action: "failed",
            field: Some("status"),
            old_value: old,
            new_value: Some(ImageStatus::Failed.as_str().into()),
            reason: Some(error),
        },
    )
    .await
}

/// Requeues (or, past [`MAX_ATTEMPTS`], fails) running jobs with a heartbeat older than
/// `lease`, inside the caller's write transaction.
async fn requeue_stale_in(tx: &mut Tx, at: &str, lease: Duration) -> Result<u64> {
    let cutoff = lease_cutoff(lease);
    let requeued = sqlx::query(
        "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_at = NULL, \
         heartbeat = NULL, updated_at = $1 \
         WHERE state = 'running' AND heartbeat < $2 AND attempts < $3 RETURNING image_id",
    )
    .bind(at)
    .bind(&cutoff)
    .bind(MAX_ATTEMPTS)
    .fetch_all(&mut **tx)
    .await?;
    for r in &requeued {
        let image_id: i64 = r.try_get(0)?;
        sqlx::query(
            "UPDATE images SET status = 'queued', version = version + 1, updated_at = $1, \
             updated_by = 'system:requeue' WHERE id = $2 AND status = 'scoring'",
        )
        .bind(at)
        .bind(image_id)
        .execute(&mut **tx)
        .await?;
    }
    let failed = sqlx::query(
        "UPDATE jobs SET state = 'failed', error = $1, updated_at = $2 \
         WHERE state = 'running' AND heartbeat < $3 AND attempts >= $4 RETURNING image_id",
    )
    .bind(format!(
        "the worker stopped responding {MAX_ATTEMPTS} times while scoring this image"
    ))
    .bind(at)
    .bind(&cutoff)
    .bind(MAX_ATTEMPTS)
    .fetch_all(&mut **tx)
    .await?;
    for r in &failed {
        let image_id: i64 = r.try_get(0)?;
        let error =
            format!("the worker stopped responding {MAX_ATTEMPTS} times while scoring this image");
        fail_image(tx, at, image_id, "system:requeue", &error).await?;
    }
    Ok((requeued.len() + failed.len()) as u64)
}

/// Pages of export records; see [`Store::export_pages`].
pub struct ExportPages {
    store: Store,
    after_id: i64,
    page_size: usize,
    done: bool,
}

impl ExportPages {
    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ImageRecord>>> {
        if self.done {
            return Ok(None);
        }
        let ids = sqlx::query(
            "SELECT i.id FROM images i WHERE i.deleted_at IS NULL AND i.id > $1 \
             ORDER BY i.id LIMIT $2",
        )
        .bind(self.after_id)
        .bind(self.page_size as i64)
        .fetch_all(&self.store.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<Vec<_>, _>>()?;
        if ids.len() < self.page_size {
            self.done = true;
        }
        let Some(&last) = ids.last() else {
            return Ok(None);
        };
        self.after_id = last;
        Ok(Some(self.store.load_records(&ids).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::take_sync_param;

    #[test]
    fn sync_parameter_is_read_and_removed() {
        assert_eq!(
            take_sync_param("sqlite://a.db?mode=rwc&sync=full"),
            ("sqlite://a.db?mode=rwc".to_string(), true)
        );
        assert_eq!(
            take_sync_param("sqlite://a.db?sync=normal"),
            ("sqlite://a.db".to_string(), false)
        );
        assert_eq!(
            take_sync_param("sqlite://a.db?mode=rwc"),
            ("sqlite://a.db?mode=rwc".to_string(), false)
        );
    }
}
