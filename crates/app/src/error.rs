//! The application layer's one error type. Every message says what was wrong and what to do;
//! the HTTP server maps each variant to a status, the CLI prints it.

use histoscore_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The database refused (not found, conflict, invalid value) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value the caller chose is not allowed.
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// A model file that cannot score with this server's schema, or cannot be read at all.
    #[error("{0}")]
    InvalidModel(String),
    /// A stored file, an engine or the file system failed; the message says which and why.
    #[error("{0}")]
    Failed(String),
}

impl AppError {
    pub fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        AppError::Invalid {
            field,
            detail: detail.into(),
        }
    }

    pub fn failed(what: impl std::fmt::Display) -> Self {
        AppError::Failed(what.to_string())
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
