//! Automated retraining: when the policy starts a training run, the evaluation set that no
//! model trains on, and the honest comparison of every newly trained model (challenger) with
//! the active one (champion) on it, which may promote the challenger.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use chrono::Utc;
use histoscore_domain::comparison::{self, CompareOptions, EvalImage, EvalRule};
use histoscore_domain::Schema;
use histoscore_engine::{finetune, Model, Scorer};
use histoscore_store::{EvaluationSet, ModelEvaluation, RetrainPolicy, Store, TrainingRun};

use crate::training::{eligible, from_database, group_of, reviewed_records, TrainRequest, LAYERS};
use crate::{App, AppError, Result};

/// The name the policy acts under in training runs, activations and the audit log.
pub const POLICY_ACTOR: &str = "retraining-policy";

/// Share of the sample groups an automatically chosen evaluation set holds.
const EVAL_SHARE: f64 = 0.2;
/// The seed of an automatically chosen set (recorded with it; the same group names give the
/// same set everywhere, which makes a choice easy to reproduce and check).
const AUTO_SEED: u64 = 20_261_201;

/// Groups of the images that registered models were trained on (from their training
/// snapshots, `image <id> v<version>`).
async fn trained_groups(
    store: &Store,
    group_by_id: &BTreeMap<i64, String>,
) -> std::result::Result<HashSet<String>, String> {
    let mut out = HashSet::new();
    for m in store.list_models().await.map_err(|e| e.to_string())? {
        let Some(images) = m
            .training
            .as_ref()
            .and_then(|t| t["images"].as_array().cloned())
        else {
            continue;
        };
        for key in images.iter().filter_map(|v| v.as_str()) {
            let id = key
                .strip_prefix("image ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|id| id.parse::<i64>().ok());
            if let Some(g) = id.and_then(|id| group_by_id.get(&id)) {
                out.insert(g.clone());
            }
        }
    }
    Ok(out)
}

/// Groups of the reviewed images, keyed by image id.
async fn groups_by_id(store: &Store) -> std::result::Result<BTreeMap<i64, String>, String> {
    Ok(reviewed_records(store)
        .await?
        .iter()
        .map(|r| (r.id, group_of(r)))
        .collect())
}

/// Chooses the evaluation set: about a fifth of the sample groups, present and future, by a
/// seeded hash of their names; groups models were already trained on stay out of it.
pub async fn choose_evaluation_set(
    store: &Store,
    actor: &str,
) -> std::result::Result<EvaluationSet, String> {
    let trained = trained_groups(store, &groups_by_id(store).await?).await?;
    let seed = AUTO_SEED;
    let mut trained: Vec<String> = trained.into_iter().collect();
    trained.sort();
    let rule = EvalRule {
        share: EVAL_SHARE,
        seed,
        groups: Vec::new(),
        trained,
    };
    let reason = format!(
        "chosen automatically at the first training run: about {:.0} % of the sample groups, \
         present and future, picked by a hash of their names (seed {seed}); {} group(s) \
         already trained on stay out",
        EVAL_SHARE * 100.0,
        rule.trained.len()
    );
    store
        .set_evaluation_set(&rule, &reason, actor)
        .await
        .map_err(|e| e.to_string())
}

/// The evaluation set's rule, choosing the set first when there is none yet.
pub async fn evaluation_rule(store: &Store, actor: &str) -> std::result::Result<EvalRule, String> {
    Ok(
        match store.evaluation_set().await.map_err(|e| e.to_string())? {
            Some(s) => s.rule,
            None => choose_evaluation_set(store, actor).await?.rule,
        },
    )
}

/// What an administrator may change of the evaluation set.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct EvaluationSetChange {
    /// Share of the sample groups in the set (0 to 0.5); default: unchanged (0.2 at first).
    pub share: Option<f64>,
    /// Groups that are in it besides those (none may have been trained on).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Pick the groups afresh with a new seed (only groups no model was trained on can move).
    #[serde(default)]
    pub reshuffle: bool,
    /// Why (kept in the audit log).
    pub reason: String,
}

/// An administrator's change of the evaluation set. Listed groups a registered model was
/// trained on are refused (comparing on them would favour that model), and every group
/// trained on so far stays out of the set.
pub async fn change_evaluation_set(
    store: &Store,
    change: &EvaluationSetChange,
    actor: &str,
) -> Result<EvaluationSet> {
    let trained = trained_groups(store, &groups_by_id(store).await.map_err(AppError::Failed)?)
        .await
        .map_err(AppError::Failed)?;
    let mut used: Vec<&str> = change
        .groups
        .iter()
        .map(|g| g.trim())
        .filter(|g| trained.contains(*g))
        .collect();
    if !used.is_empty() {
        used.sort_unstable();
        used.dedup();
        return Err(AppError::invalid(
            "groups",
            format!(
                "registered models were trained on {}; an evaluation set must hold groups no \
                 model has seen (choose others)",
                used.join(", ")
            ),
        ));
    }
    let old = store.evaluation_set().await?;
    let mut trained: Vec<String> = trained.into_iter().collect();
    trained.sort();
    let seed = match &old {
        Some(o) if !change.reshuffle => o.rule.seed,
        _ => Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64,
    };
    let rule = EvalRule {
        share: change
            .share
            .or(old.as_ref().map(|o| o.rule.share))
            .unwrap_or(EVAL_SHARE),
        seed,
        groups: change.groups.clone(),
        trained,
    };
    Ok(store
        .set_evaluation_set(&rule, &change.reason, actor)
        .await?)
}

/// A sample group of the evaluation set as the reviewed images stand now.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EvalGroup {
    pub group: String,
    /// Its reviewed images that can be compared on.
    pub images: usize,
}

/// The evaluation set with the groups it holds today.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EvaluationSetView {
    /// `null` until chosen (at the first training run, or by an administrator).
    pub set: Option<EvaluationSet>,
    /// The reviewed groups in it now, with their usable images.
    pub members: Vec<EvalGroup>,
    /// Usable reviewed images in it, and outside it (what training may use).
    pub evaluation_images: usize,
    pub training_images: usize,
    /// Fewest images and groups a comparison needs.
    pub min_images: usize,
    pub min_groups: usize,
}

pub async fn evaluation_set_view(store: &Store, schema: &Schema) -> Result<EvaluationSetView> {
    let set = store.evaluation_set().await?;
    let mut members: BTreeMap<String, usize> = BTreeMap::new();
    let (mut inside, mut outside) = (0, 0);
    for r in reviewed_records(store).await.map_err(AppError::Failed)? {
        if eligible(&r, schema).is_err() {
            continue;
        }
        let g = group_of(&r);
        if set.as_ref().is_some_and(|s| s.rule.contains(&g)) {
            *members.entry(g).or_default() += 1;
            inside += 1;
        } else {
            outside += 1;
        }
    }
    Ok(EvaluationSetView {
        set,
        members: members
            .into_iter()
            .map(|(group, images)| EvalGroup { group, images })
            .collect(),
        evaluation_images: inside,
        training_images: outside,
        min_images: comparison::MIN_IMAGES,
        min_groups: comparison::MIN_GROUPS,
    })
}

/// Checks a policy before it is saved: known layers (unless head only) and metrics.
pub fn check_policy_input(schema: &Schema, p: &RetrainPolicy) -> Result<()> {
    if !p.head_only {
        if p.layers.is_empty() {
            return Err(AppError::invalid(
                "layers",
                "name the layers a fine-tune trains (e.g. layer3, layer4, fc), or choose head only",
            ));
        }
        if let Some(bad) = p.layers.iter().find(|l| !LAYERS.contains(&l.as_str())) {
            return Err(AppError::invalid(
                "layers",
                format!("unknown layer {bad:?}; choose from {}", LAYERS.join(", ")),
            ));
        }
    }
    let names = schema.metric_names();
    if let Some(bad) = p.metrics.iter().find(|m| !names.contains(&m.as_str())) {
        return Err(AppError::invalid(
            "metrics",
            format!(
                "unknown metric {bad:?}; the schema has {}",
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Whether the policy is due now: enough images reviewed since its last run (or since it was
/// set), or its schedule has come round.
pub async fn policy_due(store: &Store) -> Result<Option<String>> {
    let policy = store.retrain_policy().await?;
    if !policy.enabled() {
        return Ok(None);
    }
    let since = match store.last_policy_run().await? {
        Some(run) => run.created_at,
        None => policy.updated_at.unwrap_or_else(Utc::now),
    };
    if let Some(n) = policy.after_reviewed {
        let reviewed = store.reviewed_since(&since).await?;
        if reviewed >= n {
            return Ok(Some(format!(
                "{reviewed} image(s) reviewed since the last run (the policy retrains after {n})"
            )));
        }
    }
    if let Some(h) = policy.every_hours {
        if Utc::now() - since >= chrono::Duration::hours(h) {
            return Ok(Some(format!("the schedule (every {h} h) has come round")));
        }
    }
    Ok(None)
}

/// Starts a run of the policy now (`None` when a training run is already in progress).
pub async fn start_policy_run(app: &App, why: &str, actor: &str) -> Result<Option<TrainingRun>> {
    let policy = app.store.retrain_policy().await?;
    let req = TrainRequest {
        head_only: policy.head_only,
        layers: policy.layers.clone(),
        name: Some(format!(
            "retrained {} ({why})",
            Utc::now().format("%Y-%m-%d %H:%M UTC")
        )),
        ..TrainRequest::default()
    };
    let params = serde_json::to_value(&req).map_err(AppError::failed)?;
    let run = app.store.create_policy_run(&params, actor).await?;
    if let Some(r) = &run {
        tracing::info!(run = r.id, "retraining policy started a run: {why}");
        app.work.notify_waiters();
        app.observer.changed();
    }
    Ok(run)
}

/// Starts a policy run if one is due. Called now and then by every worker; the database
/// makes sure only one run starts.
pub async fn check_policy(app: &App) -> Result<Option<TrainingRun>> {
    match policy_due(&app.store).await? {
        Some(why) => start_policy_run(app, &why, POLICY_ACTOR).await,
        None => Ok(None),
    }
}

/// Raw outputs of a model's network for preprocessed images (evaluation mode).
fn outputs(model: &Model, inputs: &[Vec<f32>]) -> std::result::Result<Vec<Vec<f32>>, String> {
    finetune::eval_outputs(model.weights(), inputs).map_err(|e| e.to_string())
}

/// Compares model `challenger` with the active model on the evaluation set and keeps the
/// report with the challenger. Never changes which model is active.
pub async fn evaluate(
    app: &App,
    challenger: &str,
    run_id: Option<i64>,
    metrics: &[String],
) -> std::result::Result<ModelEvaluation, String> {
    let store = &app.store;
    let schema = app.scorer.schema.clone();
    let champion = store.active_model_id().await.map_err(|e| e.to_string())?;
    let set = store.evaluation_set().await.map_err(|e| e.to_string())?;
    let save = |verdict: &str, report: serde_json::Value| {
        let (champion, set_id) = (champion.clone(), set.as_ref().map(|s| s.id));
        let verdict = verdict.to_string();
        async move {
            store
                .add_model_evaluation(
                    challenger,
                    champion.as_deref(),
                    set_id,
                    run_id,
                    &verdict,
                    &report,
                )
                .await
                .map_err(|e| e.to_string())
        }
    };
    let Some(champion_id) = champion.clone().filter(|c| c != challenger) else {
        let summary = if champion.is_some() {
            "this model is the active one: nothing to compare it with"
        } else {
            "no model is active: nothing to compare with"
        };
        return save("not_enough_data", serde_json::json!({ "summary": summary })).await;
    };
    let Some(set) = set.clone() else {
        return save(
            "not_enough_data",
            serde_json::json!({
                "summary": "not enough reviewed data to compare: no evaluation set has been \
                            chosen yet (it is chosen at the first training run, or by an \
                            administrator)"
            }),
        )
        .await;
    };
    let rule = set.rule.clone();
    let (items, _copies, _) = from_database(
        store,
        app.blobs.as_ref(),
        &schema,
        &|g: &str| rule.contains(g),
        None,
    )
    .await?;
    let load = |id: String| async move {
        let entry = store.model(&id).await.map_err(|e| e.to_string())?;
        let copy = app
            .blobs
            .local_copy(&entry.storage_key)
            .await
            .map_err(|e| format!("the weights of model {id} are missing: {e}"))?;
        let m = Model::load(&copy.path).map_err(|e| e.to_string())?;
        Ok::<_, String>(m)
    };
    let (old, new) = (
        load(champion_id.clone()).await?,
        load(challenger.to_string()).await?,
    );
    let scorer = Scorer {
        schema: schema.clone(),
        serials: Default::default(),
        decode: Default::default(),
        model: new.reference(),
    };
    let paths: Vec<std::path::PathBuf> = items.iter().map(|i| i.path.clone()).collect();
    let schema2 = schema.clone();
    let scored = tokio::task::spawn_blocking(move || {
        let inputs = paths
            .iter()
            .map(|p| {
                scorer
                    .prepare_file(Path::new(p))
                    .map(|prep| prep.tensor)
                    .map_err(|e| format!("could not read {}: {e}", p.display()))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let grid = |raw: Vec<Vec<f32>>| -> Vec<Vec<f64>> {
            raw.iter()
                .map(|r| {
                    let s = schema2.scores_from_raw(r);
                    schema2.metrics.iter().map(|m| s[&m.name]).collect()
                })
                .collect()
        };
        Ok::<_, String>((grid(outputs(&old, &inputs)?), grid(outputs(&new, &inputs)?)))
    })
    .await
    .map_err(|e| format!("the evaluation crashed: {e}"))??;
    let images: Vec<EvalImage> = items
        .iter()
        .zip(scored.0.into_iter().zip(scored.1))
        .map(|(item, (champion, challenger))| EvalImage {
            group: item.group.clone(),
            human: item.targets.clone(),
            champion,
            challenger,
        })
        .collect();
    let mut opts = CompareOptions::new(&schema, set.id as u64);
    if !metrics.is_empty() {
        opts.metrics = metrics.to_vec();
    }
    let c = comparison::compare(&schema, &images, &opts);
    let verdict = serde_json::to_value(c.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut report = serde_json::to_value(&c).map_err(|e| e.to_string())?;
    report["champion_id"] = champion_id.clone().into();
    report["challenger_id"] = challenger.into();
    let mut groups: Vec<&str> = items.iter().map(|i| i.group.as_str()).collect();
    groups.dedup();
    report["evaluation_set"] = serde_json::json!({ "id": set.id, "groups": groups });
    save(&verdict, report).await
}

/// After a training run made a model: compare it with the active one, and for a run of the
/// policy with automatic promotion, activate it when it is better. Returns what happened, in
/// a sentence.
pub async fn after_training(app: &App, run: &TrainingRun, model_id: &str) -> String {
    let policy = match app.store.retrain_policy().await {
        Ok(p) => p,
        Err(e) => return format!("the retraining policy could not be read: {e}"),
    };
    let eval = match evaluate(app, model_id, Some(run.id), &policy.metrics).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(run = run.id, "the new model could not be evaluated: {e}");
            return format!("the new model could not be evaluated: {e}");
        }
    };
    let summary = eval.report["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let better = eval.verdict == "better";
    if run.origin == "policy" && better && policy.auto_promote {
        let reason = format!(
            "promoted automatically by the retraining policy: better than {} on the \
             evaluation set (comparison {})",
            eval.champion_id.as_deref().unwrap_or("-"),
            eval.id
        );
        match app
            .store
            .activate_model(model_id, POLICY_ACTOR, Some(&reason))
            .await
        {
            Ok(_) => {
                tracing::info!(model = model_id, "{reason}");
                app.observer.changed();
                return format!("{summary}; promoted automatically");
            }
            Err(e) => return format!("{summary}; promotion failed: {e}"),
        }
    }
    if better {
        format!("{summary}; waiting for an administrator's approval")
    } else {
        summary
    }
}
