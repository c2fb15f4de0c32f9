//! Taskwire's wire contract (`shared/spec/protocol.md`) as Rust types.
//!
//! The app and the server both speak through these types, so the two sides cannot drift:
//! a field renamed here breaks both builds at once.

mod board;
mod close;
mod decode;
mod frame;
mod http;
mod server_reader;
mod task;
pub mod time;
mod validate;

pub use board::{
    Board, BoardList, BoardPatch, BoardRole, Member, MemberList, MemberRole, MemberUser, NewBoard,
};
pub use close::{CloseAction, CloseCode};
pub use decode::{
    DecodeError, DecodeErrorKind, MAX_FRAME_BYTES, MAX_SERVER_FRAME_BYTES, decode_client,
    decode_server,
};
pub use frame::{
    BoardChange, BoardsEvent, Change, ClearDoneParams, ClientFrame, CreateParams,
    DEFAULT_HEARTBEAT_MS, DeleteParams, Ended, Event, MethodCall, MethodValue, Outcome, Position,
    ServerFrame, Topic, UnknownTopic, UpdateParams,
};
pub use http::{
    ApiError, Changes, ChangesBody, Credentials, ErrorBody, ErrorCode, LoginAs, MAX_CHANGES,
    MAX_WAIT_SECS, Role, Session, SnapshotItems, TaskList, TaskPatch, TopicSnapshot, User,
    UserList,
};
pub use server_reader::read_changes;
pub use task::{Task, TaskFields};
pub use validate::{
    ValidationError, validate_board_name, validate_password, validate_title, validate_username,
};

/// The WebSocket subprotocol the client offers and the server selects: v2 has shared
/// boards.
pub const SUBPROTOCOL: &str = "taskwire.v2";
/// The first release's subprotocol, still accepted: its sockets see only the personal
/// board.
pub const SUBPROTOCOL_V1: &str = "taskwire.v1";
