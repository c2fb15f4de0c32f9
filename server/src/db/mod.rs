//! The database: SQLite (one file, the default) or PostgreSQL (several server nodes),
//! opened, migrated, and the few settings it keeps.

mod connections;
mod migrations;
pub mod sql;
pub mod target;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use crate::error::AppError;
pub use connections::{Connections, SqliteTx};
pub(crate) use sql::record;
pub use sql::{On, Tx, query};
pub use target::DbTarget;

/// The PostgreSQL channel on which nodes tell each other what changed (`cluster`).
pub const CHANNEL: &str = "taskwire";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the database {target}: {source}")]
    Open { target: String, source: sqlx::Error },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
}

#[derive(Debug, Clone)]
pub enum Db {
    /// Connections to one file. SQLite has one writer at a time, so writes go through
    /// exactly one connection and queue in-process instead of failing with SQLITE_BUSY;
    /// reads have connections of their own and run beside it (WAL mode).
    Sqlite {
        write: Connections,
        read: Connections,
    },
    /// One pool: PostgreSQL runs writers side by side and orders them with row locks.
    Postgres(PgPool),
}

/// The page cache of each SQLite connection, in KiB (one writer, `READERS` readers).
const CACHE_KIB: u32 = 512;

/// SQLite connections that read.
const READERS: u32 = 4;

/// Connections one node keeps to PostgreSQL (its listener takes one more).
const PG_CONNECTIONS: u32 = 16;

impl Db {
    /// Opens (creating a SQLite file if missing) and migrates the database.
    pub async fn open(target: &DbTarget) -> Result<Self, DbError> {
        match target {
            DbTarget::Sqlite(path) => Self::open_sqlite(path).await,
            DbTarget::Postgres(url) => {
                let pool = PgPoolOptions::new()
                    .max_connections(PG_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    .before_acquire(|conn: &mut sqlx::PgConnection, _| {
                        let free = !conn.is_in_transaction();
                        Box::pin(async move { Ok(free) })
                    })
                    .connect(url.as_str())
                    .await
                    .map_err(|source| DbError::Open {
                        target: target.to_string(),
                        source,
                    })?;
                migrations::postgres().await?.run(&pool).await?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    async fn open_sqlite(path: &Path) -> Result<Self, DbError> {
        let open_error = |source| DbError::Open {
            target: path.display().to_string(),
            source,
        };
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(open_error)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An acknowledged change survives a power cut, not only a crash: every commit
            // syncs the WAL to the disk. Changes that arrive together share one commit
            // (`tasks::write_batches`), so the sync is paid once per batch.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Another process (e.g. `taskwire-server user promote`) may hold the write lock.
            .busy_timeout(Duration::from_secs(5))
            // A small page cache per connection: the file's pages stay in the kernel's
            // page cache anyway, so what a connection keeps beyond its hot pages is a copy
            // that grows the server's memory with the file (up to SQLite's default of
            // 2 MiB a connection).
            .pragma("cache_size", format!("-{CACHE_KIB}"));
        // The writer never checkpoints the WAL itself: a checkpoint (with its fsync) would
        // land on whichever change happened to cross the threshold. `checkpoint` does it
        // from a reader connection instead, beside the writes.
        let write = Connections::open(&options.clone().pragma("wal_autocheckpoint", "0"), 1)
            .await
            .map_err(open_error)?;
        {
            let mut conn = write.lock().await.map_err(open_error)?;
            migrations::sqlite().await?.run(&mut *conn).await?;
        }
        let read = Connections::open(&options, READERS)
            .await
            .map_err(open_error)?;
        Ok(Self::Sqlite { write, read })
    }

    /// The PostgreSQL pool, when the server runs on PostgreSQL (several nodes may).
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres(pool) => Some(pool),
        }
    }

    /// On SQLite, copies what the WAL holds into the database file without blocking
    /// readers or the writer (a passive checkpoint); run every few seconds while serving.
    /// PostgreSQL checkpoints by itself.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        if let Self::Sqlite { read, .. } = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *read.lock().await?)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite { write, read } => {
                write.close().await;
                read.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }

    /// The value of `key`, storing `make()` first if it has none: values made once and
    /// kept for the life of the database (the JWT secret, the epoch).
    pub async fn setting_or_init(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, DbError> {
        query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(make())
            .execute(self.write())
            .await?;
        Ok(query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .scalar(self.write())
            .await?)
    }
}

/// The setting that names the change log's epoch, which every topic's position shares.
pub const EPOCH_KEY: &str = "epoch";

/// The change log's current epoch, read inside the caller's transaction, so that it goes
/// with the `seq` read beside it.
pub async fn epoch(tx: &mut Tx) -> Result<String, sqlx::Error> {
    query("SELECT value FROM settings WHERE key = $1")
        .bind(EPOCH_KEY)
        .scalar(tx.on())
        .await
}

/// Sets a setting inside a caller's transaction.
pub async fn set_setting(tx: &mut Tx, key: &str, value: &str) -> Result<(), sqlx::Error> {
    query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(tx.on())
    .await?;
    Ok(())
}

/// An id as the database holds it: one that does not read is the server's own fault.
pub fn stored_id(text: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(text).map_err(|e| AppError::Internal(format!("stored id {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a caller that errs, or stops waiting, leaves behind: a transaction that
    /// wrote and never committed.
    #[tokio::test]
    async fn a_write_dropped_half_way_is_rolled_back_and_the_writer_is_free() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open(&DbTarget::Sqlite(dir.path().join("taskwire.db")))
            .await
            .expect("open");
        let mut tx = db.begin_write().await.expect("a transaction");
        set_setting(&mut tx, "half", "way").await.expect("a write");
        drop(tx);
        let mut tx = tokio::time::timeout(Duration::from_secs(8), db.begin_write())
            .await
            .expect("the writer is free in time")
            .expect("a new transaction");
        let half: Option<String> = query("SELECT value FROM settings WHERE key = $1")
            .bind("half")
            .optional_scalar(tx.on())
            .await
            .expect("a read");
        assert_eq!(half, None, "the dropped write is not there");
        set_setting(&mut tx, "after", "a dropped writer")
            .await
            .expect("a write");
        tx.commit().await.expect("commit");
        let after: String = query("SELECT value FROM settings WHERE key = $1")
            .bind("after")
            .scalar(db.read())
            .await
            .expect("a read");
        assert_eq!(after, "a dropped writer");
        db.close().await;
    }
}
