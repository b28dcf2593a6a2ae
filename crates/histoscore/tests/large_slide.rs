//! One whole-slide image of real size, end to end: the 100 000 × 80 000 px H&E slide that
//! `scripts/make-test-slide` makes from the corpus (about 2 GB, cached outside the clone) is
//! registered in place with `histoscore import --in-place`, scored field by field by a running
//! `histoscore serve`, and viewed through deep-zoom tiles from its own pyramid, with the
//! server's memory sampled throughout.
//!
//! `scripts/test` makes the slide and names it in `HISTOSCORE_LARGE_SLIDE`; without that
//! variable this test says so and passes.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The server's resident memory now, in bytes (Linux).
fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_slide_registered_in_place_is_scored_and_viewed() {
    let Some(slide) = std::env::var_os("HISTOSCORE_LARGE_SLIDE").map(PathBuf::from) else {
        eprintln!("skipped: HISTOSCORE_LARGE_SLIDE is not set (scripts/test makes the slide)");
        return;
    };
    assert!(slide.is_file(), "{} is not there", slide.display());
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_string_lossy().into_owned();

    // Registered where it is: nothing is copied.
    let out = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(["import", "--in-place", "--json"])
        .arg(&slide)
        .env("HISTOSCORE_DATA_DIR", &data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lines[0]["status"], "new", "{lines}");
    assert_eq!(lines[0]["kind"], "slide", "{lines}");
    let id = lines[0]["id"].as_i64().unwrap();
    assert!(!data.path().join("blobs/originals").exists());

    // The server scores it (the reference model's weights, the test binaries' engine).
    let model = shared().join("fixtures/reference-model/model.pth");
    let mut child = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(["serve", "--bind", "127.0.0.1:0", "--model"])
        .arg(&model)
        .env("HISTOSCORE_DATA_DIR", &data_dir)
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let server = Server(child);
    // Its log is read to the end (a closed pipe would stop it), the address taken from it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server said where it listens");
    let client = reqwest::Client::new();
    let get = |path: String| {
        let (client, base) = (client.clone(), base.clone());
        async move { client.get(format!("{base}{path}")).send().await.unwrap() }
    };

    let mut peak_rss = 0;
    let mut seen_progress = Vec::new();
    let started = Instant::now();
    let rec = loop {
        peak_rss = peak_rss.max(rss_bytes(pid));
        let rec: Value = get(format!("/api/images/{id}")).await.json().await.unwrap();
        if let Some(done) = rec["progress"]["done"].as_i64() {
            if seen_progress.last() != Some(&done) {
                seen_progress.push(done);
            }
        }
        if rec["status"] == "scored" || rec["status"] == "failed" {
            break rec;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "not scored in 30 minutes: {rec}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(rec["status"], "scored", "{rec}");
    assert_eq!(rec["source"]["path"], slide.to_string_lossy().as_ref());
    assert_eq!(rec["width"], 100_000);
    assert_eq!(rec["height"], 80_000);
    assert_eq!(rec["slide"]["mpp_x"], 0.25);
    let total = rec["progress"]["total"].as_i64().unwrap();
    assert!(
        (300..=500).contains(&total),
        "about 400 fields of 2040 × 1388 µm over 60 % tissue at 50 % overlap: {total}"
    );
    assert_eq!(rec["progress"]["done"], total);
    assert!(
        seen_progress.len() >= 3,
        "progress was reported field by field: {seen_progress:?}"
    );
    assert!(rec["draft"]["rounded"].as_object().unwrap().len() == 4);

    // The fields, and the draft as their tissue-weighted mean's neighbourhood.
    let fields: Value = get(format!("/api/images/{id}/fields"))
        .await
        .json()
        .await
        .unwrap();
    let list = fields["fields"].as_array().unwrap();
    assert_eq!(list.len() as i64, total);
    assert!(list
        .iter()
        .all(|f| f["tissue_share"].as_f64().unwrap() >= 0.25));

    // Deep-zoom tiles from the slide's own pyramid: the deepest level (full resolution) in the
    // middle of the tissue, and the whole slide in one tile at level 8.
    let dzi = get(format!("/api/images/{id}/tiles.dzi"))
        .await
        .text()
        .await
        .unwrap();
    assert!(dzi.contains("Width=\"100000\""), "{dzi}");
    for (level, col, row) in [(17, 195, 156), (17, 196, 156), (12, 6, 4), (8, 0, 0)] {
        let r = get(format!(
            "/api/images/{id}/tiles_files/{level}/{col}_{row}.jpg"
        ))
        .await;
        assert_eq!(r.status().as_u16(), 200, "tile {level}/{col}_{row}");
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&bytes[..2], &[0xff, 0xd8], "a JPEG");
        peak_rss = peak_rss.max(rss_bytes(pid));
    }
    drop(server);
    assert!(
        peak_rss < 1 << 30,
        "scoring and viewing a 100 000 × 80 000 slide stays under 1 GB: {} MB",
        peak_rss >> 20
    );
}
