//! The app's task store (`taskwire::client::store::Store`) under any sequence of what
//! the server sends (snapshots, replays, events) and what the person does (local
//! changes, their confirmation, refusal or discarding, sign-out), each drawn from the
//! input's bytes over a few task ids so that operations keep meeting the same tasks.
//!
//! After every operation the store is checked against what must always hold: the row
//! changes it reported, replayed as the shell does (both the bare [`RowChange`]s and
//! the [`RowUpdate`]s the UI applies), rebuild exactly the list it shows; that list is
//! in its documented order without repeats; a row without pending changes shows the
//! server's task; and the log position and confirmed tasks are what the contract says
//! a snapshot or event leaves.

use protocol::time::{Instant, parse_rfc3339};
use protocol::{
    Change, ClearDoneParams, CreateParams, DeleteParams, Event, MethodCall, Position, Task,
    TaskFields, Topic, UpdateParams,
};
use taskwire::client::outbox::MutationId;
use taskwire::client::rows::{RowUpdate, TaskRow};
use taskwire::client::store::{RowChange, Store, SyncError, TaskView};
use uuid::Uuid;

use super::Bytes;

/// Few ids, so that changes keep landing on the same tasks.
const IDS: u8 = 6;
const MAX_OPS: usize = 64;
const CREATED_AT: [&str; 8] = [
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.5Z",
    // The same instant as the first, written another way.
    "2026-01-01T01:00:00+01:00",
    "2026-01-01T00:00:00.0000000001Z",
    "9999-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "yesterday",
    "",
];
const TITLES: [&str; 4] = ["a", "b", "Buy milk", "é🦀"];

pub(super) fn store_merge(input: &[u8]) -> bool {
    let mut bytes = Bytes(input);
    let mut shadow = Shadow::default();
    let mut followed = false;
    for _ in 0..MAX_OPS {
        if bytes.is_empty() {
            break;
        }
        match bytes.byte() % 16 {
            0 | 1 => shadow.snapshot(&mut bytes),
            2 | 3 => followed |= shadow.replay(&mut bytes),
            4..=7 => {
                let event = event(&mut bytes, shadow.store.position());
                followed |= shadow.event(&event);
            }
            8..=10 => shadow.local(&mut bytes),
            11 | 12 => {
                let mutation = mutation(&mut bytes);
                let task = (bytes.byte() & 1 == 1).then(|| task(&mut bytes));
                let changes = shadow.store.confirm(mutation, task);
                shadow.follow(changes);
            }
            13 => {
                let changes = shadow.store.reject(mutation(&mut bytes));
                shadow.follow(changes);
            }
            14 => {
                let mutation = mutation(&mut bytes);
                let call = call(&mut bytes);
                shadow.store.shows_applied(mutation, &call);
            }
            _ => {
                let changes = shadow.store.clear();
                assert_eq!(changes, [RowChange::Reset]);
                assert!(shadow.store.is_empty() && shadow.store.position().is_none());
                shadow.follow(changes);
            }
        }
    }
    followed
}

/// The store and the lists a shell keeps from its row changes.
#[derive(Default)]
struct Shadow {
    store: Store,
    ids: Vec<Uuid>,
    rows: Vec<TaskRow>,
}

impl Shadow {
    fn snapshot(&mut self, bytes: &mut Bytes) {
        let epoch = epoch(bytes);
        let seq = seq(bytes, self.store.position());
        let items: Vec<Task> = (0..bytes.byte() % 8).map(|_| task(bytes)).collect();
        let applied = self.store.apply_snapshot(epoch.clone(), seq, items.clone());
        assert_eq!(applied.resync, None, "a snapshot asked for a resync");
        assert_eq!(self.store.position(), Some(&Position { epoch, seq }));
        for n in 0..IDS {
            let id = id_of(n);
            assert_eq!(
                self.store.confirmed(id),
                items.iter().rev().find(|task| task.id == id),
                "a snapshot left another confirmed task than it carried"
            );
        }
        self.follow(applied.rows);
    }

    fn replay(&mut self, bytes: &mut Bytes) -> bool {
        let epoch = epoch(bytes);
        let mut next = seq(bytes, self.store.position());
        let events: Vec<Event> = (0..bytes.byte() % 6)
            .map(|_| {
                let event = Event {
                    topic: Topic::Tasks,
                    epoch: epoch.clone(),
                    seq: next,
                    change: change(bytes),
                };
                next = match bytes.byte() % 8 {
                    0 => next,
                    1 => next.saturating_add(2),
                    _ => next.saturating_add(1),
                };
                event
            })
            .collect();
        let seq = if bytes.byte().is_multiple_of(4) {
            next
        } else {
            next.saturating_sub(1)
        };
        let before = self.store.position().cloned();
        let applied = self.store.apply_replay(&epoch, seq, &events);
        let after = self.store.position();
        match &before {
            None => assert_eq!(applied.resync, Some(SyncError::NoPosition)),
            Some(before) if before.epoch != epoch => {
                assert!(matches!(applied.resync, Some(SyncError::WrongEpoch { .. })));
            }
            Some(before) => {
                let after = after.map(|p| (p.epoch.as_str(), p.seq));
                assert!(
                    after.is_some_and(|(e, s)| e == before.epoch && s >= before.seq),
                    "a replay moved the position from {before:?} to {after:?}"
                );
            }
        }
        if applied.resync.is_some() && before.as_ref().is_none_or(|b| b.epoch != epoch) {
            assert_eq!(self.store.position(), before.as_ref());
            assert!(applied.rows.is_empty(), "a refused replay changed rows");
        }
        let followed = applied.resync.is_none();
        self.follow(applied.rows);
        followed
    }

    /// Applies a live event, checking the position and the confirmed task it leaves
    /// against the contract's rules: duplicates ignored, gaps and other epochs refused,
    /// stale versions dropped.
    fn event(&mut self, event: &Event) -> bool {
        let before = self.store.position().cloned();
        let id = event.change.task_id();
        let old = self.store.confirmed(id).cloned();
        let applied = self.store.apply_event(event);
        let expected = match &before {
            None => Some(SyncError::NoPosition),
            Some(p) if p.epoch != event.epoch => Some(SyncError::WrongEpoch {
                expected: p.epoch.clone(),
                got: event.epoch.clone(),
            }),
            Some(p) if event.seq <= p.seq => None,
            Some(p) if event.seq != p.seq + 1 => Some(SyncError::Gap {
                last: p.seq,
                got: event.seq,
            }),
            Some(_) => None,
        };
        assert_eq!(applied.resync, expected, "event {event:?} after {before:?}");
        let fresh = before
            .as_ref()
            .is_some_and(|p| p.epoch == event.epoch && event.seq > p.seq && expected.is_none());
        if fresh {
            assert_eq!(
                self.store.position(),
                Some(&Position {
                    epoch: event.epoch.clone(),
                    seq: event.seq
                })
            );
            let confirmed = match &event.change {
                Change::Upsert { item } => match old {
                    Some(old) if old.version >= item.version => Some(old),
                    _ => Some(item.clone()),
                },
                Change::Patch {
                    version, fields, ..
                } => old.map(|mut task| {
                    if *version > task.version {
                        task.apply(*version, fields);
                    }
                    task
                }),
                Change::Delete { .. } => None,
            };
            assert_eq!(
                self.store.confirmed(id),
                confirmed.as_ref(),
                "event {event:?} left another confirmed task"
            );
        } else {
            assert_eq!(self.store.position(), before.as_ref());
            assert!(
                applied.rows.is_empty(),
                "event {event:?} changed rows though it was not applied"
            );
        }
        self.follow(applied.rows);
        fresh
    }

    /// A person's change, shown at once.
    fn local(&mut self, bytes: &mut Bytes) {
        let mutation = mutation(bytes);
        let call = call(bytes);
        let now_ms = match bytes.byte() % 4 {
            0 => 0,
            1 => 1_767_225_600_000 + u64::from(bytes.byte()) * 60_000,
            2 => u64::MAX,
            _ => bytes.u64(),
        };
        let changes = self.store.apply_local(mutation, &call, now_ms);
        match &call {
            MethodCall::Create(params) => {
                if let Some(id) = params.id {
                    assert!(
                        self.store.get(id).is_some_and(|view| view.pending),
                        "a local create is not shown pending"
                    );
                }
            }
            MethodCall::Update(params) => {
                if let Some(view) = self.store.get(params.id) {
                    assert!(
                        params.title.as_ref().is_none_or(|t| *t == view.task.title)
                            && params.done.is_none_or(|d| d == view.task.done),
                        "a local update does not show"
                    );
                }
            }
            MethodCall::Delete(params) => {
                assert!(
                    self.store.get(params.id).is_none(),
                    "a local delete still shows"
                );
            }
            MethodCall::ClearDone(_) => assert!(
                self.store.iter().all(|view| !view.task.done),
                "a local clear-done left a done task shown"
            ),
        }
        self.follow(changes);
    }

    /// Applies `changes` as the shell would, to the bare list and to the rows the UI
    /// keeps, then checks both against the store.
    fn follow(&mut self, changes: Vec<RowChange>) {
        let updates = self.store.updates(changes.clone());
        for change in changes {
            match change {
                RowChange::Inserted { id, index } => {
                    assert!(index <= self.ids.len(), "inserted past the end: {index}");
                    self.ids.insert(index, id);
                }
                RowChange::Removed { id, index } => {
                    assert_eq!(self.ids.get(index), Some(&id), "removed another row");
                    self.ids.remove(index);
                }
                RowChange::Updated(id) => {
                    assert!(self.ids.contains(&id), "updated a row not listed");
                }
                RowChange::Reset => {
                    self.ids = self.store.iter().map(|view| view.task.id).collect();
                }
            }
        }
        for update in updates {
            match update {
                RowUpdate::Inserted { index, row } => {
                    assert!(index <= self.rows.len(), "inserted past the end: {index}");
                    self.rows.insert(index, row);
                }
                RowUpdate::Updated(row) => {
                    let at = self.rows.iter().position(|r| r.task.id == row.task.id);
                    match at {
                        Some(at) => self.rows[at] = row,
                        None => panic!("updated a row not listed"),
                    }
                }
                RowUpdate::Removed { id, index } => {
                    assert_eq!(
                        self.rows.get(index).map(|row| row.task.id),
                        Some(id),
                        "removed another row"
                    );
                    self.rows.remove(index);
                }
                RowUpdate::Reset(rows) => self.rows = rows,
            }
        }
        let shown = check_listing(&self.store);
        let ids: Vec<Uuid> = shown.iter().map(|row| row.task.id).collect();
        assert_eq!(self.ids, ids, "row changes rebuild another list");
        assert_eq!(self.rows, shown, "row updates rebuild other rows");
    }
}

/// Checks what a store lists (also the machine's store): `len` counts what `iter`
/// yields, in order by creation time (unreadable last) then id, each task once, each
/// as `get` returns it, and a row without pending changes is the confirmed task.
pub(super) fn check_listing(store: &Store) -> Vec<TaskRow> {
    let shown: Vec<TaskRow> = store.iter().map(TaskView::to_row).collect();
    assert_eq!(store.len(), shown.len(), "len() and iter() disagree");
    assert_eq!(store.is_empty(), shown.is_empty());
    let key = |task: &Task| {
        (
            parse_rfc3339(&task.created_at).unwrap_or(Instant::LAST),
            task.id,
        )
    };
    for pair in shown.windows(2) {
        assert!(
            key(&pair[0].task) < key(&pair[1].task),
            "rows out of order: {:?} before {:?}",
            pair[0].task,
            pair[1].task
        );
    }
    for (index, row) in shown.iter().enumerate() {
        let id = row.task.id;
        assert!(
            shown[..index].iter().all(|other| other.task.id != id),
            "task {id} listed twice"
        );
        assert_eq!(store.get(id).map(TaskView::to_row).as_ref(), Some(row));
        if !row.pending {
            assert_eq!(
                store.confirmed(id),
                Some(&row.task),
                "a row without pending changes is not the confirmed task"
            );
        }
    }
    shown
}

fn id_of(n: u8) -> Uuid {
    Uuid::from_u128(1 + u128::from(n % IDS))
}

fn id(bytes: &mut Bytes) -> Uuid {
    id_of(bytes.byte())
}

fn mutation(bytes: &mut Bytes) -> MutationId {
    MutationId(u64::from(bytes.byte() % 4))
}

/// Mostly the epoch being followed.
fn epoch(bytes: &mut Bytes) -> String {
    if bytes.byte().is_multiple_of(4) {
        "e2"
    } else {
        "e1"
    }
    .to_owned()
}

/// Mostly the next seq after `position`; else a duplicate, a gap, or far off.
fn seq(bytes: &mut Bytes, position: Option<&Position>) -> u64 {
    let last = position.map_or(0, |p| p.seq);
    match bytes.byte() % 8 {
        0..=3 => last.saturating_add(1),
        4 => last,
        5 => last.saturating_add(2),
        6 => u64::MAX - u64::from(bytes.byte() % 2),
        _ => u64::from(bytes.byte()),
    }
}

fn title(bytes: &mut Bytes) -> String {
    bytes.pick(&TITLES).to_owned()
}

fn option<T>(bytes: &mut Bytes, value: impl FnOnce(&mut Bytes) -> T) -> Option<T> {
    (bytes.byte() & 1 == 1).then(|| value(bytes))
}

fn task(bytes: &mut Bytes) -> Task {
    Task {
        id: id(bytes),
        title: title(bytes),
        done: bytes.byte() & 1 == 1,
        version: u64::from(bytes.byte() % 6),
        created_at: bytes.pick(&CREATED_AT).to_owned(),
        updated_at: "2026-01-02T00:00:00Z".to_owned(),
        updated_by: "maya".to_owned(),
    }
}

fn change(bytes: &mut Bytes) -> Change {
    match bytes.byte() % 3 {
        0 => Change::Upsert { item: task(bytes) },
        1 => Change::Patch {
            id: id(bytes),
            version: u64::from(bytes.byte() % 6),
            fields: TaskFields {
                title: option(bytes, title),
                done: option(bytes, |b| b.byte() & 1 == 1),
                updated_at: option(bytes, |b| b.pick(&CREATED_AT).to_owned()),
                updated_by: option(bytes, |_| "sam".to_owned()),
            },
        },
        _ => Change::Delete { id: id(bytes) },
    }
}

fn event(bytes: &mut Bytes, position: Option<&Position>) -> Event {
    Event {
        topic: Topic::Tasks,
        epoch: epoch(bytes),
        seq: seq(bytes, position),
        change: change(bytes),
    }
}

/// A person's change as the outbox passes it on (creates mostly carry their id).
fn call(bytes: &mut Bytes) -> MethodCall {
    match bytes.byte() % 4 {
        0 => MethodCall::Create(CreateParams {
            board: None,
            id: (!bytes.byte().is_multiple_of(8)).then(|| id(bytes)),
            title: title(bytes),
        }),
        1 => MethodCall::Update(UpdateParams {
            board: None,
            id: id(bytes),
            title: option(bytes, title),
            done: option(bytes, |b| b.byte() & 1 == 1),
            if_version: None,
        }),
        2 => MethodCall::Delete(DeleteParams {
            board: None,
            id: id(bytes),
        }),
        _ => MethodCall::ClearDone(ClearDoneParams { board: None }),
    }
}
