//! Task changes from either door (HTTP or socket): validated, committed with their events,
//! then fanned out, so both doors behave the same.

use std::sync::{Arc, PoisonError};

use protocol::{CreateParams, MethodCall, Position, TaskList, UpdateParams};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::changelog::{Actor, Applied, Change, ChangeLog, Replay};
use crate::error::AppError;
use crate::fanout::Fanout;

pub struct Tasks {
    log: Arc<dyn ChangeLog>,
    fanout: Arc<dyn Fanout>,
    /// On SQLite: changes are written a batch at a time, each batch in one commit, and
    /// handed to the sockets in `seq` order even when writers race. `None` on
    /// PostgreSQL: writers run side by side there, ordered per board by the row lock, and
    /// `ClusterFanout` puts each board's events in order itself.
    batches: Option<Batches>,
}

/// Changes waiting to be written, and the right to write them. Whoever holds `writer`
/// writes every change waiting (its own and the ones that arrived meanwhile), fans them
/// out and answers each: under load, one commit (one sync of the disk) serves many
/// changes, where each had waited for the one before it to commit alone. Callers run a
/// change to its end (`AppState::run_to_end`), so a batch is never dropped half-way.
struct Batches {
    waiting: std::sync::Mutex<Vec<Waiting>>,
    writer: tokio::sync::Mutex<()>,
}

struct Waiting {
    change: Change,
    answer: oneshot::Sender<Result<Applied, AppError>>,
}

/// The most changes written in one batch: when one fails, each of its batch runs again
/// alone, so a batch is kept small enough for that to stay quick.
const BATCH: usize = 64;

impl Tasks {
    pub fn new(log: Arc<dyn ChangeLog>, fanout: Arc<dyn Fanout>, ordered_here: bool) -> Self {
        Self {
            log,
            fanout,
            batches: ordered_here.then(|| Batches {
                waiting: std::sync::Mutex::new(Vec::new()),
                writer: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A change to the actor's personal board (the v1 calls), whose id is theirs.
    pub async fn apply(&self, actor: Actor, call: MethodCall) -> Result<Applied, AppError> {
        self.apply_on(actor.user, actor, call).await
    }

    /// A change to `board`, by a member the caller has checked may make it.
    pub async fn apply_on(
        &self,
        board: Uuid,
        actor: Actor,
        call: MethodCall,
    ) -> Result<Applied, AppError> {
        let call = validated(call)?;
        let Some(batches) = &self.batches else {
            let applied = self.log.apply(board, actor, call).await?;
            self.publish(board, &applied);
            return Ok(applied);
        };
        let (answer, answered) = oneshot::channel();
        batches.waiting().push(Waiting {
            change: Change { board, actor, call },
            answer,
        });
        {
            let _writer = batches.writer.lock().await;
            let waiting: Vec<Waiting> = {
                let mut waiting = batches.waiting();
                let batch = waiting.len().min(BATCH);
                waiting.drain(..batch).collect()
            };
            if !waiting.is_empty() {
                self.write(waiting).await;
            }
        }
        answered
            .await
            .map_err(|_| AppError::Internal("a change was dropped unanswered".to_owned()))?
    }

    /// Writes a batch, hands each change's events to the sockets in order, and answers.
    async fn write(&self, waiting: Vec<Waiting>) {
        let (changes, answers): (Vec<Change>, Vec<_>) = waiting
            .into_iter()
            .map(|waiting| (waiting.change, waiting.answer))
            .unzip();
        let boards: Vec<Uuid> = changes.iter().map(|change| change.board).collect();
        let answered = self.log.apply_all(changes).await;
        for ((board, result), answer) in boards.into_iter().zip(answered).zip(answers) {
            if let Ok(applied) = &result {
                self.publish(board, applied);
            }
            // A caller that stopped waiting needs no answer: the change stands.
            let _ = answer.send(result);
        }
    }

    fn publish(&self, board: Uuid, applied: &Applied) {
        for event in &applied.events {
            self.fanout.publish(board, event);
        }
    }

    pub async fn snapshot(&self, board: Uuid) -> Result<TaskList, AppError> {
        self.log.snapshot(board).await
    }

    pub async fn since(&self, board: Uuid, since: Position) -> Result<Option<Replay>, AppError> {
        self.log.since(board, since).await
    }
}

impl Batches {
    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        // Nothing panics while holding it (a push, a drain), so a poisoned lock holds a
        // queue as good as any.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies the contract's input rules; titles come back trimmed.
fn validated(call: MethodCall) -> Result<MethodCall, AppError> {
    Ok(match call {
        MethodCall::Create(params) => MethodCall::Create(CreateParams {
            title: protocol::validate_title(&params.title)?.to_owned(),
            ..params
        }),
        MethodCall::Update(params) => {
            let title = match &params.title {
                Some(title) => Some(protocol::validate_title(title)?.to_owned()),
                None => None,
            };
            MethodCall::Update(UpdateParams { title, ..params })
        }
        other => other,
    })
}
