//! Champion against challenger: two models' scores for the same human-scored images of the
//! evaluation set, compared per metric with 95 % bootstrap intervals that resample whole
//! sample groups (images of one sample are not independent, so resampling images would make
//! the intervals too narrow).
//!
//! The rule: a challenger is *better* when, on every chosen metric, its mean absolute error
//! is lower than the champion's by more than the half-width of the difference's interval, and
//! on no metric its error is higher, or its quadratic weighted kappa lower, by more than that.

use serde::{Deserialize, Serialize};

use crate::agreement::{cohen_kappa, grid_index, Interval, KappaWeights};
use crate::reading::mix;
use crate::Schema;

/// Fewest evaluation images, and sample groups, before two models are compared at all.
pub const MIN_IMAGES: usize = 20;
pub const MIN_GROUPS: usize = 5;
/// Bootstrap resamples.
pub const RESAMPLES: usize = 2000;

/// Which sample groups form the evaluation set, fixed once: a seeded hash of each group's
/// name puts about `share` of all groups, present and future, into it, and no group ever
/// changes sides (so no model trains on a group that a later comparison uses). Groups listed
/// in `groups` are in it as well; groups in `trained` (those a model had already trained on
/// when the set was chosen) never are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvalRule {
    pub share: f64,
    pub seed: u64,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub trained: Vec<String>,
}

impl EvalRule {
    /// Whether sample group `group` is in the evaluation set.
    pub fn contains(&self, group: &str) -> bool {
        if self.groups.iter().any(|g| g == group) {
            return true;
        }
        if self.trained.iter().any(|g| g == group) {
            return false;
        }
        let h = group.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let u = (mix(self.seed ^ mix(h)) >> 11) as f64 / (1u64 << 53) as f64;
        u < self.share
    }
}

/// One evaluation image: its sample group and, per metric in schema order, the human score
/// and both models' scores (on the schema's grid, as scoring gives them).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalImage {
    pub group: String,
    pub human: Vec<f64>,
    pub champion: Vec<f64>,
    pub challenger: Vec<f64>,
}

/// What was compared and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompareOptions {
    /// Metrics whose error must improve (default: all).
    pub metrics: Vec<String>,
    pub resamples: usize,
    pub seed: u64,
    pub min_images: usize,
    pub min_groups: usize,
}

impl CompareOptions {
    pub fn new(schema: &Schema, seed: u64) -> Self {
        Self {
            metrics: schema.metrics.iter().map(|m| m.name.clone()).collect(),
            resamples: RESAMPLES,
            seed,
            min_images: MIN_IMAGES,
            min_groups: MIN_GROUPS,
        }
    }
}

/// The outcome for one metric or for the whole comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The challenger is better beyond the uncertainty.
    Better,
    /// The challenger is worse beyond the uncertainty.
    Worse,
    /// The difference is within the uncertainty.
    NoClearDifference,
    /// Too few evaluation images or groups to say.
    NotEnoughData,
}

/// One metric's comparison. Differences are challenger − champion: a negative error
/// difference and a positive kappa difference favour the challenger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricComparison {
    pub metric: String,
    /// Whether this metric's error must improve for the challenger to count as better.
    pub chosen: bool,
    pub champion_mae: Interval,
    pub challenger_mae: Interval,
    pub mae_difference: Interval,
    pub champion_kappa: Interval,
    pub challenger_kappa: Interval,
    pub kappa_difference: Interval,
    /// Share of images whose score (on the grid) differs between the two models.
    pub changed_share: Interval,
    pub verdict: Verdict,
}

/// The whole comparison, as kept with the challenger in the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comparison {
    pub images: usize,
    pub groups: usize,
    pub options: CompareOptions,
    pub metrics: Vec<MetricComparison>,
    pub verdict: Verdict,
    /// The verdict in a sentence, for the Models page and logs.
    pub summary: String,
}

/// Compares the two models' scores on `images`.
pub fn compare(schema: &Schema, images: &[EvalImage], opts: &CompareOptions) -> Comparison {
    let mut groups: Vec<&str> = images.iter().map(|i| i.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let (n_images, n_groups) = (images.len(), groups.len());
    if n_images < opts.min_images || n_groups < opts.min_groups {
        let why = format!(
            "not enough reviewed data to compare: the evaluation set has {n_images} reviewed \
             image(s) from {n_groups} sample group(s); at least {} images from {} groups are \
             needed",
            opts.min_images, opts.min_groups
        );
        let metrics = schema
            .metrics
            .iter()
            .map(|m| {
                let nd = || Interval::not_defined(why.clone());
                MetricComparison {
                    metric: m.name.clone(),
                    chosen: opts.metrics.contains(&m.name),
                    champion_mae: nd(),
                    challenger_mae: nd(),
                    mae_difference: nd(),
                    champion_kappa: nd(),
                    challenger_kappa: nd(),
                    kappa_difference: nd(),
                    changed_share: nd(),
                    verdict: Verdict::NotEnoughData,
                }
            })
            .collect();
        return Comparison {
            images: n_images,
            groups: n_groups,
            options: opts.clone(),
            metrics,
            verdict: Verdict::NotEnoughData,
            summary: why,
        };
    }
    // Images by group, for resampling whole groups.
    let by_group: Vec<Vec<usize>> = groups
        .iter()
        .map(|g| (0..n_images).filter(|&i| images[i].group == *g).collect())
        .collect();
    let mut state = opts.seed;
    let mut next = move || {
        state = mix(state);
        state
    };
    let draws: Vec<Vec<usize>> = (0..opts.resamples)
        .map(|_| {
            (0..n_groups)
                .flat_map(|_| {
                    by_group[(next() % n_groups as u64) as usize]
                        .iter()
                        .copied()
                })
                .collect()
        })
        .collect();
    let all: Vec<usize> = (0..n_images).collect();

    let metrics: Vec<MetricComparison> = schema
        .metrics
        .iter()
        .enumerate()
        .map(|(m, metric)| {
            let n_labels = ((metric.max / schema.step).round() as usize) + 1;
            let stats = |idx: &[usize]| -> [Option<f64>; 7] {
                let n = idx.len() as f64;
                let err = |pick: fn(&EvalImage) -> &Vec<f64>| {
                    idx.iter()
                        .map(|&i| (pick(&images[i])[m] - images[i].human[m]).abs())
                        .sum::<f64>()
                        / n
                };
                let mae_a = err(|e| &e.champion);
                let mae_b = err(|e| &e.challenger);
                let grid = |pick: fn(&EvalImage) -> &Vec<f64>| -> Vec<usize> {
                    idx.iter()
                        .map(|&i| grid_index(pick(&images[i])[m], schema.step).min(n_labels - 1))
                        .collect()
                };
                let human = grid(|e| &e.human);
                let kappa = |pick| {
                    cohen_kappa(&human, &grid(pick), n_labels, KappaWeights::Quadratic).value()
                };
                let (k_a, k_b) = (kappa(|e| &e.champion), kappa(|e| &e.challenger));
                let changed = idx
                    .iter()
                    .filter(|&&i| {
                        grid_index(images[i].champion[m], schema.step)
                            != grid_index(images[i].challenger[m], schema.step)
                    })
                    .count() as f64
                    / n;
                [
                    Some(mae_a),
                    Some(mae_b),
                    Some(mae_b - mae_a),
                    k_a,
                    k_b,
                    k_a.zip(k_b).map(|(a, b)| b - a),
                    Some(changed),
                ]
            };
            let point = stats(&all);
            let boots: Vec<[Option<f64>; 7]> = draws.iter().map(|d| stats(d)).collect();
            let interval = |k: usize| -> Interval {
                let Some(value) = point[k] else {
                    return Interval::not_defined(
                        "not defined on the evaluation set (one of the raters gave every \
                         image the same score)",
                    );
                };
                let mut vals: Vec<f64> = boots.iter().filter_map(|b| b[k]).collect();
                if vals.len() < opts.resamples / 2 {
                    return Interval::not_defined(
                        "not defined in most resamples of the evaluation set's groups",
                    );
                }
                vals.sort_by(f64::total_cmp);
                let q = |p: f64| vals[((p * (vals.len() - 1) as f64).round()) as usize];
                Interval::Value {
                    value,
                    ci95: [q(0.025), q(0.975)],
                }
            };
            let ivs: Vec<Interval> = (0..7).map(interval).collect();
            let half = |iv: &Interval| iv.ci95().map(|[lo, hi]| (hi - lo) / 2.0);
            let mae_d = &ivs[2];
            let kappa_d = &ivs[5];
            let mae_better = matches!((mae_d.value(), half(mae_d)), (Some(d), Some(h)) if -d > h);
            let mae_worse = matches!((mae_d.value(), half(mae_d)), (Some(d), Some(h)) if d > h);
            let kappa_worse =
                matches!((kappa_d.value(), half(kappa_d)), (Some(d), Some(h)) if -d > h);
            let verdict = if mae_worse || kappa_worse {
                Verdict::Worse
            } else if mae_better {
                Verdict::Better
            } else {
                Verdict::NoClearDifference
            };
            let mut it = ivs.into_iter();
            let mut take = || it.next().expect("seven intervals");
            MetricComparison {
                metric: metric.name.clone(),
                chosen: opts.metrics.contains(&metric.name),
                champion_mae: take(),
                challenger_mae: take(),
                mae_difference: take(),
                champion_kappa: take(),
                challenger_kappa: take(),
                kappa_difference: take(),
                changed_share: take(),
                verdict,
            }
        })
        .collect();

    let worse: Vec<&str> = metrics
        .iter()
        .filter(|m| m.verdict == Verdict::Worse)
        .map(|m| m.metric.as_str())
        .collect();
    let not_better: Vec<&str> = metrics
        .iter()
        .filter(|m| m.chosen && m.verdict != Verdict::Better)
        .map(|m| m.metric.as_str())
        .collect();
    let any_chosen = metrics.iter().any(|m| m.chosen);
    let (verdict, summary) = if !worse.is_empty() {
        (
            Verdict::Worse,
            format!(
                "the challenger is worse on {} beyond the uncertainty of {n_images} images \
                 from {n_groups} groups",
                worse.join(", ")
            ),
        )
    } else if any_chosen && not_better.is_empty() {
        (
            Verdict::Better,
            format!(
                "the challenger's error is lower on every chosen metric by more than the \
                 uncertainty ({n_images} images from {n_groups} groups), and no metric is worse"
            ),
        )
    } else {
        (
            Verdict::NoClearDifference,
            format!(
                "no clear difference on {}: within the uncertainty of {n_images} images from \
                 {n_groups} groups",
                if not_better.is_empty() {
                    "any metric".to_string()
                } else {
                    not_better.join(", ")
                }
            ),
        )
    };
    Comparison {
        images: n_images,
        groups: n_groups,
        options: opts.clone(),
        metrics,
        verdict,
        summary,
    }
}

/// The comparison as CSV: one row per metric and statistic, with the interval.
pub fn to_csv(c: &Comparison) -> String {
    let mut out = String::from("metric,statistic,value,ci95_low,ci95_high,verdict\n");
    for m in &c.metrics {
        let rows = [
            ("champion_mae", &m.champion_mae),
            ("challenger_mae", &m.challenger_mae),
            ("mae_difference", &m.mae_difference),
            ("champion_kappa", &m.champion_kappa),
            ("challenger_kappa", &m.challenger_kappa),
            ("kappa_difference", &m.kappa_difference),
            ("changed_share", &m.changed_share),
        ];
        let verdict = serde_json::to_value(m.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        for (name, iv) in rows {
            let f = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
            let ci = iv.ci95();
            out.push_str(&format!(
                "{},{name},{},{},{},{verdict}\n",
                quoted(&m.metric),
                f(iv.value()),
                f(ci.map(|c| c[0])),
                f(ci.map(|c| c[1])),
            ));
        }
    }
    out
}

/// A text cell: formula-guarded, quoted when it holds a comma, quote or line break.
fn quoted(s: &str) -> String {
    let s = crate::export::csv_text(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::parse(
            r#"{"step":0.5,"metrics":[{"name":"fibrosis","max":4},{"name":"inflammation","max":4}]}"#,
        )
        .unwrap()
    }

    /// 40 images from 8 groups; the human scores spread over the scale.
    fn images(champion_off: f64, challenger_off: f64) -> Vec<EvalImage> {
        (0..40)
            .map(|i| {
                let h = ((i * 7) % 9) as f64 * 0.5;
                let jitter = if i % 3 == 0 { 0.5 } else { 0.0 };
                let s = |off: f64| ((h + off + jitter).clamp(0.0, 4.0) * 2.0).round() / 2.0;
                EvalImage {
                    group: format!("S-{:02}", i % 8),
                    human: vec![h, h],
                    champion: vec![s(champion_off), s(champion_off)],
                    challenger: vec![s(challenger_off), s(challenger_off)],
                }
            })
            .collect()
    }

    #[test]
    fn a_clearly_closer_challenger_is_better() {
        let s = schema();
        let c = compare(&s, &images(1.5, 0.0), &CompareOptions::new(&s, 1));
        assert_eq!(c.verdict, Verdict::Better, "{}", c.summary);
        let m = &c.metrics[0];
        assert!(m.challenger_mae.value().unwrap() < m.champion_mae.value().unwrap());
        let [lo, hi] = m.mae_difference.ci95().unwrap();
        assert!(lo <= hi && hi < 0.0, "{lo} {hi}");
        assert!(m.changed_share.value().unwrap() > 0.5);
    }

    #[test]
    fn a_worse_challenger_is_worse_and_equal_models_show_no_difference() {
        let s = schema();
        let c = compare(&s, &images(0.0, 1.5), &CompareOptions::new(&s, 1));
        assert_eq!(c.verdict, Verdict::Worse, "{}", c.summary);
        let same = compare(&s, &images(0.5, 0.5), &CompareOptions::new(&s, 1));
        assert_eq!(same.verdict, Verdict::NoClearDifference, "{}", same.summary);
        assert_eq!(same.metrics[0].changed_share.value(), Some(0.0));
    }

    #[test]
    fn too_few_images_or_groups_say_so_and_are_never_better() {
        let s = schema();
        let few = &images(1.5, 0.0)[..12];
        let c = compare(&s, few, &CompareOptions::new(&s, 1));
        assert_eq!(c.verdict, Verdict::NotEnoughData);
        assert!(c.summary.starts_with("not enough reviewed data to compare"));
        let mut one_group = images(1.5, 0.0);
        for (i, im) in one_group.iter_mut().enumerate() {
            im.group = format!("S-{}", i % 4);
        }
        let c = compare(&s, &one_group, &CompareOptions::new(&s, 1));
        assert_eq!(c.verdict, Verdict::NotEnoughData, "4 groups < 5");
    }

    #[test]
    fn the_bootstrap_is_reproducible_for_a_seed_and_resamples_groups() {
        let s = schema();
        let im = images(1.0, 0.0);
        let a = compare(&s, &im, &CompareOptions::new(&s, 7));
        assert_eq!(a, compare(&s, &im, &CompareOptions::new(&s, 7)));
        // All images of a group agree perfectly: every resample of whole groups gives the
        // same error, so the interval collapses to the point.
        let mut exact = images(0.0, 0.0);
        for im in &mut exact {
            im.champion = im.human.clone();
        }
        let c = compare(&s, &exact, &CompareOptions::new(&s, 7));
        assert_eq!(
            c.metrics[0].champion_mae,
            Interval::Value {
                value: 0.0,
                ci95: [0.0, 0.0]
            }
        );
    }

    #[test]
    fn the_rule_keeps_about_its_share_of_groups_and_never_trained_ones() {
        let rule = EvalRule {
            share: 0.2,
            seed: 11,
            groups: vec!["S-9999".into()],
            trained: vec!["S-0001".into(), "S-0002".into(), "S-0003".into()],
        };
        let names: Vec<String> = (0..5000).map(|i| format!("S-{i:04}")).collect();
        let inside = names.iter().filter(|g| rule.contains(g)).count();
        assert!((850..1150).contains(&inside), "{inside} of 5000");
        assert!(rule.contains("S-9999"), "listed groups are in");
        for g in &rule.trained {
            assert!(!rule.contains(g), "{g} was trained on");
        }
        let other = EvalRule {
            seed: 12,
            ..rule.clone()
        };
        let moved = names
            .iter()
            .filter(|g| rule.contains(g) != other.contains(g))
            .count();
        assert!(moved > 500, "another seed gives another set");
    }

    #[test]
    fn only_chosen_metrics_must_improve() {
        let s = schema();
        let mut im = images(1.5, 0.0);
        for e in &mut im {
            e.challenger[1] = e.champion[1];
        }
        let all = compare(&s, &im, &CompareOptions::new(&s, 3));
        assert_eq!(all.verdict, Verdict::NoClearDifference, "{}", all.summary);
        let mut opts = CompareOptions::new(&s, 3);
        opts.metrics = vec!["fibrosis".into()];
        assert_eq!(compare(&s, &im, &opts).verdict, Verdict::Better);
        let csv = to_csv(&compare(&s, &im, &opts));
        assert!(csv.starts_with("metric,statistic,value,ci95_low,ci95_high,verdict\n"));
        assert_eq!(csv.lines().count(), 1 + 2 * 7);
    }
}
