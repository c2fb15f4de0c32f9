//! The task store: the server's tasks, the change-log position they reflect, and the
//! person's optimistic changes on top.
//!
//! Each task keeps two layers: `confirmed`, the server's word (from `snapshot`, `replay`,
//! `event`, and `result`s), and a list of pending local operations tagged with the
//! mutation that made them. What the UI shows is the confirmed task with the pending
//! operations applied in order, so a refusal rolls back exactly one operation and an
//! event from another device never erases a change still on its way.
//!
//! Order: tasks are listed by `created_at` (parsed, so fractional digits sort right; a
//! time that cannot be read sorts last), then by `id`, a total order that does not
//! depend on arrival. An optimistic create sorts by the shell's clock until the server's
//! time replaces it.
//!
//! Every apply returns the exact [`RowChange`]s, so the shell touches one row's signal
//! per change instead of re-rendering the list.

use rustc_hash::{FxHashMap, FxHashSet};

use protocol::{Change, Event, MethodCall, Position, Task};
use uuid::Uuid;

use super::outbox::MutationId;
use protocol::time::{Instant, format_epoch_ms, parse_rfc3339};

/// One change to the rendered list. Apply them in the order given: each `index` is valid
/// in the list as left by the changes before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChange {
    /// A row appeared at `index`; read it with [`Store::get`].
    Inserted { id: Uuid, index: usize },
    /// The row's task or pending mark changed, in place.
    Updated(Uuid),
    /// The row at `index` went away. A row whose sort position changes is reported as
    /// `Removed` then `Inserted`.
    Removed { id: Uuid, index: usize },
    /// Rebuild the whole list from [`Store::iter`].
    Reset,
}

/// Why the store cannot follow the change log any more: the machine resubscribes with
/// the last `since`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("change from epoch {got:?} while following epoch {expected:?}")]
    WrongEpoch { expected: String, got: String },
    #[error("change {got} does not follow {last}: changes were missed")]
    Gap { last: u64, got: u64 },
    #[error("a change arrived before any snapshot")]
    NoPosition,
}

/// What applying server data did: the rows to update, and whether a resync is needed
/// (the rows are valid either way: changes before the problem stay applied).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub rows: Vec<RowChange>,
    pub resync: Option<SyncError>,
}

/// A task as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskView<'a> {
    /// Confirmed task with pending operations applied. `version` 0 means the server has
    /// not confirmed the task yet (an optimistic create).
    pub task: &'a Task,
    /// Some change to this task awaits the server.
    pub pending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalOp {
    Create {
        title: String,
        created_at: String,
    },
    Update {
        title: Option<String>,
        done: Option<bool>,
    },
    Delete,
    /// One task of a `task.clear_done`: hidden like a delete, but no tombstone on its
    /// success (the server decides which tasks were done; its delete events say so).
    ClearDone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    at: Instant,
    id: Uuid,
}

impl SortKey {
    fn of(task: &Task) -> Self {
        Self {
            at: parse_rfc3339(&task.created_at).unwrap_or(Instant::LAST),
            id: task.id,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Row {
    confirmed: Option<Task>,
    ops: Vec<(MutationId, LocalOp)>,
    view: Option<Task>,
    key: Option<SortKey>,
    pending: bool,
}

impl Row {
    fn compute_view(&self, id: Uuid) -> Option<Task> {
        let mut view = self.confirmed.clone();
        for (_, op) in &self.ops {
            match op {
                LocalOp::Create { title, created_at } => {
                    // Creating an id that exists is idempotent on the server: no change.
                    if view.is_none() {
                        view = Some(Task {
                            id,
                            title: title.clone(),
                            done: false,
                            version: 0,
                            created_at: created_at.clone(),
                            updated_at: created_at.clone(),
                            // The server names who made it once it confirms it.
                            updated_by: String::new(),
                        });
                    }
                }
                LocalOp::Update { title, done } => {
                    if let Some(task) = &mut view {
                        if let Some(title) = title {
                            task.title.clone_from(title);
                        }
                        if let Some(done) = done {
                            task.done = *done;
                        }
                    }
                }
                LocalOp::Delete | LocalOp::ClearDone => view = None,
            }
        }
        view
    }

    /// Whether the confirmed state already shows what `op` asked for.
    fn reflects(&self, op: &LocalOp) -> bool {
        match (op, &self.confirmed) {
            (LocalOp::Create { .. }, confirmed) => confirmed.is_some(),
            (LocalOp::Update { title, done }, Some(task)) => {
                title.as_ref().is_none_or(|title| *title == task.title)
                    && done.is_none_or(|done| done == task.done)
            }
            (LocalOp::Update { .. }, None) => false,
            (LocalOp::Delete, confirmed) => confirmed.is_none(),
            (LocalOp::ClearDone, confirmed) => confirmed.as_ref().is_none_or(|task| !task.done),
        }
    }

    /// "A confirmation or event clears pending": drops the leading operations the server
    /// state already shows. Only a prefix, so a later operation is never applied without
    /// the earlier ones it was made on top of.
    fn drop_reflected(&mut self) {
        let reflected = self
            .ops
            .iter()
            .take_while(|(_, op)| self.reflects(op))
            .count();
        self.ops.drain(..reflected);
    }
}

/// The task store of one subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    rows: FxHashMap<Uuid, Row>,
    order: Vec<SortKey>,
    by_mutation: FxHashMap<MutationId, Vec<Uuid>>,
    /// Ids known deleted: a `result` arriving after the delete (out of band, unlike the
    /// seq-ordered events) must not bring its task back. Cleared by an `upsert` event
    /// or a snapshot, which are authoritative; a snapshot without a task the person has
    /// a change waiting on adds it.
    tombstones: FxHashSet<Uuid>,
    position: Option<Position>,
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last change applied: what a resubscribe sends as `since`.
    pub fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// Rows shown.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn get(&self, id: Uuid) -> Option<TaskView<'_>> {
        let row = self.rows.get(&id)?;
        row.view.as_ref().map(|task| TaskView {
            task,
            pending: row.pending,
        })
    }

    /// The rows in display order.
    pub fn iter(&self) -> impl Iterator<Item = TaskView<'_>> {
        self.order.iter().filter_map(|key| self.get(key.id))
    }

    /// The server's confirmed version of a task, without local changes.
    pub fn confirmed(&self, id: Uuid) -> Option<&Task> {
        self.rows.get(&id)?.confirmed.as_ref()
    }

    /// `snapshot`: replaces every confirmed task and the position; pending local changes
    /// stay on top. Reports `Reset` when the list was empty or nearly everything moved,
    /// else the precise changes.
    pub fn apply_snapshot(&mut self, epoch: String, seq: u64, items: Vec<Task>) -> Applied {
        let old_rows = std::mem::take(&mut self.rows);
        let old_order = std::mem::take(&mut self.order);
        self.tombstones.clear();
        self.position = Some(Position { epoch, seq });

        let mut rows: FxHashMap<Uuid, Row> =
            FxHashMap::with_capacity_and_hasher(items.len(), Default::default());
        for task in items {
            rows.insert(
                task.id,
                Row {
                    confirmed: Some(task),
                    ..Row::default()
                },
            );
        }
        for (id, old) in &old_rows {
            if !old.ops.is_empty() {
                // A task the server had, changed by the person and gone from the
                // snapshot, was deleted meanwhile: the result of that change, if it
                // comes after (over HTTP, results and snapshots come on separate
                // requests), must not bring it back.
                if old.confirmed.is_some() && !rows.contains_key(id) {
                    self.tombstones.insert(*id);
                }
                rows.entry(*id).or_default().ops.clone_from(&old.ops);
            }
        }
        let mut order = Vec::with_capacity(rows.len());
        rows.retain(|id, row| {
            row.drop_reflected();
            row.view = row.compute_view(*id);
            row.key = row.view.as_ref().map(SortKey::of);
            row.pending = !row.ops.is_empty();
            order.extend(row.key);
            row.confirmed.is_some() || !row.ops.is_empty()
        });
        order.sort_unstable();
        self.rows = rows;
        self.order = order;

        let rows = if old_order.is_empty() {
            vec![RowChange::Reset]
        } else {
            let changes = self.diff(&old_rows, &old_order);
            if changes.len() > self.order.len() {
                vec![RowChange::Reset]
            } else {
                changes
            }
        };
        Applied { rows, resync: None }
    }

    /// The changes that turn the list `old_order` (rows `old_rows`) into the current one:
    /// removals from the back, then insertions from the front, then in-place updates.
    fn diff(&self, old_rows: &FxHashMap<Uuid, Row>, old_order: &[SortKey]) -> Vec<RowChange> {
        let kept = |key: &SortKey| {
            self.rows
                .get(&key.id)
                .is_some_and(|row| row.key.as_ref() == Some(key))
        };
        let mut changes = Vec::new();
        for (index, key) in old_order.iter().enumerate().rev() {
            if !kept(key) {
                changes.push(RowChange::Removed { id: key.id, index });
            }
        }
        for (index, key) in self.order.iter().enumerate() {
            let was = old_rows.get(&key.id).and_then(|row| row.key);
            if was != Some(*key) {
                changes.push(RowChange::Inserted { id: key.id, index });
            }
        }
        for key in old_order.iter().filter(|key| kept(key)) {
            let (Some(old), Some(new)) = (old_rows.get(&key.id), self.rows.get(&key.id)) else {
                continue;
            };
            if old.view != new.view || old.pending != new.pending {
                changes.push(RowChange::Updated(key.id));
            }
        }
        changes
    }

    /// `replay`: the missed events, oldest first, then the position must be `seq`.
    pub fn apply_replay(&mut self, epoch: &str, seq: u64, events: &[Event]) -> Applied {
        let mut applied = Applied::default();
        match &self.position {
            None => applied.resync = Some(SyncError::NoPosition),
            Some(position) if position.epoch != epoch => {
                applied.resync = Some(SyncError::WrongEpoch {
                    expected: position.epoch.clone(),
                    got: epoch.to_owned(),
                });
            }
            Some(_) => {
                for event in events {
                    if let Err(error) = self.apply_event_into(event, &mut applied.rows) {
                        applied.resync = Some(error);
                        return applied;
                    }
                }
                if let Some(position) = &self.position
                    && position.seq < seq
                {
                    applied.resync = Some(SyncError::Gap {
                        last: position.seq,
                        got: seq,
                    });
                }
            }
        }
        applied
    }

    /// A live `event`. Duplicates (seq not past the position) are ignored; another epoch
    /// or a skipped seq asks for a resync; stale versions are dropped.
    pub fn apply_event(&mut self, event: &Event) -> Applied {
        let mut applied = Applied::default();
        applied.resync = self.apply_event_into(event, &mut applied.rows).err();
        applied
    }

    fn apply_event_into(
        &mut self,
        event: &Event,
        changes: &mut Vec<RowChange>,
    ) -> Result<(), SyncError> {
        let Some(position) = &mut self.position else {
            return Err(SyncError::NoPosition);
        };
        if position.epoch != event.epoch {
            return Err(SyncError::WrongEpoch {
                expected: position.epoch.clone(),
                got: event.epoch.clone(),
            });
        }
        if event.seq <= position.seq {
            return Ok(());
        }
        if event.seq != position.seq.saturating_add(1) {
            return Err(SyncError::Gap {
                last: position.seq,
                got: event.seq,
            });
        }
        position.seq = event.seq;
        let id = event.change.task_id();
        match &event.change {
            Change::Upsert { item } => {
                self.tombstones.remove(&id);
                let row = self.rows.entry(id).or_default();
                if row
                    .confirmed
                    .as_ref()
                    .is_none_or(|task| item.version > task.version)
                {
                    row.confirmed = Some(item.clone());
                }
            }
            Change::Patch {
                version, fields, ..
            } => {
                if let Some(task) = self
                    .rows
                    .get_mut(&id)
                    .and_then(|row| row.confirmed.as_mut())
                    && *version > task.version
                {
                    task.apply(*version, fields);
                }
            }
            Change::Delete { .. } => {
                self.tombstones.insert(id);
                if let Some(row) = self.rows.get_mut(&id) {
                    row.confirmed = None;
                }
            }
        }
        if let Some(row) = self.rows.get_mut(&id) {
            row.drop_reflected();
        }
        self.refresh(id, changes);
        Ok(())
    }

    /// Shows a person's mutation at once, marked pending. `call` must already be
    /// normalised by the outbox (creates carry their id, titles trimmed).
    pub fn apply_local(
        &mut self,
        mutation: MutationId,
        call: &MethodCall,
        now_ms: u64,
    ) -> Vec<RowChange> {
        let mut touched = Vec::new();
        match call {
            MethodCall::Create(params) => {
                if let Some(id) = params.id {
                    let created_at = format_epoch_ms(now_ms);
                    let op = LocalOp::Create {
                        title: params.title.clone(),
                        created_at,
                    };
                    self.rows.entry(id).or_default().ops.push((mutation, op));
                    touched.push(id);
                }
            }
            MethodCall::Update(params) => {
                if let Some(row) = self.changed_row(params.id) {
                    let op = LocalOp::Update {
                        title: params.title.clone(),
                        done: params.done,
                    };
                    row.ops.push((mutation, op));
                    touched.push(params.id);
                }
            }
            MethodCall::Delete(params) => {
                if let Some(row) = self.changed_row(params.id) {
                    row.ops.push((mutation, LocalOp::Delete));
                    touched.push(params.id);
                }
            }
            MethodCall::ClearDone(_) => {
                let done: Vec<Uuid> = self
                    .iter()
                    .filter(|view| view.task.done)
                    .map(|view| view.task.id)
                    .collect();
                for id in done {
                    if let Some(row) = self.rows.get_mut(&id) {
                        row.ops.push((mutation, LocalOp::ClearDone));
                        touched.push(id);
                    }
                }
            }
        }
        let mut changes = Vec::new();
        for id in &touched {
            self.refresh(*id, &mut changes);
        }
        // A clearing is recorded even when it touched nothing: what it covered is how its
        // lost result is judged later ([`Store::can_tell`]).
        if !touched.is_empty() || matches!(call, MethodCall::ClearDone(_)) {
            self.by_mutation.insert(mutation, touched);
        }
        changes
    }

    /// The row a change to task `id` is recorded on: the task's; before the first
    /// snapshot has said which tasks there are (a board just opened, a reload), one of
    /// its own, which the snapshot fills in, so that the change shows once it does.
    fn changed_row(&mut self, id: Uuid) -> Option<&mut Row> {
        if self.position.is_none() {
            Some(self.rows.entry(id).or_default())
        } else {
            self.rows.get_mut(&id)
        }
    }

    /// The server accepted `mutation`; `task` is the task its `result` carried, applied
    /// when newer than the confirmed one.
    pub fn confirm(&mut self, mutation: MutationId, task: Option<Task>) -> Vec<RowChange> {
        let mut changes = Vec::new();
        for id in self.by_mutation.remove(&mutation).unwrap_or_default() {
            let Some(row) = self.rows.get_mut(&id) else {
                continue;
            };
            let deleted = row
                .ops
                .iter()
                .any(|(m, op)| *m == mutation && *op == LocalOp::Delete);
            row.ops.retain(|(m, _)| *m != mutation);
            if deleted && row.confirmed.take().is_some() {
                self.tombstones.insert(id);
            }
            self.refresh(id, &mut changes);
        }
        if let Some(task) = task
            && !self.tombstones.contains(&task.id)
        {
            let id = task.id;
            let row = self.rows.entry(id).or_default();
            if row
                .confirmed
                .as_ref()
                .is_none_or(|confirmed| task.version > confirmed.version)
            {
                row.confirmed = Some(task);
                row.drop_reflected();
            }
            self.refresh(id, &mut changes);
        }
        changes
    }

    /// The server refused `mutation` (or a person discarded it): its operations are
    /// removed and the tasks show their confirmed state again, with any other pending
    /// operations still on top.
    pub fn reject(&mut self, mutation: MutationId) -> Vec<RowChange> {
        let mut changes = Vec::new();
        for id in self.by_mutation.remove(&mutation).unwrap_or_default() {
            if let Some(row) = self.rows.get_mut(&id) {
                row.ops.retain(|(m, _)| *m != mutation);
                self.refresh(id, &mut changes);
            }
        }
        changes
    }

    /// Whether this store can judge `call` (made as `mutation`) by [`Store::shows_applied`]:
    /// a clearing only where it was made, since which tasks it covered is kept nowhere
    /// else (a board opened anew, or a page reloaded, does not know them).
    pub fn can_tell(&self, mutation: MutationId, call: &MethodCall) -> bool {
        !matches!(call, MethodCall::ClearDone(_)) || self.by_mutation.contains_key(&mutation)
    }

    /// Whether the confirmed state shows that `call` (made as `mutation`) took effect:
    /// how a mutation whose `result` was lost with its connection is settled after the
    /// next snapshot or replay.
    pub fn shows_applied(&self, mutation: MutationId, call: &MethodCall) -> bool {
        match call {
            // A tombstone means it existed and was deleted since: it landed.
            MethodCall::Create(params) => params
                .id
                .is_some_and(|id| self.confirmed(id).is_some() || self.tombstones.contains(&id)),
            MethodCall::Update(params) => {
                self.was_reflected(mutation)
                    || self.confirmed(params.id).is_some_and(|task| {
                        params
                            .title
                            .as_ref()
                            .is_none_or(|title| *title == task.title)
                            && params.done.is_none_or(|done| done == task.done)
                    })
            }
            MethodCall::Delete(params) => self.confirmed(params.id).is_none(),
            MethodCall::ClearDone(_) => {
                let covered = self.by_mutation.get(&mutation);
                // A task the server had and has no more tells (it was cleared), and so does
                // one with nothing else of this person's waiting; one with another change
                // of theirs waiting (their tick, shown done; their create, never on the
                // server) may not have been done there when a clearing landed, so it
                // shows nothing either way.
                let telling: Vec<&Uuid> = covered
                    .into_iter()
                    .flatten()
                    .filter(|id| {
                        self.rows.get(*id).is_none_or(|row| {
                            let gone = row.confirmed.is_none()
                                && !row
                                    .ops
                                    .iter()
                                    .any(|(_, op)| matches!(op, LocalOp::Create { .. }));
                            gone || row.ops.iter().all(|(m, _)| *m == mutation)
                        })
                    })
                    .collect();
                let covered_none = covered.is_none_or(|ids| ids.is_empty());
                (covered_none || !telling.is_empty())
                    && telling
                        .iter()
                        .all(|id| self.confirmed(**id).is_none_or(|task| !task.done))
            }
        }
    }

    /// Whether an event or snapshot since `mutation` was made showed what it asked for:
    /// its operations were dropped as reflected (only confirming or rejecting it also
    /// forgets them, and both forget the mutation). It took effect then, whatever
    /// another person changed after; sent again, it would undo their change.
    fn was_reflected(&self, mutation: MutationId) -> bool {
        self.by_mutation.get(&mutation).is_some_and(|ids| {
            ids.iter().all(|id| {
                self.rows
                    .get(id)
                    .is_none_or(|row| row.ops.iter().all(|(m, _)| *m != mutation))
            })
        })
    }

    /// Sign-out: forget everything.
    pub fn clear(&mut self) -> Vec<RowChange> {
        *self = Self::default();
        vec![RowChange::Reset]
    }

    /// Recomputes one row's view and reports how its place in the list changed.
    fn refresh(&mut self, id: Uuid, changes: &mut Vec<RowChange>) {
        let Some(row) = self.rows.get_mut(&id) else {
            return;
        };
        let view = row.compute_view(id);
        let pending = !row.ops.is_empty();
        let key = view.as_ref().map(SortKey::of);
        let changed = view != row.view || pending != row.pending;
        let old_key = row.key;
        row.view = view;
        row.pending = pending;
        row.key = key;
        if row.confirmed.is_none() && row.ops.is_empty() {
            self.rows.remove(&id);
        }
        match (old_key, key) {
            (Some(old), Some(new)) if old == new => {
                if changed {
                    changes.push(RowChange::Updated(id));
                }
            }
            (old, new) => {
                if let Some(old) = old
                    && let Ok(index) = self.order.binary_search(&old)
                {
                    self.order.remove(index);
                    changes.push(RowChange::Removed { id, index });
                }
                if let Some(new) = new {
                    let index = self.order.binary_search(&new).unwrap_or_else(|i| i);
                    self.order.insert(index, new);
                    changes.push(RowChange::Inserted { id, index });
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;
    use crate::client::fixtures::{self, MergeFixture, event};
    use protocol::{ClearDoneParams, CreateParams, DeleteParams, TaskFields, UpdateParams};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Task `n` created at `minute`, at `version`.
    fn task(n: u128, minute: u32, version: u64) -> Task {
        Task {
            version,
            created_at: format!("2026-01-01T00:{minute:02}:00Z"),
            ..fixtures::task(n)
        }
    }

    fn patch(n: u128, version: u64, done: bool) -> Change {
        Change::Patch {
            id: id(n),
            version,
            fields: TaskFields {
                done: Some(done),
                ..TaskFields::default()
            },
        }
    }

    fn ids(store: &Store) -> Vec<Uuid> {
        store.iter().map(|view| view.task.id).collect()
    }

    /// Applies `changes` to `list` the way the shell does, to check the indexes.
    fn replay_rows(list: &mut Vec<Uuid>, store: &Store, changes: &[RowChange]) {
        apply_rows(list, store, changes);
        assert_eq!(*list, ids(store), "row changes must rebuild the same list");
    }

    fn apply_rows(list: &mut Vec<Uuid>, store: &Store, changes: &[RowChange]) {
        for change in changes {
            match change {
                RowChange::Inserted { id, index } => list.insert(*index, *id),
                RowChange::Removed { id, index } => assert_eq!(list.remove(*index), *id),
                RowChange::Updated(id) => assert!(store.get(*id).is_some()),
                RowChange::Reset => *list = ids(store),
            }
        }
    }

    fn seeded() -> Store {
        let mut store = Store::new();
        let applied = store.apply_snapshot(
            "e1".to_owned(),
            10,
            vec![task(3, 3, 1), task(1, 1, 1), task(2, 2, 1)],
        );
        assert_eq!(applied.rows, [RowChange::Reset]);
        store
    }

    #[test]
    fn orders_by_created_at_then_id() {
        let mut store = Store::new();
        let mut late_fraction = task(1, 0, 1);
        late_fraction.created_at = "2026-01-01T00:00:00.5Z".to_owned();
        let on_the_second = task(2, 0, 1);
        let mut unreadable = task(0, 0, 1);
        unreadable.created_at = "yesterday".to_owned();
        let same_time_lower_id = task(0x10, 0, 1);
        store.apply_snapshot(
            "e1".to_owned(),
            1,
            vec![unreadable, late_fraction, on_the_second, same_time_lower_id],
        );
        assert_eq!(ids(&store), [id(2), id(0x10), id(1), id(0)]);
    }

    #[test]
    fn events_apply_in_sequence_with_precise_row_changes() {
        let mut store = seeded();
        let mut list = ids(&store);
        let applied = store.apply_event(&event(11, patch(2, 2, true)));
        assert_eq!(applied.rows, [RowChange::Updated(id(2))]);
        assert!(store.get(id(2)).unwrap().task.done);
        replay_rows(&mut list, &store, &applied.rows);

        let applied = store.apply_event(&event(
            12,
            Change::Upsert {
                item: task(4, 0, 1),
            },
        ));
        assert_eq!(
            applied.rows,
            [RowChange::Inserted {
                id: id(4),
                index: 0
            }]
        );
        replay_rows(&mut list, &store, &applied.rows);

        let applied = store.apply_event(&event(13, Change::Delete { id: id(1) }));
        assert_eq!(
            applied.rows,
            [RowChange::Removed {
                id: id(1),
                index: 1
            }]
        );
        replay_rows(&mut list, &store, &applied.rows);
        assert_eq!(store.position().unwrap().seq, 13);
        assert_eq!(applied.resync, None);
    }

    #[test]
    fn duplicates_are_ignored_and_gaps_or_epochs_ask_for_resync() {
        let mut store = seeded();
        let duplicate = store.apply_event(&event(10, patch(1, 2, true)));
        assert_eq!(duplicate, Applied::default());
        assert!(!store.get(id(1)).unwrap().task.done);

        let gap = store.apply_event(&event(12, patch(1, 2, true)));
        assert_eq!(gap.resync, Some(SyncError::Gap { last: 10, got: 12 }));
        assert!(gap.rows.is_empty());

        let mut other = event(11, patch(1, 2, true));
        other.epoch = "e2".to_owned();
        let epoch = store.apply_event(&other);
        assert_eq!(
            epoch.resync,
            Some(SyncError::WrongEpoch {
                expected: "e1".to_owned(),
                got: "e2".to_owned()
            })
        );
        assert_eq!(
            store.position(),
            Some(&Position {
                epoch: "e1".to_owned(),
                seq: 10
            })
        );

        let mut fresh = Store::new();
        assert_eq!(
            fresh.apply_event(&event(1, patch(1, 2, true))).resync,
            Some(SyncError::NoPosition)
        );
    }

    #[test]
    fn stale_versions_are_dropped_but_advance_the_position() {
        let mut store = seeded();
        store.apply_event(&event(11, patch(1, 3, true)));
        let stale_patch = store.apply_event(&event(12, patch(1, 2, false)));
        assert!(stale_patch.rows.is_empty());
        assert!(store.get(id(1)).unwrap().task.done);
        let stale_upsert = store.apply_event(&event(
            13,
            Change::Upsert {
                item: task(1, 1, 3),
            },
        ));
        assert!(stale_upsert.rows.is_empty());
        assert_eq!(store.confirmed(id(1)).unwrap().version, 3);
        assert_eq!(store.position().unwrap().seq, 13);
        // A patch for a task never seen cannot be applied and is skipped.
        assert!(
            store
                .apply_event(&event(14, patch(99, 2, true)))
                .rows
                .is_empty()
        );
    }

    #[test]
    fn replay_applies_oldest_first_and_checks_the_end_position() {
        let mut store = seeded();
        let applied = store.apply_replay(
            "e1",
            12,
            &[
                event(10, patch(1, 9, true)),
                event(11, patch(1, 2, true)),
                event(12, patch(2, 2, true)),
            ],
        );
        assert_eq!(applied.resync, None);
        assert_eq!(
            applied.rows,
            [RowChange::Updated(id(1)), RowChange::Updated(id(2))]
        );
        assert_eq!(
            store.confirmed(id(1)).unwrap().version,
            2,
            "seq 10 was a duplicate"
        );

        let short = store.apply_replay("e1", 14, &[event(13, patch(3, 2, true))]);
        assert_eq!(short.rows, [RowChange::Updated(id(3))]);
        assert_eq!(short.resync, Some(SyncError::Gap { last: 13, got: 14 }));

        let holey = store.apply_replay("e1", 20, &[event(15, patch(3, 3, false))]);
        assert_eq!(holey.resync, Some(SyncError::Gap { last: 13, got: 15 }));

        let wrong = store.apply_replay("e9", 20, &[]);
        assert!(matches!(wrong.resync, Some(SyncError::WrongEpoch { .. })));
        assert_eq!(
            Store::new().apply_replay("e1", 1, &[]).resync,
            Some(SyncError::NoPosition)
        );
    }

    #[test]
    fn a_second_snapshot_reports_the_precise_difference() {
        let unchanged = || (11..=18).map(|n| task(n, 30 + n as u32, 1));
        let mut store = Store::new();
        let mut first = vec![task(3, 3, 1), task(1, 1, 1), task(2, 2, 1)];
        first.extend(unchanged());
        store.apply_snapshot("e1".to_owned(), 10, first);
        let mut list = ids(&store);
        let mut moved = task(1, 9, 2);
        moved.title = "moved".to_owned();
        let mut changed = task(3, 3, 2);
        changed.done = true;
        let applied = store.apply_snapshot(
            "e2".to_owned(),
            5,
            [moved, changed, task(5, 0, 1), task(6, 4, 1)]
                .into_iter()
                .chain(unchanged())
                .collect(),
        );
        assert_eq!(
            applied.rows,
            [
                RowChange::Removed {
                    id: id(2),
                    index: 1
                },
                RowChange::Removed {
                    id: id(1),
                    index: 0
                },
                RowChange::Inserted {
                    id: id(5),
                    index: 0
                },
                RowChange::Inserted {
                    id: id(6),
                    index: 2
                },
                RowChange::Inserted {
                    id: id(1),
                    index: 3
                },
                RowChange::Updated(id(3)),
            ]
        );
        replay_rows(&mut list, &store, &applied.rows);
        assert_eq!(
            store.position(),
            Some(&Position {
                epoch: "e2".to_owned(),
                seq: 5
            })
        );
    }

    #[test]
    fn a_snapshot_replacing_nearly_everything_resets() {
        let mut store = seeded();
        let applied = store.apply_snapshot("e1".to_owned(), 11, vec![task(7, 7, 1)]);
        assert_eq!(applied.rows, [RowChange::Reset]);
        assert_eq!(ids(&store), [id(7)]);
    }

    #[test]
    fn optimistic_create_is_pending_until_confirmed_and_moves_to_the_server_time() {
        let mut store = seeded();
        let mut list = ids(&store);
        let call = MethodCall::Create(CreateParams {
            board: None,
            id: Some(id(8)),
            title: "new".to_owned(),
        });
        // The shell's clock says 2026-01-01T00:10:00Z: after every seeded task.
        let changes = store.apply_local(MutationId(1), &call, 1_767_226_200_000);
        assert_eq!(
            changes,
            [RowChange::Inserted {
                id: id(8),
                index: 3
            }]
        );
        replay_rows(&mut list, &store, &changes);
        let view = store.get(id(8)).unwrap();
        assert!(view.pending);
        assert_eq!(view.task.version, 0);
        assert!(store.confirmed(id(8)).is_none());

        // The server's created_at is earlier: the row moves.
        let changes = store.confirm(MutationId(1), Some(task(8, 0, 1)));
        replay_rows(&mut list, &store, &changes);
        assert_eq!(ids(&store)[0], id(8));
        assert!(!store.get(id(8)).unwrap().pending);
        // The event for the same create is then a stale duplicate in content.
        let applied = store.apply_event(&event(
            11,
            Change::Upsert {
                item: task(8, 0, 1),
            },
        ));
        assert!(applied.rows.is_empty());
    }

    /// Over HTTP a change's result and a snapshot come on separate requests: a tick's
    /// result that comes after a snapshot without its task (deleted by someone else
    /// meanwhile) does not bring the task back.
    #[test]
    fn a_result_after_a_snapshot_without_its_task_does_not_bring_it_back() {
        let mut store = seeded();
        let tick = MethodCall::Update(UpdateParams {
            board: None,
            id: id(1),
            title: None,
            done: Some(true),
            if_version: None,
        });
        store.apply_local(MutationId(1), &tick, 0);
        store.apply_snapshot("e1".to_owned(), 12, vec![task(3, 3, 1), task(2, 2, 1)]);
        let ticked = Task {
            done: true,
            ..task(1, 1, 2)
        };
        store.confirm(MutationId(1), Some(ticked));
        assert!(store.get(id(1)).is_none());
        assert_eq!(ids(&store), [id(2), id(3)]);
    }

    #[test]
    fn refusal_rolls_back_to_the_confirmed_state() {
        let mut store = seeded();
        let mut list = ids(&store);
        let update = MethodCall::Update(UpdateParams {
            board: None,
            id: id(1),
            title: Some("renamed".to_owned()),
            done: Some(true),
            if_version: None,
        });
        let changes = store.apply_local(MutationId(1), &update, 0);
        assert_eq!(changes, [RowChange::Updated(id(1))]);
        assert_eq!(store.get(id(1)).unwrap().task.title, "renamed");
        let delete = MethodCall::Delete(DeleteParams {
            board: None,
            id: id(2),
        });
        let changes = store.apply_local(MutationId(2), &delete, 0);
        replay_rows(&mut list, &store, &changes);
        let create = MethodCall::Create(CreateParams {
            board: None,
            id: Some(id(9)),
            title: "x".to_owned(),
        });
        let changes = store.apply_local(MutationId(3), &create, 0);
        replay_rows(&mut list, &store, &changes);
        assert_eq!(ids(&store), [id(9), id(1), id(3)]);

        for mutation in [1, 2, 3] {
            let changes = store.reject(MutationId(mutation));
            replay_rows(&mut list, &store, &changes);
        }
        assert_eq!(ids(&store), [id(1), id(2), id(3)]);
        let one = store.get(id(1)).unwrap();
        assert_eq!(
            (one.task.title.as_str(), one.task.done, one.pending),
            ("t1", false, false)
        );
        assert!(
            store.reject(MutationId(1)).is_empty(),
            "rejecting twice changes nothing"
        );
    }

    #[test]
    fn a_foreign_event_does_not_erase_a_pending_change_but_a_reflecting_one_clears_it() {
        let mut store = seeded();
        let update = MethodCall::Update(UpdateParams {
            board: None,
            id: id(1),
            title: None,
            done: Some(true),
            if_version: None,
        });
        store.apply_local(MutationId(1), &update, 0);
        // Another device renames the task: ours stays shown on top.
        let mut renamed = task(1, 1, 2);
        renamed.title = "theirs".to_owned();
        store.apply_event(&event(11, Change::Upsert { item: renamed }));
        let view = store.get(id(1)).unwrap();
        assert_eq!(
            (view.task.title.as_str(), view.task.done, view.pending),
            ("theirs", true, true)
        );
        // Our change's event arrives before its result: no longer pending.
        let applied = store.apply_event(&event(12, patch(1, 3, true)));
        assert_eq!(applied.rows, [RowChange::Updated(id(1))]);
        assert!(!store.get(id(1)).unwrap().pending);
        // The late result changes nothing.
        let mut result = task(1, 1, 3);
        result.title = "theirs".to_owned();
        result.done = true;
        assert!(store.confirm(MutationId(1), Some(result)).is_empty());
    }

    #[test]
    fn only_a_prefix_of_pending_operations_is_cleared() {
        let mut store = seeded();
        let set = |done| {
            MethodCall::Update(UpdateParams {
                board: None,
                id: id(1),
                title: None,
                done: Some(done),
                if_version: None,
            })
        };
        store.apply_local(MutationId(1), &set(true), 0);
        store.apply_local(MutationId(2), &set(false), 0);
        // The confirmed state (done = false) matches the second op but not the first:
        // clearing the second alone would show `true`, which nobody wants.
        store.apply_event(&event(
            11,
            Change::Upsert {
                item: task(1, 1, 2),
            },
        ));
        let view = store.get(id(1)).unwrap();
        assert!(!view.task.done && view.pending);
        store.confirm(
            MutationId(1),
            Some(Task {
                done: true,
                ..task(1, 1, 3)
            }),
        );
        let view = store.get(id(1)).unwrap();
        assert!(!view.task.done && view.pending, "the second op still shows");
        store.confirm(MutationId(2), Some(task(1, 1, 4)));
        assert!(!store.get(id(1)).unwrap().pending);
    }

    #[test]
    fn a_confirmed_delete_stays_deleted_whatever_arrives_out_of_band() {
        let mut store = seeded();
        let mut list = ids(&store);
        let changes = store.apply_local(
            MutationId(1),
            &MethodCall::Delete(DeleteParams {
                board: None,
                id: id(2),
            }),
            0,
        );
        replay_rows(&mut list, &store, &changes);
        assert!(
            store.confirm(MutationId(1), None).is_empty(),
            "already hidden"
        );
        assert!(store.confirmed(id(2)).is_none());
        // A late result of an earlier update of the same task must not resurrect it.
        assert!(store.confirm(MutationId(7), Some(task(2, 2, 5))).is_empty());
        assert_eq!(ids(&store), [id(1), id(3)]);
        // The delete event then arrives; a later re-create (upsert event) is authoritative.
        store.apply_event(&event(11, Change::Delete { id: id(2) }));
        let changes = store.apply_event(&event(
            12,
            Change::Upsert {
                item: task(2, 2, 1),
            },
        ));
        replay_rows(&mut list, &store, &changes.rows);
        assert_eq!(ids(&store), [id(1), id(2), id(3)]);
    }

    #[test]
    fn clear_done_hides_done_tasks_and_knows_when_the_server_did_it() {
        let mut store = seeded();
        store.apply_event(&event(11, patch(1, 2, true)));
        store.apply_event(&event(12, patch(3, 2, true)));
        let call = MethodCall::ClearDone(ClearDoneParams { board: None });
        let changes = store.apply_local(MutationId(5), &call, 0);
        assert_eq!(changes.len(), 2);
        assert_eq!(ids(&store), [id(2)]);
        assert!(!store.shows_applied(MutationId(5), &call));
        store.apply_event(&event(13, Change::Delete { id: id(1) }));
        assert!(!store.shows_applied(MutationId(5), &call));
        store.apply_event(&event(14, Change::Delete { id: id(3) }));
        assert!(store.shows_applied(MutationId(5), &call));
        assert!(store.confirm(MutationId(5), None).is_empty());
    }

    #[test]
    fn shows_applied_reads_the_confirmed_state_only() {
        let mut store = seeded();
        let create = MethodCall::Create(CreateParams {
            board: None,
            id: Some(id(9)),
            title: "x".to_owned(),
        });
        store.apply_local(MutationId(1), &create, 0);
        assert!(
            !store.shows_applied(MutationId(1), &create),
            "optimistic is not confirmed"
        );
        let update = MethodCall::Update(UpdateParams {
            board: None,
            id: id(1),
            title: Some("t1".to_owned()),
            done: Some(true),
            if_version: None,
        });
        assert!(!store.shows_applied(MutationId(2), &update));
        store.apply_event(&event(11, patch(1, 2, true)));
        assert!(store.shows_applied(MutationId(2), &update));
        let delete = MethodCall::Delete(DeleteParams {
            board: None,
            id: id(3),
        });
        assert!(!store.shows_applied(MutationId(3), &delete));
        store.apply_event(&event(12, Change::Delete { id: id(3) }));
        assert!(store.shows_applied(MutationId(3), &delete));
        // Created, then deleted by another device before the result came back: the
        // create landed and must not be resent (it would bring the task back).
        store.apply_event(&event(
            13,
            Change::Upsert {
                item: task(9, 9, 1),
            },
        ));
        store.apply_event(&event(14, Change::Delete { id: id(9) }));
        assert!(store.shows_applied(MutationId(1), &create));
    }

    #[test]
    fn pending_changes_survive_a_snapshot() {
        let mut store = seeded();
        let mut list = ids(&store);
        let create = MethodCall::Create(CreateParams {
            board: None,
            id: Some(id(9)),
            title: "x".to_owned(),
        });
        let changes = store.apply_local(MutationId(1), &create, 1_767_225_660_000);
        replay_rows(&mut list, &store, &changes);
        let update = MethodCall::Update(UpdateParams {
            board: None,
            id: id(2),
            title: None,
            done: Some(true),
            if_version: None,
        });
        let changes = store.apply_local(MutationId(2), &update, 0);
        replay_rows(&mut list, &store, &changes);
        let applied = store.apply_snapshot(
            "e1".to_owned(),
            30,
            vec![task(1, 1, 1), task(2, 2, 1), task(3, 3, 2)],
        );
        replay_rows(&mut list, &store, &applied.rows);
        assert!(store.get(id(9)).unwrap().pending);
        assert!(store.get(id(2)).unwrap().task.done);
        assert_eq!(applied.rows, [RowChange::Updated(id(3))]);
    }

    #[test]
    fn clear_forgets_everything() {
        let mut store = seeded();
        assert_eq!(store.clear(), [RowChange::Reset]);
        assert!(store.is_empty());
        assert_eq!(store.len(), 0);
        assert_eq!(store.position(), None);
    }

    #[test]
    fn merges_ten_thousand_tasks_and_a_thousand_events() {
        let fixture = MergeFixture::new(10_000, 1_000);
        let (store, changes) = fixture.run();
        assert_eq!(store.position().unwrap().seq, 1_000);
        // 100 upserts add tasks, 100 deletes remove distinct tasks.
        assert_eq!(store.len(), 10_000);
        assert!(changes >= 1_000);
        let listed: Vec<&Task> = store.iter().map(|view| view.task).collect();
        assert!(
            listed
                .windows(2)
                .all(|pair| SortKey::of(pair[0]) < SortKey::of(pair[1]))
        );
        // The same merge, checked against a plain replay of the row changes.
        let mut again = Store::new();
        let mut list = Vec::new();
        let applied = again.apply_snapshot("bench".to_owned(), 0, fixture.items.clone());
        replay_rows(&mut list, &again, &applied.rows);
        for event in &fixture.events {
            let applied = again.apply_event(event);
            assert_eq!(applied.resync, None);
            apply_rows(&mut list, &again, &applied.rows);
        }
        assert_eq!(list, ids(&again), "row changes must rebuild the same list");
        assert_eq!(again, store);
    }
}
