//! `taskwire-server db copy`: moves a server from SQLite to PostgreSQL.
//!
//! A server starts on one SQLite file; when it needs several nodes it moves to
//! PostgreSQL, and its users should not notice: the same accounts and passwords, the same
//! sessions (a signed-in device stays signed in), the same boards, tasks in the same
//! order, and the same change-log positions (epoch and `seq`), so that clients resume by
//! replay instead of starting over. This copies every row of the SQLite database into an
//! empty PostgreSQL one, in one PostgreSQL transaction: the target ends up with all of it
//! or none of it. Stop the server first: rows written to the SQLite file after the copy
//! has read it are not copied.
//!
//! Each database is written here in its own dialect (direct `sqlx`, not `db::query`):
//! a copy between the two is backend-specific by nature.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{
    Connection, FromRow, PgConnection, PgPool, Postgres, QueryBuilder, Sqlite, SqliteConnection,
};

use crate::db::{Db, DbError, DbTarget, Tx, record};

/// Rows per page read and per `INSERT`: few round trips, and well under PostgreSQL's
/// 65,535 parameters (tasks, the widest table, bind 8 a row).
const PAGE: u16 = 500;
const BATCH: usize = PAGE as usize;

/// The tables copied, in foreign-key order. `nodes` and `presence` are not among them:
/// they say which PostgreSQL nodes run now, and the nodes write them when they start.
const TABLES: [&str; 10] = [
    "settings",
    "users",
    "sessions",
    "spent_refresh_tokens",
    "boards",
    "retired_boards",
    "board_members",
    "tasks",
    "deleted_tasks",
    "events",
];

/// How long the copy waits for another transaction to leave the target's tables alone
/// (a server running on it, say) before it gives up.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '10s'";

/// What a copy wrote: the rows of each table, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub settings: u64,
    pub users: u64,
    pub sessions: u64,
    pub spent_refresh_tokens: u64,
    pub boards: u64,
    pub retired_boards: u64,
    pub board_members: u64,
    pub tasks: u64,
    pub deleted_tasks: u64,
    pub events: u64,
    pub elapsed: Duration,
}

impl Copied {
    /// Each table and its rows, in the order they were copied.
    pub fn tables(&self) -> [(&'static str, u64); 10] {
        [
            ("settings", self.settings),
            ("users", self.users),
            ("sessions", self.sessions),
            ("spent_refresh_tokens", self.spent_refresh_tokens),
            ("boards", self.boards),
            ("retired_boards", self.retired_boards),
            ("board_members", self.board_members),
            ("tasks", self.tasks),
            ("deleted_tasks", self.deleted_tasks),
            ("events", self.events),
        ]
    }
}

/// What `db copy` prints: `users: 3`, one line a table, then `copied in 0.4 s`.
impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (table, rows) in self.tables() {
            writeln!(f, "{table}: {rows}")?;
        }
        write!(f, "copied in {:.1} s", self.elapsed.as_secs_f64())
    }
}

/// Why a copy did not happen. Whatever the cause, the target has none of the rows: they
/// are written in one transaction, committed last.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(
        "the target must be a PostgreSQL URL (postgres://user:password@host/database), \
         not {shown}"
    )]
    TargetNotPostgres { shown: String },
    #[error(
        "the source must be a SQLite database file; a postgres:// URL can only be the \
         target (--to)"
    )]
    SourceNotSqlite,
    #[error("there is no SQLite database at {}", path.display())]
    SourceMissing { path: PathBuf },
    #[error("the SQLite source: {source}")]
    OpenSource { source: DbError },
    #[error("the PostgreSQL target: cannot connect to {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error(
        "the PostgreSQL target: {target} did not answer within {} s",
        CONNECT_TIMEOUT.as_secs()
    )]
    ConnectTimeout { target: String },
    #[error("the PostgreSQL target: {source}")]
    OpenTarget { source: DbError },
    #[error(
        "the PostgreSQL target is not empty (it has rows in {}): a copy only goes into a \
         database no server has used yet; nothing was copied",
        tables.join(", ")
    )]
    NotEmpty { tables: Vec<&'static str> },
    #[error("the SQLite source: cannot read {table}: {source}")]
    Read {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "the SQLite source: {table}.{column} holds {value} where a boolean (0 or 1) \
         belongs; nothing was copied"
    )]
    NotBoolean {
        table: &'static str,
        column: &'static str,
        value: i64,
    },
    #[error("the PostgreSQL target: cannot write {table}: {source}; nothing was copied")]
    Write {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error("the PostgreSQL target: cannot {step}: {source}")]
    Target {
        step: &'static str,
        source: sqlx::Error,
    },
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database at `to`
/// (`taskwire-server db copy --from FILE --to URL`). Both are migrated to the current
/// schema first. A target that has any row already is refused, with nothing copied; so
/// is one that cannot be reached, before the source is opened at all.
pub async fn copy_sqlite_to_postgres(from: &Path, to: &str) -> Result<Copied, CopyError> {
    let started = Instant::now();
    let target = match to.parse::<DbTarget>() {
        Ok(target @ DbTarget::Postgres(_)) => target,
        Ok(DbTarget::Sqlite(_)) => {
            return Err(CopyError::TargetNotPostgres {
                shown: shown_target(to),
            });
        }
        Err(never) => match never {},
    };
    if from
        .to_str()
        .is_some_and(|text| matches!(text.parse(), Ok(DbTarget::Postgres(_))))
    {
        return Err(CopyError::SourceNotSqlite);
    }
    // Opening would create a missing file, and a mistyped path would copy nothing.
    if !from.is_file() {
        return Err(CopyError::SourceMissing {
            path: from.to_owned(),
        });
    }
    let source = DbTarget::Sqlite(from.to_owned());

    // The target first: when it cannot be reached, the source is left untouched. One
    // connection says at once why not, where the pool would retry a refused one until
    // its timeout and then say only that it timed out.
    probe(&target).await?;
    let target = Db::open(&target)
        .await
        .map_err(|source| CopyError::OpenTarget { source })?;
    let source = match Db::open(&source).await {
        Ok(source) => source,
        Err(source) => {
            target.close().await;
            return Err(CopyError::OpenSource { source });
        }
    };
    let Db::Postgres(pool) = &target else {
        unreachable!("a postgres:// URL opens PostgreSQL")
    };
    let copied = copy(&source, pool).await;
    source.close().await;
    target.close().await;
    let mut copied = copied?;
    copied.elapsed = started.elapsed();
    Ok(copied)
}

/// How long the first connection to the target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the target once, and closes again.
async fn probe(target: &DbTarget) -> Result<(), CopyError> {
    let DbTarget::Postgres(url) = target else {
        return Ok(());
    };
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url));
    let connection = match connect.await {
        Ok(Ok(connection)) => connection,
        Ok(Err(source)) => {
            return Err(CopyError::Connect {
                target: target.to_string(),
                source,
            });
        }
        Err(_) => {
            return Err(CopyError::ConnectTimeout {
                target: target.to_string(),
            });
        }
    };
    // Only the answer mattered; a failed goodbye changes nothing.
    let _ = connection.close().await;
    Ok(())
}

/// A target that is not PostgreSQL, as an error shows it: a path as given, a URL of
/// another kind by its scheme only (it may hold a password).
fn shown_target(to: &str) -> String {
    match to.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://…"),
        None => format!("{to:?}"),
    }
}

async fn copy(source: &Db, pool: &PgPool) -> Result<Copied, CopyError> {
    let step = |step| move |source| CopyError::Target { step, source };
    let mut target = pool.begin().await.map_err(step("begin a transaction"))?;
    // No one else writes these tables until the copy commits: two copies at once, or a
    // server started on the target meanwhile, wait, and then find it not empty.
    sqlx::query(LOCK_TIMEOUT)
        .execute(&mut *target)
        .await
        .map_err(step("set a lock timeout"))?;
    sqlx::query(
        "LOCK TABLE settings, users, sessions, spent_refresh_tokens, boards, \
         retired_boards, board_members, tasks, deleted_tasks, events IN EXCLUSIVE MODE",
    )
    .execute(&mut *target)
    .await
    .map_err(step("lock its tables"))?;
    let mut used = Vec::new();
    for table in TABLES {
        let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
            .fetch_one(&mut *target)
            .await
            .map_err(step("check that it is empty"))?;
        if any {
            used.push(table);
        }
    }
    if !used.is_empty() {
        return Err(CopyError::NotEmpty { tables: used });
    }
    // The triggers would make what the source already has: a personal board (and its
    // owner) for each user, and each board's `log_seq` from its events as they arrive;
    // the copy takes both from the source, as they are. Switched off inside the
    // transaction, for it alone: a rollback switches them back on too.
    for statement in [
        "ALTER TABLE users DISABLE TRIGGER users_personal_board",
        "ALTER TABLE events DISABLE TRIGGER events_bump_log_seq",
    ] {
        sqlx::query(statement)
            .execute(&mut *target)
            .await
            .map_err(step("switch off its triggers for the copy"))?;
    }

    // One read transaction: every table from the same moment of the source.
    let mut source = source
        .begin_read()
        .await
        .map_err(|source| CopyError::Read {
            table: "the database",
            source,
        })?;
    let Tx::Sqlite(source) = &mut source else {
        unreachable!("a file opens SQLite")
    };
    let copied = copy_tables(source.conn(), &mut target).await?;

    for statement in [
        "ALTER TABLE users ENABLE TRIGGER users_personal_board",
        "ALTER TABLE events ENABLE TRIGGER events_bump_log_seq",
    ] {
        sqlx::query(statement)
            .execute(&mut *target)
            .await
            .map_err(step("switch its triggers back on"))?;
    }
    target.commit().await.map_err(step("commit the copy"))?;
    Ok(copied)
}

/// Copies every table, in foreign-key order.
async fn copy_tables(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
) -> Result<Copied, CopyError> {
    let settings = copy_table::<Setting>(source, target).await?;
    let users = copy_table::<User>(source, target).await?;
    let sessions = copy_table::<Session>(source, target).await?;
    link_sessions(source, target).await?;
    let spent_refresh_tokens = copy_table::<SpentToken>(source, target).await?;
    let boards = copy_table::<Board>(source, target).await?;
    let retired_boards = copy_table::<RetiredBoard>(source, target).await?;
    let board_members = copy_table::<Member>(source, target).await?;
    let tasks = copy_table::<Task>(source, target).await?;
    let deleted_tasks = copy_table::<DeletedTask>(source, target).await?;
    let events = copy_table::<Event>(source, target).await?;
    Ok(Copied {
        settings,
        users,
        sessions,
        spent_refresh_tokens,
        boards,
        retired_boards,
        board_members,
        tasks,
        deleted_tasks,
        events,
        elapsed: Duration::ZERO,
    })
}

/// A page of rows read from SQLite.
type Page<R> = sqlx::query::QueryAs<'static, Sqlite, R, SqliteArguments<'static>>;

/// One table: its rows as SQLite holds them, read a page of `BATCH` at a time in a fixed
/// order (each page starts after the last key of the one before, an index seek, so
/// neither side holds more than a page and no statement runs long), and written to
/// PostgreSQL one page to an `INSERT`.
trait Table: for<'r> FromRow<'r, SqliteRow> + Send + Unpin + 'static {
    const NAME: &'static str;
    /// The first page; `$1` is the page size.
    const FIRST: &'static str;
    /// The page after a row: its key, then the page size.
    const AFTER: &'static str;
    /// The statement up to its `VALUES`.
    const INSERT: &'static str;

    /// Binds this row's key to `AFTER`.
    fn after(&self, page: Page<Self>) -> Page<Self>;

    /// Refuses a value that PostgreSQL's column would not take as it is.
    fn check(&self) -> Result<(), CopyError> {
        Ok(())
    }

    /// Binds the row's values, in `INSERT`'s order.
    fn push(self, values: Separated<'_, 'static, Postgres, &'static str>);
}

/// The statements of a table read in `rowid` order (creation order); its rows' `rowid`
/// is their key.
macro_rules! in_rowid_order {
    ($table:literal, $columns:literal) => {
        const NAME: &'static str = $table;
        const FIRST: &'static str = concat!(
            "SELECT rowid AS rowid, ",
            $columns,
            " FROM ",
            $table,
            " ORDER BY rowid LIMIT $1"
        );
        const AFTER: &'static str = concat!(
            "SELECT rowid AS rowid, ",
            $columns,
            " FROM ",
            $table,
            " WHERE rowid > $1 ORDER BY rowid LIMIT $2"
        );
        const INSERT: &'static str = concat!("INSERT INTO ", $table, " (", $columns, ") ");

        fn after(&self, page: Page<Self>) -> Page<Self> {
            page.bind(self.rowid)
        }
    };
}

record! {
    struct Setting {
        rowid: i64,
        key: String,
        value: String,
    }
}

impl Table for Setting {
    in_rowid_order!("settings", "key, value");

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values.push_bind(self.key).push_bind(self.value);
    }
}

record! {
    struct User {
        rowid: i64,
        id: String,
        username: String,
        password_hash: String,
        role: String,
        created_at: String,
        boards_seq: i64,
    }
}

impl Table for User {
    in_rowid_order!(
        "users",
        "id, username, password_hash, role, created_at, boards_seq"
    );

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values
            .push_bind(self.id)
            .push_bind(self.username)
            .push_bind(self.password_hash)
            .push_bind(self.role)
            .push_bind(self.created_at)
            .push_bind(self.boards_seq);
    }
}

record! {
    /// A session without its parent: `link_sessions` sets that once all are there.
    struct Session {
        rowid: i64,
        id: String,
        user_id: String,
        acting_admin_id: Option<String>,
        refresh_hash: String,
        expires_at: i64,
        created_at: String,
        previous_hash: Option<String>,
        rotated_at: i64,
    }
}

impl Table for Session {
    in_rowid_order!(
        "sessions",
        "id, user_id, acting_admin_id, refresh_hash, expires_at, created_at, previous_hash, \
         rotated_at"
    );

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values
            .push_bind(self.id)
            .push_bind(self.user_id)
            .push_bind(self.acting_admin_id)
            .push_bind(self.refresh_hash)
            .push_bind(self.expires_at)
            .push_bind(self.created_at)
            .push_bind(self.previous_hash)
            .push_bind(self.rotated_at);
    }
}

/// A session may name another as its parent (login-as: the admin's own session, to
/// return to), in any order: each went in without it, and gets it now that all are
/// there. Only acting sessions have one: few.
async fn link_sessions(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
) -> Result<(), CopyError> {
    let links: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, parent_session_id FROM sessions WHERE parent_session_id IS NOT NULL",
    )
    .fetch_all(&mut *source)
    .await
    .map_err(|source| CopyError::Read {
        table: "sessions",
        source,
    })?;
    for batch in links.chunks(BATCH) {
        let (ids, parents): (Vec<String>, Vec<String>) = batch.iter().cloned().unzip();
        sqlx::query(
            "UPDATE sessions SET parent_session_id = link.parent \
             FROM UNNEST($1::TEXT[], $2::TEXT[]) AS link (id, parent) \
             WHERE sessions.id = link.id",
        )
        .bind(ids)
        .bind(parents)
        .execute(&mut *target)
        .await
        .map_err(|source| CopyError::Write {
            table: "sessions",
            source,
        })?;
    }
    Ok(())
}

record! {
    struct SpentToken {
        rowid: i64,
        hash: String,
        session_id: String,
    }
}

impl Table for SpentToken {
    in_rowid_order!("spent_refresh_tokens", "hash, session_id");

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values.push_bind(self.hash).push_bind(self.session_id);
    }
}

/// The `Table` items of a table without `rowid` (`WITHOUT ROWID`), read in the order of
/// its two-column key, `$first` then `$second`.
macro_rules! in_key_order {
    ($table:literal, $columns:literal, $first:ident, $second:ident) => {
        const NAME: &'static str = $table;
        const FIRST: &'static str = concat!(
            "SELECT ",
            $columns,
            " FROM ",
            $table,
            " ORDER BY ",
            stringify!($first),
            ", ",
            stringify!($second),
            " LIMIT $1"
        );
        const AFTER: &'static str = concat!(
            "SELECT ",
            $columns,
            " FROM ",
            $table,
            " WHERE (",
            stringify!($first),
            ", ",
            stringify!($second),
            ") > ($1, $2)",
            " ORDER BY ",
            stringify!($first),
            ", ",
            stringify!($second),
            " LIMIT $3"
        );
        const INSERT: &'static str = concat!("INSERT INTO ", $table, " (", $columns, ") ");

        fn after(&self, page: Page<Self>) -> Page<Self> {
            page.bind(self.$first.clone()).bind(self.$second.clone())
        }
    };
}

record! {
    struct RetiredBoard {
        rowid: i64,
        id: String,
    }
}

impl Table for RetiredBoard {
    in_rowid_order!("retired_boards", "id");

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values.push_bind(self.id);
    }
}

record! {
    struct Board {
        rowid: i64,
        id: String,
        name: String,
        personal: i64,
        log_seq: i64,
        created_at: String,
    }
}

impl Table for Board {
    in_rowid_order!("boards", "id, name, personal, log_seq, created_at");

    fn check(&self) -> Result<(), CopyError> {
        boolean("boards", "personal", self.personal)
    }

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values
            .push_bind(self.id)
            .push_bind(self.name)
            .push_bind(self.personal == 1)
            .push_bind(self.log_seq)
            .push_bind(self.created_at);
    }
}

record! {
    struct Member {
        board_id: String,
        user_id: String,
        role: String,
    }
}

impl Table for Member {
    in_key_order!(
        "board_members",
        "board_id, user_id, role",
        board_id,
        user_id
    );

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values
            .push_bind(self.board_id)
            .push_bind(self.user_id)
            .push_bind(self.role);
    }
}

record! {
    struct DeletedTask {
        board_id: String,
        id: String,
    }
}

impl Table for DeletedTask {
    in_key_order!("deleted_tasks", "board_id, id", board_id, id);

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values.push_bind(self.board_id).push_bind(self.id);
    }
}

record! {
    /// In `rowid` order, which is creation order (what a snapshot lists): PostgreSQL's
    /// `rowid` identity numbers the rows as they arrive, and so keeps that order.
    struct Task {
        rowid: i64,
        board_id: String,
        id: String,
        title: String,
        done: i64,
        version: i64,
        created_at: String,
        updated_at: String,
        updated_by: String,
    }
}

impl Table for Task {
    in_rowid_order!(
        "tasks",
        "board_id, id, title, done, version, created_at, updated_at, updated_by"
    );

    fn check(&self) -> Result<(), CopyError> {
        boolean("tasks", "done", self.done)
    }

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values
            .push_bind(self.board_id)
            .push_bind(self.id)
            .push_bind(self.title)
            .push_bind(self.done == 1)
            .push_bind(self.version)
            .push_bind(self.created_at)
            .push_bind(self.updated_at)
            .push_bind(self.updated_by);
    }
}

record! {
    struct Event {
        board_id: String,
        seq: i64,
        change: String,
    }
}

impl Table for Event {
    in_key_order!("events", "board_id, seq, change", board_id, seq);

    fn push(self, mut values: Separated<'_, 'static, Postgres, &'static str>) {
        values
            .push_bind(self.board_id)
            .push_bind(self.seq)
            .push_bind(self.change);
    }
}

/// Copies one table a page at a time; returns the rows copied.
async fn copy_table<T: Table>(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
) -> Result<u64, CopyError> {
    let read = |source| CopyError::Read {
        table: T::NAME,
        source,
    };
    let size = i64::from(PAGE);
    let mut page: Vec<T> = sqlx::query_as(T::FIRST)
        .bind(size)
        .fetch_all(&mut *source)
        .await
        .map_err(read)?;
    let mut copied = 0;
    loop {
        let Some(next) = page
            .last()
            .filter(|_| page.len() == BATCH)
            .map(|last| last.after(sqlx::query_as(T::AFTER)).bind(size))
        else {
            return Ok(copied + write(target, page).await?);
        };
        // The next page is read while this one is written.
        let (written, next) = tokio::join!(write(target, page), next.fetch_all(&mut *source));
        copied += written?;
        page = next.map_err(read)?;
    }
}

/// Inserts `rows` in one statement; returns the rows written.
async fn write<T: Table>(target: &mut PgConnection, rows: Vec<T>) -> Result<u64, CopyError> {
    if rows.is_empty() {
        return Ok(0);
    }
    for row in &rows {
        row.check()?;
    }
    let mut insert = QueryBuilder::<'static, Postgres>::new(T::INSERT);
    insert.push_values(rows, |values, row| row.push(values));
    Ok(insert
        .build()
        .execute(target)
        .await
        .map_err(|source| CopyError::Write {
            table: T::NAME,
            source,
        })?
        .rows_affected())
}

/// A SQLite boolean is 0 or 1; anything else is refused rather than guessed at.
fn boolean(table: &'static str, column: &'static str, value: i64) -> Result<(), CopyError> {
    match value {
        0 | 1 => Ok(()),
        value => Err(CopyError::NotBoolean {
            table,
            column,
            value,
        }),
    }
}
