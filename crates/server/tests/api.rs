//! The review server over real HTTP: SQLite in a temp dir, the reference model, a free port.

use histoscore_domain::Schema;
use histoscore_engine::{EngineKind, Model, Scorer};
use histoscore_server::{router, run_worker, AppState};
use histoscore_store::Store;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/reference-model")
}

async fn start(dir: &std::path::Path) -> String {
    for sub in ["tmp", "blobs"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let url = format!("sqlite://{}?mode=rwc", dir.join("histoscore.db").display());
    let store = Store::open(&url).await.unwrap();
    let model = Model::load(&fixtures().join("model.pth")).unwrap();
    let (queue, _thread) = model.start(EngineKind::Tract, 2, 8, 4).unwrap();
    let scorer = Scorer {
        schema: Schema::default(),
        serials: Default::default(),
        decode: Default::default(),
        model: model.reference(),
    };
    let state = AppState {
        store,
        scorer: Arc::new(scorer),
        queue,
        data_dir: dir.to_path_buf(),
        max_upload_bytes: 64 << 20,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(run_worker(
        state.clone(),
        "test-worker".into(),
        Arc::new(tokio::sync::Notify::new()),
    ));
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    format!("http://{addr}")
}

fn part(path: &std::path::Path, name: &str) -> reqwest::multipart::Form {
    let bytes = std::fs::read(path).unwrap();
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_score_correct_reupload_export() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(dir.path()).await;
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        json!({"status": "ok"})
    );

    let name = "S-3602-10X_Image002_ch00.tif";
    let img = fixtures().join("images").join(name);
    let r = c
        .post(format!("{base}/api/images"))
        .multipart(part(&img, name))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rec: Value = r.json().await.unwrap();
    let id = rec["id"].as_i64().unwrap();
    assert_eq!(rec["serial"], "S-3602-02");

    // Wait for the worker; the draft equals the original's scores.
    let mut rec = Value::Null;
    for _ in 0..300 {
        rec = c
            .get(format!("{base}/api/images/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if rec["status"] == "scored" || rec["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rec["status"], "scored", "{rec}");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    for (metric, v) in expected["images"][name]["scores"].as_object().unwrap() {
        assert_eq!(&rec["scores"][metric], v, "{metric}");
        assert_eq!(&rec["draft"]["rounded"][metric], v, "{metric}");
    }

    // A correction needs the ETag; a stale one is refused with the current record.
    let r = c
        .get(format!("{base}/api/images/{id}"))
        .send()
        .await
        .unwrap();
    let tag = r.headers()["etag"].to_str().unwrap().to_string();
    let url = format!("{base}/api/images/{id}/scores");
    let body = json!({"scores": {"Fibrosis": 3.5}, "reason": "more collagen than the AI saw"});
    assert_eq!(
        c.patch(&url).json(&body).send().await.unwrap().status(),
        428
    );
    let bad = json!({"scores": {"Fibrosis": 4.1}});
    let r = c
        .patch(&url)
        .header("If-Match", &tag)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["field"], "Fibrosis");
    let wrong_type = json!({"scores": {"Fibrosis": "three"}});
    assert_eq!(
        c.patch(&url)
            .header("If-Match", &tag)
            .json(&wrong_type)
            .send()
            .await
            .unwrap()
            .status(),
        422
    );
    let r = c
        .patch(&url)
        .header("If-Match", &tag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["scores"]["Fibrosis"], 3.5);
    let r = c
        .patch(&url)
        .header("If-Match", &tag)
        .json(&json!({"scores": {"Fibrosis": 1.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["current"]["scores"]["Fibrosis"], 3.5);

    // Re-uploading the same file returns the corrected record, not a new draft.
    let r = c
        .post(format!("{base}/api/images"))
        .multipart(part(&img, name))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], id);
    assert_eq!(again["scores"]["Fibrosis"], 3.5);

    // A different image under the same name is a conflict, not silently the old scores.
    let other = fixtures().join("images/gray_800x600.tif");
    let r = c
        .post(format!("{base}/api/images"))
        .multipart(part(&other, name))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // Invalid files are refused and leave nothing behind; hostile names are data only.
    let bad = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/generated/bad_truncated60_lzw.tif");
    let r = c
        .post(format!("{base}/api/images"))
        .multipart(part(&bad, "../x.tif"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(e["detail"].as_str().unwrap().contains("truncated"), "{e}");
    assert!(!dir.path().parent().unwrap().join("x.tif").exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );

    // The export holds the correction.
    let csv = c
        .get(format!("{base}/api/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let fib = header.iter().position(|h| *h == "Fibrosis").unwrap();
    assert_eq!(row[fib], "3.5");
    assert_eq!(lines.next(), None, "refused uploads are not records");
}
