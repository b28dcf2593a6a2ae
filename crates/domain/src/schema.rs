//! The scoring schema: which metrics are scored, their ranges and the step grid.
//!
//! The schema is data. The default is the original system's pancreas schema; a lab can score
//! other metrics by passing a TOML or JSON file with the same shape.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Scores keyed by metric name, in schema order.
pub type Scores = IndexMap<String, f64>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metric {
    pub name: String,
    /// Highest allowed value; the network's raw output is multiplied by it.
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schema {
    /// Short name of the schema, shown in outputs and exports.
    #[serde(default = "default_name")]
    pub name: String,
    /// Scores are rounded to multiples of this step.
    pub step: f64,
    pub metrics: Vec<Metric>,
    /// Pixel size (µm per pixel) of the images the model was trained on, when known. Images
    /// whose resolution tags say otherwise get a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_size_um: Option<f64>,
}

fn default_name() -> String {
    "custom".to_string()
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    #[error(
        "the schema has no metrics: list at least one [[metrics]] entry with a name and a max"
    )]
    NoMetrics,
    #[error("the schema's step must be a positive number (got {0})")]
    BadStep(f64),
    #[error("metric {0:?}: max must be a positive number (got {1})")]
    BadMax(String, f64),
    #[error("metric {0:?}: max {1} is not a multiple of the step {2}")]
    MaxOffGrid(String, f64, f64),
    #[error("metric names must be non-empty and unique (problem with {0:?})")]
    BadName(String),
    #[error("could not read the schema as {format}: {message}")]
    Parse {
        format: &'static str,
        message: String,
    },
    #[error("value for {metric:?} must be between 0 and {max} in steps of {step} (got {value})")]
    OutOfRange {
        metric: String,
        value: f64,
        max: f64,
        step: f64,
    },
    #[error("{0:?} is not a metric of this schema (expected one of: {1})")]
    UnknownMetric(String, String),
}

impl Default for Schema {
    /// The original system's schema: four pancreas metrics, quarter steps.
    fn default() -> Self {
        let m = |name: &str, max: f64| Metric {
            name: name.to_string(),
            max,
        };
        Schema {
            name: "pancreas-v1".to_string(),
            step: 0.25,
            metrics: vec![
                m("Pancreatic Architecture", 4.0),
                m("Glandular Atrophy", 3.0),
                m("Pseudotubular Complexes", 3.0),
                m("Fibrosis", 4.0),
            ],
            pixel_size_um: None,
        }
    }
}

fn is_on_grid(value: f64, step: f64) -> bool {
    let k = value / step;
    (k - k.round()).abs() < 1e-9
}

/// How far from the grid a typed value may be and still count as on it (float noise such as
/// 1.2500000001); it is then stored as the grid value itself.
pub const GRID_TOLERANCE: f64 = 1e-9;

/// The grid point within [`GRID_TOLERANCE`] of `value`, if there is one.
fn snap_to_grid(value: f64, step: f64) -> Option<f64> {
    let snapped = (value / step).round() * step + 0.0; // + 0.0 turns -0.0 into 0.0
    ((value - snapped).abs() <= GRID_TOLERANCE).then_some(snapped)
}

impl Schema {
    /// Parses a schema from TOML text, then validates it.
    pub fn from_toml(text: &str) -> Result<Self, SchemaError> {
        let s: Schema = toml::from_str(text).map_err(|e| SchemaError::Parse {
            format: "TOML",
            message: e.to_string(),
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Parses a schema from JSON text, then validates it.
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        let s: Schema = serde_json::from_str(text).map_err(|e| SchemaError::Parse {
            format: "JSON",
            message: e.to_string(),
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Parses JSON when the text looks like JSON, TOML otherwise.
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        if text.trim_start().starts_with('{') {
            Self::from_json(text)
        } else {
            Self::from_toml(text)
        }
    }

    pub fn validate(&self) -> Result<(), SchemaError> {
        if !(self.step.is_finite() && self.step > 0.0) {
            return Err(SchemaError::BadStep(self.step));
        }
        if self.metrics.is_empty() {
            return Err(SchemaError::NoMetrics);
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.metrics {
            if m.name.trim().is_empty() || !seen.insert(m.name.as_str()) {
                return Err(SchemaError::BadName(m.name.clone()));
            }
            if !(m.max.is_finite() && m.max > 0.0) {
                return Err(SchemaError::BadMax(m.name.clone(), m.max));
            }
            if !is_on_grid(m.max, self.step) {
                return Err(SchemaError::MaxOffGrid(m.name.clone(), m.max, self.step));
            }
        }
        Ok(())
    }

    pub fn metric_names(&self) -> Vec<&str> {
        self.metrics.iter().map(|m| m.name.as_str()).collect()
    }

    /// Rounds `value` to the nearest multiple of the step, ties to even (Python's `round`).
    pub fn round_to_step(&self, value: f64) -> f64 {
        (value / self.step).round_ties_even() * self.step
    }

    /// Turns raw network outputs into scores exactly as the original does:
    /// raw × max → clip to [0, max] → round to the step (ties to even).
    ///
    /// `raw` must have one value per metric.
    pub fn scores_from_raw(&self, raw: &[f32]) -> Scores {
        assert_eq!(raw.len(), self.metrics.len(), "one raw output per metric");
        self.metrics
            .iter()
            .zip(raw)
            .map(|(m, &r)| {
                let scaled = (f64::from(r) * m.max).clamp(0.0, m.max);
                let v = if scaled.is_nan() {
                    0.0
                } else {
                    self.round_to_step(scaled)
                };
                (m.name.clone(), v)
            })
            .collect()
    }

    /// Total of a score set, kept on the step grid (no floating-point drift from summing).
    pub fn total(&self, scores: &Scores) -> f64 {
        let sum: f64 = scores.values().sum();
        self.round_to_step(sum)
    }

    /// Checks one human-entered value: known metric, inside [0, max], on the step grid.
    /// Returns the value to store: the grid point itself (a value within [`GRID_TOLERANCE`] of
    /// one is snapped to it; any other off-grid value is refused).
    pub fn check_value(&self, metric: &str, value: f64) -> Result<f64, SchemaError> {
        let m = self
            .metrics
            .iter()
            .find(|m| m.name == metric)
            .ok_or_else(|| {
                SchemaError::UnknownMetric(metric.to_string(), self.metric_names().join(", "))
            })?;
        let out_of_range = || SchemaError::OutOfRange {
            metric: metric.to_string(),
            value,
            max: m.max,
            step: self.step,
        };
        if !value.is_finite() {
            return Err(out_of_range());
        }
        let v = snap_to_grid(value, self.step).ok_or_else(out_of_range)?;
        if !(0.0..=m.max).contains(&v) {
            return Err(out_of_range());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_original_schema() {
        let s = Schema::default();
        s.validate().unwrap();
        assert_eq!(
            s.metric_names(),
            [
                "Pancreatic Architecture",
                "Glandular Atrophy",
                "Pseudotubular Complexes",
                "Fibrosis"
            ]
        );
        let maxima: Vec<f64> = s.metrics.iter().map(|m| m.max).collect();
        assert_eq!(maxima, [4.0, 3.0, 3.0, 4.0]);
        assert_eq!(s.step, 0.25);
    }

    #[test]
    fn clipping_below_zero_and_above_max() {
        let s = Schema::default();
        let sc = s.scores_from_raw(&[-0.3, 1.7, 1.0, 0.0]);
        let v: Vec<f64> = sc.values().copied().collect();
        assert_eq!(v, [0.0, 3.0, 3.0, 0.0]);
        assert_eq!(s.total(&sc), 6.0);
        // NaN never becomes a score outside the range.
        let sc = s.scores_from_raw(&[f32::NAN, 0.5, 0.5, 0.5]);
        assert_eq!(sc["Pancreatic Architecture"], 0.0);
    }

    #[test]
    fn exact_ties_round_to_even() {
        let s = Schema::default();
        // 0.125 and 0.375 sit exactly between two quarter steps (k = 0.5 and 1.5).
        assert_eq!(s.round_to_step(0.125), 0.0);
        assert_eq!(s.round_to_step(0.375), 0.5);
        assert_eq!(s.round_to_step(0.625), 0.5);
        assert_eq!(s.round_to_step(0.875), 1.0);
        assert_eq!(s.round_to_step(2.625), 2.5);
        // Just off a tie goes the nearest way.
        assert_eq!(s.round_to_step(0.1250001), 0.25);
        assert_eq!(s.round_to_step(0.3749999), 0.25);
        // raw 0.15625 × 4 = 0.625, exactly representable: a tie, to even → 0.5
        let sc = s.scores_from_raw(&[0.15625, 0.0, 0.0, 0.0]);
        assert_eq!(sc["Pancreatic Architecture"], 0.5);
    }

    #[test]
    fn schema_from_toml_and_json() {
        let toml = r#"
            name = "liver"
            step = 0.5
            [[metrics]]
            name = "Steatosis"
            max = 3
            [[metrics]]
            name = "Inflammation"
            max = 2
        "#;
        let s = Schema::from_toml(toml).unwrap();
        assert_eq!(s.metric_names(), ["Steatosis", "Inflammation"]);
        let j = r#"{"name":"x","step":1,"metrics":[{"name":"A","max":5}]}"#;
        let s = Schema::parse(j).unwrap();
        assert_eq!(s.metrics[0].max, 5.0);
        let sc = s.scores_from_raw(&[0.55]);
        assert_eq!(sc["A"], 3.0);
    }

    #[test]
    fn schema_validation_names_the_problem() {
        let bad = |t: &str| Schema::parse(t).unwrap_err();
        assert_eq!(bad(r#"{"step":0.25,"metrics":[]}"#), SchemaError::NoMetrics);
        assert_eq!(
            bad(r#"{"step":0,"metrics":[{"name":"A","max":1}]}"#),
            SchemaError::BadStep(0.0)
        );
        assert_eq!(
            bad(r#"{"step":0.25,"metrics":[{"name":"A","max":-1}]}"#),
            SchemaError::BadMax("A".into(), -1.0)
        );
        assert_eq!(
            bad(r#"{"step":0.25,"metrics":[{"name":"A","max":1.1}]}"#),
            SchemaError::MaxOffGrid("A".into(), 1.1, 0.25)
        );
        assert_eq!(
            bad(r#"{"step":0.25,"metrics":[{"name":"A","max":1},{"name":"A","max":2}]}"#),
            SchemaError::BadName("A".into())
        );
        assert!(matches!(bad("step = ["), SchemaError::Parse { .. }));
    }

    #[test]
    fn check_value_enforces_range_and_grid() {
        let s = Schema::default();
        s.check_value("Fibrosis", 3.75).unwrap();
        s.check_value("Fibrosis", 0.0).unwrap();
        assert!(s.check_value("Fibrosis", 4.25).is_err());
        assert!(s.check_value("Fibrosis", -0.25).is_err());
        assert!(s.check_value("Fibrosis", 1.1).is_err());
        assert!(s.check_value("Glandular Atrophy", 3.25).is_err());
        assert!(s.check_value("Fibrosis", f64::NAN).is_err());
        assert!(s.check_value("Fibrosis", f64::INFINITY).is_err());
        // Float noise snaps to the grid point; anything further off is refused.
        assert_eq!(s.check_value("Fibrosis", 1.2500000001).unwrap(), 1.25);
        assert_eq!(
            s.check_value("Fibrosis", 5e-324).unwrap().to_bits(),
            0f64.to_bits()
        );
        assert_eq!(
            s.check_value("Fibrosis", -1e-12).unwrap().to_bits(),
            0f64.to_bits()
        );
        assert_eq!(s.check_value("Fibrosis", 4.0000000005).unwrap(), 4.0);
        assert!(s.check_value("Fibrosis", 1.250001).is_err());
        assert!(s.check_value("Fibrosis", 4.000001).is_err());
        assert!(matches!(
            s.check_value("Steatosis", 1.0),
            Err(SchemaError::UnknownMetric(..))
        ));
    }
}
