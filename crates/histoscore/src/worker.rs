//! `histoscore worker`: background workers that take jobs (scoring, training) from the
//! database, on any machine that can reach it and the file store.

use crate::common::{app, runtime, shutdown_signal, start_engine, DataArgs, WorkArgs};
use crate::{EngineArg, ModelArg, SchemaArg};
use anyhow::{Context, Result};
use clap::Args;
use histoscore_server::metrics::{serve_worker_endpoint, Metrics, MetricsObserver};
use std::sync::Arc;

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    engine: EngineArg,
    #[command(flatten)]
    work: WorkArgs,
    /// Address for this worker's `/metrics` (Prometheus), `/healthz` and `/readyz` (e.g.
    /// `0.0.0.0:9100`). Default: none.
    #[arg(long, value_name = "ADDR", env = "HISTOSCORE_METRICS_BIND")]
    metrics_bind: Option<String>,
}

pub fn worker(args: WorkerArgs) -> Result<bool> {
    let engine = start_engine(&args.model, &args.schema, &args.engine)?;
    runtime()?.block_on(async move {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        // SIGTERM / Ctrl-C: in-progress scoring finishes, training goes back to the queue.
        let signal = {
            let stop = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                crate::common::announce(
                    "stopping: scoring in progress is finished, training goes back to the queue",
                );
                let _ = stop.send(true);
            })
        };
        let listener = match &args.metrics_bind {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("could not listen on {addr} (--metrics-bind)"))?,
            ),
            None => None,
        };
        let Some(store) = args.data.open_waiting(stop_rx.clone()).await? else {
            return Ok(());
        };
        let mut app = app(store.clone(), &args.data, &engine, &args.engine, &args.work)?;
        let metrics = Arc::new(Metrics::new());
        app.observer = Arc::new(MetricsObserver {
            metrics: metrics.clone(),
            events: None,
        });
        let endpoint = listener.map(|l| {
            let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            crate::common::announce(format!("metrics on http://{addr}/metrics"));
            tokio::spawn(serve_worker_endpoint(
                l,
                metrics.clone(),
                store.clone(),
                stop_rx.clone(),
            ))
        });
        let prefix = histoscore_app::worker_prefix();
        let n = args.work.workers.max(1);
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                tokio::spawn(histoscore_app::jobs::run_worker(
                    app.clone(),
                    format!("{prefix}-{i}"),
                    stop_rx.clone(),
                ))
            })
            .collect();
        crate::common::announce(format!(
            "{n} worker(s) {prefix} taking jobs from the {} database",
            store.backend_name()
        ));
        for t in tasks {
            let _ = t.await;
        }
        let _ = stop.send(true);
        signal.abort();
        if let Some(e) = endpoint {
            let _ = e.await;
        }
        store.close().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(true)
}
