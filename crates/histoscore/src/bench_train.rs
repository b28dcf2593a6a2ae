//! `histoscore bench-train`: how long training takes on this machine, for 500 images.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use histoscore_engine::onnx::FEATURES;
use histoscore_engine::train::{self, HeadConfig, Rng, Sample};

use crate::{EngineArg, ModelArg, SchemaArg};

#[derive(Args)]
pub struct BenchTrainArgs {
    /// Images in the training set.
    #[arg(long, default_value_t = 500, env = "HISTOSCORE_BENCH_IMAGES")]
    images: usize,
    /// Epochs to time.
    #[arg(long, default_value_t = 20, env = "HISTOSCORE_BENCH_EPOCHS")]
    epochs: usize,
    /// Images for timing one epoch of the full fine-tune (scaled to --images in the table).
    #[arg(long, default_value_t = 40, env = "HISTOSCORE_BENCH_FULL_IMAGES")]
    full_images: usize,
    /// Also run the learning check on real H&E crops (targets from colour deconvolution): the
    /// training mean, head-only training and the full fine-tune on held-out images. Give the
    /// images (each one sample group), e.g. the shared corpus's real H&E files.
    #[arg(long, value_name = "IMAGE", num_args = 1.., env = "HISTOSCORE_BENCH_LEARNING")]
    learning: Vec<std::path::PathBuf>,
    /// Crops per image for --learning.
    #[arg(long, default_value_t = 24, env = "HISTOSCORE_BENCH_LEARNING_CROPS")]
    learning_crops: usize,
    /// Most fine-tune epochs for --learning (it stops earlier when validation stops improving).
    #[arg(long, default_value_t = 20, env = "HISTOSCORE_BENCH_LEARNING_EPOCHS")]
    learning_epochs: usize,
    /// Python with PyTorch, to time PyTorch's fine-tune step beside ours (falls back to the
    /// last recorded figure when it has no torch).
    #[arg(long, default_value = "python3", env = "HISTOSCORE_BENCH_PYTHON")]
    python: String,
    /// The shared reference-model fixtures (the fixed batch both fine-tune steps use).
    #[arg(
        long,
        default_value = "../shared/fixtures/reference-model",
        env = "HISTOSCORE_BENCH_FIXTURES"
    )]
    fixtures: std::path::PathBuf,
    #[command(flatten)]
    model: ModelArg,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    engine: EngineArg,
}

pub fn run(args: BenchTrainArgs) -> Result<()> {
    let schema = args.schema.load()?;
    let model = args.model.load(&schema)?;
    let k = schema.metrics.len();
    // Features of the frozen network: the one-time cost per image (cached afterwards).
    let (queue, _thread) = model
        .start_features(args.engine.kind(), args.engine.threads())
        .map_err(|e| anyhow::anyhow!("could not start the engine: {e}"))?;
    let mut rng = Rng::new(1);
    let input: Vec<f32> = (0..histoscore_engine::INPUT_LEN)
        .map(|_| (rng.next_u64() % 1000) as f32 / 500.0 - 1.0)
        .collect();
    queue.submit(input.clone())?;
    let reps = 5;
    let t = Instant::now();
    for _ in 0..reps {
        queue.submit(input.clone())?;
    }
    let per_image = t.elapsed().as_secs_f64() / reps as f64;
    // The head on cached features.
    let samples: Vec<Sample> = (0..args.images)
        .map(|i| Sample {
            key: i.to_string(),
            group: format!("g{}", i % 50),
            features: (0..FEATURES)
                .map(|_| (rng.next_u64() % 1000) as f32 / 200.0)
                .collect(),
            targets: (0..k).map(|m| (i + m) as f64 % 4.0 * 0.25).collect(),
        })
        .collect();
    let groups: Vec<String> = samples.iter().map(|s| s.group.clone()).collect();
    let split = train::split_by_group(&groups, 0.2, 1)?;
    let max: Vec<f64> = schema.metrics.iter().map(|m| m.max).collect();
    let (w, b) = train::head_of(model.weights());
    let cfg = HeadConfig {
        max_epochs: args.epochs.max(1),
        patience: usize::MAX,
        ..HeadConfig::default()
    };
    let t = Instant::now();
    let r = train::train_head(
        (&w, &b),
        &samples,
        &split,
        &max,
        &cfg,
        &AtomicBool::new(false),
        |_| {},
    )?;
    let per_epoch = t.elapsed().as_secs_f64() / r.history.len().max(1) as f64;
    println!(
        "| step ({} images, engine {}, {} threads) | seconds |",
        args.images,
        queue.backend(),
        args.engine.threads()
    );
    println!("|---|---|");
    println!(
        "| features: network forward, once per image, then cached (decoding the file not included) | {per_image:.3} per image, {:.1} for all |",
        per_image * args.images as f64
    );
    println!("| head-only training, per epoch | {per_epoch:.4} |");
    // The original's recipe: layer3, layer4 and the head, BatchNorm in training mode.
    let full = if args.full_images > 0 {
        let tensors: Vec<histoscore_engine::finetune::TensorSample> = (0..args.full_images)
            .map(|i| histoscore_engine::finetune::TensorSample {
                group: format!("g{}", i % 10),
                input: input
                    .iter()
                    .map(|v| v * (1.0 + (i % 7) as f32 * 0.01))
                    .collect(),
                targets: (0..k).map(|m| (i + m) as f64 % 4.0 * 0.25).collect(),
            })
            .collect();
        let groups: Vec<String> = tensors.iter().map(|s| s.group.clone()).collect();
        let split = train::split_by_group(&groups, 0.2, 1)?;
        let cfg = HeadConfig {
            max_epochs: 1,
            ..HeadConfig::default()
        };
        let t = Instant::now();
        histoscore_engine::finetune::fine_tune(
            model.weights(),
            histoscore_engine::finetune::DEFAULT_TRAINABLE,
            &tensors,
            &split,
            &max,
            &cfg,
            &AtomicBool::new(false),
            |_| {},
        )?;
        let secs = t.elapsed().as_secs_f64();
        format!(
            "{:.1} for {} images, so about {:.0} for {}",
            secs,
            args.full_images,
            secs / args.full_images as f64 * args.images as f64,
            args.images
        )
    } else {
        "not measured (--full-images 0)".into()
    };
    println!("| full fine-tune (layer3, layer4, head), one epoch | {full} |");
    fine_tune_step(&args, &model, &schema)?;
    if !args.learning.is_empty() {
        learning(&args, &model, &schema)?;
    }
    Ok(())
}

/// PyTorch's figures for the fine-tune step on this machine, as last recorded.
const PYTORCH: &str = include_str!("../../engine/tests/data/finetune_losses.json");

/// One step of the full fine-tune (batch 8, 224 × 224, layer3 + layer4 + head, BatchNorm in
/// training mode), ours beside PyTorch's on the same batch.
fn fine_tune_step(
    args: &BenchTrainArgs,
    model: &histoscore_engine::Model,
    schema: &histoscore_domain::Schema,
) -> Result<()> {
    let k = schema.metrics.len();
    let max: Vec<f64> = schema.metrics.iter().map(|m| m.max).collect();
    let mut rng = Rng::new(3);
    let batch: Vec<histoscore_engine::finetune::TensorSample> = (0..8)
        .map(|i| histoscore_engine::finetune::TensorSample {
            group: String::new(),
            input: (0..histoscore_engine::INPUT_LEN)
                .map(|_| (rng.next_u64() % 1000) as f32 / 500.0 - 1.0)
                .collect(),
            targets: (0..k).map(|m| (i + m) as f64 % 4.0 * 0.25).collect(),
        })
        .collect();
    let steps = 4;
    let t = Instant::now();
    histoscore_engine::finetune::steps_on_batch(
        model.weights(),
        histoscore_engine::finetune::DEFAULT_TRAINABLE,
        &batch,
        &max,
        1e-4,
        steps,
    )?;
    let ours = t.elapsed().as_secs_f64() / steps as f64;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/make-finetune-fixture.py");
    let measured = std::process::Command::new(&args.python)
        .arg(&script)
        .arg(&args.fixtures)
        .arg(args.engine.threads().to_string())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok());
    let (pytorch, how) = match &measured {
        Some(v) => (
            v["step_seconds_median"].as_f64().unwrap_or(f64::NAN),
            format!("measured now, torch {}", v["torch"].as_str().unwrap_or("?")),
        ),
        None => {
            let v: serde_json::Value = serde_json::from_str(PYTORCH)?;
            (
                v["step_seconds_median"].as_f64().unwrap_or(f64::NAN),
                format!(
                    "last recorded, torch {} ({} has no torch)",
                    v["torch"].as_str().unwrap_or("?"),
                    args.python
                ),
            )
        }
    };
    println!("| full fine-tune step, batch 8: Histoscore | {ours:.2} |");
    println!(
        "| full fine-tune step, batch 8: PyTorch ({how}) | {pytorch:.2} (Histoscore takes {:.1}× as long) |",
        ours / pytorch
    );
    Ok(())
}

/// The learning check on real crops, larger than the test's.
fn learning(
    args: &BenchTrainArgs,
    model: &histoscore_engine::Model,
    schema: &histoscore_domain::Schema,
) -> Result<()> {
    let cfg = histoscore_engine::learning::LearningConfig {
        sources: args.learning.clone(),
        crops_per_image: args.learning_crops,
        val_fraction: 0.25,
        seed: 7,
        head_epochs: 300,
        full_epochs: args.learning_epochs,
        engine: (args.engine.kind(), args.engine.threads()),
    };
    let max: Vec<f64> = schema.metrics.iter().map(|m| m.max).collect();
    let r = histoscore_engine::learning::demonstrate(model, &cfg, &max)?;
    println!();
    println!(
        "Learning on real H&E crops ({} training, {} held out from {}): mean absolute error in \
         score units, targets from colour deconvolution",
        r.train_images,
        r.val_images,
        r.val_groups.join(", ")
    );
    println!();
    println!("| predictor | held-out MAE | seconds |");
    println!("|---|---:|---:|");
    println!("| the training mean | {:.3} | |", r.baseline_mae);
    println!(
        "| head-only training | {:.3} | {:.1} |",
        r.head_mae, r.head_seconds
    );
    println!(
        "| full fine-tune ({} epochs) | {:.3} | {:.1} |",
        r.full_epochs_run, r.full_mae, r.full_seconds
    );
    Ok(())
}
