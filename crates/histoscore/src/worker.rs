//! `histoscore worker`: background workers that take jobs (scoring, training) from the
//! database, on any machine that can reach it and the data folder.

use crate::common::{app, runtime, shutdown_signal, start_engine, DataArgs, WorkArgs};
use crate::{EngineArg, ModelArg, SchemaArg};
use anyhow::Result;
use clap::Args;

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
}

pub fn worker(args: WorkerArgs) -> Result<bool> {
    let engine = start_engine(&args.model, &args.schema, &args.engine)?;
    runtime()?.block_on(async move {
        let store = args.data.open().await?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let app = app(store.clone(), &args.data, &engine, &args.engine, &args.work)?;
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
            "{n} worker(s) taking jobs from the {} database",
            store.backend_name()
        ));
        shutdown_signal().await;
        crate::common::announce(
            "stopping: scoring in progress is finished, training goes back to the queue",
        );
        let _ = stop.send(true);
        for t in tasks {
            let _ = t.await;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(true)
}
