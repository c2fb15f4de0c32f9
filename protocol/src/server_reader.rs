//! Reads a [`ServerFrame`] in two passes over its text: the `type`, then the fields of
//! that type into a plain struct.
//!
//! The derived `Deserialize` of a `#[serde(tag = "type")]` enum first copies every frame
//! into serde's private `Content` tree (a 10,000-task snapshot twice over in memory),
//! and the machinery for that was ~40 kB of the browser's wasm. The structs here are
//! the frames' wire shapes; `tests/wire.rs` reads every example and writes it back, so
//! reader and writer cannot drift apart. It is strict on frames that are wrong anyway: a
//! `result` with both `ok` and `error`, or an event carrying a malformed field of
//! another `op` (a delete with a broken `item`), is refused. A `snapshot` or `event` of
//! the `boards` topic carries boards, any other topic's carries tasks.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::board::{Board, MemberUser};
use crate::frame::{
    BoardChange, BoardsEvent, Change, Ended, Event, MethodValue, Outcome, ServerFrame, Topic,
};
use crate::http::{ApiError, Changes, ChangesBody, ErrorCode, SnapshotItems, TopicSnapshot, User};
use crate::task::{Task, TaskFields};

/// What says how to read the rest: the type and, for frames whose items depend on it,
/// the topic.
#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    topic: Option<Topic>,
}

#[derive(Deserialize)]
struct AuthOk {
    id: u64,
    user: User,
    expires_at: String,
    /// Optional in the contract, with a default.
    #[serde(default)]
    heartbeat_ms: Option<u64>,
}

#[derive(Deserialize)]
struct Pong {
    id: u64,
}

#[derive(Deserialize)]
struct ResultFrame {
    id: u64,
    /// `Some` whenever the key is there: `"ok": null` is refused, not taken for absent.
    #[serde(default, deserialize_with = "present")]
    ok: Option<MethodValue>,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct Snapshot {
    id: u64,
    topic: Topic,
    epoch: String,
    seq: u64,
    items: Vec<Task>,
}

#[derive(Deserialize)]
struct BoardsSnapshot {
    id: u64,
    topic: Topic,
    epoch: String,
    seq: u64,
    items: Vec<Board>,
}

#[derive(Deserialize)]
struct Unsubscribed {
    topic: Topic,
    reason: Ended,
}

#[derive(Deserialize)]
struct Presence {
    topic: Topic,
    users: Vec<MemberUser>,
}

#[derive(Deserialize)]
struct Replay {
    id: u64,
    topic: Topic,
    epoch: String,
    seq: u64,
    events: Vec<FlatEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    Upsert,
    Patch,
    Delete,
}

/// An event as it is on the wire: the change's fields beside the event's own.
#[derive(Deserialize)]
struct FlatEvent {
    topic: Topic,
    epoch: String,
    seq: u64,
    op: Op,
    item: Option<Task>,
    id: Option<Uuid>,
    version: Option<u64>,
    fields: Option<TaskFields>,
}

/// A board list's event as it is on the wire.
#[derive(Deserialize)]
struct FlatBoardsEvent {
    topic: Topic,
    epoch: String,
    seq: u64,
    op: Op,
    item: Option<Board>,
    id: Option<Uuid>,
}

impl TryFrom<FlatBoardsEvent> for BoardsEvent {
    type Error = serde_json::Error;

    fn try_from(e: FlatBoardsEvent) -> Result<Self, Self::Error> {
        let change = match e.op {
            Op::Upsert => BoardChange::Upsert {
                item: required(e.item, "item")?,
            },
            Op::Delete => BoardChange::Delete {
                id: required(e.id, "id")?,
            },
            Op::Patch => {
                return Err(serde_json::Error::custom(
                    "a board list changes by upsert or delete, not patch",
                ));
            }
        };
        Ok(BoardsEvent {
            topic: e.topic,
            epoch: e.epoch,
            seq: e.seq,
            change,
        })
    }
}

#[derive(Deserialize)]
struct ErrorFrame {
    id: Option<u64>,
    code: ErrorCode,
    message: String,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MethodValue>, D::Error> {
    MethodValue::deserialize(d).map(Some)
}

fn required<T>(field: Option<T>, name: &'static str) -> Result<T, serde_json::Error> {
    field.ok_or_else(|| serde_json::Error::missing_field(name))
}

impl TryFrom<FlatEvent> for Event {
    type Error = serde_json::Error;

    fn try_from(e: FlatEvent) -> Result<Self, Self::Error> {
        let change = match e.op {
            Op::Upsert => Change::Upsert {
                item: required(e.item, "item")?,
            },
            Op::Patch => Change::Patch {
                id: required(e.id, "id")?,
                version: required(e.version, "version")?,
                fields: required(e.fields, "fields")?,
            },
            Op::Delete => Change::Delete {
                id: required(e.id, "id")?,
            },
        };
        Ok(Event {
            topic: e.topic,
            epoch: e.epoch,
            seq: e.seq,
            change,
        })
    }
}

/// The frame in `text`; errors are serde's, for the caller to classify.
/// The head of `GET /api/changes`'s answer: the topic says what the rest holds.
#[derive(Deserialize)]
struct ChangesHead {
    topic: Topic,
    epoch: String,
    seq: u64,
}

#[derive(Deserialize)]
struct TaskChanges {
    #[serde(default)]
    events: Option<Vec<FlatEvent>>,
    #[serde(default)]
    snapshot: Option<Items<Task>>,
}

#[derive(Deserialize)]
struct BoardChanges {
    #[serde(default)]
    events: Option<Vec<serde::de::IgnoredAny>>,
    #[serde(default)]
    snapshot: Option<Items<Board>>,
}

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

/// `GET /api/changes`'s answer (the HTTP fallback), read like a frame rather than by
/// [`Changes`]'s derived `Deserialize`, whose flattened, untagged body would bring the
/// `Content` machinery back into the app: the topic first, then its events (as a
/// replay's) or its snapshot (tasks, or the board list for `boards`).
pub fn read_changes(text: &str) -> Result<Changes, serde_json::Error> {
    let head: ChangesHead = serde_json::from_str(text)?;
    let body = if head.topic == Topic::Boards {
        let f: BoardChanges = serde_json::from_str(text)?;
        match (f.events, f.snapshot) {
            (None, Some(snapshot)) => ChangesBody::Snapshot(TopicSnapshot {
                items: SnapshotItems::Boards(snapshot.items),
            }),
            (Some(events), None) if events.is_empty() => ChangesBody::Events(Vec::new()),
            (Some(_), None) => {
                return Err(serde_json::Error::custom(
                    "the boards topic is never replayed; it comes as a snapshot",
                ));
            }
            (events, _) => return Err(either_or(events.is_some())),
        }
    } else {
        let f: TaskChanges = serde_json::from_str(text)?;
        match (f.events, f.snapshot) {
            (Some(events), None) => ChangesBody::Events(
                events
                    .into_iter()
                    .map(Event::try_from)
                    .collect::<Result<_, _>>()?,
            ),
            (None, Some(snapshot)) => ChangesBody::Snapshot(TopicSnapshot {
                items: SnapshotItems::Tasks(snapshot.items),
            }),
            (events, _) => return Err(either_or(events.is_some())),
        }
    };
    Ok(Changes {
        topic: head.topic,
        epoch: head.epoch,
        seq: head.seq,
        body,
    })
}

fn either_or(both: bool) -> serde_json::Error {
    if both {
        serde_json::Error::custom("changes carry \"events\" or a \"snapshot\", not both")
    } else {
        serde_json::Error::missing_field("events")
    }
}

pub(crate) fn read(text: &str) -> Result<ServerFrame, serde_json::Error> {
    let tag: Tag = serde_json::from_str(text)?;
    Ok(match tag.kind.as_str() {
        "auth_ok" => {
            let f: AuthOk = serde_json::from_str(text)?;
            ServerFrame::AuthOk {
                id: f.id,
                user: f.user,
                expires_at: f.expires_at,
                heartbeat_ms: f.heartbeat_ms.unwrap_or(crate::DEFAULT_HEARTBEAT_MS),
            }
        }
        "pong" => ServerFrame::Pong {
            id: serde_json::from_str::<Pong>(text)?.id,
        },
        "result" => {
            let f: ResultFrame = serde_json::from_str(text)?;
            let outcome = match (f.ok, f.error) {
                (Some(ok), None) => Outcome::Ok(ok),
                (None, Some(error)) => Outcome::Error(error),
                (None, None) => return Err(serde_json::Error::missing_field("ok")),
                (Some(_), Some(_)) => {
                    return Err(serde_json::Error::custom(
                        "a result has either \"ok\" or \"error\", not both",
                    ));
                }
            };
            ServerFrame::Result { id: f.id, outcome }
        }
        "snapshot" if tag.topic == Some(Topic::Boards) => {
            let f: BoardsSnapshot = serde_json::from_str(text)?;
            ServerFrame::BoardsSnapshot {
                id: f.id,
                topic: f.topic,
                epoch: f.epoch,
                seq: f.seq,
                items: f.items,
            }
        }
        "snapshot" => {
            let f: Snapshot = serde_json::from_str(text)?;
            ServerFrame::Snapshot {
                id: f.id,
                topic: f.topic,
                epoch: f.epoch,
                seq: f.seq,
                items: f.items,
            }
        }
        "replay" if tag.topic == Some(Topic::Boards) => {
            return Err(serde_json::Error::custom(
                "the boards topic is never replayed; it comes as a snapshot",
            ));
        }
        "replay" => {
            let f: Replay = serde_json::from_str(text)?;
            ServerFrame::Replay {
                id: f.id,
                topic: f.topic,
                epoch: f.epoch,
                seq: f.seq,
                events: f
                    .events
                    .into_iter()
                    .map(Event::try_from)
                    .collect::<Result<_, _>>()?,
            }
        }
        "event" if tag.topic == Some(Topic::Boards) => {
            ServerFrame::BoardsEvent(serde_json::from_str::<FlatBoardsEvent>(text)?.try_into()?)
        }
        "event" => ServerFrame::Event(serde_json::from_str::<FlatEvent>(text)?.try_into()?),
        "unsubscribed" => {
            let f: Unsubscribed = serde_json::from_str(text)?;
            ServerFrame::Unsubscribed {
                topic: f.topic,
                reason: f.reason,
            }
        }
        "presence" => {
            let f: Presence = serde_json::from_str(text)?;
            ServerFrame::Presence {
                topic: f.topic,
                users: f.users,
            }
        }
        "error" => {
            let f: ErrorFrame = serde_json::from_str(text)?;
            ServerFrame::Error {
                id: f.id,
                code: f.code,
                message: f.message,
            }
        }
        other => {
            return Err(serde_json::Error::unknown_variant(
                other,
                ServerFrame::TYPES,
            ));
        }
    })
}
