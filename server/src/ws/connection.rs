//! One socket: a single task that reads frames, answers them, forwards events, pings,
//! and closes with the contract's codes.
//!
//! The main loop's future is kept small (thousands of idle sockets each hold one):
//! handling a frame, which awaits the database, runs in a boxed future of its own that
//! exists only while that frame is handled, and one timer serves both the pings and the
//! deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{
    ClientFrame, CloseCode, ErrorCode, MemberUser, MethodCall, MethodValue, Outcome, Position,
    ServerFrame, Topic,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use uuid::Uuid;

use crate::auth::Authed;
use crate::changelog::Applied;
use crate::clock;
use crate::error::AppError;
use crate::fanout::{Outbound, OutboundKind, SocketLink, SocketShared, fingerprint};
use crate::limits::TokenBucket;
use crate::state::AppState;
use crate::ws::paced::Pace;
use crate::ws::upgrade::Socket;

/// Events queued for one socket before it counts as too slow and is closed.
const QUEUE: usize = 256;
/// Queued frames written before one flush.
const BATCH: usize = 64;
/// Topics one socket may follow at once: the app needs two (its board list and the open
/// board); a client asking for thousands is refused rather than served slowly.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// How long a closing socket waits for the peer's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the peer may still send after a frame over the limit that is read and dropped
/// before the connection ends (beyond it the connection ends at once).
const MAX_DISCARD: usize = protocol::MAX_SERVER_FRAME_BYTES;

/// How a socket ended, for the log.
enum End {
    /// We closed it with this code.
    Closed(CloseCode, &'static str),
    /// A frame over 64 KiB, refused mid-frame: closed with 1009.
    TooBig,
    /// The peer closed it (with its code, if it gave one).
    PeerClosed(Option<u16>),
    /// The connection broke or went silent: no close frame either way.
    Dropped(&'static str),
}

/// What woke the main loop.
enum Wake {
    Shutdown,
    /// An event was queued or a close requested.
    Shared,
    Frame(Option<Result<Message, tungstenite::Error>>),
    /// Time to ping, or the deadline.
    Timer,
}

struct Connection {
    state: AppState,
    id: u64,
    socket: Socket,
    /// When the peer last took some of what was written.
    pace: Arc<Pace>,
    /// The queue of events for this socket, and its close request.
    shared: Arc<SocketShared>,
    authed: Option<Authed>,
    /// When the current token expires (or, before `auth`, when the auth time is up).
    deadline: Instant,
    subscriptions: Subscriptions,
    /// Offered `taskwire.v1`: sees only the personal board.
    v1: bool,
    bucket: TokenBucket,
    last_heard: Instant,
}

/// The last event position a topic's subscriber was sent (events at or before it are
/// skipped); `None` until the subscribe is answered.
type LastSent = Option<(Arc<str>, u64)>;

/// A topic a socket follows: the last event sent of it, and the [`fingerprint`] of the
/// last presence list sent on it (the list the subscribe answer carried may come again
/// at once, from the join it announces to everyone).
struct Followed {
    topic: Topic,
    sent: LastSent,
    presence: Option<u64>,
}

/// The topics a socket follows. A list, not a map: a socket follows a topic or two,
/// where a map's smallest table has room for three.
#[derive(Default)]
struct Subscriptions(Vec<Followed>);

impl Subscriptions {
    fn get_mut(&mut self, topic: &Topic) -> Option<&mut Followed> {
        self.0.iter_mut().find(|followed| followed.topic == *topic)
    }

    fn contains_key(&self, topic: &Topic) -> bool {
        self.0.iter().any(|followed| followed.topic == *topic)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn insert(&mut self, topic: Topic, sent: LastSent) {
        match self.get_mut(&topic) {
            Some(known) => known.sent = sent,
            None => {
                // One at a time: most sockets never follow a second topic.
                self.0.reserve_exact(1);
                self.0.push(Followed {
                    topic,
                    sent,
                    presence: None,
                });
            }
        }
    }

    fn remove(&mut self, topic: &Topic) -> Option<LastSent> {
        let at = self
            .0
            .iter()
            .position(|followed| followed.topic == *topic)?;
        Some(self.0.swap_remove(at).sent)
    }
}

/// The socket's task. Not an `async fn`, whose state would keep its arguments beside the
/// `Connection` they are moved into (the socket twice over): the future holds the
/// connection alone.
pub fn run(
    state: AppState,
    socket: Socket,
    peer: SocketAddr,
    subprotocol: Option<&'static str>,
) -> impl Future<Output = ()> + Send + 'static {
    let id = state.next_socket_id();
    let v1 = subprotocol == Some(protocol::SUBPROTOCOL_V1);
    let subprotocol = subprotocol.unwrap_or("none");
    tracing::info!(socket = id, %peer, subprotocol, "socket open");
    let now = Instant::now();
    let mut shutdown = state.shutdown.clone();
    let mut connection = Connection {
        id,
        pace: socket.get_ref().pace(),
        socket,
        shared: Arc::new(SocketShared::new(QUEUE)),
        authed: None,
        deadline: now + state.config.auth_timeout(),
        subscriptions: Subscriptions::default(),
        v1,
        bucket: TokenBucket::new(
            state.config.socket_burst,
            f64::from(state.config.socket_rate),
        ),
        last_heard: now,
        state,
    };
    async move {
        let end = connection.serve(&mut shutdown).await;
        connection.ended(end);
    }
}

/// Leaves the fan-out however the socket's task ends, a panic in it included: a socket
/// left registered would hold its user's place, presence and subscriptions for good.
impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(authed) = &self.authed {
            self.state.fanout.unregister(authed.user_id(), self.id);
        }
    }
}

impl Connection {
    /// Logs how the socket ended (it leaves the fan-out as it is dropped, next).
    fn ended(&self, end: End) {
        let id = self.id;
        let user = self.authed.as_ref().map(|a| a.user.username.as_str());
        match end {
            End::Closed(code, reason) => tracing::info!(
                socket = id,
                user,
                code = code.as_u16(),
                reason,
                "socket closed by server"
            ),
            End::TooBig => tracing::info!(
                socket = id,
                user,
                code = CloseCode::TooBig.as_u16(),
                "socket closed by server: frame over 64 KiB"
            ),
            End::PeerClosed(code) => tracing::info!(
                socket = id,
                user,
                code = code.unwrap_or(1005),
                "socket closed by client"
            ),
            End::Dropped(reason) => {
                tracing::info!(socket = id, user, code = 1006, reason, "socket dropped")
            }
        }
    }

    async fn serve(&mut self, shutdown: &mut watch::Receiver<bool>) -> End {
        let end = self.serve_until_end(shutdown).await;
        match end {
            End::Closed(code, reason) => self.close(code, reason).await,
            // Boxed: its read buffer would otherwise make every idle socket's future
            // 8 KiB larger.
            End::TooBig => Box::pin(self.close_mid_frame()).await,
            // The WebSocket layer has queued the echo of the peer's close frame; reading
            // on sends it and then sees the end of the stream.
            End::PeerClosed(_) => self.drain().await,
            End::Dropped(_) => {}
        }
        end
    }

    async fn serve_until_end(&mut self, shutdown: &mut watch::Receiver<bool>) -> End {
        if *shutdown.borrow() {
            return End::Closed(CloseCode::GoingAway, "server shutting down");
        }
        let ping_every = self.state.config.server_ping_interval();
        let idle = self.state.config.idle_timeout();
        let mut next_ping = Instant::now() + ping_every;
        // One timer for the next ping, the end of the allowed silence and the deadline,
        // whichever comes first, moved when they move rather than made anew on each
        // wake-up. The silence has a time of its own: checked only at pings, a socket
        // that fell silent just after one would be dropped up to a ping interval late.
        let timer = sleep_until(next_ping.min(self.deadline));
        tokio::pin!(timer);
        loop {
            let wake_at = next_ping.min(self.deadline).min(self.last_heard + idle);
            if timer.deadline() != wake_at {
                timer.as_mut().reset(wake_at);
            }
            let wake = tokio::select! {
                biased;
                // Once registered, the fan-out's `close_all` reaches this socket at
                // shutdown, so the shared watch need not be polled on every wake-up.
                changed = shutdown.changed(), if self.authed.is_none() => match changed {
                    Ok(()) if !*shutdown.borrow() => continue,
                    _ => Wake::Shutdown,
                },
                () = self.shared.wake.notified() => Wake::Shared,
                frame = self.socket.next() => Wake::Frame(frame),
                () = &mut timer => Wake::Timer,
            };
            let outcome = match wake {
                Wake::Shutdown => Err(End::Closed(CloseCode::GoingAway, "server shutting down")),
                // The timer is polled last, so a peer that never lets the read side run
                // dry (a flood of pings, which need no answer read), or a board whose
                // events never stop, would keep it from ever firing: whatever woke the
                // socket past its deadline ends it as the timer would, and a request
                // after the token's expiry is never run.
                _ if Instant::now() >= self.deadline => Err(self.past_deadline()),
                Wake::Shared => self.on_shared().await,
                Wake::Frame(frame) => self.on_frame(frame).await,
                Wake::Timer => {
                    let ping_due = Instant::now() >= next_ping;
                    if ping_due {
                        next_ping = Instant::now() + ping_every;
                    }
                    self.heartbeat(ping_due).await
                }
            };
            if let Err(end) = outcome {
                return end;
            }
        }
    }

    /// How the socket ends at its deadline: the token it was authenticated with has
    /// expired, or no `auth` came in time.
    fn past_deadline(&self) -> End {
        if self.authed.is_some() {
            End::Closed(CloseCode::Unauthorized, "token expired")
        } else {
            End::Closed(CloseCode::AuthTimeout, "no auth in time")
        }
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), End> {
        self.last_heard = Instant::now();
        match frame {
            None => Err(End::Dropped("connection ended")),
            Some(Err(error)) => Err(read_error(&error)),
            Some(Ok(Message::Text(text))) => Box::pin(self.on_text(text)).await,
            Some(Ok(Message::Binary(_))) if self.authed.is_none() => {
                Box::pin(self.refuse_before_auth(None)).await
            }
            Some(Ok(Message::Binary(_))) => {
                // Boxed like `on_text`: it is rare, and inline its future would add some
                // 300 bytes to every socket's.
                Box::pin(self.send_error(
                    None,
                    ErrorCode::BadRequest,
                    "Binary frames are not part of the protocol; send JSON text.",
                ))
                .await?;
                Err(End::Closed(CloseCode::ProtocolViolation, "binary frame"))
            }
            // The WebSocket layer answers pings itself; both only show the peer is alive.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
            Some(Ok(Message::Close(frame))) => {
                Err(End::PeerClosed(frame.map(|f| u16::from(f.code))))
            }
            // Reading yields whole messages, never raw frames.
            Some(Ok(Message::Frame(_))) => Ok(()),
        }
    }

    async fn on_text(&mut self, text: Utf8Bytes) -> Result<(), End> {
        let decoded = protocol::decode_client(&text);
        let Some(authed) = &self.authed else {
            return match decoded {
                Ok(ClientFrame::Auth { id, token }) => self.auth(id, &token).await,
                Ok(other) => self.refuse_before_auth(Some(other.id())).await,
                Err(error) => self.refuse_before_auth(error.id).await,
            };
        };
        let user = authed.user_id();
        if !self.bucket.try_take() {
            self.send_error(None, ErrorCode::RateLimited, "Too many frames; slow down.")
                .await?;
            return Err(End::Closed(CloseCode::TooMany, "too many requests"));
        }
        match decoded {
            Err(error) => {
                self.send_error(error.id, ErrorCode::BadRequest, &error.to_string())
                    .await
            }
            Ok(ClientFrame::Auth { id, token }) => self.auth(id, &token).await,
            Ok(ClientFrame::Ping { id }) => self.send(&ServerFrame::Pong { id }).await,
            Ok(ClientFrame::Subscribe { id, topic, since }) => {
                self.subscribe(user, id, topic, since).await
            }
            Ok(ClientFrame::Unsubscribe { id, topic }) => {
                self.unsubscribe(user, topic);
                self.send(&ServerFrame::Result {
                    id,
                    outcome: Outcome::Ok(MethodValue::default()),
                })
                .await
            }
            Ok(ClientFrame::Request { id, call }) => {
                let applied = self.request(user, call).await;
                // The session ended under the change (a logout on another node whose
                // word has not reached this one): the socket closes, as it is about to.
                if let Err(AppError::Unauthorized(_)) = applied {
                    return Err(End::Closed(CloseCode::Unauthorized, "session ended"));
                }
                // This socket's own events are already queued: send them first, as in
                // the contract's example, so the result never runs ahead of the events.
                while self.forward().await? {}
                let outcome = match applied {
                    Ok(applied) => Outcome::Ok(applied.outcome.value()),
                    Err(error) => Outcome::Error(error.to_api()),
                };
                self.send(&ServerFrame::Result { id, outcome }).await
            }
        }
    }

    /// A task change: on the personal board, or on a board the user may change (the
    /// change log checks, in the change's transaction, so access ends the moment a member
    /// is removed).
    async fn request(&mut self, user: Uuid, call: MethodCall) -> Result<Applied, AppError> {
        let actor = self
            .authed
            .as_ref()
            .map(Authed::actor)
            .ok_or_else(|| AppError::unauthorized("Send auth first."))?;
        let board = match call.board() {
            None => user,
            Some(_) if self.v1 => return Err(v1_refusal()),
            Some(board) => board,
        };
        // The socket's task is not cancelled when its client goes, but shutdown stops
        // waiting for sockets after a grace period: tracked, the change still runs to its
        // end first.
        let state = self.state.clone();
        self.state
            .run_to_end(async move { state.tasks.apply_on(board, actor, call).await })
            .await
            .and_then(|applied| applied)
    }

    fn unsubscribe(&mut self, user: Uuid, topic: Topic) {
        if self.subscriptions.remove(&topic).is_none() {
            return;
        }
        match topic {
            Topic::Boards => self.shared.boards.store(false, Ordering::Release),
            Topic::Tasks => self.state.fanout.unsubscribe(user, topic, self.id),
            Topic::Board(board) => self.state.fanout.unsubscribe(board, topic, self.id),
        }
    }

    /// `auth`: first on a socket, or again to swap in a fresh token.
    async fn auth(&mut self, id: u64, token: &str) -> Result<(), End> {
        let authed = match self.state.auth.authenticate(token).await {
            Ok(authed) => authed,
            // Boxed: a refusal is rare, and its future would be most of `auth`'s, which
            // every socket opening holds while it waits for the database.
            Err(error) => return Box::pin(self.refuse_auth(id, error)).await,
        };
        match &self.authed {
            Some(current)
                if current.user.id != authed.user.id
                    || current.user.acting_as_admin != authed.user.acting_as_admin =>
            {
                self.send_error(
                    Some(id),
                    ErrorCode::Unauthorized,
                    "That token is for another user.",
                )
                .await?;
                return Err(End::Closed(
                    CloseCode::Unauthorized,
                    "token of another user",
                ));
            }
            Some(current) => {
                if current.session_id != authed.session_id {
                    self.state
                        .fanout
                        .rebind(authed.user_id(), self.id, authed.session_id);
                }
            }
            None => {
                let link = SocketLink {
                    id: self.id,
                    session: authed.session_id,
                    user: MemberUser {
                        id: authed.user.id,
                        username: authed.user.username.clone(),
                    },
                    shared: self.shared.clone(),
                };
                if self.state.fanout.register(link).is_err() {
                    self.send_error(
                        Some(id),
                        ErrorCode::RateLimited,
                        "Too many open sockets for this user.",
                    )
                    .await?;
                    return Err(End::Closed(CloseCode::TooMany, "too many sockets"));
                }
                // Shutdown sets the flag, then closes every registered socket: a socket
                // registered after that sweep sees the flag here.
                if *self.state.shutdown.borrow() {
                    self.state.fanout.unregister(authed.user_id(), self.id);
                    return Err(End::Closed(CloseCode::GoingAway, "server shutting down"));
                }
            }
        }
        // A logout deletes the session, then closes the session's registered sockets. One
        // that ran after the token check above but before the registration missed this
        // socket, and its delete shows here; one that runs later finds it registered.
        let alive = match self.state.auth.session_alive(authed.session_id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AppError::unauthorized("The session has ended.")),
            Err(error) => Err(error),
        };
        if let Err(error) = alive {
            if self.authed.is_none() {
                self.state.fanout.unregister(authed.user_id(), self.id);
            }
            return Box::pin(self.refuse_auth(id, error)).await;
        }
        let left = authed.expires_at.saturating_sub(clock::unix_now()).max(0);
        self.deadline = Instant::now() + Duration::from_secs(left.unsigned_abs());
        let frame = ServerFrame::AuthOk {
            id,
            user: authed.user.clone(),
            expires_at: clock::unix_to_rfc3339(authed.expires_at),
            heartbeat_ms: self.state.config.heartbeat_ms,
        };
        self.authed = Some(authed);
        self.send(&frame).await
    }

    /// Answers a refused `auth` and closes: 4401, or 1011 when the server failed.
    async fn refuse_auth(&mut self, id: u64, error: AppError) -> Result<(), End> {
        let api = error.to_api();
        self.send_error(Some(id), api.code, &api.message).await?;
        Err(if api.code == ErrorCode::Internal {
            End::Closed(CloseCode::ServerError, "auth failed on the server")
        } else {
            End::Closed(CloseCode::Unauthorized, "auth refused")
        })
    }

    async fn refuse_before_auth(&mut self, id: Option<u64>) -> Result<(), End> {
        self.send_error(id, ErrorCode::Unauthorized, "Send auth first.")
            .await?;
        Err(End::Closed(CloseCode::Unauthorized, "frame before auth"))
    }

    /// `subscribe`: to the board list, or to a board's tasks.
    async fn subscribe(
        &mut self,
        user: Uuid,
        id: u64,
        topic: Topic,
        since: Option<Position>,
    ) -> Result<(), End> {
        if self.v1 && topic != Topic::Tasks {
            let api = v1_refusal().to_api();
            return self.send_error(Some(id), api.code, &api.message).await;
        }
        if !self.subscriptions.contains_key(&topic) && self.subscriptions.len() >= MAX_SUBSCRIPTIONS
        {
            let message = format!(
                "A socket follows at most {MAX_SUBSCRIPTIONS} topics; unsubscribe from one first."
            );
            return self
                .send_error(Some(id), ErrorCode::RateLimited, &message)
                .await;
        }
        // The board list's future is boxed: over twice the size of the others, it would set
        // the size of every frame's future (a socket opening holds one while it waits for
        // the database).
        let answer = match topic {
            Topic::Boards => Box::pin(self.subscribe_boards(user, id)).await,
            Topic::Tasks => self.subscribe_board(user, id, user, topic, since).await,
            Topic::Board(board) => self.subscribe_board(user, id, board, topic, since).await,
        };
        match answer {
            Ok(frames) => {
                for frame in &frames {
                    self.send(frame).await?;
                }
                Ok(())
            }
            Err(error) => {
                self.unsubscribe(user, topic);
                let api = error.to_api();
                self.send_error(Some(id), api.code, &api.message).await
            }
        }
    }

    /// The board list comes whole: it is small, and never replayed.
    async fn subscribe_boards(
        &mut self,
        user: Uuid,
        id: u64,
    ) -> Result<Vec<ServerFrame>, AppError> {
        self.shared.boards.store(true, Ordering::Release);
        self.subscriptions.insert(Topic::Boards, None);
        let list = self.state.boards.list(user).await?;
        self.state.fanout.seen_boards(user, list.seq);
        self.subscriptions.insert(
            Topic::Boards,
            Some((Arc::from(list.epoch.as_str()), list.seq)),
        );
        Ok(vec![ServerFrame::BoardsSnapshot {
            id,
            topic: Topic::Boards,
            epoch: list.epoch,
            seq: list.seq,
            items: list.items,
        }])
    }

    /// A board's tasks: replay when the log still holds everything after `since`, else
    /// a snapshot; then, on a `board:<id>` topic, who is there. Access is checked before
    /// the socket joins the fan-out, so a stranger never shows in the board's presence,
    /// and again after the read, so everything the answer holds was committed while the
    /// caller was a member. Events queue from the join on (those the answer covers are
    /// skipped by `forward`), so a removal committed after the second check reaches the
    /// socket as `unsubscribed`. On a cluster, events the node's delivery passed before
    /// this socket's answer was seen are read here and follow the answer.
    async fn subscribe_board(
        &mut self,
        user: Uuid,
        id: u64,
        board: Uuid,
        topic: Topic,
        since: Option<Position>,
    ) -> Result<Vec<ServerFrame>, AppError> {
        if topic != Topic::Tasks {
            self.state.boards.access(user, board).await?;
        }
        self.state.fanout.subscribe(board, topic, user, self.id);
        self.subscriptions.insert(topic, None);
        let replay = match since {
            Some(since) => self.state.tasks.since(board, since).await?,
            None => None,
        };
        let mut frames = Vec::with_capacity(2);
        let (epoch, seq) = match replay {
            Some(mut replay) => {
                for event in &mut replay.events {
                    event.topic = topic;
                }
                let position = (replay.epoch.clone(), replay.seq);
                frames.push(ServerFrame::Replay {
                    id,
                    topic,
                    epoch: replay.epoch,
                    seq: replay.seq,
                    events: replay.events,
                });
                position
            }
            None => {
                let list = self.state.tasks.snapshot(board).await?;
                let position = (list.epoch.clone(), list.seq);
                frames.push(ServerFrame::Snapshot {
                    id,
                    topic,
                    epoch: list.epoch,
                    seq: list.seq,
                    items: list.items,
                });
                position
            }
        };
        let mut seq = seq;
        if self.state.fanout.seen(board, &epoch, seq) {
            let since = Position {
                epoch: epoch.clone(),
                seq,
            };
            if let Some(replay) = self.state.tasks.since(board, since).await? {
                for mut event in replay.events {
                    event.topic = topic;
                    seq = event.seq;
                    frames.push(ServerFrame::Event(event));
                }
            }
        }
        if topic != Topic::Tasks {
            self.state.boards.access(user, board).await?;
        }
        self.subscriptions
            .insert(topic, Some((Arc::from(epoch.as_str()), seq)));
        if topic != Topic::Tasks {
            let users = self.state.fanout.present(board);
            if let Some(followed) = self.subscriptions.get_mut(&topic) {
                followed.presence = Some(fingerprint(&users));
            }
            frames.push(ServerFrame::Presence { topic, users });
        }
        Ok(frames)
    }

    /// A close request, else the queued events. The request comes first: it may be for a
    /// queue that is full.
    async fn on_shared(&mut self) -> Result<(), End> {
        loop {
            if let Some((code, reason)) = self.shared.close_request() {
                return Err(End::Closed(code, reason));
            }
            if !self.forward().await? {
                return Ok(());
            }
        }
    }

    /// Sends what is queued, up to [`BATCH`] frames in one write: a socket behind by a
    /// burst of changes catches up in a few system calls rather than one per frame. True
    /// when more may be queued.
    async fn forward(&mut self) -> Result<bool, End> {
        let mut fed = 0;
        while fed < BATCH {
            let Some(outbound) = self.shared.next_event() else {
                break;
            };
            if let Some(frame) = self.admit(&outbound) {
                let limit = self.state.config.idle_timeout();
                within(&self.pace, limit, self.socket.feed(Message::Text(frame))).await?;
                fed += 1;
            }
        }
        if fed > 0 {
            let limit = self.state.config.idle_timeout();
            within(&self.pace, limit, self.socket.flush()).await?;
        }
        Ok(fed == BATCH)
    }

    /// The frame to send, if it is of a topic the socket follows and, for a live event,
    /// not already covered by the socket's last answer. An event past the next `seq`
    /// closes the socket instead (events reach a node through the log in order, so this
    /// is the net under that, not a path taken).
    fn admit(&mut self, outbound: &Outbound) -> Option<Utf8Bytes> {
        let followed = self.subscriptions.get_mut(&outbound.topic)?;
        let position = &mut followed.sent;
        match &outbound.kind {
            OutboundKind::Event { epoch, seq } => {
                let seq = *seq;
                if let Some((last_epoch, last_seq)) = position
                    && **last_epoch == **epoch
                {
                    if seq <= *last_seq {
                        return None;
                    }
                    if seq > *last_seq + 1 {
                        // Never fed a gap: the client resumes from what it has, by
                        // replay, when it reconnects.
                        self.shared
                            .close(CloseCode::ServerError, "missed changes; resume");
                        return None;
                    }
                }
                *position = Some((epoch.clone(), seq));
            }
            OutboundKind::Ended => {
                self.subscriptions.remove(&outbound.topic);
            }
            OutboundKind::Presence { users } => {
                if followed.presence.replace(*users) == Some(*users) {
                    return None;
                }
            }
        }
        Some(outbound.frame.clone())
    }

    /// Drops a socket silent for the idle timeout; otherwise pings it when `ping_due`.
    async fn heartbeat(&mut self, ping_due: bool) -> Result<(), End> {
        if self.last_heard.elapsed() >= self.state.config.idle_timeout() {
            return Err(End::Dropped("silent for too long"));
        }
        if !ping_due {
            return Ok(());
        }
        self.write(Message::Ping(Default::default())).await
    }

    async fn send_error(
        &mut self,
        id: Option<u64>,
        code: ErrorCode,
        message: &str,
    ) -> Result<(), End> {
        self.send(&ServerFrame::Error {
            id,
            code,
            message: message.to_owned(),
        })
        .await
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), End> {
        match serde_json::to_string(frame) {
            Ok(text) => self.write(Message::Text(text.into())).await,
            Err(error) => {
                tracing::error!(socket = self.id, %error, "cannot encode a frame");
                Err(End::Closed(CloseCode::ServerError, "cannot encode a frame"))
            }
        }
    }

    async fn write(&mut self, message: Message) -> Result<(), End> {
        let limit = self.state.config.idle_timeout();
        within(&self.pace, limit, self.socket.send(message)).await
    }

    /// Sends the close frame, then waits briefly for the peer's, so the connection ends
    /// with the closing handshake rather than a reset.
    async fn close(&mut self, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code: code.as_u16().into(),
            reason: Utf8Bytes::from_static(reason),
        };
        // A peer that stopped reading could hold the send for good.
        let close = async {
            if self.socket.send(Message::Close(Some(frame))).await.is_ok() {
                self.drain().await;
            }
        };
        let _ = timeout(CLOSE_WAIT, close).await;
    }

    /// Closes with 1009 after a frame over the limit. The WebSocket layer stopped reading
    /// inside that frame, so the peer's close cannot be read back: after the close frame
    /// we end our side (FIN) and read and drop what the peer still sends until it closes,
    /// for at most `CLOSE_WAIT` and `MAX_DISCARD` bytes in all. A connection closed with
    /// unread bytes ends in a reset, which could reach the client before the 1009; past
    /// those bounds (a frame of over 32 MiB, or a link too slow to send the rest in 2 s)
    /// that can still happen, and the connection ends anyway.
    async fn close_mid_frame(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::TooBig.as_u16().into(),
            reason: Utf8Bytes::from_static("frame over 64 KiB"),
        };
        let socket = &mut self.socket;
        let close = async {
            if socket.send(Message::Close(Some(frame))).await.is_err() {
                return;
            }
            let io = socket.get_mut();
            if io.shutdown().await.is_err() {
                return;
            }
            let mut sink = [0u8; 8 * 1024];
            let mut discarded = 0;
            while discarded < MAX_DISCARD {
                match io.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => discarded += read,
                }
            }
        };
        let _ = timeout(CLOSE_WAIT, close).await;
    }

    /// Reads (and drops) what the peer still sends until its stream ends, for at most
    /// `CLOSE_WAIT`.
    async fn drain(&mut self) {
        let drain = async { while let Some(Ok(_)) = self.socket.next().await {} };
        let _ = timeout(CLOSE_WAIT, drain).await;
    }
}

fn v1_refusal() -> AppError {
    AppError::bad_request(
        "A taskwire.v1 socket sees only the personal board; offer taskwire.v2 for boards.",
    )
}

/// A read error: a frame over the limit gets its 1009; a text frame that is not UTF-8,
/// or a frame against the WebSocket rules, is the peer breaking the protocol (4400);
/// anything else (a connection ended without a close frame among them) is a broken
/// connection.
fn read_error(error: &tungstenite::Error) -> End {
    use tungstenite::error::ProtocolError as Broken;
    match error {
        tungstenite::Error::Capacity(_) => End::TooBig,
        tungstenite::Error::Utf8(_) => {
            End::Closed(CloseCode::ProtocolViolation, "text frame not UTF-8")
        }
        tungstenite::Error::Protocol(
            Broken::NonZeroReservedBits
            | Broken::UnmaskedFrameFromClient
            | Broken::FragmentedControlFrame
            | Broken::ControlFrameTooBig
            | Broken::UnknownControlFrameType(_)
            | Broken::UnknownDataFrameType(_)
            | Broken::UnexpectedContinueFrame
            | Broken::ExpectedFragment(_)
            | Broken::InvalidOpcode(_)
            | Broken::InvalidCloseSequence,
        ) => End::Closed(CloseCode::ProtocolViolation, "WebSocket protocol broken"),
        _ => End::Dropped("read failed"),
    }
}

/// A write, given up once the peer has taken nothing of what was sent for `limit` (see
/// `paced`): a slow link that keeps taking bytes has as long as it needs.
async fn within<E>(
    pace: &Pace,
    limit: Duration,
    write: impl Future<Output = Result<(), E>>,
) -> Result<(), End> {
    tokio::pin!(write);
    // The whole limit first: nearly every write is done long before, and the clock is
    // read for the peer's pace only when one is not.
    let mut left = limit;
    loop {
        match timeout(left, &mut write).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(_)) => return Err(End::Dropped("write failed")),
            Err(_) => {}
        }
        // `left` has passed since this write began or last looked: the peer's last
        // taking of bytes, if it came since, gives the write the rest of a limit.
        let idle = pace.idle_for();
        if idle >= limit {
            return Err(End::Dropped("took nothing sent for the idle timeout"));
        }
        left = limit - idle;
    }
}
