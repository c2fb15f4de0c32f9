//! Socket frames (section 2 of the contract): one JSON object per text frame, tagged by
//! `"type"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::board::{Board, MemberUser};
use crate::http::{ApiError, ErrorCode, User};
use crate::task::{Task, TaskFields};

/// What a `subscribe` asks for, named on the wire as `tasks`, `boards` or
/// `board:<id>`. An enum so a new topic is a compile error wherever it is not handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// The personal board's tasks, under their v1 name.
    Tasks,
    /// The subscriber's board list.
    Boards,
    /// One board's tasks.
    Board(Uuid),
}

const BOARD_PREFIX: &str = "board:";

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tasks => f.write_str("tasks"),
            Self::Boards => f.write_str("boards"),
            Self::Board(id) => write!(f, "{BOARD_PREFIX}{id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown topic {0:?}: expected \"tasks\", \"boards\" or \"board:<id>\"")]
pub struct UnknownTopic(pub String);

impl FromStr for Topic {
    type Err = UnknownTopic;

    fn from_str(name: &str) -> Result<Self, UnknownTopic> {
        match name {
            "tasks" => Ok(Self::Tasks),
            "boards" => Ok(Self::Boards),
            // The id as the server writes it (hyphenated, lower case) and no other of the
            // spellings a UUID parser takes: frames answer under the topic's own name,
            // which a client matches with the one it sent.
            _ => name
                .strip_prefix(BOARD_PREFIX)
                .and_then(|id| {
                    Uuid::try_parse(id)
                        .ok()
                        .filter(|uuid| uuid.to_string() == id)
                })
                .map(Self::Board)
                .ok_or_else(|| UnknownTopic(name.chars().take(80).collect())),
        }
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
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
    /// The board to change; absent means the personal board (as in v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub title: String,
}

/// `task.update`; over HTTP the `id` is in the path and this body's `id` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<Uuid>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<Uuid>,
    pub id: Uuid,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearDoneParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<Uuid>,
}

impl MethodCall {
    /// The board the call changes; `None` is the personal board.
    pub fn board(&self) -> Option<Uuid> {
        match self {
            Self::Create(p) => p.board,
            Self::Update(p) => p.board,
            Self::Delete(p) => p.board,
            Self::ClearDone(p) => p.board,
        }
    }
}

/// The client's ping interval when `auth_ok` says none (the contract's default).
pub const DEFAULT_HEARTBEAT_MS: u64 = 25_000;

/// Read by `server_reader` rather than a derived `Deserialize`: a `snapshot` or an
/// `event` is typed by its topic (tasks, or the board list), which a tag cannot say.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// The `boards` topic's snapshot. It is never replayed: a board list is small, so a
    /// resubscribe gets it whole.
    #[serde(rename = "snapshot")]
    BoardsSnapshot {
        id: u64,
        topic: Topic,
        epoch: String,
        seq: u64,
        items: Vec<Board>,
    },
    Event(Event),
    #[serde(rename = "event")]
    BoardsEvent(BoardsEvent),
    /// Access to a board ended; nothing more of `topic` follows.
    Unsubscribed {
        topic: Topic,
        reason: Ended,
    },
    /// Everyone with a live subscription to the board now.
    Presence {
        topic: Topic,
        users: Vec<MemberUser>,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: ErrorCode,
        message: String,
    },
}

impl ServerFrame {
    pub const TYPES: &[&str] = &[
        "auth_ok",
        "pong",
        "result",
        "snapshot",
        "replay",
        "event",
        "unsubscribed",
        "presence",
        "error",
    ];
}

/// Why an `unsubscribed` came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// The person was removed from the board, or left it.
    Removed,
    Deleted,
}

/// One change of a board list: a board made, renamed, shared or re-roled (`upsert`), or
/// gone from the list (`delete`). Read by `server_reader`, field by field: a derived
/// reader of the flattened, tagged change would bring serde's buffering back into the
/// browser bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardsEvent {
    pub topic: Topic,
    pub epoch: String,
    pub seq: u64,
    #[serde(flatten)]
    pub change: BoardChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BoardChange {
    Upsert { item: Board },
    Delete { id: Uuid },
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
