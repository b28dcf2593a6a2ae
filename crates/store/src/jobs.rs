//! The job queue: claim (`FOR UPDATE SKIP LOCKED` / `BEGIN IMMEDIATE`), lease and heartbeat,
//! completion and failure, requeue of jobs whose worker died.

use super::*;

impl Store {
    /// Jobs waiting and running.
    pub async fn queue_depth(&self) -> Result<QueueDepth> {
        let row = sqlx::query(
            "SELECT CAST(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END) AS BIGINT) \
             FROM jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueDepth {
            queued: row.try_get::<Option<i64>, _>(0)?.unwrap_or(0),
            running: row.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
        })
    }

    /// Every job with its state and the worker that last held it, oldest first (for
    /// benchmarks and for checking who did what; a lab's queue is read with `queue_depth`).
    pub async fn all_jobs(&self) -> Result<Vec<Job>> {
        let rows = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Takes the oldest queued job (for scoring: of a non-deleted image) for `worker_id`, after returning
    /// jobs whose heartbeat is older than `lease` to the queue. Two claimers never get the
    /// same job: PostgreSQL locks the candidate with `FOR UPDATE SKIP LOCKED`, SQLite claims
    /// in one `UPDATE … RETURNING` inside a `BEGIN IMMEDIATE` transaction.
    /// A scoring job's image goes to status `scoring`.
    pub async fn claim_job(&self, worker_id: &str, lease: Duration) -> Result<Option<Job>> {
        check_actor(worker_id)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        requeue_stale_in(&mut tx, &at, lease).await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE OF j SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_at = $2, heartbeat = $2, updated_at = $2, error = NULL \
             WHERE id = (SELECT j.id FROM jobs j WHERE j.state = 'queued' AND \
             (j.kind <> 'score' OR EXISTS \
             (SELECT 1 FROM images i WHERE i.id = j.image_id AND i.deleted_at IS NULL)) \
             ORDER BY j.id LIMIT 1{lock}) \
             RETURNING {JOB_COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(worker_id)
            .bind(&at)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        if let Some(image_id) = job.image_id {
            sqlx::query(
                "UPDATE images SET status = 'scoring', error = NULL, version = version + 1, \
                 updated_at = $1, updated_by = $2 WHERE id = $3",
            )
            .bind(&at)
            .bind(format!("worker:{worker_id}"))
            .bind(image_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(job))
    }

    /// Gives a running job back to the queue unfinished (its worker is stopping); the claim
    /// does not count towards [`MAX_ATTEMPTS`]. A scoring job's image goes back to `queued`.
    pub async fn release_job(&self, job_id: i64, worker_id: &str) -> Result<()> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_at = NULL, \
             heartbeat = NULL, attempts = attempts - 1, updated_at = $1 \
             WHERE id = $2 AND state = 'running' AND locked_by = $3 RETURNING image_id",
        )
        .bind(&at)
        .bind(job_id)
        .bind(worker_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::JobNotHeld { job_id });
        };
        if let Some(image_id) = row.try_get::<Option<i64>, _>(0)? {
            requeue_image(&mut tx, &at, image_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends a job that has no image (training): `done`, or `failed` with why. The kind's own
    /// record (the training run) says the rest.
    pub async fn finish_job(
        &self,
        job_id: i64,
        worker_id: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let state = if error.is_some() { "failed" } else { "done" };
        let r = sqlx::query(
            "UPDATE jobs SET state = $1, error = $2, heartbeat = $3, updated_at = $3 \
             WHERE id = $4 AND state = 'running' AND locked_by = $5 AND image_id IS NULL",
        )
        .bind(state)
        .bind(error)
        .bind(&at)
        .bind(job_id)
        .bind(worker_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(StoreError::JobNotHeld { job_id });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues another inference job for an existing (non-deleted) image, e.g. after a failure
    /// or with a new model. The image goes back to `queued` (audited); its scores stay, and a
    /// reviewed image keeps its human scores when the new draft arrives.
    pub async fn enqueue_rescore(&self, id: i64, actor: &str) -> Result<ImageRecord> {
        self.enqueue_rescore_with(id, actor, None).await
    }

    /// [`Store::enqueue_rescore`] with a chosen registered model (`None`: the active one).
    pub async fn enqueue_rescore_with(
        &self,
        id: i64,
        actor: &str,
        model_id: Option<&str>,
    ) -> Result<ImageRecord> {
        check_actor(actor)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND deleted_at IS NULL RETURNING status, sha256, filename",
        )
        .bind(&at)
        .bind(actor)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::NotFound { what: "image", id });
        };
        let old: String = row.try_get(0)?;
        if row.try_get::<String, _>(1)?.is_empty() {
            let name: String = row.try_get(2)?;
            tx.rollback().await?;
            return Err(StoreError::invalid(
                "status",
                format!("image {id} has no file to score yet: upload {name:?} to attach it"),
            ));
        }
        let busy = sqlx::query(
            "SELECT id FROM jobs WHERE image_id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if busy.is_some() {
            tx.rollback().await?;
            return Err(StoreError::invalid(
                "status",
                "the image already has a queued or running job",
            ));
        }
        sqlx::query("UPDATE images SET status = 'queued', error = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO jobs (image_id, state, attempts, created_at, updated_at, model_id) \
             VALUES ($1, 'queued', 0, $2, $2, $3)",
        )
        .bind(id)
        .bind(&at)
        .bind(model_id)
        .execute(&mut *tx)
        .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: AuditAction::Rescore,
                field: Some("status"),
                old_value: Some(old),
                new_value: Some(ImageStatus::Queued.as_str().into()),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_image(id).await
    }

    /// Extends the lease of a running job. `false` means the worker lost the job (its lease
    /// expired and it was requeued, or it is finished): stop working on it.
    pub async fn heartbeat(&self, job_id: i64, worker_id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET heartbeat = $1, updated_at = $1 \
             WHERE id = $2 AND state = 'running' AND locked_by = $3",
        )
        .bind(now())
        .bind(job_id)
        .bind(worker_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Returns running jobs whose heartbeat is older than `lease` to the queue (or fails them
    /// after [`MAX_ATTEMPTS`] claims, with their image). Returns how many jobs were touched.
    pub async fn requeue_stale(&self, lease: Duration) -> Result<u64> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let n = requeue_stale_in(&mut tx, &at, lease).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Finishes a job: stores the draft (immutable), makes its rounded values the current
    /// scores if the image is still unreviewed (a reviewed image keeps its human scores),
    /// sets the image `scored` and appends audit rows as actor `model:<model_id>`.
    /// Fails with `JobNotHeld` if the job is not running under `worker_id`.
    pub async fn complete_job(
        &self,
        job_id: i64,
        worker_id: &str,
        draft: &NewDraft,
    ) -> Result<ImageRecord> {
        if draft.model_id.trim().is_empty() {
            return Err(StoreError::invalid("model_id", "must not be empty"));
        }
        for (metric, v) in &draft.rounded {
            if !v.is_finite() {
                return Err(StoreError::invalid(
                    metric.clone(),
                    format!("draft score must be finite (got {v})"),
                ));
            }
        }
        let raw: IndexMap<&str, Option<f64>> = draft
            .raw_outputs
            .iter()
            .map(|(k, v)| (k.as_str(), v.is_finite().then_some(*v)))
            .collect();
        let raw_json = serde_json::to_string(&raw).expect("map of numbers serialises");
        let rounded_json =
            serde_json::to_string(&draft.rounded).expect("map of numbers serialises");
        let actor = format!("model:{}", draft.model_id);

        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'done', heartbeat = $1, updated_at = $1, error = NULL \
             WHERE id = $2 AND state = 'running' AND locked_by = $3 RETURNING image_id",
        )
        .bind(&at)
        .bind(job_id)
        .bind(worker_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::JobNotHeld { job_id });
        };
        let image_id: i64 = row.try_get(0)?;
        let row = sqlx::query(
            "UPDATE images SET status = 'scored', error = NULL, version = version + 1, \
             updated_at = $1, updated_by = $2 WHERE id = $3 \
             RETURNING version, review_status, status",
        )
        .bind(&at)
        .bind(&actor)
        .bind(image_id)
        .fetch_one(&mut *tx)
        .await?;
        let version: i64 = row.try_get(0)?;
        let review: String = row.try_get(1)?;
        let uncertainty_json = draft
            .uncertainty
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::invalid("uncertainty", e.to_string()))?;
        let most_uncertain = draft.uncertainty.as_ref().and_then(|u| {
            u.values()
                .copied()
                .filter(|v| v.is_finite())
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        });
        sqlx::query(
            "INSERT INTO drafts \
             (image_id, model_id, model_demo, raw_outputs, rounded, created_at, uncertainty) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(image_id)
        .bind(&draft.model_id)
        .bind(i64::from(draft.model_demo))
        .bind(&raw_json)
        .bind(&rounded_json)
        .bind(&at)
        .bind(uncertainty_json)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE images SET uncertainty = $1 WHERE id = $2")
            .bind(most_uncertain)
            .bind(image_id)
            .execute(&mut *tx)
            .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor: &actor,
                image_id: Some(image_id),
                action: AuditAction::Scored,
                field: Some("status"),
                old_value: Some(ImageStatus::Scoring.as_str().into()),
                new_value: Some(ImageStatus::Scored.as_str().into()),
                reason: None,
            },
        )
        .await?;
        if review == ReviewStatus::Unreviewed.as_str() {
            // A value a person set is never replaced by a model's draft (e.g. a correction
            // made while the image was still being scored, or before a rescore).
            let rows = sqlx::query(
                "SELECT metric, value, updated_by FROM scores \
                 WHERE image_id = $1 AND reader = $2 AND phase = $3",
            )
            .bind(image_id)
            .bind(LOCAL_USER)
            .bind(FINAL_PHASE)
            .fetch_all(&mut *tx)
            .await?;
            let mut old: HashMap<String, (f64, bool)> = HashMap::new();
            for r in rows {
                let by: String = r.try_get("updated_by")?;
                old.insert(
                    r.try_get("metric")?,
                    (r.try_get("value")?, !by.starts_with("model:")),
                );
            }
            for (metric, value) in &draft.rounded {
                let before = old.get(metric).map(|(v, _)| *v);
                let human = old.get(metric).is_some_and(|(_, h)| *h);
                if human || before == Some(*value) {
                    continue;
                }
                upsert_score(&mut tx, image_id, metric, *value, version, &at, &actor).await?;
                append_audit(
                    &mut tx,
                    &at,
                    Audit {
                        actor: &actor,
                        image_id: Some(image_id),
                        action: AuditAction::AiScore,
                        field: Some(metric),
                        old_value: before.map(fmt_value),
                        new_value: Some(fmt_value(*value)),
                        reason: None,
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.get_image(image_id).await
    }

    /// Marks a job and its image failed with `error` (audited). The image keeps any scores.
    /// Fails with `JobNotHeld` if the job is not running under `worker_id`.
    pub async fn fail_job(&self, job_id: i64, worker_id: &str, error: &str) -> Result<ImageRecord> {
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'failed', error = $1, heartbeat = $2, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND locked_by = $4 AND image_id IS NOT NULL \
             RETURNING image_id",
        )
        .bind(error)
        .bind(&at)
        .bind(job_id)
        .bind(worker_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::JobNotHeld { job_id });
        };
        let image_id: i64 = row.try_get(0)?;
        let actor = format!("worker:{worker_id}");
        fail_image(&mut tx, &at, image_id, &actor, error).await?;
        tx.commit().await?;
        self.get_image(image_id).await
    }
}

pub(crate) async fn fail_image(
    tx: &mut Tx,
    at: &str,
    image_id: i64,
    actor: &str,
    error: &str,
) -> Result<()> {
    let old: Option<String> = sqlx::query("SELECT status FROM images WHERE id = $1")
        .bind(image_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    sqlx::query(
        "UPDATE images SET status = 'failed', error = $1, version = version + 1, \
         updated_at = $2, updated_by = $3 WHERE id = $4",
    )
    .bind(error)
    .bind(at)
    .bind(actor)
    .bind(image_id)
    .execute(&mut **tx)
    .await?;
    append_audit(
        tx,
        at,
        Audit {
            actor,
            image_id: Some(image_id),
            action: AuditAction::Failed,
            field: Some("status"),
            old_value: old,
            new_value: Some(ImageStatus::Failed.as_str().into()),
            reason: Some(error),
        },
    )
    .await
}

/// Requeues (or, past [`MAX_ATTEMPTS`], fails) running jobs with a heartbeat older than
/// `lease`, inside the caller's write transaction.
pub(crate) async fn requeue_stale_in(tx: &mut Tx, at: &str, lease: Duration) -> Result<u64> {
    let cutoff = lease_cutoff(lease);
    let requeued = sqlx::query(
        "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_at = NULL, \
         heartbeat = NULL, updated_at = $1 \
         WHERE state = 'running' AND heartbeat < $2 AND attempts < $3 RETURNING image_id",
    )
    .bind(at)
    .bind(&cutoff)
    .bind(MAX_ATTEMPTS)
    .fetch_all(&mut **tx)
    .await?;
    for r in &requeued {
        if let Some(image_id) = r.try_get::<Option<i64>, _>(0)? {
            requeue_image(tx, at, image_id).await?;
        }
    }
    let error = format!("the worker stopped responding {MAX_ATTEMPTS} times while doing this");
    let failed = sqlx::query(
        "UPDATE jobs SET state = 'failed', error = $1, updated_at = $2 \
         WHERE state = 'running' AND heartbeat < $3 AND attempts >= $4 \
         RETURNING image_id, kind, payload",
    )
    .bind(&error)
    .bind(at)
    .bind(&cutoff)
    .bind(MAX_ATTEMPTS)
    .fetch_all(&mut **tx)
    .await?;
    for r in &failed {
        if let Some(image_id) = r.try_get::<Option<i64>, _>(0)? {
            fail_image(tx, at, image_id, "system:requeue", &error).await?;
        } else if let Some(run) = training_run_of(r.try_get(2)?) {
            fail_training_run_in(tx, at, run, &error).await?;
        }
    }
    Ok((requeued.len() + failed.len()) as u64)
}

/// A scoring job's image waits in the queue again.
async fn requeue_image(tx: &mut Tx, at: &str, image_id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE images SET status = 'queued', version = version + 1, updated_at = $1, \
         updated_by = 'system:requeue' WHERE id = $2 AND status = 'scoring'",
    )
    .bind(at)
    .bind(image_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
