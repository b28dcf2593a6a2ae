//! Training a model as a background job: the run's parameters are in `training_runs`, the job
//! names the run. Progress is saved as it goes (which is also when a cancel request is
//! noticed); a worker that is stopping gives the run back to the queue, and the next worker
//! starts it again from the beginning.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use histoscore_store::{Job as JobRow, JobKind, TrainingState};
use tokio::sync::watch;

use super::{Job, Ran};
use crate::training::{train_model, Progress, TrainRequest, TrainingError};
use crate::{App, AppError, Result};

/// Carry out training run `run`.
pub struct TrainModel {
    pub run: i64,
}

impl Job for TrainModel {
    const KIND: JobKind = JobKind::Train;

    fn from_row(row: &JobRow) -> Result<Self> {
        let run = row
            .payload
            .as_ref()
            .and_then(|p| p["run"].as_i64())
            .ok_or_else(|| AppError::invalid("payload", "a training job must name its run"))?;
        Ok(Self { run })
    }

    async fn run(
        self,
        app: &App,
        row: &JobRow,
        worker_id: &str,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Ran> {
        let id = self.run;
        let run = app.store.training_run(id).await?;
        if run.state != TrainingState::Running {
            // Cancelled (or finished) while it waited in the queue.
            app.store.finish_job(row.id, worker_id, None).await?;
            return Ok(Ran::Finished);
        }
        let req: TrainRequest = serde_json::from_value(run.params.clone())
            .map_err(|e| AppError::invalid("params", format!("unreadable parameters: {e}")))?;
        let cancel = Arc::new(AtomicBool::new(run.cancel_requested));
        let stopping = Arc::new(AtomicBool::new(false));
        // The process is stopping: the training loop sees the same flag as a cancel.
        let stop_watch = {
            let (cancel, stopping) = (cancel.clone(), stopping.clone());
            tokio::spawn(async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        return;
                    }
                }
                stopping.store(true, Ordering::Relaxed);
                cancel.store(true, Ordering::Relaxed);
            })
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let saver = {
            let (store, flag) = (app.store.clone(), cancel.clone());
            tokio::spawn(async move {
                let mut last = Instant::now() - Duration::from_secs(1);
                while let Some(p) = rx.recv().await {
                    let important =
                        !matches!(p, Progress::Features { done, total } if done < total);
                    if !important && last.elapsed() < Duration::from_millis(500) {
                        continue;
                    }
                    last = Instant::now();
                    let v = serde_json::to_value(&p).unwrap_or_default();
                    match store.training_progress(id, &v).await {
                        Ok(true) => flag.store(true, Ordering::Relaxed),
                        Ok(false) => {}
                        Err(e) => tracing::warn!("training run {id}: could not save progress: {e}"),
                    }
                }
            })
        };
        let outcome = train_model(
            &app.store,
            app.blobs.as_ref(),
            &app.data_dir,
            &app.scorer.schema,
            app.train_engine,
            &req,
            &run.created_by,
            tx,
            cancel,
        )
        .await;
        stop_watch.abort();
        let _ = saver.await;
        let (state, model, error) = match outcome {
            Err(TrainingError::Cancelled) if stopping.load(Ordering::Relaxed) => {
                return Ok(Ran::Interrupted);
            }
            Ok(o) => {
                tracing::info!(run = id, model = %o.entry.id, "training finished");
                (TrainingState::Done, Some(o.entry.id), None)
            }
            Err(TrainingError::Cancelled) => (
                TrainingState::Cancelled,
                None,
                Some("cancelled".to_string()),
            ),
            Err(TrainingError::Failed(e)) => {
                tracing::warn!(run = id, "training failed: {e}");
                (TrainingState::Failed, None, Some(e))
            }
        };
        // Every new model is compared with the active one on the evaluation set (a better
        // one from the policy may be promoted) before the run counts as done.
        if let Some(m) = &model {
            let outcome = crate::retraining::after_training(app, &run, m).await;
            tracing::info!(run = id, model = %m, "evaluation: {outcome}");
        }
        app.store
            .finish_training_run(id, state, model.as_deref(), error.as_deref())
            .await?;
        let job_error = (state == TrainingState::Failed)
            .then_some(error.as_deref())
            .flatten();
        app.store.finish_job(row.id, worker_id, job_error).await?;
        Ok(Ran::Finished)
    }
}
