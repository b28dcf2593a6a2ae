//! A real server on a free port for integration tests: the reference model (tract), a
//! temporary data folder, and the database the harness gives (SQLite or PostgreSQL).

#![allow(dead_code)]

use histoscore_domain::Schema;
use histoscore_engine::{EngineKind, InferenceQueue, Model, Scorer};
use histoscore_server::{AppState, Limits, Running};
use histoscore_store::Store;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub fn fixtures() -> PathBuf {
    shared().join("fixtures/reference-model")
}

/// One inference engine per test binary (loading the model is the slow part).
fn engine() -> (Arc<Scorer>, InferenceQueue) {
    static ENGINE: OnceLock<(Arc<Scorer>, InferenceQueue)> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let model = Model::load(&fixtures().join("model.pth")).unwrap();
            let (queue, thread) = model.start(EngineKind::Tract, 2, 16, 4).unwrap();
            std::mem::forget(thread); // lives as long as the test binary
            let scorer = Scorer {
                schema: Schema::default(),
                serials: Default::default(),
                decode: Default::default(),
                model: model.reference(),
            };
            (Arc::new(scorer), queue)
        })
        .clone()
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub data_dir: PathBuf,
    running: Option<Running>,
}

impl TestApp {
    pub async fn start(store: Store, data_dir: &Path) -> TestApp {
        Self::with(store, data_dir, Limits::default(), 1).await
    }

    pub async fn with(store: Store, data_dir: &Path, limits: Limits, workers: usize) -> TestApp {
        Self::configured(store, data_dir, limits, workers, |_| {}).await
    }

    /// A server whose state `configure` adjusts before it starts.
    pub async fn configured(
        store: Store,
        data_dir: &Path,
        limits: Limits,
        workers: usize,
        configure: impl FnOnce(&mut AppState),
    ) -> TestApp {
        let (scorer, queue) = engine();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let state = AppState::new(
            store.clone(),
            scorer,
            queue,
            data_dir.to_path_buf(),
            limits,
            stop_rx,
        )
        .unwrap();
        let mut state = state;
        state.engines = Arc::new(histoscore_app::registry::Engines::new(Some(Arc::new(
            |path: &Path| {
                let m = Model::load(path)
                    .map_err(|e| histoscore_app::AppError::InvalidModel(e.to_string()))?;
                let (queue, _thread) = m
                    .start(EngineKind::Tract, 2, 16, 4)
                    .map_err(histoscore_app::AppError::failed)?;
                Ok((m.reference(), queue))
            },
        ))));
        configure(&mut state);
        state.recover(Duration::ZERO).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = histoscore_server::spawn(listener, state, stop, workers, "test").unwrap();
        TestApp {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            store,
            data_dir: data_dir.to_path_buf(),
            running: Some(running),
        }
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn upload(&self, path: &Path, name: &str) -> reqwest::Response {
        self.upload_bytes(std::fs::read(path).unwrap(), name, "")
            .await
    }

    pub async fn upload_bytes(&self, bytes: Vec<u8>, name: &str, query: &str) -> reqwest::Response {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        self.client
            .post(self.url(&format!("/api/images{query}")))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// The body of a GET as text, whatever the status.
    pub async fn get_text(&self, path: &str) -> String {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        r.text().await.unwrap()
    }

    /// Waits until the image is scored or failed, and returns its record.
    pub async fn wait_done(&self, id: i64) -> Value {
        for _ in 0..600 {
            let rec = self.get_json(&format!("/api/images/{id}")).await;
            if rec["status"] == "scored" || rec["status"] == "failed" {
                return rec;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("image {id} was not scored within 60 s");
    }

    /// Files in the data folder's blob store.
    pub fn stored_originals(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.data_dir.join("blobs/originals")];
        while let Some(d) = stack.pop() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        stack.push(e.path());
                    } else {
                        out.push(e.path());
                    }
                }
            }
        }
        out
    }
}

/// Temporary files under `tmp/` (every process's scratch folder), not counting the lock files
/// that mark a live process's folder.
pub fn temp_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![data_dir.join("tmp")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.file_name() != ".lock" {
                out.push(e.path());
            }
        }
    }
    out
}

/// Whether OpenSlide loads; `HISTOSCORE_REQUIRE_OPENSLIDE=1` (CI) turns its absence into a
/// failure instead of a skip.
pub fn have_openslide() -> bool {
    match histoscore_imaging::slide::openslide_status() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var("HISTOSCORE_REQUIRE_OPENSLIDE").as_deref() != Ok("1"),
                "HISTOSCORE_REQUIRE_OPENSLIDE=1 but {why}"
            );
            eprintln!("skipped: {why}");
            false
        }
    }
}

/// The S3 test server `scripts/test` starts (moto), if any; `HISTOSCORE_REQUIRE_S3=1` (CI)
/// turns its absence into a failure instead of a skip.
pub fn s3_endpoint() -> Option<String> {
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
