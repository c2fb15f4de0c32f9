//! The SQLite database: opening it, migrating it, and the few settings it keeps.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
}

/// Two pools over one file. SQLite has one writer at a time, so writes go through a
/// pool of exactly one connection and queue in-process instead of failing with
/// SQLITE_BUSY; reads use a pool of their own and run beside it (WAL mode).
#[derive(Debug, Clone)]
pub struct Db {
    pub write: SqlitePool,
    pub read: SqlitePool,
}

impl Db {
    /// Opens (creating if missing) and migrates the database.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let open_error = |source| DbError::Open {
            path: path.display().to_string(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_error)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Another process (e.g. `taskwire-server user promote`) may hold the write lock.
            .busy_timeout(Duration::from_secs(5));
        // A SQLite connection does not go stale like a network one: skip the ping that
        // sqlx would otherwise send (a round trip to the connection's thread) on every
        // acquire.
        // The writer never checkpoints the WAL itself: a checkpoint (with its fsync) would
        // land on whichever change happened to cross the threshold. `checkpoint` does it
        // from a reader connection instead, beside the writes.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .before_acquire(refuse_open_transaction)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .map_err(open_error)?;
        sqlx::migrate!("./migrations").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .before_acquire(refuse_open_transaction)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        Ok(Self { write, read })
    }

    /// Copies what the WAL holds into the database file without blocking readers or the
    /// writer (a passive checkpoint); run every few seconds while serving.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.read)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// The value of `key`, storing `make()` first if it has none: values made once and
    /// kept for the life of the database (the JWT secret, the epoch).
    pub async fn setting_or_init(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, DbError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(make())
            .execute(&self.write)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_one(&self.write)
                .await?,
        )
    }
}

/// The setting that names the change log's epoch, which every topic's position shares.
pub const EPOCH_KEY: &str = "epoch";

/// The change log's current epoch, read on `conn` (inside the caller's transaction, so
/// that it goes with the `seq` read beside it).
pub async fn epoch(conn: &mut SqliteConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
        .bind(EPOCH_KEY)
        .fetch_one(conn)
        .await
}

/// A pool's check on every acquire: a connection still inside a transaction was left
/// there by a future dropped inside `begin`. sqlx rolls back a `BEGIN` whose answer the
/// dropped future never took, but `begin_with` awaits once more after its `BEGIN` (to
/// check the statement began a transaction), and a drop there leaves the transaction
/// open with no guard to roll it back. Such a connection is closed, which rolls back, and
/// a fresh one opened. Left in the pool, the writer (which begins with `BEGIN IMMEDIATE`)
/// refused every later `begin`: every write and sign-in failed until a restart. Changes
/// now run to their end (`AppState::run_to_end`), so this is the net under that; readers
/// begin plainly, which has no such gap, and get the same check for an atomic load.
fn refuse_open_transaction(
    conn: &mut SqliteConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    let free = !conn.is_in_transaction();
    Box::pin(async move { Ok(free) })
}

/// Sets a setting inside a caller's transaction.
pub async fn set_setting(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

/// An id as the database holds it: one that does not read is the server's own fault.
pub fn stored_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|e| AppError::Internal(format!("stored id {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use sqlx::TransactionManager;
    use sqlx::sqlite::SqliteTransactionManager;

    use super::*;

    #[tokio::test]
    async fn a_writer_left_inside_a_transaction_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&dir.path().join("taskwire.db"))
            .await
            .expect("open");
        let mut conn = db.write.acquire().await.expect("the writer");
        // What a future dropped inside `begin_with` leaves behind: `BEGIN` ran, and no
        // transaction guard exists to roll it back.
        SqliteTransactionManager::begin(&mut conn, Some("BEGIN IMMEDIATE".into()))
            .await
            .expect("begin");
        assert!(conn.is_in_transaction());
        drop(conn);
        let mut tx = tokio::time::timeout(
            Duration::from_secs(8),
            db.write.begin_with("BEGIN IMMEDIATE"),
        )
        .await
        .expect("the writer is free in time")
        .expect("a new transaction");
        set_setting(&mut tx, "after", "a stuck writer")
            .await
            .expect("a write");
        tx.commit().await.expect("commit");
        db.close().await;
    }
}
