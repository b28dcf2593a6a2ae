//! Importing the original system's scores (`histoscore import-original`): every row of its
//! `image_scores` table becomes a record without pixels, with the row's scores as the human
//! scores, exactly as stored. A value the schema does not allow (the original accepted any
//! number) is kept and flagged "needs review", never changed. Running it again imports nothing
//! twice.

use std::collections::BTreeMap;

use histoscore_domain::Schema;
use histoscore_store::{ImportOutcome, OriginalRow, Store, ORIGINAL_COLUMNS};
use serde::Serialize;

use crate::{AppError, Result};

/// One row the report lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The original's row id (`image_scores.id`).
    pub original_id: i64,
    pub filename: String,
    /// The record here (new, or the one that was there already).
    pub image_id: i64,
    /// Per metric: why the value needs review.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<String, String>,
}

/// What an import did, row by row.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Rows in the original's table.
    pub rows: usize,
    /// New records (flagged ones included).
    pub imported: Vec<ReportRow>,
    /// Imported by an earlier run; unchanged.
    pub already_imported: Vec<ReportRow>,
    /// A record with the row's file name was here already (uploaded to Histoscore); unchanged.
    pub name_taken: Vec<ReportRow>,
}

impl ImportReport {
    /// The new records with a value that needs review.
    pub fn flagged(&self) -> impl Iterator<Item = &ReportRow> {
        self.imported.iter().filter(|r| !r.flags.is_empty())
    }
}

/// Why each of a row's values needs review: outside the schema's range or off its step. NULL
/// values (the original's columns are nullable) are simply absent.
pub fn review_flags(schema: &Schema, row: &OriginalRow) -> BTreeMap<String, String> {
    row.scores
        .iter()
        .filter_map(|(metric, value)| {
            let v = (*value)?;
            schema.check_value(metric, v).err().map(|_| {
                let max = schema
                    .metrics
                    .iter()
                    .find(|m| &m.name == metric)
                    .map_or(0.0, |m| m.max);
                (
                    metric.clone(),
                    format!(
                        "needs review: the original system stored {v}, outside 0 to {max} in \
                         steps of {}",
                        schema.step
                    ),
                )
            })
        })
        .collect()
}

/// The original's four metrics must be in the schema the records are checked against.
pub fn check_schema(schema: &Schema) -> Result<()> {
    let missing: Vec<&str> = ORIGINAL_COLUMNS
        .iter()
        .map(|(_, m)| *m)
        .filter(|m| !schema.metrics.iter().any(|s| s.name == *m))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid(
            "schema",
            format!(
                "the schema {:?} has no metric {}: import the original's scores with its \
                 schema (the default, without --schema)",
                schema.name,
                missing.join(", ")
            ),
        ))
    }
}

/// Imports `rows` (read with [`histoscore_store::read_original`]) into `store` as `actor`.
pub async fn import_rows(
    store: &Store,
    schema: &Schema,
    rows: &[OriginalRow],
    actor: &str,
) -> Result<ImportReport> {
    check_schema(schema)?;
    let mut report = ImportReport {
        rows: rows.len(),
        ..Default::default()
    };
    for row in rows {
        let flags = review_flags(schema, row);
        let outcome = store.import_original_row(row, &flags, actor).await?;
        let item = |image_id, flags| ReportRow {
            original_id: row.id,
            filename: row.filename.clone(),
            image_id,
            flags,
        };
        match outcome {
            ImportOutcome::Imported(r) => report.imported.push(item(r.id, flags)),
            ImportOutcome::AlreadyImported { image_id } => report
                .already_imported
                .push(item(image_id, BTreeMap::new())),
            ImportOutcome::NameTaken { image_id } => {
                report.name_taken.push(item(image_id, BTreeMap::new()))
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: [Option<f64>; 4]) -> OriginalRow {
        OriginalRow {
            id: 1,
            filename: "S-1-10X_Image001.tif".into(),
            serial_number: None,
            sample_id: None,
            created_at: None,
            updated_at: None,
            scores: ORIGINAL_COLUMNS
                .iter()
                .zip(values)
                .map(|((_, m), v)| (m.to_string(), v))
                .collect(),
            total: None,
        }
    }

    #[test]
    fn values_the_schema_refuses_are_flagged_not_changed() {
        let schema = Schema::default();
        let flags = review_flags(
            &schema,
            &row([Some(200.0), Some(-5.0), Some(1.7), Some(2.5)]),
        );
        assert_eq!(flags.len(), 3, "{flags:?}");
        assert!(flags["Pancreatic Architecture"].contains("stored 200"));
        assert!(flags["Glandular Atrophy"].contains("stored -5, outside 0 to 3"));
        assert!(flags["Pseudotubular Complexes"].contains("steps of 0.25"));
        assert!(!flags.contains_key("Fibrosis"));
    }

    #[test]
    fn missing_values_are_not_flagged() {
        let flags = review_flags(&Schema::default(), &row([None, Some(1.0), None, Some(0.0)]));
        assert!(flags.is_empty(), "{flags:?}");
    }

    #[test]
    fn a_schema_without_the_original_metrics_is_refused() {
        let schema = Schema::parse("step = 1\n[[metrics]]\nname = \"Ki-67\"\nmax = 100\n").unwrap();
        let e = check_schema(&schema).unwrap_err().to_string();
        assert!(e.contains("has no metric Pancreatic Architecture"), "{e}");
        check_schema(&Schema::default()).unwrap();
    }
}
