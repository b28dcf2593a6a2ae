//! Automated retraining: the policy that says when to retrain, the evaluation set that no
//! model trains on, and the comparison of each new model with the one active at the time.

use super::*;
use histoscore_domain::comparison::EvalRule;
use registry::json_col;
use serde::{Deserialize, Serialize};

/// When and how the retraining policy retrains. Off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RetrainPolicy {
    /// Retrain once this many images were reviewed since the last policy run (or since the
    /// policy was set); `null`: not on this ground.
    pub after_reviewed: Option<i64>,
    /// Retrain every this many hours; `null`: no schedule.
    pub every_hours: Option<i64>,
    /// Train only the last layer (seconds) instead of fine-tuning the last layers.
    pub head_only: bool,
    /// Layers a fine-tune trains (default the last two blocks and the last layer).
    pub layers: Vec<String>,
    /// Make a better challenger the active model at once; otherwise it waits for an
    /// administrator's approval on the Models page.
    pub auto_promote: bool,
    /// Metrics whose error must improve for a challenger to count as better; empty: all.
    pub metrics: Vec<String>,
    #[serde(skip_deserializing)]
    pub updated_by: Option<String>,
    #[serde(skip_deserializing, with = "crate::records::millis::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for RetrainPolicy {
    fn default() -> Self {
        Self {
            after_reviewed: None,
            every_hours: None,
            head_only: false,
            layers: vec!["layer3".into(), "layer4".into(), "fc".into()],
            auto_promote: false,
            metrics: Vec::new(),
            updated_by: None,
            updated_at: None,
        }
    }
}

impl RetrainPolicy {
    /// Whether anything makes the policy start a run on its own.
    pub fn enabled(&self) -> bool {
        self.after_reviewed.is_some() || self.every_hours.is_some()
    }
}

/// The sample groups kept out of training to compare models on, as chosen last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvaluationSet {
    pub id: i64,
    /// Which groups are in it (a fixed rule: later groups fall on a fixed side).
    #[serde(flatten)]
    pub rule: EvalRule,
    pub reason: String,
    pub chosen_by: String,
    #[serde(with = "crate::records::millis")]
    pub chosen_at: DateTime<Utc>,
}

/// One comparison of a model (the challenger) with the model active when it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelEvaluation {
    pub id: i64,
    pub model_id: String,
    /// The active model it was compared with (`null` when none was active).
    pub champion_id: Option<String>,
    pub evaluation_set_id: Option<i64>,
    /// The training run that made the model, if any.
    pub run_id: Option<i64>,
    /// `better`, `worse`, `no_clear_difference` or `not_enough_data`.
    pub verdict: String,
    /// The full comparison (per metric: errors, kappas, changed share, with 95 % intervals).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
}

fn list_col(r: &AnyRow, col: &str) -> Result<Vec<String>> {
    Ok(match json_col(r, col)? {
        Some(v) => {
            serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))?
        }
        None => Vec::new(),
    })
}

impl Store {
    /// The retraining policy (off when none was ever set).
    pub async fn retrain_policy(&self) -> Result<RetrainPolicy> {
        let row = sqlx::query(
            "SELECT after_reviewed, every_hours, head_only, layers, auto_promote, metrics, \
             updated_by, updated_at FROM retrain_policy WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(RetrainPolicy::default());
        };
        Ok(RetrainPolicy {
            after_reviewed: r.try_get("after_reviewed")?,
            every_hours: r.try_get("every_hours")?,
            head_only: r.try_get::<i64, _>("head_only")? != 0,
            layers: list_col(&r, "layers")?,
            auto_promote: r.try_get::<i64, _>("auto_promote")? != 0,
            metrics: list_col(&r, "metrics")?,
            updated_by: Some(r.try_get("updated_by")?),
            updated_at: Some(parse_ts(&r.try_get::<String, _>("updated_at")?)?),
        })
    }

    /// Replaces the retraining policy.
    pub async fn set_retrain_policy(
        &self,
        p: &RetrainPolicy,
        actor: &str,
    ) -> Result<RetrainPolicy> {
        check_actor(actor)?;
        for (field, v) in [
            ("after_reviewed", p.after_reviewed),
            ("every_hours", p.every_hours),
        ] {
            if matches!(v, Some(n) if n < 1) {
                return Err(StoreError::invalid(
                    field,
                    "must be at least 1, or null to turn it off",
                ));
            }
        }
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO retrain_policy (id, after_reviewed, every_hours, head_only, layers, \
             auto_promote, metrics, updated_by, updated_at) \
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET after_reviewed = excluded.after_reviewed, \
             every_hours = excluded.every_hours, head_only = excluded.head_only, \
             layers = excluded.layers, auto_promote = excluded.auto_promote, \
             metrics = excluded.metrics, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(p.after_reviewed)
        .bind(p.every_hours)
        .bind(i64::from(p.head_only))
        .bind(serde_json::to_string(&p.layers).unwrap_or_default())
        .bind(i64::from(p.auto_promote))
        .bind(serde_json::to_string(&p.metrics).unwrap_or_default())
        .bind(actor)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.retrain_policy().await
    }

    /// The current evaluation set, if one was chosen.
    pub async fn evaluation_set(&self) -> Result<Option<EvaluationSet>> {
        let row = sqlx::query(
            "SELECT id, share, seed, groups, trained, reason, chosen_by, chosen_at \
             FROM evaluation_sets ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(EvaluationSet {
                id: r.try_get("id")?,
                rule: EvalRule {
                    share: r.try_get("share")?,
                    seed: r.try_get::<i64, _>("seed")? as u64,
                    groups: list_col(&r, "groups")?,
                    trained: list_col(&r, "trained")?,
                },
                reason: r.try_get("reason")?,
                chosen_by: r.try_get("chosen_by")?,
                chosen_at: parse_ts(&r.try_get::<String, _>("chosen_at")?)?,
            })
        })
        .transpose()
    }

    /// Records a new evaluation set (with why, in the audit log). The caller fills in the
    /// groups registered models were trained on (`rule.trained`) and checks that none of the
    /// listed groups is among them.
    pub async fn set_evaluation_set(
        &self,
        rule: &EvalRule,
        reason: &str,
        actor: &str,
    ) -> Result<EvaluationSet> {
        check_actor(actor)?;
        if reason.trim().is_empty() {
            return Err(StoreError::invalid(
                "reason",
                "say why the evaluation set is chosen or changed (it is kept in the audit log)",
            ));
        }
        check_reason(Some(reason))?;
        if !(rule.share.is_finite() && (0.0..=0.5).contains(&rule.share)) {
            return Err(StoreError::invalid(
                "share",
                "must be between 0 and 0.5 (a share of the sample groups)",
            ));
        }
        let clean = |list: &[String]| {
            let mut v: Vec<String> = list
                .iter()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let rule = EvalRule {
            groups: clean(&rule.groups),
            trained: clean(&rule.trained),
            ..rule.clone()
        };
        if rule.share == 0.0 && rule.groups.is_empty() {
            return Err(StoreError::invalid(
                "groups",
                "an evaluation set needs a share of the groups or listed groups",
            ));
        }
        let old = self.evaluation_set().await?;
        let at = now();
        let describe = |r: &EvalRule| serde_json::to_string(r).unwrap_or_default();
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO evaluation_sets (share, seed, groups, trained, reason, chosen_by, \
             chosen_at) VALUES (CAST($1 AS DOUBLE PRECISION), $2, $3, $4, $5, $6, $7)",
        )
        .bind(rule.share.to_string())
        .bind(rule.seed as i64)
        .bind(serde_json::to_string(&rule.groups).unwrap_or_default())
        .bind(serde_json::to_string(&rule.trained).unwrap_or_default())
        .bind(reason)
        .bind(actor)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: None,
                action: AuditAction::EvaluationSet,
                field: Some("evaluation_set"),
                old_value: old.map(|o| describe(&o.rule)),
                new_value: Some(describe(&rule)),
                reason: Some(reason),
            },
        )
        .await?;
        tx.commit().await?;
        self.evaluation_set()
            .await?
            .ok_or_else(|| StoreError::Corrupt("the evaluation set just written is missing".into()))
    }

    /// Keeps a comparison with the challenger.
    pub async fn add_model_evaluation(
        &self,
        model_id: &str,
        champion_id: Option<&str>,
        evaluation_set_id: Option<i64>,
        run_id: Option<i64>,
        verdict: &str,
        report: &serde_json::Value,
    ) -> Result<ModelEvaluation> {
        let (_write, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO model_evaluations (model_id, champion_id, evaluation_set_id, run_id, \
             verdict, report, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(model_id)
        .bind(champion_id)
        .bind(evaluation_set_id)
        .bind(run_id)
        .bind(verdict)
        .bind(report.to_string())
        .bind(now())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        let all = self.model_evaluations(model_id).await?;
        all.into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| StoreError::Corrupt("the evaluation just written is missing".into()))
    }

    /// A model's comparisons, newest first.
    pub async fn model_evaluations(&self, model_id: &str) -> Result<Vec<ModelEvaluation>> {
        sqlx::query(
            "SELECT id, model_id, champion_id, evaluation_set_id, run_id, verdict, report, \
             created_at FROM model_evaluations WHERE model_id = $1 ORDER BY id DESC",
        )
        .bind(model_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ModelEvaluation {
                id: r.try_get("id")?,
                model_id: r.try_get("model_id")?,
                champion_id: r.try_get("champion_id")?,
                evaluation_set_id: r.try_get("evaluation_set_id")?,
                run_id: r.try_get("run_id")?,
                verdict: r.try_get("verdict")?,
                report: json_col(r, "report")?.unwrap_or_default(),
                created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            })
        })
        .collect()
    }

    /// Images (not retracted) reviewed after `since`.
    pub async fn reviewed_since(&self, since: &DateTime<Utc>) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) FROM images WHERE deleted_at IS NULL AND reviewed_at IS NOT NULL \
             AND reviewed_at > $1",
        )
        .bind(ts(*since))
        .fetch_one(&self.pool)
        .await?
        .try_get::<i64, _>(0)?)
    }
}
