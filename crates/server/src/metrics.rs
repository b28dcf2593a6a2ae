//! Prometheus metrics: request latencies, queue depth, inference time, images scored, errors.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::time::Instant;

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
            Opts::new("http_requests_total", "HTTP requests by route and status"),
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

/// Counts and times every request by its route pattern (never the raw path).
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    s.metrics
        .latency
        .with_label_values(&[&method, &route])
        .observe(start.elapsed().as_secs_f64());
    s.metrics
        .requests
        .with_label_values(&[&method, &route, res.status().as_str()])
        .inc();
    res
}

/// `GET /metrics` (Prometheus text format).
pub async fn metrics(State(s): State<AppState>) -> Response {
    if let Ok(d) = s.store.queue_depth().await {
        s.metrics.queue_queued.set(d.queued);
        s.metrics.queue_running.set(d.running);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}
