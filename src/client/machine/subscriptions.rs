//! What the socket follows: one [`Subscription`] per topic, keyed by topic, each with
//! its store and log position; subscribing after `auth_ok`, applying the snapshot or
//! replay that answers, live events, and resubscribing from the last position when the
//! log shows a gap. Only the `tasks` topic exists today; the rest is per topic so that
//! more can follow on the same socket.

use protocol::{ClientFrame, Event, Topic};

use super::connection::Phase;
use super::{Command, Env, Machine, Notice, Problem, Purpose, notice, push_rows};
use crate::client::store::{Applied, Store};

/// The topic a person's changes are made to: its store shows them before the server
/// confirms them, so it is held whether or not the socket subscribes to it.
pub(super) const CHANGES_TOPIC: Topic = Topic::Tasks;

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
    /// One entry per topic; the first is always [`CHANGES_TOPIC`] (built so, and
    /// entries are never removed).
    topics: Vec<Subscription>,
}

impl Subscriptions {
    pub(super) fn new(subscribe: Option<Topic>) -> Self {
        let mut topics = vec![Subscription::new(
            CHANGES_TOPIC,
            subscribe == Some(CHANGES_TOPIC),
        )];
        if let Some(topic) = subscribe.filter(|topic| *topic != CHANGES_TOPIC) {
            topics.push(Subscription::new(topic, true));
        }
        Self { topics }
    }

    fn get_mut(&mut self, topic: Topic) -> Option<&mut Subscription> {
        self.topics.iter_mut().find(|entry| entry.topic == topic)
    }

    /// The store a person's changes show in.
    pub(super) fn changes_store(&self) -> &Store {
        &self.topics[0].store
    }

    pub(super) fn changes_store_mut(&mut self) -> &mut Store {
        &mut self.topics[0].store
    }

    /// A subscribe for the changes topic is out.
    pub(super) fn changes_syncing(&self) -> bool {
        self.topics[0].syncing
    }

    /// The socket is gone, and with it every subscribe that was out.
    pub(super) fn stop_syncing(&mut self) {
        for entry in &mut self.topics {
            entry.syncing = false;
        }
    }

    /// Empties every store (the session ended), telling the UI.
    pub(super) fn clear(&mut self, out: &mut Vec<Command>) {
        for entry in &mut self.topics {
            let rows = entry.store.clear();
            push_rows(entry.topic, &entry.store, rows, out);
            entry.failed_syncs = 0;
        }
    }

    /// Every subscribed topic has had its snapshot this session.
    pub(super) fn loaded(&self) -> bool {
        self.topics
            .iter()
            .filter(|entry| entry.subscribed)
            .all(|entry| entry.store.position().is_some())
    }
}

impl Machine {
    /// Subscribes to every topic of the socket; `false` if it has none.
    pub(super) fn subscribe_all(&mut self, now: u64, out: &mut Vec<Command>) -> bool {
        let topics: Vec<Topic> = self
            .subscriptions
            .topics
            .iter()
            .filter(|entry| entry.subscribed)
            .map(|entry| entry.topic)
            .collect();
        for topic in &topics {
            self.subscribe(now, *topic, out);
        }
        !topics.is_empty()
    }

    /// Subscribes to `topic` from its last position (or afresh), if the socket follows it.
    pub(super) fn subscribe(&mut self, now: u64, topic: Topic, out: &mut Vec<Command>) {
        let Some(entry) = self
            .subscriptions
            .get_mut(topic)
            .filter(|entry| entry.subscribed)
        else {
            return;
        };
        let since = if entry.failed_syncs >= FAILED_SYNCS_BEFORE_SNAPSHOT {
            None
        } else {
            entry.store.position().cloned()
        };
        entry.syncing = true;
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
        let Some(entry) = self.subscriptions.get_mut(topic) else {
            return;
        };
        let applied = apply(&mut entry.store);
        entry.syncing = false;
        if applied.resync.is_some() {
            entry.failed_syncs = entry.failed_syncs.saturating_add(1);
        } else {
            entry.failed_syncs = 0;
        }
        push_rows(topic, &entry.store, applied.rows, out);
        match applied.resync {
            Some(error) => {
                out.push(notice(Notice::Problem(Problem::Resync(error))));
                self.subscribe(env.now_ms, topic, out);
            }
            None => self.synced(env.now_ms, out),
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

    /// The store matches the server: live; settle what the last connection left unknown,
    /// then send what waits.
    pub(super) fn synced(&mut self, now: u64, out: &mut Vec<Command>) {
        let went_live = matches!(self.phase, Phase::Authenticating { .. });
        if let Phase::Authenticating { conn, .. } = self.phase {
            self.phase = Phase::Live {
                conn,
                since_ms: now,
            };
        }
        self.reconcile(out);
        self.flush(now, out);
        if went_live {
            // One ping once the waiting changes are out, so that the round trip is known
            // from the start rather than after the first quiet `heartbeat_ms`, which a
            // busy board may never have.
            self.ping(now, out);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::{Change, ClientFrame, CloseCode, ErrorCode, Position, ServerFrame};

    use crate::client::fixtures::machine::{
        HOUR, Harness, TOKEN, auth_ok, closes, notices, problems, replay, sent, since_of, snapshot,
        subscribe_id, upsert,
    };
    use crate::client::fixtures::{event, task};
    use crate::client::machine::{
        Config, ConnectionState, Input, Problem, SUBSCRIBE_TIMEOUT_MS, TimerKind,
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
}
