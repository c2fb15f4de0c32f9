//! `taskwire-server db copy`: a server moves from SQLite to PostgreSQL with every row as
//! it was, and its users carry on there: the same passwords, sessions, boards, tasks in
//! the same order, and change-log positions. A copy that cannot go ahead touches
//! neither database.
//!
//! The copy itself needs a PostgreSQL server (`TASKWIRE_TEST_PG`, which the PostgreSQL
//! pass of `cargo xtask test` sets); the refusals that need none run in every pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};
use taskwire_server::DbTarget;
use taskwire_server::admin::{CopyError, copy_sqlite_to_postgres};
use uuid::Uuid;

use crate::support::{Signed, TestServer, fresh_postgres_database};

const BIN: &str = env!("CARGO_BIN_EXE_taskwire-server");

/// Every table the copy fills, in its order: the SQLite schema has exactly these.
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

const UNREACHABLE: &str = "postgres://nobody:hunter2@127.0.0.1:1/taskwire";

#[tokio::test]
async fn postgres_copy_is_row_for_row() {
    a_copy_that_cannot_start_touches_nothing().await;
    match std::env::var("TASKWIRE_TEST_PG") {
        Ok(postgres) => row_for_row(&postgres).await,
        Err(_) => eprintln!(
            "TASKWIRE_TEST_PG is unset: checked the refusals that need no PostgreSQL; \
             the copy itself runs in the PostgreSQL pass of `cargo xtask test`"
        ),
    }
}

/// The refusals that need no PostgreSQL server: each says why, and the source file (and
/// its directory) stay exactly as they were.
async fn a_copy_that_cannot_start_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.db");
    let mut server = sqlite_server(&path).await;
    server.register("maya").await;
    server.stop().await;
    let before = files(dir.path());

    let to_a_file = copy_sqlite_to_postgres(&path, "./elsewhere.db").await;
    let Err(error @ CopyError::TargetNotPostgres { .. }) = to_a_file else {
        panic!("a file is not a target: {to_a_file:?}")
    };
    assert!(
        error
            .to_string()
            .contains("the target must be a PostgreSQL URL"),
        "{error}"
    );
    let other_url = copy_sqlite_to_postgres(&path, "mysql://root:hunter2@db/taskwire").await;
    let Err(error @ CopyError::TargetNotPostgres { .. }) = other_url else {
        panic!("mysql:// is not a target: {other_url:?}")
    };
    assert!(!error.to_string().contains("hunter2"), "{error}");

    let unreachable = copy_sqlite_to_postgres(&path, UNREACHABLE).await;
    let Err(error @ CopyError::Connect { .. }) = unreachable else {
        panic!("nothing listens on port 1: {unreachable:?}")
    };
    let message = error.to_string();
    assert!(
        message.starts_with(
            "the PostgreSQL target: cannot connect to postgres://nobody@127.0.0.1:1/taskwire: "
        ),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let missing = dir.path().join("mistyped.db");
    let no_source = copy_sqlite_to_postgres(&missing, UNREACHABLE).await;
    assert!(
        matches!(no_source, Err(CopyError::SourceMissing { .. })),
        "{no_source:?}"
    );
    let url_source = copy_sqlite_to_postgres(Path::new(UNREACHABLE), UNREACHABLE).await;
    assert!(
        matches!(url_source, Err(CopyError::SourceNotSqlite)),
        "{url_source:?}"
    );

    // The binary says the same on stderr, prints nothing on stdout, and fails.
    let output = copy_command(&path, UNREACHABLE);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("taskwire-server: the PostgreSQL target: cannot connect to "),
        "{stderr}"
    );

    assert_eq!(
        files(dir.path()),
        before,
        "the source directory is as it was"
    );
}

/// A server's life on SQLite, copied to PostgreSQL: every table row for row, and then a
/// server on the copy that its users cannot tell from the first.
async fn row_for_row(postgres: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.db");
    let mut server = sqlite_server(&path).await;
    let story = live_a_little(&server).await;
    server.stop().await;
    let source = sqlite_tables(&path).await;
    assert_eq!(
        source.keys().copied().collect::<Vec<_>>(),
        {
            let mut sorted = TABLES;
            sorted.sort_unstable();
            sorted
        },
        "the SQLite schema has exactly the tables the copy fills"
    );
    // What makes this a test of every path: a login-as session (a parent session), a
    // spent refresh token, an admin, done tasks, events.
    assert_eq!(
        sqlite_count(
            &path,
            "SELECT COUNT(*) FROM sessions WHERE parent_session_id IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        sqlite_count(&path, "SELECT COUNT(*) FROM users WHERE role = 'admin'").await,
        1
    );
    assert!(sqlite_count(&path, "SELECT COUNT(*) FROM tasks WHERE done = 1").await >= 2);
    assert!(sqlite_count(&path, "SELECT COUNT(*) FROM spent_refresh_tokens").await >= 1);
    assert!(sqlite_count(&path, "SELECT COUNT(*) FROM deleted_tasks").await >= 1);

    let target = fresh_postgres_database(postgres).await;
    let DbTarget::Postgres(url) = &target else {
        unreachable!("a PostgreSQL database")
    };
    let copied = copy_sqlite_to_postgres(&path, url).await.unwrap();
    let counts: Vec<(&str, u64)> = copied.tables().into_iter().collect();
    let expected: Vec<(&str, u64)> = TABLES
        .iter()
        .map(|table| (*table, source[table].rows.len() as u64))
        .collect();
    assert_eq!(counts, expected, "the counts returned are the source's");
    let printed = copied.to_string();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 11, "{printed}");
    for ((table, rows), line) in expected.iter().zip(&lines) {
        assert_eq!(*line, format!("{table}: {rows}"));
    }
    assert!(is_duration_line(lines[10]), "{printed}");

    // Row for row: every column of every table, booleans as 0 and 1, sorted.
    let copy = postgres_tables(url).await;
    for table in TABLES {
        assert_eq!(
            copy[table].columns, source[table].columns,
            "{table}: the same columns"
        );
        assert_eq!(
            copy[table].rows, source[table].rows,
            "{table}: the same rows"
        );
    }
    assert_eq!(
        postgres_task_order(url).await,
        sqlite_task_order(&path).await,
        "tasks keep their creation order"
    );
    assert_eq!(
        sqlite_tables(&path).await,
        source,
        "the copy left the source as it was"
    );

    // Copying again into the now non-empty target is refused, and changes nothing.
    let again = copy_sqlite_to_postgres(&path, url).await;
    let Err(CopyError::NotEmpty { tables }) = &again else {
        panic!("a used target is refused: {again:?}")
    };
    assert_eq!(tables.as_slice(), TABLES.as_slice(), "{again:?}");
    let output = copy_command(&path, url);
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "taskwire-server: the PostgreSQL target is not empty (it has rows in settings, users,"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was copied"), "{stderr}");
    assert_eq!(
        postgres_tables(url).await,
        copy,
        "the refused copies changed nothing"
    );

    assert_eq!(triggers(url).await, ["O", "O"], "the triggers are back on");

    // All or nothing: a value that cannot be copied, in the last rows read, leaves the
    // target with no row at all (and its triggers on).
    let broken = dir.path().join("broken.db");
    let mut db = sqlite(&path).await;
    sqlx::query("VACUUM INTO $1")
        .bind(broken.to_str().unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let mut db = sqlite(&broken).await;
    sqlx::query("UPDATE tasks SET done = 2 WHERE rowid = (SELECT MAX(rowid) FROM tasks)")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let DbTarget::Postgres(broken_target) = fresh_postgres_database(postgres).await else {
        unreachable!("a PostgreSQL database")
    };
    let failed = copy_sqlite_to_postgres(&broken, &broken_target).await;
    let Err(
        error @ CopyError::NotBoolean {
            table: "tasks",
            column: "done",
            value: 2,
        },
    ) = failed
    else {
        panic!("done = 2 is no boolean: {failed:?}")
    };
    assert!(error.to_string().contains("nothing was copied"), "{error}");
    let left = postgres_tables(&broken_target).await;
    for table in TABLES {
        assert_eq!(
            left[table].rows,
            Vec::<Vec<Option<String>>>::new(),
            "{table}"
        );
    }
    assert_eq!(triggers(&broken_target).await, ["O", "O"]);

    // Many pages: the same database grown past a page (500 rows) in each big table.
    let grown = dir.path().join("grown.db");
    grow(&path, &grown).await;
    let DbTarget::Postgres(grown_target) = fresh_postgres_database(postgres).await else {
        unreachable!("a PostgreSQL database")
    };
    let grown_copied = copy_sqlite_to_postgres(&grown, &grown_target)
        .await
        .unwrap();
    let grown_source = sqlite_tables(&grown).await;
    let grown_copy = postgres_tables(&grown_target).await;
    for (table, rows) in grown_copied.tables() {
        assert_eq!(rows, grown_source[table].rows.len() as u64, "{table}");
        assert_eq!(
            grown_copy[table], grown_source[table],
            "{table}: the same rows"
        );
    }
    // Two full pages exactly, then an empty one.
    assert_eq!(grown_copied.spent_refresh_tokens, 1000);
    assert!(grown_copied.events > 1300 && grown_copied.sessions > 1200);
    assert_eq!(
        postgres_task_order(&grown_target).await,
        sqlite_task_order(&grown).await,
        "tasks keep their creation order"
    );

    // The binary prints what it copied: one line a table, then the time taken.
    let DbTarget::Postgres(printed_target) = fresh_postgres_database(postgres).await else {
        unreachable!("a PostgreSQL database")
    };
    let output = copy_command(&path, &printed_target);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed[..10], lines[..10], "{stdout}");
    assert!(is_duration_line(printed[10]), "{stdout}");
    assert_eq!(printed.len(), 11, "{stdout}");
    assert_eq!(postgres_tables(&printed_target).await, copy);

    // A server on the copy: the same secret signs tokens, so sessions carry on.
    let moved = TestServer::start_with(|args| args.db = target.clone()).await;
    assert_eq!(
        call(&moved, &story.vic.token, Method::GET, "/api/me").await["username"],
        "vic",
        "an access token from before still works"
    );
    for (name, seen) in &story.seen {
        let signed = moved.login(name).await;
        assert_eq!(&view(&moved, &signed.token).await, seen, "{name}'s view");
    }
    let client = moved.client();
    let refreshed = client.refresh(&story.olga_cookie).await;
    assert_eq!(refreshed.status(), StatusCode::OK, "a refresh cookie works");
    let refreshed = Signed::from_response(refreshed).await;
    assert_eq!(refreshed.body["user"]["username"], "olga");
    assert_eq!(refreshed.body["user"]["role"], "admin");
    let acting = client.refresh(&story.acting_cookie).await;
    assert_eq!(acting.status(), StatusCode::OK, "a login-as session too");
    let acting = Signed::from_response(acting).await;
    assert_eq!(acting.body["user"]["acting_as_admin"], "olga");
    let back = client
        .post("/api/login-as/exit", Some(&acting.token), json!(null))
        .await;
    assert_eq!(
        back.status(),
        StatusCode::OK,
        "back to the admin's own session"
    );
    let back: Value = back.json().await.unwrap();
    assert_eq!(back["user"]["username"], "olga");
    // A new account gets its personal board, as on any server.
    let zoe = moved.register("zoe").await;
    let boards = call(&moved, &zoe.token, Method::GET, "/api/boards").await;
    assert_eq!(boards["items"][0]["name"], "My tasks", "{boards}");
    // A client that was live before the move resumes by replay, and the log goes on.
    let mut ws = moved.socket(&refreshed.token).await;
    let tasks = &story.seen["olga"]["tasks"];
    ws.send(json!({"type": "subscribe", "id": 2, "topic": "tasks",
        "since": {"epoch": tasks["epoch"], "seq": story.olga_seq - 1}}))
        .await;
    let replay = ws.recv().await;
    assert_eq!(replay["type"], "replay", "{replay}");
    assert_eq!(replay["events"].as_array().unwrap().len(), 1, "{replay}");
    let (result, events) = ws
        .request(3, "task.create", json!({"title": "On PostgreSQL"}))
        .await;
    assert_eq!(result["ok"]["task"]["title"], "On PostgreSQL", "{result}");
    assert_eq!(events[0]["seq"], story.olga_seq + 1);
    // A refresh token spent before the move is still known as spent:
    // presented again, it ends the session it belonged to.
    let spent = client.refresh(&story.spent_cookie).await;
    assert_eq!(spent.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        moved
            .client()
            .get("/api/me", Some(&refreshed.token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// What the scenario leaves for later checks.
struct Story {
    /// Each user's boards, and each board's tasks, as the API answered before the move.
    seen: BTreeMap<&'static str, Value>,
    vic: Signed,
    /// olga's refresh cookie, current; the one she spent to get it; her personal seq.
    olga_cookie: String,
    spent_cookie: String,
    olga_seq: u64,
    /// The refresh cookie of olga's session as eddie.
    acting_cookie: String,
}

/// Three users, an admin among them; a shared board with an editor and a viewer; tasks
/// made, renamed, done and deleted, over HTTP and the socket; a second sign-in, a refresh,
/// and a login-as.
async fn live_a_little(server: &TestServer) -> Story {
    let olga = server.register("olga").await;
    let eddie = server.register("eddie").await;
    let vic = server.register("vic").await;
    assert_eq!(
        taskwire_server::admin::promote(&server.db(), "olga").await,
        Ok(true)
    );

    let id = Uuid::new_v4();
    let board = format!("/api/boards/{id}");
    call_with(
        server,
        &olga.token,
        Method::POST,
        "/api/boards",
        json!({"id": id, "name": "Launch"}),
    )
    .await;
    for (name, role) in [("eddie", "editor"), ("vic", "viewer")] {
        call_with(
            server,
            &olga.token,
            Method::PUT,
            &format!("{board}/members/{name}"),
            json!({"role": role}),
        )
        .await;
    }
    call_with(
        server,
        &olga.token,
        Method::PATCH,
        &board,
        json!({"name": "Launch day"}),
    )
    .await;
    // A board made and deleted: its id is retired.
    let gone = call_with(
        server,
        &olga.token,
        Method::POST,
        "/api/boards",
        json!({"name": "Short-lived"}),
    )
    .await;
    let gone = format!("/api/boards/{}", gone["id"].as_str().unwrap());
    call(server, &olga.token, Method::DELETE, &gone).await;
    let mut made = Vec::new();
    for title in ["Ship", "Write the notes", "Tell everyone", "Celebrate"] {
        let task = call_with(
            server,
            &eddie.token,
            Method::POST,
            &format!("{board}/tasks"),
            json!({"title": title}),
        )
        .await;
        made.push(format!("{board}/tasks/{}", task["id"].as_str().unwrap()));
    }
    call_with(
        server,
        &olga.token,
        Method::PATCH,
        &made[0],
        json!({"title": "Ship it", "if_version": 1}),
    )
    .await;
    call_with(
        server,
        &eddie.token,
        Method::PATCH,
        &made[1],
        json!({"done": true}),
    )
    .await;
    call(server, &olga.token, Method::DELETE, &made[2]).await;

    // Personal tasks: olga's over the socket, vic's over HTTP.
    let (mut ws, _) = server.subscribed(&olga.token).await;
    for (id, title) in [(3, "Buy milk"), (4, "Call the bank")] {
        let (result, _) = ws.request(id, "task.create", json!({"title": title})).await;
        assert!(result["ok"]["task"].is_object(), "{result}");
    }
    let (result, _) = ws
        .request(5, "task.create", json!({"title": "Water the plants"}))
        .await;
    let plants = result["ok"]["task"]["id"].as_str().unwrap().to_owned();
    let (result, _) = ws
        .request(
            6,
            "task.update",
            json!({"id": plants, "done": true, "if_version": 1}),
        )
        .await;
    assert_eq!(result["ok"]["task"]["done"], true, "{result}");
    drop(ws);
    for title in ["Read", "Run"] {
        call_with(
            server,
            &vic.token,
            Method::POST,
            "/api/tasks",
            json!({"title": title}),
        )
        .await;
    }

    // Sessions: a second sign-in, refreshed once (the first cookie is spent), and olga
    // acting as eddie.
    let second = server.login("olga").await;
    let refreshed = server.client().refresh(&second.cookie).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed = Signed::from_response(refreshed).await;
    let acting = server
        .client()
        .post(
            "/api/login-as",
            Some(&olga.token),
            json!({"username": "eddie"}),
        )
        .await;
    assert_eq!(acting.status(), StatusCode::OK);
    let acting = Signed::from_response(acting).await;

    let mut seen = BTreeMap::new();
    for (name, signed) in [("olga", &olga), ("eddie", &eddie), ("vic", &vic)] {
        seen.insert(name, view(server, &signed.token).await);
    }
    let olga_seq = seen["olga"]["tasks"]["seq"].as_u64().unwrap();
    Story {
        seen,
        vic,
        olga_cookie: refreshed.cookie,
        spent_cookie: second.cookie,
        olga_seq,
        acting_cookie: acting.cookie,
    }
}

/// A user's view: their personal tasks, their boards, and each board's tasks.
async fn view(server: &TestServer, token: &str) -> Value {
    let boards = call(server, token, Method::GET, "/api/boards").await;
    let mut tasks = Vec::new();
    for board in boards["items"].as_array().unwrap() {
        let id = board["id"].as_str().unwrap();
        tasks.push(
            call(
                server,
                token,
                Method::GET,
                &format!("/api/boards/{id}/tasks"),
            )
            .await,
        );
    }
    json!({
        "tasks": call(server, token, Method::GET, "/api/tasks").await,
        "boards": boards,
        "board_tasks": tasks,
    })
}

async fn call(server: &TestServer, token: &str, method: Method, path: &str) -> Value {
    let response = server
        .client()
        .send(method.clone(), path, Some(token), None)
        .await;
    answer(response, &method, path).await
}

async fn call_with(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> Value {
    let response = server
        .client()
        .send(method.clone(), path, Some(token), Some(body))
        .await;
    answer(response, &method, path).await
}

async fn answer(response: reqwest::Response, method: &Method, path: &str) -> Value {
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {body}");
    body
}

/// Copies the database at `path` to `grown` and adds, past the 500 rows of a page: 1,100
/// users (each with a personal board) sharing a board, 1,200 sessions each the parent of
/// the one made before it, 999 spent refresh tokens (1,000 in all: two full pages), and
/// 1,300 tasks and events on one board. Written directly: the API would take long.
async fn grow(path: &Path, grown: &Path) {
    let mut db = sqlite(path).await;
    sqlx::query("VACUUM INTO $1")
        .bind(grown.to_str().unwrap())
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let count = |n: u32| {
        format!("WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) ")
    };
    let statements = [
        count(1100)
            + "INSERT INTO users (id, username, password_hash, role, created_at) \
               SELECT 'user-' || i, 'user' || i, 'hash', 'user', '2026-01-01T00:00:00Z' FROM n",
        count(1100)
            + "INSERT INTO board_members (board_id, user_id, role) \
               SELECT (SELECT id FROM boards WHERE name = 'Launch day'), 'user-' || i, 'viewer' \
               FROM n",
        count(1200)
            + "INSERT INTO sessions (id, user_id, refresh_hash, expires_at, created_at) \
               SELECT 'session-' || i, 'user-' || (i % 1100 + 1), 'refresh-' || i, 4102444800, \
               '2026-01-01T00:00:00Z' FROM n",
        "UPDATE sessions \
         SET parent_session_id = 'session-' || (CAST(substr(id, 9) AS INTEGER) + 1) \
         WHERE id GLOB 'session-*' AND id <> 'session-1200'"
            .to_owned(),
        count(999)
            + "INSERT INTO spent_refresh_tokens (hash, session_id) \
               SELECT 'spent-' || i, 'session-' || i FROM n",
        count(1300)
            + "INSERT INTO tasks (board_id, id, title, done, version, created_at, updated_at, \
               updated_by) SELECT 'user-1', 'task-' || (1301 - i), 'Task ' || i, i % 2, 1, \
               '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'user1' FROM n",
        count(1300) + "INSERT INTO events (board_id, seq, change) SELECT 'user-1', i, '{}' FROM n",
    ];
    let mut db = sqlite(grown).await;
    for statement in &statements {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();
}

async fn sqlite_server(path: &Path) -> TestServer {
    let path = path.to_owned();
    TestServer::start_with(|args| args.db = DbTarget::Sqlite(path)).await
}

fn copy_command(from: &Path, to: &str) -> Output {
    Command::new(BIN)
        .args(["db", "copy", "--from"])
        .arg(from)
        .args(["--to", to])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `copied in 0.4 s`.
fn is_duration_line(line: &str) -> bool {
    line.strip_prefix("copied in ")
        .and_then(|rest| rest.strip_suffix(" s"))
        .is_some_and(|seconds| seconds.parse::<f64>().is_ok() && seconds.contains('.'))
}

/// Each file in `dir` and its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// One table: its column names (sorted) and its rows, every value as text (booleans as
/// 0 and 1), columns in name order, rows sorted.
#[derive(Debug, PartialEq, Eq)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

type Tables = BTreeMap<&'static str, Table>;

async fn sqlite(path: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// Every table of the SQLite database but the migrations' own.
async fn sqlite_tables(path: &Path) -> Tables {
    let mut db = sqlite(path).await;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut tables = Tables::new();
    for name in names {
        let table = TABLES
            .into_iter()
            .find(|table| *table == name)
            .unwrap_or_else(|| panic!("SQLite has a table the copy leaves out: {name}"));
        let mut columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut db)
                .await
                .unwrap();
        columns.sort();
        let select = columns
            .iter()
            .map(|column| format!("CAST({column} AS TEXT)"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!("SELECT {select} FROM {table}"))
            .fetch_all(&mut db)
            .await
            .unwrap();
        let mut rows: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect();
        rows.sort();
        tables.insert(table, Table { columns, rows });
    }
    db.close().await.unwrap();
    tables
}

/// The copied tables of the PostgreSQL database, as `sqlite_tables` reads SQLite; the
/// `rowid` of tasks, which SQLite keeps implicitly, is left out.
async fn postgres_tables(url: &str) -> Tables {
    let mut db = PgConnection::connect(url).await.unwrap();
    let mut tables = Tables::new();
    for table in TABLES {
        let mut columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             AND column_name <> 'rowid'",
        )
        .bind(table)
        .fetch_all(&mut db)
        .await
        .unwrap();
        columns.sort();
        let select = columns
            .iter()
            .map(|(column, kind)| match kind.as_str() {
                "boolean" => format!("{column}::INT::TEXT"),
                _ => format!("{column}::TEXT"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!("SELECT {select} FROM {table}"))
            .fetch_all(&mut db)
            .await
            .unwrap();
        let mut rows: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect();
        rows.sort();
        let columns = columns.into_iter().map(|(column, _)| column).collect();
        tables.insert(table, Table { columns, rows });
    }
    db.close().await.unwrap();
    tables
}

async fn sqlite_count(path: &Path, sql: &str) -> i64 {
    let mut db = sqlite(path).await;
    let count = sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap();
    db.close().await.unwrap();
    count
}

const TASK_ORDER: &str = "SELECT board_id, id FROM tasks ORDER BY rowid";

async fn sqlite_task_order(path: &Path) -> Vec<(String, String)> {
    let mut db = sqlite(path).await;
    let order = sqlx::query_as(TASK_ORDER).fetch_all(&mut db).await.unwrap();
    db.close().await.unwrap();
    order
}

async fn postgres_task_order(url: &str) -> Vec<(String, String)> {
    let mut db = PgConnection::connect(url).await.unwrap();
    let order = sqlx::query_as(TASK_ORDER).fetch_all(&mut db).await.unwrap();
    db.close().await.unwrap();
    order
}

/// Whether `users_personal_board` and `events_bump_log_seq` fire (`O`: on).
async fn triggers(url: &str) -> Vec<String> {
    let mut db = PgConnection::connect(url).await.unwrap();
    let states = sqlx::query_scalar(
        "SELECT tgenabled::TEXT FROM pg_trigger \
         WHERE tgname IN ('users_personal_board', 'events_bump_log_seq') ORDER BY tgname DESC",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    states
}
