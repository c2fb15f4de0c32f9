//! Starting and stopping the server, in-process: the binary and the tests both use it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use protocol::CloseCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::auth::Auth;
use crate::auth::refresh::random_base64;
use crate::changelog::{ChangeLog, SqlChangeLog};
use crate::cluster::ClusterFanout;
use crate::config::ServeArgs;
use crate::db::{Db, DbError};
use crate::fanout::{Fanout, LocalFanout};
use crate::http;
use crate::state::AppState;
use crate::tasks::Tasks;

/// How often the WAL is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);
/// How long shutdown waits for sockets to finish closing.
const SOCKETS_GRACE: Duration = Duration::from_secs(5);
/// How long shutdown waits for changes whose clients have gone to finish.
const CHANGES_GRACE: Duration = Duration::from_secs(10);
/// How long shutdown waits for HTTP connections to finish their requests: a client that
/// trickles a request in (or never finishes it) would otherwise hold it for good.
const HTTP_GRACE: Duration = Duration::from_secs(5);
/// The shortest configured JWT secret accepted (HS256 wants 256 bits of key).
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    #[error("cannot start the password hashing threads: {0}")]
    Threads(std::io::Error),
    #[error("cannot join the other server nodes on PostgreSQL: {0}")]
    Cluster(sqlx::Error),
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: JoinHandle<()>,
}

impl Server {
    /// Opens the database, binds, and serves in a background task.
    pub async fn start(config: ServeArgs) -> Result<Self, StartError> {
        let db = Db::open(&config.db).await?;
        let secret = match &config.jwt_secret {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => return Err(StartError::ShortSecret),
            Some(secret) => secret.clone(),
            None => {
                db.setting_or_init("jwt_secret", || random_base64(48))
                    .await?
            }
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
        let log: Arc<dyn ChangeLog> = Arc::new(
            SqlChangeLog::open(db.clone(), config.log_events)
                .await?
                .with_max_tasks(config.max_tasks_per_board),
        );
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let fanout: Arc<dyn Fanout> = match db.postgres() {
            Some(pool) => ClusterFanout::start(
                pool.clone(),
                log.clone(),
                config.max_sockets_per_user,
                shutdown_rx.clone(),
            )
            .await
            .map_err(StartError::Cluster)?,
            None => LocalFanout::new(config.max_sockets_per_user),
        };
        let auth = Auth::new(
            db.clone(),
            secret.as_bytes(),
            config.access_ttl(),
            Duration::from_secs(config.session_days.saturating_mul(86_400)),
        )
        .map_err(StartError::Threads)?;
        match auth.prune_expired().await {
            Ok(pruned) if pruned > 0 => tracing::info!(pruned, "expired sessions removed"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot remove expired sessions"),
        }
        let tasks = Tasks::new(log, fanout.clone(), db.postgres().is_none());
        let origins = config.allowed_origins(addr);
        tracing::info!(?origins, "allowed origins");
        if db.postgres().is_none() {
            tokio::spawn(checkpoints(db.clone(), shutdown_rx.clone()));
        }
        let mut stopping = shutdown_rx.clone();
        let state = AppState::new(
            config,
            db.clone(),
            auth,
            tasks,
            fanout.clone(),
            origins,
            shutdown_rx,
        );
        let changes = state.changes.clone();
        let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            let signal = async move {
                // A dropped handle stops the server too.
                let _ = stopped.await;
                // Sockets are not HTTP requests the server waits for: tell them to go.
                let _ = shutdown_tx.send(true);
                fanout.close_all(CloseCode::GoingAway, "server shutting down");
                shutdown_tx
            };
            let (signal_tx, signal_rx) = oneshot::channel();
            let serving =
                axum::serve(listener.tap_io(no_delay), app).with_graceful_shutdown(async move {
                    let shutdown_tx = signal.await;
                    let _ = signal_tx.send(shutdown_tx);
                });
            let http_grace = async move {
                let _ = stopping.wait_for(|stopping| *stopping).await;
                tokio::time::sleep(HTTP_GRACE).await;
            };
            tokio::select! {
                served = serving.into_future() => if let Err(error) = served {
                    tracing::error!(%error, "server failed");
                },
                () = http_grace => tracing::warn!("some HTTP requests did not finish in time"),
            }
            // Changes whose clients went away are not requests the server waits for.
            changes.close();
            if tokio::time::timeout(CHANGES_GRACE, changes.wait())
                .await
                .is_err()
            {
                tracing::warn!("some changes did not finish in time");
            }
            // Every socket task holds a receiver: when all are gone, every socket is closed.
            if let Ok(shutdown_tx) = signal_rx.await
                && tokio::time::timeout(SOCKETS_GRACE, shutdown_tx.closed())
                    .await
                    .is_err()
            {
                tracing::warn!("some sockets did not close in time");
            }
            db.close().await;
            tracing::info!("stopped");
        });
        Ok(Self { addr, stop, done })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every socket with 1001, lets requests in flight finish,
    /// and closes the database.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.done.await {
            tracing::error!(%error, "server task failed");
        }
    }
}

/// Checkpoints SQLite's WAL every few seconds until shutdown.
async fn checkpoints(db: Db, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Err(error) = db.checkpoint().await {
                    tracing::warn!(%error, "WAL checkpoint failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Events are small frames that must leave at once: Nagle's algorithm would hold one
/// back until the previous one is acknowledged.
fn no_delay(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
}
