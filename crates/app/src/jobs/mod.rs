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
    /// A job's run ended: `finished` (its result is recorded), `interrupted` (back to the
    /// queue) or `unrecorded` (the result could not be written; the job is run again after
    /// its lease).
    fn job_ended(&self, _kind: JobKind, _outcome: &'static str, _seconds: f64) {}
    /// Claiming a job failed because the database did not answer; the worker waits `retry`
    /// seconds before trying again.
    fn database_unreachable(&self, _retry: f64) {}
    /// The database answers again after it had not.
    fn database_back(&self) {}
}

/// An observer that ignores everything.
pub struct Quiet;

impl JobObserver for Quiet {}

/// Waits before the next try after the database failed to answer: 0.5 s, doubling up to
/// 30 s, reset once it answers.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    /// Another failure: how long to wait before trying again.
    pub fn failed(&mut self) -> Duration {
        let wait = Self::FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    /// It answered: whether it had failed before (the next failure starts short again).
    pub fn succeeded(&mut self) -> bool {
        std::mem::take(&mut self.failures) > 0
    }
}

/// How often each worker asks whether the retraining policy is due.
const POLICY_CHECK: Duration = Duration::from_secs(60);

/// Takes jobs from the database until `stop` turns true. A scoring job in progress is
/// finished first; a training job is interrupted and requeued. When the database does not
/// answer, the worker keeps trying with [`Backoff`] instead of giving up.
pub async fn run_worker(app: App, worker_id: String, mut stop: watch::Receiver<bool>) {
    let lease = app.job_lease;
    let mut backoff = Backoff::default();
    // The retraining policy is looked at by every worker now and then (the database lets
    // only one of them start a run).
    let mut policy_checked = std::time::Instant::now() - POLICY_CHECK;
    loop {
        if *stop.borrow() {
            return;
        }
        if policy_checked.elapsed() >= POLICY_CHECK {
            policy_checked = std::time::Instant::now();
            if let Err(e) = crate::retraining::check_policy(&app).await {
                tracing::warn!(worker = %worker_id, "the retraining policy could not be checked: {e}");
            }
        }
        let claimed = app.store.claim_job(&worker_id, lease).await;
        if claimed.is_ok() && backoff.succeeded() {
            tracing::warn!(worker = %worker_id, "the database answers again; taking jobs");
            app.observer.database_back();
        }
        let row = match claimed {
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
                let wait = backoff.failed();
                tracing::error!(
                    worker = %worker_id,
                    "claiming a job failed: {e}; trying again in {:.1} s",
                    wait.as_secs_f64()
                );
                app.observer.database_unreachable(wait.as_secs_f64());
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
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
        let started = std::time::Instant::now();
        let ran = match row.kind {
            JobKind::Score => run_one::<score::ScoreImage>(&app, &row, &worker_id, &stop).await,
            JobKind::Train => run_one::<train::TrainModel>(&app, &row, &worker_id, &stop).await,
        };
        beat.abort();
        let outcome = match ran {
            Ok(Ran::Finished) => "finished",
            Ok(Ran::Interrupted) => {
                tracing::info!(job = row.id, "stopping: the job goes back to the queue");
                if let Err(e) = app.store.release_job(row.id, &worker_id).await {
                    tracing::warn!("job {}: could not requeue it: {e}", row.id);
                }
                "interrupted"
            }
            Err(e) => {
                tracing::warn!(
                    "job {}: could not record the result: {e}; it runs again once its lease \
                     ends",
                    row.id
                );
                "unrecorded"
            }
        };
        app.observer
            .job_ended(row.kind, outcome, started.elapsed().as_secs_f64());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_and_starts_over_after_success() {
        let mut b = Backoff::default();
        let waits: Vec<f64> = (0..9).map(|_| b.failed().as_secs_f64()).collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
        assert!(b.succeeded());
        assert!(!b.succeeded());
        assert_eq!(b.failed(), Duration::from_millis(500));
        for _ in 0..100 {
            assert!(b.failed() <= Duration::from_secs(30));
        }
    }
}
