//! The connection state machine of one socket: every decision the app makes about its
//! socket, as a pure function from (state, input, time) to commands.
//!
//! The shell feeds [`Input`]s with an [`Env`] (the time, and a random number for the
//! backoff jitter) to [`Machine::handle`] and executes the [`Command`]s it returns, in
//! order. The machine never reads a clock, never draws a random number and never touches
//! the browser, so every transition is tested natively.
//!
//! Connections are numbered ([`ConnId`]). Inputs about a socket carry its number and
//! inputs about an old socket are ignored, so a close or message from a socket already
//! given up cannot disturb its successor. When the machine gives up a socket itself
//! (timeout, protocol violation, offline), it emits `Close` and moves on at once, without
//! waiting for the close event.

use protocol::{
    ApiError, ClientFrame, CloseAction, CloseCode, DecodeError, MethodCall, MethodValue,
    ServerFrame, Topic,
};

use super::backoff::Backoff;
use super::heartbeat::{Beat, Heartbeat};
use super::outbox::{MutationId, OUTBOX_CAPACITY, Outbox, OutboxError, Reconciled};
use super::requests::{REQUEST_TIMEOUT_MS, RequestError, Requests};
use super::store::{Applied, RowChange, Store, SyncError};

/// Close code for a normal close asked for by the person (sign-out).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code when the client gives a socket up (no answer in time, browser offline,
/// socket error). In the application range browsers allow for `WebSocket.close`.
pub const CLOSE_GAVE_UP: u16 = 4000;
/// Close code for a frame from the server the client cannot read.
pub const CLOSE_PROTOCOL: u16 = 4400;
/// How long the socket may take to open.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// How long a `subscribe` may wait for its snapshot. Longer than other requests: a
/// snapshot carries every task in one frame (about 1.5 MB for 10,000), which takes
/// 12 s over a 1 Mbit/s link; given up after the usual 10 s, it would be asked for
/// again and again and never arrive. The heartbeat (a ping after 25 s of silence)
/// still notices a connection that died.
pub const SUBSCRIBE_TIMEOUT_MS: u64 = 30_000;
/// The access token is refreshed this long before it expires (contract: "about a
/// minute"), or halfway through its life if that is shorter: a token that lives under a
/// minute would otherwise be refreshed the moment it arrived, again and again.
pub const REFRESH_LEAD_MS: u64 = 60_000;

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

/// The machine's timers. The shell runs at most one timer per kind: `StartTimer`
/// replaces a running one of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// The socket must open in time.
    Connect,
    /// Idle ping, then the wait for any frame after it.
    Heartbeat,
    /// The earliest request deadline.
    Requests,
    /// The backoff before the next connection.
    Reconnect,
    /// About a minute before the access token expires.
    Refresh,
}

impl TimerKind {
    pub const ALL: [Self; 5] = [
        Self::Connect,
        Self::Heartbeat,
        Self::Requests,
        Self::Reconnect,
        Self::Refresh,
    ];

    fn index(self) -> usize {
        match self {
            Self::Connect => 0,
            Self::Heartbeat => 1,
            Self::Requests => 2,
            Self::Reconnect => 3,
            Self::Refresh => 4,
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
        code: u16,
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
    /// A person's change: queued in the outbox, shown at once, sent when live.
    Mutate(MethodCall),
    /// A person gives up a change that is still waiting.
    Discard(MutationId),
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
    /// Open a new socket (`new WebSocket(url, "taskwire.v1")`) known as `conn`; feed its
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
        code: u16,
        reason: String,
    },
    /// Start (or restart) the timer of this kind; feed `TimerFired(kind)` when it fires.
    StartTimer {
        kind: TimerKind,
        after_ms: u64,
    },
    CancelTimer(TimerKind),
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
    /// Update these rows (see [`RowChange`]) from [`Machine::store`].
    Rows(Vec<RowChange>),
    /// A person's change was accepted into the outbox.
    Queued(MutationId),
    /// The outbox refused a change or a discard.
    Refused(OutboxError),
    /// A change's fate is known.
    Settled {
        mutation: MutationId,
        result: Result<(), MutationError>,
    },
    /// The outbox's entries changed: re-read [`Machine::outbox`].
    OutboxChanged,
    /// Something to report to the person or the diagnostics page.
    Problem(Problem),
}

/// Why a person's change did not happen, in the words of the alert that says so (the
/// server's message, not its error code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    #[error("The server refused the change: {}", .0.message)]
    Refused(ApiError),
    #[error("The change got no answer twice, and the server does not show it. Try again.")]
    Unconfirmed,
    #[error("The change was discarded.")]
    Discarded,
    #[error("The session ended before the change reached the server.")]
    SessionEnded,
}

/// Something worth reporting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the server closed the connection ({code}): {reason}")]
    Closed { code: u16, reason: String },
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
    pub code: u16,
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
}

/// Tunables; the defaults are the contract's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The topic to subscribe to after `auth_ok`; `None` for a socket that only
    /// authenticates (it is live at `auth_ok`).
    pub subscribe: Option<Topic>,
    pub request_timeout_ms: u64,
    pub subscribe_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub outbox_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            subscribe: Some(Topic::Tasks),
            request_timeout_ms: REQUEST_TIMEOUT_MS,
            subscribe_timeout_ms: SUBSCRIBE_TIMEOUT_MS,
            connect_timeout_ms: CONNECT_TIMEOUT_MS,
            outbox_capacity: OUTBOX_CAPACITY,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed,
    Connecting {
        conn: ConnId,
        deadline_ms: u64,
    },
    /// `auth` sent (`authed` once `auth_ok` came), until the first snapshot or replay.
    Authenticating {
        conn: ConnId,
        authed: bool,
    },
    Live {
        conn: ConnId,
        since_ms: u64,
    },
    /// Waiting for the backoff (`at_ms`) or, with `None`, for a token refresh.
    Reconnecting {
        at_ms: Option<u64>,
    },
    Offline,
}

impl Phase {
    fn conn(self) -> Option<ConnId> {
        match self {
            Self::Connecting { conn, .. }
            | Self::Authenticating { conn, .. }
            | Self::Live { conn, .. } => Some(conn),
            _ => None,
        }
    }

    fn authed(self) -> bool {
        matches!(
            self,
            Self::Live { .. } | Self::Authenticating { authed: true, .. }
        )
    }

    fn state(self) -> ConnectionState {
        match self {
            Self::Closed => ConnectionState::Closed,
            Self::Connecting { .. } => ConnectionState::Connecting,
            Self::Authenticating { .. } => ConnectionState::Authenticating,
            Self::Live { .. } => ConnectionState::Live,
            Self::Reconnecting { .. } => ConnectionState::Reconnecting,
            Self::Offline => ConnectionState::Offline,
        }
    }
}

/// What a request in the table is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Auth,
    /// A refreshed token sent on an authenticated socket.
    Reauth,
    Subscribe,
    Mutation(MutationId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    Idle,
    InFlight {
        for_unauthorized: bool,
    },
    /// A scheduled refresh failed: no more until a new token; a 4401 still tries once.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    value: String,
    expires_at_ms: u64,
    /// When it arrived: with the expiry, how long it lives.
    received_at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Backoff,
    Longest,
}

/// One socket's machine. See the module docs and [`super`] for how the shell drives it.
#[derive(Debug, Clone)]
pub struct Machine {
    config: Config,
    phase: Phase,
    shown: ConnectionState,
    next_conn: u64,
    token: Option<Token>,
    refresh: Refresh,
    /// A 4401 already led to a refresh, and no `auth_ok` came since: the next 4401 goes
    /// to the login page ("refresh the token once").
    refreshed_for_unauthorized: bool,
    /// The token changed while `auth` with the old one was out: send it after `auth_ok`.
    stale_auth: bool,
    navigator_offline: bool,
    backoff: Backoff,
    requests: Requests<Purpose>,
    heartbeat: Option<Heartbeat>,
    /// A subscribe is out: live events wait for its snapshot or replay, which covers them.
    syncing: bool,
    /// Snapshots/replays in a row that could not be applied; at 2 the next subscribe
    /// asks for a full snapshot (no `since`), so a bad replay cannot loop forever.
    failed_syncs: u8,
    store: Store,
    outbox: Outbox,
    /// The deadline of each timer the shell is running.
    timers: [Option<u64>; 5],
    frames_in: u64,
    frames_out: u64,
    reconnect_attempts: u64,
    last_close: Option<LastClose>,
    last_rtt_ms: Option<u64>,
}

impl Machine {
    pub fn new(config: Config) -> Self {
        let outbox = Outbox::new(config.outbox_capacity);
        Self {
            config,
            phase: Phase::Closed,
            shown: ConnectionState::Closed,
            next_conn: 1,
            token: None,
            refresh: Refresh::Idle,
            refreshed_for_unauthorized: false,
            stale_auth: false,
            navigator_offline: false,
            backoff: Backoff::new(),
            requests: Requests::new(),
            heartbeat: None,
            syncing: false,
            failed_syncs: 0,
            store: Store::new(),
            outbox,
            timers: [None; 5],
            frames_in: 0,
            frames_out: 0,
            reconnect_attempts: 0,
            last_close: None,
            last_rtt_ms: None,
        }
    }

    pub fn state(&self) -> ConnectionState {
        self.phase.state()
    }

    /// The tasks to render.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The changes waiting for the server, to list them.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn diagnostics(&self) -> Diagnostics {
        Diagnostics {
            state: self.state(),
            frames_in: self.frames_in,
            frames_out: self.frames_out,
            reconnect_attempts: self.reconnect_attempts,
            failed_attempts: self.backoff.attempt(),
            reconnect_at_ms: match self.phase {
                Phase::Reconnecting { at_ms } => at_ms,
                _ => None,
            },
            last_close: self.last_close.clone(),
            last_rtt_ms: self.last_rtt_ms,
            pending_requests: self.requests.len(),
        }
    }

    /// Feeds one input; returns what the shell must do, in order.
    pub fn handle(&mut self, env: Env, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        let now = env.now_ms;
        match input {
            Input::SignIn {
                token,
                expires_at_ms,
            } => {
                if self.token.is_none() {
                    // A new session: the last one's close and round trip are not news to
                    // this one (its status would open with "last close 1000: signed out").
                    // The frame and reconnect counts are the page's, kept across sessions.
                    self.last_close = None;
                    self.last_rtt_ms = None;
                }
                self.refreshed_for_unauthorized = false;
                self.new_token(now, token, expires_at_ms, &mut out);
                if self.phase.conn().is_none() {
                    self.connect_or_wait(now, &mut out);
                }
            }
            Input::Opened { conn } => self.on_opened(now, conn, &mut out),
            Input::Frame { conn, frame } => {
                if self.is_current(conn) {
                    self.frames_in += 1;
                    if let Some(heartbeat) = &mut self.heartbeat {
                        heartbeat.frame_arrived(now);
                    }
                    self.on_frame(env, frame, &mut out);
                }
            }
            Input::Undecodable { conn, error } => {
                if self.is_current(conn) {
                    self.frames_in += 1;
                    out.push(notice(Notice::Problem(Problem::Undecodable(error))));
                    self.give_up(env, CLOSE_PROTOCOL, "unreadable frame", &mut out);
                }
            }
            Input::Closed { conn, code, reason } => {
                if self.is_current(conn) {
                    self.on_closed(env, code, reason, &mut out);
                }
            }
            Input::Error { conn } => {
                if self.is_current(conn) {
                    self.give_up(env, CLOSE_GAVE_UP, "socket error", &mut out);
                }
            }
            Input::TimerFired(kind) => {
                self.timers[kind.index()] = None;
                self.on_timer(env, kind, &mut out);
            }
            Input::Online => {
                self.navigator_offline = false;
                match self.phase {
                    Phase::Offline => self.connect_or_wait(now, &mut out),
                    Phase::Live { .. } => self.probe(now, &mut out),
                    _ => {}
                }
            }
            Input::Offline => {
                self.navigator_offline = true;
                if let Some(conn) = self.phase.conn() {
                    self.close_socket(conn, CLOSE_GAVE_UP, "browser offline", &mut out);
                    self.lose_connection(now, &mut out);
                    self.phase = Phase::Offline;
                } else if let Phase::Reconnecting { at_ms: Some(_) } = self.phase {
                    self.phase = Phase::Offline;
                }
            }
            Input::Visible => {
                if let Phase::Live { .. } = self.phase {
                    self.probe(now, &mut out);
                }
            }
            Input::RetryNow => {
                if let Phase::Reconnecting { at_ms: Some(_) } = self.phase {
                    self.connect_or_wait(now, &mut out);
                }
            }
            Input::SignOut => {
                if let Some(conn) = self.phase.conn() {
                    self.close_socket(conn, CLOSE_NORMAL, "signed out", &mut out);
                    self.lose_connection(now, &mut out);
                }
                self.end_session(&mut out);
            }
            Input::TokenRefreshed {
                token,
                expires_at_ms,
            } => self.on_token_refreshed(now, token, expires_at_ms, &mut out),
            Input::RefreshFailed => self.on_refresh_failed(&mut out),
            Input::RefreshUnavailable => self.on_refresh_unavailable(env, &mut out),
            Input::Mutate(call) => match self.outbox.push(call) {
                Ok(mutation) => {
                    if let Some(entry) = self.outbox.get(mutation) {
                        let rows = self.store.apply_local(mutation, &entry.call, now);
                        push_rows(rows, &mut out);
                    }
                    out.push(notice(Notice::Queued(mutation)));
                    out.push(notice(Notice::OutboxChanged));
                    self.flush(now, &mut out);
                }
                Err(error) => out.push(notice(Notice::Refused(error))),
            },
            Input::Discard(mutation) => match self.outbox.discard(mutation) {
                Ok(_) => {
                    push_rows(self.store.reject(mutation), &mut out);
                    out.push(notice(Notice::Settled {
                        mutation,
                        result: Err(MutationError::Discarded),
                    }));
                    out.push(notice(Notice::OutboxChanged));
                }
                Err(error) => out.push(notice(Notice::Refused(error))),
            },
        }
        self.sync_timers(now, &mut out);
        let state = self.state();
        if state != self.shown {
            self.shown = state;
            out.push(notice(Notice::Status(state)));
        }
        out
    }

    fn is_current(&self, conn: ConnId) -> bool {
        self.phase.conn() == Some(conn)
    }

    fn send(&mut self, frame: ClientFrame, out: &mut Vec<Command>) {
        if let Some(conn) = self.phase.conn() {
            self.frames_out += 1;
            out.push(Command::Send { conn, frame });
        }
    }

    fn close_socket(&mut self, conn: ConnId, code: u16, reason: &str, out: &mut Vec<Command>) {
        self.last_close = Some(LastClose {
            code,
            reason: reason.to_owned(),
            by_client: true,
        });
        out.push(Command::Close {
            conn,
            code,
            reason: reason.to_owned(),
        });
    }

    fn new_token(&mut self, now: u64, value: String, expires_at_ms: u64, out: &mut Vec<Command>) {
        self.token = Some(Token {
            value,
            expires_at_ms,
            received_at_ms: now,
        });
        self.refresh = Refresh::Idle;
        // Swap the new token in on a socket that is authenticated, or will be.
        match self.phase {
            Phase::Live { .. } | Phase::Authenticating { authed: true, .. } => {
                self.send_auth(now, Purpose::Reauth, out);
            }
            Phase::Authenticating { authed: false, .. } => self.stale_auth = true,
            _ => {}
        }
    }

    fn send_auth(&mut self, now: u64, purpose: Purpose, out: &mut Vec<Command>) {
        if let Some(token) = self.token.clone() {
            let id = self
                .requests
                .issue(purpose, now, self.config.request_timeout_ms);
            self.send(
                ClientFrame::Auth {
                    id,
                    token: token.value,
                },
                out,
            );
        }
    }

    /// Opens a socket now, or waits for the browser to be online.
    fn connect_or_wait(&mut self, now: u64, out: &mut Vec<Command>) {
        if self.token.is_none() {
            self.phase = Phase::Closed;
        } else if self.navigator_offline {
            self.phase = Phase::Offline;
        } else {
            let conn = ConnId(self.next_conn);
            self.next_conn += 1;
            self.phase = Phase::Connecting {
                conn,
                deadline_ms: now.saturating_add(self.config.connect_timeout_ms),
            };
            out.push(Command::Open { conn });
        }
    }

    fn on_opened(&mut self, now: u64, conn: ConnId, out: &mut Vec<Command>) {
        if let Phase::Connecting { conn: current, .. } = self.phase
            && current == conn
        {
            // Ids are unique per connection: a fresh table starts at 1.
            self.requests = Requests::new();
            self.phase = Phase::Authenticating {
                conn,
                authed: false,
            };
            self.stale_auth = false;
            self.send_auth(now, Purpose::Auth, out);
        }
    }

    fn on_frame(&mut self, env: Env, frame: ServerFrame, out: &mut Vec<Command>) {
        let now = env.now_ms;
        match frame {
            ServerFrame::AuthOk {
                id, heartbeat_ms, ..
            } => {
                let answered = self
                    .requests
                    .settle_if(id, |p| matches!(p, Purpose::Auth | Purpose::Reauth));
                if answered == Some(Purpose::Auth)
                    && let Phase::Authenticating { conn, .. } = self.phase
                {
                    self.refreshed_for_unauthorized = false;
                    self.heartbeat = Some(Heartbeat::new(heartbeat_ms, now));
                    self.phase = Phase::Authenticating { conn, authed: true };
                    if std::mem::take(&mut self.stale_auth) {
                        self.send_auth(now, Purpose::Reauth, out);
                    }
                    if self.config.subscribe.is_some() {
                        self.subscribe(now, out);
                    } else {
                        self.synced(now, out);
                    }
                }
            }
            ServerFrame::Pong { id } => {
                if let Some(rtt) = self.heartbeat.as_mut().and_then(|hb| hb.pong(id, now)) {
                    self.last_rtt_ms = Some(rtt);
                }
            }
            ServerFrame::Result { id, outcome } => {
                let answered = self
                    .requests
                    .settle_if(id, |p| matches!(p, Purpose::Mutation(_)));
                if let Some(Purpose::Mutation(mutation)) = answered {
                    let result = match outcome {
                        protocol::Outcome::Ok(value) => Ok(value),
                        protocol::Outcome::Error(error) => Err(error),
                    };
                    self.settle_mutation(mutation, result, out);
                }
            }
            ServerFrame::Snapshot {
                id,
                epoch,
                seq,
                items,
                ..
            } => {
                if self
                    .requests
                    .settle_if(id, |p| *p == Purpose::Subscribe)
                    .is_some()
                {
                    let applied = self.store.apply_snapshot(epoch, seq, items);
                    self.after_sync(env, applied, out);
                }
            }
            ServerFrame::Replay {
                id,
                epoch,
                seq,
                events,
                ..
            } => {
                if self
                    .requests
                    .settle_if(id, |p| *p == Purpose::Subscribe)
                    .is_some()
                {
                    let applied = self.store.apply_replay(&epoch, seq, &events);
                    self.after_sync(env, applied, out);
                }
            }
            ServerFrame::Event(event) => {
                if self.phase.authed() && !self.syncing && self.store.position().is_some() {
                    let applied = self.store.apply_event(&event);
                    push_rows(applied.rows, out);
                    if let Some(error) = applied.resync {
                        out.push(notice(Notice::Problem(Problem::Resync(error))));
                        self.subscribe(now, out);
                    }
                }
            }
            ServerFrame::Error { id, code, message } => {
                let error = ApiError { code, message };
                match id.and_then(|id| self.requests.settle(id)) {
                    Some(Purpose::Mutation(mutation)) => {
                        self.settle_mutation(mutation, Err(error), out);
                    }
                    Some(Purpose::Subscribe) => {
                        out.push(notice(Notice::Problem(Problem::Server(error))));
                        self.give_up(env, CLOSE_GAVE_UP, "subscribe refused", out);
                    }
                    // A refused token is followed by a 4401 close, which decides: the
                    // app refreshes and carries on, so there is nothing to tell (a
                    // socket back from sleep with an expired token meets this).
                    Some(Purpose::Auth | Purpose::Reauth) => {}
                    None => out.push(notice(Notice::Problem(Problem::Server(error)))),
                }
            }
        }
    }

    fn subscribe(&mut self, now: u64, out: &mut Vec<Command>) {
        let Some(topic) = self.config.subscribe else {
            return;
        };
        let since = if self.failed_syncs >= 2 {
            None
        } else {
            self.store.position().cloned()
        };
        let id = self
            .requests
            .issue(Purpose::Subscribe, now, self.config.subscribe_timeout_ms);
        self.syncing = true;
        self.send(ClientFrame::Subscribe { id, topic, since }, out);
    }

    fn after_sync(&mut self, env: Env, applied: Applied, out: &mut Vec<Command>) {
        self.syncing = false;
        push_rows(applied.rows, out);
        match applied.resync {
            Some(error) => {
                self.failed_syncs = self.failed_syncs.saturating_add(1);
                out.push(notice(Notice::Problem(Problem::Resync(error))));
                self.subscribe(env.now_ms, out);
            }
            None => {
                self.failed_syncs = 0;
                self.synced(env.now_ms, out);
            }
        }
    }

    /// The store matches the server: live; settle what the last connection left unknown,
    /// then send what waits.
    fn synced(&mut self, now: u64, out: &mut Vec<Command>) {
        let went_live = matches!(self.phase, Phase::Authenticating { .. });
        if let Phase::Authenticating { conn, .. } = self.phase {
            self.phase = Phase::Live {
                conn,
                since_ms: now,
            };
        }
        let store = &self.store;
        let decided = self
            .outbox
            .reconcile(|mutation, call| store.shows_applied(mutation, call));
        for decision in &decided {
            match decision {
                Reconciled::Applied(entry) => {
                    push_rows(self.store.confirm(entry.id, None), out);
                    out.push(notice(Notice::Settled {
                        mutation: entry.id,
                        result: Ok(()),
                    }));
                }
                Reconciled::GaveUp(entry) => {
                    push_rows(self.store.reject(entry.id), out);
                    out.push(notice(Notice::Settled {
                        mutation: entry.id,
                        result: Err(MutationError::Unconfirmed),
                    }));
                }
                Reconciled::Resend(_) => {}
            }
        }
        if !decided.is_empty() {
            out.push(notice(Notice::OutboxChanged));
        }
        self.flush(now, out);
        if went_live {
            // One ping once the waiting changes are out, so that the round trip is known
            // from the start rather than after the first quiet `heartbeat_ms`, which a
            // busy board may never have.
            self.ping(now, out);
        }
    }

    fn flush(&mut self, now: u64, out: &mut Vec<Command>) {
        if !matches!(self.phase, Phase::Live { .. }) {
            return;
        }
        let sendable = self.outbox.sendable();
        for (mutation, call) in &sendable {
            let id = self.requests.issue(
                Purpose::Mutation(*mutation),
                now,
                self.config.request_timeout_ms,
            );
            self.outbox.mark_sent(*mutation);
            self.send(
                ClientFrame::Request {
                    id,
                    call: call.clone(),
                },
                out,
            );
        }
        if !sendable.is_empty() {
            out.push(notice(Notice::OutboxChanged));
        }
    }

    fn settle_mutation(
        &mut self,
        mutation: MutationId,
        result: Result<MethodValue, ApiError>,
        out: &mut Vec<Command>,
    ) {
        self.outbox.settle(mutation);
        let result = match result {
            Ok(value) => {
                // A task for create and update; none for delete and clear.
                push_rows(self.store.confirm(mutation, value.task), out);
                Ok(())
            }
            Err(error) => {
                push_rows(self.store.reject(mutation), out);
                Err(MutationError::Refused(error))
            }
        };
        out.push(notice(Notice::Settled { mutation, result }));
        out.push(notice(Notice::OutboxChanged));
    }

    fn probe(&mut self, now: u64, out: &mut Vec<Command>) {
        if self.heartbeat.as_ref().is_some_and(Heartbeat::should_probe) {
            self.ping(now, out);
        }
    }

    fn ping(&mut self, now: u64, out: &mut Vec<Command>) {
        let id = self.requests.next_id();
        if let Some(heartbeat) = &mut self.heartbeat {
            heartbeat.ping_sent(id, now);
        }
        self.send(ClientFrame::Ping { id }, out);
    }

    /// Forgets the current socket: its requests fail (mutations become of unknown
    /// delivery), its heartbeat stops.
    fn lose_connection(&mut self, now: u64, out: &mut Vec<Command>) {
        if let Phase::Live { since_ms, .. } = self.phase {
            self.backoff.note_live_for(now.saturating_sub(since_ms));
        }
        let mut unknown = false;
        for failed in self.requests.close() {
            // `ConnectionClosed`: a change's result can no longer come on this socket;
            // the next snapshot or replay settles it (see the outbox docs).
            if let Purpose::Mutation(mutation) = failed.tag {
                unknown |= self.outbox.mark_unknown(mutation);
            }
        }
        if unknown {
            out.push(notice(Notice::OutboxChanged));
        }
        self.heartbeat = None;
        self.syncing = false;
        self.stale_auth = false;
    }

    /// The client gives the current socket up and reconnects with backoff.
    fn give_up(&mut self, env: Env, code: u16, reason: &str, out: &mut Vec<Command>) {
        if let Some(conn) = self.phase.conn() {
            self.close_socket(conn, code, reason, out);
            self.lose_connection(env.now_ms, out);
            self.reconnect_later(env, Wait::Backoff);
        }
    }

    fn reconnect_later(&mut self, env: Env, wait: Wait) {
        if self.token.is_none() {
            self.phase = Phase::Closed;
        } else if self.navigator_offline {
            self.phase = Phase::Offline;
        } else {
            let delay = match wait {
                Wait::Backoff => self.backoff.next_delay_ms(env.random),
                Wait::Longest => self.backoff.longest_ms(),
            };
            self.reconnect_attempts += 1;
            self.phase = Phase::Reconnecting {
                at_ms: Some(env.now_ms.saturating_add(delay)),
            };
        }
    }

    /// The close-code table of the contract, through [`CloseCode::action`].
    fn on_closed(&mut self, env: Env, code: u16, reason: String, out: &mut Vec<Command>) {
        self.lose_connection(env.now_ms, out);
        self.last_close = Some(LastClose {
            code,
            reason: reason.clone(),
            by_client: false,
        });
        let report = Notice::Problem(Problem::Closed { code, reason });
        match CloseCode::from_u16(code).action() {
            CloseAction::StayClosed { report: tell } => {
                if tell {
                    out.push(notice(report));
                }
                self.phase = Phase::Closed;
            }
            CloseAction::Reconnect { report: tell } => {
                if tell {
                    out.push(notice(report));
                }
                self.reconnect_later(env, Wait::Backoff);
            }
            CloseAction::ReconnectAfterMaxBackoff => self.reconnect_later(env, Wait::Longest),
            CloseAction::RefreshThenLogin => {
                if self.refreshed_for_unauthorized {
                    self.login_required(out);
                } else {
                    if self.refresh
                        != (Refresh::InFlight {
                            for_unauthorized: false,
                        })
                    {
                        out.push(Command::RefreshToken);
                    }
                    self.refresh = Refresh::InFlight {
                        for_unauthorized: true,
                    };
                    self.phase = Phase::Reconnecting { at_ms: None };
                }
            }
            CloseAction::ClearSession => {
                self.end_session(out);
                out.push(Command::ClearSession);
                out.push(Command::GoToLogin);
            }
        }
    }

    fn on_token_refreshed(
        &mut self,
        now: u64,
        token: String,
        expires_at_ms: u64,
        out: &mut Vec<Command>,
    ) {
        let for_unauthorized = self.refresh
            == Refresh::InFlight {
                for_unauthorized: true,
            };
        self.new_token(now, token, expires_at_ms, out);
        if for_unauthorized && self.phase == (Phase::Reconnecting { at_ms: None }) {
            self.refreshed_for_unauthorized = true;
            self.connect_or_wait(now, out);
        }
    }

    fn on_refresh_failed(&mut self, out: &mut Vec<Command>) {
        match self.refresh {
            Refresh::InFlight {
                for_unauthorized: true,
            } => self.login_required(out),
            Refresh::InFlight {
                for_unauthorized: false,
            } => {
                // The token still works for a minute; if it then expires, the 4401 path
                // tries once more before sending the person to the login page.
                self.refresh = Refresh::Failed;
                out.push(notice(Notice::Problem(Problem::RefreshFailed)));
            }
            Refresh::Idle | Refresh::Failed => {}
        }
    }

    fn on_refresh_unavailable(&mut self, env: Env, out: &mut Vec<Command>) {
        if self.refresh
            == (Refresh::InFlight {
                for_unauthorized: true,
            })
        {
            // Reconnect after the backoff, as for any lost connection; if the token is
            // still refused then, that 4401 asks for a new one again.
            self.refresh = Refresh::Idle;
            self.reconnect_later(env, Wait::Backoff);
        } else {
            self.on_refresh_failed(out);
        }
    }

    fn login_required(&mut self, out: &mut Vec<Command>) {
        out.push(notice(Notice::Problem(Problem::RefreshFailed)));
        self.end_session(out);
        out.push(Command::GoToLogin);
    }

    /// Sign-out or a lost session: nothing of this person's stays in memory, so the next
    /// person to sign in on this page can never see or send it. Waiting changes are
    /// reported as not made.
    fn end_session(&mut self, out: &mut Vec<Command>) {
        let dropped = self.outbox.drain();
        for entry in &dropped {
            out.push(notice(Notice::Settled {
                mutation: entry.id,
                result: Err(MutationError::SessionEnded),
            }));
        }
        if !dropped.is_empty() {
            out.push(notice(Notice::OutboxChanged));
        }
        push_rows(self.store.clear(), out);
        self.requests.close();
        self.heartbeat = None;
        self.token = None;
        self.refresh = Refresh::Idle;
        self.refreshed_for_unauthorized = false;
        self.backoff = Backoff::new();
        self.failed_syncs = 0;
        self.phase = Phase::Closed;
    }

    fn on_timer(&mut self, env: Env, kind: TimerKind, out: &mut Vec<Command>) {
        let now = env.now_ms;
        match kind {
            TimerKind::Connect => {
                if let Phase::Connecting { deadline_ms, .. } = self.phase
                    && now >= deadline_ms
                {
                    self.give_up(env, CLOSE_GAVE_UP, "connect timed out", out);
                }
            }
            TimerKind::Heartbeat => {
                let beat = self.heartbeat.as_ref().map(|hb| hb.on_timer(now));
                match beat {
                    Some(Beat::Ping) => self.ping(now, out),
                    Some(Beat::Dead) => self.give_up(env, CLOSE_GAVE_UP, "no answer to ping", out),
                    Some(Beat::Wait) | None => {}
                }
            }
            TimerKind::Requests => {
                let mut resync = false;
                let mut handshake = None;
                for failed in self.requests.expire(now) {
                    match failed.tag {
                        Purpose::Mutation(mutation) => {
                            self.outbox.mark_unknown(mutation);
                            resync = true;
                        }
                        Purpose::Auth | Purpose::Reauth | Purpose::Subscribe => {
                            handshake = Some(failed.error);
                        }
                    }
                }
                if let Some(error) = handshake {
                    out.push(notice(Notice::Problem(Problem::Request(error))));
                    self.give_up(env, CLOSE_GAVE_UP, "no answer in time", out);
                } else if resync {
                    // The result may still come, or may never: the replay of a fresh
                    // subscribe settles it either way (see the outbox docs).
                    out.push(notice(Notice::OutboxChanged));
                    if !self.syncing {
                        self.subscribe(now, out);
                    }
                }
            }
            TimerKind::Reconnect => {
                if let Phase::Reconnecting { at_ms: Some(at) } = self.phase
                    && now >= at
                {
                    self.connect_or_wait(now, out);
                }
            }
            TimerKind::Refresh => {
                if self.refresh == Refresh::Idle
                    && let Some(at) = self.refresh_at()
                    && now >= at
                {
                    self.refresh = Refresh::InFlight {
                        for_unauthorized: false,
                    };
                    out.push(Command::RefreshToken);
                }
            }
        }
    }

    fn refresh_at(&self) -> Option<u64> {
        let token = self.token.as_ref()?;
        let life = token.expires_at_ms.saturating_sub(token.received_at_ms);
        Some(token.expires_at_ms - REFRESH_LEAD_MS.min(life / 2))
    }

    fn wanted_deadline(&self, kind: TimerKind) -> Option<u64> {
        match kind {
            TimerKind::Connect => match self.phase {
                Phase::Connecting { deadline_ms, .. } => Some(deadline_ms),
                _ => None,
            },
            TimerKind::Heartbeat => self.heartbeat.as_ref().map(Heartbeat::deadline_ms),
            TimerKind::Requests => self.requests.next_deadline_ms(),
            TimerKind::Reconnect => match self.phase {
                Phase::Reconnecting { at_ms } => at_ms,
                _ => None,
            },
            TimerKind::Refresh => match self.phase {
                Phase::Closed | Phase::Offline => None,
                _ if self.refresh == Refresh::Idle => self.refresh_at(),
                _ => None,
            },
        }
    }

    /// Brings the shell's timers in line with the state. A running timer that is due
    /// *earlier* than needed is left alone: when it fires, the handler finds nothing due
    /// and it is started again. This keeps frames from restarting the heartbeat timer
    /// each time one arrives.
    fn sync_timers(&mut self, now: u64, out: &mut Vec<Command>) {
        for kind in TimerKind::ALL {
            let wanted = self.wanted_deadline(kind);
            let slot = &mut self.timers[kind.index()];
            match (wanted, *slot) {
                (None, Some(_)) => {
                    *slot = None;
                    out.push(Command::CancelTimer(kind));
                }
                (Some(wanted), running) if running.is_none_or(|at| at > wanted) => {
                    *slot = Some(wanted);
                    out.push(Command::StartTimer {
                        kind,
                        after_ms: wanted.saturating_sub(now),
                    });
                }
                _ => {}
            }
        }
    }
}

fn notice(notice: Notice) -> Command {
    Command::Notify(notice)
}

fn push_rows(rows: Vec<RowChange>, out: &mut Vec<Command>) {
    if !rows.is_empty() {
        out.push(notice(Notice::Rows(rows)));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;
    use crate::client::fixtures::{event, task};
    use protocol::{
        Change, CreateParams, ErrorCode, Event, Outcome, Role, Since, Task, UpdateParams, User,
    };
    use uuid::Uuid;

    const TOKEN: &str = "token-1";
    const HOUR: u64 = 3_600_000;

    struct Harness {
        machine: Machine,
        now: u64,
        random: f64,
    }

    impl Harness {
        fn new() -> Self {
            Self::with(Config::default())
        }

        fn with(config: Config) -> Self {
            Self {
                machine: Machine::new(config),
                now: 1_000_000,
                random: 0.999_999,
            }
        }

        fn feed(&mut self, input: Input) -> Vec<Command> {
            let env = Env {
                now_ms: self.now,
                random: self.random,
            };
            self.machine.handle(env, input)
        }

        fn at(&mut self, now: u64, input: Input) -> Vec<Command> {
            self.now = now;
            self.feed(input)
        }

        fn frame(&mut self, conn: ConnId, frame: ServerFrame) -> Vec<Command> {
            self.feed(Input::Frame { conn, frame })
        }

        fn state(&self) -> ConnectionState {
            self.machine.state()
        }

        /// Sign-in (or a reconnect timer) up to the `auth` frame: returns the socket.
        fn open(&mut self, commands: &[Command]) -> ConnId {
            let conn = opened(commands).expect("an Open command");
            let out = self.feed(Input::Opened { conn });
            assert!(
                matches!(sent(&out)[..], [ClientFrame::Auth { id: 1, .. }]),
                "auth first, with id 1: {out:?}"
            );
            conn
        }

        /// Signs in (a token good for an hour) up to the `auth` frame: returns the socket.
        fn signed_in(&mut self) -> ConnId {
            let out = self.feed(Input::SignIn {
                token: TOKEN.to_owned(),
                expires_at_ms: self.now + HOUR,
            });
            self.open(&out)
        }

        /// Signs in and goes live on an empty snapshot at `e1`/`seq`.
        fn live(&mut self, seq: u64) -> ConnId {
            let conn = self.signed_in();
            let out = self.frame(conn, auth_ok(1));
            let subscribe = subscribe_id(&out);
            let out = self.frame(conn, snapshot(subscribe, seq, vec![]));
            assert_eq!(self.state(), ConnectionState::Live);
            // Live sends one ping at once, for the round trip: answered here.
            let [ClientFrame::Ping { id }] = sent(&out)[..] else {
                panic!("one ping on going live: {out:?}");
            };
            self.frame(conn, ServerFrame::Pong { id });
            conn
        }
    }

    #[test]
    fn a_snapshot_may_take_longer_than_other_answers() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let out = h.frame(conn, auth_ok(1));
        let subscribe = subscribe_id(&out);
        // Past the 10 s other requests get, a big snapshot still on its way is waited for.
        let later = h.now + REQUEST_TIMEOUT_MS + 100;
        let out = h.at(later, Input::TimerFired(TimerKind::Requests));
        assert!(closes(&out).is_empty(), "{out:?}");
        assert_eq!(h.state(), ConnectionState::Authenticating);
        h.frame(conn, snapshot(subscribe, 0, vec![]));
        assert_eq!(h.state(), ConnectionState::Live);
        // A snapshot that never comes is given up all the same.
        let mut h = Harness::new();
        let conn = h.signed_in();
        h.frame(conn, auth_ok(1));
        let out = h.at(
            h.now + SUBSCRIBE_TIMEOUT_MS,
            Input::TimerFired(TimerKind::Requests),
        );
        assert_eq!(closes(&out), [CLOSE_GAVE_UP]);
    }

    #[test]
    fn an_expired_token_met_on_reconnect_raises_no_alert() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: Some(1),
                code: ErrorCode::Unauthorized,
                message: "The token has expired.".to_owned(),
            },
        );
        assert!(problems(&out).is_empty(), "{out:?}");
        // The 4401 after it decides: a refresh, and no alert either.
        let out = h.feed(Input::Closed {
            conn,
            code: 4401,
            reason: "token expired".to_owned(),
        });
        assert!(out.contains(&Command::RefreshToken), "{out:?}");
        assert!(problems(&out).is_empty(), "{out:?}");
    }

    fn opened(commands: &[Command]) -> Option<ConnId> {
        commands.iter().find_map(|command| match command {
            Command::Open { conn } => Some(*conn),
            _ => None,
        })
    }

    fn sent(commands: &[Command]) -> Vec<ClientFrame> {
        commands
            .iter()
            .filter_map(|command| match command {
                Command::Send { frame, .. } => Some(frame.clone()),
                _ => None,
            })
            .collect()
    }

    fn subscribe_id(commands: &[Command]) -> u64 {
        sent(commands)
            .iter()
            .find_map(|frame| match frame {
                ClientFrame::Subscribe { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a subscribe")
    }

    fn since_of(commands: &[Command]) -> Option<Since> {
        sent(commands).into_iter().find_map(|frame| match frame {
            ClientFrame::Subscribe { since, .. } => since,
            _ => None,
        })
    }

    fn request_ids(commands: &[Command]) -> Vec<(u64, MethodCall)> {
        sent(commands)
            .into_iter()
            .filter_map(|frame| match frame {
                ClientFrame::Request { id, call } => Some((id, call)),
                _ => None,
            })
            .collect()
    }

    fn timer(commands: &[Command], wanted: TimerKind) -> Option<u64> {
        commands.iter().find_map(|command| match command {
            Command::StartTimer { kind, after_ms } if *kind == wanted => Some(*after_ms),
            _ => None,
        })
    }

    fn notices(commands: &[Command]) -> Vec<Notice> {
        commands
            .iter()
            .filter_map(|command| match command {
                Command::Notify(notice) => Some(notice.clone()),
                _ => None,
            })
            .collect()
    }

    fn settled(commands: &[Command]) -> Vec<(MutationId, Result<(), MutationError>)> {
        notices(commands)
            .into_iter()
            .filter_map(|notice| match notice {
                Notice::Settled { mutation, result } => Some((mutation, result)),
                _ => None,
            })
            .collect()
    }

    fn problems(commands: &[Command]) -> Vec<Problem> {
        notices(commands)
            .into_iter()
            .filter_map(|notice| match notice {
                Notice::Problem(problem) => Some(problem),
                _ => None,
            })
            .collect()
    }

    fn closes(commands: &[Command]) -> Vec<u16> {
        commands
            .iter()
            .filter_map(|command| match command {
                Command::Close { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    }

    fn user() -> User {
        User {
            id: Uuid::from_u128(99),
            username: "alice".to_owned(),
            role: Role::User,
            acting_as_admin: None,
        }
    }

    fn auth_ok(id: u64) -> ServerFrame {
        ServerFrame::AuthOk {
            id,
            user: user(),
            expires_at: "2026-11-22T23:00:00Z".to_owned(),
            heartbeat_ms: 25_000,
        }
    }

    fn snapshot(id: u64, seq: u64, items: Vec<Task>) -> ServerFrame {
        ServerFrame::Snapshot {
            id,
            topic: Topic::Tasks,
            epoch: "e1".to_owned(),
            seq,
            items,
        }
    }

    fn replay(id: u64, seq: u64, events: Vec<Event>) -> ServerFrame {
        ServerFrame::Replay {
            id,
            topic: Topic::Tasks,
            epoch: "e1".to_owned(),
            seq,
            events,
        }
    }

    fn upsert(seq: u64, n: u128) -> ServerFrame {
        ServerFrame::Event(event(seq, Change::Upsert { item: task(n) }))
    }

    fn create(n: u128) -> MethodCall {
        MethodCall::Create(CreateParams {
            id: Some(Uuid::from_u128(n)),
            title: format!("t{n}"),
        })
    }

    fn set_done(n: u128) -> MethodCall {
        MethodCall::Update(UpdateParams {
            id: Uuid::from_u128(n),
            title: None,
            done: Some(true),
        })
    }

    fn ok_task(id: u64, task: Task) -> ServerFrame {
        ServerFrame::Result {
            id,
            outcome: Outcome::Ok(MethodValue {
                task: Some(task),
                ..MethodValue::default()
            }),
        }
    }

    fn closed(conn: ConnId, code: u16) -> Input {
        Input::Closed {
            conn,
            code,
            reason: format!("code {code}"),
        }
    }

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

    #[test]
    fn sign_in_authenticates_subscribes_and_goes_live() {
        let mut h = Harness::new();
        assert_eq!(h.state(), ConnectionState::Closed);
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + 15 * 60_000,
        });
        assert_eq!(opened(&out), Some(ConnId(1)));
        assert_eq!(timer(&out, TimerKind::Connect), Some(CONNECT_TIMEOUT_MS));
        assert_eq!(timer(&out, TimerKind::Refresh), Some(14 * 60_000));
        assert!(notices(&out).contains(&Notice::Status(ConnectionState::Connecting)));

        let out = h.feed(Input::Opened { conn: ConnId(1) });
        assert_eq!(
            sent(&out),
            [ClientFrame::Auth {
                id: 1,
                token: TOKEN.to_owned()
            }]
        );
        assert!(out.contains(&Command::CancelTimer(TimerKind::Connect)));
        assert_eq!(timer(&out, TimerKind::Requests), Some(REQUEST_TIMEOUT_MS));
        assert_eq!(h.state(), ConnectionState::Authenticating);

        let out = h.frame(ConnId(1), auth_ok(1));
        assert_eq!(
            sent(&out),
            [ClientFrame::Subscribe {
                id: 2,
                topic: Topic::Tasks,
                since: None
            }]
        );
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(25_000));
        assert_eq!(h.state(), ConnectionState::Authenticating);

        let out = h.frame(ConnId(1), snapshot(2, 41, vec![task(1)]));
        assert_eq!(
            notices(&out),
            [
                Notice::Rows(vec![RowChange::Reset]),
                Notice::Status(ConnectionState::Live)
            ]
        );
        assert!(out.contains(&Command::CancelTimer(TimerKind::Requests)));
        assert_eq!(h.machine.store().len(), 1);
    }

    #[test]
    fn a_socket_without_a_topic_is_live_at_auth_ok() {
        let mut h = Harness::with(Config {
            subscribe: None,
            ..Config::default()
        });
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        assert!(matches!(sent(&out)[..], [ClientFrame::Ping { .. }]));
        assert_eq!(h.state(), ConnectionState::Live);
        // Events mean nothing to it.
        assert!(notices(&h.frame(conn, upsert(1, 1))).is_empty());
    }

    #[test]
    fn a_reconnect_reauthenticates_and_resubscribes_from_the_last_position() {
        let mut h = Harness::new();
        let first = h.live(41);
        h.frame(first, upsert(42, 1));
        let out = h.feed(closed(first, 1006));
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        assert!(delay <= 500, "the first retry waits at most 0.5 s");
        assert!(out.contains(&Command::CancelTimer(TimerKind::Heartbeat)));

        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let second = h.open(&out);
        assert_ne!(first, second);
        let out = h.frame(second, auth_ok(1));
        assert_eq!(
            since_of(&out),
            Some(Since {
                epoch: "e1".to_owned(),
                seq: 42
            })
        );
        h.frame(
            second,
            replay(
                subscribe_id(&out),
                43,
                vec![event(43, Change::Upsert { item: task(2) })],
            ),
        );
        assert_eq!(h.state(), ConnectionState::Live);
        assert_eq!(h.machine.store().len(), 2);
    }

    #[test]
    fn every_close_code_gets_the_contracts_action() {
        #[derive(Debug, PartialEq)]
        enum Expect {
            StayClosed,
            Backoff,
            Longest,
            Refresh,
            Login,
        }
        let table = [
            (1000, Expect::StayClosed, false),
            (1001, Expect::Backoff, false),
            (1006, Expect::Backoff, false),
            (1011, Expect::Backoff, false),
            (1009, Expect::Backoff, true),
            (4400, Expect::Backoff, true),
            (4401, Expect::Refresh, false),
            (4403, Expect::StayClosed, true),
            (4408, Expect::Backoff, false),
            (4409, Expect::Login, false),
            (4429, Expect::Longest, false),
            (3000, Expect::Backoff, true),
        ];
        for (code, expect, report) in table {
            let mut h = Harness::new();
            let conn = h.live(1);
            let out = h.feed(closed(conn, code));
            let reported = problems(&out).contains(&Problem::Closed {
                code,
                reason: format!("code {code}"),
            });
            assert_eq!(reported, report, "report for {code}");
            let reconnect = timer(&out, TimerKind::Reconnect);
            assert_eq!(
                h.machine.diagnostics().last_close,
                Some(LastClose {
                    code,
                    reason: format!("code {code}"),
                    by_client: false
                })
            );
            match expect {
                Expect::StayClosed => {
                    assert_eq!(h.state(), ConnectionState::Closed, "{code}");
                    assert_eq!(reconnect, None, "{code}");
                }
                Expect::Backoff => {
                    assert_eq!(h.state(), ConnectionState::Reconnecting, "{code}");
                    assert!(
                        reconnect.is_some_and(|ms| ms <= 500),
                        "{code}: {reconnect:?}"
                    );
                }
                Expect::Longest => {
                    assert_eq!(h.state(), ConnectionState::Reconnecting);
                    assert_eq!(reconnect, Some(30_000));
                }
                Expect::Refresh => {
                    assert!(out.contains(&Command::RefreshToken));
                    assert_eq!(h.state(), ConnectionState::Reconnecting);
                    assert_eq!(reconnect, None, "waits for the token, not a timer");
                }
                Expect::Login => {
                    assert!(out.contains(&Command::ClearSession));
                    assert!(out.contains(&Command::GoToLogin));
                    assert!(notices(&out).contains(&Notice::Rows(vec![RowChange::Reset])));
                    assert_eq!(h.state(), ConnectionState::Closed);
                }
            }
            if expect != Expect::Refresh {
                assert!(!out.contains(&Command::RefreshToken), "{code}");
            }
            if expect != Expect::Login {
                assert!(!out.contains(&Command::GoToLogin), "{code}");
            }
            assert!(opened(&out).is_none(), "{code}: never reconnects at once");
        }
    }

    #[test]
    fn unauthorized_refreshes_once_then_goes_to_login() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(closed(conn, 4401));
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = opened(&out).expect("reconnects with the new token at once");
        let out = h.feed(Input::Opened { conn });
        assert_eq!(
            sent(&out),
            [ClientFrame::Auth {
                id: 1,
                token: "token-2".to_owned()
            }]
        );
        // The fresh token is refused too: no second refresh, the login page.
        let out = h.feed(closed(conn, 4401));
        assert!(!out.contains(&Command::RefreshToken));
        assert!(out.contains(&Command::GoToLogin));
        assert_eq!(h.state(), ConnectionState::Closed);
    }

    #[test]
    fn a_refresh_that_worked_allows_another_one_later() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(closed(conn, 4401));
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = h.open(&out);
        h.frame(conn, auth_ok(1));
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken));
        assert!(!out.contains(&Command::GoToLogin));
    }

    #[test]
    fn a_refresh_without_an_answer_after_unauthorized_is_tried_again_not_signed_out() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(Input::Mutate(set_done(1)));
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken));
        // The server is away: the person stays signed in, with their change, and the
        // status counts down to another try that Retry now can bring forward.
        let out = h.feed(Input::RefreshUnavailable);
        assert!(!out.contains(&Command::GoToLogin), "{out:?}");
        assert!(settled(&out).is_empty(), "{out:?}");
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        assert!(timer(&out, TimerKind::Reconnect).is_some(), "{out:?}");
        let out = h.feed(Input::RetryNow);
        let conn = h.open(&out);
        // Still refused on the new socket: a new token is asked for again.
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken), "{out:?}");
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = h.open(&out);
        h.frame(conn, auth_ok(1));
        assert_eq!(h.machine.outbox().len(), 1, "the change still waits");
    }

    #[test]
    fn a_failed_refresh_after_unauthorized_goes_to_login_and_forgets_everything() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        h.feed(Input::Mutate(set_done(1)));
        h.feed(closed(conn, 4401));
        let out = h.feed(Input::RefreshFailed);
        assert!(out.contains(&Command::GoToLogin));
        assert_eq!(
            settled(&out),
            [(MutationId(1), Err(MutationError::SessionEnded))]
        );
        assert!(h.machine.store().is_empty());
        assert!(h.machine.outbox().is_empty());
        assert_eq!(h.state(), ConnectionState::Closed);
    }

    #[test]
    fn the_token_is_refreshed_a_minute_early_and_sent_in_band() {
        let mut h = Harness::new();
        let expires = h.now + 15 * 60_000;
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: expires,
        });
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        h.frame(conn, snapshot(subscribe_id(&out), 1, vec![]));

        // A timer firing early does nothing but restart.
        let out = h.at(expires - 120_000, Input::TimerFired(TimerKind::Refresh));
        assert!(!out.contains(&Command::RefreshToken));
        assert_eq!(timer(&out, TimerKind::Refresh), Some(60_000));
        let out = h.at(expires - 60_000, Input::TimerFired(TimerKind::Refresh));
        assert!(out.contains(&Command::RefreshToken));
        assert!(
            timer(&out, TimerKind::Refresh).is_none(),
            "one refresh at a time"
        );

        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: expires + 15 * 60_000,
        });
        let [ClientFrame::Auth { id, token }] = &sent(&out)[..] else {
            panic!("a refreshed token goes in-band: {out:?}");
        };
        assert_eq!(token, "token-2");
        assert!(opened(&out).is_none());
        assert_eq!(timer(&out, TimerKind::Refresh), Some(15 * 60_000));
        // Its auth_ok does not resubscribe, and answers the request.
        let out = h.frame(conn, auth_ok(*id));
        assert!(sent(&out).is_empty());
        assert_eq!(h.state(), ConnectionState::Live);
        assert_eq!(h.machine.diagnostics().pending_requests, 0);
    }

    #[test]
    fn a_short_lived_token_is_refreshed_halfway_through_its_life_not_at_once() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + 4_000,
        });
        assert_eq!(timer(&out, TimerKind::Refresh), Some(2_000));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        assert!(!out.contains(&Command::RefreshToken));
        let refreshed_at = h.now + 2_000;
        let out = h.at(refreshed_at, Input::TimerFired(TimerKind::Refresh));
        assert!(out.contains(&Command::RefreshToken));
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: refreshed_at + 4_000,
        });
        assert_eq!(timer(&out, TimerKind::Refresh), Some(2_000));
    }

    #[test]
    fn a_failed_scheduled_refresh_is_reported_and_not_retried_in_a_loop() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let at = h.now + HOUR - 60_000;
        h.at(at, Input::TimerFired(TimerKind::Refresh));
        let out = h.feed(Input::RefreshFailed);
        assert_eq!(problems(&out), [Problem::RefreshFailed]);
        assert_eq!(timer(&out, TimerKind::Refresh), None);
        assert_eq!(h.state(), ConnectionState::Live);
        // The token then expires: the server closes 4401 and one refresh is still tried.
        let out = h.feed(closed(conn, 4401));
        assert!(out.contains(&Command::RefreshToken));
    }

    #[test]
    fn a_token_refreshed_during_auth_is_sent_after_auth_ok() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + 2 * HOUR,
        });
        assert!(sent(&out).is_empty(), "auth is still out");
        let out = h.frame(conn, auth_ok(1));
        let frames = sent(&out);
        assert!(matches!(&frames[0], ClientFrame::Auth { token, .. } if token == "token-2"));
        assert!(matches!(frames[1], ClientFrame::Subscribe { .. }));
    }

    #[test]
    fn heartbeat_pings_after_silence_and_measures_rtt() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let start = h.now;
        let out = h.at(start + 25_000, Input::TimerFired(TimerKind::Heartbeat));
        let [ClientFrame::Ping { id }] = sent(&out)[..] else {
            panic!("a ping: {out:?}");
        };
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(10_000));
        h.at(
            start + 25_042,
            Input::Frame {
                conn,
                frame: ServerFrame::Pong { id },
            },
        );
        assert_eq!(h.machine.diagnostics().last_rtt_ms, Some(42));
        let out = h.at(start + 35_000, Input::TimerFired(TimerKind::Heartbeat));
        assert!(closes(&out).is_empty());
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(15_042));
    }

    #[test]
    fn a_silent_socket_is_closed_ten_seconds_after_the_ping_and_replaced() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let start = h.now;
        h.at(start + 25_000, Input::TimerFired(TimerKind::Heartbeat));
        let out = h.at(start + 35_000, Input::TimerFired(TimerKind::Heartbeat));
        assert_eq!(closes(&out), [CLOSE_GAVE_UP]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        assert!(timer(&out, TimerKind::Reconnect).is_some());
        // Its close event, arriving later, is from a socket given up: ignored.
        let out = h.feed(closed(conn, 1006));
        assert!(out.is_empty());
        assert_eq!(h.machine.diagnostics().reconnect_attempts, 1);
    }

    #[test]
    fn a_throttled_timer_a_minute_late_does_not_drop_a_healthy_socket() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let start = h.now;
        h.at(start + 25_000, Input::TimerFired(TimerKind::Heartbeat));
        // The background tab's timer for +35 s fires at +95 s; an event came at +94 s.
        h.at(
            start + 94_000,
            Input::Frame {
                conn,
                frame: upsert(2, 1),
            },
        );
        let out = h.at(start + 95_000, Input::TimerFired(TimerKind::Heartbeat));
        assert!(closes(&out).is_empty());
        assert_eq!(h.state(), ConnectionState::Live);
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(24_000));
    }

    #[test]
    fn frames_do_not_restart_the_heartbeat_timer() {
        let mut h = Harness::new();
        let conn = h.live(1);
        for seq in 2..10 {
            let out = h.frame(conn, upsert(seq, u128::from(seq)));
            assert_eq!(timer(&out, TimerKind::Heartbeat), None);
        }
    }

    #[test]
    fn visible_or_online_pings_at_once_but_not_twice() {
        let mut h = Harness::new();
        h.live(1);
        let out = h.at(h.now + 1_000, Input::Visible);
        assert!(matches!(sent(&out)[..], [ClientFrame::Ping { .. }]));
        assert!(
            sent(&h.feed(Input::Online)).is_empty(),
            "a ping is already out"
        );
        // The timer armed by the ping on going live fires first and waits out the rest
        // of this ping's 10 s.
        let out = h.at(h.now + 9_000, Input::TimerFired(TimerKind::Heartbeat));
        assert_eq!(timer(&out, TimerKind::Heartbeat), Some(1_000));
    }

    #[test]
    fn retry_now_skips_the_backoff_only_while_waiting_for_it() {
        let mut h = Harness::new();
        let conn = h.live(1);
        assert!(
            opened(&h.feed(Input::RetryNow)).is_none(),
            "live: nothing to do"
        );
        h.feed(closed(conn, 1006));
        let diagnostics = h.machine.diagnostics();
        assert_eq!(diagnostics.failed_attempts, 1);
        assert!(diagnostics.reconnect_at_ms.is_some());
        let out = h.feed(Input::RetryNow);
        assert!(opened(&out).is_some(), "reconnects at once");
        assert!(out.contains(&Command::CancelTimer(TimerKind::Reconnect)));
        assert_eq!(h.state(), ConnectionState::Connecting);
        assert_eq!(h.machine.diagnostics().reconnect_at_ms, None);
    }

    #[test]
    fn offline_stops_reconnecting_until_online() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Offline);
        assert_eq!(closes(&out), [CLOSE_GAVE_UP]);
        assert_eq!(h.state(), ConnectionState::Offline);
        assert_eq!(timer(&out, TimerKind::Reconnect), None);
        assert!(
            h.feed(closed(conn, 1006)).is_empty(),
            "the old socket is ignored"
        );
        assert!(opened(&h.feed(Input::TimerFired(TimerKind::Reconnect))).is_none());
        let out = h.feed(Input::Online);
        assert!(opened(&out).is_some(), "online connects at once");
        assert_eq!(h.state(), ConnectionState::Connecting);
    }

    #[test]
    fn offline_while_waiting_cancels_the_retry_and_closes_while_offline_wait() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(closed(conn, 1006));
        let out = h.feed(Input::Offline);
        assert!(out.contains(&Command::CancelTimer(TimerKind::Reconnect)));
        assert_eq!(h.state(), ConnectionState::Offline);

        // Offline reported while connecting, then the socket fails: no retry timer.
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let conn = opened(&out).unwrap();
        h.feed(Input::Offline);
        assert!(h.feed(closed(conn, 1006)).is_empty());
        assert_eq!(h.state(), ConnectionState::Offline);
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        assert!(opened(&out).is_none(), "still offline");
    }

    #[test]
    fn sign_out_closes_normally_and_forgets_everything() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        h.feed(Input::Mutate(set_done(1)));
        let out = h.feed(Input::SignOut);
        assert_eq!(closes(&out), [CLOSE_NORMAL]);
        assert_eq!(
            settled(&out),
            [(MutationId(1), Err(MutationError::SessionEnded))]
        );
        assert!(notices(&out).contains(&Notice::Rows(vec![RowChange::Reset])));
        for kind in [
            TimerKind::Heartbeat,
            TimerKind::Requests,
            TimerKind::Refresh,
        ] {
            assert!(out.contains(&Command::CancelTimer(kind)), "{kind:?}");
        }
        assert_eq!(h.state(), ConnectionState::Closed);
        assert!(h.machine.store().is_empty());
        assert!(h.feed(closed(conn, 1000)).is_empty());
        // A later sign-in starts from scratch: no since, and no close or round trip of
        // the last session in its status.
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let diagnostics = h.machine.diagnostics();
        assert_eq!(
            (diagnostics.last_close, diagnostics.last_rtt_ms),
            (None, None)
        );
        let conn = h.open(&out);
        assert_eq!(since_of(&h.frame(conn, auth_ok(1))), None);
    }

    #[test]
    fn an_unreadable_frame_is_a_protocol_violation() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::from_text(conn, "{not json"));
        assert_eq!(closes(&out), [CLOSE_PROTOCOL]);
        assert!(matches!(problems(&out)[..], [Problem::Undecodable(_)]));
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        let decoded = Input::from_text(conn, r#"{"type":"pong","id":3}"#);
        assert_eq!(
            decoded,
            Input::Frame {
                conn,
                frame: ServerFrame::Pong { id: 3 }
            }
        );
    }

    #[test]
    fn a_socket_error_is_treated_as_a_drop() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Error { conn });
        assert_eq!(closes(&out), [CLOSE_GAVE_UP]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        assert!(h.feed(Input::Error { conn }).is_empty());
    }

    #[test]
    fn connect_and_auth_must_happen_in_time() {
        let mut h = Harness::new();
        let start = h.now;
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: start + HOUR,
        });
        let first = opened(&out).unwrap();
        let out = h.at(start + 5_000, Input::TimerFired(TimerKind::Connect));
        assert!(closes(&out).is_empty(), "early: just restarted");
        assert_eq!(timer(&out, TimerKind::Connect), Some(5_000));
        let out = h.at(start + 10_000, Input::TimerFired(TimerKind::Connect));
        assert_eq!(closes(&out), [CLOSE_GAVE_UP]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        // A late `open` of the abandoned socket changes nothing.
        assert!(h.feed(Input::Opened { conn: first }).is_empty());

        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.at(
            h.now + REQUEST_TIMEOUT_MS,
            Input::TimerFired(TimerKind::Requests),
        );
        assert!(matches!(
            problems(&out)[..],
            [Problem::Request(RequestError::TimedOut { id: 1, .. })]
        ));
        assert_eq!(closes(&out), [CLOSE_GAVE_UP]);
        assert!(
            h.feed(Input::Frame {
                conn,
                frame: auth_ok(1)
            })
            .is_empty()
        );
    }

    #[test]
    fn backoff_grows_while_failing_and_resets_after_a_stable_connection() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + 10 * HOUR,
        });
        let mut conn = opened(&out).unwrap();
        let mut ceilings = Vec::new();
        for _ in 0..4 {
            let out = h.feed(closed(conn, 1006));
            let delay = timer(&out, TimerKind::Reconnect).unwrap();
            ceilings.push(delay);
            let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
            conn = opened(&out).unwrap();
        }
        assert_eq!(ceilings, [500, 1000, 2000, 4000]);
        // Live for 10 s: the next drop starts over.
        h.feed(Input::Opened { conn });
        let out = h.frame(conn, auth_ok(1));
        h.frame(conn, snapshot(subscribe_id(&out), 1, vec![]));
        let out = h.at(h.now + 10_000, closed(conn, 1001));
        assert_eq!(timer(&out, TimerKind::Reconnect), Some(500));
        let diagnostics = h.machine.diagnostics();
        assert_eq!(diagnostics.reconnect_attempts, 5);
        assert_eq!(diagnostics.state, ConnectionState::Reconnecting);
    }

    #[test]
    fn diagnostics_count_frames_both_ways() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        let diagnostics = h.machine.diagnostics();
        // auth + subscribe + ping out; auth_ok + snapshot + pong + event in.
        assert_eq!((diagnostics.frames_out, diagnostics.frames_in), (3, 4));
        // The ping on going live was answered at once.
        assert_eq!(diagnostics.last_rtt_ms, Some(0));
        assert_eq!(diagnostics.pending_requests, 0);
        h.feed(Input::Mutate(create(1)));
        assert_eq!(h.machine.diagnostics().pending_requests, 1);
    }

    #[test]
    fn changes_wait_while_not_live_and_go_in_order_once_live() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let out2 = h.feed(Input::Mutate(create(1)));
        assert!(sent(&out2).is_empty());
        assert!(notices(&out2).contains(&Notice::Queued(MutationId(1))));
        assert!(
            notices(&out2).contains(&Notice::Rows(vec![RowChange::Inserted {
                id: Uuid::from_u128(1),
                index: 0
            }]))
        );
        h.feed(Input::Mutate(set_done(1)));
        h.feed(Input::Mutate(create(2)));
        assert_eq!(h.machine.outbox().len(), 3);
        assert!(h.machine.store().get(Uuid::from_u128(1)).unwrap().pending);

        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        let out = h.frame(conn, snapshot(subscribe_id(&out), 1, vec![]));
        let requests = request_ids(&out);
        assert_eq!(
            requests.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(
            requests
                .into_iter()
                .map(|(_, call)| call)
                .collect::<Vec<_>>(),
            [create(1), set_done(1), create(2)]
        );
        assert!(h.machine.store().get(Uuid::from_u128(1)).unwrap().task.done);
    }

    #[test]
    fn results_confirm_or_roll_back() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 1));
        let out = h.feed(Input::Mutate(set_done(1)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        let confirmed = Task {
            done: true,
            version: 2,
            ..task(1)
        };
        let out = h.frame(conn, ok_task(id, confirmed.clone()));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert_eq!(
            h.machine.store().confirmed(Uuid::from_u128(1)),
            Some(&confirmed)
        );
        assert!(!h.machine.store().get(Uuid::from_u128(1)).unwrap().pending);

        let out = h.feed(Input::Mutate(create(5)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        assert_eq!(h.machine.store().len(), 2);
        let refusal = ApiError::new(ErrorCode::BadRequest, "nope");
        let out = h.frame(
            conn,
            ServerFrame::Result {
                id,
                outcome: Outcome::Error(refusal.clone()),
            },
        );
        assert_eq!(
            settled(&out),
            [(MutationId(2), Err(MutationError::Refused(refusal)))]
        );
        assert!(
            notices(&out).contains(&Notice::Rows(vec![RowChange::Removed {
                id: Uuid::from_u128(5),
                index: 0
            }]))
        );
        assert!(h.machine.outbox().is_empty());
    }

    #[test]
    fn an_answer_of_the_wrong_type_does_not_settle_a_request() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        let out = h.frame(conn, snapshot(id, 1, vec![]));
        assert!(notices(&out).is_empty());
        assert!(h.frame(conn, auth_ok(id)).is_empty());
        assert_eq!(h.machine.diagnostics().pending_requests, 1);
        let out = h.frame(conn, ok_task(id, task(1)));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
    }

    #[test]
    fn an_error_frame_refuses_its_request_or_is_reported() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        let [(id, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: Some(id),
                code: ErrorCode::RateLimited,
                message: "slow down".to_owned(),
            },
        );
        assert!(matches!(
            settled(&out)[..],
            [(_, Err(MutationError::Refused(_)))]
        ));
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: None,
                code: ErrorCode::BadRequest,
                message: "what".to_owned(),
            },
        );
        assert!(matches!(problems(&out)[..], [Problem::Server(_)]));
        assert_eq!(h.state(), ConnectionState::Live);
    }

    #[test]
    fn nothing_is_applied_twice_across_reconnects() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.frame(conn, upsert(2, 7));
        let out = h.feed(Input::Mutate(create(1)));
        assert_eq!(request_ids(&out).len(), 1);
        let out = h.feed(Input::Mutate(set_done(7)));
        assert_eq!(request_ids(&out).len(), 1);
        // The socket drops before either result.
        let out = h.feed(closed(conn, 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        // The replay shows the create landed; the update did not.
        let out = h.frame(
            conn,
            replay(
                subscribe_id(&out),
                3,
                vec![event(3, Change::Upsert { item: task(1) })],
            ),
        );
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert_eq!(
            request_ids(&out)
                .into_iter()
                .map(|(_, call)| call)
                .collect::<Vec<_>>(),
            [set_done(7)],
            "only the update is resent, once"
        );
        // Dropped again without a result; this time the server shows nothing either.
        let out = h.feed(closed(conn, 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        let out = h.frame(conn, replay(subscribe_id(&out), 3, vec![]));
        assert!(request_ids(&out).is_empty(), "never a third send");
        assert_eq!(
            settled(&out),
            [(MutationId(2), Err(MutationError::Unconfirmed))]
        );
        let view = h.machine.store().get(Uuid::from_u128(7)).unwrap();
        assert!(!view.task.done && !view.pending, "rolled back");
        assert!(h.machine.outbox().is_empty());
    }

    #[test]
    fn a_create_deleted_elsewhere_before_the_reconnect_is_not_resent() {
        let mut h = Harness::new();
        let conn = h.live(1);
        h.feed(Input::Mutate(create(1)));
        let out = h.feed(closed(conn, 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        let events = vec![
            event(2, Change::Upsert { item: task(1) }),
            event(
                3,
                Change::Delete {
                    id: Uuid::from_u128(1),
                },
            ),
        ];
        let out = h.frame(conn, replay(subscribe_id(&out), 3, events));
        assert!(request_ids(&out).is_empty(), "resending would resurrect it");
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(h.machine.store().is_empty());
    }

    #[test]
    fn a_timed_out_change_is_settled_by_a_resubscribe_not_resent_blindly() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        let [(request, _)] = request_ids(&out)[..] else {
            panic!("sent at once when live");
        };
        // The event came, the result did not.
        h.frame(conn, upsert(2, 1));
        let out = h.at(
            h.now + REQUEST_TIMEOUT_MS,
            Input::TimerFired(TimerKind::Requests),
        );
        assert!(
            closes(&out).is_empty(),
            "a slow answer does not kill the socket"
        );
        assert_eq!(
            since_of(&out),
            Some(Since {
                epoch: "e1".to_owned(),
                seq: 2
            })
        );
        let out = h.frame(conn, replay(subscribe_id(&out), 2, vec![]));
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(request_ids(&out).is_empty());
        // The late result matches nothing any more.
        assert!(
            h.frame(conn, ok_task(request, task(1)))
                .iter()
                .all(|c| !matches!(c, Command::Notify(_)))
        );
    }

    #[test]
    fn gaps_and_epoch_changes_resubscribe_from_the_last_position() {
        let mut h = Harness::new();
        let conn = h.live(10);
        h.frame(conn, upsert(11, 1));
        let out = h.frame(conn, upsert(13, 2));
        assert!(matches!(
            problems(&out)[..],
            [Problem::Resync(SyncError::Gap { last: 11, got: 13 })]
        ));
        let position = Some(Since {
            epoch: "e1".to_owned(),
            seq: 11,
        });
        assert_eq!(since_of(&out), position);
        let subscribe = subscribe_id(&out);
        // Live events while the resubscribe is out are covered by its answer.
        assert!(notices(&h.frame(conn, upsert(12, 3))).is_empty());
        let out = h.frame(
            conn,
            replay(
                subscribe,
                13,
                vec![
                    event(12, Change::Upsert { item: task(3) }),
                    event(13, Change::Upsert { item: task(2) }),
                ],
            ),
        );
        assert!(problems(&out).is_empty());
        assert_eq!(h.machine.store().len(), 3);
        assert_eq!(h.state(), ConnectionState::Live);

        let mut other = event(14, Change::Upsert { item: task(4) });
        other.epoch = "e2".to_owned();
        let out = h.frame(conn, ServerFrame::Event(other));
        assert!(matches!(
            problems(&out)[..],
            [Problem::Resync(SyncError::WrongEpoch { .. })]
        ));
        assert_eq!(since_of(&out).map(|since| since.seq), Some(13));
        // Duplicates are ignored quietly.
        assert!(notices(&h.frame(conn, upsert(13, 2))).is_empty());
    }

    #[test]
    fn a_replay_that_keeps_failing_falls_back_to_a_snapshot() {
        let mut h = Harness::new();
        let conn = h.live(10);
        let out = h.frame(conn, upsert(12, 1));
        let out = h.frame(conn, replay(subscribe_id(&out), 12, vec![]));
        assert!(since_of(&out).is_some(), "first retry keeps since");
        let out = h.frame(conn, replay(subscribe_id(&out), 12, vec![]));
        let frames = sent(&out);
        assert!(matches!(
            frames[..],
            [ClientFrame::Subscribe { since: None, .. }]
        ));
        h.frame(conn, snapshot(subscribe_id(&out), 12, vec![task(1)]));
        assert_eq!(h.machine.store().position().map(|p| p.seq), Some(12));
    }

    #[test]
    fn a_refused_subscribe_drops_the_socket() {
        let mut h = Harness::new();
        let conn = h.signed_in();
        let out = h.frame(conn, auth_ok(1));
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: Some(subscribe_id(&out)),
                code: ErrorCode::BadRequest,
                message: "no".to_owned(),
            },
        );
        assert_eq!(closes(&out), [CLOSE_GAVE_UP]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
    }

    #[test]
    fn a_person_discards_a_waiting_change_but_not_one_on_the_wire() {
        let mut h = Harness::new();
        let conn = h.live(1);
        let out = h.feed(Input::Mutate(create(1)));
        assert_eq!(request_ids(&out).len(), 1);
        let out = h.feed(Input::Discard(MutationId(1)));
        assert_eq!(
            notices(&out),
            [Notice::Refused(OutboxError::InFlight(MutationId(1)))]
        );
        h.feed(closed(conn, 1006));
        let out = h.feed(Input::Mutate(create(2)));
        assert!(request_ids(&out).is_empty());
        let out = h.feed(Input::Discard(MutationId(2)));
        assert_eq!(
            settled(&out),
            [(MutationId(2), Err(MutationError::Discarded))]
        );
        assert!(
            notices(&out).contains(&Notice::Rows(vec![RowChange::Removed {
                id: Uuid::from_u128(2),
                index: 1
            }]))
        );
        assert_eq!(h.machine.outbox().len(), 1);
    }

    #[test]
    fn bad_changes_are_refused_before_queueing() {
        let mut h = Harness::new();
        let out = h.feed(Input::Mutate(MethodCall::Create(CreateParams {
            id: None,
            title: "x".to_owned(),
        })));
        assert_eq!(
            notices(&out),
            [Notice::Refused(OutboxError::CreateWithoutId)]
        );
        let mut h = Harness::with(Config {
            outbox_capacity: 1,
            ..Config::default()
        });
        h.feed(Input::Mutate(create(1)));
        let out = h.feed(Input::Mutate(create(2)));
        assert_eq!(
            notices(&out),
            [Notice::Refused(OutboxError::Full { capacity: 1 })]
        );
    }
}
