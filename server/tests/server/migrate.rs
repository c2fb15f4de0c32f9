//! A database written by the release before shared boards (schema up to
//! `20260102000000`) opens in this one with nothing lost: the accounts and their
//! sessions, every task in its order, and the change-log position, so a client that was
//! live resumes by replay.

use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use uuid::Uuid;

use crate::support::TestServer;

/// The migrations of the release before shared boards.
const RELEASED: [&str; 2] = [
    "20260101000000_initial.sql",
    "20260102000000_events_bump_seq.sql",
];
const REFRESH: &str = "a-refresh-token-the-old-release-handed-out";

/// Writes what the released server would have: maya, a session, two tasks and the two
/// events that made them.
async fn released_database(path: &Path) {
    let migrations = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join("sqlite");
    for name in RELEASED {
        std::fs::copy(source.join(name), migrations.path().join(name)).unwrap();
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let db = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&db)
        .await
        .unwrap();
    let maya = Uuid::new_v4().to_string();
    let hash = argon2::Argon2::default()
        .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let refresh_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(REFRESH.as_bytes()));
    let statements = [
        "INSERT INTO settings (key, value) VALUES ('epoch', 'released')".to_owned(),
        format!(
            "INSERT INTO users (id, username, password_hash, created_at) \
             VALUES ('{maya}', 'maya', '{hash}', '2026-11-01T10:00:00Z')"
        ),
        format!(
            "INSERT INTO sessions (id, user_id, refresh_hash, expires_at, created_at) \
             VALUES ('{}', '{maya}', '{refresh_hash}', 4102444800, '2026-11-01T10:00:00Z')",
            Uuid::new_v4()
        ),
    ];
    for statement in &statements {
        sqlx::query(statement).execute(&db).await.unwrap();
    }
    for (seq, title) in [(1, "Second in time, first made"), (2, "Then this")] {
        let id = Uuid::from_u128(seq);
        let at = format!("2026-11-01T10:00:0{seq}Z");
        sqlx::query(
            "INSERT INTO tasks (user_id, id, title, done, version, created_at, updated_at) \
             VALUES (?, ?, ?, 0, 1, ?, ?)",
        )
        .bind(&maya)
        .bind(id.to_string())
        .bind(title)
        .bind(&at)
        .bind(&at)
        .execute(&db)
        .await
        .unwrap();
        let change = json!({"op": "upsert", "item": {"id": id, "title": title, "done": false,
            "version": 1, "created_at": at, "updated_at": at}});
        sqlx::query("INSERT INTO events (user_id, seq, change) VALUES (?, ?, ?)")
            .bind(&maya)
            .bind(seq as i64)
            .bind(change.to_string())
            .execute(&db)
            .await
            .unwrap();
    }
    db.close().await;
}

#[tokio::test]
async fn a_database_from_the_release_before_boards_opens_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("released.db");
    released_database(&path).await;
    let server =
        TestServer::start_with(|args| args.db = taskwire_server::DbTarget::Sqlite(path.clone()))
            .await;
    let client = server.client();

    let refreshed = client.refresh(REFRESH).await;
    assert_eq!(refreshed.status(), 200, "the session survived the upgrade");
    let session: Value = refreshed.json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    let list: Value = client
        .get("/api/tasks", Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (list["epoch"].clone(), list["seq"].clone()),
        (json!("released"), json!(2))
    );
    let tasks: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            (
                task["title"].as_str().unwrap(),
                task["updated_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("Second in time, first made", "maya"),
            ("Then this", "maya")
        ]
    );

    // A client that had seen the first change resumes by replay, and the log goes on.
    let mut ws = server.socket(token).await;
    ws.send(json!({"type": "subscribe", "id": 2, "topic": "tasks",
        "since": {"epoch": "released", "seq": 1}}))
        .await;
    let replay = ws.recv().await;
    assert_eq!(replay["type"], "replay", "{replay}");
    assert_eq!(replay["events"][0]["item"]["title"], "Then this");
    let (result, events) = ws
        .request(3, "task.create", json!({"title": "After the upgrade"}))
        .await;
    assert_eq!(result["ok"]["task"]["updated_by"], "maya", "{result}");
    assert_eq!(events[0]["seq"], 3);

    // The password still signs in, and a new account works as before.
    assert_eq!(server.login("maya").await.body["user"]["username"], "maya");
    let zoe = server.register("zoe").await;
    let empty: Value = client
        .get("/api/tasks", Some(&zoe.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["items"], json!([]));
}
