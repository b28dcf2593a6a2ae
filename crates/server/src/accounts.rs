//! Session, login, logout, password change and user management.

use crate::extract::{Json, Path};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use histoscore_store::{Role, User, UserUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, Caller};
use crate::{ApiError, AppState};
use histoscore_app::passwords;

#[derive(Serialize, ToSchema)]
pub struct SessionUser {
    name: String,
    role: Role,
}

impl From<&User> for SessionUser {
    fn from(u: &User) -> Self {
        SessionUser {
            name: u.name.clone(),
            role: u.role,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// `single-user` (no accounts, no login) or `accounts`.
    mode: &'static str,
    /// The logged-in user; `null` when nobody is.
    user: Option<SessionUser>,
    /// Send it as `X-CSRF-Token` with every request that changes data.
    csrf_token: Option<String>,
}

/// Who is logged in, and the CSRF token to send with changes.
#[utoipa::path(get, path = "/api/session", tag = "accounts",
    responses((status = 200, body = SessionResponse)))]
pub async fn session(
    State(s): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
) -> Result<Json<SessionResponse>, ApiError> {
    let accounts = s.accounts.enabled(&s.store).await?;
    Ok(Json(match caller {
        Some(axum::Extension(c)) => SessionResponse {
            mode: if accounts { "accounts" } else { "single-user" },
            user: Some(SessionUser {
                name: c.name,
                role: c.role,
            }),
            csrf_token: Some(c.csrf_token),
        },
        None => SessionResponse {
            mode: if accounts { "accounts" } else { "single-user" },
            user: None,
            csrf_token: None,
        },
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    name: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    user: SessionUser,
    csrf_token: String,
}

/// A dummy hash to verify against when the user does not exist, so that a wrong name takes
/// as long as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| passwords::hash_password("not a real password").unwrap_or_default())
}

async fn start_session(
    s: &AppState,
    https: bool,
    user: &User,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let token = auth::random_token();
    let csrf = auth::random_token();
    let expires = chrono::Utc::now()
        + chrono::Duration::from_std(auth::SESSION_TTL).unwrap_or(chrono::Duration::hours(12));
    s.store
        .create_session(&auth::token_hash(&token), user, &csrf, expires)
        .await?;
    let mut res = (
        status,
        Json(LoginResponse {
            user: user.into(),
            csrf_token: csrf,
        }),
    )
        .into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        auth::session_cookie(s, https, Some(&token)),
    );
    Ok(res)
}

/// Log in with name and password: sets the session cookie and returns the CSRF token.
/// Too many failures for a name or from an address answer 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::ErrorBody),
              (status = 429, body = crate::ErrorBody)))]
pub async fn login(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let caller = crate::security::client_of(&s, req.extensions(), req.headers());
    let address = caller.ip.to_string();
    let bytes = axum::body::to_bytes(req.into_body(), 64 << 10)
        .await
        .map_err(|_| ApiError::bad_request("invalid_body", "the login body is too large"))?;
    let body: LoginBody = crate::extract::parse(&bytes)?;
    if !s.accounts.enabled(&s.store).await? {
        return Err(ApiError::bad_request(
            "single_user",
            "there are no accounts: this server runs in single-user mode without login",
        ));
    }
    let window_start = chrono::Utc::now()
        - chrono::Duration::from_std(auth::LOGIN_WINDOW).unwrap_or(chrono::Duration::minutes(15));
    // The attempt is counted before its password is checked, so attempts sent at once see
    // each other and only the first few are checked.
    let attempt = s
        .store
        .begin_login_attempt(&body.name, &address, window_start)
        .await?;
    // After the count: a concurrent attempt may have been recorded a moment ago.
    let now = chrono::Utc::now();
    let wait_until = |failures: i64, free: i64, last: Option<chrono::DateTime<chrono::Utc>>| {
        let delay = auth::login_delay(failures, free);
        if delay.is_zero() {
            return now; // within the free allowance: no wait at all
        }
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
        last.map_or(now, |t| t + delay)
    };
    let until = wait_until(
        attempt.by_pair,
        auth::FREE_FAILURES_PER_PAIR,
        attempt.last_pair,
    )
    .max(wait_until(
        attempt.by_address,
        auth::FREE_FAILURES_PER_ADDRESS,
        attempt.last_address,
    ));
    if until > now {
        s.store.withdraw_login_attempt(attempt.id).await?;
        let secs = ((until - now).num_milliseconds() as u64)
            .div_ceil(1000)
            .max(1);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "too many failed logins for this name from this computer; try again in {secs} \
                 second{} (an administrator can lift this: histoscore user unlock NAME)",
                if secs == 1 { "" } else { "s" }
            ),
        );
        e.retry_after = Some(secs);
        return Err(e);
    }
    let found = s.store.user_with_hash(&body.name).await?;
    let (user, hash) = match &found {
        Some((u, h)) => (Some(u.clone()), h.clone()),
        None => (None, dummy_hash().to_string()),
    };
    let ok = match verify_blocking(&s, body.password.clone(), hash).await {
        Ok(ok) => ok,
        Err(e) => {
            // Not checked (too many at once): not a failure.
            s.store.withdraw_login_attempt(attempt.id).await?;
            return Err(e);
        }
    };
    match user {
        Some(u) if ok && !u.disabled => {
            s.store.login_succeeded(&u.name, &address).await?;
            tracing::info!(user = %u.name, "login");
            start_session(&s, caller.https, &u, StatusCode::OK).await
        }
        _ => {
            s.store.login_failed(attempt.id).await?;
            tracing::warn!(user = %body.name, %address, "failed login");
            Err(ApiError::unauthorized(
                "wrong user name or password (or the account is disabled)",
            ))
        }
    }
}

/// End this session.
#[utoipa::path(post, path = "/api/logout", tag = "accounts",
    responses((status = 204, description = "Logged out")))]
pub async fn logout(State(s): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let https = crate::security::client_of(&s, req.extensions(), req.headers()).https;
    let headers = req.headers();
    if let Some(token) = auth::session_token(headers) {
        s.store.delete_session(&auth::token_hash(&token)).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, auth::session_cookie(&s, https, None));
    Ok(res)
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    current: String,
    new: String,
}

/// Change your own password. Other sessions of the account end; this one is renewed.
#[utoipa::path(post, path = "/api/account/password", tag = "accounts", request_body = PasswordBody,
    responses((status = 200, body = LoginResponse), (status = 403, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)))]
pub async fn change_password(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Json(body): Json<PasswordBody>,
) -> Result<Response, ApiError> {
    if caller.single_user {
        return Err(ApiError::bad_request(
            "single_user",
            "single-user mode has no password; create accounts with `histoscore user add`",
        ));
    }
    passwords::check_password(&body.new, &caller.name)?;
    let Some((user, hash)) = s.store.user_with_hash(&caller.name).await? else {
        return Err(ApiError::unauthorized("your account no longer exists"));
    };
    let ok = verify_blocking(&s, body.current.clone(), hash).await?;
    if !ok {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    let new_hash = hash_blocking(&s, body.new).await?;
    s.store
        .update_user(
            &user.name,
            &UserUpdate {
                password_hash: Some(new_hash),
                ..UserUpdate::default()
            },
        )
        .await?;
    let https = crate::security::client_of(&s, &extensions, &headers).https;
    start_session(&s, https, &user, StatusCode::OK).await
}

/// argon2 is deliberately slow: off the async threads.
/// Password hashes computed at once (each takes about 19 MB and tens of milliseconds), and
/// requests allowed to wait for one; more get 429 at once.
pub(crate) const HASH_SLOTS: usize = 2;
const HASH_WAITERS: usize = 16;

/// Runs a password hash computation in a bounded pool.
async fn hashing<T: Send + 'static>(
    s: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let busy = || {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "too many logins at once; try again in a second",
        );
        e.retry_after = Some(1);
        e
    };
    let n = s
        .hash_waiting
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _waiting = Waiting(&s.hash_waiting);
    if n >= HASH_SLOTS + HASH_WAITERS {
        return Err(busy());
    }
    let _permit = tokio::time::timeout(std::time::Duration::from_secs(5), s.hash_slots.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

async fn verify_blocking(s: &AppState, password: String, hash: String) -> Result<bool, ApiError> {
    hashing(s, move || passwords::verify_password(&password, &hash)).await
}

async fn hash_blocking(s: &AppState, password: String) -> Result<String, ApiError> {
    hashing(s, move || passwords::hash_password(&password))
        .await?
        .map_err(ApiError::internal)
}

/// Every account (administrators only).
#[utoipa::path(get, path = "/api/users", tag = "accounts",
    responses((status = 200, body = [User])))]
pub async fn list_users(State(s): State<AppState>) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(s.store.list_users().await?))
}

#[derive(Deserialize, ToSchema)]
pub struct NewUserBody {
    name: String,
    role: Role,
    password: String,
}

/// Create an account (administrators only).
#[utoipa::path(post, path = "/api/users", tag = "accounts", request_body = NewUserBody,
    responses((status = 201, body = User), (status = 409, body = crate::ErrorBody),
              (status = 422, body = crate::ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<NewUserBody>,
) -> Result<Response, ApiError> {
    histoscore_store::check_user_name(&body.name)?;
    passwords::check_password(&body.password, &body.name)?;
    let hash = hash_blocking(&s, body.password).await?;
    let user = s.store.create_user(&body.name, body.role, &hash).await?;
    s.accounts.set_enabled();
    tracing::info!(by = %caller.name, user = %user.name, role = %user.role, "account created");
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(default)]
pub struct UserPatchBody {
    role: Option<Role>,
    disabled: Option<bool>,
    /// A new password (ends the account's sessions).
    password: Option<String>,
}

/// Lift the wait that failed logins put on an account, from every address (administrators).
#[utoipa::path(post, path = "/api/users/{name}/unlock", tag = "accounts",
    params(("name" = String, Path, description = "User name")),
    responses((status = 204, description = "Failed logins forgotten"), (status = 404, body = crate::ErrorBody)))]
pub async fn unlock_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if s.store.user(&name).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no account named {name:?}"),
        ));
    }
    s.store.clear_login_failures(&name).await?;
    tracing::info!(by = %caller.name, user = %name, "failed logins cleared");
    Ok(StatusCode::NO_CONTENT)
}

/// Change an account's role, disable/enable it, or set a new password (administrators only).
/// The last enabled administrator cannot be demoted or disabled (409).
#[utoipa::path(patch, path = "/api/users/{name}", tag = "accounts", request_body = UserPatchBody,
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, body = User), (status = 409, body = crate::ErrorBody)))]
pub async fn patch_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(body): Json<UserPatchBody>,
) -> Result<Json<User>, ApiError> {
    let password_hash = match body.password {
        Some(p) => {
            passwords::check_password(&p, &name)?;
            Some(hash_blocking(&s, p).await?)
        }
        None => None,
    };
    let update = UserUpdate {
        role: body.role,
        disabled: body.disabled,
        password_hash,
    };
    let user = s
        .store
        .update_user(&name, &update)
        .await
        .map_err(|e| match e {
            histoscore_store::StoreError::Refused(d) if d.starts_with("there is no account") => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", d)
            }
            other => other.into(),
        })?;
    tracing::info!(by = %caller.name, user = %user.name, role = %user.role, disabled = user.disabled, "account changed");
    Ok(Json(user))
}

#[derive(Deserialize, ToSchema)]
pub struct NewTokenBody {
    /// What the token is for, e.g. "nightly export script".
    name: String,
    /// Days until it stops working (1–3650); omit for a token that works until revoked.
    expires_in_days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct NewTokenResponse {
    /// The token itself: shown this once, never again (only its hash is kept). Send it as
    /// `Authorization: Bearer <token>`.
    token: String,
    #[serde(flatten)]
    entry: histoscore_store::ApiToken,
}

fn tokens_need_accounts(caller: &Caller) -> Result<(), ApiError> {
    if caller.single_user {
        return Err(ApiError::bad_request(
            "no_accounts",
            "API tokens belong to accounts, and this server has none: without accounts every \
             request is allowed from this computer and needs no token",
        ));
    }
    Ok(())
}

/// Your API tokens (newest first, revoked ones included; never the tokens themselves).
#[utoipa::path(get, path = "/api/account/tokens", tag = "accounts",
    responses((status = 200, body = [histoscore_store::ApiToken]), (status = 400, body = crate::ErrorBody)))]
pub async fn list_tokens(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<histoscore_store::ApiToken>>, ApiError> {
    tokens_need_accounts(&caller)?;
    Ok(Json(s.store.list_tokens(Some(&caller.name)).await?))
}

/// Create an API token for scripts: it acts as your account, with your role, and is shown
/// once in this answer. Needs a login session (a token cannot make more tokens).
#[utoipa::path(post, path = "/api/account/tokens", tag = "accounts", request_body = NewTokenBody,
    responses((status = 201, body = NewTokenResponse), (status = 400, body = crate::ErrorBody),
              (status = 403, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<NewTokenBody>,
) -> Result<Response, ApiError> {
    tokens_need_accounts(&caller)?;
    if caller.via_token {
        return Err(ApiError::forbidden(
            "an API token cannot create tokens: log in and create it on your account page",
        ));
    }
    let expires = match body.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => {
            Some(chrono::Utc::now() + chrono::Duration::days(i64::from(d)))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "expires_in_days",
                "expires_in_days must be between 1 and 3650 (or left out for no expiry)",
            ))
        }
    };
    let token = passwords::new_api_token();
    let entry = s
        .store
        .create_token(&caller.name, &body.name, &auth::token_hash(&token), expires)
        .await?;
    tracing::info!(user = %caller.name, token_id = entry.id, "API token created");
    Ok((StatusCode::CREATED, Json(NewTokenResponse { token, entry })).into_response())
}

/// Revoke one of your API tokens: it stops working at once.
#[utoipa::path(delete, path = "/api/account/tokens/{id}", tag = "accounts",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 200, body = histoscore_store::ApiToken), (status = 404, body = crate::ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<histoscore_store::ApiToken>, ApiError> {
    tokens_need_accounts(&caller)?;
    let t = s.store.revoke_token(id, Some(&caller.name)).await?;
    tracing::info!(user = %caller.name, token_id = id, "API token revoked");
    Ok(Json(t))
}
