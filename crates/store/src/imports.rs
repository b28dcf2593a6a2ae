//! Records from the original system: reading its `image_scores` table, importing each row once
//! as a record without pixels, and attaching the file when it is uploaded later.

use super::*;

/// The source name of rows from the original system's `image_scores` table.
pub const ORIGINAL_SOURCE: &str = "original";

/// The original's score columns and the metric each holds (its `SCORE_FIELDS`).
pub const ORIGINAL_COLUMNS: [(&str, &str); 4] = [
    ("score_architecture", "Pancreatic Architecture"),
    ("score_atrophy", "Glandular Atrophy"),
    ("score_complexes", "Pseudotubular Complexes"),
    ("score_fibrosis", "Fibrosis"),
];

/// One row of the original's `image_scores` table.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalRow {
    pub id: i64,
    pub filename: String,
    pub serial_number: Option<String>,
    pub sample_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Per metric (see [`ORIGINAL_COLUMNS`]): the stored value; `None` where the column is NULL.
    pub scores: Vec<(String, Option<f64>)>,
    pub total: Option<f64>,
}

/// What importing one row did.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome {
    /// A new record.
    Imported(Box<ImageRecord>),
    /// An earlier import made this record; nothing was changed.
    AlreadyImported { image_id: i64 },
    /// A record with this file name exists already (uploaded here); nothing was changed.
    NameTaken { image_id: i64 },
}

/// The original's `DATABASE_URL` as sqlx takes it: SQLAlchemy's `postgresql+psycopg2://` (and
/// other `+driver` forms) become `postgresql://`.
pub fn original_database_url(url: &str) -> Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(StoreError::UnsupportedUrl(redact(url)));
    };
    let base = scheme.split('+').next().unwrap_or(scheme);
    if base != "postgresql" && base != "postgres" {
        return Err(StoreError::Refused(format!(
            "the original system's database must be PostgreSQL (its DATABASE_URL, e.g. \
             postgresql://user:password@host/db); got {}",
            redact(url)
        )));
    }
    Ok(format!("postgresql://{rest}"))
}

/// Reads every row of the original's `image_scores` table, in id order.
pub async fn read_original(url: &str) -> Result<Vec<OriginalRow>> {
    sqlx::any::install_default_drivers();
    let url = original_database_url(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(15))
        .connect(&url)
        .await
        .map_err(|e| {
            StoreError::Refused(format!(
                "could not connect to the original system's database {}: {e}",
                redact(&url)
            ))
        })?;
    let exists: i64 = sqlx::query(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'image_scores'",
    )
    .fetch_one(&pool)
    .await?
    .try_get(0)?;
    if exists == 0 {
        pool.close().await;
        return Err(StoreError::Refused(format!(
            "{} has no image_scores table: give the original system's DATABASE_URL (the \
             database its backend wrote to)",
            redact(&url)
        )));
    }
    // Times as UTC text, so that the Any driver reads them on every server version.
    let utc = |c: &str| {
        format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS {c}")
    };
    let cols: Vec<String> = ORIGINAL_COLUMNS
        .iter()
        .map(|(c, _)| format!("CAST({c} AS DOUBLE PRECISION) AS {c}"))
        .collect();
    let sql = format!(
        "SELECT CAST(id AS BIGINT) AS id, filename, serial_number, sample_id, {}, {}, {}, \
         CAST(score_total AS DOUBLE PRECISION) AS score_total FROM image_scores ORDER BY id",
        utc("created_at"),
        utc("updated_at"),
        cols.join(", ")
    );
    let rows = sqlx::query(&sql).fetch_all(&pool).await;
    pool.close().await;
    rows?
        .iter()
        .map(|r| {
            Ok(OriginalRow {
                id: r.try_get("id")?,
                filename: r.try_get("filename")?,
                serial_number: r.try_get("serial_number")?,
                sample_id: r.try_get("sample_id")?,
                created_at: parse_opt_ts(r.try_get("created_at")?)?,
                updated_at: parse_opt_ts(r.try_get("updated_at")?)?,
                scores: ORIGINAL_COLUMNS
                    .iter()
                    .map(|(c, m)| Ok((m.to_string(), r.try_get::<Option<f64>, _>(*c)?)))
                    .collect::<Result<_>>()?,
                total: r.try_get("score_total")?,
            })
        })
        .collect()
}

pub(crate) fn flags_json(flags: &BTreeMap<String, String>) -> Option<String> {
    (!flags.is_empty()).then(|| serde_json::to_string(flags).expect("map of strings serialises"))
}

impl Store {
    /// Imports one row of the original system as a record without pixels: its file name,
    /// serial and group as stored, its times, its scores as the record's human scores (as they
    /// were, also when `flags` says they are out of range), one `import` audit row naming the
    /// source row and one `score` row per value. A row imported before, or whose file name a
    /// record here already has, changes nothing.
    pub async fn import_original_row(
        &self,
        row: &OriginalRow,
        flags: &BTreeMap<String, String>,
        actor: &str,
    ) -> Result<ImportOutcome> {
        check_actor(actor)?;
        if row.filename.trim().is_empty() {
            return Err(StoreError::invalid("filename", "must not be empty"));
        }
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let done = sqlx::query("SELECT image_id FROM imports WHERE source = $1 AND source_id = $2")
            .bind(ORIGINAL_SOURCE)
            .bind(row.id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(done) = done {
            tx.rollback().await?;
            return Ok(ImportOutcome::AlreadyImported {
                image_id: done.try_get(0)?,
            });
        }
        let taken = sqlx::query(
            "SELECT id FROM images WHERE filename = $1 AND deleted_at IS NULL ORDER BY id LIMIT 1",
        )
        .bind(&row.filename)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(taken) = taken {
            tx.rollback().await?;
            return Ok(ImportOutcome::NameTaken {
                image_id: taken.try_get(0)?,
            });
        }
        let created = row.created_at.map(ts).unwrap_or_else(|| at.clone());
        let updated = row.updated_at.map(ts).unwrap_or_else(|| created.clone());
        let new = NewImage {
            filename: row.filename.clone(),
            serial: row.serial_number.clone(),
            group_name: row.sample_id.clone(),
            ..Default::default()
        };
        // No pixels yet: no content hash, no stored file, nothing to score. The scores are
        // complete (a person's), so the record is `scored`; uploading the file attaches it.
        let id: i64 = sqlx::query(
            "INSERT INTO images (filename, serial, group_name, sha256, size_bytes, status, \
             review_status, version, created_at, updated_at, updated_by, search_text, flags) \
             VALUES ($1, $2, $3, '', 0, 'scored', 'unreviewed', 1, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(&new.filename)
        .bind(&new.serial)
        .bind(&new.group_name)
        .bind(&created)
        .bind(&updated)
        .bind(actor)
        .bind(search_text(&new))
        .bind(flags_json(flags))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        sqlx::query(
            "INSERT INTO imports (source, source_id, image_id, imported_at, imported_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ORIGINAL_SOURCE)
        .bind(row.id.to_string())
        .bind(id)
        .bind(&at)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: AuditAction::Import,
                field: Some("original_id"),
                old_value: None,
                new_value: Some(row.id.to_string()),
                reason: Some("imported from the original system"),
            },
        )
        .await?;
        for (metric, value) in &row.scores {
            let Some(value) = value else { continue };
            upsert_score(&mut tx, id, metric, *value, 1, &updated, actor).await?;
            append_audit(
                &mut tx,
                &at,
                Audit {
                    actor,
                    image_id: Some(id),
                    action: AuditAction::Score,
                    field: Some(metric),
                    old_value: None,
                    new_value: Some(fmt_value(*value)),
                    reason: flags
                        .get(metric)
                        .map(String::as_str)
                        .or(Some("imported from the original system")),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ImportOutcome::Imported(Box::new(self.get_image(id).await?)))
    }

    /// Gives a record without pixels (an imported one) its uploaded file, and queues it for
    /// scoring: the AI draft comes beside the record's scores, which stay as a person set
    /// them. Fails with `Refused` if the record has a file already.
    pub async fn attach_file(&self, id: i64, file: &NewImage, actor: &str) -> Result<ImageRecord> {
        check_actor(actor)?;
        if file.sha256.len() != 64 || !file.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::invalid(
                "sha256",
                "must be 64 hexadecimal characters",
            ));
        }
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE images SET sha256 = $1, size_bytes = $2, width = $3, height = $4, \
             format = $5, storage_key = $6, status = 'queued', error = NULL, \
             version = version + 1, updated_at = $7, updated_by = $8, kind = $10, slide = $11, \
             source_path = $12, source_size = $13, source_mtime_ms = $14 \
             WHERE id = $9 AND sha256 = '' AND storage_key IS NULL AND deleted_at IS NULL \
             RETURNING id",
        )
        .bind(file.sha256.to_ascii_lowercase())
        .bind(file.size_bytes)
        .bind(file.width)
        .bind(file.height)
        .bind(&file.format)
        .bind(&file.storage_key)
        .bind(&at)
        .bind(actor)
        .bind(id)
        .bind(file.kind())
        .bind(file.slide.as_ref().map(|v| v.to_string()))
        .bind(file.source.as_ref().map(|f| f.path.clone()))
        .bind(file.source.as_ref().map(|f| f.size))
        .bind(file.source.as_ref().map(|f| f.mtime_ms))
        .fetch_optional(&mut *tx)
        .await?;
        if done.is_none() {
            tx.rollback().await?;
            return Err(StoreError::Refused(format!(
                "image {id} has its file already"
            )));
        }
        sqlx::query(
            "INSERT INTO jobs (image_id, state, attempts, created_at, updated_at) \
             VALUES ($1, 'queued', 0, $2, $2)",
        )
        .bind(id)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: AuditAction::Attach,
                field: Some("sha256"),
                old_value: None,
                new_value: Some(file.sha256.to_ascii_lowercase()),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_image(id).await
    }

    /// The record a file name names when that record has no pixels yet (imported), if any.
    pub async fn find_without_file(&self, filename: &str) -> Result<Option<ImageRecord>> {
        let row = sqlx::query(
            "SELECT id FROM images WHERE filename = $1 AND sha256 = '' AND storage_key IS NULL \
             AND deleted_at IS NULL ORDER BY id LIMIT 1",
        )
        .bind(filename)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(self.get_image(r.try_get(0)?).await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::original_database_url;

    #[test]
    fn sqlalchemy_urls_are_accepted() {
        assert_eq!(
            original_database_url("postgresql+psycopg2://u:p@db:5432/scores").unwrap(),
            "postgresql://u:p@db:5432/scores"
        );
        assert_eq!(
            original_database_url("postgresql://u@h/d").unwrap(),
            "postgresql://u@h/d"
        );
        assert_eq!(
            original_database_url("postgres://h/d").unwrap(),
            "postgresql://h/d"
        );
        let e = original_database_url("sqlite:///scores.db").unwrap_err();
        assert!(e.to_string().contains("must be PostgreSQL"), "{e}");
        assert!(original_database_url("mysql+pymysql://u:secret@h/d")
            .unwrap_err()
            .to_string()
            .contains("u:***@h/d"));
    }
}
