//! SQLite connections the server holds itself instead of in sqlx's pool. sqlx runs every
//! SQLite connection on a thread of its own, so each statement is a round trip to that
//! thread (two context switches or more). Its pool adds a spawned task and one more round
//! trip (a ping) to every release, and a transaction begun with a statement of its own
//! (`BEGIN IMMEDIATE`) one more to check it began: nine round trips for a task written
//! over HTTP where seven statements are needed. Here a connection is taken, used and put
//! back, and a transaction is begun and ended by its own statements. A connection that
//! may be broken (its thread gone, or a transaction that would not roll back) is closed
//! and opened anew, as sqlx's pool would; if that fails too, it is mended before its next
//! use, and that user gets the error rather than a connection inside a stale transaction.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A fixed set of connections to one file. A caller takes a permit, then an idle
/// connection: the permits are as many as the connections, so one is always there, and
/// callers that find none free get the first to come free, in turn.
#[derive(Debug, Clone)]
pub struct Connections(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    /// The connections there are: `permits` hands out as many.
    count: AtomicU32,
    /// How to open one anew.
    options: SqliteConnectOptions,
}

/// An idle connection, and whether it may be broken: its thread died, or its last
/// transaction would not roll back, and opening it anew failed then.
#[derive(Debug)]
struct Idle {
    conn: SqliteConnection,
    suspect: bool,
}

impl Shared {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // Nothing panics while holding it (a push, a pop), so a poisoned lock holds a
        // list as good as any.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Connections {
    /// Opens `count` connections with `options`.
    pub async fn open(options: &SqliteConnectOptions, count: u32) -> Result<Self, sqlx::Error> {
        let count = count.max(1);
        let mut idle = Vec::new();
        for _ in 0..count {
            idle.push(Idle {
                conn: SqliteConnection::connect_with(options).await?,
                suspect: false,
            });
        }
        Ok(Self(Arc::new(Shared {
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(count as usize)),
            count: AtomicU32::new(count),
            options: options.clone(),
        })))
    }

    /// A connection of the caller's own until the `Conn` is dropped. One that may be
    /// broken is mended first; if it cannot be, the caller gets the error.
    pub async fn lock(&self) -> Result<Conn, sqlx::Error> {
        let permit = Arc::clone(&self.0.permits)
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // A permit is an idle connection: only holders of a permit take one.
        let Idle { conn, suspect } = self.0.idle().pop().ok_or(sqlx::Error::PoolClosed)?;
        let mut conn = Conn {
            conn: Some(conn),
            suspect,
            home: Arc::clone(&self.0),
            permit: Some(permit),
        };
        if conn.suspect {
            conn.mend().await?;
        }
        Ok(conn)
    }

    /// Closes every connection once its current user lets it go; later locks fail.
    pub async fn close(&self) {
        let count = self.0.count.load(Ordering::Acquire);
        let Ok(all) = self.0.permits.acquire_many(count).await else {
            return;
        };
        let idle = std::mem::take(&mut *self.0.idle());
        self.0.permits.close();
        drop(all);
        for Idle { conn, .. } in idle {
            // Closing is saying goodbye: a connection that fails to is gone anyway.
            let _ = conn.close().await;
        }
    }
}

/// A connection taken from `Connections`, back in the idle list when dropped.
#[derive(Debug)]
pub struct Conn {
    /// `None` only inside `drop`.
    conn: Option<SqliteConnection>,
    /// May be broken: see [`Idle`].
    suspect: bool,
    home: Arc<Shared>,
    /// Released after the connection is back (fields drop after `Drop::drop`); `None`
    /// once the connection is closed for good.
    permit: Option<OwnedSemaphorePermit>,
}

impl Conn {
    /// Runs a statement's outcome past the connection: one whose thread has died is
    /// opened anew before anybody else gets it.
    pub async fn check<T>(&mut self, outcome: &Result<T, sqlx::Error>) {
        if matches!(outcome, Err(sqlx::Error::WorkerCrashed)) {
            // On failure it stays suspect, to be mended before its next use.
            let _ = self.renew("its thread died").await;
        }
    }

    /// Closes the connection (which rolls back whatever it was inside) and opens a new
    /// one to the same file in its place. If that fails the old one is kept, as suspect:
    /// dropping it would leave every caller waiting for good.
    async fn renew(&mut self, why: &str) -> Result<(), sqlx::Error> {
        tracing::error!("a SQLite connection is opened anew: {why}");
        match SqliteConnection::connect_with(&self.home.options).await {
            Ok(fresh) => {
                drop(self.conn.replace(fresh));
                self.suspect = false;
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "opening a SQLite connection failed");
                self.suspect = true;
                Err(error)
            }
        }
    }

    /// Makes a suspect connection usable again: out of any transaction, on a live
    /// thread. Rolling back is enough when it works; else it is opened anew.
    async fn mend(&mut self) -> Result<(), sqlx::Error> {
        match sqlx::query("ROLLBACK").execute(&mut **self).await {
            Ok(_) => self.suspect = false,
            Err(error) if never_began(&error) => self.suspect = false,
            Err(error) => {
                self.renew(&format!("it was suspect and would not roll back: {error}"))
                    .await?;
            }
        }
        Ok(())
    }

    /// Closes the connection for good, and with it one of the permits.
    fn close_for_good(&mut self) {
        drop(self.conn.take());
        if let Some(permit) = self.permit.take() {
            permit.forget();
            self.home.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Deref for Conn {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        // `conn` is `None` only inside `drop`, where nothing derefs it.
        self.conn.as_ref().expect("taken only when dropped")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        // As in `deref`.
        self.conn.as_mut().expect("taken only when dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.home.idle().push(Idle {
                conn,
                suspect: self.suspect,
            });
        }
    }
}

/// A transaction on a connection of its own, begun and ended by plain statements. Dropped
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
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        let rolled_back = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                        if let Err(error) = rolled_back
                            && !never_began(&error)
                        {
                            // On failure it stays suspect, to be mended before its next use.
                            let _ = conn
                                .renew(&format!("its transaction would not roll back: {error}"))
                                .await;
                        }
                    });
                }
                // Outside a runtime (the process is ending): closing the connection rolls
                // back too, and it is not put back.
                Err(_) => conn.close_for_good(),
            }
        }
    }
}

/// Whether a `ROLLBACK` failed because no transaction was open: its `BEGIN` failed or
/// was never sent, and nothing is left to undo.
fn never_began(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error)
        if error.message().contains("no transaction is active"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn connections(dir: &tempfile::TempDir, count: u32) -> Connections {
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("connections.db"))
            .create_if_missing(true);
        Connections::open(&options, count).await.expect("open")
    }

    /// Creates a table, then leaves `conn` inside a transaction that wrote a row to it.
    async fn inside_a_transaction(conn: &mut Conn) {
        for statement in ["CREATE TABLE t (x)", "BEGIN", "INSERT INTO t VALUES (1)"] {
            sqlx::query(statement)
                .execute(&mut **conn)
                .await
                .expect(statement);
        }
    }

    /// A caller that finds every connection taken gets whichever comes free first.
    #[tokio::test]
    async fn a_waiting_caller_gets_the_first_connection_to_come_free() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connections = connections(&dir, 2).await;
        let first = connections.lock().await.expect("one");
        let second = connections.lock().await.expect("two");
        let waiting = tokio::spawn({
            let connections = connections.clone();
            async move { connections.lock().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "both connections are taken");
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the second connection came free first")
            .expect("the waiter ran")
            .expect("a connection");
        drop(first);
    }

    #[tokio::test]
    async fn closed_connections_refuse_callers_once_the_last_is_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connections = connections(&dir, 2).await;
        let taken = connections.lock().await.expect("one");
        let closing = tokio::spawn({
            let connections = connections.clone();
            async move { connections.close().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!closing.is_finished(), "closing waits for the taken one");
        drop(taken);
        tokio::time::timeout(Duration::from_secs(5), closing)
            .await
            .expect("closed once it was back")
            .expect("closing ran");
        assert!(matches!(
            connections.lock().await,
            Err(sqlx::Error::PoolClosed)
        ));
    }

    /// A connection left suspect inside a transaction (its rollback and its reopening
    /// failed) is rolled back before its next user gets it: what the transaction wrote
    /// is gone, and that user's statements are not swallowed by it.
    #[tokio::test]
    async fn a_suspect_connection_is_out_of_its_transaction_before_it_is_used_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connections = connections(&dir, 1).await;
        let mut conn = connections.lock().await.expect("one");
        inside_a_transaction(&mut conn).await;
        conn.suspect = true;
        drop(conn);

        let mut conn = connections.lock().await.expect("mended");
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *conn)
            .await
            .expect("an insert");
        drop(conn);
        let mut conn = connections.lock().await.expect("again");
        let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM t")
            .fetch_all(&mut *conn)
            .await
            .expect("rows");
        assert_eq!(rows, [2], "the stale insert is gone, the new one stands");
    }

    /// A connection opened anew has left its transaction behind: what it wrote there is
    /// gone, and it is inside no transaction.
    #[tokio::test]
    async fn a_connection_opened_anew_has_rolled_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let connections = connections(&dir, 2).await;
        let mut conn = connections.lock().await.expect("one");
        inside_a_transaction(&mut conn).await;
        conn.renew("a test").await.expect("opened anew");
        let error = sqlx::query("ROLLBACK")
            .execute(&mut *conn)
            .await
            .expect_err("nothing to roll back");
        assert!(never_began(&error), "{error}");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut *conn)
            .await
            .expect("a count");
        assert_eq!(rows, 0);
    }
}
