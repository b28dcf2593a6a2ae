//! Scoring an image: decode the stored original, run the model (with the flips and rotations
//! that measure uncertainty), and record the draft. Uploads and re-scores queue this job.

use std::time::Instant;

use histoscore_store::{Job as JobRow, JobKind, NewDraft};
use tokio::sync::watch;

use super::{Job, Ran};
use crate::{App, AppError, Result};

/// Score image `image_id` with `model_id` (`None`: the active model).
pub struct ScoreImage {
    pub image_id: i64,
    pub model_id: Option<String>,
}

impl Job for ScoreImage {
    const KIND: JobKind = JobKind::Score;

    fn from_row(row: &JobRow) -> Result<Self> {
        let image_id = row
            .image_id
            .ok_or_else(|| AppError::invalid("image_id", "a scoring job must name its image"))?;
        Ok(Self {
            image_id,
            model_id: row.model_id.clone(),
        })
    }

    /// An image takes seconds: it is finished even when the process is stopping. A slide
    /// stops between fields and goes back to the queue, to be finished by another worker.
    async fn run(
        self,
        app: &App,
        row: &JobRow,
        worker_id: &str,
        stop: watch::Receiver<bool>,
    ) -> Result<Ran> {
        let result: Result<Option<NewDraft>> = async {
            let record = app.store.get_image(self.image_id).await?;
            if record.is_slide() {
                super::slide::slide_draft(app, row, &record, self.model_id.as_deref(), stop).await
            } else {
                self.draft(app, record).await.map(Some)
            }
        }
        .await;
        let result = match result {
            // The process is stopping: another worker goes on from the recorded fields.
            Ok(None) => return Ok(Ran::Interrupted),
            Ok(Some(d)) => Ok(d),
            Err(e) => Err(e),
        };
        match result {
            Ok(draft) => {
                app.observer.scored(true);
                app.store.complete_job(row.id, worker_id, &draft).await?;
            }
            Err(e) => {
                app.observer.scored(false);
                tracing::warn!(job = row.id, image = self.image_id, "scoring failed: {e}");
                app.store
                    .fail_job(row.id, worker_id, &e.to_string())
                    .await?;
            }
        }
        Ok(Ran::Finished)
    }
}

impl ScoreImage {
    async fn draft(&self, app: &App, record: histoscore_store::ImageRecord) -> Result<NewDraft> {
        let engine = app.engine_for(self.model_id.as_deref()).await?;
        let scorer = app.scorer.clone();
        let queue = engine.queue.clone();
        let filename = record.filename.clone();
        let with_uncertainty = app.uncertainty;
        let observer = app.observer.clone();
        // The upload in this process may have prepared the network's input already.
        let handed = app.handoff.take(&record.sha256).await;
        let input = match handed {
            Some(prepared) => Ok(prepared),
            None => {
                let copy = crate::originals::original(&*app.blobs, &app.data_dir, &record).await?;
                let permit = app
                    .decode_slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(AppError::failed)?;
                Err((copy, permit))
            }
        };
        let (img, spread) = tokio::task::spawn_blocking(move || {
            let prepared = match input {
                Ok(prepared) => prepared,
                Err((copy, permit)) => {
                    let t = Instant::now();
                    let prepared = scorer.prepare_file(&copy.path);
                    drop(permit);
                    let prepared = prepared.map_err(|e| AppError::Failed(e.to_string()))?;
                    observer.stage_seconds("decode_preprocess", t.elapsed().as_secs_f64());
                    prepared
                }
            };
            let t = Instant::now();
            let out = if with_uncertainty {
                scorer.finish_with_uncertainty(&filename, prepared, &queue)
            } else {
                scorer
                    .finish(&filename, prepared, &queue)
                    .map(|i| (i, Vec::new()))
            }
            .map_err(|e| AppError::Failed(e.to_string()));
            observer.stage_seconds("forward", t.elapsed().as_secs_f64());
            out
        })
        .await
        .map_err(|e| AppError::Failed(format!("scoring crashed: {e}")))??;
        let metrics = &app.scorer.schema.metrics;
        Ok(NewDraft {
            model_id: engine.model.id.clone(),
            model_demo: engine.model.demo,
            raw_outputs: metrics
                .iter()
                .zip(&img.raw_output)
                .map(|(m, v)| (m.name.clone(), f64::from(*v)))
                .collect(),
            rounded: img.scores.clone(),
            uncertainty: (!spread.is_empty()).then(|| {
                metrics
                    .iter()
                    .zip(spread)
                    .map(|(m, u)| (m.name.clone(), u))
                    .collect()
            }),
        })
    }
}
