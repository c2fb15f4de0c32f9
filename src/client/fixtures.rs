//! Test data for the client's unit tests and benchmarks, in one place: tasks and events,
//! the synthetic merge the benchmarks time, and (for tests) a harness that drives one
//! [`Machine`](super::machine::Machine) with the frames and commands its tests read.
//!
//! Compiled for tests, and with the `fixtures` feature for the benchmarks.

use protocol::{Change, Event, Task, TaskFields, Topic};
use uuid::Uuid;

use super::store::Store;
use protocol::time::format_epoch_ms;

/// Task `n`: id `n`, title `t{n}`, open, version 1, created at second `n` (so that
/// creation order is `n` order).
pub fn task(n: u128) -> Task {
    Task {
        id: Uuid::from_u128(n),
        title: format!("t{n}"),
        done: false,
        version: 1,
        created_at: format!("2026-01-01T00:00:{n:02}Z"),
        updated_at: "2026-01-01T00:00:00Z".to_owned(),
        updated_by: "maya".to_owned(),
    }
}

/// A live event of epoch `e1`.
pub fn event(seq: u64, change: Change) -> Event {
    Event {
        topic: Topic::Tasks,
        epoch: "e1".to_owned(),
        seq,
        change,
    }
}

/// Synthetic data for measuring the store: a snapshot of `tasks` tasks and `events` live
/// events touching them (patches, new tasks and deletes). The benchmark builds it once
/// and times [`MergeFixture::run`].
#[derive(Debug, Clone)]
pub struct MergeFixture {
    pub items: Vec<Task>,
    pub events: Vec<Event>,
}

impl MergeFixture {
    pub fn new(tasks: usize, events: usize) -> Self {
        let task = |n: usize| Task {
            id: Uuid::from_u128(n as u128 + 1),
            title: format!("Task {n}"),
            done: n.is_multiple_of(3),
            version: 1,
            created_at: format_epoch_ms(1_700_000_000_000 + n as u64 * 1000),
            updated_at: format_epoch_ms(1_700_000_000_000 + n as u64 * 1000),
            updated_by: "maya".to_owned(),
        };
        let items: Vec<Task> = (0..tasks).map(task).collect();
        let mut versions = vec![1u64; tasks];
        let events = (0..events)
            .map(|i| {
                let target = (i * 7919) % tasks.max(1);
                let change = match i % 10 {
                    0 => Change::Upsert {
                        item: task(tasks + i),
                    },
                    1 if tasks > 0 => Change::Delete {
                        id: Uuid::from_u128(target as u128 + 1),
                    },
                    _ if tasks > 0 => {
                        versions[target] += 1;
                        Change::Patch {
                            id: Uuid::from_u128(target as u128 + 1),
                            version: versions[target],
                            fields: TaskFields {
                                done: Some(i % 2 == 0),
                                ..Default::default()
                            },
                        }
                    }
                    _ => Change::Upsert {
                        item: task(tasks + i),
                    },
                };
                Event {
                    topic: Topic::Tasks,
                    epoch: "bench".to_owned(),
                    seq: 1 + i as u64,
                    change,
                }
            })
            .collect();
        Self { items, events }
    }

    /// Merges the snapshot and then every event into a fresh store; returns the store
    /// and how many row changes the shell would have applied.
    pub fn run(&self) -> (Store, usize) {
        let mut store = Store::new();
        let mut count = store
            .apply_snapshot("bench".to_owned(), 0, self.items.clone())
            .rows
            .len();
        for event in &self.events {
            count += store.apply_event(event).rows.len();
        }
        (store, count)
    }
}

/// Drives one machine through its inputs, and reads the commands it gives back.
#[cfg(test)]
pub mod machine {
    use protocol::{
        Change, ClientFrame, CloseCode, CreateParams, Event, MethodCall, MethodValue, Outcome,
        Position, Role, ServerFrame, Task, Topic, UpdateParams, User,
    };
    use uuid::Uuid;

    use super::{event, task};
    use crate::client::machine::{
        Command, Config, ConnId, ConnectionState, Env, Input, Machine, MutationError, Notice,
        Problem, TimerKind,
    };
    use crate::client::outbox::MutationId;
    use crate::client::rows::RowUpdate;

    pub const TOKEN: &str = "token-1";
    pub const HOUR: u64 = 3_600_000;

    pub struct Harness {
        pub machine: Machine,
        pub now: u64,
        pub random: f64,
    }

    impl Default for Harness {
        fn default() -> Self {
            Self::with(Config::default())
        }
    }

    impl Harness {
        pub fn new() -> Self {
            Self::default()
        }

        pub fn with(config: Config) -> Self {
            Self {
                machine: Machine::new(config),
                now: 1_000_000,
                random: 0.999_999,
            }
        }

        pub fn feed(&mut self, input: Input) -> Vec<Command> {
            let env = Env {
                now_ms: self.now,
                random: self.random,
            };
            self.machine.handle(env, input)
        }

        pub fn at(&mut self, now: u64, input: Input) -> Vec<Command> {
            self.now = now;
            self.feed(input)
        }

        pub fn frame(&mut self, conn: ConnId, frame: ServerFrame) -> Vec<Command> {
            self.feed(Input::Frame { conn, frame })
        }

        pub fn state(&self) -> ConnectionState {
            self.machine.state()
        }

        /// Sign-in (or a reconnect timer) up to the `auth` frame: returns the socket.
        pub fn open(&mut self, commands: &[Command]) -> ConnId {
            let conn = opened(commands).expect("an Open command");
            let out = self.feed(Input::Opened { conn });
            assert!(
                matches!(sent(&out)[..], [ClientFrame::Auth { id: 1, .. }]),
                "auth first, with id 1: {out:?}"
            );
            conn
        }

        /// The socket drops (1006); `meanwhile` runs while it is down; then the next
        /// socket opens and gets `auth_ok`: returns it and what `auth_ok` brought.
        pub fn reconnect_after(
            &mut self,
            conn: ConnId,
            meanwhile: impl FnOnce(&mut Self),
        ) -> (ConnId, Vec<Command>) {
            let out = self.feed(closed(conn, 1006));
            let delay = timer(&out, TimerKind::Reconnect).expect("a reconnect timer");
            meanwhile(self);
            let out = self.at(self.now + delay, Input::TimerFired(TimerKind::Reconnect));
            let conn = self.open(&out);
            let out = self.frame(conn, auth_ok(1));
            (conn, out)
        }

        /// [`Harness::reconnect_after`] with nothing in between.
        pub fn reconnect(&mut self, conn: ConnId) -> (ConnId, Vec<Command>) {
            self.reconnect_after(conn, |_| {})
        }

        /// Signs in (a token good for an hour) up to the `auth` frame: returns the socket.
        pub fn signed_in(&mut self) -> ConnId {
            let out = self.feed(Input::SignIn {
                token: TOKEN.to_owned(),
                expires_at_ms: self.now + HOUR,
            });
            self.open(&out)
        }

        /// Signs in and goes live on an empty snapshot at `e1`/`seq`.
        pub fn live(&mut self, seq: u64) -> ConnId {
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

    pub fn opened(commands: &[Command]) -> Option<ConnId> {
        commands.iter().find_map(|command| match command {
            Command::Open { conn } => Some(*conn),
            _ => None,
        })
    }

    pub fn sent(commands: &[Command]) -> Vec<ClientFrame> {
        commands
            .iter()
            .filter_map(|command| match command {
                Command::Send { frame, .. } => Some(frame.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn subscribe_id(commands: &[Command]) -> u64 {
        sent(commands)
            .iter()
            .find_map(|frame| match frame {
                ClientFrame::Subscribe { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a subscribe")
    }

    pub fn since_of(commands: &[Command]) -> Option<Position> {
        sent(commands).into_iter().find_map(|frame| match frame {
            ClientFrame::Subscribe { since, .. } => since,
            _ => None,
        })
    }

    pub fn request_ids(commands: &[Command]) -> Vec<(u64, MethodCall)> {
        sent(commands)
            .into_iter()
            .filter_map(|frame| match frame {
                ClientFrame::Request { id, call } => Some((id, call)),
                _ => None,
            })
            .collect()
    }

    pub fn timer(commands: &[Command], wanted: TimerKind) -> Option<u64> {
        commands.iter().find_map(|command| match command {
            Command::StartTimer { kind, after_ms } if *kind == wanted => Some(*after_ms),
            _ => None,
        })
    }

    pub fn notices(commands: &[Command]) -> Vec<Notice> {
        commands
            .iter()
            .filter_map(|command| match command {
                Command::Notify(notice) => Some(notice.clone()),
                _ => None,
            })
            .collect()
    }

    /// The row updates of every `Rows` notice, in order.
    pub fn rows(commands: &[Command]) -> Vec<RowUpdate> {
        notices(commands)
            .into_iter()
            .flat_map(|notice| match notice {
                Notice::Rows { rows, .. } => rows,
                _ => Vec::new(),
            })
            .collect()
    }

    pub fn settled(commands: &[Command]) -> Vec<(MutationId, Result<(), MutationError>)> {
        notices(commands)
            .into_iter()
            .filter_map(|notice| match notice {
                Notice::Settled { mutation, result } => Some((mutation, result)),
                _ => None,
            })
            .collect()
    }

    pub fn problems(commands: &[Command]) -> Vec<Problem> {
        notices(commands)
            .into_iter()
            .filter_map(|notice| match notice {
                Notice::Problem(problem) => Some(problem),
                _ => None,
            })
            .collect()
    }

    pub fn closes(commands: &[Command]) -> Vec<CloseCode> {
        commands
            .iter()
            .filter_map(|command| match command {
                Command::Close { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    }

    pub fn user() -> User {
        User {
            id: Uuid::from_u128(99),
            username: "alice".to_owned(),
            role: Role::User,
            acting_as_admin: None,
        }
    }

    pub fn auth_ok(id: u64) -> ServerFrame {
        ServerFrame::AuthOk {
            id,
            user: user(),
            expires_at: "2026-11-22T23:00:00Z".to_owned(),
            heartbeat_ms: 25_000,
        }
    }

    pub fn snapshot(id: u64, seq: u64, items: Vec<Task>) -> ServerFrame {
        ServerFrame::Snapshot {
            id,
            topic: Topic::Tasks,
            epoch: "e1".to_owned(),
            seq,
            items,
        }
    }

    pub fn replay(id: u64, seq: u64, events: Vec<Event>) -> ServerFrame {
        ServerFrame::Replay {
            id,
            topic: Topic::Tasks,
            epoch: "e1".to_owned(),
            seq,
            events,
        }
    }

    pub fn upsert(seq: u64, n: u128) -> ServerFrame {
        ServerFrame::Event(event(seq, Change::Upsert { item: task(n) }))
    }

    pub fn create(n: u128) -> MethodCall {
        MethodCall::Create(CreateParams {
            board: None,
            id: Some(Uuid::from_u128(n)),
            title: format!("t{n}"),
        })
    }

    pub fn set_done(n: u128) -> MethodCall {
        MethodCall::Update(UpdateParams {
            board: None,
            id: Uuid::from_u128(n),
            title: None,
            done: Some(true),
            if_version: None,
        })
    }

    /// The app's machine: the board list from the start, and no board until the page
    /// opens one.
    pub fn app_machine() -> Harness {
        Harness::with(Config {
            subscribe: None,
            boards: true,
            ..Config::default()
        })
    }

    pub fn create_on(board: Uuid, n: u128) -> MethodCall {
        MethodCall::Create(CreateParams {
            board: Some(board),
            id: Some(Uuid::from_u128(n)),
            title: format!("t{n}"),
        })
    }

    pub fn set_done_on(board: Uuid, n: u128) -> MethodCall {
        let MethodCall::Update(params) = set_done(n) else {
            unreachable!("set_done is an update");
        };
        MethodCall::Update(UpdateParams {
            board: Some(board),
            ..params
        })
    }

    pub fn board_snapshot(id: u64, board: Uuid, items: Vec<Task>) -> ServerFrame {
        ServerFrame::Snapshot {
            id,
            topic: Topic::Board(board),
            epoch: "e1".to_owned(),
            seq: 3,
            items,
        }
    }

    /// The ids of the subscribes in `out`, by topic, in order.
    pub fn subscribed(out: &[Command]) -> Vec<(Topic, u64)> {
        sent(out)
            .into_iter()
            .filter_map(|frame| match frame {
                ClientFrame::Subscribe { id, topic, .. } => Some((topic, id)),
                _ => None,
            })
            .collect()
    }

    /// The app's machine, live, with `board` open and showing `items`.
    pub fn app_live_on(board: Uuid, items: Vec<Task>) -> (Harness, ConnId) {
        let mut h = app_machine();
        let conn = h.signed_in();
        let out = h.frame(conn, auth_ok(1));
        let [(Topic::Boards, boards)] = subscribed(&out)[..] else {
            panic!("the board list alone: {out:?}");
        };
        h.frame(conn, board_list(boards));
        let out = h.feed(Input::Open(Topic::Board(board)));
        h.frame(conn, board_snapshot(subscribe_id(&out), board, items));
        (h, conn)
    }

    /// The board list's snapshot: no boards.
    pub fn board_list(id: u64) -> ServerFrame {
        ServerFrame::BoardsSnapshot {
            id,
            topic: Topic::Boards,
            epoch: "e1".to_owned(),
            seq: 1,
            items: Vec::new(),
        }
    }

    pub fn ok_task(id: u64, task: Task) -> ServerFrame {
        ServerFrame::Result {
            id,
            outcome: Outcome::Ok(MethodValue {
                task: Some(task),
                ..MethodValue::default()
            }),
        }
    }

    pub fn closed(conn: ConnId, code: u16) -> Input {
        Input::Closed {
            conn,
            code: CloseCode::from_u16(code),
            reason: format!("code {code}"),
        }
    }
}
