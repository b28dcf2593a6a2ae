//! `histoscore bench-server`: the review server under load, on loopback, printed as a table with
//! the original system's figures beside Histoscore's, on SQLite and on PostgreSQL.
//!
//! For each database it starts `histoscore serve` as a child process (a fresh SQLite folder, or
//! a fresh PostgreSQL database that is dropped afterwards), so the memory measured is the
//! server's alone, then measures in this order:
//! 1. `--clients` clients upload 34 MB TIFFs at once: the time until all are scored, and the
//!    server's peak memory during that phase (the largest VmRSS sampled every 20 ms from the
//!    phase's start until the queue is empty; not the lifetime peak, which the model load sets);
//! 2. one new 34 MB TIFF at a time: upload → HTTP response and upload → scored (median, p99);
//! 3. throughput of `--uploads` uploads (4 at a time) until all are scored;
//! 4. the database is filled to `--records` realistic records (every one with an AI draft and
//!    current scores, one in three corrected and reviewed, microscope file names);
//! 5. score edits: one client editing sequentially, then `--editors` clients at once;
//! 6. history pages (search, group filter, sort, deep offset) over those records.

use crate::bench::{big_rgb, tiff_bytes};
use crate::ModelArg;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use histoscore_domain::Schema;
use histoscore_store::scratch::ScratchDatabase;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    pub(crate) model: ModelArg,
}

impl LoadArgs {
    /// The test image's pixels, and the server started on a new data folder `data`.
    pub(crate) fn start(&self, data: &Path) -> Result<(Images, Server)> {
        Ok((self.images()?, start(data, None, &self.model)?))
    }

    /// The test image's pixels.
    pub(crate) fn images(&self) -> Result<Images> {
        let (rgb, w, h) = big_rgb(&self.source)?;
        Ok(Images { rgb, w, h })
    }
}

#[derive(Args)]
pub struct BenchServerArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Databases to measure, each with a server of its own.
    #[arg(
        long,
        value_delimiter = ',',
        default_values = ["sqlite", "postgres"],
        env = "HISTOSCORE_BENCH_DATABASES"
    )]
    databases: Vec<Backend>,
    /// PostgreSQL server (URL of any database there): the bench creates a database of its own
    /// on it and drops it at the end.
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        env = "HISTOSCORE_BENCH_POSTGRES",
        hide_env_values = true
    )]
    postgres: String,
    /// Clients uploading at once (memory and all-scored time).
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
    /// Edits timed for the sequential edit latency.
    #[arg(long, default_value_t = 500)]
    sequential_edits: usize,
    /// Records in the database for the edit and history measurements.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
}

/// A database the bench runs the server on.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn title(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
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

/// Starts `histoscore serve` on a free loopback port with its files in `data` and its records
/// in `database` (default: SQLite in `data`).
pub(crate) fn start(data: &Path, database: Option<&str>, model: &ModelArg) -> Result<Server> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--max-queued", "1000000"])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = database {
        cmd.arg("--database").arg(url);
    }
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
            } else if line.contains("error") || line.contains("WARN") {
                eprintln!("server: {line}");
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .context("the server did not start")?;
    Ok(Server { child, base })
}

/// The process's resident memory now (VmRSS), in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Samples a process's VmRSS every 20 ms and keeps the largest value since the last reset:
/// the peak of one phase, not of the process's lifetime.
pub(crate) struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    pub(crate) fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, st) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let Some(b) = rss_bytes(pid) {
                    p.fetch_max(b, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { peak, stop }
    }

    /// Starts a new phase: forgets the peak so far.
    pub(crate) fn reset(&self) {
        self.peak.store(0, Ordering::Relaxed);
    }

    /// The largest VmRSS sampled since the last reset, in MB.
    pub(crate) fn peak_mb(&self) -> f64 {
        self.peak.load(Ordering::Relaxed) as f64 / 1e6
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
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

pub(crate) async fn upload(
    c: &reqwest::Client,
    base: &str,
    bytes: Vec<u8>,
    name: String,
) -> Result<i64> {
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

pub(crate) async fn wait_queue_empty(c: &reqwest::Client, base: &str) -> Result<()> {
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

/// One line of the table: what was measured, the original system's figure (from the same
/// machine, where one was measured), Histoscore's per database, and the goal.
struct Row {
    what: String,
    original: &'static str,
    results: Vec<String>,
    goal: &'static str,
}

/// The rows' fixed parts, in the order measured. The original's figures were measured on the
/// same 2-core machine with the original Python stack (FastAPI, PyTorch, PostgreSQL).
const ROWS: [(&str, &str, &str); 8] = [
    (
        "peak memory while {clients} clients upload {size} MB TIFFs at once (max VmRSS, 20 ms samples)",
        "1.14–1.23 GB",
        "≤ 400 MB",
    ),
    (
        "{clients} concurrent {size} MB uploads → all scored",
        "6–7 s",
        "≤ 2.5 s",
    ),
    (
        "upload → HTTP response, new {size} MB TIFF (median / p99 of {latency})",
        "420 ms",
        "≤ 80 ms",
    ),
    (
        "upload → scored, new {size} MB TIFF (median / p99 of {latency})",
        "420 ms",
        "≤ 120 ms",
    ),
    (
        "throughput, {uploads} uploads (4 at a time) until all scored",
        "",
        "",
    ),
    (
        "score edit, sequential (p50 / p99 of {sequential})",
        "6–10 ms",
        "p99 ≤ 2 ms SQLite, ≤ 4 ms PostgreSQL",
    ),
    (
        "score edit, {editors} concurrent clients (p50 / p99)",
        "137 of 1000 done in 120 s",
        "p99 ≤ 10 ms",
    ),
    (
        "history page of 50 with group summary, {records} records (p50 / p95)",
        "",
        "p95 ≤ 50 ms",
    ),
];

pub fn run(args: BenchServerArgs) -> Result<()> {
    let images = Arc::new(args.load.images()?);
    let size_mb = images.variant(0)?.len() as f64 / 1e6;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut columns = Vec::new();
    for &backend in &args.databases {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let scratch = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                rt.block_on(ScratchDatabase::create(&args.postgres, "histoscore_bench"))
                    .with_context(|| {
                        format!(
                            "could not create a PostgreSQL database on {} (--postgres)",
                            redact(&args.postgres)
                        )
                    })?,
            ),
        };
        let database = scratch.as_ref().map(|s| s.url.clone());
        eprintln!("bench-server: {} …", backend.title());
        let result = (|| {
            let server = start(&data, database.as_deref(), &args.load.model)?;
            let store_url = database.clone().unwrap_or_else(|| {
                format!("sqlite://{}?mode=rw", data.join("histoscore.db").display())
            });
            rt.block_on(measure(&args, &images, &server, &store_url))
        })();
        if let Some(s) = scratch {
            rt.block_on(s.drop_database())?;
        }
        columns.push((backend, result?));
    }

    let fill = |t: &str| {
        t.replace("{clients}", &args.clients.to_string())
            .replace("{size}", &format!("{size_mb:.0}"))
            .replace("{latency}", &args.latency_runs.to_string())
            .replace("{uploads}", &args.uploads.to_string())
            .replace("{sequential}", &args.sequential_edits.to_string())
            .replace("{editors}", &args.editors.to_string())
            .replace("{records}", &args.records.to_string())
    };
    let rows: Vec<Row> = ROWS
        .iter()
        .enumerate()
        .map(|(i, (what, original, goal))| Row {
            what: fill(what),
            original,
            results: columns.iter().map(|(_, c)| c[i].clone()).collect(),
            goal,
        })
        .collect();
    let mut head = vec!["measurement".to_string(), "original".to_string()];
    head.extend(columns.iter().map(|(b, _)| b.title().to_string()));
    head.push("goal".into());
    println!("| {} |", head.join(" | "));
    println!("|{}", "---|".repeat(head.len()));
    for r in rows {
        let mut cells = vec![r.what, r.original.to_string()];
        cells.extend(r.results);
        cells.push(r.goal.to_string());
        println!("| {} |", cells.join(" | "));
    }
    Ok(())
}

/// A database URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = &url[s + 3..at];
            match user.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &user[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Runs the measurements against one server; returns one cell per row of [`ROWS`].
async fn measure(
    args: &BenchServerArgs,
    images: &Arc<Images>,
    server: &Server,
    store_url: &str,
) -> Result<Vec<String>> {
    let pid = server.child.id();
    let base = server.base.clone();
    let mut cells = Vec::new();
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let sampler = RssSampler::start(pid);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let idle_mb = rss_bytes(pid).unwrap_or(0) as f64 / 1e6;
    let mut n: u64 = 1;

    // 1. Many uploads at once: memory during the phase, and the time until all are scored.
    let bodies: Vec<Vec<u8>> = (0..args.clients)
        .map(|i| images.variant(n + i as u64))
        .collect::<Result<_>>()?;
    n += args.clients as u64;
    sampler.reset();
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
    wait_queue_empty(&c, &base).await?;
    let all_scored = t.elapsed().as_secs_f64();
    cells.push(format!(
        "{:.0} MB (idle {idle_mb:.0} MB)",
        sampler.peak_mb()
    ));
    cells.push(format!("{all_scored:.2} s"));

    // 2. One new upload at a time: the HTTP answer, then the draft.
    let (mut answered, mut scored) = (Vec::new(), Vec::new());
    for _ in 0..args.latency_runs {
        let b = images.variant(n)?;
        n += 1;
        let t = Instant::now();
        let id = upload(&c, &base, b, format!("S-8{n:03}-10X_Image001_ch00.tif")).await?;
        answered.push(t.elapsed().as_secs_f64() * 1e3);
        wait_scored(&c, &base, id, Duration::from_millis(2)).await?;
        scored.push(t.elapsed().as_secs_f64() * 1e3);
    }
    cells.push(p50_p99(&mut answered, 0));
    cells.push(p50_p99(&mut scored, 0));

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
    cells.push(format!(
        "{:.1} images/s ({secs:.1} s)",
        args.uploads as f64 / secs
    ));

    // 4. Realistic records, written straight to the database.
    let store = histoscore_store::Store::open(store_url).await?;
    let have = ids.len() + args.clients + args.latency_runs;
    let extra = args.records.saturating_sub(have);
    store
        .insert_synthetic_images(extra, &Schema::default(), "bench")
        .await?;
    // The statistics a database in use has (autovacuum gathers them on PostgreSQL).
    store.analyze().await?;
    store.close().await;

    // 5. Score edits: sequential, then many clients at once, each on its own image.
    let mut seq = Vec::new();
    let id = ids[0];
    let mut tag = etag(&c, &base, id).await?;
    for j in 0..args.sequential_edits {
        let t = Instant::now();
        let r = edit(&c, &base, id, &tag, 0.25 * (j % 16) as f64).await?;
        seq.push(t.elapsed().as_secs_f64() * 1e3);
        tag = r.context("a sequential edit met a conflict")?;
    }
    cells.push(p50_p99(&mut seq, 1));
    let mut tasks = Vec::new();
    for (k, id) in ids.iter().cycle().take(args.editors).enumerate() {
        let (c, base, id) = (c.clone(), base.clone(), *id);
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for j in 0..20 {
                let tag = etag(&c, &base, id).await?;
                let t = Instant::now();
                edit(&c, &base, id, &tag, 0.25 * ((k + j) % 16) as f64).await?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<_, anyhow::Error>(times)
        }));
    }
    let mut edits = Vec::new();
    for t in tasks {
        edits.extend(t.await??);
    }
    cells.push(p50_p99(&mut edits, 1));

    // 6. History pages over the records.
    let total: Value = c
        .get(format!("{base}/api/images?limit=1"))
        .send()
        .await?
        .json()
        .await?;
    if total["total"].as_u64().unwrap_or(0) < args.records as u64 {
        bail!(
            "the database holds {} records, not {}",
            total["total"],
            args.records
        );
    }
    let queries = [
        "search=S-0042",
        "search=image017",
        "group=S-0500&sort=filename",
        "review_status=reviewed&sort=created_at&dir=desc",
        "search=ch00&offset=50000",
        "sort=uncertainty&dir=desc",
        "",
    ];
    let mut q = Vec::new();
    let mut by_query = vec![Vec::new(); queries.len()];
    for i in 0..140 {
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
        let ms = t.elapsed().as_secs_f64() * 1e3;
        q.push(ms);
        by_query[i % queries.len()].push(ms);
    }
    for (query, times) in queries.iter().zip(&mut by_query) {
        eprintln!(
            "bench-server: history page {query:?}: median {:.0} ms",
            pct(times, 0.5)
        );
    }
    cells.push(format!(
        "{:.0} ms / {:.0} ms",
        pct(&mut q, 0.5),
        pct(&mut q, 0.95)
    ));
    Ok(cells)
}

fn p50_p99(v: &mut [f64], decimals: usize) -> String {
    format!(
        "{:.d$} ms / {:.d$} ms",
        pct(v, 0.5),
        pct(v, 0.99),
        d = decimals
    )
}

async fn etag(c: &reqwest::Client, base: &str, id: i64) -> Result<String> {
    let r = c.get(format!("{base}/api/images/{id}")).send().await?;
    Ok(r.headers()
        .get("etag")
        .context("no ETag on an image")?
        .to_str()?
        .to_string())
}

/// One score edit; the new ETag, or `None` when another client changed the image first.
async fn edit(
    c: &reqwest::Client,
    base: &str,
    id: i64,
    tag: &str,
    value: f64,
) -> Result<Option<String>> {
    let r = c
        .patch(format!("{base}/api/images/{id}/scores"))
        .header("If-Match", tag)
        .json(&json!({"scores": {"Fibrosis": value}}))
        .send()
        .await?;
    let status = r.status();
    let tag = r
        .headers()
        .get("etag")
        .and_then(|t| t.to_str().ok())
        .map(str::to_string);
    r.bytes().await?;
    if status == 409 {
        return Ok(None);
    }
    if !status.is_success() {
        bail!("edit failed: {status}");
    }
    tag.map(Some).context("no ETag after an edit")
}
