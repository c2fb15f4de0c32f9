//! Reconnect storm benchmark (issue 17): prints figures, asserts nothing.
//!
//! A release server runs as a child process on loopback over a temporary database, with
//! 1,000 sockets over 10 users (`taskwire.v1`, each subscribed to its user's `tasks`).
//! Tasks are written over HTTP, the server is killed (SIGKILL) at once, kept down for a
//! while, and restarted on the same port and database, where more tasks are written at
//! once. Each socket reconnects on its own schedule, sends `auth` and resubscribes with
//! the last position it saw (`since`), as the app does. Each outage (3 s, then 10 s) runs
//! with two schedules, each on a fresh server:
//! - `contract`: section 2 of the contract to the letter: full jitter, the ceiling
//!   doubling from 0.5 s to 30 s with every failure. The app no longer has it, so it is
//!   written out here (`Schedule::Contract`).
//! - `app`: the app's own, `taskwire::client::backoff::Backoff`, told what the app's
//!   machine tells it (a socket being tried, one that opened, how long one was live).
//!   The HTTP poll the app also tries from the second refused socket on is left out: it
//!   fails alike while the server is away, and the app then takes the same next delay.
//!
//! Measures, from the moment the restarted server answers (it prints its address):
//! - the time until each socket is live again (its `replay` or `snapshot` in): p50, p99
//!   and max, and how long each successful reconnect took (connect to live);
//! - reconnect attempts after the restart: the peak in any second (over 100 ms steps)
//!   and in any 100 ms; and attempts per second against the absent server over the
//!   outage's last 2 s;
//! - lost: tasks written just before the kill and just after the restart that some
//!   socket never got (its tasks, once live and a second later, short of its user's).
//!
//! Run: `cargo bench -p taskwire-server --bench storm`. The jitter's random numbers come
//! from a fixed-seed generator, the same per socket under both schedules. Every wait is
//! bounded, and nothing leaves the loopback interface. It raises its own open-files limit
//! (inherited by the server) up to the hard limit; if that is under ~2,100, raise it
//! first (`ulimit -n 4096`).

mod common;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use protocol::{Change, ClientFrame, Position, ServerFrame, Topic};
use taskwire::client::backoff::Backoff;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use common::{
    Bench, ServerProcess, Socket, connect, create_task, quantile, raise_open_files, register,
};

const USERS: usize = 10;
const SOCKETS: usize = 1_000;
/// How long the server stays down: clients at different steps of their schedules.
const OUTAGES: [Duration; 2] = [Duration::from_secs(3), Duration::from_secs(10)];
/// Tasks each user writes just before the kill, and again just after the restart.
const WRITES_EACH: usize = 5;
/// Opening the sockets, or everyone getting back, may take no longer than this (the
/// contract's schedule can wait 30 s after the restart).
const PHASE_LIMIT: Duration = Duration::from_secs(60);
/// After the last socket is live, how long the last events get to arrive.
const GRACE: Duration = Duration::from_secs(1);
/// The span before the restart over which attempts against the absent server are counted.
const OUTAGE_TAIL: Duration = Duration::from_secs(2);
const BUCKET: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Contract,
    App,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Contract => "contract",
            Self::App => "app",
        })
    }
}

/// How one socket waits between tries.
enum Schedule {
    /// The contract: the `failures`-th retry in a row waits up to `min(30 s, 0.5 s *
    /// 2^failures)`, whatever failed.
    Contract {
        failures: u32,
    },
    App(Backoff),
}

impl Schedule {
    fn new(mode: Mode) -> Self {
        match mode {
            Mode::Contract => Self::Contract { failures: 0 },
            Mode::App => Self::App(Backoff::new()),
        }
    }

    /// A socket is being tried (the machine's `connect_or_wait`).
    fn connecting(&mut self) {
        if let Self::App(backoff) = self {
            backoff.note_connecting();
        }
    }

    /// It opened (the machine's `on_opened`).
    fn opened(&mut self) {
        if let Self::App(backoff) = self {
            backoff.note_opened();
        }
    }

    /// A live socket ended after `live` (the machine's `lose_connection`). The contract
    /// says nothing of when the count starts over; each socket drops once here anyway.
    fn dropped(&mut self, live: Duration) {
        if let Self::App(backoff) = self {
            backoff.note_live_for(u64::try_from(live.as_millis()).unwrap_or(u64::MAX));
        }
    }

    /// The wait before the next try, for `random` uniform in `[0, 1)`.
    fn next_delay(&mut self, random: f64) -> Duration {
        let ms = match self {
            Self::Contract { failures } => {
                let factor = 1u64.checked_shl(*failures).unwrap_or(u64::MAX);
                let ceiling = 500u64.saturating_mul(factor).min(30_000);
                *failures = failures.saturating_add(1);
                (random * (ceiling + 1) as f64) as u64
            }
            Self::App(backoff) => backoff.next_delay_ms(random),
        };
        Duration::from_millis(ms)
    }
}

/// SplitMix64: a fixed-seed stand-in for `Math.random()`, so runs can be compared.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What one socket saw of the storm.
struct Outcome {
    /// When each connection was tried after the kill.
    attempts: Vec<Instant>,
    /// When it was live again, and how long that last connection took to get there.
    live: Option<(Instant, Duration)>,
    tasks: usize,
}

/// One client: its user's token, where its tasks stand, and which it has.
struct Client {
    addr: String,
    token: Arc<str>,
    schedule: Schedule,
    random: Random,
    position: Option<Position>,
    tasks: HashSet<Uuid>,
}

impl Client {
    /// Opens a socket, authenticates and subscribes (from `position`, if any): the
    /// socket once its `snapshot` or `replay` is in, or `None` if anything failed.
    async fn go_live(&mut self) -> Option<Socket> {
        self.schedule.connecting();
        let mut ws = connect(&self.addr, "taskwire.v1").await.ok()?;
        self.schedule.opened();
        let auth = ClientFrame::Auth {
            id: 1,
            token: self.token.to_string(),
        };
        let subscribe = ClientFrame::Subscribe {
            id: 2,
            topic: Topic::Tasks,
            since: self.position.clone(),
        };
        for frame in [auth, subscribe] {
            let text = serde_json::to_string(&frame).ok()?;
            ws.send(Message::text(text)).await.ok()?;
        }
        loop {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                return None;
            };
            match protocol::decode_server(&text).ok()? {
                ServerFrame::AuthOk { .. } => {}
                ServerFrame::Snapshot {
                    epoch, seq, items, ..
                } => {
                    self.tasks = items.into_iter().map(|task| task.id).collect();
                    self.position = Some(Position { epoch, seq });
                    return Some(ws);
                }
                ServerFrame::Replay {
                    epoch, seq, events, ..
                } => {
                    for event in events {
                        self.apply(event.change);
                    }
                    self.position = Some(Position { epoch, seq });
                    return Some(ws);
                }
                _ => return None,
            }
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Upsert { item } => {
                self.tasks.insert(item.id);
            }
            Change::Delete { id } => {
                self.tasks.remove(&id);
            }
            Change::Patch { .. } => {}
        }
    }

    /// Reads events until the socket ends, or `stop`.
    async fn follow(&mut self, ws: &mut Socket, stop: &mut watch::Receiver<bool>) {
        loop {
            let message = tokio::select! {
                message = ws.next() => message,
                _ = stop.changed() => return,
            };
            let Some(Ok(message)) = message else { return };
            if let Message::Text(text) = message
                && let Ok(ServerFrame::Event(event)) = protocol::decode_server(&text)
            {
                self.position = Some(Position {
                    epoch: event.epoch,
                    seq: event.seq,
                });
                self.apply(event.change);
            }
        }
    }

    /// Live from the start; then, from the first drop, reconnects on its schedule until
    /// live again, and follows its events until `stop`.
    async fn run(
        mut self,
        ready: mpsc::UnboundedSender<()>,
        lives: mpsc::UnboundedSender<()>,
        mut stop: watch::Receiver<bool>,
    ) -> Bench<Outcome> {
        let mut ws = self
            .go_live()
            .await
            .ok_or("a socket did not open before the kill")?;
        let since = Instant::now();
        ready.send(())?;
        self.follow(&mut ws, &mut stop).await;
        drop(ws);
        let mut outcome = Outcome {
            attempts: Vec::new(),
            live: None,
            tasks: 0,
        };
        if *stop.borrow() {
            outcome.tasks = self.tasks.len();
            return Ok(outcome);
        }
        self.schedule.dropped(since.elapsed());
        loop {
            let delay = self.schedule.next_delay(self.random.next());
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.changed() => break,
            }
            let tried = Instant::now();
            outcome.attempts.push(tried);
            if let Some(mut ws) = self.go_live().await {
                outcome.live = Some((Instant::now(), tried.elapsed()));
                lives.send(())?;
                self.follow(&mut ws, &mut stop).await;
                break;
            }
        }
        outcome.tasks = self.tasks.len();
        Ok(outcome)
    }
}

/// One storm's figures.
struct Figures {
    /// From the restart until each socket was live again: sorted, never empty.
    back: Vec<Duration>,
    /// Connect to live, for the reconnects that made it.
    took: Vec<Duration>,
    peak_second: usize,
    peak_bucket: usize,
    absent_per_second: f64,
    attempts: usize,
    /// Sockets not live again within `PHASE_LIMIT`.
    never: usize,
    lost: usize,
}

#[tokio::main]
async fn main() -> Bench<()> {
    raise_open_files(SOCKETS);
    let mut rows = Vec::new();
    for outage in OUTAGES {
        for mode in [Mode::Contract, Mode::App] {
            println!("{mode}: {SOCKETS} sockets over {USERS} users, server down for {outage:?}");
            let mut figures = storm(mode, outage).await?;
            println!(
                "  all live again {:.2?} after the server answered (p50 {:.2?}, p99 {:.2?}); a reconnect took p50 {:.1?}, p99 {:.1?}",
                figures.back.last().copied().unwrap_or_default(),
                quantile(&mut figures.back, 0.5),
                quantile(&mut figures.back, 0.99),
                quantile(&mut figures.took, 0.5),
                quantile(&mut figures.took, 0.99),
            );
            println!(
                "  attempts after the restart: peak {}/s, {} per 100 ms, {} in all; {:.0}/s against the absent server; never back {}; lost {}",
                figures.peak_second,
                figures.peak_bucket,
                figures.attempts,
                figures.absent_per_second,
                figures.never,
                figures.lost
            );
            rows.push((outage, mode, figures));
        }
    }
    println!("\nside by side (from the server answering again):");
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>11} {:>5}",
        "outage", "schedule", "live p50", "p99", "max", "peak/s", "/100 ms", "absent, /s", "lost"
    );
    for (outage, mode, mut figures) in rows {
        println!(
            "{:>6} {:>9} {:>9.2?} {:>9.2?} {:>9.2?} {:>8} {:>9} {:>11.0} {:>5}",
            format!("{outage:?}"),
            mode.to_string(),
            quantile(&mut figures.back, 0.5),
            quantile(&mut figures.back, 0.99),
            figures.back.last().copied().unwrap_or_default(),
            figures.peak_second,
            figures.peak_bucket,
            figures.absent_per_second,
            figures.lost
        );
    }
    Ok(())
}

/// One storm on a fresh server: opens the sockets, writes, kills the server, restarts it
/// after `outage`, writes again, and waits for every socket to be back.
async fn storm(mode: Mode, outage: Duration) -> Bench<Figures> {
    let dir = tempfile::tempdir()?;
    let server = ServerProcess::start(dir.path(), &[])?;
    let base = server.base.clone();
    let addr = base.trim_start_matches("http://").to_owned();
    let http = reqwest::Client::new();
    let tokens: Vec<Arc<str>> = register(&http, &base, "storm", USERS)
        .await?
        .into_iter()
        .map(Arc::from)
        .collect();

    let (ready_tx, mut ready) = mpsc::unbounded_channel();
    let (lives_tx, mut lives) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let mut clients = Vec::with_capacity(SOCKETS);
    for n in 0..SOCKETS {
        let client = Client {
            addr: addr.clone(),
            token: tokens[n % USERS].clone(),
            schedule: Schedule::new(mode),
            random: Random(n as u64),
            position: None,
            tasks: HashSet::new(),
        };
        clients.push(tokio::spawn(client.run(
            ready_tx.clone(),
            lives_tx.clone(),
            stop.clone(),
        )));
    }
    let opening = Instant::now();
    for _ in 0..SOCKETS {
        let left = PHASE_LIMIT.saturating_sub(opening.elapsed());
        tokio::time::timeout(left, ready.recv())
            .await?
            .ok_or("a socket failed to open")?;
    }
    println!("  {SOCKETS} sockets live in {:.2?}", opening.elapsed());

    write_tasks(&http, &base, &tokens, 0).await?;
    // SIGKILL, as `ServerProcess` stops its child: no close frames, no clean shutdown.
    drop(server);
    let killed = Instant::now();
    tokio::time::sleep_until((killed + outage).into()).await;
    let server = ServerProcess::start_at(dir.path(), &addr, &[])?;
    let restarted = Instant::now();
    let writes = {
        // A new client: the old one's pooled connections died with the server.
        let (http, base, tokens) = (reqwest::Client::new(), server.base.clone(), tokens.clone());
        tokio::spawn(async move { write_tasks(&http, &base, &tokens, WRITES_EACH).await })
    };
    for _ in 0..SOCKETS {
        let left = PHASE_LIMIT.saturating_sub(restarted.elapsed());
        match tokio::time::timeout(left, lives.recv()).await {
            Ok(Some(())) => {}
            _ => break,
        }
    }
    writes.await??;
    tokio::time::sleep(GRACE).await;
    println!(
        "  the restarted server's RSS with the sockets back: {} KiB",
        server.rss_kib()?
    );
    stop_tx.send(true)?;

    let mut back = Vec::with_capacity(SOCKETS);
    let mut took = Vec::with_capacity(SOCKETS);
    let mut after = Vec::new();
    let mut absent = 0u32;
    let mut never = 0;
    let mut lost = 0;
    for client in clients {
        let outcome = client.await??;
        match outcome.live {
            Some((at, how_long)) => {
                back.push(at.saturating_duration_since(restarted));
                took.push(how_long);
            }
            None => never += 1,
        }
        lost += (2 * WRITES_EACH).saturating_sub(outcome.tasks);
        for attempt in outcome.attempts {
            match attempt.checked_duration_since(restarted) {
                Some(since) => after.push(since),
                None if restarted.duration_since(attempt) <= OUTAGE_TAIL => absent += 1,
                None => {}
            }
        }
    }
    if back.is_empty() {
        return Err("no socket came back".into());
    }
    back.sort();
    let buckets = per_bucket(&after);
    let peak_bucket = buckets.iter().copied().max().unwrap_or(0);
    let per_second = (Duration::from_secs(1).as_millis() / BUCKET.as_millis()) as usize;
    let peak_second = buckets
        .windows(per_second.min(buckets.len()).max(1))
        .map(|window| window.iter().sum())
        .max()
        .unwrap_or(0);
    Ok(Figures {
        back,
        took,
        peak_second,
        peak_bucket,
        absent_per_second: f64::from(absent) / OUTAGE_TAIL.as_secs_f64(),
        attempts: after.len(),
        never,
        lost,
    })
}

/// Attempts per `BUCKET` since the restart.
fn per_bucket(after: &[Duration]) -> Vec<usize> {
    let mut buckets = Vec::new();
    for since in after {
        let bucket = (since.as_millis() / BUCKET.as_millis()) as usize;
        if buckets.len() <= bucket {
            buckets.resize(bucket + 1, 0);
        }
        buckets[bucket] += 1;
    }
    buckets
}

/// `WRITES_EACH` tasks for every user, over HTTP, numbered from `first`.
async fn write_tasks(
    http: &reqwest::Client,
    base: &str,
    tokens: &[Arc<str>],
    first: usize,
) -> Bench<()> {
    for n in first..first + WRITES_EACH {
        for token in tokens {
            create_task(http, base, token, n).await?;
        }
    }
    Ok(())
}
