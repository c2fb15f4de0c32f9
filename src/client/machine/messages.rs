//! What passes between the machine and its shell: the inputs it is fed, the commands it
//! gives back, what the UI is told, and the settings and figures the machine is built
//! with and shows. Plain data, so the shell can match on every case.

use protocol::{
    ApiError, Board, Changes, ClientFrame, CloseCode, DecodeError, Ended, MemberUser, MethodCall,
    MethodValue, Position, ServerFrame, Task, Topic, UpdateParams,
};

use super::timers::TimerKind;
use crate::client::outbox::{Kept, MutationId, OUTBOX_CAPACITY, OutboxError};
use crate::client::requests::{REQUEST_TIMEOUT_MS, RequestError};
use crate::client::rows::RowUpdate;
use crate::client::store::SyncError;

/// How long the socket may take to open.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// How long a `subscribe` may wait for its snapshot. Longer than other requests: a
/// snapshot carries every task in one frame, which takes a while over a slow link; given
/// up after the usual request timeout, it would be asked for again and again and never
/// arrive. The heartbeat still notices a connection that died, but for a ping sent
/// after the subscribe: its pong comes after the snapshot, and this deadline is its.
pub const SUBSCRIBE_TIMEOUT_MS: u64 = 30_000;

/// A socket's number, given by the machine in [`Command::Open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the shell passes with every input: the wall clock (`Date.now()`, epoch ms, the
/// same clock the token's `expires_at` is on) and a uniform random number in `[0, 1)`
/// (`Math.random()`), used only for the backoff jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Env {
    pub now_ms: u64,
    pub random: f64,
}

/// How the machine reaches the server (the `data-transport` attribute): a socket, or the
/// HTTP fallback's long polls and calls where sockets cannot get through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    WebSocket,
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Http => "http",
        }
    }
}

/// A long poll's number, given by the machine in [`Command::Poll`]; an answer to a poll
/// the machine no longer waits for is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PollId(pub u64);

/// Why an HTTP call of the fallback failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// The server answered with the contract's error (a 401 included).
    Refused(ApiError),
    /// No answer (offline, the server away, a timeout), or one outside the contract.
    Unreachable,
}

/// The state the UI shows (the `data-connection` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    Connecting,
    Authenticating,
    Live,
    Reconnecting,
    Offline,
    Closed,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Authenticating => "authenticating",
            Self::Live => "live",
            Self::Reconnecting => "reconnecting",
            Self::Offline => "offline",
            Self::Closed => "closed",
        }
    }
}

/// Everything that happens to the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A session exists (sign-in, or a page load restored it through `/api/refresh`):
    /// connect. `expires_at_ms` is the token's expiry, epoch ms.
    SignIn { token: String, expires_at_ms: u64 },
    /// The socket opened (`open` event).
    Opened { conn: ConnId },
    /// A text frame, decoded with [`protocol::decode_server`].
    Frame { conn: ConnId, frame: ServerFrame },
    /// A text (or binary) frame that could not be decoded.
    Undecodable { conn: ConnId, error: DecodeError },
    /// The `close` event.
    Closed {
        conn: ConnId,
        code: CloseCode,
        reason: String,
    },
    /// The shell failed the socket: it could not be created, or `send` threw. (Not the
    /// browser's `error` event: a `close` with the real code always follows that.)
    Error { conn: ConnId },
    /// A timer started by [`Command::StartTimer`] fired, however late.
    TimerFired(TimerKind),
    /// `window` `online` event.
    Online,
    /// `window` `offline` event.
    Offline,
    /// `visibilitychange` to visible.
    Visible,
    /// A person asks to reconnect now rather than wait out the backoff.
    RetryNow,
    /// The person signs out.
    SignOut,
    /// `/api/refresh` answered after [`Command::RefreshToken`].
    TokenRefreshed { token: String, expires_at_ms: u64 },
    /// `/api/refresh` refused the session after [`Command::RefreshToken`].
    RefreshFailed,
    /// `/api/refresh` got no answer, or none about the session (the server away, or
    /// erring): the session may well be fine, so it is not given up.
    RefreshUnavailable,
    /// A person opens a board (`board:<id>`, or `tasks`): its tasks replace the open
    /// board's.
    Open(Topic),
    /// A person's change: queued in the outbox, shown at once, sent when live.
    Mutate(MethodCall),
    /// A person gives up a change that is still waiting.
    Discard(MutationId),
    /// Changes kept across a reload (`crate::saved_changes`), oldest first.
    Restore(Vec<Kept>),
    /// `GET /api/changes` answered (or failed) after [`Command::Poll`].
    Polled {
        poll: PollId,
        result: Result<Changes, HttpFailure>,
    },
    /// A change's HTTP call answered (or failed) after [`Command::Call`].
    Called {
        mutation: MutationId,
        result: Result<MethodValue, HttpFailure>,
    },
}

impl Input {
    /// Decodes a text frame into `Frame` or `Undecodable`.
    pub fn from_text(conn: ConnId, text: &str) -> Self {
        match protocol::decode_server(text) {
            Ok(frame) => Self::Frame { conn, frame },
            Err(error) => Self::Undecodable { conn, error },
        }
    }
}

/// What the shell must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a new socket (`new WebSocket(url, "taskwire.v2")`) known as `conn`; feed its
    /// events back with this number.
    Open {
        conn: ConnId,
    },
    /// `socket.send(serde_json::to_string(&frame))` on socket `conn`.
    Send {
        conn: ConnId,
        frame: ClientFrame,
    },
    /// `socket.close(code, reason)` and drop its handlers: the machine has moved on.
    Close {
        conn: ConnId,
        code: CloseCode,
        reason: String,
    },
    /// Start (or restart) the timer of this kind; feed `TimerFired(kind)` when it fires.
    StartTimer {
        kind: TimerKind,
        after_ms: u64,
    },
    CancelTimer(TimerKind),
    /// `GET /api/changes?topic=..&since=..&wait=..` with the session's token; feed the
    /// answer back as `Polled` with this number.
    Poll {
        poll: PollId,
        topic: Topic,
        since: Option<Position>,
        wait_s: u64,
    },
    /// Abort that poll: its answer is no longer wanted (and would hold a connection).
    CancelPoll(PollId),
    /// Make the change over the HTTP API (contract sections 1 and 4); feed the answer
    /// back as `Called`.
    Call {
        mutation: MutationId,
        call: MethodCall,
    },
    /// `POST /api/refresh`, then feed `TokenRefreshed` or `RefreshFailed`.
    RefreshToken,
    /// Show the login page.
    GoToLogin,
    /// Forget the session (signed out everywhere).
    ClearSession,
    /// Tell the UI.
    Notify(Notice),
}

/// What the UI is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Status(ConnectionState),
    Transport(Transport),
    /// The rows of `topic`'s list changed: apply `rows` in order.
    Rows {
        topic: Topic,
        rows: Vec<RowUpdate>,
    },
    /// A person's change was accepted into the outbox.
    Queued(MutationId),
    /// The outbox refused a change or a discard.
    Refused(OutboxError),
    /// A change's fate is known.
    Settled {
        mutation: MutationId,
        result: Result<(), MutationError>,
    },
    /// The outbox's entries now, oldest first.
    Outbox(Vec<Waiting>),
    /// The person's boards now (the `boards` topic).
    Boards(Vec<Board>),
    /// Everyone looking at the open board now.
    Presence {
        topic: Topic,
        users: Vec<MemberUser>,
    },
    /// The open board cannot be opened: not a board of this person's.
    Unavailable {
        topic: Topic,
        error: ApiError,
    },
    /// The person's access to the open board ended; nothing more of it comes.
    AccessEnded {
        topic: Topic,
        reason: Ended,
    },
    /// A title edit was refused because the task changed meanwhile: what the person
    /// typed, and the task as it is now.
    Conflict {
        mine: UpdateParams,
        current: Task,
    },
    /// Something to report to the person or the diagnostics page.
    Problem(Problem),
}

/// A change in the outbox, with the title its task has now (for a call that names a
/// task the store still knows), so that the UI can say which task it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub call: MethodCall,
    pub title: Option<String>,
    /// How many times it went on the wire (kept across a reload with the call).
    pub sends: u8,
    /// The version of its task it was made on (kept across a reload with the call).
    pub based_on: Option<u64>,
}

/// Why a person's change did not happen, in the words of the alert that says so (the
/// server's message, not its error code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    #[error("The server refused the change: {}", .0.message)]
    Refused(ApiError),
    #[error("The change got no answer twice, and the server does not show it. Try again.")]
    Unconfirmed,
    /// Clearing what is done, whose answer was lost where the board cannot tell whether
    /// it happened: it is not sent again, since it could clear what was done since.
    #[error(
        "Clearing the completed tasks got no answer, and whether it happened cannot be told. \
         If they are still there, clear them again."
    )]
    ClearUntold,
    /// A title typed over someone else's change, on the open board: the person chooses
    /// whose stays, from [`Notice::Conflict`].
    #[error("Someone changed this task while you were editing it.")]
    Conflicted,
    #[error("The change was discarded.")]
    Discarded,
    #[error("The session ended before the change reached the server.")]
    SessionEnded,
}

/// Something worth reporting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the server closed the connection ({code}): {reason}")]
    Closed { code: CloseCode, reason: String },
    #[error("the server sent a frame the app cannot read: {0}")]
    Undecodable(DecodeError),
    #[error("the server reported an error: {0}")]
    Server(ApiError),
    #[error(transparent)]
    Request(RequestError),
    #[error("resynchronising: {0}")]
    Resync(SyncError),
    #[error("the session could not be refreshed")]
    RefreshFailed,
}

/// The last close, for the diagnostics page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastClose {
    pub code: CloseCode,
    pub reason: String,
    /// The client closed the socket (and chose the code).
    pub by_client: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    pub state: ConnectionState,
    pub frames_in: u64,
    pub frames_out: u64,
    pub reconnect_attempts: u64,
    /// Reconnects in a row without a stable connection: the "attempt" a person is shown.
    pub failed_attempts: u32,
    /// When the next reconnect is due (epoch ms), while waiting for it.
    pub reconnect_at_ms: Option<u64>,
    pub last_close: Option<LastClose>,
    pub last_rtt_ms: Option<u64>,
    /// Requests on the current socket awaiting their answer.
    pub pending_requests: usize,
    /// The tasks are known: the store has had a snapshot this session.
    pub loaded: bool,
    pub transport: Transport,
    /// The last short poll's round trip, on the HTTP fallback.
    pub poll_rtt_ms: Option<u64>,
    /// When a socket was last tried from the fallback (epoch ms).
    pub last_socket_try_ms: Option<u64>,
}

/// Tunables; the defaults are the contract's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The topic to subscribe to after `auth_ok`; `None` for a socket that only
    /// authenticates (it is live at `auth_ok`), or that waits for [`Input::Open`].
    pub subscribe: Option<Topic>,
    /// Follows the `boards` topic (the person's board list) too.
    pub boards: bool,
    pub request_timeout_ms: u64,
    pub subscribe_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub outbox_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            subscribe: Some(Topic::Tasks),
            boards: false,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            subscribe_timeout_ms: SUBSCRIBE_TIMEOUT_MS,
            connect_timeout_ms: CONNECT_TIMEOUT_MS,
            outbox_capacity: OUTBOX_CAPACITY,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {

    use crate::client::machine::ConnectionState;

    #[test]
    fn state_names_are_the_ui_attribute_values() {
        let names = [
            ConnectionState::Connecting,
            ConnectionState::Authenticating,
            ConnectionState::Live,
            ConnectionState::Reconnecting,
            ConnectionState::Offline,
            ConnectionState::Closed,
        ]
        .map(ConnectionState::as_str);
        assert_eq!(
            names,
            [
                "connecting",
                "authenticating",
                "live",
                "reconnecting",
                "offline",
                "closed"
            ]
        );
    }
}
