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
    Change, ClearDoneParams, ClientFrame, CreateParams, DeleteParams, Event, MethodCall,
    MethodValue, Outcome, Position, ServerFrame, Topic, UpdateParams,
};
pub use http::{
    ApiError, Changes, ChangesBody, Credentials, ErrorBody, ErrorCode, LoginAs, MAX_CHANGES,
    MAX_WAIT_SECS, Role, Session, TaskList, TaskPatch, TopicSnapshot, User, UserList,
};
pub use task::{Task, TaskFields};
pub use validate::{
    ValidationError, validate_board_name, validate_password, validate_title, validate_username,
};

/// The WebSocket subprotocol the client offers and the server selects.
pub const SUBPROTOCOL: &str = "taskwire.v1";
