//! The append-only audit log: what is written with every change, and reading it back.

use super::*;

/// One audit row to append.
pub(crate) struct Audit<'a> {
    pub(crate) actor: &'a str,
    pub(crate) image_id: Option<i64>,
    pub(crate) action: AuditAction,
    pub(crate) field: Option<&'a str>,
    pub(crate) old_value: Option<String>,
    pub(crate) new_value: Option<String>,
    pub(crate) reason: Option<&'a str>,
}

pub(crate) async fn append_audit(tx: &mut Tx, at: &str, a: Audit<'_>) -> Result<()> {
    append_study_audit(tx, at, a, None).await
}

/// The longest reason kept in the audit log, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// Refuses a reason longer than [`MAX_REASON_CHARS`] (the audit log keeps it forever).
pub fn check_reason(reason: Option<&str>) -> Result<()> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(StoreError::invalid(
            "reason",
            format!(
                "the reason has {} characters; keep it to {MAX_REASON_CHARS} (put long notes \
                 in a document and cite it)",
                r.chars().count()
            ),
        )),
        _ => Ok(()),
    }
}

/// Appends one audit row that belongs to a study.
pub(crate) async fn append_study_audit(
    tx: &mut Tx,
    at: &str,
    a: Audit<'_>,
    study_id: Option<i64>,
) -> Result<()> {
    check_reason(a.reason)?;
    sqlx::query(
        "INSERT INTO audit_log \
         (at, actor, image_id, action, field, old_value, new_value, reason, study_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(at)
    .bind(a.actor)
    .bind(a.image_id)
    .bind(a.action.as_str())
    .bind(a.field)
    .bind(a.old_value)
    .bind(a.new_value)
    .bind(a.reason)
    .bind(study_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) fn check_actor(actor: &str) -> Result<()> {
    if actor.trim().is_empty() {
        return Err(StoreError::invalid("actor", "must not be empty"));
    }
    Ok(())
}

impl Store {
    /// The image's audit trail, oldest first (includes deleted images).
    pub async fn audit_for_image(&self, id: i64) -> Result<Vec<AuditEntry>> {
        let sql = format!("SELECT {AUDIT_COLS} FROM audit_log WHERE image_id = $1 ORDER BY id");
        sqlx::query(&sql)
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    /// A page of the audit log in id order after `after_id`, optionally for one study and/or
    /// image.
    pub async fn audit_page(
        &self,
        study_id: Option<i64>,
        image_id: Option<i64>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let mut sql = Sql::default();
        let after = sql.arg(Arg::I64(after_id));
        let mut cond = format!("id > {after}");
        if let Some(s) = study_id {
            let p = sql.arg(Arg::I64(s));
            cond.push_str(&format!(" AND study_id = {p}"));
        }
        if let Some(i) = image_id {
            let p = sql.arg(Arg::I64(i));
            cond.push_str(&format!(" AND image_id = {p}"));
        }
        let limit = sql.arg(Arg::I64(limit.clamp(1, 10_000)));
        sql.push(&format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE {cond} ORDER BY id LIMIT {limit}"
        ));
        sql.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crate::audit_from_row)
            .collect()
    }
}
