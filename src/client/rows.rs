//! What the UI is told about a topic's rows: each [`RowChange`] a store reports, with
//! the row it is about, so that the views apply it without reading the store back.

use protocol::Task;
use uuid::Uuid;

use super::store::{RowChange, Store, TaskView};

/// One row of the board, owned: the value a [`RowUpdate`] carries to the views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    pub task: Task,
    /// A change to this task awaits the server (`data-pending`).
    pub pending: bool,
}

/// A [`RowChange`] with the row it is about, so that the views apply it without reading
/// the store back. Apply them in order, as [`RowChange`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowUpdate {
    Inserted {
        index: usize,
        row: TaskRow,
    },
    Updated(TaskRow),
    Removed {
        id: Uuid,
        index: usize,
    },
    /// Every row, in display order.
    Reset(Vec<TaskRow>),
}

impl Store {
    /// `changes`, just returned by this store, with the rows they are about. A row that
    /// one change inserts or updates and a later one removes is no longer here to carry,
    /// so such a batch becomes one `Reset`.
    pub fn updates(&self, changes: Vec<RowChange>) -> Vec<RowUpdate> {
        let row = |id: Uuid| self.get(id).map(TaskView::to_row);
        let mut updates = Vec::with_capacity(changes.len());
        for change in changes {
            let update = match change {
                RowChange::Inserted { id, index } => {
                    row(id).map(|row| RowUpdate::Inserted { index, row })
                }
                RowChange::Updated(id) => row(id).map(RowUpdate::Updated),
                RowChange::Removed { id, index } => Some(RowUpdate::Removed { id, index }),
                RowChange::Reset => Some(self.reset()),
            };
            match update {
                Some(update) => updates.push(update),
                None => return vec![self.reset()],
            }
        }
        updates
    }

    fn reset(&self) -> RowUpdate {
        RowUpdate::Reset(self.iter().map(TaskView::to_row).collect())
    }
}

impl TaskView<'_> {
    pub fn to_row(self) -> TaskRow {
        TaskRow {
            task: self.task.clone(),
            pending: self.pending,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use protocol::Change;

    use super::*;
    use crate::client::fixtures::{event, task};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn updates_carry_the_rows_they_are_about() {
        let mut store = Store::new();
        store.apply_snapshot("e1".to_owned(), 1, vec![task(1)]);
        let applied = store.apply_event(&event(2, Change::Upsert { item: task(2) }));
        let updates = store.updates(applied.rows);
        assert_eq!(
            updates,
            [RowUpdate::Inserted {
                index: 1,
                row: TaskRow {
                    task: task(2),
                    pending: false
                }
            }]
        );
    }

    #[test]
    fn a_batch_naming_a_row_no_longer_there_becomes_one_reset() {
        let mut store = Store::new();
        store.apply_snapshot("e1".to_owned(), 1, vec![task(1), task(2)]);
        // Task 3 was inserted and then went again before the batch was read.
        let changes = vec![
            RowChange::Inserted {
                id: id(3),
                index: 2,
            },
            RowChange::Removed {
                id: id(3),
                index: 2,
            },
        ];
        let rows: Vec<TaskRow> = store.iter().map(TaskView::to_row).collect();
        assert_eq!(store.updates(changes), [RowUpdate::Reset(rows)]);
    }
}
