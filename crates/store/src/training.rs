//! Training runs: what was asked, progress per epoch, the outcome, and a cancel request any
//! process can set. Each run is carried out by a `train` job of the job queue.

use super::*;
use registry::json_col;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

text_enum!(
    /// Where a training run is.
    TrainingState { Running => "running", Done => "done", Failed => "failed", Cancelled => "cancelled" }
);

/// A training run started from the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrainingRun {
    pub id: i64,
    pub state: TrainingState,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The latest progress: stage, epoch, losses, validation MAE.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<serde_json::Value>,
    pub error: Option<String>,
    /// The registered model, once done.
    pub model_id: Option<String>,
    pub cancel_requested: bool,
    /// Who started it: a person (`manual`) or the retraining policy (`policy`).
    pub origin: String,
    pub created_by: String,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::records::millis")]
    pub updated_at: DateTime<Utc>,
}

const RUN_COLS: &str = "id, state, params, progress, error, model_id, cancel_requested, \
     origin, created_by, created_at, updated_at";

fn run_from_row(r: &AnyRow) -> Result<TrainingRun> {
    Ok(TrainingRun {
        id: r.try_get("id")?,
        state: r.try_get::<String, _>("state")?.parse().map_err(corrupt)?,
        params: json_col(r, "params")?.unwrap_or(serde_json::Value::Null),
        progress: json_col(r, "progress")?,
        error: r.try_get("error")?,
        model_id: r.try_get("model_id")?,
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
        origin: r.try_get("origin")?,
        created_by: r.try_get("created_by")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
    })
}

impl Store {
    /// Records a training run and queues the job that runs it (any worker may take it).
    pub async fn create_training_run(
        &self,
        params: &serde_json::Value,
        actor: &str,
    ) -> Result<TrainingRun> {
        match self.insert_training_run(params, actor, "manual").await? {
            Some(run) => Ok(run),
            None => Err(StoreError::Corrupt("a manual run was not recorded".into())),
        }
    }

    /// Records a run of the retraining policy and queues its job, unless a training run is
    /// already in progress (`None`; at most one policy run at a time, whichever process
    /// asks).
    pub async fn create_policy_run(
        &self,
        params: &serde_json::Value,
        actor: &str,
    ) -> Result<Option<TrainingRun>> {
        let running = sqlx::query("SELECT COUNT(*) FROM training_runs WHERE state = 'running'")
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>(0)?;
        if running > 0 {
            return Ok(None);
        }
        match self.insert_training_run(params, actor, "policy").await {
            Err(StoreError::Database(e))
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Ok(None)
            }
            other => other,
        }
    }

    /// The latest run the policy started, if any.
    pub async fn last_policy_run(&self) -> Result<Option<TrainingRun>> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM training_runs WHERE origin = 'policy' ORDER BY id DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(run_from_row)
            .transpose()
    }

    async fn insert_training_run(
        &self,
        params: &serde_json::Value,
        actor: &str,
        origin: &str,
    ) -> Result<Option<TrainingRun>> {
        check_actor(actor)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO training_runs \
             (state, params, owner, origin, created_by, created_at, updated_at) \
             VALUES ('running', $1, '', $2, $3, $4, $4) RETURNING id",
        )
        .bind(params.to_string())
        .bind(origin)
        .bind(actor)
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        sqlx::query(
            "INSERT INTO jobs (kind, payload, state, attempts, created_at, updated_at) \
             VALUES ('train', $1, 'queued', 0, $2, $2)",
        )
        .bind(serde_json::json!({ "run": id }).to_string())
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.training_run(id).await.map(Some)
    }

    pub async fn training_run(&self, id: i64) -> Result<TrainingRun> {
        let sql = format!("SELECT {RUN_COLS} FROM training_runs WHERE id = $1");
        match sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(r) => run_from_row(&r),
            None => Err(StoreError::NotFound {
                what: "training run",
                id,
            }),
        }
    }

    /// The latest training runs, newest first.
    pub async fn list_training_runs(&self, limit: i64) -> Result<Vec<TrainingRun>> {
        let sql = format!("SELECT {RUN_COLS} FROM training_runs ORDER BY id DESC LIMIT $1");
        sqlx::query(&sql)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    /// Saves progress of a running run; returns whether a cancel was requested.
    pub async fn training_progress(&self, id: i64, progress: &serde_json::Value) -> Result<bool> {
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE training_runs SET progress = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'running' RETURNING cancel_requested",
        )
        .bind(progress.to_string())
        .bind(now())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>(0)? != 0,
            None => true,
        })
    }

    /// Ends a run: `done` (with its model), `failed` or `cancelled` (with why).
    pub async fn finish_training_run(
        &self,
        id: i64,
        state: TrainingState,
        model_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<TrainingRun> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "UPDATE training_runs SET state = $1, model_id = $2, error = $3, updated_at = $4 \
             WHERE id = $5 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(model_id)
        .bind(error)
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.training_run(id).await
    }

    /// Asks the process running it to stop after the current epoch.
    pub async fn cancel_training_run(&self, id: i64) -> Result<TrainingRun> {
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "UPDATE training_runs SET cancel_requested = 1, updated_at = $1 \
             WHERE id = $2 AND state = 'running'",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.training_run(id).await
    }
}

/// The training run a `train` job's payload names.
pub(crate) fn training_run_of(payload: Option<String>) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(&payload?).ok()?;
    v["run"].as_i64()
}

/// Marks a run failed inside a job transaction (its worker died too often).
pub(crate) async fn fail_training_run_in(
    tx: &mut Tx,
    at: &str,
    run: i64,
    error: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE training_runs SET state = 'failed', error = $1, updated_at = $2 \
         WHERE id = $3 AND state = 'running'",
    )
    .bind(error)
    .bind(at)
    .bind(run)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
