//! `histoscore train`: a new model from reviewed scores (in the database, or a folder of
//! images with a CSV of scores), registered with its parent, training-set snapshot and
//! validation metrics, and never activated automatically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use clap::Args;
use histoscore_domain::agreement::Stat;
use histoscore_domain::{Schema, SerialParser};
use histoscore_engine::train::{self, HeadConfig, Sample};
use histoscore_engine::{InferenceQueue, Model, Scorer};
use histoscore_server::blobs::{BlobStore, LocalBlobs};
use histoscore_store::{ListQuery, NewModel, ReviewStatus, Store};
use sha2::{Digest, Sha256};

use crate::serve::DataArgs;
use crate::{EngineArg, SchemaArg};

#[derive(Args)]
pub struct TrainArgs {
    /// Train only the head (the last layer) on the frozen network's features: seconds, not
    /// hours. Required in this version (fine-tuning layer3 and layer4 is not available yet).
    #[arg(long, env = "HISTOSCORE_HEAD_ONLY")]
    head_only: bool,
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

/// One image to train on, before its features are computed.
struct Item {
    key: String,
    group: String,
    path: PathBuf,
    sha256: String,
    targets: Vec<f64>,
}

fn file_sha(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Features of an image under a model, cached in the data folder.
fn features(
    cache: &Path,
    item: &Item,
    scorer: &Scorer,
    queue: &InferenceQueue,
) -> Result<Vec<f32>> {
    let file = cache.join(format!("{}.f32", item.sha256));
    if let Ok(bytes) = std::fs::read(&file) {
        if bytes.len() == histoscore_engine::onnx::FEATURES * 4 {
            return Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect());
        }
    }
    let prepared = scorer
        .prepare_file(&item.path)
        .with_context(|| format!("could not read {}", item.path.display()))?;
    let f = queue
        .submit(prepared.tensor)
        .map_err(|e| anyhow::anyhow!("computing features failed: {e}"))?;
    std::fs::create_dir_all(cache)?;
    let bytes: Vec<u8> = f.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&file, bytes)?;
    Ok(f)
}

fn from_folder(
    dir: &Path,
    csv_path: &Path,
    schema: &Schema,
    serials: &SerialParser,
) -> Result<Vec<Item>> {
    let mut rdr = csv::Reader::from_path(csv_path)
        .with_context(|| format!("could not read {}", csv_path.display()))?;
    let header: Vec<String> = rdr
        .headers()?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let Some(fcol) = col("filename") else {
        bail!("{} needs a `filename` column", csv_path.display());
    };
    let mcols: Vec<usize> = schema
        .metrics
        .iter()
        .map(|m| {
            col(&m.name).with_context(|| {
                format!(
                    "{} has no column {:?}; it needs one per metric: {}",
                    csv_path.display(),
                    m.name,
                    schema.metric_names().join(", ")
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut items = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let name = rec.get(fcol).unwrap_or("").trim().to_string();
        let path = dir.join(&name);
        let mut targets = Vec::new();
        for (m, c) in schema.metrics.iter().zip(&mcols) {
            let v: f64 = rec
                .get(*c)
                .unwrap_or("")
                .trim()
                .parse()
                .with_context(|| format!("line {}: {} is not a number", line + 2, m.name))?;
            schema
                .check_value(&m.name, v)
                .map_err(|e| anyhow::anyhow!("line {}: {e}", line + 2))?;
            targets.push(v);
        }
        let info = serials.parse(&name);
        items.push(Item {
            key: name.clone(),
            group: info.group,
            sha256: file_sha(&path)?,
            path,
            targets,
        });
    }
    Ok(items)
}

async fn from_database(
    store: &Store,
    blobs: &LocalBlobs,
    schema: &Schema,
) -> Result<(Vec<Item>, Vec<histoscore_server::blobs::LocalCopy>)> {
    let mut items = Vec::new();
    let mut keep = Vec::new();
    let mut q = ListQuery {
        review_status: Some(ReviewStatus::Reviewed),
        limit: 1000,
        ..ListQuery::default()
    };
    loop {
        let (page, _) = store.list_images(&q).await?;
        if page.is_empty() {
            break;
        }
        q.offset += page.len() as i64;
        for r in page {
            let Some(targets) = schema
                .metrics
                .iter()
                .map(|m| r.scores.get(&m.name).copied())
                .collect::<Option<Vec<f64>>>()
            else {
                continue;
            };
            let key = r
                .storage_key
                .clone()
                .unwrap_or_else(|| histoscore_server::blobs::original_key(&r.sha256));
            let copy = blobs
                .local_copy(&key)
                .await
                .with_context(|| format!("the stored file of image {} is missing", r.id))?;
            let path = copy.path.clone();
            keep.push(copy);
            items.push(Item {
                key: format!("image {} v{}", r.id, r.version),
                group: r
                    .group_name
                    .clone()
                    .or(r.serial.clone())
                    .unwrap_or_else(|| r.filename.clone()),
                path,
                sha256: r.sha256.clone(),
                targets,
            });
        }
    }
    Ok((items, keep))
}

fn stat(s: &Stat) -> String {
    match s {
        Stat::Value(v) => format!("{v:.3}"),
        Stat::NotDefined(_) => "n/a".into(),
    }
}

pub fn run(args: TrainArgs) -> Result<bool> {
    if !args.head_only {
        bail!(
            "this version trains the head only (seconds, on the frozen network's features): run \
             with --head-only. Fine-tuning layer3 and layer4 is not available yet."
        );
    }
    let schema = args.schema.load()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let store = args.data.open().await?;
        let blobs = LocalBlobs::new(args.data.data_dir.join("blobs"))?;
        // The parent.
        let parent_id = match &args.from {
            Some(id) => Some(id.clone()),
            None => store.active_model_id().await?,
        };
        let (parent, parent_entry) = match parent_id {
            Some(id) => {
                let entry = store.model(&id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                let copy = blobs.local_copy(&entry.storage_key).await?;
                (Model::load(&copy.path)?, Some(entry))
            }
            None if args.allow_untrained_parent => {
                eprintln!(
                    "histoscore: WARNING: starting from the untrained demo weights; a head \
                     trained on them is rarely useful"
                );
                (Model::demo(schema.metrics.len()), None)
            }
            None => bail!(
                "there is no model to start from: register a trained one (histoscore model \
                 import FILE, then activate it or pass --from ID); --allow-untrained-parent \
                 starts from the demo weights"
            ),
        };
        crate::check_fit(&parent, &schema)?;
        let serials = SerialParser::default();
        let (items, _copies) = match (&args.folder, &args.csv) {
            (Some(dir), Some(csv)) => (from_folder(dir, csv, &schema, &serials)?, Vec::new()),
            _ => from_database(&store, &blobs, &schema).await?,
        };
        if items.len() < 4 {
            bail!(
                "only {} reviewed image(s) with every metric scored; review more images first",
                items.len()
            );
        }
        // Features of the frozen network, cached per model.
        let (queue, _thread) = parent
            .start_features(args.engine.kind(), args.engine.threads())
            .map_err(|e| anyhow::anyhow!("could not start the engine: {e}"))?;
        let scorer = Scorer {
            schema: schema.clone(),
            serials: serials.clone(),
            decode: Default::default(),
            model: parent.reference(),
        };
        let cache = args.data.data_dir.join("cache/features").join(parent.id());
        let mut samples = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            eprint!("\rhistoscore: features {}/{}", n + 1, items.len());
            samples.push(Sample {
                key: item.key.clone(),
                group: item.group.clone(),
                features: features(&cache, item, &scorer, &queue)?,
                targets: item.targets.clone(),
            });
        }
        eprintln!();
        let groups: Vec<String> = samples.iter().map(|s| s.group.clone()).collect();
        let split = train::split_by_group(&groups, args.val_fraction, args.seed)?;
        let max: Vec<f64> = schema.metrics.iter().map(|m| m.max).collect();
        let cfg = HeadConfig {
            max_epochs: args.epochs.max(1),
            seed: args.seed,
            ..HeadConfig::default()
        };
        eprintln!(
            "histoscore: training the head of {} on {} images ({} for validation, groups {})",
            parent.id(),
            split.train.len(),
            split.val.len(),
            split.val_groups.join(", ")
        );
        let (pw, pb) = train::head_of(parent.weights());
        let cancel = AtomicBool::new(false);
        let result = train::train_head((&pw, &pb), &samples, &split, &max, &cfg, &cancel, |r| {
            let mae: Vec<String> = schema
                .metrics
                .iter()
                .zip(&r.val_mae)
                .map(|(m, v)| format!("{} {v:.3}", m.name))
                .collect();
            eprintln!(
                "epoch {:>3}  train loss {:.5}  val loss {:.5}  val MAE {}",
                r.epoch,
                r.train_loss,
                r.val_loss,
                mae.join(", ")
            );
        })?;
        // Validation quality against the parent on the same images.
        let val: Vec<&Sample> = split.val.iter().map(|&i| &samples[i]).collect();
        let targets: Vec<Vec<f64>> = val.iter().map(|s| s.targets.clone()).collect();
        let new_out: Vec<Vec<f64>> = val
            .iter()
            .map(|s| train::head_outputs(&result.weight, &result.bias, &s.features))
            .collect();
        let old_out: Vec<Vec<f64>> = val
            .iter()
            .map(|s| train::head_outputs(&pw, &pb, &s.features))
            .collect();
        let quality = train::quality(&schema, &targets, &new_out, &old_out);
        println!("metric                      MAE (parent)      QWK (parent)");
        for q in &quality {
            println!(
                "{:<26} {:>6} ({:>6})   {:>6} ({:>6})",
                q.metric,
                stat(&q.mae),
                stat(&q.parent_mae),
                stat(&q.qwk),
                stat(&q.parent_qwk)
            );
        }
        // The new model: the parent with the new head, stored and registered (not active).
        let weights = train::with_head(parent.weights(), &result.weight, &result.bias)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let model = Model::from_weights(weights);
        let tmp = tempfile::Builder::new()
            .suffix(".safetensors")
            .tempfile_in(args.data.data_dir.join("tmp").as_path())
            .or_else(|_| tempfile::Builder::new().suffix(".safetensors").tempfile())?;
        model
            .save_safetensors(tmp.path())
            .map_err(|e| anyhow::anyhow!("could not write the new model: {e}"))?;
        let sha = file_sha(tmp.path())?;
        let key = histoscore_server::models::models_key(&sha);
        blobs.put_file(&key, tmp.path()).await?;
        let snapshot: Vec<&str> = samples.iter().map(|s| s.key.as_str()).collect();
        let mut metrics = BTreeMap::new();
        for q in &quality {
            metrics.insert(q.metric.clone(), serde_json::to_value(q)?);
        }
        let new = NewModel {
            id: model.id().to_string(),
            name: args
                .name
                .clone()
                .unwrap_or_else(|| format!("head trained from {}", parent.id())),
            sha256: sha,
            format: "safetensors".into(),
            storage_key: key,
            schema: schema.clone(),
            parent_id: parent_entry.as_ref().map(|e| e.id.clone()),
            training: Some(serde_json::json!({
                "mode": "head",
                "parent": parent.id(),
                "seed": args.seed,
                "config": cfg,
                "source": if args.folder.is_some() { "folder" } else { "database" },
                "images": snapshot,
                "validation_groups": split.val_groups,
                "train_count": split.train.len(),
                "validation_count": split.val.len(),
                "best_epoch": result.best_epoch,
                "epochs_run": result.history.len(),
                "history": result.history,
            })),
            metrics: Some(serde_json::to_value(metrics)?),
            source: "trained".into(),
        };
        let (entry, _) = store.register_model(&new, "histoscore train").await?;
        println!(
            "registered model {} ({}); it is not active — activate it with `histoscore model \
             activate {}` or on the Models page",
            entry.id, entry.name, entry.id
        );
        Ok(true)
    })
}
