//! Shared boards over HTTP (protocol v2, section 4): every call for each role (owner,
//! editor, viewer, non-member), with its documented answer.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Client, TestServer, assert_error};

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    response.json().await.unwrap()
}

async fn send(
    client: &Client,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    let body = (!body.is_null()).then_some(body);
    client.send(method, path, Some(token), body).await
}

#[tokio::test]
async fn every_board_call_answers_each_role_as_documented() {
    let server = TestServer::start().await;
    let client = server.client();
    let olga = server.register("olga").await.token;
    let ed = server.register("eddie").await.token;
    let vic = server.register("vic").await.token;
    let nina = server.register("nina").await.token;

    // Making a board: trimmed name, the caller owns it, and a retry is harmless.
    let id = Uuid::new_v4();
    let made = json_of(
        client
            .post(
                "/api/boards",
                Some(&olga),
                json!({"id": id, "name": "  Launch  "}),
            )
            .await,
        201,
    )
    .await;
    assert_eq!(
        made,
        json!({"id": id, "name": "Launch", "role": "owner", "personal": false})
    );
    json_of(
        client
            .post(
                "/api/boards",
                Some(&olga),
                json!({"id": id, "name": "Launch"}),
            )
            .await,
        200,
    )
    .await;
    // Someone else cannot take that id, nor learn more than that it is taken.
    assert_error(
        client
            .post(
                "/api/boards",
                Some(&nina),
                json!({"id": id, "name": "Mine"}),
            )
            .await,
        409,
        "conflict",
    )
    .await;
    for name in ["", "   ", &"x".repeat(81)] {
        assert_error(
            client
                .post("/api/boards", Some(&olga), json!({"name": name}))
                .await,
            400,
            "bad_request",
        )
        .await;
    }
    let list = json_of(client.get("/api/boards", Some(&olga)).await, 200).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["My tasks", "Launch"]);
    assert_eq!(list["items"][0]["personal"], true);

    // Sharing: the owner only; an unknown name is said so.
    let board = format!("/api/boards/{id}");
    let vic_before = json_of(client.get("/api/boards", Some(&vic)).await, 200).await["seq"]
        .as_u64()
        .unwrap();
    let member = json_of(
        send(
            &client,
            Method::PUT,
            &format!("{board}/members/eddie"),
            &olga,
            json!({"role": "editor"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(member["user"]["username"], "eddie");
    assert_eq!(member["role"], "editor");
    json_of(
        send(
            &client,
            Method::PUT,
            &format!("{board}/members/vic"),
            &olga,
            json!({"role": "viewer"}),
        )
        .await,
        200,
    )
    .await;
    let unknown = assert_error(
        send(
            &client,
            Method::PUT,
            &format!("{board}/members/ghost"),
            &olga,
            json!({"role": "viewer"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(unknown["error"]["message"], "No user is called ghost.");
    assert_error(
        send(
            &client,
            Method::PUT,
            &format!("{board}/members/nina"),
            &ed,
            json!({"role": "viewer"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        send(
            &client,
            Method::PUT,
            &format!("{board}/members/nina"),
            &nina,
            json!({"role": "editor"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        send(
            &client,
            Method::PUT,
            &format!("{board}/members/eddie"),
            &olga,
            json!({"role": "owner"}),
        )
        .await,
        400,
        "bad_request",
    )
    .await;
    let vic_list = json_of(client.get("/api/boards", Some(&vic)).await, 200).await;
    assert!(
        vic_list["seq"].as_u64().unwrap() > vic_before,
        "vic's board list moved on"
    );
    assert_eq!(
        vic_list["items"][1],
        json!({"id": id, "name": "Launch", "role": "viewer", "personal": false})
    );
    let members = json_of(
        client.get(&format!("{board}/members"), Some(&vic)).await,
        200,
    )
    .await;
    let roles: Vec<(&str, &str)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["username"].as_str().unwrap(),
                m["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [("olga", "owner"), ("eddie", "editor"), ("vic", "viewer")]
    );
    assert_error(
        client.get(&format!("{board}/members"), Some(&nina)).await,
        404,
        "not_found",
    )
    .await;

    // Tasks: editors and the owner change them, viewers read, others see nothing.
    let tasks = format!("{board}/tasks");
    let task = json_of(
        client
            .post(&tasks, Some(&ed), json!({"title": "<b>Ship</b>"}))
            .await,
        201,
    )
    .await;
    assert_eq!(
        (task["title"].clone(), task["updated_by"].clone()),
        (json!("<b>Ship</b>"), json!("eddie"))
    );
    assert_error(
        client
            .post(&tasks, Some(&vic), json!({"title": "No"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        client
            .post(&tasks, Some(&nina), json!({"title": "No"}))
            .await,
        404,
        "not_found",
    )
    .await;
    let seen = json_of(client.get(&tasks, Some(&vic)).await, 200).await;
    assert_eq!(seen["items"][0]["title"], "<b>Ship</b>");
    assert_error(client.get(&tasks, Some(&nina)).await, 404, "not_found").await;
    let path = format!("{tasks}/{}", task["id"].as_str().unwrap());
    let renamed = json_of(
        send(
            &client,
            Method::PATCH,
            &path,
            &olga,
            json!({"title": "Ship it", "if_version": 1}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(renamed["updated_by"], "olga");
    assert_error(
        send(
            &client,
            Method::PATCH,
            &path,
            &ed,
            json!({"done": true, "if_version": 1}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_error(
        send(&client, Method::PATCH, &path, &vic, json!({"done": true})).await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        send(&client, Method::DELETE, &path, &vic, Value::Null).await,
        403,
        "forbidden",
    )
    .await;
    // The board's tasks are not anyone's personal tasks.
    let olga_tasks = json_of(client.get("/api/tasks", Some(&olga)).await, 200).await;
    assert_eq!(olga_tasks["items"], json!([]));

    // Renaming: the owner only; members see the new name.
    assert_error(
        send(
            &client,
            Method::PATCH,
            &board,
            &ed,
            json!({"name": "Mine now"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let board_now = json_of(
        send(
            &client,
            Method::PATCH,
            &board,
            &olga,
            json!({"name": "Launch day"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(board_now["name"], "Launch day");
    assert_eq!(
        json_of(client.get("/api/boards", Some(&ed)).await, 200).await["items"][1]["name"],
        "Launch day"
    );

    // My tasks is never shared, renamed or deleted.
    let olga_id = json_of(client.get("/api/me", Some(&olga)).await, 200).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let personal = format!("/api/boards/{olga_id}");
    assert_error(
        send(
            &client,
            Method::PUT,
            &format!("{personal}/members/eddie"),
            &olga,
            json!({"role": "viewer"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        send(
            &client,
            Method::PATCH,
            &personal,
            &olga,
            json!({"name": "Other"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        send(&client, Method::DELETE, &personal, &olga, Value::Null).await,
        403,
        "forbidden",
    )
    .await;
    // Another person's personal board is as unknown as any other.
    assert_error(
        client.get(&format!("{personal}/tasks"), Some(&nina)).await,
        404,
        "not_found",
    )
    .await;

    // Leaving and removing: access ends at once.
    assert_error(
        send(
            &client,
            Method::DELETE,
            &format!("{board}/members/olga"),
            &olga,
            Value::Null,
        )
        .await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        send(
            &client,
            Method::DELETE,
            &format!("{board}/members/eddie"),
            &vic,
            Value::Null,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        send(
            &client,
            Method::DELETE,
            &format!("{board}/members/vic"),
            &vic,
            Value::Null
        )
        .await
        .status(),
        204
    );
    assert_error(client.get(&tasks, Some(&vic)).await, 404, "not_found").await;
    assert_eq!(
        send(
            &client,
            Method::DELETE,
            &format!("{board}/members/eddie"),
            &olga,
            Value::Null
        )
        .await
        .status(),
        204
    );
    assert_error(
        client
            .post(&tasks, Some(&ed), json!({"title": "Late"}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        json_of(client.get("/api/boards", Some(&ed)).await, 200).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Deleting: the owner only, and the tasks go with it.
    assert_eq!(
        send(&client, Method::DELETE, &board, &olga, Value::Null)
            .await
            .status(),
        204
    );
    assert_error(client.get(&tasks, Some(&olga)).await, 404, "not_found").await;
    assert_error(
        send(&client, Method::DELETE, &board, &olga, Value::Null).await,
        404,
        "not_found",
    )
    .await;
    // Ids that are no board at all answer the same.
    assert_error(
        client
            .get("/api/boards/not-a-board/tasks", Some(&olga))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        client
            .get(
                &format!("/api/boards/{}/members", Uuid::new_v4()),
                Some(&olga),
            )
            .await,
        404,
        "not_found",
    )
    .await;
}

/// The v1 calls and the personal board are one and the same.
#[tokio::test]
async fn the_v1_calls_act_on_the_personal_board() {
    let server = TestServer::start().await;
    let client = server.client();
    let maya = server.register("maya").await;
    let id = maya.body["user"]["id"].as_str().unwrap().to_owned();
    json_of(
        client
            .post("/api/tasks", Some(&maya.token), json!({"title": "Mine"}))
            .await,
        201,
    )
    .await;
    let tasks = json_of(
        client
            .get(&format!("/api/boards/{id}/tasks"), Some(&maya.token))
            .await,
        200,
    )
    .await;
    assert_eq!(tasks["items"][0]["title"], "Mine");
    let list = json_of(client.get("/api/boards", Some(&maya.token)).await, 200).await;
    assert_eq!(
        list["items"],
        json!([{"id": id, "name": "My tasks", "role": "owner", "personal": true}])
    );
}

/// One person owns at most 200 boards (My tasks aside), and is told so.
#[tokio::test]
async fn the_201st_board_is_refused_with_the_reason() {
    let server = TestServer::start().await;
    let client = server.client();
    let olga = server.register("olga").await.token;
    for n in 0..200 {
        let made = client
            .post(
                "/api/boards",
                Some(&olga),
                json!({"name": format!("Board {n}")}),
            )
            .await;
        assert_eq!(made.status(), 201, "board {n}");
    }
    let refused = assert_error(
        client
            .post("/api/boards", Some(&olga), json!({"name": "One more"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        refused["error"]["message"],
        "You own 200 boards, the most one person may. Delete one first."
    );
}
