//! Tasks over HTTP. Changes go through the same path as the socket's, so they reach the
//! user's sockets as events too.

use axum::Json as Reply;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::{
    ClearDoneParams, CreateParams, DeleteParams, MethodCall, MethodValue, TaskList, TaskPatch,
    UpdateParams,
};

use super::extract::{Caller, Json, TaskId};
use crate::changelog::Outcome;
use crate::error::AppError;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Reply<TaskList>, AppError> {
    Ok(Reply(state.tasks.snapshot(caller.user_id()).await?))
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(params): Json<CreateParams>,
) -> Result<Response, AppError> {
    let applied = state
        .tasks
        .apply(caller.actor(), MethodCall::Create(params))
        .await?;
    created(applied.outcome)
}

/// A create's answer: 201 with the task, or 200 for a retry of one already made.
pub(super) fn created(outcome: Outcome) -> Result<Response, AppError> {
    match outcome {
        Outcome::Created { task, created } => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Reply(task)).into_response())
        }
        other => Err(unexpected(&other)),
    }
}

/// An update's answer: the task as it is now.
pub(super) fn updated(outcome: Outcome) -> Result<Response, AppError> {
    match outcome {
        Outcome::Updated(task) => Ok(Reply(task).into_response()),
        other => Err(unexpected(&other)),
    }
}

pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    TaskId(id): TaskId,
    Json(patch): Json<TaskPatch>,
) -> Result<Response, AppError> {
    let call = MethodCall::Update(UpdateParams {
        board: None,
        id,
        title: patch.title,
        done: patch.done,
        if_version: patch.if_version,
    });
    updated(state.tasks.apply(caller.actor(), call).await?.outcome)
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    TaskId(id): TaskId,
) -> Result<StatusCode, AppError> {
    state
        .tasks
        .apply(
            caller.actor(),
            MethodCall::Delete(DeleteParams { board: None, id }),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/tasks/clear-done`: `task.clear_done` over HTTP, which sections 1 and 4 of
/// the contract lack. The HTTP fallback carries every change a socket can make, so it
/// needs this one too; the answer is the socket's, `{"deleted":n}`.
pub async fn clear_done(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Reply<MethodValue>, AppError> {
    let call = MethodCall::ClearDone(ClearDoneParams { board: None });
    cleared(state.tasks.apply(caller.actor(), call).await?.outcome)
}

/// A clear's answer: how many tasks went.
pub(super) fn cleared(outcome: Outcome) -> Result<Reply<MethodValue>, AppError> {
    match outcome {
        Outcome::Cleared(_) => Ok(Reply(outcome.value())),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(outcome: &Outcome) -> AppError {
    AppError::Internal(format!("the change log answered {outcome:?}"))
}
