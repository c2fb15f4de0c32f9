//! Task changes from either door (HTTP or socket): validated, committed with their events,
//! then fanned out, so both doors behave the same.

use std::sync::Arc;

use protocol::{CreateParams, MethodCall, Position, TaskList, UpdateParams};
use uuid::Uuid;

use crate::changelog::{Actor, Applied, ChangeLog, Replay};
use crate::error::AppError;
use crate::fanout::Fanout;

pub struct Tasks {
    log: Arc<dyn ChangeLog>,
    fanout: Arc<dyn Fanout>,
    /// Held from the write until its events are handed to the sockets, so that sockets
    /// receive events in `seq` order even when two writers race. `None` on PostgreSQL:
    /// writers run side by side there, ordered per board by the row lock, and
    /// `ClusterFanout` puts each board's events in order itself.
    publish_order: Option<tokio::sync::Mutex<()>>,
}

impl Tasks {
    pub fn new(log: Arc<dyn ChangeLog>, fanout: Arc<dyn Fanout>, ordered_here: bool) -> Self {
        Self {
            log,
            fanout,
            publish_order: ordered_here.then(|| tokio::sync::Mutex::new(())),
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
        let _order = match &self.publish_order {
            Some(order) => Some(order.lock().await),
            None => None,
        };
        let applied = self.log.apply(board, actor, call).await?;
        for event in &applied.events {
            self.fanout.publish(board, event);
        }
        Ok(applied)
    }

    pub async fn snapshot(&self, board: Uuid) -> Result<TaskList, AppError> {
        self.log.snapshot(board).await
    }

    pub async fn since(&self, board: Uuid, since: Position) -> Result<Option<Replay>, AppError> {
        self.log.since(board, since).await
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
