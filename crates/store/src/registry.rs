//! The model registry: every model that scores, where its weights are stored, where it came
//! from, and which one is active (the latest row of the append-only activation log).

use chrono::{DateTime, Utc};
use histoscore_domain::Schema;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use std::fmt;
use std::str::FromStr;

use crate::{corrupt, now, parse_ts, Result, Store, StoreError};

text_enum!(
    /// The file format a model's weights are stored in.
    WeightFormat { Pth => "pth", Safetensors => "safetensors" }
);
text_enum!(
    /// How a model came into the registry.
    ModelSource { Import => "import", Trained => "trained" }
);

/// What a caller registers.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel {
    /// Derived from the weights (the engine's model id).
    pub id: String,
    pub name: String,
    /// SHA-256 of the stored file.
    pub sha256: String,
    pub format: WeightFormat,
    pub storage_key: String,
    pub schema: Schema,
    pub parent_id: Option<String>,
    pub training: Option<serde_json::Value>,
    pub metrics: Option<serde_json::Value>,
    pub source: ModelSource,
    /// The area one field covers on a slide, µm (width, height); `None`: the default.
    pub field_um: Option<[f64; 2]>,
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelEntry {
    pub id: String,
    pub name: String,
    pub sha256: String,
    pub format: WeightFormat,
    pub source: ModelSource,
    pub parent_id: Option<String>,
    pub schema: Schema,
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<serde_json::Value>,
    /// Training-set snapshot and settings (trained models).
    #[schema(value_type = Option<Object>)]
    pub training: Option<serde_json::Value>,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The area one field covers when this model scores a slide, in µm (width, height);
    /// `null` means the default assumption, 2040 × 1388 µm (the original's 4080 × 2776 px
    /// images at 0.5 µm/px).
    #[schema(value_type = Option<Vec<f64>>)]
    pub field_um: Option<[f64; 2]>,
    #[serde(skip)]
    pub storage_key: String,
    pub active: bool,
    /// When it last became active.
    #[serde(default, with = "crate::records::millis::option")]
    pub activated_at: Option<DateTime<Utc>>,
}

const MODEL_COLS: &str = "m.id, m.name, m.sha256, m.format, m.storage_key, m.schema_json, \
     m.parent_id, m.training_json, m.metrics_json, m.source, m.created_at, m.created_by, \
     m.field_width_um, m.field_height_um, \
     (SELECT MAX(a.at) FROM model_activations a WHERE a.model_id = m.id) AS activated_at";

pub(crate) fn json_col(r: &AnyRow, col: &str) -> Result<Option<serde_json::Value>> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| {
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("model {col}: {e}")))
        })
        .transpose()
}

fn model_from_row(r: &AnyRow, active: Option<&str>) -> Result<ModelEntry> {
    let id: String = r.try_get("id")?;
    let schema: Schema = serde_json::from_str(&r.try_get::<String, _>("schema_json")?)
        .map_err(|e| StoreError::Corrupt(format!("model schema: {e}")))?;
    Ok(ModelEntry {
        active: active == Some(id.as_str()),
        id,
        name: r.try_get("name")?,
        sha256: r.try_get("sha256")?,
        format: r.try_get::<String, _>("format")?.parse().map_err(corrupt)?,
        source: r.try_get::<String, _>("source")?.parse().map_err(corrupt)?,
        parent_id: r.try_get("parent_id")?,
        schema,
        metrics: json_col(r, "metrics_json")?,
        training: json_col(r, "training_json")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        created_by: r.try_get("created_by")?,
        field_um: match (
            r.try_get::<Option<f64>, _>("field_width_um")?,
            r.try_get::<Option<f64>, _>("field_height_um")?,
        ) {
            (Some(w), Some(h)) => Some([w, h]),
            _ => None,
        },
        storage_key: r.try_get("storage_key")?,
        activated_at: r
            .try_get::<Option<String>, _>("activated_at")?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
    })
}

impl Store {
    /// Registers a model; one already registered (same id) is returned unchanged.
    pub async fn register_model(&self, new: &NewModel, actor: &str) -> Result<(ModelEntry, bool)> {
        if let Ok(existing) = self.model(&new.id).await {
            return Ok((existing, false));
        }
        let schema = serde_json::to_string(&new.schema)
            .map_err(|e| StoreError::invalid("schema", e.to_string()))?;
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO models (id, name, sha256, format, storage_key, schema_json, parent_id, \
             training_json, metrics_json, source, created_at, created_by, field_width_um, \
             field_height_um) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&new.id)
        .bind(new.name.trim())
        .bind(&new.sha256)
        .bind(new.format.as_str())
        .bind(&new.storage_key)
        .bind(schema)
        .bind(&new.parent_id)
        .bind(new.training.as_ref().map(|v| v.to_string()))
        .bind(new.metrics.as_ref().map(|v| v.to_string()))
        .bind(new.source.as_str())
        .bind(now())
        .bind(actor)
        .bind(new.field_um.map(|f| f[0]))
        .bind(new.field_um.map(|f| f[1]))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((self.model(&new.id).await?, true))
    }

    /// Sets the area one field of this model covers on a slide (µm; `None`: the default).
    pub async fn set_model_field_um(
        &self,
        id: &str,
        field_um: Option<[f64; 2]>,
    ) -> Result<ModelEntry> {
        if let Some([w, h]) = field_um {
            if !(w.is_finite()
                && h.is_finite()
                && w > 0.0
                && h > 0.0
                && w <= 100_000.0
                && h <= 100_000.0)
            {
                return Err(StoreError::invalid(
                    "field_um",
                    "give the field's width and height in µm, each above 0 and at most 100 000",
                ));
            }
        }
        self.model(id).await?;
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE models SET field_width_um = $1, field_height_um = $2 WHERE id = $3")
            .bind(field_um.map(|f| f[0]))
            .bind(field_um.map(|f| f[1]))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.model(id).await
    }

    /// The active model's id, if any model was ever activated.
    pub async fn active_model_id(&self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT model_id FROM model_activations ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// One registered model.
    pub async fn model(&self, id: &str) -> Result<ModelEntry> {
        let active = self.active_model_id().await?;
        let sql = format!("SELECT {MODEL_COLS} FROM models m WHERE m.id = $1");
        match sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(r) => model_from_row(&r, active.as_deref()),
            None => Err(StoreError::Refused(format!(
                "there is no registered model {id:?}; see the list of models"
            ))),
        }
    }

    /// Every registered model, newest first.
    pub async fn list_models(&self) -> Result<Vec<ModelEntry>> {
        let active = self.active_model_id().await?;
        let sql = format!("SELECT {MODEL_COLS} FROM models m ORDER BY m.created_at DESC, m.id");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| model_from_row(r, active.as_deref()))
            .collect()
    }

    /// Makes a registered model the active one (logged with who and why).
    pub async fn activate_model(
        &self,
        id: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<ModelEntry> {
        crate::check_reason(reason)?;
        self.model(id).await?;
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO model_activations (model_id, at, actor, reason) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(now())
        .bind(actor)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.model(id).await
    }

    /// Activates the model that was active before the current one (`Refused` when none was).
    pub async fn rollback_model(&self, actor: &str) -> Result<ModelEntry> {
        let rows = sqlx::query("SELECT model_id FROM model_activations ORDER BY id DESC")
            .fetch_all(&self.pool)
            .await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        let Some(current) = ids.first() else {
            return Err(StoreError::Refused(
                "no model has been activated yet; nothing to roll back".into(),
            ));
        };
        let Some(previous) = ids.iter().find(|m| *m != current) else {
            return Err(StoreError::Refused(
                "no other model was active before this one; nothing to roll back to".into(),
            ));
        };
        let previous = previous.clone();
        self.activate_model(&previous, actor, Some("rollback"))
            .await
    }
}
