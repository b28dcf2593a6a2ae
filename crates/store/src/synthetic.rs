//! Synthetic records for benchmarks of listing, search and editing over many images.

use super::*;

/// Placeholders `($n+1, …, $n+k)` for one row of `k` values after `n` already bound.
fn row_placeholders(n: usize, k: usize) -> String {
    let list: Vec<String> = (n + 1..=n + k).map(|i| format!("${i}")).collect();
    format!("({})", list.join(", "))
}

/// The synthetic uncertainty of metric `k` of record `i`.
fn spread(i: usize, k: usize) -> f64 {
    ((i + k) % 5) as f64 * 0.05
}

/// The record's largest uncertainty over its metrics (what the images table keeps).
fn spread_of(i: usize, metrics: usize) -> Option<f64> {
    (0..metrics).map(|k| spread(i, k)).reduce(f64::max)
}

impl Store {
    /// Adds `count` synthetic scored records (no files, no jobs, no audit rows) as a lab's
    /// database holds them after months of use: every record has an AI draft (raw outputs,
    /// rounded scores, uncertainty) and current scores for each metric of `schema`; one in
    /// three has been corrected and marked reviewed by `actor`. File names follow the
    /// microscope pattern `S-0042-10X_Image017_ch00.tif` over 997 sample groups. For
    /// benchmarks only, never for real data.
    pub async fn insert_synthetic_images(
        &self,
        count: usize,
        schema: &Schema,
        actor: &str,
    ) -> Result<()> {
        check_actor(actor)?;
        let at = now();
        let model = "model:synthetic-benchmark";
        let metrics = schema.metric_names();
        // Rows per statement: the scores statement binds 8 values per metric and row. Binding
        // slows down more than linearly with the number of values in one SQLite statement, so
        // each binds about 2 000 at most.
        let chunk = (2_000 / (8 * metrics.len().max(1))).clamp(1, CHUNK);
        for start in (0..count).step_by(chunk) {
            let end = (start + chunk).min(count);
            // One transaction per chunk: a server using the database meanwhile waits for
            // one chunk at most.
            let (_write, mut tx) = self.begin_write().await?;

            let mut sql = String::from(
                "INSERT INTO images (filename, serial, group_name, image_number, sha256, \
                 size_bytes, width, height, format, status, review_status, version, created_at, \
                 updated_at, updated_by, search_text, reviewed_at, uncertainty) VALUES ",
            );
            let mut rows = Vec::new();
            for i in start..end {
                let g = i % 997;
                let number = (i / 997) % 1000 + 1;
                let filename = format!("S-{g:04}-10X_Image{number:03}_ch00.tif");
                let serial = format!("S-{g:04}-{number:02}");
                let group = format!("S-{g:04}");
                let search = format!("{filename} {serial} {group}").to_lowercase();
                let reviewed = i % 3 == 0;
                if !rows.is_empty() {
                    sql.push(',');
                }
                let n = rows.len() * 12;
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, 34000000, 4080, 2776, 'TIFF', 'scored', ${}, 2, \
                     ${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7,
                    n + 8,
                    n + 9,
                    n + 10,
                    n + 11,
                    n + 12
                ));
                rows.push((filename, serial, group, number as i64, i, reviewed, search));
            }
            sql.push_str(" RETURNING id, sha256");
            let mut q = sqlx::query(&sql);
            for (filename, serial, group, number, i, reviewed, search) in &rows {
                q = q
                    .bind(filename.clone())
                    .bind(serial.clone())
                    .bind(group.clone())
                    .bind(*number)
                    .bind(format!("{:064x}", i + 1_000_000))
                    .bind(if *reviewed { "reviewed" } else { "unreviewed" })
                    .bind(at.clone())
                    .bind(at.clone())
                    .bind(if *reviewed { actor } else { model }.to_string())
                    .bind(search.clone())
                    .bind(reviewed.then(|| at.clone()))
                    .bind(spread_of(*i, metrics.len()));
            }
            let mut ids: HashMap<usize, i64> = HashMap::new();
            for r in q.fetch_all(&mut *tx).await? {
                let sha: String = r.try_get(1)?;
                let i = usize::from_str_radix(&sha, 16).unwrap_or(0) - 1_000_000;
                ids.insert(i, r.try_get(0)?);
            }

            // One draft per record, and the current scores: the draft's, or a correction.
            let mut drafts = String::from(
                "INSERT INTO drafts (image_id, model_id, model_demo, raw_outputs, rounded, \
                 created_at, uncertainty) VALUES ",
            );
            let mut scores = String::from(
                "INSERT INTO scores (image_id, reader, phase, metric, value, version, \
                 updated_at, updated_by) VALUES ",
            );
            let mut draft_args = Vec::new();
            let mut score_args = Vec::new();
            for i in start..end {
                let id = ids[&i];
                let reviewed = i % 3 == 0;
                let mut raw = serde_json::Map::new();
                let mut rounded = serde_json::Map::new();
                let mut spreads = serde_json::Map::new();
                for (k, metric) in schema.metrics.iter().enumerate() {
                    // A deterministic spread of values over each metric's range.
                    let x = ((i * 7 + k * 13) % 97) as f64 / 96.0 * metric.max;
                    let value = schema.round_to_step(x);
                    raw.insert(metric.name.clone(), serde_json::json!(x));
                    rounded.insert(metric.name.clone(), serde_json::json!(value));
                    spreads.insert(metric.name.clone(), serde_json::json!(spread(i, k)));
                    let current = if reviewed {
                        schema.round_to_step((value + schema.step).min(metric.max))
                    } else {
                        value
                    };
                    if !score_args.is_empty() {
                        scores.push(',');
                    }
                    scores.push_str(&row_placeholders(score_args.len() * 8, 8));
                    score_args.push((id, metric.name.clone(), current, reviewed));
                }
                if !draft_args.is_empty() {
                    drafts.push(',');
                }
                drafts.push_str(&row_placeholders(draft_args.len() * 7, 7));
                draft_args.push((
                    id,
                    serde_json::Value::Object(raw).to_string(),
                    serde_json::Value::Object(rounded).to_string(),
                    serde_json::Value::Object(spreads).to_string(),
                ));
            }
            let mut q = sqlx::query(&drafts);
            for (id, raw, rounded, spread) in draft_args {
                q = q
                    .bind(id)
                    .bind(model)
                    .bind(0i64)
                    .bind(raw)
                    .bind(rounded)
                    .bind(at.clone())
                    .bind(spread);
            }
            q.execute(&mut *tx).await?;
            if !score_args.is_empty() {
                let mut q = sqlx::query(&scores);
                for (id, metric, value, reviewed) in score_args {
                    q = q
                        .bind(id)
                        .bind(LOCAL_USER)
                        .bind(FINAL_PHASE)
                        .bind(metric)
                        .bind(value)
                        .bind(if reviewed { 2i64 } else { 1 })
                        .bind(at.clone())
                        .bind(if reviewed { actor } else { model }.to_string());
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }
}
