//! Automated retraining over HTTP: the policy, the evaluation set, and each model's comparison
//! with the model that was active (JSON and CSV).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use histoscore_app::retraining::{self, EvaluationSetChange, EvaluationSetView};
use histoscore_domain::comparison::{self, Comparison};
use histoscore_store::{EvaluationSet, ModelEvaluation, RetrainPolicy, TrainingRun};

use crate::auth::Caller;
use crate::extract::{Json, Path as UrlPath};
use crate::{ApiError, AppState};

/// When the server retrains on its own (off until an administrator sets it).
#[utoipa::path(get, path = "/api/models/policy", tag = "models",
    responses((status = 200, body = RetrainPolicy)))]
pub async fn get_policy(State(s): State<AppState>) -> Result<Json<RetrainPolicy>, ApiError> {
    Ok(Json(s.store.retrain_policy().await?))
}

/// Set the retraining policy (administrators): after N newly reviewed images and/or every H
/// hours; head only or a fine-tune of the named layers; promote a better challenger at once
/// or wait for approval (the default).
#[utoipa::path(put, path = "/api/models/policy", tag = "models", request_body = RetrainPolicy,
    responses((status = 200, body = RetrainPolicy), (status = 422, body = crate::ErrorBody)))]
pub async fn set_policy(
    State(s): State<AppState>,
    caller: Caller,
    Json(p): Json<RetrainPolicy>,
) -> Result<Json<RetrainPolicy>, ApiError> {
    retraining::check_policy_input(&s.scorer.schema, &p)?;
    let saved = s.store.set_retrain_policy(&p, &caller.name).await?;
    tracing::info!(by = %caller.name, "retraining policy changed");
    s.events.poke();
    Ok(Json(saved))
}

/// Start a run of the policy now (administrators), whatever its triggers say. 409 while a
/// training run is in progress.
#[utoipa::path(post, path = "/api/models/policy/run", tag = "models",
    responses((status = 202, body = TrainingRun), (status = 409, body = crate::ErrorBody)))]
pub async fn run_policy(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let why = format!("started by {}", caller.name);
    match retraining::start_policy_run(&s.app, &why, &caller.name).await? {
        Some(run) => {
            s.events.poke();
            Ok((StatusCode::ACCEPTED, Json(run)).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "training_in_progress",
            "a training run is in progress; wait for it to finish (or cancel it) first",
        )),
    }
}

/// The sample groups kept aside to compare models on (`set` is `null` until chosen), with the
/// reviewed groups in it today.
#[utoipa::path(get, path = "/api/models/evaluation-set", tag = "models",
    responses((status = 200, body = EvaluationSetView)))]
pub async fn get_evaluation_set(
    State(s): State<AppState>,
) -> Result<Json<EvaluationSetView>, ApiError> {
    Ok(Json(
        retraining::evaluation_set_view(&s.store, &s.scorer.schema).await?,
    ))
}

/// Change the evaluation set (administrators, with a reason kept in the audit log). Groups a
/// registered model was trained on are refused.
#[utoipa::path(put, path = "/api/models/evaluation-set", tag = "models",
    request_body = EvaluationSetChange,
    responses((status = 200, body = EvaluationSet), (status = 422, body = crate::ErrorBody)))]
pub async fn set_evaluation_set(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<EvaluationSetChange>,
) -> Result<Json<EvaluationSet>, ApiError> {
    let set = retraining::change_evaluation_set(&s.store, &body, &caller.name).await?;
    tracing::info!(by = %caller.name, share = set.rule.share, "evaluation set changed");
    Ok(Json(set))
}

/// The model's comparisons with the model that was active, newest first.
#[utoipa::path(get, path = "/api/models/{id}/evaluations", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = [ModelEvaluation]), (status = 404, body = crate::ErrorBody)))]
pub async fn evaluations(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Vec<ModelEvaluation>>, ApiError> {
    s.store
        .model(&id)
        .await
        .map_err(crate::registry_routes::not_found)?;
    Ok(Json(s.store.model_evaluations(&id).await?))
}

/// Compare the model with the active one on the evaluation set now (administrators; e.g.
/// for an imported model, or after the set changed). Never changes the active model.
#[utoipa::path(post, path = "/api/models/{id}/evaluate", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, body = ModelEvaluation), (status = 404, body = crate::ErrorBody)))]
pub async fn evaluate(
    State(s): State<AppState>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<ModelEvaluation>, ApiError> {
    s.store
        .model(&id)
        .await
        .map_err(crate::registry_routes::not_found)?;
    let policy = s.store.retrain_policy().await?;
    let e = retraining::evaluate(&s.app, &id, None, &policy.metrics)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "evaluation_failed", e))?;
    tracing::info!(by = %caller.name, model = %id, verdict = %e.verdict, "model evaluated");
    Ok(Json(e))
}

/// The model's latest comparison as CSV: per metric, each statistic with its 95 % interval.
#[utoipa::path(get, path = "/api/models/{id}/evaluation.csv", tag = "models",
    params(("id" = String, Path, description = "Model id")),
    responses((status = 200, description = "CSV", content_type = "text/csv"),
              (status = 404, body = crate::ErrorBody)))]
pub async fn evaluation_csv(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    s.store
        .model(&id)
        .await
        .map_err(crate::registry_routes::not_found)?;
    let latest = s.store.model_evaluations(&id).await?.into_iter().next();
    let Some(e) = latest else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("model {id} has not been compared with another model yet"),
        ));
    };
    let body = match serde_json::from_value::<Comparison>(e.report.clone()) {
        Ok(c) => comparison::to_csv(&c),
        // No comparison was possible: the CSV says why.
        Err(_) => format!(
            "metric,statistic,value,ci95_low,ci95_high,verdict\n,summary,\"{}\",,,{}\n",
            e.report["summary"]
                .as_str()
                .unwrap_or_default()
                .replace('"', "\"\""),
            e.verdict
        ),
    };
    let short: String = id.chars().take(12).collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"evaluation-{short}-{}.csv\"", e.id),
            ),
        ],
        body,
    )
        .into_response())
}
