//! Socket fan-out benchmark: prints figures, asserts nothing.
//!
//! Starts the release server as a child process (so its memory is its own) on loopback
//! over a temporary database, opens 1,000 authenticated, subscribed sockets over 10
//! users, then writes tasks over HTTP and measures:
//! - write-to-receipt latency (from sending the HTTP write to each socket's receipt of
//!   its event), p50 and p99, with one write in flight at a time;
//! - event deliveries per second, with several writers at once;
//! - server memory per idle socket: the growth of the server's resident set while the
//!   sockets were opened, divided by their number.
//!
//! Run: `cargo bench -p taskwire-server --bench sockets`. Every loop is bounded in count
//! and time, and nothing leaves the loopback interface. It raises its own open-files
//! limit (inherited by the server) up to the hard limit; if that is under ~2,100, raise
//! it first (`ulimit -n 4096`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const USERS: usize = 10;
const SOCKETS: usize = 1_000;
const LATENCY_WRITES: usize = 200;
const THROUGHPUT_WRITERS: usize = 10;
const THROUGHPUT_WRITES_EACH: usize = 50;
/// No phase may take longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

type Bench<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One event receipt: which user's change (its `seq`) reached a socket, and when.
struct Receipt {
    user: usize,
    seq: u64,
    at: Instant,
}

struct ServerProcess {
    child: Child,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A failed kill means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    fn rss_kib(&self) -> Bench<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .ok_or("no VmRSS line")?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .ok_or("bad VmRSS line")?
            .parse()?)
    }
}

#[tokio::main]
async fn main() -> Bench<()> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < 2 * SOCKETS as u64 + 100 => {
            eprintln!(
                "open-files limit is {limit}; raise it (ulimit -n 4096) for {SOCKETS} sockets"
            );
        }
        Ok(_) => {}
        Err(error) => eprintln!("cannot raise the open-files limit: {error}"),
    }
    let dir = tempfile::tempdir()?;
    let mut server = ServerProcess {
        child: Command::new(env!("CARGO_BIN_EXE_taskwire-server"))
            .args(["serve", "--addr", "127.0.0.1:0", "--db"])
            .arg(dir.path().join("bench.db"))
            .arg("--static-dir")
            .arg(dir.path())
            .args(["--max-sockets-per-user", "200", "--login-per-ip", "1000"])
            // Errors only: it serves no app here, which it would warn about.
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?,
    };
    let stdout = server.child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("Taskwire is running at ")
        .and_then(|url| url.strip_suffix('/'))
        .ok_or_else(|| format!("unexpected first line {line:?}"))?
        .to_owned();
    let addr = base.trim_start_matches("http://").to_owned();
    println!("server: {base} (pid {})", server.child.id());

    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for user in 0..USERS {
        let session: Value = http
            .post(format!("{base}/api/register"))
            .json(&json!({"username": format!("bench{user}"), "password": "benchmark password"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        tokens.push(session["token"].as_str().ok_or("no token")?.to_owned());
    }
    // Let the allocator settle after the (memory-hungry) password hashing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_kib()?;

    let (receipts_tx, mut receipts) = mpsc::unbounded_channel::<Receipt>();
    let opened = Instant::now();
    let tokens = Arc::new(tokens);
    let mut opening = Vec::new();
    for batch in 0..SOCKETS / 100 {
        for n in batch * 100..(batch + 1) * 100 {
            let user = n % USERS;
            let (addr, tokens, tx) = (addr.clone(), tokens.clone(), receipts_tx.clone());
            opening.push(tokio::spawn(async move {
                open_socket(&addr, &tokens[user], user, tx).await
            }));
        }
    }
    for task in opening {
        tokio::time::timeout(PHASE_LIMIT, task).await???;
    }
    println!(
        "opened {SOCKETS} authenticated, subscribed sockets over {USERS} users in {:.2?}",
        opened.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib()?;
    println!(
        "server RSS: {rss_before} KiB before, {rss_after} KiB with {SOCKETS} idle sockets: {:.1} KiB per idle socket",
        rss_after.saturating_sub(rss_before) as f64 / SOCKETS as f64
    );

    // Latency: one write at a time; wait for all its receipts.
    let per_user = SOCKETS / USERS;
    let mut seqs = [0u64; USERS];
    let mut latencies = Vec::with_capacity(LATENCY_WRITES * per_user);
    let mut answers = Vec::with_capacity(LATENCY_WRITES);
    let mut firsts = Vec::with_capacity(LATENCY_WRITES);
    let phase = Instant::now();
    for write in 0..LATENCY_WRITES {
        let user = write % USERS;
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
    let at = |samples: &mut Vec<Duration>, q: f64| {
        samples.sort();
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
    };
    println!(
        "write-to-receipt latency over {} deliveries ({LATENCY_WRITES} writes x {per_user} sockets): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        latencies.len(),
        at(&mut latencies, 0.50),
        at(&mut latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "  of which: HTTP answer p50 {:.2?} p99 {:.2?}; first socket's receipt p50 {:.2?} p99 {:.2?}",
        at(&mut answers, 0.5),
        at(&mut answers, 0.99),
        at(&mut firsts, 0.5),
        at(&mut firsts, 0.99)
    );

    // Throughput: several writers at once; count deliveries until all have arrived.
    let expected = THROUGHPUT_WRITERS * THROUGHPUT_WRITES_EACH * per_user;
    let phase = Instant::now();
    let mut writers = Vec::new();
    for writer in 0..THROUGHPUT_WRITERS {
        let (http, base, token) = (http.clone(), base.clone(), tokens[writer % USERS].clone());
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

async fn next_receipt(
    receipts: &mut mpsc::UnboundedReceiver<Receipt>,
    phase: Instant,
) -> Bench<Receipt> {
    let left = PHASE_LIMIT.saturating_sub(phase.elapsed());
    Ok(tokio::time::timeout(left, receipts.recv())
        .await?
        .ok_or("every socket ended")?)
}

async fn create_task(http: &reqwest::Client, base: &str, token: &str, n: usize) -> Bench<()> {
    http.post(format!("{base}/api/tasks"))
        .bearer_auth(token)
        .json(&json!({"title": format!("bench task {n}")}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Opens, authenticates and subscribes one socket, then leaves a task reading it that
/// reports each event's `seq`.
async fn open_socket(
    addr: &str,
    token: &str,
    user: usize,
    receipts: mpsc::UnboundedSender<Receipt>,
) -> Bench<()> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "taskwire.v1".parse()?);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    ws.send(Message::text(
        json!({"type": "auth", "id": 1, "token": token}).to_string(),
    ))
    .await?;
    ws.send(Message::text(
        json!({"type": "subscribe", "id": 2, "topic": "tasks"}).to_string(),
    ))
    .await?;
    let mut answered = 0;
    while answered < 2 {
        match ws.next().await.ok_or("closed while opening")?? {
            Message::Text(text)
                if text.contains("\"auth_ok\"") || text.contains("\"snapshot\"") =>
            {
                answered += 1;
            }
            Message::Text(text) => return Err(format!("unexpected frame {text}").into()),
            _ => {}
        }
    }
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

/// The `seq` of an event frame, read without parsing the whole frame.
fn seq_of(text: &str) -> Option<u64> {
    if !text.starts_with("{\"type\":\"event\"") {
        return None;
    }
    let rest = &text[text.find("\"seq\":")? + 6..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}
