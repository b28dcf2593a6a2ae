//! Runs one test body against a fresh SQLite file and a fresh PostgreSQL database.
//!
//! PostgreSQL: `HISTOSCORE_TEST_POSTGRES` is the admin URL (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Each test creates its own database
//! `hs_test_<pid>_<nanos>_<n>` there and drops it afterwards (also when the test panics), so
//! tests run in parallel and repeatedly. If PostgreSQL is unreachable the PostgreSQL variants
//! FAIL: they never pass silently.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use histoscore_store::scratch::ScratchDatabase;
use histoscore_store::Store;

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

pub async fn run_postgres<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let admin = admin_url();
    let db = ScratchDatabase::create(&admin, "hs_test")
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin} ({e}); the PostgreSQL variants of the \
                 store tests need it: start it or set HISTOSCORE_TEST_POSTGRES to an admin URL"
            )
        });
    let url = db.url.clone();

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

    db.drop_database().await.expect("DROP DATABASE");
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
