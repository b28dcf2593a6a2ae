//! Exports of every (non-retracted) record: CSV for spreadsheets, JSON for scripts.
//!
//! CSV columns, in order (documented in docs/export.md):
//! `id, created_at, updated_at, reviewed_at, review_status, status, filename, serial, group,
//! image_number, sha256`, then per metric `AI <metric>` (the model's draft) and `<metric>`
//! (the final value), then `total, updated_by, model_id, model_demo, app_version, schema`.
//! Times are UTC ISO 8601. Text cells that a spreadsheet would run as a formula are
//! neutralised; numbers are written as numbers.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use histoscore_domain::export::csv_text;
use histoscore_domain::Schema;
use histoscore_store::{ExportPages, ImageRecord, Store};

use crate::auth::Caller;
use crate::{ApiError, AppState};
use std::collections::HashSet;

pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn csv_header(schema: &Schema) -> Vec<String> {
    let mut h: Vec<String> = [
        "id",
        "created_at",
        "updated_at",
        "reviewed_at",
        "review_status",
        "status",
        "filename",
        "serial",
        "group",
        "image_number",
        "sha256",
    ]
    .map(String::from)
    .to_vec();
    for m in &schema.metrics {
        h.push(format!("AI {}", m.name));
        h.push(m.name.clone());
    }
    h.extend(
        [
            "total",
            "updated_by",
            "model_id",
            "model_demo",
            "app_version",
            "schema",
        ]
        .map(String::from),
    );
    h
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn csv_row(schema: &Schema, r: &ImageRecord) -> Vec<String> {
    let mut rec = vec![
        r.id.to_string(),
        time(r.created_at),
        time(r.updated_at),
        r.reviewed_at.map(time).unwrap_or_default(),
        r.review_status.as_str().to_string(),
        r.status.as_str().to_string(),
        csv_text(&r.filename),
        csv_text(r.serial.as_deref().unwrap_or("")),
        csv_text(r.group_name.as_deref().unwrap_or("")),
        r.image_number.map(|n| n.to_string()).unwrap_or_default(),
        r.sha256.clone(),
    ];
    let mut total = 0.0;
    let mut any = false;
    for m in &schema.metrics {
        let ai = r
            .draft
            .as_ref()
            .and_then(|d| d.rounded.get(&m.name))
            .copied();
        let v = r.scores.get(&m.name).copied();
        if let Some(v) = v {
            total += v;
            any = true;
        }
        rec.push(ai.map(|x| x.to_string()).unwrap_or_default());
        rec.push(v.map(|x| x.to_string()).unwrap_or_default());
    }
    rec.push(if any {
        schema.round_to_step(total).to_string()
    } else {
        String::new()
    });
    rec.push(csv_text(&r.updated_by));
    rec.push(
        r.draft
            .as_ref()
            .map(|d| d.model_id.clone())
            .unwrap_or_default(),
    );
    rec.push(
        r.draft
            .as_ref()
            .map(|d| d.model_demo.to_string())
            .unwrap_or_default(),
    );
    rec.push(APP_VERSION.to_string());
    rec.push(csv_text(&schema.name));
    rec
}

fn csv_bytes(rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.write_record(&r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// The whole CSV export, page by page: `(first chunk with BOM and header, pages)`.
pub struct CsvExport {
    schema: Schema,
    pages: ExportPages,
    started: bool,
    hidden: HashSet<i64>,
}

impl CsvExport {
    pub fn new(store: &Store, schema: Schema) -> Self {
        Self {
            schema,
            pages: store.all_images_for_export(),
            started: false,
            hidden: HashSet::new(),
        }
    }

    /// Leaves out the AI draft and scores of these images (a blinded reader's export).
    pub fn hiding(mut self, hidden: HashSet<i64>) -> Self {
        self.hidden = hidden;
        self
    }

    /// The next chunk of CSV bytes, or `None` at the end. The first chunk starts with a UTF-8
    /// byte-order mark so that Excel reads accents correctly.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        if !self.started {
            self.started = true;
            let mut out = "\u{feff}".as_bytes().to_vec();
            out.extend(csv_bytes([csv_header(&self.schema)])?);
            return Ok(Some(out));
        }
        match self.pages.next_page().await.map_err(|e| e.to_string())? {
            None => Ok(None),
            Some(mut page) => {
                for r in &mut page {
                    crate::images::mask(r, &self.hidden);
                }
                Ok(Some(csv_bytes(
                    page.iter().map(|r| csv_row(&self.schema, r)),
                )?))
            }
        }
    }
}

/// Every record as CSV (streamed).
#[utoipa::path(get, path = "/api/export.csv", tag = "export",
    responses((status = 200, description = "CSV with a header row; see docs/export.md", content_type = "text/csv")))]
pub async fn export_csv(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let hidden = crate::images::hidden_from(&s, &caller).await?;
    let export = CsvExport::new(&s.store, s.scorer.schema.clone()).hiding(hidden);
    let stream = futures_util::stream::unfold(export, |mut e| async move {
        match e.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), e)),
            Ok(None) => None,
            Err(err) => {
                tracing::error!("CSV export failed part-way: {err}");
                Some((Err(std::io::Error::other(err)), e))
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"histoscore-export.csv\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Every record as JSON: `{app_version, schema, exported_at, records: [ImageRecord]}` (streamed).
#[utoipa::path(get, path = "/api/export.json", tag = "export",
    responses((status = 200, description = "`{app_version, schema, exported_at, records}`", content_type = "application/json")))]
pub async fn export_json(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let hidden = crate::images::hidden_from(&s, &caller).await?;
    let head = serde_json::json!({
        "app_version": APP_VERSION,
        "schema": s.scorer.schema,
        "exported_at": time(chrono::Utc::now()),
    })
    .to_string();
    // `{"app_version":…,"schema":…,"exported_at":…` + `,"records":[` … `]}`
    let head = format!("{},\"records\":[", &head[..head.len() - 1]);
    let pages = s.store.all_images_for_export();
    let stream = futures_util::stream::unfold(
        (Some(head), pages, true, false),
        move |(head, mut pages, first, done)| {
            let hidden = hidden.clone();
            async move {
                if let Some(h) = head {
                    return Some((
                        Ok::<_, std::io::Error>(h.into_bytes()),
                        (None, pages, first, done),
                    ));
                }
                if done {
                    return None;
                }
                match pages.next_page().await {
                    Ok(Some(page)) => {
                        let mut out = String::new();
                        let mut first = first;
                        for mut r in page {
                            crate::images::mask(&mut r, &hidden);
                            if !first {
                                out.push(',');
                            }
                            first = false;
                            out.push_str(&serde_json::to_string(&r).unwrap_or_default());
                        }
                        Some((Ok(out.into_bytes()), (None, pages, first, false)))
                    }
                    Ok(None) => Some((Ok(b"]}".to_vec()), (None, pages, first, true))),
                    Err(e) => {
                        tracing::error!("JSON export failed part-way: {e}");
                        Some((
                            Err(std::io::Error::other(e.to_string())),
                            (None, pages, first, true),
                        ))
                    }
                }
            }
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"histoscore-export.json\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
