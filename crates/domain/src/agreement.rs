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

use serde::{Deserialize, Serialize};
use statrs::function::beta::checked_beta_reg;

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

/// One intraclass correlation with its test, as a row of pingouin's `intraclass_corr` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IccRow {
    /// The intraclass correlation coefficient.
    pub icc: f64,
    /// 95% confidence interval (lower, upper), not rounded.
    pub ci95: [f64; 2],
    /// F statistic of the test ICC = 0 (pingouin's F). Not defined when the mean square it
    /// divides by is zero, so that F is infinite (`pval` is then 0): identical scores from every
    /// rater, or, for the two-way forms, scores that differ by the same amount on every image.
    pub f: Stat,
    /// Numerator degrees of freedom of the F test.
    pub df1: f64,
    /// Denominator degrees of freedom of the F test.
    pub df2: f64,
    /// p-value of the F test (upper tail).
    pub pval: f64,
}

/// The six intraclass correlations (Shrout & Fleiss 1979; McGraw & Wong 1996 names in
/// brackets), as pingouin's `intraclass_corr` reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IccTable {
    /// ICC(1,1): one-way random effects, single rater.
    pub icc1: IccRow,
    /// ICC(2,1) = ICC(A,1): two-way random effects, absolute agreement, single rater.
    pub icc2: IccRow,
    /// ICC(3,1) = ICC(C,1): two-way mixed effects, consistency, single rater.
    pub icc3: IccRow,
    /// ICC(1,k): one-way random effects, mean of k raters.
    pub icc1k: IccRow,
    /// ICC(2,k) = ICC(A,k): two-way random effects, absolute agreement, mean of k raters.
    pub icc2k: IccRow,
    /// ICC(3,k) = ICC(C,k): two-way mixed effects, consistency, mean of k raters.
    pub icc3k: IccRow,
}

/// Upper 97.5% point of the F distribution with `d1`, `d2` degrees of freedom (non-integer
/// allowed), or `None` when the degrees of freedom are not positive and finite or so extreme
/// that the quantile cannot be computed reliably.
fn f_upper_975(d1: f64, d2: f64) -> Option<f64> {
    if !(d1.is_finite() && d2.is_finite() && d1 > 0.0 && d2 > 0.0) {
        return None;
    }
    // For X ~ F(d1, d2), w = d2 / (d2 + d1 X) ~ Beta(d2/2, d1/2) and X > q exactly when w is
    // below the matching point, so q comes from the beta's 2.5% point (precise when q is large).
    let w = beta_quantile(d2 / 2.0, d1 / 2.0, 0.025)?;
    let q = if w <= 0.5 {
        d2 * (1.0 - w) / (d1 * w)
    } else {
        // 1 − w would lose digits: use u = 1 − w = d1 X / (d1 X + d2) ~ Beta(d1/2, d2/2).
        let u = beta_quantile(d1 / 2.0, d2 / 2.0, 0.975)?;
        d2 * u / (d1 * (1.0 - u))
    };
    // Extreme degrees of freedom (far outside anything an agreement study produces) can defeat
    // the incomplete beta; check the answer instead of trusting it.
    let tail = f_sf(q, d1, d2)?;
    (q.is_finite() && q > 0.0 && (tail - 0.025).abs() < 1e-6).then_some(q)
}

/// The `p` point of the Beta(a, b) distribution: the smallest double x in [0, 1] with
/// I_x(a, b) >= p. Bisection over the bit patterns of the doubles between 0 and 1 (which are
/// ordered like the numbers), so it always ends, in at most 63 steps, at the double where the
/// regularised incomplete beta crosses `p` (statrs' own inverse can loop forever for extreme
/// parameters).
fn beta_quantile(a: f64, b: f64, p: f64) -> Option<f64> {
    let (mut lo, mut hi) = (0.0f64.to_bits(), 1.0f64.to_bits());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let cdf = checked_beta_reg(a, b, f64::from_bits(mid)).ok()?;
        if !cdf.is_finite() {
            return None;
        }
        if cdf < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(f64::from_bits(hi))
}

/// Upper-tail probability P(X > f) for X ~ F(d1, d2); 0 for infinite `f`.
fn f_sf(f: f64, d1: f64, d2: f64) -> Option<f64> {
    if f.is_infinite() && f > 0.0 {
        return Some(0.0);
    }
    if f <= 0.0 {
        return Some(1.0);
    }
    let x = d2 / (d2 + d1 * f);
    checked_beta_reg(d2 / 2.0, d1 / 2.0, x).ok()
}

/// The intraclass correlations of `ratings[rater][image]` (complete data: every rater scored
/// every image), matching pingouin's `intraclass_corr`.
///
/// `Err(reason)` when the ICC is not defined: fewer than 2 raters, raters who scored different
/// numbers of images, scores that are not numbers, fewer than [`MIN_IMAGES`] images, all scores
/// identical, every image with the same average score, or (rarely) a confidence interval that
/// cannot be computed because the images differ far less than the raters disagree. When the
/// raters agree perfectly the ICCs are 1 with interval [1, 1], F is not defined (infinite) and
/// the p-value is 0; when their scores differ by the same amount on every image the same holds
/// for ICC(C,·), while ICC(A,·) is below 1 with a proper interval.
pub fn icc(ratings: &[Vec<f64>]) -> Result<IccTable, String> {
    let [icc1, icc2, icc3, icc1k, icc2k, icc3k] = icc_rows(ratings)?;
    Ok(IccTable {
        icc1: icc1?,
        icc2: icc2?,
        icc3: icc3?,
        icc1k: icc1k?,
        icc2k: icc2k?,
        icc3k: icc3k?,
    })
}

/// The rows of [`icc`] in table order (ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k), each with its
/// own `Err` when just that row cannot be computed; the outer `Err` when none can.
fn icc_rows(ratings: &[Vec<f64>]) -> Result<[Result<IccRow, String>; 6], String> {
    let k = ratings.len();
    if k < 2 {
        return Err("the ICC needs scores from at least 2 raters".to_string());
    }
    let n = ratings[0].len();
    if ratings.iter().any(|r| r.len() != n) {
        let lens: Vec<String> = ratings.iter().map(|r| r.len().to_string()).collect();
        return Err(format!(
            "the raters scored different numbers of images ({}); the ICC needs every rater to \
             score every image",
            lens.join(", ")
        ));
    }
    if ratings.iter().flatten().any(|v| !v.is_finite()) {
        return Err(NOT_NUMBERS.to_string());
    }
    if n < MIN_IMAGES {
        return Err(format!(
            "fewer than {MIN_IMAGES} images scored by every rater (only {n}), too few to measure \
             agreement"
        ));
    }
    let first = ratings[0][0];
    if ratings.iter().flatten().all(|&v| v == first) {
        return Err(IDENTICAL.to_string());
    }

    let (nf, kf) = (n as f64, k as f64);
    let grand = ratings.iter().flatten().sum::<f64>() / (nf * kf);
    let rater_means: Vec<f64> = ratings.iter().map(|r| r.iter().sum::<f64>() / nf).collect();
    let image_means: Vec<f64> = (0..n)
        .map(|i| ratings.iter().map(|r| r[i]).sum::<f64>() / kf)
        .collect();
    let ss_total: f64 = ratings.iter().flatten().map(|v| (v - grand).powi(2)).sum();
    let ss_images = kf * image_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_raters = nf * rater_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_error: f64 = ratings
        .iter()
        .zip(&rater_means)
        .flat_map(|(r, cm)| {
            r.iter()
                .zip(&image_means)
                .map(move |(v, im)| (v - im - cm + grand).powi(2))
        })
        .sum();
    if !(ss_total.is_finite() && ss_error.is_finite()) {
        return Err(TOO_LARGE.to_string());
    }
    // Sums of squares that are zero but for rounding (e.g. identical raters whose means were
    // rounded differently) are taken as exactly zero, so perfect agreement gives exact limits.
    let snap = |ss: f64| if ss <= 1e-12 * ss_total { 0.0 } else { ss };
    let (ss_images, ss_raters, ss_error) = (snap(ss_images), snap(ss_raters), snap(ss_error));
    if ss_images == 0.0 {
        return Err(SAME_AVERAGE.to_string());
    }

    let df1 = nf - 1.0;
    let df_within = nf * (kf - 1.0);
    let df_error = (nf - 1.0) * (kf - 1.0);
    let msb = ss_images / df1;
    let msw = (ss_raters + ss_error) / df_within;
    let msj = ss_raters / (kf - 1.0);
    let mse = ss_error / df_error;

    let icc1 = (msb - msw) / (msb + (kf - 1.0) * msw);
    let icc2 = (msb - mse) / (msb + (kf - 1.0) * mse + kf * (msj - mse) / nf);
    let icc3 = (msb - mse) / (msb + (kf - 1.0) * mse);
    let icc1k = (msb - msw) / msb;
    let icc2k = (msb - mse) / (msb + (msj - mse) / nf);
    let icc3k = (msb - mse) / msb;

    let not_computable = || {
        "this ICC cannot be computed for these scores: the images differ too little compared \
         with the disagreement between raters"
            .to_string()
    };

    // F tests: F = MSB / MSW (one-way) or MSB / MSE (two-way); infinite when the denominator is
    // zero, and then the p-value is 0.
    let test = |ms_den: f64, df2: f64| -> (f64, Option<f64>) {
        if ms_den == 0.0 {
            (f64::INFINITY, Some(0.0))
        } else {
            let f = msb / ms_den;
            (f, f_sf(f, df1, df2))
        }
    };
    let (f1, p1) = test(msw, df_within);
    let (f3, p3) = test(mse, df_error);

    // ICC(1,·) and ICC(C,·): the observed F divided and multiplied by F's 97.5% points gives
    // (single-rater CI, k-rater CI); an infinite F (perfect agreement) gives [1, 1].
    let f_ci = |f: f64, df2: f64| -> Result<([f64; 2], [f64; 2]), String> {
        if f.is_infinite() {
            return Ok(([1.0, 1.0], [1.0, 1.0]));
        }
        let fl = f / f_upper_975(df1, df2).ok_or_else(not_computable)?;
        let fu = f * f_upper_975(df2, df1).ok_or_else(not_computable)?;
        let single = [(fl - 1.0) / (fl + kf - 1.0), (fu - 1.0) / (fu + kf - 1.0)];
        let average = [1.0 - 1.0 / fl, 1.0 - 1.0 / fu];
        Ok((single, average))
    };
    let (ci1, ci1k) = match f_ci(f1, df_within) {
        Ok((s, a)) => (Ok(s), Ok(a)),
        Err(e) => (Err(e.clone()), Err(e)),
    };
    let (ci3, ci3k) = match f_ci(f3, df_error) {
        Ok((s, a)) => (Ok(s), Ok(a)),
        Err(e) => (Err(e.clone()), Err(e)),
    };

    // ICC(A,·): McGraw & Wong's interval with approximate degrees of freedom v. pingouin's
    // formula uses Fj = MSJ / MSE; here numerator and denominator are multiplied by MSE², which
    // is the same number but stays finite when MSE is zero.
    let ci2: Result<[f64; 2], String> = if msj == 0.0 && mse == 0.0 {
        // Perfect agreement: both limits are exactly 1 (the formulas below give 1 up to rounding).
        Ok([1.0, 1.0])
    } else {
        let a = nf * (1.0 + (kf - 1.0) * icc2) - kf * icc2;
        let vn = df_error * (kf * icc2 * msj + a * mse).powi(2);
        let vd = df1 * (kf * icc2 * msj).powi(2) + (a * mse).powi(2);
        let v = vn / vd;
        match (f_upper_975(df1, v), f_upper_975(v, df1)) {
            (Some(f2u), Some(f2l)) => {
                let c = kf * nf - kf - nf;
                let l2 = nf * (msb - f2u * mse) / (f2u * (kf * msj + c * mse) + nf * msb);
                let u2 = nf * (f2l * msb - mse) / (kf * msj + c * mse + nf * f2l * msb);
                Ok([l2, u2])
            }
            _ => Err(not_computable()),
        }
    };
    let ci2k = ci2.clone().map(|[l2, u2]| {
        [
            l2 * kf / (1.0 + l2 * (kf - 1.0)),
            u2 * kf / (1.0 + u2 * (kf - 1.0)),
        ]
    });

    // Why F can be infinite: its denominator, MSW or MSE, is zero.
    const SAME_SCORES: &str = "every rater gave each image the same score, so there is no \
         disagreement to test against and the F ratio is infinite";
    const SAME_DIFFERENCE: &str = "the raters' scores differ by the same amount on every image \
         (or not at all), so there is no residual disagreement to test against and the F ratio \
         is infinite";
    let row = |icc: f64,
               ci95: Result<[f64; 2], String>,
               (f, pval): (f64, Option<f64>),
               df2: f64,
               why: &str|
     -> Result<IccRow, String> {
        let ci95 = ci95?;
        let pval = pval.ok_or_else(not_computable)?;
        if !(icc.is_finite() && ci95.iter().all(|x| x.is_finite()) && pval.is_finite()) {
            return Err(not_computable());
        }
        Ok(IccRow {
            icc,
            ci95,
            f: if f.is_finite() {
                Stat::Value(f)
            } else {
                Stat::NotDefined(why.to_string())
            },
            df1,
            df2,
            pval,
        })
    };
    Ok([
        row(icc1, ci1, (f1, p1), df_within, SAME_SCORES),
        row(icc2, ci2, (f3, p3), df_error, SAME_DIFFERENCE),
        row(icc3, ci3, (f3, p3), df_error, SAME_DIFFERENCE),
        row(icc1k, ci1k, (f1, p1), df_within, SAME_SCORES),
        row(icc2k, ci2k, (f3, p3), df_error, SAME_DIFFERENCE),
        row(icc3k, ci3k, (f3, p3), df_error, SAME_DIFFERENCE),
    ])
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn grid_points_and_indices() {
        let g = grid(4.0, 0.25);
        assert_eq!(g.len(), 17);
        assert_eq!(g[0], 0.0);
        assert_eq!(g[1], 0.25);
        assert_eq!(g[16], 4.0);
        assert_eq!(grid(3.0, 0.25).len(), 13);
        assert_eq!(grid(0.0, 0.25), vec![0.0]);
        assert!(grid(4.0, 0.0).is_empty());
        assert!(grid(4.0, -0.25).is_empty());
        assert!(grid(-1.0, 0.25).is_empty());
        assert!(grid(f64::NAN, 0.25).is_empty());
        assert!(grid(1e9, 0.25).is_empty());
        // Half to even, like numpy's rint.
        assert_eq!(grid_index(0.125, 0.25), 0);
        assert_eq!(grid_index(0.375, 0.25), 2);
        assert_eq!(grid_index(0.625, 0.25), 2);
        assert_eq!(grid_index(2.0, 0.25), 8);
        assert_eq!(grid_index(2.1, 0.25), 8);
        assert_eq!(grid_index(-1.0, 0.25), 0);
        assert_eq!(grid_index(f64::NAN, 0.25), 0);
        assert_eq!(grid_index(1.0, 0.0), 0);
    }

    #[test]
    fn mae_rules() {
        assert!(mae(&[], &[]).reason().unwrap().contains("no images"));
        assert!(mae(&[1.0], &[1.0, 2.0])
            .reason()
            .unwrap()
            .contains("different lengths"));
        assert!(mae(&[f64::NAN], &[1.0])
            .reason()
            .unwrap()
            .contains("not numbers"));
        assert_eq!(mae(&[1.0], &[1.5]), Stat::Value(0.5));
        assert_eq!(mae(&[1.0, 2.0, 3.0], &[1.5, 2.0, 2.0]), Stat::Value(0.5));
    }

    #[test]
    fn confusion_counts_and_skips_out_of_range() {
        let m = confusion(&[0, 1, 1, 2, 5], &[0, 1, 2, 2, 0], 3);
        assert_eq!(m, vec![vec![1, 0, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert!(confusion(&[], &[], 0).is_empty());
    }

    #[test]
    fn kappa_matches_hand_computation() {
        // 2×2 table [[2,1],[0,1]]: po = 0.75, pe = (3·2 + 1·2)/16 = 0.5, kappa = 0.5.
        let a = [0, 0, 0, 1];
        let b = [0, 0, 1, 1];
        let k = cohen_kappa(&a, &b, 2, KappaWeights::None).value().unwrap();
        assert!(close(k, 0.5, 1e-12));
        // With two labels all three weightings agree.
        for w in [KappaWeights::Linear, KappaWeights::Quadratic] {
            assert!(close(
                cohen_kappa(&a, &b, 2, w).value().unwrap(),
                0.5,
                1e-12
            ));
        }
        // Identical raters: kappa 1 for every weighting.
        let x = [0, 1, 2, 3, 3];
        for w in [
            KappaWeights::None,
            KappaWeights::Linear,
            KappaWeights::Quadratic,
        ] {
            assert_eq!(cohen_kappa(&x, &x, 4, w), Stat::Value(1.0));
        }
    }

    #[test]
    fn kappa_degenerate_cases() {
        let few = cohen_kappa(&[0, 1], &[0, 1], 3, KappaWeights::Quadratic);
        assert!(
            few.reason().unwrap().contains("fewer than 3 images"),
            "{few:?}"
        );
        let one = cohen_kappa(&[1, 1, 1], &[0, 1, 2], 3, KappaWeights::Quadratic);
        assert_eq!(
            one.reason().unwrap(),
            "every image got the same score from one rater, so kappa is not defined"
        );
        let both = cohen_kappa(&[1, 1, 1], &[1, 1, 1], 3, KappaWeights::None);
        assert!(both.reason().unwrap().contains("both raters"));
        let mism = cohen_kappa(&[1, 1, 1], &[1, 1], 3, KappaWeights::None);
        assert!(mism.reason().unwrap().contains("different lengths"));
        // Out-of-range indices are left out, which here leaves too few pairs.
        let out = cohen_kappa(&[0, 1, 9], &[0, 1, 1], 3, KappaWeights::None);
        assert!(out.reason().unwrap().contains("only 2"));
        assert!(cohen_kappa(&[], &[], 0, KappaWeights::None)
            .reason()
            .is_some());
    }

    #[test]
    fn bland_altman_rules() {
        let few = bland_altman(&[1.0, 2.0], &[1.5, 2.0]);
        assert_eq!(few.points, vec![[1.25, -0.5], [2.0, 0.0]]);
        assert!(few.mean_diff.reason().unwrap().contains("fewer than 3"));
        assert!(few.loa_high.reason().is_some());

        let same = bland_altman(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
        assert_eq!(same.mean_diff, Stat::Value(0.0));
        assert_eq!(same.sd_diff, Stat::Value(0.0));
        assert_eq!(same.loa_low, Stat::Value(0.0));
        assert_eq!(same.loa_high, Stat::Value(0.0));

        let ba = bland_altman(&[1.0, 2.0, 3.0], &[0.0, 2.0, 2.0]);
        // d = [1, 0, 1]: mean 2/3, sd = sqrt(1/3).
        let sd = (1.0f64 / 3.0).sqrt();
        assert!(close(ba.mean_diff.value().unwrap(), 2.0 / 3.0, 1e-15));
        assert!(close(ba.sd_diff.value().unwrap(), sd, 1e-15));
        assert!(close(
            ba.loa_low.value().unwrap(),
            2.0 / 3.0 - 1.96 * sd,
            1e-15
        ));

        let mism = bland_altman(&[1.0, 2.0, 3.0], &[1.0]);
        assert!(mism.points.is_empty());
        assert!(mism.sd_diff.reason().unwrap().contains("different lengths"));
        let empty = bland_altman(&[], &[]);
        assert!(empty.points.is_empty());
        assert!(empty.mean_diff.reason().is_some());
    }

    #[test]
    fn f_quantiles_and_tails() {
        // F(2, 2) has cdf x / (1 + x), so its 97.5% point is 39.
        assert!(close(f_upper_975(2.0, 2.0).unwrap(), 39.0, 1e-9));
        // Textbook table values.
        assert!(close(f_upper_975(1.0, 1.0).unwrap(), 647.789, 1e-3));
        assert!(close(f_upper_975(10.0, 10.0).unwrap(), 3.7168, 1e-4));
        assert!(close(f_upper_975(5.0, 10.0).unwrap(), 4.2361, 1e-4));
        // Non-integer degrees of freedom round-trip through the tail probability.
        for (d1, d2) in [(24.0, 3.7), (2.5, 59.0), (59.0, 118.0), (0.8, 7.0)] {
            let q = f_upper_975(d1, d2).unwrap();
            assert!(close(f_sf(q, d1, d2).unwrap(), 0.025, 1e-10), "{d1} {d2}");
        }
        assert_eq!(f_sf(f64::INFINITY, 3.0, 4.0), Some(0.0));
        assert_eq!(f_sf(0.0, 3.0, 4.0), Some(1.0));
        // Large degrees of freedom: d2 → ∞ gives the chi-square(d1) 97.5% point over d1, and
        // F(d, d) ≈ exp(2 · 1.96 / √d) (Fisher's z).
        assert!(close(
            f_upper_975(2.0, 1e9).unwrap(),
            -(0.025f64.ln()),
            1e-6
        ));
        assert!(close(f_upper_975(1.0, 1e9).unwrap(), 5.023886, 1e-5));
        assert!(close(f_upper_975(1e4, 1e4).unwrap(), 1.03998, 1e-5));
        // Degenerate degrees of freedom end (no endless iteration) with no answer.
        assert_eq!(f_upper_975(1e-6, 1e9), None);
        assert_eq!(f_upper_975(30.0, 1e-6), None);
        assert_eq!(f_upper_975(0.0, 4.0), None);
        assert_eq!(f_upper_975(f64::NAN, 4.0), None);
    }

    #[test]
    fn icc_not_defined_cases() {
        let e = icc(&[vec![1.0, 2.0, 3.0]]).unwrap_err();
        assert!(e.contains("at least 2 raters"), "{e}");
        assert!(icc(&[]).is_err());
        let e = icc(&[vec![1.0, 2.0], vec![1.0, 2.5]]).unwrap_err();
        assert!(e.contains("fewer than 3 images"), "{e}");
        let e = icc(&[vec![], vec![]]).unwrap_err();
        assert!(e.contains("fewer than 3 images"), "{e}");
        let e = icc(&[vec![1.0, 2.0, 3.0], vec![1.0, 2.0]]).unwrap_err();
        assert!(e.contains("different numbers of images"), "{e}");
        let e = icc(&[vec![1.0, f64::NAN, 3.0], vec![1.0, 2.0, 3.0]]).unwrap_err();
        assert!(e.contains("not numbers"), "{e}");
        let e = icc(&[vec![2.0; 5], vec![2.0; 5]]).unwrap_err();
        assert_eq!(e, IDENTICAL);
        // Scores that only look constant after rounding are still identical.
        let e = icc(&[vec![0.1; 7], vec![0.1; 7]]).unwrap_err();
        assert_eq!(e, IDENTICAL);
        // Every image averages 2: images cannot be told apart.
        let e = icc(&[vec![1.0, 2.0, 3.0], vec![3.0, 2.0, 1.0]]).unwrap_err();
        assert_eq!(e, SAME_AVERAGE);
    }

    fn rows(t: &IccTable) -> [&IccRow; 6] {
        [&t.icc1, &t.icc2, &t.icc3, &t.icc1k, &t.icc2k, &t.icc3k]
    }

    #[test]
    fn icc_identical_raters_is_one() {
        let s = vec![0.1, 0.7, 1.3, 2.9, 2.2, 0.1];
        let t = icc(&[s.clone(), s.clone(), s]).unwrap();
        for r in rows(&t) {
            assert_eq!(r.icc, 1.0);
            assert_eq!(r.ci95, [1.0, 1.0]);
            assert!(r.f.reason().unwrap().contains("F ratio is infinite"));
            assert_eq!(r.pval, 0.0);
        }
        assert_eq!(t.icc1.df1, 5.0);
        assert_eq!(t.icc1.df2, 12.0);
        assert_eq!(t.icc2.df2, 10.0);
    }

    #[test]
    fn icc_constant_offset_is_consistent_but_not_in_absolute_agreement() {
        let a = vec![0.5, 1.0, 2.25, 3.0, 1.75];
        let b: Vec<f64> = a.iter().map(|v| v + 0.5).collect();
        let t = icc(&[a, b]).unwrap();
        assert_eq!(t.icc3.icc, 1.0);
        assert_eq!(t.icc3.ci95, [1.0, 1.0]);
        assert_eq!(t.icc3k.icc, 1.0);
        assert!(t
            .icc3
            .f
            .reason()
            .unwrap()
            .contains("same amount on every image"));
        assert_eq!(t.icc3.pval, 0.0);
        assert!(t.icc2.icc < 1.0 && t.icc2.icc > 0.5);
        let [lo, hi] = t.icc2.ci95;
        assert!(lo < t.icc2.icc && t.icc2.icc < hi && hi <= 1.0, "{lo} {hi}");
        let [lo, hi] = t.icc2k.ci95;
        assert!(lo < t.icc2k.icc && t.icc2k.icc < hi, "{lo} {hi}");
        // One-way ICC sees the offset as disagreement.
        assert!(t.icc1.icc < 1.0);
        assert!(t.icc1.f.value().unwrap() > 1.0);
    }

    #[test]
    fn pair_agreement_empty_and_short_input() {
        let p = pair_agreement(&[], &[], 4.0, 0.25);
        assert_eq!(p.n, 0);
        assert!(p.mae.reason().is_some());
        assert!(p.qwk.reason().unwrap().contains("fewer than 3"));
        assert!(p.icc2_1.reason().unwrap().contains("fewer than 3"));
        assert!(p.icc3_1.reason().is_some());
        assert!(p.bland_altman.points.is_empty());
        assert_eq!(p.confusion.len(), 17);
        assert!(p.confusion.iter().flatten().all(|&c| c == 0));

        let p = pair_agreement(&[1.0, 2.0], &[1.0, 2.5], 4.0, 0.25);
        assert_eq!(p.n, 2);
        assert_eq!(p.mae, Stat::Value(0.25));
        assert!(p.qwk.reason().unwrap().contains("only 2"));
        assert!(p.icc2_1.reason().unwrap().contains("only 2"));
        assert_eq!(p.bland_altman.points.len(), 2);
        assert_eq!(p.confusion[4][4], 1);
        assert_eq!(p.confusion[8][10], 1);
    }

    #[test]
    fn pair_agreement_constant_rater_and_identical_raters() {
        let p = pair_agreement(&[2.0; 4], &[1.0, 2.0, 3.0, 4.0], 4.0, 0.25);
        assert_eq!(
            p.qwk.reason().unwrap(),
            "every image got the same score from one rater, so kappa is not defined"
        );
        assert!(p.icc2_1.value().is_some());

        let s = [0.25, 1.0, 2.5, 3.75, 4.0];
        let p = pair_agreement(&s, &s, 4.0, 0.25);
        assert_eq!(p.qwk, Stat::Value(1.0));
        assert_eq!(p.mae, Stat::Value(0.0));
        assert_eq!(
            p.icc2_1,
            Interval::Value {
                value: 1.0,
                ci95: [1.0, 1.0]
            }
        );
        assert_eq!(p.icc3_1, p.icc2_1);
        assert_eq!(p.bland_altman.sd_diff, Stat::Value(0.0));

        let p = pair_agreement(&[2.0; 4], &[2.0; 4], 4.0, 0.25);
        assert!(p.qwk.reason().unwrap().contains("both raters"));
        assert_eq!(p.icc2_1.reason().unwrap(), IDENTICAL);
        assert_eq!(p.mae, Stat::Value(0.0));
    }

    /// Here ICC(A,k) divides by MSB − MSE / n = 0, so the full table is not defined, but the
    /// two single-rater forms the pair summary shows are.
    #[test]
    fn one_form_not_computable_does_not_hide_the_others() {
        let (a, b) = (vec![0.75, 0.0, 0.0], vec![0.0, 0.0, 0.75]);
        let e = icc(&[a.clone(), b.clone()]).unwrap_err();
        assert!(e.contains("cannot be computed"), "{e}");
        let p = pair_agreement(&a, &b, 1.0, 0.25);
        assert!(close(p.icc2_1.value().unwrap(), -1.0, 1e-12), "{p:?}");
        assert!(close(p.icc3_1.value().unwrap(), -0.5, 1e-12), "{p:?}");
    }

    #[test]
    fn pair_agreement_invalid_input() {
        let p = pair_agreement(&[1.0, 2.0, 3.0], &[1.0, 2.0], 4.0, 0.25);
        assert_eq!(p.n, 0);
        for r in [p.mae.reason(), p.qwk.reason(), p.icc2_1.reason()] {
            assert!(r.unwrap().contains("different lengths"));
        }
        assert!(p.bland_altman.points.is_empty());
        assert_eq!(p.confusion.len(), 17);

        let p = pair_agreement(&[1.0, f64::INFINITY, 3.0], &[1.0, 2.0, 3.0], 4.0, 0.25);
        assert!(p.mae.reason().unwrap().contains("not numbers"));

        let p = pair_agreement(&[1.0, 2.0, 3.0], &[1.0, 2.0, 2.0], 4.0, 0.0);
        assert!(p.qwk.reason().unwrap().contains("score scale"));
        assert!(p.confusion.is_empty());
        assert!(p.mae.value().is_some());
        assert!(p.icc2_1.value().is_some());
    }

    #[test]
    fn pair_agreement_rounds_and_clamps_to_the_grid() {
        let p = pair_agreement(&[-1.0, 4.6, 1.1, 2.0], &[0.0, 4.0, 1.0, 2.125], 4.0, 0.25);
        assert_eq!(p.confusion[0][0], 1);
        assert_eq!(p.confusion[16][16], 1);
        assert_eq!(p.confusion[4][4], 1);
        // 2.125 / 0.25 = 8.5 rounds to even 8.
        assert_eq!(p.confusion[8][8], 1);
        assert_eq!(p.qwk, Stat::Value(1.0));
        // MAE uses the scores as given.
        assert!(close(
            p.mae.value().unwrap(),
            (1.0 + 0.6 + 0.1 + 0.125) / 4.0,
            1e-12
        ));
    }

    /// Every pair of 0–3 images with scores from {0, 1, 2} (and a few odd steps): no panic, no
    /// NaN or infinity anywhere (serde_json writes those as null).
    #[test]
    fn no_nan_on_small_inputs() {
        let vals = [0.0, 1.0, 2.0];
        for n in 0..=3usize {
            let combos = 3usize.pow(2 * n as u32);
            for code in 0..combos {
                let mut c = code;
                let mut digit = || {
                    let d = vals[c % 3];
                    c /= 3;
                    d
                };
                let a: Vec<f64> = (0..n).map(|_| digit()).collect();
                let b: Vec<f64> = (0..n).map(|_| digit()).collect();
                let p = pair_agreement(&a, &b, 2.0, 1.0);
                let text = serde_json::to_string(&p).unwrap();
                assert!(!text.contains("null"), "{a:?} {b:?}: {text}");
                // Parses back (floats may differ in the last bit: serde_json's default parser).
                let back: PairAgreement = serde_json::from_str(&text).unwrap();
                assert_eq!(back.n, p.n);
                assert_eq!(back.qwk.reason(), p.qwk.reason());
                if let Ok(t) = icc(&[a.clone(), b.clone(), a.clone()]) {
                    let text = serde_json::to_string(&t).unwrap();
                    assert!(!text.contains("null"), "{a:?} {b:?}: {text}");
                }
            }
        }
    }

    /// Random small, often degenerate tables: never a panic, a hang or a non-finite number.
    #[test]
    fn icc_random_small_tables() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        };
        for _ in 0..3000 {
            let n = 3 + next(6) as usize;
            let k = 2 + next(3) as usize;
            let levels = 1 + next(4);
            let ratings: Vec<Vec<f64>> = (0..k)
                .map(|_| (0..n).map(|_| next(levels + 1) as f64 * 0.25).collect())
                .collect();
            if let Ok(t) = icc(&ratings) {
                let text = serde_json::to_string(&t).unwrap();
                assert!(!text.contains("null"), "{ratings:?}: {text}");
            }
            let p = pair_agreement(&ratings[0], &ratings[1], 1.0, 0.25);
            let text = serde_json::to_string(&p).unwrap();
            assert!(!text.contains("null"), "{ratings:?}: {text}");
        }
    }

    #[test]
    fn json_shapes() {
        assert_eq!(
            serde_json::to_value(Stat::Value(0.81)).unwrap(),
            json!({"value": 0.81})
        );
        assert_eq!(
            serde_json::to_value(Stat::NotDefined("why".into())).unwrap(),
            json!({"not_defined": "why"})
        );
        let iv = Interval::Value {
            value: 0.81,
            ci95: [0.66, 0.9],
        };
        assert_eq!(
            serde_json::to_value(&iv).unwrap(),
            json!({"value": 0.81, "ci95": [0.66, 0.9]})
        );
        let nd = Interval::not_defined("why");
        assert_eq!(
            serde_json::to_value(&nd).unwrap(),
            json!({"not_defined": "why"})
        );
        for s in [Stat::Value(0.5), Stat::NotDefined("r".into())] {
            let back: Stat = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
            assert_eq!(back, s);
        }
        for i in [iv, nd] {
            let back: Interval = serde_json::from_value(serde_json::to_value(&i).unwrap()).unwrap();
            assert_eq!(back, i);
        }
        assert!(serde_json::from_value::<Interval>(json!({"value": 0.5})).is_err());
        assert_eq!(
            serde_json::to_value(KappaWeights::Quadratic).unwrap(),
            json!("quadratic")
        );
    }

    /// The OpenAPI schemas describe the same shapes as the JSON.
    #[test]
    fn openapi_schemas() {
        use utoipa::PartialSchema;
        // Both are a oneOf of two objects with exactly the JSON's fields, side by side.
        let check = |schema: serde_json::Value, value_fields: &[&str]| {
            let variants = schema["oneOf"].as_array().expect("oneOf").clone();
            assert_eq!(variants.len(), 2, "{schema}");
            let has = |v: &serde_json::Value, fields: &[&str]| {
                let props = v["properties"].as_object().expect("properties");
                props.len() == fields.len() && fields.iter().all(|f| props.contains_key(*f))
            };
            assert!(variants.iter().any(|v| has(v, value_fields)), "{schema}");
            assert!(
                variants.iter().any(|v| has(v, &["not_defined"])),
                "{schema}"
            );
        };
        check(serde_json::to_value(Stat::schema()).unwrap(), &["value"]);
        check(
            serde_json::to_value(Interval::schema()).unwrap(),
            &["value", "ci95"],
        );
    }
}
