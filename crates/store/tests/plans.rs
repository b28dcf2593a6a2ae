//! The history's hot queries use indexes on a database of 100 000 realistic records, on both
//! backends (where the planner chooses by size: statistics gathered with ANALYZE).

#[allow(dead_code)]
mod harness;

use harness::TestDb;
use histoscore_domain::Schema;
use histoscore_store::{Backend, ListQuery, QueryPlan, SortField};

const RECORDS: usize = 100_000;

/// Whether the plan reads through an index.
fn uses_index(backend: Backend, plan: &str) -> bool {
    match backend {
        Backend::Sqlite => [
            "USING INDEX",
            "USING COVERING INDEX",
            "USING INTEGER PRIMARY KEY",
            "USING PRIMARY KEY",
        ]
        .iter()
        .any(|s| plan.contains(s)),
        Backend::Postgres => ["Index Scan", "Index Only Scan", "Bitmap Index Scan"]
            .iter()
            .any(|s| plan.contains(s)),
    }
}

/// Whether the plan reads a whole table row by row.
fn scans_a_table(backend: Backend, plan: &str) -> bool {
    plan.lines().any(|l| match backend {
        Backend::Sqlite => {
            let l = l.trim();
            l.starts_with("SCAN ") && !l.contains("USING") && !l.contains("CONSTANT ROW")
        }
        Backend::Postgres => l.contains("Seq Scan"),
    })
}

async fn plans_for(db: &TestDb, q: &ListQuery) -> Vec<QueryPlan> {
    let s = &db.store;
    let (page, _) = s.list_images(q).await.unwrap();
    assert!(!page.is_empty(), "the page of {q:?} is empty");
    let ids: Vec<i64> = page.iter().map(|r| r.id).collect();
    let mut groups: Vec<Option<String>> = page.iter().map(|r| r.group_name.clone()).collect();
    groups.sort();
    groups.dedup();
    let schema = Schema::default();
    s.history_query_plans(q, &ids, &groups, &schema.metric_names())
        .await
        .unwrap()
}

fn check(backend: Backend, what: &str, plans: &[QueryPlan], indexed: &[&str]) {
    for p in plans.iter().filter(|p| indexed.contains(&p.query)) {
        assert!(
            uses_index(backend, &p.plan) && !scans_a_table(backend, &p.plan),
            "{what}: {} reads a whole table instead of an index:\n{}",
            p.query,
            p.plan
        );
    }
}

async fn history_queries_use_indexes(db: TestDb) {
    let s = &db.store;
    s.insert_synthetic_images(RECORDS, &Schema::default(), "dr.bench")
        .await
        .unwrap();
    s.analyze().await.unwrap();
    let backend = s.backend();
    let per_page = ["group_summary", "page_scores", "page_drafts"];

    // The first page, newest first: the page's scores, drafts and group summaries.
    let newest = ListQuery {
        dir: histoscore_store::SortDir::Desc,
        limit: 50,
        ..Default::default()
    };
    check(
        backend,
        "newest first",
        &plans_for(&db, &newest).await,
        &per_page,
    );

    // One group, sorted by file name: everything through the group's index.
    let group = ListQuery {
        group: Some("S-0500".into()),
        sort: SortField::Filename,
        limit: 50,
        ..Default::default()
    };
    let mut all = per_page.to_vec();
    all.extend(["count", "page"]);
    check(backend, "one group", &plans_for(&db, &group).await, &all);

    // A search: the count goes through the trigram index on PostgreSQL, and reads the
    // one-column search text through the covering index on SQLite (no B-tree can seek a
    // substring); the page's other queries are indexed.
    let search = ListQuery {
        search: Some("image017".into()),
        limit: 50,
        ..Default::default()
    };
    let plans = plans_for(&db, &search).await;
    check(backend, "search", &plans, &per_page);
    check(backend, "search", &plans, &["count"]);
}

on_both_backends!(history_queries_use_indexes);
