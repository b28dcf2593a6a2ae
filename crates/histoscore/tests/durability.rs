//! `histoscore serve` as a real process, killed with SIGKILL at arbitrary moments while a
//! client corrects scores and uploads: no acknowledged correction is lost, queued jobs finish
//! after the restart, the database passes its integrity check and no stray files remain.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

struct Server {
    child: Child,
    base: String,
}

fn start(data: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--engine",
            "tract",
            "--threads",
            "1",
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--model")
        .arg(shared().join("fixtures/reference-model/model.pth"))
        .args(["--orphan-grace-secs", "0", "--job-lease-secs", "2"])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start histoscore serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server did not say where it listens");
    Server { child, base }
}

/// A test that fails part-way must not leave its server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn terminate(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "no graceful shutdown within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn upload(c: &reqwest::Client, base: &str, path: &Path) -> Option<Value> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(path).unwrap()).file_name(name),
    );
    let r = c
        .post(format!("{base}/api/images"))
        .multipart(form)
        .send()
        .await
        .ok()?;
    r.json().await.ok()
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_correction() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let gen = shared().join("corpus/generated");
    let mut pending_uploads: Vec<PathBuf> = [
        "S-4711-10x_Image003_RAW_ch00.tif",
        "S-4711-10x_Image004_LZW_ch00.tif",
        "S-4711-10x_Image005_Deflate_ch00.tif",
        "rgb8_packbits.tif",
        "rgb8_bigendian_MM.tif",
        "rgb8_planar_separate.tif",
        "rgb16_uncompressed.tif",
        "gray8_uncompressed.tif",
        "palette8.tif",
        "rgba8_unassoc_alpha.tif",
    ]
    .iter()
    .map(|n| gen.join(n))
    .collect();

    // Two images to correct.
    let server = start(&data);
    let mut ids = Vec::new();
    for n in ["gray_800x600.tif", "rgba_800x600.tif"] {
        let rec = upload(
            &c,
            &server.base,
            &shared().join("fixtures/reference-model/images").join(n),
        )
        .await
        .unwrap();
        ids.push(rec["id"].as_i64().unwrap());
    }
    let mut acknowledged: BTreeMap<i64, f64> = BTreeMap::new();
    let mut rng = Lcg(0x5eed);
    let mut server = Some(server);
    let metric = "Fibrosis";
    for round in 0..5 {
        let s = server.take().unwrap_or_else(|| start(&data));
        let base = s.base.clone();
        // Edit and upload until the kill.
        let kill_after = Duration::from_millis(200 + rng.next() % 800);
        let t = Instant::now();
        let worker = {
            let (c, base, ids) = (c.clone(), base.clone(), ids.clone());
            let mut uploads: Vec<PathBuf> = pending_uploads
                .drain(..2.min(pending_uploads.len()))
                .collect();
            let seed = rng.next();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut rng = Lcg(seed);
                loop {
                    if let Some(p) = uploads.pop() {
                        let _ = upload(&c, &base, &p).await;
                    }
                    let id = ids[(rng.next() % ids.len() as u64) as usize];
                    let Ok(r) = c.get(format!("{base}/api/images/{id}")).send().await else {
                        break;
                    };
                    let Some(tag) = r
                        .headers()
                        .get("etag")
                        .map(|t| t.to_str().unwrap().to_string())
                    else {
                        break;
                    };
                    let v = 0.25 * (rng.next() % 17) as f64;
                    let res = c
                        .patch(format!("{base}/api/images/{id}/scores"))
                        .header("If-Match", tag)
                        .json(&json!({"scores": {metric: v}, "reason": format!("round {round}")}))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 200 => {
                            // Acknowledged only once the whole answer has arrived; a write
                            // cut off by the kill may or may not have been committed.
                            let ok = r.bytes().await.is_ok();
                            acked.push((id, v, ok));
                        }
                        Ok(r) if r.status() == 409 => {}
                        Ok(r) => panic!("unexpected {}", r.status()),
                        Err(_) => {
                            acked.push((id, v, false));
                            break;
                        }
                    }
                }
                acked
            })
        };
        tokio::time::sleep(kill_after.saturating_sub(t.elapsed())).await;
        s.kill9();
        // Per image: the last acknowledged value, and values sent after it whose answer
        // never arrived (they may have been committed).
        let mut maybe: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for (id, v, ok) in worker.await.unwrap() {
            if ok {
                acknowledged.insert(id, v);
                maybe.remove(&id);
            } else {
                maybe.entry(id).or_default().push(v);
            }
        }
        // After a restart every acknowledged value is there (or a later one).
        let s = start(&data);
        for (id, v) in acknowledged.clone() {
            let rec: Value = c
                .get(format!("{}/api/images/{id}", s.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let now = rec["scores"][metric].as_f64().unwrap();
            let later = maybe.get(&id).is_some_and(|m| m.contains(&now));
            assert!(
                now == v || later,
                "round {round}: image {id} lost a correction: {now} instead of {v}"
            );
            acknowledged.insert(id, now);
        }
        server = Some(s);
    }
    assert!(
        !acknowledged.is_empty(),
        "no correction was made before the kills"
    );

    // Every queued job finishes. A job whose worker was killed three times is failed as
    // possibly poisonous (that can happen here, where workers die every round); queued
    // again, it is scored.
    let s = server.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut requeued = std::collections::HashSet::new();
    loop {
        let list: Value = c
            .get(format!("{}/api/images?limit=100", s.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = list["items"].as_array().unwrap();
        if items
            .iter()
            .all(|r| r["status"] == "scored" || r["status"] == "failed")
        {
            let died: Vec<i64> = items
                .iter()
                .filter(|r| {
                    r["status"] == "failed"
                        && r["error"]
                            .as_str()
                            .is_some_and(|e| e.contains("stopped responding"))
                })
                .filter_map(|r| r["id"].as_i64())
                .filter(|id| !requeued.contains(id))
                .collect();
            if died.is_empty() {
                assert!(items.iter().all(|r| r["status"] == "scored"), "{list}");
                break;
            }
            for id in died {
                let r = c
                    .post(format!("{}/api/images/{id}/rescore", s.base))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "rescore {id}: {}", r.status());
                requeued.insert(id);
            }
        }
        assert!(
            Instant::now() < deadline,
            "queued jobs did not finish: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.terminate();

    // The database is intact; no temporary or orphaned files remain.
    let store = histoscore_store::Store::open(&format!(
        "sqlite://{}?mode=rw",
        data.join("histoscore.db").display()
    ))
    .await
    .unwrap();
    assert_eq!(store.integrity_check().await.unwrap(), Vec::<String>::new());
    // Every process's scratch folder: only the lock files of live ones may remain.
    let mut left = Vec::new();
    let mut dirs = vec![data.join("tmp")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else if e.file_name() != ".lock" {
                left.push(e.path());
            }
        }
    }
    assert_eq!(
        left,
        Vec::<std::path::PathBuf>::new(),
        "temporary files left"
    );
    let mut stack = vec![data.join("blobs/originals")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            assert!(
                store.sha256_known(&name).await.unwrap(),
                "orphan file {name}"
            );
        }
    }
}

fn histoscore(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_export_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = reqwest::Client::new();
    let s = start(&data);
    let img = shared().join("fixtures/reference-model/images/gray_800x600.tif");
    let rec = upload(&c, &s.base, &img).await.unwrap();
    let id = rec["id"].as_i64().unwrap();
    let mut tag = String::new();
    for _ in 0..600 {
        let r = c
            .get(format!("{}/api/images/{id}", s.base))
            .send()
            .await
            .unwrap();
        tag = r.headers()["etag"].to_str().unwrap().to_string();
        if r.json::<Value>().await.unwrap()["status"] == "scored" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = c
        .patch(format!("{}/api/images/{id}/scores", s.base))
        .header("If-Match", tag)
        .json(&json!({"scores": {"Fibrosis": 2.75}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Backup and export while the server runs.
    let backup = dir.path().join("backup");
    let out = histoscore(&["backup", backup.to_str().unwrap()], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv_path = dir.path().join("export.csv");
    let out = histoscore(&["export", "--out", csv_path.to_str().unwrap()], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let header = rdr.headers().unwrap().clone();
    let row = rdr.records().next().unwrap().unwrap();
    let col = header.iter().position(|h| h == "fibrosis").unwrap();
    assert_eq!(&row[col], "2.75");
    s.terminate();

    // A second backup into the same folder is refused rather than mixed.
    let out = histoscore(&["backup", backup.to_str().unwrap()], &data);
    assert!(!out.status.success());

    // Restore into a fresh data folder: the correction and the image are back.
    let restored = dir.path().join("restored");
    let out = histoscore(&["restore", backup.to_str().unwrap()], &restored);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = histoscore(&["restore", backup.to_str().unwrap()], &restored);
    assert!(
        !out.status.success(),
        "restore over an existing database needs --force"
    );
    let s = start(&restored);
    let rec: Value = c
        .get(format!("{}/api/images/{id}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["scores"]["Fibrosis"], 2.75);
    let r = c
        .get(format!("{}/api/images/{id}/thumbnail.jpg", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.terminate();
}
