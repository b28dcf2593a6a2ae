//! One error type for every handler, mapped to an HTTP status and a JSON body
//! `{error, detail, …}`. Internal failures are logged, never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use histoscore_app::AppError;
use histoscore_store::StoreError;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub detail: String,
    /// The request field that was wrong (a body field, path or query parameter).
    pub field: Option<String>,
    pub extra: Option<Value>,
    /// Seconds, sent as `Retry-After` (busy answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
            field: None,
            extra: None,
            retry_after: None,
        }
    }

    /// 422: a value the request sent is not allowed; `field` names it.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", detail);
        e.field = Some(field.into());
        e
    }

    /// 400: a query parameter is not valid; `field` names it.
    pub fn bad_query(field: &str, detail: impl Into<String>) -> Self {
        let mut e = Self::bad_request("invalid_query", detail);
        e.field = Some(field.to_string());
        e
    }

    pub fn bad_request(error: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, detail)
    }

    pub fn not_found(id: i64) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no image {id} (it may have been retracted)"),
        )
    }

    /// 503 with `Retry-After`: the server is at capacity; nothing was changed.
    pub fn busy(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail);
        e.retry_after = Some(retry_after_secs);
        e
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// A failure of the file store: 503 with `Retry-After` when the store did not answer (an
    /// object store outage: nothing was stored, the client tries again), else internal.
    pub fn storage(e: std::io::Error) -> Self {
        if histoscore_app::s3::is_unavailable(&e) {
            tracing::warn!("file store unavailable: {e}");
            Self::busy(
                10,
                "the file store did not answer; nothing was stored: try again in a minute \
                 (if it lasts, tell the administrator that the object storage is down)",
            )
        } else {
            Self::internal(e)
        }
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
        if let (Some(field), Some(obj)) = (self.field, body.as_object_mut()) {
            obj.insert("field".into(), field.into());
        }
        if let (Some(Value::Object(extra)), Some(obj)) = (self.extra, body.as_object_mut()) {
            obj.extend(extra);
        }
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
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
            StoreError::Invalid { field, detail } => {
                let detail = format!("{field}: {detail}");
                Self::invalid(field, detail)
            }
            StoreError::Refused(detail) => Self::new(StatusCode::CONFLICT, "refused", detail),
            other => Self::internal(other),
        }
    }
}

/// The last word on every answer: an error that left the router without the JSON envelope
/// (an unknown route, a method the route does not take, a request that ran out of time) gets
/// one, so that clients handle every 4xx/5xx one way.
pub(crate) async fn envelope(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return res;
    }
    let (error, detail) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            format!("there is nothing at {path}; the API is listed at /docs"),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("{path} does not take {method}; the API is listed at /docs"),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "timeout",
            "the request took too long and was stopped; nothing more will happen to it, \
             try again"
                .to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "too_large",
            "the body is larger than this route accepts; nothing was changed".to_string(),
        ),
        other => (
            "error",
            format!(
                "the request failed: {}",
                other.canonical_reason().unwrap_or("unknown status")
            ),
        ),
    };
    let mut out = ApiError::new(status, error, detail).into_response();
    for name in [axum::http::header::RETRY_AFTER, axum::http::header::ALLOW] {
        if let Some(v) = res.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Store(e) => e.into(),
            AppError::Invalid { field, detail } => {
                Self::invalid(field, format!("{field}: {detail}"))
            }
            AppError::InvalidModel(detail) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_model", detail)
            }
            AppError::Failed(detail) => Self::internal(detail),
        }
    }
}
