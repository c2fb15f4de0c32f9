//! The SQLite database: opening it, migrating it, and the few settings it keeps.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};

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
        // A connection still inside a transaction when it is acquired was left there by
        // a future dropped mid-`BEGIN` (sqlx cannot roll back a transaction it has not
        // recorded yet): it is closed, which rolls back, and a fresh one opened, so no
        // cut can leave the only writer stuck. Changes run to their end
        // (`http::to_end`), so this is the net under that, not the mechanism.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .map_err(open_error)?;
        sqlx::migrate!("./migrations").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
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
