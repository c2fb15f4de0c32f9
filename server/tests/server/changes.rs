//! `GET /api/changes`, the HTTP fallback's long poll.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Signed, TestServer, assert_error};

async fn changes(server: &TestServer, user: &Signed, query: &str) -> reqwest::Response {
    server
        .client()
        .get(&format!("/api/changes?{query}"), Some(&user.token))
        .await
}

async fn changes_json(server: &TestServer, user: &Signed, query: &str) -> Value {
    let answer = changes(server, user, query).await;
    assert_eq!(answer.status(), 200, "{query}");
    answer.json().await.expect("JSON")
}

async fn create(server: &TestServer, user: &Signed, title: &str) -> Value {
    let created = server
        .client()
        .post("/api/tasks", Some(&user.token), json!({ "title": title }))
        .await;
    assert_eq!(created.status(), 201);
    created.json().await.expect("task")
}

/// `owner`'s new board `Trip`, shared with bob as `role`: its id.
async fn trip_shared_with_bob(server: &TestServer, owner: &Signed, role: &str) -> String {
    let board: Value = server
        .client()
        .post("/api/boards", Some(&owner.token), json!({ "name": "Trip" }))
        .await
        .json()
        .await
        .expect("a board");
    let board = board["id"].as_str().expect("id").to_owned();
    let shared = server
        .client()
        .send(
            reqwest::Method::PUT,
            &format!("/api/boards/{board}/members/bob"),
            Some(&owner.token),
            Some(json!({ "role": role })),
        )
        .await;
    assert_eq!(shared.status(), 200);
    board
}

/// The query that asks for what came after `answer`.
fn after(answer: &Value) -> String {
    format!(
        "topic=tasks&since={}:{}",
        answer["epoch"].as_str().expect("epoch"),
        answer["seq"]
    )
}

/// A long poll (`wait=25`) from `user`'s current position, left waiting 300 ms before
/// this returns; it gives back the status, the body and how long the answer took.
async fn wait_for_changes(
    server: &TestServer,
    user: &Signed,
) -> tokio::task::JoinHandle<(u16, Value, Duration)> {
    let start = changes_json(server, user, "topic=tasks").await;
    let query = format!("/api/changes?{}&wait=25", after(&start));
    let client = server.client();
    let token = user.token.clone();
    let waiting = tokio::spawn(async move {
        let asked = Instant::now();
        let answer = client.get(&query, Some(&token)).await;
        let status = answer.status().as_u16();
        let body = answer.json().await.expect("JSON");
        (status, body, asked.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    waiting
}

#[tokio::test]
async fn without_since_the_whole_topic_comes_then_only_what_is_new() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    create(&server, &alice, "first").await;
    let first = changes_json(&server, &alice, "topic=tasks").await;
    assert_eq!(first["topic"], "tasks");
    assert_eq!(first["snapshot"]["items"][0]["title"], "first");
    assert!(first.get("events").is_none(), "{first}");

    let none = changes_json(&server, &alice, &format!("{}&wait=0", after(&first))).await;
    assert_eq!(none["events"], json!([]));
    assert_eq!(none["seq"], first["seq"]);

    create(&server, &alice, "second").await;
    let next = changes_json(&server, &alice, &after(&first)).await;
    assert_eq!(next["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(next["events"][0]["item"]["title"], "second");
    assert_eq!(next["seq"], next["events"][0]["seq"]);

    // Another user's changes are not this user's.
    let bob = server.register("bob").await;
    let bobs = changes_json(&server, &bob, "topic=tasks").await;
    assert_eq!(bobs["snapshot"]["items"], json!([]));
}

#[tokio::test]
async fn a_long_poll_answers_the_moment_a_change_happens() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let waiting = wait_for_changes(&server, &alice).await;
    create(&server, &alice, "while you waited").await;
    let (status, answer, took) = waiting.await.expect("poll");
    assert_eq!(status, 200);
    assert_eq!(answer["events"][0]["item"]["title"], "while you waited");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");

    // With nothing happening, it answers empty when the wait is over.
    let asked = Instant::now();
    let empty = changes_json(&server, &alice, &format!("{}&wait=1", after(&answer))).await;
    assert_eq!(empty["events"], json!([]));
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn many_events_come_a_thousand_at_a_time() {
    let server = TestServer::start_with(|args| args.log_events = 2_000).await;
    let alice = server.register("alice").await;
    let start = changes_json(&server, &alice, "topic=tasks").await;
    for n in 0..1_005 {
        create(&server, &alice, &format!("task {n}")).await;
    }
    let first = changes_json(&server, &alice, &after(&start)).await;
    let events = first["events"].as_array().expect("events");
    assert_eq!(events.len(), 1_000);
    assert_eq!(first["seq"], events[999]["seq"]);
    let rest = changes_json(&server, &alice, &after(&first)).await;
    assert_eq!(rest["events"].as_array().map(Vec::len), Some(5));
    assert_eq!(rest["events"][4]["item"]["title"], "task 1004");
}

#[tokio::test]
async fn a_position_the_log_cannot_serve_gets_the_whole_topic() {
    let server = TestServer::start_with(|args| args.log_events = 1).await;
    let alice = server.register("alice").await;
    let start = changes_json(&server, &alice, "topic=tasks").await;
    for title in ["one", "two", "three"] {
        create(&server, &alice, title).await;
    }
    // Trimmed away, another epoch, or ahead of the log: a snapshot.
    let epoch = start["epoch"].as_str().expect("epoch");
    for since in [
        format!("{epoch}:0"),
        "another:1".to_owned(),
        format!("{epoch}:99"),
    ] {
        let answer = changes_json(&server, &alice, &format!("topic=tasks&since={since}")).await;
        assert_eq!(
            answer["snapshot"]["items"].as_array().map(Vec::len),
            Some(3),
            "{since}"
        );
    }
}

#[tokio::test]
async fn bad_polls_get_clear_errors() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    for query in [
        "topic=tasks&wait=26",
        "topic=tasks&since=nocolon",
        "topic=tasks&since=e:minus",
        "topic=boards-of-someone",
        "since=e:1",
    ] {
        assert_error(changes(&server, &alice, query).await, 400, "bad_request").await;
    }
    assert_error(
        server.client().get("/api/changes?topic=tasks", None).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn shutting_down_answers_waiting_polls() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice").await;
    let waiting = wait_for_changes(&server, &alice).await;
    let stopping = Instant::now();
    server.stop().await;
    assert_eq!(waiting.await.expect("poll").0, 200);
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
}

/// The board list over the long poll: whole without `since` or from a position it has
/// moved past; from where it is, the poll waits, and a board shared with the person
/// meanwhile answers it at once with the new list. A poll that waits out its time gets
/// no events and the same position.
#[tokio::test]
async fn the_board_list_comes_whole_and_a_waiting_poll_wakes_when_a_board_is_shared() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let first = changes_json(&server, &bob, "topic=boards").await;
    let names = |answer: &Value| -> Vec<String> {
        answer["snapshot"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|board| board["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["My tasks"]);
    let since = format!(
        "topic=boards&since={}:{}",
        first["epoch"].as_str().expect("epoch"),
        first["seq"]
    );
    let quiet = changes_json(&server, &bob, &format!("{since}&wait=1")).await;
    assert_eq!(quiet["events"], json!([]), "{quiet}");
    assert_eq!(quiet["seq"], first["seq"]);

    let client = server.client();
    let token = bob.token.clone();
    let query = format!("/api/changes?{since}&wait=25");
    let waiting = tokio::spawn(async move {
        let asked = Instant::now();
        let answer: Value = client
            .get(&query, Some(&token))
            .await
            .json()
            .await
            .expect("JSON");
        (answer, asked.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let board = trip_shared_with_bob(&server, &alice, "viewer").await;
    let (answer, took) = waiting.await.expect("the poll");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_eq!(names(&answer), ["My tasks", "Trip"]);
    assert_eq!(answer["snapshot"]["items"][1]["role"], "viewer");
    assert!(answer["seq"].as_u64() > first["seq"].as_u64(), "{answer}");

    // The board's tasks poll as `board:<id>`, for members only.
    let topic = format!("topic=board:{board}");
    let tasks = changes_json(&server, &bob, &topic).await;
    assert_eq!(tasks["snapshot"]["items"], json!([]), "{tasks}");
    let carol = server.register("carol").await;
    assert_error(changes(&server, &carol, &topic).await, 404, "not_found").await;
}

/// A poll that began while its caller could read the board answers as a call made now
/// would once they cannot: a removed member's waiting poll gets `not_found` the moment
/// the removal is made (not a change written after it), and a poll of a session that has
/// signed out gets `unauthorized` instead of the next change.
#[tokio::test]
async fn a_waiting_poll_ends_with_its_callers_access() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let board = trip_shared_with_bob(&server, &alice, "editor").await;
    let members = format!("/api/boards/{board}/members/bob");
    let topic = format!("topic=board:{board}");
    let start = changes_json(&server, &bob, &topic).await;
    let query = format!(
        "/api/changes?{topic}&since={}:{}&wait=25",
        start["epoch"].as_str().expect("epoch"),
        start["seq"]
    );
    let client = server.client();
    let token = bob.token.clone();
    let waiting = tokio::spawn(async move {
        let asked = Instant::now();
        let answer = client.get(&query, Some(&token)).await;
        (answer, asked.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let removed = server
        .client()
        .send(reqwest::Method::DELETE, &members, Some(&alice.token), None)
        .await;
    assert_eq!(removed.status(), 204);
    let (answer, took) = waiting.await.expect("the poll");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_error(answer, 404, "not_found").await;

    // Bob's second session waits on his own tasks; the first writes after the second has
    // signed out.
    let other = server.login("bob").await;
    let waiting = wait_for_changes(&server, &other).await;
    let out = server
        .client()
        .post("/api/logout", Some(&other.token), json!(null))
        .await;
    assert_eq!(out.status(), 204);
    create(&server, &bob, "after the sign-out").await;
    let (status, body, _) = waiting.await.expect("the poll");
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
}

/// Signing out everywhere answers the person's waiting polls at once (401), on a quiet
/// board and board list alike, instead of leaving them to look live until they time out.
#[tokio::test]
async fn signing_out_everywhere_answers_waiting_polls_at_once() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let other = server.login("bob").await;
    let tasks = wait_for_changes(&server, &other).await;
    let list = changes_json(&server, &other, "topic=boards").await;
    let query = format!(
        "/api/changes?topic=boards&since={}:{}&wait=25",
        list["epoch"].as_str().expect("epoch"),
        list["seq"]
    );
    let client = server.client();
    let token = other.token.clone();
    let boards = tokio::spawn(async move {
        let asked = Instant::now();
        let answer = client.get(&query, Some(&token)).await;
        (answer.status().as_u16(), asked.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = server
        .client()
        .post("/api/logout-all", Some(&bob.token), json!({}))
        .await;
    assert_eq!(out.status(), 204);
    let (status, body, took) = tasks.await.expect("the tasks' poll");
    assert_eq!(status, 401, "{body}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    let (status, took) = boards.await.expect("the board list's poll");
    assert_eq!(status, 401);
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

/// A person may have only so many long polls waiting at once (each is woken by every
/// change and reads the log): one more is refused with 429, a short poll still answers,
/// and a poll that has answered gives its place back.
#[tokio::test]
async fn waiting_polls_are_capped_per_person() {
    let server = TestServer::start_with(|args| args.max_polls_per_user = 2).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let first = wait_for_changes(&server, &alice).await;
    let second = wait_for_changes(&server, &alice).await;
    let start = changes_json(&server, &alice, "topic=tasks").await;
    let one_more = changes(&server, &alice, &format!("{}&wait=25", after(&start))).await;
    assert_error(one_more, 429, "rate_limited").await;
    changes_json(&server, &alice, &format!("{}&wait=0", after(&start))).await;
    let bobs = wait_for_changes(&server, &bob).await;

    create(&server, &alice, "wakes both").await;
    for waiting in [first, second] {
        let (status, body, _) = waiting.await.expect("the poll ran");
        assert_eq!(status, 200, "{body}");
    }
    // Both places came back, and no more than both.
    let again = [
        wait_for_changes(&server, &alice).await,
        wait_for_changes(&server, &alice).await,
    ];
    let start = changes_json(&server, &alice, "topic=tasks").await;
    let one_more = changes(&server, &alice, &format!("{}&wait=25", after(&start))).await;
    assert_error(one_more, 429, "rate_limited").await;
    create(&server, &alice, "answers the next").await;
    for waiting in again {
        let (status, body, _) = waiting.await.expect("the poll ran");
        assert_eq!(status, 200, "{body}");
    }
    create(&server, &bob, "bob's own").await;
    let (status, body, _) = bobs.await.expect("bob's poll ran");
    assert_eq!(status, 200, "{body}");
}
