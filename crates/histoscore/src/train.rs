//! `histoscore train`: a new model from reviewed scores (in the database, or a folder of
//! images with a CSV of scores), registered with its parent, training-set snapshot and
//! validation metrics, and never activated automatically.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use histoscore_app::training::{train_model, Progress, TrainRequest};
use histoscore_domain::agreement::Stat;

use crate::common::DataArgs;
use crate::{EngineArg, SchemaArg};

#[derive(Args)]
pub struct TrainArgs {
    /// Train only the head (the last layer) on the frozen network's cached features: seconds
    /// instead of minutes per epoch.
    #[arg(long, env = "HISTOSCORE_HEAD_ONLY")]
    head_only: bool,
    /// Layers that train when fine-tuning; the others stay frozen (the original's choice:
    /// layer3, layer4 and the head fc). Any of conv1, bn1, layer1, layer2, layer3, layer4, fc.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "layer3,layer4,fc",
        env = "HISTOSCORE_TRAIN_LAYERS"
    )]
    layers: Vec<String>,
    /// The model to start from (registry id). Default: the active model.
    #[arg(long, value_name = "MODEL_ID", env = "HISTOSCORE_TRAIN_FROM")]
    from: Option<String>,
    /// Start from the built-in untrained demo weights (only with no trained model to start
    /// from; the result is rarely useful).
    #[arg(long, env = "HISTOSCORE_ALLOW_UNTRAINED_PARENT")]
    allow_untrained_parent: bool,
    /// Train from this folder of images instead of the database (with --csv).
    #[arg(
        long,
        value_name = "DIR",
        requires = "csv",
        env = "HISTOSCORE_TRAIN_FOLDER"
    )]
    folder: Option<PathBuf>,
    /// CSV with a `filename` column and one column per metric (the schema's names).
    #[arg(
        long,
        value_name = "FILE",
        requires = "folder",
        env = "HISTOSCORE_TRAIN_CSV"
    )]
    csv: Option<PathBuf>,
    /// Share of the images (whole sample groups) kept for validation.
    #[arg(long, default_value_t = 0.2, env = "HISTOSCORE_VAL_FRACTION")]
    val_fraction: f64,
    /// Random seed: the same data and seed give the same model.
    #[arg(long, default_value_t = 42, env = "HISTOSCORE_SEED")]
    seed: u64,
    /// Most epochs (training stops earlier when validation stops improving).
    #[arg(long, default_value_t = 300, env = "HISTOSCORE_EPOCHS")]
    epochs: usize,
    /// Name of the new model in the registry.
    #[arg(long, env = "HISTOSCORE_MODEL_NAME")]
    name: Option<String>,
    #[command(flatten)]
    schema: SchemaArg,
    #[command(flatten)]
    engine: EngineArg,
    #[command(flatten)]
    data: DataArgs,
}

fn stat(s: &Stat) -> String {
    match s {
        Stat::Value(v) => format!("{v:.3}"),
        Stat::NotDefined(_) => "n/a".into(),
    }
}

pub fn run(args: TrainArgs) -> Result<bool> {
    let schema = args.schema.load()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let store = args.data.open().await?;
        let blobs = args.data.blobs()?;
        let req = TrainRequest {
            from: args.from.clone(),
            allow_untrained_parent: args.allow_untrained_parent,
            val_fraction: args.val_fraction,
            seed: args.seed,
            epochs: args.epochs,
            name: args.name.clone(),
            head_only: args.head_only,
            layers: args.layers.clone(),
            folder: args.folder.clone().zip(args.csv.clone()),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let names: Vec<String> = schema.metrics.iter().map(|m| m.name.clone()).collect();
        let printer = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                match p {
                    Progress::Features { done, total } => {
                        eprint!("\rhistoscore: features {done}/{total}");
                        if done == total {
                            eprintln!();
                        }
                    }
                    Progress::Training {
                        train,
                        validation,
                        validation_groups,
                    } => eprintln!(
                        "histoscore: training on {train} images ({validation} for validation: \
                         groups {})",
                        validation_groups.join(", ")
                    ),
                    Progress::Epoch(r) => {
                        let mae: Vec<String> = names
                            .iter()
                            .zip(&r.val_mae)
                            .map(|(m, v)| format!("{m} {v:.3}"))
                            .collect();
                        eprintln!(
                            "epoch {:>3}  train loss {:.5}  val loss {:.5}  val MAE {}",
                            r.epoch,
                            r.train_loss,
                            r.val_loss,
                            mae.join(", ")
                        );
                    }
                    Progress::Warning { message } => eprintln!("histoscore: WARNING: {message}"),
                }
            }
        });
        let cancel = Arc::new(AtomicBool::new(false));
        let outcome = train_model(
            &store,
            &*blobs,
            &args.data.data_dir,
            &schema,
            (args.engine.kind(), args.engine.threads()),
            &req,
            "histoscore train",
            tx,
            cancel,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let _ = printer.await;
        println!("metric                      MAE (parent)      QWK (parent)");
        for q in &outcome.quality {
            println!(
                "{:<26} {:>6} ({:>6})   {:>6} ({:>6})",
                q.metric,
                stat(&q.mae),
                stat(&q.parent_mae),
                stat(&q.qwk),
                stat(&q.parent_qwk)
            );
        }
        let entry = outcome.entry;
        println!(
            "registered model {} ({}); it is not active — activate it with `histoscore model \
             activate {}` or on the Models page",
            entry.id, entry.name, entry.id
        );
        Ok(true)
    })
}
