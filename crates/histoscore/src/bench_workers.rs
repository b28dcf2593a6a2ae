//! `histoscore bench-workers`: scoring throughput with 1, 2, 3… `histoscore worker`
//! processes sharing one PostgreSQL database and one file store, and each worker's share of
//! the jobs.
//!
//! For each worker count: a fresh PostgreSQL database (dropped afterwards) and file store; one
//! `histoscore serve --workers 0` receives `--images` 34 MB TIFFs (nothing scores them yet);
//! then the worker processes start, each with one worker and its own data folder, and the
//! clock runs from their start until the queue is empty. The table shows images per second
//! and how many jobs each process took.

use crate::bench_server::{redact, upload, wait_queue_empty, LoadArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use histoscore_store::scratch::ScratchDatabase;
use histoscore_store::{JobKind, Store};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchWorkersArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Worker process counts to measure, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 3], env = "HISTOSCORE_BENCH_WORKERS")]
    workers: Vec<usize>,
    /// Images queued before the workers start.
    #[arg(long, default_value_t = 60, env = "HISTOSCORE_BENCH_IMAGES")]
    images: usize,
    /// PostgreSQL server (URL of any database there): each run creates a database of its own
    /// on it and drops it at the end.
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        env = "HISTOSCORE_BENCH_POSTGRES",
        hide_env_values = true
    )]
    postgres: String,
    /// File store shared by the server and the workers (e.g. `s3://bucket/prefix` with the
    /// AWS_* variables set). Default: a new folder for each run.
    #[arg(long, value_name = "URL", env = "HISTOSCORE_BENCH_BLOB_STORE")]
    blob_store: Option<String>,
}

/// A child `histoscore` process, stopped with SIGTERM when dropped.
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `histoscore ARGS` with its data in `data`; waits for the stderr line containing
/// `ready` and returns the word after it.
fn start(
    args: &[&str],
    data: &Path,
    database: &str,
    blobs: &str,
    model: &crate::ModelArg,
    ready: &'static str,
) -> Result<(Process, String)> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data)
        .env("DATABASE_URL", database)
        .env("HISTOSCORE_BLOB_STORE", blobs)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(m) = &model.model {
        cmd.arg("--model").arg(m);
    }
    let mut child = cmd.spawn().context("could not start histoscore")?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(ready).nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            } else if line.contains("ERROR") || line.contains("WARN") {
                eprintln!("{line}");
            }
        }
    });
    let child = Process { child };
    let word = rx
        .recv_timeout(Duration::from_secs(120))
        .with_context(|| format!("histoscore {} did not start", args[0]))?;
    Ok((child, word))
}

struct Run {
    workers: usize,
    seconds: f64,
    shares: Vec<usize>,
}

pub fn run(args: BenchWorkersArgs) -> Result<()> {
    let images = args.load.images()?;
    let size_mb = images.variant(0)?.len() as f64 / 1e6;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut runs = Vec::new();
    for &n in &args.workers {
        if n == 0 {
            bail!("--workers: each count must be at least 1");
        }
        let dir = tempfile::tempdir()?;
        let scratch = rt
            .block_on(ScratchDatabase::create(&args.postgres, "histoscore_bench"))
            .with_context(|| {
                format!(
                    "could not create a PostgreSQL database on {} (--postgres)",
                    redact(&args.postgres)
                )
            })?;
        let blobs = args
            .blob_store
            .clone()
            .map(|b| {
                format!(
                    "{}/bench-{}-{n}",
                    b.trim_end_matches('/'),
                    std::process::id()
                )
            })
            .unwrap_or_else(|| format!("file://{}", dir.path().join("blobs").display()));
        eprintln!(
            "bench-workers: {n} worker process(es), {} images …",
            args.images
        );
        let result = (|| -> Result<Run> {
            let (_server, addr) = start(
                &[
                    "serve",
                    "--bind",
                    "127.0.0.1:0",
                    "--workers",
                    "0",
                    "--max-queued",
                    "1000000",
                ],
                &dir.path().join("server"),
                &scratch.url,
                &blobs,
                &args.load.model,
                "listening on http://",
            )?;
            let base = format!("http://{addr}");
            rt.block_on(async {
                let c = reqwest::Client::new();
                for i in 0..args.images {
                    let bytes = images.variant(i as u64)?;
                    upload(
                        &c,
                        &base,
                        bytes,
                        format!("S-{:04}-10x_Image001_ch00.tif", i),
                    )
                    .await?;
                }
                Ok::<_, anyhow::Error>(())
            })?;
            let started = Instant::now();
            let mut workers = Vec::new();
            for w in 0..n {
                let (child, _) = start(
                    &["worker", "--workers", "1"],
                    &dir.path().join(format!("worker-{w}")),
                    &scratch.url,
                    &blobs,
                    &args.load.model,
                    "taking jobs from the",
                )?;
                workers.push(child);
            }
            rt.block_on(wait_queue_empty(&reqwest::Client::new(), &base))?;
            let seconds = started.elapsed().as_secs_f64();
            let store = rt.block_on(Store::open(&scratch.url))?;
            let jobs = rt.block_on(store.all_jobs())?;
            rt.block_on(store.close());
            let mut by_pid: BTreeMap<u32, usize> =
                workers.iter().map(|w| (w.child.id(), 0)).collect();
            for j in jobs.iter().filter(|j| j.kind == JobKind::Score) {
                let pid = j
                    .locked_by
                    .as_deref()
                    .and_then(|w| w.rsplit_once(':'))
                    .and_then(|(_, rest)| rest.split('-').next())
                    .and_then(|p| p.parse::<u32>().ok());
                if let Some(count) = pid.and_then(|p| by_pid.get_mut(&p)) {
                    *count += 1;
                }
            }
            let shares = workers.iter().map(|w| by_pid[&w.child.id()]).collect();
            Ok(Run {
                workers: n,
                seconds,
                shares,
            })
        })();
        rt.block_on(scratch.drop_database())?;
        runs.push(result?);
    }
    println!(
        "| worker processes | {} × {size_mb:.0} MB TIFFs scored in | images/s | jobs per worker |",
        args.images
    );
    println!("|---:|---:|---:|---|");
    for r in runs {
        println!(
            "| {} | {:.1} s | {:.2} | {} |",
            r.workers,
            r.seconds,
            args.images as f64 / r.seconds,
            r.shares
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    Ok(())
}
