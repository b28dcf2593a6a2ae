//! Row decoding: database rows into the records the crate returns.

use super::*;

pub(crate) fn image_from_row(r: &AnyRow) -> Result<ImageRecord> {
    Ok(ImageRecord {
        id: r.try_get("id")?,
        filename: r.try_get("filename")?,
        serial: r.try_get("serial")?,
        group_name: r.try_get("group_name")?,
        image_number: r.try_get("image_number")?,
        sha256: r.try_get("sha256")?,
        size_bytes: r.try_get("size_bytes")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        format: r.try_get("format")?,
        status: r.try_get::<String, _>("status")?.parse().map_err(corrupt)?,
        error: r.try_get("error")?,
        review_status: r
            .try_get::<String, _>("review_status")?
            .parse()
            .map_err(corrupt)?,
        version: r.try_get("version")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        updated_by: r.try_get("updated_by")?,
        deleted_at: parse_opt_ts(r.try_get("deleted_at")?)?,
        reviewed_at: parse_opt_ts(r.try_get("reviewed_at")?)?,
        reviewed_by: r.try_get("reviewed_by")?,
        pixel_size_um: r.try_get("pixel_size_um")?,
        storage_key: r.try_get("storage_key")?,
        flags: r
            .try_get::<Option<String>, _>("flags")?
            .map(|f| serde_json::from_str(&f))
            .transpose()
            .map_err(|e| corrupt(StoreError::invalid("flags", e.to_string())))?
            .unwrap_or_default(),
        kind: r.try_get("kind")?,
        slide: r
            .try_get::<Option<String>, _>("slide")?
            .map(|f| serde_json::from_str(&f))
            .transpose()
            .map_err(|e| corrupt(StoreError::invalid("slide", e.to_string())))?,
        progress: r
            .try_get::<Option<String>, _>("progress")?
            .and_then(|p| serde_json::from_str(&p).ok()),
        source: match r.try_get::<Option<String>, _>("source_path")? {
            Some(path) => Some(SourceFile {
                path,
                size: r.try_get::<Option<i64>, _>("source_size")?.unwrap_or(0),
                mtime_ms: r.try_get::<Option<i64>, _>("source_mtime_ms")?.unwrap_or(0),
            }),
            None => None,
        },
        draft: None,
        scores: BTreeMap::new(),
        locked_by_study: None,
    })
}

pub(crate) fn corrupt(e: StoreError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub(crate) fn job_from_row(r: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
        image_id: r.try_get("image_id")?,
        payload: r
            .try_get::<Option<String>, _>("payload")?
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(|e| corrupt(StoreError::invalid("payload", e.to_string())))?,
        state: r.try_get::<String, _>("state")?.parse().map_err(corrupt)?,
        attempts: r.try_get("attempts")?,
        locked_by: r.try_get("locked_by")?,
        locked_at: parse_opt_ts(r.try_get("locked_at")?)?,
        heartbeat: parse_opt_ts(r.try_get("heartbeat")?)?,
        error: r.try_get("error")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        model_id: r.try_get("model_id")?,
    })
}

pub(crate) fn draft_from_row(r: &AnyRow) -> Result<Draft> {
    let raw: IndexMap<String, Option<f64>> =
        serde_json::from_str(&r.try_get::<String, _>("raw_outputs")?)
            .map_err(|e| StoreError::Corrupt(format!("draft raw outputs: {e}")))?;
    let rounded: Scores = serde_json::from_str(&r.try_get::<String, _>("rounded")?)
        .map_err(|e| StoreError::Corrupt(format!("draft scores: {e}")))?;
    Ok(Draft {
        id: r.try_get("id")?,
        image_id: r.try_get("image_id")?,
        model_id: r.try_get("model_id")?,
        model_demo: r.try_get::<i64, _>("model_demo")? != 0,
        raw_outputs: raw
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect(),
        rounded,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        uncertainty: r
            .try_get::<Option<String>, _>("uncertainty")?
            .map(|u| {
                serde_json::from_str(&u)
                    .map_err(|e| StoreError::Corrupt(format!("draft uncertainty: {e}")))
            })
            .transpose()?,
    })
}

pub(crate) fn audit_from_row(r: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: parse_ts(&r.try_get::<String, _>("at")?)?,
        actor: r.try_get("actor")?,
        image_id: r.try_get("image_id")?,
        action: r.try_get::<String, _>("action")?.parse().map_err(corrupt)?,
        field: r.try_get("field")?,
        old_value: r.try_get("old_value")?,
        new_value: r.try_get("new_value")?,
        reason: r.try_get("reason")?,
        study_id: r.try_get("study_id")?,
    })
}
