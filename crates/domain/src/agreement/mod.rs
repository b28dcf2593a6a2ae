//! Agreement between raters who scored the same images: mean absolute error, Cohen's kappa
//! (unweighted, linear or quadratic), confusion matrices, Bland–Altman statistics and the six
//! Shrout–Fleiss / McGraw–Wong intraclass correlations. The numbers match the reference
//! implementations the fixtures in `shared/fixtures/agreement` were made with: kappa and the
//! confusion matrix follow scikit-learn's `cohen_kappa_score` / `confusion_matrix` on grid
//! indices with every grid point as a label, Bland–Altman follows the usual numpy formulas
//! (d = a − b, sample SD with ddof = 1, limits mean ± 1.96 SD), and the ICC table follows
//! pingouin's `intraclass_corr` (two-way ANOVA mean squares, F tests against the within-image
//! or residual mean square). The 95% confidence intervals are computed the way pingouin does
//! it, from exact F-distribution quantiles (statrs' regularised incomplete beta, inverted by
//! bisection): for
//! ICC(1,·) and ICC(C,·) the observed F is divided and multiplied by the 97.5% quantiles, for
//! ICC(A,·) McGraw and Wong's interval with Satterthwaite-style, usually non-integer degrees of
//! freedom is used, and the k-rater intervals follow from the single-rater ones. Unlike
//! pingouin, intervals are not rounded. Statistics that do not exist for the data (too few
//! images, a rater who gave every image the same score, no variance at all) come back as
//! [`Stat::NotDefined`] / [`Interval::NotDefined`] with a reason in plain English, never as
//! NaN.

mod icc;
mod study;
#[cfg(test)]
mod tests;

use icc::icc_rows;
pub use icc::{icc, IccRow, IccTable, NotDefined};
use serde::{Deserialize, Serialize};
pub use study::*;

/// Fewest images two raters must both have scored before any agreement statistic is reported.
pub const MIN_IMAGES: usize = 3;

/// Largest score scale [`grid`] builds (0 … max in steps); larger scales give an empty grid.
pub const MAX_GRID_POINTS: usize = 1001;

/// A statistic that may not exist for the data.
///
/// JSON: `{"value": 0.81}` or `{"not_defined": "reason"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// The statistic's value (always finite).
    Value(f64),
    /// Why the statistic does not exist for these scores.
    NotDefined(String),
}

impl Stat {
    /// The value, if the statistic is defined.
    pub fn value(&self) -> Option<f64> {
        match self {
            Stat::Value(v) => Some(*v),
            Stat::NotDefined(_) => None,
        }
    }

    /// Why the statistic is not defined, if it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Stat::Value(_) => None,
            Stat::NotDefined(r) => Some(r),
        }
    }

    /// `Value(x)` when `x` is finite, otherwise `NotDefined` with a generic reason.
    fn finite(x: f64) -> Stat {
        if x.is_finite() {
            Stat::Value(x)
        } else {
            Stat::NotDefined(TOO_LARGE.to_string())
        }
    }
}

/// A point estimate with its 95% confidence interval, or why it does not exist.
///
/// JSON: `{"value": 0.81, "ci95": [0.66, 0.9]}` or `{"not_defined": "reason"}`. The enum is
/// untagged so that both shapes are plain objects (and the OpenAPI schema says so); hence the
/// reason is a named field: build it with [`Interval::not_defined`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Interval {
    /// The estimate and its 95% confidence interval (lower, upper).
    Value { value: f64, ci95: [f64; 2] },
    /// Why the statistic does not exist for these scores.
    NotDefined { not_defined: String },
}

impl Interval {
    /// `NotDefined` with this reason.
    pub fn not_defined(reason: impl Into<String>) -> Interval {
        Interval::NotDefined {
            not_defined: reason.into(),
        }
    }

    /// The point estimate, if defined.
    pub fn value(&self) -> Option<f64> {
        match self {
            Interval::Value { value, .. } => Some(*value),
            Interval::NotDefined { .. } => None,
        }
    }

    /// The 95% confidence interval, if defined.
    pub fn ci95(&self) -> Option<[f64; 2]> {
        match self {
            Interval::Value { ci95, .. } => Some(*ci95),
            Interval::NotDefined { .. } => None,
        }
    }

    /// Why the statistic is not defined, if it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Interval::Value { .. } => None,
            Interval::NotDefined { not_defined } => Some(not_defined),
        }
    }
}

/// Disagreement weights for Cohen's kappa (scikit-learn's `weights=None | "linear" |
/// "quadratic"`): a disagreement of `d` grid steps costs 1, `d` or `d²`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KappaWeights {
    None,
    Linear,
    Quadratic,
}

const TOO_LARGE: &str = "the scores are too large to compute this statistic";
const NOT_NUMBERS: &str = "some scores are missing or not numbers";
const IDENTICAL: &str = "all scores are identical, so there is no variance to compare";
const SAME_AVERAGE: &str = "every image has the same average score, so the images cannot be told \
     apart and the ICC is not defined";
const BAD_GRID: &str = "the score scale is not valid: the step must be positive, the maximum at \
     least 0, and the scale at most 1001 points";

fn too_few(n: usize) -> String {
    format!(
        "fewer than {MIN_IMAGES} images scored by both raters (only {n}), too few to measure \
         agreement"
    )
}

fn mismatch(na: usize, nb: usize) -> String {
    format!(
        "the two raters' score lists have different lengths ({na} and {nb}), so the images \
         cannot be paired"
    )
}

/// Checks that two score lists can be paired: same length and only finite numbers.
fn check_pair(a: &[f64], b: &[f64]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(mismatch(a.len(), b.len()));
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(NOT_NUMBERS.to_string());
    }
    Ok(())
}

/// Number of points of the grid 0, step, …, max, or `None` when the grid is not valid.
fn grid_len(max: f64, step: f64) -> Option<usize> {
    if !(step.is_finite() && step > 0.0 && max.is_finite() && max >= 0.0) {
        return None;
    }
    let last = (max / step).round();
    if !last.is_finite() || last >= MAX_GRID_POINTS as f64 {
        return None;
    }
    Some(last as usize + 1)
}

/// The score grid 0, step, 2·step, …, max (max rounded to the nearest multiple of step).
///
/// Empty when `step` is not positive and finite, `max` is negative or not finite, or the grid
/// would have more than [`MAX_GRID_POINTS`] points.
pub fn grid(max: f64, step: f64) -> Vec<f64> {
    match grid_len(max, step) {
        Some(len) => (0..len).map(|i| i as f64 * step).collect(),
        None => Vec::new(),
    }
}

/// Index of the grid point nearest to `value`: `round(value / step)` with ties to even, as
/// numpy's `rint`. Negative values, NaN and an invalid step give 0; the index is not clamped
/// at the top of the grid (the caller knows its length; [`pair_agreement`] clamps).
pub fn grid_index(value: f64, step: f64) -> usize {
    let r = (value / step).round_ties_even();
    if r.is_finite() && r > 0.0 {
        // `as` saturates at usize::MAX; no overflow possible.
        r as usize
    } else {
        0
    }
}

/// Mean absolute difference between paired scores.
///
/// Defined for one image or more (unlike the other statistics, it needs no variance and is
/// meaningful even for a single image). Not defined for no images, lists of different lengths
/// or scores that are not numbers.
pub fn mae(a: &[f64], b: &[f64]) -> Stat {
    if let Err(reason) = check_pair(a, b) {
        return Stat::NotDefined(reason);
    }
    if a.is_empty() {
        return Stat::NotDefined("no images were scored by both raters".to_string());
    }
    let sum: f64 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
    Stat::finite(sum / a.len() as f64)
}

/// Confusion matrix of two raters' grid indices: `m[i][j]` counts images that rater `a` put
/// at grid point `i` and rater `b` at grid point `j` (rows `a`, columns `b`), as
/// scikit-learn's `confusion_matrix(a, b, labels=0..n_labels)`.
///
/// Pairs with an index `>= n_labels` are left out (as scikit-learn does for values not in
/// `labels`). If the lists have different lengths only the first `min(len)` pairs are counted;
/// [`pair_agreement`] checks lengths before calling this.
pub fn confusion(a: &[usize], b: &[usize], n_labels: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; n_labels]; n_labels];
    for (&i, &j) in a.iter().zip(b) {
        if i < n_labels && j < n_labels {
            m[i][j] += 1;
        }
    }
    m
}

/// Cohen's kappa between two raters' grid indices with `n_labels` possible labels, as
/// scikit-learn's `cohen_kappa_score(a, b, labels=0..n_labels, weights=w)`.
///
/// Pairs with an index `>= n_labels` are left out. Not defined (instead of scikit-learn's NaN
/// or 0) when the lists have different lengths, fewer than [`MIN_IMAGES`] pairs remain, or
/// either rater gave every image the same score: with one constant rater scikit-learn returns
/// exactly 0, which says nothing about agreement, so it is reported as not defined too.
pub fn cohen_kappa(a: &[usize], b: &[usize], n_labels: usize, w: KappaWeights) -> Stat {
    if a.len() != b.len() {
        return Stat::NotDefined(mismatch(a.len(), b.len()));
    }
    let m = confusion(a, b, n_labels);
    let rows: Vec<f64> = m.iter().map(|r| r.iter().sum::<u64>() as f64).collect();
    let cols: Vec<f64> = (0..n_labels)
        .map(|j| m.iter().map(|r| r[j]).sum::<u64>() as f64)
        .collect();
    let total: f64 = rows.iter().sum();
    let n = total as usize;
    if n < MIN_IMAGES {
        return Stat::NotDefined(too_few(n));
    }
    let const_a = rows.iter().filter(|&&c| c > 0.0).count() == 1;
    let const_b = cols.iter().filter(|&&c| c > 0.0).count() == 1;
    if const_a || const_b {
        let who = if const_a && const_b {
            "both raters"
        } else {
            "one rater"
        };
        return Stat::NotDefined(format!(
            "every image got the same score from {who}, so kappa is not defined"
        ));
    }
    let weight = |i: usize, j: usize| -> f64 {
        let d = i.abs_diff(j) as f64;
        match w {
            KappaWeights::None => {
                if i == j {
                    0.0
                } else {
                    1.0
                }
            }
            KappaWeights::Linear => d,
            KappaWeights::Quadratic => d * d,
        }
    };
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..n_labels {
        for j in 0..n_labels {
            let wij = weight(i, j);
            if wij != 0.0 {
                observed += wij * m[i][j] as f64;
                expected += wij * rows[i] * cols[j] / total;
            }
        }
    }
    if expected <= 0.0 {
        // Cannot happen when neither rater is constant; kept so no NaN can escape.
        return Stat::NotDefined(IDENTICAL.to_string());
    }
    Stat::finite(1.0 - observed / expected)
}

/// Bland–Altman statistics of two raters' scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlandAltman {
    /// Mean of d = a − b (the bias of rater a over rater b).
    pub mean_diff: Stat,
    /// Sample standard deviation of d (ddof = 1).
    pub sd_diff: Stat,
    /// mean_diff − 1.96 sd_diff.
    pub loa_low: Stat,
    /// mean_diff + 1.96 sd_diff.
    pub loa_high: Stat,
    /// One point per image: [(a + b) / 2, a − b].
    pub points: Vec<[f64; 2]>,
}

/// Bland–Altman statistics: d = a − b, its mean, sample SD (ddof = 1) and the limits of
/// agreement mean ± 1.96 SD, plus the plot points [(a + b) / 2, a − b].
///
/// The points are given for any number of images; the statistics need [`MIN_IMAGES`]. Lists of
/// different lengths or with scores that are not numbers give no points and no statistics.
pub fn bland_altman(a: &[f64], b: &[f64]) -> BlandAltman {
    let not_defined = |reason: String| BlandAltman {
        mean_diff: Stat::NotDefined(reason.clone()),
        sd_diff: Stat::NotDefined(reason.clone()),
        loa_low: Stat::NotDefined(reason.clone()),
        loa_high: Stat::NotDefined(reason),
        points: Vec::new(),
    };
    if let Err(reason) = check_pair(a, b) {
        return not_defined(reason);
    }
    let points: Vec<[f64; 2]> = a
        .iter()
        .zip(b)
        .map(|(x, y)| [(x + y) / 2.0, x - y])
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .collect();
    let n = a.len();
    if n < MIN_IMAGES || points.len() != n {
        let reason = if n < MIN_IMAGES {
            too_few(n)
        } else {
            TOO_LARGE.to_string()
        };
        return BlandAltman {
            points,
            ..not_defined(reason)
        };
    }
    let nf = n as f64;
    let mean = points.iter().map(|p| p[1]).sum::<f64>() / nf;
    let var = points.iter().map(|p| (p[1] - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let sd = var.sqrt();
    BlandAltman {
        mean_diff: Stat::finite(mean),
        sd_diff: Stat::finite(sd),
        loa_low: Stat::finite(mean - 1.96 * sd),
        loa_high: Stat::finite(mean + 1.96 * sd),
        points,
    }
}

/// Everything the app reports about the agreement of two raters on the same images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PairAgreement {
    /// Number of images scored by both raters (0 when the two lists cannot be paired).
    pub n: usize,
    /// Mean absolute difference of the scores.
    pub mae: Stat,
    /// Quadratic-weighted Cohen's kappa on the score grid (every grid point a category).
    pub qwk: Stat,
    /// ICC(2,1) = ICC(A,1): absolute agreement of single scores.
    pub icc2_1: Interval,
    /// ICC(3,1) = ICC(C,1): consistency of single scores (a constant offset is not penalised).
    pub icc3_1: Interval,
    pub bland_altman: BlandAltman,
    /// Rows: rater a's grid point, columns: rater b's grid point.
    pub confusion: Vec<Vec<u64>>,
}

/// Agreement of two raters' scores `a[i]`, `b[i]` on the same images, on the score grid
/// 0, step, …, max.
///
/// MAE, Bland–Altman and ICC use the scores as given; kappa and the confusion matrix use grid
/// points: each score is rounded to the nearest grid point (ties to even) and clamped to the
/// grid. With fewer than [`MIN_IMAGES`] images every statistic except MAE is not defined (the
/// confusion matrix and Bland–Altman points are still given). Lists of different lengths or
/// with scores that are not numbers give `n = 0`, an all-zero confusion matrix, no Bland–Altman
/// points and no statistics; an invalid grid gives an empty confusion matrix and no kappa.
pub fn pair_agreement(a: &[f64], b: &[f64], max: f64, step: f64) -> PairAgreement {
    let n_labels = grid_len(max, step).unwrap_or(0);
    if let Err(reason) = check_pair(a, b) {
        return PairAgreement {
            n: 0,
            mae: Stat::NotDefined(reason.clone()),
            qwk: Stat::NotDefined(reason.clone()),
            icc2_1: Interval::not_defined(reason.clone()),
            icc3_1: Interval::not_defined(reason.clone()),
            bland_altman: bland_altman(a, b),
            confusion: vec![vec![0; n_labels]; n_labels],
        };
    }
    let n = a.len();
    let to_index = |v: &f64| grid_index(*v, step).min(n_labels.saturating_sub(1));
    let (ia, ib): (Vec<usize>, Vec<usize>) = if n_labels == 0 {
        (Vec::new(), Vec::new())
    } else {
        (
            a.iter().map(to_index).collect(),
            b.iter().map(to_index).collect(),
        )
    };
    let qwk = if n_labels == 0 {
        Stat::NotDefined(BAD_GRID.to_string())
    } else {
        cohen_kappa(&ia, &ib, n_labels, KappaWeights::Quadratic)
    };
    let (icc2_1, icc3_1) = if n < MIN_IMAGES {
        (
            Interval::not_defined(too_few(n)),
            Interval::not_defined(too_few(n)),
        )
    } else {
        // Row by row, so that one form that cannot be computed does not hide the other.
        let interval = |row: Result<IccRow, String>| match row {
            Ok(r) => Interval::Value {
                value: r.icc,
                ci95: r.ci95,
            },
            Err(reason) => Interval::not_defined(reason),
        };
        match icc_rows(&[a.to_vec(), b.to_vec()]) {
            Ok([_, icc2, icc3, ..]) => (interval(icc2), interval(icc3)),
            Err(reason) => (
                Interval::not_defined(reason.clone()),
                Interval::not_defined(reason),
            ),
        }
    };
    PairAgreement {
        n,
        mae: mae(a, b),
        qwk,
        icc2_1,
        icc3_1,
        bland_altman: bland_altman(a, b),
        confusion: confusion(&ia, &ib, n_labels),
    }
}
