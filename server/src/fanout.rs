//! Fan-out: delivers each committed event to every socket subscribed to its topic, tells
//! a socket when its access to a board ends, merges presence, and closes sockets on
//! sign-out and shutdown.
//!
//! Who is subscribed to which board is held here, in memory, and kept right by the
//! board calls (`revoke` after a member is removed or a board deleted), so a write costs
//! no database read per recipient. Behind a trait: on PostgreSQL, `cluster::ClusterFanout`
//! wraps this one and feeds it what the other nodes did.

mod presence;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use protocol::{BoardsEvent, CloseCode, Ended, Event, MemberUser, ServerFrame, Topic};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use presence::Presence;

/// A frame on its way to sockets, serialized once, and queued as one `Arc` shared by every
/// socket it goes to.
#[derive(Debug)]
pub struct Outbound {
    pub topic: Topic,
    pub kind: OutboundKind,
    pub frame: Utf8Bytes,
}

#[derive(Debug)]
pub enum OutboundKind {
    /// A logged event at this position of the topic.
    Event { epoch: Arc<str>, seq: u64 },
    /// `unsubscribed`: the socket's subscription to the topic is over.
    Ended,
    /// `presence`: not logged, sent while the socket is subscribed; `users` is the list's
    /// [`fingerprint`], so that a socket is not sent the list it was just sent.
    Presence { users: u64 },
}

/// Which people a presence list names, as a number: equal lists, equal numbers.
pub fn fingerprint(users: &[MemberUser]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    for user in users {
        user.id.hash(&mut hasher);
    }
    hasher.finish()
}

/// What the registry and a socket's task share: the socket's queue of events, and its
/// close request.
#[derive(Debug)]
pub struct SocketShared {
    /// Whether the socket is subscribed to `boards` (its user's board list).
    pub boards: AtomicBool,
    inbox: Mutex<Inbox>,
    /// The events a socket may have waiting: one with as many is closed rather than
    /// given more. One change's events are queued whole, so the queue may go past it by
    /// those (on another node, by what the log keeps of a board).
    capacity: usize,
    /// Wakes the socket's task when an event is queued or a close is requested.
    pub wake: Notify,
}

/// A plain queue rather than a channel: a bounded channel allocates its first block of
/// slots with each socket, where an idle socket's queue here holds nothing.
#[derive(Debug, Default)]
struct Inbox {
    events: VecDeque<Arc<Outbound>>,
    close: Option<(CloseCode, &'static str)>,
}

/// A drained queue keeps room for this many events; one grown past it by a burst is
/// freed, so that the burst's high-water mark does not stay with an idle socket.
const KEPT_ROOM: usize = 16;

impl SocketShared {
    /// Shared state of a socket closed once `capacity` events wait for it.
    pub fn new(capacity: usize) -> Self {
        Self {
            boards: AtomicBool::new(false),
            inbox: Mutex::new(Inbox::default()),
            capacity,
            wake: Notify::new(),
        }
    }

    /// Asks the socket to close with `code`. The first request wins. The socket heeds it
    /// before its queue, so it works even when that queue is full.
    pub fn close(&self, code: CloseCode, reason: &'static str) {
        let mut inbox = lock(&self.inbox);
        if inbox.close.is_none() {
            inbox.close = Some((code, reason));
            self.wake.notify_one();
        }
    }

    pub fn close_request(&self) -> Option<(CloseCode, &'static str)> {
        lock(&self.inbox).close
    }

    /// Queues `outbounds` whole; false when the queue is full before them. One change
    /// may be many events (clearing hundreds of done tasks), handed over at once: a socket
    /// that keeps up takes them all, and only one already behind is refused them.
    fn push(&self, outbounds: &[Arc<Outbound>]) -> bool {
        let mut inbox = lock(&self.inbox);
        if inbox.events.len() >= self.capacity {
            return false;
        }
        inbox.events.extend(outbounds.iter().cloned());
        drop(inbox);
        self.wake.notify_one();
        true
    }

    /// The oldest queued event.
    pub fn next_event(&self) -> Option<Arc<Outbound>> {
        let mut inbox = lock(&self.inbox);
        let next = inbox.events.pop_front();
        if inbox.events.is_empty() && inbox.events.capacity() > KEPT_ROOM {
            inbox.events = VecDeque::new();
        }
        next
    }
}

/// A registered socket, as the registry holds it.
#[derive(Debug, Clone)]
pub struct SocketLink {
    pub id: u64,
    pub session: Uuid,
    /// Who the socket belongs to, as presence names them.
    pub user: MemberUser,
    pub shared: Arc<SocketShared>,
}

impl SocketLink {
    /// Queues `outbounds`; a socket too far behind to take them is closed, and catches
    /// up by replay when it reconnects.
    fn deliver(&self, outbounds: &[Arc<Outbound>]) {
        if !self.shared.push(outbounds) {
            self.shared.close(TOO_SLOW, "too far behind");
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("too many open sockets for this user")]
pub struct TooManySockets;

/// What a long poll (`GET /api/changes`) waits on: woken whenever a change of its topic
/// is published. Dropped with the poll.
pub type ChangeWatch = Arc<Notify>;

/// Below this many entries, the long polls' map is not swept.
const SWEEP_FROM: usize = 1024;

/// The long polls waiting, by board or by user; an entry lives as long as one of them.
#[derive(Debug, Default)]
struct Watches(Mutex<WatchMap>);

#[derive(Debug, Default)]
struct WatchMap {
    watches: HashMap<Uuid, Weak<Notify>>,
    /// The size at which the map is next swept.
    sweep_at: usize,
}

impl Watches {
    fn watch(&self, key: Uuid) -> ChangeWatch {
        let mut map = lock(&self.0);
        if let Some(watch) = map.watches.get(&key).and_then(Weak::upgrade) {
            return watch;
        }
        let watch = Arc::new(Notify::new());
        // Entries whose polls are gone go when their key is next woken; a key never woken
        // again (a deleted board's) would stay for good: swept here, once the map has
        // doubled since the last sweep.
        if map.watches.len() >= map.sweep_at.max(SWEEP_FROM) {
            map.watches.retain(|_, watch| watch.strong_count() > 0);
            map.sweep_at = 2 * map.watches.len();
        }
        map.watches.insert(key, Arc::downgrade(&watch));
        watch
    }

    fn wake_all(&self) {
        for watch in lock(&self.0).watches.values().filter_map(Weak::upgrade) {
            watch.notify_waiters();
        }
    }

    fn wake(&self, key: Uuid) {
        let watches = &mut lock(&self.0).watches;
        match watches.get(&key).map(Weak::upgrade) {
            Some(Some(watch)) => watch.notify_waiters(),
            Some(None) => {
                watches.remove(&key);
            }
            None => {}
        }
    }
}

pub trait Fanout: Send + Sync {
    /// A watch on `board`'s changes, for a long poll.
    fn watch(&self, board: Uuid) -> ChangeWatch;
    /// A watch on `user`'s board list, for a long poll.
    fn watch_boards(&self, user: Uuid) -> ChangeWatch;
    /// A watch on `session`'s end, for a long poll: one waiting when its session is
    /// ended (a sign-out everywhere, elsewhere) answers at once.
    fn watch_session(&self, session: Uuid) -> ChangeWatch;
    /// Adds an authenticated socket, unless its user already has the most sockets
    /// allowed.
    fn register(&self, link: SocketLink) -> Result<(), TooManySockets>;
    /// Moves a socket to another session of its user (an in-band `auth` with a token of
    /// a newer session).
    fn rebind(&self, user: Uuid, socket: u64, session: Uuid);
    /// Removes a socket and every subscription it holds.
    fn unregister(&self, user: Uuid, socket: u64);
    /// Subscribes a registered socket to `board`'s events, named `topic` (`tasks` or
    /// `board:<id>`). The caller checks access after this, so that a `revoke` racing
    /// with the subscribe is never missed.
    fn subscribe(&self, board: Uuid, topic: Topic, user: Uuid, socket: u64);
    fn unsubscribe(&self, board: Uuid, topic: Topic, socket: u64);
    /// Everyone with a live `board:<id>` subscription to `board`, one entry per person:
    /// what a subscribe answer tells its socket.
    fn present(&self, board: Uuid) -> Vec<MemberUser>;
    /// Sends a board's events (one change's, or what the log holds past a point), in
    /// order, to every socket subscribed to it, and wakes its long polls.
    fn publish(&self, board: Uuid, events: &[Event]);
    /// As `publish`, for a change made here that read who may read the board
    /// (`Applied::readers`). Where a member can be removed through another node, a
    /// subscriber here who is not among them was, and the word (which ends their
    /// subscription) has not come yet: the events do not go to them.
    fn publish_read_by(&self, board: Uuid, events: &[Event], _readers: Option<&[Uuid]>) {
        self.publish(board, events);
    }
    /// Sends a change of `user`'s board list to their sockets subscribed to `boards`, and
    /// wakes their long polls on it.
    fn publish_boards(&self, user: Uuid, event: &BoardsEvent);
    /// A socket's subscribe answer put it at `seq` of `board`'s log: where the node's
    /// own delivery of the board can start, if it has none yet (`ClusterFanout`). True
    /// when that delivery is already past `seq` in the same epoch: another socket's
    /// answer, read later, started it there, and the events in between were never queued
    /// for this socket, which must read them itself.
    fn seen(&self, _board: Uuid, _epoch: &str, _seq: u64) -> bool {
        false
    }
    /// A socket's `boards` subscribe answer was the list at `seq`.
    fn seen_boards(&self, _user: Uuid, _seq: u64) {}
    /// Ends the subscriptions to `board` of `user` (or of everyone, when the board is
    /// gone) with `unsubscribed`.
    fn revoke(&self, board: Uuid, user: Option<Uuid>, reason: Ended);
    fn close_sessions(&self, sessions: &[Uuid], code: CloseCode, reason: &'static str);
    fn close_all(&self, code: CloseCode, reason: &'static str);
}

/// Close code for a socket that fell so far behind that its queue filled up: it
/// reconnects and catches up by replay.
const TOO_SLOW: CloseCode = CloseCode::ServerError;

/// One socket's subscription to a board.
#[derive(Debug)]
struct Subscriber {
    topic: Topic,
    link: SocketLink,
}

/// Every socket of this process.
#[derive(Debug, Default)]
struct Registry {
    users: HashMap<Uuid, Vec<SocketLink>>,
    boards: HashMap<Uuid, Vec<Subscriber>>,
}

impl Registry {
    fn link(&self, user: Uuid, socket: u64) -> Option<&SocketLink> {
        self.users.get(&user)?.iter().find(|link| link.id == socket)
    }

    fn each(&self, mut visit: impl FnMut(&SocketLink)) {
        for link in self.users.values().flatten() {
            visit(link);
        }
    }
}

#[derive(Debug)]
pub struct LocalFanout {
    max_per_user: usize,
    registry: Mutex<Registry>,
    /// Long polls on a board's tasks, by board.
    board_polls: Watches,
    /// Long polls on a board list, by user.
    list_polls: Watches,
    /// Long polls, by session, woken as their session is ended.
    session_polls: Watches,
    presence: Presence,
    /// Who is on each board through other server nodes (`ClusterFanout`).
    remote: Mutex<HashMap<Uuid, Vec<MemberUser>>>,
}

impl LocalFanout {
    pub fn new(max_per_user: usize) -> Arc<Self> {
        Arc::new_cyclic(|me: &Weak<Self>| Self {
            max_per_user: max_per_user.max(1),
            registry: Mutex::new(Registry::default()),
            board_polls: Watches::default(),
            list_polls: Watches::default(),
            session_polls: Watches::default(),
            presence: Presence::new(me.clone()),
            remote: Mutex::new(HashMap::new()),
        })
    }

    /// Who is on `board` through this node's sockets only.
    pub fn present_here(&self, board: Uuid) -> Vec<MemberUser> {
        present_in(&lock(&self.registry), board, &[])
    }

    /// Who is on `board` through other nodes; presence goes out if that changed what
    /// this node's subscribers see.
    pub fn set_remote(&self, board: Uuid, users: Vec<MemberUser>) {
        let changed = {
            let mut remote = lock(&self.remote);
            let before = remote.get(&board).map_or(&[][..], Vec::as_slice);
            if before == users.as_slice() {
                false
            } else {
                if users.is_empty() {
                    remote.remove(&board);
                } else {
                    remote.insert(board, users);
                }
                true
            }
        };
        if changed {
            self.presence.touch(board);
        }
    }

    /// Boards some socket here is subscribed to.
    pub fn subscribed_boards(&self) -> Vec<Uuid> {
        lock(&self.registry).boards.keys().copied().collect()
    }

    /// Who follows each board here: every (board, user) once.
    pub fn board_followers(&self) -> Vec<(Uuid, Uuid)> {
        let registry = lock(&self.registry);
        let mut followers: Vec<(Uuid, Uuid)> = registry
            .boards
            .iter()
            .flat_map(|(board, subscribers)| subscribers.iter().map(|s| (*board, s.link.user.id)))
            .collect();
        followers.sort_unstable();
        followers.dedup();
        followers
    }

    /// `publish`, to the subscribers among `readers` (sorted) only, when given (see
    /// `Fanout::publish_read_by`).
    pub fn publish_among(&self, board: Uuid, events: &[Event], readers: Option<&[Uuid]>) {
        if events.is_empty() {
            return;
        }
        self.board_polls.wake(board);
        let registry = lock(&self.registry);
        let Some(subscribers) = registry.boards.get(&board) else {
            return;
        };
        // Each topic's frames, encoded once: at most two topics, the v1 name `tasks`
        // (personal board) and `board:<id>`.
        let mut frames: Vec<(Topic, Vec<Arc<Outbound>>)> = Vec::with_capacity(2);
        let reads = |subscriber: &&Subscriber| {
            readers.is_none_or(|readers| readers.binary_search(&subscriber.link.user.id).is_ok())
        };
        for subscriber in subscribers.iter().filter(reads) {
            let topic = subscriber.topic;
            let at = match frames.iter().position(|(encoded, _)| *encoded == topic) {
                Some(at) => at,
                None => {
                    frames.push((topic, encode_events(topic, events)));
                    frames.len() - 1
                }
            };
            subscriber.link.deliver(&frames[at].1);
        }
    }

    /// The people subscribed here to `board`, each once.
    pub fn readers_here(&self, board: Uuid) -> Vec<Uuid> {
        let registry = lock(&self.registry);
        let mut users: Vec<Uuid> = registry
            .boards
            .get(&board)
            .into_iter()
            .flatten()
            .map(|subscriber| subscriber.link.user.id)
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// The sessions of the sockets here, each once.
    pub fn sessions(&self) -> Vec<Uuid> {
        let mut sessions = Vec::new();
        lock(&self.registry).each(|link| sessions.push(link.session));
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// Users with a socket here subscribed to their board list.
    pub fn list_subscribers(&self) -> Vec<Uuid> {
        let registry = lock(&self.registry);
        registry
            .users
            .iter()
            .filter(|(_, links)| {
                links
                    .iter()
                    .any(|link| link.shared.boards.load(Ordering::Acquire))
            })
            .map(|(user, _)| *user)
            .collect()
    }

    /// Wakes the long polls on `board` (another node changed it; they read the log).
    pub fn wake_polls(&self, board: Uuid) {
        self.board_polls.wake(board);
    }

    /// Wakes every long poll, to read again what they may have missed.
    pub fn wake_all_polls(&self) {
        self.board_polls.wake_all();
        self.list_polls.wake_all();
    }

    /// Closes the sockets subscribed to `board`: they missed events this node can no
    /// longer replay, and resume by replay or snapshot when they reconnect.
    pub fn close_board_subscribers(&self, board: Uuid, code: CloseCode, reason: &'static str) {
        let registry = lock(&self.registry);
        for subscriber in registry.boards.get(&board).into_iter().flatten() {
            subscriber.link.shared.close(code, reason);
        }
    }

    /// Closes `user`'s sockets subscribed to their board list: it changed in a way
    /// this node did not hear of, and they get it whole when they reconnect.
    pub fn close_list_subscribers(&self, user: Uuid, code: CloseCode, reason: &'static str) {
        let registry = lock(&self.registry);
        for link in registry.users.get(&user).into_iter().flatten() {
            if link.shared.boards.load(Ordering::Acquire) {
                link.shared.close(code, reason);
            }
        }
    }

    /// Removes a socket; returns the boards it was on.
    pub fn unregister_from(&self, user: Uuid, socket: u64) -> Vec<Uuid> {
        let mut left = Vec::new();
        {
            let mut registry = lock(&self.registry);
            if let Some(links) = registry.users.get_mut(&user) {
                links.retain(|link| link.id != socket);
                if links.is_empty() {
                    registry.users.remove(&user);
                }
            }
            registry.boards.retain(|board, subscribers| {
                let before = subscribers.len();
                subscribers.retain(|s| s.link.id != socket);
                if subscribers.len() != before {
                    left.push(*board);
                }
                !subscribers.is_empty()
            });
        }
        for board in &left {
            self.presence.touch(*board);
        }
        left
    }

    /// Sends `board`'s presence to its `board:<id>` subscribers, unless it is what they
    /// were last sent.
    fn send_presence(&self, board: Uuid) {
        let registry = lock(&self.registry);
        let users = present_in(&registry, board, &self.remote_on(board));
        if !self.presence.changed(board, &users) {
            return;
        }
        let Some(subscribers) = registry.boards.get(&board) else {
            return;
        };
        let topic = Topic::Board(board);
        let listed = fingerprint(&users);
        let Some(frame) = encode(&ServerFrame::Presence { topic, users }) else {
            return;
        };
        let outbound = Arc::new(Outbound {
            topic,
            kind: OutboundKind::Presence { users: listed },
            frame,
        });
        for subscriber in subscribers.iter().filter(|s| s.topic == topic) {
            subscriber.link.deliver(std::slice::from_ref(&outbound));
        }
    }
}

impl LocalFanout {
    fn remote_on(&self, board: Uuid) -> Vec<MemberUser> {
        lock(&self.remote).get(&board).cloned().unwrap_or_default()
    }
}

/// Who is on `board` now: one entry per person with a `board:<id>` subscription here, or
/// on another node (`remote`).
fn present_in(registry: &Registry, board: Uuid, remote: &[MemberUser]) -> Vec<MemberUser> {
    let mut users: Vec<MemberUser> = registry
        .boards
        .get(&board)
        .into_iter()
        .flatten()
        .filter(|s| s.topic == Topic::Board(board))
        .map(|s| s.link.user.clone())
        .chain(remote.iter().cloned())
        .collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    users.dedup_by_key(|user| user.id);
    users
}

impl Fanout for LocalFanout {
    fn watch(&self, board: Uuid) -> ChangeWatch {
        self.board_polls.watch(board)
    }

    fn watch_boards(&self, user: Uuid) -> ChangeWatch {
        self.list_polls.watch(user)
    }

    fn watch_session(&self, session: Uuid) -> ChangeWatch {
        self.session_polls.watch(session)
    }

    fn register(&self, link: SocketLink) -> Result<(), TooManySockets> {
        let mut registry = lock(&self.registry);
        let links = registry.users.entry(link.user.id).or_default();
        if links.len() >= self.max_per_user {
            return Err(TooManySockets);
        }
        links.push(link);
        Ok(())
    }

    fn rebind(&self, user: Uuid, socket: u64, session: Uuid) {
        let mut registry = lock(&self.registry);
        if let Some(links) = registry.users.get_mut(&user) {
            for link in links.iter_mut().filter(|link| link.id == socket) {
                link.session = session;
            }
        }
    }

    fn unregister(&self, user: Uuid, socket: u64) {
        self.unregister_from(user, socket);
    }

    fn subscribe(&self, board: Uuid, topic: Topic, user: Uuid, socket: u64) {
        {
            let mut registry = lock(&self.registry);
            let Some(link) = registry.link(user, socket).cloned() else {
                return;
            };
            let subscribers = registry.boards.entry(board).or_default();
            subscribers.retain(|s| !(s.link.id == socket && s.topic == topic));
            subscribers.push(Subscriber { topic, link });
        }
        self.presence.touch(board);
    }

    fn unsubscribe(&self, board: Uuid, topic: Topic, socket: u64) {
        {
            let mut registry = lock(&self.registry);
            if let Some(subscribers) = registry.boards.get_mut(&board) {
                subscribers.retain(|s| !(s.link.id == socket && s.topic == topic));
                if subscribers.is_empty() {
                    registry.boards.remove(&board);
                }
            }
        }
        self.presence.touch(board);
    }

    fn present(&self, board: Uuid) -> Vec<MemberUser> {
        let remote = self.remote_on(board);
        let users = present_in(&lock(&self.registry), board, &remote);
        self.presence.answered(board, &users);
        users
    }

    fn publish(&self, board: Uuid, events: &[Event]) {
        self.publish_among(board, events, None);
    }

    fn publish_boards(&self, user: Uuid, event: &BoardsEvent) {
        self.list_polls.wake(user);
        let Some(frame) = encode(&ServerFrame::BoardsEvent(event.clone())) else {
            return;
        };
        let outbound = Arc::new(Outbound {
            topic: Topic::Boards,
            kind: OutboundKind::Event {
                epoch: Arc::from(event.epoch.as_str()),
                seq: event.seq,
            },
            frame,
        });
        let registry = lock(&self.registry);
        for link in registry.users.get(&user).into_iter().flatten() {
            if link.shared.boards.load(Ordering::Acquire) {
                link.deliver(std::slice::from_ref(&outbound));
            }
        }
    }

    fn revoke(&self, board: Uuid, user: Option<Uuid>, reason: Ended) {
        // Its long polls look again, and one of someone who lost access is answered so.
        self.board_polls.wake(board);
        {
            let mut registry = lock(&self.registry);
            let Some(subscribers) = registry.boards.get_mut(&board) else {
                return;
            };
            let (ended, kept): (Vec<Subscriber>, Vec<Subscriber>) = subscribers
                .drain(..)
                .partition(|s| user.is_none_or(|user| s.link.user.id == user));
            *subscribers = kept;
            if subscribers.is_empty() {
                registry.boards.remove(&board);
            }
            for subscriber in ended {
                let topic = subscriber.topic;
                if let Some(frame) = encode(&ServerFrame::Unsubscribed { topic, reason }) {
                    subscriber.link.deliver(&[Arc::new(Outbound {
                        topic,
                        kind: OutboundKind::Ended,
                        frame,
                    })]);
                }
            }
        }
        self.presence.touch(board);
    }

    fn close_sessions(&self, sessions: &[Uuid], code: CloseCode, reason: &'static str) {
        lock(&self.registry).each(|link| {
            if sessions.contains(&link.session) {
                link.shared.close(code, reason);
            }
        });
        for session in sessions {
            self.session_polls.wake(*session);
        }
    }

    fn close_all(&self, code: CloseCode, reason: &'static str) {
        lock(&self.registry).each(|link| link.shared.close(code, reason));
    }
}

/// `events` as `topic`'s frames, each with its place in the log. One that cannot be
/// encoded is left out: the socket sees the gap in `seq` and resumes.
fn encode_events(topic: Topic, events: &[Event]) -> Vec<Arc<Outbound>> {
    events
        .iter()
        .filter_map(|event| {
            let frame = encode(&ServerFrame::Event(Event {
                topic,
                ..event.clone()
            }))?;
            Some(Arc::new(Outbound {
                topic,
                kind: OutboundKind::Event {
                    epoch: Arc::from(event.epoch.as_str()),
                    seq: event.seq,
                },
                frame,
            }))
        })
        .collect()
}

fn encode(frame: &ServerFrame) -> Option<Utf8Bytes> {
    match serde_json::to_string(frame) {
        Ok(text) => Some(Utf8Bytes::from(text)),
        Err(error) => {
            tracing::error!(%error, "cannot encode a frame");
            None
        }
    }
}

/// Locks a mutex of plain data; a panic elsewhere while it was held leaves nothing
/// half-done that matters here, so a poisoned lock is used as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Change;
    use std::time::Duration;

    fn link(id: u64, user: Uuid, queue: usize) -> (SocketLink, Arc<SocketShared>) {
        let shared = Arc::new(SocketShared::new(queue));
        (
            SocketLink {
                id,
                session: Uuid::nil(),
                user: MemberUser {
                    id: user,
                    username: format!("user{id}"),
                },
                shared: shared.clone(),
            },
            shared,
        )
    }

    fn event(board: Uuid, seq: u64) -> Event {
        Event {
            topic: Topic::Board(board),
            epoch: "e".into(),
            seq,
            change: Change::Delete { id: Uuid::nil() },
        }
    }

    #[tokio::test]
    async fn one_frame_per_topic_name_reaches_every_subscriber_of_the_board_only() {
        let fanout = LocalFanout::new(2);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let (a1, rx1) = link(1, alice, 8);
        let (a2, rx2) = link(2, alice, 8);
        let (b1, rx3) = link(3, bob, 8);
        let (a3, rx4) = link(4, alice, 8);
        fanout.register(a1).expect("room");
        fanout.register(a2).expect("room");
        fanout.register(b1).expect("room");
        assert!(fanout.register(a3).is_err());
        // Alice's personal board, by its v1 name on one socket and its v2 name on the
        // other; Bob is not subscribed.
        fanout.subscribe(alice, Topic::Tasks, alice, 1);
        fanout.subscribe(alice, Topic::Board(alice), alice, 2);
        fanout.publish(alice, &[event(alice, 1)]);
        let one = rx1.next_event().expect("1");
        let two = loop {
            let next = rx2.next_event().expect("2");
            if matches!(next.kind, OutboundKind::Event { .. }) {
                break next;
            }
        };
        assert!(one.frame.as_str().contains(r#""topic":"tasks""#));
        assert!(two.frame.as_str().contains(&format!("board:{alice}")));
        assert!(rx3.next_event().is_none());
        assert!(rx4.next_event().is_none());
    }

    #[tokio::test]
    async fn a_full_queue_closes_the_socket() {
        let fanout = LocalFanout::new(1);
        let user = Uuid::new_v4();
        let (slow, shared) = link(1, user, 1);
        fanout.register(slow).expect("room");
        fanout.subscribe(user, Topic::Tasks, user, 1);
        fanout.publish(user, &[event(user, 1)]);
        assert_eq!(shared.close_request(), None);
        fanout.publish(user, &[event(user, 2)]);
        assert_eq!(shared.close_request(), Some((TOO_SLOW, "too far behind")));
    }

    #[tokio::test]
    async fn a_revoked_member_is_told_once_and_hears_nothing_more() {
        let fanout = LocalFanout::new(4);
        let (owner, member, board) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (o, orx) = link(1, owner, 8);
        let (m, mrx) = link(2, member, 8);
        fanout.register(o).expect("room");
        fanout.register(m).expect("room");
        fanout.subscribe(board, Topic::Board(board), owner, 1);
        fanout.subscribe(board, Topic::Board(board), member, 2);
        fanout.revoke(board, Some(member), Ended::Removed);
        fanout.publish(board, &[event(board, 1)]);
        let kinds = |rx: &SocketShared| {
            std::iter::from_fn(|| rx.next_event())
                .filter(|o| !matches!(o.kind, OutboundKind::Presence { .. }))
                .map(|o| o.frame.to_string())
                .collect::<Vec<_>>()
        };
        let member_frames = kinds(&mrx);
        assert_eq!(member_frames.len(), 1, "{member_frames:?}");
        assert!(member_frames[0].contains(r#""reason":"removed""#));
        assert_eq!(kinds(&orx).len(), 1);
        assert_eq!(fanout.present(board).len(), 1);
    }

    /// Presence frames one socket got, each as the usernames it lists.
    fn presences(rx: &SocketShared) -> Vec<Vec<String>> {
        std::iter::from_fn(|| rx.next_event())
            .filter(|o| matches!(o.kind, OutboundKind::Presence { .. }))
            .map(|o| {
                let frame: serde_json::Value =
                    serde_json::from_str(o.frame.as_str()).expect("a presence frame");
                frame["users"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|u| u["username"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn presence_goes_out_at_once_then_at_most_once_a_second_with_changes_merged() {
        let fanout = LocalFanout::new(4);
        let board = Uuid::new_v4();
        let mut first = None;
        for n in 1..=4 {
            let (socket, rx) = link(n, Uuid::new_v4(), 16);
            let user = socket.user.id;
            fanout.register(socket).expect("room");
            fanout.subscribe(board, Topic::Board(board), user, n);
            if n == 1 {
                first = Some(rx);
            }
        }
        let first = first.expect("the first socket");
        // The first join goes out at once; the three within the same second wait.
        assert_eq!(presences(&first), [vec!["user1"]]);
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(presences(&first).is_empty());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            presences(&first),
            [vec!["user1", "user2", "user3", "user4"]]
        );
        // A leave and a join within the next second: one frame once it is over.
        fanout.unsubscribe(board, Topic::Board(board), 4);
        let (late, _) = link(5, Uuid::new_v4(), 16);
        let late_user = late.user.id;
        fanout.register(late).expect("room");
        fanout.subscribe(board, Topic::Board(board), late_user, 5);
        assert!(presences(&first).is_empty());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            presences(&first),
            [vec!["user1", "user2", "user3", "user5"]]
        );
    }

    /// A socket told who is here in its subscribe answer, between two sends, hears of a
    /// leave that brings the set back to what the others were sent last.
    #[tokio::test(start_paused = true)]
    async fn a_subscribe_answer_between_sends_is_followed_by_the_next_set() {
        let fanout = LocalFanout::new(4);
        let board = Uuid::new_v4();
        let topic = Topic::Board(board);
        let join = |socket: SocketLink| {
            let (user, id) = (socket.user.id, socket.id);
            fanout.register(socket).expect("room");
            fanout.subscribe(board, topic, user, id);
        };
        let (first, first_rx) = link(1, Uuid::new_v4(), 16);
        let first_user = first.user.clone();
        join(first);
        assert_eq!(presences(&first_rx), [vec!["user1"]]);
        // Within the second: another joins (its send waits), a second tab of the first
        // person subscribes and is answered with both, then the other leaves.
        join(link(2, Uuid::new_v4(), 16).0);
        let (mut tab, tab_rx) = link(3, first_user.id, 16);
        tab.user = first_user;
        join(tab);
        assert_eq!(fanout.present(board).len(), 2, "the tab is told of both");
        fanout.unsubscribe(board, topic, 2);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            presences(&tab_rx),
            [vec!["user1"]],
            "the tab hears of the leave"
        );
    }

    #[test]
    fn the_watches_of_polls_gone_do_not_pile_up() {
        let watches = Watches::default();
        for _ in 0..10 * SWEEP_FROM {
            drop(watches.watch(Uuid::new_v4()));
        }
        let left = lock(&watches.0).watches.len();
        assert!(left <= SWEEP_FROM, "{left} entries left");
        let kept = watches.watch(Uuid::new_v4());
        for _ in 0..10 * SWEEP_FROM {
            drop(watches.watch(Uuid::new_v4()));
        }
        let map = lock(&watches.0);
        assert!(
            map.watches
                .values()
                .any(|w| w.ptr_eq(&Arc::downgrade(&kept)))
        );
    }
}
