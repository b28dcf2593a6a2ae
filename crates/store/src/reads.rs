//! A reader's work in a study: opening an image (the clock starts), submitting the blind and
//! revised scores (audited), and which reads are still blinded.

use std::collections::HashSet;

use super::*;
use crate::studies::ReadPhase;

impl Store {
    /// A reader's work on one image; the first call starts their clock.
    pub async fn open_read(
        &self,
        study: &Study,
        image_id: i64,
        reader: &str,
    ) -> Result<ReaderRead> {
        if !self.study_has_image(study.id, image_id).await? {
            return Err(StoreError::NotFound {
                what: "image in this study",
                id: image_id,
            });
        }
        let existing = self.reads(study, Some(image_id), Some(reader)).await?;
        if let Some(read) = existing.get(&image_id).and_then(|m| m.get(reader)) {
            return Ok(read.clone());
        }
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO study_reads (study_id, image_id, reader, opened_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (study_id, image_id, reader) DO NOTHING",
        )
        .bind(study.id)
        .bind(image_id)
        .bind(reader)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.read(study, image_id, reader).await
    }

    async fn read(&self, study: &Study, image_id: i64, reader: &str) -> Result<ReaderRead> {
        Ok(self
            .reads(study, Some(image_id), Some(reader))
            .await?
            .remove(&image_id)
            .and_then(|mut m| m.remove(reader))
            .unwrap_or_default())
    }

    /// Saves a reader's score. The first submission must score every metric; in a blinded
    /// study it is the blind score (kept unchanged from then on) and reveals the AI draft.
    /// Later submissions revise the reader's current score (a reason is needed when the study
    /// requires one). Every changed value is audited.
    pub async fn submit_read(
        &self,
        study: &Study,
        image_id: i64,
        reader: &str,
        scores: &Scores,
        reason: Option<&str>,
        schema: &Schema,
    ) -> Result<ReaderRead> {
        let mut snapped = Scores::new();
        for (metric, value) in scores {
            let v = schema
                .check_value(metric, *value)
                .map_err(|e| StoreError::invalid(metric.clone(), e.to_string()))?;
            snapped.insert(metric.clone(), v);
        }
        let scores = &snapped;
        let before = self.open_read(study, image_id, reader).await?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let first = !before.submitted();
        if first {
            if let Some(m) = schema
                .metrics
                .iter()
                .find(|m| !scores.contains_key(&m.name))
            {
                return Err(StoreError::invalid(
                    m.name.clone(),
                    "the first score of an image must give every metric",
                ));
            }
        } else if study.require_reason && reason.is_none() {
            return Err(StoreError::invalid(
                "reason",
                "this study asks for a reason with every change after the first score",
            ));
        }
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let old = before.revised.clone().unwrap_or_default();
        let mut changed = false;
        for (metric, value) in scores {
            let was = old.get(metric).copied();
            if was == Some(*value) {
                continue;
            }
            changed = true;
            let phases: &[ReadPhase] = if first && study.blinded {
                &[ReadPhase::Blind, ReadPhase::Revised]
            } else {
                &[ReadPhase::Revised]
            };
            for phase in phases {
                sqlx::query(
                    "INSERT INTO study_scores \
                     (study_id, image_id, reader, phase, metric, value, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (study_id, image_id, reader, phase, metric) DO UPDATE SET \
                     value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(study.id)
                .bind(image_id)
                .bind(reader)
                .bind(phase.as_str())
                .bind(metric)
                .bind(*value)
                .bind(&at)
                .execute(&mut *tx)
                .await?;
            }
            let action = match (first, study.blinded) {
                (true, true) => AuditAction::BlindScore,
                (true, false) => AuditAction::ReaderScore,
                (false, _) => AuditAction::ReaderRevise,
            };
            append_study_audit(
                &mut tx,
                &at,
                Audit {
                    actor: reader,
                    image_id: Some(image_id),
                    action,
                    field: Some(metric),
                    old_value: was.map(crate::fmt_value),
                    new_value: Some(crate::fmt_value(*value)),
                    reason,
                },
                Some(study.id),
            )
            .await?;
        }
        let sql = if first {
            "UPDATE study_reads SET submitted_at = $1 \
             WHERE study_id = $2 AND image_id = $3 AND reader = $4"
        } else if changed {
            "UPDATE study_reads SET revised_at = $1 \
             WHERE study_id = $2 AND image_id = $3 AND reader = $4"
        } else {
            ""
        };
        if !sql.is_empty() {
            sqlx::query(sql)
                .bind(&at)
                .bind(study.id)
                .bind(image_id)
                .bind(reader)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.read(study, image_id, reader).await
    }

    /// Adds `ms` of active viewing (the page visible and in use) to the reader's time on task
    /// for the image: before the blind score while it is not in (blinded studies), else
    /// after. The read must have been opened; at most one minute is added per report.
    pub async fn add_active_time(
        &self,
        study: &Study,
        image_id: i64,
        reader: &str,
        ms: i64,
    ) -> Result<ReaderRead> {
        if !(1..=60_000).contains(&ms) {
            return Err(StoreError::invalid(
                "ms",
                "report between 1 and 60 000 ms of active viewing at a time",
            ));
        }
        let read = self.read(study, image_id, reader).await?;
        if read.opened_at.is_none() {
            return Err(StoreError::NotFound {
                what: "open read of image",
                id: image_id,
            });
        }
        let column = if study.blinded && !read.submitted() {
            "active_blind_ms"
        } else {
            "active_after_ms"
        };
        let (_write, mut tx) = self.begin_write().await?;
        sqlx::query(&format!(
            "UPDATE study_reads SET {column} = {column} + $1 \
             WHERE study_id = $2 AND image_id = $3 AND reader = $4"
        ))
        .bind(ms)
        .bind(study.id)
        .bind(image_id)
        .bind(reader)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.read(study, image_id, reader).await
    }

    /// Every image this user reads in a blinded study, with how far that read is.
    pub async fn blinded_reads(&self, reader: &str) -> Result<Vec<BlindedRead>> {
        let rows = sqlx::query(
            "SELECT si.study_id, si.image_id, si.code, \
               CAST(CASE WHEN d.submitted_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS submitted, \
               CAST(CASE WHEN EXISTS (SELECT 1 FROM audit_log a WHERE a.study_id = si.study_id \
                 AND a.image_id = si.image_id AND a.action = 'adjudicate') \
                 THEN 1 ELSE 0 END AS BIGINT) AS adjudicated \
             FROM study_images si \
             JOIN studies s ON s.id = si.study_id AND s.blinded = 1 \
             JOIN study_readers r ON r.study_id = si.study_id AND r.reader = $1 \
             LEFT JOIN study_reads d ON d.study_id = si.study_id \
               AND d.image_id = si.image_id AND d.reader = $1",
        )
        .bind(reader)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BlindedRead {
                    study_id: r.try_get("study_id")?,
                    image_id: r.try_get("image_id")?,
                    code: r.try_get::<Option<String>, _>("code")?.unwrap_or_default(),
                    submitted: r.try_get::<i64, _>("submitted")? != 0,
                    adjudicated: r.try_get::<i64, _>("adjudicated")? != 0,
                })
            })
            .collect()
    }

    /// The ids of the studies this user reads in.
    pub async fn studies_read_by(&self, reader: &str) -> Result<HashSet<i64>> {
        sqlx::query("SELECT study_id FROM study_readers WHERE reader = $1")
            .bind(reader)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0).map_err(StoreError::from))
            .collect()
    }
}
