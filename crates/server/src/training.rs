//! Training over HTTP: start a run (a `train` job any worker may take), follow it, cancel it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use histoscore_app::training::TrainRequest;
use histoscore_store::TrainingRun;

use crate::auth::Caller;
use crate::extract::{Json, OptionalJson, Path as UrlPath};
use crate::{ApiError, AppState};

/// Start training a new head in the background (administrators). Progress is on
/// `GET /api/training/{id}`; the new model is registered, not activated.
#[utoipa::path(post, path = "/api/training", tag = "models", request_body = TrainRequest,
    responses((status = 202, body = TrainingRun), (status = 422, body = crate::ErrorBody)))]
pub async fn start(
    State(s): State<AppState>,
    caller: Caller,
    OptionalJson(req): OptionalJson<TrainRequest>,
) -> Result<Response, ApiError> {
    if !(0.05..=0.5).contains(&req.val_fraction) || req.epochs == 0 || req.epochs > 10_000 {
        let field = if req.epochs == 0 || req.epochs > 10_000 {
            "epochs"
        } else {
            "val_fraction"
        };
        return Err(ApiError::invalid(
            field,
            "val_fraction must be between 0.05 and 0.5 and epochs between 1 and 10 000",
        ));
    }
    let params = serde_json::to_value(&req).map_err(ApiError::internal)?;
    let run = s.store.create_training_run(&params, &caller.name).await?;
    // A worker of any process takes the job.
    s.work.notify_waiters();
    s.events.poke();
    Ok((StatusCode::ACCEPTED, Json(run)).into_response())
}

/// The latest training runs, newest first.
#[utoipa::path(get, path = "/api/training", tag = "models",
    responses((status = 200, body = [TrainingRun])))]
pub async fn list(State(s): State<AppState>) -> Result<Json<Vec<TrainingRun>>, ApiError> {
    Ok(Json(s.store.list_training_runs(50).await?))
}

/// One training run with its latest progress.
#[utoipa::path(get, path = "/api/training/{id}", tag = "models",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = TrainingRun), (status = 404, body = crate::ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<TrainingRun>, ApiError> {
    Ok(Json(s.store.training_run(id).await?))
}

/// Stop a training run after its current epoch; no model is made.
#[utoipa::path(post, path = "/api/training/{id}/cancel", tag = "models",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = TrainingRun), (status = 404, body = crate::ErrorBody)))]
pub async fn cancel(
    State(s): State<AppState>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<TrainingRun>, ApiError> {
    Ok(Json(s.store.cancel_training_run(id).await?))
}
