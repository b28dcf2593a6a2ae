//! Several real processes on one PostgreSQL database and one S3 bucket (moto's S3 server,
//! started by `scripts/test`), each with its own empty data folder: two `histoscore serve`
//! and three `histoscore worker`. 200 uploads spread over both servers; one worker is killed
//! with SIGKILL while it holds a scoring job and another while it trains; every image ends
//! with exactly one draft, every job done once, the training run finished by the worker
//! left. A session made on one server works on the other, and an edit made through one
//! server reaches an event stream of the other. A worker whose database goes away keeps
//! trying and carries on when it is back.

use futures_util::StreamExt;
use histoscore_store::scratch::ScratchDatabase;
use histoscore_store::{JobKind, JobState, Store};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "scale-test-password-4711";
const UPLOADS: usize = 200;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The S3 test server `scripts/test` starts; `HISTOSCORE_REQUIRE_S3=1` (CI) makes its absence
/// a failure.
fn s3_endpoint() -> Option<String> {
    match std::env::var("HISTOSCORE_TEST_S3") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            assert!(
                std::env::var("HISTOSCORE_REQUIRE_S3").as_deref() != Ok("1"),
                "HISTOSCORE_REQUIRE_S3=1 but HISTOSCORE_TEST_S3 names no S3 server"
            );
            eprintln!("skipped: HISTOSCORE_TEST_S3 is not set (scripts/test starts moto)");
            None
        }
    }
}

fn postgres_admin() -> String {
    std::env::var("HISTOSCORE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// One `histoscore` process; killed when dropped. Its stderr is kept for failure messages.
struct Proc {
    name: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn start(name: &str, args: &[String], env: &[(String, String)], data: &Path) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_histoscore"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(data)
            .arg("--model")
            .arg(shared().join("fixtures/reference-model/model.pth"))
            .args(["--threads", "1"])
            .env("RUST_LOG", "warn")
            .env_remove("HISTOSCORE_ADMIN_PASSWORD")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start histoscore");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Proc {
            name: name.into(),
            child,
            log,
        }
    }

    /// Waits for a line containing `marker` and returns what follows it (one word).
    fn wait_for(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(rest) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.split(marker).nth(1).map(str::to_string))
            {
                return rest.split_whitespace().next().unwrap_or("").to_string();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print {marker:?}:\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; the exit status once the process has drained.
    fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop within 60 s of SIGTERM:\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether `worker_id` (host:pid-n) belongs to this process.
    fn holds(&self, worker_id: Option<&str>) -> bool {
        worker_id.is_some_and(|w| w.contains(&format!(":{}-", self.pid())))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

/// Distinct small H&E images (256×256 PNG crops of a real tile, one pixel marked with `n`).
fn image(n: usize) -> Vec<u8> {
    let src = image::open(shared().join("corpus/real/histolab__tcga-lung-rgb.png"))
        .unwrap()
        .to_rgb8();
    let (x, y) = ((n % 5) as u32 * 64, ((n / 5) % 5) as u32 * 64);
    let mut crop = image::imageops::crop_imm(&src, x, y, 256, 256).to_image();
    let p = crop.get_pixel_mut(0, 0);
    p.0 = [(n % 256) as u8, (n / 256) as u8, 7];
    let mut out = Vec::new();
    crop.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A logged-in client: its cookie jar holds the session (cookies are per host, not per port,
/// so the same session is sent to both servers) and the CSRF token.
struct Session {
    http: reqwest::Client,
    csrf: String,
}

async fn login(base: &str) -> Session {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/api/login"))
        .json(&json!({"name": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login at {base}");
    let body: Value = r.json().await.unwrap();
    Session {
        http,
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
    }
}

impl Session {
    async fn upload(&self, base: &str, n: usize) -> i64 {
        let name = format!("S-{:04}-10x_Image{:03}_ch00.png", 100 + n / 4, n % 4 + 1);
        for _ in 0..20 {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(image(n)).file_name(name.clone()),
            );
            let r = self
                .http
                .post(format!("{base}/api/images"))
                .header("x-csrf-token", &self.csrf)
                .multipart(form)
                .send()
                .await
                .unwrap();
            if r.status() == 503 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert_eq!(status, 201, "upload {name} to {base}: {v}");
            return v["id"].as_i64().unwrap();
        }
        panic!("upload {name} to {base}: busy 20 times");
    }

    async fn get(&self, base: &str, path: &str) -> reqwest::Response {
        self.http.get(format!("{base}{path}")).send().await.unwrap()
    }

    async fn json(&self, base: &str, path: &str) -> Value {
        let r = self.get(base, path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// Sets scores (and reviewed) through `base`.
    async fn edit(&self, base: &str, id: i64, scores: Value, reviewed: bool) {
        let rec = self.json(base, &format!("/api/images/{id}")).await;
        let r = self
            .http
            .patch(format!("{base}/api/images/{id}/scores"))
            .header("x-csrf-token", &self.csrf)
            .header("if-match", format!("\"{}\"", rec["version"]))
            .json(&json!({"scores": scores, "reviewed": reviewed}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "edit of {id} through {base}");
    }
}

async fn wait_all_scored(session: &Session, base: &str, n: usize, procs: &mut [&mut Proc]) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let v = session
            .json(base, "/api/images?status=scored&limit=1")
            .await;
        if v["total"].as_u64() == Some(n as u64) {
            return;
        }
        let failed = session
            .json(base, "/api/images?status=failed&limit=5")
            .await;
        assert_eq!(failed["total"], 0, "images failed: {failed}");
        let logs: Vec<String> = procs
            .iter_mut()
            .map(|p| format!("--- {}\n{}", p.name, p.logs()))
            .collect();
        assert!(
            Instant::now() < deadline,
            "not all scored: {} of {n}\n{}",
            v["total"],
            logs.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_three_workers_share_postgres_and_s3_and_lose_nothing() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let db = ScratchDatabase::create(&postgres_admin(), "hs_scale")
        .await
        .expect("PostgreSQL (HISTOSCORE_TEST_POSTGRES) is needed for this test");
    let result = std::panic::AssertUnwindSafe(run(&endpoint, &db.url));
    let outcome = futures_util::FutureExt::catch_unwind(result).await;
    db.drop_database().await.unwrap();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

async fn run(endpoint: &str, db_url: &str) {
    let bucket = format!("histoscore-scale-{}", std::process::id());
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let env = vec![
        (s("DATABASE_URL"), s(db_url)),
        (s("HISTOSCORE_BLOB_STORE"), format!("s3://{bucket}/lab")),
        (s("AWS_ENDPOINT_URL"), s(endpoint)),
        (s("AWS_REGION"), s("us-east-1")),
        (s("AWS_ACCESS_KEY_ID"), s("test")),
        (s("AWS_SECRET_ACCESS_KEY"), s("test")),
        (s("AWS_ALLOW_HTTP"), s("true")),
    ];
    let dir = tempfile::tempdir().unwrap();
    let serve = |name: &str| {
        let mut env = env.clone();
        env.push((s("HISTOSCORE_ADMIN_PASSWORD"), s(PASSWORD)));
        let args: Vec<String> = ["serve", "--bind", "127.0.0.1:0", "--workers", "0"]
            .map(s)
            .to_vec();
        Proc::start(name, &args, &env, &dir.path().join(name))
    };
    let worker = |name: &str| {
        let args: Vec<String> = [
            "worker",
            "--workers",
            "1",
            "--job-lease-secs",
            "3",
            "--metrics-bind",
            "127.0.0.1:0",
        ]
        .map(s)
        .to_vec();
        Proc::start(name, &args, &env, &dir.path().join(name))
    };
    // Both servers start at once on an empty database: one makes the administrator, the other
    // finds it made.
    let (mut a, mut b) = (serve("server-a"), serve("server-b"));
    let base_a = format!("http://{}", a.wait_for("listening on http://"));
    let base_b = format!("http://{}", b.wait_for("listening on http://"));
    let mut workers = [worker("worker-1"), worker("worker-2"), worker("worker-3")];
    let metrics: Vec<String> = workers
        .iter_mut()
        .map(|w| {
            format!(
                "http://{}",
                w.wait_for("metrics on http://").replace("/metrics", "")
            )
        })
        .collect();

    // A session made on A works on B, and the other way round.
    let session = login(&base_a).await;
    let me = session.json(&base_b, "/api/session").await;
    assert_eq!(me["user"]["name"], "admin", "{me}");
    let on_b = login(&base_b).await;
    assert_eq!(
        on_b.json(&base_a, "/api/session").await["user"]["name"],
        "admin"
    );
    let session = Arc::new(session);

    // 200 uploads, alternating between the servers, 8 at a time; worker 1 is killed while it
    // holds a scoring job.
    let store = Store::open(db_url).await.unwrap();
    let uploads = {
        let (session, a, b) = (session.clone(), base_a.clone(), base_b.clone());
        tokio::spawn(async move {
            futures_util::stream::iter(0..UPLOADS)
                .map(|n| {
                    let (session, base) = (
                        session.clone(),
                        if n % 2 == 0 { a.clone() } else { b.clone() },
                    );
                    async move { (n, session.upload(&base, n).await) }
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await
        })
    };
    let killed_job = loop {
        let jobs = store.all_jobs().await.unwrap();
        if let Some(j) = jobs
            .iter()
            .find(|j| j.state == JobState::Running && workers[0].holds(j.locked_by.as_deref()))
        {
            workers[0].kill9();
            break j.id;
        }
        assert!(
            !uploads.is_finished() || jobs.iter().any(|j| j.state != JobState::Done),
            "worker 1 never held a job:\n{}",
            workers[0].logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let ids: BTreeMap<usize, i64> = uploads.await.unwrap().into_iter().collect();
    assert_eq!(ids.len(), UPLOADS);
    {
        let [w1, w2, w3] = &mut workers;
        wait_all_scored(
            &session,
            &base_a,
            UPLOADS,
            &mut [&mut a, &mut b, w1, w2, w3],
        )
        .await;
    }

    // The job worker 1 died with was run again by another worker, and only that run counts.
    let jobs = store.all_jobs().await.unwrap();
    let job = jobs.iter().find(|j| j.id == killed_job).unwrap();
    assert_eq!(job.state, JobState::Done);
    assert!(job.attempts >= 2, "{job:?}");
    assert!(!workers[0].holds(job.locked_by.as_deref()), "{job:?}");
    let score_jobs: Vec<_> = jobs.iter().filter(|j| j.kind == JobKind::Score).collect();
    assert_eq!(score_jobs.len(), UPLOADS, "one scoring job per upload");
    assert!(score_jobs.iter().all(|j| j.state == JobState::Done));
    // Exactly one draft per image and model.
    for id in ids.values() {
        let drafts = store.drafts_for_image(*id).await.unwrap();
        let mut per_model: HashMap<&str, usize> = HashMap::new();
        for d in &drafts {
            *per_model.entry(d.model_id.as_str()).or_default() += 1;
        }
        assert!(
            per_model.len() == 1 && per_model.values().all(|n| *n == 1),
            "image {id}: drafts {per_model:?}"
        );
    }
    // The work spread over the workers (who did what is printed for the record).
    let mut shares: BTreeMap<String, usize> = BTreeMap::new();
    for j in &score_jobs {
        let owner = (0..3)
            .find(|i| workers[*i].holds(j.locked_by.as_deref()))
            .map_or_else(|| "?".to_string(), |i| format!("worker-{}", i + 1));
        *shares.entry(owner).or_default() += 1;
    }
    eprintln!("scoring jobs per worker: {shares:?}");
    assert!(shares.contains_key("worker-2") && shares.contains_key("worker-3"));
    // The surviving workers' /metrics count what they did.
    let mut counted = 0;
    for m in &metrics[1..] {
        let text = reqwest::get(format!("{m}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("histoscore_jobs_total{kind=\"score\",outcome=\"finished\"}"))
            .unwrap_or_else(|| panic!("no finished scoring jobs in {m}/metrics:\n{text}"));
        counted += line.rsplit(' ').next().unwrap().parse::<usize>().unwrap();
        assert_eq!(
            reqwest::get(format!("{m}/readyz")).await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        counted,
        shares.get("worker-2").unwrap() + shares.get("worker-3").unwrap()
    );

    // An edit through A reaches an event stream on B.
    let mut latencies = Vec::new();
    for (k, id) in ids.values().take(5).enumerate() {
        let mut events = session.get(&base_b, "/api/events").await.bytes_stream();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = Instant::now();
        session
            .edit(&base_a, *id, json!({"Fibrosis": (k % 4) as f64}), false)
            .await;
        let mut seen = String::new();
        let needle = format!("\"id\":{id},");
        let arrived = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = events.next().await {
                seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                if seen.contains(&needle) {
                    return;
                }
            }
        })
        .await;
        assert!(arrived.is_ok(), "no event for image {id} on B: {seen}");
        latencies.push(sent.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    eprintln!("edit on A → event on B, seconds: {latencies:?}");
    assert!(
        latencies[2] <= 1.0,
        "an edit on A reached B's event stream after {:.2} s (median)",
        latencies[2]
    );

    // Training: 24 images reviewed in 6 groups; the worker that takes the run is killed while
    // it trains, and the remaining one finishes it.
    let schema = session.json(&base_a, "/api/config").await["schema"].clone();
    let metrics_names: Vec<String> = schema["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    for (k, id) in ids.values().take(24).enumerate() {
        let scores: serde_json::Map<String, Value> = metrics_names
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), json!(((k + i) % 4) as f64)))
            .collect();
        let base = if k % 2 == 0 { &base_a } else { &base_b };
        session.edit(base, *id, Value::Object(scores), true).await;
    }
    let r = session
        .http
        .post(format!("{base_b}/api/training"))
        .header("x-csrf-token", &session.csrf)
        .json(&json!({"epochs": 2, "seed": 7, "name": "scale test"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let run: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {run}");
    let run_id = run["id"].as_i64().unwrap();
    let trainer = loop {
        let jobs = store.all_jobs().await.unwrap();
        let t = jobs
            .iter()
            .find(|j| j.kind == JobKind::Train && j.state == JobState::Running);
        if let Some(t) = t {
            let i = (1..3)
                .find(|i| workers[*i].holds(t.locked_by.as_deref()))
                .expect("the training job is held by a live worker");
            // Let it get into the training itself.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            workers[i].kill9();
            break i;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let survivor = 3 - trainer; // workers 1 and 2 (indices); index 0 is already gone
    let deadline = Instant::now() + Duration::from_secs(900);
    let finished = loop {
        let v = session
            .json(&base_a, &format!("/api/training/{run_id}"))
            .await;
        match v["state"].as_str() {
            Some("done") => break v,
            Some("failed") | Some("cancelled") => panic!("training ended {v}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "training did not finish: {v}\n{}",
            workers[survivor].logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let jobs = store.all_jobs().await.unwrap();
    let train = jobs.iter().find(|j| j.kind == JobKind::Train).unwrap();
    assert_eq!(train.state, JobState::Done, "{train:?}");
    assert!(train.attempts >= 2, "{train:?}");
    assert!(
        workers[survivor].holds(train.locked_by.as_deref()),
        "{train:?} {finished}"
    );
    assert!(finished["model_id"].is_string(), "{finished}");

    // SIGTERM drains: the last worker and both servers stop cleanly.
    assert!(workers[survivor].alive());
    assert!(workers[survivor].terminate().success());
    assert!(a.terminate().success(), "{}", a.logs());
    assert!(b.terminate().success(), "{}", b.logs());
    store.close().await;
}

/// A TCP relay to PostgreSQL that can be cut and restored, standing in for a network outage.
struct Relay {
    addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(addr: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Relay {
            addr,
            task: Some(task),
        }
    }

    /// Closes the listener and every relayed connection.
    fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_waits_out_a_database_outage() {
    let db = ScratchDatabase::create(&postgres_admin(), "hs_outage")
        .await
        .expect("PostgreSQL (HISTOSCORE_TEST_POSTGRES) is needed for this test");
    let result = std::panic::AssertUnwindSafe(outage(&db.url));
    let outcome = futures_util::FutureExt::catch_unwind(result).await;
    db.drop_database().await.unwrap();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

async fn outage(db_url: &str) {
    assert!(
        db_url.contains("127.0.0.1:5432"),
        "the outage test relays 127.0.0.1:5432: {db_url}"
    );
    let dir = tempfile::tempdir().unwrap();
    let blobs = format!("file://{}", dir.path().join("blobs").display());
    let mut relay = Relay::start("127.0.0.1:0".parse().unwrap()).await;
    let relayed = db_url.replace("127.0.0.1:5432", &relay.addr.to_string());
    let common = vec![(s("HISTOSCORE_BLOB_STORE"), blobs)];
    let mut server_env = common.clone();
    server_env.push((s("DATABASE_URL"), s(db_url)));
    let mut server = Proc::start(
        "server",
        &["serve", "--bind", "127.0.0.1:0", "--workers", "0"].map(s),
        &server_env,
        &dir.path().join("server"),
    );
    let base = format!("http://{}", server.wait_for("listening on http://"));
    let mut worker_env = common;
    worker_env.push((s("DATABASE_URL"), relayed));
    let mut worker = Proc::start(
        "worker",
        &[
            "worker",
            "--job-lease-secs",
            "3",
            "--metrics-bind",
            "127.0.0.1:0",
        ]
        .map(s),
        &worker_env,
        &dir.path().join("worker"),
    );
    let metrics = format!(
        "http://{}",
        worker
            .wait_for("metrics on http://")
            .replace("/metrics", "")
    );
    worker.wait_for("taking jobs from the");
    let http = reqwest::Client::new();
    let upload = |n: usize| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(image(n)).file_name(format!("S-1-{n}.png")),
            );
            let r = http
                .post(format!("{base}/api/images"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
        }
    };
    let status = |id: i64| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let v: Value = http
                .get(format!("{base}/api/images/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["status"].as_str().unwrap().to_string()
        }
    };
    let wait_scored = |id: i64| async move {
        let deadline = Instant::now() + Duration::from_secs(120);
        while status(id).await != "scored" {
            assert!(Instant::now() < deadline, "image {id} was not scored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let first = upload(1).await;
    wait_scored(first).await;

    // The worker's database goes away: it says so, keeps trying, and does not exit.
    relay.cut();
    let during = upload(2).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !worker.logs().contains("trying again in") {
        assert!(Instant::now() < deadline, "{}", worker.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = http.get(format!("{metrics}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let text = http
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("histoscore_worker_database_unreachable 1"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(worker.alive(), "the worker exited:\n{}", worker.logs());
    assert_eq!(status(during).await, "queued");

    // Back: the worker carries on.
    let _relay = Relay::start(relay.addr).await;
    wait_scored(during).await;
    assert!(
        worker.logs().contains("the database answers again"),
        "{}",
        worker.logs()
    );
    assert!(worker.terminate().success());
    assert!(server.terminate().success());
}
