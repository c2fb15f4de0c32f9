//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::auth::Auth;
use crate::boards::Boards;
use crate::config::ServeArgs;
use crate::db::Db;
use crate::error::AppError;
use crate::fanout::Fanout;
use crate::limits::{KeyedLimiter, KeyedSlots};
use crate::tasks::Tasks;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: ServeArgs,
    pub db: Db,
    pub auth: Auth,
    pub boards: Boards,
    pub tasks: Tasks,
    pub fanout: Arc<dyn Fanout>,
    /// Origins allowed to call the API and open the socket.
    pub origins: Vec<String>,
    pub login_per_ip: KeyedLimiter,
    pub login_per_user: KeyedLimiter,
    /// Each user's waiting long polls.
    pub polls_per_user: KeyedSlots<Uuid>,
    /// Turns true when the server begins to shut down. Each socket task holds a clone,
    /// so the server knows all sockets have ended when every receiver is gone.
    pub shutdown: watch::Receiver<bool>,
    /// The changes under way (`run_to_end`).
    pub changes: TaskTracker,
    next_socket: AtomicU64,
}

impl AppState {
    pub fn new(
        config: ServeArgs,
        db: Db,
        auth: Auth,
        tasks: Tasks,
        fanout: Arc<dyn Fanout>,
        origins: Vec<String>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let login_per_ip = KeyedLimiter::per_minute(config.login_per_ip);
        let login_per_user = KeyedLimiter::per_minute(config.login_per_user);
        let polls_per_user = KeyedSlots::new(config.max_polls_per_user);
        Self(Arc::new(Shared {
            boards: Boards::new(db.clone(), fanout.clone()),
            config,
            db,
            auth,
            tasks,
            fanout,
            origins,
            login_per_ip,
            login_per_user,
            polls_per_user,
            shutdown,
            changes: TaskTracker::new(),
            next_socket: AtomicU64::new(1),
        }))
    }

    /// Runs a change as a task of its own, tracked: it runs to its end even when the
    /// caller stops waiting (a client that went away), and shutdown waits for it.
    pub async fn run_to_end<T: Send + 'static>(
        &self,
        change: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, AppError> {
        self.changes
            .spawn(change)
            .await
            .map_err(|error| AppError::Internal(format!("a change's task failed: {error}")))
    }

    /// A process-unique id for a new socket (logs and the fan-out registry).
    pub fn next_socket_id(&self) -> u64 {
        self.0.next_socket.fetch_add(1, Ordering::Relaxed)
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
