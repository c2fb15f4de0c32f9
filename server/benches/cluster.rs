//! Cluster benchmark: prints figures, asserts nothing.
//!
//! Several release servers (child processes, on loopback) share one PostgreSQL database
//! and tell each other of changes through LISTEN/NOTIFY. Each scenario gets a fresh
//! database (`CREATE DATABASE b_<random>`, dropped at the end) and 100 members, each with
//! 10 `taskwire.v2` sockets subscribed to a shared board (1,000 sockets in all, spread
//! round-robin over the nodes), in one of two shapes:
//! - one board: a single board of all 100 members (its owner, member 0, and 99 editors it
//!   is shared with), so each edit reaches all 1,000 sockets. On a small machine this
//!   measures mostly the fan-out: one node needs some 20 ms of CPU to deliver one edit to
//!   1,000 sockets.
//! - ten boards: the members in 10 groups of 10 (members 0-9, 10-19, ...), each group's
//!   first member owning a board shared (editor) with the other 9; each member's sockets
//!   subscribe to its group's board, so each edit reaches 100 sockets, and the cost of
//!   crossing nodes shows apart from that of the fan-out.
//!
//! Three writer sockets (one per node where there are three) each edit the title of their
//! own task with `task.update`, waiting for each result before the next: members 0, 1 and
//! 2, all on the one board, in the one-board shape; the owners of boards 0, 1 and 2
//! (members 0, 10 and 20), each on their own board, in the ten-board shape.
//!
//! Scenarios:
//! - `three-nodes`: one board; three servers on one PostgreSQL database, the 1,000 sockets
//!   spread round-robin over them, one writer on each.
//! - `one-node`: the same on one server, twice: over a fresh PostgreSQL database, then
//!   over a fresh SQLite file; its three writers are all on that one node.
//! - `three-nodes-ten-boards` and `one-node-ten-boards`: the same with ten boards (the
//!   latter too on PostgreSQL, then on SQLite).
//!
//! Measures, for each:
//! - write-to-receipt latency: from sending a `task.update` to each receipt of its event
//!   by a socket subscribed to its board, p50 and p99, over 300 edits (100 per writer, in
//!   turn) with one edit in flight at a time in all; receipts on the writer's node and on
//!   the other nodes apart;
//! - throughput: the three writers at once for a few seconds: writes per second per
//!   node (and in all), and events delivered per second (until the last arrived);
//! - anything lost: events that never arrived within their wait, and sockets the
//!   servers closed; and events out of order (each socket follows its board's `seq`).
//!
//! Run: `cargo xtask bench` (which starts a throwaway PostgreSQL beside it), or by hand
//! `TASKWIRE_BENCH_PG=postgres://user:password@host:port cargo bench -p taskwire-server
//! --bench cluster` (the URL without a database name; it needs the right to create
//! databases), optionally followed by `--` and scenario names (say `-- three-nodes
//! three-nodes-ten-boards`). Every wait is bounded; the whole run takes about two
//! minutes. It raises its own open-files limit (inherited by the servers) up to the hard
//! limit; if that is under ~2,100, raise it first (`ulimit -n 4096`).

#[allow(
    dead_code,
    reason = "it registers its accounts itself, a few at a time, and reads no memory figures"
)]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use common::{
    Bench, ServerProcess, Socket, answer, auth_and_subscribe, connect, quantile, raise_open_files,
    seq_of,
};

/// Members in all, each with `SOCKETS / MEMBERS` subscribed sockets.
const MEMBERS: usize = 100;
const SOCKETS: usize = 1_000;
/// Writer sockets, on nodes 0, 1, 2 (or all on the one node).
const WRITERS: usize = 3;
/// Edits of the latency phase, taking turns among the writers.
const LATENCY_WRITES: usize = 300;
/// How long the writers write at once in the throughput phase.
const THROUGHPUT_FOR: Duration = Duration::from_secs(3);
/// Users registered at once (each costs the server an argon2 hash).
const REGISTER_AT_ONCE: usize = 8;
/// The longest wait for one frame, one HTTP answer, or one database statement.
const WAIT: Duration = Duration::from_secs(10);
/// How long one edit's events get to reach every socket before the missing are counted.
const RECEIPT_WAIT: Duration = Duration::from_secs(2);
/// Opening the sockets, or the latency phase, may take no longer than this; the
/// throughput phase's events get this long after its writes end.
const PHASE_LIMIT: Duration = Duration::from_secs(45);
/// Over this, a cross-node p99 is worth a look (and a note in the output).
const SUSPECT_OTHER_NODE_P99: Duration = Duration::from_millis(50);

/// The scenarios, in the order they run: name, nodes, shape, stores.
const SCENARIOS: [(&str, usize, Shape, &[Store]); 4] = [
    ("three-nodes", 3, Shape::OneBoard, &[Store::Postgres]),
    (
        "one-node",
        1,
        Shape::OneBoard,
        &[Store::Postgres, Store::Sqlite],
    ),
    (
        "three-nodes-ten-boards",
        3,
        Shape::TenBoards,
        &[Store::Postgres],
    ),
    (
        "one-node-ten-boards",
        1,
        Shape::TenBoards,
        &[Store::Postgres, Store::Sqlite],
    ),
];

/// How the members and their sockets are grouped into boards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One board of all `MEMBERS`; every edit reaches every socket.
    OneBoard,
    /// Ten boards of `MEMBERS / 10` members; every edit reaches a tenth of the sockets.
    TenBoards,
}

impl Shape {
    fn boards(self) -> usize {
        match self {
            Shape::OneBoard => 1,
            Shape::TenBoards => 10,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Shape::OneBoard => "1 board",
            Shape::TenBoards => "10 boards",
        }
    }

    /// Members of each board, its owner included.
    fn members_per_board(self) -> usize {
        MEMBERS / self.boards()
    }

    /// The board (its index) `member` belongs to: members are grouped in turn.
    fn board_of(self, member: usize) -> usize {
        member / self.members_per_board()
    }

    /// The member owning board `board`: its group's first.
    fn owner_of(self, board: usize) -> usize {
        board * self.members_per_board()
    }

    /// The member writer `writer` writes as, and the board it writes on.
    fn writer(self, writer: usize) -> (usize, usize) {
        match self {
            Shape::OneBoard => (writer, 0),
            Shape::TenBoards => (self.owner_of(writer), writer),
        }
    }
}

/// What a subscribed socket reports.
enum Report {
    /// Socket `socket` (on `node`) received its board's event `seq` at `at`.
    Event {
        socket: usize,
        node: usize,
        seq: u64,
        at: Instant,
    },
    /// Socket `socket` (on `node`) stopped receiving: the server closed it, or the
    /// connection failed.
    Closed {
        socket: usize,
        node: usize,
        why: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Postgres,
    Sqlite,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Postgres => "pg",
            Store::Sqlite => "sqlite",
        }
    }
}

/// One line of the final table.
struct Row {
    scenario: &'static str,
    nodes: usize,
    shape: Shape,
    store: Store,
    figures: Bench<Figures>,
}

#[derive(Default)]
struct Figures {
    /// Write-to-receipt latency of every receipt, of those on the writer's node, and of
    /// those on the other nodes.
    all: Vec<Duration>,
    same_node: Vec<Duration>,
    other_node: Vec<Duration>,
    /// Edits made in the latency phase (fewer than `LATENCY_WRITES` if it ran out of time).
    latency_writes: usize,
    /// Throughput phase: each node's writes per second, in all, and deliveries per second.
    writes_per_node: Vec<f64>,
    writes_per_second: f64,
    events_per_second: f64,
    /// Events that never arrived (both phases), and sockets the servers closed.
    missing: usize,
    closed: usize,
    /// Deliveries (throughput phase) that did not follow their socket's last `seq` by one.
    disordered: usize,
}

#[tokio::main]
async fn main() -> Bench<()> {
    // `cargo bench` passes `--bench`; the rest name the scenarios to run.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    for name in &chosen {
        if !SCENARIOS.iter().any(|(scenario, ..)| scenario == name) {
            let names: Vec<&str> = SCENARIOS.iter().map(|(scenario, ..)| *scenario).collect();
            return Err(format!(
                "unknown scenario {name:?}: expected one of {}",
                names.join(", ")
            )
            .into());
        }
    }
    let runs = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    let Ok(pg) = std::env::var("TASKWIRE_BENCH_PG") else {
        eprintln!(
            "cluster: TASKWIRE_BENCH_PG is not set. This benchmark needs a PostgreSQL server: \
             run it through `cargo xtask bench`, which starts a throwaway one, or set \
             TASKWIRE_BENCH_PG=postgres://user:password@host:port (no database name)."
        );
        std::process::exit(2);
    };
    let pg = pg.trim_end_matches('/').to_owned();
    raise_open_files(SOCKETS + WRITERS);

    let mut rows = Vec::new();
    for (name, nodes, shape, stores) in SCENARIOS {
        if runs(name) {
            for &store in stores {
                rows.push(scenario(name, nodes, shape, store, &pg).await);
            }
        }
    }
    print_table(&rows);
    if rows.iter().any(|row| row.figures.is_err()) {
        return Err("a scenario failed (see above)".into());
    }
    Ok(())
}

async fn scenario(name: &'static str, nodes: usize, shape: Shape, store: Store, pg: &str) -> Row {
    let boards = shape.boards();
    println!(
        "\n{name} ({}): {nodes} node(s), {boards} board(s) of {} members, {SOCKETS} sockets ({} per board), {WRITERS} writers",
        store.name(),
        shape.members_per_board(),
        SOCKETS / boards
    );
    let started = Instant::now();
    let figures = run_scenario(nodes, shape, store, pg).await;
    match &figures {
        Ok(_) => println!("{name} ({}) took {:.2?}", store.name(), started.elapsed()),
        Err(error) => eprintln!("{name} ({}) failed: {error}", store.name()),
    }
    Row {
        scenario: name,
        nodes,
        shape,
        store,
        figures,
    }
}

async fn run_scenario(nodes: usize, shape: Shape, store: Store, pg: &str) -> Bench<Figures> {
    let dir = tempfile::tempdir()?;
    // Tokens signed on one node must hold on every other: one secret for all.
    let secret = format!(
        "{}{}",
        Uuid::new_v4().simple(),
        &Uuid::new_v4().simple().to_string()[..16]
    );
    // The writers send far more than the default 50 frames a second each.
    let extra = [
        "--jwt-secret",
        secret.as_str(),
        "--socket-rate",
        "100000",
        "--socket-burst",
        "100000",
    ];
    let database = match store {
        Store::Postgres => Some(create_database(pg).await?),
        Store::Sqlite => None,
    };
    let figures = async {
        let mut servers = Vec::with_capacity(nodes);
        for _ in 0..nodes {
            servers.push(match &database {
                Some(name) => {
                    ServerProcess::start_with_db(&format!("{pg}/{name}"), dir.path(), &extra)?
                }
                None => ServerProcess::start(dir.path(), &extra)?,
            });
        }
        measure(&servers, shape).await
        // The servers are killed here, before their database is dropped.
    }
    .await;
    if let Some(name) = database
        && let Err(error) = drop_database(pg, &name).await
    {
        eprintln!("cannot drop the benchmark database {name}: {error}");
    }
    figures
}

/// Creates a fresh database on the server at `pg`; its name.
async fn create_database(pg: &str) -> Bench<String> {
    let name = format!("b_{}", Uuid::new_v4().simple());
    let mut admin =
        tokio::time::timeout(WAIT, sqlx::PgConnection::connect(&format!("{pg}/postgres")))
            .await??;
    tokio::time::timeout(
        WAIT,
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin),
    )
    .await??;
    tokio::time::timeout(WAIT, admin.close()).await??;
    println!("database: {name}");
    Ok(name)
}

async fn drop_database(pg: &str, name: &str) -> Bench<()> {
    let mut admin =
        tokio::time::timeout(WAIT, sqlx::PgConnection::connect(&format!("{pg}/postgres")))
            .await??;
    tokio::time::timeout(
        WAIT,
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin),
    )
    .await??;
    tokio::time::timeout(WAIT, admin.close()).await??;
    Ok(())
}

/// Sets up the boards, their sockets and the writers over `servers`, and runs both phases.
async fn measure(servers: &[ServerProcess], shape: Shape) -> Bench<Figures> {
    let nodes = servers.len();
    let addrs: Vec<String> = servers
        .iter()
        .map(|server| server.base.trim_start_matches("http://").to_owned())
        .collect();
    let base = &servers[0].base;
    let http = reqwest::Client::builder().timeout(WAIT).build()?;
    let setup = Instant::now();
    let tokens = register_all(&http, base).await?;
    let mut boards = Vec::with_capacity(shape.boards());
    for board in 0..shape.boards() {
        let owner = shape.owner_of(board);
        let name = match shape {
            Shape::OneBoard => "Everyone".to_owned(),
            Shape::TenBoards => format!("Group {board}"),
        };
        let made: Value = http
            .post(format!("{base}/api/boards"))
            .bearer_auth(&tokens[owner])
            .json(&json!({ "name": name }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = made["id"].as_str().ok_or("no board id")?.to_owned();
        for member in owner + 1..owner + shape.members_per_board() {
            http.put(format!("{base}/api/boards/{id}/members/member{member}"))
                .bearer_auth(&tokens[owner])
                .json(&json!({"role": "editor"}))
                .send()
                .await?
                .error_for_status()?;
        }
        boards.push(id);
    }
    let mut tasks = Vec::with_capacity(WRITERS);
    for writer in 0..WRITERS {
        let (member, board) = shape.writer(writer);
        let task: Value = http
            .post(format!("{base}/api/boards/{}/tasks", boards[board]))
            .bearer_auth(&tokens[member])
            .json(&json!({"title": format!("writer {writer}'s task")}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        tasks.push(task["id"].as_str().ok_or("no task id")?.to_owned());
    }
    // Only the writers change the boards from here on, one edit at a time in the latency
    // phase: a board's next edit gets its `seq` as listed here + 1, the one after + 2...
    let mut next_seq = Vec::with_capacity(boards.len());
    for (board, id) in boards.iter().enumerate() {
        let listed: Value = http
            .get(format!("{base}/api/boards/{id}/tasks"))
            .bearer_auth(&tokens[shape.owner_of(board)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        next_seq.push(listed["seq"].as_u64().ok_or("no seq")? + 1);
    }
    println!(
        "registered {MEMBERS} members and shared {} board(s) with them in {:.2?}",
        boards.len(),
        setup.elapsed()
    );

    let (reports_tx, reports) = mpsc::unbounded_channel::<Report>();
    let opened = Instant::now();
    let tokens = Arc::new(tokens);
    let topics: Vec<Arc<str>> = boards
        .iter()
        .map(|id| Arc::from(format!("board:{id}")))
        .collect();
    // Each socket's board, and how many sockets each board has.
    let board_of: Vec<usize> = (0..SOCKETS).map(|n| shape.board_of(n % MEMBERS)).collect();
    let mut sockets_on = vec![0; boards.len()];
    for &board in &board_of {
        sockets_on[board] += 1;
    }
    let mut opening = Vec::with_capacity(SOCKETS);
    for (n, &board) in board_of.iter().enumerate() {
        let (node, member) = (n % nodes, n % MEMBERS);
        let (addr, tokens, topic, tx) = (
            addrs[node].clone(),
            tokens.clone(),
            topics[board].clone(),
            reports_tx.clone(),
        );
        opening.push(tokio::spawn(async move {
            open_socket(&addr, n, node, &tokens[member], &topic, tx).await
        }));
    }
    drop(reports_tx);
    let all_open = async {
        for task in opening {
            task.await??;
        }
        Bench::Ok(())
    };
    tokio::time::timeout(PHASE_LIMIT, all_open)
        .await
        .map_err(|_| format!("the {SOCKETS} sockets were not all open after {PHASE_LIMIT:?}"))??;
    println!(
        "opened {SOCKETS} taskwire.v2 sockets, subscribed to {} board(s) ({} each), over {nodes} node(s) in {:.2?}",
        boards.len(),
        SOCKETS / boards.len(),
        opened.elapsed()
    );
    // Presence goes out at most once a second: let the last of it pass.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let mut writers = Vec::with_capacity(WRITERS);
    for (writer, task) in tasks.into_iter().enumerate() {
        let node = writer % nodes;
        let (member, board) = shape.writer(writer);
        writers.push(
            Writer::open(
                &addrs[node],
                node,
                &tokens[member],
                &boards[board],
                board,
                task,
            )
            .await?,
        );
    }
    let mut bench = Phases {
        reports,
        live_on: sockets_on.clone(),
        sockets_on,
        board_of,
        next_seq,
        figures: Figures::default(),
    };
    bench.latency(&mut writers).await?;
    bench.throughput(writers, nodes).await?;
    Ok(bench.figures)
}

/// Registers `MEMBERS` users, `member0`, `member1`, ..., a few at a time; their tokens.
async fn register_all(http: &reqwest::Client, base: &str) -> Bench<Vec<String>> {
    let mut tokens = Vec::with_capacity(MEMBERS);
    let users: Vec<usize> = (0..MEMBERS).collect();
    for batch in users.chunks(REGISTER_AT_ONCE) {
        let mut registering = Vec::with_capacity(batch.len());
        for &user in batch {
            let (http, base) = (http.clone(), base.to_owned());
            registering.push(tokio::spawn(async move {
                let session: Value = http
                    .post(format!("{base}/api/register"))
                    .json(&json!({"username": format!("member{user}"), "password": "benchmark password"}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                Bench::Ok(session["token"].as_str().ok_or("no token")?.to_owned())
            }));
        }
        for task in registering {
            tokens.push(task.await??);
        }
    }
    Ok(tokens)
}

/// A writer's socket: authenticated, subscribed to nothing, so it reads only answers.
struct Writer {
    ws: Socket,
    node: usize,
    /// The board's id, and its index among the scenario's boards.
    board: String,
    board_index: usize,
    task: String,
    next_id: u64,
}

impl Writer {
    async fn open(
        addr: &str,
        node: usize,
        token: &str,
        board: &str,
        board_index: usize,
        task: String,
    ) -> Bench<Self> {
        let mut ws = tokio::time::timeout(WAIT, connect(addr, "taskwire.v2")).await??;
        ws.send(Message::text(
            json!({"type": "auth", "id": 1, "token": token}).to_string(),
        ))
        .await?;
        answer(&mut ws, "auth_ok").await?;
        Ok(Self {
            ws,
            node,
            board: board.to_owned(),
            board_index,
            task,
            next_id: 2,
        })
    }

    /// Sets its task's title to `title` and waits for the result.
    async fn edit(&mut self, title: &str) -> Bench<()> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"type": "request", "id": id, "method": "task.update",
            "params": {"board": self.board, "id": self.task, "title": title}});
        tokio::time::timeout(WAIT, self.ws.send(Message::text(request.to_string()))).await??;
        let result = answer(&mut self.ws, "result").await?;
        let result: Value = serde_json::from_str(&result)?;
        if result["id"] != id || result.get("ok").is_none() {
            return Err(format!("edit {id} on node {} refused: {result}", self.node).into());
        }
        Ok(())
    }
}

/// What the sockets report, and the figures so far.
struct Phases {
    reports: mpsc::UnboundedReceiver<Report>,
    /// Each socket's board (its index).
    board_of: Vec<usize>,
    /// Each board's sockets, and those of them not (yet) reported closed.
    sockets_on: Vec<usize>,
    live_on: Vec<usize>,
    /// Each board's next edit's `seq`.
    next_seq: Vec<u64>,
    figures: Figures,
}

impl Phases {
    /// Takes a socket's closing into account.
    fn closed(&mut self, socket: usize, node: usize, why: &str) {
        if self.figures.closed < 5 {
            eprintln!("socket {socket} on node {node} stopped: {why}");
        }
        self.figures.closed += 1;
        let live = &mut self.live_on[self.board_of[socket]];
        *live = live.saturating_sub(1);
    }

    /// One edit at a time in all, the writers taking turns; each edit's receipts by the
    /// sockets of its board.
    async fn latency(&mut self, writers: &mut [Writer]) -> Bench<()> {
        let phase = Instant::now();
        let mut answers = Vec::with_capacity(LATENCY_WRITES);
        let mut firsts = Vec::with_capacity(LATENCY_WRITES);
        let (mut expected, mut missing, mut strays, mut repeated) = (0, 0, 0, 0);
        for edit in 0..LATENCY_WRITES {
            if phase.elapsed() > PHASE_LIMIT {
                eprintln!("the latency phase stopped after {edit} edits: out of time");
                break;
            }
            let writer = &mut writers[edit % WRITERS];
            let board = writer.board_index;
            let seq = self.next_seq[board];
            self.next_seq[board] += 1;
            let started = Instant::now();
            writer.edit(&format!("edit {seq}")).await?;
            answers.push(started.elapsed());
            self.figures.latency_writes += 1;
            let deadline = started + RECEIPT_WAIT;
            let mut got = 0;
            let mut seen = vec![false; SOCKETS];
            let mut earliest = Duration::MAX;
            while got < self.live_on[board] {
                let report =
                    match tokio::time::timeout_at(deadline.into(), self.reports.recv()).await {
                        Ok(report) => report.ok_or("every socket ended")?,
                        Err(_) => break,
                    };
                match report {
                    Report::Event {
                        socket,
                        node,
                        seq: s,
                        at,
                    } if s == seq && self.board_of[socket] == board => {
                        if seen[socket] {
                            repeated += 1;
                            continue;
                        }
                        seen[socket] = true;
                        let latency = at.duration_since(started);
                        earliest = earliest.min(latency);
                        self.figures.all.push(latency);
                        if node == writer.node {
                            self.figures.same_node.push(latency);
                        } else {
                            self.figures.other_node.push(latency);
                        }
                        got += 1;
                    }
                    Report::Event { .. } => strays += 1,
                    Report::Closed { socket, node, why } => self.closed(socket, node, &why),
                }
            }
            expected += self.sockets_on[board];
            missing += self.sockets_on[board] - got;
            if got > 0 {
                firsts.push(earliest);
            }
        }
        self.figures.missing += missing;
        let figures = &mut self.figures;
        let writes = figures.latency_writes;
        let fan_out = expected / writes.max(1);
        println!(
            "write-to-receipt latency over {} deliveries ({writes} edits, one at a time, x {fan_out} sockets) in {:.2?}: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
            figures.all.len(),
            phase.elapsed(),
            quantile_or_zero(&mut figures.all, 0.50),
            quantile_or_zero(&mut figures.all, 0.99),
            figures.all.last().copied().unwrap_or_default()
        );
        if !figures.other_node.is_empty() {
            println!(
                "  on the writer's node: {} deliveries, p50 {:.2?}, p99 {:.2?}; on the other nodes: {} deliveries, p50 {:.2?}, p99 {:.2?}",
                figures.same_node.len(),
                quantile_or_zero(&mut figures.same_node, 0.50),
                quantile_or_zero(&mut figures.same_node, 0.99),
                figures.other_node.len(),
                quantile_or_zero(&mut figures.other_node, 0.50),
                quantile_or_zero(&mut figures.other_node, 0.99),
            );
        }
        println!(
            "  the writer's result p50 {:.2?} p99 {:.2?}; first socket's receipt p50 {:.2?} p99 {:.2?}",
            quantile_or_zero(&mut answers, 0.5),
            quantile_or_zero(&mut answers, 0.99),
            quantile_or_zero(&mut firsts, 0.5),
            quantile_or_zero(&mut firsts, 0.99)
        );
        if missing > 0 || strays > 0 || repeated > 0 {
            println!(
                "  MISSING: {missing} of {expected} deliveries never arrived within {RECEIPT_WAIT:?} of their edit; {strays} events of other edits (late, or not of this phase); {repeated} received twice"
            );
        }
        Ok(())
    }

    /// Every writer at once for `THROUGHPUT_FOR`, each waiting for its result before the
    /// next; then the deliveries, until the last arrived. Each board's first edit of this
    /// phase gets its `next_seq`.
    async fn throughput(&mut self, writers: Vec<Writer>, nodes: usize) -> Bench<()> {
        let phase = Instant::now();
        let stop = phase + THROUGHPUT_FOR;
        let mut writing = Vec::with_capacity(WRITERS);
        for (n, mut writer) in writers.into_iter().enumerate() {
            writing.push(tokio::spawn(async move {
                let mut edits = 0;
                while Instant::now() < stop {
                    writer.edit(&format!("writer {n}, edit {edits}")).await?;
                    edits += 1;
                }
                Bench::Ok((writer.node, writer.board_index, edits, phase.elapsed()))
            }));
        }
        let (done_tx, mut done_rx) = oneshot::channel();
        tokio::spawn(async move {
            let mut done = Vec::with_capacity(WRITERS);
            for writer in writing {
                done.push(
                    writer
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string())),
                );
            }
            let _ = done_tx.send(done);
        });

        let deadline = stop + PHASE_LIMIT;
        let (mut delivered, mut last, mut expected) = (0, phase, None);
        let mut per_node = vec![0.0; nodes];
        let mut total_writes = 0;
        // Each socket's last `seq`: every socket sees every edit of its board, in order.
        let first = self.next_seq.clone();
        let mut last_seq: Vec<u64> = self
            .board_of
            .iter()
            .map(|&board| first[board] - 1)
            .collect();
        let mut disordered = 0;
        loop {
            if expected.is_some_and(|expected| delivered >= expected) {
                break;
            }
            tokio::select! {
                report = self.reports.recv() => match report.ok_or("every socket ended")? {
                    Report::Event { socket, seq, at, .. } if seq >= first[self.board_of[socket]] => {
                        if seq != last_seq[socket] + 1 {
                            disordered += 1;
                        }
                        last_seq[socket] = seq;
                        delivered += 1;
                        last = last.max(at);
                    }
                    Report::Event { .. } => {}
                    Report::Closed { socket, node, why } => self.closed(socket, node, &why),
                },
                done = &mut done_rx, if expected.is_none() => {
                    let mut due = 0;
                    for writer in done? {
                        let (node, board, edits, elapsed) = writer?;
                        per_node[node] += edits as f64 / elapsed.as_secs_f64();
                        total_writes += edits;
                        due += edits * self.sockets_on[board];
                        self.next_seq[board] += edits as u64;
                    }
                    expected = Some(due);
                }
                () = tokio::time::sleep_until(deadline.into()) => break,
            }
        }
        let expected = expected.ok_or("the writers did not finish in time")?;
        let elapsed = last.duration_since(phase);
        let figures = &mut self.figures;
        figures.writes_per_second = per_node.iter().sum();
        figures.events_per_second = delivered as f64 / elapsed.as_secs_f64();
        println!(
            "throughput: {total_writes} edits by {WRITERS} writers at once in {THROUGHPUT_FOR:?}: {:.0} writes/s ({}), {delivered} deliveries in {elapsed:.2?}: {:.0} events/s",
            figures.writes_per_second,
            per_node
                .iter()
                .enumerate()
                .map(|(node, rate)| format!("node {node}: {rate:.0}/s"))
                .collect::<Vec<_>>()
                .join(", "),
            figures.events_per_second
        );
        figures.writes_per_node = per_node;
        figures.disordered = disordered;
        if disordered > 0 {
            println!(
                "  OUT OF ORDER: {disordered} deliveries did not follow their socket's last seq (of its board) by one"
            );
        }
        if delivered < expected {
            println!(
                "  MISSING: {} of {expected} deliveries never arrived within {PHASE_LIMIT:?} of the last edit",
                expected - delivered
            );
            figures.missing += expected - delivered;
        }
        Ok(())
    }
}

/// Opens, authenticates and subscribes one socket, then leaves a task reading it that
/// reports each event's `seq`, and its end.
async fn open_socket(
    addr: &str,
    socket: usize,
    node: usize,
    token: &str,
    topic: &str,
    reports: mpsc::UnboundedSender<Report>,
) -> Bench<()> {
    let mut ws = connect(addr, "taskwire.v2").await?;
    auth_and_subscribe(&mut ws, token, topic).await?;
    tokio::spawn(async move {
        let why = loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(seq) = seq_of(&text) {
                        let at = Instant::now();
                        let event = Report::Event {
                            socket,
                            node,
                            seq,
                            at,
                        };
                        if reports.send(event).is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break format!("closed by the server: {frame:?}");
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => break format!("connection failed: {error}"),
                None => break "connection ended".to_owned(),
            }
        };
        let _ = reports.send(Report::Closed { socket, node, why });
    });
    Ok(())
}

/// `quantile`, or zero when there are no samples.
fn quantile_or_zero(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        Duration::ZERO
    } else {
        quantile(samples, q)
    }
}

fn print_table(rows: &[Row]) {
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    println!();
    println!(
        "cluster: {:<22} {:<9} {:>5}  {:<6} {:>7} {:>7} {:>17} {:>18} {:>14} {:>9} {:>9} {:>8} {:>7}",
        "scenario",
        "shape",
        "nodes",
        "db",
        "p50 ms",
        "p99 ms",
        "p99 same-node ms",
        "p99 other-node ms",
        "writes/s/node",
        "writes/s",
        "events/s",
        "missing",
        "closed"
    );
    for row in rows {
        let figures = match &row.figures {
            Ok(figures) => figures,
            Err(error) => {
                println!(
                    "cluster: {:<22} {:<9} {:>5}  {:<6} failed: {error}",
                    row.scenario,
                    row.shape.label(),
                    row.nodes,
                    row.store.name()
                );
                continue;
            }
        };
        // Sorted already by the phase's report.
        let mut all = figures.all.clone();
        let mut same = figures.same_node.clone();
        let mut other = figures.other_node.clone();
        let other_p99 = if other.is_empty() {
            "-".to_owned()
        } else {
            ms(quantile(&mut other, 0.99))
        };
        let per_node = if figures.writes_per_node.is_empty() {
            0.0
        } else {
            figures.writes_per_node.iter().sum::<f64>() / figures.writes_per_node.len() as f64
        };
        println!(
            "cluster: {:<22} {:<9} {:>5}  {:<6} {:>7} {:>7} {:>17} {:>18} {:>14.0} {:>9.0} {:>9.0} {:>8} {:>7}",
            row.scenario,
            row.shape.label(),
            row.nodes,
            row.store.name(),
            ms(quantile_or_zero(&mut all, 0.50)),
            ms(quantile_or_zero(&mut all, 0.99)),
            ms(quantile_or_zero(&mut same, 0.99)),
            other_p99,
            per_node,
            figures.writes_per_second,
            figures.events_per_second,
            figures.missing,
            figures.closed
        );
        if figures.disordered > 0 {
            println!(
                "cluster: NOTE {} ({}): {} deliveries out of order",
                row.scenario,
                row.store.name(),
                figures.disordered
            );
        }
        if !other.is_empty() && quantile(&mut other, 0.99) > SUSPECT_OTHER_NODE_P99 {
            println!(
                "cluster: NOTE {} ({}): the other-node p99 is over {SUSPECT_OTHER_NODE_P99:?}",
                row.scenario,
                row.store.name()
            );
        }
    }
}
