//! The scored fields of whole-slide images: one row per field and model, written as each
//! field is scored (so that a slide's job taken over by another worker goes on from there),
//! and the regions of interest reviewers draw.

use histoscore_domain::slide::FieldRow;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now, Result, Store, StoreError};

const FIELD_COLS: &str =
    "field_index, roi, x, y, width, height, tissue_share, raw, scores, error, created_by";

fn field_from_row(r: &AnyRow) -> Result<FieldRow> {
    let json = |col: &str| -> Result<Option<String>> { Ok(r.try_get(col)?) };
    let bad =
        |col: &'static str| move |e: serde_json::Error| StoreError::Corrupt(format!("{col}: {e}"));
    Ok(FieldRow {
        index: r.try_get("field_index")?,
        roi: r.try_get::<i64, _>("roi")? != 0,
        x: r.try_get("x")?,
        y: r.try_get("y")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        tissue_share: r.try_get("tissue_share")?,
        raw: json("raw")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(bad("raw"))?,
        scores: json("scores")?
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(bad("scores"))?,
        error: r.try_get("error")?,
        created_by: r.try_get("created_by")?,
    })
}

impl Store {
    /// Records one scored field of a slide (replacing the same field of the same model).
    pub async fn put_slide_field(
        &self,
        image_id: i64,
        model_id: &str,
        field: &FieldRow,
        actor: &str,
        progress: Option<crate::Progress>,
    ) -> Result<()> {
        let raw = field
            .raw
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::invalid("raw", e.to_string()))?;
        let scores = field
            .scores
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::invalid("scores", e.to_string()))?;
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO slide_fields (image_id, model_id, roi, field_index, x, y, width, height, \
             tissue_share, raw, scores, error, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (image_id, model_id, roi, field_index) DO UPDATE SET \
             x = excluded.x, y = excluded.y, width = excluded.width, height = excluded.height, \
             tissue_share = excluded.tissue_share, raw = excluded.raw, scores = excluded.scores, \
             error = excluded.error, created_by = excluded.created_by, \
             created_at = excluded.created_at",
        )
        .bind(image_id)
        .bind(model_id)
        .bind(i64::from(field.roi))
        .bind(field.index)
        .bind(field.x)
        .bind(field.y)
        .bind(field.width)
        .bind(field.height)
        .bind(field.tissue_share)
        .bind(raw)
        .bind(scores)
        .bind(&field.error)
        .bind(actor)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if let Some(p) = progress {
            // Bumps updated_at (not the version): the change feed tells browsers.
            sqlx::query("UPDATE images SET progress = $1, updated_at = $2 WHERE id = $3")
                .bind(serde_json::json!({"done": p.done, "total": p.total}).to_string())
                .bind(now())
                .bind(image_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A slide's fields scored with `model_id`: grid fields in reading order, then regions
    /// of interest.
    pub async fn slide_fields(&self, image_id: i64, model_id: &str) -> Result<Vec<FieldRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {FIELD_COLS} FROM slide_fields WHERE image_id = $1 AND model_id = $2 \
             ORDER BY roi, field_index"
        ))
        .bind(image_id)
        .bind(model_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(field_from_row).collect()
    }

    /// Forgets a slide's grid fields of `model_id` (before it is scored afresh); drawn regions
    /// of interest stay.
    pub async fn clear_slide_fields(&self, image_id: i64, model_id: &str) -> Result<()> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM slide_fields WHERE image_id = $1 AND model_id = $2 AND roi = 0")
            .bind(image_id)
            .bind(model_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
