//! Task changes from either door (HTTP or socket): validated, committed with their events,
//! then fanned out, so both doors behave the same.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::FutureExt;

use protocol::{CreateParams, MethodCall, Position, TaskList, UpdateParams};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::changelog::{Actor, Applied, Change, ChangeLog, Replay};
use crate::error::AppError;
use crate::fanout::Fanout;

pub struct Tasks {
    log: Arc<dyn ChangeLog>,
    fanout: Arc<dyn Fanout>,
    /// On SQLite, the way to the writer (`write_batches`), which writes changes a batch
    /// at a time, each batch in one commit, and hands them to the sockets in `seq`
    /// order. `None` on PostgreSQL: writers run side by side there, ordered per board by
    /// the row lock, and `ClusterFanout` puts each board's events in order itself.
    writer: Option<mpsc::Sender<Waiting>>,
}

/// A change on its way to the writer, and where its answer goes.
struct Waiting {
    change: Change,
    answer: oneshot::Sender<Result<Applied, AppError>>,
}

/// The most changes written in one batch: when one fails, each of its batch runs again
/// alone, so a batch is kept small enough for that to stay quick.
const BATCH: usize = 64;

/// Changes that may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 1_024;

impl Tasks {
    /// On SQLite (`ordered_here`) this starts the writer, so it is called inside the
    /// runtime.
    pub fn new(log: Arc<dyn ChangeLog>, fanout: Arc<dyn Fanout>, ordered_here: bool) -> Self {
        let writer = ordered_here.then(|| {
            let (writer, waiting) = mpsc::channel(QUEUE);
            tokio::spawn(write_batches(log.clone(), fanout.clone(), waiting));
            writer
        });
        Self {
            log,
            fanout,
            writer,
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
        let Some(writer) = &self.writer else {
            let applied = self.log.apply(board, actor, call).await?;
            publish(&*self.fanout, board, &applied);
            return Ok(applied);
        };
        let gone = || AppError::Internal("the change was not answered".to_owned());
        let (answer, answered) = oneshot::channel();
        let change = Change { board, actor, call };
        writer
            .send(Waiting { change, answer })
            .await
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    pub async fn snapshot(&self, board: Uuid) -> Result<TaskList, AppError> {
        self.log.snapshot(board).await
    }

    pub async fn since(&self, board: Uuid, since: Position) -> Result<Option<Replay>, AppError> {
        self.log.since(board, since).await
    }
}

/// The writer on SQLite: takes every change waiting (up to `BATCH`), writes them in one
/// transaction and one commit, hands their events to the sockets in order and answers
/// each. Alone, a change commits as before; under load one commit (one sync of the
/// disk) serves many changes, where each had waited for the one before it to commit
/// alone. A caller that stops waiting changes nothing: its change, once handed over,
/// runs to its end here. Ends when `Tasks` is dropped.
async fn write_batches(
    log: Arc<dyn ChangeLog>,
    fanout: Arc<dyn Fanout>,
    mut waiting: mpsc::Receiver<Waiting>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while waiting.recv_many(&mut batch, BATCH).await > 0 {
        let written = write_batch(&*log, &*fanout, std::mem::take(&mut batch));
        // A bug that panics fails its batch, not every change after it: a panic before
        // the commit leaves none of the batch written (the transaction, dropped, rolls
        // back), and its callers get an error. After the commit, publishing is guarded
        // on its own (`write_batch`).
        if AssertUnwindSafe(written).catch_unwind().await.is_err() {
            tracing::error!("writing a batch of changes panicked");
        }
    }
}

async fn write_batch(log: &dyn ChangeLog, fanout: &dyn Fanout, batch: Vec<Waiting>) {
    let (changes, answers): (Vec<Change>, Vec<_>) = batch
        .into_iter()
        .map(|waiting| (waiting.change, waiting.answer))
        .unzip();
    let answered = match log.apply_all(&changes).await {
        Ok(answered) => answered,
        // The database refused the batch as a whole (its begin or its commit), and each
        // caller hears why. A refused begin wrote nothing and a refused commit rolled
        // back; only a connection that died while committing leaves it unknown.
        Err(error) => {
            let cause = match error {
                AppError::Internal(cause) => cause,
                other => other.to_string(),
            };
            changes
                .iter()
                .map(|_| Err(AppError::Internal(cause.clone())))
                .collect()
        }
    };
    for ((change, result), answer) in changes.iter().zip(answered).zip(answers) {
        if let Ok(applied) = &result {
            publish(fanout, change.board, applied);
        }
        // A caller that stopped waiting needs no answer: the change stands.
        let _ = answer.send(result);
    }
}

/// Hands a committed change's events to the sockets. A bug in the fan-out must not cost
/// the change's caller the answer, nor the changes after it their events: a panic here is
/// logged, and a socket that missed the event sees the gap in `seq` and resumes.
fn publish(fanout: &dyn Fanout, board: Uuid, applied: &Applied) {
    let published = catch_unwind(AssertUnwindSafe(|| {
        fanout.publish_read_by(board, &applied.events, applied.readers.as_deref());
    }));
    if published.is_err() {
        tracing::error!("publishing a committed change panicked");
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

#[cfg(test)]
mod tests {
    use protocol::{BoardsEvent, CloseCode, Ended, Event, MemberUser, Topic};

    use super::*;
    use crate::changelog::fixture::{create, log_with_olga};
    use crate::fanout::{ChangeWatch, SocketLink, TooManySockets};

    /// A fan-out with a bug: handing out any event panics. The writer only publishes.
    struct PanicsOnPublish;

    impl Fanout for PanicsOnPublish {
        fn publish(&self, _board: Uuid, _events: &[Event]) {
            panic!("a bug in the fan-out");
        }
        fn watch(&self, _board: Uuid) -> ChangeWatch {
            unreachable!()
        }
        fn watch_boards(&self, _user: Uuid) -> ChangeWatch {
            unreachable!()
        }
        fn watch_session(&self, _session: Uuid) -> ChangeWatch {
            unreachable!()
        }
        fn register(&self, _link: SocketLink) -> Result<(), TooManySockets> {
            unreachable!()
        }
        fn rebind(&self, _user: Uuid, _socket: u64, _session: Uuid) {
            unreachable!()
        }
        fn unregister(&self, _user: Uuid, _socket: u64) {
            unreachable!()
        }
        fn subscribe(&self, _board: Uuid, _topic: Topic, _user: Uuid, _socket: u64) {
            unreachable!()
        }
        fn unsubscribe(&self, _board: Uuid, _topic: Topic, _socket: u64) {
            unreachable!()
        }
        fn present(&self, _board: Uuid) -> Vec<MemberUser> {
            unreachable!()
        }
        fn publish_boards(&self, _user: Uuid, _event: &BoardsEvent) {
            unreachable!()
        }
        fn revoke(&self, _board: Uuid, _user: Option<Uuid>, _reason: Ended) {
            unreachable!()
        }
        fn close_sessions(&self, _sessions: &[Uuid], _code: CloseCode, _reason: &'static str) {
            unreachable!()
        }
        fn close_all(&self, _code: CloseCode, _reason: &'static str) {
            unreachable!()
        }
    }

    /// A change that committed is answered as committed, and the writer goes on with the
    /// next, even when handing its event to the sockets panics.
    #[tokio::test]
    async fn a_committed_change_is_answered_when_publishing_it_panics() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, _db, olga) = log_with_olga(&dir).await;
        let log = Arc::new(log);
        let tasks = Tasks::new(log.clone(), Arc::new(PanicsOnPublish), true);
        for (seq, title) in [(1, "first"), (2, "second")] {
            let applied = tasks
                .apply(olga.clone(), create(title))
                .await
                .expect("committed and answered");
            assert_eq!(applied.events[0].seq, seq);
        }
        assert_eq!(log.snapshot(olga.user).await.expect("a snapshot").seq, 2);
    }
}
