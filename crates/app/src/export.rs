//! Every download goes through one writer, [`Download`]: the records export (CSV for
//! spreadsheets, JSON for scripts), the audit log, and the study tables. A download is read a
//! page at a time from its [`Source`] and written as it goes, so memory stays flat whatever
//! the size. One rule for all of them: CSV starts with a UTF-8 byte-order mark (Excel then
//! reads accents correctly) and neutralises text a spreadsheet would run as a formula; JSON
//! is written by the serializer; every time is [`timestamp`] (RFC 3339, milliseconds, UTC).
//!
//! The records export:
//!
//! CSV columns, in order (documented in docs/export.md):
//! `id, created_at, [created_at_local], updated_at, reviewed_at, review_status, reviewed_by,
//! status, filename, serial, group, image_number, sha256`, then per metric `ai_<metric>` (the
//! model's draft), `<metric>` (the final value) and `<metric>_corrected` (yes/no), then
//! `total, updated_by, model_id, model_demo, app_version, schema`; every name in one style
//! (lower case, `_`). Times are UTC ISO 8601 (the local column in the zone asked for). The
//! style ([`CsvStyle`]) chooses the separator, the decimal mark and whether text cells that a
//! spreadsheet would run as a formula are neutralised.

use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, Utc};
use histoscore_domain::export::{column_name, csv_text, CsvStyle};
use histoscore_domain::Schema;
use histoscore_store::{AuditEntry, ExportPages, ImageRecord, ListQuery, Store};
use serde::Serialize;

use crate::{AppError, Result};

/// The one form of a time in every download: RFC 3339 with milliseconds, in UTC.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How the records CSV is written: the spreadsheet style, and the time zone of the
/// `created_at_local` column (none: no such column).
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    pub style: CsvStyle,
    pub tz: Option<chrono_tz::Tz>,
}

impl CsvOptions {
    /// The options of the export's `style` and `tz` parameters (empty: the default).
    pub fn parse(style: Option<&str>, tz: Option<&str>) -> Result<Self> {
        let style = match style.filter(|s| !s.is_empty()) {
            None => CsvStyle::default(),
            Some(s) => CsvStyle::parse(s).ok_or_else(|| {
                AppError::invalid(
                    "style",
                    format!("{s:?} is not a CSV style; use comma, semicolon or raw"),
                )
            })?,
        };
        let tz = tz
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<chrono_tz::Tz>().map_err(|_| {
                    AppError::invalid(
                        "tz",
                        format!("{t:?} is not a time zone; use a name such as Europe/Berlin"),
                    )
                })
            })
            .transpose()?;
        Ok(Self { style, tz })
    }
}

pub fn csv_header(schema: &Schema, opts: &CsvOptions) -> Vec<String> {
    let mut h: Vec<String> = vec!["id".into(), "created_at".into()];
    if opts.tz.is_some() {
        h.push("created_at_local".into());
    }
    h.extend(
        [
            "updated_at",
            "reviewed_at",
            "review_status",
            "reviewed_by",
            "status",
            "filename",
            "serial",
            "group",
            "image_number",
            "sha256",
        ]
        .map(String::from),
    );
    for m in &schema.metrics {
        let name = column_name(&m.name);
        h.push(format!("ai_{name}"));
        h.push(name.clone());
        h.push(format!("{name}_corrected"));
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

pub fn csv_row(schema: &Schema, r: &ImageRecord, opts: &CsvOptions) -> Vec<String> {
    let style = opts.style;
    let mut rec = vec![r.id.to_string(), timestamp(r.created_at)];
    if let Some(tz) = opts.tz {
        rec.push(
            r.created_at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
        );
    }
    rec.extend([
        timestamp(r.updated_at),
        r.reviewed_at.map(timestamp).unwrap_or_default(),
        r.review_status.as_str().to_string(),
        style.text(r.reviewed_by.as_deref().unwrap_or("")),
        r.status.as_str().to_string(),
        style.text(&r.filename),
        style.text(r.serial.as_deref().unwrap_or("")),
        style.text(r.group_name.as_deref().unwrap_or("")),
        r.image_number.map(|n| n.to_string()).unwrap_or_default(),
        r.sha256.clone(),
    ]);
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
        rec.push(ai.map(|x| style.number(x)).unwrap_or_default());
        rec.push(v.map(|x| style.number(x)).unwrap_or_default());
        // Corrected: a person's value differs from the model's draft (or there is no draft).
        rec.push(match (ai, v) {
            (_, None) => String::new(),
            (Some(a), Some(v)) if a == v => "no".into(),
            _ => "yes".into(),
        });
    }
    rec.push(if any {
        style.number(schema.round_to_step(total))
    } else {
        String::new()
    });
    rec.push(style.text(&r.updated_by));
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
    rec.push(style.text(&schema.name));
    rec
}

/// Where a download's rows come from, a page at a time.
pub trait Source: Send {
    type Record: Serialize + Send;
    /// The CSV header row.
    fn header(&self) -> Vec<String>;
    /// One record as a CSV row (cells in header order, text already neutralised).
    fn csv_row(&self, r: &Self::Record) -> Vec<String>;
    /// The next page of records, or `None` after the last.
    fn next_page(&mut self) -> impl Future<Output = Result<Option<Vec<Self::Record>>>> + Send;
}

/// What a download is written as.
pub enum Format {
    /// CSV with this delimiter.
    Csv(u8),
    /// `{<head fields>, "records": [...]}`.
    Json(Vec<(&'static str, serde_json::Value)>),
}

enum Stage {
    Start,
    Rows { first: bool },
    Done,
}

/// A download being written: [`Download::next_chunk`] until `None`.
pub struct Download<S: Source> {
    source: S,
    format: Format,
    stage: Stage,
    written: usize,
}

impl<S: Source> Download<S> {
    pub fn new(source: S, format: Format) -> Self {
        Self {
            source,
            format,
            stage: Stage::Start,
            written: 0,
        }
    }

    pub fn csv(source: S) -> Self {
        Self::new(source, Format::Csv(b','))
    }

    /// Records written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// The next bytes of the download, or `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match self.stage {
            Stage::Done => Ok(None),
            Stage::Start => {
                self.stage = Stage::Rows { first: true };
                match &self.format {
                    Format::Csv(delimiter) => {
                        let mut out = "\u{feff}".as_bytes().to_vec();
                        out.extend(csv_lines(*delimiter, [self.source.header()])?);
                        Ok(Some(out))
                    }
                    Format::Json(head) => {
                        let mut out = b"{".to_vec();
                        for (key, value) in head {
                            serde_json::to_writer(&mut out, key).map_err(AppError::failed)?;
                            out.push(b':');
                            serde_json::to_writer(&mut out, value).map_err(AppError::failed)?;
                            out.push(b',');
                        }
                        out.extend(b"\"records\":[");
                        Ok(Some(out))
                    }
                }
            }
            Stage::Rows { first } => {
                let Some(page) = self.source.next_page().await? else {
                    self.stage = Stage::Done;
                    return Ok(match self.format {
                        Format::Csv(_) => None,
                        Format::Json(_) => Some(b"]}".to_vec()),
                    });
                };
                let out = match self.format {
                    Format::Csv(delimiter) => {
                        csv_lines(delimiter, page.iter().map(|r| self.source.csv_row(r)))?
                    }
                    Format::Json(_) => {
                        let mut out = Vec::new();
                        for (i, r) in page.iter().enumerate() {
                            if !(first && i == 0) {
                                out.push(b',');
                            }
                            serde_json::to_writer(&mut out, r).map_err(AppError::failed)?;
                        }
                        out
                    }
                };
                self.written += page.len();
                self.stage = Stage::Rows {
                    first: first && page.is_empty(),
                };
                Ok(Some(out))
            }
        }
    }
}

fn csv_lines(delimiter: u8, rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    for r in rows {
        w.write_record(&r).map_err(AppError::failed)?;
    }
    w.into_inner().map_err(AppError::failed)
}

/// Every non-retracted record (or those matching the history's filters), in id order; the
/// AI draft and scores of `hidden` images are left out (a blinded reader's export).
pub struct Records {
    schema: Schema,
    pages: ExportPages,
    hidden: HashSet<i64>,
    csv: CsvOptions,
}

impl Records {
    pub fn new(store: &Store, schema: Schema, hidden: HashSet<i64>) -> Self {
        Self {
            schema,
            pages: store.all_images_for_export(),
            hidden,
            csv: CsvOptions::default(),
        }
    }

    /// The records matching the history's filters `q`, written as `csv` says.
    pub fn matching(
        store: &Store,
        schema: Schema,
        hidden: HashSet<i64>,
        q: &ListQuery,
        csv: CsvOptions,
    ) -> Self {
        Self {
            schema,
            pages: store.export_matching(q, 1000),
            hidden,
            csv,
        }
    }

    /// How this export's CSV is written.
    pub fn csv_options(&self) -> CsvOptions {
        self.csv
    }

    /// The head of the JSON export: version, schema and time.
    pub fn json_head(&self) -> Format {
        Format::Json(vec![
            ("app_version", APP_VERSION.into()),
            (
                "schema",
                serde_json::to_value(&self.schema).unwrap_or_default(),
            ),
            ("exported_at", timestamp(Utc::now()).into()),
        ])
    }
}

/// Leaves out what a blinded reader may not see of a record.
pub fn mask(r: &mut ImageRecord, hidden: &HashSet<i64>) {
    if hidden.contains(&r.id) {
        r.draft = None;
        r.scores.clear();
    }
}

impl Source for Records {
    type Record = ImageRecord;

    fn header(&self) -> Vec<String> {
        csv_header(&self.schema, &self.csv)
    }

    fn csv_row(&self, r: &ImageRecord) -> Vec<String> {
        csv_row(&self.schema, r, &self.csv)
    }

    async fn next_page(&mut self) -> Result<Option<Vec<ImageRecord>>> {
        let Some(mut page) = self.pages.next_page().await? else {
            return Ok(None);
        };
        for r in &mut page {
            mask(r, &self.hidden);
        }
        Ok(Some(page))
    }
}

/// The audit log (all of it, or one study's or one image's entries), oldest first.
pub struct Audit {
    store: Store,
    study_id: Option<i64>,
    image_id: Option<i64>,
    after: i64,
    done: bool,
}

impl Audit {
    pub fn new(store: &Store, study_id: Option<i64>, image_id: Option<i64>) -> Self {
        Self {
            store: store.clone(),
            study_id,
            image_id,
            after: 0,
            done: false,
        }
    }
}

impl Source for Audit {
    type Record = AuditEntry;

    fn header(&self) -> Vec<String> {
        [
            "id",
            "at",
            "actor",
            "image_id",
            "study_id",
            "action",
            "field",
            "old_value",
            "new_value",
            "reason",
        ]
        .map(String::from)
        .to_vec()
    }

    fn csv_row(&self, e: &AuditEntry) -> Vec<String> {
        vec![
            e.id.to_string(),
            timestamp(e.at),
            csv_text(&e.actor),
            e.image_id.map(|x| x.to_string()).unwrap_or_default(),
            e.study_id.map(|x| x.to_string()).unwrap_or_default(),
            e.action.as_str().to_string(),
            csv_text(e.field.as_deref().unwrap_or("")),
            csv_text(e.old_value.as_deref().unwrap_or("")),
            csv_text(e.new_value.as_deref().unwrap_or("")),
            csv_text(e.reason.as_deref().unwrap_or("")),
        ]
    }

    async fn next_page(&mut self) -> Result<Option<Vec<AuditEntry>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .audit_page(self.study_id, self.image_id, self.after, 1000)
            .await?;
        if page.is_empty() {
            self.done = true;
            return Ok(None);
        }
        self.after = page.last().map_or(self.after, |e| e.id);
        Ok(Some(page))
    }
}

/// A table already in memory (a study's rows, agreement statistics): one page.
pub struct Table {
    header: Vec<String>,
    rows: Option<Vec<Vec<String>>>,
}

impl Table {
    /// `header`, then `rows` (text cells already neutralised with [`csv_text`]).
    pub fn new(header: Vec<String>, rows: Vec<Vec<String>>) -> Self {
        Self {
            header,
            rows: Some(rows),
        }
    }
}

impl Source for Table {
    type Record = Vec<String>;

    fn header(&self) -> Vec<String> {
        self.header.clone()
    }

    fn csv_row(&self, r: &Vec<String>) -> Vec<String> {
        r.clone()
    }

    async fn next_page(&mut self) -> Result<Option<Vec<Vec<String>>>> {
        Ok(self.rows.take().filter(|r| !r.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all<S: Source>(mut d: Download<S>) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = d.next_chunk().await.unwrap() {
            out.extend(chunk);
        }
        out
    }

    fn table(rows: usize) -> Table {
        Table::new(
            vec!["a".into(), "b".into()],
            (0..rows)
                .map(|i| vec![i.to_string(), csv_text("=1+1")])
                .collect(),
        )
    }

    #[tokio::test]
    async fn csv_has_one_bom_a_header_and_neutralised_text() {
        let text = String::from_utf8(all(Download::csv(table(2))).await).unwrap();
        assert_eq!(text, "\u{feff}a,b\n0,'=1+1\n1,'=1+1\n");
        assert_eq!(text.matches('\u{feff}').count(), 1);
    }

    #[tokio::test]
    async fn json_is_valid_with_and_without_records() {
        for n in [0, 1, 3] {
            let head = Format::Json(vec![("app_version", "1".into())]);
            let bytes = all(Download::new(table(n), head)).await;
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["app_version"], "1");
            assert_eq!(v["records"].as_array().unwrap().len(), n, "{v}");
        }
    }

    #[test]
    fn timestamps_have_milliseconds_in_utc() {
        let t = DateTime::parse_from_rfc3339("2026-01-31T12:00:00.123456+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-01-31T10:00:00.123Z");
    }
}
