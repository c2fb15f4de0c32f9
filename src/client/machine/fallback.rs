//! The HTTP fallback (contract section 5): where a proxy or firewall refuses WebSocket
//! upgrades, the same subscriptions and outbox run over plain HTTP.
//!
//! It is a transport under the machine, not a second copy of it: a long poll per
//! followed topic (`GET /api/changes`) brings snapshots and events into the same stores
//! at the same log positions a socket's subscribe would, and the outbox's changes go one
//! at a time over the HTTP calls (so they land in order), settled by the same rules.
//!
//! - **In.** After [`FALL_BACK_AFTER`] sockets in a row fail before `auth_ok`, the
//!   machine polls. The first polls are short: their answers show HTTP gets through
//!   (then the status is live) and give the round trip. A poll that fails means the
//!   server is away rather than sockets blocked: the fallback ends and the socket
//!   backoff goes on.
//! - **Meanwhile.** A socket is tried every [`SOCKET_TRY_MS`], and when the browser
//!   comes online (the network changed, and may let it through). Once one is
//!   authenticated, polling stops and the socket's subscribes resume every topic from
//!   the positions the polls reached; once every topic has resumed on it the fallback
//!   ends. If the socket
//!   fails first, polling resumes from the same positions. Either way each event is
//!   applied once: positions only move forward, and an answer to a poll the machine no
//!   longer waits for is dropped.
//! - **A change over HTTP** whose answer was lost is of unknown delivery, settled like a
//!   socket's by the next state the server shows (see the outbox docs); the socket waits
//!   for an HTTP change still out, so the order of a person's changes is kept across
//!   the switch.

use protocol::{
    ApiError, Changes, ChangesBody, ErrorCode, MethodValue, Position, SnapshotItems, Topic,
};

use super::connection::{Phase, Wait};
use super::messages::{HttpFailure, PollId};
use super::subscriptions::board_unavailable;
use super::{Command, Env, Machine, Notice, Problem, notice};
use crate::client::outbox::MutationId;

/// Sockets failing before `auth_ok` in a row after which the machine polls.
pub const FALL_BACK_AFTER: u8 = 2;
/// How often a socket is tried while on the fallback.
pub const SOCKET_TRY_MS: u64 = 60_000;
/// How long a long poll waits for a change (the contract's longest).
pub const POLL_WAIT_S: u64 = protocol::MAX_WAIT_SECS;

/// A poll on its way.
#[derive(Debug, Clone)]
struct Poll {
    id: PollId,
    topic: Topic,
    sent_ms: u64,
    /// `wait=0`: answers at once, so its time is the round trip.
    short: bool,
}

/// The fallback while it runs.
#[derive(Debug, Clone, Default)]
pub(super) struct Fallback {
    polls: Vec<Poll>,
    /// A poll has answered: HTTP gets through, the status is live, changes go.
    answered: bool,
    /// A socket is authenticated: its subscribes take over, no more polls.
    handing_over: bool,
}

impl Fallback {
    /// Changes go over HTTP now.
    pub(super) fn carries_changes(&self) -> bool {
        self.answered && !self.handing_over
    }

    /// What the status shows while no socket is live: live once a poll answered.
    pub(super) fn live(&self) -> bool {
        self.answered
    }
}

impl Machine {
    /// A socket failed: one more in a row before `auth_ok` (`before_auth`), or not. Falls
    /// back after [`FALL_BACK_AFTER`] of them; on the fallback, a socket that got as far
    /// as `auth_ok` hands back to the polls. Gives the wait before the next socket when
    /// the fallback decides it.
    pub(super) fn socket_failed(
        &mut self,
        now: u64,
        before_auth: bool,
        out: &mut Vec<Command>,
    ) -> Option<Wait> {
        if before_auth {
            self.socket_failures = self.socket_failures.saturating_add(1);
        }
        if let Some(fallback) = &mut self.fallback {
            if std::mem::take(&mut fallback.handing_over) {
                // The socket tried may have said who is here before it failed.
                self.no_presence(out);
                self.poll_all(now, true, out);
            }
            return Some(Wait::SocketTry);
        }
        if !before_auth || self.socket_failures < FALL_BACK_AFTER {
            return None;
        }
        self.fallback = Some(Fallback::default());
        self.no_presence(out);
        self.poll_all(now, true, out);
        Some(Wait::SocketTry)
    }

    /// Presence is not available on the fallback: nobody is shown as here.
    fn no_presence(&self, out: &mut Vec<Command>) {
        let open = self.subscriptions.changes_topic();
        if let Topic::Board(_) = open {
            out.push(notice(Notice::Presence {
                topic: open,
                users: Vec::new(),
            }));
        }
    }

    /// A socket is authenticated: the run of sockets failing before `auth_ok` is broken,
    /// and on the fallback it takes over every topic from where the polls left them, so
    /// polling stops.
    pub(super) fn hand_over(&mut self, out: &mut Vec<Command>) {
        self.socket_failures = 0;
        if let Some(fallback) = &mut self.fallback {
            fallback.handing_over = true;
            self.stop_polls(out);
        }
    }

    /// The socket is live: the fallback ends.
    pub(super) fn socket_live(&mut self, out: &mut Vec<Command>) {
        self.socket_failures = 0;
        self.leave_fallback(out);
    }

    /// Ends the fallback (back on a socket, the session over, the browser offline, or
    /// HTTP failing too).
    pub(super) fn leave_fallback(&mut self, out: &mut Vec<Command>) {
        self.stop_polls(out);
        self.fallback = None;
    }

    fn stop_polls(&mut self, out: &mut Vec<Command>) {
        if let Some(fallback) = &mut self.fallback {
            for poll in fallback.polls.drain(..) {
                out.push(Command::CancelPoll(poll.id));
            }
        }
    }

    fn poll_all(&mut self, now: u64, short: bool, out: &mut Vec<Command>) {
        for topic in self.subscriptions.followed() {
            self.poll(now, topic, short, out);
        }
    }

    /// Polls `topic` from its position, if it is followed and not polled already.
    fn poll(&mut self, now: u64, topic: Topic, short: bool, out: &mut Vec<Command>) {
        let Some(since) = self.subscriptions.resume_from(topic) else {
            return;
        };
        let Some(fallback) = &mut self.fallback else {
            return;
        };
        if fallback.handing_over || fallback.polls.iter().any(|poll| poll.topic == topic) {
            return;
        }
        let id = PollId(self.next_poll);
        self.next_poll += 1;
        fallback.polls.push(Poll {
            id,
            topic,
            sent_ms: now,
            short,
        });
        out.push(Command::Poll {
            poll: id,
            topic,
            since,
            wait_s: if short { 0 } else { POLL_WAIT_S },
        });
    }

    /// The open board changed: the last one's poll (if it was followed) goes, the new
    /// one's starts.
    pub(super) fn repoll(&mut self, now: u64, old: Option<Topic>, out: &mut Vec<Command>) {
        let Some(fallback) = &mut self.fallback else {
            return;
        };
        if let Some(at) = fallback
            .polls
            .iter()
            .position(|poll| Some(poll.topic) == old)
        {
            out.push(Command::CancelPoll(fallback.polls.swap_remove(at).id));
        }
        let open = self.subscriptions.changes_topic();
        self.poll(now, open, true, out);
    }

    pub(super) fn on_polled(
        &mut self,
        env: Env,
        poll: PollId,
        result: Result<Changes, HttpFailure>,
        out: &mut Vec<Command>,
    ) {
        let now = env.now_ms;
        let Some(fallback) = &mut self.fallback else {
            return;
        };
        let Some(at) = fallback.polls.iter().position(|sent| sent.id == poll) else {
            return;
        };
        let sent = fallback.polls.swap_remove(at);
        let topic = sent.topic;
        match result {
            Ok(changes) => {
                fallback.answered = true;
                self.session.token_accepted();
                if sent.short {
                    self.stats.poll_rtt_ms = Some(now.saturating_sub(sent.sent_ms));
                }
                let applied = self.apply_changes(topic, changes, out);
                self.poll(now, topic, !applied, out);
                // The open board's state is known up to here: settle what a lost answer
                // left unknown (not from the board list's poll, which says nothing of
                // it, unless the open board is not followed; never before a board is
                // open), then send what waits.
                let open = self.subscriptions.changes_topic();
                if self.subscriptions.chosen()
                    && ((applied && topic == open) || !self.subscriptions.follows(open))
                {
                    self.reconcile(out);
                }
                self.flush(now, out);
            }
            Err(HttpFailure::Refused(error)) if error.code == ErrorCode::Unauthorized => {
                self.token_refused(now, out);
            }
            Err(HttpFailure::Refused(error)) if board_unavailable(topic, &error) => {
                self.subscriptions.unavailable(topic, error, out);
                // No board followed now: what waits is settled as a socket would.
                self.reconcile(out);
                self.flush(now, out);
            }
            Err(failure) => {
                if let HttpFailure::Refused(error) = failure {
                    out.push(notice(Notice::Problem(Problem::Server(error))));
                }
                self.http_unreachable(env, out);
            }
        }
    }

    /// A poll's answer into its topic's store; false when it could not be applied (it is
    /// asked for again at once, from afresh after failures in a row).
    fn apply_changes(&mut self, topic: Topic, changes: Changes, out: &mut Vec<Command>) -> bool {
        let Changes {
            epoch, seq, body, ..
        } = changes;
        match (topic, body) {
            (Topic::Boards, ChangesBody::Snapshot(snapshot)) => {
                let items = match snapshot.items {
                    SnapshotItems::Boards(items) => items,
                    // An empty list reads as tasks; a list of tasks is not one of boards.
                    SnapshotItems::Tasks(tasks) if tasks.is_empty() => Vec::new(),
                    SnapshotItems::Tasks(_) => return self.unreadable(topic, out),
                };
                if let Some(boards) = &mut self.subscriptions.boards {
                    boards.replace(Position { epoch, seq }, items, out);
                }
                true
            }
            // The board list is logged nowhere: it comes whole whenever it moved.
            (Topic::Boards, ChangesBody::Events(_)) => true,
            (_, ChangesBody::Snapshot(snapshot)) => match snapshot.items {
                SnapshotItems::Tasks(items) => self
                    .subscriptions
                    .apply_sync(topic, |store| store.apply_snapshot(epoch, seq, items), out)
                    .is_none_or(|applied| applied.is_ok()),
                SnapshotItems::Boards(_) => self.unreadable(topic, out),
            },
            (_, ChangesBody::Events(events)) => self
                .subscriptions
                .apply_sync(topic, |store| store.apply_replay(&epoch, seq, &events), out)
                .is_none_or(|applied| applied.is_ok()),
        }
    }

    fn unreadable(&self, topic: Topic, out: &mut Vec<Command>) -> bool {
        let error = ApiError::new(
            ErrorCode::Internal,
            format!("the changes of {topic} came as the wrong kind of list"),
        );
        out.push(notice(Notice::Problem(Problem::Server(error))));
        false
    }

    /// Sends the oldest waiting change over HTTP, if none is out.
    pub(super) fn flush_http(&mut self, out: &mut Vec<Command>) {
        if self.http_call.is_some() {
            return;
        }
        if let Some((mutation, call)) = self.outbox.sendable().into_iter().next() {
            self.mark_sent(mutation);
            self.http_call = Some(mutation);
            out.push(Command::Call { mutation, call });
            self.push_outbox(out);
        }
    }

    pub(super) fn on_called(
        &mut self,
        env: Env,
        mutation: MutationId,
        result: Result<MethodValue, HttpFailure>,
        out: &mut Vec<Command>,
    ) {
        if self.http_call != Some(mutation) {
            return;
        }
        self.http_call = None;
        match result {
            Ok(value) => {
                self.session.token_accepted();
                self.settle_mutation(mutation, Ok(value), out);
            }
            Err(HttpFailure::Refused(error)) if error.code != ErrorCode::Unauthorized => {
                self.session.token_accepted();
                self.settle_mutation(mutation, Err(error), out);
            }
            Err(failure) => {
                // Its fate is unknown (no answer), or it was not made (the token
                // refused): either way the next state the server shows settles it.
                if self.outbox.mark_unknown(mutation) {
                    self.push_outbox(out);
                }
                match (failure, self.fallback.is_some()) {
                    (HttpFailure::Unreachable, true) => self.http_unreachable(env, out),
                    (HttpFailure::Refused(_), true) => self.token_refused(env.now_ms, out),
                    // Back on a socket already: its resubscribe brings that state. A
                    // socket not authenticated yet subscribes once it is (`auth` must
                    // be its first frame), and that answer settles the change.
                    (_, false) => {
                        if self.phase.authed() && !self.subscriptions.changes_syncing() {
                            self.subscribe(env.now_ms, self.subscriptions.changes_topic(), out);
                        }
                    }
                }
            }
        }
        self.flush(env.now_ms, out);
    }

    /// The server refused the token on a poll or a call: as for a 4401, it is refreshed
    /// once and the machine connects again (falling back again if sockets still fail).
    /// A socket being tried meanwhile is given up: it would authenticate with the old one.
    fn token_refused(&mut self, now: u64, out: &mut Vec<Command>) {
        self.leave_fallback(out);
        if let Some(conn) = self.phase.conn() {
            self.close_socket(conn, protocol::CloseCode::GaveUp, "token refused", out);
            self.lose_connection(now, out);
        }
        self.on_unauthorized(now, out);
    }

    /// HTTP does not get through either: the server is away, not just sockets blocked.
    /// The fallback ends and the socket backoff goes on; the polls start afresh on the
    /// next fallback, after the failure, so their answers can settle what it left unknown.
    fn http_unreachable(&mut self, env: Env, out: &mut Vec<Command>) {
        self.leave_fallback(out);
        // The socket try a minute away becomes the backoff's next; the same attempt.
        if let Phase::Reconnecting { at_ms: Some(_) } = self.phase {
            let delay = self.backoff.next_delay_ms(env.random);
            self.phase = Phase::Reconnecting {
                at_ms: Some(env.now_ms.saturating_add(delay)),
            };
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::{
        ApiError, Change, Changes, ChangesBody, CreateParams, DeleteParams, ErrorCode, MethodCall,
        MethodValue, Position, SnapshotItems, Task, Topic, TopicSnapshot,
    };
    use uuid::Uuid;

    use super::{POLL_WAIT_S, SOCKET_TRY_MS};
    use crate::client::fixtures::machine::{
        HOUR, Harness, TOKEN, auth_ok, board_list, closed, create, notices, opened, replay,
        request_ids, set_done, settled, since_of, subscribe_id, subscribed, timer,
    };
    use crate::client::fixtures::{event, task};
    use crate::client::machine::{
        Command, Config, ConnectionState, HttpFailure, Input, Notice, PollId, TimerKind, Transport,
    };
    use crate::client::outbox::{Kept, MutationId};

    /// The polls a batch of commands starts: (poll, topic, since, wait).
    fn polls(out: &[Command]) -> Vec<(PollId, Topic, Option<Position>, u64)> {
        out.iter()
            .filter_map(|command| match command {
                Command::Poll {
                    poll,
                    topic,
                    since,
                    wait_s,
                } => Some((*poll, *topic, since.clone(), *wait_s)),
                _ => None,
            })
            .collect()
    }

    fn cancelled(out: &[Command]) -> Vec<PollId> {
        out.iter()
            .filter_map(|command| match command {
                Command::CancelPoll(poll) => Some(*poll),
                _ => None,
            })
            .collect()
    }

    fn calls(out: &[Command]) -> Vec<(MutationId, MethodCall)> {
        out.iter()
            .filter_map(|command| match command {
                Command::Call { mutation, call } => Some((*mutation, call.clone())),
                _ => None,
            })
            .collect()
    }

    fn at(seq: u64) -> Option<Position> {
        Some(Position {
            epoch: "e1".to_owned(),
            seq,
        })
    }

    fn events(seq: u64, events: Vec<protocol::Event>) -> Changes {
        Changes {
            topic: Topic::Tasks,
            epoch: "e1".to_owned(),
            seq,
            body: ChangesBody::Events(events),
        }
    }

    fn whole(seq: u64, items: Vec<Task>) -> Changes {
        Changes {
            topic: Topic::Tasks,
            epoch: "e1".to_owned(),
            seq,
            body: ChangesBody::Snapshot(TopicSnapshot {
                items: SnapshotItems::Tasks(items),
            }),
        }
    }

    fn created(n: u128) -> protocol::Event {
        event(0, Change::Upsert { item: task(n) })
    }

    fn at_seq(seq: u64, mut event: protocol::Event) -> protocol::Event {
        event.seq = seq;
        event
    }

    fn done(n: u128, version: u64) -> Task {
        Task {
            done: true,
            version,
            ..task(n)
        }
    }

    /// Two sockets refused before `auth_ok` (a proxy refusing upgrades): the machine
    /// polls. Returns the first poll.
    fn refused_twice(h: &mut Harness) -> (PollId, Vec<Command>) {
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let first = opened(&out).unwrap();
        let out = h.feed(closed(first, 1006));
        assert!(polls(&out).is_empty(), "one refused socket is not enough");
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let second = opened(&out).unwrap();
        let out = h.feed(closed(second, 1006));
        let [(poll, Topic::Tasks, None, 0)] = polls(&out)[..] else {
            panic!("a short poll of the open board, from afresh: {out:?}");
        };
        assert_eq!(timer(&out, TimerKind::Reconnect), Some(SOCKET_TRY_MS));
        (poll, out)
    }

    /// Signed in with `call` kept across a reload after it went out once, on a socket
    /// that follows the board list beside the open board; two sockets refused, so both
    /// are polled, and the board list's poll answers first (an empty list): nothing is
    /// settled or sent from that. Returns the open board's poll.
    fn board_list_polled_first(h: &mut Harness, call: &MethodCall) -> PollId {
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        h.feed(Input::Restore(vec![Kept {
            call: call.clone(),
            sends: 1,
            based_on: None,
        }]));
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        let [(list, Topic::Boards, ..), (open, ..)] = polls(&out)[..] else {
            panic!("the board list's poll and the open board's: {out:?}");
        };
        let out = h.feed(Input::Polled {
            poll: list,
            result: Ok(Changes {
                topic: Topic::Boards,
                epoch: "e1".to_owned(),
                seq: 1,
                body: ChangesBody::Snapshot(TopicSnapshot {
                    items: SnapshotItems::Boards(Vec::new()),
                }),
            }),
        });
        assert!(
            settled(&out).is_empty(),
            "settled by the board list: {out:?}"
        );
        assert!(
            calls(&out).is_empty(),
            "sent on the board list's word: {out:?}"
        );
        open
    }

    /// On the fallback and live on a snapshot of `items` at seq `seq`; the long poll out.
    fn on_fallback(h: &mut Harness, seq: u64, items: Vec<Task>) -> PollId {
        let (poll, out) = refused_twice(h);
        assert!(notices(&out).contains(&Notice::Transport(Transport::Http)));
        assert_eq!(h.state(), ConnectionState::Connecting);
        let out = h.feed(Input::Polled {
            poll,
            result: Ok(whole(seq, items)),
        });
        assert!(notices(&out).contains(&Notice::Status(ConnectionState::Live)));
        let [(next, Topic::Tasks, ref since, POLL_WAIT_S)] = polls(&out)[..] else {
            panic!("a long poll from the snapshot's position: {out:?}");
        };
        assert_eq!(*since, at(seq));
        next
    }

    #[test]
    fn refused_sockets_fall_back_to_polls_and_a_socket_takes_over_without_a_gap() {
        let mut h = Harness::new();
        let poll = on_fallback(&mut h, 5, vec![task(1)]);
        assert_eq!(h.machine.diagnostics().transport, Transport::Http);
        assert!(h.machine.diagnostics().poll_rtt_ms.is_some());

        // Changes go over HTTP, one at a time, in order.
        let out = h.feed(Input::Mutate(create(2)));
        assert_eq!(calls(&out), [(MutationId(1), create(2))]);
        let out = h.feed(Input::Mutate(set_done(2)));
        assert!(calls(&out).is_empty(), "the second waits for the first");
        let out = h.feed(Input::Called {
            mutation: MutationId(1),
            result: Ok(MethodValue {
                task: Some(task(2)),
                ..MethodValue::default()
            }),
        });
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert_eq!(calls(&out), [(MutationId(2), set_done(2))]);

        // The long poll brings what changed, and the next one starts from there.
        let out = h.feed(Input::Polled {
            poll,
            result: Ok(events(6, vec![at_seq(6, created(2))])),
        });
        let [(poll, _, ref since, POLL_WAIT_S)] = polls(&out)[..] else {
            panic!("the next long poll: {out:?}");
        };
        assert_eq!(*since, at(6));
        assert_eq!(h.machine.store().len(), 2);

        // A minute on, a socket gets through: polling stops, the socket resumes from the
        // position the polls reached, and the status stays live meanwhile.
        let out = h.at(
            h.now + SOCKET_TRY_MS,
            Input::TimerFired(TimerKind::Reconnect),
        );
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        assert_eq!(cancelled(&out), [poll]);
        assert_eq!(since_of(&out), at(6));
        assert_eq!(h.state(), ConnectionState::Live);
        // The cancelled poll's answer, arriving anyway, changes nothing.
        let late = h.feed(Input::Polled {
            poll,
            result: Ok(events(7, vec![at_seq(7, created(3))])),
        });
        assert!(notices(&late).is_empty(), "{late:?}");
        let out = h.frame(
            conn,
            replay(subscribe_id(&out), 7, vec![at_seq(7, created(3))]),
        );
        assert!(notices(&out).contains(&Notice::Transport(Transport::WebSocket)));
        assert_eq!(h.machine.store().len(), 3, "event 7 applied once");

        // The change still out over HTTP keeps its place: the socket waits for it.
        assert!(request_ids(&out).is_empty(), "{out:?}");
        let out = h.feed(Input::Mutate(create(4)));
        assert!(request_ids(&out).is_empty());
        let out = h.feed(Input::Called {
            mutation: MutationId(2),
            result: Ok(MethodValue {
                task: Some(done(2, 2)),
                ..MethodValue::default()
            }),
        });
        assert_eq!(settled(&out), [(MutationId(2), Ok(()))]);
        assert_eq!(
            request_ids(&out)
                .into_iter()
                .map(|(_, call)| call)
                .collect::<Vec<_>>(),
            [create(4)]
        );
    }

    /// Sockets refused for too many (4429, before `auth_ok`: a user over the cap on
    /// sockets) were heard by the server: each waits the longest backoff, and the app
    /// does not go round the cap with polls.
    #[test]
    fn sockets_refused_for_too_many_wait_and_do_not_fall_back() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let mut conn = opened(&out).unwrap();
        for _ in 0..3 {
            let out = h.feed(closed(conn, 4429));
            assert!(polls(&out).is_empty(), "no polls: {out:?}");
            let delay = timer(&out, TimerKind::Reconnect).unwrap();
            assert_eq!(delay, 30_000, "the longest backoff");
            let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
            conn = opened(&out).unwrap();
        }
        assert_eq!(h.machine.transport(), Transport::WebSocket);
    }

    /// A socket that takes over from the polls ends the fallback only once every topic
    /// has resumed on it: one that fails after the board list's answer but before the
    /// open board's (a proxy that cuts big frames) hands back to the polls, for both.
    #[test]
    fn the_fallback_ends_only_once_every_topic_has_resumed_on_the_socket() {
        let mut h = Harness::with(Config {
            boards: true,
            ..Config::default()
        });
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        assert_eq!(polls(&out).len(), 2, "both topics polled: {out:?}");
        assert_eq!(h.machine.transport(), Transport::Http);

        let out = h.at(
            h.now + SOCKET_TRY_MS,
            Input::TimerFired(TimerKind::Reconnect),
        );
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        let [(Topic::Boards, boards), (Topic::Tasks, _)] = subscribed(&out)[..] else {
            panic!("the board list, then the board: {out:?}");
        };
        h.frame(conn, board_list(boards));
        let out = h.feed(closed(conn, 1006));
        assert_eq!(polls(&out).len(), 2, "both topics polled again: {out:?}");
        assert_eq!(timer(&out, TimerKind::Reconnect), Some(SOCKET_TRY_MS));
    }

    #[test]
    fn coming_online_on_the_fallback_tries_a_socket_at_once() {
        let mut h = Harness::new();
        on_fallback(&mut h, 5, vec![]);
        let out = h.feed(Input::Online);
        assert!(
            opened(&out).is_some(),
            "a socket now, not in a minute: {out:?}"
        );
        assert_eq!(h.state(), ConnectionState::Live, "polls carry on meanwhile");
        assert_eq!(h.machine.diagnostics().last_socket_try_ms, Some(h.now));
    }

    #[test]
    fn a_socket_failing_after_auth_hands_back_to_the_polls_from_the_same_position() {
        let mut h = Harness::new();
        on_fallback(&mut h, 5, vec![]);
        let out = h.at(
            h.now + SOCKET_TRY_MS,
            Input::TimerFired(TimerKind::Reconnect),
        );
        let conn = h.open(&out);
        let out = h.frame(conn, auth_ok(1));
        assert_eq!(cancelled(&out).len(), 1);
        let out = h.feed(closed(conn, 1006));
        let [(_, Topic::Tasks, ref since, 0)] = polls(&out)[..] else {
            panic!("polling again at once: {out:?}");
        };
        assert_eq!(*since, at(5));
        assert_eq!(h.state(), ConnectionState::Live);
        assert_eq!(h.machine.transport(), Transport::Http);
        assert_eq!(timer(&out, TimerKind::Reconnect), Some(SOCKET_TRY_MS));
    }

    /// A socket tried from the fallback says who is here on the open board, then fails
    /// before taking over: back on the polls, which carry no presence, nobody is shown as
    /// here rather than whoever was when the socket went.
    #[test]
    fn a_socket_try_that_said_who_is_here_and_failed_leaves_nobody_shown() {
        let mut h = Harness::new();
        on_fallback(&mut h, 5, vec![]);
        let board = Topic::Board(Uuid::from_u128(5));
        h.feed(Input::Open(board));
        let out = h.at(
            h.now + SOCKET_TRY_MS,
            Input::TimerFired(TimerKind::Reconnect),
        );
        let conn = h.open(&out);
        h.frame(conn, auth_ok(1));
        let users = vec![protocol::MemberUser {
            id: Uuid::from_u128(9),
            username: "ann".to_owned(),
        }];
        let out = h.frame(
            conn,
            protocol::ServerFrame::Presence {
                topic: board,
                users: users.clone(),
            },
        );
        assert_eq!(
            notices(&out),
            [Notice::Presence {
                topic: board,
                users
            }]
        );
        let out = h.feed(closed(conn, 1006));
        assert!(
            notices(&out).contains(&Notice::Presence {
                topic: board,
                users: Vec::new()
            }),
            "{out:?}"
        );
    }

    #[test]
    fn a_failing_poll_means_the_server_is_away_and_the_backoff_goes_on() {
        let mut h = Harness::new();
        let poll = on_fallback(&mut h, 5, vec![]);
        let out = h.feed(Input::Polled {
            poll,
            result: Err(HttpFailure::Unreachable),
        });
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        assert!(notices(&out).contains(&Notice::Transport(Transport::WebSocket)));
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        assert!(delay < SOCKET_TRY_MS, "the socket backoff, not a minute");
        // The next socket that fails before `auth_ok` goes back to polling.
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = opened(&out).unwrap();
        let out = h.feed(closed(conn, 1006));
        assert_eq!(polls(&out).len(), 1);
    }

    #[test]
    fn a_change_whose_answer_was_lost_is_settled_by_the_next_poll_not_made_twice() {
        let mut h = Harness::new();
        on_fallback(&mut h, 5, vec![]);
        let out = h.feed(Input::Mutate(create(2)));
        assert_eq!(calls(&out).len(), 1);
        let out = h.feed(Input::Called {
            mutation: MutationId(1),
            result: Err(HttpFailure::Unreachable),
        });
        assert!(settled(&out).is_empty(), "not known yet");
        assert_eq!(h.state(), ConnectionState::Reconnecting);
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        let [(poll, _, ref since, 0)] = polls(&out)[..] else {
            panic!("polling again: {out:?}");
        };
        assert_eq!(*since, at(5));
        // The server shows the task: it was made; it is settled, not sent again.
        let out = h.feed(Input::Polled {
            poll,
            result: Ok(events(6, vec![at_seq(6, created(2))])),
        });
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(calls(&out).is_empty());
        assert!(h.machine.outbox().is_empty());
    }

    /// A change over HTTP fails once the fallback has ended and the next socket is only
    /// connecting: nothing goes on that socket before its `auth`, and its subscribe,
    /// once authenticated, brings the state that settles the change.
    #[test]
    fn a_change_failing_while_the_next_socket_connects_waits_for_its_auth() {
        let mut h = Harness::new();
        let poll = on_fallback(&mut h, 5, vec![]);
        let out = h.feed(Input::Mutate(create(2)));
        assert_eq!(calls(&out).len(), 1);
        let out = h.feed(Input::Polled {
            poll,
            result: Err(HttpFailure::Unreachable),
        });
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let conn = opened(&out).unwrap();
        let out = h.feed(Input::Called {
            mutation: MutationId(1),
            result: Err(HttpFailure::Unreachable),
        });
        let sends: Vec<_> = out
            .iter()
            .filter(|command| matches!(command, Command::Send { .. }))
            .collect();
        assert!(sends.is_empty(), "nothing before auth: {out:?}");
        h.feed(Input::Opened { conn });
        let out = h.frame(conn, auth_ok(1));
        let out = h.frame(
            conn,
            replay(subscribe_id(&out), 6, vec![at_seq(6, created(2))]),
        );
        assert_eq!(settled(&out), [(MutationId(1), Ok(()))]);
        assert!(request_ids(&out).is_empty(), "made once: {out:?}");
    }

    /// "Twice in a row": a socket that reaches `auth_ok` between two that do not (it
    /// dropped before its snapshot) breaks the run, so the next failure alone does not
    /// fall back; a second in a row then does.
    #[test]
    fn a_socket_that_reached_auth_ok_breaks_the_run_of_failures() {
        let mut h = Harness::new();
        let out = h.feed(Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        fn next(h: &mut Harness, out: &[Command]) -> Vec<Command> {
            let delay = timer(out, TimerKind::Reconnect).unwrap();
            h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect))
        }
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        let out = next(&mut h, &out);
        let conn = h.open(&out);
        h.frame(conn, auth_ok(1));
        let out = h.feed(closed(conn, 1006));
        let out = next(&mut h, &out);
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        assert!(polls(&out).is_empty(), "one failure since auth_ok: {out:?}");
        let out = next(&mut h, &out);
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        assert_eq!(polls(&out).len(), 1, "two in a row: {out:?}");
    }

    #[test]
    fn a_refused_token_on_a_poll_is_refreshed_and_polling_resumes() {
        let mut h = Harness::new();
        let poll = on_fallback(&mut h, 5, vec![]);
        let out = h.feed(Input::Polled {
            poll,
            result: Err(HttpFailure::Refused(ApiError::new(
                ErrorCode::Unauthorized,
                "expired",
            ))),
        });
        assert!(out.contains(&Command::RefreshToken));
        let out = h.feed(Input::TokenRefreshed {
            token: "token-2".to_owned(),
            expires_at_ms: h.now + HOUR,
        });
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        let [(poll, Topic::Tasks, ref since, 0)] = polls(&out)[..] else {
            panic!("polling again with the new token: {out:?}");
        };
        assert_eq!(*since, at(5));

        // The server takes the new token. Much later, that one expires too: it is
        // refreshed like the first, not taken for a second refusal in a row.
        let out = h.feed(Input::Polled {
            poll,
            result: Ok(events(5, vec![])),
        });
        let [(poll, ..)] = polls(&out)[..] else {
            panic!("the long poll: {out:?}");
        };
        let out = h.feed(Input::Polled {
            poll,
            result: Err(HttpFailure::Refused(ApiError::new(
                ErrorCode::Unauthorized,
                "expired",
            ))),
        });
        assert!(out.contains(&Command::RefreshToken), "{out:?}");
        assert!(!out.contains(&Command::GoToLogin), "{out:?}");
    }

    #[test]
    fn a_board_the_person_cannot_read_is_reported_and_not_polled_again() {
        let mut h = Harness::new();
        on_fallback(&mut h, 5, vec![]);
        let board = Topic::Board(Uuid::from_u128(9));
        let out = h.feed(Input::Open(board));
        let [(poll, topic, None, 0)] = polls(&out)[..] else {
            panic!("the new board is polled from afresh: {out:?}");
        };
        assert_eq!(topic, board);
        assert_eq!(cancelled(&out).len(), 1, "the last board's poll goes");
        let error = ApiError::new(ErrorCode::NotFound, "No such board.");
        let out = h.feed(Input::Polled {
            poll,
            result: Err(HttpFailure::Refused(error.clone())),
        });
        assert_eq!(
            notices(&out),
            [Notice::Unavailable {
                topic: board,
                error
            }]
        );
        assert!(polls(&out).is_empty());
        assert_eq!(h.state(), ConnectionState::Live);
    }

    #[test]
    fn signing_out_on_the_fallback_cancels_the_polls() {
        let mut h = Harness::new();
        let poll = on_fallback(&mut h, 5, vec![]);
        let out = h.feed(Input::SignOut);
        assert_eq!(cancelled(&out), [poll]);
        assert_eq!(h.state(), ConnectionState::Closed);
        assert_eq!(h.machine.transport(), Transport::WebSocket);
    }

    #[test]
    fn a_socket_that_was_live_once_is_not_given_up_for_polls() {
        let mut h = Harness::new();
        let conn = h.live(5);
        let out = h.feed(closed(conn, 1006));
        assert!(polls(&out).is_empty());
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        assert!(polls(&out).is_empty(), "one failure before auth_ok so far");
        let delay = timer(&out, TimerKind::Reconnect).unwrap();
        let out = h.at(h.now + delay, Input::TimerFired(TimerKind::Reconnect));
        let out = h.feed(closed(opened(&out).unwrap(), 1006));
        assert_eq!(polls(&out).len(), 1, "two in a row");
    }

    /// On the fallback the board list is polled beside the open board, and may answer
    /// first: a kept change that went out once waits for the open board's answer.
    #[test]
    fn a_kept_change_waits_for_the_open_boards_poll_not_the_board_lists() {
        let mut h = Harness::with(Config {
            boards: true,
            ..Config::default()
        });
        let delete = MethodCall::Delete(DeleteParams {
            board: None,
            id: Uuid::from_u128(1),
        });
        let open = board_list_polled_first(&mut h, &delete);
        // The board still has the task: the delete never landed, and goes once now.
        let out = h.feed(Input::Polled {
            poll: open,
            result: Ok(whole(5, vec![task(1)])),
        });
        assert!(settled(&out).is_empty());
        assert_eq!(calls(&out), [(MutationId(1), delete)]);
    }

    /// The open board's poll is refused (not the person's board): no board is followed,
    /// so a kept change of unknown delivery is settled as a socket would settle it (sent
    /// once more, for the server to answer) rather than holding up everything after it.
    #[test]
    fn a_kept_change_is_settled_when_the_open_board_cannot_be_read() {
        let board = Uuid::from_u128(9);
        let mut h = Harness::with(Config {
            subscribe: Some(Topic::Board(board)),
            boards: true,
            ..Config::default()
        });
        let create = MethodCall::Create(CreateParams {
            board: Some(board),
            id: Some(Uuid::from_u128(1)),
            title: "t1".to_owned(),
        });
        let open = board_list_polled_first(&mut h, &create);
        let out = h.feed(Input::Polled {
            poll: open,
            result: Err(HttpFailure::Refused(ApiError::new(
                ErrorCode::NotFound,
                "No such board.",
            ))),
        });
        assert_eq!(calls(&out), [(MutationId(1), create)]);
    }
}
