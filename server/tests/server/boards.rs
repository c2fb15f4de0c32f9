//! Shared boards over HTTP (protocol v2, section 4): every call for each role (owner,
//! editor, viewer, non-member), with its documented answer.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Client, TestServer, assert_error};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// One person's calls.
pub(crate) struct Person {
    pub(crate) client: Client,
    pub(crate) token: String,
}

impl Person {
    pub(crate) async fn register(server: &TestServer, name: &str) -> Self {
        Self {
            client: server.client(),
            token: server.register(name).await.token,
        }
    }

    pub(crate) async fn call(&self, method: Method, path: &str, body: Value) -> reqwest::Response {
        let body = (!body.is_null()).then_some(body);
        self.client
            .send(method, path, Some(&self.token), body)
            .await
    }

    /// The call succeeds with `status`; its body, if any.
    pub(crate) async fn ok(&self, method: Method, path: &str, body: Value, status: u16) -> Value {
        let response = self.call(method, path, body).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        response.json().await.unwrap_or(Value::Null)
    }

    /// The call is refused with `status` and the contract's `code`.
    pub(crate) async fn refused(
        &self,
        method: Method,
        path: &str,
        body: Value,
        status: u16,
        code: &str,
    ) -> Value {
        assert_error(self.call(method, path, body).await, status, code).await
    }
}

/// A deleted board's id is never given to a board again, by anyone: a log position
/// names one board's log, and a board made anew under the id would start its log again
/// below positions its old members still hold, then replay to them as if it followed.
#[tokio::test]
async fn a_deleted_boards_id_is_never_used_again() {
    let server = TestServer::start().await;
    let olga = Person::register(&server, "olga").await;
    let nina = Person::register(&server, "nina").await;
    let id = Uuid::new_v4();
    let body = json!({"id": id, "name": "Launch"});
    olga.ok(POST, "/api/boards", body.clone(), 201).await;
    olga.ok(DELETE, &format!("/api/boards/{id}"), Value::Null, 204)
        .await;
    for person in [&olga, &nina] {
        person
            .refused(POST, "/api/boards", body.clone(), 409, "conflict")
            .await;
    }
    let made = olga
        .ok(POST, "/api/boards", json!({"name": "Launch"}), 201)
        .await;
    assert_ne!(made["id"], json!(id));
}

/// Creates are idempotent on the task's id, so a create resent after someone deleted the
/// task (its sender never heard that it went through) does not make it again: over HTTP
/// and the socket, after a delete and after clearing done tasks. Another id is made as
/// ever.
#[tokio::test]
async fn a_create_resent_after_its_task_was_deleted_does_not_make_it_again() {
    let server = TestServer::start().await;
    let olga = Person::register(&server, "olga").await;
    let eddie = Person::register(&server, "eddie").await;
    let board = olga
        .ok(POST, "/api/boards", json!({"name": "Launch"}), 201)
        .await;
    let tasks = format!("/api/boards/{}/tasks", board["id"].as_str().unwrap());
    let members = format!(
        "/api/boards/{}/members/eddie",
        board["id"].as_str().unwrap()
    );
    olga.ok(PUT, &members, json!({"role": "editor"}), 200).await;

    let deleted = json!({"id": Uuid::new_v4(), "title": "Ship"});
    let cleared = json!({"id": Uuid::new_v4(), "title": "Tell everyone"});
    for create in [&deleted, &cleared] {
        eddie.ok(POST, &tasks, create.clone(), 201).await;
    }
    let path = format!("{tasks}/{}", deleted["id"].as_str().unwrap());
    olga.ok(DELETE, &path, Value::Null, 204).await;
    let path = format!("{tasks}/{}", cleared["id"].as_str().unwrap());
    olga.ok(PATCH, &path, json!({"done": true}), 200).await;
    olga.ok(POST, &format!("{tasks}/clear-done"), Value::Null, 200)
        .await;

    for create in [&deleted, &cleared] {
        let refused = eddie
            .refused(POST, &tasks, create.clone(), 404, "not_found")
            .await;
        assert_eq!(refused["error"]["message"], "That task was deleted.");
    }
    let mut ws = server.socket_v2(&eddie.token).await;
    let (result, events) = ws
        .request(
            3,
            "task.create",
            json!({"board": board["id"], "id": deleted["id"], "title": "Ship"}),
        )
        .await;
    assert_eq!(result["error"]["code"], "not_found", "{result}");
    assert!(events.is_empty(), "{events:?}");
    let list = eddie.ok(GET, &tasks, Value::Null, 200).await;
    assert_eq!(list["items"], json!([]), "nothing made again");
    eddie
        .ok(
            POST,
            &tasks,
            json!({"id": Uuid::new_v4(), "title": "Ship"}),
            201,
        )
        .await;
}

#[tokio::test]
async fn every_board_call_answers_each_role_as_documented() {
    let server = TestServer::start().await;
    let olga = Person::register(&server, "olga").await;
    let eddie = Person::register(&server, "eddie").await;
    let vic = Person::register(&server, "vic").await;
    let nina = Person::register(&server, "nina").await;
    let none = Value::Null;

    // Making a board: trimmed name, the caller owns it, and a retry is harmless.
    let id = Uuid::new_v4();
    let made = olga
        .ok(
            POST,
            "/api/boards",
            json!({"id": id, "name": "  Launch "}),
            201,
        )
        .await;
    assert_eq!(
        made,
        json!({"id": id, "name": "Launch", "role": "owner", "personal": false})
    );
    olga.ok(
        POST,
        "/api/boards",
        json!({"id": id, "name": "Launch"}),
        200,
    )
    .await;
    // Someone else cannot take that id.
    nina.refused(
        POST,
        "/api/boards",
        json!({"id": id, "name": "Mine"}),
        409,
        "conflict",
    )
    .await;
    for name in ["", "   ", &"x".repeat(81)] {
        olga.refused(
            POST,
            "/api/boards",
            json!({"name": name}),
            400,
            "bad_request",
        )
        .await;
    }
    let list = olga.ok(GET, "/api/boards", none.clone(), 200).await;
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
    let member = |name: &str| format!("{board}/members/{name}");
    let vic_before = vic.ok(GET, "/api/boards", none.clone(), 200).await["seq"]
        .as_u64()
        .unwrap();
    let shared = olga
        .ok(PUT, &member("eddie"), json!({"role": "editor"}), 200)
        .await;
    assert_eq!(
        (shared["user"]["username"].clone(), shared["role"].clone()),
        (json!("eddie"), json!("editor"))
    );
    olga.ok(PUT, &member("vic"), json!({"role": "viewer"}), 200)
        .await;
    let unknown = olga
        .refused(
            PUT,
            &member("ghost"),
            json!({"role": "viewer"}),
            404,
            "not_found",
        )
        .await;
    assert_eq!(unknown["error"]["message"], "No user is called ghost.");
    eddie
        .refused(
            PUT,
            &member("nina"),
            json!({"role": "viewer"}),
            403,
            "forbidden",
        )
        .await;
    nina.refused(
        PUT,
        &member("nina"),
        json!({"role": "editor"}),
        404,
        "not_found",
    )
    .await;
    olga.refused(
        PUT,
        &member("eddie"),
        json!({"role": "owner"}),
        400,
        "bad_request",
    )
    .await;
    let vic_list = vic.ok(GET, "/api/boards", none.clone(), 200).await;
    assert!(
        vic_list["seq"].as_u64().unwrap() > vic_before,
        "vic's board list moved on"
    );
    assert_eq!(
        vic_list["items"][1],
        json!({"id": id, "name": "Launch", "role": "viewer", "personal": false})
    );
    let members = vic
        .ok(GET, &format!("{board}/members"), none.clone(), 200)
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
    nina.refused(
        GET,
        &format!("{board}/members"),
        none.clone(),
        404,
        "not_found",
    )
    .await;

    // Tasks: editors and the owner change them, viewers read, others see nothing.
    let tasks = format!("{board}/tasks");
    let task = eddie
        .ok(POST, &tasks, json!({"title": "<b>Ship</b>"}), 201)
        .await;
    assert_eq!(
        (task["title"].clone(), task["updated_by"].clone()),
        (json!("<b>Ship</b>"), json!("eddie"))
    );
    vic.refused(POST, &tasks, json!({"title": "No"}), 403, "forbidden")
        .await;
    nina.refused(POST, &tasks, json!({"title": "No"}), 404, "not_found")
        .await;
    assert_eq!(
        vic.ok(GET, &tasks, none.clone(), 200).await["items"][0]["title"],
        "<b>Ship</b>"
    );
    nina.refused(GET, &tasks, none.clone(), 404, "not_found")
        .await;
    let path = format!("{tasks}/{}", task["id"].as_str().unwrap());
    let renamed = olga
        .ok(
            PATCH,
            &path,
            json!({"title": "Ship it", "if_version": 1}),
            200,
        )
        .await;
    assert_eq!(renamed["updated_by"], "olga");
    eddie
        .refused(
            PATCH,
            &path,
            json!({"done": true, "if_version": 1}),
            409,
            "conflict",
        )
        .await;
    vic.refused(PATCH, &path, json!({"done": true}), 403, "forbidden")
        .await;
    vic.refused(DELETE, &path, none.clone(), 403, "forbidden")
        .await;
    // The board's tasks are not anyone's personal tasks.
    assert_eq!(
        olga.ok(GET, "/api/tasks", none.clone(), 200).await["items"],
        json!([])
    );

    // Renaming: the owner only; members see the new name.
    eddie
        .refused(PATCH, &board, json!({"name": "Mine now"}), 403, "forbidden")
        .await;
    assert_eq!(
        olga.ok(PATCH, &board, json!({"name": "Launch day"}), 200)
            .await["name"],
        "Launch day"
    );
    assert_eq!(
        eddie.ok(GET, "/api/boards", none.clone(), 200).await["items"][1]["name"],
        "Launch day"
    );

    // My tasks is never shared, renamed or deleted, and another person's is unknown.
    let olga_id = olga.ok(GET, "/api/me", none.clone(), 200).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let personal = format!("/api/boards/{olga_id}");
    olga.refused(
        PUT,
        &format!("{personal}/members/eddie"),
        json!({"role": "viewer"}),
        403,
        "forbidden",
    )
    .await;
    olga.refused(PATCH, &personal, json!({"name": "Other"}), 403, "forbidden")
        .await;
    olga.refused(DELETE, &personal, none.clone(), 403, "forbidden")
        .await;
    nina.refused(
        GET,
        &format!("{personal}/tasks"),
        none.clone(),
        404,
        "not_found",
    )
    .await;

    // Leaving and removing: access ends at once.
    olga.refused(DELETE, &member("olga"), none.clone(), 400, "bad_request")
        .await;
    vic.refused(DELETE, &member("eddie"), none.clone(), 403, "forbidden")
        .await;
    vic.ok(DELETE, &member("vic"), none.clone(), 204).await;
    vic.refused(GET, &tasks, none.clone(), 404, "not_found")
        .await;
    olga.ok(DELETE, &member("eddie"), none.clone(), 204).await;
    eddie
        .refused(POST, &tasks, json!({"title": "Late"}), 404, "not_found")
        .await;
    assert_eq!(
        eddie.ok(GET, "/api/boards", none.clone(), 200).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Deleting: the owner only, and the tasks go with it.
    olga.ok(DELETE, &board, none.clone(), 204).await;
    olga.refused(GET, &tasks, none.clone(), 404, "not_found")
        .await;
    olga.refused(DELETE, &board, none.clone(), 404, "not_found")
        .await;
    // Ids that are no board at all answer the same.
    olga.refused(
        GET,
        "/api/boards/not-a-board/tasks",
        none.clone(),
        404,
        "not_found",
    )
    .await;
    let random = format!("/api/boards/{}/members", Uuid::new_v4());
    olga.refused(GET, &random, none, 404, "not_found").await;
}

/// The v1 calls and the personal board are one and the same.
#[tokio::test]
async fn the_v1_calls_act_on_the_personal_board() {
    let server = TestServer::start().await;
    let maya = Person::register(&server, "maya").await;
    let id = maya.ok(GET, "/api/me", Value::Null, 200).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    maya.ok(POST, "/api/tasks", json!({"title": "Mine"}), 201)
        .await;
    let tasks = maya
        .ok(GET, &format!("/api/boards/{id}/tasks"), Value::Null, 200)
        .await;
    assert_eq!(tasks["items"][0]["title"], "Mine");
    let list = maya.ok(GET, "/api/boards", Value::Null, 200).await;
    assert_eq!(
        list["items"],
        json!([{"id": id, "name": "My tasks", "role": "owner", "personal": true}])
    );
}

/// `task.clear_done` over HTTP (the fallback carries every change a socket can make):
/// on the personal board and a shared one, where a viewer may not.
#[tokio::test]
async fn clear_done_over_http_removes_only_what_is_done() {
    let server = TestServer::start().await;
    let olga = Person::register(&server, "olga").await;
    let vic = Person::register(&server, "vic").await;
    let none = Value::Null;
    for (title, done) in [("Done", true), ("Open", false)] {
        let task = olga
            .ok(POST, "/api/tasks", json!({"title": title}), 201)
            .await;
        if done {
            let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
            olga.ok(PATCH, &path, json!({"done": true}), 200).await;
        }
    }
    let cleared = olga
        .ok(POST, "/api/tasks/clear-done", none.clone(), 200)
        .await;
    assert_eq!(cleared, json!({"deleted": 1}));
    let left = olga.ok(GET, "/api/tasks", none.clone(), 200).await;
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    assert_eq!(left["items"][0]["title"], "Open");

    let id = Uuid::new_v4();
    olga.ok(POST, "/api/boards", json!({"id": id, "name": "Team"}), 201)
        .await;
    let tasks = format!("/api/boards/{id}/tasks");
    let task = olga.ok(POST, &tasks, json!({"title": "Ship"}), 201).await;
    let path = format!("{tasks}/{}", task["id"].as_str().unwrap());
    olga.ok(PATCH, &path, json!({"done": true}), 200).await;
    olga.ok(
        PUT,
        &format!("/api/boards/{id}/members/vic"),
        json!({"role": "viewer"}),
        200,
    )
    .await;
    let clear = format!("{tasks}/clear-done");
    vic.refused(POST, &clear, none.clone(), 403, "forbidden")
        .await;
    let random = format!("/api/boards/{}/tasks/clear-done", Uuid::new_v4());
    olga.refused(POST, &random, none.clone(), 404, "not_found")
        .await;
    assert_eq!(
        olga.ok(POST, &clear, none.clone(), 200).await,
        json!({"deleted": 1})
    );
    assert_eq!(olga.ok(GET, &tasks, none, 200).await["items"], json!([]));
}

/// One person owns at most 200 boards (My tasks aside), and is told so.
#[tokio::test]
async fn the_201st_board_is_refused_with_the_reason() {
    let server = TestServer::start().await;
    let olga = Person::register(&server, "olga").await;
    for n in 0..200 {
        olga.ok(
            POST,
            "/api/boards",
            json!({"name": format!("Board {n}")}),
            201,
        )
        .await;
    }
    let refused = olga
        .refused(
            POST,
            "/api/boards",
            json!({"name": "One more"}),
            403,
            "forbidden",
        )
        .await;
    assert_eq!(
        refused["error"]["message"],
        "You own 200 boards, the most one person may. Delete one first."
    );
}
