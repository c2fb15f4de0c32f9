//! One way to run a statement on either database. The stores write each statement once,
//! in the SQL both SQLite and PostgreSQL read (`$1` parameters, `RETURNING`,
//! `ON CONFLICT`, `TRUE`/`FALSE`), and get typed rows back; this runs it on the native
//! driver of whichever database the server was started on. (sqlx's `Any` driver does the
//! same by converting every value to and from its own types, and cannot set SQLite's
//! pragmas or PostgreSQL's isolation per transaction.)

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, PgConnection, Postgres, Sqlite, SqliteConnection};

use super::{Connections, Db, SqliteTx};

/// A value bound to a `$n` parameter.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    OptionalText(Option<String>),
    Int(i64),
    Bool(bool),
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Self::OptionalText(value)
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for Arg {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// A row type both drivers can decode ([`record!`] structs and tuples).
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

/// A struct read from a row by its fields' names, on either database: what sqlx's
/// `#[derive(FromRow)]` writes, without its proc-macro crate, which builds both database
/// drivers a second time for the compiler (a third of the server's compile units).
macro_rules! record {
    ($(#[$meta:meta])* struct $name:ident { $($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        struct $name {
            $($(#[$doc])* $field: $ty,)*
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'static str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: row.try_get(stringify!($field))?,)*
                })
            }
        }
    };
}
pub(crate) use record;

/// Where a statement runs: connections (a statement of its own) or a transaction's
/// connection.
pub enum On<'a> {
    Sqlite(&'a Connections),
    SqliteConn(&'a mut SqliteConnection),
    PgPool(&'a sqlx::PgPool),
    PgConn(&'a mut PgConnection),
}

/// A transaction on either database; dropped without `commit`, it rolls back.
pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }

    /// Statements run inside this transaction.
    pub fn on(&mut self) -> On<'_> {
        match self {
            Self::Sqlite(tx) => On::SqliteConn(tx.conn()),
            Self::Postgres(tx) => On::PgConn(tx),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Locks `board`'s row until the transaction ends, so that changes of one board (and
    /// of its members) happen one at a time on every node. SQLite needs nothing: its write
    /// transactions (`BEGIN IMMEDIATE`) already run one at a time.
    pub async fn lock_board(&mut self, board: &str) -> Result<(), sqlx::Error> {
        if self.is_postgres() {
            query("SELECT id FROM boards WHERE id = $1 FOR UPDATE")
                .bind(board)
                .fetch_optional::<(String,)>(self.on())
                .await?;
        }
        Ok(())
    }

    /// Sends `payload` on the cluster channel when the transaction commits (PostgreSQL's
    /// `NOTIFY` is transactional: a change and the word of it commit together). One
    /// process on SQLite has nobody to tell.
    pub async fn notify(&mut self, payload: &str) -> Result<(), sqlx::Error> {
        if self.is_postgres() {
            query("SELECT pg_notify($1, $2)::TEXT")
                .bind(super::CHANNEL)
                .bind(payload)
                .fetch_one::<(String,)>(self.on())
                .await?;
        }
        Ok(())
    }
}

impl Db {
    /// Single statements of the write side.
    pub fn write(&self) -> On<'_> {
        match self {
            Self::Sqlite { write, .. } => On::Sqlite(write),
            Self::Postgres(pool) => On::PgPool(pool),
        }
    }

    /// Single statements that only read.
    pub fn read(&self) -> On<'_> {
        match self {
            Self::Sqlite { read, .. } => On::Sqlite(read),
            Self::Postgres(pool) => On::PgPool(pool),
        }
    }

    /// A transaction that writes. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): one that read first and wrote later could fail half-way with
    /// SQLITE_BUSY. On PostgreSQL it is READ COMMITTED, with row locks (`lock_board`,
    /// `UPDATE ... RETURNING`) ordering what must be ordered.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Self::Sqlite { write, .. } => {
                Tx::Sqlite(SqliteTx::begin(write.lock().await?, "BEGIN IMMEDIATE").await?)
            }
            Self::Postgres(pool) => Tx::Postgres(begin_whole(pool, "BEGIN").await?),
        })
    }

    /// A transaction that reads several statements from one moment of the database (a
    /// snapshot and the log position it reflects).
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Self::Sqlite { read, .. } => {
                Tx::Sqlite(SqliteTx::begin(read.lock().await?, "BEGIN").await?)
            }
            Self::Postgres(pool) => Tx::Postgres(
                begin_whole(pool, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?,
            ),
        })
    }
}

/// Begins a PostgreSQL transaction in a task of its own, so that it runs to its end even
/// when the caller stops waiting (a client that went away): sqlx counts a transaction
/// only once its `BEGIN` is answered, so a begin dropped between the two leaves the
/// connection inside a transaction it does not know of, and the pool hands it out again:
/// later statements on it would read an old snapshot (a session still alive after its
/// logout). Begun whole, an unwanted transaction is dropped whole, and rolled back.
async fn begin_whole(
    pool: &sqlx::PgPool,
    statement: &'static str,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(statement).await })
        .await
        .map_err(|error| sqlx::Error::Protocol(format!("a transaction's begin failed: {error}")))?
}

/// A statement and its arguments, to run on either database.
#[must_use]
pub struct Query {
    sql: &'static str,
    args: Vec<Arg>,
}

pub fn query(sql: &'static str) -> Query {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// Binds `$args` in order to `$q`, a statement builder of one driver.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for arg in $args {
            q = match arg {
                Arg::Text(value) => q.bind(value),
                Arg::OptionalText(value) => q.bind(value),
                Arg::Int(value) => q.bind(value),
                Arg::Bool(value) => q.bind(value),
            };
        }
        q
    }};
}

/// Runs `$run` with `$q` as a `sqlx` query built for the driver behind `$on`, binding
/// the arguments; `$make` is `sqlx::query` or `sqlx::query_as::<_, T>`. `$run` gives
/// the statement's outcome back (no `?`), for a connection of its own to check.
macro_rules! on_each_driver {
    ($self:ident, $on:ident, $make:ident $(::<$t:ty>)?, |$q:ident, $target:ident| $run:expr) => {
        match $on {
            On::Sqlite(connections) => {
                let $q = bind_all!(sqlx::$make::<Sqlite $(, $t)?>($self.sql), $self.args);
                let mut conn = connections.lock().await?;
                let outcome = {
                    let $target = &mut *conn;
                    $run
                };
                conn.check(&outcome).await;
                outcome
            }
            On::SqliteConn(conn) => {
                let $q = bind_all!(sqlx::$make::<Sqlite $(, $t)?>($self.sql), $self.args);
                let $target = &mut *conn;
                $run
            }
            On::PgPool(pool) => {
                let $q = bind_all!(sqlx::$make::<Postgres $(, $t)?>($self.sql), $self.args);
                let $target = pool;
                $run
            }
            On::PgConn(conn) => {
                let $q = bind_all!(sqlx::$make::<Postgres $(, $t)?>($self.sql), $self.args);
                let $target = &mut *conn;
                $run
            }
        }
    };
}

impl Query {
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Runs the statement; returns the rows it changed.
    pub async fn execute(self, on: On<'_>) -> Result<u64, sqlx::Error> {
        on_each_driver!(self, on, query, |q, target| q
            .execute(target)
            .await
            .map(|done| done.rows_affected()))
    }

    pub async fn fetch_optional<T: Record>(self, on: On<'_>) -> Result<Option<T>, sqlx::Error> {
        on_each_driver!(self, on, query_as::<T>, |q, target| q
            .fetch_optional(target)
            .await)
    }

    pub async fn fetch_one<T: Record>(self, on: On<'_>) -> Result<T, sqlx::Error> {
        on_each_driver!(self, on, query_as::<T>, |q, target| q
            .fetch_one(target)
            .await)
    }

    pub async fn fetch_all<T: Record>(self, on: On<'_>) -> Result<Vec<T>, sqlx::Error> {
        on_each_driver!(self, on, query_as::<T>, |q, target| q
            .fetch_all(target)
            .await)
    }

    /// The first column of the one row, which must be there.
    pub async fn scalar<T>(self, on: On<'_>) -> Result<T, sqlx::Error>
    where
        (T,): Record,
    {
        Ok(self.fetch_one::<(T,)>(on).await?.0)
    }

    /// The first column of the row, if there is one.
    pub async fn optional_scalar<T>(self, on: On<'_>) -> Result<Option<T>, sqlx::Error>
    where
        (T,): Record,
    {
        Ok(self.fetch_optional::<(T,)>(on).await?.map(|(value,)| value))
    }

    /// The first column of every row.
    pub async fn scalars<T>(self, on: On<'_>) -> Result<Vec<T>, sqlx::Error>
    where
        (T,): Record,
    {
        Ok(self
            .fetch_all::<(T,)>(on)
            .await?
            .into_iter()
            .map(|(value,)| value)
            .collect())
    }
}
