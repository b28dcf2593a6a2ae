//! The SQLite and PostgreSQL migrations must build the same database: the same tables, the
//! same columns (with the same nullability) and the same indexes.

#[allow(dead_code, unused_macros)]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use histoscore_store::{Backend, Store};
use sqlx::Row;

/// Indexes that only PostgreSQL has: SQLite has no equivalent (see migration 0008).
const POSTGRES_ONLY: [&str; 1] = ["images_search_trgm"];

/// Per table: its columns (name, nullable) and the indexes created on it.
type Shape = BTreeMap<String, (BTreeSet<(String, bool)>, BTreeSet<String>)>;

async fn names(store: &Store, sql: &str, bind: Option<&str>) -> Vec<sqlx::any::AnyRow> {
    let mut q = sqlx::query(sql);
    if let Some(b) = bind {
        q = q.bind(b.to_string());
    }
    q.fetch_all(store.pool()).await.expect(sql)
}

async fn shape(store: &Store) -> Shape {
    let sqlite = store.backend() == Backend::Sqlite;
    let tables_sql = if sqlite {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations'"
    } else {
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations'"
    };
    let mut out = Shape::new();
    for t in names(store, tables_sql, None).await {
        let table: String = t.get(0);
        let (cols_sql, idx_sql) = if sqlite {
            (
                "SELECT name, CAST(\"notnull\" = 0 AND pk = 0 AS INTEGER) FROM pragma_table_xinfo($1)",
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                 AND sql IS NOT NULL",
            )
        } else {
            (
                "SELECT CAST(column_name AS TEXT), CAST(CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS BIGINT) \
                 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
                // Indexes made by CREATE INDEX, not those behind PRIMARY KEY/UNIQUE constraints.
                "SELECT CAST(indexname AS TEXT) FROM pg_indexes i WHERE schemaname = 'public' \
                 AND tablename = $1 AND NOT EXISTS \
                 (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            )
        };
        let cols = names(store, cols_sql, Some(&table))
            .await
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1) != 0))
            .collect();
        let idx = names(store, idx_sql, Some(&table))
            .await
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        out.insert(table, (cols, idx));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_build_the_same_database() {
    let shapes: Arc<Mutex<Vec<Shape>>> = Arc::default();
    let s = shapes.clone();
    harness::run_sqlite(|db| async move {
        let shape = shape(&db.store).await;
        s.lock().unwrap().push(shape);
    })
    .await;
    let s = shapes.clone();
    harness::run_postgres(|db| async move {
        let shape = shape(&db.store).await;
        s.lock().unwrap().push(shape);
    })
    .await;
    let shapes = shapes.lock().unwrap();
    let (sqlite, postgres) = (&shapes[0], &shapes[1]);
    assert!(sqlite.len() >= 10, "{} tables", sqlite.len());
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "tables"
    );
    for (table, (cols, idx)) in sqlite {
        let (pg_cols, pg_idx) = &postgres[table];
        assert_eq!(cols, pg_cols, "columns (name, nullable) of {table}");
        let pg_idx: BTreeSet<String> = pg_idx
            .iter()
            .filter(|i| !POSTGRES_ONLY.contains(&i.as_str()))
            .cloned()
            .collect();
        assert_eq!(idx, &pg_idx, "indexes of {table}");
    }
    // The trigram index exists where pg_trgm is available (it is wherever these tests run).
    assert!(
        postgres["images"].1.contains("images_search_trgm"),
        "no trigram index for history search: is pg_trgm (PostgreSQL's contrib) installed?"
    );
}
