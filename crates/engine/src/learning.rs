//! Does training learn? A check on real H&E pixels that needs nobody's scores: crops of real
//! images get targets computed from their own content by colour deconvolution (hematoxylin and
//! eosin density, nuclear and tissue share, each scaled to the schema's range over the crops),
//! and head-only training and the full fine-tune (which starts from the trained head, as
//! Histoscore's training does) are compared, on held-out groups (one group
//! per source image), with a baseline that predicts the training mean. Used by a test (small)
//! and by `histoscore bench-train --learning` (larger).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use histoscore_imaging::deconvolution::stain_densities;
use histoscore_imaging::preprocess::{MEAN, STD};
use histoscore_imaging::{decode_file, DecodeOptions, INPUT_SIZE};

use crate::finetune::{self, TensorSample, DEFAULT_TRAINABLE};
use crate::train::{self, HeadConfig, Rng, Sample, TrainError};
use crate::{EngineKind, Model};

/// What to run.
#[derive(Debug, Clone)]
pub struct LearningConfig {
    /// Real H&E images; each is one sample group.
    pub sources: Vec<PathBuf>,
    /// Crops (224 × 224, the network's input, at the image's own resolution) per image.
    pub crops_per_image: usize,
    pub val_fraction: f64,
    pub seed: u64,
    pub head_epochs: usize,
    pub full_epochs: usize,
    /// Engine and threads for the frozen network's features (head-only training).
    pub engine: (EngineKind, usize),
}

/// What came out, mean absolute error on the held-out groups in score units (averaged over
/// the metrics).
#[derive(Debug, Clone)]
pub struct LearningReport {
    pub train_images: usize,
    pub val_images: usize,
    pub val_groups: Vec<String>,
    pub baseline_mae: f64,
    pub head_mae: f64,
    pub full_mae: f64,
    pub head_seconds: f64,
    pub full_seconds: f64,
    pub full_epochs_run: usize,
}

/// Crops of the sources with content targets in score units (`max` per metric; four metrics
/// take hematoxylin, eosin, nuclear share and tissue share, more repeat them).
pub fn crops(cfg: &LearningConfig, max: &[f64]) -> Result<Vec<TensorSample>, TrainError> {
    let side = INPUT_SIZE;
    let mut rng = Rng::new(cfg.seed);
    let mut out: Vec<(String, Vec<f32>, [f64; 4])> = Vec::new();
    for path in &cfg.sources {
        let img = decode_file(path, &DecodeOptions::default())
            .map_err(|e| TrainError::Compute(format!("{}: {e}", path.display())))?;
        let (w, h) = (img.width as usize, img.height as usize);
        if w < side || h < side {
            continue;
        }
        let group = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for _ in 0..cfg.crops_per_image {
            let x0 = (rng.next_u64() % (w - side + 1) as u64) as usize;
            let y0 = (rng.next_u64() % (h - side + 1) as u64) as usize;
            let mut rgb = Vec::with_capacity(side * side * 3);
            for y in y0..y0 + side {
                rgb.extend_from_slice(&img.rgb[(y * w + x0) * 3..(y * w + x0 + side) * 3]);
            }
            let d = stain_densities(&rgb);
            let plane = side * side;
            let mut t = vec![0f32; 3 * plane];
            for (i, px) in rgb.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    t[c * plane + i] = (f32::from(px[c]) / 255.0 - MEAN[c]) / STD[c];
                }
            }
            out.push((
                group.clone(),
                t,
                [d.hematoxylin, d.eosin, d.nuclear_share, d.tissue_share],
            ));
        }
    }
    // Each content measure scaled to the metric's range over all crops.
    let mut lo = [f64::INFINITY; 4];
    let mut hi = [f64::NEG_INFINITY; 4];
    for (_, _, v) in &out {
        for k in 0..4 {
            lo[k] = lo[k].min(v[k]);
            hi[k] = hi[k].max(v[k]);
        }
    }
    Ok(out
        .into_iter()
        .map(|(group, input, v)| TensorSample {
            group,
            input,
            targets: max
                .iter()
                .enumerate()
                .map(|(m, mx)| {
                    let k = m % 4;
                    let span = (hi[k] - lo[k]).max(1e-12);
                    (v[k] - lo[k]) / span * mx
                })
                .collect(),
        })
        .collect())
}

/// Mean absolute error of raw outputs (× max, clipped to the range, as scoring does) against
/// targets, averaged over images and metrics.
fn mae(outputs: &[Vec<f64>], targets: &[&[f64]], max: &[f64]) -> f64 {
    let mut sum = 0.0;
    for (o, t) in outputs.iter().zip(targets) {
        for ((raw, target), mx) in o.iter().zip(t.iter()).zip(max) {
            sum += ((raw * mx).clamp(0.0, *mx) - target).abs();
        }
    }
    sum / (outputs.len() * max.len()).max(1) as f64
}

/// Runs the baseline, head-only training and the full fine-tune from `model`.
pub fn demonstrate(
    model: &Model,
    cfg: &LearningConfig,
    max: &[f64],
) -> Result<LearningReport, TrainError> {
    let samples = crops(cfg, max)?;
    let groups: Vec<String> = samples.iter().map(|s| s.group.clone()).collect();
    let split = train::split_by_group(&groups, cfg.val_fraction, cfg.seed)?;
    let val_targets: Vec<&[f64]> = split
        .val
        .iter()
        .map(|&i| samples[i].targets.as_slice())
        .collect();
    // The baseline: the training mean for every image.
    let mean: Vec<f64> = (0..max.len())
        .map(|m| {
            split
                .train
                .iter()
                .map(|&i| samples[i].targets[m])
                .sum::<f64>()
                / split.train.len().max(1) as f64
        })
        .collect();
    let baseline: Vec<Vec<f64>> = split
        .val
        .iter()
        .map(|_| mean.iter().zip(max).map(|(v, mx)| v / mx).collect())
        .collect();
    let baseline_mae = mae(&baseline, &val_targets, max);
    let never = AtomicBool::new(false);

    // Head only: the frozen network's features, then the last layer.
    let t = Instant::now();
    let (queue, _thread) = model
        .start_features(cfg.engine.0, cfg.engine.1)
        .map_err(|e| TrainError::Compute(e.to_string()))?;
    let inputs: Vec<Vec<f32>> = samples.iter().map(|s| s.input.clone()).collect();
    let features = queue
        .submit_batch(&inputs)
        .map_err(|e| TrainError::Compute(e.to_string()))?;
    let head_samples: Vec<Sample> = samples
        .iter()
        .zip(features)
        .enumerate()
        .map(|(i, (s, f))| Sample {
            key: i.to_string(),
            group: s.group.clone(),
            features: f,
            targets: s.targets.clone(),
        })
        .collect();
    let (pw, pb) = train::head_of(model.weights());
    let head_cfg = HeadConfig {
        max_epochs: cfg.head_epochs,
        seed: cfg.seed,
        ..HeadConfig::default()
    };
    let head = train::train_head(
        (&pw, &pb),
        &head_samples,
        &split,
        max,
        &head_cfg,
        &never,
        |_| {},
    )?;
    let head_out: Vec<Vec<f64>> = split
        .val
        .iter()
        .map(|&i| train::head_outputs(&head.weight, &head.bias, &head_samples[i].features))
        .collect();
    let head_mae = mae(&head_out, &val_targets, max);
    let head_seconds = t.elapsed().as_secs_f64();

    // The full fine-tune: layer3, layer4 and the head, BatchNorm in training mode, starting
    // from the head just trained (as Histoscore's training does).
    let t = Instant::now();
    let start = train::with_head(model.weights(), &head.weight, &head.bias)
        .map_err(|e| TrainError::Compute(e.to_string()))?;
    let full_cfg = HeadConfig {
        max_epochs: cfg.full_epochs,
        seed: cfg.seed,
        patience: 3,
        ..HeadConfig::fine_tune()
    };
    let (weights, _, history) = finetune::fine_tune(
        &start,
        DEFAULT_TRAINABLE,
        &samples,
        &split,
        max,
        &full_cfg,
        &never,
        |_| {},
    )?;
    let val_inputs: Vec<Vec<f32>> = split
        .val
        .iter()
        .map(|&i| samples[i].input.clone())
        .collect();
    let full_out: Vec<Vec<f64>> = finetune::eval_outputs(&weights, &val_inputs)?
        .into_iter()
        .map(|r| r.into_iter().map(f64::from).collect())
        .collect();
    let full_mae = mae(&full_out, &val_targets, max);
    Ok(LearningReport {
        train_images: split.train.len(),
        val_images: split.val.len(),
        val_groups: split.val_groups.clone(),
        baseline_mae,
        head_mae,
        full_mae,
        head_seconds,
        full_seconds: t.elapsed().as_secs_f64() + head_seconds,
        full_epochs_run: history.len(),
    })
}
