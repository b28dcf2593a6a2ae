//! Accounts, sessions and failed-login records. Password hashing and token generation happen
//! in the caller (the server); the store keeps only hashes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{corrupt, now, parse_opt_ts, parse_ts, ts, Result, Role, Store, StoreError};

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    #[serde(skip)]
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

const USER_COLS: &str = "id, name, role, disabled, created_at";
/// [`USER_COLS`] of `users u` in a join.
pub(crate) const USER_COLS_U: &str = "u.id, u.name, u.role, u.disabled, u.created_at";

pub(crate) fn user_from_row(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: r.try_get::<String, _>("role")?.parse().map_err(corrupt)?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
    })
}

/// A user name: 1–64 characters of letters, digits, `.`, `_`, `-` (it appears in export
/// column names and the audit log).
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(StoreError::invalid(
            "name",
            "use 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    if name == crate::LOCAL_USER {
        return Err(StoreError::invalid(
            "name",
            "\"local\" is the single-user mode's name; choose another",
        ));
    }
    Ok(())
}

/// Where a login attempt stands among the failed ones before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    /// This attempt's row (a failure until the password is found right).
    pub id: i64,
    /// Failures of this name from this address.
    pub by_pair: i64,
    pub last_pair: Option<DateTime<Utc>>,
    /// Failures from this address, whatever the name.
    pub by_address: i64,
    pub last_address: Option<DateTime<Utc>>,
}

impl Store {
    /// Whether any account exists (then every request needs a login).
    pub async fn has_users(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Whether an enabled administrator exists.
    pub async fn has_active_admin(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// Creates an account. A taken name is `Refused`.
    pub async fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        check_user_name(name)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let taken = sqlx::query("SELECT COUNT(*) FROM users WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>(0)?
            > 0;
        if taken {
            tx.rollback().await?;
            return Err(StoreError::Refused(format!(
                "there is already an account named {name:?}"
            )));
        }
        sqlx::query(
            "INSERT INTO users (name, role, password_hash, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4)",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.user(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a new account vanished".into()))
    }

    /// The account with this name.
    pub async fn user(&self, name: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE name = $1");
        sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// The account and its password hash, for checking a login.
    pub async fn user_with_hash(&self, name: &str) -> Result<Option<(User, String)>> {
        let sql = format!("SELECT {USER_COLS}, password_hash FROM users WHERE name = $1");
        match sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(r) => Ok(Some((user_from_row(&r)?, r.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    /// Every account, by name.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY name");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// Changes an account. Demoting or disabling the last enabled administrator is `Refused`.
    /// Disabling an account or changing its password ends its sessions.
    pub async fn update_user(&self, name: &str, update: &UserUpdate) -> Result<User> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let sql = format!("SELECT {USER_COLS} FROM users WHERE name = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            return Err(StoreError::Refused(format!(
                "there is no account named {name:?}"
            )));
        };
        let user = user_from_row(&row)?;
        let role = update.role.unwrap_or(user.role);
        let disabled = update.disabled.unwrap_or(user.disabled);
        let was_admin = user.role == Role::Admin && !user.disabled;
        let stays_admin = role == Role::Admin && !disabled;
        if was_admin && !stays_admin {
            let admins: i64 = sqlx::query(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND name <> $1",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if admins == 0 {
                tx.rollback().await?;
                return Err(StoreError::Refused(format!(
                    "{name} is the last administrator; make another account admin first"
                )));
            }
        }
        sqlx::query(
            "UPDATE users SET role = $1, disabled = $2, updated_at = $3, \
             password_hash = COALESCE($4, password_hash) WHERE id = $5",
        )
        .bind(role.as_str())
        .bind(i64::from(disabled))
        .bind(&at)
        .bind(update.password_hash.as_deref())
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
        if disabled || update.password_hash.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.user(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an account vanished".into()))
    }

    /// Records a new session (only the token's hash is stored).
    pub async fn create_session(
        &self,
        token_hash: &str,
        user: &User,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        // Expired sessions are removed as new ones are made.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user.id)
        .bind(csrf_token)
        .bind(&at)
        .bind(ts(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The enabled account and CSRF token of an unexpired session.
    pub async fn session(&self, token_hash: &str) -> Result<Option<(User, String)>> {
        let sql = "SELECT u.id, u.name, u.role, u.disabled, u.created_at, s.csrf_token \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0";
        match sqlx::query(sql)
            .bind(token_hash)
            .bind(now())
            .fetch_optional(&self.pool)
            .await?
        {
            Some(r) => Ok(Some((user_from_row(&r)?, r.try_get("csrf_token")?))),
            None => Ok(None),
        }
    }

    /// Ends a session (logout).
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a login attempt before its password is checked (it counts as failed until
    /// [`Store::login_succeeded`] or [`Store::withdraw_login_attempt`]), and returns the
    /// failures since `since` that came before or beside it: attempts sent at once see each
    /// other, so at most a few of them are ever checked.
    pub async fn begin_login_attempt(
        &self,
        name: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<LoginAttempt> {
        let since = ts(since);
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < $1")
            .bind(&since)
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query(
            "INSERT INTO login_failures (name, address, at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(address)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        let pair = sqlx::query(
            "SELECT COUNT(*), MAX(at) FROM login_failures \
             WHERE name = $1 AND address = $2 AND at > $3 AND id <> $4",
        )
        .bind(name)
        .bind(address)
        .bind(&since)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let by_address = sqlx::query(
            "SELECT COUNT(*), MAX(at) FROM login_failures \
             WHERE address = $1 AND at > $2 AND id <> $3",
        )
        .bind(address)
        .bind(&since)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let (by_pair, last_pair) = (pair.try_get(0)?, parse_opt_ts(pair.try_get(1)?)?);
        let (by_address, last_address) = (
            by_address.try_get(0)?,
            parse_opt_ts(by_address.try_get(1)?)?,
        );
        Ok(LoginAttempt {
            id,
            by_pair,
            last_pair,
            by_address,
            last_address,
        })
    }

    /// The password was wrong: the failure counts from now (checking it took a while).
    pub async fn login_failed(&self, id: i64) -> Result<()> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE login_failures SET at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The attempt was refused before its password was checked: it does not count.
    pub async fn withdraw_login_attempt(&self, id: i64) -> Result<()> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The password was right: the failures of this name from this address are forgotten.
    pub async fn login_succeeded(&self, name: &str, address: &str) -> Result<()> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE name = $1 AND address = $2")
            .bind(name)
            .bind(address)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets every failed login of a user name (an administrator lifts the throttle).
    pub async fn clear_login_failures(&self, name: &str) -> Result<()> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM login_failures WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
