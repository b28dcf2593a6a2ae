//! Images: upload records, scores, review, retraction, listing, search and export pages.

use super::*;

/// Current (reader, phase) scores of one image, inside a transaction.
pub(crate) async fn current_scores(tx: &mut Tx, image_id: i64) -> Result<BTreeMap<String, f64>> {
    let rows = sqlx::query(
        "SELECT metric, value FROM scores WHERE image_id = $1 AND reader = $2 AND phase = $3",
    )
    .bind(image_id)
    .bind(LOCAL_USER)
    .bind(FINAL_PHASE)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| -> Result<(String, f64)> { Ok((r.try_get("metric")?, r.try_get("value")?)) })
        .collect()
}

/// The image's latest AI draft, inside a transaction.
pub(crate) async fn latest_draft(tx: &mut Tx, image_id: i64) -> Result<Option<Draft>> {
    sqlx::query(&format!(
        "SELECT {DRAFT_COLS} FROM drafts WHERE image_id = $1 ORDER BY id DESC LIMIT 1"
    ))
    .bind(image_id)
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(draft_from_row)
    .transpose()
}

pub(crate) async fn upsert_score(
    tx: &mut Tx,
    image_id: i64,
    metric: &str,
    value: f64,
    version: i64,
    at: &str,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO scores (image_id, reader, phase, metric, value, version, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (image_id, reader, phase, metric) DO UPDATE SET \
         value = excluded.value, version = excluded.version, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(image_id)
    .bind(LOCAL_USER)
    .bind(FINAL_PHASE)
    .bind(metric)
    .bind(value)
    .bind(version)
    .bind(at)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What history search matches: file name, serial and group, lower-cased.
pub(crate) fn search_text(new: &NewImage) -> String {
    format!(
        "{} {} {}",
        new.filename,
        new.serial.as_deref().unwrap_or(""),
        new.group_name.as_deref().unwrap_or("")
    )
    .to_lowercase()
}

/// The current scores of these images.
pub(crate) fn scores_sql(ids: &[i64]) -> Sql {
    let mut sql = Sql::default();
    let reader = sql.arg(Arg::Text(LOCAL_USER.into()));
    let phase = sql.arg(Arg::Text(FINAL_PHASE.into()));
    let list = sql.id_list(ids);
    sql.push(&format!(
        "SELECT image_id, metric, value FROM scores \
         WHERE reader = {reader} AND phase = {phase} AND image_id IN ({list})"
    ));
    sql
}

/// The latest draft of each of these images.
pub(crate) fn drafts_sql(ids: &[i64]) -> Sql {
    let mut sql = Sql::default();
    let list = sql.id_list(ids);
    sql.push(&format!(
        "SELECT {DRAFT_COLS} FROM drafts d WHERE d.image_id IN ({list}) \
         AND d.id = (SELECT MAX(d2.id) FROM drafts d2 WHERE d2.image_id = d.image_id)"
    ));
    sql
}

/// How many non-deleted images match the query's filters.
pub(crate) fn count_sql(q: &ListQuery) -> Sql {
    let mut count = Sql::new("SELECT COUNT(*) FROM images i");
    push_filters(&mut count, q);
    count
}

/// The ids of the query's page, in its order.
pub(crate) fn page_sql(q: &ListQuery) -> Sql {
    let mut sql = Sql::new("SELECT i.id FROM images i");
    push_filters(&mut sql, q);
    let col = q.sort.column();
    let dir = match q.dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    };
    // NULLs last in both directions on both backends, then id as the tie-breaker. Columns
    // that are never NULL sort plainly, so an index can give the order.
    let limit = sql.arg(Arg::I64(q.limit));
    let offset = sql.arg(Arg::I64(q.offset));
    let order = match q.sort {
        SortField::Id => format!("i.id {dir}"),
        SortField::Serial | SortField::Group | SortField::ImageNumber | SortField::Uncertainty => {
            format!("CASE WHEN {col} IS NULL THEN 1 ELSE 0 END, {col} {dir}, i.id {dir}")
        }
        _ => format!("{col} {dir}, i.id {dir}"),
    };
    sql.push(&format!(" ORDER BY {order} LIMIT {limit} OFFSET {offset}"));
    sql
}

/// The group summary's query (see [`Store::group_summary`]): per group the image count, the
/// reviewed count and, for each of `metrics`, the mean current score. Each image's score is
/// looked up by its primary key (a correlated subquery) rather than joined: the planner would
/// otherwise read the whole scores table to summarise a page's groups.
pub(crate) fn group_sql(
    q: &ListQuery,
    hidden_from: Option<&str>,
    only: Option<&[Option<String>]>,
    metrics: &[&str],
) -> Sql {
    let exclude = |sql: &mut Sql| {
        if let Some(groups) = only {
            let mut named = Vec::new();
            let mut ungrouped = false;
            for g in groups {
                match g {
                    Some(name) => named.push(sql.arg(Arg::Text(name.clone()))),
                    None => ungrouped = true,
                }
            }
            let mut terms = Vec::new();
            if !named.is_empty() {
                terms.push(format!("i.group_name IN ({})", named.join(", ")));
            }
            if ungrouped {
                terms.push("i.group_name IS NULL".to_string());
            }
            sql.push(&format!(" AND ({})", terms.join(" OR ")));
        }
        if let Some(reader) = hidden_from {
            let p = sql.arg(Arg::Text(reader.into()));
            sql.push(&format!(
                " AND i.id NOT IN (SELECT si.image_id FROM study_images si \
                 JOIN studies st ON st.id = si.study_id AND st.blinded = 1 \
                 JOIN study_readers sr ON sr.study_id = si.study_id AND sr.reader = {p} \
                 LEFT JOIN study_reads sd ON sd.study_id = si.study_id \
                   AND sd.image_id = si.image_id AND sd.reader = {p} \
                 WHERE sd.submitted_at IS NULL)"
            ));
        }
    };
    let mut sql = Sql::default();
    let reader = sql.arg(Arg::Text(LOCAL_USER.into()));
    let phase = sql.arg(Arg::Text(FINAL_PHASE.into()));
    let mut cols = String::from(
        "SELECT i.group_name, COUNT(*) AS n, \
         CAST(SUM(CASE WHEN i.review_status = 'reviewed' THEN 1 ELSE 0 END) AS BIGINT) AS r",
    );
    for m in metrics {
        let m = sql.arg(Arg::Text((*m).to_string()));
        cols.push_str(&format!(
            ", CAST(AVG((SELECT s.value FROM scores s WHERE s.image_id = i.id \
             AND s.reader = {reader} AND s.phase = {phase} AND s.metric = {m})) \
             AS DOUBLE PRECISION)"
        ));
    }
    sql.push(&cols);
    sql.push(" FROM images i");
    push_filters(&mut sql, q);
    exclude(&mut sql);
    sql.push(" GROUP BY i.group_name");
    sql
}

impl Store {
    /// Stores a new image (status `queued`) and enqueues its inference job, in one transaction.
    pub async fn insert_image(&self, new: &NewImage, actor: &str) -> Result<ImageRecord> {
        check_actor(actor)?;
        if new.filename.trim().is_empty() {
            return Err(StoreError::invalid("filename", "must not be empty"));
        }
        if new.sha256.len() != 64 || !new.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::invalid(
                "sha256",
                "must be 64 hexadecimal characters",
            ));
        }
        if new.size_bytes < 0 {
            return Err(StoreError::invalid("size_bytes", "must not be negative"));
        }
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO images (filename, serial, group_name, image_number, sha256, size_bytes, \
             width, height, format, status, review_status, version, created_at, updated_at, \
             updated_by, storage_key, search_text, kind, slide, source_path, source_size, \
             source_mtime_ms, pixel_size_um) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 'unreviewed', 1, $10, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, CAST($19 AS DOUBLE PRECISION)) \
             RETURNING id",
        )
        .bind(&new.filename)
        .bind(&new.serial)
        .bind(&new.group_name)
        .bind(new.image_number)
        .bind(new.sha256.to_ascii_lowercase())
        .bind(new.size_bytes)
        .bind(new.width)
        .bind(new.height)
        .bind(&new.format)
        .bind(&at)
        .bind(actor)
        .bind(&new.storage_key)
        .bind(search_text(new))
        .bind(new.kind())
        .bind(new.slide.as_ref().map(|v| v.to_string()))
        .bind(new.source.as_ref().map(|f| f.path.clone()))
        .bind(new.source.as_ref().map(|f| f.size))
        .bind(new.source.as_ref().map(|f| f.mtime_ms))
        // As text: an optional float through the Any driver can reach PostgreSQL in a binary
        // format that a statement prepared with a NULL there refuses.
        .bind(
            new.pixel_size_um
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(|v| v.to_string()),
        )
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
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
                action: AuditAction::Create,
                field: Some("filename"),
                old_value: None,
                new_value: Some(new.filename.clone()),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_image(id).await
    }

    /// The image with this id, including a soft-deleted one (check `deleted_at`).
    pub async fn get_image(&self, id: i64) -> Result<ImageRecord> {
        self.load_records(&[id])
            .await?
            .pop()
            .ok_or(StoreError::NotFound { what: "image", id })
    }

    /// The oldest non-deleted image with this content hash.
    pub async fn find_by_sha256(&self, sha256: &str) -> Result<Option<ImageRecord>> {
        self.find_one("i.sha256", &sha256.to_ascii_lowercase())
            .await
    }

    /// Whether any image, retracted ones included, has this content hash.
    pub async fn sha256_known(&self, sha256: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) FROM images WHERE sha256 = $1")
            .bind(sha256.to_ascii_lowercase())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    /// The newest retracted image with this content hash, if no live one has it.
    pub async fn find_deleted_by_sha256(&self, sha256: &str) -> Result<Option<ImageRecord>> {
        let row = sqlx::query(
            "SELECT id FROM images WHERE sha256 = $1 AND deleted_at IS NOT NULL \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(sha256.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(self.get_image(r.try_get(0)?).await?)),
            None => Ok(None),
        }
    }

    /// Notes that image `id`'s file was uploaded again as `filename`: the history search finds
    /// the image under that name too, and the audit log says so (once per name).
    pub async fn note_other_name(&self, id: i64, filename: &str, actor: &str) -> Result<()> {
        check_actor(actor)?;
        let name = filename.to_lowercase();
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let Some(row) = sqlx::query("SELECT search_text FROM images WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            return Err(StoreError::NotFound { what: "image", id });
        };
        let text: Option<String> = row.try_get(0)?;
        if text
            .as_deref()
            .is_some_and(|t| t.split(' ').any(|w| w == name))
        {
            tx.rollback().await?;
            return Ok(());
        }
        sqlx::query("UPDATE images SET search_text = $1 WHERE id = $2")
            .bind(format!("{} {name}", text.unwrap_or_default()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: AuditAction::OtherName,
                field: Some("filename"),
                old_value: None,
                new_value: Some(filename.to_string()),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest non-deleted image uploaded under this file name.
    pub async fn find_by_filename(&self, filename: &str) -> Result<Option<ImageRecord>> {
        self.find_one("i.filename", filename).await
    }

    /// The newest non-deleted image registered in place from this path.
    pub async fn find_by_source_path(&self, path: &str) -> Result<Option<ImageRecord>> {
        self.find_one("i.source_path", path).await
    }

    /// Every non-deleted image registered in place whose path starts with `prefix`.
    pub async fn in_place_under(&self, prefix: &str) -> Result<Vec<ImageRecord>> {
        let rows = sqlx::query(
            "SELECT i.id, i.source_path FROM images i WHERE i.source_path IS NOT NULL \
             AND i.deleted_at IS NULL ORDER BY i.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let path: String = r.try_get(1)?;
            if path.starts_with(prefix) {
                out.push(self.get_image(r.try_get(0)?).await?);
            }
        }
        Ok(out)
    }

    async fn find_one(&self, column: &'static str, value: &str) -> Result<Option<ImageRecord>> {
        // sha256: the first upload wins; filename: the latest upload wins.
        let dir = if column == "i.sha256" { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT i.id FROM images i WHERE {column} = $1 AND i.deleted_at IS NULL \
             ORDER BY i.id {dir} LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(self.get_image(r.try_get(0)?).await?)),
            None => Ok(None),
        }
    }

    /// Loads full records (latest draft and current scores) for these ids, in the given order;
    /// ids that do not exist are skipped.
    pub(crate) async fn load_records(&self, ids: &[i64]) -> Result<Vec<ImageRecord>> {
        let mut by_id: HashMap<i64, ImageRecord> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut sql = Sql::default();
            let list = sql.id_list(chunk);
            sql.push(&format!(
                "SELECT {IMAGE_COLS} FROM images i WHERE i.id IN ({list})"
            ));
            for r in sql.query().fetch_all(&self.pool).await? {
                let rec = image_from_row(&r)?;
                by_id.insert(rec.id, rec);
            }

            for r in scores_sql(chunk).query().fetch_all(&self.pool).await? {
                let id: i64 = r.try_get("image_id")?;
                if let Some(rec) = by_id.get_mut(&id) {
                    rec.scores.insert(r.try_get("metric")?, r.try_get("value")?);
                }
            }

            for r in drafts_sql(chunk).query().fetch_all(&self.pool).await? {
                let draft = draft_from_row(&r)?;
                if let Some(rec) = by_id.get_mut(&draft.image_id) {
                    rec.draft = Some(draft);
                }
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// The record as it is now, for a `Conflict` answer (or `NotFound` when it is gone).
    async fn conflict_or_missing(&self, id: i64) -> StoreError {
        match self.get_image(id).await {
            Ok(rec) if rec.is_deleted() => StoreError::NotFound { what: "image", id },
            Ok(rec) => StoreError::Conflict {
                current: Box::new(rec),
            },
            Err(e) => e,
        }
    }

    /// Changes scores and/or the review status of one image, if it is still at
    /// `update.expected_version`. Every value is checked against the schema first (a bad one
    /// fails the whole update with `Invalid { field: metric }` and writes nothing). One audit row
    /// is appended per field that actually changed. The version is bumped even if nothing did.
    pub async fn update_scores(
        &self,
        id: i64,
        update: &ScoreUpdate,
        schema: &Schema,
    ) -> Result<ImageRecord> {
        check_actor(&update.actor)?;
        let mut changes = Scores::new();
        for (metric, value) in &update.changes {
            let v = schema
                .check_value(metric, *value)
                .map_err(|e| StoreError::invalid(metric.clone(), e.to_string()))?;
            changes.insert(metric.clone(), v);
        }
        let actor = update.actor.as_str();
        let reason = update.reason.as_deref();
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        // The first statement takes the row's write lock and checks the version atomically;
        // it also returns the row, so that the answer is built inside the transaction
        // (a handful of round trips per edit, not a reload after it).
        let row = sqlx::query(&format!(
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND version = $4 AND deleted_at IS NULL \
             RETURNING {IMAGE_RETURNING}"
        ))
        .bind(&at)
        .bind(actor)
        .bind(id)
        .bind(update.expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(self.conflict_or_missing(id).await);
        };
        let mut rec = image_from_row(&row)?;
        let version = rec.version;
        let old_review = rec.review_status.as_str().to_string();

        let old = current_scores(&mut tx, id).await?;
        rec.scores = old.clone();
        for (metric, value) in &changes {
            let before = old.get(metric).copied();
            if before == Some(*value) {
                continue;
            }
            upsert_score(&mut tx, id, metric, *value, version, &at, actor).await?;
            rec.scores.insert(metric.clone(), *value);
            append_study_audit(
                &mut tx,
                &at,
                Audit {
                    actor,
                    image_id: Some(id),
                    action: if update.study_id.is_some() {
                        AuditAction::Adjudicate
                    } else {
                        AuditAction::Score
                    },
                    field: Some(metric),
                    old_value: before.map(fmt_value),
                    new_value: Some(fmt_value(*value)),
                    reason,
                },
                update.study_id,
            )
            .await?;
        }
        // A person has set these metrics to valid values: what was flagged on them is done.
        if changes.keys().any(|m| rec.flags.contains_key(m)) {
            rec.flags.retain(|m, _| !changes.contains_key(m));
            sqlx::query("UPDATE images SET flags = $1 WHERE id = $2")
                .bind(flags_json(&rec.flags))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(reviewed) = update.reviewed {
            let new_review = if reviewed {
                ReviewStatus::Reviewed
            } else {
                ReviewStatus::Unreviewed
            };
            if new_review.as_str() != old_review {
                sqlx::query(
                    "UPDATE images SET review_status = $1, reviewed_at = $2, reviewed_by = $3 \
                     WHERE id = $4",
                )
                .bind(new_review.as_str())
                .bind(reviewed.then(|| at.clone()))
                .bind(reviewed.then_some(actor))
                .bind(id)
                .execute(&mut *tx)
                .await?;
                rec.review_status = new_review;
                rec.reviewed_at = reviewed.then(|| parse_ts(&at)).transpose()?;
                rec.reviewed_by = reviewed.then(|| actor.to_string());
                append_audit(
                    &mut tx,
                    &at,
                    Audit {
                        actor,
                        image_id: Some(id),
                        action: AuditAction::Review,
                        field: Some("review_status"),
                        old_value: Some(old_review),
                        new_value: Some(new_review.as_str().into()),
                        reason,
                    },
                )
                .await?;
            }
        }
        rec.draft = latest_draft(&mut tx, id).await?;
        tx.commit().await?;
        Ok(rec)
    }

    /// Hides an image from lists, lookups and export (audited). Deleting a deleted image
    /// returns it unchanged.
    pub async fn soft_delete(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<ImageRecord> {
        self.set_deleted(id, actor, reason, true).await
    }

    /// Undoes [`Store::soft_delete`] (audited). Restoring a live image returns it unchanged.
    pub async fn restore(&self, id: i64, actor: &str) -> Result<ImageRecord> {
        self.set_deleted(id, actor, None, false).await
    }

    async fn set_deleted(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
        delete: bool,
    ) -> Result<ImageRecord> {
        check_actor(actor)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        // The first statement takes the write lock; RETURNING gives the old deleted_at.
        let sql = if delete {
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND deleted_at IS NULL RETURNING deleted_at"
        } else {
            "UPDATE images SET version = version + 1, updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND deleted_at IS NOT NULL RETURNING deleted_at"
        };
        let row = sqlx::query(sql)
            .bind(&at)
            .bind(actor)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            // Already in the wanted state, or missing.
            return self.get_image(id).await;
        };
        let old_value: Option<String> = row.try_get(0)?;
        let new_value = delete.then(|| at.clone());
        sqlx::query("UPDATE images SET deleted_at = $1 WHERE id = $2")
            .bind(&new_value)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_audit(
            &mut tx,
            &at,
            Audit {
                actor,
                image_id: Some(id),
                action: if delete {
                    AuditAction::Delete
                } else {
                    AuditAction::Restore
                },
                field: Some("deleted_at"),
                old_value,
                new_value,
                reason,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_image(id).await
    }

    /// One page of non-deleted images matching the query, and the total number that match.
    pub async fn list_images(&self, q: &ListQuery) -> Result<(Vec<ImageRecord>, i64)> {
        if !(1..=MAX_PAGE).contains(&q.limit) {
            return Err(StoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        if q.offset < 0 {
            return Err(StoreError::invalid("offset", "must not be negative"));
        }
        let total: i64 = count_sql(q)
            .query()
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let sql = page_sql(q);
        let ids = sql
            .query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self.load_records(&ids).await?, total))
    }

    /// Per group (non-deleted images matching the query's filters; sort and page are ignored):
    /// image count, reviewed count and the mean current score of each of `metrics` (over
    /// the images that have one). Sorted by group name, images without a group first.
    ///
    /// `hidden_from`: leave out the images whose AI draft that reader may not see yet (their
    /// blind score in a blinded study is not in), so that no mean reveals a hidden draft.
    ///
    /// `only`: summarise just these groups (`None` in the list: images without a group), e.g.
    /// those on the page shown, which keeps the cost independent of the number of matches.
    pub async fn group_summary(
        &self,
        q: &ListQuery,
        hidden_from: Option<&str>,
        only: Option<&[Option<String>]>,
        metrics: &[&str],
    ) -> Result<Vec<GroupSummary>> {
        if only.is_some_and(|g| g.is_empty()) {
            return Ok(Vec::new());
        }
        let sql = group_sql(q, hidden_from, only, metrics);
        let mut groups: BTreeMap<Option<String>, GroupSummary> = BTreeMap::new();
        for r in sql.query().fetch_all(&self.pool).await? {
            let group: Option<String> = r.try_get(0)?;
            let mut means = BTreeMap::new();
            for (k, m) in metrics.iter().enumerate() {
                if let Some(mean) = r.try_get::<Option<f64>, _>(3 + k)? {
                    means.insert((*m).to_string(), mean);
                }
            }
            groups.insert(
                group.clone(),
                GroupSummary {
                    group,
                    count: r.try_get(1)?,
                    reviewed: r.try_get(2)?,
                    means,
                },
            );
        }
        Ok(groups.into_values().collect())
    }

    /// Every draft of the image, oldest first.
    pub async fn drafts_for_image(&self, id: i64) -> Result<Vec<Draft>> {
        let sql = format!("SELECT {DRAFT_COLS} FROM drafts d WHERE d.image_id = $1 ORDER BY d.id");
        sqlx::query(&sql)
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(draft_from_row)
            .collect()
    }

    /// All non-deleted images in id order, a page at a time (1000 records per page).
    pub fn all_images_for_export(&self) -> ExportPages {
        self.export_pages(1000)
    }

    /// All non-deleted images in id order, `page_size` records per page (keyset paging, so
    /// the cost per page stays constant and memory stays bounded).
    pub fn export_pages(&self, page_size: usize) -> ExportPages {
        self.export_matching(&ListQuery::default(), page_size)
    }

    /// The non-deleted images that match the history's filters (`q`'s sort and page are
    /// ignored), in id order, `page_size` records per page.
    pub fn export_matching(&self, q: &ListQuery, page_size: usize) -> ExportPages {
        ExportPages {
            store: self.clone(),
            after_id: 0,
            page_size: page_size.clamp(1, 10_000),
            done: false,
            filter: ListQuery {
                deleted: false,
                ..q.clone()
            },
        }
    }

    /// Images changed after `after` (a timestamp string from an earlier [`Change`]; `None`
    /// means "from now on": only the current high-water mark is returned, with no changes).
    /// Deleted images are included. Used to push record changes made by any process.
    pub async fn changes_since(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Change>, String)> {
        let Some(after) = after else {
            let row = sqlx::query("SELECT MAX(updated_at) FROM images")
                .fetch_one(&self.pool)
                .await?;
            let mark: Option<String> = row.try_get(0)?;
            return Ok((Vec::new(), mark.unwrap_or_default()));
        };
        let rows = sqlx::query(
            "SELECT id, status, version, updated_at, deleted_at, progress FROM images \
             WHERE updated_at > $1 ORDER BY updated_at, id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut mark = after.to_string();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let updated_at: String = r.try_get("updated_at")?;
            out.push(Change {
                id: r.try_get("id")?,
                status: r.try_get::<String, _>("status")?.parse().map_err(corrupt)?,
                version: r.try_get("version")?,
                deleted: r.try_get::<Option<String>, _>("deleted_at")?.is_some(),
                progress: r
                    .try_get::<Option<String>, _>("progress")?
                    .and_then(|p| serde_json::from_str(&p).ok()),
            });
            mark = updated_at;
        }
        Ok((out, mark))
    }
}

/// Pages of export records; see [`Store::export_pages`].
pub struct ExportPages {
    store: Store,
    after_id: i64,
    page_size: usize,
    done: bool,
    filter: ListQuery,
}

impl ExportPages {
    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ImageRecord>>> {
        if self.done {
            return Ok(None);
        }
        let mut sql = Sql::new("SELECT i.id FROM images i");
        push_filters(&mut sql, &self.filter);
        let after = sql.arg(Arg::I64(self.after_id));
        let limit = sql.arg(Arg::I64(self.page_size as i64));
        sql.push(&format!(" AND i.id > {after} ORDER BY i.id LIMIT {limit}"));
        let ids = sql
            .query()
            .fetch_all(&self.store.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.len() < self.page_size {
            self.done = true;
        }
        let Some(&last) = ids.last() else {
            return Ok(None);
        };
        self.after_id = last;
        Ok(Some(self.store.load_records(&ids).await?))
    }
}
