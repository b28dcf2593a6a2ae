//! Runs one test body against a fresh SQLite file and a fresh PostgreSQL database.
//!
//! PostgreSQL: `HISTOSCORE_TEST_POSTGRES` is the admin URL (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Each test creates its own database
//! `hs_test_<pid>_<nanos>_<n>` there and drops it afterwards (also when the test panics), so
//! tests run in parallel and repeatedly. If PostgreSQL is unreachable the PostgreSQL variants
//! FAIL: they never pass silently.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::FutureExt;
use histoscore_store::Store;
use sqlx::{AnyConnection, Connection, Executor};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// What a test body gets: an open store and the URL it was opened with (to reopen it).
pub struct TestDb {
    pub store: Store,
    pub url: String,
}

pub async fn run_sqlite<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let store = Store::open(&url).await.expect("open SQLite store");
    body(TestDb { store, url }).await;
    drop(dir);
}

fn admin_url() -> String {
    std::env::var("HISTOSCORE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

/// The admin URL with its database name replaced.
fn with_database(admin: &str, db: &str) -> String {
    let scheme_end = admin.find("://").map(|i| i + 3).unwrap_or(0);
    let (base, query) = match admin.find('?') {
        Some(q) => (&admin[..q], &admin[q..]),
        None => (admin, ""),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    format!("{}/{}{}", &base[..host_end], db, query)
}

pub async fn run_postgres<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    sqlx::any::install_default_drivers();
    let admin = admin_url();
    let mut conn = AnyConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {admin} ({e}); the PostgreSQL variants of the store \
             tests need it: start it or set HISTOSCORE_TEST_POSTGRES to an admin URL"
        )
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "hs_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("CREATE DATABASE");
    let url = with_database(&admin, &name);

    let outcome = AssertUnwindSafe(async {
        let store = Store::open(&url).await.expect("open PostgreSQL store");
        let closer = store.clone();
        body(TestDb {
            store,
            url: url.clone(),
        })
        .await;
        closer.close().await;
    })
    .catch_unwind()
    .await;

    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .expect("DROP DATABASE");
    let _ = conn.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Declares each listed `async fn name(db: TestDb)` as two tests, `sqlite::name` and
/// `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::harness::run_sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::harness::run_postgres(super::$name).await
                }
            )*
        }
    };
}

#[test]
fn database_name_replacement() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
