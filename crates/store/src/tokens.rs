//! API tokens for scripts: an account's long-lived credential, sent as
//! `Authorization: Bearer …`. Only a hash is stored; a token acts as its account, with the
//! account's current role, until it expires or is revoked (or the account is disabled).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::accounts::{user_from_row, USER_COLS_U};
use crate::{now, parse_opt_ts, parse_ts, ts, Result, Store, StoreError, User};

/// An API token as lists show it (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    /// What it is for, e.g. "nightly export".
    pub name: String,
    /// The account it acts as.
    pub user: String,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "crate::records::millis::option")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::records::millis::option")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::records::millis::option")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The longest token name, in characters.
pub const MAX_TOKEN_NAME: usize = 100;
/// How often `last_used_at` is written at most (a script calling many times a second would
/// otherwise write on every request).
const LAST_USED_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

const TOKEN_COLS: &str = "t.id, t.name, u.name AS user_name, t.created_at, t.expires_at, \
     t.last_used_at, t.revoked_at";

fn token_from_row(r: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        user: r.try_get("user_name")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        expires_at: parse_opt_ts(r.try_get("expires_at")?)?,
        last_used_at: parse_opt_ts(r.try_get("last_used_at")?)?,
        revoked_at: parse_opt_ts(r.try_get("revoked_at")?)?,
    })
}

impl Store {
    /// Records a new token of account `user` (only its hash is stored).
    pub async fn create_token(
        &self,
        user: &str,
        name: &str,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApiToken> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME {
            return Err(StoreError::invalid(
                "name",
                format!(
                    "give the token a name of 1 to {MAX_TOKEN_NAME} characters (what it is for)"
                ),
            ));
        }
        let at = now();
        if let Some(e) = expires_at {
            if ts(e) <= at {
                return Err(StoreError::invalid("expires_at", "must be in the future"));
            }
        }
        let (_write, mut tx) = self.begin_write().await?;
        let uid: i64 = match sqlx::query("SELECT id FROM users WHERE name = $1")
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(r) => r.try_get(0)?,
            None => {
                tx.rollback().await?;
                return Err(StoreError::Refused(format!(
                    "there is no account named {user:?}"
                )));
            }
        };
        let id: i64 = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(uid)
        .bind(name)
        .bind(token_hash)
        .bind(&at)
        .bind(expires_at.map(ts))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        self.token(id).await
    }

    async fn token(&self, id: i64) -> Result<ApiToken> {
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1"
        );
        let r = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound { what: "token", id })?;
        token_from_row(&r)
    }

    /// The tokens of one account (`Some`) or of all (`None`), newest first, revoked ones
    /// included.
    pub async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>> {
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE ($1 = '' OR u.name = $1) ORDER BY t.id DESC"
        );
        sqlx::query(&sql)
            .bind(user.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    /// Revokes a token of account `user` (`None`: of any account). Revoking a revoked token
    /// returns it unchanged.
    pub async fn revoke_token(&self, id: i64, user: Option<&str>) -> Result<ApiToken> {
        let (_write, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 \
             AND ($3 = '' OR user_id = (SELECT id FROM users WHERE name = $3)) RETURNING id",
        )
        .bind(now())
        .bind(id)
        .bind(user.unwrap_or(""))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match done {
            Some(_) => self.token(id).await,
            None => Err(StoreError::NotFound { what: "token", id }),
        }
    }

    /// The enabled account a live token (not revoked, not expired) acts as; notes that the
    /// token was used.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<User>> {
        let at = now();
        let sql = format!(
            "SELECT t.id AS token_id, t.last_used_at, {USER_COLS_U} FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0"
        );
        let Some(r) = sqlx::query(&sql)
            .bind(token_hash)
            .bind(&at)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let user = user_from_row(&r)?;
        let last: Option<DateTime<Utc>> = parse_opt_ts(r.try_get("last_used_at")?)?;
        if last.is_none_or(|l| Utc::now() - l >= LAST_USED_RESOLUTION) {
            let id: i64 = r.try_get("token_id")?;
            let (_write, mut tx) = self.begin_write().await?;
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(&at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(Some(user))
    }
}
