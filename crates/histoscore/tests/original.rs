//! Coming from the original system: its scores imported from its PostgreSQL table
//! (`histoscore import-original`), its API for its clients (`--original-api`, with the
//! original's pytest suite translated to HTTP), and API tokens for scripts.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (or `HISTOSCORE_TEST_POSTGRES`, an admin URL) and
//! `psql`; the original's database is a scratch database made here.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use histoscore_store::scratch::ScratchDatabase;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn fixture(name: &str) -> PathBuf {
    shared().join("fixtures/reference-model/images").join(name)
}

fn admin_url() -> String {
    std::env::var("HISTOSCORE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn histoscore(args: &[&str], data: &Path, database: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histoscore"));
    c.args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("HISTOSCORE_MODEL")
        .stdin(Stdio::null());
    if let Some(db) = database {
        c.args(["--database", db]);
    }
    c.output().expect("run histoscore")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `histoscore serve --original-api` on a free port, with the reference model.
fn serve(data: &Path, database: Option<&str>, extra: &[&str]) -> Server {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histoscore"));
    c.args(["serve", "--bind", "127.0.0.1:0", "--original-api"])
        .arg("--data-dir")
        .arg(data)
        .arg("--model")
        .arg(shared().join("fixtures/reference-model/model.pth"))
        .args(extra)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    if let Some(db) = database {
        c.args(["--database", db]);
    }
    let mut child = c.spawn().expect("start histoscore serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server did not say where it listens");
    Server { child, base }
}

/// The original's table exactly as its backend creates it (`Base.metadata.create_all` for
/// `app/models.py`, as SQLAlchemy 2 emits it for PostgreSQL), and rows as its API wrote them:
/// uploads insert with `ON CONFLICT (filename) DO NOTHING`, `PUT /api/scores` sets any value
/// it is sent (200, -5, 1.7, null) and recomputes the total with null as 0.
const ORIGINAL_TABLE: &str = r#"
CREATE TABLE image_scores (
    id SERIAL NOT NULL,
    filename VARCHAR NOT NULL,
    serial_number VARCHAR,
    sample_id VARCHAR,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now(),
    score_architecture FLOAT,
    score_atrophy FLOAT,
    score_complexes FLOAT,
    score_fibrosis FLOAT,
    score_total FLOAT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX ix_image_scores_id ON image_scores (id);
CREATE UNIQUE INDEX ix_image_scores_filename ON image_scores (filename);
CREATE INDEX ix_image_scores_serial_number ON image_scores (serial_number);
CREATE INDEX ix_image_scores_sample_id ON image_scores (sample_id);

INSERT INTO image_scores (filename, serial_number, sample_id, score_architecture, score_atrophy,
    score_complexes, score_fibrosis, score_total)
VALUES ('S-3602-10X_Image001_ch00.tif', 'S-3602-01', 'S-3602', 2.0, 1.5, 1.0, 3.0, 7.5)
ON CONFLICT (filename) DO NOTHING;
INSERT INTO image_scores (filename, serial_number, sample_id, score_architecture, score_atrophy,
    score_complexes, score_fibrosis, score_total)
VALUES ('S-3602-10X_Image002_ch00.tif', 'S-3602-02', 'S-3602', 1.0, 1.0, 1.0, 1.0, 4.0)
ON CONFLICT (filename) DO NOTHING;
UPDATE image_scores SET score_fibrosis = 200, score_atrophy = -5, score_complexes = 1.7,
    score_total = 1.0 + -5 + 1.7 + 200, updated_at = now()
WHERE filename = 'S-3602-10X_Image002_ch00.tif';
INSERT INTO image_scores (filename, serial_number, sample_id, created_at, updated_at,
    score_architecture, score_atrophy, score_complexes, score_fibrosis, score_total)
VALUES ('S-3618-10x_Image004.tif', 'S-3618-04', 'S-3618', '2025-10-14 09:30:00+02',
    '2025-10-15 11:00:00+02', 0.5, 0.25, 0.0, 1.25, 2.0);
INSERT INTO image_scores (filename, serial_number, sample_id, score_architecture, score_atrophy,
    score_complexes, score_fibrosis, score_total)
VALUES ('S-4500-10x_Image123_RAW_ch00.tif', 'S-4500-123', 'S-4500', 3.0, 2.0, 2.0, NULL, 7.0);
"#;

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql (the PostgreSQL client) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn items(c: &reqwest::Client, base: &str) -> Vec<Value> {
    let v: Value = c
        .get(format!("{base}/api/images?limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

fn named<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|r| r["filename"] == name)
        .unwrap_or_else(|| panic!("no record {name} in {items:?}"))
}

async fn wait_scored(c: &reqwest::Client, base: &str, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let r: Value = c
            .get(format!("{base}/api/images/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["status"] == "scored" || r["status"] == "failed" {
            return r;
        }
        assert!(Instant::now() < deadline, "image {id} not scored: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn upload(c: &reqwest::Client, url: &str, path: &Path, name: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(path).unwrap()).file_name(name.to_string()),
    );
    c.post(url).multipart(form).send().await.unwrap()
}

/// Imports the original's rows into Histoscore on `database` (SQLite when `None`) and checks
/// what a lab would: every row once, values as stored, the bad ones flagged, times kept, the
/// audit naming the source row, and the file attached later with an AI draft beside the
/// imported scores.
async fn import_into(original: &str, database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // SQLAlchemy's URL form, as the original's .env has it.
    let from = original.replacen("postgres://", "postgresql+psycopg2://", 1);
    let report: Value = serde_json::from_str(&ok(&histoscore(
        &["import-original", "--from", &from, "--json"],
        data,
        database,
    )))
    .unwrap();
    assert_eq!(report["rows"], 4, "{report}");
    assert_eq!(report["imported"].as_array().unwrap().len(), 4, "{report}");
    let flagged: Vec<&Value> = report["imported"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("flags").is_some())
        .collect();
    assert_eq!(flagged.len(), 1, "{report}");
    assert_eq!(flagged[0]["filename"], "S-3602-10X_Image002_ch00.tif");
    let flags = flagged[0]["flags"].as_object().unwrap();
    assert_eq!(flags.len(), 3, "{flags:?}");
    assert!(flags["Fibrosis"].as_str().unwrap().contains("stored 200"));

    // Again: nothing twice.
    let again = ok(&histoscore(
        &["import-original", "--from", &from],
        data,
        database,
    ));
    assert!(
        again.contains("0 imported (0 need review), 4 imported before"),
        "{again}"
    );

    let server = serve(data, database, &[]);
    let (c, base) = (reqwest::Client::new(), server.base.clone());
    let list = items(&c, &base).await;
    assert_eq!(list.len(), 4, "{list:?}");
    let bad = named(&list, "S-3602-10X_Image002_ch00.tif");
    assert_eq!(bad["scores"]["Fibrosis"], 200.0, "kept as stored: {bad}");
    assert_eq!(bad["scores"]["Glandular Atrophy"], -5.0);
    assert_eq!(bad["scores"]["Pseudotubular Complexes"], 1.7);
    assert_eq!(bad["serial"], "S-3602-02");
    assert_eq!(bad["group"], "S-3602");
    assert!(bad["flags"]["Fibrosis"]
        .as_str()
        .unwrap()
        .starts_with("needs review"));
    let old = named(&list, "S-3618-10x_Image004.tif");
    assert_eq!(old["created_at"], "2025-10-14T07:30:00.000Z", "{old}");
    assert_eq!(old["updated_at"], "2025-10-15T09:00:00.000Z", "{old}");
    let no_fibrosis = named(&list, "S-4500-10x_Image123_RAW_ch00.tif");
    assert!(
        no_fibrosis["scores"].get("Fibrosis").is_none(),
        "{no_fibrosis}"
    );
    assert!(no_fibrosis.get("flags").is_none(), "NULL is not flagged");
    let audit: Value = c
        .get(format!("{base}/api/images/{}/audit", bad["id"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audit = audit["entries"].as_array().unwrap();
    let import = audit.iter().find(|e| e["action"] == "import").unwrap();
    assert_eq!(import["reason"], "imported from the original system");
    assert_eq!(import["actor"], "original-system");
    assert!(import["new_value"].as_str().unwrap().parse::<i64>().is_ok());
    // No pixels yet: the preview says what to do.
    let r = c
        .get(format!("{base}/api/images/{}/preview.jpg", bad["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("upload"));

    // A person corrects a flagged metric: that flag goes, the others stay.
    let etag = format!("\"{}\"", bad["version"]);
    let r: Value = c
        .patch(format!("{base}/api/images/{}/scores", bad["id"]))
        .header("If-Match", etag)
        .json(&json!({"scores": {"Fibrosis": 3.0}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["scores"]["Fibrosis"], 3.0, "{r}");
    assert!(r["flags"].get("Fibrosis").is_none(), "{r}");
    assert!(r["flags"].get("Glandular Atrophy").is_some(), "{r}");

    // The file arrives later under the same name: pixels attached, an AI draft beside the
    // imported scores, which stay as they were.
    let first = named(&list, "S-3602-10X_Image001_ch00.tif").clone();
    let r = upload(
        &c,
        &format!("{base}/api/images"),
        &fixture("S-3602-10X_Image001_ch00.tif"),
        "S-3602-10X_Image001_ch00.tif",
    )
    .await;
    assert_eq!(r.status(), 201);
    let up: Value = r.json().await.unwrap();
    assert_eq!(up["id"], first["id"], "the imported record takes the file");
    let done = wait_scored(&c, &base, first["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "scored", "{done}");
    assert!(done["draft"].is_object(), "{done}");
    assert_eq!(done["scores"], first["scores"], "human scores kept: {done}");
    assert_eq!(done["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(items(&c, &base).await.len(), 4, "no second record");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_original_scores_into_sqlite_and_postgres() {
    let original = ScratchDatabase::create(&admin_url(), "hs_original")
        .await
        .expect("PostgreSQL must be reachable for this test");
    psql(&original.url, ORIGINAL_TABLE);
    import_into(&original.url, None).await;
    let target = ScratchDatabase::create(&admin_url(), "hs_target")
        .await
        .unwrap();
    import_into(&original.url, Some(&target.url)).await;
    target.drop_database().await.unwrap();

    // Not the original's database: said plainly.
    let dir = tempfile::tempdir().unwrap();
    let out = histoscore(
        &["import-original", "--from", &admin_url()],
        dir.path(),
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no image_scores table"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    original.drop_database().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The original's tests (`original-backend/tests/test_api.py`), over HTTP against
// `histoscore serve --original-api`. Each keeps the original's assertions; where Histoscore is
// stricter on purpose, the test asserts the stricter answer and says why. Like the original's
// fixtures, each test gets a fresh database.

/// The original's `create_test_tiff`: a 224 × 224 red RGB TIFF as Pillow writes it.
fn red_tiff() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let pixels: Vec<u8> = (0..224 * 224).flat_map(|_| [255u8, 0, 0]).collect();
    tiff::encoder::TiffEncoder::new(&mut out)
        .unwrap()
        .write_image::<tiff::encoder::colortype::RGB8>(224, 224, &pixels)
        .unwrap();
    out.into_inner()
}

async fn post_file(
    c: &reqwest::Client,
    base: &str,
    name: &str,
    bytes: Vec<u8>,
    mime: &str,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(mime)
            .unwrap(),
    );
    c.post(format!("{base}/api/upload-image/"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// `TestRootEndpoint.test_root_returns_200`
#[tokio::test]
async fn test_root_returns_200() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    let r = reqwest::get(format!("{}/", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v.get("message").is_some());
    // A browser asking for HTML at the same address gets Histoscore's web UI.
    let r = reqwest::Client::new()
        .get(format!("{}/", s.base))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("<html"));
}

/// `TestRootEndpoint.test_health_check_with_model`
#[tokio::test]
async fn test_health_check_with_model() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    let r = reqwest::get(format!("{}/health", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    let data: Value = r.json().await.unwrap();
    assert_eq!(data["status"], "healthy");
    assert_eq!(data["model_loaded"], true);
}

/// `TestUploadImage.test_upload_valid_tiff`
#[tokio::test]
async fn test_upload_valid_tiff() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    let c = reqwest::Client::new();
    let r = post_file(
        &c,
        &s.base,
        "S-1234-10X_Image001.tif",
        red_tiff(),
        "image/tiff",
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let data: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(data["status"], "success");
    assert!(data.get("scores").is_some());
    assert!(data.get("display_url").is_some());
    // The original's order (its page lists the scores as they come), Total last.
    let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
    assert!(
        at("Pancreatic Architecture") < at("Glandular Atrophy"),
        "{text}"
    );
    assert!(at("Pseudotubular Complexes") < at("Fibrosis"), "{text}");
    assert!(at("Fibrosis") < at("Total"), "{text}");
    // Beyond the original: all four metrics and the total, the draft's own values.
    for m in [
        "Pancreatic Architecture",
        "Glandular Atrophy",
        "Pseudotubular Complexes",
        "Fibrosis",
        "Total",
    ] {
        assert!(data["scores"][m].is_number(), "{m}: {data}");
    }
    // display_url is the preview, relative to the server (the original page loads it through
    // its /api rewrite).
    let url = data["display_url"].as_str().unwrap();
    assert!(url.starts_with("/api/images/"), "{url}");
    let img = c.get(format!("{}{url}", s.base)).send().await.unwrap();
    assert_eq!(img.status(), 200);
    assert_eq!(img.headers()["content-type"], "image/jpeg");

    // Check database was updated
    let list = items(&c, &s.base).await;
    let record = list.first().expect("a record");
    assert_eq!(record["filename"], "S-1234-10X_Image001.tif");
    assert_eq!(record["id"], data["db_id"]);
}

/// `TestUploadImage.test_upload_non_tiff_rejected`
#[tokio::test]
async fn test_upload_non_tiff_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    // Refused by its name before its bytes are read (a PNG stands in for the JPEG here).
    let mut not_tiff = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(100, 100)
        .write_to(&mut not_tiff, image::ImageFormat::Png)
        .unwrap();
    let r = post_file(
        &reqwest::Client::new(),
        &s.base,
        "test.jpg",
        not_tiff.into_inner(),
        "image/jpeg",
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("Only .tif files supported"));
}

/// `TestUploadImage.test_upload_duplicate_file_returns_cached`
#[tokio::test]
async fn test_upload_duplicate_file_returns_cached() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    let c = reqwest::Client::new();
    let response1 = post_file(&c, &s.base, "duplicate.tif", red_tiff(), "image/tiff").await;
    assert_eq!(response1.status(), 200);
    let first: Value = response1.json().await.unwrap();
    let original_scores = first["scores"].clone();

    let response2 = post_file(&c, &s.base, "duplicate.tif", red_tiff(), "image/tiff").await;
    assert_eq!(response2.status(), 200);
    let cached_scores = response2.json::<Value>().await.unwrap()["scores"].clone();
    // Scores should be identical (not re-inferred)
    assert_eq!(original_scores, cached_scores);
    // Should only have 1 DB record
    assert_eq!(items(&c, &s.base).await.len(), 1);

    // Stricter: a different image under the same name is not answered with the first one's
    // scores (the original did): it is refused, and the record stays as it was.
    let mut other = red_tiff();
    let n = other.len();
    other[n - 1] ^= 0xff; // one pixel differs
    let r = post_file(&c, &s.base, "duplicate.tif", other, "image/tiff").await;
    assert_eq!(r.status(), 409);
    assert_eq!(items(&c, &s.base).await.len(), 1);
}

/// `TestUploadImage.test_upload_without_model_fails`. Stricter: Histoscore does not start
/// without its model (the original started and refused every upload with 503 "Model not
/// loaded"); the error names the missing file.
#[test]
fn test_upload_without_model_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("pancreas_model.pth");
    let out = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(["serve", "--bind", "127.0.0.1:0", "--original-api"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--model")
        .arg(&missing)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pancreas_model.pth"), "{err}");
}

/// Creates a record the way the original's tests did (theirs inserted a row directly): an
/// upload, then every metric set through the original's own update route.
async fn record_with(c: &reqwest::Client, base: &str, name: &str, value: f64) -> i64 {
    let r = post_file(c, base, name, red_tiff(), "image/tiff").await;
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["db_id"].as_i64().unwrap();
    let r = c
        .put(format!("{base}/api/scores/{id}"))
        .json(&json!({
            "Pancreatic Architecture": value,
            "Glandular Atrophy": value,
            "Pseudotubular Complexes": value,
            "Fibrosis": value,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    id
}

/// `TestUpdateScore.test_update_existing_score`
#[tokio::test]
async fn test_update_existing_score() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    let c = reqwest::Client::new();
    let id = record_with(&c, &s.base, "test.tif", 1.0).await;
    let r = c
        .put(format!("{}/api/scores/{id}", s.base))
        .json(&json!({"Fibrosis": 3.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let data: Value = r.json().await.unwrap();
    assert_eq!(data["status"], "updated");
    assert_eq!(data["new_total"], 6.5); // 1+1+1+3.5

    // Verify in database
    let record: Value = c
        .get(format!("{}/api/images/{id}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["scores"]["Fibrosis"], 3.5);
    let total: f64 = record["scores"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(total, 6.5);
    // Beyond the original: the change is in the audit log.
    let audit: Value = c
        .get(format!("{}/api/images/{id}/audit", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "score"
            && e["field"] == "Fibrosis"
            && e["old_value"] == "1"
            && e["new_value"] == "3.5"));

    // Stricter: a value outside the metric's range is refused with the range (the original
    // stored anything), and nothing changes.
    let r = c
        .put(format!("{}/api/scores/{id}", s.base))
        .json(&json!({"Fibrosis": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["field"], "Fibrosis");
    assert_eq!(e["allowed"]["max"], 4.0);
    let record: Value = c
        .get(format!("{}/api/images/{id}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["scores"]["Fibrosis"], 3.5);
}

/// `TestUpdateScore.test_update_nonexistent_record`
#[tokio::test]
async fn test_update_nonexistent_record() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    let r = reqwest::Client::new()
        .put(format!("{}/api/scores/99999", s.base))
        .json(&json!({"Fibrosis": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("not found"));
}

/// `TestUpdateScore.test_update_multiple_scores`
#[tokio::test]
async fn test_update_multiple_scores() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), None, &[]);
    let c = reqwest::Client::new();
    let id = record_with(&c, &s.base, "multi.tif", 1.0).await;
    let r = c
        .put(format!("{}/api/scores/{id}", s.base))
        .json(&json!({
            "Pancreatic Architecture": 3.0,
            "Glandular Atrophy": 2.5,
            "Pseudotubular Complexes": 2.0,
            "Fibrosis": 3.5
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["new_total"], 11.0);
}

// ---------------------------------------------------------------------------------------------

fn add_user(data: &Path, name: &str, role: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(["user", "add", name, "--role", role])
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env("HISTOSCORE_PASSWORD", "a long enough password")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    ok(&out);
}

/// API tokens: made on the command line or by a logged-in account, shown once, acting as the
/// account with its role on every route (the compatibility ones too) without a CSRF token,
/// audited as the account, last use shown, revocable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_act_as_their_account() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    add_user(data, "ada", "admin");
    add_user(data, "vic", "viewer");
    let out = histoscore(&["token", "create", "--name", "nightly export"], data, None);
    assert!(!out.status.success(), "two accounts: which one?");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));
    let ada_token = ok(&histoscore(
        &["token", "create", "--name", "lab script", "--user", "ada"],
        data,
        None,
    ))
    .trim()
    .to_string();
    assert!(ada_token.starts_with("hst_"), "{ada_token}");
    let vic_token = ok(&histoscore(
        &[
            "token",
            "create",
            "--name",
            "reader",
            "--user",
            "vic",
            "--expires-in-days",
            "7",
        ],
        data,
        None,
    ))
    .trim()
    .to_string();

    let s = serve(data, None, &[]);
    let (c, base) = (reqwest::Client::new(), s.base.clone());
    let bearer = |t: &str| format!("Bearer {t}");
    // Without a token or session: 401, on the compatibility routes too.
    assert_eq!(
        c.get(format!("{base}/api/images"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = post_file(&c, &base, "token.tif", red_tiff(), "image/tiff").await;
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{base}/api/images"))
        .header("Authorization", "Bearer hst_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("token create"));

    // The original's upload with a token, no CSRF header.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(red_tiff()).file_name("token.tif"),
    );
    let r = c
        .post(format!("{base}/api/upload-image"))
        .header("Authorization", bearer(&ada_token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["db_id"].as_i64().unwrap();
    let r = c
        .put(format!("{base}/api/scores/{id}"))
        .header("Authorization", bearer(&ada_token))
        .json(&json!({"Fibrosis": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A viewer's token reads but cannot change.
    let r = c
        .get(format!("{base}/api/images/{id}/audit"))
        .header("Authorization", bearer(&vic_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let audit: Value = r.json().await.unwrap();
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "score" && e["actor"] == "ada"));
    let r = c
        .put(format!("{base}/api/scores/{id}"))
        .header("Authorization", bearer(&vic_token))
        .json(&json!({"Fibrosis": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A logged-in account makes a token on its account page (the API behind it).
    let r = c
        .post(format!("{base}/api/login"))
        .json(&json!({"name": "ada", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post(format!("{base}/api/account/tokens"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"name": "from the page", "expires_in_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let page_token = made["token"].as_str().unwrap().to_string();
    assert!(made["expires_at"].is_string());
    // A token cannot make tokens.
    let r = c
        .post(format!("{base}/api/account/tokens"))
        .header("Authorization", bearer(&page_token))
        .json(&json!({"name": "more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let list: Value = c
        .get(format!("{base}/api/account/tokens"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "ada's two tokens: {list:?}");
    assert!(
        list.iter().all(|t| t.get("token").is_none()),
        "never shown again"
    );
    let page = list.iter().find(|t| t["name"] == "from the page").unwrap();
    assert!(page["last_used_at"].is_string(), "used once above: {page}");
    // Revoked: stops working at once.
    let r = c
        .delete(format!("{base}/api/account/tokens/{}", page["id"]))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{base}/api/images"))
        .header("Authorization", bearer(&page_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    drop(s);

    let listed = ok(&histoscore(&["token", "list"], data, None));
    assert!(
        listed.contains("lab script") && listed.contains("REVOKED"),
        "{listed}"
    );
    let out = ok(&histoscore(&["token", "revoke", "1"], data, None));
    assert!(out.contains("is revoked"), "{out}");
}
