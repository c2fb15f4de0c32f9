//! Taskwire beside socket.io 4.8.4: prints figures, asserts nothing.
//!
//! The peer is a small Node server (`benches/socketio/server.js`): `POST /api/tasks`
//! creates an in-memory task and emits it to its user's room; its sockets (WebSocket
//! transport only) authenticate with `auth: {token}` and join their user's room. The
//! benchmark installs socket.io 4.8.4 into `target/socketio/` with npm if it is not there
//! yet (Node.js and npm must be on the PATH). Taskwire is the release server (as in the
//! `sockets` benchmark), with `taskwire.v1` sockets subscribed to `tasks`.
//!
//! The same load against both, in turns (socket.io, then Taskwire, `RUNS` times), each
//! server a fresh child process on loopback so that its memory and CPU time are its own:
//! - 1,000 sockets over 10 users (100 each): the growth of the server's resident set
//!   while they were opened, per socket (memory per idle socket);
//! - steady: 200 writes a second over HTTP for 10 s, each sent on schedule whatever the
//!   last one's state (each reaching its user's 100 sockets): write-to-receipt p50 and
//!   p99, and server CPU per delivery, both with and without the first second;
//! - saturated: 10 writers (one per user), each writing as fast as its answers come, for
//!   5 s: deliveries per second (until the last one arrived) and server CPU per delivery;
//! - write cost: another fresh server, 100 sockets over the 10 users (10 each), 5,000
//!   writes by 10 writers: server CPU per HTTP write.
//!
//! This process is the load generator of both (same clients, same pacing) and shares the
//! machine's cores with the server under test, so the saturated figures are those of the
//! pair. The figures are noisy on a shared machine. The median of the runs is printed in
//! a table with Taskwire's figure over socket.io's.
//!
//! Run: `cargo bench -p taskwire-server --bench socketio` (three runs each), or with
//! `-- N` for N runs; `-- write` measures the write cost alone.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use common::{
    Bench, ServerProcess, Socket, connect, cpu_ticks, create_task, quantile, raise_open_files,
    register, rss_kib_of, ticks_per_second,
};

const SOCKETIO_VERSION: &str = "4.8.4";
const RUNS: usize = 3;
const USERS: usize = 10;
const SOCKETS: usize = 1_000;
/// `write cost`: sockets over the `USERS`, and writes.
const SMALL_SOCKETS: usize = 100;
const SMALL_WRITES: usize = 5_000;
/// Steady: one write every `STEADY_EVERY`, `STEADY_WRITES` in all (200/s for 10 s).
const STEADY_EVERY: Duration = Duration::from_millis(5);
const STEADY_WRITES: usize = 2_000;
/// The warm-up left out of the steady figures "without the first second".
const WARM_UP: Duration = Duration::from_secs(1);
/// Saturated: `USERS` writers as fast as they can for this long.
const SATURATED_FOR: Duration = Duration::from_secs(5);
/// Sockets being opened at once at most (Node's listen backlog is 511).
const OPENING_AT_ONCE: usize = 200;
/// No phase may take longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// Task titles are `bench task N`, N the write's number; saturated writes' numbers
/// start here (writer w's at `SATURATED_FIRST + w * SATURATED_STRIDE`).
const SATURATED_FIRST: usize = 1_000_000;
const SATURATED_STRIDE: usize = 1_000_000;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    SocketIo,
    Taskwire,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SocketIo => "socket.io",
            Kind::Taskwire => "Taskwire",
        }
    }
}

/// One write's delivery to one socket.
struct Receipt {
    write: usize,
    at: Instant,
}

/// One run's figures of one server, in `FIGURES`' order.
type Figures = [f64; FIGURES.len()];

const FIGURES: [&str; 11] = [
    "memory per idle socket (KiB)",
    "steady 200 writes/s: p50 write-to-receipt, after 1st s (ms)",
    "steady 200 writes/s: p99 write-to-receipt, after 1st s (ms)",
    "steady 200 writes/s: p50 write-to-receipt, all (ms)",
    "steady 200 writes/s: p99 write-to-receipt, all (ms)",
    "steady 200 writes/s: CPU per delivery, after 1st s (us)",
    "steady 200 writes/s: CPU per delivery, all (us)",
    "saturated, 10 writers: deliveries/s",
    "saturated, 10 writers: CPU per delivery (us)",
    "CPU per HTTP write, 10 sockets/user (us)",
    "context switches per HTTP write, 10 sockets/user",
];

fn main() -> Bench<()> {
    // `cargo bench` passes `--bench`; a number is the count of runs, `write` leaves out
    // everything but the write cost.
    let mut runs = RUNS;
    let mut only_writes = false;
    for arg in std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
    {
        if arg == "write" {
            only_writes = true;
            continue;
        }
        runs = arg.parse().map_err(|_| {
            format!("unexpected argument {arg:?}: expected a count of runs or `write`")
        })?;
    }
    let node_modules = install_socketio()?;
    raise_open_files(SOCKETS);
    tokio::runtime::Runtime::new()?.block_on(async {
        let mut figures: Vec<(Kind, Figures)> = Vec::new();
        for run in 1..=runs {
            for kind in [Kind::SocketIo, Kind::Taskwire] {
                println!("run {run} of {runs}: {}", kind.name());
                figures.push((kind, measure(kind, &node_modules, only_writes).await?));
            }
        }
        print_table(&figures, runs);
        Bench::Ok(())
    })
}

/// Installs socket.io into `target/socketio` unless that version is there; its
/// `node_modules`.
fn install_socketio() -> Bench<PathBuf> {
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/socketio");
    let modules = prefix.join("node_modules");
    let installed = std::fs::read_to_string(modules.join("socket.io/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|package| package["version"] == SOCKETIO_VERSION);
    if !installed {
        println!(
            "installing socket.io {SOCKETIO_VERSION} into {} (npm install)",
            prefix.display()
        );
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(format!("socket.io@{SOCKETIO_VERSION}"))
            .status()?;
        if !status.success() {
            return Err(format!("npm install failed: {status}").into());
        }
    }
    Ok(modules)
}

/// The Node peer as a child process, stopped when dropped.
struct NodeServer {
    child: Child,
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        // A failed kill means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server under test, with its users' tokens.
struct Peer {
    kind: Kind,
    pid: u32,
    /// `http://127.0.0.1:<port>`.
    base: String,
    tokens: Vec<String>,
    // The process before its database's directory, which it must outlive.
    taskwire: Option<ServerProcess>,
    _node: Option<NodeServer>,
    _dir: Option<tempfile::TempDir>,
}

impl Peer {
    async fn start(kind: Kind, node_modules: &Path, http: &reqwest::Client) -> Bench<Self> {
        match kind {
            Kind::Taskwire => {
                let dir = tempfile::tempdir()?;
                let server = ServerProcess::start(dir.path(), &[])?;
                let tokens = register(http, &server.base, "user", USERS).await?;
                Ok(Self {
                    kind,
                    pid: server.pid(),
                    base: server.base.clone(),
                    tokens,
                    taskwire: Some(server),
                    _node: None,
                    _dir: Some(dir),
                })
            }
            Kind::SocketIo => {
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/socketio/server.js");
                let mut child = Command::new("node")
                    .arg(script)
                    .arg("0")
                    .env("NODE_PATH", node_modules)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()?;
                let stdout = child.stdout.take().ok_or("no stdout")?;
                // Held from here on, so that the child is stopped if reading its port fails.
                let node = NodeServer { child };
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line)?;
                let port: u16 = line
                    .trim()
                    .strip_prefix("listening on ")
                    .ok_or_else(|| format!("unexpected first line {line:?}"))?
                    .parse()?;
                let pid = node.child.id();
                println!("server: node, http://127.0.0.1:{port} (pid {pid})");
                Ok(Self {
                    kind,
                    pid,
                    base: format!("http://127.0.0.1:{port}"),
                    tokens: (0..USERS).map(|user| format!("user{user}")).collect(),
                    taskwire: None,
                    _node: Some(node),
                    _dir: None,
                })
            }
        }
    }

    fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Context switches of all the server's threads so far (each thread's voluntary and
    /// involuntary ones; a thread that ended takes its count along).
    fn context_switches(&self) -> Bench<u64> {
        let mut switches = 0;
        for thread in std::fs::read_dir(format!("/proc/{}/task", self.pid))? {
            let status = std::fs::read_to_string(thread?.path().join("status"))?;
            for line in status.lines() {
                if let Some(count) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += count.trim().parse::<u64>()?;
                }
            }
        }
        Ok(switches)
    }

    fn rss_kib(&self) -> Bench<u64> {
        if let Some(server) = &self.taskwire {
            return server.rss_kib();
        }
        rss_kib_of(&self.pid.to_string())
    }

    /// CPU time the server has used so far, user and system, over all its threads (ended
    /// ones too), in seconds.
    fn cpu_seconds(&self) -> Bench<f64> {
        Ok(cpu_ticks(self.pid)? as f64 / ticks_per_second()?)
    }

    /// Opens `sockets` sockets over the users (socket n is user n % USERS's), at most
    /// `OPENING_AT_ONCE` at a time; each reports its receipts; the readers' handles.
    async fn open_sockets(
        &self,
        sockets: usize,
        receipts: &mpsc::UnboundedSender<Receipt>,
    ) -> Bench<Vec<JoinHandle<()>>> {
        let opening_at_once = Arc::new(Semaphore::new(OPENING_AT_ONCE));
        let mut opening = Vec::with_capacity(sockets);
        for n in 0..sockets {
            let (kind, addr) = (self.kind, self.addr().to_owned());
            let (token, tx) = (self.tokens[n % USERS].clone(), receipts.clone());
            let permit = tokio::time::timeout(PHASE_LIMIT, opening_at_once.clone().acquire_owned())
                .await??;
            opening.push(tokio::spawn(async move {
                let opened = match kind {
                    Kind::Taskwire => open_taskwire(&addr, &token, tx).await,
                    Kind::SocketIo => open_socketio(&addr, &token, tx).await,
                };
                drop(permit);
                opened
            }));
        }
        let mut readers = Vec::with_capacity(sockets);
        for task in opening {
            readers.push(tokio::time::timeout(PHASE_LIMIT, task).await???);
        }
        Ok(readers)
    }
}

/// Stops the readers (closing their sockets) when dropped.
struct Readers(Vec<JoinHandle<()>>);

impl Drop for Readers {
    fn drop(&mut self) {
        for reader in &self.0 {
            reader.abort();
        }
    }
}

/// One run against one server: its figures (NaN for those not measured).
async fn measure(kind: Kind, node_modules: &Path, only_writes: bool) -> Bench<Figures> {
    let http = reqwest::Client::new();
    let per_user = SOCKETS / USERS;
    let mut figures = [f64::NAN; FIGURES.len()];
    if !only_writes {
        let peer = Peer::start(kind, node_modules, &http).await?;
        // Let the allocator settle after start-up (and Taskwire's password hashing).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_before = peer.rss_kib()?;
        let (receipts_tx, mut receipts) = mpsc::unbounded_channel::<Receipt>();
        let opened = Instant::now();
        let _readers = Readers(peer.open_sockets(SOCKETS, &receipts_tx).await?);
        let opened = opened.elapsed();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let rss_after = peer.rss_kib()?;
        figures[0] = rss_after.saturating_sub(rss_before) as f64 / SOCKETS as f64;
        println!(
            "  {SOCKETS} sockets over {USERS} users opened in {opened:.2?}; RSS {rss_before} KiB before, {rss_after} KiB after: {:.1} KiB per idle socket",
            figures[0]
        );

        // Steady: one write every STEADY_EVERY, on schedule.
        let cpu_before = peer.cpu_seconds()?;
        let mut cpu_warm = cpu_before;
        let phase = Instant::now();
        let warm_writes = (WARM_UP.as_nanos() / STEADY_EVERY.as_nanos()) as usize;
        let mut writes = Vec::with_capacity(STEADY_WRITES);
        for write in 0..STEADY_WRITES {
            tokio::time::sleep_until((phase + STEADY_EVERY * write as u32).into()).await;
            if write == warm_writes {
                cpu_warm = peer.cpu_seconds()?;
            }
            let (http, base, token) = (
                http.clone(),
                peer.base.clone(),
                peer.tokens[write % USERS].clone(),
            );
            let started = Instant::now();
            writes.push(tokio::spawn(async move {
                create_task(&http, &base, &token, write).await?;
                Bench::Ok(started)
            }));
        }
        let mut arrived = Vec::with_capacity(STEADY_WRITES * per_user);
        while arrived.len() < STEADY_WRITES * per_user {
            let receipt = next_receipt(&mut receipts, phase).await?;
            if receipt.write >= STEADY_WRITES {
                return Err(format!("a receipt of no steady write: {}", receipt.write).into());
            }
            arrived.push(receipt);
        }
        let elapsed = phase.elapsed();
        let cpu_after = peer.cpu_seconds()?;
        let mut started = Vec::with_capacity(STEADY_WRITES);
        for write in writes {
            started.push(tokio::time::timeout(PHASE_LIMIT, write).await???);
        }
        let mut all = Vec::with_capacity(arrived.len());
        let mut warm = Vec::with_capacity(arrived.len());
        for receipt in &arrived {
            let latency = receipt.at.duration_since(started[receipt.write]);
            all.push(latency);
            if receipt.write >= warm_writes {
                warm.push(latency);
            }
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        figures[1] = ms(quantile(&mut warm, 0.50));
        figures[2] = ms(quantile(&mut warm, 0.99));
        figures[3] = ms(quantile(&mut all, 0.50));
        figures[4] = ms(quantile(&mut all, 0.99));
        figures[5] = (cpu_after - cpu_warm) * 1e6 / warm.len() as f64;
        figures[6] = (cpu_after - cpu_before) * 1e6 / all.len() as f64;
        println!(
            "  steady: {STEADY_WRITES} writes, {} deliveries in {elapsed:.2?}; after the 1st s: p50 {:.2} ms, p99 {:.2} ms, {:.1} us CPU per delivery; all: p50 {:.2} ms, p99 {:.2} ms, {:.1} us CPU per delivery",
            all.len(),
            figures[1],
            figures[2],
            figures[5],
            figures[3],
            figures[4],
            figures[6]
        );

        // Saturated: USERS writers as fast as their answers come.
        let cpu_before = peer.cpu_seconds()?;
        let phase = Instant::now();
        let mut writers = Vec::with_capacity(USERS);
        for writer in 0..USERS {
            let (http, base, token) =
                (http.clone(), peer.base.clone(), peer.tokens[writer].clone());
            writers.push(tokio::spawn(async move {
                let first = SATURATED_FIRST + writer * SATURATED_STRIDE;
                let mut n = 0;
                while phase.elapsed() < SATURATED_FOR {
                    create_task(&http, &base, &token, first + n).await?;
                    n += 1;
                }
                Bench::Ok(n)
            }));
        }
        let mut written = 0;
        for writer in writers {
            written += tokio::time::timeout(PHASE_LIMIT, writer).await???;
        }
        let expected = written * per_user;
        let mut last = phase;
        for _ in 0..expected {
            let receipt = next_receipt(&mut receipts, phase).await?;
            if receipt.write < SATURATED_FIRST {
                return Err(format!("a receipt of no saturated write: {}", receipt.write).into());
            }
            last = last.max(receipt.at);
        }
        let cpu = peer.cpu_seconds()? - cpu_before;
        let elapsed = last.duration_since(phase);
        figures[7] = expected as f64 / elapsed.as_secs_f64();
        figures[8] = cpu * 1e6 / expected as f64;
        println!(
            "  saturated: {written} writes by {USERS} writers, {expected} deliveries in {elapsed:.2?}: {:.0} deliveries/s, {:.1} us CPU per delivery",
            figures[7], figures[8]
        );
    }

    // Write cost: a fresh server, 10 sockets per user.
    let peer = Peer::start(kind, node_modules, &http).await?;
    let (receipts_tx, mut receipts) = mpsc::unbounded_channel::<Receipt>();
    let _readers = Readers(peer.open_sockets(SMALL_SOCKETS, &receipts_tx).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = peer.cpu_seconds()?;
    let switches_before = peer.context_switches()?;
    let phase = Instant::now();
    let mut writers = Vec::with_capacity(USERS);
    for writer in 0..USERS {
        let (http, base, token) = (http.clone(), peer.base.clone(), peer.tokens[writer].clone());
        writers.push(tokio::spawn(async move {
            for n in 0..SMALL_WRITES / USERS {
                create_task(&http, &base, &token, writer * SMALL_WRITES + n).await?;
            }
            Bench::Ok(())
        }));
    }
    for writer in writers {
        tokio::time::timeout(PHASE_LIMIT, writer).await???;
    }
    let expected = SMALL_WRITES * SMALL_SOCKETS / USERS;
    for _ in 0..expected {
        next_receipt(&mut receipts, phase).await?;
    }
    let elapsed = phase.elapsed();
    let cpu = peer.cpu_seconds()? - cpu_before;
    let switches = peer.context_switches()?.saturating_sub(switches_before);
    figures[9] = cpu * 1e6 / SMALL_WRITES as f64;
    figures[10] = switches as f64 / SMALL_WRITES as f64;
    println!(
        "  write cost: {SMALL_WRITES} writes to {SMALL_SOCKETS} sockets over {USERS} users, {expected} deliveries in {elapsed:.2?}: {:.0} us CPU and {:.1} context switches per write",
        figures[9], figures[10]
    );
    Ok(figures)
}

/// The medians of the runs, side by side.
fn print_table(figures: &[(Kind, Figures)], runs: usize) {
    let median = |kind: Kind, figure: usize| {
        let mut values: Vec<f64> = figures
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, f)| f[figure])
            .collect();
        common::median(&mut values)
    };
    println!();
    println!(
        "socket.io {SOCKETIO_VERSION} beside Taskwire, median of {runs} run(s) each, in turns (a shared machine: noisy figures)"
    );
    println!(
        "{:<62} | {:>10} | {:>10} | Taskwire / socket.io",
        "figure", "socket.io", "Taskwire"
    );
    println!("{}", "-".repeat(62 + 3 + 10 + 3 + 10 + 3 + 20));
    for (n, name) in FIGURES.iter().enumerate() {
        let (theirs, ours) = (median(Kind::SocketIo, n), median(Kind::Taskwire, n));
        if ours.is_nan() {
            continue;
        }
        let precision = if n == 7 { 0 } else { 2 };
        println!(
            "{name:<62} | {theirs:>10.precision$} | {ours:>10.precision$} | {:.2}",
            ours / theirs
        );
    }
}

async fn next_receipt(
    receipts: &mut mpsc::UnboundedReceiver<Receipt>,
    phase: Instant,
) -> Bench<Receipt> {
    let left = PHASE_LIMIT.saturating_sub(phase.elapsed());
    Ok(tokio::time::timeout(left, receipts.recv())
        .await?
        .ok_or("every socket ended")?)
}

/// The write number of a task's title in an event (`"title":"bench task N"`, see
/// `create_task`).
fn write_of(text: &str) -> Option<usize> {
    const TITLE: &str = "\"title\":\"bench task ";
    let rest = &text[text.find(TITLE)? + TITLE.len()..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

/// Reports each event's write on `ws` until it ends; answers engine.io's pings (`2`)
/// when `engine_io` (tungstenite answers WebSocket pings itself).
fn read_events(
    mut ws: Socket,
    event: &'static str,
    engine_io: bool,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            if engine_io && text.as_str() == "2" {
                if ws.send(Message::text("3")).await.is_err() {
                    break;
                }
            } else if text.starts_with(event)
                && let Some(write) = write_of(&text)
            {
                let receipt = Receipt {
                    write,
                    at: Instant::now(),
                };
                if receipts.send(receipt).is_err() {
                    break;
                }
            }
        }
    })
}

/// The next text frame.
async fn next_text(ws: &mut Socket) -> Bench<String> {
    loop {
        match ws.next().await.ok_or("closed while waiting")?? {
            Message::Text(text) => return Ok(text.to_string()),
            Message::Close(_) => return Err("closed while waiting".into()),
            _ => {}
        }
    }
}

/// A Taskwire socket, authenticated and subscribed to `tasks` (`taskwire.v1`).
async fn open_taskwire(
    addr: &str,
    token: &str,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> Bench<JoinHandle<()>> {
    let mut ws = connect(addr, "taskwire.v1").await?;
    ws.send(Message::text(
        json!({"type": "auth", "id": 1, "token": token}).to_string(),
    ))
    .await?;
    ws.send(Message::text(
        json!({"type": "subscribe", "id": 2, "topic": "tasks"}).to_string(),
    ))
    .await?;
    for kind in ["auth_ok", "snapshot"] {
        let text = next_text(&mut ws).await?;
        if !text.starts_with(&format!("{{\"type\":\"{kind}\"")) {
            return Err(format!("expected {kind}, got {text}").into());
        }
    }
    Ok(read_events(ws, "{\"type\":\"event\"", false, receipts))
}

/// A socket.io socket (engine.io v4 over WebSocket), connected to the main namespace
/// with `{token}`.
async fn open_socketio(
    addr: &str,
    token: &str,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> Bench<JoinHandle<()>> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    // The same small buffers as `common::connect`'s.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    let open = next_text(&mut ws).await?;
    if !open.starts_with("0{") {
        return Err(format!("expected engine.io's open packet, got {open}").into());
    }
    ws.send(Message::text(format!("40{}", json!({"token": token}))))
        .await?;
    loop {
        let text = next_text(&mut ws).await?;
        match text.as_str() {
            "2" => ws.send(Message::text("3")).await?,
            connected if connected.starts_with("40") => break,
            other => return Err(format!("expected socket.io's connect, got {other}").into()),
        }
    }
    Ok(read_events(ws, "42[\"event\"", true, receipts))
}
