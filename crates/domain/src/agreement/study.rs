//! A reader study's agreement report: for every metric, the AI and each reader pairwise, all
//! readers together (ICC), and, in blinded studies, how each reader's scores moved between
//! their blind score and their revised score relative to the AI.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::{grid, icc, pair_agreement, IccRow, Interval, PairAgreement, Stat};
use crate::Schema;

/// The AI rater's name in agreement tables.
pub const AI_RATER: &str = "ai";

/// Scores per metric name.
pub type MetricScores = BTreeMap<String, f64>;

/// What was scored on one image of a study.
#[derive(Debug, Clone, Default)]
pub struct ImageRatings {
    /// The AI draft's (rounded) scores.
    pub ai: Option<MetricScores>,
    /// Each reader's blind score (before seeing the AI draft).
    pub blind: BTreeMap<String, MetricScores>,
    /// Each reader's revised (final) score.
    pub revised: BTreeMap<String, MetricScores>,
}

impl ImageRatings {
    /// The value `rater` (a reader, or [`AI_RATER`]) gave `metric`: readers by their revised
    /// score.
    pub fn value(&self, rater: &str, metric: &str) -> Option<f64> {
        let scores = if rater == AI_RATER {
            self.ai.as_ref()
        } else {
            self.revised.get(rater)
        };
        scores.and_then(|m| m.get(metric)).copied()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PairResult {
    pub a: String,
    pub b: String,
    #[serde(flatten)]
    #[schema(inline)]
    pub stats: PairAgreement,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadersIcc {
    pub n: usize,
    pub icc2_1: Interval,
    pub icc3_1: Interval,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Shift {
    pub reader: String,
    /// Images with a blind score, a revised score and an AI draft.
    pub n: usize,
    /// Revised differs from blind.
    pub changed: usize,
    /// Revised is closer to the AI than blind was.
    pub toward_ai: usize,
    pub away_from_ai: usize,
    pub mean_abs_to_ai_blind: Stat,
    pub mean_abs_to_ai_revised: Stat,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricAgreement {
    pub metric: String,
    pub max: f64,
    pub step: f64,
    pub grid: Vec<f64>,
    pub raters: Vec<String>,
    pub pairs: Vec<PairResult>,
    pub icc_readers: ReadersIcc,
    pub shift: Vec<Shift>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Agreement {
    pub study_id: i64,
    pub metrics: Vec<MetricAgreement>,
}

fn interval(t: &IccRow) -> Interval {
    Interval::Value {
        value: t.icc,
        ci95: t.ci95,
    }
}

/// The agreement report of study `study_id` read by `readers` (blinded: with the shift
/// between blind and revised scores).
pub fn study_agreement(
    study_id: i64,
    readers: &[String],
    blinded: bool,
    schema: &Schema,
    images: &[ImageRatings],
) -> Agreement {
    let mut raters = vec![AI_RATER.to_string()];
    raters.extend(readers.iter().cloned());
    let mut metrics = Vec::new();
    for m in &schema.metrics {
        let mut pairs = Vec::new();
        for i in 0..raters.len() {
            for j in i + 1..raters.len() {
                let (a, b): (Vec<f64>, Vec<f64>) = images
                    .iter()
                    .filter_map(|img| {
                        Some((
                            img.value(&raters[i], &m.name)?,
                            img.value(&raters[j], &m.name)?,
                        ))
                    })
                    .unzip();
                pairs.push(PairResult {
                    a: raters[i].clone(),
                    b: raters[j].clone(),
                    stats: pair_agreement(&a, &b, m.max, schema.step),
                });
            }
        }
        // All human readers together, on the images every one of them scored.
        let complete: Vec<&ImageRatings> = images
            .iter()
            .filter(|img| readers.iter().all(|r| img.value(r, &m.name).is_some()))
            .collect();
        let icc_readers = if readers.len() < 2 {
            let why = "the study needs at least two readers for reader-to-reader ICC";
            ReadersIcc {
                n: complete.len(),
                icc2_1: Interval::not_defined(why),
                icc3_1: Interval::not_defined(why),
            }
        } else {
            let ratings: Vec<Vec<f64>> = readers
                .iter()
                .map(|r| {
                    complete
                        .iter()
                        .filter_map(|img| img.value(r, &m.name))
                        .collect()
                })
                .collect();
            match icc(&ratings) {
                Ok(t) => ReadersIcc {
                    n: complete.len(),
                    icc2_1: interval(&t.icc2),
                    icc3_1: interval(&t.icc3),
                },
                Err(why) => ReadersIcc {
                    n: complete.len(),
                    icc2_1: Interval::not_defined(why.0.clone()),
                    icc3_1: Interval::not_defined(why.0),
                },
            }
        };
        let shift = if blinded {
            readers
                .iter()
                .map(|r| shift_of(r, &m.name, images))
                .collect()
        } else {
            Vec::new()
        };
        metrics.push(MetricAgreement {
            metric: m.name.clone(),
            max: m.max,
            step: schema.step,
            grid: grid(m.max, schema.step),
            raters: raters.clone(),
            pairs,
            icc_readers,
            shift,
        });
    }
    Agreement { study_id, metrics }
}

fn shift_of(reader: &str, metric: &str, images: &[ImageRatings]) -> Shift {
    let mut n = 0;
    let (mut changed, mut toward, mut away) = (0, 0, 0);
    let (mut sum_blind, mut sum_revised) = (0.0, 0.0);
    for img in images {
        let blind = img.blind.get(reader).and_then(|m| m.get(metric)).copied();
        let revised = img.value(reader, metric);
        let ai = img.value(AI_RATER, metric);
        let (Some(blind), Some(revised), Some(ai)) = (blind, revised, ai) else {
            continue;
        };
        n += 1;
        let (db, dr) = ((blind - ai).abs(), (revised - ai).abs());
        sum_blind += db;
        sum_revised += dr;
        if revised != blind {
            changed += 1;
        }
        if dr < db {
            toward += 1;
        } else if dr > db {
            away += 1;
        }
    }
    let mean = |sum: f64| {
        if n == 0 {
            Stat::NotDefined("no image has both a blind and a revised score yet".into())
        } else {
            Stat::Value(sum / n as f64)
        }
    };
    Shift {
        reader: reader.to_string(),
        n,
        changed,
        toward_ai: toward,
        away_from_ai: away,
        mean_abs_to_ai_blind: mean(sum_blind),
        mean_abs_to_ai_revised: mean(sum_revised),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(v: f64) -> MetricScores {
        crate::Schema::default()
            .metrics
            .iter()
            .map(|m| (m.name.clone(), v))
            .collect()
    }

    #[test]
    fn a_reader_who_moves_to_the_ai_shows_in_the_shift() {
        let schema = crate::Schema::default();
        let readers = vec!["r1".to_string()];
        let images: Vec<ImageRatings> = (0..4)
            .map(|i| ImageRatings {
                ai: Some(scores(2.0)),
                blind: [("r1".into(), scores(f64::from(i) * 0.25))].into(),
                revised: [("r1".into(), scores(2.0))].into(),
            })
            .collect();
        let a = study_agreement(7, &readers, true, &schema, &images);
        assert_eq!(a.study_id, 7);
        let m = &a.metrics[0];
        assert_eq!(m.raters, vec!["ai", "r1"]);
        assert_eq!(m.pairs[0].stats.n, 4);
        assert_eq!(m.shift[0].n, 4);
        assert_eq!(m.shift[0].toward_ai, 4);
        assert_eq!(m.shift[0].mean_abs_to_ai_revised, Stat::Value(0.0));
        // One reader: no reader-to-reader ICC, with the reason.
        assert!(matches!(m.icc_readers.icc2_1, Interval::NotDefined { .. }));
    }
}
