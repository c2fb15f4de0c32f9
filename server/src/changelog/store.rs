//! The change log in the database (SQLite or PostgreSQL): `tasks`, `events` (the last N
//! per board) and `boards.log_seq`.

use protocol::{
    Change, CreateParams, Event, MethodCall, Position, Task, TaskFields, TaskList, Topic,
    UpdateParams,
};
use uuid::Uuid;

use super::Change as Pending;
use super::{Actor, Applied, BoxFuture, ChangeLog, Outcome, Replay};
use crate::auth::refresh::random_base64;
use crate::clock;
use crate::db::{self, Db, EPOCH_KEY, Tx, query, record, set_setting, stored_id};
use crate::error::AppError;

/// The log is trimmed on every this many appends of a board (fewer when it keeps fewer).
const TRIM_EVERY: i64 = 16;

#[derive(Debug, Clone)]
pub struct SqlChangeLog {
    db: Db,
    /// Events kept per board.
    keep: i64,
    /// Tasks one board may hold.
    max_tasks: i64,
}

record! {
    struct TaskRow {
        id: String,
        title: String,
        done: bool,
        version: i64,
        created_at: String,
        updated_at: String,
        updated_by: String,
    }
}

impl TryFrom<TaskRow> for Task {
    type Error = AppError;

    fn try_from(row: TaskRow) -> Result<Self, AppError> {
        Ok(Task {
            id: stored_id(&row.id)?,
            title: row.title,
            done: row.done,
            version: u64::try_from(row.version)
                .map_err(|e| AppError::Internal(format!("stored version: {e}")))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        })
    }
}

/// Tasks on one board, unless the server is told otherwise. A board's snapshot is one
/// frame, which a client reads up to `protocol::MAX_SERVER_FRAME_BYTES` (32 MiB); a task
/// is at most about 1 KB on the wire, so this leaves room to spare. Without a cap, an
/// editor could grow a board until nobody could open it.
pub const MAX_TASKS: u32 = 20_000;

impl SqlChangeLog {
    /// Opens the log over `db`, creating its epoch on first use.
    pub async fn open(db: Db, keep: u32) -> Result<Self, crate::db::DbError> {
        db.setting_or_init(EPOCH_KEY, new_epoch).await?;
        Ok(Self {
            db,
            keep: i64::from(keep),
            max_tasks: i64::from(MAX_TASKS),
        })
    }

    /// The most tasks a board may hold (`MAX_TASKS` unless told).
    pub fn with_max_tasks(mut self, max_tasks: u32) -> Self {
        self.max_tasks = i64::from(max_tasks);
        self
    }

    /// Forgets every event and starts a new epoch: every client that resubscribes gets a
    /// snapshot. Returns the new epoch.
    pub async fn reset(&self) -> Result<String, sqlx::Error> {
        let epoch = new_epoch();
        let mut tx = self.db.begin_write().await?;
        // Every board's row first: on PostgreSQL this waits for the writes holding a board
        // (their events then committed, so the delete sees them) and holds off the next
        // until this commits. Deleting first would miss a write's event not yet committed,
        // left behind in the new epoch where the board's `seq` starts again below it.
        query("UPDATE boards SET log_seq = 0")
            .execute(tx.on())
            .await?;
        query("DELETE FROM events").execute(tx.on()).await?;
        set_setting(&mut tx, EPOCH_KEY, &epoch).await?;
        tx.notify(&crate::cluster::Hint::Reset.to_string()).await?;
        tx.commit().await?;
        Ok(epoch)
    }

    async fn apply_in(&self, change: Pending) -> Result<Applied, AppError> {
        let mut tx = self.db.begin_write().await?;
        let applied = self.apply_on(&mut tx, change).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// The changes in one transaction and one commit. Most batches succeed whole, so
    /// they are first written without a savepoint each (two more statements a change);
    /// when one fails, that attempt is rolled back and the batch written again with
    /// them, so that a change that fails is undone alone and the others still commit.
    /// A batch whose begin or commit fails is not written again: the error is the
    /// database's, not a change's, and a commit that failed midway may have happened.
    async fn apply_all_in(
        &self,
        changes: &[Pending],
    ) -> Result<Vec<Result<Applied, AppError>>, AppError> {
        if let [change] = changes {
            return Ok(vec![self.apply_in(change.clone()).await]);
        }
        match self.apply_together(changes).await? {
            Some(applied) => Ok(applied.into_iter().map(Ok).collect()),
            None => self.apply_each_undoable(changes).await,
        }
    }

    /// The changes written together; `None` when one of them failed (the transaction,
    /// dropped, rolls back).
    async fn apply_together(&self, changes: &[Pending]) -> Result<Option<Vec<Applied>>, AppError> {
        let mut tx = self.db.begin_write().await?;
        let mut applied = Vec::with_capacity(changes.len());
        for change in changes {
            match self.apply_on(&mut tx, change.clone()).await {
                Ok(one) => applied.push(one),
                Err(_) => return Ok(None),
            }
        }
        tx.commit().await?;
        Ok(Some(applied))
    }

    /// Each change behind a savepoint: one that fails is rolled back to it, and the next
    /// sees the tasks and the log as if it had never been tried, as it would alone.
    async fn apply_each_undoable(
        &self,
        changes: &[Pending],
    ) -> Result<Vec<Result<Applied, AppError>>, AppError> {
        let mut tx = self.db.begin_write().await?;
        let mut answers = Vec::with_capacity(changes.len());
        for change in changes {
            query("SAVEPOINT change").execute(tx.on()).await?;
            let answer = self.apply_on(&mut tx, change.clone()).await;
            if answer.is_err() {
                query("ROLLBACK TO SAVEPOINT change")
                    .execute(tx.on())
                    .await?;
            }
            query("RELEASE SAVEPOINT change").execute(tx.on()).await?;
            answers.push(answer);
        }
        tx.commit().await?;
        Ok(answers)
    }

    /// One change inside `tx`, with its events and (on PostgreSQL) the word to the other
    /// nodes; the caller commits.
    async fn apply_on(&self, tx: &mut Tx, change: Pending) -> Result<Applied, AppError> {
        let Pending { board, actor, call } = change;
        tx.lock_board(&board.to_string()).await?;
        // On several nodes a logout on another node closes this node's sockets only when
        // its word arrives, and a socket's change sent after the logout answered would
        // land meanwhile. So the change finds the session in its own transaction, under a
        // lock the logout's delete waits for: it commits before the session ends, or
        // finds it ended. One process on SQLite closes the sockets before the logout
        // answers, and the HTTP calls check the session as they start.
        if tx.is_postgres() {
            let on: Option<String> = query("SELECT id FROM sessions WHERE id = $1 FOR KEY SHARE")
                .bind(actor.session.to_string())
                .optional_scalar(tx.on())
                .await?;
            if on.is_none() {
                return Err(AppError::unauthorized("The session has ended."));
            }
        }
        // A person's own board (its id is theirs) is theirs for good: it cannot be shared,
        // left or deleted, so there is no role to look up (a round trip saved on every
        // personal change). Any other board's role is checked in the change's own
        // transaction, under the board's lock: a member removed a moment before cannot
        // slip a change in after. On several nodes the same read gives every member, so
        // that this node sends the change to no one removed through another.
        let mut readers = None;
        if board != actor.user {
            if tx.is_postgres() {
                let members = crate::boards::members_of(tx, board).await?;
                let role = members
                    .iter()
                    .find(|(user, _)| *user == actor.user)
                    .map(|(_, role)| *role);
                crate::boards::may_change(role)?;
                let mut members: Vec<Uuid> = members.into_iter().map(|(user, _)| user).collect();
                members.sort_unstable();
                readers = Some(members);
            } else {
                let role = crate::boards::role_of(tx, board, actor.user).await?;
                crate::boards::may_change_tasks(role.as_deref())?;
            }
        }
        let mut log = Appender {
            tx: &mut *tx,
            board,
            username: actor.username,
            keep: self.keep,
            max_tasks: self.max_tasks,
            events: Vec::new(),
        };
        let outcome = match call {
            MethodCall::Create(params) => log.create(params).await?,
            MethodCall::Update(params) => log.update(params).await?,
            MethodCall::Delete(params) => {
                query(
                    "INSERT INTO deleted_tasks (board_id, id) \
                     SELECT board_id, id FROM tasks WHERE board_id = $1 AND id = $2 \
                     ON CONFLICT (board_id, id) DO NOTHING",
                )
                .bind(board.to_string())
                .bind(params.id.to_string())
                .execute(log.tx.on())
                .await?;
                let deleted = query("DELETE FROM tasks WHERE board_id = $1 AND id = $2")
                    .bind(board.to_string())
                    .bind(params.id.to_string())
                    .execute(log.tx.on())
                    .await?;
                if deleted == 0 {
                    return Err(AppError::no_such_task());
                }
                log.append(Change::Delete { id: params.id }).await?;
                Outcome::Deleted
            }
            MethodCall::ClearDone(_) => {
                query(
                    "INSERT INTO deleted_tasks (board_id, id) \
                     SELECT board_id, id FROM tasks WHERE board_id = $1 AND done = TRUE \
                     ON CONFLICT (board_id, id) DO NOTHING",
                )
                .bind(board.to_string())
                .execute(log.tx.on())
                .await?;
                let ids: Vec<String> =
                    query("DELETE FROM tasks WHERE board_id = $1 AND done = TRUE RETURNING id")
                        .bind(board.to_string())
                        .scalars(log.tx.on())
                        .await?;
                for id in &ids {
                    let id = stored_id(id)?;
                    log.append(Change::Delete { id }).await?;
                }
                Outcome::Cleared(ids.len() as u64)
            }
        };
        let events = log.events;
        if let Some(last) = events.last() {
            tx.notify(
                &crate::cluster::Hint::Tasks {
                    board,
                    seq: last.seq,
                }
                .to_string(),
            )
            .await?;
        }
        Ok(Applied {
            outcome,
            events,
            readers,
        })
    }

    async fn snapshot_in(&self, board: Uuid) -> Result<TaskList, AppError> {
        let mut tx = self.db.begin_read().await?;
        let (epoch, seq) = position(&mut tx, board).await?;
        let rows: Vec<TaskRow> = query(
            "SELECT id, title, done, version, created_at, updated_at, updated_by FROM tasks \
             WHERE board_id = $1 ORDER BY rowid",
        )
        .bind(board.to_string())
        .fetch_all(tx.on())
        .await?;
        tx.commit().await?;
        let items = rows
            .into_iter()
            .map(Task::try_from)
            .collect::<Result<_, _>>()?;
        Ok(TaskList { epoch, seq, items })
    }

    async fn since_in(&self, board: Uuid, since: Position) -> Result<Option<Replay>, AppError> {
        let mut tx = self.db.begin_read().await?;
        let (epoch, seq) = position(&mut tx, board).await?;
        if since.epoch != epoch || since.seq > seq {
            return Ok(None);
        }
        let after = i64::try_from(since.seq).unwrap_or(i64::MAX);
        let oldest: Option<i64> = query("SELECT MIN(seq) FROM events WHERE board_id = $1")
            .bind(board.to_string())
            .scalar(tx.on())
            .await?;
        let complete = since.seq == seq || oldest.is_some_and(|oldest| oldest <= after + 1);
        if !complete {
            return Ok(None);
        }
        let rows: Vec<(i64, String)> =
            query("SELECT seq, change FROM events WHERE board_id = $1 AND seq > $2 ORDER BY seq")
                .bind(board.to_string())
                .bind(after)
                .fetch_all(tx.on())
                .await?;
        tx.commit().await?;
        let events = rows
            .into_iter()
            .map(|(seq, change)| {
                Ok(Event {
                    topic: Topic::Board(board),
                    epoch: epoch.clone(),
                    seq: u64::try_from(seq)
                        .map_err(|e| AppError::Internal(format!("stored seq: {e}")))?,
                    change: serde_json::from_str(&change)
                        .map_err(|e| AppError::Internal(format!("stored event: {e}")))?,
                })
            })
            .collect::<Result<_, AppError>>()?;
        Ok(Some(Replay { epoch, seq, events }))
    }
}

impl ChangeLog for SqlChangeLog {
    fn apply(
        &self,
        board: Uuid,
        actor: Actor,
        call: MethodCall,
    ) -> BoxFuture<'_, Result<Applied, AppError>> {
        Box::pin(self.apply_in(Pending { board, actor, call }))
    }

    fn apply_all<'a>(
        &'a self,
        changes: &'a [Pending],
    ) -> BoxFuture<'a, Result<Vec<Result<Applied, AppError>>, AppError>> {
        Box::pin(self.apply_all_in(changes))
    }

    fn snapshot(&self, board: Uuid) -> BoxFuture<'_, Result<TaskList, AppError>> {
        Box::pin(self.snapshot_in(board))
    }

    fn since(
        &self,
        board: Uuid,
        since: Position,
    ) -> BoxFuture<'_, Result<Option<Replay>, AppError>> {
        Box::pin(self.since_in(board, since))
    }
}

/// One write transaction of one board's tasks, collecting the events it appends.
struct Appender<'c> {
    tx: &'c mut Tx,
    board: Uuid,
    /// Recorded as `updated_by` on what this transaction changes.
    username: String,
    keep: i64,
    max_tasks: i64,
    events: Vec<Event>,
}

impl Appender<'_> {
    async fn find(&mut self, id: Uuid) -> Result<Option<Task>, AppError> {
        let row: Option<TaskRow> = query(
            "SELECT id, title, done, version, created_at, updated_at, updated_by FROM tasks \
             WHERE board_id = $1 AND id = $2",
        )
        .bind(self.board.to_string())
        .bind(id.to_string())
        .fetch_optional(self.tx.on())
        .await?;
        row.map(Task::try_from).transpose()
    }

    async fn create(&mut self, params: CreateParams) -> Result<Outcome, AppError> {
        let id = params.id.unwrap_or_else(Uuid::new_v4);
        let now = clock::now_rfc3339();
        let task = Task {
            id,
            title: params.title,
            done: false,
            version: 1,
            created_at: now.clone(),
            updated_at: now,
            updated_by: self.username.clone(),
        };
        // Not an id deleted before: that create went through once already. Not past
        // the board's most tasks either: counted in the same statement, so that no
        // round trip is added to a create.
        let inserted = query(
            "INSERT INTO tasks \
             (board_id, id, title, done, version, created_at, updated_at, updated_by) \
             SELECT $1, $2, $3, FALSE, 1, $4, $5, $6 WHERE NOT EXISTS \
             (SELECT 1 FROM deleted_tasks WHERE board_id = $1 AND id = $2) \
             AND (SELECT COUNT(*) FROM tasks WHERE board_id = $1) < $7 \
             ON CONFLICT (board_id, id) DO NOTHING",
        )
        .bind(self.board.to_string())
        .bind(id.to_string())
        .bind(&task.title)
        .bind(&task.created_at)
        .bind(&task.updated_at)
        .bind(&task.updated_by)
        .bind(self.max_tasks)
        .execute(self.tx.on())
        .await?;
        if inserted == 0 {
            // A retry of a create that went through: answer with what is stored, or that
            // it was deleted since; else the board is full.
            if let Some(task) = self.find(id).await? {
                return Ok(Outcome::Created {
                    task,
                    created: false,
                });
            }
            let deleted: Option<String> =
                query("SELECT id FROM deleted_tasks WHERE board_id = $1 AND id = $2")
                    .bind(self.board.to_string())
                    .bind(id.to_string())
                    .optional_scalar(self.tx.on())
                    .await?;
            return Err(match deleted {
                Some(_) => AppError::task_deleted(),
                None => AppError::forbidden(format!(
                    "A board holds at most {} tasks; delete some first.",
                    self.max_tasks
                )),
            });
        }
        self.append(Change::Upsert { item: task.clone() }).await?;
        Ok(Outcome::Created {
            task,
            created: true,
        })
    }

    /// Changes only what differs; a patch that changes nothing is no change (no new
    /// version, no event). With `if_version`, only a task still at that version changes.
    async fn update(&mut self, params: UpdateParams) -> Result<Outcome, AppError> {
        let Some(mut task) = self.find(params.id).await? else {
            return Err(AppError::no_such_task());
        };
        if params
            .if_version
            .is_some_and(|expected| expected != task.version)
        {
            return Err(AppError::VersionConflict(Box::new(task)));
        }
        let mut fields = TaskFields::default();
        if let Some(title) = params.title.filter(|title| *title != task.title) {
            task.title.clone_from(&title);
            fields.title = Some(title);
        }
        if let Some(done) = params.done.filter(|done| *done != task.done) {
            task.done = done;
            fields.done = Some(done);
        }
        if fields == TaskFields::default() {
            return Ok(Outcome::Updated(task));
        }
        task.version += 1;
        task.updated_at = clock::now_rfc3339();
        fields.updated_at = Some(task.updated_at.clone());
        if task.updated_by != self.username {
            task.updated_by.clone_from(&self.username);
            fields.updated_by = Some(self.username.clone());
        }
        query(
            "UPDATE tasks SET title = $1, done = $2, version = $3, updated_at = $4, \
             updated_by = $5 WHERE board_id = $6 AND id = $7",
        )
        .bind(&task.title)
        .bind(task.done)
        .bind(i64::try_from(task.version).unwrap_or(i64::MAX))
        .bind(&task.updated_at)
        .bind(&task.updated_by)
        .bind(self.board.to_string())
        .bind(task.id.to_string())
        .execute(self.tx.on())
        .await?;
        self.append(Change::Patch {
            id: task.id,
            version: task.version,
            fields,
        })
        .await?;
        Ok(Outcome::Updated(task))
    }

    /// Gives the change the board's next `seq`, stores it, and now and then trims the
    /// board's log to the newest `keep` events. Trimming in batches saves a statement per
    /// change; the log holds fewer than `keep + TRIM_EVERY` events of a board.
    async fn append(&mut self, change: Change) -> Result<(), AppError> {
        let board = self.board.to_string();
        let json = serde_json::to_string(&change)
            .map_err(|e| AppError::Internal(format!("encoding an event: {e}")))?;
        // The trigger `events_bump_log_seq` moves `boards.log_seq` along.
        let (seq, epoch): (i64, String) = query(
            "INSERT INTO events (board_id, seq, change) \
             SELECT id, log_seq + 1, $1 FROM boards WHERE id = $2 \
             RETURNING seq, (SELECT value FROM settings WHERE key = $3)",
        )
        .bind(json)
        .bind(&board)
        .bind(EPOCH_KEY)
        .fetch_one(self.tx.on())
        .await?;
        if seq % self.keep.clamp(1, TRIM_EVERY) == 0 {
            query("DELETE FROM events WHERE board_id = $1 AND seq <= $2")
                .bind(&board)
                .bind(seq - self.keep)
                .execute(self.tx.on())
                .await?;
        }
        self.events.push(Event {
            topic: Topic::Board(self.board),
            epoch,
            seq: u64::try_from(seq).map_err(|e| AppError::Internal(format!("seq: {e}")))?,
            change,
        });
        Ok(())
    }
}

/// The current epoch and `board`'s last `seq`.
async fn position(tx: &mut Tx, board: Uuid) -> Result<(String, u64), AppError> {
    let epoch = db::epoch(tx).await?;
    let seq: Option<i64> = query("SELECT log_seq FROM boards WHERE id = $1")
        .bind(board.to_string())
        .optional_scalar(tx.on())
        .await?;
    let seq = seq.unwrap_or(0);
    Ok((
        epoch,
        u64::try_from(seq).map_err(|e| AppError::Internal(format!("stored seq: {e}")))?,
    ))
}

/// A short random name for a new epoch.
fn new_epoch() -> String {
    random_base64(9)
}

/// What the change log's own tests and the writer's share: a log on a fresh SQLite
/// file with one person in it.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::db::DbTarget;

    /// A change log on a new database in `dir`, the database, and olga, whose personal
    /// board comes with her (`users_personal_board`).
    pub async fn log_with_olga(dir: &tempfile::TempDir) -> (SqlChangeLog, Db, Actor) {
        let db = Db::open(&DbTarget::Sqlite(dir.path().join("taskwire.db")))
            .await
            .expect("open");
        let user = Uuid::new_v4();
        query("INSERT INTO users (id, username, password_hash, created_at) VALUES ($1, 'olga', '', $2)")
            .bind(user.to_string())
            .bind(clock::now_rfc3339())
            .execute(db.write())
            .await
            .expect("a user");
        let log = SqlChangeLog::open(db.clone(), 100).await.expect("the log");
        let actor = Actor {
            user,
            username: "olga".to_owned(),
            session: Uuid::new_v4(),
        };
        (log, db, actor)
    }

    pub fn create(title: &str) -> MethodCall {
        MethodCall::Create(CreateParams {
            board: None,
            id: None,
            title: title.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use protocol::DeleteParams;

    use super::fixture::{create, log_with_olga};
    use super::*;

    /// A batch whose middle change fails: that change is undone alone, the others commit
    /// together, and the log numbers the ones that stand with no gap.
    #[tokio::test]
    async fn a_change_that_fails_in_a_batch_is_undone_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, db, actor) = log_with_olga(&dir).await;
        let user = actor.user;
        let change = |call| Pending {
            board: user,
            actor: actor.clone(),
            call,
        };
        let batch = [
            change(create("first")),
            change(MethodCall::Delete(DeleteParams {
                board: None,
                id: Uuid::new_v4(),
            })),
            change(create("second")),
        ];
        let answers = log.apply_all(&batch).await.expect("the batch commits");
        let seqs: Vec<Result<Vec<u64>, String>> = answers
            .iter()
            .map(|answer| match answer {
                Ok(applied) => Ok(applied.events.iter().map(|event| event.seq).collect()),
                Err(error) => Err(error.to_string()),
            })
            .collect();
        assert_eq!(
            seqs,
            [Ok(vec![1]), Err("No such task.".to_owned()), Ok(vec![2])]
        );
        let stored = log.snapshot(user).await.expect("a snapshot");
        let mut titles: Vec<&str> = stored
            .items
            .iter()
            .map(|task| task.title.as_str())
            .collect();
        titles.sort_unstable();
        assert_eq!(titles, ["first", "second"]);
        assert_eq!(stored.seq, 2);
        let replay = log
            .since(
                user,
                Position {
                    epoch: stored.epoch.clone(),
                    seq: 0,
                },
            )
            .await
            .expect("a replay")
            .expect("the log holds both");
        assert_eq!(replay.events.len(), 2);
        tokio::time::timeout(Duration::from_secs(8), db.close())
            .await
            .expect("every connection comes back");
    }
}
