//! Every download over HTTP: the records (CSV, JSON), the audit log, a study's table and its
//! agreement statistics. Each is an [`histoscore_app::export::Download`] streamed as it is
//! written; the columns are in docs/export.md.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use histoscore_app::export::{Audit, CsvOptions, Download, Format, Records, Source, Table};
use histoscore_domain::agreement::{Interval, Stat, AI_RATER};
use histoscore_domain::export::csv_text;
use histoscore_store::{ImageStatus, ListQuery, ReviewStatus, Role, StudyImageRow};
use serde::Deserialize;

use crate::auth::Caller;
use crate::extract::{Path, Query};
use crate::studies::{full_view, load_study, study_agreement};
use crate::{ApiError, AppState};

/// Streams a download; a failure part-way ends the body with an error (the client sees a cut
/// download, never a complete-looking partial one).
fn download<S: Source + 'static>(d: Download<S>, filename: &str, content_type: &str) -> Response {
    let stream = futures_util::stream::unfold(d, |mut d| async move {
        match d.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), d)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!("a download failed part-way: {e}");
                Some((Err(std::io::Error::other(e.to_string())), d))
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

const CSV: &str = "text/csv; charset=utf-8";

/// The records this caller may export: a blinded reader's coded study images are left out
/// (their names would link name and code), drafts they may not see yet are blanked.
async fn records(
    s: &AppState,
    caller: &Caller,
    mut q: ListQuery,
    csv: CsvOptions,
) -> Result<Records, ApiError> {
    let view = crate::visibility::View::of(s, caller).await?;
    q.exclude_ids = view.coded_ids();
    Ok(Records::matching(
        &s.store,
        s.scorer.schema.clone(),
        view.hidden,
        &q,
        csv,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvParams {
    /// `comma` (default: `,` and `1.5`), `semicolon` (`;` and `1,5`, for Excel where a
    /// decimal comma is the rule) or `raw` (for R / Python: no formula guard, file
    /// `…-raw.csv`).
    style: Option<String>,
    /// IANA time zone (e.g. `Europe/Berlin`): adds `created_at_local`.
    tz: Option<String>,
    /// The history's filters, as `GET /api/images` takes them; none: every record.
    search: Option<String>,
    group: Option<String>,
    status: Option<String>,
    review_status: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    model_id: Option<String>,
}

impl CsvParams {
    fn query(&self) -> Result<ListQuery, ApiError> {
        use crate::images::{parse_enum, parse_time};
        let text = |v: &Option<String>| v.clone().filter(|x| !x.is_empty());
        let time = |field: &'static str, v: &Option<String>| {
            v.as_deref()
                .filter(|x| !x.is_empty())
                .map(|v| parse_time(field, v))
                .transpose()
        };
        Ok(ListQuery {
            search: text(&self.search),
            group: text(&self.group),
            status: parse_enum::<ImageStatus>("status", self.status.as_deref())?,
            review_status: parse_enum::<ReviewStatus>(
                "review_status",
                self.review_status.as_deref(),
            )?,
            created_from: time("created_from", &self.created_from)?,
            created_to: time("created_to", &self.created_to)?,
            model_id: text(&self.model_id),
            ..ListQuery::default()
        })
    }
}

/// The records as CSV (streamed): all, or those the history's filters match; in the
/// spreadsheet style asked for. Columns in docs/export.md.
#[utoipa::path(get, path = "/api/export.csv", tag = "export", params(CsvParams),
    responses((status = 200, description = "CSV with a header row; see docs/export.md", content_type = "text/csv"),
              (status = 400, body = crate::ErrorBody)))]
pub async fn export_csv(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<CsvParams>,
) -> Result<Response, ApiError> {
    let q = p.query()?;
    let opts = CsvOptions::parse(p.style.as_deref(), p.tz.as_deref()).map_err(|e| match e {
        histoscore_app::AppError::Invalid { field, detail } => ApiError::bad_query(field, detail),
        other => other.into(),
    })?;
    let source = records(&s, &caller, q, opts).await?;
    Ok(download(
        Download::new(source, Format::Csv(opts.style.delimiter())),
        &opts.style.file_name("histoscore-export"),
        CSV,
    ))
}

/// Every record as JSON: `{app_version, schema, exported_at, records: [ImageRecord]}` (streamed).
#[utoipa::path(get, path = "/api/export.json", tag = "export",
    responses((status = 200, description = "`{app_version, schema, exported_at, records}`", content_type = "application/json")))]
pub async fn export_json(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let source = records(&s, &caller, ListQuery::default(), CsvOptions::default()).await?;
    let head = source.json_head();
    Ok(download(
        Download::new(source, head),
        "histoscore-export.json",
        "application/json",
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    study_id: Option<i64>,
    image_id: Option<i64>,
}

/// The audit log as CSV (everything, or one study's or one image's entries), oldest first.
#[utoipa::path(get, path = "/api/audit.csv", tag = "export", params(AuditParams),
    responses((status = 200, description = "CSV", content_type = "text/csv")))]
pub async fn audit_csv(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    if caller.role != Role::Admin {
        // A reader must not learn other readers' scores (or a hidden AI draft) from the log.
        let view = crate::visibility::View::of(&s, &caller).await?;
        if view.is_reader() || !view.hidden.is_empty() {
            return Err(ApiError::forbidden(
                "readers of a study cannot export the audit log (it holds the other readers' \
                 scores); ask an administrator",
            ));
        }
    }
    let source = Audit::new(&s.store, p.study_id, p.image_id);
    Ok(download(Download::csv(source), "histoscore-audit.csv", CSV))
}

fn stat_cell(s: &Stat, notes: &mut Vec<String>, what: &str) -> String {
    match s {
        Stat::Value(v) => v.to_string(),
        Stat::NotDefined(why) => {
            notes.push(format!("{what}: {why}"));
            String::new()
        }
    }
}

fn interval_cells(i: &Interval, notes: &mut Vec<String>, what: &str) -> [String; 3] {
    match i {
        Interval::Value { value, ci95 } => {
            [value.to_string(), ci95[0].to_string(), ci95[1].to_string()]
        }
        Interval::NotDefined { not_defined: why } => {
            notes.push(format!("{what}: {why}"));
            [String::new(), String::new(), String::new()]
        }
    }
}

fn strings<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.map(String::from).to_vec()
}

/// The agreement statistics as CSV: one row per metric and rater pair (empty cells are
/// statistics that are not defined; `notes` says why).
#[utoipa::path(get, path = "/api/studies/{id}/agreement.csv", tag = "studies",
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, description = "CSV", content_type = "text/csv")))]
pub async fn agreement_csv(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let a = study_agreement(&s, &caller, id).await?;
    let header = strings([
        "metric",
        "a",
        "b",
        "n",
        "mae",
        "qwk",
        "icc2_1",
        "icc2_1_ci_low",
        "icc2_1_ci_high",
        "icc3_1",
        "icc3_1_ci_low",
        "icc3_1_ci_high",
        "ba_mean_diff",
        "ba_sd_diff",
        "ba_loa_low",
        "ba_loa_high",
        "notes",
    ]);
    let mut rows = Vec::new();
    for m in &a.metrics {
        for p in &m.pairs {
            let mut notes = Vec::new();
            let st = &p.stats;
            let mut row = vec![
                csv_text(&m.metric),
                csv_text(&p.a),
                csv_text(&p.b),
                st.n.to_string(),
                stat_cell(&st.mae, &mut notes, "mae"),
                stat_cell(&st.qwk, &mut notes, "qwk"),
            ];
            row.extend(interval_cells(&st.icc2_1, &mut notes, "icc2_1"));
            row.extend(interval_cells(&st.icc3_1, &mut notes, "icc3_1"));
            let ba = &st.bland_altman;
            row.push(stat_cell(&ba.mean_diff, &mut notes, "ba_mean_diff"));
            row.push(stat_cell(&ba.sd_diff, &mut notes, "ba_sd_diff"));
            row.push(stat_cell(&ba.loa_low, &mut notes, "ba_loa_low"));
            row.push(stat_cell(&ba.loa_high, &mut notes, "ba_loa_high"));
            notes.dedup();
            row.push(csv_text(&notes.join("; ")));
            rows.push(row);
        }
    }
    let table = Table::new(header, rows);
    Ok(download(
        Download::csv(table),
        &format!("study-{id}-agreement.csv"),
        CSV,
    ))
}

fn ai_value(row: &StudyImageRow, metric: &str) -> Option<f64> {
    row.record
        .draft
        .as_ref()
        .and_then(|d| d.rounded.get(metric))
        .copied()
}

/// The study as CSV: one row per image with the AI draft, a column block per reader (blind,
/// revised, seconds) and the final score.
#[utoipa::path(get, path = "/api/studies/{id}/export.csv", tag = "studies",
    params(("id" = i64, Path, description = "Study id")),
    responses((status = 200, description = "CSV", content_type = "text/csv")))]
pub async fn study_csv(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let study = load_study(&s, &caller, id).await?;
    if !full_view(&caller, &study) {
        return Err(ApiError::forbidden(
            "the study export holds every reader's scores; ask an administrator for it",
        ));
    }
    let schema = &s.scorer.schema;
    let rows = s.store.study_rows(&study).await?;
    let mut header = strings(["image_id", "filename", "serial", "group", "model_id"]);
    for m in &schema.metrics {
        header.push(format!("{AI_RATER}.{}", m.name));
    }
    for r in &study.readers {
        for m in &schema.metrics {
            header.push(format!("{r}.blind.{}", m.name));
        }
        for m in &schema.metrics {
            header.push(format!("{r}.{}", m.name));
        }
        header.push(format!("{r}.blind_seconds"));
        header.push(format!("{r}.revised_seconds"));
    }
    for m in &schema.metrics {
        header.push(format!("final.{}", m.name));
    }
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut out = Vec::new();
    for row in &rows {
        let rec = &row.record;
        let mut line = vec![
            rec.id.to_string(),
            csv_text(&rec.filename),
            csv_text(rec.serial.as_deref().unwrap_or("")),
            csv_text(rec.group_name.as_deref().unwrap_or("")),
            csv_text(rec.draft.as_ref().map_or("", |d| d.model_id.as_str())),
        ];
        for m in &schema.metrics {
            line.push(num(ai_value(row, &m.name)));
        }
        for r in &study.readers {
            let read = row.reads.get(r);
            for m in &schema.metrics {
                line.push(num(read
                    .and_then(|x| x.blind.as_ref())
                    .and_then(|x| x.get(&m.name))
                    .copied()));
            }
            for m in &schema.metrics {
                line.push(num(read
                    .and_then(|x| x.revised.as_ref())
                    .and_then(|x| x.get(&m.name))
                    .copied()));
            }
            line.push(num(read.and_then(|x| x.blind_seconds)));
            line.push(num(read.and_then(|x| x.revised_seconds)));
        }
        for m in &schema.metrics {
            line.push(num(rec.scores.get(&m.name).copied()));
        }
        out.push(line);
    }
    let table = Table::new(header, out);
    Ok(download(
        Download::csv(table),
        &format!("study-{id}-export.csv"),
        CSV,
    ))
}
