use crate::records::ImageRecord;

/// Everything the store can fail with. The variants map onto HTTP statuses:
/// `NotFound` → 404, `Conflict` → 409 (or 412 for a failed `If-Match`), `Invalid` → 422,
/// `JobNotHeld` → 409, the rest → 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record (or it is soft-deleted where deleted records are hidden).
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: i64 },

    /// The record changed since the caller read it (version mismatch). `current` is the record
    /// as it is now, so the client can show the other change and retry.
    #[error("image {} was changed by someone else (now at version {})", current.id, current.version)]
    Conflict { current: Box<ImageRecord> },

    /// A value the caller supplied is not acceptable; nothing was written.
    #[error("invalid {field}: {detail}")]
    Invalid { field: String, detail: String },

    /// The job is not (or no longer) running under this worker: its lease expired and it was
    /// requeued, or it was already completed. The worker must drop its result.
    #[error("job {job_id} is not held by this worker (lease lost or already finished)")]
    JobNotHeld { job_id: i64 },

    /// The change would break a rule about the current state (a name already taken, the last
    /// administrator demoted, a blind score changed); nothing was written.
    #[error("{0}")]
    Refused(String),

    /// The database URL names no supported backend.
    #[error("unsupported database URL {0:?}: use sqlite://path?mode=rwc or postgres://…")]
    UnsupportedUrl(String),

    /// Data in the database could not be read back (bad JSON, unknown enum value, bad time).
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The database could not be reached (refused, reset, timed out): worth trying again
    /// later, unlike a wrong URL or a failed statement.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::Tls(_)
            )
        )
    }

    pub(crate) fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
