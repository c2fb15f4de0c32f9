//! Cancel safety: every state-changing call, cut at a spread of moments thousands of
//! times, either happens whole (committed, pushed to every live socket of the user,
//! sockets closed) or not at all, and the server keeps serving.

use std::collections::HashMap;
use std::time::Duration;

use protocol::{Change, Event, Task};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cut::{Cut, RawRequest, Rng, Tally, answer_time, spin};
use crate::support::{Closed, Signed, TestServer, Ws};

/// Cuts of task changes over HTTP, and over the socket.
const HTTP_TASK_CUTS: usize = 1_500;
const SOCKET_TASK_CUTS: usize = 600;
/// Cuts of each account call (they hash passwords or end sessions, so fewer).
const ACCOUNT_CUTS: usize = 40;
/// Cuts of a read (the session check and the task list).
const READ_CUTS: usize = 600;
/// Rounds of a logout racing sockets that authenticate with its session.
const LOGOUT_RACES: usize = 60;
const SOCKETS_PER_RACE: usize = 25;

/// A server whose limits do not get in the way of thousands of quick calls.
async fn roomy_server() -> TestServer {
    TestServer::start_with(|args| {
        args.max_sockets_per_user = 1_000;
        args.login_per_ip = 100_000;
        args.login_per_user = 100_000;
        args.socket_burst = 100_000;
        args.socket_rate = 100_000;
    })
    .await
}

/// A socket that reads everything it is sent, in the background, so that thousands of
/// events never fill its queue; `finish` waits for the event that creates `marker`.
struct Observer {
    snapshot: Value,
    reader: tokio::task::JoinHandle<Vec<Event>>,
    marker: Uuid,
}

impl Observer {
    async fn start(server: &TestServer, token: &str) -> Self {
        let (mut ws, snapshot) = server.subscribed(token).await;
        let marker = Uuid::new_v4();
        let reader = tokio::spawn(async move {
            let mut events = Vec::new();
            loop {
                let frame = ws
                    .recv_within(Duration::from_secs(60))
                    .await
                    .expect("the observer keeps receiving");
                if frame["type"] != "event" {
                    continue;
                }
                let event: Event = serde_json::from_value(frame).expect("an event");
                let done = event.change.task_id() == marker;
                events.push(event);
                if done {
                    return events;
                }
            }
        });
        Self {
            snapshot,
            reader,
            marker,
        }
    }

    /// Creates the marker over HTTP and returns every event up to it: events go out in
    /// `seq` order, so every change committed before the marker has arrived by then.
    async fn finish(self, server: &TestServer, token: &str) -> (Value, Vec<Event>) {
        let created = server
            .client()
            .post(
                "/api/tasks",
                Some(token),
                json!({"id": self.marker, "title": "marker"}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let events = tokio::time::timeout(Duration::from_secs(30), self.reader)
            .await
            .expect("the marker arrives")
            .expect("the reader ran");
        (self.snapshot, events)
    }
}

/// Checks that what the observer saw adds up to what the server stores: every `seq`
/// from the snapshot's to the list's exactly once, and the same tasks.
async fn assert_observer_equals_database(server: &TestServer, token: &str, observer: Observer) {
    let (snapshot, events) = observer.finish(server, token).await;
    let list: Value = server
        .client()
        .get("/api/tasks", Some(token))
        .await
        .json()
        .await
        .expect("the list");
    let start = snapshot["seq"].as_u64().expect("snapshot seq");
    let end = list["seq"].as_u64().expect("list seq");
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    let expected: Vec<u64> = (start + 1..=end).collect();
    assert!(
        seqs == expected,
        "events pushed are not every committed change once: got {} events for seq {}..={}, \
         first gap or repeat after {:?}",
        seqs.len(),
        start + 1,
        end,
        seqs.windows(2).find(|pair| pair[1] != pair[0] + 1)
    );
    let mut seen: HashMap<Uuid, Task> =
        serde_json::from_value::<Vec<Task>>(snapshot["items"].clone())
            .expect("snapshot items")
            .into_iter()
            .map(|task| (task.id, task))
            .collect();
    for event in events {
        match event.change {
            Change::Upsert { item } => {
                seen.insert(item.id, item);
            }
            Change::Patch {
                id,
                version,
                fields,
            } => seen
                .get_mut(&id)
                .expect("a patch of a task the observer has")
                .apply(version, &fields),
            Change::Delete { id } => {
                seen.remove(&id);
            }
        }
    }
    let stored: HashMap<Uuid, Task> = serde_json::from_value::<Vec<Task>>(list["items"].clone())
        .expect("list items")
        .into_iter()
        .map(|task| (task.id, task))
        .collect();
    assert_eq!(
        seen.len(),
        stored.len(),
        "the observer's tasks and the stored ones"
    );
    for (id, task) in &stored {
        assert_eq!(seen.get(id), Some(task), "task {id}");
    }
}

/// A normal call answers, promptly: the writer is not stuck.
async fn assert_writes_work(server: &TestServer, token: &str) {
    let created = tokio::time::timeout(
        Duration::from_secs(8),
        server
            .client()
            .post("/api/tasks", Some(token), json!({"title": "still working"})),
    )
    .await
    .expect("a write answers within 8 s");
    assert_eq!(
        created.status(),
        StatusCode::CREATED,
        "a write after the cuts"
    );
}

/// A task change for HTTP or the socket: (method, id) on tasks chosen from `ids`.
fn draw_change(rng: &mut Rng, ids: &mut Vec<Uuid>, step: usize) -> (&'static str, Value) {
    let pick = |rng: &mut Rng, ids: &[Uuid]| ids[rng.below(ids.len() as u64) as usize];
    match rng.below(10) {
        _ if ids.is_empty() => {
            let id = Uuid::new_v4();
            ids.push(id);
            (
                "task.create",
                json!({"id": id, "title": format!("task {step}")}),
            )
        }
        0..=3 => {
            let id = Uuid::new_v4();
            ids.push(id);
            (
                "task.create",
                json!({"id": id, "title": format!("task {step}")}),
            )
        }
        4..=5 => (
            "task.update",
            json!({"id": pick(rng, ids), "done": rng.chance(50)}),
        ),
        6..=7 => (
            "task.update",
            json!({"id": pick(rng, ids), "title": format!("renamed {step}")}),
        ),
        _ => ("task.delete", json!({"id": pick(rng, ids)})),
    }
}

/// The HTTP form of a socket method call.
fn http_change(server: &TestServer, token: &str, method: &str, params: &Value) -> RawRequest {
    let id = params["id"].as_str().unwrap_or_default();
    let (verb, path, body) = match method {
        "task.create" => ("POST", "/api/tasks".to_owned(), Some(params.clone())),
        "task.update" => {
            let mut patch = params.clone();
            patch.as_object_mut().map(|fields| fields.remove("id"));
            ("PATCH", format!("/api/tasks/{id}"), Some(patch))
        }
        _ => ("DELETE", format!("/api/tasks/{id}"), None),
    };
    RawRequest::new(server.addr, verb, &path, Some(token), None, body.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_changes_cut_at_any_moment_happen_whole_or_not_at_all() {
    let server = roomy_server().await;
    let user = server.register("cutter").await;
    let observer = Observer::start(&server, &user.token).await;
    let mut rng = Rng::from_env("http task changes");
    let probe = RawRequest::new(
        server.addr,
        "POST",
        "/api/tasks",
        Some(&user.token),
        None,
        Some(&json!({"id": Uuid::new_v4(), "title": "probe"})),
    );
    let usual = answer_time(server.addr, &probe).await;
    let mut ids = Vec::new();
    let mut tally = Tally::default();
    for step in 0..HTTP_TASK_CUTS {
        let (method, params) = draw_change(&mut rng, &mut ids, step);
        let request = http_change(&server, &user.token, method, &params);
        let cut = Cut::draw(&mut rng, request.bytes.len(), usual);
        tally.count(cut);
        request.cut(server.addr, cut).await;
        if step % 250 == 249 {
            assert_writes_work(&server, &user.token).await;
        }
    }
    println!("HTTP task changes: {tally} (usual answer {usual:?})");
    assert_writes_work(&server, &user.token).await;
    assert_observer_equals_database(&server, &user.token, observer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_requests_cut_by_a_dropped_socket_happen_whole_or_not_at_all() {
    let server = roomy_server().await;
    let user = server.register("tunnel").await;
    let observer = Observer::start(&server, &user.token).await;
    let mut rng = Rng::from_env("socket task changes");
    let mut timed = server.socket(&user.token).await;
    let started = tokio::time::Instant::now();
    for id in 0..15 {
        timed
            .request(10 + id, "task.create", json!({"title": "probe"}))
            .await;
    }
    let usual = started.elapsed() / 15;
    let mut ids = Vec::new();
    let mut tally = Tally::default();
    for step in 0..SOCKET_TASK_CUTS {
        let (method, params) = draw_change(&mut rng, &mut ids, step);
        // Now and then a whole clear, which deletes many tasks in one transaction.
        let (method, params) = if rng.below(20) == 0 {
            ("task.clear_done", json!({}))
        } else {
            (method, params)
        };
        let mut ws = server.socket(&user.token).await;
        let frame = json!({"type": "request", "id": 5, "method": method, "params": params});
        // A socket cut is always after the request frame is sent: a frame is whole or
        // not received at all.
        let cut = match Cut::draw(&mut rng, 2, usual) {
            Cut::Sending(_) => Cut::After(Duration::ZERO),
            cut => cut,
        };
        tally.count(cut);
        ws.send(frame).await;
        match cut {
            Cut::After(wait) => spin(wait).await,
            _ => {
                let answer = ws.recv().await;
                assert!(matches!(answer["type"].as_str(), Some("result" | "event")));
            }
        }
        ws.reset();
        if step % 200 == 199 {
            assert_writes_work(&server, &user.token).await;
        }
    }
    println!("socket task changes: {tally} (usual answer {usual:?})");
    assert_writes_work(&server, &user.token).await;
    assert_observer_equals_database(&server, &user.token, observer).await;
}

/// Whether the server still takes `signed`'s access token.
async fn token_alive(server: &TestServer, signed: &Signed) -> bool {
    let me = server.client().get("/api/me", Some(&signed.token)).await;
    match me.status() {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("/api/me answered {other}"),
    }
}

/// After a cut logout: a session that ended has no open socket (its socket was closed
/// with `code`), and one that lives keeps its socket working. A cut logout may still be
/// finishing (it runs to its end), so this looks until both agree three times running.
async fn assert_sockets_follow_session(
    server: &TestServer,
    signed: &Signed,
    ws: &mut Ws,
    code: u16,
) {
    let mut agreed = 0;
    while agreed < 3 {
        if !token_alive(server, signed).await {
            let (closed, _) = ws.closed().await;
            assert_eq!(
                closed,
                Closed::Code(code),
                "an ended session's socket closes"
            );
            return;
        }
        ws.try_send(json!({"type": "ping", "id": 99})).await;
        match ws.next_frame().await {
            Some(frame) => assert_eq!(frame["type"], "pong", "{frame}"),
            None => {
                assert!(
                    !token_alive(server, signed).await,
                    "a socket closed while its session lives"
                );
                return;
            }
        }
        agreed += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_calls_cut_at_any_moment_leave_nothing_half_done() {
    let server = roomy_server().await;
    let mut rng = Rng::from_env("account calls");
    let credentials = |name: &str| json!({"username": name, "password": "correct horse"});
    let admin = server.register("root").await;
    taskwire_server::admin::promote(&server.db(), "root")
        .await
        .expect("promote");
    let login = RawRequest::new(
        server.addr,
        "POST",
        "/api/login",
        None,
        None,
        Some(&credentials("root")),
    );
    let slow = answer_time(server.addr, &login).await;
    let quick = answer_time(
        server.addr,
        &RawRequest::new(
            server.addr,
            "GET",
            "/api/me",
            Some(&admin.token),
            None,
            None,
        ),
    )
    .await;
    let mut tally = Tally::default();

    // Register and sign in: afterwards the account either exists whole (it signs in) or
    // not at all (the name is free).
    for step in 0..ACCOUNT_CUTS {
        let name = format!("newcomer{step}");
        let request = RawRequest::new(
            server.addr,
            "POST",
            "/api/register",
            None,
            None,
            Some(&credentials(&name)),
        );
        let cut = Cut::draw(&mut rng, request.bytes.len(), slow);
        tally.count(cut);
        request.cut(server.addr, cut).await;
        let again = server
            .client()
            .post("/api/register", None, credentials(&name))
            .await;
        match again.status() {
            StatusCode::CREATED => {}
            StatusCode::CONFLICT => {
                server.login(&name).await;
            }
            other => panic!("register after a cut register answered {other}"),
        }
        let cut = Cut::draw(&mut rng, login.bytes.len(), slow);
        tally.count(cut);
        login.cut(server.addr, cut).await;
    }

    // Refresh: rotated or not, the browser still holds the cookie it sent, and it still
    // works: a lost answer never ends the session, and its socket stays open.
    for _ in 0..ACCOUNT_CUTS {
        let signed = server.login("root").await;
        let mut ws = server.socket(&signed.token).await;
        let request = RawRequest::new(
            server.addr,
            "POST",
            "/api/refresh",
            None,
            Some(&signed.cookie),
            None,
        );
        let cut = Cut::draw(&mut rng, request.bytes.len(), quick);
        tally.count(cut);
        request.cut(server.addr, cut).await;
        let status = server.client().refresh(&signed.cookie).await.status();
        assert_eq!(status, StatusCode::OK, "refresh after a cut refresh");
        assert!(token_alive(&server, &signed).await);
        assert_sockets_follow_session(&server, &signed, &mut ws, 4401).await;
    }

    // Logout and logout-all, each with a live socket of the session: once the token is
    // refused, the socket is closed; while it is not, the socket works.
    for step in 0..ACCOUNT_CUTS {
        let signed = server.login("root").await;
        let mut ws = server.socket(&signed.token).await;
        let (path, code) = if step % 2 == 0 {
            ("/api/logout", 4401)
        } else {
            ("/api/logout-all", 4409)
        };
        let request = RawRequest::new(server.addr, "POST", path, Some(&signed.token), None, None);
        let cut = Cut::draw(&mut rng, request.bytes.len(), quick);
        tally.count(cut);
        request.cut(server.addr, cut).await;
        assert_sockets_follow_session(&server, &signed, &mut ws, code).await;
    }

    // Login-as and its exit: the acting session's socket closes once it has ended.
    server.register("someone").await;
    for _ in 0..ACCOUNT_CUTS {
        let root = server.login("root").await;
        let request = RawRequest::new(
            server.addr,
            "POST",
            "/api/login-as",
            Some(&root.token),
            None,
            Some(&json!({"username": "someone"})),
        );
        let cut = Cut::draw(&mut rng, request.bytes.len(), quick);
        tally.count(cut);
        request.cut(server.addr, cut).await;
        let acting = Signed::from_response(
            server
                .client()
                .post(
                    "/api/login-as",
                    Some(&root.token),
                    json!({"username": "someone"}),
                )
                .await,
        )
        .await;
        let mut ws = server.socket(&acting.token).await;
        let exit = RawRequest::new(
            server.addr,
            "POST",
            "/api/login-as/exit",
            Some(&acting.token),
            None,
            None,
        );
        let cut = Cut::draw(&mut rng, exit.bytes.len(), quick);
        tally.count(cut);
        exit.cut(server.addr, cut).await;
        assert_sockets_follow_session(&server, &acting, &mut ws, 4401).await;
    }
    println!("account calls: {tally}");

    // Everything still works: a new account, a sign-in, a change.
    let fresh = server.register("afterwards").await;
    server.login("afterwards").await;
    assert_writes_work(&server, &fresh.token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_socket_of_a_session_is_open_once_its_logout_has_answered() {
    let server = roomy_server().await;
    let mut rng = Rng::from_env("logout races");
    server.register("racer").await;
    // The sockets authenticate over a spread twice as long as a logout takes here (a
    // commit synced to the disk: a few ms, more on a loaded machine), so that the logout
    // lands among them.
    let probe = server.login("racer").await;
    let started = std::time::Instant::now();
    let answer = server
        .client()
        .send(Method::POST, "/api/logout", Some(&probe.token), None)
        .await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let spread = u64::try_from((started.elapsed() * 2).as_micros())
        .unwrap_or(u64::MAX)
        .max(3_000);
    let mut amid = 0;
    for round in 0..LOGOUT_RACES {
        let signed = server.login("racer").await;
        let everywhere = round % 2 == 1;
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let mut sockets = Vec::new();
        for _ in 0..SOCKETS_PER_RACE {
            let mut ws = server.connect(true).await;
            let token = signed.token.clone();
            let mut done = done_rx.clone();
            let delay = Duration::from_micros(rng.below(spread));
            sockets.push(tokio::spawn(async move {
                spin(delay).await;
                ws.send(json!({"type": "auth", "id": 1, "token": token}))
                    .await;
                let answer = ws.next_frame().await;
                // An error here is the race's own failure (its sender dropped in a panic),
                // not a logout that answered.
                done.wait_for(|done| *done)
                    .await
                    .expect("the logout answered");
                let admitted = answer.is_some_and(|frame| frame["type"] == "auth_ok");
                if admitted {
                    // The logout has answered: this socket may not change anything.
                    ws.try_send(json!({"type": "request", "id": 2, "method": "task.create",
                                       "params": {"title": "after the logout"}}))
                        .await;
                    let (closed, frames) = ws.closed().await;
                    assert!(
                        frames.iter().all(|frame| frame["type"] != "result"),
                        "a socket wrote after its session's logout: {frames:?}"
                    );
                    assert!(matches!(closed, Closed::Code(4401 | 4409)), "{closed:?}");
                }
                admitted
            }));
        }
        // The logout lands somewhere among the authentications.
        spin(Duration::from_micros(rng.below(spread))).await;
        let path = if everywhere {
            "/api/logout-all"
        } else {
            "/api/logout"
        };
        let answer = server
            .client()
            .send(Method::POST, path, Some(&signed.token), None)
            .await;
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        done_tx.send(true).expect("sockets wait");
        let mut admitted = 0;
        for socket in sockets {
            admitted += usize::from(socket.await.expect("socket check"));
        }
        if admitted > 0 && admitted < SOCKETS_PER_RACE {
            amid += 1;
        }
    }
    println!(
        "logout races: {amid} of {LOGOUT_RACES} logouts landed amid the authentications, spread over {spread} us"
    );
    assert!(
        amid > 0,
        "no logout landed amid the authentications: the race was not run"
    );
    let list = server.login("racer").await;
    let tasks: Value = server
        .client()
        .get("/api/tasks", Some(&list.token))
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(tasks["items"], json!([]), "no socket wrote after a logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_cut_at_any_moment_leave_no_reader_behind() {
    let server = roomy_server().await;
    let mut rng = Rng::from_env("reads");
    let user = server.register("reader").await;
    let list = RawRequest::new(
        server.addr,
        "GET",
        "/api/tasks",
        Some(&user.token),
        None,
        None,
    );
    let usual = answer_time(server.addr, &list).await;
    let mut tally = Tally::default();
    for _ in 0..READ_CUTS {
        let cut = Cut::draw(&mut rng, list.bytes.len(), usual);
        tally.count(cut);
        list.cut(server.addr, cut).await;
    }
    println!("reads: {tally} (usual answer {usual:?})");
    // A reader left inside a transaction would keep its old snapshot, in which the
    // session outlives its logout (a dropped transaction rolls back before its
    // connection is used again: `db::SqliteTx`).
    let logout = server
        .client()
        .send(Method::POST, "/api/logout", Some(&user.token), None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    for _ in 0..12 {
        assert!(
            !token_alive(&server, &user).await,
            "a token still works after its logout"
        );
    }
}

#[tokio::test]
async fn frames_over_64_kib_close_with_1009_whatever_their_size() {
    let server = TestServer::start().await;
    let user = server.register("big").await;
    for size in [70 * 1024, 1024 * 1024, 8 * 1024 * 1024] {
        for _ in 0..3 {
            let mut ws = server.socket(&user.token).await;
            let frame = format!(
                "{{\"type\":\"ping\",\"id\":1,\"pad\":\"{}\"}}",
                "x".repeat(size)
            );
            ws.send_raw(tokio_tungstenite::tungstenite::Message::text(frame))
                .await;
            let (closed, frames) = ws.closed().await;
            assert_eq!(
                closed,
                Closed::Code(1009),
                "a {size}-byte frame: {frames:?}"
            );
        }
    }
    // Before auth too.
    let mut ws = server.connect(true).await;
    ws.send_raw(tokio_tungstenite::tungstenite::Message::text(
        "x".repeat(1024 * 1024),
    ))
    .await;
    assert_eq!(ws.closed().await.0, Closed::Code(1009));
}
