//! The socket service: executes what [`Registry`] decides (sockets, timers, the HTTP
//! refresh), feeds it every browser event, and hands the core's notices and figures to
//! the [`Board`], which the views read.
//!
//! Everything runs on the page's one thread. Inputs go through one queue: an input
//! raised while another is being handled (a `send` that throws, a callback that runs
//! while the service is busy) waits its turn instead of re-entering the registry.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use protocol::{
    CloseCode, DecodeError, DecodeErrorKind, ErrorCode, MethodCall, ServerFrame, Session, Topic,
};
use rustc_hash::FxHashMap;

mod listeners;

use super::conn::{Socket, SocketEvent};
use super::keeper::Keeper;
use crate::api::{Api, CallError};
use crate::board::{Board, ClosedEvent, TASKS, Views};
use crate::client::machine::{
    Command, Config, ConnId, Env, HttpFailure, Input, Machine, Notice, PollId, TimerKind,
};
use crate::client::registry::{Registry, Routed};
use crate::client::token_life;
use listeners::{Listener, window_listeners};

/// Sockets closed by the client whose close event has not come yet; past this many the
/// oldest is released without waiting (its handlers are dropped either way).
const CLOSING_KEPT: usize = 4;

/// The service: a cheap handle to the shared state (the facade keeps one).
#[derive(Clone)]
pub struct Service {
    inner: Rc<Inner>,
}

struct Inner {
    shell: RefCell<Shell>,
    /// Inputs waiting for the shell: `(socket name or None for all, input)`.
    queue: RefCell<VecDeque<(Option<String>, Input)>>,
}

struct Shell {
    api: Api,
    board: Board,
    registry: Registry,
    /// The current socket of each name.
    sockets: FxHashMap<String, (ConnId, Socket)>,
    /// Sockets closed by the client, kept until their close event.
    closing: VecDeque<(String, ConnId, Socket)>,
    timers: FxHashMap<(String, TimerKind), Timeout>,
    /// Ticks once a second while the status counts down to a reconnect.
    ticker: Option<Interval>,
    /// The HTTP fallback's polls on their way, by socket (each machine numbers its own),
    /// to abort the ones no longer wanted.
    polls: FxHashMap<(String, PollId), web_sys::AbortController>,
    /// The access token, in memory only.
    token: Option<String>,
    /// The board socket's outbox, kept across reloads for the session's person.
    keeper: Option<Keeper>,
    /// Bumped whenever the session changes, so late HTTP answers for an old session
    /// are dropped.
    generation: u64,
    _listeners: Vec<Listener>,
}

fn env() -> Env {
    Env {
        now_ms: now_ms(),
        random: js_sys::Math::random(),
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// When the session's token expires, as epoch ms on the browser's clock: its life
/// (see [`token_life`]) from now. A token that does not say falls back on `expires_at`;
/// an unreadable time is treated as expiring soon, so the token is refreshed early
/// rather than used past its end.
pub fn expiry_ms(session: &Session) -> u64 {
    let life = token_life::payload_base64(&session.token)
        .and_then(|payload| web_sys::window()?.atob(&payload).ok())
        .and_then(|payload| token_life::lifetime_ms(&payload));
    if let Some(life) = life {
        return now_ms().saturating_add(life);
    }
    let parsed = js_sys::Date::parse(&session.expires_at);
    if parsed.is_finite() && parsed > 0.0 {
        parsed as u64
    } else {
        now_ms().saturating_add(2 * 60_000)
    }
}

/// An app taken off the page ends its long polls: its sockets close and its timers stop
/// as they are dropped, but a dropped `AbortController` aborts nothing, and each poll
/// would hold a connection (and the server a waiter) for up to its whole wait.
impl Drop for Shell {
    fn drop(&mut self) {
        for abort in self.polls.values() {
            abort.abort();
        }
    }
}

impl Service {
    /// Builds the service with these named sockets and hooks the window's events.
    pub(crate) fn new(api: Api, views: Views, sockets: &[(&str, Config)]) -> Self {
        let mut registry = Registry::new();
        for (name, config) in sockets {
            // Duplicate names are the caller's mistake; the first one wins.
            let _ = registry.add(name, config.clone());
        }
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| Inner {
            shell: RefCell::new(Shell {
                api,
                board: Board::new(views),
                registry,
                sockets: FxHashMap::default(),
                closing: VecDeque::new(),
                timers: FxHashMap::default(),
                ticker: None,
                polls: FxHashMap::default(),
                token: None,
                keeper: None,
                generation: 0,
                _listeners: window_listeners(weak),
            }),
            queue: RefCell::new(VecDeque::new()),
        });
        let service = Self { inner };
        service.with_shell(|shell| shell.publish());
        service
    }

    fn weak(&self) -> Weak<Inner> {
        Rc::downgrade(&self.inner)
    }

    fn from_weak(weak: &Weak<Inner>) -> Option<Self> {
        weak.upgrade().map(|inner| Self { inner })
    }

    pub fn api(&self) -> Api {
        self.with_shell(|shell| shell.api.clone())
    }

    pub fn token(&self) -> Option<String> {
        self.with_shell(|shell| shell.token.clone())
    }

    /// Changes whenever the session does (sign-in, sign-out, lost session).
    pub fn generation(&self) -> u64 {
        self.with_shell(|shell| shell.generation)
    }

    fn with_shell<T>(&self, f: impl FnOnce(&mut Shell) -> T) -> T {
        f(&mut self.inner.shell.borrow_mut())
    }

    /// Queues an input (for socket `name`, or every socket) and handles the queue unless
    /// a caller further up is already doing so.
    fn run(&self, name: Option<&str>, input: Input) {
        self.inner
            .queue
            .borrow_mut()
            .push_back((name.map(str::to_owned), input));
        let Ok(mut shell) = self.inner.shell.try_borrow_mut() else {
            return;
        };
        if !shell.alive() {
            self.inner.queue.borrow_mut().clear();
            return;
        }
        loop {
            let next = self.inner.queue.borrow_mut().pop_front();
            let Some((name, input)) = next else { break };
            let pong = matches!(
                input,
                Input::Frame {
                    frame: ServerFrame::Pong { .. },
                    ..
                }
            );
            let env = env();
            let routed = match &name {
                Some(name) => shell.registry.handle(env, name, input).unwrap_or_default(),
                None => shell.registry.broadcast(env, input),
            };
            for routed in routed {
                shell.execute(self, routed);
            }
            if pong && let Some(name) = &name {
                shell.record_rtt(name);
            }
        }
        shell.publish();
        shell.tick(self);
    }

    /// Starts the session: every socket connects (or falls back to HTTP); the status
    /// shows how that goes.
    pub fn start(&self, session: &Session) {
        let generation = self.with_shell(|shell| {
            shell.generation += 1;
            shell.token = Some(session.token.clone());
            shell.generation
        });
        let (token, expires) = (session.token.clone(), expiry_ms(session));
        let routed = self.with_shell(|shell| shell.registry.sign_in(env(), &token, expires));
        self.execute_all(routed);
        // The changes a reload (or a closed tab) left, back into the outbox.
        let weak = self.weak();
        let keeper = Keeper::start(session.user.id, move |kept| {
            if let Some(service) = Service::from_weak(&weak)
                && service.generation() == generation
            {
                service.run(Some(TASKS), Input::Restore(kept));
            }
        });
        self.with_shell(|shell| shell.keeper = Some(keeper));
    }

    /// How many changes closed tabs keep for the person (`Keeper::kept_elsewhere`).
    pub async fn kept_elsewhere(&self) -> usize {
        match self.with_shell(|shell| shell.keeper.clone()) {
            Some(keeper) => keeper.kept_elsewhere().await,
            None => 0,
        }
    }

    /// Sign-out: the person's changes kept for a reload go too.
    pub fn forget_kept_changes(&self) {
        if let Some(keeper) = self.with_shell(|shell| shell.keeper.clone()) {
            keeper.clear();
        }
    }

    /// Closes every socket with 1000 and forgets the session's state; gives back the
    /// token it held, for the HTTP logout.
    pub fn stop(&self) -> Option<String> {
        let routed = self.with_shell(|shell| shell.registry.sign_out(env()));
        self.execute_all(routed);
        self.with_shell(|shell| {
            let token = shell.token.take();
            shell.end_session();
            token
        })
    }

    fn execute_all(&self, routed: Vec<Routed>) {
        if !self.with_shell(|shell| shell.alive()) {
            return;
        }
        self.with_shell(|shell| {
            for routed in routed {
                shell.execute(self, routed);
            }
        });
        // Drain anything the commands queued (a failed send), then show the result.
        self.run_queue();
    }

    fn run_queue(&self) {
        let next = self.inner.queue.borrow_mut().pop_front();
        match next {
            Some((name, input)) => self.run(name.as_deref(), input),
            None => self.with_shell(|shell| {
                if shell.alive() {
                    shell.publish();
                    shell.tick(self);
                }
            }),
        }
    }

    /// A person opens a board: the board socket follows it instead of the last one.
    pub fn open(&self, topic: Topic) {
        self.run(Some(TASKS), Input::Open(topic));
    }

    /// A person's change to the tasks.
    pub fn mutate(&self, call: MethodCall) {
        self.run(Some(TASKS), Input::Mutate(call));
    }

    /// Drops every change still waiting to be sent (not one on the wire now, whose
    /// answer is awaited).
    pub fn discard_pending(&self) {
        let waiting: Vec<_> = self.with_shell(|shell| {
            shell
                .registry
                .machine(TASKS)
                .map(|machine| machine.outbox().discardable())
                .unwrap_or_default()
        });
        for id in waiting {
            self.run(Some(TASKS), Input::Discard(id));
        }
    }

    pub fn retry_now(&self) {
        self.run(None, Input::RetryNow);
    }

    fn on_socket_event(&self, name: &str, conn: ConnId, event: SocketEvent) {
        let input = match event {
            SocketEvent::Open => Input::Opened { conn },
            SocketEvent::Text(text) => Input::from_text(conn, &text),
            SocketEvent::Binary => Input::Undecodable {
                conn,
                error: DecodeError::from(DecodeErrorKind::Invalid("a binary frame".to_owned())),
            },
            // The browser always follows `error` with `close`, which carries the real
            // code (Firefox reports a server going away with 1001 as an error first):
            // acting on the close keeps that code instead of masking it with our 4000.
            SocketEvent::Error => return,
            SocketEvent::Close {
                code,
                reason,
                clean,
            } => {
                self.with_shell(|shell| shell.socket_closed(name, conn, code, &reason, clean));
                Input::Closed {
                    conn,
                    code: CloseCode::from_u16(code),
                    reason,
                }
            }
        };
        self.run(Some(name), input);
    }
}

impl Shell {
    /// The signals still exist: a service outliving its page (an HTTP call finishing
    /// late holds it) must not write to disposed signals.
    fn alive(&self) -> bool {
        self.board.alive()
    }

    /// `POST /api/refresh` for the registry, then tells every socket how it went.
    fn refresh(&self, service: &Service) {
        let (api, generation) = (self.api.clone(), self.generation);
        let weak = service.weak();
        wasm_bindgen_futures::spawn_local(async move {
            let result = api.refresh().await;
            let Some(service) = Service::from_weak(&weak) else {
                return;
            };
            if service.with_shell(|shell| shell.generation) != generation {
                return;
            }
            let someone_else = |session: &Session| {
                service
                    .with_shell(|shell| shell.board.user_id())
                    .is_some_and(|me| me != session.user.id)
            };
            let input = match result {
                // The cookie this tab shares now signs in another person: another tab
                // signed in as them, or an admin there acts as them. Carrying on as that
                // person would send this tab's changes as theirs: this tab's own session
                // is over, as a 401 would say.
                Ok(session) if someone_else(&session) => {
                    web_sys::console::warn_1(
                        &"the refresh answered for another person: this tab's session has ended"
                            .into(),
                    );
                    Input::RefreshFailed
                }
                Ok(session) => {
                    service.with_shell(|shell| {
                        shell.token = Some(session.token.clone());
                        shell.board.signed_in(session.user.clone());
                    });
                    Input::TokenRefreshed {
                        expires_at_ms: expiry_ms(&session),
                        token: session.token,
                    }
                }
                Err(error) => {
                    web_sys::console::warn_1(&format!("token refresh failed: {error}").into());
                    // Only the server refusing the session (401) ends it; no answer,
                    // or any other error (a 403 is the Origin check, not the session),
                    // is tried again later.
                    match error.code() {
                        Some(ErrorCode::Unauthorized) => Input::RefreshFailed,
                        _ => Input::RefreshUnavailable,
                    }
                }
            };
            service.run(None, input);
        });
    }

    fn execute(&mut self, service: &Service, routed: Routed) {
        match routed {
            Routed::Socket { name, command } => self.command(service, name, command),
            Routed::RefreshToken => self.refresh(service),
            // The sign-in page says why the person is there.
            Routed::ClearSession => {
                self.end_session();
                self.board.signed_out_everywhere();
            }
            Routed::GoToLogin => {
                self.end_session();
                self.board.session_lost();
            }
        }
    }

    /// The session is gone (signed out, ended by the server, or not refreshed): late
    /// answers for it are dropped.
    fn end_session(&mut self) {
        self.generation += 1;
        self.keeper = None;
        for (_, abort) in self.polls.drain() {
            abort.abort();
        }
        self.token = None;
        self.board.signed_out();
    }

    /// A pong: the board keeps the new round-trip time for the diagnostics chart.
    fn record_rtt(&mut self, name: &str) {
        let rtt = self
            .registry
            .machine(name)
            .and_then(|machine| machine.diagnostics().last_rtt_ms);
        if let Some(rtt) = rtt {
            self.board.record_rtt(name, rtt, js_sys::Date::now());
        }
    }

    /// Shows the registry's figures.
    fn publish(&mut self) {
        self.board.publish(now_ms(), self.registry.diagnostics());
    }

    fn command(&mut self, service: &Service, name: String, command: Command) {
        match command {
            Command::Open { conn } => {
                let weak = service.weak();
                let socket_name = name.clone();
                let opened = Socket::open(&self.api.socket_url(), move |event| {
                    if let Some(service) = Service::from_weak(&weak) {
                        service.on_socket_event(&socket_name, conn, event);
                    }
                });
                match opened {
                    Ok(socket) => {
                        if let Some((old, socket)) =
                            self.sockets.insert(name.clone(), (conn, socket))
                        {
                            self.keep_closing(name, old, socket);
                        }
                    }
                    Err(error) => {
                        web_sys::console::warn_1(&error.to_string().into());
                        service.queue(&name, Input::Error { conn });
                    }
                }
            }
            Command::Send { conn, frame } => {
                let sent = match (self.sockets.get(&name), serde_json::to_string(&frame)) {
                    (Some((current, socket)), Ok(text)) if *current == conn => {
                        socket.send(&text).map_err(|error| error.to_string())
                    }
                    (_, Err(error)) => Err(error.to_string()),
                    _ => Ok(()),
                };
                if let Err(error) = sent {
                    web_sys::console::warn_1(&error.into());
                    service.queue(&name, Input::Error { conn });
                }
            }
            Command::Close { conn, code, reason } => {
                if self
                    .sockets
                    .get(&name)
                    .is_some_and(|(current, _)| *current == conn)
                    && let Some((_, socket)) = self.sockets.remove(&name)
                {
                    socket.close(code, &reason);
                    self.keep_closing(name, conn, socket);
                }
            }
            Command::StartTimer { kind, after_ms } => {
                let weak = service.weak();
                let timer_name = name.clone();
                // setTimeout takes an i32 of ms; longer waits fire early and are re-armed.
                let after = u32::try_from(after_ms.min(i32::MAX as u64)).unwrap_or(u32::MAX);
                let timeout = Timeout::new(after, move || {
                    if let Some(service) = Service::from_weak(&weak) {
                        service
                            .with_shell(|shell| shell.timers.remove(&(timer_name.clone(), kind)));
                        service.run(Some(&timer_name), Input::TimerFired(kind));
                    }
                });
                self.timers.insert((name, kind), timeout);
            }
            Command::CancelTimer(kind) => {
                self.timers.remove(&(name, kind));
            }
            Command::Poll {
                poll,
                topic,
                since,
                wait_s,
            } => self.poll(service, name, poll, topic, since, wait_s),
            Command::CancelPoll(poll) => {
                if let Some(abort) = self.polls.remove(&(name, poll)) {
                    abort.abort();
                }
            }
            Command::Call { mutation, call } => {
                let (api, token) = (self.api.clone(), self.token.clone().unwrap_or_default());
                self.spawn_http(service, name, async move {
                    let result = api.call(&token, &call).await;
                    Input::Called {
                        mutation,
                        result: result.map_err(http_failure),
                    }
                });
            }
            // The registry routes these session-wide; a lone machine's would land here.
            Command::RefreshToken => self.refresh(service),
            Command::GoToLogin | Command::ClearSession => {
                self.token = None;
                self.board.signed_out();
            }
            Command::Notify(notice) => {
                // An outbox emptied because the session ended is not saved as empty: the
                // changes stay kept for this person's next sign-in (or a later tab's),
                // unless they signed out here, which asked first and cleared them.
                if let (Notice::Outbox(waiting), Some(keeper)) = (&notice, &self.keeper)
                    && name == TASKS
                {
                    if self.registry.machine(TASKS).is_some_and(Machine::signed_in) {
                        keeper.save(waiting);
                    } else {
                        keeper.session_ended();
                    }
                }
                self.board.notice(&name, notice);
            }
        }
    }

    /// `GET /api/changes` for the fallback, abortable until it answers.
    fn poll(
        &mut self,
        service: &Service,
        name: String,
        poll: PollId,
        topic: Topic,
        since: Option<protocol::Position>,
        wait_s: u64,
    ) {
        let abort = match crate::api::abort_controller() {
            Ok(abort) => abort,
            Err(error) => {
                service.queue(
                    &name,
                    Input::Polled {
                        poll,
                        result: Err(http_failure(error)),
                    },
                );
                return;
            }
        };
        let key = (name.clone(), poll);
        self.polls.insert(key.clone(), abort.clone());
        let (api, token) = (self.api.clone(), self.token.clone().unwrap_or_default());
        let weak = service.weak();
        self.spawn_http(service, name, async move {
            let result = api
                .changes(&token, topic, since.as_ref(), wait_s, abort)
                .await;
            if let Some(service) = Service::from_weak(&weak) {
                service.with_shell(|shell| shell.polls.remove(&key));
            }
            Input::Polled {
                poll,
                result: result.map_err(http_failure),
            }
        });
    }

    /// Runs an HTTP call of the fallback and feeds its answer to socket `name`'s machine,
    /// unless the session changed meanwhile.
    fn spawn_http(
        &self,
        service: &Service,
        name: String,
        call: impl Future<Output = Input> + 'static,
    ) {
        let (weak, generation) = (service.weak(), self.generation);
        wasm_bindgen_futures::spawn_local(async move {
            let input = call.await;
            if let Some(service) = Service::from_weak(&weak)
                && service.generation() == generation
            {
                service.run(Some(&name), input);
            }
        });
    }

    fn keep_closing(&mut self, name: String, conn: ConnId, socket: Socket) {
        self.closing.push_back((name, conn, socket));
        while self.closing.len() > CLOSING_KEPT {
            self.closing.pop_front();
        }
    }

    /// A close event: record it and release the socket's handlers.
    fn socket_closed(&mut self, name: &str, conn: ConnId, code: u16, reason: &str, clean: bool) {
        self.board.socket_closed(
            name,
            ClosedEvent {
                code,
                reason: reason.to_owned(),
                clean,
            },
        );
        // Dropping the socket frees the very closure running now; wasm-bindgen defers
        // the free until it returns.
        if self
            .sockets
            .get(name)
            .is_some_and(|(current, _)| *current == conn)
        {
            self.sockets.remove(name);
        }
        self.closing
            .retain(|(closing, id, _)| !(closing == name && *id == conn));
    }

    /// Keeps a one-second ticker while the status counts down to a reconnect.
    fn tick(&mut self, service: &Service) {
        if !self.board.counting_down() {
            self.ticker = None;
        } else if self.ticker.is_none() {
            let weak = service.weak();
            self.ticker = Some(Interval::new(1_000, move || {
                if let Some(service) = Service::from_weak(&weak) {
                    service.run_queue();
                }
            }));
        }
    }
}

/// A fallback call's failure, as the machine tells them apart: the server's refusal, or
/// no usable answer.
fn http_failure(error: CallError) -> HttpFailure {
    match error {
        CallError::Api(error) => HttpFailure::Refused(error),
        _ => HttpFailure::Unreachable,
    }
}

impl Service {
    /// Queues an input without handling it: for commands that fail while the shell is
    /// borrowed.
    fn queue(&self, name: &str, input: Input) {
        self.inner
            .queue
            .borrow_mut()
            .push_back((Some(name.to_owned()), input));
    }
}
