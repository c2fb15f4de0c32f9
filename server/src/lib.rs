//! The Taskwire server: the HTTP API, the real-time socket, and the app's static files,
//! over one SQLite database, or as one of several nodes on PostgreSQL (`cluster`). `Server::start` runs it in-process (the binary, the tests
//! and the benchmark all start it this way or through the binary).

mod auth;
mod boards;
mod changelog;
pub mod cli;
mod clock;
mod cluster;
pub mod config;
mod copy;
mod db;
mod error;
mod fanout;
mod http;
mod limits;
mod server;
mod shutdown;
mod state;
mod tasks;
mod ws;

pub use config::{DbTarget, ServeArgs};
pub use server::{Server, StartError};

/// The change-log, account and database commands, for tests that act as an operator
/// would between two runs of the server.
pub mod admin {
    use crate::config::DbTarget;
    pub use crate::copy::{Copied, CopyError, copy_sqlite_to_postgres};

    /// `taskwire-server user promote NAME`.
    pub async fn promote(db: &DbTarget, username: &str) -> Result<bool, String> {
        let db = crate::db::Db::open(db).await.map_err(|e| e.to_string())?;
        let found = crate::auth::promote(&db, username)
            .await
            .map_err(|e| e.to_string());
        db.close().await;
        found
    }

    /// `taskwire-server log reset`: returns the new epoch.
    pub async fn reset_log(db: &DbTarget) -> Result<String, String> {
        let db = crate::db::Db::open(db).await.map_err(|e| e.to_string())?;
        let result = async {
            let log = crate::changelog::SqlChangeLog::open(db.clone(), 0)
                .await
                .map_err(|e| e.to_string())?;
            log.reset().await.map_err(|e| e.to_string())
        }
        .await;
        db.close().await;
        result
    }
}
