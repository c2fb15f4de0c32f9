//! HTTP fallback benchmark: what 1,000 waiting long polls cost the server, and how soon
//! a write answers them. Prints figures, asserts nothing.
//!
//! A release server runs as a child process (its memory is its own) on loopback over a
//! temporary database. 100 users each hold 10 long polls (`GET /api/changes?topic=tasks&
//! since=<epoch>:<seq>&wait=25`, Bearer) on their own tasks, 1,000 in all, each on a
//! connection of its own as a browser's would be. Measures:
//! - server memory per waiting poll: the growth of the server's resident set while the
//!   polls were opened (their connections included), divided by their number;
//! - write-to-answer latency: one `POST /api/tasks` per user, one at a time, each timed
//!   from sending the write to each of that user's 10 polls getting its answer, p50 and
//!   p99.
//!
//! Run: `cargo bench -p taskwire-server --bench long_polls`. The server's default limits
//! allow this (10 waiting polls a user, under `--max-polls-per-user`); every loop is
//! bounded in count and time, and nothing leaves the loopback interface. It raises its
//! own open-files limit (inherited by the server) up to the hard limit; if that is under
//! ~2,100, raise it first (`ulimit -n 4096`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use common::{Bench, ServerProcess, create_task, quantile, raise_open_files, register};

const USERS: usize = 100;
const POLLS_PER_USER: usize = 10;
const POLLS: usize = USERS * POLLS_PER_USER;
/// The longest wait the contract allows: the polls must all be answered by a write
/// before it runs out.
const WAIT_SECS: u64 = 25;
/// Opening the polls may take no longer than this.
const OPEN_LIMIT: Duration = Duration::from_secs(10);

/// A long poll's answer: whose poll, what it brought, and when it arrived.
struct Answer {
    user: usize,
    events: usize,
    seq: u64,
    at: Instant,
}

/// Where a user's tasks stand: what a poll sends as `since`.
struct Position {
    epoch: String,
    seq: u64,
}

#[tokio::main]
async fn main() -> Bench<()> {
    raise_open_files(POLLS);
    println!(
        "long polls: {POLLS} waiting over {USERS} users ({POLLS_PER_USER} each), each on its own tasks"
    );
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::start(dir.path(), &[])?;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let tokens = register(&http, &base, "poller", USERS).await?;
    let mut positions = Vec::with_capacity(USERS);
    for token in &tokens {
        positions.push(snapshot(&http, &base, token).await?);
    }
    // Let the allocator settle after the (memory-hungry) password hashing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_kib()?;
    let fds_before = open_files(&server)?;

    let (answers_tx, mut answers) = mpsc::unbounded_channel::<Bench<Answer>>();
    let opened = Instant::now();
    let tokens = Arc::new(tokens);
    for n in 0..POLLS {
        let user = n % USERS;
        let url = format!(
            "{base}/api/changes?topic=tasks&since={}:{}&wait={WAIT_SECS}",
            positions[user].epoch, positions[user].seq
        );
        let (http, tokens, tx) = (http.clone(), tokens.clone(), answers_tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(poll(&http, &url, &tokens[user], user).await);
        });
    }
    // Every poll holds a connection of its own: once the server has them all, give it a
    // moment to read each request and park it.
    while open_files(&server)? < fds_before + POLLS {
        if opened.elapsed() > OPEN_LIMIT {
            return Err(format!("the server took no {POLLS} connections in {OPEN_LIMIT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let accepted = opened.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Ok(answer) = answers.try_recv() {
        let answer = answer?;
        return Err(format!(
            "user {}'s poll answered before any write ({} events)",
            answer.user, answer.events
        )
        .into());
    }
    let rss_after = server.rss_kib()?;
    println!("the server took {POLLS} long poll connections in {accepted:.2?}");
    println!(
        "server RSS: {rss_before} KiB with no poll, {rss_after} KiB with {POLLS} waiting: {:.1} KiB per waiting poll",
        rss_after.saturating_sub(rss_before) as f64 / POLLS as f64
    );

    // Latency: one write at a time; wait for all its user's polls to answer.
    let mut latencies = Vec::with_capacity(POLLS);
    let mut writes = Vec::with_capacity(USERS);
    let mut firsts = Vec::with_capacity(USERS);
    let deadline = opened + Duration::from_secs(WAIT_SECS);
    for (user, position) in positions.iter().enumerate() {
        let started = Instant::now();
        create_task(&http, &base, &tokens[user], user).await?;
        writes.push(started.elapsed());
        let mut first = Duration::MAX;
        for _ in 0..POLLS_PER_USER {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = tokio::time::timeout(left, answers.recv())
                .await?
                .ok_or("every poll ended")??;
            if answer.user != user || answer.events != 1 || answer.seq != position.seq + 1 {
                return Err(format!(
                    "after user {user}'s write, user {}'s poll answered {} events up to seq {}",
                    answer.user, answer.events, answer.seq
                )
                .into());
            }
            let latency = answer.at.duration_since(started);
            first = first.min(latency);
            latencies.push(latency);
        }
        firsts.push(first);
    }
    println!(
        "write-to-answer latency over {} polls ({USERS} writes, one at a time, x {POLLS_PER_USER} polls): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        latencies.len(),
        quantile(&mut latencies, 0.50),
        quantile(&mut latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "  of which: HTTP answer to the write p50 {:.2?} p99 {:.2?}; first poll's answer p50 {:.2?} p99 {:.2?}",
        quantile(&mut writes, 0.5),
        quantile(&mut writes, 0.99),
        quantile(&mut firsts, 0.5),
        quantile(&mut firsts, 0.99)
    );
    Ok(())
}

/// The user's tasks as a client starting on the fallback gets them: `GET /api/changes`
/// without `since` answers with a snapshot and its position.
async fn snapshot(http: &reqwest::Client, base: &str, token: &str) -> Bench<Position> {
    let changes: Value = http
        .get(format!("{base}/api/changes?topic=tasks"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if changes.get("snapshot").is_none() {
        return Err(format!("no snapshot: {changes}").into());
    }
    Ok(Position {
        epoch: changes["epoch"].as_str().ok_or("no epoch")?.to_owned(),
        seq: changes["seq"].as_u64().ok_or("no seq")?,
    })
}

/// One long poll, from sending it to its whole answer.
async fn poll(http: &reqwest::Client, url: &str, token: &str, user: usize) -> Bench<Answer> {
    let changes: Value = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let at = Instant::now();
    Ok(Answer {
        user,
        events: changes["events"].as_array().map_or(0, Vec::len),
        seq: changes["seq"].as_u64().ok_or("no seq")?,
        at,
    })
}

/// How many files the server holds open: each connection it has accepted is one.
fn open_files(server: &ServerProcess) -> Bench<usize> {
    Ok(std::fs::read_dir(format!("/proc/{}/fd", server.pid()))?.count())
}
