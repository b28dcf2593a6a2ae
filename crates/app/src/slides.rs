//! Regions of interest on a slide: a reviewer draws a rectangle and gets that region scored as
//! a field, with the model that drafted the slide (so that it compares with the fields), kept
//! with the slide's fields and attributed to who drew it.

use histoscore_domain::slide::FieldRow;
use histoscore_imaging::preprocess;
use histoscore_imaging::slide::tissue::read_level;
use histoscore_imaging::slide::{PlannedField, Slide};
use histoscore_store::ImageRecord;

use crate::blobs::LocalCopy;
use crate::{App, AppError, Result};

/// A rectangle in level-0 pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
pub struct Region {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
}

/// A local path to the slide's stored file (the stored file itself, or a download of it).
pub(crate) async fn stored_slide(app: &App, record: &ImageRecord) -> Result<LocalCopy> {
    crate::originals::original(&*app.blobs, &app.data_dir, record).await
}

/// The smallest region scored, per side, in level-0 pixels.
pub const MIN_REGION_SIDE: i64 = 64;

/// Scores `region` of the slide `record` and records it as region of interest by `actor`.
pub async fn score_region(
    app: &App,
    record: &ImageRecord,
    region: Region,
    actor: &str,
) -> Result<FieldRow> {
    if !record.is_slide() {
        return Err(AppError::invalid(
            "id",
            format!(
                "image {} is not a whole-slide image: it has no regions",
                record.id
            ),
        ));
    }
    let (w, h) = (record.width.unwrap_or(0), record.height.unwrap_or(0));
    let Region {
        x,
        y,
        width,
        height,
    } = region;
    if width < MIN_REGION_SIDE || height < MIN_REGION_SIDE {
        return Err(AppError::invalid(
            "width",
            format!(
                "draw a region of at least {MIN_REGION_SIDE} × {MIN_REGION_SIDE} level-0 pixels"
            ),
        ));
    }
    if x < 0 || y < 0 || x.saturating_add(width) > w || y.saturating_add(height) > h {
        return Err(AppError::invalid(
            "x",
            format!("the region must lie inside the slide (0, 0)–({w}, {h}) in level-0 pixels"),
        ));
    }
    let model_id = record.draft.as_ref().map(|d| d.model_id.clone());
    let engine = app.engine_for(model_id.as_deref()).await?;
    let copy = stored_slide(app, record).await?;
    let permit = app
        .decode_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(AppError::failed)?;
    let queue = engine.queue.clone();
    let planned = PlannedField {
        x,
        y,
        width: width as u64,
        height: height as u64,
        tissue_share: 1.0,
    };
    let (raw, level_px) = tokio::task::spawn_blocking(move || -> Result<(Vec<f32>, u64)> {
        let slide = Slide::open(&copy.path).map_err(|e| AppError::Failed(e.to_string()))?;
        let (level, lw, lh) = read_level(&slide.meta, planned.width, planned.height);
        let rgb = slide
            .read_rgb(level, planned.x, planned.y, lw, lh)
            .map_err(|e| AppError::invalid("width", e.to_string()))?;
        drop(permit);
        let p = preprocess(&rgb, lw as usize, lh as usize);
        let raw = queue.submit(p.tensor).map_err(AppError::failed)?;
        Ok((raw, lw * lh))
    })
    .await
    .map_err(|e| AppError::Failed(format!("scoring the region crashed: {e}")))??;
    tracing::debug!(image = record.id, pixels = level_px, "region scored");
    let next = app
        .store
        .slide_fields(record.id, &engine.model.id)
        .await?
        .iter()
        .filter(|f| f.roi)
        .map(|f| f.index + 1)
        .max()
        .unwrap_or(1);
    let field = FieldRow {
        index: next,
        x,
        y,
        width,
        height,
        tissue_share: 1.0,
        scores: Some(app.scorer.schema.scores_from_raw(&raw)),
        raw: Some(raw),
        error: None,
        roi: true,
        created_by: Some(actor.to_string()),
    };
    app.store
        .put_slide_field(record.id, &engine.model.id, &field, actor, None)
        .await?;
    Ok(field)
}
