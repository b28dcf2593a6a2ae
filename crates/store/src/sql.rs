//! The SQL builder shared by the queries: timestamps as stored, typed binds, filters.

use super::*;

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn now() -> String {
    ts(Utc::now())
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

pub(crate) fn parse_opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_ts).transpose()
}

pub(crate) fn lease_cutoff(lease: Duration) -> String {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    ts(Utc::now()
        .checked_sub_signed(lease)
        .unwrap_or(DateTime::<Utc>::MIN_UTC))
}

pub(crate) fn fmt_value(v: f64) -> String {
    format!("{v}")
}

/// A bind value for dynamically built SQL.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I64(i64),
    Text(String),
}

/// SQL text plus its binds, numbered `$1, $2, …` as they are added.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Adds a bind and returns its placeholder.
    pub(crate) fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// Binds each id and returns the placeholders for an `IN (…)` list.
    pub(crate) fn id_list(&mut self, ids: &[i64]) -> String {
        ids.iter()
            .map(|id| self.arg(Arg::I64(*id)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::I64(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }
}

pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Appends the `WHERE` clause of a list query (always hides soft-deleted images).
pub(crate) fn push_filters(sql: &mut Sql, q: &ListQuery) {
    sql.push(if q.deleted {
        " WHERE i.deleted_at IS NOT NULL"
    } else {
        " WHERE i.deleted_at IS NULL"
    });
    if let Some(s) = q.search.as_deref().filter(|s| !s.is_empty()) {
        let p = sql.arg(Arg::Text(escape_like(s)));
        sql.push(&format!(" AND i.search_text LIKE {p} ESCAPE '\\'"));
    }
    if let Some(g) = &q.group {
        // Case-insensitive prefix: lower(prefix) ≤ group_key < lower(prefix) + U+10FFFF,
        // lower-cased by the database as the column is.
        let lo = sql.arg(Arg::Text(g.clone()));
        let hi = sql.arg(Arg::Text(format!("{g}\u{10FFFF}")));
        sql.push(&format!(
            " AND i.group_key >= lower({lo}) AND i.group_key < lower({hi})"
        ));
    }
    if let Some(s) = q.status {
        let p = sql.arg(Arg::Text(s.as_str().into()));
        sql.push(&format!(" AND i.status = {p}"));
    }
    if let Some(s) = q.review_status {
        let p = sql.arg(Arg::Text(s.as_str().into()));
        sql.push(&format!(" AND i.review_status = {p}"));
    }
    if let Some(t) = q.created_from {
        let p = sql.arg(Arg::Text(ts(t)));
        sql.push(&format!(" AND i.created_at >= {p}"));
    }
    if let Some(t) = q.created_to {
        let p = sql.arg(Arg::Text(ts(t)));
        sql.push(&format!(" AND i.created_at < {p}"));
    }
    if !q.exclude_ids.is_empty() {
        let list = sql.id_list(&q.exclude_ids);
        sql.push(&format!(" AND i.id NOT IN ({list})"));
    }
    if let Some(m) = &q.model_id {
        let p = sql.arg(Arg::Text(m.clone()));
        sql.push(&format!(
            " AND EXISTS (SELECT 1 FROM drafts d WHERE d.image_id = i.id AND d.model_id = {p})"
        ));
    }
}
