//! Throw-away PostgreSQL databases, for tests and benchmarks that need an empty database of
//! their own beside whatever else the server holds.

use crate::Result;
use sqlx::{AnyConnection, Connection, Executor};
use std::sync::atomic::{AtomicU32, Ordering};

/// An empty database created on a PostgreSQL server; [`ScratchDatabase::drop_database`]
/// removes it (with its connections).
#[derive(Debug)]
pub struct ScratchDatabase {
    /// The URL that opens the new database.
    pub url: String,
    admin: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<pid>_<nanos>_<n>` on the server of `admin_url` (a URL of any
    /// database there that the user may create databases from). `prefix` must be a plain
    /// identifier.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        assert!(
            prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "scratch database prefix must be lower-case letters and underscores"
        );
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(admin_url).await?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let name = format!(
            "{prefix}_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let _ = conn.close().await;
        Ok(Self {
            url: with_database(admin_url, &name),
            admin: admin_url.to_string(),
            name,
        })
    }

    /// Drops the database, closing whatever connections are still open on it.
    pub async fn drop_database(self) -> Result<()> {
        let mut conn = AnyConnection::connect(&self.admin).await?;
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        let _ = conn.close().await;
        Ok(())
    }
}

/// `url` with its database name replaced by `db` (the query string kept).
pub fn with_database(url: &str, db: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    format!("{}/{}{}", &base[..host_end], db, query)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
