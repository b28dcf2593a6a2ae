//! Prometheus metrics: request latencies, queue depth, inference time, images scored, errors.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;
use std::time::Instant;

use histoscore_app::jobs::JobObserver;
use histoscore_store::JobKind;

use crate::AppState;

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub queue_queued: IntGauge,
    pub queue_running: IntGauge,
    pub inference_seconds: HistogramVec,
    pub scored: IntCounter,
    pub failed: IntCounter,
    pub refused: IntCounterVec,
    pub uploads_in_flight: IntGauge,
    pub jobs: IntCounterVec,
    pub job_seconds: HistogramVec,
    pub database_errors: IntCounter,
    pub database_unreachable: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("histoscore".into()), None).expect("registry");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route template and status class",
            ),
            &["method", "route", "status"],
        )
        .unwrap();
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["method", "route"],
        )
        .unwrap();
        let queue_queued = IntGauge::new("jobs_queued", "Inference jobs waiting").unwrap();
        let queue_running = IntGauge::new("jobs_running", "Inference jobs running").unwrap();
        let inference_seconds = HistogramVec::new(
            HistogramOpts::new(
                "scoring_seconds",
                "Time to score one stored image, by stage (decode+preprocess, forward)",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["stage"],
        )
        .unwrap();
        let scored = IntCounter::new("images_scored_total", "Images the model scored").unwrap();
        let failed = IntCounter::new("images_failed_total", "Images whose scoring failed").unwrap();
        let refused = IntCounterVec::new(
            Opts::new("uploads_refused_total", "Uploads refused, by error code"),
            &["error"],
        )
        .unwrap();
        let uploads_in_flight =
            IntGauge::new("uploads_in_flight", "Uploads being received or checked").unwrap();
        let jobs = IntCounterVec::new(
            Opts::new(
                "jobs_total",
                "Background jobs this process ran, by kind (score, train) and outcome \
                 (finished, interrupted, unrecorded)",
            ),
            &["kind", "outcome"],
        )
        .unwrap();
        let job_seconds = HistogramVec::new(
            HistogramOpts::new(
                "job_duration_seconds",
                "Time one background job took, by kind",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
            ]),
            &["kind"],
        )
        .unwrap();
        let database_errors = IntCounter::new(
            "worker_database_errors_total",
            "Times a worker could not reach the database to take a job (it retries with backoff)",
        )
        .unwrap();
        let database_unreachable = IntGauge::new(
            "worker_database_unreachable",
            "1 while this process's workers cannot reach the database, else 0",
        )
        .unwrap();
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(queue_queued.clone()),
            Box::new(queue_running.clone()),
            Box::new(inference_seconds.clone()),
            Box::new(scored.clone()),
            Box::new(failed.clone()),
            Box::new(refused.clone()),
            Box::new(uploads_in_flight.clone()),
            Box::new(jobs.clone()),
            Box::new(job_seconds.clone()),
            Box::new(database_errors.clone()),
            Box::new(database_unreachable.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            latency,
            queue_queued,
            queue_running,
            inference_seconds,
            scored,
            failed,
            refused,
            uploads_in_flight,
            jobs,
            job_seconds,
            database_errors,
            database_unreachable,
        }
    }

    fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The method label: one of the methods the API uses, else `other` (a client can send any
/// token as a method; each would otherwise become a new series that is never freed).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The status label: its class (`2xx` … `5xx`).
fn status_label(s: axum::http::StatusCode) -> &'static str {
    match s.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Counts and times every request by its route template (never the raw path), method and
/// status class: every label comes from a fixed set.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.run(req).await;
    s.metrics
        .latency
        .with_label_values(&[method, &route])
        .observe(start.elapsed().as_secs_f64());
    s.metrics
        .requests
        .with_label_values(&[method, &route, status_label(res.status())])
        .inc();
    res
}

/// `GET /metrics` (Prometheus text format).
pub async fn metrics(State(s): State<AppState>) -> Response {
    exposition(&s.metrics, &s.store).await
}

/// The metrics as Prometheus text, with the queue's depth read from the database now.
async fn exposition(m: &Metrics, store: &histoscore_store::Store) -> Response {
    if let Ok(d) = store.queue_depth().await {
        m.queue_queued.set(d.queued);
        m.queue_running.set(d.running);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}

/// Counts what this process's workers do (Prometheus) and, in the server, tells open
/// browsers when records change.
pub struct MetricsObserver {
    pub metrics: Arc<Metrics>,
    pub events: Option<crate::events::EventHub>,
}

impl JobObserver for MetricsObserver {
    fn changed(&self) {
        if let Some(e) = &self.events {
            e.poke();
        }
    }

    fn scored(&self, ok: bool) {
        if ok {
            self.metrics.scored.inc();
        } else {
            self.metrics.failed.inc();
        }
    }

    fn stage_seconds(&self, stage: &'static str, seconds: f64) {
        self.metrics
            .inference_seconds
            .with_label_values(&[stage])
            .observe(seconds);
    }

    fn job_ended(&self, kind: JobKind, outcome: &'static str, seconds: f64) {
        self.metrics
            .jobs
            .with_label_values(&[kind.as_str(), outcome])
            .inc();
        self.metrics
            .job_seconds
            .with_label_values(&[kind.as_str()])
            .observe(seconds);
    }

    fn database_unreachable(&self, _retry: f64) {
        self.metrics.database_errors.inc();
        self.metrics.database_unreachable.set(1);
    }

    fn database_back(&self) {
        self.metrics.database_unreachable.set(0);
    }
}

/// The HTTP endpoint of a stand-alone worker (`histoscore worker --metrics-bind`):
/// `/metrics` (Prometheus), `/healthz` (the process is up) and `/readyz` (the database
/// answers: 200, else 503). Runs until `stop` turns true.
pub async fn serve_worker_endpoint(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    store: histoscore_store::Store,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    #[derive(Clone)]
    struct Worker {
        metrics: Arc<Metrics>,
        store: histoscore_store::Store,
    }
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(|State(w): State<Worker>| async move { exposition(&w.metrics, &w.store).await }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(|State(w): State<Worker>| async move {
                match w.store.health_check().await {
                    Ok(()) => (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({
                            "status": "ready",
                            "database": w.store.backend_name(),
                        })),
                    ),
                    Err(e) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({
                            "status": "unavailable",
                            "detail": format!("the database does not answer: {e}"),
                        })),
                    ),
                }
            }),
        )
        .with_state(Worker { metrics, store });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        let odd = axum::http::Method::from_bytes(b"XYZZY123").unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
        assert_eq!(status_label(axum::http::StatusCode::IM_A_TEAPOT), "4xx");
        assert_eq!(status_label(axum::http::StatusCode::OK), "2xx");
    }
}
