//! `histoscore bench-server`: the review server under load, on loopback, printed as a table.
//!
//! It starts `histoscore serve` as a child process (SQLite in a temporary folder), so the memory
//! measured is the server's alone, then measures in this order:
//! 1. peak memory (VmHWM) while `--clients` clients upload 34 MB TIFFs at once;
//! 2. upload→scored latency of single 34 MB TIFFs (median, p99);
//! 3. throughput of `--uploads` uploads (4 at a time) until all are scored;
//! 4. score-edit latency with `--editors` concurrent clients;
//! 5. history search latency over `--records` records.

use crate::bench::{big_rgb, tiff_bytes};
use crate::ModelArg;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a server under load is given: its model, and the image its test uploads are made of
/// (`bench-server` and `soak`).
#[derive(Args)]
pub(crate) struct LoadArgs {
    /// Real H&E image the 4080×2776 test TIFFs are made from.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "../shared/fixtures/reference-model/images/S-3602-10X_Image001_ch00.tif",
        env = "HISTOSCORE_BENCH_SOURCE"
    )]
    source: PathBuf,
    #[command(flatten)]
    model: ModelArg,
}

impl LoadArgs {
    /// The test image's pixels, and the server started on a new data folder `data`.
    pub(crate) fn start(&self, data: &std::path::Path) -> Result<(Images, Server)> {
        let (rgb, w, h) = big_rgb(&self.source)?;
        Ok((Images { rgb, w, h }, start(data, &self.model)?))
    }
}

#[derive(Args)]
pub struct BenchServerArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Clients uploading at once for the memory measurement.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Single uploads timed for the latency measurement.
    #[arg(long, default_value_t = 10)]
    latency_runs: usize,
    /// Uploads for the throughput measurement.
    #[arg(long, default_value_t = 100)]
    uploads: usize,
    /// Concurrent clients editing scores.
    #[arg(long, default_value_t = 50)]
    editors: usize,
    /// Records in the database for the history search measurement.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(data: &std::path::Path, model: &ModelArg) -> Result<Server> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--max-queued", "1000000"])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(m) = &model.model {
        cmd.arg("--model").arg(m);
    }
    let mut child = cmd.spawn().context("could not start histoscore serve")?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            } else if line.contains("error") {
                eprintln!("server: {line}");
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .context("the server did not start")?;
    Ok(Server { child, base })
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Distinct files (different content hashes) of the same size: one pixel differs.
pub(crate) struct Images {
    pub(crate) rgb: Vec<u8>,
    pub(crate) w: u32,
    pub(crate) h: u32,
}

impl Images {
    pub(crate) fn variant(&self, n: u64) -> Result<Vec<u8>> {
        let mut rgb = self.rgb.clone();
        rgb[..8].copy_from_slice(&n.to_le_bytes());
        tiff_bytes(&rgb, self.w, self.h)
    }
}

async fn upload(c: &reqwest::Client, base: &str, bytes: Vec<u8>, name: String) -> Result<i64> {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name),
    );
    let r = c
        .post(format!("{base}/api/images"))
        .multipart(form)
        .send()
        .await?;
    if r.status() == 503 {
        bail!("the server answered 503 (busy)");
    }
    let v: Value = r.json().await?;
    v["id"]
        .as_i64()
        .with_context(|| format!("upload refused: {v}"))
}

async fn wait_scored(c: &reqwest::Client, base: &str, id: i64, poll: Duration) -> Result<()> {
    loop {
        let v: Value = c
            .get(format!("{base}/api/images/{id}"))
            .send()
            .await?
            .json()
            .await?;
        match v["status"].as_str() {
            Some("scored") => return Ok(()),
            Some("failed") => bail!("image {id} failed: {}", v["error"]),
            _ => tokio::time::sleep(poll).await,
        }
    }
}

async fn wait_queue_empty(c: &reqwest::Client, base: &str) -> Result<()> {
    loop {
        let v: Value = c
            .get(format!("{base}/api/images?status=queued&limit=1"))
            .send()
            .await?
            .json()
            .await?;
        let w: Value = c
            .get(format!("{base}/api/images?status=scoring&limit=1"))
            .send()
            .await?
            .json()
            .await?;
        if v["total"] == 0 && w["total"] == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

pub fn run(args: BenchServerArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (images, server) = args.load.start(&data)?;
    let images = Arc::new(images);
    let size_mb = images.variant(0)?.len() as f64 / 1e6;
    let pid = server.child.id();
    let base = server.base.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows: Vec<(String, String)> = Vec::new();
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        let idle_mb = peak_rss_mb(pid);
        let mut n: u64 = 1;

        // 1. Memory with many uploads at once.
        let bodies: Vec<Vec<u8>> = (0..args.clients)
            .map(|i| images.variant(n + i as u64))
            .collect::<Result<_>>()?;
        n += args.clients as u64;
        let t = Instant::now();
        let tasks: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                let (c, base) = (c.clone(), base.clone());
                tokio::spawn(async move {
                    upload(&c, &base, b, format!("S-9{i:03}-10X_Image001_ch00.tif")).await
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        let upload_secs = t.elapsed().as_secs_f64();
        wait_queue_empty(&c, &base).await?;
        rows.push((
            format!(
                "peak RSS, {} clients uploading {size_mb:.0} MB TIFFs at once",
                args.clients
            ),
            format!(
                "{:.0} MB (idle {:.0} MB; uploads took {upload_secs:.1} s)",
                peak_rss_mb(pid),
                idle_mb
            ),
        ));

        // 2. Upload → scored latency, one at a time.
        let mut lat = Vec::new();
        for _ in 0..args.latency_runs {
            let b = images.variant(n)?;
            n += 1;
            let t = Instant::now();
            let id = upload(&c, &base, b, format!("S-8{n:03}-10X_Image001_ch00.tif")).await?;
            wait_scored(&c, &base, id, Duration::from_millis(2)).await?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        rows.push((
            format!(
                "upload→scored, one {size_mb:.0} MB TIFF (median / p99 of {})",
                args.latency_runs
            ),
            format!(
                "{:.0} ms / {:.0} ms",
                pct(&mut lat, 0.5),
                pct(&mut lat, 0.99)
            ),
        ));

        // 3. Throughput.
        let t = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(4));
        let mut tasks = Vec::new();
        for i in 0..args.uploads {
            let permit = sem.clone().acquire_owned().await?;
            let b = images.variant(n + i as u64)?;
            let (c, base) = (c.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let r = upload(&c, &base, b, format!("S-7{i:03}-10X_Image001_ch00.tif")).await;
                drop(permit);
                r
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await??);
        }
        wait_queue_empty(&c, &base).await?;
        let secs = t.elapsed().as_secs_f64();
        rows.push((
            format!(
                "throughput, {} uploads (4 at a time) until all scored",
                args.uploads
            ),
            format!("{:.1} images/s ({secs:.1} s)", args.uploads as f64 / secs),
        ));

        // 4. Score edits from many clients at once, each on its own image.
        let mut tasks = Vec::new();
        for (k, id) in ids.iter().cycle().take(args.editors).enumerate() {
            let (c, base, id) = (c.clone(), base.clone(), *id);
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for j in 0..20 {
                    let r = c.get(format!("{base}/api/images/{id}")).send().await?;
                    let tag = r.headers()["etag"].to_str()?.to_string();
                    let v = 0.25 * ((k + j) % 16) as f64;
                    let t = Instant::now();
                    let r = c
                        .patch(format!("{base}/api/images/{id}/scores"))
                        .header("If-Match", tag)
                        .json(&json!({"scores": {"Fibrosis": v}}))
                        .send()
                        .await?;
                    let ok = r.status().is_success() || r.status() == 409;
                    r.bytes().await?;
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                    if !ok {
                        bail!("edit failed");
                    }
                }
                Ok::<_, anyhow::Error>(times)
            }));
        }
        let mut edits = Vec::new();
        for t in tasks {
            edits.extend(t.await??);
        }
        rows.push((
            format!(
                "score edit, {} concurrent clients (p50 / p99, SQLite)",
                args.editors
            ),
            format!(
                "{:.1} ms / {:.1} ms",
                pct(&mut edits, 0.5),
                pct(&mut edits, 0.99)
            ),
        ));

        // 5. History search over many records (synthetic rows added straight to the database).
        let store = histoscore_store::Store::open(&format!(
            "sqlite://{}?mode=rw",
            data.join("histoscore.db").display()
        ))
        .await?;
        let have = ids.len() + args.clients + args.latency_runs;
        let extra = args.records.saturating_sub(have);
        store.insert_synthetic_images(extra, "bench").await?;
        store.close().await;
        let total: Value = c
            .get(format!("{base}/api/images?limit=1"))
            .send()
            .await?
            .json()
            .await?;
        let mut q = Vec::new();
        let queries = [
            "search=S-0042",
            "search=image123",
            "group=S-0500&sort=filename",
            "review_status=reviewed&sort=created_at&dir=desc",
            "search=ch00&offset=50000",
            "",
        ];
        for i in 0..120 {
            let t = Instant::now();
            let r = c
                .get(format!(
                    "{base}/api/images?limit=50&{}",
                    queries[i % queries.len()]
                ))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("search failed: {}", r.status());
            }
            r.bytes().await?;
            q.push(t.elapsed().as_secs_f64() * 1e3);
        }
        rows.push((
            format!(
                "history search, {} records, page of 50 with group summary (p50 / p95)",
                total["total"]
            ),
            format!("{:.0} ms / {:.0} ms", pct(&mut q, 0.5), pct(&mut q, 0.95)),
        ));
        Ok::<_, anyhow::Error>(())
    })?;
    drop(server);
    let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    println!("| {:width$} | result |", "measurement");
    println!("|{}|---|", "-".repeat(width + 2));
    for (k, v) in rows {
        println!("| {k:width$} | {v} |");
    }
    Ok(())
}
