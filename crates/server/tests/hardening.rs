//! Attacks found by an adversarial test of a release build, kept as regression tests: each
//! runs over real HTTP on SQLite and PostgreSQL.

mod common;
#[path = "../../store/tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use common::{fixtures, TestApp};
use harness::TestDb;
use histoscore_server::Limits;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    metrics_labels_come_from_fixed_sets,
    bodies_and_reasons_are_bounded,
    scores_just_off_the_grid_snap_or_are_refused,
    weak_passwords_are_refused,
    half_open_and_stalled_connections_are_bounded,
);

const NAME: &str = "S-3602-10X_Image002_ch00.tif";

async fn scored(app: &TestApp) -> Value {
    let r = app
        .upload(&fixtures().join("images").join(NAME), NAME)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    app.wait_done(id).await
}

async fn patch(app: &TestApp, rec: &Value, body: Value) -> (StatusCode, Value) {
    let r = app
        .client
        .patch(app.url(&format!("/api/images/{}/scores", rec["id"])))
        .header("if-match", format!("\"{}\"", rec["version"]))
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// Every request with a made-up method used to add a series to `/metrics` forever.
async fn metrics_labels_come_from_fixed_sets(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    // Warm up every label the requests below can produce.
    for path in ["/api/images", "/api/images/0/nowhere"] {
        let method = reqwest::Method::from_bytes(b"WARMUP").unwrap();
        app.client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
    }
    app.get_text("/metrics").await; // its own series
    let before = app.get_text("/metrics").await;
    for i in 0..300 {
        let method = reqwest::Method::from_bytes(format!("XYZZY{i}").as_bytes()).unwrap();
        app.client
            .request(method, app.url(&format!("/api/images/{i}/nowhere")))
            .send()
            .await
            .unwrap();
    }
    let after = app.get_text("/metrics").await;
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(
        series(&before),
        series(&after),
        "new methods and paths must not add series"
    );
    assert!(
        !after.contains("XYZZY") && !after.contains("WARMUP"),
        "method names are not labels"
    );
    assert!(after.contains("status=\"4xx\""), "statuses are classes");
    app.stop().await;
}

async fn bodies_and_reasons_are_bounded(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_upload_bytes: 8 << 20,
        ..Limits::default()
    };
    let app = TestApp::with(db.store.clone(), dir.path(), limits, 1).await;
    let rec = scored(&app).await;
    // A reason over 2 000 characters is refused and changes nothing.
    let (st, v) = patch(
        &app,
        &rec,
        json!({"scores": {"Fibrosis": 1.0}, "reason": "x".repeat(2001)}),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "reason");
    let now = app.get_json(&format!("/api/images/{}", rec["id"])).await;
    assert_eq!(now["version"], rec["version"], "nothing changed");
    // Retracting with an over-long reason: refused too.
    let r = app
        .client
        .delete(app.url(&format!("/api/images/{}", rec["id"])))
        .json(&json!({"reason": "é".repeat(2001)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.get_json(&format!("/api/images/{}", rec["id"])).await["deleted_at"].is_null());
    // 2 000 characters are fine.
    let (st, v) = patch(
        &app,
        &rec,
        json!({"scores": {"Fibrosis": 1.0}, "reason": "y".repeat(2000)}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // JSON bodies over 1 MB are refused whatever the route.
    let big = json!({"scores": {"Fibrosis": 1.0}, "pad": "z".repeat(2 << 20)});
    let (st, _) = patch(&app, &v, big).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    // An upload that declares more than the limit gets 413 before its body is read: the
    // server answers although the client never sends the body it announced.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        format!(
            "POST /api/images HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; \
             boundary=x\r\nContent-Length: {}\r\n\r\n",
            600u64 << 20
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    app.stop().await;
}

/// 1.2500000001 and 5e-324 used to be stored as they were (the second exported as a
/// 300-character cell).
async fn scores_just_off_the_grid_snap_or_are_refused(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    let rec = scored(&app).await;
    let (st, rec) = patch(
        &app,
        &rec,
        json!({"scores": {"Fibrosis": 1.2500000001, "Glandular Atrophy": 5e-324}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{rec}");
    assert_eq!(rec["scores"]["Fibrosis"], 1.25);
    assert_eq!(rec["scores"]["Glandular Atrophy"], 0.0);
    let (st, v) = patch(&app, &rec, json!({"scores": {"Fibrosis": 1.2501}})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "Fibrosis");
    let csv = app.get_text("/api/export.csv").await;
    assert!(
        csv.lines().all(|l| l.split(',').all(|c| c.len() < 100)),
        "{csv}"
    );
    app.stop().await;
}

/// Ten spaces used to pass as a password.
async fn weak_passwords_are_refused(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start(db.store, dir.path()).await;
    // Single-user mode: the local administrator creates the first account.
    for (name, password, why) in [
        ("ada", "          ", "spaces"),
        ("ada", "password1234", "easy to guess"),
        ("margaret", "margaret-2026!", "user name"),
        ("ada", "short", "at least 10"),
    ] {
        let r = app
            .client
            .post(app.url("/api/users"))
            .json(&json!({"name": name, "password": password, "role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{password:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["field"], "password");
        assert!(
            v["detail"].as_str().unwrap().contains(why),
            "{password:?}: {v}"
        );
    }
    let r = app
        .client
        .post(app.url("/api/users"))
        .json(&json!({"name": "ada", "password": "tulip mountain ledger", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    app.stop().await;
}

/// Reads until the server closes the connection; what it sent, or `None` if it stayed open.
async fn closed_within(s: &mut tokio::net::TcpStream, secs: u64) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).to_string()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn connect_from(local: &str, addr: &str) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{local}:0").parse().unwrap()).unwrap();
    sock.connect(addr.parse().unwrap()).await.unwrap()
}

/// Slowloris: 19 990 half-open connections used to exhaust the descriptors, and 64 stalled
/// uploads blocked every other upload.
async fn half_open_and_stalled_connections_are_bounded(db: TestDb) {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut limits = Limits {
        max_pending_uploads: 2,
        ..Limits::default()
    };
    limits.conn.max_connections = 6;
    limits.conn.max_per_address = 3;
    limits.conn.header_timeout = std::time::Duration::from_secs(1);
    limits.conn.idle_timeout = std::time::Duration::from_secs(2);
    let app = TestApp::with(db.store, dir.path(), limits, 1).await;
    let addr = app.base.trim_start_matches("http://").to_string();

    // Headers that never finish: closed after the header deadline.
    let mut slow = connect_from("127.0.0.1", &addr).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, 10).await.is_some(),
        "a client that never finishes its headers is dropped"
    );

    // Per address: the fourth silent connection from one address is closed at once, while
    // another address still gets in; past the overall cap, everyone waits for a free slot.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", &addr).await);
    }
    let mut fourth = connect_from("127.0.0.2", &addr).await;
    assert!(
        closed_within(&mut fourth, 2).await.is_some(),
        "per-address cap"
    );
    for _ in 0..3 {
        held.push(connect_from("127.0.0.3", &addr).await);
    }
    let mut over = connect_from("127.0.0.4", &addr).await;
    assert!(closed_within(&mut over, 2).await.is_some(), "overall cap");
    // Silent connections are closed after the idle deadline, freeing their slots.
    for c in &mut held {
        assert!(
            closed_within(c, 10).await.is_some(),
            "idle connections close"
        );
    }
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // Two uploads that stop half-way hold both upload slots only until the idle deadline.
    let mut stalled = Vec::new();
    for local in ["127.0.0.5", "127.0.0.6"] {
        let mut c = connect_from(local, &addr).await;
        c.write_all(
            format!(
                "POST /api/images HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; \
                 boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: \
                 form-data; name=\"file\"; filename=\"s.tif\"\r\n\r\nII*\0"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        stalled.push(c);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = app
        .upload(&fixtures().join("images").join(NAME), NAME)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "both slots are taken"
    );
    for c in &mut stalled {
        assert!(
            closed_within(c, 10).await.is_some(),
            "stalled upload dropped"
        );
    }
    let r = app
        .upload(&fixtures().join("images").join(NAME), NAME)
        .await;
    assert!(
        r.status().is_success(),
        "slots are free again: {}",
        r.status()
    );
    // Nothing of the stalled uploads is left behind.
    let tmp = common::temp_files(dir.path());
    assert!(tmp.is_empty(), "{tmp:?}");
    app.stop().await;
}
