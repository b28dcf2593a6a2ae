//! A slide's draft from its fields' scores: per metric, the tissue-weighted mean of the
//! fields' scores rounded to the schema's step, with the distribution of the field scores
//! (10th, 50th and 90th percentiles) beside it. The spread p90 − p10 is the slide's
//! uncertainty (the four augmentation passes of an image are not run per field).

use crate::{Schema, Scores};
use serde::{Deserialize, Serialize};

/// What a slide's fields add up to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlideSummary {
    /// Per metric, the weighted mean score divided by the metric's maximum: stored as the
    /// draft's raw output, so that `schema.scores_from_raw(raw)` gives `scores`.
    pub raw: Vec<f32>,
    /// The slide's draft: weighted means rounded to the step.
    pub scores: Scores,
    pub total: f64,
    /// Per metric, in schema order, in score units (unrounded).
    pub p10: Vec<f64>,
    pub p50: Vec<f64>,
    pub p90: Vec<f64>,
    /// Per metric: p90 − p10.
    pub uncertainty: Vec<f64>,
    /// How many fields went into it.
    pub fields: usize,
}

/// Linear-interpolated percentile (numpy's default) of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Summarises fields given as (tissue share, raw outputs). Fields with a non-finite output or
/// a weight ≤ 0 are left out; `None` when none is left.
pub fn summarise(schema: &Schema, fields: &[(f64, &[f32])]) -> Option<SlideSummary> {
    let n_metrics = schema.metrics.len();
    let usable: Vec<(f64, Vec<f64>)> = fields
        .iter()
        .filter(|(w, raw)| *w > 0.0 && raw.len() == n_metrics && raw.iter().all(|v| v.is_finite()))
        .map(|(w, raw)| {
            let values = schema
                .metrics
                .iter()
                .zip(raw.iter())
                .map(|(m, &r)| (f64::from(r) * m.max).clamp(0.0, m.max))
                .collect();
            (*w, values)
        })
        .collect();
    if usable.is_empty() {
        return None;
    }
    let weight: f64 = usable.iter().map(|(w, _)| w).sum();
    let mut raw = Vec::with_capacity(n_metrics);
    let (mut p10, mut p50, mut p90, mut uncertainty) = (vec![], vec![], vec![], vec![]);
    for (i, m) in schema.metrics.iter().enumerate() {
        let mean = usable.iter().map(|(w, v)| w * v[i]).sum::<f64>() / weight;
        raw.push((mean / m.max) as f32);
        let mut col: Vec<f64> = usable.iter().map(|(_, v)| v[i]).collect();
        col.sort_by(f64::total_cmp);
        let (a, b, c) = (
            percentile(&col, 0.1),
            percentile(&col, 0.5),
            percentile(&col, 0.9),
        );
        p10.push(a);
        p50.push(b);
        p90.push(c);
        uncertainty.push(c - a);
    }
    let scores = schema.scores_from_raw(&raw);
    let total = schema.total(&scores);
    Some(SlideSummary {
        raw,
        scores,
        total,
        p10,
        p50,
        p90,
        uncertainty,
        fields: usable.len(),
    })
}

/// One field as exported (CSV, GeoJSON): a level-0 rectangle and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldRow {
    /// Reading order on the slide (0-based), or the ROI's number.
    pub index: i64,
    /// Top left in level-0 pixels (may be negative: a field padded past the edge).
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    /// Share of the field's part inside the slide that is tissue, 0–1.
    pub tissue_share: f64,
    /// The field's scores in schema order; `None` when it could not be read.
    #[schema(value_type = Option<Object>)]
    pub scores: Option<Scores>,
    /// Raw network outputs, one per metric.
    pub raw: Option<Vec<f32>>,
    /// Why the field has no scores ("unreadable: …").
    pub error: Option<String>,
    /// Drawn by a reviewer (a region of interest), not laid by the grid.
    #[serde(default)]
    pub roi: bool,
    /// Who recorded it: "ai" for the grid's fields, the reviewer for a region of interest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// The header of the per-field CSV (`fields.csv`), the metrics' columns in schema order.
pub fn fields_csv_header(schema: &Schema) -> Vec<String> {
    let mut h: Vec<String> = ["field", "kind", "x", "y", "width", "height", "tissue_share"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    h.extend(schema.metrics.iter().map(|m| m.name.clone()));
    h.push("error".into());
    h
}

/// One field's CSV record, matching [`fields_csv_header`].
pub fn fields_csv_record(schema: &Schema, f: &FieldRow) -> Vec<String> {
    let mut r = vec![
        f.index.to_string(),
        if f.roi { "roi" } else { "field" }.to_string(),
        f.x.to_string(),
        f.y.to_string(),
        f.width.to_string(),
        f.height.to_string(),
        format!("{:.4}", f.tissue_share),
    ];
    for m in &schema.metrics {
        r.push(
            f.scores
                .as_ref()
                .and_then(|s| s.get(&m.name))
                .map(|v| v.to_string())
                .unwrap_or_default(),
        );
    }
    r.push(crate::export::csv_text(f.error.as_deref().unwrap_or("")));
    r
}

/// The fields as a GeoJSON FeatureCollection QuPath imports (File → Import objects):
/// coordinates in level-0 pixels, origin top left; one detection per field with its scores
/// (and tissue share) as measurements.
pub fn fields_geojson(schema: &Schema, fields: &[FieldRow]) -> serde_json::Value {
    let features: Vec<serde_json::Value> = fields
        .iter()
        .map(|f| {
            let (x0, y0) = (f.x, f.y);
            let (x1, y1) = (f.x + f.width, f.y + f.height);
            let mut measurements = serde_json::Map::new();
            for m in &schema.metrics {
                if let Some(v) = f.scores.as_ref().and_then(|s| s.get(&m.name)) {
                    measurements.insert(m.name.clone(), serde_json::json!(v));
                }
            }
            measurements.insert("Tissue share".into(), serde_json::json!(f.tissue_share));
            let name = if f.roi {
                format!("ROI {}", f.index)
            } else {
                format!("Field {}", f.index)
            };
            let mut props = serde_json::json!({
                "objectType": if f.roi { "annotation" } else { "detection" },
                "name": name,
                "isLocked": true,
                "measurements": measurements,
            });
            if let Some(e) = &f.error {
                props["classification"] = serde_json::json!({"name": "Unreadable"});
                props["error"] = serde_json::json!(e);
            }
            serde_json::json!({
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
                },
                "properties": props,
            })
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert!((percentile(&v, 0.1) - 1.4).abs() < 1e-12);
        assert!((percentile(&v, 0.9) - 4.6).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn the_draft_is_the_tissue_weighted_mean_rounded_to_the_step() {
        let schema = Schema::default();
        let n = schema.metrics.len();
        // Two fields: one with 0.1 of max everywhere (weight 1), one with 0.7 (weight 3).
        let a = vec![0.1f32; n];
        let b = vec![0.7f32; n];
        let s = summarise(&schema, &[(1.0, &a), (3.0, &b)]).unwrap();
        for (i, m) in schema.metrics.iter().enumerate() {
            let expected = (0.1 * m.max * 1.0 + 0.7 * m.max * 3.0) / 4.0;
            assert!((f64::from(s.raw[i]) * m.max - expected).abs() < 1e-5);
            assert_eq!(s.scores[&m.name], schema.round_to_step(expected));
            assert!(s.p10[i] < s.p90[i]);
            assert!((s.uncertainty[i] - (s.p90[i] - s.p10[i])).abs() < 1e-12);
        }
        assert_eq!(s.fields, 2);
        assert_eq!(s.total, schema.total(&s.scores));
    }

    #[test]
    fn unusable_fields_are_left_out() {
        let schema = Schema::default();
        let n = schema.metrics.len();
        let nan = vec![f32::NAN; n];
        let ok = vec![0.5f32; n];
        assert!(summarise(&schema, &[(1.0, &nan)]).is_none());
        assert!(summarise(&schema, &[]).is_none());
        let s = summarise(&schema, &[(1.0, &nan), (0.0, &ok), (0.5, &ok)]).unwrap();
        assert_eq!(s.fields, 1);
        // Out-of-range outputs are clipped to the metric's range before averaging.
        let high = vec![3.0f32; n];
        let s = summarise(&schema, &[(1.0, &high)]).unwrap();
        for m in &schema.metrics {
            assert_eq!(s.scores[&m.name], m.max);
        }
    }

    #[test]
    fn geojson_has_one_closed_polygon_per_field_with_scores_as_measurements() {
        let schema = Schema::default();
        let scores: Scores = schema
            .metrics
            .iter()
            .map(|m| (m.name.clone(), 1.0))
            .collect();
        let fields = vec![
            FieldRow {
                index: 0,
                x: -10,
                y: 20,
                width: 100,
                height: 50,
                tissue_share: 0.5,
                scores: Some(scores),
                raw: None,
                error: None,
                roi: false,
                created_by: None,
            },
            FieldRow {
                index: 1,
                x: 90,
                y: 20,
                width: 100,
                height: 50,
                tissue_share: 0.3,
                scores: None,
                raw: None,
                error: Some("unreadable: bad tile".into()),
                roi: false,
                created_by: None,
            },
        ];
        let g = fields_geojson(&schema, &fields);
        assert_eq!(g["type"], "FeatureCollection");
        let f0 = &g["features"][0];
        assert_eq!(f0["geometry"]["type"], "Polygon");
        let ring = f0["geometry"]["coordinates"][0].as_array().unwrap();
        assert_eq!(ring.len(), 5);
        assert_eq!(ring[0], ring[4]);
        assert_eq!(ring[2], serde_json::json!([90, 70]));
        let name = &schema.metrics[0].name;
        assert_eq!(f0["properties"]["measurements"][name.as_str()], 1.0);
        assert_eq!(f0["properties"]["objectType"], "detection");
        assert_eq!(
            g["features"][1]["properties"]["classification"]["name"],
            "Unreadable"
        );
        let header = fields_csv_header(&schema);
        let rec = fields_csv_record(&schema, &fields[1]);
        assert_eq!(header.len(), rec.len());
        assert!(rec.last().unwrap().contains("unreadable"));
    }
}
