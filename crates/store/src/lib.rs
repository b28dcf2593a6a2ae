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

#[macro_use]
mod records;
mod accounts;
mod audit;
mod error;
mod images;
mod imports;
mod jobs;
mod plans;
mod reads;
mod registry;
mod retraining;
mod rows;
pub mod scratch;
mod slides;
mod sql;
mod studies;
mod synthetic;
mod tokens;
mod training;

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
pub use plans::QueryPlan;
pub use records::*;
pub use registry::*;
pub use retraining::{EvaluationSet, ModelEvaluation, RetrainPolicy};
pub use studies::*;
pub use tokens::{ApiToken, MAX_TOKEN_NAME};
use training::*;
pub use training::{TrainingRun, TrainingState};

use audit::*;
pub use audit::{check_reason, MAX_REASON_CHARS};
pub use images::ExportPages;
use images::*;
use imports::flags_json;
pub use imports::{
    original_database_url, read_original, ImportOutcome, OriginalRow, ORIGINAL_COLUMNS,
    ORIGINAL_SOURCE,
};
use rows::*;
use sql::*;

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
     i.created_at, i.updated_at, i.updated_by, i.deleted_at, i.storage_key, i.reviewed_at, i.reviewed_by, i.pixel_size_um, i.flags, \
     i.kind, i.slide, i.progress, i.source_path, i.source_size, i.source_mtime_ms";
/// [`IMAGE_COLS`] without the table alias, for `RETURNING` clauses.
const IMAGE_RETURNING: &str = "id, filename, serial, group_name, image_number, sha256, \
     size_bytes, width, height, format, status, error, review_status, version, created_at, \
     updated_at, updated_by, deleted_at, storage_key, reviewed_at, reviewed_by, pixel_size_um, flags, kind, slide, progress, \
     source_path, source_size, source_mtime_ms";
const JOB_COLS: &str =
    "id, kind, image_id, payload, state, attempts, locked_by, locked_at, heartbeat, error, \
     created_at, model_id";
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
            Backend::Postgres => {
                // Every query here is short; JIT compilation (on by default since
                // PostgreSQL 12 for queries the planner deems costly, such as a count over
                // 100 000 records) costs more than it saves: tens of ms per history page.
                // A database that cannot be reached fails a request after 10 s (not sqlx's
                // 30 s), so that workers report the outage and back off sooner.
                opts = opts
                    .max_connections(16)
                    .acquire_timeout(std::time::Duration::from_secs(10))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("SET jit = off").await?;
                            Ok(())
                        })
                    })
            }
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
}

#[cfg(test)]
mod tests {
    use super::take_sync_param;

    #[test]
    fn returning_columns_are_the_listed_columns() {
        assert_eq!(super::IMAGE_COLS.replace("i.", ""), super::IMAGE_RETURNING);
    }

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
