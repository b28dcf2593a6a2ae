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
    Ok(())
}
