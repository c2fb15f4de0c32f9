//! Extractors whose failures answer with the contract's error body (axum's own answer
//! with plain text).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::auth::Authed;
use crate::config::MAX_BODY_BYTES;
use crate::error::AppError;
use crate::state::AppState;

/// A JSON body: bad JSON or a wrong shape is `bad_request`, too big `payload_too_large`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            AppError::bad_request("Send a JSON body with Content-Type: application/json.")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge(MAX_BODY_BYTES)
        }
        other => AppError::bad_request(other.body_text()),
    }
}

/// The `{id}` of `/api/tasks/{id}`.
pub struct TaskId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::bad_request("A task id is a UUID."))?;
        task_id(&id).map(Self)
    }
}

/// A task id from a path.
pub fn task_id(id: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(id).map_err(|_| AppError::bad_request("A task id is a UUID."))
}

/// The caller of an authenticated call, from `Authorization: Bearer <token>`.
pub struct Caller(pub Authed);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| AppError::unauthorized("Sign in first (no Bearer token)."))?;
        Ok(Self(state.auth.authenticate(token).await?))
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
}
