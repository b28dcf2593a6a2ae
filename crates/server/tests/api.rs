//! The review server over real HTTP, on SQLite and on PostgreSQL (each test runs on both).

mod common;
#[path = "../../store/tests/harness/mod.rs"]
#[allow(dead_code)] // the store tests use every field; these tests need only the store
mod harness;

use common::{fixtures, shared, TestApp};
use futures_util::StreamExt;
use harness::TestDb;
use histoscore_server::Limits;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    review_cycle,
    two_clients_editing_one_record_exactly_one_wins,
    full_queue_answers_503_and_stores_nothing,
    queued_jobs_survive_a_restart,
    every_corpus_file_is_scored_or_refused,
    other_host_names_get_421_and_every_answer_has_security_headers,
    spreadsheet_styles_history_filters_and_local_time,
    the_pixel_size_comes_from_the_resolution_tags,
);

const NAME: &str = "S-3602-10X_Image002_ch00.tif";

fn expected(name: &str) -> Value {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    v["images"][name]["scores"].clone()
}

async fn review_cycle(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let c = &app.client;
    assert_eq!(app.get_json("/healthz").await, json!({"status": "ok"}));
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    let config = app.get_json("/api/config").await;
    assert_eq!(config["schema"]["metrics"].as_array().unwrap().len(), 4);
    assert_eq!(config["model"]["demo"], false);

    // Listen for events before uploading.
    let events = c.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut events = events.bytes_stream();

    let img = fixtures().join("images").join(NAME);
    let r = app.upload(&img, NAME).await;
    assert_eq!(r.status(), 201);
    let rec: Value = r.json().await.unwrap();
    let id = rec["id"].as_i64().unwrap();
    assert_eq!(rec["serial"], "S-3602-02");
    assert_eq!(rec["group"], "S-3602");
    assert_eq!(rec["status"], "queued");

    // The scored state is pushed, not polled.
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.contains(&format!("{{\"id\":{id},\"status\":\"scored\"")) {
        let chunk = tokio::time::timeout_at(deadline.into(), events.next())
            .await
            .expect("no scored event within 60 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: image"), "{seen}");
    drop(events);

    let rec = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(rec["status"], "scored", "{rec}");
    for (metric, v) in expected(NAME).as_object().unwrap() {
        assert_eq!(&rec["scores"][metric], v, "{metric}");
        assert_eq!(&rec["draft"]["rounded"][metric], v, "{metric}");
    }

    // Pictures: thumbnail, preview, deep zoom.
    for (path, max) in [("thumbnail.jpg", 256), ("preview.jpg", 1024)] {
        let r = c
            .get(app.url(&format!("/api/images/{id}/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age"));
        let pic = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(pic.width().max(pic.height()), max, "{path}");
    }
    let dzi = c
        .get(app.url(&format!("/api/images/{id}/tiles.dzi")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (w, h) = (
        rec["width"].as_i64().unwrap(),
        rec["height"].as_i64().unwrap(),
    );
    assert!(
        dzi.contains(&format!("Width=\"{w}\" Height=\"{h}\"")),
        "{dzi}"
    );
    let top = histoscore_server::media::max_level(w as u32, h as u32);
    let r = c
        .get(app.url(&format!("/api/images/{id}/tiles_files/{top}/1_1.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tile = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((tile.width(), tile.height()), (256, 256));
    let r = c
        .get(app.url(&format!("/api/images/{id}/tiles_files/0/0_0.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(app.url(&format!("/api/images/{id}/tiles_files/{top}/999_0.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A correction needs the ETag; bad values are refused with the field; a stale ETag gets 409.
    let r = c
        .get(app.url(&format!("/api/images/{id}")))
        .send()
        .await
        .unwrap();
    let tag = r.headers()["etag"].to_str().unwrap().to_string();
    let url = app.url(&format!("/api/images/{id}/scores"));
    let body = json!({"scores": {"Fibrosis": 3.5}, "reason": "more collagen than the AI saw"});
    assert_eq!(
        c.patch(&url).json(&body).send().await.unwrap().status(),
        428
    );
    for bad in [
        json!({"scores": {"Fibrosis": 4.1}}),
        json!({"scores": {"Fibrosis": 1.1}}),
        json!({"scores": {"Fibrosis": "three"}}),
        json!({"scores": {"Nope": 1}}),
    ] {
        let r = c
            .patch(&url)
            .header("If-Match", &tag)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert!(e["detail"].as_str().unwrap().len() > 10, "{e}");
        assert!(e["field"].is_string(), "{e}");
    }
    let e: Value = c
        .patch(&url)
        .header("If-Match", &tag)
        .json(&json!({"scores": {"Fibrosis": 4.1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["allowed"], json!({"min": 0, "max": 4.0, "step": 0.25}));
    let r = c
        .patch(&url)
        .header("If-Match", &tag)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a body that is not JSON is a bad request");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_json");
    let r = c
        .patch(&url)
        .header("If-Match", &tag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new_tag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_tag, tag);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["scores"]["Fibrosis"], 3.5);
    assert_eq!(updated["updated_by"], "local");
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
    let r = c
        .patch(&url)
        .header("If-Match", &new_tag)
        .json(&json!({"reviewed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The audit log holds the change with its reason.
    let audit = app.get_json(&format!("/api/images/{id}/audit")).await;
    let change = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "score")
        .unwrap()
        .clone();
    assert_eq!(change["field"], "Fibrosis");
    assert_eq!(change["new_value"], "3.5");
    assert_eq!(change["reason"], "more collagen than the AI saw");
    assert_eq!(change["actor"], "local");

    // Re-uploading the same file returns the corrected record, not a new draft.
    let r = app.upload(&img, NAME).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], id);
    assert_eq!(again["scores"]["Fibrosis"], 3.5);
    assert_eq!(again["review_status"], "reviewed");
    // The same content under another name is a duplicate of the same record.
    let r = app.upload(&img, "renamed.tif").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], id);
    // …and found under that name too, with the audit saying so.
    let found = app.get_json("/api/images?search=renamed").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["id"], id);
    let audit = app.get_json(&format!("/api/images/{id}/audit")).await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "other_name" && e["new_value"] == "renamed.tif"));

    // A different image under a known name is a conflict with both hashes…
    let other = fixtures().join("images/gray_800x600.tif");
    let r = app.upload(&other, NAME).await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["existing_sha256"], rec["sha256"]);
    assert!(e["uploaded_sha256"].as_str().unwrap().len() == 64);
    // …unless the client asks to keep both.
    let r = app
        .upload_bytes(
            std::fs::read(&other).unwrap(),
            NAME,
            "?on_conflict=keep_both",
        )
        .await;
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    app.wait_done(second["id"].as_i64().unwrap()).await;

    // Invalid files are refused and leave nothing behind; hostile names are data only.
    let before = app.stored_originals().len();
    let bad = shared().join("corpus/generated/bad_truncated60_lzw.tif");
    let r = app.upload(&bad, "../x.tif").await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(e["detail"].as_str().unwrap().contains("truncated"), "{e}");
    assert!(
        !dir.path().join("x.tif").exists() && !dir.path().parent().unwrap().join("x.tif").exists()
    );
    assert_eq!(
        common::temp_files(dir.path()),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(app.stored_originals().len(), before);

    // Several files in one request: one result each.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(&img).unwrap()).file_name(NAME),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"not an image".to_vec()).file_name("notes.tif"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                std::fs::read(fixtures().join("images/rgba_800x600.tif")).unwrap(),
            )
            .file_name("rgba.tif"),
        );
    let r = c
        .post(app.url("/api/images"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let results: Value = r.json().await.unwrap();
    let statuses: Vec<&str> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["known", "refused", "new"]);
    assert!(results["results"][1]["error"].as_str().unwrap().len() > 5);
    let rgba_id = results["results"][2]["id"].as_i64().unwrap();
    app.wait_done(rgba_id).await;

    // History: search, filters, sort, paging, group summary.
    let list = app.get_json("/api/images?search=3602&limit=10").await;
    assert_eq!(list["total"], 2);
    let list = app.get_json("/api/images?review_status=reviewed").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id);
    let list = app
        .get_json("/api/images?sort=filename&dir=desc&limit=1&offset=0")
        .await;
    assert_eq!(list["total"], 3);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["filename"], "rgba.tif");
    let list = app.get_json("/api/images?group=S-3602").await;
    let g = &list["groups"][0];
    assert_eq!(
        (g["count"].as_i64(), g["reviewed"].as_i64()),
        (Some(2), Some(1))
    );
    // The page's groups only; every group from /api/groups.
    let page = app.get_json("/api/images?sort=filename&limit=1").await;
    assert_eq!(page["groups"].as_array().unwrap().len(), 1, "{page}");
    let all = app.get_json("/api/groups").await;
    let names: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].clone())
        .collect();
    assert!(names.len() >= 2, "{all}");
    assert!(names.contains(&json!("S-3602")), "{all}");
    let s3602 = all
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "S-3602")
        .unwrap();
    assert_eq!(
        (s3602["count"].as_i64(), s3602["reviewed"].as_i64()),
        (Some(2), Some(1))
    );
    let r = c
        .get(app.url("/api/images?created_from=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .get(app.url("/api/images?sort=password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Retract the keep-both upload: hidden from lists and exports, audited, restorable.
    let sid = second["id"].as_i64().unwrap();
    let r = c
        .delete(app.url(&format!("/api/images/{sid}")))
        .json(&json!({"reason": "wrong slide"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.get(app.url(&format!("/api/images/{sid}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(app.get_json("/api/images").await["total"], 2);
    let audit = app.get_json(&format!("/api/images/{sid}/audit")).await;
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "delete" && e["reason"] == "wrong slide"));
    // The history lists retracted records on request, to restore them from there.
    let gone = app.get_json("/api/images?deleted=true").await;
    assert_eq!(gone["total"], 1, "{gone}");
    assert_eq!(gone["items"][0]["id"], sid);
    assert!(gone["items"][0]["deleted_at"].is_string());
    // Uploading the deleted file again offers the restore instead of a fresh draft…
    let r = app.upload(&other, "gray-again.tif").await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "deleted_duplicate");
    assert_eq!(e["existing_id"], sid);
    assert!(e["detail"].as_str().unwrap().contains("restore"), "{e}");
    assert_eq!(
        app.get_json("/api/images").await["total"],
        2,
        "nothing stored"
    );

    // The exports hold the correction and not the retracted record.
    let csv = c
        .get(app.url("/api/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csv = csv.trim_start_matches('\u{feff}');
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("no column {n}"))
    };
    let row = rows
        .iter()
        .find(|r| r[col("id")] == id.to_string())
        .unwrap();
    assert_eq!(&row[col("fibrosis")], "3.5");
    assert_eq!(
        &row[col("ai_fibrosis")],
        expected(NAME)["Fibrosis"].to_string().as_str()
    );
    assert_eq!(&row[col("fibrosis_corrected")], "yes");
    assert_eq!(&row[col("review_status")], "reviewed");
    assert_eq!(&row[col("reviewed_by")], "local");
    assert!(!row[col("reviewed_at")].is_empty());
    assert_eq!(&row[col("updated_by")], "local");
    let json_export = app.get_json("/api/export.json").await;
    assert_eq!(json_export["records"].as_array().unwrap().len(), 2);
    assert_eq!(json_export["schema"]["name"], "pancreas-v1");
    // Restored, it is back.
    let r = c
        .post(app.url(&format!("/api/images/{sid}/restore")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.get_json("/api/images").await["total"], 3);

    // Around it: metrics, OpenAPI, docs, request ids, unknown API routes.
    let metrics = c
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("histoscore_images_scored_total 3"),
        "{metrics}"
    );
    assert!(metrics.contains("histoscore_http_request_duration_seconds_bucket"));
    assert!(
        metrics.contains("histoscore_uploads_refused_total{error=\"unsupported_image\"} 2"),
        "{metrics}"
    );
    let api = app.get_json("/api/openapi.json").await;
    for p in [
        "/api/images",
        "/api/images/{id}/scores",
        "/api/export.csv",
        "/api/events",
        "/api/images/{id}/tiles.dzi",
    ] {
        assert!(api["paths"][p].is_object(), "OpenAPI lacks {p}");
    }
    let docs = c.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let r = c.get(app.url("/healthz")).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let r = c.get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "not_found");
    app.stop().await;
}

async fn two_clients_editing_one_record_exactly_one_wins(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let img = fixtures().join("images/rgba_800x600.tif");
    let rec: Value = app.upload(&img, "rgba.tif").await.json().await.unwrap();
    let id = rec["id"].as_i64().unwrap();
    app.wait_done(id).await;
    let r = app
        .client
        .get(app.url(&format!("/api/images/{id}")))
        .send()
        .await
        .unwrap();
    let tag = r.headers()["etag"].to_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (c, url, tag) = (
            app.client.clone(),
            app.url(&format!("/api/images/{id}/scores")),
            tag.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let v = 0.25 * (i + 1) as f64;
            let r = c
                .patch(url)
                .header("If-Match", tag)
                .json(&json!({"scores": {"Glandular Atrophy": v}}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), v, r.json::<Value>().await.unwrap())
        }));
    }
    let mut wins = Vec::new();
    for t in tasks {
        let (status, v, body) = t.await.unwrap();
        match status {
            200 => wins.push(v),
            409 => assert!(body["current"]["scores"]["Glandular Atrophy"].is_number()),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one writer wins");
    let now = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(now["scores"]["Glandular Atrophy"], wins[0]);
    app.stop().await;
}

async fn full_queue_answers_503_and_stores_nothing(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_queued_jobs: 1,
        ..Limits::default()
    };
    let app = TestApp::with(db.store, dir.path(), limits, 0).await;
    let images = fixtures().join("images");
    let r = app
        .upload(&images.join("gray_800x600.tif"), "gray.tif")
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .upload(&images.join("rgba_800x600.tif"), "rgba.tif")
        .await;
    assert_eq!(r.status(), 503);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "busy");
    assert_eq!(app.get_json("/api/images").await["total"], 1);
    assert_eq!(app.stored_originals().len(), 1);
    app.stop().await;
}

async fn queued_jobs_survive_a_restart(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = db.store.clone();
    // No workers: the jobs stay queued.
    let app = TestApp::with(db.store, dir.path(), Limits::default(), 0).await;
    let images = fixtures().join("images");
    let a: Value = app
        .upload(&images.join("gray_800x600.tif"), "gray.tif")
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .upload(&images.join("rgba_800x600.tif"), "rgba.tif")
        .await
        .json()
        .await
        .unwrap();
    app.stop().await;
    let app = TestApp::start(store, dir.path()).await;
    for rec in [a, b] {
        let done = app.wait_done(rec["id"].as_i64().unwrap()).await;
        assert_eq!(done["status"], "scored", "{done}");
    }
    app.stop().await;
}

async fn every_corpus_file_is_scored_or_refused(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let mut files: Vec<_> = ["corpus/generated", "corpus/real"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(shared().join(d))
                .unwrap()
                .flatten()
                .map(|e| e.path())
        })
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e != "txt"))
        .collect();
    files.sort();
    let mut accepted = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let t = Instant::now();
        let r = app.upload(f, &name).await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        let bad = name.starts_with("bad_")
            || name.starts_with("bomb_")
            || name.contains("broken")
            || name.contains("unopenable")
            || name.contains("unreadable");
        match status {
            200 | 201 => {
                assert!(
                    !bad || name == "bad_png_renamed.tif" || name == "bad_ifd_loop.tif",
                    "{name} was accepted"
                );
                accepted.push((name, body["id"].as_i64().unwrap()));
            }
            400..=499 => {
                assert!(
                    body["detail"].as_str().is_some_and(|d| d.len() > 10),
                    "{name}: {body}"
                );
                if name.starts_with("bomb_") {
                    assert!(
                        t.elapsed() < Duration::from_secs(5),
                        "{name} took {:?}",
                        t.elapsed()
                    );
                }
            }
            _ => panic!("{name}: {status} {body}"),
        }
    }
    // The valid generated files all got in (JPEG2000 may be refused, as documented).
    for must in [
        "S-4711-10x_Image003_RAW_ch00.tif",
        "rgb16_uncompressed.tif",
        "palette8.tif",
        "rgb8_planar_separate.tif",
        "=cmd|' -C calc'!A0.tif",
        "histolab__tcga-lung-rgb.png",
    ] {
        assert!(
            accepted.iter().any(|(n, _)| n == must),
            "{must} was refused"
        );
    }
    for (name, id) in &accepted {
        let rec = app.wait_done(*id).await;
        assert_eq!(rec["status"], "scored", "{name}: {rec}");
    }
    assert_eq!(app.get_json("/healthz").await["status"], "ok");
    assert_eq!(
        common::temp_files(dir.path()),
        Vec::<std::path::PathBuf>::new()
    );
    // Files with the same pixels under several names share one record.
    let ids: std::collections::BTreeSet<i64> = accepted.iter().map(|(_, id)| *id).collect();
    let listed = app.get_json("/api/images?limit=1000").await;
    assert_eq!(listed["total"].as_u64().unwrap() as usize, ids.len());
    // A hostile name is stored as data; the export neutralises it. (The corpus file with
    // that name has the same pixels as another one, so it is a duplicate: use other content.)
    let r = app
        .upload(
            &fixtures().join("images/gray_800x600.tif"),
            "=cmd|' -C calc'!A0.tif",
        )
        .await;
    assert_eq!(r.status(), 201);
    let csv = app
        .client
        .get(app.url("/api/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("'=cmd|"), "formula not neutralised");
    app.stop().await;
}

/// DNS rebinding: a page on another site that points its own name at this server sends that
/// name in `Host`. Single-user mode answers loopback names only; with accounts, the names of
/// `--public-url`.
async fn other_host_names_get_421_and_every_answer_has_security_headers(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = db.store.clone();
    let app = TestApp::start(db.store, dir.path()).await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let with_host =
        |host: String, path: &str| app.client.get(app.url(path)).header("host", host).send();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "LOCALHOST".to_string(),
    ] {
        let r = with_host(host.clone(), "/api/images").await.unwrap();
        assert_eq!(r.status(), 200, "{host}");
    }
    for host in [
        format!("evil.example:{port}"),
        "localhost.evil.example".to_string(),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        for path in ["/api/images", "/", "/api/session"] {
            let r = with_host(host.clone(), path).await.unwrap();
            assert_eq!(r.status(), 421, "{host} {path}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "misdirected_request");
            assert!(body["detail"].as_str().unwrap().contains("localhost"));
        }
    }
    // A forged change from a rebinding page is refused before it reaches the data.
    let r = app
        .client
        .patch(app.url("/api/images/1/scores"))
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .header("if-match", "\"1\"")
        .json(&json!({"scores": {"Fibrosis": 1.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    // Security headers, on pages, API answers and errors alike.
    for path in ["/", "/api/config", "/api/images/999999", "/docs/"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    app.stop().await;

    // With accounts: the names of --public-url (and loopback names); others get 421.
    let hash = histoscore_app::passwords::hash_password("correct horse battery").unwrap();
    store
        .create_user("ada", histoscore_store::Role::Admin, &hash)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::configured(store.clone(), dir.path(), Limits::default(), 0, |s| {
        s.public_hosts = vec!["histo.lab.example".into()];
    })
    .await;
    for (host, status) in [
        ("histo.lab.example", 200),
        ("HISTO.lab.example:443", 200),
        ("localhost", 200),
        ("evil.example", 421),
    ] {
        let r = app
            .client
            .get(app.url("/api/session"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{host}");
    }
    app.stop().await;
    // Without --public-url, accounts answer any name (and `serve` warns).
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::configured(store, dir.path(), Limits::default(), 0, |_| {}).await;
    let r = app
        .client
        .get(app.url("/api/session"))
        .header("host", "scores.lab.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

/// The records CSV in each spreadsheet style: semicolons and decimal commas for Excel where
/// 1.5 is written 1,5; raw values without the formula guard for R / Python (and a file name
/// that says so); the history's filters (a case-insensitive group prefix) and a local-time
/// column. A wrong style or zone is a 400 that names it.
async fn spreadsheet_styles_history_filters_and_local_time(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let images = fixtures().join("images");
    let mut ids = Vec::new();
    for (file, name) in [
        (
            "S-3602-10X_Image001_ch00.tif",
            "S-3602-10X_Image001_ch00.tif",
        ),
        (
            "S-4500-10x_Image123_RAW_ch00.tif",
            "S-4500-10x_Image123_RAW_ch00.tif",
        ),
        ("gray_800x600.tif", "=HYPERLINK(1).tif"),
    ] {
        let r = app.upload(&images.join(file), name).await;
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        assert_eq!(app.wait_done(id).await["status"], "scored");
        ids.push(id);
    }
    let rec = app.get_json(&format!("/api/images/{}", ids[0])).await;
    let r = app
        .client
        .patch(app.url(&format!("/api/images/{}/scores", ids[0])))
        .header("if-match", format!("\"{}\"", rec["version"]))
        .json(&json!({"scores": {"Fibrosis": 1.5}, "reviewed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The history's group filter: case-insensitive, by prefix.
    let listed = app.get_json("/api/images?group=s-36").await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["group"], "S-3602");

    let get = |query: &'static str| {
        let c = app.client.clone();
        let url = app.url(&format!("/api/export.csv{query}"));
        async move {
            let r = c.get(url).send().await.unwrap();
            let status = r.status();
            let file = r
                .headers()
                .get("content-disposition")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (status, file, r.text().await.unwrap())
        }
    };
    let table = |text: &str, delimiter: u8| {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        let rows: Vec<Vec<String>> = rdr
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    };
    let cell = |header: &[String], row: &[String], name: &str| {
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
        row[i].clone()
    };

    // Semicolon style, one group, local time in Berlin.
    let (status, file, text) = get("?style=semicolon&tz=Europe%2FBerlin&group=s-36").await;
    assert_eq!(status, 200, "{text}");
    assert!(file.contains("histoscore-export-semicolon.csv"), "{file}");
    assert!(text
        .trim_start_matches('\u{feff}')
        .starts_with("id;created_at;created_at_local;"));
    let (header, rows) = table(&text, b';');
    assert_eq!(rows.len(), 1, "only the filtered group: {rows:?}");
    let row = &rows[0];
    assert_eq!(cell(&header, row, "group"), "S-3602");
    assert_eq!(cell(&header, row, "fibrosis"), "1,5");
    assert_eq!(cell(&header, row, "fibrosis_corrected"), "yes");
    assert_eq!(cell(&header, row, "reviewed_by"), "local");
    let utc = chrono::DateTime::parse_from_rfc3339(&cell(&header, row, "created_at")).unwrap();
    let berlin = utc.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(
        cell(&header, row, "created_at_local"),
        berlin.format("%Y-%m-%d %H:%M:%S").to_string()
    );
    // Every column name in one style.
    for h in &header {
        assert!(
            h.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{h}"
        );
    }

    // Comma style (the default): the formula guard on; raw: off, and it says so in its name.
    let (_, file, text) = get("").await;
    assert!(file.contains("\"histoscore-export.csv\""), "{file}");
    let (header, rows) = table(&text, b',');
    assert_eq!(rows.len(), 3);
    assert!(!header.contains(&"created_at_local".to_string()));
    assert!(rows
        .iter()
        .any(|r| cell(&header, r, "filename") == "'=HYPERLINK(1).tif"));
    let (_, file, text) = get("?style=raw").await;
    assert!(file.contains("histoscore-export-raw.csv"), "{file}");
    let (header, rows) = table(&text, b',');
    assert!(rows
        .iter()
        .any(|r| cell(&header, r, "filename") == "=HYPERLINK(1).tif"));
    assert!(rows.iter().any(|r| cell(&header, r, "fibrosis") == "1.5"));

    for (query, field) in [("?style=excel", "style"), ("?tz=Mars%2FOlympus", "tz")] {
        let (status, _, text) = get(query).await;
        assert_eq!(status, 400, "{query}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["field"], field, "{v}");
    }
    app.stop().await;
}

/// Sets a TIFF's first-page resolution tags: `per_cm` pixels per centimetre in both
/// directions (unit 3, centimetre). The tags must exist (as in the microscope fixtures).
fn with_resolution(mut tif: Vec<u8>, per_cm: u32) -> Vec<u8> {
    let le = &tif[..2] == b"II";
    let u16_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let put32 = |b: &mut Vec<u8>, o: usize, v: u32| {
        let bytes = if le { v.to_le_bytes() } else { v.to_be_bytes() };
        b[o..o + 4].copy_from_slice(&bytes);
    };
    let ifd = u32_at(&tif, 4) as usize;
    let n = u16_at(&tif, ifd) as usize;
    let mut seen = 0;
    for i in 0..n {
        let e = ifd + 2 + 12 * i;
        match u16_at(&tif, e) {
            282 | 283 => {
                let at = u32_at(&tif, e + 8) as usize;
                put32(&mut tif, at, per_cm);
                put32(&mut tif, at + 4, 1);
                seen += 1;
            }
            296 => {
                let v = if le {
                    3u16.to_le_bytes()
                } else {
                    3u16.to_be_bytes()
                };
                tif[e + 8..e + 10].copy_from_slice(&v);
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 3, "the fixture has resolution tags");
    tif
}

/// A microscope TIFF whose resolution tags give a physical pixel size carries it in its
/// record (the viewer's scale bar); one that does not (unit "none") has none.
async fn the_pixel_size_comes_from_the_resolution_tags(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let file = "S-3602-10X_Image001_ch00.tif";
    let tif = std::fs::read(fixtures().join("images").join(file)).unwrap();
    let r = app
        .upload_bytes(with_resolution(tif.clone(), 20_000), "S-1-scaled.tif", "")
        .await;
    assert_eq!(r.status(), 201);
    let rec: Value = r.json().await.unwrap();
    assert_eq!(rec["pixel_size_um"], 0.5, "10 000 µm / 20 000 px: {rec}");
    let r = app.upload_bytes(tif, file, "").await;
    let rec: Value = r.json().await.unwrap();
    assert_eq!(rec["pixel_size_um"], Value::Null, "unit none: {rec}");
    app.stop().await;
}
