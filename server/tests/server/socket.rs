//! The socket: auth, subscribe, requests, events, replay and the closes the server sends.

use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::support::{Closed, TestServer, cookie_value, set_cookie};

#[tokio::test]
async fn auth_ping_and_subprotocol() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let mut ws = server.connect(true).await;
    assert_eq!(ws.protocol.as_deref(), Some("taskwire.v1"));
    ws.send(json!({"type": "auth", "id": 7, "token": alice.token}))
        .await;
    let ok = ws.recv().await;
    assert_eq!(ok["id"], 7);
    assert_eq!(ok["user"], alice.body["user"]);
    assert_eq!(ok["expires_at"], alice.body["expires_at"]);
    assert_eq!(ok["heartbeat_ms"], 25000);
    ws.send(json!({"type": "ping", "id": 8})).await;
    assert_eq!(ws.recv().await, json!({"type": "pong", "id": 8}));

    // A close from the client is answered with the same code.
    futures_util::SinkExt::close(&mut ws.stream).await.unwrap();
    let echo = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::StreamExt::next(&mut ws.stream),
    )
    .await;
    assert!(
        matches!(
            echo,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))))
        ),
        "{echo:?}"
    );

    // A client that offers no subprotocol is served too.
    let mut plain = server.connect(false).await;
    assert_eq!(plain.protocol, None);
    plain
        .send(json!({"type": "auth", "id": 1, "token": alice.token}))
        .await;
    assert_eq!(plain.recv().await["type"], "auth_ok");
}

#[tokio::test]
async fn every_method_answers_and_every_socket_of_the_user_gets_the_events() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (mut one, snapshot) = server.subscribed(&alice.token).await;
    let (mut two, _) = server.subscribed(&alice.token).await;
    assert_eq!(snapshot["seq"], 0);
    assert_eq!(snapshot["items"], json!([]));
    let epoch = snapshot["epoch"].clone();

    let id = Uuid::new_v4();
    let (result, events) = one
        .request(3, "task.create", json!({"id": id, "title": " Buy milk "}))
        .await;
    let task = result["ok"]["task"].clone();
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(events.len(), 1, "the event comes before the result");
    assert_eq!(
        events[0],
        json!({"type": "event", "topic": "tasks", "epoch": epoch, "seq": 1, "op": "upsert", "item": task})
    );
    assert_eq!(two.recv().await, events[0]);

    let (again, events) = one
        .request(4, "task.create", json!({"id": id, "title": "Other"}))
        .await;
    assert_eq!(again["ok"]["task"], task, "idempotent");
    assert!(events.is_empty());

    let (result, events) = one
        .request(5, "task.update", json!({"id": id, "done": true}))
        .await;
    let updated = result["ok"]["task"].clone();
    assert_eq!(updated["version"], 2);
    let patch = &events[0];
    assert_eq!(patch["op"], "patch");
    assert_eq!(patch["seq"], 2);
    assert_eq!(patch["version"], 2);
    assert_eq!(
        patch["fields"],
        json!({"done": true, "updated_at": updated["updated_at"]}),
        "only what changed"
    );
    assert_eq!(two.recv().await, *patch);

    // A change over HTTP reaches both sockets, the same frame to each.
    let client = server.client();
    let over_http: Value = client
        .post(
            "/api/tasks",
            Some(&alice.token),
            json!({"title": "From HTTP"}),
        )
        .await
        .json()
        .await
        .unwrap();
    for ws in [&mut one, &mut two] {
        let event = ws.recv().await;
        assert_eq!(
            (event["seq"].clone(), event["item"].clone()),
            (json!(3), over_http.clone())
        );
    }
    let path = format!("/api/tasks/{}", over_http["id"].as_str().unwrap());
    client
        .send(
            Method::PATCH,
            &path,
            Some(&alice.token),
            Some(json!({"title": "Renamed"})),
        )
        .await;
    let event = two.recv().await;
    assert_eq!(event["fields"]["title"], "Renamed");
    assert!(event["fields"].get("done").is_none());
    assert_eq!(one.recv().await, event);

    let (cleared, events) = one.request(6, "task.clear_done", json!({})).await;
    assert_eq!(cleared["ok"], json!({"deleted": 1}));
    assert_eq!(
        events,
        [
            json!({"type": "event", "topic": "tasks", "epoch": epoch, "seq": 5, "op": "delete", "id": id})
        ]
    );
    assert_eq!(two.recv().await, events[0]);

    let (deleted, _) = one
        .request(7, "task.delete", json!({"id": over_http["id"]}))
        .await;
    assert_eq!(deleted["ok"], json!({}));
    assert_eq!(two.recv().await["seq"], 6);
    let (missing, events) = one.request(8, "task.delete", json!({"id": id})).await;
    assert_eq!(missing["error"]["code"], "not_found");
    assert!(events.is_empty());
    let (refused, _) = one
        .request(9, "task.create", json!({"title": "bell\u{7}"}))
        .await;
    assert_eq!(refused["error"]["code"], "bad_request");
    let (refused, _) = one
        .request(
            10,
            "task.update",
            json!({"id": Uuid::new_v4(), "title": ""}),
        )
        .await;
    assert_eq!(refused["error"]["code"], "bad_request");

    // After unsubscribe, no more events.
    two.send(json!({"type": "unsubscribe", "id": 3, "topic": "tasks"}))
        .await;
    assert_eq!(
        two.recv().await,
        json!({"type": "result", "id": 3, "ok": {}})
    );
    one.request(11, "task.create", json!({"title": "Unseen by two"}))
        .await;
    two.send(json!({"type": "ping", "id": 4})).await;
    assert_eq!(two.recv().await, json!({"type": "pong", "id": 4}));
}

#[tokio::test]
async fn two_users_never_see_each_others_events() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut bobs, _) = server.subscribed(&bob.token).await;
    let (mut alices, _) = server.subscribed(&alice.token).await;
    let (created, _) = alices
        .request(3, "task.create", json!({"title": "Secret"}))
        .await;
    let id = created["ok"]["task"]["id"].clone();
    let (result, _) = bobs
        .request(3, "task.update", json!({"id": id, "done": true}))
        .await;
    assert_eq!(result["error"]["code"], "not_found");
    let (result, _) = bobs.request(4, "task.delete", json!({"id": id})).await;
    assert_eq!(result["error"]["code"], "not_found");
    bobs.send(json!({"type": "ping", "id": 5})).await;
    assert_eq!(
        bobs.recv().await["type"],
        "pong",
        "no event of alice's before it"
    );
}

#[tokio::test]
async fn resubscribing_replays_what_was_missed_or_sends_a_snapshot() {
    let server = TestServer::start_with(|args| args.log_events = 3).await;
    let alice = server.register("alice").await;
    let client = server.client();
    let (_ws, snapshot) = server.subscribed(&alice.token).await;
    let epoch = snapshot["epoch"].as_str().unwrap().to_owned();
    for title in ["one", "two"] {
        client
            .post("/api/tasks", Some(&alice.token), json!({"title": title}))
            .await;
    }
    let subscribe =
        |since: Value| json!({"type": "subscribe", "id": 5, "topic": "tasks", "since": since});

    let mut ws = server.socket(&alice.token).await;
    ws.send(subscribe(json!({"epoch": epoch, "seq": 0}))).await;
    let replay = ws.recv().await;
    assert_eq!(replay["type"], "replay", "{replay}");
    assert_eq!(
        (replay["id"].clone(), replay["seq"].clone()),
        (json!(5), json!(2))
    );
    let seqs: Vec<u64> = replay["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(replay["events"][1]["item"]["title"], "two");

    // Up to date: an empty replay.
    ws.send(subscribe(json!({"epoch": epoch, "seq": 2}))).await;
    let replay = ws.recv().await;
    assert_eq!(
        (replay["type"].clone(), replay["events"].clone()),
        (json!("replay"), json!([]))
    );
    // Live events continue after it.
    client
        .post("/api/tasks", Some(&alice.token), json!({"title": "three"}))
        .await;
    assert_eq!(ws.recv().await["seq"], 3);

    // Another epoch, or a seq from the future: snapshot.
    for since in [
        json!({"epoch": "other", "seq": 1}),
        json!({"epoch": epoch, "seq": 99}),
    ] {
        ws.send(subscribe(since)).await;
        let answer = ws.recv().await;
        assert_eq!(answer["type"], "snapshot", "{answer}");
        assert_eq!(answer["seq"], 3);
        assert_eq!(answer["items"].as_array().map(Vec::len), Some(3));
    }

    // The log keeps 3 events (trimmed every 3rd change): after 3 more, 1 to 3 are gone.
    for title in ["four", "five", "six"] {
        client
            .post("/api/tasks", Some(&alice.token), json!({"title": title}))
            .await;
    }
    for seq in 4..=6 {
        assert_eq!(ws.recv().await["seq"], seq);
    }
    let mut late = server.socket(&alice.token).await;
    late.send(subscribe(json!({"epoch": epoch, "seq": 2})))
        .await;
    assert_eq!(late.recv().await["type"], "snapshot");
    late.send(subscribe(json!({"epoch": epoch, "seq": 3})))
        .await;
    let replay = late.recv().await;
    assert_eq!(replay["type"], "replay");
    assert_eq!(replay["events"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_log_reset_changes_the_epoch_and_replay_survives_a_restart() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (_ws, snapshot) = server.subscribed(&alice.token).await;
    let epoch = snapshot["epoch"].as_str().unwrap().to_owned();
    server
        .client()
        .post("/api/tasks", Some(&alice.token), json!({"title": "kept"}))
        .await;
    server.restart().await;

    let subscribe = json!({"type": "subscribe", "id": 2, "topic": "tasks", "since": {"epoch": epoch, "seq": 0}});
    let mut ws = server.socket(&alice.token).await;
    ws.send(subscribe.clone()).await;
    let replay = ws.recv().await;
    assert_eq!(replay["type"], "replay", "the log is in the database");
    assert_eq!(replay["events"][0]["item"]["title"], "kept");
    drop(ws);

    server.stop().await;
    let new_epoch = taskwire_server::admin::reset_log(&server.db())
        .await
        .unwrap();
    assert_ne!(new_epoch, epoch);
    server.restart().await;
    let mut ws = server.socket(&alice.token).await;
    ws.send(subscribe).await;
    let snapshot = ws.recv().await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["epoch"], new_epoch.as_str());
    assert_eq!(snapshot["seq"], 0);
    assert_eq!(snapshot["items"][0]["title"], "kept");
    let (_, events) = ws
        .request(3, "task.create", json!({"title": "after"}))
        .await;
    assert_eq!(
        (events[0]["epoch"].clone(), events[0]["seq"].clone()),
        (json!(new_epoch), json!(1))
    );
}

#[tokio::test]
async fn reauth_swaps_the_token_and_keeps_the_subscription() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.subscribed(&alice.token).await;
    let refreshed: Value = server
        .client()
        .refresh(&alice.cookie)
        .await
        .json()
        .await
        .unwrap();
    ws.send(json!({"type": "auth", "id": 9, "token": refreshed["token"]}))
        .await;
    let ok = ws.recv().await;
    assert_eq!(
        (ok["type"].clone(), ok["id"].clone()),
        (json!("auth_ok"), json!(9))
    );
    server
        .client()
        .post(
            "/api/tasks",
            Some(&alice.token),
            json!({"title": "still live"}),
        )
        .await;
    assert_eq!(ws.recv().await["item"]["title"], "still live");

    // A token of another user is refused and ends the socket.
    let bob = server.register("bob").await;
    ws.send(json!({"type": "auth", "id": 10, "token": bob.token}))
        .await;
    let error = ws.expect_close(4401).await.unwrap();
    assert_eq!(
        (error["type"].clone(), error["id"].clone()),
        (json!("error"), json!(10))
    );
}

/// A token's `exp` is in whole seconds, so a 3-second token lives 2 to 3 s: long
/// enough to open the socket on a loaded machine (a 1-second one once was not).
#[tokio::test]
async fn an_expired_token_closes_the_socket_with_4401() {
    let server = TestServer::start_with(|args| args.access_ttl_secs = 3).await;
    let alice = server.register("alice").await;
    let mut ws = server.socket(&alice.token).await;
    let started = std::time::Instant::now();
    ws.expect_close(4401).await;
    assert!(started.elapsed() <= Duration::from_secs(5));
}

/// A peer that floods pings keeps the server's read side from ever running dry; its
/// token's expiry still closes the socket, and the creates it slips in after the expiry
/// are never run. The frames are written as raw bytes (masked with a zero key), far
/// faster than a WebSocket client would frame them one by one, from a thread of the
/// test's own beside the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_pings_does_not_keep_an_expired_token_alive() {
    let server = TestServer::start_with(|args| args.access_ttl_secs = 3).await;
    let alice = server.register("alice").await;
    let mut ws = server.socket(&alice.token).await;
    let instant = |text: &Value| {
        protocol::time::parse_rfc3339(text.as_str().expect("a timestamp")).expect("RFC 3339")
    };
    // A token is good through the last second of its `exp`, over HTTP as on the socket.
    let mut good_until = instant(&alice.body["expires_at"]);
    good_until.secs += 1;
    let pings: Vec<u8> = [0x89, 0x80, 0, 0, 0, 0].repeat(20_000);
    let started = std::time::Instant::now();
    let mut next_create = started;
    let mut closed = None;
    'flood: for id in 10u64.. {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the socket closes while pings keep coming"
        );
        let mut bytes = pings.clone();
        if std::time::Instant::now() >= next_create {
            // Four creates a second, within the frame rate limit (pings pass it).
            next_create += Duration::from_millis(250);
            let create = json!({"type": "request", "id": id, "method": "task.create",
                "params": {"title": format!("create {id}")}})
            .to_string();
            let length = u8::try_from(create.len()).expect("a short frame");
            assert!(length < 126);
            bytes.extend([0x81, 0x80 | length, 0, 0, 0, 0]);
            bytes.extend(create.as_bytes());
        }
        if ws.stream.get_mut().write_all(&bytes).await.is_err() {
            break;
        }
        while let Some(next) = ws.stream.next().now_or_never() {
            match next {
                Some(Ok(Message::Close(frame))) => {
                    closed = frame.map(|frame| u16::from(frame.code));
                    break 'flood;
                }
                Some(Ok(_)) => {}
                _ => break 'flood,
            }
        }
    }
    assert_eq!(closed, Some(4401));
    let fresh = server.login("alice").await;
    let tasks: Value = server
        .client()
        .get("/api/tasks", Some(&fresh.token))
        .await
        .json()
        .await
        .expect("tasks");
    let items = tasks["items"].as_array().expect("items");
    assert!(!items.is_empty(), "creates before the expiry ran");
    for task in items {
        assert!(
            instant(&task["created_at"]) < good_until,
            "created after the token expired: {task}"
        );
    }
}

#[tokio::test]
async fn logout_closes_that_sessions_sockets_and_logout_all_every_socket() {
    let server = TestServer::start().await;
    let client = server.client();
    let one = server.register("alice").await;
    let two = server.login("alice").await;
    let mut first = server.socket(&one.token).await;
    let mut second = server.socket(&two.token).await;
    let mut third = server.socket(&two.token).await;
    client
        .post("/api/logout", Some(&one.token), json!(null))
        .await;
    first.expect_close(4401).await;
    second.send(json!({"type": "ping", "id": 2})).await;
    assert_eq!(second.recv().await["type"], "pong", "other sessions stay");

    client
        .post("/api/logout-all", Some(&two.token), json!(null))
        .await;
    second.expect_close(4409).await;
    third.expect_close(4409).await;

    // A revoked session's token no longer opens a socket.
    let mut again = server.connect(true).await;
    again
        .send(json!({"type": "auth", "id": 1, "token": two.token}))
        .await;
    let error = again.expect_close(4401).await.unwrap();
    assert_eq!(error["code"], "unauthorized");
}

#[tokio::test]
async fn a_reused_refresh_token_closes_the_sessions_sockets() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let mut ws = server.socket(&alice.token).await;
    let client = server.client();
    let rotated = client.refresh(&alice.cookie).await;
    assert_eq!(rotated.status(), 200);
    let second = cookie_value(&set_cookie(rotated.headers()).unwrap());
    assert_eq!(client.refresh(&second).await.status(), 200);
    // Two rotations old: not an answer lost a moment ago, but a copy.
    assert_eq!(client.refresh(&alice.cookie).await.status(), 401);
    ws.expect_close(4401).await;
}

#[tokio::test]
async fn too_many_sockets_for_one_user_get_4429() {
    let server = TestServer::start_with(|args| args.max_sockets_per_user = 2).await;
    let alice = server.register("alice").await;
    let _one = server.socket(&alice.token).await;
    let _two = server.socket(&alice.token).await;
    let mut three = server.connect(true).await;
    three
        .send(json!({"type": "auth", "id": 1, "token": alice.token}))
        .await;
    let error = three.expect_close(4429).await.unwrap();
    assert_eq!(error["code"], "rate_limited");
    // Another user is not affected.
    let bob = server.register("bob").await;
    server.socket(&bob.token).await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_and_data_and_sessions_survive_a_restart() {
    let mut server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.subscribed(&alice.token).await;
    let mut waiting = server.connect(true).await;
    let (created, _) = ws
        .request(3, "task.create", json!({"title": "durable"}))
        .await;
    let stop = tokio::spawn({
        let server = server.server.take();
        async move {
            if let Some(server) = server {
                server.shutdown().await;
            }
        }
    });
    ws.expect_close(1001).await;
    waiting.expect_close(1001).await;
    stop.await.unwrap();

    server.restart().await;
    let client = server.client();
    let me = client.get("/api/me", Some(&alice.token)).await;
    assert_eq!(
        me.status(),
        200,
        "the signing secret is kept in the database"
    );
    let refreshed = client.refresh(&alice.cookie).await;
    assert_eq!(refreshed.status(), 200, "the session is kept");
    let list: Value = client
        .get("/api/tasks", Some(&alice.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([created["ok"]["task"]]));
    assert_eq!(list["seq"], 1);
    let (_ws, snapshot) = server.subscribed(&alice.token).await;
    assert_eq!(snapshot["items"], list["items"]);
    let mut closed = server.connect(true).await;
    closed
        .send(json!({"type": "auth", "id": 1, "token": "x"}))
        .await;
    assert_eq!(closed.closed().await.0, Closed::Code(4401));
}

/// A board of thousands of tasks opens: its snapshot, one frame well over a megabyte,
/// arrives whole rather than overflowing the socket's write buffer.
#[tokio::test]
async fn a_snapshot_over_a_megabyte_arrives_whole() {
    const TASKS: usize = 1_400;
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let client = server.client();
    // 200 four-byte characters: the longest title there is, and as many bytes as it gets.
    let title = "\u{1F4CC}".repeat(200);
    for _ in 0..TASKS {
        let response = client
            .post("/api/tasks", Some(&alice.token), json!({"title": title}))
            .await;
        assert_eq!(response.status(), 201);
    }
    let (_ws, snapshot) = server.subscribed(&alice.token).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["items"].as_array().map(Vec::len), Some(TASKS));
    assert!(snapshot.to_string().len() > 1024 * 1024);
}
