//! Who changed a task (`updated_by`) and edits made against an old version
//! (`if_version`): protocol v2, section 4.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestServer, assert_error};

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
