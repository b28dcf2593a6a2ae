//! One error type for every handler, mapped to an HTTP status and a JSON body
//! `{error, detail, …}`. Internal failures are logged, never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use histoscore_store::StoreError;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub detail: String,
    pub extra: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
            extra: None,
        }
    }

    pub fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle this request; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.error, "detail": self.detail});
        if let (Some(Value::Object(extra)), Some(obj)) = (self.extra, body.as_object_mut()) {
            obj.extend(extra);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            StoreError::Conflict { ref current } => {
                let current = serde_json::to_value(current).unwrap_or(Value::Null);
                Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("{e}; reload and apply your change again"),
                )
                .with(json!({ "current": current }))
            }
            StoreError::Invalid { field, detail } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                format!("{field}: {detail}"),
            )
            .with(json!({ "field": field })),
            other => Self::internal(other),
        }
    }
}
