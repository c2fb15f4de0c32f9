//! Socket frames (section 2 of the contract): one JSON object per text frame, tagged by
//! `"type"`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::{ApiError, ErrorCode, User};
use crate::task::{Task, TaskFields};

/// What a `subscribe` asks for. One topic today; an enum so a new one is a compile error
/// wherever it is not handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Tasks,
}

/// A place in a topic's change log: `seq` within `epoch`. What a client has applied (the
/// `since` of a subscribe), and what a snapshot, a replay or an event brings it to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: String,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Auth {
        id: u64,
        token: String,
    },
    Ping {
        id: u64,
    },
    Subscribe {
        id: u64,
        topic: Topic,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Position>,
    },
    Unsubscribe {
        id: u64,
        topic: Topic,
    },
    Request {
        id: u64,
        #[serde(flatten)]
        call: MethodCall,
    },
}

impl ClientFrame {
    pub const TYPES: &[&str] = &["auth", "ping", "subscribe", "unsubscribe", "request"];

    pub fn id(&self) -> u64 {
        match self {
            Self::Auth { id, .. }
            | Self::Ping { id }
            | Self::Subscribe { id, .. }
            | Self::Unsubscribe { id, .. }
            | Self::Request { id, .. } => *id,
        }
    }
}

/// A `request`'s `method` and its typed `params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params")]
pub enum MethodCall {
    #[serde(rename = "task.create")]
    Create(CreateParams),
    #[serde(rename = "task.update")]
    Update(UpdateParams),
    #[serde(rename = "task.delete")]
    Delete(DeleteParams),
    #[serde(rename = "task.clear_done")]
    ClearDone(ClearDoneParams),
}

/// `task.create` and `POST /api/tasks`: a client-chosen `id` makes the create idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub title: String,
}

/// `task.update`; over HTTP the `id` is in the path and this body's `id` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateParams {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// Applied only if the task is still at this version; else `conflict`, with the task
    /// as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteParams {
    pub id: Uuid,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearDoneParams {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    AuthOk {
        id: u64,
        user: User,
        expires_at: String,
        heartbeat_ms: u64,
    },
    Pong {
        id: u64,
    },
    Result {
        id: u64,
        #[serde(flatten)]
        outcome: Outcome,
    },
    Snapshot {
        id: u64,
        topic: Topic,
        epoch: String,
        seq: u64,
        items: Vec<Task>,
    },
    Replay {
        id: u64,
        topic: Topic,
        epoch: String,
        seq: u64,
        events: Vec<Event>,
    },
    Event(Event),
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: ErrorCode,
        message: String,
    },
}

impl ServerFrame {
    pub const TYPES: &[&str] = &[
        "auth_ok", "pong", "result", "snapshot", "replay", "event", "error",
    ];
}

/// A `result`'s `ok` or `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok(MethodValue),
    Error(ApiError),
}

/// A `result`'s `ok`: the method's value. Every method answers with one of three shapes,
/// `{"task"}`, `{}` or `{"deleted":n}`, so it is typed like every other frame rather than
/// any JSON: a malformed `task` is refused where frames are read, and a field the contract
/// does not name is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
}

/// One change of a user's tasks, as a live `event` frame and inside a `replay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub topic: Topic,
    pub epoch: String,
    pub seq: u64,
    #[serde(flatten)]
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Upsert {
        item: Task,
    },
    Patch {
        id: Uuid,
        version: u64,
        fields: TaskFields,
    },
    Delete {
        id: Uuid,
    },
}

impl Change {
    /// The task the change is about.
    pub fn task_id(&self) -> Uuid {
        match self {
            Self::Upsert { item } => item.id,
            Self::Patch { id, .. } | Self::Delete { id } => *id,
        }
    }
}
