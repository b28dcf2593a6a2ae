//! Scoring studies: a set of images, its readers, and each reader's scores per image, kept
//! apart from the image's own (final) score. In a blinded study a reader's first score is the
//! blind one (made without the AI draft); it is kept unchanged, and revisions after the
//! reveal are kept beside it.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use std::fmt;
use std::str::FromStr;

use crate::{
    corrupt, draft_from_row, now, parse_opt_ts, parse_ts, Arg, Draft, ImageRecord, Result, Sql,
    Store, StoreError, DRAFT_COLS,
};

text_enum!(
    /// Which of a reader's scores a study score row is: the blind score (before the AI draft
    /// is shown, blinded studies only) or the revised one (the reader's current score).
    ReadPhase { Blind => "blind", Revised => "revised" }
);

/// What an administrator sends to create a study.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct NewStudy {
    pub name: String,
    pub description: String,
    /// Readers score without the AI draft first; the draft is revealed on submit.
    pub blinded: bool,
    /// Revisions and adjudications need a reason.
    pub require_reason: bool,
    /// User names of the readers.
    pub readers: Vec<String>,
    /// Add every (non-retracted) image of these sample groups.
    pub groups: Vec<String>,
    /// Add these images.
    pub image_ids: Vec<i64>,
}

/// Changes to a study; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StudyPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub require_reason: Option<bool>,
    pub readers: Option<Vec<String>>,
}

/// How far one reader is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReaderProgress {
    /// Images with a first (in blinded studies: blind) score.
    pub blind: i64,
    /// Images revised after the first score.
    pub revised: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Study {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub blinded: bool,
    pub require_reason: bool,
    pub readers: Vec<String>,
    pub image_count: i64,
    #[serde(with = "crate::records::millis")]
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub progress: BTreeMap<String, ReaderProgress>,
    /// The seed of every reader's own random reading order (recorded with the study; the
    /// order is `histoscore_domain::reading::reading_order(seed, reader, image ids)`).
    pub order_seed: i64,
}

impl Study {
    pub fn has_reader(&self, name: &str) -> bool {
        self.readers.iter().any(|r| r == name)
    }
}

/// One reader's work on one image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReaderRead {
    /// The score given before the AI draft was revealed (blinded studies).
    pub blind: Option<BTreeMap<String, f64>>,
    /// The reader's current score (after the reveal in blinded studies).
    pub revised: Option<BTreeMap<String, f64>>,
    #[serde(default, with = "crate::records::millis::option")]
    pub opened_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::records::millis::option")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::records::millis::option")]
    pub revised_at: Option<DateTime<Utc>>,
    /// Time on task before the blind score (blinded studies): active viewing (the page
    /// visible and in use) when the reader's browser reported it, else first opening → blind
    /// submit.
    pub blind_seconds: Option<f64>,
    /// Time on task after the blind score (blinded), or in all (unblinded): active viewing
    /// when reported, else blind submit → last revision (or first opening → last save).
    pub revised_seconds: Option<f64>,
    /// Active viewing reported before the blind score, in milliseconds.
    #[serde(skip)]
    pub active_blind_ms: i64,
    /// Active viewing reported after the blind score (or in an unblinded study), in ms.
    #[serde(skip)]
    pub active_after_ms: i64,
}

impl ReaderRead {
    /// Whether the reader has submitted a first score (and, if blinded, seen the AI draft).
    pub fn submitted(&self) -> bool {
        self.submitted_at.is_some()
    }

    fn finish(&mut self, blinded: bool) {
        let secs = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        };
        let active = |ms: i64, fallback: Option<f64>| {
            if ms > 0 {
                Some(ms as f64 / 1000.0)
            } else {
                fallback
            }
        };
        if blinded {
            self.blind_seconds = active(
                self.active_blind_ms,
                secs(self.opened_at, self.submitted_at),
            );
            self.revised_seconds = active(
                self.active_after_ms,
                secs(self.submitted_at, self.revised_at),
            );
        } else {
            self.blind = None;
            self.blind_seconds = None;
            self.revised_seconds = active(
                self.active_after_ms,
                secs(self.opened_at, self.revised_at.or(self.submitted_at)),
            );
        }
    }
}

/// One image a user reads in a blinded study.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlindedRead {
    pub study_id: i64,
    pub image_id: i64,
    /// The image's study-local code (shown to the reader instead of its name and group).
    pub code: String,
    /// The reader's blind score is in (the AI draft is revealed to them).
    pub submitted: bool,
    /// An adjudicator has set the image's final score in this study.
    pub adjudicated: bool,
}

/// An image of a study with every reader's work on it.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyImageRow {
    pub record: ImageRecord,
    /// The study-local code that blinded readers see instead of the file name and group.
    pub code: String,
    pub reads: BTreeMap<String, ReaderRead>,
}

fn study_from_row(r: &AnyRow) -> Result<Study> {
    Ok(Study {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        blinded: r.try_get::<i64, _>("blinded")? != 0,
        require_reason: r.try_get::<i64, _>("require_reason")? != 0,
        readers: Vec::new(),
        image_count: 0,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        created_by: r.try_get("created_by")?,
        progress: BTreeMap::new(),
        order_seed: r.try_get("order_seed")?,
    })
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(StoreError::invalid(
            "name",
            "give the study a name of 1 to 200 characters",
        ));
    }
    Ok(())
}

fn check_readers(readers: &[String]) -> Result<()> {
    let mut seen = HashSet::new();
    for r in readers {
        if r.trim().is_empty() {
            return Err(StoreError::invalid("readers", "a reader name is empty"));
        }
        if !seen.insert(r) {
            return Err(StoreError::invalid(
                "readers",
                format!("{r} is listed twice"),
            ));
        }
    }
    Ok(())
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn set_readers(tx: &mut Tx, study_id: i64, readers: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM study_readers WHERE study_id = $1")
        .bind(study_id)
        .execute(&mut **tx)
        .await?;
    for r in readers {
        sqlx::query("INSERT INTO study_readers (study_id, reader) VALUES ($1, $2)")
            .bind(study_id)
            .bind(r)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn add_images(
    tx: &mut Tx,
    study_id: i64,
    groups: &[String],
    image_ids: &[i64],
    at: &str,
) -> Result<()> {
    for g in groups {
        sqlx::query(
            "INSERT INTO study_images (study_id, image_id, added_at, draft_id) \
             SELECT $1, id, $2, (SELECT MAX(d.id) FROM drafts d WHERE d.image_id = images.id) \
             FROM images WHERE group_name = $3 AND deleted_at IS NULL \
             ON CONFLICT (study_id, image_id) DO NOTHING",
        )
        .bind(study_id)
        .bind(at)
        .bind(g)
        .execute(&mut **tx)
        .await?;
    }
    for id in image_ids {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM images WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?
                .try_get(0)?;
        if n == 0 {
            return Err(StoreError::invalid(
                "image_ids",
                format!("there is no image {id}"),
            ));
        }
        sqlx::query(
            "INSERT INTO study_images (study_id, image_id, added_at, draft_id) \
             VALUES ($1, $2, $3, (SELECT MAX(d.id) FROM drafts d WHERE d.image_id = $2)) \
             ON CONFLICT (study_id, image_id) DO NOTHING",
        )
        .bind(study_id)
        .bind(id)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    assign_codes(tx, study_id).await
}

/// A random seed that JavaScript numbers hold exactly (53 bits).
fn random_seed() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() & ((1 << 53) - 1)) as i64
}

/// Gives the study's images without a code one (`STUDY-NNN`), numbered on from the codes
/// already given, in a random order: the code says nothing of the file, its group or when it
/// was uploaded.
async fn assign_codes(tx: &mut Tx, study_id: i64) -> Result<()> {
    let given: i64 =
        sqlx::query("SELECT COUNT(*) FROM study_images WHERE study_id = $1 AND code IS NOT NULL")
            .bind(study_id)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
    let new: Vec<i64> =
        sqlx::query("SELECT image_id FROM study_images WHERE study_id = $1 AND code IS NULL")
            .bind(study_id)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
    let shuffled = histoscore_domain::reading::reading_order(random_seed() as u64, "codes", &new);
    for (n, image_id) in shuffled.into_iter().enumerate() {
        sqlx::query("UPDATE study_images SET code = $1 WHERE study_id = $2 AND image_id = $3")
            .bind(format!("{study_id}-{:03}", given + n as i64 + 1))
            .bind(study_id)
            .bind(image_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn scores_map(rows: &[(String, f64)]) -> Option<BTreeMap<String, f64>> {
    (!rows.is_empty()).then(|| rows.iter().cloned().collect())
}

impl Store {
    /// Creates a study with its readers and images.
    pub async fn create_study(&self, new: &NewStudy, actor: &str) -> Result<Study> {
        check_name(&new.name)?;
        check_readers(&new.readers)?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO studies (name, description, blinded, require_reason, created_at, \
             created_by, updated_at, order_seed) VALUES ($1, $2, $3, $4, $5, $6, $5, $7) \
             RETURNING id",
        )
        .bind(new.name.trim())
        .bind(new.description.trim())
        .bind(i64::from(new.blinded))
        .bind(i64::from(new.require_reason))
        .bind(&at)
        .bind(actor)
        .bind(random_seed())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        set_readers(&mut tx, id, &new.readers).await?;
        if let Err(e) = add_images(&mut tx, id, &new.groups, &new.image_ids, &at).await {
            tx.rollback().await?;
            return Err(e);
        }
        tx.commit().await?;
        self.study(id).await
    }

    /// Changes a study's name, description, reason rule or readers. Whether it is blinded
    /// cannot change once created.
    pub async fn update_study(&self, id: i64, patch: &StudyPatch) -> Result<Study> {
        if let Some(n) = &patch.name {
            check_name(n)?;
        }
        if let Some(r) = &patch.readers {
            check_readers(r)?;
        }
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE studies SET name = COALESCE($1, name), \
             description = COALESCE($2, description), \
             require_reason = COALESCE($3, require_reason), updated_at = $4 WHERE id = $5",
        )
        .bind(patch.name.as_deref().map(str::trim))
        .bind(patch.description.as_deref().map(str::trim))
        .bind(patch.require_reason.map(i64::from))
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound { what: "study", id });
        }
        if let Some(r) = &patch.readers {
            set_readers(&mut tx, id, r).await?;
        }
        tx.commit().await?;
        self.study(id).await
    }

    /// Adds images (by group and/or id) to a study; images already in it are skipped.
    pub async fn add_study_images(
        &self,
        id: i64,
        groups: &[String],
        image_ids: &[i64],
    ) -> Result<Study> {
        self.study(id).await?;
        let at = now();
        let (_write, mut tx) = self.begin_write().await?;
        if let Err(e) = add_images(&mut tx, id, groups, image_ids, &at).await {
            tx.rollback().await?;
            return Err(e);
        }
        sqlx::query("UPDATE studies SET updated_at = $1 WHERE id = $2")
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.study(id).await
    }

    /// One study with its readers, image count and each reader's progress.
    pub async fn study(&self, id: i64) -> Result<Study> {
        let row = sqlx::query(
            "SELECT id, name, description, blinded, require_reason, created_at, created_by, \
             order_seed FROM studies WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound { what: "study", id })?;
        let mut study = study_from_row(&row)?;
        self.fill_study(&mut study).await?;
        Ok(study)
    }

    async fn fill_study(&self, study: &mut Study) -> Result<()> {
        study.readers =
            sqlx::query("SELECT reader FROM study_readers WHERE study_id = $1 ORDER BY reader")
                .bind(study.id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
        study.image_count = sqlx::query(
            "SELECT COUNT(*) FROM study_images s JOIN images i ON i.id = s.image_id \
             WHERE s.study_id = $1 AND i.deleted_at IS NULL",
        )
        .bind(study.id)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        study.progress = study
            .readers
            .iter()
            .map(|r| (r.clone(), ReaderProgress::default()))
            .collect();
        let rows = sqlx::query(
            "SELECT r.reader, \
             CAST(SUM(CASE WHEN r.submitted_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN r.revised_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) \
             FROM study_reads r JOIN study_images s \
               ON s.study_id = r.study_id AND s.image_id = r.image_id \
             JOIN images i ON i.id = r.image_id \
             WHERE r.study_id = $1 AND i.deleted_at IS NULL GROUP BY r.reader",
        )
        .bind(study.id)
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            let reader: String = r.try_get(0)?;
            if let Some(p) = study.progress.get_mut(&reader) {
                p.blind = r.try_get(1)?;
                p.revised = r.try_get(2)?;
            }
        }
        Ok(())
    }

    /// Every study (`reader: Some(name)`: only those the user reads in), newest first.
    pub async fn list_studies(&self, reader: Option<&str>) -> Result<Vec<Study>> {
        let rows = match reader {
            Some(name) => {
                sqlx::query(
                    "SELECT id, name, description, blinded, require_reason, created_at, \
                     created_by, order_seed FROM studies WHERE id IN \
                     (SELECT study_id FROM study_readers WHERE reader = $1) ORDER BY id DESC",
                )
                .bind(name)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, name, description, blinded, require_reason, created_at, \
                     created_by, order_seed FROM studies ORDER BY id DESC",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut s = study_from_row(r)?;
            self.fill_study(&mut s).await?;
            out.push(s);
        }
        Ok(out)
    }

    /// The study's (non-retracted) images in id order, each with every reader's work.
    /// The AI draft study `study_id` shows for an image (see [`Store::study_rows`]).
    pub async fn study_draft(&self, study_id: i64, image_id: i64) -> Result<Option<Draft>> {
        sqlx::query(&format!(
            "SELECT {DRAFT_COLS} FROM drafts d WHERE d.id = COALESCE(\
             (SELECT s.draft_id FROM study_images s WHERE s.study_id = $1 AND s.image_id = $2), \
             (SELECT MIN(d2.id) FROM drafts d2 WHERE d2.image_id = $2))"
        ))
        .bind(study_id)
        .bind(image_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(draft_from_row)
        .transpose()
    }

    ///
    /// The AI draft of each row is the one the study was made with: the image's latest draft
    /// when it was added (its first draft, if it had none yet), so that re-scoring or a new
    /// active model does not move a study's AI column.
    pub async fn study_rows(&self, study: &Study) -> Result<Vec<StudyImageRow>> {
        let rows = sqlx::query(
            "SELECT s.image_id, s.code, COALESCE(s.draft_id, \
             (SELECT MIN(d.id) FROM drafts d WHERE d.image_id = s.image_id)) AS draft_id \
             FROM study_images s JOIN images i ON i.id = s.image_id \
             WHERE s.study_id = $1 AND i.deleted_at IS NULL ORDER BY s.image_id",
        )
        .bind(study.id)
        .fetch_all(&self.pool)
        .await?;
        let mut codes: BTreeMap<i64, String> = BTreeMap::new();
        let mut draft_ids: Vec<i64> = Vec::new();
        for r in &rows {
            codes.insert(
                r.try_get(0)?,
                r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
            );
            if let Some(d) = r.try_get::<Option<i64>, _>(2)? {
                draft_ids.push(d);
            }
        }
        let ids: Vec<i64> = codes.keys().copied().collect();
        let mut records = self.load_records(&ids).await?;
        let mut pinned: BTreeMap<i64, Draft> = BTreeMap::new();
        for chunk in draft_ids.chunks(500) {
            let mut sql = Sql::default();
            let list = sql.id_list(chunk);
            sql.push(&format!(
                "SELECT {DRAFT_COLS} FROM drafts d WHERE d.id IN ({list})"
            ));
            for d in sql.query().fetch_all(&self.pool).await?.iter() {
                let d = draft_from_row(d)?;
                pinned.insert(d.image_id, d);
            }
        }
        for record in &mut records {
            record.draft = pinned.remove(&record.id);
        }
        let mut reads = self.reads(study, None, None).await?;
        Ok(records
            .into_iter()
            .map(|record| {
                let reads = reads.remove(&record.id).unwrap_or_default();
                let code = codes.remove(&record.id).unwrap_or_default();
                StudyImageRow {
                    record,
                    code,
                    reads,
                }
            })
            .collect())
    }

    /// Reads of a study by image and reader, optionally for one image and/or reader.
    pub(crate) async fn reads(
        &self,
        study: &Study,
        image_id: Option<i64>,
        reader: Option<&str>,
    ) -> Result<BTreeMap<i64, BTreeMap<String, ReaderRead>>> {
        let mut filter = Sql::default();
        let sid = filter.arg(Arg::I64(study.id));
        let mut cond = format!("study_id = {sid}");
        if let Some(i) = image_id {
            let p = filter.arg(Arg::I64(i));
            cond.push_str(&format!(" AND image_id = {p}"));
        }
        if let Some(r) = reader {
            let p = filter.arg(Arg::Text(r.into()));
            cond.push_str(&format!(" AND reader = {p}"));
        }
        let mut out: BTreeMap<i64, BTreeMap<String, ReaderRead>> = BTreeMap::new();
        let mut sql = Sql {
            text: format!(
                "SELECT image_id, reader, opened_at, submitted_at, revised_at, \
                 active_blind_ms, active_after_ms FROM study_reads WHERE {cond}"
            ),
            args: filter.args.clone(),
        };
        for r in sql.query().fetch_all(&self.pool).await? {
            let read = ReaderRead {
                opened_at: parse_opt_ts(r.try_get("opened_at")?)?,
                submitted_at: parse_opt_ts(r.try_get("submitted_at")?)?,
                revised_at: parse_opt_ts(r.try_get("revised_at")?)?,
                active_blind_ms: r.try_get("active_blind_ms")?,
                active_after_ms: r.try_get("active_after_ms")?,
                ..ReaderRead::default()
            };
            out.entry(r.try_get("image_id")?)
                .or_default()
                .insert(r.try_get("reader")?, read);
        }
        sql.text = format!(
            "SELECT image_id, reader, phase, metric, value FROM study_scores WHERE {cond} \
             ORDER BY image_id, reader, phase, metric"
        );
        let mut scores: BTreeMap<(i64, String, ReadPhase), Vec<(String, f64)>> = BTreeMap::new();
        for r in sql.query().fetch_all(&self.pool).await? {
            scores
                .entry((
                    r.try_get("image_id")?,
                    r.try_get("reader")?,
                    r.try_get::<String, _>("phase")?.parse().map_err(corrupt)?,
                ))
                .or_default()
                .push((r.try_get("metric")?, r.try_get("value")?));
        }
        for ((image, reader, phase), values) in scores {
            let read = out.entry(image).or_default().entry(reader).or_default();
            match phase {
                ReadPhase::Blind => read.blind = scores_map(&values),
                ReadPhase::Revised => read.revised = scores_map(&values),
            }
        }
        for by_reader in out.values_mut() {
            for read in by_reader.values_mut() {
                read.finish(study.blinded);
            }
        }
        Ok(out)
    }

    /// Whether the image belongs to the study (and is not retracted).
    pub async fn study_has_image(&self, study_id: i64, image_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM study_images s JOIN images i ON i.id = s.image_id \
             WHERE s.study_id = $1 AND s.image_id = $2 AND i.deleted_at IS NULL",
        )
        .bind(study_id)
        .bind(image_id)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        Ok(n > 0)
    }
}
