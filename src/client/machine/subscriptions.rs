//! What the socket follows: one [`Subscription`] per task topic, keyed by topic, each
//! with its store and log position; subscribing after `auth_ok`, applying the snapshot
//! or replay that answers, live events, and resubscribing from the last position when
//! the log shows a gap. The first topic is the open board, which a person's changes go
//! to; [`super::board_list`] follows the `boards` topic beside them.

use protocol::{ApiError, ClientFrame, Ended, ErrorCode, Event, Position, Topic};

use super::board_list::BoardList;
use super::connection::Phase;
use super::{Command, Env, Machine, Notice, Problem, Purpose, notice, push_rows};
use crate::client::pace::Pace;
use crate::client::store::{Applied, Store};

/// Snapshots or replays in a row that could not be applied after which the next
/// subscribe asks for a full snapshot (no `since`), so a bad replay cannot loop forever.
const FAILED_SYNCS_BEFORE_SNAPSHOT: u8 = 2;

#[derive(Debug, Clone)]
struct Subscription {
    topic: Topic,
    /// Subscribed after `auth_ok`; otherwise only held for the changes shown in it.
    subscribed: bool,
    store: Store,
    /// A subscribe is out: live events wait for its snapshot or replay, which covers them.
    syncing: bool,
    /// Snapshots/replays in a row that could not be applied.
    failed_syncs: u8,
}

impl Subscription {
    fn new(topic: Topic, subscribed: bool) -> Self {
        Self {
            topic,
            subscribed,
            store: Store::new(),
            syncing: false,
            failed_syncs: 0,
        }
    }
}

/// Every topic of one socket.
#[derive(Debug, Clone)]
pub(super) struct Subscriptions {
    /// The open board, whose store shows a person's changes before the server confirms
    /// them (so it is held whether or not the socket subscribes to it).
    open: Subscription,
    /// The `boards` topic, when the socket follows it.
    pub(super) boards: Option<BoardList>,
    /// The topic a session starts on.
    initial: Option<Topic>,
    /// A board is open: the session started on one, or one was opened since. Until
    /// then `open` only stands in, and a change whose delivery is unknown cannot be
    /// judged by its store.
    chosen: bool,
}

impl Subscriptions {
    pub(super) fn new(subscribe: Option<Topic>, boards: bool) -> Self {
        Self {
            open: Subscription::new(subscribe.unwrap_or(Topic::Tasks), subscribe.is_some()),
            boards: boards.then(BoardList::default),
            initial: subscribe,
            chosen: subscribe.is_some(),
        }
    }

    fn get_mut(&mut self, topic: Topic) -> Option<&mut Subscription> {
        Some(&mut self.open).filter(|entry| entry.topic == topic)
    }

    /// The topic a person's changes go to: the open board.
    pub(super) fn changes_topic(&self) -> Topic {
        self.open.topic
    }

    /// A board is open, not only stood in for (see `chosen`).
    pub(super) fn chosen(&self) -> bool {
        self.chosen
    }

    /// The open board's subscription, still followed.
    pub(super) fn follows(&self, topic: Topic) -> bool {
        self.open.topic == topic && self.open.subscribed
    }

    /// The store a person's changes show in.
    pub(super) fn changes_store(&self) -> &Store {
        &self.open.store
    }

    pub(super) fn changes_store_mut(&mut self) -> &mut Store {
        &mut self.open.store
    }

    /// A subscribe for the changes topic is out.
    pub(super) fn changes_syncing(&self) -> bool {
        self.open.syncing
    }

    /// The open board's store shows the server's state as this connection found it: its
    /// subscribe has been answered (or it is not followed). Until then a change whose
    /// result was lost cannot be told applied or not by looking there.
    pub(super) fn changes_in_step(&self) -> bool {
        self.chosen
            && (!self.open.subscribed
                || (!self.open.syncing && self.open.store.position().is_some()))
    }

    /// No subscribe is out: every followed topic has resumed.
    pub(super) fn none_syncing(&self) -> bool {
        !self.open.syncing && self.boards.as_ref().is_none_or(|boards| !boards.syncing)
    }

    /// The socket is gone, and with it every subscribe that was out.
    pub(super) fn stop_syncing(&mut self) {
        self.open.syncing = false;
        if let Some(boards) = &mut self.boards {
            boards.syncing = false;
        }
    }

    /// Empties every store (the session ended), telling the UI; the next session starts
    /// on the first topic again, not on the board this person had open.
    pub(super) fn clear(&mut self, out: &mut Vec<Command>) {
        let entry = &mut self.open;
        let rows = entry.store.clear();
        push_rows(entry.topic, &entry.store, rows, out);
        self.open = Subscription::new(self.initial.unwrap_or(Topic::Tasks), self.initial.is_some());
        self.chosen = self.initial.is_some();
        if let Some(boards) = &mut self.boards {
            *boards = BoardList::default();
            out.push(notice(Notice::Boards(Vec::new())));
        }
    }

    /// Every subscribed topic has had its snapshot this session.
    pub(super) fn loaded(&self) -> bool {
        (!self.open.subscribed || self.open.store.position().is_some())
            && self
                .boards
                .as_ref()
                .is_none_or(|boards| boards.position.is_some())
    }

    /// Applies a snapshot or replay (from a socket or a poll) to `topic`'s store and
    /// tells the UI; `Err` when it could not be applied and must be asked for again
    /// (reported), `None` when the topic is not followed.
    pub(super) fn apply_sync(
        &mut self,
        topic: Topic,
        apply: impl FnOnce(&mut Store) -> Applied,
        out: &mut Vec<Command>,
    ) -> Option<Result<(), ()>> {
        let entry = self.get_mut(topic)?;
        let applied = apply(&mut entry.store);
        entry.syncing = false;
        if applied.resync.is_some() {
            entry.failed_syncs = entry.failed_syncs.saturating_add(1);
        } else {
            entry.failed_syncs = 0;
        }
        push_rows(topic, &entry.store, applied.rows, out);
        Some(match applied.resync {
            Some(error) => {
                out.push(notice(Notice::Problem(Problem::Resync(error))));
                Err(())
            }
            None => Ok(()),
        })
    }

    /// Where `topic`'s next subscribe or poll starts: its last position, or afresh
    /// after failed syncs in a row; `None` when the topic is not followed.
    pub(super) fn resume_from(&self, topic: Topic) -> Option<Option<Position>> {
        if topic == Topic::Boards {
            return self.boards.as_ref().map(|boards| boards.position.clone());
        }
        let entry = Some(&self.open).filter(|entry| entry.topic == topic && entry.subscribed)?;
        Some(if entry.failed_syncs >= FAILED_SYNCS_BEFORE_SNAPSHOT {
            None
        } else {
            entry.store.position().cloned()
        })
    }

    /// The topics followed now: the board list, then the open board.
    pub(super) fn followed(&self) -> Vec<Topic> {
        let boards = self.boards.as_ref().map(|_| Topic::Boards);
        let open = self.open.subscribed.then_some(self.open.topic);
        boards.into_iter().chain(open).collect()
    }

    /// The open board can no longer be read: not followed any more, and the person told.
    /// A board it showed this session (its store has had the server's state) was taken
    /// from them while open: told as an `unsubscribed` would have (which a poll, or a
    /// socket that was away when it came, never gets); one it never showed is not theirs.
    pub(super) fn unavailable(&mut self, topic: Topic, error: ApiError, out: &mut Vec<Command>) {
        if let Some(entry) = self.get_mut(topic) {
            entry.subscribed = false;
            entry.syncing = false;
            out.push(notice(if entry.store.position().is_some() {
                Notice::AccessEnded {
                    topic,
                    reason: Ended::Removed,
                }
            } else {
                Notice::Unavailable { topic, error }
            }));
        }
    }

    /// Makes `topic` the open board: the old one's rows go, and its subscription is
    /// returned for the caller to end on the wire.
    fn open(&mut self, topic: Topic, out: &mut Vec<Command>) -> Option<Topic> {
        let old = std::mem::replace(&mut self.open, Subscription::new(topic, true));
        self.chosen = true;
        let mut old_store = old.store;
        let rows = old_store.clear();
        push_rows(old.topic, &old_store, rows, out);
        old.subscribed.then_some(old.topic)
    }
}

impl Machine {
    /// Subscribes to every topic of the socket; `false` if it has none.
    pub(super) fn subscribe_all(&mut self, now: u64, out: &mut Vec<Command>) -> bool {
        let boards = self.subscriptions.boards.is_some();
        if boards {
            self.subscribe(now, Topic::Boards, out);
        }
        let open = self.subscriptions.open.subscribed;
        if open {
            self.subscribe(now, self.subscriptions.open.topic, out);
        }
        boards || open
    }

    /// Opens another board: its tasks replace the open board's, and the socket follows
    /// it instead. Changes already made to the old board still go to it.
    pub(super) fn open_board(&mut self, now: u64, topic: Topic, out: &mut Vec<Command>) {
        if self.subscriptions.follows(topic) {
            return;
        }
        let old = self.subscriptions.open(topic, out);
        self.show_waiting(now, out);
        self.repoll(now, old, out);
        if self.phase.authed() {
            if let Some(old) = old {
                let id =
                    self.requests
                        .issue(Purpose::Unsubscribe, now, self.config.request_timeout_ms);
                self.send(ClientFrame::Unsubscribe { id, topic: old }, out);
            }
            self.subscribe(now, topic, out);
        }
    }

    /// Subscribes to `topic` from its last position (or afresh), if the socket follows it.
    pub(super) fn subscribe(&mut self, now: u64, topic: Topic, out: &mut Vec<Command>) {
        if topic == Topic::Boards {
            self.subscribe_boards(now, out);
            return;
        }
        let Some(since) = self.subscriptions.resume_from(topic) else {
            return;
        };
        if let Some(entry) = self.subscriptions.get_mut(topic) {
            entry.syncing = true;
        }
        let id = self.requests.issue(
            Purpose::Subscribe(topic),
            now,
            self.config.subscribe_timeout_ms,
        );
        self.send(ClientFrame::Subscribe { id, topic, since }, out);
    }

    /// A snapshot or replay: applied to the store of the topic its subscribe was for.
    pub(super) fn on_sync(
        &mut self,
        env: Env,
        id: u64,
        apply: impl FnOnce(&mut Store) -> Applied,
        out: &mut Vec<Command>,
    ) {
        let Some(Purpose::Subscribe(topic)) = self
            .requests
            .settle_if(id, |p| matches!(p, Purpose::Subscribe(_)))
        else {
            return;
        };
        match self.subscriptions.apply_sync(topic, apply, out) {
            Some(Err(())) => self.subscribe(env.now_ms, topic, out),
            Some(Ok(())) => self.synced(env.now_ms, out),
            None => {}
        }
    }

    /// A refused subscribe: a board the person cannot open (or no longer can) is
    /// reported and no longer followed, while the socket carries on; anything else is
    /// the server not speaking the contract, and the socket is given up.
    pub(super) fn on_subscribe_refused(
        &mut self,
        env: Env,
        topic: Topic,
        error: ApiError,
        out: &mut Vec<Command>,
    ) {
        if !board_unavailable(topic, &error) {
            out.push(notice(Notice::Problem(Problem::Server(error))));
            self.give_up(env, protocol::CloseCode::GaveUp, "subscribe refused", out);
        } else if self.subscriptions.follows(topic) {
            // (Not followed: a board opened and left again before its answer came.)
            self.subscriptions.unavailable(topic, error, out);
            self.synced(env.now_ms, out);
        }
    }

    /// Access to a board ended: the server sends nothing more of it.
    pub(super) fn on_unsubscribed(
        &mut self,
        topic: Topic,
        reason: protocol::Ended,
        out: &mut Vec<Command>,
    ) {
        if let Some(entry) = self.subscriptions.get_mut(topic) {
            entry.subscribed = false;
            entry.syncing = false;
            out.push(notice(Notice::AccessEnded { topic, reason }));
        }
    }

    /// A live event, applied once its topic's store is in step with the log.
    pub(super) fn on_event(&mut self, now: u64, event: &Event, out: &mut Vec<Command>) {
        if !self.phase.authed() {
            return;
        }
        let Some(entry) = self.subscriptions.get_mut(event.topic) else {
            return;
        };
        if entry.syncing || entry.store.position().is_none() {
            return;
        }
        let applied = entry.store.apply_event(event);
        push_rows(event.topic, &entry.store, applied.rows, out);
        if let Some(error) = applied.resync {
            out.push(notice(Notice::Problem(Problem::Resync(error))));
            self.subscribe(now, event.topic, out);
        }
    }

    /// A topic matches the server: live; once the open board does too, settle what the
    /// last connection left unknown (the board list, answered first, says nothing of it);
    /// then send what waits.
    pub(super) fn synced(&mut self, now: u64, out: &mut Vec<Command>) {
        let went_live = matches!(self.phase, Phase::Authenticating { .. });
        if let Phase::Authenticating { conn, .. } = self.phase {
            self.phase = Phase::Live {
                conn,
                since_ms: now,
            };
            // The server counts each socket's frames afresh.
            self.pace = Pace::default();
            self.paced_until = None;
        }
        // The fallback ends once every topic has resumed on the socket (contract: "live
        // with every subscription resumed"); a socket that fails before that hands back
        // to the polls.
        if matches!(self.phase, Phase::Live { .. }) && self.subscriptions.none_syncing() {
            self.socket_live(out);
        }
        if self.subscriptions.changes_in_step() {
            self.reconcile(out);
        }
        self.flush(now, out);
        if went_live {
            // One ping once the waiting changes are out, so that the round trip is known
            // from the start rather than after the first quiet `heartbeat_ms`, which a
            // busy board may never have.
            self.ping(now, out);
        }
    }
}

/// The server's answer for a board this person cannot read (any more): reported, and
/// the board no longer followed, whatever the transport.
pub(super) fn board_unavailable(topic: Topic, error: &ApiError) -> bool {
    matches!(topic, Topic::Board(_))
        && matches!(error.code, ErrorCode::NotFound | ErrorCode::Forbidden)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::{
        Change, ClientFrame, CloseCode, Ended, ErrorCode, Position, ServerFrame, Topic,
    };
    use uuid::Uuid;

    use crate::client::fixtures::machine::{
        HOUR, Harness, TOKEN, app_machine, auth_ok, board_list, board_snapshot, closes, notices,
        problems, replay, sent, since_of, snapshot, subscribe_id, subscribed, upsert,
    };
    use crate::client::fixtures::{event, task};
    use crate::client::machine::{
        Config, ConnectionState, Input, Notice, Problem, SUBSCRIBE_TIMEOUT_MS, TimerKind,
    };
    use crate::client::requests::REQUEST_TIMEOUT_MS;
    use crate::client::store::SyncError;

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
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
    }

    /// The board list answers first and the socket goes live, pinging once; the board's
    /// snapshot, big and slow, comes before the pong (the server answers in order). Its
    /// 10 s are not the socket's death: the subscribe's own deadline is waited out.
    #[test]
    fn a_slow_snapshot_ahead_of_the_pong_is_waited_for() {
        let board = Uuid::from_u128(60);
        let mut h = app_machine();
        let conn = h.signed_in();
        h.feed(Input::Open(Topic::Board(board)));
        let out = h.frame(conn, auth_ok(1));
        let [(Topic::Boards, boards), (Topic::Board(_), open)] = subscribed(&out)[..] else {
            panic!("the board list, then the board: {out:?}");
        };
        let out = h.frame(conn, board_list(boards));
        assert_eq!(h.state(), ConnectionState::Live);
        assert!(
            matches!(sent(&out)[..], [ClientFrame::Ping { .. }]),
            "{out:?}"
        );
        let start = h.now;
        for after in [10_000, 20_000] {
            let out = h.at(start + after, Input::TimerFired(TimerKind::Heartbeat));
            assert!(closes(&out).is_empty(), "{after} ms: {out:?}");
        }
        h.at(
            start + 25_000,
            Input::Frame {
                conn,
                frame: board_snapshot(open, board, Vec::new()),
            },
        );
        assert_eq!(h.state(), ConnectionState::Live);
        // Once nothing is on its way, an unanswered ping ends the socket as before.
        let out = h.at(start + 50_000, Input::TimerFired(TimerKind::Heartbeat));
        assert!(
            matches!(sent(&out)[..], [ClientFrame::Ping { .. }]),
            "{out:?}"
        );
        let out = h.at(start + 60_000, Input::TimerFired(TimerKind::Heartbeat));
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
    }

    /// A ping sent before a subscribe is answered before its snapshot: unanswered for
    /// 10 s, the socket is dead, however long a snapshot may take.
    #[test]
    fn a_ping_sent_before_a_subscribe_gets_its_ten_seconds_only() {
        let mut h = app_machine();
        let conn = h.signed_in();
        let out = h.frame(conn, auth_ok(1));
        let [(Topic::Boards, boards)] = subscribed(&out)[..] else {
            panic!("the board list alone: {out:?}");
        };
        let out = h.frame(conn, board_list(boards));
        assert!(
            matches!(sent(&out)[..], [ClientFrame::Ping { .. }]),
            "{out:?}"
        );
        let start = h.now;
        let out = h.feed(Input::Open(Topic::Board(Uuid::from_u128(60))));
        assert_eq!(subscribed(&out).len(), 1, "{out:?}");
        let out = h.at(start + 10_000, Input::TimerFired(TimerKind::Heartbeat));
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
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
    fn gaps_and_epoch_changes_resubscribe_from_the_last_position() {
        let mut h = Harness::new();
        let conn = h.live(10);
        h.frame(conn, upsert(11, 1));
        let out = h.frame(conn, upsert(13, 2));
        assert!(matches!(
            problems(&out)[..],
            [Problem::Resync(SyncError::Gap { last: 11, got: 13 })]
        ));
        let position = Some(Position {
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
        assert_eq!(closes(&out), [CloseCode::GaveUp]);
        assert_eq!(h.state(), ConnectionState::Reconnecting);
    }

    /// A board shown this session that refuses the resubscribe after a reconnect (its
    /// `unsubscribed` came while the socket was away) was taken from the person while
    /// open: told as `unsubscribed` tells it, not as a board that is not theirs.
    #[test]
    fn a_shown_board_refused_on_resubscribe_is_access_ended() {
        let board = Topic::Board(Uuid::from_u128(5));
        let mut h = Harness::with(Config {
            subscribe: Some(board),
            ..Config::default()
        });
        let conn = h.signed_in();
        let out = h.frame(conn, auth_ok(1));
        h.frame(conn, snapshot(subscribe_id(&out), 3, vec![task(1)]));
        assert_eq!(h.state(), ConnectionState::Live);
        let (conn, out) = h.reconnect(conn);
        let out = h.frame(
            conn,
            ServerFrame::Error {
                id: Some(subscribe_id(&out)),
                code: ErrorCode::NotFound,
                message: "No such board.".to_owned(),
            },
        );
        assert_eq!(
            notices(&out)
                .into_iter()
                .filter(|notice| matches!(
                    notice,
                    Notice::AccessEnded { .. } | Notice::Unavailable { .. }
                ))
                .collect::<Vec<_>>(),
            [Notice::AccessEnded {
                topic: board,
                reason: Ended::Removed
            }]
        );
        assert!(closes(&out).is_empty(), "the socket carries on: {out:?}");
    }
}
