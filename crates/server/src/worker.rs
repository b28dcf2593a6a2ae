//! The background worker: claims queued jobs from the database (any number of processes on
//! any number of machines may share them), scores the stored original and records the draft.

use histoscore_store::NewDraft;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use crate::blobs::original_key;
use crate::AppState;

/// Runs until `stop` turns true; a job in progress is finished first.
pub async fn run_worker(s: AppState, worker_id: String, mut stop: watch::Receiver<bool>) {
    let lease = s.limits.job_lease;
    loop {
        if *stop.borrow() {
            return;
        }
        let job = match s.store.claim_job(&worker_id, lease).await {
            Ok(Some(j)) => j,
            Ok(None) => {
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = s.work.notified() => {}
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
        s.events.poke();
        tracing::info!(job = job.id, image = job.image_id, "scoring");
        // Keep the lease while scoring, so no other worker takes the job over.
        let beat = {
            let (store, job_id, wid) = (s.store.clone(), job.id, worker_id.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    if let Err(e) = store.heartbeat(job_id, &wid).await {
                        tracing::warn!("job {job_id}: heartbeat failed: {e}");
                    }
                }
            })
        };
        let result = score_one(&s, job.image_id, job.model_id.as_deref()).await;
        beat.abort();
        let recorded = match result {
            Ok(draft) => {
                s.metrics.scored.inc();
                s.store
                    .complete_job(job.id, &worker_id, &draft)
                    .await
                    .map(|_| ())
            }
            Err(e) => {
                s.metrics.failed.inc();
                tracing::warn!(job = job.id, image = job.image_id, "scoring failed: {e}");
                s.store.fail_job(job.id, &worker_id, &e).await.map(|_| ())
            }
        };
        if let Err(e) = recorded {
            tracing::warn!("job {}: could not record the result: {e}", job.id);
        }
        s.events.poke();
    }
}

async fn score_one(
    s: &AppState,
    image_id: i64,
    model_id: Option<&str>,
) -> Result<NewDraft, String> {
    let engine = s.engine_for(model_id).await?;
    let record = s
        .store
        .get_image(image_id)
        .await
        .map_err(|e| e.to_string())?;
    let key = record
        .storage_key
        .clone()
        .unwrap_or_else(|| original_key(&record.sha256));
    let copy = s
        .blobs
        .local_copy(&key)
        .await
        .map_err(|e| format!("the stored file is missing ({e}); upload it again"))?;
    let permit = s
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| e.to_string())?;
    let scorer = s.scorer.clone();
    let queue = engine.queue.clone();
    let filename = record.filename.clone();
    let with_uncertainty = s.uncertainty;
    let metrics = s.metrics.clone();
    let img = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let prepared = scorer.prepare_file(&copy.path).map_err(|e| e.to_string());
        drop(permit);
        let prepared = prepared?;
        metrics
            .inference_seconds
            .with_label_values(&["decode_preprocess"])
            .observe(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let out = if with_uncertainty {
            scorer.finish_with_uncertainty(&filename, prepared, &queue)
        } else {
            scorer
                .finish(&filename, prepared, &queue)
                .map(|i| (i, Vec::new()))
        }
        .map_err(|e| e.to_string());
        metrics
            .inference_seconds
            .with_label_values(&["forward"])
            .observe(t.elapsed().as_secs_f64());
        out
    })
    .await
    .unwrap_or_else(|e| Err(format!("scoring crashed: {e}")))?;
    let (img, spread) = img;
    Ok(NewDraft {
        model_id: engine.model.id.clone(),
        model_demo: engine.model.demo,
        raw_outputs: s
            .scorer
            .schema
            .metrics
            .iter()
            .zip(&img.raw_output)
            .map(|(m, v)| (m.name.clone(), f64::from(*v)))
            .collect(),
        rounded: img.scores.clone(),
        uncertainty: (!spread.is_empty()).then(|| {
            s.scorer
                .schema
                .metrics
                .iter()
                .zip(spread)
                .map(|(m, u)| (m.name.clone(), u))
                .collect()
        }),
    })
}
