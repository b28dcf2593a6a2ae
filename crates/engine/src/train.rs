//! Training a new scoring head from reviewed scores, on CPU with candle's autograd.
//!
//! The recipe follows the original's: targets divided by each metric's max, mean squared
//! error, Adam with learning rate 1e-3, early stopping on the validation loss. This module
//! trains the head (the final 512 → metrics layer) on the pooled features of the frozen
//! network ([`crate::Model::start_features`]), which takes seconds; the rest of the network
//! keeps the parent's weights. Validation is split **by sample group**, so images of one
//! sample never sit on both sides. Everything is deterministic for a given seed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use histoscore_domain::agreement::{self, KappaWeights, Stat};
use histoscore_domain::Schema;
use serde::Serialize;

use crate::onnx::FEATURES;
use crate::weights::{WeightTensor, Weights};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training was cancelled; no model was made")]
    Cancelled,
    #[error("not enough data to train: {0}")]
    NotEnoughData(String),
    #[error("training failed: {0}")]
    Compute(String),
    /// The validation error grew far beyond where it started: the network diverged.
    #[error(
        "training stopped at epoch {epoch}: the validation error grew from {start:.3} to \
         {now} (the network diverged); no model was made. Try training the last layer only, \
         or more reviewed images"
    )]
    Diverged {
        epoch: usize,
        start: f64,
        now: String,
    },
}

/// Watches the validation loss (scaled units: 1.0 is a mean squared error of a whole score
/// range) for divergence: not a number, or for three epochs in a row above ten times where it
/// started and above 1.0. A single bad epoch (Adam's first steps overshoot) is not divergence.
#[derive(Debug)]
pub struct Divergence {
    start: f64,
    bad: usize,
}

impl Divergence {
    pub fn new(start: f64) -> Self {
        Self { start, bad: 0 }
    }

    /// The epoch's validation loss: `Err` when the run has diverged.
    pub fn check(&mut self, epoch: usize, now: f64) -> Result<(), TrainError> {
        if now.is_finite() && now <= (10.0 * self.start).max(1.0) {
            self.bad = 0;
            return Ok(());
        }
        self.bad += 1;
        if !now.is_finite() || self.bad >= 3 {
            return Err(TrainError::Diverged {
                epoch,
                start: self.start,
                now: format!("{now:.3}"),
            });
        }
        Ok(())
    }
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Compute(e.to_string())
    }
}

/// One training image: its pooled features and its reviewed scores (schema order, score units).
#[derive(Debug, Clone)]
pub struct Sample {
    /// What identifies it in the snapshot (record id and version, or file name).
    pub key: String,
    /// Its sample group (the validation split never separates a group).
    pub group: String,
    pub features: Vec<f32>,
    pub targets: Vec<f64>,
}

/// Indices of the training and validation samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub val_groups: Vec<String>,
}

/// A small, fast, seeded generator (SplitMix64): the same seed gives the same split and order.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Puts whole sample groups into validation so that its share of the images comes as close
/// to `val_fraction` as whole groups allow: the groups are taken in a seeded random order and
/// each is added when it brings the count nearer the target (so one large group, e.g. every
/// file whose name has no sample number, does not take the validation side by itself). At
/// least one group goes to each side. Needs at least two groups.
pub fn split_by_group(
    groups: &[String],
    val_fraction: f64,
    seed: u64,
) -> Result<Split, TrainError> {
    let mut unique: Vec<String> = groups
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if unique.len() < 2 {
        return Err(TrainError::NotEnoughData(format!(
            "the images come from {} sample group(s); validation is split by group, so at \
             least 2 groups are needed",
            unique.len()
        )));
    }
    Rng::new(seed).shuffle(&mut unique);
    let size = |g: &String| groups.iter().filter(|x| *x == g).count();
    let want = (groups.len() as f64 * val_fraction.clamp(0.05, 0.5))
        .round()
        .max(1.0) as usize;
    let mut val_groups: Vec<String> = Vec::new();
    let mut n_val = 0usize;
    for g in &unique {
        let n = size(g);
        let nearer = n_val.abs_diff(want) > (n_val + n).abs_diff(want);
        // Never every group: training needs one.
        if nearer && val_groups.len() + 1 < unique.len() {
            n_val += n;
            val_groups.push(g.clone());
        }
    }
    if val_groups.is_empty() {
        // Every group alone overshoots: the smallest one.
        let g = unique
            .iter()
            .min_by_key(|g| size(g))
            .expect("two groups or more")
            .clone();
        val_groups.push(g);
    }
    let (val, train): (Vec<usize>, Vec<usize>) =
        (0..groups.len()).partition(|&i| val_groups.contains(&groups[i]));
    val_groups.sort();
    Ok(Split {
        train,
        val,
        val_groups,
    })
}

impl Split {
    /// When the validation share is far from the one asked for (whole groups could not come
    /// closer), a sentence that says so; else `None`.
    pub fn share_note(&self, val_fraction: f64) -> Option<String> {
        let total = self.train.len() + self.val.len();
        let want = total as f64 * val_fraction;
        let got = self.val.len() as f64;
        ((got - want).abs() > (want * 0.5).max(1.0)).then(|| {
            format!(
                "validation has {} of {total} images ({:.0} %) where {:.0} % was asked for: \
                 the images fall into few sample groups, and a group is never split",
                self.val.len(),
                100.0 * got / total.max(1) as f64,
                100.0 * val_fraction
            )
        })
    }
}

/// Settings of a head training run.
#[derive(Debug, Clone, Serialize)]
pub struct HeadConfig {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    pub seed: u64,
}

impl HeadConfig {
    /// Settings for fine-tuning convolution layers. At 1e-3 Adam's first steps move every
    /// pretrained weight by about 10 % at once and the evaluation-mode network (BatchNorm with
    /// its running statistics) diverges (`fine_tuning_rate_keeps_the_network_from_diverging`
    /// shows it); the head alone over 512 pooled features overshoots the same way.
    pub fn fine_tune() -> Self {
        Self {
            learning_rate: 1e-4,
            ..Self::default()
        }
    }
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-4,
            batch_size: 8,
            max_epochs: 300,
            patience: 20,
            seed: 42,
        }
    }
}

/// What one epoch did.
#[derive(Debug, Clone, Serialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Validation MAE per metric, score units.
    pub val_mae: Vec<f64>,
}

/// The trained head (the best epoch's) and the history.
#[derive(Debug, Clone)]
pub struct HeadResult {
    /// `[metrics × 512]`, row-major, as PyTorch's `fc.weight`.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub best_epoch: usize,
    pub history: Vec<EpochReport>,
}

/// The parent's head: `fc.weight` and `fc.bias`.
pub fn head_of(weights: &Weights) -> (Vec<f32>, Vec<f32>) {
    (
        weights.get("fc.weight").data.clone(),
        weights.get("fc.bias").data.clone(),
    )
}

/// Raw outputs (before × max) of a head for one feature vector.
pub fn head_outputs(weight: &[f32], bias: &[f32], features: &[f32]) -> Vec<f64> {
    bias.iter()
        .enumerate()
        .map(|(m, b)| {
            let row = &weight[m * FEATURES..(m + 1) * FEATURES];
            f64::from(*b)
                + row
                    .iter()
                    .zip(features)
                    .map(|(w, x)| f64::from(*w) * f64::from(*x))
                    .sum::<f64>()
        })
        .collect()
}

/// The training loss computed directly (no autograd): mean over images and metrics of
/// (output − target / max)².
pub fn reference_loss(weight: &[f32], bias: &[f32], samples: &[&Sample], max: &[f64]) -> f64 {
    let mut sum = 0.0;
    let mut n = 0usize;
    for s in samples {
        let out = head_outputs(weight, bias, &s.features);
        for (m, o) in out.iter().enumerate() {
            sum += (o - s.targets[m] / max[m]).powi(2);
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// The training targets `[images, metrics]`: each score divided by its metric's max.
pub(crate) fn target_tensor<'a>(
    targets: impl Iterator<Item = &'a [f64]>,
    max: &[f64],
    dev: &Device,
) -> Result<Tensor, TrainError> {
    let y: Vec<f32> = targets
        .flat_map(|t| t.iter().zip(max).map(|(t, m)| (t / m) as f32))
        .collect();
    let n = y.len() / max.len().max(1);
    Ok(Tensor::from_vec(y, (n, max.len()), dev)?)
}

fn tensors(samples: &[&Sample], max: &[f64], dev: &Device) -> Result<(Tensor, Tensor), TrainError> {
    let x: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.features.iter().copied())
        .collect();
    Ok((
        Tensor::from_vec(x, (samples.len(), FEATURES), dev)?,
        target_tensor(samples.iter().map(|s| s.targets.as_slice()), max, dev)?,
    ))
}

fn forward(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    x.matmul(&w.t()?)?.broadcast_add(b)
}

fn mse(pred: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    pred.sub(y)?.sqr()?.mean_all()
}

/// The loss of one optimisation step's forward pass with candle (for checking against
/// [`reference_loss`]).
pub fn candle_loss(
    weight: &[f32],
    bias: &[f32],
    samples: &[&Sample],
    max: &[f64],
) -> Result<f64, TrainError> {
    let dev = Device::Cpu;
    let (x, y) = tensors(samples, max, &dev)?;
    let w = Tensor::from_vec(weight.to_vec(), (max.len(), FEATURES), &dev)?;
    let b = Tensor::from_vec(bias.to_vec(), max.len(), &dev)?;
    Ok(f64::from(
        mse(&forward(&x, &w, &b)?, &y)?.to_scalar::<f32>()?,
    ))
}

/// Trains a new head from the parent's, reporting every epoch. Stops early when the
/// validation loss has not improved for `patience` epochs, and returns the best epoch's head.
/// `cancel` turning true stops with [`TrainError::Cancelled`].
pub fn train_head(
    parent: (&[f32], &[f32]),
    samples: &[Sample],
    split: &Split,
    max: &[f64],
    cfg: &HeadConfig,
    cancel: &AtomicBool,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<HeadResult, TrainError> {
    if split.train.is_empty() || split.val.is_empty() {
        return Err(TrainError::NotEnoughData(
            "both the training and the validation side need images".into(),
        ));
    }
    let k = max.len();
    if parent.0.len() != k * FEATURES || parent.1.len() != k {
        return Err(TrainError::Compute(format!(
            "the parent's head does not have {k} outputs"
        )));
    }
    let dev = Device::Cpu;
    let val: Vec<&Sample> = split.val.iter().map(|&i| &samples[i]).collect();
    let (xv, yv) = tensors(&val, max, &dev)?;
    let w = Var::from_tensor(&Tensor::from_vec(parent.0.to_vec(), (k, FEATURES), &dev)?)?;
    let b = Var::from_tensor(&Tensor::from_vec(parent.1.to_vec(), k, &dev)?)?;
    let mut opt = AdamW::new(
        vec![w.clone(), b.clone()],
        ParamsAdamW {
            lr: cfg.learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )?;
    // Where validation starts (the parent's head): the yardstick for divergence.
    let mut divergence = Divergence::new(f64::from(
        mse(&forward(&xv, w.as_tensor(), b.as_tensor())?, &yv)?.to_scalar::<f32>()?,
    ));
    let mut rng = Rng::new(cfg.seed);
    let mut order = split.train.clone();
    let mut best: Option<(f64, Vec<f32>, Vec<f32>, usize)> = None;
    let mut history = Vec::new();
    let max_t = Tensor::from_vec(max.iter().map(|m| *m as f32).collect::<Vec<_>>(), k, &dev)?;
    for epoch in 1..=cfg.max_epochs.max(1) {
        if cancel.load(Ordering::Relaxed) {
            return Err(TrainError::Cancelled);
        }
        rng.shuffle(&mut order);
        let mut total = 0.0;
        let mut batches = 0;
        for chunk in order.chunks(cfg.batch_size.max(1)) {
            let batch: Vec<&Sample> = chunk.iter().map(|&i| &samples[i]).collect();
            let (x, y) = tensors(&batch, max, &dev)?;
            let loss = mse(&forward(&x, w.as_tensor(), b.as_tensor())?, &y)?;
            opt.backward_step(&loss)?;
            total += f64::from(loss.to_scalar::<f32>()?);
            batches += 1;
        }
        let pred = forward(&xv, w.as_tensor(), b.as_tensor())?;
        let val_loss = f64::from(mse(&pred, &yv)?.to_scalar::<f32>()?);
        // MAE of predictions clipped to the schema's range, as scoring clips them.
        let abs = pred
            .clamp(0f32, 1f32)?
            .sub(&yv)?
            .abs()?
            .broadcast_mul(&max_t)?
            .mean(0)?
            .to_vec1::<f32>()?;
        let report = EpochReport {
            epoch,
            train_loss: total / batches.max(1) as f64,
            val_loss,
            val_mae: abs.into_iter().map(f64::from).collect(),
        };
        on_epoch(&report);
        history.push(report);
        divergence.check(epoch, val_loss)?;
        if best.as_ref().is_none_or(|(l, ..)| val_loss < *l) {
            best = Some((
                val_loss,
                w.as_tensor().flatten_all()?.to_vec1::<f32>()?,
                b.as_tensor().to_vec1::<f32>()?,
                epoch,
            ));
        } else if best
            .as_ref()
            .is_some_and(|(.., e)| epoch - e >= cfg.patience.max(1))
        {
            break;
        }
    }
    let (_, weight, bias, best_epoch) =
        best.ok_or_else(|| TrainError::Compute("no epoch ran".into()))?;
    Ok(HeadResult {
        weight,
        bias,
        best_epoch,
        history,
    })
}

/// The parent's weights with a new head.
pub fn with_head(
    parent: &Weights,
    weight: &[f32],
    bias: &[f32],
) -> Result<Weights, crate::WeightsError> {
    let mut tensors = parent.tensors().clone();
    let k = bias.len();
    tensors.insert(
        "fc.weight".into(),
        WeightTensor::new(vec![k, FEATURES], weight.to_vec()),
    );
    tensors.insert("fc.bias".into(), WeightTensor::new(vec![k], bias.to_vec()));
    Weights::from_tensors(tensors)
}

/// Validation quality of one metric: MAE and quadratic weighted kappa on the schema's grid,
/// for the new model and for its parent on the same images.
#[derive(Debug, Clone, Serialize)]
pub struct MetricQuality {
    pub metric: String,
    pub n: usize,
    pub mae: Stat,
    pub qwk: Stat,
    pub parent_mae: Stat,
    pub parent_qwk: Stat,
}

/// Scores (rounded as drafts are) of `outputs` (raw) compared with the targets, per metric.
pub fn quality(
    schema: &Schema,
    targets: &[Vec<f64>],
    outputs: &[Vec<f64>],
    parent_outputs: &[Vec<f64>],
) -> Vec<MetricQuality> {
    let score = |raw: &[f64]| -> Vec<f64> {
        let r: Vec<f32> = raw.iter().map(|v| *v as f32).collect();
        schema.scores_from_raw(&r).values().copied().collect()
    };
    let new: Vec<Vec<f64>> = outputs.iter().map(|o| score(o)).collect();
    let old: Vec<Vec<f64>> = parent_outputs.iter().map(|o| score(o)).collect();
    schema
        .metrics
        .iter()
        .enumerate()
        .map(|(m, metric)| {
            let t: Vec<f64> = targets.iter().map(|x| x[m]).collect();
            let a: Vec<f64> = new.iter().map(|x| x[m]).collect();
            let p: Vec<f64> = old.iter().map(|x| x[m]).collect();
            let n_labels = agreement::grid(metric.max, schema.step).len();
            let idx = |v: &[f64]| -> Vec<usize> {
                v.iter()
                    .map(|x| agreement::grid_index(*x, schema.step))
                    .collect()
            };
            MetricQuality {
                metric: metric.name.clone(),
                n: t.len(),
                mae: agreement::mae(&a, &t),
                qwk: agreement::cohen_kappa(&idx(&a), &idx(&t), n_labels, KappaWeights::Quadratic),
                parent_mae: agreement::mae(&p, &t),
                parent_qwk: agreement::cohen_kappa(
                    &idx(&p),
                    &idx(&t),
                    n_labels,
                    KappaWeights::Quadratic,
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn divergence_is_three_bad_epochs_in_a_row_or_not_a_number() {
        let mut d = Divergence::new(0.05);
        assert!(d.check(1, 12.0).is_ok(), "one overshoot is tolerated");
        assert!(d.check(2, 0.04).is_ok());
        assert!(d.check(3, 12.0).is_ok());
        assert!(d.check(4, 30.0).is_ok());
        let e = d.check(5, 60.0).unwrap_err();
        assert!(e.to_string().contains("epoch 5"), "{e}");
        assert!(e.to_string().contains("diverged"), "{e}");
        assert!(Divergence::new(0.05).check(1, f64::NAN).is_err());
        // Below 1.0 (a whole range's squared error) is never divergence.
        let mut small = Divergence::new(0.001);
        for epoch in 1..10 {
            assert!(small.check(epoch, 0.5).is_ok());
        }
    }

    fn groups(spec: &[(&str, usize)]) -> Vec<String> {
        spec.iter()
            .flat_map(|(g, n)| std::iter::repeat_n(g.to_string(), *n))
            .collect()
    }

    #[test]
    fn one_large_group_does_not_take_the_validation_side() {
        // 21 images: 15 whose names give no sample number (one group) and 6 samples.
        let g = groups(&[
            ("(none)", 15),
            ("S-1", 1),
            ("S-2", 1),
            ("S-3", 1),
            ("S-4", 1),
            ("S-5", 1),
            ("S-6", 1),
        ]);
        for seed in 0..20 {
            let split = split_by_group(&g, 0.2, seed).unwrap();
            assert_eq!(split.val.len(), 4, "seed {seed}: {:?}", split.val_groups);
            assert!(!split.val_groups.contains(&"(none)".to_string()));
            assert_eq!(split.share_note(0.2), None);
        }
    }

    #[test]
    fn whole_groups_that_cannot_come_close_are_said_so() {
        let g = groups(&[("A", 10), ("B", 10)]);
        let split = split_by_group(&g, 0.2, 1).unwrap();
        assert_eq!(split.val.len(), 10);
        let note = split.share_note(0.2).unwrap();
        assert!(note.contains("10 of 20 images"), "{note}");
        // Same seed, same split.
        assert_eq!(split_by_group(&g, 0.2, 1).unwrap().val, split.val);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_group_is_never_on_both_sides() {
        let g = groups(&["a", "a", "b", "b", "b", "c", "d", "d", "e", "e", "e", "e"]);
        for seed in 0..50 {
            let s = split_by_group(&g, 0.25, seed).unwrap();
            assert!(!s.val.is_empty() && !s.train.is_empty());
            for &i in &s.val {
                for &j in &s.train {
                    assert_ne!(g[i], g[j], "seed {seed}: group {} on both sides", g[i]);
                }
            }
            assert_eq!(s.val.len() + s.train.len(), g.len());
            assert_eq!(split_by_group(&g, 0.25, seed).unwrap(), s, "deterministic");
        }
        assert!(split_by_group(&groups(&["a", "a"]), 0.2, 1).is_err());
    }

    #[test]
    fn cancelling_stops_training_without_a_result() {
        let samples: Vec<Sample> = (0..6)
            .map(|i| Sample {
                key: i.to_string(),
                group: format!("g{}", i % 3),
                features: vec![0.1; FEATURES],
                targets: vec![1.0],
            })
            .collect();
        let groups: Vec<String> = samples.iter().map(|s| s.group.clone()).collect();
        let split = split_by_group(&groups, 0.3, 1).unwrap();
        let cancel = AtomicBool::new(true);
        let w = vec![0.0; FEATURES];
        let r = train_head(
            (&w, &[0.0]),
            &samples,
            &split,
            &[4.0],
            &HeadConfig::default(),
            &cancel,
            |_| {},
        );
        assert!(matches!(r, Err(TrainError::Cancelled)));
    }

    #[test]
    fn candle_loss_equals_the_loss_computed_by_hand() {
        let mut rng = Rng::new(7);
        let mut f = || (rng.next_u64() % 1000) as f32 / 500.0 - 1.0;
        let samples: Vec<Sample> = (0..8)
            .map(|i| Sample {
                key: i.to_string(),
                group: "g".into(),
                features: (0..FEATURES).map(|_| f()).collect(),
                targets: vec![1.5, 0.25],
            })
            .collect();
        let w: Vec<f32> = (0..2 * FEATURES).map(|_| f() * 0.01).collect();
        let b = vec![0.1, -0.2];
        let refs: Vec<&Sample> = samples.iter().collect();
        let max = [4.0, 3.0];
        let by_hand = reference_loss(&w, &b, &refs, &max);
        let candle = candle_loss(&w, &b, &refs, &max).unwrap();
        assert!(
            (by_hand - candle).abs() < 1e-5 * by_hand.max(1.0),
            "{by_hand} vs {candle}"
        );
    }
}
