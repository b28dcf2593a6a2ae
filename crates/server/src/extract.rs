//! Extractors whose rejections answer in the one error envelope `{error, detail, field?}`
//! (axum's own answer in plain text). Handlers take [`Json`], [`Path`], [`Query`] from here,
//! never axum's, and read multipart bodies with [`multipart`].

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body: 400 when it is not JSON, 422 with `field` when it is JSON of the wrong shape,
/// 415 when it is declared as something else, 413 when it is over the route's limit.
pub struct Json<T>(pub T);

/// A JSON body that may be left out (then `T::default()`).
pub struct OptionalJson<T>(pub T);

/// Path parameters: 400 `invalid_path` with the parameter's name in `field`.
pub struct Path<T>(pub T);

/// Query parameters: 400 `invalid_query` with the parameter's name in `field`.
pub struct Query<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_json",
                "the request has no body; send a JSON object (see /docs for its fields)",
            ));
        }
        parse(&bytes).map(Json)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("the body is declared as {essence:?}; send JSON with Content-Type: application/json"),
            ));
        }
    }
    Bytes::from_request(req, state).await.map_err(body_error)
}

/// JSON of the expected shape, or the error naming the first wrong field.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if field == "." => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                inner.to_string(),
            ),
            serde_json::error::Category::Data => {
                let detail = format!("{field}: {inner}");
                ApiError::invalid(field, detail)
            }
            _ => ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON ({inner}); send a JSON object"),
            ),
        }
    })
}

fn body_error(e: BytesRejection) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "too_large",
            format!(
                "the body is larger than this route accepts ({} KB for JSON); nothing was changed",
                crate::MAX_JSON_BODY >> 10
            ),
        )
    } else {
        ApiError::bad_request(
            "invalid_body",
            format!("the body could not be read ({e}); send it again"),
        )
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                // The parameter's name: given for structs and maps, found by position or value
                // otherwise.
                let names: Vec<(String, String)> =
                    axum::extract::RawPathParams::from_request_parts(parts, state)
                        .await
                        .map(|p| {
                            p.iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect()
                        })
                        .unwrap_or_default();
                let (field, value, expected) = match e.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => (Some(key.clone()), value.clone(), *expected_type),
                    ErrorKind::ParseErrorAtIndex {
                        index,
                        value,
                        expected_type,
                    } => (
                        names.get(*index).map(|(k, _)| k.clone()),
                        value.clone(),
                        *expected_type,
                    ),
                    ErrorKind::ParseError {
                        value,
                        expected_type,
                    } => (
                        names
                            .iter()
                            .find(|(_, v)| v == value)
                            .map(|(k, _)| k.clone()),
                        value.clone(),
                        *expected_type,
                    ),
                    _ => (None, String::new(), ""),
                };
                let detail = if expected.is_empty() {
                    format!("the address is not valid ({})", e.body_text())
                } else {
                    format!(
                        "{}: {value:?} is not a valid {}; check the address",
                        field.as_deref().unwrap_or("a path parameter"),
                        friendly_type(expected)
                    )
                };
                let mut err = ApiError::bad_request("invalid_path", detail);
                err.field = field;
                Err(err)
            }
            Err(e) => Err(ApiError::bad_request(
                "invalid_path",
                format!("the address is not valid ({})", e.body_text()),
            )),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.inner().to_string();
                // A whole-query problem (a duplicate or missing parameter) names it in backticks.
                let field = if path == "." {
                    inner.split('`').nth(1).map(str::to_string)
                } else {
                    Some(path)
                };
                let detail = match &field {
                    Some(f) if !inner.contains('`') => {
                        format!("{f}: {inner}; check the query string")
                    }
                    _ => format!("{inner}; check the query string"),
                };
                let mut err = ApiError::bad_request("invalid_query", detail);
                err.field = field;
                err
            })
    }
}

/// A multipart body; a request that is not `multipart/form-data` gets 415 in the envelope.
pub async fn multipart<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<axum::extract::Multipart, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !declared.starts_with("multipart/form-data") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as multipart/form-data (a form with a `file` field)",
        ));
    }
    axum::extract::Multipart::from_request(req, state)
        .await
        .map_err(|e| {
            ApiError::new(
                e.status(),
                "invalid_multipart",
                format!("send the file as multipart/form-data ({})", e.body_text()),
            )
        })
}

fn friendly_type(rust: &str) -> &str {
    match rust {
        "i64" | "i32" | "u32" | "u64" | "usize" => "whole number",
        "f64" | "f32" => "number",
        "bool" => "true or false",
        _ => rust,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        scores: std::collections::BTreeMap<String, f64>,
    }

    #[test]
    fn wrong_shape_names_the_field() {
        let e = parse::<Body>(br#"{"name": "a", "scores": {"Fibrosis": "high"}}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.field.as_deref(), Some("scores.Fibrosis"));
        let e = parse::<Body>(br#"{"scores": {}}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.detail.contains("name"), "{}", e.detail);
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        let e = parse::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.error, "invalid_json");
    }
}
