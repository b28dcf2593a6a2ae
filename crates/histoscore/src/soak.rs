//! `histoscore soak`: the review server under mixed load for minutes, to show that memory,
//! file descriptors and latency stay flat.
//!
//! It starts `histoscore serve` as a child process (SQLite in a temporary folder, accounts on)
//! and runs, all at once and each at a bounded rate: uploads of 34 MB TIFFs, score edits,
//! history searches, clients following the event stream (reconnecting when they are closed)
//! and login/logout cycles. Every minute it prints the server's memory (VmRSS), open file
//! descriptors and the p99 latency of the requests of that minute. It passes when, at the last
//! minute, memory is within +10 % and descriptors within +5 % of minute 2 and p99 within 1.5×
//! of minute 2.

use crate::bench_server::{pct, Images, LoadArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct SoakArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Length of the run.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Seconds between two uploads (one uploader).
    #[arg(long, default_value_t = 4.0)]
    upload_every: f64,
    /// Most uploads in the whole run.
    #[arg(long, default_value_t = 200)]
    max_uploads: u64,
    /// Clients editing scores (each about 5 edits a second).
    #[arg(long, default_value_t = 8)]
    editors: usize,
    /// Clients searching the history (each about 2 searches a second).
    #[arg(long, default_value_t = 4)]
    searchers: usize,
    /// Clients following the event stream.
    #[arg(long, default_value_t = 20)]
    streams: usize,
    /// Clients logging in and out (each about once a second).
    #[arg(long, default_value_t = 2)]
    loggers: usize,
}

const USER: &str = "soak";

/// Kinds of request, as indices of [`Load::counts`] and [`Load::errors`].
const UPLOADS: usize = 0;
const EDITS: usize = 1;
const SEARCHES: usize = 2;
const STREAMS: usize = 3;
const LOGINS: usize = 4;

/// What every load task shares.
struct Load {
    base: String,
    admin: Session,
    images: Images,
    stop: AtomicBool,
    /// This minute's request latencies.
    lat: Latencies,
    /// Requests done and refused (or failed) this minute, by kind.
    counts: [AtomicU64; 5],
    errors: [AtomicU64; 5],
}

impl Load {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// Counts a request as done (a success, or a 409 when `conflict_ok`) or refused, and
    /// says on stderr why one was refused.
    async fn outcome(
        &self,
        kind: usize,
        what: &str,
        r: reqwest::Result<reqwest::Response>,
        conflict_ok: bool,
    ) {
        match r {
            Ok(r) if r.status().is_success() || (conflict_ok && r.status() == 409) => {
                self.counts[kind].fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => {
                self.errors[kind].fetch_add(1, Ordering::Relaxed);
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                eprintln!(
                    "{what}: {status} {}",
                    body.chars().take(200).collect::<String>()
                );
            }
            Err(e) => {
                self.errors[kind].fetch_add(1, Ordering::Relaxed);
                eprintln!("{what}: {e}");
            }
        }
    }
}

const PASSWORD: &str = "tulip mountain ledger 2026";

/// What one minute's requests took, in milliseconds.
#[derive(Default)]
struct Latencies(Mutex<Vec<f64>>);

impl Latencies {
    fn add(&self, since: Instant) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(since.elapsed().as_secs_f64() * 1e3);
    }
    fn take(&self) -> Vec<f64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A logged-in client: its cookie jar and CSRF token.
#[derive(Clone)]
struct Session {
    c: reqwest::Client,
    csrf: String,
}

async fn login(base: &str) -> Result<Session> {
    let c = reqwest::Client::builder().cookie_store(true).build()?;
    let r = c
        .post(format!("{base}/api/login"))
        .json(&json!({"name": USER, "password": PASSWORD}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("login failed: {}", r.status());
    }
    let v: Value = r.json().await?;
    Ok(Session {
        c,
        csrf: v["csrf_token"].as_str().unwrap_or("").to_string(),
    })
}

pub fn run(args: SoakArgs) -> Result<bool> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    // An administrator first: the server then runs with accounts, as a lab's would.
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["user", "add", USER, "--role", "admin", "--data-dir"])
        .arg(&data)
        .env("HISTOSCORE_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::null())
        .status()
        .context("could not create the soak account")?;
    if !status.success() {
        bail!("could not create the soak account");
    }
    let (images, server) = args.load.start(&data)?;
    let pid = server.child.id();
    let base = server.base.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let minutes = args.minutes.max(3);
    let rows = rt.block_on(async move {
        let load = Arc::new(Load {
            admin: login(&base).await?,
            base,
            images,
            stop: AtomicBool::new(false),
            lat: Latencies::default(),
            errors: Default::default(),
            counts: Default::default(),
        });
        let mut tasks = Vec::new();

        // Uploads, bounded in number.
        let (every, max) = (Duration::from_secs_f64(args.upload_every), args.max_uploads);
        let l = load.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while l.running() && n < max {
                let t = Instant::now();
                n += 1;
                let Ok(body) = l.images.variant(1_000 + n) else {
                    break;
                };
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(body)
                        .file_name(format!("S-7{n:03}-10X_Image001_ch00.tif")),
                );
                let r = l
                    .admin
                    .c
                    .post(format!("{}/api/images", l.base))
                    .header("x-csrf-token", &l.admin.csrf)
                    .multipart(form)
                    .send()
                    .await;
                l.outcome(UPLOADS, "upload", r, false).await;
                tokio::time::sleep(every.saturating_sub(t.elapsed())).await;
            }
        }));
        // Score edits on scored images.
        for e in 0..args.editors {
            let l = load.clone();
            tasks.push(tokio::spawn(async move {
                let mut k = e as u64;
                while l.running() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let t = Instant::now();
                    let page: Value = match l
                        .admin
                        .c
                        .get(format!("{}/api/images?status=scored&limit=20", l.base))
                        .send()
                        .await
                    {
                        Ok(r) => r.json().await.unwrap_or(Value::Null),
                        Err(_) => Value::Null,
                    };
                    l.lat.add(t);
                    let Some(items) = page["items"].as_array().filter(|a| !a.is_empty()) else {
                        continue;
                    };
                    k += 1;
                    let rec = &items[(k as usize) % items.len()];
                    let value = (k % 16) as f64 * 0.25;
                    let t = Instant::now();
                    let r = l
                        .admin
                        .c
                        .patch(format!("{}/api/images/{}/scores", l.base, rec["id"]))
                        .header("x-csrf-token", &l.admin.csrf)
                        .header("if-match", format!("\"{}\"", rec["version"]))
                        .json(&json!({"scores": {"Fibrosis": value}}))
                        .send()
                        .await;
                    l.lat.add(t);
                    // 409: someone else edited it meanwhile, as expected with 8 editors.
                    l.outcome(EDITS, "edit", r, true).await;
                }
            }));
        }
        // History searches.
        for i in 0..args.searchers {
            let l = load.clone();
            tasks.push(tokio::spawn(async move {
                let terms = ["S-7", "image001", "S-70", "ch00", "zzz"];
                let mut k = i;
                while l.running() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    k += 1;
                    let t = Instant::now();
                    let r = l
                        .admin
                        .c
                        .get(format!(
                            "{}/api/images?search={}&sort=updated_at&dir=desc&limit=50",
                            l.base,
                            terms[k % terms.len()]
                        ))
                        .send()
                        .await;
                    l.lat.add(t);
                    l.outcome(SEARCHES, "search", r, false).await;
                }
            }));
        }
        // Event-stream clients: each reads its stream, and reconnects every 25–45 s.
        for i in 0..args.streams {
            let l = load.clone();
            tasks.push(tokio::spawn(async move {
                while l.running() {
                    let Ok(r) = l.admin.c.get(format!("{}/api/events", l.base)).send().await
                    else {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    };
                    l.counts[STREAMS].fetch_add(1, Ordering::Relaxed);
                    let mut body = r.bytes_stream();
                    let until = Instant::now() + Duration::from_secs(25 + i as u64);
                    while Instant::now() < until && l.running() {
                        match tokio::time::timeout(Duration::from_secs(1), body.next()).await {
                            Ok(Some(Ok(_))) | Err(_) => {}
                            Ok(_) => break,
                        }
                    }
                }
            }));
        }
        // Logins and logouts.
        for _ in 0..args.loggers {
            let l = load.clone();
            tasks.push(tokio::spawn(async move {
                while l.running() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let t = Instant::now();
                    match login(&l.base).await {
                        Ok(s) => {
                            l.lat.add(t);
                            let _ = s
                                .c
                                .post(format!("{}/api/logout", l.base))
                                .header("x-csrf-token", &s.csrf)
                                .send()
                                .await;
                            l.counts[LOGINS].fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            l.errors[LOGINS].fetch_add(1, Ordering::Relaxed);
                            eprintln!("{e}");
                        }
                    }
                }
            }));
        }

        println!("| minute | RSS (MB) | open fds | requests | p99 (ms) | uploads | edits | searches | streams | logins | refused (u/e/s/l) |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for minute in 1..=minutes {
            // Memory and descriptors: the largest of samples taken every second.
            let (mut rss, mut fds) = (0f64, 0usize);
            for _ in 0..60 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                rss = rss.max(rss_mb(pid));
                fds = fds.max(open_fds(pid));
            }
            let mut l = load.lat.take();
            let p99 = pct(&mut l, 0.99);
            let c: Vec<u64> = load.counts.iter().map(|c| c.swap(0, Ordering::Relaxed)).collect();
            let errs: Vec<String> = [UPLOADS, EDITS, SEARCHES, LOGINS]
                .iter()
                .map(|k| load.errors[*k].swap(0, Ordering::Relaxed).to_string())
                .collect();
            let errs = errs.join("/");
            println!(
                "| {minute} | {rss:.0} | {fds} | {} | {p99:.1} | {} | {} | {} | {} | {} | {errs} |",
                l.len(),
                c[0],
                c[1],
                c[2],
                c[3],
                c[4]
            );
            rows.push((rss, fds, p99));
        }
        load.stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.abort();
        }
        Ok::<_, anyhow::Error>(rows)
    })?;
    drop(server);
    let (r2, f2, p2) = rows[1];
    let (rn, fn_, pn) = rows[rows.len() - 1];
    let checks = [
        (
            "memory",
            rn <= r2 * 1.10,
            format!("{rn:.0} MB vs {r2:.0} MB at minute 2 (limit +10 %)"),
        ),
        (
            "file descriptors",
            (fn_ as f64) <= f2 as f64 * 1.05,
            format!("{fn_} vs {f2} at minute 2 (limit +5 %)"),
        ),
        (
            "p99 latency",
            pn <= p2 * 1.5,
            format!("{pn:.1} ms vs {p2:.1} ms at minute 2 (limit 1.5×)"),
        ),
    ];
    let mut pass = true;
    for (what, ok, detail) in checks {
        println!("{}: {what}: {detail}", if ok { "pass" } else { "FAIL" });
        pass &= ok;
    }
    Ok(pass)
}
