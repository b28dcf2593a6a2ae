//! The model registry over real HTTP, on SQLite and PostgreSQL: import, activate, roll back,
//! re-score with a chosen model, per-draft uncertainty, exports.

mod common;
#[path = "../../store/tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use common::{fixtures, TestApp};
use harness::TestDb;
use histoscore_engine::Model;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    registry_activation_rollback_and_rescore,
    training_from_reviewed_scores_registers_an_inactive_model,
    training_is_a_job_a_stopping_worker_gives_back,
    the_retraining_policy_trains_compares_and_waits_for_approval,
);

const NAME: &str = "S-3602-10X_Image002_ch00.tif";

async fn import(app: &TestApp, path: &std::path::Path, name: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(path).unwrap()).file_name("weights"),
        );
    app.client
        .post(app.url("/api/models"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn upload_scored(app: &TestApp, file: &str, name: &str) -> Value {
    let bytes = std::fs::read(fixtures().join("images").join(file)).unwrap();
    let r = app.upload_bytes(bytes, name, "").await;
    assert!(r.status().is_success(), "{}", r.status());
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    app.wait_done(id).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, reqwest::Method::POST, path, body).await
}

async fn put(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    send(app, reqwest::Method::PUT, path, body).await
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = app
        .client
        .request(method, app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn registry_activation_rollback_and_rescore(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let reference = Model::load(&fixtures().join("model.pth")).unwrap();
    // A second, different model: the demo weights, written as safetensors.
    let demo = Model::demo(4);
    let demo_file = dir.path().join("demo.safetensors");
    demo.save_safetensors(&demo_file).unwrap();
    assert_eq!(
        Model::load(&demo_file).unwrap().id(),
        demo.id(),
        "safetensors round trip"
    );

    // Import: new → 201, again (other format, same weights) → 200 with the same entry, junk → 422.
    let r = import(&app, &fixtures().join("model.pth"), "reference").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let entry: Value = r.json().await.unwrap();
    assert_eq!(entry["id"], reference.id());
    assert_eq!(entry["format"], "pth");
    assert_eq!(entry["source"], "import");
    assert_eq!(entry["active"], false, "importing never activates");
    let r = import(&app, &fixtures().join("model.safetensors"), "again").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "reference");
    let junk = dir.path().join("junk.pth");
    std::fs::write(&junk, b"not a model").unwrap();
    let r = import(&app, &junk, "junk").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = import(&app, &demo_file, "demo weights").await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Nothing activated yet: nothing to roll back.
    let (st, _) = post(&app, "/api/models/rollback", json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, v) = post(
        &app,
        &format!("/api/models/{}/activate", reference.id()),
        json!({"reason": "validated"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["active"], true);

    // The reference model scores: the draft is the original's, with an uncertainty per metric.
    let a = upload_scored(&app, NAME, "a.tif").await;
    assert_eq!(a["draft"]["model_id"], reference.id());
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(a["draft"]["rounded"], expected["images"][NAME]["scores"]);
    let u = a["draft"]["uncertainty"]
        .as_object()
        .expect("uncertainty per metric");
    assert_eq!(u.len(), 4);
    assert!(u
        .values()
        .all(|v| v.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0)));
    let a_id = a["id"].as_i64().unwrap();

    // Activate the other model: new uploads get its drafts; the old draft keeps its model id.
    let (st, _) = post(
        &app,
        &format!("/api/models/{}/activate", demo.id()),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(app.get_json("/api/config").await["model"]["id"], demo.id());
    let b = upload_scored(&app, "S-3602-10X_Image001_ch00.tif", "b.tif").await;
    assert_eq!(b["draft"]["model_id"], demo.id());
    let a_again = app.get_json(&format!("/api/images/{a_id}")).await;
    assert_eq!(a_again["draft"]["model_id"], reference.id());

    // Roll back: the reference model scores again.
    let (st, v) = post(&app, "/api/models/rollback", json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["id"], reference.id());
    let c = upload_scored(&app, "S-4500-10x_Image123_RAW_ch00.tif", "c.tif").await;
    assert_eq!(c["draft"]["model_id"], reference.id());
    let models = app.get_json("/api/models").await;
    let active: Vec<&Value> = models
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["active"] == true)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], reference.id());

    // A person corrects image a; re-scoring it with the other model adds a draft and keeps
    // the correction.
    let etag = format!("\"{}\"", a_again["version"]);
    let r = app
        .client
        .patch(app.url(&format!("/api/images/{a_id}/scores")))
        .header("if-match", etag)
        .json(&json!({"scores": {"Fibrosis": 0.5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (st, v) = post(
        &app,
        "/api/rescore",
        json!({"image_ids": [a_id], "model_id": demo.id()}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["queued"], 1);
    let a3 = app.wait_done(a_id).await;
    assert_eq!(a3["draft"]["model_id"], demo.id());
    assert_eq!(a3["scores"]["Fibrosis"], 0.5, "the person's score stays");
    let drafts = app.get_json(&format!("/api/images/{a_id}/drafts")).await;
    let ids: Vec<&str> = drafts
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["model_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [reference.id(), demo.id()]);
    let (st, _) = post(
        &app,
        "/api/rescore",
        json!({"image_ids": [a_id], "model_id": "nope"}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Least confident first.
    let list = app
        .get_json("/api/images?sort=uncertainty&dir=desc&limit=10")
        .await;
    let us: Vec<f64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["draft"]["uncertainty"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .fold(0.0, f64::max)
        })
        .collect();
    assert_eq!(us.len(), 3);
    assert!(us.windows(2).all(|w| w[0] >= w[1]), "{us:?}");

    // Exports: safetensors loads back as the same model; ONNX is a graph.
    let r = app
        .client
        .get(app.url(&format!("/api/models/{}/model.safetensors", reference.id())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let back = dir.path().join("back.safetensors");
    std::fs::write(&back, r.bytes().await.unwrap()).unwrap();
    assert_eq!(Model::load(&back).unwrap().id(), reference.id());
    let r = app
        .client
        .get(app.url(&format!("/api/models/{}/model.onnx", reference.id())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().len() > 40_000_000);
    app.stop().await;
}

async fn training_from_reviewed_scores_registers_an_inactive_model(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let reference = Model::load(&fixtures().join("model.pth")).unwrap();
    let r = import(&app, &fixtures().join("model.pth"), "reference").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Nothing reviewed yet: a clear failure, recorded on the run.
    let (st, run) = post(&app, "/api/training", json!({"epochs": 5})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{run}");
    let failed = wait_run(&app, run["id"].as_i64().unwrap()).await;
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no model to start from")
            || failed["error"].as_str().unwrap().contains("review more"),
        "{failed}"
    );
    let (st, _) = post(
        &app,
        &format!("/api/models/{}/activate", reference.id()),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    review_six(&app).await;
    no_evaluation_groups(&app).await;
    // One reviewed image's file is gone: it is left out, and the report says why.
    let originals = app.stored_originals();
    std::fs::remove_file(&originals[0]).unwrap();
    let (st, run) = post(
        &app,
        "/api/training",
        json!({"epochs": 30, "seed": 3, "name": "try", "head_only": true}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{run}");
    let done = wait_run(&app, run["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    let id = done["model_id"].as_str().unwrap().to_string();
    let entry = app.get_json(&format!("/api/models/{id}")).await;
    let excluded = entry["training"]["excluded"].as_array().unwrap();
    assert_eq!(excluded.len(), 1, "{entry}");
    assert!(
        excluded[0]["reason"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{entry}"
    );
    assert_eq!(entry["training"]["images"].as_array().unwrap().len(), 5);
    assert_eq!(entry["source"], "trained");
    assert_eq!(entry["parent_id"], reference.id());
    assert_eq!(
        entry["active"], false,
        "a trained model is never activated automatically"
    );
    assert_eq!(entry["name"], "try");
    assert_eq!(entry["training"]["images"].as_array().unwrap().len(), 5);
    assert!(entry["metrics"]["Fibrosis"]["mae"].is_object());
    assert_eq!(
        app.get_json("/api/config").await["model"]["id"],
        reference.id()
    );
    let runs = app.get_json("/api/training").await;
    assert_eq!(runs.as_array().unwrap().len(), 2);
    app.stop().await;
}

/// An evaluation set that holds none of the six images' groups, so that every reviewed image
/// may be trained on (with six images, the automatic set would leave too few; the evaluation
/// set has its own test).
async fn no_evaluation_groups(app: &TestApp) {
    let body = json!({"share": 0.0, "groups": ["S-9999"], "reason": "this test trains on all"});
    let (st, set) = put(app, "/api/models/evaluation-set", body).await;
    assert_eq!(st, StatusCode::OK, "{set}");
}

/// Six images in several sample groups, reviewed with scores.
async fn review_six(app: &TestApp) {
    let files = [
        "S-3602-10X_Image001_ch00.tif",
        "S-3602-10X_Image002_ch00.tif",
        "S-4500-10x_Image123_RAW_ch00.tif",
        "cmu_portrait_deflate_tiled.tif",
        "gray_800x600.tif",
        "rgba_800x600.tif",
    ];
    for (n, f) in files.iter().enumerate() {
        let rec = upload_scored(app, f, f).await;
        let etag = format!("\"{}\"", rec["version"]);
        let v = (n % 4) as f64;
        let r = app
            .client
            .patch(app.url(&format!("/api/images/{}/scores", rec["id"])))
            .header("if-match", etag)
            .json(
                &json!({"scores": {"Fibrosis": v, "Pancreatic Architecture": 1.0,
                          "Glandular Atrophy": 1.0, "Pseudotubular Complexes": 1.0},
                          "reviewed": true}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// Training is a job of the queue: a worker that is stopped gives the run back, and a worker of
/// another process takes it up (here: then it is cancelled from the API).
async fn training_is_a_job_a_stopping_worker_gives_back(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = db.store.clone();
    let app = TestApp::start(db.store, dir.path()).await;
    let reference = Model::load(&fixtures().join("model.pth")).unwrap();
    assert_eq!(
        import(&app, &fixtures().join("model.pth"), "reference")
            .await
            .status(),
        StatusCode::CREATED
    );
    let path = format!("/api/models/{}/activate", reference.id());
    assert_eq!(post(&app, &path, json!({})).await.0, StatusCode::OK);
    review_six(&app).await;
    no_evaluation_groups(&app).await;
    // Fine-tuning for many epochs: long enough to be running when the worker stops.
    let (st, run) = post(&app, "/api/training", json!({"epochs": 10000, "seed": 1})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{run}");
    let id = run["id"].as_i64().unwrap();
    let mut started = false;
    let mut last = Value::Null;
    for _ in 0..600 {
        last = app.get_json(&format!("/api/training/{id}")).await;
        if last["progress"]["stage"] == "epoch" {
            started = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        started,
        "the training run never reached its first epoch: {last}"
    );
    app.stop().await;
    let depth = store.queue_depth().await.unwrap();
    assert_eq!(
        (depth.queued, depth.running),
        (1, 0),
        "the job is back in the queue"
    );
    assert_eq!(
        store.training_run(id).await.unwrap().state.as_str(),
        "running"
    );

    // Another server's worker takes the run up again; cancelling it ends it.
    let app = TestApp::start(store.clone(), dir.path()).await;
    for _ in 0..600 {
        if store.queue_depth().await.unwrap().running == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.queue_depth().await.unwrap().running,
        1,
        "taken up again"
    );
    let (st, _) = post(&app, &format!("/api/training/{id}/cancel"), json!({})).await;
    assert_eq!(st, StatusCode::OK);
    let ended = wait_run(&app, id).await;
    assert_eq!(ended["state"], "cancelled", "{ended}");
    // The run is marked cancelled first; its worker then notices and ends the job.
    let mut depth = store.queue_depth().await.unwrap();
    for _ in 0..200 {
        if (depth.queued, depth.running) == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        depth = store.queue_depth().await.unwrap();
    }
    assert_eq!((depth.queued, depth.running), (0, 0), "the job has ended");
    app.stop().await;
}

/// The retraining policy over HTTP: set (bad values refused with the reason), run now; the
/// run keeps the evaluation set's groups out of training, compares the new model with the
/// active one (too few evaluation images here: it says so) and promotes nothing.
async fn the_retraining_policy_trains_compares_and_waits_for_approval(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let reference = Model::load(&fixtures().join("model.pth")).unwrap();
    assert_eq!(
        import(&app, &fixtures().join("model.pth"), "reference")
            .await
            .status(),
        StatusCode::CREATED
    );
    let path = format!("/api/models/{}/activate", reference.id());
    assert_eq!(post(&app, &path, json!({})).await.0, StatusCode::OK);

    let policy = app.get_json("/api/models/policy").await;
    assert_eq!(policy["after_reviewed"], Value::Null, "off by default");
    assert_eq!(
        policy["auto_promote"], false,
        "waits for approval by default"
    );
    for (bad, field) in [
        (json!({"after_reviewed": 0}), "after_reviewed"),
        (json!({"layers": ["layer9"]}), "layers"),
        (json!({"metrics": ["Nope"]}), "metrics"),
    ] {
        let (st, body) = put(&app, "/api/models/policy", bad).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains(field), "{body}");
    }
    let (st, saved) = put(
        &app,
        "/api/models/policy",
        json!({"after_reviewed": 3, "head_only": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{saved}");
    assert_eq!(
        app.get_json("/api/models/policy").await["after_reviewed"],
        3
    );

    // The evaluation set: a reason is required; then S-3602 (two images) is kept aside.
    let view = app.get_json("/api/models/evaluation-set").await;
    assert_eq!(view["set"], Value::Null);
    let (st, body) = put(
        &app,
        "/api/models/evaluation-set",
        json!({"share": 0.0, "groups": ["S-3602"], "reason": ""}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (st, set) = put(
        &app,
        "/api/models/evaluation-set",
        json!({"share": 0.0, "groups": ["S-3602"], "reason": "sample 3602 is the reference case"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{set}");
    review_six(&app).await;
    let view = app.get_json("/api/models/evaluation-set").await;
    assert_eq!(
        view["members"],
        json!([{"group": "S-3602", "images": 2}]),
        "{view}"
    );
    assert_eq!(view["training_images"], 4, "{view}");

    let (st, run) = post(&app, "/api/models/policy/run", json!({})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["origin"], "policy");
    let done = wait_run(&app, run["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    let id = done["model_id"].as_str().unwrap().to_string();
    let entry = app.get_json(&format!("/api/models/{id}")).await;
    assert_eq!(
        entry["training"]["images"].as_array().unwrap().len(),
        4,
        "{entry}"
    );
    let kept_out: Vec<&Value> = entry["training"]["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"].as_str().unwrap().contains("evaluation set"))
        .collect();
    assert_eq!(kept_out.len(), 2, "{entry}");

    // The comparison was made and kept with the model; too few images to say anything.
    let mut evals = Value::Null;
    for _ in 0..200 {
        evals = app.get_json(&format!("/api/models/{id}/evaluations")).await;
        if !evals.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let e = &evals[0];
    assert_eq!(e["verdict"], "not_enough_data", "{evals}");
    assert_eq!(e["champion_id"], reference.id());
    assert_eq!(e["report"]["images"], 2, "{e}");
    assert!(e["report"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("not enough reviewed data to compare"));
    let csv = app
        .client
        .get(app.url(&format!("/api/models/{id}/evaluation.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert!(
        text.starts_with("metric,statistic,value,ci95_low,ci95_high,verdict\n"),
        "{text}"
    );
    assert!(
        text.contains("Fibrosis,mae_difference,,,,not_enough_data"),
        "{text}"
    );
    assert_eq!(
        app.get_json("/api/config").await["model"]["id"],
        reference.id(),
        "nothing is promoted"
    );
    app.stop().await;
}

async fn wait_run(app: &TestApp, id: i64) -> Value {
    for _ in 0..1200 {
        let run = app.get_json(&format!("/api/training/{id}")).await;
        if run["state"] != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("training run {id} did not finish");
}
