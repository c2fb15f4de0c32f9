//! Several server nodes on one PostgreSQL database. Each node keeps its own sockets in
//! a `LocalFanout`; this wraps it and keeps it in step with what the other nodes do.
//!
//! The change log in the database is the truth. A write's transaction takes the board's
//! next `seq` under a row lock and sends a `NOTIFY` hint (`Hint`) that commits with it.
//! Every node listens; a node with subscribers to that board reads the events it has not
//! delivered yet from the log, in order, and hands them to its sockets. A node's own
//! writes go out at once when they follow what it delivered last, and through the log
//! otherwise. The hint is only a hint: a listener that reconnects, or that stays silent
//! (its own pings stop coming back), leads to a catch-up of every board from the log,
//! and a check every second compares each followed board's `log_seq` with what the node
//! delivered. A socket that would still see a gap is closed and resumes (`ws`).

mod hint;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::{BoardsEvent, CloseCode, Ended, Event, MemberUser, Position, Topic};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::changelog::ChangeLog;
use crate::db::{CHANNEL, EPOCH_KEY};
use crate::fanout::{ChangeWatch, Fanout, LocalFanout, SocketLink, TooManySockets, lock};
pub use hint::{Hint, SESSIONS_PER_HINT};

/// How often a node checks the boards it follows against the log, says it is alive, and
/// pings its own listener.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// A listener that heard nothing (not even the pings every node sends each second) for
/// this long is taken for dead and replaced.
const SILENT_AFTER: Duration = Duration::from_secs(4);
/// A node not heard from for this long is gone: its people leave every board's presence.
const NODE_GONE_AFTER_SECS: i64 = 5;
/// How long the listener waits before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_millis(250);

/// Close code and reason for a socket this node cannot bring up to date in place.
const RESUME: (CloseCode, &str) = (CloseCode::ServerError, "missed changes; resume");

/// Where this node's sockets are in a board's log.
#[derive(Debug, Clone)]
struct Cursor {
    epoch: Arc<str>,
    seq: u64,
}

/// What reaches the relay task.
enum Work {
    Hint(Hint),
    /// The listener is down: hints are being missed until it is back.
    Deaf,
    /// The listener connected again: anything may have been missed.
    Reconnected,
    /// A board whose events this node must read from the log.
    CatchUp(Uuid),
    /// Who is on a board through this node changed.
    PresenceChanged(Uuid),
}

pub struct ClusterFanout {
    local: Arc<LocalFanout>,
    pool: PgPool,
    log: Arc<dyn ChangeLog>,
    /// This process, as other nodes see it in `nodes` and `presence`.
    node: String,
    cursors: Mutex<HashMap<Uuid, Cursor>>,
    /// The last board-list `seq` each user's sockets here were sent or answered with.
    lists: Mutex<HashMap<Uuid, u64>>,
    /// Lists found ahead of `lists` in the database at the last check, with the `seq`
    /// seen there: still behind at the next check, their hint was lost, not in flight.
    lists_behind: Mutex<HashMap<Uuid, u64>>,
    /// Boards whose presence here changed and is not stored yet: a crowd joining at
    /// once costs one write, not one per socket.
    presence_dirty: Mutex<HashSet<Uuid>>,
    /// From the listener's loss until what it missed has been looked up: a removal's
    /// word may be among what was missed (only the relay task reads and writes it).
    deaf: AtomicBool,
    work: mpsc::UnboundedSender<Work>,
}

impl ClusterFanout {
    /// Joins the cluster: registers the node, starts listening (before the first
    /// socket can subscribe) and starts the relay task, which ends at `shutdown`.
    pub async fn start(
        pool: PgPool,
        log: Arc<dyn ChangeLog>,
        max_per_user: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, sqlx::Error> {
        let node = Uuid::new_v4().to_string();
        sqlx::query("INSERT INTO nodes (id, seen_at) VALUES ($1, now())")
            .bind(&node)
            .execute(&pool)
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let (work, inbox) = mpsc::unbounded_channel();
        let me = Arc::new(Self {
            local: LocalFanout::new(max_per_user),
            pool: pool.clone(),
            log,
            node,
            cursors: Mutex::new(HashMap::new()),
            lists: Mutex::new(HashMap::new()),
            lists_behind: Mutex::new(HashMap::new()),
            presence_dirty: Mutex::new(HashSet::new()),
            deaf: AtomicBool::new(false),
            work: work.clone(),
        });
        tokio::spawn(listen(listener, pool, work, shutdown.clone()));
        tokio::spawn(relay(Arc::downgrade(&me), inbox, shutdown));
        tracing::info!(node = %me.node, "joined the cluster");
        Ok(me)
    }

    fn presence_changed(&self, boards: impl IntoIterator<Item = Uuid>) {
        let mut dirty = lock(&self.presence_dirty);
        for board in boards {
            if dirty.insert(board) {
                let _ = self.work.send(Work::PresenceChanged(board));
            }
        }
    }

    /// Hands `events` (of one board, in order, read from the log) to the sockets here,
    /// skipping those already delivered.
    fn deliver(&self, board: Uuid, epoch: &str, events: &[Event], readers: Option<&[Uuid]>) {
        let mut cursors = lock(&self.cursors);
        let cursor = cursors.entry(board).or_insert_with(|| Cursor {
            epoch: Arc::from(epoch),
            seq: 0,
        });
        if &*cursor.epoch != epoch {
            *cursor = Cursor {
                epoch: Arc::from(epoch),
                seq: 0,
            };
        }
        let Some(from) = events.iter().position(|event| event.seq > cursor.seq) else {
            return;
        };
        let fresh = &events[from..];
        self.local.publish_among(board, fresh, readers);
        if let Some(last) = fresh.last() {
            cursor.seq = last.seq;
        }
    }

    /// A write of this node to those subscribed here (to those among `readers`, when
    /// given): out at once as far as it follows what the sockets here were sent last;
    /// past a gap (another node wrote in between) through the log.
    fn publish_among(&self, board: Uuid, events: &[Event], readers: Option<&[Uuid]>) {
        if events.is_empty() {
            return;
        }
        let mut cursors = lock(&self.cursors);
        let Some(cursor) = cursors.get_mut(&board) else {
            self.local.wake_polls(board);
            return;
        };
        let same_epoch = |event: &Event| *cursor.epoch == *event.epoch;
        let from = events
            .iter()
            .take_while(|event| same_epoch(event) && event.seq <= cursor.seq)
            .count();
        let next = events[from..]
            .iter()
            .zip(cursor.seq + 1..)
            .take_while(|(event, seq)| same_epoch(event) && event.seq == *seq)
            .count();
        let follows = &events[from..from + next];
        if let Some(last) = follows.last() {
            cursor.seq = last.seq;
            self.local.publish_among(board, follows, readers);
        }
        if from + next < events.len() {
            let _ = self.work.send(Work::CatchUp(board));
        }
    }

    /// The members of `board` now, before events read from the log go out, where the word
    /// of a removal through another node may not have come (see `catch_up`); `None`
    /// for a person's own board (it has their id, and is theirs for good), or when they
    /// cannot be read.
    async fn readers(&self, board: Uuid) -> Option<Vec<Uuid>> {
        let here = self.local.readers_here(board);
        if here.iter().all(|user| *user == board) {
            return None;
        }
        let members = sqlx::query_scalar::<_, String>(
            "SELECT user_id FROM board_members WHERE board_id = $1",
        )
        .bind(board.to_string())
        .fetch_all(&self.pool)
        .await;
        match members {
            Ok(members) => {
                let mut readers: Vec<Uuid> = members
                    .iter()
                    .filter_map(|user| Uuid::parse_str(user).ok())
                    .collect();
                readers.sort_unstable();
                Some(readers)
            }
            Err(error) => {
                tracing::warn!(%error, %board, "cannot read the board's members");
                None
            }
        }
    }

    /// Reads from the log what this node's sockets on `board` have not been sent: up to
    /// the hint's `seq` when made for one (`hinted`), but the log read has no end. Only to
    /// those still members, when the read may come before a removal's word: hints come
    /// in the order their changes committed, so a removal's is handled before the hint of
    /// a later change; but a read past its hint's `seq`, or one made for no hint (the
    /// second's check, a gap found by a write here), takes in changes whose hints, and a
    /// removal's before them, are still to come, and while the listener is down (`deaf`)
    /// the word may be lost. A subscriber left out is ended by that word, or by the
    /// look-up after the listener is back; one who joined since got what was left out in
    /// their subscribe's answer.
    async fn catch_up(&self, board: Uuid, hinted: Option<u64>) {
        let Some(cursor) = lock(&self.cursors).get(&board).cloned() else {
            self.local.wake_polls(board);
            return;
        };
        let since = Position {
            epoch: cursor.epoch.to_string(),
            seq: cursor.seq,
        };
        match self.log.since(board, since).await {
            Ok(Some(replay)) => {
                let unsure =
                    hinted.is_none_or(|seq| replay.seq > seq) || self.deaf.load(Ordering::Relaxed);
                let readers = if unsure && !replay.events.is_empty() {
                    self.readers(board).await
                } else {
                    None
                };
                self.deliver(board, &replay.epoch, &replay.events, readers.as_deref());
            }
            Ok(None) => {
                lock(&self.cursors).remove(&board);
                if self.board_is_gone(board).await {
                    // Deleted since the hint that sent us here: its members are told so,
                    // as the deletion's own hint would, rather than closed to resume
                    // (which would end their other subscriptions too).
                    Fanout::revoke(self, board, None, Ended::Deleted);
                } else {
                    // Trimmed away or a new epoch: the sockets resume on their own.
                    self.local
                        .close_board_subscribers(board, RESUME.0, RESUME.1);
                }
            }
            Err(error) => {
                tracing::warn!(%error, %board, "cannot read the log; retrying");
                let _ = self.work.send(Work::CatchUp(board));
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        }
        self.local.wake_polls(board);
    }

    /// Whether `board` is known to be deleted; `false` when that cannot be read.
    async fn board_is_gone(&self, board: Uuid) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM boards WHERE id = $1")
            .bind(board.to_string())
            .fetch_one(&self.pool)
            .await
            .is_ok_and(|count| count == 0)
    }

    async fn on_hint(&self, hint: Hint) {
        match hint {
            Hint::Tasks { board, seq } => {
                let behind = lock(&self.cursors)
                    .get(&board)
                    .is_some_and(|cursor| cursor.seq < seq);
                if behind {
                    self.catch_up(board, Some(seq)).await;
                } else {
                    self.local.wake_polls(board);
                }
            }
            Hint::Boards { user, event } => {
                lock(&self.lists).insert(user, event.seq);
                self.local.publish_boards(user, &event);
            }
            // Through this node's own `revoke`: the sockets it ends leave the presence
            // it stores for the other nodes too.
            Hint::Revoke {
                board,
                user,
                reason,
            } => Fanout::revoke(self, board, user, reason),
            Hint::CloseSessions {
                sessions,
                code,
                reason,
            } => self.local.close_sessions(&sessions, code, reason),
            Hint::Presence { board } => self.read_presence(&[board]).await,
            Hint::Reset => self.log_was_reset(),
            Hint::Ping => {}
        }
    }

    /// Brings every board and board list followed here up to date with the database.
    async fn check(&self) {
        let followed = self.local.subscribed_boards();
        lock(&self.cursors).retain(|board, _| followed.contains(board));
        let boards: Vec<String> = followed.iter().map(Uuid::to_string).collect();
        if !boards.is_empty() {
            match sqlx::query_as::<_, (String, i64)>(
                "SELECT id, log_seq FROM boards WHERE id = ANY($1)",
            )
            .bind(&boards)
            .fetch_all(&self.pool)
            .await
            {
                Ok(rows) => {
                    for (board, seq) in rows {
                        let Ok(board) = Uuid::parse_str(&board) else {
                            continue;
                        };
                        let behind = lock(&self.cursors).get(&board).is_some_and(|cursor| {
                            u64::try_from(seq).is_ok_and(|seq| cursor.seq < seq)
                        });
                        if behind {
                            self.catch_up(board, None).await;
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot check the boards followed here"),
            }
        }
        self.check_lists().await;
        self.read_presence(&self.local.subscribed_boards()).await;
    }

    /// Every board's log starts again: the positions followed here mean nothing now, and
    /// every socket resumes (getting a snapshot).
    fn log_was_reset(&self) {
        lock(&self.cursors).clear();
        self.local.close_all(RESUME.0, "the change log was reset");
    }

    /// After the listener was down: a log reset, the removals, deleted boards and ended
    /// sessions whose hints it missed. Unlike a board's events, these leave nothing to
    /// catch up from, so the epoch, every board followed here and every session with a
    /// socket here are looked up, and what no longer stands ends as its hint would have
    /// ended it. No longer deaf once the members are looked up.
    async fn check_missed(&self) {
        if let Err(error) = self.check_epoch().await {
            tracing::warn!(%error, "cannot check the change log's epoch");
        }
        match self.check_members().await {
            Ok(()) => self.deaf.store(false, Ordering::Relaxed),
            Err(error) => {
                tracing::warn!(%error, "cannot check the members of the boards followed here");
            }
        }
        if let Err(error) = self.check_sessions().await {
            tracing::warn!(%error, "cannot check the sessions of the sockets here");
        }
    }

    async fn check_epoch(&self) -> Result<(), sqlx::Error> {
        let epoch: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(EPOCH_KEY)
            .fetch_one(&self.pool)
            .await?;
        let reset = lock(&self.cursors)
            .values()
            .any(|cursor| *cursor.epoch != *epoch);
        if reset {
            self.log_was_reset();
        }
        Ok(())
    }

    async fn check_members(&self) -> Result<(), sqlx::Error> {
        let followers = self.local.board_followers();
        if followers.is_empty() {
            return Ok(());
        }
        let mut boards: Vec<String> = followers.iter().map(|(b, _)| b.to_string()).collect();
        boards.dedup();
        // One row per board that still exists, with each member (none: a NULL user).
        let rows = sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT b.id, m.user_id FROM boards b \
             LEFT JOIN board_members m ON m.board_id = b.id WHERE b.id = ANY($1)",
        )
        .bind(&boards)
        .fetch_all(&self.pool)
        .await?;
        let existing: HashSet<&str> = rows.iter().map(|(board, _)| board.as_str()).collect();
        let members: HashSet<(&str, &str)> = rows
            .iter()
            .filter_map(|(board, user)| Some((board.as_str(), user.as_deref()?)))
            .collect();
        let mut deleted = HashSet::new();
        for (board, user) in followers {
            let (id, member) = (board.to_string(), user.to_string());
            if !existing.contains(id.as_str()) {
                if deleted.insert(board) {
                    Fanout::revoke(self, board, None, Ended::Deleted);
                }
            } else if !members.contains(&(id.as_str(), member.as_str())) {
                Fanout::revoke(self, board, Some(user), Ended::Removed);
            }
        }
        Ok(())
    }

    async fn check_sessions(&self) -> Result<(), sqlx::Error> {
        let sessions = self.local.sessions();
        if sessions.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = sessions.iter().map(Uuid::to_string).collect();
        let alive: HashSet<String> =
            sqlx::query_scalar("SELECT id FROM sessions WHERE id = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let ended: Vec<Uuid> = sessions
            .into_iter()
            .filter(|session| !alive.contains(&session.to_string()))
            .collect();
        if !ended.is_empty() {
            self.local
                .close_sessions(&ended, CloseCode::Unauthorized, "session ended");
        }
        Ok(())
    }

    /// Closes the board-list subscriptions of users whose list moved on without this
    /// node hearing of it: they get the list whole when they reconnect.
    async fn check_lists(&self) {
        let subscribers = self.local.list_subscribers();
        lock(&self.lists).retain(|user, _| subscribers.contains(user));
        let users: Vec<String> = subscribers.iter().map(Uuid::to_string).collect();
        if users.is_empty() {
            return;
        }
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT id, boards_seq FROM users WHERE id = ANY($1)",
        )
        .bind(&users)
        .fetch_all(&self.pool)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "cannot check the board lists followed here");
                return;
            }
        };
        let mut behind = HashMap::new();
        for (user, seq) in rows {
            let (Ok(user), Ok(seq)) = (Uuid::parse_str(&user), u64::try_from(seq)) else {
                continue;
            };
            if lock(&self.lists).get(&user).is_some_and(|seen| *seen < seq) {
                behind.insert(user, seq);
            }
        }
        let before = std::mem::replace(&mut *lock(&self.lists_behind), behind);
        for (user, seq) in before {
            if lock(&self.lists).get(&user).is_some_and(|seen| *seen < seq) {
                lock(&self.lists).remove(&user);
                self.local.close_list_subscribers(user, RESUME.0, RESUME.1);
            }
        }
    }

    /// Stores who is on `board` through this node, and tells the others.
    async fn write_presence(&self, board: Uuid) -> Result<(), sqlx::Error> {
        lock(&self.presence_dirty).remove(&board);
        let users = self.local.present_here(board);
        let mut tx = self.pool.begin().await?;
        if users.is_empty() {
            sqlx::query("DELETE FROM presence WHERE node_id = $1 AND board_id = $2")
                .bind(&self.node)
                .bind(board.to_string())
                .execute(&mut *tx)
                .await?;
        } else {
            let users = serde_json::to_string(&users)
                .map_err(|e| sqlx::Error::Protocol(format!("presence: {e}")))?;
            sqlx::query(
                "INSERT INTO presence (node_id, board_id, users) VALUES ($1, $2, $3) \
                 ON CONFLICT (node_id, board_id) DO UPDATE SET users = excluded.users",
            )
            .bind(&self.node)
            .bind(board.to_string())
            .bind(users)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("SELECT pg_notify($1, $2)::TEXT")
            .bind(CHANNEL)
            .bind(Hint::Presence { board }.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Reads who is on `boards` through the other live nodes.
    async fn read_presence(&self, boards: &[Uuid]) {
        if boards.is_empty() {
            return;
        }
        let ids: Vec<String> = boards.iter().map(Uuid::to_string).collect();
        let rows = sqlx::query_as::<_, (String, String)>(
            "SELECT p.board_id, p.users FROM presence p JOIN nodes n ON n.id = p.node_id \
             WHERE p.board_id = ANY($1) AND p.node_id <> $2 \
             AND n.seen_at > now() - make_interval(secs => $3)",
        )
        .bind(&ids)
        .bind(&self.node)
        .bind(NODE_GONE_AFTER_SECS as f64)
        .fetch_all(&self.pool)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "cannot read presence");
                return;
            }
        };
        let mut remote: HashMap<Uuid, Vec<MemberUser>> =
            boards.iter().map(|board| (*board, Vec::new())).collect();
        for (board, users) in rows {
            let (Ok(board), Ok(users)) = (
                Uuid::parse_str(&board),
                serde_json::from_str::<Vec<MemberUser>>(&users),
            ) else {
                continue;
            };
            remote.entry(board).or_default().extend(users);
        }
        for (board, mut users) in remote {
            users.sort_by(|a, b| a.username.cmp(&b.username));
            users.dedup_by_key(|user| user.id);
            self.local.set_remote(board, users);
        }
    }

    /// Says this node is alive, forgets nodes long gone, and pings every listener. A node
    /// that was itself forgotten (another took it for gone while the database was out of
    /// reach for a minute) joins again and stores its presence anew, which went with it.
    async fn heartbeat(&self) -> Result<(), sqlx::Error> {
        let seen = sqlx::query("UPDATE nodes SET seen_at = now() WHERE id = $1")
            .bind(&self.node)
            .execute(&self.pool)
            .await?;
        if seen.rows_affected() == 0 {
            sqlx::query("INSERT INTO nodes (id, seen_at) VALUES ($1, now())")
                .bind(&self.node)
                .execute(&self.pool)
                .await?;
            self.presence_changed(self.local.subscribed_boards());
        }
        sqlx::query("DELETE FROM nodes WHERE seen_at < now() - interval '1 minute'")
            .execute(&self.pool)
            .await?;
        notify(&self.pool, &Hint::Ping).await
    }

    /// Leaves the cluster: this node's people leave every board at once.
    async fn leave(&self) {
        if let Err(error) = sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(&self.node)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(%error, "cannot leave the cluster cleanly");
        }
    }
}

impl Fanout for ClusterFanout {
    fn watch(&self, board: Uuid) -> ChangeWatch {
        self.local.watch(board)
    }

    fn watch_boards(&self, user: Uuid) -> ChangeWatch {
        self.local.watch_boards(user)
    }

    fn watch_session(&self, session: Uuid) -> ChangeWatch {
        self.local.watch_session(session)
    }

    fn register(&self, link: SocketLink) -> Result<(), TooManySockets> {
        self.local.register(link)
    }

    fn rebind(&self, user: Uuid, socket: u64, session: Uuid) {
        self.local.rebind(user, socket, session);
    }

    fn unregister(&self, user: Uuid, socket: u64) {
        let left = self.local.unregister_from(user, socket);
        self.presence_changed(left);
    }

    fn subscribe(&self, board: Uuid, topic: Topic, user: Uuid, socket: u64) {
        self.local.subscribe(board, topic, user, socket);
        if topic == Topic::Boards {
            return;
        }
        self.presence_changed([board]);
    }

    fn unsubscribe(&self, board: Uuid, topic: Topic, socket: u64) {
        self.local.unsubscribe(board, topic, socket);
        self.presence_changed([board]);
    }

    fn present(&self, board: Uuid) -> Vec<MemberUser> {
        self.local.present(board)
    }

    fn seen(&self, board: Uuid, epoch: &str, seq: u64) -> bool {
        let mut cursors = lock(&self.cursors);
        match cursors.get(&board) {
            Some(cursor) if &*cursor.epoch == epoch => cursor.seq > seq,
            _ => {
                cursors.insert(
                    board,
                    Cursor {
                        epoch: Arc::from(epoch),
                        seq,
                    },
                );
                // A hint that came between the answer's read and now found no cursor to
                // move: read once what followed the answer.
                let _ = self.work.send(Work::CatchUp(board));
                false
            }
        }
    }

    fn seen_boards(&self, user: Uuid, seq: u64) {
        lock(&self.lists).entry(user).or_insert(seq);
    }

    /// A write of this node that read the board's members as of itself: it goes to
    /// those subscribed here who are among them. One no longer among them was removed
    /// through another node, whose word, which ends their subscription, has not come
    /// yet; one who joined since got it in their subscribe's answer.
    fn publish_read_by(&self, board: Uuid, events: &[Event], readers: Option<&[Uuid]>) {
        self.publish_among(board, events, readers);
    }

    fn publish(&self, board: Uuid, events: &[Event]) {
        self.publish_among(board, events, None);
    }

    /// Board-list events reach every node, this one included, through the hint their
    /// transaction sent: one path keeps each list's events in `seq` order.
    fn publish_boards(&self, _user: Uuid, _event: &BoardsEvent) {}

    fn revoke(&self, board: Uuid, user: Option<Uuid>, reason: Ended) {
        self.local.revoke(board, user, reason);
        self.presence_changed([board]);
    }

    /// This node's sockets only: the call that ended the sessions told the other nodes
    /// in its own transaction (`auth::EndedSessions`).
    fn close_sessions(&self, sessions: &[Uuid], code: CloseCode, reason: &'static str) {
        self.local.close_sessions(sessions, code, reason);
    }

    fn close_all(&self, code: CloseCode, reason: &'static str) {
        self.local.close_all(code, reason);
    }
}

async fn notify(pool: &PgPool, hint: &Hint) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)::TEXT")
        .bind(CHANNEL)
        .bind(hint.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Receives the channel's hints and hands them to the relay, reconnecting when the
/// connection drops or goes silent.
async fn listen(
    mut listener: PgListener,
    pool: PgPool,
    work: mpsc::UnboundedSender<Work>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let heard = tokio::select! {
            heard = tokio::time::timeout(SILENT_AFTER, listener.try_recv()) => heard,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        match heard {
            Ok(Ok(Some(notification))) => match notification.payload().parse::<Hint>() {
                Ok(hint) => {
                    if work.send(Work::Hint(hint)).is_err() {
                        return;
                    }
                }
                Err(error) => tracing::warn!(%error, "ignoring a hint"),
            },
            lost => {
                if work.send(Work::Deaf).is_err() {
                    return;
                }
                match lost {
                    Err(_) => tracing::warn!("the cluster listener went silent; reconnecting"),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "the cluster listener failed; reconnecting")
                    }
                    Ok(Ok(_)) => tracing::warn!("the cluster listener dropped; reconnecting"),
                }
                listener = loop {
                    tokio::select! {
                        () = tokio::time::sleep(RECONNECT_AFTER) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    match fresh_listener(&pool).await {
                        Ok(listener) => break listener,
                        Err(error) => tracing::warn!(%error, "cannot listen yet"),
                    }
                };
                tracing::info!("the cluster listener is back");
                if work.send(Work::Reconnected).is_err() {
                    return;
                }
            }
        }
    }
}

async fn fresh_listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Works through hints and catch-ups one at a time, so a board's events go out in order,
/// and checks the followed boards every second.
async fn relay(
    me: std::sync::Weak<ClusterFanout>,
    mut inbox: mpsc::UnboundedReceiver<Work>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let work = tokio::select! {
            work = inbox.recv() => match work {
                Some(work) => Some(work),
                None => break,
            },
            _ = every.tick() => None,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let Some(fanout) = me.upgrade() else {
            return;
        };
        match work {
            Some(Work::Hint(hint)) => fanout.on_hint(hint).await,
            Some(Work::Deaf) => fanout.deaf.store(true, Ordering::Relaxed),
            Some(Work::CatchUp(board)) => fanout.catch_up(board, None).await,
            Some(Work::PresenceChanged(board)) => {
                if let Err(error) = fanout.write_presence(board).await {
                    tracing::warn!(%error, "cannot share presence");
                }
            }
            Some(Work::Reconnected) => {
                // A reset first: the log's positions are compared with it.
                fanout.check_missed().await;
                fanout.check().await;
                fanout.local.wake_all_polls();
            }
            // The second's tick.
            None => {
                if let Err(error) = fanout.heartbeat().await {
                    tracing::warn!(%error, "cannot reach the database");
                }
                fanout.check().await;
            }
        }
    }
    if let Some(fanout) = me.upgrade() {
        fanout.leave().await;
    }
}
