//! Who is calling and what they may do.
//!
//! With no accounts the server is in single-user mode: every request acts as `local`, an
//! administrator (only allowed on a loopback address; `histoscore serve` refuses otherwise).
//! Once an account exists every route but the public ones needs a session cookie, and the
//! role it belongs to must be allowed by [`access`]. Requests that change something must
//! not come from another site's page (`Origin` / `Sec-Fetch-Site`), and with a session they
//! must carry the session's CSRF token in `X-CSRF-Token`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use histoscore_store::{Role, User};

use crate::{ApiError, AppState, LOCAL_USER};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "histoscore_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins of one name from one address, and from one address for any name, within
/// [`LOGIN_WINDOW`] before each further attempt must wait ([`login_delay`]). Nobody is ever
/// locked out: the right password works once the (short) wait is over, and from any other
/// address at once.
pub const FREE_FAILURES_PER_PAIR: i64 = 3;
pub const FREE_FAILURES_PER_ADDRESS: i64 = 30;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest wait between attempts.
pub const MAX_LOGIN_DELAY: Duration = Duration::from_secs(15 * 60);

/// The wait after `failures` failed logins when `free` are allowed without one: 1 s after the
/// first over, doubling with each further failure, at most [`MAX_LOGIN_DELAY`].
pub fn login_delay(failures: i64, free: i64) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = (failures - free).min(20) as u32;
    Duration::from_secs(1u64 << doublings).min(MAX_LOGIN_DELAY)
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a session (health, login, static assets, API description).
    Public,
    /// Anyone logged in, whatever the role.
    LoggedIn,
    /// This role or a higher one.
    Role(Role),
}

pub use crate::routes::access;

/// The user a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// The token state-changing requests of this session must send.
    pub csrf_token: String,
    /// Single-user mode (no accounts).
    pub single_user: bool,
    /// Authenticated by an API token (`Authorization: Bearer`): no cookie, so no CSRF token.
    pub via_token: bool,
}

impl Caller {
    pub fn may(&self, role: Role) -> bool {
        self.role.at_least(role)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("log in first"))
    }
}

/// Whether accounts exist, cached: once they do, they always will (the last administrator
/// cannot be removed), so only the "not yet" answer is re-checked, at most once a second.
#[derive(Debug)]
pub struct AccountsFlag {
    enabled: AtomicBool,
    checked: Mutex<Option<Instant>>,
    /// The CSRF token of single-user mode (per process).
    pub local_csrf: String,
}

impl Default for AccountsFlag {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(false),
            checked: Mutex::new(None),
            local_csrf: random_token(),
        }
    }
}

impl AccountsFlag {
    pub async fn enabled(&self, store: &histoscore_store::Store) -> Result<bool, ApiError> {
        if self.enabled.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let due = {
            let mut last = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due && store.has_users().await? {
            self.enabled.store(true, Ordering::Relaxed);
        }
        Ok(self.enabled.load(Ordering::Relaxed))
    }

    /// Called when this process creates an account.
    pub fn set_enabled(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    hex::encode(b)
}

pub use histoscore_app::passwords::token_hash;

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The session token sent with the request, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE).filter(|t| !t.is_empty())
}

/// The token of an `Authorization: Bearer …` header, if one is sent. Other schemes (e.g. a
/// proxy's Basic authentication) are not Histoscore's and are left alone.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("").trim();
    match v.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() {
                return Err(ApiError::unauthorized(
                    "the Authorization header says Bearer but carries no token: send \
                     `Authorization: Bearer <API token>`",
                ));
            }
            Ok(Some(token.to_string()))
        }
        _ => Ok(None),
    }
}

/// The `Set-Cookie` value of a new session (`token: None` clears the cookie). `https`: the
/// request came over HTTPS (as a trusted proxy says; see `security::client`).
pub fn session_cookie(s: &AppState, https: bool, token: Option<&str>) -> HeaderValue {
    let secure = if s.secure_cookies || https {
        "; Secure"
    } else {
        ""
    };
    let v = match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&v).expect("cookie text is ASCII")
}

/// Whether a state-changing request comes from another site's page.
fn cross_site(s: &AppState, headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser page (scripts, curl): nothing to forge.
        return false;
    };
    if s.cors_origins.iter().any(|o| o == origin) {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bare = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or(origin);
    bare != host
}

/// Identifies the caller, enforces [`access`] and CSRF rules. Runs after routing, so the
/// route's path template is known.
pub async fn guard(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    // A refused request's body is not read: the connection is closed after the answer, so
    // that a client does not send its next request on it while the rest of the body is still
    // on its way (which would cut that request off).
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    match check(&s, &mut req).await {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let mut res = e.into_response();
            if has_body {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        }
    }
}

async fn check(s: &AppState, req: &mut Request) -> Result<(), ApiError> {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let rule = access(req.method(), &path);
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && cross_site(s, req.headers()) {
        return Err(ApiError::forbidden(
            "requests that change data must come from Histoscore's own pages \
             (this one came from another site)",
        ));
    }
    let caller = if s.accounts.enabled(&s.store).await? {
        match bearer_token(req.headers())? {
            Some(token) => match s.store.token_user(&token_hash(&token)).await? {
                Some(user) => Some(Caller {
                    name: user.name,
                    role: user.role,
                    csrf_token: String::new(),
                    single_user: false,
                    via_token: true,
                }),
                None => {
                    return Err(ApiError::unauthorized(
                        "this API token is unknown, expired or revoked (or its account is \
                         disabled): create a new one on your account page or with \
                         `histoscore token create`",
                    ))
                }
            },
            None => match session_token(req.headers()) {
                Some(token) => s
                    .store
                    .session(&token_hash(&token))
                    .await?
                    .map(|(user, csrf)| Caller {
                        name: user.name,
                        role: user.role,
                        csrf_token: csrf,
                        single_user: false,
                        via_token: false,
                    }),
                None => None,
            },
        }
    } else {
        Some(Caller {
            name: LOCAL_USER.into(),
            role: Role::Admin,
            csrf_token: s.accounts.local_csrf.clone(),
            single_user: true,
            via_token: false,
        })
    };
    if let Some(c) = &caller {
        if changes && !c.single_user && !c.via_token && rule != Access::Public {
            let sent = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), c.csrf_token.as_bytes()) {
                return Err(ApiError::forbidden(
                    "missing or wrong X-CSRF-Token header: send the csrf_token from \
                     GET /api/session with every request that changes data",
                )
                .with(serde_json::json!({"reason": "csrf"})));
            }
        }
        req.extensions_mut().insert(c.clone());
    }
    match (rule, &caller) {
        (Access::Public, _) => Ok(()),
        (_, None) => Err(ApiError::unauthorized(
            "log in first (POST /api/login); your session may have expired",
        )),
        (Access::LoggedIn, Some(_)) => Ok(()),
        (Access::Role(r), Some(c)) if c.may(r) => Ok(()),
        (Access::Role(r), Some(c)) => Err(ApiError::forbidden(format!(
            "this needs the {r} role; {} is a {}",
            c.name, c.role
        ))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The public view of an account.
pub fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({"name": u.name, "role": u.role})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules() {
        assert_eq!(access(&Method::GET, "/healthz"), Access::Public);
        assert_eq!(access(&Method::POST, "/api/login"), Access::Public);
        assert_eq!(
            access(&Method::GET, "/api/images"),
            Access::Role(Role::Viewer)
        );
        assert_eq!(
            access(&Method::POST, "/api/images"),
            Access::Role(Role::Pathologist)
        );
        assert_eq!(
            access(&Method::POST, "/api/studies"),
            Access::Role(Role::Admin)
        );
        assert_eq!(
            access(&Method::POST, "/api/studies/{id}/images/{image_id}/read"),
            Access::Role(Role::Pathologist)
        );
        assert_eq!(
            access(&Method::GET, "/api/users"),
            Access::Role(Role::Admin)
        );
        assert_eq!(access(&Method::GET, "/unknown"), Access::Role(Role::Admin));
    }

    #[test]
    fn login_delays_grow_and_are_capped() {
        assert_eq!(login_delay(0, 3), Duration::ZERO);
        assert_eq!(login_delay(2, 3), Duration::ZERO);
        assert_eq!(login_delay(3, 3), Duration::from_secs(1));
        assert_eq!(login_delay(4, 3), Duration::from_secs(2));
        assert_eq!(login_delay(8, 3), Duration::from_secs(32));
        assert_eq!(login_delay(1000, 3), MAX_LOGIN_DELAY);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; histoscore_session=abc; b=2"),
        );
        assert_eq!(session_token(&h).as_deref(), Some("abc"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }
}
