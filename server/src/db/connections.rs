//! SQLite connections the server holds itself, each behind a lock, instead of in sqlx's
//! pool. sqlx runs every SQLite connection on a thread of its own, so each statement is a
//! round trip to that thread (two context switches or more). Its pool adds a spawned task
//! and one more round trip (a ping) to every release, and a transaction begun with a
//! statement of its own (`BEGIN IMMEDIATE`) one more to check it began: nine round trips
//! for a task written over HTTP where seven statements are needed. Here a connection is
//! locked, used and let go, and a transaction is begun and ended by its own statements.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

/// A locked connection; another caller gets it when this is dropped.
pub type Conn = OwnedMappedMutexGuard<Option<SqliteConnection>, SqliteConnection>;

/// A fixed set of connections to one file (`None` once closed).
#[derive(Debug, Clone)]
pub struct Connections {
    slots: Arc<[Arc<Mutex<Option<SqliteConnection>>>]>,
    /// Which slot a caller that found none free waits for: they take turns.
    next: Arc<AtomicUsize>,
}

impl Connections {
    /// Opens `count` connections with `options`.
    pub async fn open(options: &SqliteConnectOptions, count: usize) -> Result<Self, sqlx::Error> {
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let conn = SqliteConnection::connect_with(options).await?;
            slots.push(Arc::new(Mutex::new(Some(conn))));
        }
        Ok(Self {
            slots: slots.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// A free connection, or the first of one slot's queue to get it.
    pub async fn lock(&self) -> Result<Conn, sqlx::Error> {
        let free = self
            .slots
            .iter()
            .find_map(|slot| Arc::clone(slot).try_lock_owned().ok());
        let guard = match free {
            Some(guard) => guard,
            None => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
                Arc::clone(&self.slots[turn]).lock_owned().await
            }
        };
        OwnedMutexGuard::try_map(guard, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)
    }

    /// Closes every connection once its current user lets it go; later locks fail.
    pub async fn close(&self) {
        for slot in self.slots.iter() {
            if let Some(conn) = slot.lock().await.take() {
                // Closing is saying goodbye: a connection that fails to is gone anyway.
                let _ = conn.close().await;
            }
        }
    }
}

/// A transaction on a locked connection, begun and ended by plain statements. Dropped
/// while open (an error, or a caller that stopped waiting), it is rolled back by a task
/// that holds the connection until the `ROLLBACK` has run, so nobody else can use the
/// connection inside it.
#[derive(Debug)]
pub struct SqliteTx {
    /// `None` once committed.
    conn: Option<Conn>,
}

impl SqliteTx {
    /// Begins with `statement` (`BEGIN` or `BEGIN IMMEDIATE`). The transaction exists
    /// before the statement is sent, so a caller dropped while it runs still rolls back.
    pub async fn begin(conn: Conn, statement: &'static str) -> Result<Self, sqlx::Error> {
        let mut tx = Self { conn: Some(conn) };
        sqlx::query(statement).execute(tx.conn()).await?;
        Ok(tx)
    }

    pub fn conn(&mut self) -> &mut SqliteConnection {
        // `conn` is `None` only once `commit` has taken the transaction by value, so no
        // caller can get here then.
        self.conn
            .as_deref_mut()
            .expect("a transaction is used only until it commits")
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("COMMIT").execute(self.conn()).await?;
        self.conn = None;
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // Outside a runtime (the process is ending) the connection closes, which
            // rolls back too.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    // Fails only if the transaction never began (its BEGIN not sent) or
                    // has already ended: either way nothing is left open.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                });
            }
        }
    }
}
