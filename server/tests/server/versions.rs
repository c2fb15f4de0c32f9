//! Who changed a task (`updated_by`) and edits made against an old version
//! (`if_version`): protocol v2, section 4.

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

use crate::support::{TestServer, assert_error};

/// The migration that adds `updated_by`, as `_sqlx_migrations` records it.
const UPDATED_BY_MIGRATION: i64 = 20260103000000;

#[tokio::test]
async fn every_task_names_who_changed_it_last() {
    let server = TestServer::start().await;
    let maya = server.register("maya").await;
    let client = server.client();
    let created: Value = client
        .post("/api/tasks", Some(&maya.token), json!({"title": "Plan"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["updated_by"], "maya");

    let (mut ws, snapshot) = server.subscribed(&maya.token).await;
    assert_eq!(snapshot["items"][0]["updated_by"], "maya");
    let (result, events) = ws
        .request(
            3,
            "task.update",
            json!({"id": created["id"], "title": "Plan it"}),
        )
        .await;
    assert_eq!(result["ok"]["task"]["updated_by"], "maya", "{result}");
    // The patch names only what changed: the same person again is no change.
    assert_eq!(events.len(), 1);
    assert!(
        events[0]["fields"].get("updated_by").is_none(),
        "{}",
        events[0]
    );
}

#[tokio::test]
async fn an_update_against_an_old_version_changes_nothing_and_says_what_is_there() {
    let server = TestServer::start().await;
    let maya = server.register("maya").await;
    let token = Some(maya.token.as_str());
    let client = server.client();
    let id = Uuid::new_v4();
    client
        .post("/api/tasks", token, json!({"id": id, "title": "First"}))
        .await;
    let path = format!("/api/tasks/{id}");
    let theirs = client
        .send(
            Method::PATCH,
            &path,
            token,
            Some(json!({"title": "Theirs", "if_version": 1})),
        )
        .await;
    assert_eq!(theirs.status(), 200, "the version matched");

    // Typed against version 1, which is gone now.
    let mine = client
        .send(
            Method::PATCH,
            &path,
            token,
            Some(json!({"title": "Mine", "if_version": 1})),
        )
        .await;
    let body = assert_error(mine, 409, "conflict").await;
    let current = &body["error"]["current"];
    assert_eq!(
        (current["title"].clone(), current["version"].clone()),
        (json!("Theirs"), json!(2))
    );
    assert_eq!(current["updated_by"], "maya");
    let stored: Value = client
        .get(&path.replace("/api/tasks/", "/api/tasks?"), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["items"][0]["title"], "Theirs", "nothing changed");

    // The same on the socket: an error result with the task, and no event.
    let (mut ws, _) = server.subscribed(&maya.token).await;
    let (result, events) = ws
        .request(
            3,
            "task.update",
            json!({"id": id, "done": true, "if_version": 1}),
        )
        .await;
    assert_eq!(result["error"]["code"], "conflict", "{result}");
    assert_eq!(result["error"]["current"]["version"], 2, "{result}");
    assert!(events.is_empty(), "{events:?}");
    // Against the version that is there, it goes through.
    let (result, events) = ws
        .request(
            4,
            "task.update",
            json!({"id": id, "done": true, "if_version": 2}),
        )
        .await;
    assert_eq!(result["ok"]["task"]["version"], 3, "{result}");
    assert_eq!(events.len(), 1);
}

/// A database the release before `updated_by` wrote (the schema as it was: the column
/// dropped and its migration unrecorded) opens with every task, each named after its
/// owner, and the sessions still valid.
#[tokio::test]
async fn a_database_from_before_updated_by_opens_with_nothing_lost() {
    let mut server = TestServer::start().await;
    let maya = server.register("maya").await;
    let client = server.client();
    for title in ["One", "Two"] {
        client
            .post("/api/tasks", Some(&maya.token), json!({"title": title}))
            .await;
    }
    server.stop().await;
    let mut db = SqliteConnectOptions::new()
        .filename(server.db())
        .connect()
        .await
        .unwrap();
    sqlx::query("ALTER TABLE tasks DROP COLUMN updated_by")
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
        .bind(UPDATED_BY_MIGRATION)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();

    server.restart().await;
    let client = server.client();
    let refreshed = client.refresh(&maya.cookie).await;
    assert_eq!(refreshed.status(), 200, "the session survived the upgrade");
    let session: Value = refreshed.json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    let list: Value = client
        .get("/api/tasks", Some(token))
        .await
        .json()
        .await
        .unwrap();
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
    assert_eq!(tasks, [("One", "maya"), ("Two", "maya")]);
}
