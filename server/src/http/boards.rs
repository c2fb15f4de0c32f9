//! The board calls of protocol v2, section 4: boards, their members, and the tasks of a
//! board. Each checks the caller's standing on the board first.

use axum::Json as Reply;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::{
    Board, BoardList, BoardPatch, ClearDoneParams, CreateParams, DeleteParams, Member, MemberList,
    MemberRole, MethodCall, MethodValue, NewBoard, TaskList, TaskPatch, UpdateParams,
};
use uuid::Uuid;

use super::extract::{Caller, Json, task_id};
use super::tasks::{cleared, created, updated};
use crate::error::AppError;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Reply<BoardList>, AppError> {
    Ok(Reply(state.boards.list(caller.user_id()).await?))
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Json(new): Json<NewBoard>,
) -> Result<Response, AppError> {
    let (board, created) = state.boards.create(caller.user_id(), new).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Reply(board)).into_response())
}

pub async fn rename(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(board): Path<String>,
    Json(patch): Json<BoardPatch>,
) -> Result<Reply<Board>, AppError> {
    let board = board_id(&board)?;
    Ok(Reply(
        state
            .boards
            .rename(caller.user_id(), board, &patch.name)
            .await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(board): Path<String>,
) -> Result<StatusCode, AppError> {
    state
        .boards
        .delete(caller.user_id(), board_id(&board)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn members(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(board): Path<String>,
) -> Result<Reply<MemberList>, AppError> {
    let board = board_id(&board)?;
    Ok(Reply(state.boards.members(caller.user_id(), board).await?))
}

pub async fn set_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((board, username)): Path<(String, String)>,
    Json(role): Json<MemberRole>,
) -> Result<Reply<Member>, AppError> {
    let board = board_id(&board)?;
    Ok(Reply(
        state
            .boards
            .set_member(caller.user_id(), board, &username, role.role)
            .await?,
    ))
}

pub async fn remove_member(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((board, username)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let board = board_id(&board)?;
    state
        .boards
        .remove_member(caller.user_id(), board, &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tasks(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(board): Path<String>,
) -> Result<Reply<TaskList>, AppError> {
    let board = board_id(&board)?;
    state.boards.access(caller.user_id(), board).await?;
    let tasks = state.tasks.snapshot(board).await?;
    // Again after the read: everything answered was committed while the caller was a
    // member, even if they were removed while it ran.
    state.boards.access(caller.user_id(), board).await?;
    Ok(Reply(tasks))
}

pub async fn create_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(board): Path<String>,
    Json(params): Json<CreateParams>,
) -> Result<Response, AppError> {
    let board = board_id(&board)?;
    let applied = state
        .tasks
        .apply_on(board, caller.actor(), MethodCall::Create(params))
        .await?;
    created(applied.outcome)
}

pub async fn update_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((board, task)): Path<(String, String)>,
    Json(patch): Json<TaskPatch>,
) -> Result<Response, AppError> {
    let board = board_id(&board)?;
    let call = MethodCall::Update(UpdateParams {
        board: None,
        id: task_id(&task)?,
        title: patch.title,
        done: patch.done,
        if_version: patch.if_version,
    });
    let applied = state.tasks.apply_on(board, caller.actor(), call).await?;
    updated(applied.outcome)
}

pub async fn delete_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((board, task)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let board = board_id(&board)?;
    let call = MethodCall::Delete(DeleteParams {
        board: None,
        id: task_id(&task)?,
    });
    state.tasks.apply_on(board, caller.actor(), call).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/boards/{id}/tasks/clear-done`, as [`super::tasks::clear_done`].
pub async fn clear_done(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(board): Path<String>,
) -> Result<Reply<MethodValue>, AppError> {
    let board = board_id(&board)?;
    let call = MethodCall::ClearDone(ClearDoneParams { board: None });
    cleared(
        state
            .tasks
            .apply_on(board, caller.actor(), call)
            .await?
            .outcome,
    )
}

/// A board id; anything that is not one names no board anyone can see.
fn board_id(id: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id).map_err(|_| AppError::NotFound("No such board.".into()))
}
