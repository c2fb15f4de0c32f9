//! Three server nodes on one PostgreSQL database, on loopback: what one node does, the
//! others' sockets see, in order, through a killed listener, a restarted database and a
//! node killed outright. Needs PostgreSQL: `cargo xtask test` runs this beside a
//! throwaway cluster (`TASKWIRE_TEST_PG`); it is not part of a plain `cargo test`.

// A test that unwraps says "this must hold" and fails with the cause when it does not.
#![allow(clippy::unwrap_used)]

#[path = "../server/support.rs"]
#[allow(
    dead_code,
    reason = "the server suite's helpers, of which this uses some"
)]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use taskwire_server::DbTarget;

use support::{Closed, TestServer, Ws, connect_at, fresh_postgres_database};

const SECRET: &str = "a cluster secret, the same on every node, 48 bytes";

/// Held for reading by every test, and for writing by the one that restarts PostgreSQL:
/// the tests run side by side, and a restart ends every connection to the server.
static POSTGRES: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn postgres_server() -> String {
    std::env::var("TASKWIRE_TEST_PG")
        .expect("TASKWIRE_TEST_PG names a PostgreSQL server: run this through `cargo xtask test`")
}

/// `count` nodes on one fresh database.
async fn nodes(count: usize) -> (DbTarget, Vec<TestServer>) {
    let db = fresh_postgres_database(&postgres_server()).await;
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        let db = db.clone();
        nodes.push(
            TestServer::start_with(move |args| {
                args.db = db;
                args.jwt_secret = Some(SECRET.into());
            })
            .await,
        );
    }
    (db, nodes)
}

/// A new board `Launch` of the owner's, shared with `member` as `role`; its id.
async fn shared_board(node: &TestServer, owner: &str, member: &str, role: &str) -> String {
    let board: Value = node
        .client()
        .post("/api/boards", Some(owner), json!({"name": "Launch"}))
        .await
        .json()
        .await
        .unwrap();
    let id = board["id"].as_str().unwrap().to_owned();
    let shared = node
        .client()
        .send(
            Method::PUT,
            &format!("/api/boards/{id}/members/{member}"),
            Some(owner),
            Some(json!({ "role": role })),
        )
        .await;
    assert!(shared.status().is_success());
    id
}

/// A socket on `node` as `token`, subscribed to board `id` (its snapshot read).
async fn on_board(node: &TestServer, token: &str, id: &str) -> Ws {
    let mut ws = node.socket_v2(token).await;
    ws.send(json!({"type": "subscribe", "id": 2, "topic": format!("board:{id}")}))
        .await;
    assert_eq!(ws.recv().await["type"], "snapshot");
    ws
}

/// The owner removes bob from board `id` through `node`.
async fn remove_bob(node: &TestServer, owner: &str, id: &str) {
    let member = format!("/api/boards/{id}/members/bob");
    let removed = node
        .client()
        .send(Method::DELETE, &member, Some(owner), None)
        .await;
    assert!(removed.status().is_success());
}

/// A socket subscribed to `tasks` as `token` on each node.
async fn subscribed_on_each(nodes: &[TestServer], token: &str) -> Vec<Ws> {
    let mut sockets = Vec::with_capacity(nodes.len());
    for node in nodes {
        sockets.push(node.subscribed(token).await.0);
    }
    sockets
}

/// A `tasks` event's `seq`, skipping presence frames.
async fn next_seq(ws: &mut Ws) -> u64 {
    loop {
        let frame = ws.recv().await;
        if frame["type"] == "event" {
            return frame["seq"].as_u64().unwrap();
        }
    }
}

async fn create(node: &TestServer, token: &str, title: &str) -> reqwest::StatusCode {
    node.client()
        .post("/api/tasks", Some(token), json!({ "title": title }))
        .await
        .status()
}

#[tokio::test]
async fn a_write_on_one_node_reaches_sockets_on_every_node() {
    let _shared = POSTGRES.read().await;
    let (_, nodes) = nodes(3).await;
    let alice = nodes[0].register("alice").await;
    let mut sockets = subscribed_on_each(&nodes, &alice.token).await;
    for (n, writer) in nodes.iter().enumerate() {
        assert!(
            create(writer, &alice.token, &format!("from node {n}"))
                .await
                .is_success()
        );
        for socket in &mut sockets {
            assert_eq!(next_seq(socket).await, n as u64 + 1);
        }
    }
}

#[tokio::test]
async fn concurrent_writes_on_every_node_are_contiguous_everywhere() {
    let _shared = POSTGRES.read().await;
    let (_, nodes) = nodes(3).await;
    let alice = nodes[0].register("alice").await;
    let mut sockets = subscribed_on_each(&nodes, &alice.token).await;
    const EACH: usize = 40;
    let writers = nodes.iter().enumerate().map(|(n, node)| {
        let token = alice.token.clone();
        async move {
            for i in 0..EACH {
                assert!(create(node, &token, &format!("{n}.{i}")).await.is_success());
            }
        }
    });
    futures_util::future::join_all(writers).await;
    for socket in &mut sockets {
        for seq in 1..=(3 * EACH) as u64 {
            assert_eq!(next_seq(socket).await, seq);
        }
    }
    let list: Value = nodes[2]
        .client()
        .get("/api/tasks", Some(&alice.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3 * EACH);
    assert_eq!(list["seq"], 3 * EACH);
}

/// Ends every listening connection (each node's `LISTEN`), as a network fault would.
async fn kill_listeners(db: &DbTarget) -> usize {
    let DbTarget::Postgres(url) = db else {
        unreachable!("the nodes run on PostgreSQL")
    };
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    killed.len()
}

#[tokio::test]
async fn a_killed_listener_loses_nothing() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(3).await;
    let alice = nodes[0].register("alice").await;
    let (mut far, _) = nodes[1].subscribed(&alice.token).await;
    let (mut farther, _) = nodes[2].subscribed(&alice.token).await;
    const WRITES: u64 = 60;
    for i in 1..=WRITES {
        if i == WRITES / 2 {
            assert_eq!(kill_listeners(&db).await, 3, "every node was listening");
        }
        assert!(
            create(&nodes[0], &alice.token, &format!("{i}"))
                .await
                .is_success()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for socket in [&mut far, &mut farther] {
        for seq in 1..=WRITES {
            assert_eq!(next_seq(socket).await, seq);
        }
    }
}

#[tokio::test]
async fn postgres_restarted_mid_traffic_the_nodes_recover_by_themselves() {
    let _alone = POSTGRES.write().await;
    let (_, nodes) = nodes(3).await;
    let alice = nodes[0].register("alice").await;
    let mut sockets = subscribed_on_each(&nodes, &alice.token).await;
    let restart = tokio::task::spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(300));
        restart_postgres();
    });
    // Writes go on through the restart, through every node in turn; those refused
    // while it was down are not made.
    let mut made = 0;
    let mut tries = 0;
    let until = Instant::now() + Duration::from_secs(30);
    while made < 60 && Instant::now() < until {
        let writer = &nodes[tries % nodes.len()];
        tries += 1;
        if create(writer, &alice.token, &format!("{made}"))
            .await
            .is_success()
        {
            made += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    restart.await.unwrap();
    assert_eq!(
        made, 60,
        "writes work again on every node after the restart"
    );
    for socket in &mut sockets {
        for seq in 1..=made {
            assert_eq!(next_seq(socket).await, seq);
        }
    }
}

/// Restarts the cluster `pg_virtualenv` made (its name is `regress`).
fn restart_postgres() {
    let version = std::env::var("PGVERSION").expect("PGVERSION, set by pg_virtualenv");
    let status = Command::new("pg_ctlcluster")
        .args([&version, "regress", "restart", "--mode", "fast"])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "the cluster restarts");
}

/// A node as its own process, to be killed with SIGKILL.
struct ChildNode {
    child: Child,
    base: String,
}

impl ChildNode {
    fn start(db: &DbTarget) -> Self {
        let DbTarget::Postgres(url) = db else {
            unreachable!("the nodes run on PostgreSQL")
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskwire-server"))
            .args(["--addr", "127.0.0.1:0", "--db", url, "--jwt-secret", SECRET])
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let base = line
            .trim()
            .strip_prefix("Taskwire is running at http://")
            .and_then(|addr| addr.strip_suffix('/'))
            .unwrap()
            .to_owned();
        Self { child, base }
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_node_killed_outright_its_clients_resume_on_another_with_nothing_lost() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(2).await;
    let owner = nodes[0].register("olga").await;
    let bob = nodes[0].register("bob").await;
    let id = shared_board(&nodes[0], &owner.token, "bob", "editor").await;
    let topic = format!("board:{id}");
    let doomed = ChildNode::start(&db);
    let mut bobs = connect_at(&doomed.base, Some("taskwire.v2")).await;
    bobs.send(json!({"type": "auth", "id": 1, "token": bob.token}))
        .await;
    assert_eq!(bobs.recv().await["type"], "auth_ok");
    bobs.send(json!({"type": "subscribe", "id": 2, "topic": topic}))
        .await;
    let snapshot = bobs.recv().await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    let epoch = snapshot["epoch"].clone();
    // Olga, on the surviving node, sees Bob there through the other node.
    let mut olgas = nodes[0].socket_v2(&owner.token).await;
    olgas
        .send(json!({"type": "subscribe", "id": 2, "topic": topic}))
        .await;
    assert_eq!(olgas.recv().await["type"], "snapshot");
    until_present(&mut olgas, &["bob", "olga"]).await;

    let write = |n: u64| {
        let client = nodes[0].client();
        let token = owner.token.clone();
        let path = format!("/api/boards/{id}/tasks");
        async move {
            let made = client
                .post(&path, Some(&token), json!({ "title": format!("task {n}") }))
                .await;
            assert!(made.status().is_success());
        }
    };
    for n in 1..=5 {
        write(n).await;
        assert_eq!(next_seq(&mut bobs).await, n);
    }
    drop(doomed);
    for n in 6..=10 {
        write(n).await;
    }
    // Bob's app reconnects to the other node and resumes where it was.
    let mut back = nodes[0].socket_v2(&bob.token).await;
    back.send(
        json!({"type": "subscribe", "id": 2, "topic": topic, "since": {"epoch": epoch, "seq": 5}}),
    )
    .await;
    let replay = back.recv().await;
    assert_eq!(replay["type"], "replay", "{replay}");
    let seqs: Vec<u64> = replay["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [6, 7, 8, 9, 10]);
    // The killed node's Bob left Olga's presence within seconds; the new one is there.
    drop(back);
    until_present(&mut olgas, &["olga"]).await;
}

/// Waits (up to 15 s) for a presence frame naming exactly `names`.
async fn until_present(ws: &mut Ws, names: &[&str]) {
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        let Some(frame) = ws.recv_within(until - Instant::now()).await else {
            break;
        };
        if frame["type"] == "presence" {
            let users: Vec<&str> = frame["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| user["username"].as_str().unwrap())
                .collect();
            if users == names {
                return;
            }
        }
    }
    panic!("presence never became {names:?}");
}

#[tokio::test]
async fn sign_out_everywhere_and_removal_act_on_the_other_nodes() {
    let _shared = POSTGRES.read().await;
    let (_, nodes) = nodes(3).await;
    let owner = nodes[0].register("olga").await;
    let bob = nodes[0].register("bob").await;
    let id = shared_board(&nodes[0], &owner.token, "bob", "viewer").await;
    let mut bobs = on_board(&nodes[1], &bob.token, &id).await;
    bobs.send(json!({"type": "subscribe", "id": 3, "topic": "boards"}))
        .await;
    while bobs.recv().await["id"] != 3 {}
    remove_bob(&nodes[0], &owner.token, &id).await;
    // `unsubscribed` first, then the board list's `delete`, on this node as on the
    // writer's: the app names the board it lost from its list.
    loop {
        let frame = bobs.recv().await;
        assert!(frame["topic"] != "boards", "before unsubscribed: {frame}");
        if frame["type"] == "unsubscribed" {
            assert_eq!(frame["reason"], "removed");
            break;
        }
    }
    loop {
        let frame = bobs.recv().await;
        if frame["topic"] == "boards" {
            assert_eq!(
                (&frame["type"], &frame["op"]),
                (&json!("event"), &json!("delete"))
            );
            break;
        }
    }

    let mut elsewhere = Vec::new();
    for node in &nodes[1..] {
        elsewhere.push(node.socket_v2(&owner.token).await);
    }
    let ended = nodes[0]
        .client()
        .post("/api/logout-all", Some(&owner.token), json!({}))
        .await;
    assert!(ended.status().is_success());
    for ws in &mut elsewhere {
        assert_eq!(ws.closed().await.0, Closed::Code(4409));
    }
}

/// A member removed while on the board through another node leaves the owner's
/// presence: that node rewrites what it stores of who is here, as it does when a socket
/// leaves.
#[tokio::test]
async fn a_member_removed_on_another_node_leaves_the_presence() {
    let _shared = POSTGRES.read().await;
    let (_, nodes) = nodes(2).await;
    let owner = nodes[0].register("olga").await;
    let bob = nodes[0].register("bob").await;
    let id = shared_board(&nodes[0], &owner.token, "bob", "editor").await;
    let topic = format!("board:{id}");
    let mut olgas = nodes[0].socket_v2(&owner.token).await;
    olgas
        .send(json!({"type": "subscribe", "id": 2, "topic": topic}))
        .await;
    let mut bobs = nodes[1].socket_v2(&bob.token).await;
    bobs.send(json!({"type": "subscribe", "id": 2, "topic": topic}))
        .await;
    until_present(&mut olgas, &["bob", "olga"]).await;
    let removed = nodes[0]
        .client()
        .send(
            Method::DELETE,
            &format!("/api/boards/{id}/members/bob"),
            Some(&owner.token),
            None,
        )
        .await;
    assert!(removed.status().is_success());
    until_present(&mut olgas, &["olga"]).await;
}

/// A raw connection to the nodes' database, as an operator's or a fault's.
async fn raw_pool(db: &DbTarget) -> sqlx::PgPool {
    let DbTarget::Postgres(url) = db else {
        unreachable!("the nodes run on PostgreSQL")
    };
    sqlx::PgPool::connect(url).await.unwrap()
}

/// A log reset while a write holds its board: the write's event goes with the rest, and
/// the board's log starts afresh after it, so the writes that follow all go through (a
/// stale event left at `seq` 4 made the fourth refuse, and every write after it).
#[tokio::test]
async fn a_reset_during_a_write_leaves_no_old_event_behind() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(1).await;
    let olga = nodes[0].register("olga").await;
    for n in 1..=3 {
        assert_eq!(
            create(&nodes[0], &olga.token, &format!("before {n}")).await,
            201
        );
    }
    let board = olga.body["user"]["id"].as_str().unwrap().to_owned();
    let pool = raw_pool(&db).await;
    let mut writing = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM boards WHERE id = $1 FOR UPDATE")
        .bind(&board)
        .execute(&mut *writing)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (board_id, seq, change) \
         SELECT id, log_seq + 1, '{}' FROM boards WHERE id = $1",
    )
    .bind(&board)
    .execute(&mut *writing)
    .await
    .unwrap();
    // The reset starts while the write holds the board; the write commits 300 ms on.
    let commit_later = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        writing.commit().await.unwrap();
    };
    let (reset, ()) = tokio::join!(taskwire_server::admin::reset_log(&db), commit_later);
    reset.unwrap();
    for n in 1..=5 {
        assert_eq!(
            create(&nodes[0], &olga.token, &format!("after {n}")).await,
            201
        );
    }
    pool.close().await;
}

/// The database out of reach for over a minute: the first node back forgets the others
/// (`nodes` rows older than a minute, their presence with them). Each joins again on its
/// next heartbeat and stores its presence anew, so people see each other across nodes.
#[tokio::test]
async fn a_node_taken_for_gone_joins_again_with_its_presence() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(2).await;
    let olga = nodes[0].register("olga").await;
    let bob = nodes[0].register("bob").await;
    let id = shared_board(&nodes[0], &olga.token, "bob", "editor").await;
    let topic = format!("board:{id}");
    let pool = raw_pool(&db).await;
    sqlx::query("DELETE FROM nodes")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut bobs = nodes[1].socket_v2(&bob.token).await;
    bobs.send(json!({"type": "subscribe", "id": 2, "topic": topic}))
        .await;
    assert_eq!(bobs.recv().await["type"], "snapshot");
    let mut olgas = nodes[0].socket_v2(&olga.token).await;
    olgas
        .send(json!({"type": "subscribe", "id": 2, "topic": topic}))
        .await;
    assert_eq!(olgas.recv().await["type"], "snapshot");
    until_present(&mut olgas, &["bob", "olga"]).await;
}

/// A removal and a sign-out made while a node's listener is down (their hints lost): once
/// it listens again, the node looks them up, so the removed member's socket there gets
/// `unsubscribed` and the signed-out session's socket is closed, as the hints would have.
#[tokio::test]
async fn what_a_node_missed_while_not_listening_still_ends_access_there() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(2).await;
    let owner = nodes[0].register("olga").await;
    let bob = nodes[0].register("bob").await;
    let other = nodes[0].login("bob").await;
    let id = shared_board(&nodes[0], &owner.token, "bob", "editor").await;
    let mut bobs = on_board(&nodes[1], &bob.token, &id).await;
    let mut others = nodes[1].socket_v2(&other.token).await;

    assert_eq!(kill_listeners(&db).await, 2, "both nodes were listening");
    remove_bob(&nodes[0], &owner.token, &id).await;
    let out = nodes[0]
        .client()
        .post("/api/logout", Some(&other.token), json!(null))
        .await;
    assert!(out.status().is_success());

    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let frame = bobs
            .recv_within(until - Instant::now())
            .await
            .expect("unsubscribed within 10 s");
        if frame["type"] == "unsubscribed" {
            assert_eq!(frame["reason"], "removed");
            break;
        }
    }
    assert_eq!(others.closed().await.0, Closed::Code(4401));
}

/// A socket's change on one node, sent after its session's logout answered on another,
/// is refused and the socket closed even while the logout's word has not reached that
/// node (its listener is down here): the change finds the session ended in its own
/// transaction. Nothing is written.
#[tokio::test]
async fn a_change_after_a_logout_on_another_node_is_refused_before_the_word_arrives() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(2).await;
    let bob = nodes[0].register("bob").await;
    let other = nodes[0].login("bob").await;
    let mut others = nodes[1].socket_v2(&other.token).await;
    assert_eq!(kill_listeners(&db).await, 2, "both nodes were listening");
    let out = nodes[0]
        .client()
        .post("/api/logout", Some(&other.token), json!(null))
        .await;
    assert!(out.status().is_success());
    others
        .send(json!({"type": "request", "id": 2, "method": "task.create",
                     "params": {"title": "after the logout"}}))
        .await;
    let (closed, frames) = others.closed().await;
    assert!(
        frames.iter().all(|frame| frame["type"] != "result"),
        "a change after the logout: {frames:?}"
    );
    assert_eq!(closed, Closed::Code(4401));
    let tasks: Value = nodes[0]
        .client()
        .get("/api/tasks", Some(&bob.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["items"], json!([]));
}

/// A log reset made while a node's listener is down (its hint lost): once the node
/// listens again it finds the new epoch and closes its sockets to resume, as the hint
/// would have, instead of waiting for a log that starts below where it was.
#[tokio::test]
async fn a_reset_a_node_missed_while_not_listening_still_reaches_its_sockets() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(2).await;
    let alice = nodes[0].register("alice").await;
    let (mut far, _) = nodes[1].subscribed(&alice.token).await;
    for n in 1..=3 {
        assert_eq!(create(&nodes[0], &alice.token, &format!("{n}")).await, 201);
        assert_eq!(next_seq(&mut far).await, n);
    }
    assert_eq!(kill_listeners(&db).await, 2, "both nodes were listening");
    taskwire_server::admin::reset_log(&db).await.unwrap();
    assert_eq!(far.closed().await.0, Closed::Code(1011));
}

/// Sockets on one node subscribing to a board at once, while another node writes to it:
/// each gets every event after its own answer, in order, with none missing. One socket's
/// answer can start the node's delivery of the board past another's, read a moment
/// earlier; the events between them are that socket's to read, not lost to it.
#[tokio::test]
async fn sockets_subscribing_at_once_while_another_node_writes_miss_nothing() {
    const ROUNDS: usize = 5;
    const SOCKETS: usize = 8;
    const WRITES: u64 = 25;
    let _shared = POSTGRES.read().await;
    let (_, nodes) = nodes(2).await;
    let alice = nodes[0].register("alice").await;
    for round in 0..ROUNDS {
        let board: Value = nodes[0]
            .client()
            .post(
                "/api/boards",
                Some(&alice.token),
                json!({"name": format!("Round {round}")}),
            )
            .await
            .json()
            .await
            .unwrap();
        let topic = format!("board:{}", board["id"].as_str().unwrap());
        let mut sockets = Vec::with_capacity(SOCKETS);
        for _ in 0..SOCKETS {
            sockets.push(nodes[0].socket_v2(&alice.token).await);
        }
        let path = format!("/api/boards/{}/tasks", board["id"].as_str().unwrap());
        let writes = async {
            for n in 0..WRITES {
                let created = nodes[1]
                    .client()
                    .post(
                        &path,
                        Some(&alice.token),
                        json!({ "title": format!("{n}") }),
                    )
                    .await;
                assert!(created.status().is_success());
            }
        };
        let subscribes = futures_util::future::join_all(
            sockets
                .iter_mut()
                .map(|socket| socket.send(json!({"type": "subscribe", "id": 2, "topic": topic}))),
        );
        tokio::join!(writes, subscribes);
        for (n, socket) in sockets.iter_mut().enumerate() {
            let mut seq = None;
            while seq != Some(WRITES) {
                let frame = socket.recv().await;
                match frame["type"].as_str() {
                    Some("snapshot" | "replay") => seq = frame["seq"].as_u64(),
                    Some("event") => {
                        let next = seq.expect("events after the answer") + 1;
                        assert_eq!(frame["seq"], next, "round {round}, socket {n}");
                        seq = Some(next);
                    }
                    _ => assert_eq!(frame["type"], "presence", "{frame}"),
                }
            }
        }
    }
}

/// Two people creating a board with one id at once, through two nodes: both find the id
/// free before either inserts it (only one person's own creates take turns), and the
/// second is told it is taken (409), not an internal error.
#[tokio::test]
async fn two_people_creating_one_board_id_at_once_get_one_board_and_one_conflict() {
    let _shared = POSTGRES.read().await;
    let (_, nodes) = nodes(2).await;
    let ann = nodes[0].register("ann").await;
    let bob = nodes[1].register("bob").await;
    for round in 0..20 {
        let id = uuid::Uuid::new_v4();
        let body = json!({ "id": id, "name": format!("Round {round}") });
        let (first, second) = (nodes[0].client(), nodes[1].client());
        let (a, b) = tokio::join!(
            first.post("/api/boards", Some(&ann.token), body.clone()),
            second.post("/api/boards", Some(&bob.token), body.clone()),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
    }
}

/// A member removed through one node while another has not heard of it yet (its
/// listener down): a change made next through that other node reaches the removed
/// member's socket there not at all. The change read the board's members under its
/// lock, and goes only to those among them; the look-up after the listener is back
/// then tells the socket it was removed.
#[tokio::test]
async fn a_member_removed_elsewhere_gets_no_change_made_after_on_a_node_not_told_yet() {
    let _shared = POSTGRES.read().await;
    let (db, nodes) = nodes(2).await;
    let owner = nodes[0].register("olga").await;
    let bob = nodes[0].register("bob").await;
    let id = shared_board(&nodes[0], &owner.token, "bob", "editor").await;
    let mut bobs = on_board(&nodes[1], &bob.token, &id).await;

    assert_eq!(kill_listeners(&db).await, 2, "both nodes were listening");
    remove_bob(&nodes[0], &owner.token, &id).await;
    let made = nodes[1]
        .client()
        .post(
            &format!("/api/boards/{id}/tasks"),
            Some(&owner.token),
            json!({ "title": "after bob left" }),
        )
        .await;
    assert!(made.status().is_success());
    loop {
        let frame = bobs.recv().await;
        assert_ne!(
            frame["type"], "event",
            "a change made after the removal: {frame}"
        );
        if frame["type"] == "unsubscribed" {
            assert_eq!(frame["reason"], "removed");
            break;
        }
    }
}
