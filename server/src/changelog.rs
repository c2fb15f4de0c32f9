//! The change log: every change of a board's tasks, numbered by `seq` within an `epoch`.
//! A user's personal board has the user's id, so the v1 calls pass the user's id.
//!
//! The tasks and their log live behind one trait because a change and its event must
//! commit in the same transaction: a store that could write one without the other would
//! let clients miss or invent changes. `SqlChangeLog` implements it on SQLite and on
//! PostgreSQL, where the same transaction also tells the other nodes (`cluster`).

mod store;

use std::future::Future;
use std::pin::Pin;

use protocol::{Event, MethodCall, MethodValue, Position, Task, TaskList};
use uuid::Uuid;

use crate::error::AppError;
#[cfg(test)]
pub(crate) use store::fixture;
pub use store::{MAX_TASKS, SqlChangeLog};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who makes a change: recorded as the task's `updated_by`.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: Uuid,
    pub username: String,
    /// The session the change is made in, which must still be on when it commits.
    pub session: Uuid,
}

pub trait ChangeLog: Send + Sync {
    /// Applies one change to `board`'s tasks and appends its events, in one
    /// transaction; returns only after the commit. Access is the caller's to check.
    fn apply(
        &self,
        board: Uuid,
        actor: Actor,
        call: MethodCall,
    ) -> BoxFuture<'_, Result<Applied, AppError>>;

    /// Applies each change in order, as `apply` would one after another, in one
    /// transaction and one commit (one sync of the disk for them all), and returns each
    /// one's answer in order: a change that fails is undone alone, and the others
    /// stand. `Err` when the batch itself could not commit: then none of them happened.
    fn apply_all<'a>(
        &'a self,
        changes: &'a [Change],
    ) -> BoxFuture<'a, Result<Vec<Result<Applied, AppError>>, AppError>>;

    /// Every task of `board`, and the log position they reflect.
    fn snapshot(&self, board: Uuid) -> BoxFuture<'_, Result<TaskList, AppError>>;

    /// The events after `since`, when the log still holds every one of them (same epoch,
    /// not trimmed away); `None` when the client needs a snapshot instead.
    fn since(
        &self,
        board: Uuid,
        since: Position,
    ) -> BoxFuture<'_, Result<Option<Replay>, AppError>>;
}

/// One change of `board`'s tasks by `actor`, as `apply` takes it.
#[derive(Debug, Clone)]
pub struct Change {
    pub board: Uuid,
    pub actor: Actor,
    pub call: MethodCall,
}

/// Missed events, oldest first, and the position after them.
#[derive(Debug)]
pub struct Replay {
    pub epoch: String,
    pub seq: u64,
    pub events: Vec<Event>,
}

/// A committed change: what the caller gets back, and the events to fan out.
#[derive(Debug)]
pub struct Applied {
    pub outcome: Outcome,
    pub events: Vec<Event>,
    /// Who may read the board as of this change, read under its lock, where a member
    /// may have been removed through another node whose word has not reached this one
    /// yet (a shared board on PostgreSQL); `None` where this node knows (one process
    /// makes every change, and a person's own board is theirs for good). Sorted: each
    /// subscriber is looked up in it.
    pub readers: Option<Vec<Uuid>>,
}

#[derive(Debug)]
pub enum Outcome {
    /// `created` is false when the id already existed (an idempotent retry).
    Created {
        task: Task,
        created: bool,
    },
    Updated(Task),
    Deleted,
    Cleared(u64),
}

impl Outcome {
    /// The `ok` value of a socket `result`, per method.
    pub fn value(self) -> MethodValue {
        match self {
            Self::Created { task, .. } | Self::Updated(task) => MethodValue {
                task: Some(task),
                ..MethodValue::default()
            },
            Self::Deleted => MethodValue::default(),
            Self::Cleared(deleted) => MethodValue {
                deleted: Some(deleted),
                ..MethodValue::default()
            },
        }
    }
}
