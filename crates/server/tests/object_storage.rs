//! The server with its files in S3 (moto's S3 server, started by `scripts/test`, named in
//! `HISTOSCORE_TEST_S3`), on SQLite and PostgreSQL: an upload is stored in the bucket, scored,
//! previewed and tiled through the local cache; with the store down an upload answers 503 with
//! Retry-After and leaves neither a record nor an object.

mod common;
#[path = "../../store/tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::Arc;

use common::{fixtures, s3_endpoint, TestApp};
use harness::TestDb;
use histoscore_app::blobs::BlobStore;
use histoscore_app::s3::{S3Blobs, S3Options};
use serde_json::Value;

on_both_backends!(
    uploads_live_in_the_bucket,
    a_store_outage_answers_503_and_keeps_nothing,
);

fn options(endpoint: &str, retries: usize) -> S3Options {
    S3Options {
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        credentials: Some(("test".into(), "test".into())),
        retries: Some(retries),
    }
}

async fn uploads_live_in_the_bucket(db: TestDb) {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = format!(
        "histoscore-srv-{}-{}",
        std::process::id(),
        histoscore_app::unique()
    );
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let dir = tempfile::tempdir().unwrap();
    let blobs: Arc<dyn BlobStore> = Arc::new(
        S3Blobs::with_options(
            &format!("s3://{bucket}/lab"),
            &options(&endpoint, 2),
            dir.path().join("cache/blobs"),
            1 << 30,
        )
        .unwrap(),
    );
    let store_view = blobs.clone();
    let app = TestApp::configured(db.store, dir.path(), Default::default(), 1, move |s| {
        s.app.blobs = blobs;
    })
    .await;
    let tif = fixtures().join("images/rgba_800x600.tif");
    let r = app.upload(&tif, "S-1_Image001.tif").await;
    assert_eq!(r.status().as_u16(), 201);
    let rec: Value = r.json().await.unwrap();
    let id = rec["id"].as_i64().unwrap();
    let sha = rec["sha256"].as_str().unwrap().to_string();
    let done = app.wait_done(id).await;
    assert_eq!(done["status"], "scored", "{done}");
    // In the bucket, not in the data folder.
    assert!(app.stored_originals().is_empty());
    let original = format!("originals/{}/{sha}", &sha[..2]);
    assert!(store_view.exists(&original).await.unwrap());
    let listed = store_view.list("originals/").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    // Previews and tiles come from the bucket too.
    for path in [
        format!("/api/images/{id}/thumbnail.jpg"),
        format!("/api/images/{id}/preview.jpg"),
        format!("/api/images/{id}/tiles_files/10/0_0.jpg"),
    ] {
        let r = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    assert!(store_view
        .exists(&format!("previews/{}/{sha}/thumb.jpg", &sha[..2]))
        .await
        .unwrap());
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["blob_store"], format!("s3://{bucket}/lab"));
    app.stop().await;
}

async fn a_store_outage_answers_503_and_keeps_nothing(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let blobs: Arc<dyn BlobStore> = Arc::new(
        S3Blobs::with_options(
            "s3://down/lab",
            &options(&format!("http://127.0.0.1:{port}"), 0),
            dir.path().join("cache/blobs"),
            1 << 20,
        )
        .unwrap(),
    );
    let app = TestApp::configured(db.store, dir.path(), Default::default(), 1, move |s| {
        s.app.blobs = blobs;
    })
    .await;
    let tif = fixtures().join("images/rgba_800x600.tif");
    let r = app.upload(&tif, "S-1_Image001.tif").await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"),
        "{body}"
    );
    let list = app.get_json("/api/images").await;
    assert_eq!(list["total"], 0, "no record without its object: {list}");
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503, "not ready without the file store");
    app.stop().await;
}
