//! Socket fan-out benchmark: prints figures, asserts nothing.
//!
//! Three scenarios, each against its own release server started as a child process (so
//! its memory and CPU time are its own) on loopback over a temporary database.
//!
//! `personal`: 1,000 authenticated sockets over 10 users, each subscribed to its user's
//! tasks (`taskwire.v1`, topic `tasks`); tasks written over HTTP. Measures:
//! - write-to-receipt latency (from sending the HTTP write to each socket's receipt of
//!   its event), p50 and p99, with one write in flight at a time;
//! - event deliveries per second, with several writers at once;
//! - server memory per idle socket: the growth of the server's resident set while the
//!   sockets were opened, divided by their number.
//!
//! `personal5k`: the same at 5,000 sockets over 50 users (100 each), opened at most
//! 1,000 at a time: write-to-receipt latency (one write at a time) and memory per idle
//! socket; no throughput phase.
//!
//! `board`: one shared board of 100 members (its owner and 99 it is shared with), each
//! with 10 `taskwire.v2` sockets subscribed to `board:<id>` (1,000 in all). One more
//! socket of the owner's edits a task's title 200 times, one edit every 5 ms (waiting
//! for each result), then 200 times more, each once the last reached every socket.
//! Measures, for each of the two:
//! - write-to-receipt latency at every socket (from sending the `task.update` to each
//!   socket's receipt of its event), p50 and p99;
//! - server CPU per delivery: the server's CPU time (user and system, every thread)
//!   from the first edit until the last event arrived, divided by the events delivered.
//!
//! Beside it, the kernel's floor for the same deliveries: after the first round of edits
//! one more edit's `event` frame is captured as a socket receives it, and this benchmark
//! starts itself again as a minimal sender (`--floor-sender`, a child process of one
//! thread, std only) that accepts 1,000 loopback TCP connections from plain readers here
//! (which read into a 4 KiB buffer, as the sockets do, and count bytes) and writes that
//! frame's exact bytes (WebSocket header and JSON; later edits' frames may be a byte or two
//! longer, their `seq` having more digits) 200 times to every connection, one blocking
//! `write` each with `TCP_NODELAY`, the next time once the last reached every reader (as
//! the one-at-a-time edits). Its CPU time (user and system, from `/proc`) over the
//! sending, divided by the deliveries, is printed beside the server's with their ratio
//! (the target: the server within 1.5x of the floor). The server's two runs and the
//! floor's take turns, `ROUNDS` (3) times, so that a machine whose speed drifts weighs on
//! both alike, and the median ratio is printed last. The server stays up, idle, while the
//! floor sends; the floor's figure is its sender's CPU alone.
//!
//! Run: `cargo bench -p taskwire-server --bench sockets` for all three, or with
//! `-- personal`, `-- personal5k` or `-- board` for one. Every loop is bounded in count
//! and time, and nothing leaves the loopback interface. It raises its own open-files
//! limit (inherited by the server) up to the hard limit; if that is under ~2,100 (~10,100
//! for `personal5k`), raise it first (`ulimit -n 12000`). (`board` holds its sockets and
//! the floor's readers at once, 2,000 in this process.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

use common::{
    Bench, ServerProcess, Socket, answer, auth_and_subscribe, connect, cpu_ticks, create_task,
    median, quantile, raise_open_files, register, seq_of, ticks_per_second,
};

const USERS: usize = 10;
const SOCKETS: usize = 1_000;
const LATENCY_WRITES: usize = 200;
const THROUGHPUT_WRITERS: usize = 10;
const THROUGHPUT_WRITES_EACH: usize = 50;
/// `personal5k`: 5,000 sockets over 50 users, 100 each.
const USERS_5K: usize = 50;
const SOCKETS_5K: usize = 5_000;
/// Sockets being opened at once at most: 5,000 handshakes at once would overflow the
/// server's listen backlog, and the retried connections wait a second.
const OPENING_AT_ONCE: usize = 1_000;
/// Members of the shared board, its owner included; each has `SOCKETS / MEMBERS`.
const MEMBERS: usize = 100;
const BOARD_EDITS: usize = 200;
/// One edit this often at most: a quick typist's pace, and close enough together that
/// one edit's deliveries overlap the next edit.
const EDIT_EVERY: Duration = Duration::from_millis(5);
/// No phase may take longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// The argument that makes this benchmark the floor's minimal sender (`floor_sender`).
const FLOOR_SENDER: &str = "--floor-sender";
/// The target for the server's CPU per delivery over the floor's.
const FLOOR_TARGET: f64 = 1.5;
/// `board`: rounds of the server's edits and the floor's sends, in turns.
const ROUNDS: usize = 3;

/// One event receipt: which user's change (its `seq`) reached a socket, and when.
struct Receipt {
    user: usize,
    seq: u64,
    at: Instant,
}

impl ServerProcess {
    /// CPU time the server has used so far, in clock ticks (see `cpu_ticks`).
    fn cpu_ticks(&self) -> Bench<u64> {
        cpu_ticks(self.pid())
    }
}

fn main() -> Bench<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Started again by itself as the floor's sender: no runtime, one thread.
    if let Some(at) = args.iter().position(|arg| arg == FLOOR_SENDER) {
        return floor_sender(&args[at + 1..]);
    }
    tokio::runtime::Runtime::new()?.block_on(scenarios(args))
}

async fn scenarios(args: Vec<String>) -> Bench<()> {
    // `cargo bench` passes `--bench`; the rest name the scenarios to run.
    let chosen: Vec<String> = args
        .into_iter()
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    for name in &chosen {
        if !["personal", "personal5k", "board"].contains(&name.as_str()) {
            return Err(format!(
                "unknown scenario {name:?}: expected personal, personal5k or board"
            )
            .into());
        }
    }
    let runs = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    raise_open_files(if runs("personal5k") {
        SOCKETS_5K
    } else {
        SOCKETS
    });
    if runs("personal") {
        println!("personal: {SOCKETS} sockets over {USERS} users, each on its own tasks");
        personal(USERS, SOCKETS, true).await?;
    }
    if runs("personal5k") {
        println!("personal5k: {SOCKETS_5K} sockets over {USERS_5K} users, each on its own tasks");
        personal(USERS_5K, SOCKETS_5K, false).await?;
    }
    if runs("board") {
        println!(
            "board: one board of {MEMBERS} members, {SOCKETS} sockets subscribed to it ({} each)",
            SOCKETS / MEMBERS
        );
        board().await?;
    }
    Ok(())
}

/// `sockets` sockets over `users` users, each on its own tasks; the throughput phase too
/// if `throughput`.
async fn personal(users: usize, sockets: usize, throughput: bool) -> Bench<()> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::start(dir.path(), &[])?;
    let (base, addr) = (server.base.clone(), address(&server));
    let http = reqwest::Client::new();
    let tokens = register(&http, &base, "bench", users).await?;
    // Let the allocator settle after the (memory-hungry) password hashing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_kib()?;

    let (receipts_tx, mut receipts) = mpsc::unbounded_channel::<Receipt>();
    let opened = Instant::now();
    let tokens = Arc::new(tokens);
    let opening_at_once = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut opening = Vec::new();
    for n in 0..sockets {
        let user = n % users;
        let (addr, tokens, tx) = (addr.clone(), tokens.clone(), receipts_tx.clone());
        let permit =
            tokio::time::timeout(PHASE_LIMIT, opening_at_once.clone().acquire_owned()).await??;
        opening.push(tokio::spawn(async move {
            let opened = open_socket(&addr, &tokens[user], user, "taskwire.v1", "tasks", tx).await;
            drop(permit);
            opened
        }));
    }
    for task in opening {
        tokio::time::timeout(PHASE_LIMIT, task).await???;
    }
    println!(
        "opened {sockets} authenticated, subscribed sockets over {users} users in {:.2?}",
        opened.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib()?;
    println!(
        "server RSS: {rss_before} KiB before, {rss_after} KiB with {sockets} idle sockets: {:.1} KiB per idle socket",
        rss_after.saturating_sub(rss_before) as f64 / sockets as f64
    );

    // Latency: one write at a time; wait for all its receipts.
    let per_user = sockets / users;
    let mut seqs = vec![0u64; users];
    let mut latencies = Vec::with_capacity(LATENCY_WRITES * per_user);
    let mut answers = Vec::with_capacity(LATENCY_WRITES);
    let mut firsts = Vec::with_capacity(LATENCY_WRITES);
    let phase = Instant::now();
    for write in 0..LATENCY_WRITES {
        let user = write % users;
        seqs[user] += 1;
        let started = Instant::now();
        create_task(&http, &base, &tokens[user], write).await?;
        answers.push(started.elapsed());
        let mut got = 0;
        while got < per_user {
            let receipt = next_receipt(&mut receipts, phase).await?;
            if receipt.user == user && receipt.seq == seqs[user] {
                let latency = receipt.at.duration_since(started);
                if got == 0 {
                    firsts.push(latency);
                }
                latencies.push(latency);
                got += 1;
            }
        }
    }
    println!(
        "write-to-receipt latency over {} deliveries ({LATENCY_WRITES} writes x {per_user} sockets): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        latencies.len(),
        quantile(&mut latencies, 0.50),
        quantile(&mut latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "  of which: HTTP answer p50 {:.2?} p99 {:.2?}; first socket's receipt p50 {:.2?} p99 {:.2?}",
        quantile(&mut answers, 0.5),
        quantile(&mut answers, 0.99),
        quantile(&mut firsts, 0.5),
        quantile(&mut firsts, 0.99)
    );

    if !throughput {
        println!("server RSS at the end: {} KiB", server.rss_kib()?);
        return Ok(());
    }

    // Throughput: several writers at once; count deliveries until all have arrived.
    let expected = THROUGHPUT_WRITERS * THROUGHPUT_WRITES_EACH * per_user;
    let phase = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..THROUGHPUT_WRITERS {
        let (http, base, token) = (http.clone(), base.clone(), tokens[writer % users].clone());
        writers.push(tokio::spawn(async move {
            for n in 0..THROUGHPUT_WRITES_EACH {
                create_task(&http, &base, &token, n).await?;
            }
            Bench::Ok(())
        }));
    }
    let mut delivered = 0;
    while delivered < expected {
        next_receipt(&mut receipts, phase).await?;
        delivered += 1;
    }
    let elapsed = phase.elapsed();
    for writer in writers {
        writer.await??;
    }
    println!(
        "throughput: {} writes by {THROUGHPUT_WRITERS} concurrent writers, {delivered} deliveries in {elapsed:.2?}: {:.0} deliveries/s",
        THROUGHPUT_WRITERS * THROUGHPUT_WRITES_EACH,
        delivered as f64 / elapsed.as_secs_f64()
    );
    println!("server RSS at the end: {} KiB", server.rss_kib()?);
    Ok(())
}

async fn board() -> Bench<()> {
    let dir = tempfile::tempdir()?;
    // The writer's socket sends up to 200 edits a second, over the default 50 frames a
    // second one socket may send.
    let server = ServerProcess::start(dir.path(), &["--socket-rate", "1000"])?;
    let (base, addr) = (server.base.clone(), address(&server));
    let http = reqwest::Client::new();
    let tokens = register(&http, &base, "member", MEMBERS).await?;
    let owner = &tokens[0];
    let made: Value = http
        .post(format!("{base}/api/boards"))
        .bearer_auth(owner)
        .json(&json!({"name": "Everyone"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let board = made["id"].as_str().ok_or("no board id")?.to_owned();
    for member in 1..MEMBERS {
        http.put(format!("{base}/api/boards/{board}/members/member{member}"))
            .bearer_auth(owner)
            .json(&json!({"role": "editor"}))
            .send()
            .await?
            .error_for_status()?;
    }
    let tasks = format!("{base}/api/boards/{board}/tasks");
    let task: Value = http
        .post(&tasks)
        .bearer_auth(owner)
        .json(&json!({"title": "edit me"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let task = task["id"].as_str().ok_or("no task id")?.to_owned();
    let listed: Value = http
        .get(&tasks)
        .bearer_auth(owner)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    // Only the writer changes the board from here on: edit n gets `seq` first + n.
    let first = listed["seq"].as_u64().ok_or("no seq")? + 1;

    let (receipts_tx, receipts) = mpsc::unbounded_channel::<Receipt>();
    let opened = Instant::now();
    let tokens = Arc::new(tokens);
    let topic = Arc::<str>::from(format!("board:{board}"));
    let mut opening = Vec::new();
    for n in 0..SOCKETS {
        let member = n % MEMBERS;
        let (addr, tokens, topic, tx) = (
            addr.clone(),
            tokens.clone(),
            topic.clone(),
            receipts_tx.clone(),
        );
        opening.push(tokio::spawn(async move {
            open_socket(&addr, &tokens[member], member, "taskwire.v2", &topic, tx).await
        }));
    }
    for task in opening {
        tokio::time::timeout(PHASE_LIMIT, task).await???;
    }
    println!(
        "opened {SOCKETS} taskwire.v2 sockets of {MEMBERS} members, subscribed to {topic}, in {:.2?}",
        opened.elapsed()
    );
    // Presence goes out at most once a second: let the last of it pass.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let mut writer = connect(&addr, "taskwire.v2").await?;
    writer
        .send(Message::text(
            json!({"type": "auth", "id": 1, "token": tokens[0]}).to_string(),
        ))
        .await?;
    answer(&mut writer, "auth_ok").await?;
    let mut edits = Edits {
        server: &server,
        writer,
        receipts,
        board,
        task,
        next_seq: first,
    };
    // Rounds of the server's edits and the floor's sends in turns, so that a machine
    // whose speed drifts weighs on both alike.
    let mut floor: Option<Floor> = None;
    let (mut paced_ratios, mut one_at_a_time_ratios) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        println!("round {round} of {ROUNDS}");
        let paced = edits.run(Pace::Every(EDIT_EVERY)).await?;
        let one_at_a_time = edits.run(Pace::OneAtATime).await?;
        let floor = match &mut floor {
            Some(floor) => floor,
            None => {
                let event = edits.sample_event(&addr, &tokens[0], &topic).await?;
                floor.insert(Floor::start(&event, ROUNDS).await?)
            }
        };
        let floor = floor.round().await?;
        println!(
            "  server / floor: {:.2} x with the edits one at a time ({one_at_a_time:.1} µs / {floor:.1} µs), {:.2} x with one every {EDIT_EVERY:?} ({paced:.1} µs / {floor:.1} µs)",
            one_at_a_time / floor,
            paced / floor
        );
        one_at_a_time_ratios.push(one_at_a_time / floor);
        paced_ratios.push(paced / floor);
    }
    if let Some(mut floor) = floor {
        floor.finish()?;
    }
    println!(
        "server / floor, median of {ROUNDS} rounds: {:.2} x with the edits one at a time (target <= {FLOOR_TARGET}), {:.2} x with one every {EDIT_EVERY:?}",
        median(&mut one_at_a_time_ratios),
        median(&mut paced_ratios)
    );
    Ok(())
}

/// How the writer spaces its edits.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// One edit this often, whether or not the last has reached every socket yet.
    Every(Duration),
    /// The next edit once the last has reached every socket: latency without a backlog.
    OneAtATime,
}

/// The board scenario's writer, and what the sockets report.
struct Edits<'a> {
    server: &'a ServerProcess,
    writer: Socket,
    receipts: mpsc::UnboundedReceiver<Receipt>,
    board: String,
    task: String,
    /// The board's `seq` of the next edit: only the writer changes the board.
    next_seq: u64,
}

impl Edits<'_> {
    /// Makes `BOARD_EDITS` edits at `pace`; prints their latencies and CPU cost, and
    /// returns the server's CPU per delivery in microseconds.
    async fn run(&mut self, pace: Pace) -> Bench<f64> {
        let first = self.next_seq;
        let expected = BOARD_EDITS * SOCKETS;
        let mut sent = Vec::with_capacity(BOARD_EDITS);
        let mut answers = Vec::with_capacity(BOARD_EDITS);
        let mut latencies = Vec::with_capacity(expected);
        let mut firsts = vec![Duration::MAX; BOARD_EDITS];
        let cpu_before = self.server.cpu_ticks()?;
        let phase = Instant::now();
        for edit in 0..BOARD_EDITS {
            let started = Instant::now();
            sent.push(started);
            self.edit().await?;
            answers.push(started.elapsed());
            match pace {
                Pace::Every(every) => tokio::time::sleep_until((started + every).into()).await,
                Pace::OneAtATime => {
                    while latencies.len() < (edit + 1) * SOCKETS {
                        self.receive(first, &sent, &mut latencies, &mut firsts, phase)
                            .await?;
                    }
                }
            }
        }
        while latencies.len() < expected {
            self.receive(first, &sent, &mut latencies, &mut firsts, phase)
                .await?;
        }
        let elapsed = phase.elapsed();
        let cpu = (self.server.cpu_ticks()? - cpu_before) as f64 / ticks_per_second()?;
        let pace = match pace {
            Pace::Every(every) => format!("one every {every:?}"),
            Pace::OneAtATime => "one at a time".to_owned(),
        };
        println!(
            "write-to-receipt latency over {} deliveries ({BOARD_EDITS} edits, {pace}, x {SOCKETS} sockets): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
            latencies.len(),
            quantile(&mut latencies, 0.50),
            quantile(&mut latencies, 0.99),
            latencies.last().copied().unwrap_or_default()
        );
        println!(
            "  of which: the writer's result p50 {:.2?} p99 {:.2?}; first socket's receipt p50 {:.2?} p99 {:.2?}",
            quantile(&mut answers, 0.5),
            quantile(&mut answers, 0.99),
            quantile(&mut firsts, 0.5),
            quantile(&mut firsts, 0.99)
        );
        let per_delivery = cpu * 1e6 / latencies.len() as f64;
        println!(
            "  server CPU: {:.0} ms over the {elapsed:.2?} of edits and deliveries: {per_delivery:.1} us per delivery",
            cpu * 1e3,
        );
        Ok(per_delivery)
    }

    /// Edits the task's title once, waiting for the result.
    async fn edit(&mut self) -> Bench<()> {
        let seq = self.next_seq;
        let request = json!({"type": "request", "id": seq, "method": "task.update",
            "params": {"board": self.board, "id": self.task, "title": format!("edit {seq}")}});
        self.next_seq += 1;
        self.writer.send(Message::text(request.to_string())).await?;
        let result = answer(&mut self.writer, "result").await?;
        if !result.contains("\"ok\"") {
            return Err(format!("edit {seq} refused: {result}").into());
        }
        Ok(())
    }

    /// The `event` frame of one more edit, as a new socket of `token`'s subscribed to
    /// `topic` receives it: the frame the runs' sockets got, with the next `seq`. Its
    /// receipts at the runs' sockets are taken here, out of the next run's way.
    async fn sample_event(&mut self, addr: &str, token: &str, topic: &str) -> Bench<String> {
        let mut sample = connect(addr, "taskwire.v2").await?;
        auth_and_subscribe(&mut sample, token, topic).await?;
        self.edit().await?;
        let event = tokio::time::timeout(PHASE_LIMIT, answer(&mut sample, "event")).await??;
        let phase = Instant::now();
        for _ in 0..SOCKETS {
            next_receipt(&mut self.receipts, phase).await?;
        }
        Ok(event)
    }

    /// Takes one receipt of this run's edits (the first has `seq` `first`).
    async fn receive(
        &mut self,
        first: u64,
        sent: &[Instant],
        latencies: &mut Vec<Duration>,
        firsts: &mut [Duration],
        phase: Instant,
    ) -> Bench<()> {
        let receipt = next_receipt(&mut self.receipts, phase).await?;
        let edit = receipt
            .seq
            .checked_sub(first)
            .and_then(|edit| usize::try_from(edit).ok())
            .filter(|edit| *edit < sent.len())
            .ok_or_else(|| format!("an event of no edit sent: seq {}", receipt.seq))?;
        let latency = receipt.at.duration_since(sent[edit]);
        firsts[edit] = firsts[edit].min(latency);
        latencies.push(latency);
        Ok(())
    }
}

/// The kernel's floor for the one-at-a-time edits' deliveries: a minimal sender (this
/// benchmark started again, `floor_sender`) that writes an event's WebSocket frame to
/// `SOCKETS` plain TCP readers here, `BOARD_EDITS` times a round, each time once the last
/// reached every reader.
struct Floor {
    sender: FloorSender,
    receipts: mpsc::UnboundedReceiver<Instant>,
    frame_len: usize,
}

impl Floor {
    /// The sender and its readers, connected, ready for `rounds` rounds of `event`.
    async fn start(event: &str, rounds: usize) -> Bench<Self> {
        let frame_len = text_frame(event).len();
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                FLOOR_SENDER,
                &SOCKETS.to_string(),
                &(rounds * BOARD_EDITS).to_string(),
                event,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let go = child.stdin.take().ok_or("no stdin")?;
        let lines = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        // Held from here on, so that the child is stopped if anything below fails.
        let mut sender = FloorSender {
            child,
            go: Some(go),
            lines,
        };
        let addr = sender.line()?;
        let (receipts_tx, receipts) = mpsc::unbounded_channel::<Instant>();
        for _ in 0..SOCKETS {
            let stream =
                tokio::time::timeout(PHASE_LIMIT, tokio::net::TcpStream::connect(&addr)).await??;
            stream.set_nodelay(true)?;
            tokio::spawn(count_frames(stream, frame_len, receipts_tx.clone()));
        }
        drop(receipts_tx);
        let ready = sender.line()?;
        if ready != "ready" {
            return Err(format!("the floor's sender said {ready:?}").into());
        }
        Ok(Self {
            sender,
            receipts,
            frame_len,
        })
    }

    /// One round; prints what it took, and returns the sender's CPU time per delivery in
    /// microseconds.
    async fn round(&mut self) -> Bench<f64> {
        let pid = self.sender.child.id();
        let mut latencies = Vec::with_capacity(BOARD_EDITS * SOCKETS);
        let cpu_before = cpu_ticks(pid)?;
        let phase = Instant::now();
        for _ in 0..BOARD_EDITS {
            let started = Instant::now();
            self.sender.go()?;
            for _ in 0..SOCKETS {
                let left = PHASE_LIMIT.saturating_sub(phase.elapsed());
                let at = tokio::time::timeout(left, self.receipts.recv())
                    .await?
                    .ok_or("every floor reader ended")?;
                latencies.push(at.duration_since(started));
            }
        }
        let elapsed = phase.elapsed();
        let cpu = (cpu_ticks(pid)? - cpu_before) as f64 / ticks_per_second()?;
        println!(
            "floor: a minimal sender (pid {pid}, one thread) wrote an event's {}-byte frame to {SOCKETS} TCP readers {BOARD_EDITS} times, one at a time",
            self.frame_len
        );
        println!(
            "  sender CPU: {:.0} ms over {elapsed:.2?}; send-to-receipt p50 {:.2?}, p99 {:.2?}",
            cpu * 1e3,
            quantile(&mut latencies, 0.50),
            quantile(&mut latencies, 0.99)
        );
        let per_delivery = cpu * 1e6 / latencies.len() as f64;
        println!(
            "  floor: {per_delivery:.1} µs per delivery (a minimal sender, one write per socket)"
        );
        Ok(per_delivery)
    }

    fn finish(&mut self) -> Bench<()> {
        self.sender.finish()
    }
}

/// The floor's minimal sender, a child process, stopped when dropped.
struct FloorSender {
    child: Child,
    /// Each byte written sends the frame once more; closing it ends the sender.
    go: Option<ChildStdin>,
    lines: BufReader<ChildStdout>,
}

impl Drop for FloorSender {
    fn drop(&mut self) {
        // A failed kill means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FloorSender {
    /// The sender's next line: its address, then `ready` once every reader is accepted.
    fn line(&mut self) -> Bench<String> {
        let mut line = String::new();
        let read = tokio::task::block_in_place(|| self.lines.read_line(&mut line))?;
        if read == 0 {
            return Err("the floor's sender ended".into());
        }
        Ok(line.trim().to_owned())
    }

    /// Has the sender write the frame to every connection once more.
    fn go(&mut self) -> Bench<()> {
        self.go
            .as_mut()
            .ok_or("the floor's sender was told to end")?
            .write_all(b"g")?;
        Ok(())
    }

    /// Ends the sender (closing its input) and waits for it.
    fn finish(&mut self) -> Bench<()> {
        drop(self.go.take());
        let status = tokio::task::block_in_place(|| self.child.wait())?;
        if !status.success() {
            return Err(format!("the floor's sender failed: {status}").into());
        }
        Ok(())
    }
}

/// A floor reader: reads `stream` into a 4 KiB buffer, as a socket does, and reports
/// each whole frame's worth of bytes (`frame_len`) as it arrives.
async fn count_frames(
    mut stream: tokio::net::TcpStream,
    frame_len: usize,
    receipts: mpsc::UnboundedSender<Instant>,
) {
    let mut buffer = vec![0u8; 4096];
    let mut partial = 0;
    while let Ok(read @ 1..) = stream.read(&mut buffer).await {
        partial += read;
        while partial >= frame_len {
            partial -= frame_len;
            if receipts.send(Instant::now()).is_err() {
                return;
            }
        }
    }
}

/// The floor's minimal sender: this benchmark started again with `--floor-sender
/// CONNECTIONS FRAMES TEXT`, std only and one thread, like an ideal server. It listens on
/// a loopback port (printing its address), accepts `CONNECTIONS` connections (printing
/// `ready`), then for each byte read from its input writes `TEXT`'s WebSocket frame to
/// every connection, one blocking `write` each with `TCP_NODELAY`, `FRAMES` times; it
/// ends at the end of its input.
fn floor_sender(args: &[String]) -> Bench<()> {
    let [connections, frames, text] = args else {
        return Err(format!("usage: {FLOOR_SENDER} CONNECTIONS FRAMES TEXT").into());
    };
    let (connections, frames): (usize, usize) = (connections.parse()?, frames.parse()?);
    let frame = text_frame(text);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?);
    // Not blocking, so that it gives up at the deadline if the readers never come.
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + PHASE_LIMIT;
    let mut streams = Vec::with_capacity(connections);
    while streams.len() < connections {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                stream.set_nodelay(true)?;
                streams.push(stream);
            }
            Err(error)
                if error.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(error) => return Err(error.into()),
        }
    }
    drop(listener);
    println!("ready");
    let mut go = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    for _ in 0..frames {
        go.read_exact(&mut byte)?;
        for stream in &mut streams {
            if stream.write(&frame)? != frame.len() {
                return Err("a short write".into());
            }
        }
    }
    // Kept alive (and its connections open) until the benchmark has read its CPU time.
    while go.read(&mut byte)? != 0 {}
    Ok(())
}

/// `text` as a server's WebSocket text frame: FIN and opcode 1, the length, no mask.
fn text_frame(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81];
    match text.len() {
        len @ 0..=125 => frame.push(len as u8),
        len @ 126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(text.as_bytes());
    frame
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

/// `127.0.0.1:<port>`, where the sockets connect.
fn address(server: &ServerProcess) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Opens, authenticates and subscribes one socket offering `protocol`, then leaves a
/// task reading it that reports each event's `seq`.
async fn open_socket(
    addr: &str,
    token: &str,
    user: usize,
    protocol: &str,
    topic: &str,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> Bench<()> {
    let mut ws = connect(addr, protocol).await?;
    auth_and_subscribe(&mut ws, token, topic).await?;
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message
                && let Some(seq) = seq_of(&text)
            {
                let receipt = Receipt {
                    user,
                    seq,
                    at: Instant::now(),
                };
                if receipts.send(receipt).is_err() {
                    break;
                }
            }
        }
    });
    Ok(())
}
