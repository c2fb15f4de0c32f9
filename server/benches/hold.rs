//! Hold benchmark: 10,000 authenticated sockets for 5 minutes with steady writes. Prints
//! figures, asserts nothing, but exits non-zero if any error happened.
//!
//! Issue target: "10,000 authenticated sockets for 5 minutes with steady writes: no
//! errors, memory at the end within 5% of the start".
//!
//! One release server as a child process (so its memory and CPU time are its own) on
//! loopback over a temporary SQLite file. 100 users with 100 `taskwire.v1` sockets each,
//! every socket authenticated and subscribed to its user's `tasks`. Then, for the hold:
//! - steady writes over HTTP: 20 tasks a second, one user after another (each user gets
//!   one every 5 s, never two in flight), each reaching that user's 100 sockets: 2,000
//!   deliveries a second;
//! - every socket sends the app's `ping` frame every `heartbeat_ms` (25 s, from
//!   `auth_ok`), staggered over the sockets, and answers the server's WebSocket pings
//!   (tungstenite does so while reading), so the server's idle timeout never fires.
//!
//! Every socket counts its events and checks that their `seq` runs on from its snapshot
//! with no gap; the first socket of each user also timestamps them for the latency.
//! Printed: the server's resident set right after every socket is open and subscribed
//! (the start), every 30 s, and at the end (once every event has arrived, sockets still
//! open), the end over the start (target: within 5%); the errors (closed sockets, failed
//! writes, missing, extra or out-of-order events, unexpected frames, unanswered pings: all
//! should be 0); write-to-receipt latency p50/p99 (from sending the HTTP write to the
//! sampled sockets' receipt); the server's CPU time over the hold per delivery.
//!
//! Run: `cargo bench -p taskwire-server --bench hold` (the 5-minute hold), or with
//! `-- short` for a 30-second hold (figures every 10 s) for quick checks. The server and
//! this client each hold one end of every socket: each needs an open-files limit over
//! 10,000; it raises its own (inherited by the server) up to the hard limit, and stops
//! at once, saying so, if that is too low (raise it first: `ulimit -n 12000`).

mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::{
    Instant, MissedTickBehavior, interval_at, sleep, sleep_until, timeout, timeout_at,
};
use tokio_tungstenite::tungstenite::Message;

use common::{
    Bench, ServerProcess, Socket, auth_and_subscribe, connect, cpu_ticks, create_task, quantile,
    raise_open_files, register, rss_kib_of, seq_of, ticks_per_second,
};

const USERS: usize = 100;
const PER_USER: usize = 100;
const SOCKETS: usize = USERS * PER_USER;
/// HTTP writes a second, over all users.
const WRITES_PER_SECOND: usize = 20;
/// Descriptors either process needs beyond one per socket (HTTP, database, runtime).
const SPARE_FILES: u64 = 200;
/// Sockets being opened (handshake, auth, subscribe) at once.
const OPENING_AT_ONCE: usize = 100;
/// Longest wait for one socket to open, authenticate and get its snapshot.
const OPEN_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for all sockets to open.
const ALL_OPEN_LIMIT: Duration = Duration::from_secs(300);
/// Longest wait for one HTTP write's answer.
const WRITE_LIMIT: Duration = Duration::from_secs(30);
/// Longest wait, after the last write, for every event and pong to arrive.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// What the sockets are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Read events, ping every heartbeat.
    Hold,
    /// No more pings; report once every event written and every pong has arrived.
    Drain,
    /// Stop and report.
    Close,
}

/// What every socket and writer shares with the main task.
struct Shared {
    /// Writes answered with success, per user: the events each of its sockets should get.
    written: Vec<AtomicU64>,
    /// When each user's writes were sent, oldest first: write n should get `seq` base + n + 1.
    sent: Vec<Mutex<Vec<Instant>>>,
    /// Receipts at the first socket of each user: (user, write index, when).
    receipts: Mutex<Vec<(usize, usize, Instant)>>,
    /// HTTP answer times.
    answers: Mutex<Vec<Duration>>,
    /// Events received, every socket.
    delivered: AtomicU64,
    failed_writes: AtomicU64,
    closed: AtomicU64,
    out_of_order: AtomicU64,
    unexpected: AtomicU64,
    /// Sockets that have received everything after `Phase::Drain` (or ended).
    settled: AtomicU64,
    settled_changed: Notify,
}

impl Shared {
    fn new() -> Self {
        Self {
            written: (0..USERS).map(|_| AtomicU64::new(0)).collect(),
            sent: (0..USERS).map(|_| Mutex::new(Vec::new())).collect(),
            receipts: Mutex::new(Vec::new()),
            answers: Mutex::new(Vec::new()),
            delivered: AtomicU64::new(0),
            failed_writes: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            settled_changed: Notify::new(),
        }
    }

    fn settle(&self) {
        self.settled.fetch_add(1, Relaxed);
        self.settled_changed.notify_one();
    }

    /// Errors seen so far while the sockets run.
    fn running_errors(&self) -> u64 {
        self.failed_writes.load(Relaxed)
            + self.closed.load(Relaxed)
            + self.out_of_order.load(Relaxed)
            + self.unexpected.load(Relaxed)
    }
}

/// One socket's account, once it stops.
#[derive(Debug, Default)]
struct SocketReport {
    user: usize,
    events: u64,
    pings: u64,
    pongs: u64,
    /// Why it ended early, if it did.
    closed: Option<String>,
}

/// A socket open, authenticated and subscribed: its snapshot's `seq` and the heartbeat.
struct Opened {
    ws: Socket,
    base: u64,
    heartbeat: Duration,
}

#[tokio::main]
async fn main() -> Bench<()> {
    // `cargo bench` passes `--bench`; `short` asks for the quick version.
    let mut short = false;
    for arg in std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
    {
        match arg.as_str() {
            "short" => short = true,
            other => return Err(format!("unknown argument {other:?}: expected short").into()),
        }
    }
    let (hold, report_every) = if short {
        (Duration::from_secs(30), Duration::from_secs(10))
    } else {
        (Duration::from_secs(300), Duration::from_secs(30))
    };
    check_open_files()?;
    println!(
        "hold: {SOCKETS} taskwire.v1 sockets ({USERS} users x {PER_USER}) for {hold:?}, {WRITES_PER_SECOND} writes/s ({} deliveries/s)",
        WRITES_PER_SECOND * PER_USER
    );
    let errors = run(hold, report_every).await?;
    if errors > 0 {
        return Err(format!("{errors} errors during the hold").into());
    }
    Ok(())
}

/// Raises the open-files limit; an error, saying so, if it stays under what one end of
/// every socket needs (the server, a process of its own, needs as many).
fn check_open_files() -> Bench<()> {
    // `raise_open_files` counts both ends in one process: here each process holds one.
    raise_open_files(SOCKETS / 2 + SPARE_FILES as usize / 2);
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    let needed = SOCKETS as u64 + SPARE_FILES;
    println!("open-files limit: {soft} (hard limit {hard}); this needs {needed} per process");
    if soft < needed {
        return Err(format!(
            "THE OPEN-FILES LIMIT IS TOO LOW: {soft} (hard limit {hard}) for {SOCKETS} sockets; \
             raise the hard limit (ulimit -Hn {needed}; ulimit -n {needed}) and run again"
        )
        .into());
    }
    Ok(())
}

/// The whole benchmark; the number of errors.
async fn run(hold: Duration, report_every: Duration) -> Bench<u64> {
    let dir = tempfile::tempdir()?;
    // common's `--max-sockets-per-user 200` covers 100 a user, and its
    // `--login-per-ip 1000` the 100 registrations. Access tokens outlive the opening
    // and the hold, so no socket is closed for an expired token (the app would refresh
    // it in-band; that is not what this measures).
    let server = ServerProcess::start(dir.path(), &["--access-ttl-secs", "7200"])?;
    let (base, addr) = (server.base.clone(), address(&server));
    let http = reqwest::Client::new();
    let tokens = Arc::new(register(&http, &base, "hold", USERS).await?);
    // Let the allocator settle after the (memory-hungry) password hashing.
    sleep(Duration::from_millis(500)).await;
    let rss_empty = server.rss_kib()?;

    let shared = Arc::new(Shared::new());
    let (phase_tx, phase_rx) = watch::channel(Phase::Hold);
    let (ready_tx, mut ready) = mpsc::channel::<Result<(), String>>(SOCKETS);
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let opened_at = Instant::now();
    let mut sockets = Vec::with_capacity(SOCKETS);
    for n in 0..SOCKETS {
        let user = n % USERS;
        let (addr, tokens, shared, opening, ready_tx, phase) = (
            addr.clone(),
            tokens.clone(),
            shared.clone(),
            opening.clone(),
            ready_tx.clone(),
            phase_rx.clone(),
        );
        sockets.push(tokio::spawn(async move {
            let opened = {
                let _permit = opening.acquire().await;
                timeout(OPEN_LIMIT, open(&addr, &tokens[user])).await
            };
            let opened = match opened {
                Ok(Ok(opened)) => opened,
                Ok(Err(error)) => {
                    let _ = ready_tx.send(Err(format!("socket {n}: {error}"))).await;
                    return SocketReport::default();
                }
                Err(_) => {
                    let _ = ready_tx
                        .send(Err(format!("socket {n}: not open in {OPEN_LIMIT:?}")))
                        .await;
                    return SocketReport::default();
                }
            };
            // The main task stops at the first failure, so a failed send changes nothing.
            let _ = ready_tx.send(Ok(())).await;
            drop(ready_tx);
            // The first socket of each user times its receipts; pings spread evenly.
            let stagger = (n % 1000 + 1) as f64 / 1000.0;
            hold_socket(opened, user, n < USERS, stagger, shared, phase).await
        }));
    }
    drop(ready_tx);
    for _ in 0..SOCKETS {
        let left = ALL_OPEN_LIMIT.saturating_sub(opened_at.elapsed());
        match timeout(left, ready.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(error))) => return Err(format!("opening failed: {error}").into()),
            Ok(None) => return Err("opening ended early".into()),
            Err(_) => {
                return Err(format!("the sockets were not all open in {ALL_OPEN_LIMIT:?}").into());
            }
        }
    }
    println!(
        "opened {SOCKETS} authenticated, subscribed sockets in {:.2?}",
        opened_at.elapsed()
    );
    let rss_start = server.rss_kib()?;
    println!(
        "server RSS: {rss_empty} KiB before the sockets, {rss_start} KiB with them (start): {:.1} KiB per socket; this client: {} KiB",
        rss_start.saturating_sub(rss_empty) as f64 / SOCKETS as f64,
        rss_kib_of("self")?
    );

    // The hold: writers on their schedule, figures every `report_every`.
    let ticks = ticks_per_second()?;
    let cpu_start = cpu_ticks(server.pid())?;
    let hold_start = Instant::now();
    let hold_end = hold_start + hold;
    let write_every = Duration::from_secs_f64(USERS as f64 / WRITES_PER_SECOND as f64);
    let mut writers = Vec::with_capacity(USERS);
    for user in 0..USERS {
        let (http, base, token, shared) = (
            http.clone(),
            base.clone(),
            tokens[user].clone(),
            shared.clone(),
        );
        let first = hold_start + write_every.mul_f64(user as f64 / USERS as f64);
        writers.push(tokio::spawn(async move {
            write_steadily(
                &http,
                &base,
                &token,
                user,
                first,
                write_every,
                hold_end,
                &shared,
            )
            .await
        }));
    }
    // Figures on a fixed schedule, whatever each reading costs: at every multiple of
    // `report_every` up to the end of the hold.
    let mut at = hold_start + report_every;
    while at <= hold_end {
        sleep_until(at).await;
        let rss = server.rss_kib()?;
        println!(
            "  at {:>3}s: server RSS {} KiB ({:+.2}% of the start), {} writes, {} deliveries, {} errors so far",
            at.duration_since(hold_start).as_secs(),
            rss,
            percent(rss, rss_start),
            total(&shared.written),
            shared.delivered.load(Relaxed),
            shared.running_errors()
        );
        at += report_every;
    }
    for writer in writers {
        writer.await?;
    }
    let writes_done = Instant::now();

    // Drain: every socket reports once it has every event written and every pong.
    phase_tx.send(Phase::Drain)?;
    let drained = timeout(DRAIN_LIMIT, async {
        while shared.settled.load(Relaxed) < SOCKETS as u64 {
            shared.settled_changed.notified().await;
        }
    })
    .await
    .is_ok();
    let cpu = (cpu_ticks(server.pid())? - cpu_start) as f64 / ticks;
    let rss_end = server.rss_kib()?;
    let hold_took = hold_start.elapsed();
    println!(
        "writes ended {:.2?} into the hold; {} in the {:.2?} after them",
        writes_done.duration_since(hold_start),
        if drained {
            "every socket had everything"
        } else {
            "NOT every socket had everything"
        },
        writes_done.elapsed()
    );
    println!(
        "server RSS: start {rss_start} KiB, end {rss_end} KiB: end/start {:.4} ({:+.2}%; target within 5%)",
        rss_end as f64 / rss_start as f64,
        percent(rss_end, rss_start)
    );

    phase_tx.send(Phase::Close)?;
    let mut reports = Vec::with_capacity(SOCKETS);
    for socket in sockets {
        reports.push(socket.await?);
    }
    let (mut missing, mut extra, mut unanswered, mut pings) = (0, 0, 0, 0);
    let mut first_close = None;
    for socket in &reports {
        let expected = shared.written[socket.user].load(Relaxed);
        missing += expected.saturating_sub(socket.events);
        extra += socket.events.saturating_sub(expected);
        unanswered += socket.pings.saturating_sub(socket.pongs);
        pings += socket.pings;
        if first_close.is_none() {
            first_close.clone_from(&socket.closed);
        }
    }
    let delivered = shared.delivered.load(Relaxed);
    let (failed_writes, closed, out_of_order, unexpected) = (
        shared.failed_writes.load(Relaxed),
        shared.closed.load(Relaxed),
        shared.out_of_order.load(Relaxed),
        shared.unexpected.load(Relaxed),
    );
    let errors = failed_writes + closed + out_of_order + unexpected + missing + extra + unanswered;
    println!(
        "{} writes, {delivered} deliveries ({:.0}/s), {pings} app pings over {hold_took:.2?}",
        total(&shared.written),
        delivered as f64 / hold_took.as_secs_f64()
    );
    println!(
        "errors: {errors} (closed sockets {closed}, failed writes {failed_writes}, missing events {missing}, extra events {extra}, out-of-order events {out_of_order}, unexpected frames {unexpected}, unanswered pings {unanswered})"
    );
    if let Some(why) = first_close {
        println!("  first socket to end early: {why}");
    }

    let mut latencies = latencies(&shared);
    let mut answers = shared.answers.lock().map_err(|_| "poisoned")?.clone();
    if !latencies.is_empty() && !answers.is_empty() {
        println!(
            "write-to-receipt latency over {} deliveries (the first socket of each user): p50 {:.2?}, p99 {:.2?}, max {:.2?}; HTTP answer p50 {:.2?}, p99 {:.2?}",
            latencies.len(),
            quantile(&mut latencies, 0.50),
            quantile(&mut latencies, 0.99),
            latencies.last().copied().unwrap_or_default(),
            quantile(&mut answers, 0.50),
            quantile(&mut answers, 0.99)
        );
    }
    println!(
        "server CPU over the hold: {:.2} s in {hold_took:.2?} ({:.1}% of one core): {:.1} us per delivery (pings and writes included)",
        cpu,
        cpu * 100.0 / hold_took.as_secs_f64(),
        cpu * 1e6 / delivered.max(1) as f64
    );
    Ok(errors)
}

/// One user's writes: one every `every` from `first` until `end`, each once the last
/// was answered (so its events' `seq` follow the order they were sent in).
#[allow(clippy::too_many_arguments, reason = "one call site")]
async fn write_steadily(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    user: usize,
    first: Instant,
    every: Duration,
    end: Instant,
    shared: &Shared,
) {
    let mut tick = interval_at(first, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 0.. {
        // The next write only if its time comes before the end.
        match timeout_at(end, tick.tick()).await {
            Ok(at) if at < end => {}
            _ => break,
        }
        let sent = Instant::now();
        if let Ok(mut sent_at) = shared.sent[user].lock() {
            sent_at.push(sent);
        }
        match timeout(WRITE_LIMIT, create_task(http, base, token, n)).await {
            Ok(Ok(())) => {
                shared.written[user].fetch_add(1, Relaxed);
                if let Ok(mut answers) = shared.answers.lock() {
                    answers.push(sent.elapsed());
                }
            }
            Ok(Err(error)) => {
                if shared.failed_writes.fetch_add(1, Relaxed) == 0 {
                    eprintln!("a write failed: {error}");
                }
            }
            Err(_) => {
                if shared.failed_writes.fetch_add(1, Relaxed) == 0 {
                    eprintln!("a write had no answer in {WRITE_LIMIT:?}");
                }
            }
        }
    }
}

/// Opens, authenticates and subscribes a socket to the user's tasks.
async fn open(addr: &str, token: &str) -> Bench<Opened> {
    let mut ws = connect(addr, "taskwire.v1").await?;
    let (auth_ok, snapshot) = auth_and_subscribe(&mut ws, token, "tasks").await?;
    let auth_ok: Value = serde_json::from_str(&auth_ok)?;
    let heartbeat = Duration::from_millis(auth_ok["heartbeat_ms"].as_u64().unwrap_or(25_000));
    let snapshot: Value = serde_json::from_str(&snapshot)?;
    let base = snapshot["seq"].as_u64().ok_or("snapshot without seq")?;
    Ok(Opened {
        ws,
        base,
        heartbeat,
    })
}

/// Reads one socket's events and pongs, and pings every heartbeat, until told to close
/// (or it ends).
async fn hold_socket(
    opened: Opened,
    user: usize,
    sampled: bool,
    stagger: f64,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) -> SocketReport {
    let Opened {
        mut ws,
        base,
        heartbeat,
    } = opened;
    let mut report = SocketReport {
        user,
        ..SocketReport::default()
    };
    let mut last_seq = base;
    let mut ping = interval_at(Instant::now() + heartbeat.mul_f64(stagger), heartbeat);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut draining = false;
    let mut settled = false;
    loop {
        if draining
            && !settled
            && report.pongs >= report.pings
            && report.events >= shared.written[user].load(Relaxed)
        {
            settled = true;
            shared.settle();
        }
        tokio::select! {
            changed = phase.changed() => {
                let now = *phase.borrow_and_update();
                if changed.is_err() || now == Phase::Close {
                    break;
                }
                draining = now == Phase::Drain;
            }
            _ = ping.tick(), if !draining => {
                let frame = json!({"type": "ping", "id": report.pings + 1}).to_string();
                if let Err(error) = ws.send(Message::text(frame)).await {
                    report.closed = Some(format!("ping failed: {error}"));
                    break;
                }
                report.pings += 1;
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(seq) = seq_of(&text) {
                        report.events += 1;
                        shared.delivered.fetch_add(1, Relaxed);
                        if seq != last_seq + 1 {
                            shared.out_of_order.fetch_add(1, Relaxed);
                        }
                        last_seq = seq;
                        if sampled
                            && let Some(index) = seq.checked_sub(base + 1)
                            && let Ok(mut receipts) = shared.receipts.lock()
                        {
                            receipts.push((user, index as usize, Instant::now()));
                        }
                    } else if text.starts_with("{\"type\":\"pong\"") {
                        report.pongs += 1;
                    } else if shared.unexpected.fetch_add(1, Relaxed) == 0 {
                        eprintln!("unexpected frame: {text}");
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    report.closed = Some(format!("closed by the server: {frame:?}"));
                    break;
                }
                // Pings are answered by tungstenite while reading.
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    report.closed = Some(format!("read failed: {error}"));
                    break;
                }
                None => {
                    report.closed = Some("connection ended".to_owned());
                    break;
                }
            },
        }
    }
    if report.closed.is_some() {
        shared.closed.fetch_add(1, Relaxed);
    }
    if !settled {
        shared.settle();
    }
    report
}

/// The sampled sockets' write-to-receipt times.
fn latencies(shared: &Shared) -> Vec<Duration> {
    let Ok(receipts) = shared.receipts.lock() else {
        return Vec::new();
    };
    receipts
        .iter()
        .filter_map(|&(user, index, at)| {
            let sent = *shared.sent[user].lock().ok()?.get(index)?;
            Some(at.duration_since(sent))
        })
        .collect()
}

fn total(counts: &[AtomicU64]) -> u64 {
    counts.iter().map(|count| count.load(Relaxed)).sum()
}

fn percent(now: u64, start: u64) -> f64 {
    (now as f64 / start as f64 - 1.0) * 100.0
}

/// `127.0.0.1:<port>`, where the sockets connect.
fn address(server: &ServerProcess) -> String {
    server.base.trim_start_matches("http://").to_owned()
}
