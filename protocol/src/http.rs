//! Bodies of the HTTP API (section 1 of the contract).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::board::Board;
use crate::frame::{Event, Topic};
use crate::task::Task;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// Set when an admin is acting as this user: the admin's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_as_admin: Option<String>,
}

/// What sign-in, registration and refresh answer with. The refresh token travels only in
/// its HttpOnly cookie, never in this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub expires_at: String,
    pub user: User,
}

/// `POST /api/register` and `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `POST /api/login-as`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAs {
    pub username: String,
}

/// `GET /api/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<User>,
}

/// `GET /api/tasks`: every task, and the change-log position they reflect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskList {
    pub epoch: String,
    pub seq: u64,
    pub items: Vec<Task>,
}

/// `PATCH /api/tasks/{id}`: the fields to change. The id is in the path, so unlike
/// `task.update`'s params this body has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// Applied only if the task is still at this version; else `conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_version: Option<u64>,
}

/// The machine-readable half of every error, over HTTP and on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::Internal => 500,
        }
    }
}

/// `{"code","message"}`: the error inside an HTTP error body or a socket `result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code:?})")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// With `conflict` from an update with `if_version`: the task as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Box<Task>>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            current: None,
        }
    }
}

/// `{"error":{"code","message"}}`: every HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

/// `GET /api/changes` (the HTTP fallback): a topic's events after `since`, or the whole
/// topic when the log cannot bring the client up to date from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub topic: Topic,
    pub epoch: String,
    pub seq: u64,
    #[serde(flatten)]
    pub body: ChangesBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangesBody {
    /// Oldest first, at most [`MAX_CHANGES`]; empty when none came within the wait.
    Events(Vec<Event>),
    Snapshot(TopicSnapshot),
}

/// A whole topic: a board's tasks, or the board list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSnapshot {
    pub items: SnapshotItems,
}

/// Tasks or boards, as the topic holds. Told apart by their fields: a board list is
/// never empty (the personal board is always on it), and an empty list reads as tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SnapshotItems {
    Tasks(Vec<Task>),
    Boards(Vec<Board>),
}

/// The most events one `GET /api/changes` answers with; the client asks again for more.
pub const MAX_CHANGES: usize = 1_000;
/// The longest a long poll may wait, in seconds.
pub const MAX_WAIT_SECS: u64 = 25;
