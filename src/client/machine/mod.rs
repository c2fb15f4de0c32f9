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
//!
//! One file per job, each extending [`Machine`] with the handlers of its part:
//!
//! - this module: the [`Machine`], [`Machine::handle`] (every input to its handler) and
//!   the end of a session;
//! - [`messages`]: what the shell and the machine exchange ([`Input`], [`Command`],
//!   [`Notice`], [`Problem`]), its [`Config`] and [`Diagnostics`];
//! - `connection`: the socket's phase (connecting to live, or waiting to reconnect),
//!   opening, closing, the close-code table, the heartbeat and the figures shown;
//! - `session`: the access token, its refresh and the rules for a 4401;
//! - `subscriptions`: the open board's store and log position, subscribe and resync;
//! - `board_list`: the `boards` topic, the person's board list;
//! - `changes`: a person's changes, from the outbox to the wire and back;
//! - `fallback`: the HTTP fallback, the same subscriptions and changes over long polls
//!   and HTTP calls where sockets cannot get through;
//! - `timers`: the one timer of each [`TimerKind`] and what each does when it fires.

mod board_list;
mod changes;
mod connection;
mod fallback;
pub mod messages;
mod session;
mod subscriptions;
mod timers;

use protocol::{ApiError, ClientFrame, CloseCode, DecodeErrorKind, Position, ServerFrame, Topic};
use uuid::Uuid;

use super::backoff::Backoff;
use super::heartbeat::Heartbeat;
use super::outbox::{MutationId, Outbox};
use super::pace::Pace;
use super::requests::Requests;
use super::store::{RowChange, Store};
use connection::{Phase, Stats};
use fallback::Fallback;
use session::Session;
use subscriptions::Subscriptions;
use timers::Timers;

pub use fallback::{FALL_BACK_AFTER, POLL_WAIT_S, SOCKET_TRY_MS};
pub use messages::{
    CONNECT_TIMEOUT_MS, Command, Config, ConnId, ConnectionState, Diagnostics, Env, HttpFailure,
    Input, LastClose, MutationError, Notice, PollId, Problem, SUBSCRIBE_TIMEOUT_MS, Transport,
    Waiting,
};
pub use session::REFRESH_LEAD_MS;
pub use timers::TimerKind;

/// What a request in the table is for, so its answer (or its failure) reaches the part
/// that asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Auth,
    /// A refreshed token sent on an authenticated socket.
    Reauth,
    Subscribe(Topic),
    /// Leaving a board that is no longer open; its answer changes nothing.
    Unsubscribe,
    Mutation(MutationId),
}

/// One socket's machine. See the module docs and [`super`] for how the shell drives it.
#[derive(Debug, Clone)]
pub struct Machine {
    config: Config,
    phase: Phase,
    /// The state last announced with [`Notice::Status`].
    shown: ConnectionState,
    /// The transport last announced with [`Notice::Transport`].
    shown_transport: Transport,
    next_conn: u64,
    navigator_offline: bool,
    backoff: Backoff,
    requests: Requests<Purpose>,
    heartbeat: Option<Heartbeat>,
    session: Session,
    subscriptions: Subscriptions,
    outbox: Outbox,
    timers: Timers,
    stats: Stats,
    /// The HTTP fallback, while sockets do not get through.
    fallback: Option<Fallback>,
    /// Sockets that failed before `auth_ok`, in a row.
    socket_failures: u8,
    /// The change out over HTTP, one at a time (it may outlive the fallback).
    http_call: Option<MutationId>,
    next_poll: u64,
    /// How fast changes go out on this socket, each socket afresh.
    pace: Pace,
    /// Changes wait for the pace until then.
    paced_until: Option<u64>,
    /// Task versions this person's own changes made, the latest last: a title edit
    /// refused for a version only they moved on is no conflict (`changes`).
    own_versions: Vec<(Uuid, u64)>,
}

impl Machine {
    pub fn new(config: Config) -> Self {
        let outbox = Outbox::new(config.outbox_capacity);
        let subscriptions = Subscriptions::new(config.subscribe, config.boards);
        Self {
            config,
            phase: Phase::Closed,
            shown: ConnectionState::Closed,
            shown_transport: Transport::WebSocket,
            next_conn: 1,
            navigator_offline: false,
            backoff: Backoff::new(),
            requests: Requests::new(),
            heartbeat: None,
            session: Session::default(),
            subscriptions,
            outbox,
            timers: Timers::default(),
            stats: Stats::default(),
            fallback: None,
            socket_failures: 0,
            http_call: None,
            next_poll: 1,
            pace: Pace::default(),
            paced_until: None,
            own_versions: Vec::new(),
        }
    }

    /// On the fallback, what the polls show until a socket is live.
    pub fn state(&self) -> ConnectionState {
        match &self.fallback {
            Some(fallback) if !matches!(self.phase, Phase::Live { .. }) => {
                if fallback.live() {
                    ConnectionState::Live
                } else {
                    ConnectionState::Connecting
                }
            }
            _ => self.phase.state(),
        }
    }

    /// A session is on: signed in, and not ended since.
    pub fn signed_in(&self) -> bool {
        self.session.has_token()
    }

    pub fn transport(&self) -> Transport {
        if self.fallback.is_some() && !matches!(self.phase, Phase::Live { .. }) {
            Transport::Http
        } else {
            Transport::WebSocket
        }
    }

    /// The tasks to render.
    pub fn store(&self) -> &Store {
        self.subscriptions.changes_store()
    }

    /// The changes waiting for the server, to list them.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn diagnostics(&self) -> Diagnostics {
        Diagnostics {
            state: self.state(),
            frames_in: self.stats.frames_in,
            frames_out: self.stats.frames_out,
            reconnect_attempts: self.stats.reconnect_attempts,
            failed_attempts: self.backoff.attempt(),
            reconnect_at_ms: match self.phase {
                Phase::Reconnecting { at_ms } if self.fallback.is_none() => at_ms,
                _ => None,
            },
            last_close: self.stats.last_close.clone(),
            last_rtt_ms: self.stats.last_rtt_ms,
            pending_requests: self.requests.len(),
            loaded: self.subscriptions.loaded(),
            transport: self.transport(),
            poll_rtt_ms: self.stats.poll_rtt_ms,
            last_socket_try_ms: self.stats.last_socket_try_ms,
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
            } => self.sign_in(now, token, expires_at_ms, &mut out),
            Input::Opened { conn } => self.on_opened(now, conn, &mut out),
            Input::Frame { conn, frame } => {
                if self.is_current(conn) {
                    self.stats.frames_in += 1;
                    if let Some(heartbeat) = &mut self.heartbeat {
                        heartbeat.frame_arrived(now);
                    }
                    self.on_frame(env, frame, &mut out);
                }
            }
            Input::Undecodable { conn, error } => {
                if self.is_current(conn) {
                    self.stats.frames_in += 1;
                    // A frame of a type this app does not know (a newer server's, as
                    // `presence` came with v2) is passed over, not taken for a broken
                    // connection: closing would end every subscription, and it would come
                    // again on the next. Still reported, for the diagnostics. Not one that
                    // answers a request of ours, though: that answer cannot be read.
                    let unknown = matches!(error.kind, DecodeErrorKind::UnknownType(_))
                        && error.id.is_none_or(|id| !self.requests.is_pending(id));
                    out.push(notice(Notice::Problem(Problem::Undecodable(error))));
                    if !unknown {
                        self.give_up(
                            env,
                            CloseCode::ProtocolViolation,
                            "unreadable frame",
                            &mut out,
                        );
                    }
                }
            }
            Input::Closed { conn, code, reason } => {
                if self.is_current(conn) {
                    self.on_closed(env, code, reason, &mut out);
                }
            }
            Input::Error { conn } => {
                if self.is_current(conn) {
                    self.give_up(env, CloseCode::GaveUp, "socket error", &mut out);
                }
            }
            Input::TimerFired(kind) => {
                self.timers.fired(kind);
                self.on_timer(env, kind, &mut out);
            }
            Input::Online => self.on_online(now, &mut out),
            Input::Offline => self.on_offline(now, &mut out),
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
                    self.close_socket(conn, CloseCode::Normal, "signed out", &mut out);
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
            Input::Open(topic) => self.open_board(now, topic, &mut out),
            Input::Mutate(call) => self.mutate(now, call, &mut out),
            Input::Discard(mutation) => self.discard(mutation, &mut out),
            Input::Restore(kept) => self.restore(now, kept, &mut out),
            Input::Polled { poll, result } => self.on_polled(env, poll, result, &mut out),
            Input::Called { mutation, result } => self.on_called(env, mutation, result, &mut out),
        }
        self.sync_timers(now, &mut out);
        let transport = self.transport();
        if transport != self.shown_transport {
            self.shown_transport = transport;
            out.push(notice(Notice::Transport(transport)));
        }
        let state = self.state();
        if state != self.shown {
            self.shown = state;
            out.push(notice(Notice::Status(state)));
        }
        out
    }

    /// A frame of the current socket, to the part it answers.
    fn on_frame(&mut self, env: Env, frame: ServerFrame, out: &mut Vec<Command>) {
        let now = env.now_ms;
        match frame {
            ServerFrame::AuthOk {
                id, heartbeat_ms, ..
            } => self.on_auth_ok(now, id, heartbeat_ms, out),
            ServerFrame::Pong { id } => self.on_pong(now, id),
            ServerFrame::Result { id, outcome } => self.on_result(now, id, outcome, out),
            ServerFrame::Snapshot {
                id,
                epoch,
                seq,
                items,
                ..
            } => self.on_sync(
                env,
                id,
                |store| store.apply_snapshot(epoch, seq, items),
                out,
            ),
            ServerFrame::Replay {
                id,
                epoch,
                seq,
                events,
                ..
            } => self.on_sync(
                env,
                id,
                |store| store.apply_replay(&epoch, seq, &events),
                out,
            ),
            ServerFrame::Event(event) => self.on_event(now, &event, out),
            ServerFrame::BoardsSnapshot {
                id,
                epoch,
                seq,
                items,
                ..
            } => self.on_boards_snapshot(now, id, Position { epoch, seq }, items, out),
            ServerFrame::BoardsEvent(event) => self.on_boards_event(now, event, out),
            ServerFrame::Unsubscribed { topic, reason } => self.on_unsubscribed(topic, reason, out),
            ServerFrame::Presence { topic, users } => {
                if self.subscriptions.follows(topic) {
                    out.push(notice(Notice::Presence { topic, users }));
                }
            }
            ServerFrame::Error { id, code, message } => {
                let error = ApiError::new(code, message);
                match id.and_then(|id| self.requests.settle(id)) {
                    Some(Purpose::Mutation(mutation)) => {
                        self.settle_mutation(mutation, Err(error), out);
                    }
                    Some(Purpose::Subscribe(topic)) => {
                        self.on_subscribe_refused(env, topic, error, out);
                    }
                    Some(Purpose::Unsubscribe) => {}
                    // A refused token is followed by a 4401 close, which decides: the
                    // app refreshes and carries on, so there is nothing to tell (a
                    // socket back from sleep with an expired token meets this).
                    Some(Purpose::Auth | Purpose::Reauth) => {}
                    None => out.push(notice(Notice::Problem(Problem::Server(error)))),
                }
            }
        }
    }

    /// Sends a frame on the current socket, if there is one.
    fn send(&mut self, frame: ClientFrame, out: &mut Vec<Command>) {
        if let Some(conn) = self.phase.conn() {
            self.stats.frames_out += 1;
            out.push(Command::Send { conn, frame });
        }
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
            self.push_outbox(out);
        }
        self.subscriptions.clear(out);
        self.leave_fallback(out);
        self.socket_failures = 0;
        self.http_call = None;
        self.requests.close();
        self.heartbeat = None;
        self.session.forget();
        self.backoff = Backoff::new();
        self.own_versions.clear();
        self.phase = Phase::Closed;
    }
}

fn notice(notice: Notice) -> Command {
    Command::Notify(notice)
}

/// Tells the UI how `topic`'s rows changed, with the rows from its `store`.
fn push_rows(topic: Topic, store: &Store, rows: Vec<RowChange>, out: &mut Vec<Command>) {
    if !rows.is_empty() {
        out.push(notice(Notice::Rows {
            topic,
            rows: store.updates(rows),
        }));
    }
}
