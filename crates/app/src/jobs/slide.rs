//! Scoring a whole-slide image: the same `score` job as an image, taken by any worker. The
//! slide is read from its stored file through OpenSlide, the tissue found, the fields laid and
//! scored in batches; each field is recorded as it is done (with the progress, which the
//! change feed pushes to browsers), so that a job taken over from a worker that died goes on
//! from the fields already recorded. The draft is written only when every field is done:
//! a slide is never half-recorded as finished.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use histoscore_domain::slide::{summarise, FieldRow};
use histoscore_engine::slide::{plan, score_fields, FieldHooks, FieldScore};
use histoscore_imaging::slide::Slide;
use histoscore_store::{ImageRecord, Job as JobRow, NewDraft, Progress};
use tokio::sync::{mpsc, watch};

use crate::{App, AppError, Result};

enum Msg {
    Planned(usize),
    Field(usize, FieldScore),
}

/// Scores `record` (a slide) with the model `model_id` names (`None`: the active one).
/// `Ok(None)`: the process is stopping and the job goes back to the queue.
pub(super) async fn slide_draft(
    app: &App,
    row: &JobRow,
    record: &ImageRecord,
    model_id: Option<&str>,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<NewDraft>> {
    let engine = app.engine_for(model_id).await?;
    let model = engine.model.id.clone();
    let copy = crate::slides::stored_slide(app, record).await?;
    // A job taken over from another worker goes on from the fields it recorded; a fresh one
    // (first attempt, or a re-score) starts over.
    let done: HashSet<i64> = if row.attempts > 1 {
        app.store
            .slide_fields(record.id, &model)
            .await?
            .into_iter()
            .filter(|f| !f.roi)
            .map(|f| f.index)
            .collect()
    } else {
        app.store.clear_slide_fields(record.id, &model).await?;
        HashSet::new()
    };
    let already = done.len();
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let scorer = app.scorer.clone();
    let queue = engine.queue.clone();
    // The field size the model was made for (registered models may say; else the default).
    let mut opts = app.slide_fields;
    if let Some([w, h]) = app.store.model(&model).await.ok().and_then(|m| m.field_um) {
        opts.field_um = (w, h);
    }
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let blocking = {
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let slide = Slide::open(&copy.path).map_err(|e| AppError::Failed(e.to_string()))?;
            let plan = plan(&slide, &opts).map_err(|e| AppError::Failed(e.to_string()))?;
            let _ = tx.send(Msg::Planned(plan.fields.len()));
            score_fields(
                &scorer,
                &slide,
                &plan.fields,
                &queue,
                readers,
                &FieldHooks {
                    skip: &|i| done.contains(&(i as i64)),
                    cancel: &cancel,
                    done: &|i, r| {
                        let _ = tx.send(Msg::Field(i, r.clone()));
                    },
                },
            )
            .map_err(|e| AppError::Failed(e.to_string()))?;
            drop(copy);
            Ok(())
        })
    };
    let mut total = 0usize;
    let mut count = already;
    let mut stopping = *stop.borrow();
    cancel.store(stopping, Ordering::Relaxed);
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            r = stop.changed(), if !stopping => {
                // A dropped sender is no stop request; only `true` is.
                stopping = r.is_err() || *stop.borrow();
                if r.is_ok() && *stop.borrow() {
                    cancel.store(true, Ordering::Relaxed);
                }
                continue;
            }
        };
        let Some(msg) = msg else { break };
        match msg {
            Msg::Planned(n) => total = n,
            Msg::Field(i, f) => {
                count += 1;
                let field = FieldRow {
                    index: i as i64,
                    x: f.field.x,
                    y: f.field.y,
                    width: f.field.width as i64,
                    height: f.field.height as i64,
                    tissue_share: f.field.tissue_share,
                    scores: f.scores,
                    raw: f.raw,
                    error: f.error,
                    roi: false,
                    created_by: Some("ai".into()),
                };
                let progress = Progress {
                    done: count as i64,
                    total: total as i64,
                };
                app.store
                    .put_slide_field(record.id, &model, &field, "ai", Some(progress))
                    .await?;
                app.observer.changed();
            }
        }
    }
    blocking
        .await
        .map_err(|e| AppError::Failed(format!("scoring the slide crashed: {e}")))??;
    if cancel.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let fields = app.store.slide_fields(record.id, &model).await?;
    let pairs: Vec<(f64, &[f32])> = fields
        .iter()
        .filter(|f| !f.roi)
        .filter_map(|f| f.raw.as_deref().map(|r| (f.tissue_share, r)))
        .collect();
    let unreadable = fields.iter().filter(|f| !f.roi && f.raw.is_none()).count();
    let summary = summarise(&app.scorer.schema, &pairs).ok_or_else(|| {
        AppError::Failed(if fields.is_empty() {
            "no tissue found on the slide: nothing to score".to_string()
        } else {
            format!("none of the slide's {unreadable} fields could be read: the file is probably corrupt")
        })
    })?;
    let metrics = &app.scorer.schema.metrics;
    Ok(Some(NewDraft {
        model_id: model,
        model_demo: engine.model.demo,
        raw_outputs: metrics
            .iter()
            .zip(&summary.raw)
            .map(|(m, v)| (m.name.clone(), f64::from(*v)))
            .collect(),
        rounded: summary.scores.clone(),
        // For a slide: the spread of its fields' scores (p90 − p10).
        uncertainty: Some(
            metrics
                .iter()
                .zip(&summary.uncertainty)
                .map(|(m, u)| (m.name.clone(), *u))
                .collect(),
        ),
    }))
}
