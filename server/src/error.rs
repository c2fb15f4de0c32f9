//! The one error type of request handling, and how it reaches people: the contract's
//! error body over HTTP, a `result`/`error` frame on the socket.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use protocol::{ApiError, ErrorBody, ErrorCode};

/// A refused or failed request. Everything but `Internal` carries text meant for people;
/// `Internal` keeps its cause for the log and shows only a generic message.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// An update made against a version the task has moved past: the task as it is.
    #[error("{} changed this task in the meantime.", .0.updated_by)]
    VersionConflict(Box<protocol::Task>),
    #[error("The request body is over {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("Too many requests; try again later.")]
    RateLimited,
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn no_such_task() -> Self {
        Self::NotFound("No such task.".into())
    }

    /// A create of an id the board had and deleted: creates are idempotent, so it is
    /// not made again.
    pub fn task_deleted() -> Self {
        Self::NotFound("That task was deleted.".into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) | Self::VersionConflict(_) => ErrorCode::Conflict,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::RateLimited => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The `{"code","message"}` people see. Internal causes are logged here, once, and
    /// never shown: they may name files, queries or secrets.
    pub fn to_api(&self) -> ApiError {
        let message = match self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "Something went wrong on the server.".to_owned()
            }
            other => other.to_string(),
        };
        let mut error = ApiError::new(self.code(), message);
        if let Self::VersionConflict(current) = self {
            error.current = Some(current.clone());
        }
        error
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(format!("database: {error}"))
    }
}

impl From<protocol::ValidationError> for AppError {
    fn from(error: protocol::ValidationError) -> Self {
        Self::BadRequest(error.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        error_response(self.to_api())
    }
}

/// The contract's error body with the status that goes with its code.
pub fn error_response(error: ApiError) -> Response {
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(ErrorBody { error })).into_response()
}
