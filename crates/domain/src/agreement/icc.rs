//! Intraclass correlations: the six Shrout–Fleiss / McGraw–Wong forms with pingouin's F
//! tests and exact 95% confidence intervals.

use super::*;
use statrs::function::beta::checked_beta_reg;

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
pub(super) fn f_upper_975(d1: f64, d2: f64) -> Option<f64> {
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
pub(super) fn beta_quantile(a: f64, b: f64, p: f64) -> Option<f64> {
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
pub(super) fn f_sf(f: f64, d1: f64, d2: f64) -> Option<f64> {
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
pub fn icc(ratings: &[Vec<f64>]) -> Result<IccTable, NotDefined> {
    let table = || -> Result<IccTable, String> {
        let [icc1, icc2, icc3, icc1k, icc2k, icc3k] = icc_rows(ratings)?;
        Ok(IccTable {
            icc1: icc1?,
            icc2: icc2?,
            icc3: icc3?,
            icc1k: icc1k?,
            icc2k: icc2k?,
            icc3k: icc3k?,
        })
    };
    table().map_err(NotDefined)
}

/// Why a statistic does not exist for the data, in plain English (too few images, no variance).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotDefined(pub String);

/// The rows of [`icc`] in table order (ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k), each with its
/// own `Err` when just that row cannot be computed; the outer `Err` when none can.
pub(super) fn icc_rows(ratings: &[Vec<f64>]) -> Result<[Result<IccRow, String>; 6], String> {
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
