//! The one background-job system. Jobs live in the database (`jobs` table: kind, payload,
//! lease, heartbeat, attempts); any number of workers in any number of processes claim them
//! with `FOR UPDATE SKIP LOCKED` (PostgreSQL) or `BEGIN IMMEDIATE` (SQLite). A job whose
//! worker dies stops sending heartbeats and goes back to the queue after the lease.
//!
//! Each kind is one [`Job`] in a file of its own: [`score::ScoreImage`] (upload and re-score
//! drafts), [`train::TrainModel`] (a training run).

pub mod score;
mod slide;
pub mod train;

use std::future::Future;
use std::time::Duration;

use histoscore_store::{Job as JobRow, JobKind};
use tokio::sync::watch;

use crate::{App, Result};

/// One kind of background job.
pub trait Job: Sized + Send {
    /// The `kind` column of this job's rows.
    const KIND: JobKind;

    /// Reads the job's parameters from its row.
    fn from_row(row: &JobRow) -> Result<Self>;

    /// Does the work and records its result (for a scoring job the draft, for training the
    /// model). `stop` turns true when the process is stopping: a long job gives up and
    /// answers [`Ran::Interrupted`], so that the job is requeued for another worker.
    fn run(
        self,
        app: &App,
        row: &JobRow,
        worker_id: &str,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = Result<Ran>> + Send;
}

/// How a job's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// Its result (success or failure) is recorded.
    Finished,
    /// The process is stopping; the job goes back to the queue.
    Interrupted,
}

/// Told when jobs start and end: the server counts them (Prometheus) and pushes changes to
/// browsers; the stand-alone worker needs neither.
pub trait JobObserver: Send + Sync {
    /// A job was claimed or finished (records changed).
    fn changed(&self) {}
    /// A scoring job ended, successfully or not.
    fn scored(&self, _ok: bool) {}
    /// Seconds spent in a stage of scoring (`decode_preprocess`, `forward`).
    fn stage_seconds(&self, _stage: &'static str, _seconds: f64) {}
}

/// An observer that ignores everything.
pub struct Quiet;

impl JobObserver for Quiet {}

/// Takes jobs from the database until `stop` turns true. A scoring job in progress is
/// finished first; a training job is interrupted and requeued.
pub async fn run_worker(app: App, worker_id: String, mut stop: watch::Receiver<bool>) {
    let lease = app.job_lease;
    loop {
        if *stop.borrow() {
            return;
        }
        let row = match app.store.claim_job(&worker_id, lease).await {
            Ok(Some(j)) => j,
            Ok(None) => {
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = app.work.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::error!("claiming a job failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        app.observer.changed();
        tracing::info!(job = row.id, kind = %row.kind, image = ?row.image_id, "job started");
        // Keep the lease while working, so that no other worker takes the job over.
        let beat = {
            let (store, job_id, wid) = (app.store.clone(), row.id, worker_id.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if let Err(e) = store.heartbeat(job_id, &wid).await {
                        tracing::warn!("job {job_id}: heartbeat failed: {e}");
                    }
                }
            })
        };
        let ran = match row.kind {
            JobKind::Score => run_one::<score::ScoreImage>(&app, &row, &worker_id, &stop).await,
            JobKind::Train => run_one::<train::TrainModel>(&app, &row, &worker_id, &stop).await,
        };
        beat.abort();
        match ran {
            Ok(Ran::Finished) => {}
            Ok(Ran::Interrupted) => {
                tracing::info!(job = row.id, "stopping: the job goes back to the queue");
                if let Err(e) = app.store.release_job(row.id, &worker_id).await {
                    tracing::warn!("job {}: could not requeue it: {e}", row.id);
                }
            }
            Err(e) => tracing::warn!("job {}: could not record the result: {e}", row.id),
        }
        app.observer.changed();
    }
}

async fn run_one<J: Job>(
    app: &App,
    row: &JobRow,
    worker_id: &str,
    stop: &watch::Receiver<bool>,
) -> Result<Ran> {
    debug_assert_eq!(row.kind, J::KIND);
    match J::from_row(row) {
        Ok(job) => job.run(app, row, worker_id, stop.clone()).await,
        Err(e) => {
            // A row this version cannot read: fail it rather than retry it forever.
            let why = format!("the job cannot be run: {e}");
            match row.image_id {
                Some(_) => app
                    .store
                    .fail_job(row.id, worker_id, &why)
                    .await
                    .map(drop)?,
                None => app.store.finish_job(row.id, worker_id, Some(&why)).await?,
            }
            Ok(Ran::Finished)
        }
    }
}
