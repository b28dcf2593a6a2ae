//! The store's contract, run against SQLite and PostgreSQL alike (see `harness`).

mod harness;

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use harness::TestDb;
use histoscore_domain::comparison::EvalRule;
use histoscore_domain::{Schema, Scores};
use histoscore_store::*;
use indexmap::IndexMap;

on_both_backends!(
    a_study_keeps_the_draft_it_was_made_with,
    retraining_policy_sets_and_runs,
    pixel_sizes_present_and_absent_alternate,
    open_health_integrity,
    insert_get_find,
    insert_rejects_bad_input,
    claim_complete_sets_draft_and_scores,
    update_scores_writes_and_audits,
    invalid_updates_change_nothing,
    stale_version_conflicts_with_current,
    concurrent_updates_exactly_one_wins,
    audit_log_and_drafts_refuse_update_delete,
    job_claim_is_exclusive_under_concurrency,
    stale_lease_is_requeued,
    fail_job_marks_image_failed,
    soft_delete_hides_and_restore_returns,
    list_search_filter_sort_paginate,
    group_summary_means,
    export_pages_through_everything,
    data_survives_reopen,
    slide_fields_are_kept_per_model_with_progress,
    files_registered_in_place_keep_their_path_size_and_time,
);

const LEASE: Duration = Duration::from_secs(300);

fn sha(n: u64) -> String {
    format!("{n:064x}")
}

fn new_image(name: &str, group: Option<&str>, n: u64) -> NewImage {
    NewImage {
        filename: name.to_string(),
        serial: Some(format!("S{n:03}")),
        group_name: group.map(str::to_string),
        image_number: Some(n as i64),
        sha256: sha(n),
        size_bytes: 1000 + n as i64,
        width: Some(640),
        height: Some(480),
        format: Some("tiff".into()),
        storage_key: Some(format!("blobs/{}", sha(n))),
        slide: None,
        source: None,
        pixel_size_um: None,
    }
}

fn scores(pairs: &[(&str, f64)]) -> Scores {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn draft(model: &str, values: [f64; 4]) -> NewDraft {
    let schema = Schema::default();
    let rounded: Scores = schema
        .metric_names()
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let raw: IndexMap<String, f64> = schema
        .metrics
        .iter()
        .zip(values)
        .map(|(m, v)| (m.name.clone(), v / m.max))
        .collect();
    NewDraft {
        model_id: model.to_string(),
        model_demo: false,
        raw_outputs: raw,
        rounded,
        uncertainty: None,
    }
}

/// Inserts an image and runs its job to completion with `values` as the AI draft.
async fn scored_image(
    store: &Store,
    name: &str,
    group: Option<&str>,
    n: u64,
    values: [f64; 4],
) -> ImageRecord {
    let img = store
        .insert_image(&new_image(name, group, n), "tester")
        .await
        .unwrap();
    let job = store.claim_job("w", LEASE).await.unwrap().expect("a job");
    assert_eq!(job.image_id, Some(img.id));
    store
        .complete_job(job.id, "w", &draft("resnet-v1", values))
        .await
        .unwrap()
}

/// The default schema's metrics, for group summaries.
const METRICS: [&str; 4] = [
    "Pancreatic Architecture",
    "Glandular Atrophy",
    "Pseudotubular Complexes",
    "Fibrosis",
];

fn update(version: i64, changes: Scores) -> ScoreUpdate {
    ScoreUpdate {
        expected_version: version,
        changes,
        reviewed: None,
        reason: None,
        actor: "dr.a".into(),
        study_id: None,
    }
}

async fn open_health_integrity(db: TestDb) {
    let s = &db.store;
    s.health_check().await.unwrap();
    assert!(s.integrity_check().await.unwrap().is_empty());
    let expected = if db.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(s.backend_name(), expected);
    assert_eq!(s.queue_depth().await.unwrap(), QueueDepth::default());
    // Opening again runs no migration twice.
    let again = Store::open(&db.url).await.unwrap();
    again.health_check().await.unwrap();
    again.close().await;
}

async fn insert_get_find(db: TestDb) {
    let s = &db.store;
    let before = Utc::now();
    let a = s
        .insert_image(&new_image("a.tif", Some("g1"), 1), "tester")
        .await
        .unwrap();
    assert_eq!(a.filename, "a.tif");
    assert_eq!(a.serial.as_deref(), Some("S001"));
    assert_eq!(a.group_name.as_deref(), Some("g1"));
    assert_eq!(a.image_number, Some(1));
    assert_eq!(a.sha256, sha(1));
    assert_eq!(a.size_bytes, 1001);
    assert_eq!((a.width, a.height), (Some(640), Some(480)));
    assert_eq!(a.status, ImageStatus::Queued);
    assert_eq!(a.review_status, ReviewStatus::Unreviewed);
    assert_eq!(a.version, 1);
    assert_eq!(a.updated_by, "tester");
    assert!(a.created_at >= before - chrono::Duration::seconds(1));
    assert!(a.draft.is_none() && a.scores.is_empty() && a.deleted_at.is_none());
    assert_eq!(s.get_image(a.id).await.unwrap(), a);
    // The job was enqueued in the same transaction.
    assert_eq!(
        s.queue_depth().await.unwrap(),
        QueueDepth {
            queued: 1,
            running: 0
        }
    );

    let b = s
        .insert_image(&new_image("b.tif", None, 2), "tester")
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(s.find_by_sha256(&sha(2)).await.unwrap().unwrap().id, b.id);
    assert_eq!(
        s.find_by_sha256(&sha(2).to_uppercase())
            .await
            .unwrap()
            .unwrap()
            .id,
        b.id
    );
    assert!(s.find_by_sha256(&sha(3)).await.unwrap().is_none());
    assert_eq!(s.find_by_filename("a.tif").await.unwrap().unwrap().id, a.id);
    assert!(s.find_by_filename("A.TIF").await.unwrap().is_none());
    // Same file name again: the newest upload is the one found.
    let a2 = s
        .insert_image(&new_image("a.tif", None, 3), "tester")
        .await
        .unwrap();
    assert_eq!(
        s.find_by_filename("a.tif").await.unwrap().unwrap().id,
        a2.id
    );
    // Same content again: the first upload is the one found.
    let mut dup = new_image("copy.tif", None, 1);
    dup.serial = None;
    s.insert_image(&dup, "tester").await.unwrap();
    assert_eq!(s.find_by_sha256(&sha(1)).await.unwrap().unwrap().id, a.id);

    assert!(matches!(
        s.get_image(9_999).await,
        Err(StoreError::NotFound {
            what: "image",
            id: 9_999
        })
    ));
    let audit = s.audit_for_image(a.id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action.as_str(), "create");
    assert_eq!(audit[0].actor, "tester");
    assert_eq!(audit[0].new_value.as_deref(), Some("a.tif"));
}

async fn insert_rejects_bad_input(db: TestDb) {
    let s = &db.store;
    let field = |r: Result<ImageRecord>| match r {
        Err(StoreError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    let mut bad = new_image("x.tif", None, 1);
    bad.sha256 = "abc".into();
    assert_eq!(field(s.insert_image(&bad, "t").await), "sha256");
    let mut bad = new_image(" ", None, 1);
    bad.filename = " ".into();
    assert_eq!(field(s.insert_image(&bad, "t").await), "filename");
    assert_eq!(
        field(s.insert_image(&new_image("x", None, 1), "").await),
        "actor"
    );
    assert_eq!(s.queue_depth().await.unwrap().queued, 0);
    let (list, total) = s.list_images(&ListQuery::default()).await.unwrap();
    assert!(list.is_empty() && total == 0);
}

async fn claim_complete_sets_draft_and_scores(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    let img = s
        .insert_image(&new_image("a.tif", None, 1), "tester")
        .await
        .unwrap();
    let job = s.claim_job("worker-1", LEASE).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.locked_by.as_deref(), Some("worker-1"));
    assert!(job.heartbeat.is_some());
    assert_eq!(
        s.queue_depth().await.unwrap(),
        QueueDepth {
            queued: 0,
            running: 1
        }
    );
    let scoring = s.get_image(img.id).await.unwrap();
    assert_eq!(scoring.status, ImageStatus::Scoring);
    assert!(scoring.version > img.version);
    assert!(s.claim_job("worker-2", LEASE).await.unwrap().is_none());
    assert!(s.heartbeat(job.id, "worker-1").await.unwrap());
    assert!(!s.heartbeat(job.id, "worker-2").await.unwrap());

    let mut d = draft("resnet-v1", [2.5, 1.0, 0.0, 3.75]);
    d.raw_outputs.insert("Fibrosis".into(), f64::NAN);
    // Someone else's job result is refused.
    assert!(matches!(
        s.complete_job(job.id, "worker-2", &d).await,
        Err(StoreError::JobNotHeld { .. })
    ));
    let done = s.complete_job(job.id, "worker-1", &d).await.unwrap();
    assert_eq!(done.status, ImageStatus::Scored);
    assert!(done.version > scoring.version);
    assert_eq!(done.updated_by, "model:resnet-v1");
    let dr = done.draft.as_ref().unwrap();
    assert_eq!(dr.model_id, "resnet-v1");
    assert!(!dr.model_demo);
    assert_eq!(dr.rounded, d.rounded);
    assert_eq!(
        dr.rounded.keys().collect::<Vec<_>>(),
        schema.metric_names().iter().collect::<Vec<_>>(),
        "draft keeps schema order"
    );
    assert_eq!(dr.raw_outputs["Glandular Atrophy"], 1.0 / 3.0);
    assert!(dr.raw_outputs["Fibrosis"].is_nan());
    assert_eq!(done.scores.len(), 4);
    assert_eq!(done.scores["Pancreatic Architecture"], 2.5);
    assert_eq!(done.scores_in_schema_order(&schema), d.rounded);
    assert_eq!(s.queue_depth().await.unwrap(), QueueDepth::default());
    // Finished: no second completion, no heartbeat.
    assert!(matches!(
        s.complete_job(job.id, "worker-1", &d).await,
        Err(StoreError::JobNotHeld { .. })
    ));
    assert!(!s.heartbeat(job.id, "worker-1").await.unwrap());

    let audit = s.audit_for_image(img.id).await.unwrap();
    let ai: Vec<_> = audit
        .iter()
        .filter(|a| a.action.as_str() == "ai_score")
        .collect();
    assert_eq!(ai.len(), 4);
    assert!(ai
        .iter()
        .all(|a| a.actor == "model:resnet-v1" && a.old_value.is_none()));
    let arch = ai
        .iter()
        .find(|a| a.field.as_deref() == Some("Pancreatic Architecture"))
        .unwrap();
    assert_eq!(arch.new_value.as_deref(), Some("2.5"));
    assert!(audit.iter().any(|a| a.action.as_str() == "scored"));
    // Filter by model.
    let q = ListQuery {
        model_id: Some("resnet-v1".into()),
        ..Default::default()
    };
    assert_eq!(s.list_images(&q).await.unwrap().1, 1);
    let q = ListQuery {
        model_id: Some("other".into()),
        ..Default::default()
    };
    assert_eq!(s.list_images(&q).await.unwrap().1, 0);
}

async fn update_scores_writes_and_audits(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    let img = scored_image(s, "a.tif", None, 1, [2.0, 1.0, 1.0, 3.0]).await;
    let mut u = update(
        img.version,
        scores(&[("Fibrosis", 2.5), ("Glandular Atrophy", 1.0)]),
    );
    u.reviewed = Some(true);
    u.reason = Some("fibrosis overestimated".into());
    let after = s.update_scores(img.id, &u, &schema).await.unwrap();
    assert_eq!(after.version, img.version + 1);
    assert_eq!(after.scores["Fibrosis"], 2.5);
    assert_eq!(after.scores["Glandular Atrophy"], 1.0);
    assert_eq!(after.scores["Pancreatic Architecture"], 2.0);
    assert_eq!(after.review_status, ReviewStatus::Reviewed);
    assert_eq!(after.updated_by, "dr.a");
    // The draft is untouched by human changes.
    assert_eq!(after.draft.as_ref().unwrap().rounded["Fibrosis"], 3.0);
    // The record returned is the record stored.
    assert_eq!(after, s.get_image(img.id).await.unwrap());

    let audit = s.audit_for_image(img.id).await.unwrap();
    let human: Vec<_> = audit.iter().filter(|a| a.actor == "dr.a").collect();
    assert_eq!(human.len(), 2, "one row per changed field: {human:?}");
    let fib = human.iter().find(|a| a.action.as_str() == "score").unwrap();
    assert_eq!(fib.field.as_deref(), Some("Fibrosis"));
    assert_eq!(fib.old_value.as_deref(), Some("3"));
    assert_eq!(fib.new_value.as_deref(), Some("2.5"));
    assert_eq!(fib.reason.as_deref(), Some("fibrosis overestimated"));
    let rev = human
        .iter()
        .find(|a| a.action.as_str() == "review")
        .unwrap();
    assert_eq!(rev.old_value.as_deref(), Some("unreviewed"));
    assert_eq!(rev.new_value.as_deref(), Some("reviewed"));
    // Audit ids only grow.
    assert!(audit.windows(2).all(|w| w[0].id < w[1].id));

    // A reviewed image keeps its human scores when a model scores it again later.
    let queued = s.enqueue_rescore(img.id, "dr.a").await.unwrap();
    assert_eq!(queued.status, ImageStatus::Queued);
    let job = s.claim_job("w", LEASE).await.unwrap().unwrap();
    let again = s
        .complete_job(job.id, "w", &draft("resnet-v2", [0.0, 0.0, 0.0, 0.0]))
        .await
        .unwrap();
    assert_eq!(again.scores, after.scores);
    assert_eq!(again.draft.as_ref().unwrap().model_id, "resnet-v2");
    assert_eq!(again.review_status, ReviewStatus::Reviewed);
    let unreview = update(s.get_image(img.id).await.unwrap().version, Scores::new());
    let unreviewed = s
        .update_scores(
            img.id,
            &ScoreUpdate {
                reviewed: Some(false),
                ..unreview
            },
            &schema,
        )
        .await
        .unwrap();
    assert_eq!(unreviewed.review_status, ReviewStatus::Unreviewed);
    assert_eq!(unreviewed, s.get_image(img.id).await.unwrap());
}

async fn invalid_updates_change_nothing(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    let img = scored_image(s, "a.tif", None, 1, [2.0, 1.0, 1.0, 3.0]).await;
    let audit_before = s.audit_for_image(img.id).await.unwrap();
    let cases: Vec<(Scores, &str)> = vec![
        (scores(&[("Fibrosis", 4.25)]), "Fibrosis"),
        (scores(&[("Fibrosis", -0.25)]), "Fibrosis"),
        (scores(&[("Glandular Atrophy", 1.1)]), "Glandular Atrophy"),
        (scores(&[("Steatosis", 1.0)]), "Steatosis"),
        (scores(&[("Fibrosis", f64::NAN)]), "Fibrosis"),
        (scores(&[("Fibrosis", f64::INFINITY)]), "Fibrosis"),
        // A valid change next to an invalid one is not written either.
        (
            scores(&[("Glandular Atrophy", 2.0), ("Fibrosis", 9.0)]),
            "Fibrosis",
        ),
    ];
    for (changes, bad) in cases {
        match s
            .update_scores(img.id, &update(img.version, changes), &schema)
            .await
        {
            Err(StoreError::Invalid { field, detail }) => {
                assert_eq!(field, bad);
                assert!(!detail.is_empty());
            }
            other => panic!("expected Invalid for {bad}, got {other:?}"),
        }
    }
    let mut no_actor = update(img.version, scores(&[("Fibrosis", 1.0)]));
    no_actor.actor = String::new();
    assert!(matches!(
        s.update_scores(img.id, &no_actor, &schema).await,
        Err(StoreError::Invalid { field, .. }) if field == "actor"
    ));
    assert_eq!(s.get_image(img.id).await.unwrap(), img);
    assert_eq!(s.audit_for_image(img.id).await.unwrap(), audit_before);
    assert!(matches!(
        s.update_scores(12_345, &update(1, Scores::new()), &schema)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn stale_version_conflicts_with_current(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    let img = scored_image(s, "a.tif", None, 1, [2.0, 1.0, 1.0, 3.0]).await;
    let first = s
        .update_scores(
            img.id,
            &update(img.version, scores(&[("Fibrosis", 1.0)])),
            &schema,
        )
        .await
        .unwrap();
    let audit_len = s.audit_for_image(img.id).await.unwrap().len();
    match s
        .update_scores(
            img.id,
            &update(img.version, scores(&[("Fibrosis", 2.0)])),
            &schema,
        )
        .await
    {
        Err(StoreError::Conflict { current }) => {
            assert_eq!(*current, first);
            assert_eq!(current.scores["Fibrosis"], 1.0);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(s.get_image(img.id).await.unwrap(), first);
    assert_eq!(s.audit_for_image(img.id).await.unwrap().len(), audit_len);
    // With the current version it goes through.
    let second = s
        .update_scores(
            img.id,
            &update(first.version, scores(&[("Fibrosis", 2.0)])),
            &schema,
        )
        .await
        .unwrap();
    assert_eq!(second.scores["Fibrosis"], 2.0);
}

async fn concurrent_updates_exactly_one_wins(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    let img = scored_image(s, "a.tif", None, 1, [2.0, 1.0, 1.0, 3.0]).await;
    let mut tasks = Vec::new();
    for i in 0..8u32 {
        let store = s.clone();
        let schema = schema.clone();
        let mut u = update(img.version, scores(&[("Fibrosis", f64::from(i % 4))]));
        u.actor = format!("reader-{i}");
        tasks.push(tokio::spawn(async move {
            store.update_scores(img.id, &u, &schema).await
        }));
    }
    let mut wins = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(rec) => wins.push(rec),
            Err(StoreError::Conflict { current }) => {
                assert!(current.version > img.version);
                conflicts += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one concurrent update wins");
    assert_eq!(conflicts, 7);
    let now = s.get_image(img.id).await.unwrap();
    assert_eq!(now.version, img.version + 1);
    assert_eq!(now, wins[0]);
    let humans = s
        .audit_for_image(img.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.actor.starts_with("reader-"))
        .count();
    assert!(humans <= 1);
}

async fn audit_log_and_drafts_refuse_update_delete(db: TestDb) {
    let s = &db.store;
    let img = scored_image(s, "a.tif", None, 1, [2.0, 1.0, 1.0, 3.0]).await;
    let before = s.audit_for_image(img.id).await.unwrap();
    assert!(!before.is_empty());
    let pool = s.pool();
    for sql in [
        "UPDATE audit_log SET actor = 'mallory'",
        "UPDATE audit_log SET new_value = '0' WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = 1",
        "UPDATE drafts SET model_id = 'forged'",
    ] {
        let r = sqlx::query(sql).execute(pool).await;
        assert!(r.is_err(), "the database must refuse {sql:?}");
    }
    assert_eq!(s.audit_for_image(img.id).await.unwrap(), before);
    assert_eq!(s.get_image(img.id).await.unwrap().draft, img.draft);
}

async fn job_claim_is_exclusive_under_concurrency(db: TestDb) {
    let s = &db.store;
    const N: u64 = 24;
    for n in 0..N {
        s.insert_image(&new_image(&format!("{n}.tif"), None, n), "t")
            .await
            .unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..6 {
        let store = s.clone();
        workers.push(tokio::spawn(async move {
            let me = format!("worker-{w}");
            let mut got = Vec::new();
            while let Some(job) = store.claim_job(&me, LEASE).await.unwrap() {
                assert_eq!(job.locked_by.as_deref(), Some(me.as_str()));
                got.push((job.id, job.image_id.unwrap()));
                tokio::task::yield_now().await;
            }
            got
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let jobs: HashSet<i64> = all.iter().map(|(j, _)| *j).collect();
    let images: HashSet<i64> = all.iter().map(|(_, i)| *i).collect();
    assert_eq!(all.len() as u64, N, "every job claimed exactly once");
    assert_eq!(jobs.len() as u64, N, "no job handed to two claimers");
    assert_eq!(images.len() as u64, N);
    assert_eq!(
        s.queue_depth().await.unwrap(),
        QueueDepth {
            queued: 0,
            running: N as i64
        }
    );
}

async fn stale_lease_is_requeued(db: TestDb) {
    let s = &db.store;
    let img = s
        .insert_image(&new_image("a.tif", None, 1), "t")
        .await
        .unwrap();
    let job = s.claim_job("dead-worker", LEASE).await.unwrap().unwrap();
    // A live lease is not requeued.
    assert_eq!(s.requeue_stale(LEASE).await.unwrap(), 0);
    assert!(s.claim_job("w2", LEASE).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(20)).await;
    // "kill -9": no heartbeat for longer than the lease.
    assert_eq!(s.requeue_stale(Duration::from_millis(10)).await.unwrap(), 1);
    assert_eq!(
        s.get_image(img.id).await.unwrap().status,
        ImageStatus::Queued
    );
    assert_eq!(
        s.queue_depth().await.unwrap(),
        QueueDepth {
            queued: 1,
            running: 0
        }
    );
    assert!(!s.heartbeat(job.id, "dead-worker").await.unwrap());
    let again = s.claim_job("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(again.attempts, 2);
    // The dead worker's late result is refused; the new holder's is taken.
    let d = draft("m", [1.0, 1.0, 1.0, 1.0]);
    assert!(matches!(
        s.complete_job(job.id, "dead-worker", &d).await,
        Err(StoreError::JobNotHeld { .. })
    ));

    // claim_job itself reclaims stale jobs (lease passed to the claimer).
    tokio::time::sleep(Duration::from_millis(20)).await;
    let third = s
        .claim_job("w3", Duration::from_millis(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((third.id, third.attempts), (job.id, 3));
    // After MAX_ATTEMPTS lost leases the job fails instead of looping forever.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(s.requeue_stale(Duration::from_millis(10)).await.unwrap(), 1);
    let failed = s.get_image(img.id).await.unwrap();
    assert_eq!(failed.status, ImageStatus::Failed);
    assert!(failed.error.unwrap().contains("stopped responding"));
    assert!(s.claim_job("w4", LEASE).await.unwrap().is_none());
    assert_eq!(s.queue_depth().await.unwrap(), QueueDepth::default());
}

async fn fail_job_marks_image_failed(db: TestDb) {
    let s = &db.store;
    let img = s
        .insert_image(&new_image("a.tif", None, 1), "t")
        .await
        .unwrap();
    let job = s.claim_job("w", LEASE).await.unwrap().unwrap();
    assert!(matches!(
        s.fail_job(job.id, "other", "x").await,
        Err(StoreError::JobNotHeld { .. })
    ));
    let rec = s.fail_job(job.id, "w", "cannot decode TIFF").await.unwrap();
    assert_eq!(rec.status, ImageStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("cannot decode TIFF"));
    assert!(rec.version > img.version);
    let audit = s.audit_for_image(img.id).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.action.as_str(), "failed");
    assert_eq!(last.actor, "worker:w");
    assert_eq!(last.old_value.as_deref(), Some("scoring"));
    assert_eq!(last.reason.as_deref(), Some("cannot decode TIFF"));
    let q = ListQuery {
        status: Some(ImageStatus::Failed),
        ..Default::default()
    };
    assert_eq!(s.list_images(&q).await.unwrap().1, 1);
}

async fn soft_delete_hides_and_restore_returns(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    let keep = scored_image(s, "keep.tif", Some("g"), 1, [1.0, 1.0, 1.0, 1.0]).await;
    let gone = scored_image(s, "gone.tif", Some("g"), 2, [3.0, 3.0, 3.0, 3.0]).await;
    let del = s
        .soft_delete(gone.id, "dr.a", Some("duplicate slide"))
        .await
        .unwrap();
    assert!(del.deleted_at.is_some());
    assert!(del.version > gone.version);
    // Deleting again changes nothing.
    assert_eq!(s.soft_delete(gone.id, "dr.a", None).await.unwrap(), del);

    let (list, total) = s.list_images(&ListQuery::default()).await.unwrap();
    assert_eq!((list.len(), total), (1, 1));
    assert_eq!(list[0].id, keep.id);
    assert!(s.find_by_filename("gone.tif").await.unwrap().is_none());
    assert!(s.find_by_sha256(&sha(2)).await.unwrap().is_none());
    let mut pages = s.export_pages(10);
    let page = pages.next_page().await.unwrap().unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [keep.id]);
    let summary = s
        .group_summary(&ListQuery::default(), None, None, &METRICS)
        .await
        .unwrap();
    assert_eq!(summary[0].count, 1);
    assert_eq!(summary[0].means["Fibrosis"], 1.0);
    // Still readable by id (for the trash view), but not editable.
    assert_eq!(s.get_image(gone.id).await.unwrap(), del);
    assert!(matches!(
        s.update_scores(
            gone.id,
            &update(del.version, scores(&[("Fibrosis", 1.0)])),
            &schema
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));

    let back = s.restore(gone.id, "dr.b").await.unwrap();
    assert!(back.deleted_at.is_none());
    assert!(back.version > del.version);
    assert_eq!(back.scores, gone.scores);
    assert_eq!(s.list_images(&ListQuery::default()).await.unwrap().1, 2);
    assert_eq!(
        s.find_by_filename("gone.tif").await.unwrap().unwrap().id,
        gone.id
    );

    let audit = s.audit_for_image(gone.id).await.unwrap();
    let d = audit
        .iter()
        .find(|a| a.action.as_str() == "delete")
        .unwrap();
    assert_eq!(d.actor, "dr.a");
    assert_eq!(d.reason.as_deref(), Some("duplicate slide"));
    assert!(d.old_value.is_none() && d.new_value.is_some());
    let r = audit
        .iter()
        .find(|a| a.action.as_str() == "restore")
        .unwrap();
    assert_eq!(r.actor, "dr.b");
    assert_eq!(r.old_value, d.new_value);
    assert!(r.new_value.is_none());
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.as_str() == "delete")
            .count(),
        1
    );
}

async fn list_search_filter_sort_paginate(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    // 12 images over 3 groups; names in lower case so collations agree.
    let groups = ["alpha", "beta", "gamma"];
    let mut ids = Vec::new();
    for n in 0..12u64 {
        let mut img = new_image(
            &format!("slide_{n:02}.tif"),
            Some(groups[n as usize % 3]),
            n,
        );
        if n == 5 {
            img.serial = Some("MOUSE-7".into());
        }
        if n == 11 {
            img.image_number = None;
            img.filename = "special_100%.tif".into();
        }
        ids.push(s.insert_image(&img, "t").await.unwrap().id);
    }
    let q = |f: &dyn Fn(&mut ListQuery)| {
        let mut q = ListQuery::default();
        f(&mut q);
        q
    };
    let ids_of = |v: &[ImageRecord]| v.iter().map(|r| r.id).collect::<Vec<_>>();

    let (all, total) = s.list_images(&ListQuery::default()).await.unwrap();
    assert_eq!((all.len(), total), (12, 12));
    assert_eq!(ids_of(&all), ids);

    // Search: case-insensitive substring of filename, serial or group; LIKE wildcards literal.
    let (r, t) = s
        .list_images(&q(&|q| q.search = Some("SLIDE_0".into())))
        .await
        .unwrap();
    assert_eq!((r.len(), t), (10, 10));
    let (r, _) = s
        .list_images(&q(&|q| q.search = Some("mouse".into())))
        .await
        .unwrap();
    assert_eq!(ids_of(&r), [ids[5]]);
    let (_, t) = s
        .list_images(&q(&|q| q.search = Some("AMM".into())))
        .await
        .unwrap();
    assert_eq!(t, 4, "group gamma");
    let (r, _) = s
        .list_images(&q(&|q| q.search = Some("100%".into())))
        .await
        .unwrap();
    assert_eq!(ids_of(&r), [ids[11]]);
    let (_, t) = s
        .list_images(&q(&|q| q.search = Some("slide%0".into())))
        .await
        .unwrap();
    assert_eq!(t, 0, "% is matched literally");
    let (_, t) = s
        .list_images(&q(&|q| q.search = Some("slide_1_".into())))
        .await
        .unwrap();
    assert_eq!(t, 0, "_ is matched literally");

    // Filters.
    let (r, t) = s
        .list_images(&q(&|q| q.group = Some("beta".into())))
        .await
        .unwrap();
    assert_eq!(t, 4);
    assert!(r.iter().all(|r| r.group_name.as_deref() == Some("beta")));
    // Score and review two images.
    for _ in 0..2 {
        let job = s.claim_job("w", LEASE).await.unwrap().unwrap();
        s.complete_job(job.id, "w", &draft("m", [1.0, 1.0, 1.0, 1.0]))
            .await
            .unwrap();
    }
    let first = s.get_image(ids[0]).await.unwrap();
    let mut u = update(first.version, Scores::new());
    u.reviewed = Some(true);
    s.update_scores(ids[0], &u, &schema).await.unwrap();
    let (_, t) = s
        .list_images(&q(&|q| q.status = Some(ImageStatus::Scored)))
        .await
        .unwrap();
    assert_eq!(t, 2);
    let (_, t) = s
        .list_images(&q(&|q| q.status = Some(ImageStatus::Queued)))
        .await
        .unwrap();
    assert_eq!(t, 10);
    let (r, t) = s
        .list_images(&q(&|q| q.review_status = Some(ReviewStatus::Reviewed)))
        .await
        .unwrap();
    assert_eq!((ids_of(&r), t), (vec![ids[0]], 1));
    let (_, t) = s
        .list_images(&q(&|q| {
            q.review_status = Some(ReviewStatus::Unreviewed);
            q.group = Some("alpha".into());
        }))
        .await
        .unwrap();
    assert_eq!(t, 3);
    // Time window.
    let created = s.get_image(ids[6]).await.unwrap().created_at;
    let (_, t) = s
        .list_images(&q(&|q| q.created_from = Some(created)))
        .await
        .unwrap();
    assert!((6..=12).contains(&t));
    let (_, t) = s
        .list_images(&q(&|q| q.created_to = Some(created)))
        .await
        .unwrap();
    assert!(t <= 6);
    let (_, t) = s
        .list_images(&q(&|q| {
            q.created_from = Some(Utc::now() + chrono::Duration::hours(1))
        }))
        .await
        .unwrap();
    assert_eq!(t, 0);

    // Sort, both directions, NULLs last, id tie-break.
    let (r, _) = s
        .list_images(&q(&|q| {
            q.sort = SortField::Filename;
            q.dir = SortDir::Desc;
        }))
        .await
        .unwrap();
    assert_eq!(r[0].filename, "special_100%.tif");
    assert_eq!(r[1].filename, "slide_10.tif");
    let (r, _) = s
        .list_images(&q(&|q| {
            q.sort = SortField::ImageNumber;
            q.dir = SortDir::Desc;
        }))
        .await
        .unwrap();
    assert_eq!(r[0].image_number, Some(10));
    assert_eq!(r[11].image_number, None, "NULLs last");
    let (r, _) = s
        .list_images(&q(&|q| {
            q.sort = SortField::Group;
            q.dir = SortDir::Asc;
        }))
        .await
        .unwrap();
    let g: Vec<_> = r.iter().map(|r| r.group_name.clone().unwrap()).collect();
    let mut sorted = g.clone();
    sorted.sort();
    assert_eq!(g, sorted);
    assert_eq!(
        ids_of(&r[..4]),
        [ids[0], ids[3], ids[6], ids[9]],
        "ties by id"
    );
    let (r, _) = s
        .list_images(&q(&|q| {
            q.sort = SortField::ReviewStatus;
            q.dir = SortDir::Asc;
        }))
        .await
        .unwrap();
    assert_eq!(r[0].id, ids[0], "'reviewed' sorts before 'unreviewed'");
    // Pagination: pages cover the list exactly once, total stays the total.
    let mut seen = Vec::new();
    for page in 0..3 {
        let (r, t) = s
            .list_images(&q(&|q| {
                q.sort = SortField::CreatedAt;
                q.dir = SortDir::Desc;
                q.limit = 5;
                q.offset = page * 5;
            }))
            .await
            .unwrap();
        assert_eq!(t, 12);
        assert_eq!(r.len(), if page < 2 { 5 } else { 2 });
        seen.extend(ids_of(&r));
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    // Bad pages are refused.
    for (limit, offset, field) in [
        (0, 0, "limit"),
        (MAX_PAGE + 1, 0, "limit"),
        (10, -1, "offset"),
    ] {
        match s
            .list_images(&q(&|q| {
                q.limit = limit;
                q.offset = offset;
            }))
            .await
        {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
    // Sort keys parse from the API's text.
    assert_eq!(
        "created_at".parse::<SortField>().unwrap(),
        SortField::CreatedAt
    );
    assert!("filename; DROP TABLE images".parse::<SortField>().is_err());
}

async fn group_summary_means(db: TestDb) {
    let s = &db.store;
    let schema = Schema::default();
    scored_image(s, "a1.tif", Some("a"), 1, [1.0, 2.0, 0.0, 4.0]).await;
    let a2 = scored_image(s, "a2.tif", Some("a"), 2, [2.0, 1.0, 0.5, 3.0]).await;
    scored_image(s, "b1.tif", Some("b"), 3, [4.0, 3.0, 3.0, 4.0]).await;
    s.insert_image(&new_image("b2.tif", Some("b"), 4), "t")
        .await
        .unwrap(); // not scored yet
    s.insert_image(&new_image("none.tif", None, 5), "t")
        .await
        .unwrap();
    let mut u = update(a2.version, scores(&[("Fibrosis", 1.0)]));
    u.reviewed = Some(true);
    s.update_scores(a2.id, &u, &schema).await.unwrap();

    let sum = s
        .group_summary(&ListQuery::default(), None, None, &METRICS)
        .await
        .unwrap();
    let groups: Vec<_> = sum.iter().map(|g| g.group.clone()).collect();
    assert_eq!(groups, [None, Some("a".to_string()), Some("b".to_string())]);
    let none = &sum[0];
    assert_eq!((none.count, none.reviewed), (1, 0));
    assert!(none.means.is_empty());
    let a = &sum[1];
    assert_eq!((a.count, a.reviewed), (2, 1));
    assert_eq!(a.means["Pancreatic Architecture"], 1.5);
    assert_eq!(a.means["Glandular Atrophy"], 1.5);
    assert_eq!(a.means["Pseudotubular Complexes"], 0.25);
    assert_eq!(
        a.means["Fibrosis"], 2.5,
        "uses the corrected score, not the draft"
    );
    let b = &sum[2];
    assert_eq!((b.count, b.reviewed), (2, 0));
    assert_eq!(b.means["Fibrosis"], 4.0, "mean over scored images only");
    // Filters apply.
    let only_reviewed = ListQuery {
        review_status: Some(ReviewStatus::Reviewed),
        ..Default::default()
    };
    let sum = s
        .group_summary(&only_reviewed, None, None, &METRICS)
        .await
        .unwrap();
    assert_eq!(sum.len(), 1);
    assert_eq!(sum[0].means["Fibrosis"], 1.0);
    // Only the groups asked for (those on the page shown), with the same figures.
    let page = [None, Some("b".to_string())];
    let sum = s
        .group_summary(&ListQuery::default(), None, Some(&page), &METRICS)
        .await
        .unwrap();
    let groups: Vec<_> = sum.iter().map(|g| g.group.clone()).collect();
    assert_eq!(groups, page);
    assert_eq!((sum[1].count, sum[1].means["Fibrosis"]), (2, 4.0));
    let sum = s
        .group_summary(
            &ListQuery::default(),
            None,
            Some(&[Some("a".to_string())]),
            &METRICS,
        )
        .await
        .unwrap();
    assert_eq!((sum.len(), sum[0].count), (1, 2));
    assert!(s
        .group_summary(&ListQuery::default(), None, Some(&[]), &METRICS)
        .await
        .unwrap()
        .is_empty());
}

async fn export_pages_through_everything(db: TestDb) {
    let s = &db.store;
    let mut ids = Vec::new();
    for n in 0..25u64 {
        ids.push(
            s.insert_image(&new_image(&format!("{n}.tif"), None, n), "t")
                .await
                .unwrap()
                .id,
        );
    }
    s.soft_delete(ids[7], "t", None).await.unwrap();
    let job = s.claim_job("w", LEASE).await.unwrap().unwrap();
    s.complete_job(job.id, "w", &draft("m", [1.0, 2.0, 3.0, 4.0]))
        .await
        .unwrap();

    let mut pages = s.export_pages(10);
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        sizes.push(page.len());
        seen.extend(page);
    }
    assert!(pages.next_page().await.unwrap().is_none());
    assert_eq!(sizes, [10, 10, 4]);
    let mut expected = ids.clone();
    expected.remove(7);
    assert_eq!(seen.iter().map(|r| r.id).collect::<Vec<_>>(), expected);
    assert_eq!(seen[0].scores["Fibrosis"], 4.0);
    assert!(seen[0].draft.is_some());
    assert!(seen[1].draft.is_none());

    let mut all = s.all_images_for_export();
    assert_eq!(all.next_page().await.unwrap().unwrap().len(), 24);
    assert!(all.next_page().await.unwrap().is_none());
}

async fn data_survives_reopen(db: TestDb) {
    let schema = Schema::default();
    let img = scored_image(&db.store, "a.tif", None, 1, [1.0, 1.0, 1.0, 1.0]).await;
    let rec = db
        .store
        .update_scores(
            img.id,
            &update(img.version, scores(&[("Fibrosis", 2.0)])),
            &schema,
        )
        .await
        .unwrap();
    if db.store.backend() == Backend::Sqlite {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let path = db
            .url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap();
        assert!(std::path::Path::new(&format!("{path}-wal")).exists());
    }
    // Foreign keys are enforced on both backends.
    let orphan = sqlx::query(
        "INSERT INTO jobs (image_id, state, attempts, created_at, updated_at) \
         VALUES (424242, 'queued', 0, 'x', 'x')",
    )
    .execute(db.store.pool())
    .await;
    assert!(orphan.is_err(), "foreign keys must be on");
    let audit = db.store.audit_for_image(img.id).await.unwrap();
    db.store.close().await;
    drop(db.store);

    let reopened = Store::open(&db.url).await.unwrap();
    assert_eq!(reopened.get_image(img.id).await.unwrap(), rec);
    assert_eq!(reopened.audit_for_image(img.id).await.unwrap(), audit);
    assert!(reopened.integrity_check().await.unwrap().is_empty());
    reopened.close().await;
}

async fn files_registered_in_place_keep_their_path_size_and_time(db: TestDb) {
    let store = db.store;
    let src = SourceFile {
        path: "/mnt/slides/study-1/S-1.svs".into(),
        size: 3_000_000_000,
        mtime_ms: 1_764_000_000_123,
    };
    let new = NewImage {
        storage_key: None,
        source: Some(src.clone()),
        ..new_image("S-1.svs", Some("S-1"), 1)
    };
    let rec = store.insert_image(&new, "import").await.unwrap();
    assert_eq!(rec.source, Some(src.clone()));
    assert_eq!(rec.storage_key, None);
    let found = store
        .find_by_source_path("/mnt/slides/study-1/S-1.svs")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, rec.id);
    assert!(store
        .find_by_source_path("/mnt/slides/other.svs")
        .await
        .unwrap()
        .is_none());
    let stored = store
        .insert_image(&new_image("kept.tif", None, 2), "upload")
        .await
        .unwrap();
    assert_eq!(stored.source, None);
    let under = store.in_place_under("/mnt/slides/").await.unwrap();
    assert_eq!(under.iter().map(|r| r.id).collect::<Vec<_>>(), [rec.id]);
    assert!(store
        .in_place_under("/elsewhere/")
        .await
        .unwrap()
        .is_empty());
    store.soft_delete(rec.id, "import", None).await.unwrap();
    assert!(store
        .in_place_under("/mnt/slides/")
        .await
        .unwrap()
        .is_empty());
}

async fn slide_fields_are_kept_per_model_with_progress(db: TestDb) {
    use histoscore_domain::slide::FieldRow;
    let store = db.store;
    let meta = serde_json::json!({"vendor": "aperio", "levels": [], "mpp_x": 0.5});
    let new = NewImage {
        slide: Some(meta.clone()),
        ..new_image("slide.svs", Some("S-1"), 1)
    };
    let rec = store.insert_image(&new, "tester").await.unwrap();
    assert_eq!(rec.kind, "slide");
    assert_eq!(rec.slide, Some(meta));
    let plain = store
        .insert_image(&new_image("plain.tif", None, 2), "tester")
        .await
        .unwrap();
    assert_eq!(plain.kind, "image");
    assert_eq!(plain.slide, None);

    let (_, mark) = store.changes_since(None, 10).await.unwrap();
    let schema = Schema::default();
    let field = |index: i64, v: f64, roi: bool| FieldRow {
        index,
        x: -10 + index * 100,
        y: 5,
        width: 200,
        height: 100,
        tissue_share: 0.5,
        scores: Some(schema.metrics.iter().map(|m| (m.name.clone(), v)).collect()),
        raw: Some(vec![0.25; 4]),
        error: None,
        roi,
        created_by: Some(if roi { "dr.a" } else { "ai" }.to_string()),
    };
    let p = |done, total| Some(Progress { done, total });
    store
        .put_slide_field(rec.id, "m1", &field(1, 1.0, false), "ai", p(1, 3))
        .await
        .unwrap();
    store
        .put_slide_field(rec.id, "m1", &field(0, 2.0, false), "ai", p(2, 3))
        .await
        .unwrap();
    store
        .put_slide_field(rec.id, "m1", &field(0, 1.5, true), "dr.a", None)
        .await
        .unwrap();
    store
        .put_slide_field(rec.id, "m2", &field(0, 3.0, false), "ai", None)
        .await
        .unwrap();
    // The same field again replaces it.
    store
        .put_slide_field(rec.id, "m1", &field(1, 0.5, false), "ai", p(3, 3))
        .await
        .unwrap();
    let got = store.slide_fields(rec.id, "m1").await.unwrap();
    let keys: Vec<(bool, i64)> = got.iter().map(|f| (f.roi, f.index)).collect();
    assert_eq!(keys, vec![(false, 0), (false, 1), (true, 0)]);
    assert_eq!(got[1], field(1, 0.5, false));
    assert_eq!(got[0].x, -10);
    assert_eq!(store.slide_fields(rec.id, "m2").await.unwrap().len(), 1);

    // Progress is on the record and in the change feed browsers follow.
    let now = store.get_image(rec.id).await.unwrap();
    assert_eq!(now.progress, Some(Progress { done: 3, total: 3 }));
    assert_eq!(now.version, rec.version, "progress is not an edit");
    let (changes, _) = store.changes_since(Some(&mark), 10).await.unwrap();
    assert!(changes
        .iter()
        .any(|c| c.id == rec.id && c.progress.is_some()));

    // Starting over forgets the grid fields of that model only; drawn regions stay.
    store.clear_slide_fields(rec.id, "m1").await.unwrap();
    let left = store.slide_fields(rec.id, "m1").await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].roi);
    assert_eq!(store.slide_fields(rec.id, "m2").await.unwrap().len(), 1);
}

/// Images with and without a pixel size, one after the other: each is stored and read back
/// as given (absent stays absent).
async fn pixel_sizes_present_and_absent_alternate(db: TestDb) {
    let store = db.store;
    for n in 0..6u64 {
        let size = (n % 2 == 1).then_some(0.25 * (n + 1) as f64);
        let new = NewImage {
            pixel_size_um: size,
            ..new_image(&format!("px-{n}.tif"), Some("S-9"), 100 + n)
        };
        let rec = store.insert_image(&new, "tester").await.unwrap();
        assert_eq!(rec.pixel_size_um, size, "image {n}");
        assert_eq!(store.get_image(rec.id).await.unwrap().pixel_size_um, size);
    }
}

/// A study keeps the AI draft it was made with: re-scoring (another model) adds a draft to
/// the image, but the study's AI column and reads still show the first one. An image added
/// before it was scored shows its first draft.
async fn a_study_keeps_the_draft_it_was_made_with(db: TestDb) {
    let s = &db.store;
    let a = scored_image(s, "S001_a.tif", Some("S001"), 1, [1.0, 1.0, 1.0, 1.0]).await;
    let late = s
        .insert_image(&new_image("S002_b.tif", Some("S002"), 2), "tester")
        .await
        .unwrap();
    let study = s
        .create_study(
            &NewStudy {
                name: "pinned".into(),
                description: String::new(),
                blinded: true,
                require_reason: false,
                readers: vec!["dr.a".into()],
                groups: Vec::new(),
                image_ids: vec![a.id, late.id],
            },
            "admin",
        )
        .await
        .unwrap();
    // The late image is scored after it joined the study, then both are re-scored by
    // another model.
    let job = s.claim_job("w", LEASE).await.unwrap().expect("a job");
    s.complete_job(job.id, "w", &draft("resnet-v1", [2.0, 2.0, 2.0, 2.0]))
        .await
        .unwrap();
    for id in [a.id, late.id] {
        s.enqueue_rescore_with(id, "admin", Some("resnet-v2"))
            .await
            .unwrap();
        let job = s.claim_job("w", LEASE).await.unwrap().expect("a job");
        s.complete_job(job.id, "w", &draft("resnet-v2", [3.0, 3.0, 3.0, 3.0]))
            .await
            .unwrap();
    }
    assert_eq!(
        s.get_image(a.id).await.unwrap().draft.unwrap().model_id,
        "resnet-v2",
        "the image itself shows its latest draft"
    );
    let rows = s.study_rows(&study).await.unwrap();
    let by_id = |id: i64| rows.iter().find(|r| r.record.id == id).unwrap();
    let first = by_id(a.id).record.draft.clone().unwrap();
    assert_eq!(
        (first.model_id.as_str(), first.rounded["Fibrosis"]),
        ("resnet-v1", 1.0)
    );
    let late_draft = by_id(late.id).record.draft.clone().unwrap();
    assert_eq!(
        (late_draft.model_id.as_str(), late_draft.rounded["Fibrosis"]),
        ("resnet-v1", 2.0)
    );
    let one = s.study_draft(study.id, a.id).await.unwrap().unwrap();
    assert_eq!(one.id, first.id);
}

/// The retraining policy (off until set; bad values refused), the evaluation set (reason
/// required, audited), comparisons kept per model, and one policy run at a time.
async fn retraining_policy_sets_and_runs(db: TestDb) {
    let s = &db.store;
    let p = s.retrain_policy().await.unwrap();
    assert!(!p.enabled() && !p.auto_promote && p.updated_by.is_none());
    let mut want = p.clone();
    want.after_reviewed = Some(25);
    want.every_hours = Some(24);
    want.metrics = vec!["Fibrosis".into()];
    let saved = s.set_retrain_policy(&want, "admin").await.unwrap();
    assert_eq!(
        (
            saved.after_reviewed,
            saved.every_hours,
            saved.metrics.clone()
        ),
        (Some(25), Some(24), vec!["Fibrosis".to_string()])
    );
    assert_eq!(saved.updated_by.as_deref(), Some("admin"));
    want.after_reviewed = Some(0);
    assert!(s.set_retrain_policy(&want, "admin").await.is_err());
    assert_eq!(s.retrain_policy().await.unwrap().after_reviewed, Some(25));

    let rule = EvalRule {
        share: 0.2,
        seed: 7,
        groups: vec!["S-0001".into()],
        trained: vec!["S-0002".into()],
    };
    assert!(s.set_evaluation_set(&rule, " ", "admin").await.is_err());
    let set = s
        .set_evaluation_set(&rule, "kept aside for comparisons", "admin")
        .await
        .unwrap();
    assert_eq!(set.rule, rule);
    assert_eq!(s.evaluation_set().await.unwrap().unwrap().id, set.id);
    let audit = s.audit_page(None, None, 0, 100).await.unwrap();
    assert!(
        format!("{audit:?}").contains("evaluation_set"),
        "the change is in the audit log"
    );

    // One policy run at a time; a manual run also holds it off.
    let params = serde_json::json!({"epochs": 1});
    let run = s
        .create_policy_run(&params, "policy")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.origin, "policy");
    assert!(s
        .create_policy_run(&params, "policy")
        .await
        .unwrap()
        .is_none());
    assert_eq!(s.last_policy_run().await.unwrap().unwrap().id, run.id);
    s.finish_training_run(run.id, TrainingState::Failed, None, Some("test"))
        .await
        .unwrap();
    assert!(s
        .create_policy_run(&params, "policy")
        .await
        .unwrap()
        .is_some());

    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(s.reviewed_since(&since).await.unwrap(), 0);
}
