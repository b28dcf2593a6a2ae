//! Training a new model from reviewed scores (in the database, or a folder of images with a
//! CSV of scores): shared by `histoscore train` and the admin action of the server. The new
//! model is registered with its parent, training-set snapshot and validation metrics, and is
//! never activated automatically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use histoscore_domain::{Schema, SerialParser};
use histoscore_engine::finetune;
use histoscore_engine::train::{self, EpochReport, HeadConfig, MetricQuality, Sample};
use histoscore_engine::{EngineKind, InferenceQueue, Model, Scorer};
use histoscore_store::{
    ListQuery, ModelEntry, ModelSource, NewModel, ReviewStatus, Store, WeightFormat,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use crate::blobs::{BlobStore, LocalCopy};
use crate::registry::models_key;

/// The layers of the network a fine-tune may train.
pub const LAYERS: [&str; 7] = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"];

/// What to train.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct TrainRequest {
    /// Registry id of the model to start from; default: the active model.
    pub from: Option<String>,
    /// Start from the untrained demo weights when there is no model (rarely useful).
    pub allow_untrained_parent: bool,
    /// Share of the images (whole sample groups) kept for validation.
    pub val_fraction: f64,
    pub seed: u64,
    /// Most epochs (training stops earlier when validation stops improving).
    pub epochs: usize,
    /// Name of the new model.
    pub name: Option<String>,
    /// Train only the head on cached features (seconds) instead of fine-tuning `layers`.
    pub head_only: bool,
    /// Layers that train when fine-tuning (the rest stay frozen): default the original's
    /// `layer3`, `layer4` and the head `fc`.
    pub layers: Vec<String>,
    /// Train from this folder and CSV instead of the database (command line only).
    #[serde(skip)]
    #[schema(ignore)]
    pub folder: Option<(PathBuf, PathBuf)>,
}

impl Default for TrainRequest {
    fn default() -> Self {
        Self {
            from: None,
            allow_untrained_parent: false,
            val_fraction: 0.2,
            seed: 42,
            epochs: 300,
            name: None,
            head_only: false,
            layers: vec!["layer3".into(), "layer4".into(), "fc".into()],
            folder: None,
        }
    }
}

/// What training reports as it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Progress {
    /// Computing (or reading cached) features of the frozen network.
    Features {
        done: usize,
        total: usize,
    },
    Training {
        train: usize,
        validation: usize,
        validation_groups: Vec<String>,
    },
    Epoch(EpochReport),
    Warning {
        message: String,
    },
}

/// What the blocking part of training hands back.
struct Trained {
    keys: Vec<String>,
    split: train::Split,
    weights: histoscore_engine::Weights,
    targets: Vec<Vec<f64>>,
    new_out: Vec<Vec<f64>>,
    old_out: Vec<Vec<f64>>,
    best_epoch: usize,
    history: Vec<EpochReport>,
}

/// The result: the registered model and its validation quality against the parent.
pub struct TrainOutcome {
    pub entry: ModelEntry,
    pub new: bool,
    pub quality: Vec<MetricQuality>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    #[error("training was cancelled; no model was made")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

impl From<String> for TrainingError {
    fn from(s: String) -> Self {
        TrainingError::Failed(s)
    }
}

/// One image to train on, before its features are computed.
pub(crate) struct Item {
    pub(crate) key: String,
    pub(crate) group: String,
    pub(crate) path: PathBuf,
    pub(crate) sha256: String,
    pub(crate) targets: Vec<f64>,
}

fn file_sha(path: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Features of an image under a model, cached in the data folder. `tensor`: the image's
/// preprocessed tensor when the caller has it (otherwise the file is read when the cache
/// misses).
fn features(
    cache: &Path,
    item: &Item,
    scorer: &Scorer,
    queue: &InferenceQueue,
    tensor: Option<&[f32]>,
) -> Result<Vec<f32>, String> {
    let file = cache.join(format!("{}.f32", item.sha256));
    if let Ok(bytes) = std::fs::read(&file) {
        if bytes.len() == histoscore_engine::onnx::FEATURES * 4 {
            return Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect());
        }
    }
    let tensor = match tensor {
        Some(t) => t.to_vec(),
        None => {
            scorer
                .prepare_file(&item.path)
                .map_err(|e| format!("could not read {}: {e}", item.path.display()))?
                .tensor
        }
    };
    let f = queue
        .submit(tensor)
        .map_err(|e| format!("computing features failed: {e}"))?;
    // The cache is an optimisation: failing to write it is not an error.
    let _ = std::fs::create_dir_all(cache);
    let bytes: Vec<u8> = f.iter().flat_map(|v| v.to_le_bytes()).collect();
    let _ = std::fs::write(&file, bytes);
    Ok(f)
}

/// One row of a labels CSV: the file name and a value per metric, in schema order.
pub type Label = (String, Vec<f64>);

/// Reads a labels CSV (a `filename` column and one column per metric, on the schema's grid).
/// `source` names the file in messages.
pub fn read_labels<R: std::io::Read>(
    input: R,
    source: &str,
    schema: &Schema,
) -> Result<Vec<Label>, String> {
    let mut rdr = csv::Reader::from_reader(input);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| format!("could not read {source}: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let Some(fcol) = col("filename") else {
        return Err(format!("{source} needs a `filename` column"));
    };
    let mcols: Vec<usize> = schema
        .metrics
        .iter()
        .map(|m| {
            col(&m.name).ok_or_else(|| {
                format!(
                    "{source} has no column {:?}; it needs one per metric: {}",
                    m.name,
                    schema.metric_names().join(", ")
                )
            })
        })
        .collect::<Result<_, String>>()?;
    let mut out = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{source}: {e}"))?;
        let name = rec.get(fcol).unwrap_or("").trim().to_string();
        let mut targets = Vec::new();
        for (m, c) in schema.metrics.iter().zip(&mcols) {
            let v: f64 = rec
                .get(*c)
                .unwrap_or("")
                .trim()
                .parse()
                .map_err(|_| format!("line {}: {} is not a number", line + 2, m.name))?;
            let v = schema
                .check_value(&m.name, v)
                .map_err(|e| format!("line {}: {e}", line + 2))?;
            targets.push(v);
        }
        out.push((name, targets));
    }
    Ok(out)
}

fn from_folder(
    dir: &Path,
    csv_path: &Path,
    schema: &Schema,
    serials: &SerialParser,
) -> Result<Vec<Item>, String> {
    let source = csv_path.display().to_string();
    let file =
        std::fs::File::open(csv_path).map_err(|e| format!("could not read {source}: {e}"))?;
    let mut items = Vec::new();
    for (name, targets) in read_labels(std::io::BufReader::new(file), &source, schema)? {
        let path = dir.join(&name);
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

/// A reviewed image that is not a training example, and why (listed in the run's report).
#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    pub image_id: i64,
    pub filename: String,
    pub reason: String,
}

/// The sample group an image belongs to (whole groups go to one side of a split, and the
/// evaluation set is a list of groups).
pub(crate) fn group_of(r: &histoscore_store::ImageRecord) -> String {
    r.group_name
        .clone()
        .or(r.serial.clone())
        .unwrap_or_else(|| r.filename.clone())
}

/// The human scores of a reviewed image, in schema order, when it can be a training (or
/// evaluation) example; otherwise why not.
pub(crate) fn eligible(
    r: &histoscore_store::ImageRecord,
    schema: &Schema,
) -> Result<Vec<f64>, String> {
    // Records without pixels (imported scores) have nothing to learn from, and values flagged
    // for review (e.g. imported out of range) are not targets. A slide's scores are a mean
    // over many fields: they are not one image's targets.
    if r.sha256.is_empty() {
        return Err("imported scores without the image's pixels".into());
    }
    if r.is_slide() {
        return Err(
            "a whole-slide image: its human score is for the whole slide, not one field".into(),
        );
    }
    if !r.flags.is_empty() {
        let what: Vec<&str> = r.flags.keys().map(String::as_str).collect();
        return Err(format!(
            "scores flagged for a person to check ({})",
            what.join(", ")
        ));
    }
    schema
        .metrics
        .iter()
        .map(|m| r.scores.get(&m.name).copied())
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| "not every metric has a score".to_string())
}

/// Every human-reviewed image (not retracted), page by page.
pub(crate) async fn reviewed_records(
    store: &Store,
) -> Result<Vec<histoscore_store::ImageRecord>, String> {
    let mut out = Vec::new();
    let mut q = ListQuery {
        review_status: Some(ReviewStatus::Reviewed),
        limit: 1000,
        ..ListQuery::default()
    };
    loop {
        let (page, _) = store.list_images(&q).await.map_err(|e| e.to_string())?;
        if page.is_empty() {
            break;
        }
        q.offset += page.len() as i64;
        out.extend(page);
    }
    Ok(out)
}

/// The examples: every human-reviewed image with all metrics scored and its pixels readable,
/// of the groups `wanted` accepts. Reviewed images that cannot be examples are listed with the
/// reason; so are those of groups not wanted, with `unwanted` as the reason (when given).
pub(crate) async fn from_database(
    store: &Store,
    blobs: &dyn BlobStore,
    schema: &Schema,
    wanted: &(dyn Fn(&str) -> bool + Sync),
    unwanted: Option<&str>,
) -> Result<(Vec<Item>, Vec<LocalCopy>, Vec<Excluded>), String> {
    let mut items = Vec::new();
    let mut keep = Vec::new();
    let mut excluded = Vec::new();
    for r in reviewed_records(store).await? {
        let mut exclude = |reason: String| {
            excluded.push(Excluded {
                image_id: r.id,
                filename: r.filename.clone(),
                reason,
            })
        };
        let group = group_of(&r);
        if !wanted(&group) {
            if let Some(why) = unwanted {
                exclude(why.to_string());
            }
            continue;
        }
        let targets = match eligible(&r, schema) {
            Ok(t) => t,
            Err(why) => {
                exclude(why);
                continue;
            }
        };
        // No slides here: nothing is unpacked, so no cache folder is needed.
        let copy = match crate::originals::original(blobs, Path::new(""), &r).await {
            Ok(c) => c,
            Err(e) => {
                exclude(format!("the image could not be read: {e}"));
                continue;
            }
        };
        let path = copy.path.clone();
        keep.push(copy);
        items.push(Item {
            key: format!("image {} v{}", r.id, r.version),
            group,
            path,
            sha256: r.sha256.clone(),
            targets,
        });
    }
    Ok((items, keep, excluded))
}

/// Trains a new head (see [`histoscore_engine::train`]) and registers the model.
#[allow(clippy::too_many_arguments)]
pub async fn train_model(
    store: &Store,
    blobs: &dyn BlobStore,
    data_dir: &Path,
    schema: &Schema,
    engine: (EngineKind, usize),
    req: &TrainRequest,
    actor: &str,
    progress: UnboundedSender<Progress>,
    cancel: Arc<AtomicBool>,
) -> Result<TrainOutcome, TrainingError> {
    let err = |e: histoscore_store::StoreError| TrainingError::Failed(e.to_string());
    let parent_id = match &req.from {
        Some(id) => Some(id.clone()),
        None => store.active_model_id().await.map_err(err)?,
    };
    let (parent, parent_entry) = match parent_id {
        Some(id) => {
            let entry = store.model(&id).await.map_err(err)?;
            let copy = blobs
                .local_copy(&entry.storage_key)
                .await
                .map_err(|e| format!("the weights of model {id} are missing: {e}"))?;
            let m = Model::load(&copy.path).map_err(|e| e.to_string())?;
            (m, Some(entry))
        }
        None if req.allow_untrained_parent => {
            let _ = progress.send(Progress::Warning {
                message: "starting from the untrained demo weights; a head trained on them is \
                          rarely useful"
                    .into(),
            });
            (Model::demo(schema.metrics.len()), None)
        }
        None => {
            return Err(TrainingError::Failed(
                "there is no model to start from: register a trained one (import it, then \
                 activate it or name it as the parent); starting from the untrained demo \
                 weights needs an explicit choice"
                    .into(),
            ))
        }
    };
    if parent.head() != schema.metrics.len() {
        return Err(TrainingError::Failed(format!(
            "model {} has {} outputs but the schema has {} metrics",
            parent.id(),
            parent.head(),
            schema.metrics.len()
        )));
    }
    if !req.head_only {
        if req.layers.is_empty() {
            return Err(TrainingError::Failed(
                "name the layers to train (e.g. layer3, layer4, fc)".into(),
            ));
        }
        if let Some(bad) = req.layers.iter().find(|l| !LAYERS.contains(&l.as_str())) {
            return Err(TrainingError::Failed(format!(
                "unknown layer {bad:?}; choose from {}",
                LAYERS.join(", ")
            )));
        }
    }
    let serials = SerialParser::default();
    let (items, _copies, excluded) = match &req.folder {
        Some((dir, csv)) => (
            from_folder(dir, csv, schema, &serials)?,
            Vec::new(),
            Vec::new(),
        ),
        None => {
            // The evaluation set's groups are never trained on (chosen now if none was yet).
            let eval = crate::retraining::evaluation_rule(store, actor).await?;
            from_database(
                store,
                blobs,
                schema,
                &|g: &str| !eval.contains(g),
                Some("in the evaluation set, which no model trains on"),
            )
            .await?
        }
    };
    if !excluded.is_empty() {
        let _ = progress.send(Progress::Warning {
            message: format!(
                "{} reviewed image(s) are not training examples (listed with the reason in \
                 the model's training report)",
                excluded.len()
            ),
        });
    }
    if items.len() < 4 {
        let aside = excluded
            .iter()
            .filter(|e| e.reason.contains("evaluation set"))
            .count();
        let note = if aside > 0 {
            format!(
                " ({aside} more are in the evaluation set, which no model trains on: they \
                 compare models)"
            )
        } else {
            String::new()
        };
        return Err(TrainingError::Failed(format!(
            "only {} reviewed image(s) with every metric scored can be training \
             examples{note}; review more images first",
            items.len()
        )));
    }
    // Head only: features of the frozen network (cached per parent model), then the head.
    // Full: the preprocessed images, then the chosen layers and the head.
    let cache = data_dir.join("cache/features").join(parent.id());
    let scorer = Scorer {
        schema: schema.clone(),
        serials: serials.clone(),
        decode: Default::default(),
        model: parent.reference(),
    };
    let max: Vec<f64> = schema.metrics.iter().map(|m| m.max).collect();
    let cfg = HeadConfig {
        max_epochs: req.epochs.max(1),
        seed: req.seed,
        ..if req.head_only {
            HeadConfig::default()
        } else {
            HeadConfig::fine_tune()
        }
    };
    let layers: Vec<String> = if req.head_only {
        vec!["fc".into()]
    } else {
        req.layers.clone()
    };
    let prefixes: Vec<String> = layers.iter().map(|l| format!("{l}.")).collect();
    let val_fraction = req.val_fraction;
    let head_only = req.head_only;
    let cfg_json = serde_json::to_value(&cfg).unwrap_or_default();
    let cancel2 = cancel.clone();
    let tx = progress.clone();
    let parent_for_task = parent.clone();
    let work = tokio::task::spawn_blocking(move || -> Result<Trained, TrainingError> {
        let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        let groups: Vec<String> = items.iter().map(|i| i.group.clone()).collect();
        let split =
            train::split_by_group(&groups, val_fraction, cfg.seed).map_err(|e| e.to_string())?;
        if let Some(message) = split.share_note(val_fraction) {
            let _ = tx.send(Progress::Warning { message });
        }
        let targets: Vec<Vec<f64>> = split
            .val
            .iter()
            .map(|&i| items[i].targets.clone())
            .collect();
        let stop = |e: train::TrainError| match e {
            train::TrainError::Cancelled => TrainingError::Cancelled,
            other => TrainingError::Failed(other.to_string()),
        };
        let cancelled = || cancel2.load(std::sync::atomic::Ordering::Relaxed);
        // Per image: the frozen network's features (cached), and for fine-tuning the
        // preprocessed image as well. The head is trained on the features first (seconds);
        // a fine-tune then starts from that head ("linear probing, then fine-tuning"), so it
        // spends its slow epochs on the deeper layers, not on fitting a new last layer.
        let (features_queue, _features_thread) = parent_for_task
            .start_features(engine.0, engine.1)
            .map_err(|e| format!("could not start the engine: {e}"))?;
        let mut feats = Vec::with_capacity(items.len());
        let mut tensors = Vec::with_capacity(if head_only { 0 } else { items.len() });
        for (n, item) in items.iter().enumerate() {
            if cancelled() {
                return Err(TrainingError::Cancelled);
            }
            let tensor = if head_only {
                None
            } else {
                Some(
                    scorer
                        .prepare_file(&item.path)
                        .map_err(|e| format!("could not read {}: {e}", item.path.display()))?
                        .tensor,
                )
            };
            feats.push(features(
                &cache,
                item,
                &scorer,
                &features_queue,
                tensor.as_deref(),
            )?);
            if let Some(t) = tensor {
                tensors.push(t);
            }
            let _ = tx.send(Progress::Features {
                done: n + 1,
                total: items.len(),
            });
        }
        drop(features_queue);
        let _ = tx.send(Progress::Training {
            train: split.train.len(),
            validation: split.val.len(),
            validation_groups: split.val_groups.clone(),
        });
        let on_epoch = |r: &EpochReport| {
            let _ = tx.send(Progress::Epoch(r.clone()));
        };
        let head_samples: Vec<Sample> = items
            .iter()
            .zip(feats)
            .map(|(item, features)| Sample {
                key: item.key.clone(),
                group: item.group.clone(),
                features,
                targets: item.targets.clone(),
            })
            .collect();
        let (pw, pb) = train::head_of(parent_for_task.weights());
        if head_only {
            let result = train::train_head(
                (&pw, &pb),
                &head_samples,
                &split,
                &max,
                &cfg,
                &cancel2,
                on_epoch,
            )
            .map_err(stop)?;
            let val: Vec<&Sample> = split.val.iter().map(|&i| &head_samples[i]).collect();
            let new_out = val
                .iter()
                .map(|s| train::head_outputs(&result.weight, &result.bias, &s.features))
                .collect();
            let old_out = val
                .iter()
                .map(|s| train::head_outputs(&pw, &pb, &s.features))
                .collect();
            let weights = train::with_head(parent_for_task.weights(), &result.weight, &result.bias)
                .map_err(|e| TrainingError::Failed(e.to_string()))?;
            return Ok(Trained {
                keys,
                split,
                weights,
                targets,
                new_out,
                old_out,
                best_epoch: result.best_epoch,
                history: result.history,
            });
        }
        // (Only when the last layer is among those that train.)
        let start = if prefixes.iter().any(|p| p == "fc.") {
            let head = train::train_head(
                (&pw, &pb),
                &head_samples,
                &split,
                &max,
                &HeadConfig {
                    seed: cfg.seed,
                    ..HeadConfig::default()
                },
                &cancel2,
                |_| {},
            )
            .map_err(stop)?;
            train::with_head(parent_for_task.weights(), &head.weight, &head.bias)
                .map_err(|e| TrainingError::Failed(e.to_string()))?
        } else {
            parent_for_task.weights().clone()
        };
        let inputs = tensors;
        let samples: Vec<finetune::TensorSample> = items
            .iter()
            .zip(inputs)
            .map(|(item, input)| finetune::TensorSample {
                group: item.group.clone(),
                input,
                targets: item.targets.clone(),
            })
            .collect();
        let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        let (weights, best_epoch, history) = finetune::fine_tune(
            &start, &refs, &samples, &split, &max, &cfg, &cancel2, on_epoch,
        )
        .map_err(stop)?;
        let inputs: Vec<Vec<f32>> = split
            .val
            .iter()
            .map(|&i| samples[i].input.clone())
            .collect();
        let to64 = |v: Vec<Vec<f32>>| -> Vec<Vec<f64>> {
            v.into_iter()
                .map(|r| r.into_iter().map(f64::from).collect())
                .collect()
        };
        let new_out = to64(finetune::eval_outputs(&weights, &inputs).map_err(stop)?);
        let old_out =
            to64(finetune::eval_outputs(parent_for_task.weights(), &inputs).map_err(stop)?);
        Ok(Trained {
            keys,
            split,
            weights,
            targets,
            new_out,
            old_out,
            best_epoch,
            history,
        })
    });
    let t = work
        .await
        .map_err(|e| TrainingError::Failed(format!("training crashed: {e}")))??;
    let (split, result_best, result_history) = (t.split, t.best_epoch, t.history);
    // Validation quality against the parent on the same images.
    let quality = train::quality(schema, &t.targets, &t.new_out, &t.old_out);
    let weights = t.weights;
    let model = Model::from_weights(weights);
    let tmp = data_dir.join("tmp").join(format!(
        "trained-{}-{}.safetensors",
        std::process::id(),
        crate::unique()
    ));
    let _ = std::fs::create_dir_all(data_dir.join("tmp"));
    model
        .save_safetensors(&tmp)
        .map_err(|e| format!("could not write the new model: {e}"))?;
    let sha = file_sha(&tmp)?;
    let key = models_key(&sha);
    let stored = blobs.put_file(&key, &tmp).await;
    let _ = std::fs::remove_file(&tmp);
    stored.map_err(|e| format!("could not store the new model: {e}"))?;
    let snapshot: Vec<&str> = t.keys.iter().map(String::as_str).collect();
    let mut metrics = BTreeMap::new();
    for q in &quality {
        metrics.insert(
            q.metric.clone(),
            serde_json::to_value(q).map_err(|e| e.to_string())?,
        );
    }
    let new = NewModel {
        id: model.id().to_string(),
        name: req
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| {
                if req.head_only {
                    format!("head trained from {}", parent.id())
                } else {
                    format!("fine-tuned from {}", parent.id())
                }
            }),
        sha256: sha,
        format: WeightFormat::Safetensors,
        storage_key: key,
        schema: schema.clone(),
        parent_id: parent_entry.as_ref().map(|e| e.id.clone()),
        // A model trained from another scores the same fields.
        field_um: parent_entry.as_ref().and_then(|e| e.field_um),
        training: Some(serde_json::json!({
            "mode": if req.head_only { "head" } else { "fine-tune" },
            "layers": layers,
            "parent": parent.id(),
            "seed": req.seed,
            "config": cfg_json,
            "source": if req.folder.is_some() { "folder" } else { "database" },
            "images": snapshot,
            "validation_groups": split.val_groups,
            "train_count": split.train.len(),
            "validation_count": split.val.len(),
            "best_epoch": result_best,
            "epochs_run": result_history.len(),
            "history": result_history,
            "excluded": excluded,
        })),
        metrics: Some(serde_json::to_value(metrics).map_err(|e| e.to_string())?),
        source: ModelSource::Trained,
    };
    let (entry, is_new) = store.register_model(&new, actor).await.map_err(err)?;
    Ok(TrainOutcome {
        entry,
        new: is_new,
        quality,
    })
}
