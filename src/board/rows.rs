//! The rows of the board: the list of ids in display order, one signal per row and the
//! counts, kept from the store's row updates so that one task's change sets one signal
//! and tells the task lists shown ([`RowWatchers`]).

use std::rc::Rc;

use leptos::prelude::*;
use rustc_hash::FxHashSet;
use uuid::Uuid;

use super::{Board, TaskCounts, TaskRow};
use crate::client::rows::RowUpdate;

impl Board {
    /// Applies `updates` to `task_ids`, the per-row signals and the counts. The counts
    /// follow from each row's change instead of a count over every row.
    pub(super) fn apply_rows(&mut self, updates: Vec<RowUpdate>) {
        let rows = self.views.rows;
        let owner = &self.rows_owner;
        let watchers = self.views.row_watchers.current();
        let tell = |row: &TaskRow| watchers.iter().for_each(|watch| watch(row));
        // Done rows among the row signals, which are exactly the rows shown.
        let mut done = self.views.counts.with_untracked(|counts| counts.done);
        // Ids that left the list in this batch; a row that moves comes back at once.
        let mut gone: Vec<Uuid> = Vec::new();
        let mut upsert = |row: TaskRow| {
            let id = row.task.id;
            match rows.with_value(|rows| rows.get(&id).copied()) {
                Some(signal) => {
                    let was_done = signal
                        .with_untracked(|current| (*current != row).then_some(current.task.done));
                    if let Some(was_done) = was_done {
                        done =
                            done.saturating_sub(usize::from(was_done)) + usize::from(row.task.done);
                        tell(&row);
                        signal.set(row);
                    }
                }
                None => {
                    done += usize::from(row.task.done);
                    // A list may still show the row this one replaces (deleted and made
                    // again since the list last caught up): it shows the new values.
                    tell(&row);
                    let signal = owner.with(|| RwSignal::new(row));
                    rows.update_value(|rows| {
                        rows.insert(id, signal);
                    });
                }
            }
        };
        let mut shown = 0;
        self.views.task_ids.maybe_update(|ids| {
            // Only insertions and removals change the list; an update touches its row.
            let mut reordered = false;
            for update in updates {
                match update {
                    RowUpdate::Inserted { index, row } => {
                        reordered = true;
                        ids.insert(index.min(ids.len()), row.task.id);
                        upsert(row);
                    }
                    RowUpdate::Updated(row) => upsert(row),
                    RowUpdate::Removed { id, index } => {
                        reordered = true;
                        if ids.get(index) == Some(&id) {
                            ids.remove(index);
                        } else {
                            ids.retain(|known| *known != id);
                        }
                        gone.push(id);
                    }
                    RowUpdate::Reset(all) => {
                        reordered = true;
                        gone.append(ids);
                        ids.extend(all.iter().map(|row| row.task.id));
                        all.into_iter().for_each(&mut upsert);
                    }
                }
            }
            if !gone.is_empty() {
                let shown: FxHashSet<Uuid> = ids.iter().copied().collect();
                gone.retain(|id| !shown.contains(id));
            }
            shown = ids.len();
            reordered
        });
        rows.update_value(|rows| {
            for id in gone {
                if let Some(signal) = rows.remove(&id) {
                    done = done
                        .saturating_sub(usize::from(signal.with_untracked(|row| row.task.done)));
                    signal.dispose();
                }
            }
        });
        let counts = TaskCounts {
            left: shown.saturating_sub(done),
            done,
        };
        super::set_if_changed(self.views.counts, counts);
    }
}

/// A row's change as the board makes it.
type Watcher = Rc<dyn Fn(&TaskRow)>;

/// The task lists shown, told of each row's change or arrival, with the row. A list
/// writes it into that row's elements if it shows the row: one listener a list, where an
/// effect a row would be thousands of subscriptions made and dropped as the list is
/// built and left. A row that comes into a list later is built from its signal.
#[derive(Clone, Copy)]
pub struct RowWatchers(StoredValue<Vec<(u64, Watcher)>, LocalStorage>);

impl Default for RowWatchers {
    fn default() -> Self {
        Self(StoredValue::new_local(Vec::new()))
    }
}

impl RowWatchers {
    /// Tells `watch` of every row's change or arrival until the current owner is
    /// cleaned up.
    pub fn watch(self, watch: impl Fn(&TaskRow) + 'static) {
        let key = self.0.try_update_value(|watchers| {
            let key = watchers.last().map_or(0, |(key, _)| key + 1);
            watchers.push((key, Rc::new(watch) as Watcher));
            key
        });
        if let Some(key) = key {
            on_cleanup(move || {
                self.0
                    .try_update_value(|watchers| watchers.retain(|(mine, _)| *mine != key));
            });
        }
    }

    /// The watchers now, copied out of the store, so that one may watch or stop
    /// watching as it is told.
    fn current(self) -> Vec<Watcher> {
        self.0
            .try_with_value(|watchers| watchers.iter().map(|(_, watch)| Rc::clone(watch)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::board::Views;
    use crate::client::fixtures::task;

    fn row(title: &str) -> TaskRow {
        TaskRow {
            task: protocol::Task {
                title: title.to_owned(),
                ..task(1)
            },
            pending: false,
        }
    }

    /// A list that has not caught up yet still shows a task deleted and made again
    /// under its id: it is told the new row, and shows the new title, not the old one.
    #[test]
    fn a_task_made_again_under_its_id_is_told_to_the_lists() {
        let owner = Owner::new();
        owner.with(|| {
            let views = Views::default();
            let mut board = Board::new(views);
            let told = Rc::new(RefCell::new(Vec::new()));
            views.row_watchers.watch({
                let told = Rc::clone(&told);
                move |row: &TaskRow| told.borrow_mut().push(row.task.title.clone())
            });
            board.apply_rows(vec![RowUpdate::Inserted {
                index: 0,
                row: row("first"),
            }]);
            board.apply_rows(vec![RowUpdate::Updated(row("renamed"))]);
            board.apply_rows(vec![RowUpdate::Removed {
                id: task(1).id,
                index: 0,
            }]);
            board.apply_rows(vec![RowUpdate::Inserted {
                index: 0,
                row: row("made again"),
            }]);
            assert_eq!(told.borrow().last().map(String::as_str), Some("made again"));
            assert!(told.borrow().contains(&"renamed".to_owned()));
        });
    }
}
