//! The chaos engine (issue "proof"): a seeded run of real protocol clients against the
//! real server binary, through a TCP proxy that breaks their connections, which proves
//! that no acknowledged write is lost or doubled and that every client ends with exactly
//! the server's tasks.
//!
//! Shared by the short test (`tests/server/chaos.rs`) and the long benchmark
//! (`benches/chaos.rs`), which include this file with `#[path]`; it is no target itself.
//!
//! What runs:
//! - `taskwire-server` (this build's binary) as a child process over a SQLite file, with a
//!   fixed `--jwt-secret`, so that its tokens, sessions and change log survive being
//!   killed with SIGKILL and restarted on the same file and port, mid-run.
//! - A TCP proxy in front of it that every client goes through. Each connection it
//!   accepts draws, from the seed and its number, period after period while it lasts,
//!   whether to: drop the link (FIN or RST), stall it (no byte either way for a few
//!   seconds), go half-open (one direction silently swallowed, nothing closed), cut a
//!   chunk in the middle and close, or inject garbage bytes between two chunks (bytes
//!   that can be neither UTF-8 nor a WebSocket frame header, so that an endpoint always
//!   notices them).
//! - Per user, socket subscribers of the `tasks` topic that keep a copy (snapshot,
//!   replay, events), track their `{epoch, seq}`, ping when quiet and take a silent link
//!   for dead, and reconnect with backoff and full jitter, resubscribing with `since` their
//!   last position. A replay must continue at exactly `seq + 1`, and so must every live
//!   event within the epoch (else a gap, or a duplicate when it is not past the copy).
//! - Per user, writers over HTTP and over the socket that create, update (always with
//!   `if_version`) and delete tasks of their own, with ids they chose, and retry a write
//!   whose outcome they did not learn with the same id and fields until it is answered.
//!   Every acknowledged write is recorded: a 2xx answer or an ok `result`, or the answer
//!   that shows an earlier attempt of the same write took effect (a `conflict` whose
//!   `current` is exactly the update, a `not_found` for a delete already tried).
//!
//! At the end faults stop, the writers finish the write in hand, the server's lists are
//! read over HTTP, and every subscriber is given a bounded time to reach the server's
//! position. Then: every acknowledged write must be reflected (lost), no task may hold
//! more changes than were acknowledged and the user's change log may count no more
//! changes than acknowledged writes (duplicates), no client may have seen an event
//! twice or past a gap, and every client's copy must equal the server's list.
//!
//! The seed is printed; `TASKWIRE_CHAOS_SEED=N` replays the same draws: each connection's
//! faults by its number, kill times and outages, each writer's writes, each client's
//! backoff. The machine's timing is not replayed: connections may be numbered in another
//! order and a fault may land on other bytes, so a replay brings the same kinds of faults
//! at the same rates, but not always on the same request.
//!
//! One hazard is the test's, not the server's: a request held up by a stall may reach the
//! server after its writer gave up on it and moved on, as on a real network. Updates carry
//! `if_version`, so a late one is refused; a late create after its task's delete would
//! bring the task back. A link stalls at most once, so nothing is held longer than one
//! stall, and a writer deletes a task only once it gave up on its last unanswered attempt
//! of a write to it longer ago than the longest stall and a margin.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{
    ApiError, Change, ClientFrame, CreateParams, DeleteParams, ErrorBody, ErrorCode, Event,
    MethodCall, Outcome, Position, ServerFrame, Task, TaskList, Topic, UpdateParams,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub type Chaos<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// 48 characters: the same on every start, so tokens outlive a restart.
const JWT_SECRET: &str = "chaos-proof-secret-0123456789abcdefghijklmnopqrs";
const PASSWORD: &str = "chaos password";

/// A TCP connect and the WebSocket handshake.
const CONNECT_LIMIT: Duration = Duration::from_secs(3);
/// `auth_ok`, then the `snapshot` or `replay`; a `result`.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);
/// A whole HTTP request, answer body included.
const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// A subscriber pings after this long with nothing received...
const IDLE_PING: Duration = Duration::from_secs(2);
/// ... and takes the link for dead when nothing comes within this after the ping.
const PING_WAIT: Duration = Duration::from_secs(3);
/// Reconnects: full jitter under a ceiling doubling from the floor. Shorter than the
/// contract's 0.5 s to 30 s, so that a short run sees many resumes.
const BACKOFF_FLOOR: Duration = Duration::from_millis(100);
const BACKOFF_CEILING: Duration = Duration::from_secs(2);
/// A link's fault periods last between these; a fault may strike at the end of each.
const FAULT_AFTER: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(6));
const STALL: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(4));
/// How long after a writer gave up on an attempt it may still reach the server (one stall
/// per link, so the longest stall), with a margin for a server slowed by a busy machine:
/// see the module's last paragraph.
const QUARANTINE: Duration = Duration::from_secs(12);
/// How long the server may be down when it is killed.
const OUTAGE: (Duration, Duration) = (Duration::from_millis(200), Duration::from_millis(1500));
/// The server prints its address within this.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Every subscriber's first snapshot, before faults start.
const SETUP_LIMIT: Duration = Duration::from_secs(30);
/// Once faults stop, a writer finishes the write in hand within this.
const FINISH_LIMIT: Duration = Duration::from_secs(30);
/// Bytes that are never UTF-8 and, read as a WebSocket frame's first byte, set a reserved
/// bit (as its second, the mask bit): whoever reads them refuses the stream.
const GARBAGE: &[u8] = &[
    0xC0, 0xC1, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF,
];
/// Notes kept per client or writer, and in the summary.
const MAX_NOTES: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub users: usize,
    /// Subscribers per user.
    pub sockets_per_user: usize,
    pub http_writers_per_user: usize,
    pub socket_writers_per_user: usize,
    /// How long faults run (writes run as long).
    pub faults_for: Duration,
    /// Server kills (SIGKILL, then a restart), spread over `faults_for`.
    pub kills: usize,
    /// The share of a link's fault periods (0.2 s to 6 s each) that end in a fault, in
    /// percent.
    pub fault_percent: u64,
    /// `--log-events`: events kept for replay. Small, so that a client away for long
    /// resumes by snapshot.
    pub log_events: u32,
    /// A writer's pause between two writes, drawn between these.
    pub write_pause: (Duration, Duration),
    /// How long subscribers get to reach the server's position once faults stop.
    pub settle_limit: Duration,
}

/// `TASKWIRE_CHAOS_SEED`, or a new seed.
pub fn seed_from_env() -> Chaos<u64> {
    match std::env::var("TASKWIRE_CHAOS_SEED") {
        Ok(text) => Ok(text
            .trim()
            .parse()
            .map_err(|e| format!("TASKWIRE_CHAOS_SEED={text:?}: {e}"))?),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64);
            Ok(Rng::derive(nanos, u64::from(std::process::id()), 0).next() % 1_000_000_000)
        }
    }
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub seed: u64,
    /// Subscribers.
    pub clients: usize,
    pub writers: usize,
    pub acked_http: u64,
    pub acked_socket: u64,
    pub faults: Faults,
    pub resumed_replay: u64,
    pub resumed_snapshot: u64,
    /// Acknowledged writes the server does not reflect.
    pub lost: u64,
    /// Changes the server holds beyond the acknowledged writes, tasks no writer made or
    /// listed twice, and events a client was sent again.
    pub duplicates: u64,
    /// Events a client was sent past a hole in `seq`, or a replay that did not continue
    /// at `seq + 1`.
    pub gaps: u64,
    /// Clients whose copy is not the server's list at the end.
    pub clients_unequal: usize,
    /// Clients that did not reach the server's position within the settle limit.
    pub unsettled: usize,
    /// Events or answers of another epoch (nothing here resets the log).
    pub epoch_changes: u64,
    /// Events that did not fit the copy (a patch or delete of a task it lacks, a version
    /// skipped), and answers that went back in `seq`.
    pub inconsistent: u64,
    /// Valid writes the server refused outright, or answered with something else.
    pub refused: u64,
    /// `panicked` lines on the server's stderr.
    pub server_panics: u64,
    /// Subscriber connections that ended (or never got live) before the stop.
    pub reconnects: u64,
    /// Why they ended, by kind.
    pub reconnect_causes: BTreeMap<String, u64>,
    /// Tasks on the server at the end, over every user.
    pub tasks: usize,
    /// Changes in the users' logs during the run.
    pub changes: u64,
    pub elapsed: Duration,
    /// What went wrong, for a failing run.
    pub notes: Vec<String>,
}

impl Summary {
    pub fn acknowledged(&self) -> u64 {
        self.acked_http + self.acked_socket
    }

    /// Nothing lost, doubled or out of step anywhere.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.gaps == 0
            && self.clients_unequal == 0
            && self.unsettled == 0
            && self.epoch_changes == 0
            && self.inconsistent == 0
            && self.refused == 0
            && self.server_panics == 0
    }

    /// The lines after the summary: the rest of the figures, then the notes.
    pub fn details(&self) -> String {
        let causes: Vec<String> = self
            .reconnect_causes
            .iter()
            .map(|(cause, n)| format!("{cause} {n}"))
            .collect();
        let mut text = format!(
            "chaos: {} writers; {} changes in the logs, {} tasks at the end; clients unequal {}, unsettled {}, epoch changes {}, inconsistent {}, refused writes {}, server panics {}; {:.1?} in all\n\
             chaos: {} subscriber connections ended: {}",
            self.writers,
            self.changes,
            self.tasks,
            self.clients_unequal,
            self.unsettled,
            self.epoch_changes,
            self.inconsistent,
            self.refused,
            self.server_panics,
            self.elapsed,
            self.reconnects,
            causes.join(", "),
        );
        for note in &self.notes {
            text.push_str("\n  ");
            text.push_str(note);
        }
        text
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults = &self.faults;
        write!(
            f,
            "chaos: seed {}, {} clients, {} acknowledged writes (http {}, socket {}), faults: drops {}, stalls {}, half-open {}, cut frames {}, garbage {}, server kills {}; resumed by replay {}, by snapshot {}; lost {}, duplicates {}, gaps {}",
            self.seed,
            self.clients,
            self.acknowledged(),
            self.acked_http,
            self.acked_socket,
            faults.drops,
            faults.stalls,
            faults.half_open,
            faults.cuts,
            faults.garbage,
            faults.kills,
            self.resumed_replay,
            self.resumed_snapshot,
            self.lost,
            self.duplicates,
            self.gaps,
        )
    }
}

/// Faults that struck.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub drops: u64,
    pub stalls: u64,
    pub half_open: u64,
    pub cuts: u64,
    pub garbage: u64,
    pub kills: u64,
}

/// Runs the whole thing: server, proxy, clients, writers, kills, then the checks.
pub async fn run(config: Config) -> Chaos<Summary> {
    let began = Instant::now();
    let seed = config.seed;
    println!("chaos: seed {seed} (TASKWIRE_CHAOS_SEED={seed} replays its draws)");
    let dir = tempfile::tempdir()?;
    let spec = ServerSpec {
        db: dir.path().join("chaos.db"),
        log_events: config.log_events,
        static_dir: dir.path().to_owned(),
        panics: Arc::default(),
        panic_lines: Arc::default(),
    };
    let server = spec.start("127.0.0.1:0").await?;
    let server_addr = server.addr;
    let direct = format!("http://{server_addr}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;

    let mut users = Vec::with_capacity(config.users);
    for user in 0..config.users {
        let token: Arc<str> = Arc::from(register(&http, &direct, &format!("chaos{user}")).await?);
        let list = task_list(&http, &direct, &token).await?;
        users.push(UserRun {
            token,
            start: Position {
                epoch: list.epoch,
                seq: list.seq,
            },
        });
    }

    let proxy = Proxy::start(server_addr, seed, config.fault_percent).await?;
    let proxy_addr = proxy.addr.to_string();
    println!(
        "chaos: server {direct}, proxy {proxy_addr}; {} users x {} sockets, {} http and {} socket writers each, faults for {:?} (a fault ending {}% of each link's periods), {} server kills",
        config.users,
        config.sockets_per_user,
        config.http_writers_per_user,
        config.socket_writers_per_user,
        config.faults_for,
        config.fault_percent,
        config.kills,
    );

    // Subscribers, live before the first fault.
    let (stop_clients, clients_stop) = watch::channel(false);
    let mut subscribers = Vec::new();
    for (user, run) in users.iter().enumerate() {
        for socket in 0..config.sockets_per_user {
            let index = (user * config.sockets_per_user + socket) as u64;
            let (live_tx, live_rx) = watch::channel(None);
            let subscriber = Subscriber {
                name: format!("user {user} socket {socket}"),
                proxy: proxy_addr.clone(),
                token: run.token.clone(),
                rng: Rng::derive(seed, SUBSCRIBER_STREAM, index),
                position: None,
                tasks: BTreeMap::new(),
                live: live_tx,
                stats: ClientStats::default(),
            };
            let handle = tokio::spawn(run_subscriber(subscriber, clients_stop.clone()));
            subscribers.push((user, live_rx, handle));
        }
    }
    let setup_deadline = Instant::now() + SETUP_LIMIT;
    for (user, live, _) in &mut subscribers {
        timeout_at(setup_deadline, live.wait_for(Option::is_some))
            .await
            .map_err(|_| format!("a subscriber of user {user} got no snapshot in {SETUP_LIMIT:?}"))?
            .map_err(|_| "a subscriber ended before its snapshot")?;
    }

    // Faults, writers and kills.
    proxy.shared.active.store(true, Ordering::SeqCst);
    let faults_began = Instant::now();
    let (stop_writers, writers_stop) = watch::channel(false);
    let mut writers = Vec::new();
    for (user, run) in users.iter().enumerate() {
        let vias = std::iter::repeat_n(Via::Http, config.http_writers_per_user).chain(
            std::iter::repeat_n(Via::Socket, config.socket_writers_per_user),
        );
        for (n, via) in vias.enumerate() {
            let index = (user * 1_000 + n) as u64;
            let writer = Writer {
                name: format!("u{user}-{via}{n}"),
                user,
                via,
                rng: Rng::derive(seed, WRITER_STREAM, index),
                base: format!("http://{proxy_addr}"),
                proxy: proxy_addr.clone(),
                token: run.token.clone(),
                http: reqwest::Client::builder()
                    .no_proxy()
                    .timeout(REQUEST_LIMIT)
                    .connect_timeout(CONNECT_LIMIT)
                    .build()?,
                link: None,
                pause: config.write_pause,
                tasks: BTreeMap::new(),
                live: Vec::new(),
                writes: 0,
                acked: 0,
                refused: 0,
                notes: Vec::new(),
            };
            writers.push(tokio::spawn(run_writer(writer, writers_stop.clone())));
        }
    }
    let kills = Arc::new(AtomicU64::new(0));
    let killer = tokio::spawn(kill_on_schedule(
        spec.clone(),
        server,
        kill_schedule(seed, config.kills, config.faults_for),
        faults_began,
        kills.clone(),
    ));
    sleep_until(faults_began + config.faults_for).await;
    let mut server = killer.await??;
    server.alive()?;
    proxy.shared.active.store(false, Ordering::SeqCst);
    println!(
        "chaos: faults stopped after {:.1?}; writers finish",
        faults_began.elapsed()
    );
    stop_writers.send_replace(true);
    let mut finished = Vec::with_capacity(writers.len());
    for writer in writers {
        finished.push(writer.await??);
    }

    // The truth, then everyone up to it.
    let mut truth = Vec::with_capacity(users.len());
    for run in &users {
        truth.push(task_list(&http, &direct, &run.token).await?);
    }
    let settle_deadline = Instant::now() + config.settle_limit;
    let mut unsettled = Vec::new();
    for (user, live, _) in &mut subscribers {
        let list = &truth[*user];
        let target = Position {
            epoch: list.epoch.clone(),
            seq: list.seq,
        };
        let reached = timeout_at(
            settle_deadline,
            live.wait_for(|position| position.as_ref() == Some(&target)),
        )
        .await
        .is_ok_and(|reached| reached.is_ok());
        if !reached {
            unsettled.push(format!(
                "a subscriber of user {user} is at {:?}, not {}:{}, after {:?}",
                live.borrow().clone(),
                target.epoch,
                target.seq,
                config.settle_limit
            ));
        }
    }
    println!(
        "chaos: subscribers settled {} of {}",
        subscribers.len() - unsettled.len(),
        subscribers.len()
    );
    stop_clients.send_replace(true);
    let mut clients = Vec::with_capacity(subscribers.len());
    for (user, _, handle) in subscribers {
        let subscriber = timeout(Duration::from_secs(10), handle)
            .await
            .map_err(|_| format!("a subscriber of user {user} did not stop"))??;
        clients.push((user, subscriber));
    }
    server.alive()?;
    let faults = proxy.faults(kills.load(Ordering::SeqCst));
    drop(proxy);
    drop(server);

    let mut summary = Summary {
        seed,
        clients: clients.len(),
        writers: finished.len(),
        faults,
        unsettled: unsettled.len(),
        server_panics: spec.panics.load(Ordering::SeqCst),
        ..Summary::default()
    };
    summary.notes.extend(unsettled);
    summary
        .notes
        .extend(lock(&spec.panic_lines).iter().cloned());
    check_writes(&mut summary, &users, &truth, &finished);
    check_clients(&mut summary, &truth, &clients);
    summary.notes.truncate(MAX_NOTES * 4);
    summary.elapsed = began.elapsed();
    Ok(summary)
}

struct UserRun {
    token: Arc<str>,
    start: Position,
}

/// Every acknowledged write against the server's lists.
fn check_writes(summary: &mut Summary, users: &[UserRun], truth: &[TaskList], writers: &[Writer]) {
    for (user, (run, list)) in users.iter().zip(truth).enumerate() {
        let on_server: HashMap<Uuid, &Task> = list.items.iter().map(|t| (t.id, t)).collect();
        summary.tasks += list.items.len();
        let mut lost = 0u64;
        let mut doubled = 0u64;
        if on_server.len() != list.items.len() {
            doubled += (list.items.len() - on_server.len()) as u64;
            summary
                .notes
                .push(format!("user {user}: a task is listed twice"));
        }
        let mut known = HashSet::new();
        let mut acked = 0u64;
        for writer in writers.iter().filter(|w| w.user == user) {
            acked += writer.acked;
            match writer.via {
                Via::Http => summary.acked_http += writer.acked,
                Via::Socket => summary.acked_socket += writer.acked,
            }
            summary.refused += writer.refused;
            summary.notes.extend(writer.notes.iter().cloned());
            for (id, owned) in &writer.tasks {
                known.insert(*id);
                let found = on_server.get(id);
                let note = match (&owned.state, found) {
                    (State::Unknown | State::Deleted, None) => None,
                    (State::Deleted, Some(task)) => {
                        lost += 1;
                        Some(format!("its acknowledged delete did not happen: {task:?}"))
                    }
                    (State::Live { .. }, None) => {
                        lost += owned.acked;
                        Some(format!(
                            "gone, though {} acknowledged writes made it and none deleted it",
                            owned.acked
                        ))
                    }
                    (
                        State::Live {
                            title,
                            done,
                            version,
                        },
                        Some(task),
                    ) => {
                        if task.version > *version {
                            doubled += task.version - version;
                            Some(format!(
                                "version {} on the server, {version} acknowledged: {task:?}",
                                task.version
                            ))
                        } else if task.version < *version {
                            lost += version - task.version;
                            Some(format!(
                                "version {} on the server, {version} acknowledged: {task:?}",
                                task.version
                            ))
                        } else if task.title != *title || task.done != *done {
                            lost += 1;
                            Some(format!(
                                "acknowledged {title:?} done {done}, the server has {task:?}"
                            ))
                        } else {
                            None
                        }
                    }
                    (State::Unknown, Some(_)) => None,
                };
                if let Some(note) = note {
                    summary
                        .notes
                        .push(format!("user {user}, {}'s task {id}: {note}", writer.name));
                }
            }
        }
        for task in &list.items {
            if !known.contains(&task.id) {
                doubled += 1;
                summary
                    .notes
                    .push(format!("user {user}: a task no writer made: {task:?}"));
            }
        }
        // Each acknowledged write changed the log exactly once (a retry that found its
        // write done changes nothing), so the log counts them all, no more.
        let changes = if list.epoch == run.start.epoch {
            list.seq.saturating_sub(run.start.seq)
        } else {
            summary.epoch_changes += 1;
            summary.notes.push(format!(
                "user {user}: the epoch went from {} to {}",
                run.start.epoch, list.epoch
            ));
            list.seq
        };
        summary.changes += changes;
        if changes > acked {
            summary.notes.push(format!(
                "user {user}: {changes} changes in the log for {acked} acknowledged writes"
            ));
        } else if changes < acked {
            summary.notes.push(format!(
                "user {user}: {acked} acknowledged writes, only {changes} changes in the log"
            ));
        }
        summary.lost += lost.max(acked.saturating_sub(changes));
        summary.duplicates += doubled.max(changes.saturating_sub(acked));
    }
}

/// Every subscriber's counts, and its copy against the server's list.
fn check_clients(summary: &mut Summary, truth: &[TaskList], clients: &[(usize, Subscriber)]) {
    for (user, client) in clients {
        let stats = &client.stats;
        summary.resumed_replay += stats.replays;
        summary.resumed_snapshot += stats.snapshots;
        summary.duplicates += stats.duplicates;
        summary.gaps += stats.gaps;
        summary.epoch_changes += stats.epoch_changes;
        summary.inconsistent += stats.inconsistent;
        summary.reconnects += stats.reconnects;
        for (cause, n) in &stats.causes {
            *summary.reconnect_causes.entry(cause.clone()).or_default() += n;
        }
        summary.notes.extend(stats.notes.iter().cloned());
        let list = &truth[*user];
        if let Some(difference) = difference(&client.tasks, &list.items) {
            summary.clients_unequal += 1;
            summary
                .notes
                .push(format!("{}: its copy differs: {difference}", client.name));
        }
    }
}

/// The first way `copy` is not `list` (ids, titles, done, versions), if any.
fn difference(copy: &BTreeMap<Uuid, Task>, list: &[Task]) -> Option<String> {
    if copy.len() != list.len() {
        return Some(format!(
            "{} tasks, the server has {}",
            copy.len(),
            list.len()
        ));
    }
    for task in list {
        match copy.get(&task.id) {
            None => return Some(format!("lacks {task:?}")),
            Some(mine)
                if mine.title != task.title
                    || mine.done != task.done
                    || mine.version != task.version =>
            {
                return Some(format!("has {mine:?}, the server {task:?}"));
            }
            Some(_) => {}
        }
    }
    None
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn note(notes: &mut Vec<String>, note: String) {
    if notes.len() < MAX_NOTES {
        notes.push(note);
    }
}

// ---------------------------------------------------------------------------------------
// Randomness.

const PROXY_STREAM: u64 = 1;
const SUBSCRIBER_STREAM: u64 = 2;
const WRITER_STREAM: u64 = 3;
const KILLER_STREAM: u64 = 4;

/// SplitMix64. Each part of the run has its own generator, derived from the seed, its
/// kind and its number, so what one draws does not hang on when another ran.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn derive(seed: u64, stream: u64, index: u64) -> Self {
        let mut rng = Self(
            seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)
                ^ index.wrapping_mul(0x9FB2_1C65_1E98_DF25),
        );
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn between(&mut self, (low, high): (Duration, Duration)) -> Duration {
        low + high.saturating_sub(low).mul_f64(self.unit())
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

// ---------------------------------------------------------------------------------------
// The server process.

#[derive(Clone)]
struct ServerSpec {
    db: PathBuf,
    log_events: u32,
    static_dir: PathBuf,
    panics: Arc<AtomicU64>,
    panic_lines: Arc<Mutex<Vec<String>>>,
}

/// The running binary; dropping it kills it with SIGKILL.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// An error when the process ended by itself (a crash, say), not by a kill of ours.
    fn alive(&mut self) -> Chaos<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!(
                "the server (pid {}) exited by itself: {status}",
                self.child.id()
            )
            .into()),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A failed kill means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerSpec {
    async fn start(&self, addr: &str) -> Chaos<ServerProcess> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskwire-server"))
            .args(["serve", "--addr", addr, "--db"])
            .arg(&self.db)
            .arg("--static-dir")
            .arg(&self.static_dir)
            .args(["--jwt-secret", JWT_SECRET])
            .args(["--max-sockets-per-user", "500", "--login-per-ip", "1000"])
            .args(["--access-ttl-secs", "7200"])
            .args(["--log-events", &self.log_events.to_string()])
            // Errors only: it serves no app here, which it would warn about.
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        // Held from here on, so that the child is killed if anything below fails.
        let mut process = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = stdout.ok_or("the server has no stdout")?;
        let stderr = stderr.ok_or("the server has no stderr")?;
        let (panics, lines) = (self.panics.clone(), self.panic_lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("panicked") {
                    panics.fetch_add(1, Ordering::SeqCst);
                    let mut lines = lock(&lines);
                    if lines.len() < MAX_NOTES {
                        lines.push(format!("server: {line}"));
                    }
                }
                eprintln!("taskwire-server: {line}");
            }
        });
        let (line_tx, line_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = line_tx.send(reader.read_line(&mut line).map(|_| line));
            // Drained, so that the server never writes into a closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match timeout(START_LIMIT, line_rx).await {
            Ok(Ok(Ok(line))) => line,
            Ok(Ok(Err(error))) => {
                return Err(format!("reading the server's stdout: {error}").into());
            }
            Ok(Err(_)) => return Err("the server's stdout reader ended".into()),
            Err(_) => {
                return Err(format!("the server printed no address in {START_LIMIT:?}").into());
            }
        };
        process.addr = line
            .trim()
            .strip_prefix("Taskwire is running at http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .ok_or_else(|| format!("unexpected first line {line:?}"))?
            .parse()?;
        Ok(process)
    }

    /// Starts it on `addr` again, trying for a few seconds.
    async fn restart(&self, addr: SocketAddr) -> Chaos<ServerProcess> {
        let mut tries = 0;
        loop {
            match self.start(&addr.to_string()).await {
                Ok(process) => return Ok(process),
                Err(error) if tries >= 20 => {
                    return Err(format!("the server did not restart on {addr}: {error}").into());
                }
                Err(_) => {
                    tries += 1;
                    sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
}

/// When to kill the server, from the start of the faults, and how long it stays down:
/// one kill in each of `kills` even slots, somewhere in its middle half.
fn kill_schedule(seed: u64, kills: usize, span: Duration) -> Vec<(Duration, Duration)> {
    let mut rng = Rng::derive(seed, KILLER_STREAM, 0);
    let slot = span / (kills as u32 + 1);
    (0..kills)
        .map(|k| {
            let at = slot * k as u32 + slot.mul_f64(0.75 + 0.5 * rng.unit());
            (at, rng.between(OUTAGE))
        })
        .collect()
}

async fn kill_on_schedule(
    spec: ServerSpec,
    mut server: ServerProcess,
    schedule: Vec<(Duration, Duration)>,
    began: Instant,
    kills: Arc<AtomicU64>,
) -> Chaos<ServerProcess> {
    for (at, outage) in schedule {
        sleep_until(began + at).await;
        server.alive()?;
        let addr = server.addr;
        let pid = server.child.id();
        // SIGKILL: no close frames, no graceful stop, whatever was in flight.
        drop(server);
        kills.fetch_add(1, Ordering::SeqCst);
        sleep(outage).await;
        server = spec.restart(addr).await?;
        println!(
            "chaos: killed the server (pid {pid}) at {:.1?}, back after {outage:.1?} (pid {})",
            at,
            server.child.id()
        );
    }
    Ok(server)
}

async fn register(http: &reqwest::Client, base: &str, username: &str) -> Chaos<String> {
    let session: protocol::Session = http
        .post(format!("{base}/api/register"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(session.token)
}

/// `GET /api/tasks`, tried a few times.
async fn task_list(http: &reqwest::Client, base: &str, token: &str) -> Chaos<TaskList> {
    let mut tries = 0;
    loop {
        let read = async {
            let list: TaskList = http
                .get(format!("{base}/api/tasks"))
                .bearer_auth(token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Chaos::Ok(list)
        };
        match read.await {
            Ok(list) => return Ok(list),
            Err(error) if tries >= 10 => return Err(error),
            Err(_) => {
                tries += 1;
                sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The proxy.

/// Client to server, and server to client: indexes of a link's directions.
const UP: usize = 0;
const DOWN: usize = 1;

#[derive(Debug, Clone)]
enum Fault {
    /// Both ends closed at once; with `reset`, by RST rather than FIN.
    Drop { reset: bool },
    /// Nothing forwarded either way for this long.
    Stall(Duration),
    /// One direction read and thrown away from now on; nothing is closed.
    HalfOpen(usize),
    /// The next chunk in one direction forwarded only up to this fraction, then both
    /// ends closed.
    Cut(usize, f64),
    /// These bytes written in one direction between two chunks; forwarding goes on.
    Garbage(usize, Vec<u8>),
}

impl Fault {
    /// After how long a link's next fault period ends, and whether a fault strikes
    /// then, and which: drawn one period after another from the link's own generator.
    fn draw(rng: &mut Rng, percent: u64) -> (Duration, Option<Self>) {
        let after = rng.between(FAULT_AFTER);
        if !rng.chance(percent) {
            return (after, None);
        }
        let direction = rng.below(2) as usize;
        let fault = match rng.below(5) {
            0 => Self::Drop {
                reset: rng.chance(50),
            },
            1 => Self::Stall(rng.between(STALL)),
            2 => Self::HalfOpen(direction),
            3 => Self::Cut(direction, rng.unit()),
            _ => {
                let len = 1 + rng.below(16);
                let bytes = (0..len)
                    .map(|_| GARBAGE[rng.below(GARBAGE.len() as u64) as usize])
                    .collect();
                Self::Garbage(direction, bytes)
            }
        };
        (after, Some(fault))
    }
}

#[derive(Default)]
struct FaultCounters {
    drops: AtomicU64,
    stalls: AtomicU64,
    half_open: AtomicU64,
    cuts: AtomicU64,
    garbage: AtomicU64,
}

struct ProxyShared {
    upstream: SocketAddr,
    seed: u64,
    fault_percent: u64,
    /// Whether new faults strike.
    active: AtomicBool,
    next: AtomicU64,
    counters: FaultCounters,
    end: CancellationToken,
}

struct Proxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.end.cancel();
    }
}

impl Proxy {
    async fn start(upstream: SocketAddr, seed: u64, fault_percent: u64) -> Chaos<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(ProxyShared {
            upstream,
            seed,
            fault_percent,
            active: AtomicBool::new(false),
            next: AtomicU64::new(0),
            counters: FaultCounters::default(),
            end: CancellationToken::new(),
        });
        tokio::spawn(accept(listener, shared.clone()));
        Ok(Self { addr, shared })
    }

    fn faults(&self, kills: u64) -> Faults {
        let counters = &self.shared.counters;
        Faults {
            drops: counters.drops.load(Ordering::SeqCst),
            stalls: counters.stalls.load(Ordering::SeqCst),
            half_open: counters.half_open.load(Ordering::SeqCst),
            cuts: counters.cuts.load(Ordering::SeqCst),
            garbage: counters.garbage.load(Ordering::SeqCst),
            kills,
        }
    }
}

async fn accept(listener: TcpListener, shared: Arc<ProxyShared>) {
    loop {
        let accepted = tokio::select! {
            () = shared.end.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((client, _)) => {
                let index = shared.next.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(relay(shared.clone(), client, index));
            }
            // Out of descriptors, say: try again shortly.
            Err(_) => sleep(Duration::from_millis(10)).await,
        }
    }
}

/// One proxied connection: both directions, and its fault.
struct Link {
    end: CancellationToken,
    stall_until: Mutex<Option<Instant>>,
    /// Whether it has been stalled (once is all).
    stalled: AtomicBool,
    blackhole: [AtomicBool; 2],
    cut: [Mutex<Option<f64>>; 2],
    /// Where each direction writes: the server's end for `UP`, the client's for `DOWN`.
    writers: [tokio::sync::Mutex<OwnedWriteHalf>; 2],
}

async fn relay(shared: Arc<ProxyShared>, client: TcpStream, index: u64) {
    // The server being down (killed) shows as a connection closed at once.
    let upstream = tokio::select! {
        () = shared.end.cancelled() => return,
        connected = timeout(CONNECT_LIMIT, TcpStream::connect(shared.upstream)) => match connected {
            Ok(Ok(upstream)) => upstream,
            _ => return,
        },
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let link = Arc::new(Link {
        end: shared.end.child_token(),
        stall_until: Mutex::new(None),
        stalled: AtomicBool::new(false),
        blackhole: [AtomicBool::new(false), AtomicBool::new(false)],
        cut: [Mutex::new(None), Mutex::new(None)],
        writers: [
            tokio::sync::Mutex::new(upstream_write),
            tokio::sync::Mutex::new(client_write),
        ],
    });
    let up = tokio::spawn(pump(link.clone(), shared.clone(), UP, client_read));
    let down = tokio::spawn(pump(link.clone(), shared.clone(), DOWN, upstream_read));
    // Period after period until the link ends, so that a long-lived connection (a socket
    // that survived a stall, a pooled HTTP connection) meets faults too.
    let mut rng = Rng::derive(shared.seed, PROXY_STREAM, index);
    while !link.end.is_cancelled() {
        let (after, fault) = Fault::draw(&mut rng, shared.fault_percent);
        tokio::select! {
            () = link.end.cancelled() => break,
            () = sleep(after) => {}
        }
        if let Some(fault) = fault
            && shared.active.load(Ordering::SeqCst)
        {
            strike(&link, &shared.counters, fault).await;
        }
    }
    let _ = up.await;
    let _ = down.await;
}

async fn strike(link: &Link, counters: &FaultCounters, fault: Fault) {
    match fault {
        Fault::Drop { reset } => {
            if reset {
                // SO_LINGER 0: the close is an RST. A half busy writing closes with FIN.
                for writer in &link.writers {
                    if let Ok(writer) = writer.try_lock() {
                        let _ = writer.as_ref().set_zero_linger();
                    }
                }
            }
            counters.drops.fetch_add(1, Ordering::SeqCst);
            link.end.cancel();
        }
        Fault::Stall(how_long) => {
            // One stall per link, so that nothing is ever held longer than one stall
            // (which the writers' quarantine counts on), rather than stalls in a row.
            if !link.stalled.swap(true, Ordering::SeqCst) {
                *lock(&link.stall_until) = Some(Instant::now() + how_long);
                counters.stalls.fetch_add(1, Ordering::SeqCst);
            }
        }
        Fault::HalfOpen(direction) => {
            link.blackhole[direction].store(true, Ordering::SeqCst);
            counters.half_open.fetch_add(1, Ordering::SeqCst);
        }
        Fault::Cut(direction, fraction) => {
            // Counted when a chunk comes to be cut.
            *lock(&link.cut[direction]) = Some(fraction);
        }
        Fault::Garbage(direction, bytes) => {
            let mut writer = link.writers[direction].lock().await;
            tokio::select! {
                () = link.end.cancelled() => {}
                written = writer.write_all(&bytes) => {
                    if written.is_ok() {
                        counters.garbage.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

impl Link {
    /// Returns once no stall holds the link (or it ended).
    async fn unstalled(&self) {
        loop {
            let until = *lock(&self.stall_until);
            match until {
                Some(until) if until > Instant::now() => {
                    tokio::select! {
                        () = self.end.cancelled() => return,
                        () = sleep_until(until) => {}
                    }
                }
                _ => return,
            }
        }
    }
}

/// Forwards one direction until either end closes or the link ends.
async fn pump(
    link: Arc<Link>,
    shared: Arc<ProxyShared>,
    direction: usize,
    mut from: OwnedReadHalf,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        link.unstalled().await;
        let n = tokio::select! {
            () = link.end.cancelled() => break,
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
        };
        // A stall that began while this read waited holds what it read.
        link.unstalled().await;
        if link.end.is_cancelled() {
            break;
        }
        if link.blackhole[direction].load(Ordering::SeqCst) {
            continue;
        }
        let cut = if n >= 2 {
            lock(&link.cut[direction]).take()
        } else {
            None
        };
        let mut writer = link.writers[direction].lock().await;
        if let Some(fraction) = cut {
            let keep = (1 + ((n - 1) as f64 * fraction) as usize).min(n - 1);
            tokio::select! {
                () = link.end.cancelled() => {}
                _ = writer.write_all(&buf[..keep]) => {
                    shared.counters.cuts.fetch_add(1, Ordering::SeqCst);
                }
            }
            break;
        }
        let written = tokio::select! {
            () = link.end.cancelled() => break,
            written = writer.write_all(&buf[..n]) => written,
        };
        if written.is_err() {
            break;
        }
    }
    link.end.cancel();
}

// ---------------------------------------------------------------------------------------
// Sockets.

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open_socket(addr: &str) -> Result<Ws, String> {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(protocol::SUBPROTOCOL),
    );
    match timeout(CONNECT_LIMIT, tokio_tungstenite::connect_async(request)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(error)) => Err(format!("handshake failed: {error}")),
        Err(_) => Err("handshake timed out".to_owned()),
    }
}

async fn send(ws: &mut Ws, frame: &ClientFrame) -> Result<(), String> {
    let text = serde_json::to_string(frame).map_err(|e| e.to_string())?;
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send failed: {e}"))
}

/// The next text frame, read; `Err` names how the socket ended.
async fn next_frame(ws: &mut Ws) -> Result<ServerFrame, String> {
    use tokio_tungstenite::tungstenite::Error;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return protocol::decode_server(text.as_str())
                    .map_err(|e| format!("unreadable frame: {e}"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Binary(_))) => return Err("binary frame".to_owned()),
            Some(Ok(Message::Close(frame))) => {
                return Err(match frame {
                    Some(frame) => format!("closed {}", u16::from(frame.code)),
                    None => "closed".to_owned(),
                });
            }
            Some(Err(error)) => {
                return Err(match error {
                    Error::ConnectionClosed | Error::AlreadyClosed => "ended".to_owned(),
                    Error::Io(_) => "connection broke".to_owned(),
                    Error::Protocol(error) => {
                        let text = error.to_string();
                        let what = text.split(':').next().unwrap_or_default();
                        format!("protocol error ({what})")
                    }
                    Error::Utf8(_) => "bad UTF-8".to_owned(),
                    Error::Capacity(_) => "frame too large".to_owned(),
                    other => format!("error: {other}"),
                });
            }
            None => return Err("ended".to_owned()),
        }
    }
}

/// The kind of a reason (`closed 1001`, `handshake failed`, ...), for the tallies.
fn kind(reason: &str) -> String {
    reason.split(':').next().unwrap_or(reason).trim().to_owned()
}

// ---------------------------------------------------------------------------------------
// Subscribers.

#[derive(Debug, Default)]
struct ClientStats {
    replays: u64,
    snapshots: u64,
    duplicates: u64,
    gaps: u64,
    epoch_changes: u64,
    inconsistent: u64,
    reconnects: u64,
    causes: BTreeMap<String, u64>,
    notes: Vec<String>,
}

/// A socket client of one user's `tasks` topic, with its copy.
struct Subscriber {
    name: String,
    proxy: String,
    token: Arc<str>,
    rng: Rng,
    position: Option<Position>,
    tasks: BTreeMap<Uuid, Task>,
    /// Its position while live, else `None`.
    live: watch::Sender<Option<Position>>,
    stats: ClientStats,
}

enum Session {
    Stopped,
    /// The connection ended; `live` says whether it had got there.
    Lost {
        live: bool,
        why: String,
    },
}

/// Returns once `stop` is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The borrow `wait_for` returns is not `Send`: dropped here, not held in a `select!`.
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn run_subscriber(mut client: Subscriber, mut stop: watch::Receiver<bool>) -> Subscriber {
    let mut failures = 0u32;
    while !*stop.borrow() {
        match client.session(&mut stop).await {
            Session::Stopped => break,
            Session::Lost { live, why } => {
                client.live.send_replace(None);
                client.stats.reconnects += 1;
                *client.stats.causes.entry(kind(&why)).or_default() += 1;
                if live {
                    failures = 0;
                }
            }
        }
        let ceiling = BACKOFF_FLOOR
            .saturating_mul(1 << failures.min(6))
            .min(BACKOFF_CEILING);
        let delay = ceiling.mul_f64(client.rng.unit());
        failures = failures.saturating_add(1);
        tokio::select! {
            () = stopped(&mut stop) => break,
            () = sleep(delay) => {}
        }
    }
    client.live.send_replace(None);
    client
}

impl Subscriber {
    fn note(&mut self, text: String) {
        let text = format!("{}: {text}", self.name);
        note(&mut self.stats.notes, text);
    }

    /// One connection: open, `auth`, `subscribe` from the last position, then events
    /// until it ends or `stop`.
    async fn session(&mut self, stop: &mut watch::Receiver<bool>) -> Session {
        let lost = |live: bool, why: String| Session::Lost { live, why };
        let mut ws = match open_socket(&self.proxy).await {
            Ok(ws) => ws,
            Err(why) => return lost(false, why),
        };
        let since = self.position.clone();
        let frames = [
            ClientFrame::Auth {
                id: 1,
                token: self.token.to_string(),
            },
            ClientFrame::Subscribe {
                id: 2,
                topic: Topic::Tasks,
                since: since.clone(),
            },
        ];
        for frame in &frames {
            if let Err(why) = send(&mut ws, frame).await {
                return lost(false, why);
            }
        }
        let deadline = Instant::now() + ANSWER_LIMIT;
        loop {
            let frame = tokio::select! {
                () = stopped(stop) => return Session::Stopped,
                frame = timeout_at(deadline, next_frame(&mut ws)) => frame,
            };
            match frame {
                Err(_) => return lost(false, "no answer in time".to_owned()),
                Ok(Err(why)) => return lost(false, why),
                Ok(Ok(ServerFrame::Snapshot {
                    epoch, seq, items, ..
                })) => {
                    if !self.take_snapshot(since.as_ref(), epoch, seq, items) {
                        return lost(false, "snapshot went back".to_owned());
                    }
                    break;
                }
                Ok(Ok(ServerFrame::Replay {
                    epoch, seq, events, ..
                })) => {
                    if !self.take_replay(since.as_ref(), epoch, seq, events) {
                        return lost(false, "replay did not fit".to_owned());
                    }
                    break;
                }
                Ok(Ok(ServerFrame::Error { code, message, .. })) => {
                    return lost(false, format!("error {code:?}: {message}"));
                }
                Ok(Ok(_)) => {}
            }
        }

        self.live.send_replace(self.position.clone());
        let mut heard = Instant::now();
        let mut pinged: Option<Instant> = None;
        let mut ping_id = 3u64;
        loop {
            let wake = match pinged {
                Some(at) => at + PING_WAIT,
                None => heard + IDLE_PING,
            };
            tokio::select! {
                () = stopped(stop) => {
                    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Session::Stopped;
                }
                () = sleep_until(wake) => {
                    if pinged.is_some() {
                        return lost(true, "silent after a ping".to_owned());
                    }
                    if let Err(why) = send(&mut ws, &ClientFrame::Ping { id: ping_id }).await {
                        return lost(true, why);
                    }
                    ping_id += 1;
                    pinged = Some(Instant::now());
                }
                frame = next_frame(&mut ws) => {
                    heard = Instant::now();
                    pinged = None;
                    match frame {
                        Ok(ServerFrame::Event(event)) => {
                            if let Err(why) = self.take_event(event) {
                                return lost(true, why);
                            }
                        }
                        Ok(ServerFrame::Error { code, message, .. }) => {
                            self.note(format!("error frame on a live socket: {code:?} {message}"));
                        }
                        Ok(_) => {}
                        Err(why) => return lost(true, why),
                    }
                }
            }
        }
    }

    /// A snapshot replaces the copy; `false` when it is behind the copy's position.
    fn take_snapshot(
        &mut self,
        since: Option<&Position>,
        epoch: String,
        seq: u64,
        items: Vec<Task>,
    ) -> bool {
        if let Some(since) = since {
            if since.epoch != epoch {
                self.stats.epoch_changes += 1;
                self.note(format!("snapshot of epoch {epoch}, after {}", since.epoch));
            } else if seq < since.seq {
                // Changes this client saw are gone from the server.
                self.stats.inconsistent += 1;
                self.note(format!("snapshot at seq {seq}, behind its {}", since.seq));
                return false;
            }
            self.stats.snapshots += 1;
        }
        self.tasks = items.into_iter().map(|task| (task.id, task)).collect();
        self.position = Some(Position { epoch, seq });
        true
    }

    /// A replay must continue at exactly `since.seq + 1` and end at its `seq`.
    fn take_replay(
        &mut self,
        since: Option<&Position>,
        epoch: String,
        seq: u64,
        events: Vec<Event>,
    ) -> bool {
        let Some(since) = since else {
            self.stats.inconsistent += 1;
            self.note("a replay for a subscribe without since".to_owned());
            return false;
        };
        if epoch != since.epoch {
            self.stats.gaps += 1;
            self.note(format!(
                "a replay of epoch {epoch} for since {}:{}",
                since.epoch, since.seq
            ));
            return false;
        }
        let mut at = since.seq;
        for event in events {
            if event.epoch != epoch || event.seq > at + 1 {
                self.stats.gaps += 1;
                self.note(format!(
                    "replay from {} went from seq {at} to {}:{}",
                    since.seq, event.epoch, event.seq
                ));
                return false;
            }
            if event.seq <= at {
                self.stats.duplicates += 1;
                self.note(format!(
                    "replay from {} repeated seq {} after {at}",
                    since.seq, event.seq
                ));
                continue;
            }
            at = event.seq;
            self.apply(event.change);
            self.position = Some(Position {
                epoch: epoch.clone(),
                seq: at,
            });
        }
        if seq != at {
            if seq > at {
                self.stats.gaps += 1;
            } else {
                self.stats.inconsistent += 1;
            }
            self.note(format!(
                "replay from {} says seq {seq}, its events end at {at}",
                since.seq
            ));
            return false;
        }
        self.stats.replays += 1;
        true
    }

    /// A live event; `Err` when the socket must resubscribe.
    fn take_event(&mut self, event: Event) -> Result<(), String> {
        if event.topic != Topic::Tasks {
            return Ok(());
        }
        let Some(position) = &self.position else {
            return Err("event before a position".to_owned());
        };
        if event.epoch != position.epoch {
            self.stats.epoch_changes += 1;
            let text = format!("event of epoch {}, in {}", event.epoch, position.epoch);
            self.note(text);
            return Err("another epoch".to_owned());
        }
        let last = position.seq;
        if event.seq <= last {
            self.stats.duplicates += 1;
            self.note(format!("event seq {} again, after {last}", event.seq));
            return Ok(());
        }
        if event.seq != last + 1 {
            self.stats.gaps += 1;
            self.note(format!("event seq {} after {last}", event.seq));
            return Err("gap".to_owned());
        }
        self.apply(event.change);
        if let Some(position) = &mut self.position {
            position.seq = event.seq;
        }
        self.live.send_replace(self.position.clone());
        Ok(())
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Upsert { item } => {
                self.tasks.insert(item.id, item);
            }
            Change::Patch {
                id,
                version,
                fields,
            } => match self.tasks.get_mut(&id) {
                Some(task) => {
                    let skew = version != task.version + 1;
                    let was = task.version;
                    task.apply(version, &fields);
                    if skew {
                        self.stats.inconsistent += 1;
                        self.note(format!("patch of {id} to version {version}, from {was}"));
                    }
                }
                None => {
                    self.stats.inconsistent += 1;
                    self.note(format!("patch of {id}, which it lacks"));
                }
            },
            Change::Delete { id } => {
                if self.tasks.remove(&id).is_none() {
                    self.stats.inconsistent += 1;
                    self.note(format!("delete of {id}, which it lacks"));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Writers.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Http,
    Socket,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::Socket => "socket",
        })
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        id: Uuid,
        title: String,
    },
    Update {
        id: Uuid,
        title: String,
        done: bool,
        if_version: u64,
    },
    Delete {
        id: Uuid,
    },
}

impl Op {
    fn id(&self) -> Uuid {
        match self {
            Self::Create { id, .. } | Self::Update { id, .. } | Self::Delete { id } => *id,
        }
    }

    fn call(&self) -> MethodCall {
        match self.clone() {
            Self::Create { id, title } => MethodCall::Create(CreateParams {
                board: None,
                id: Some(id),
                title,
            }),
            Self::Update {
                id,
                title,
                done,
                if_version,
            } => MethodCall::Update(UpdateParams {
                board: None,
                id,
                title: Some(title),
                done: Some(done),
                if_version: Some(if_version),
            }),
            Self::Delete { id } => MethodCall::Delete(DeleteParams { board: None, id }),
        }
    }
}

/// What one attempt of a write got.
#[derive(Debug)]
enum Attempt {
    Done(Option<Task>),
    NotFound,
    Conflict(Option<Task>),
    /// It may or may not have taken effect: try again.
    Unknown(String),
    /// The server refused a valid write.
    Refused(String),
}

fn from_error(error: ApiError) -> Attempt {
    match error.code {
        ErrorCode::NotFound => Attempt::NotFound,
        ErrorCode::Conflict => Attempt::Conflict(error.current.map(|task| *task)),
        // Garbage or a cut inside a request reads as a bad one; not applied, try again.
        ErrorCode::BadRequest | ErrorCode::RateLimited | ErrorCode::Internal => {
            Attempt::Unknown(format!("{:?}: {}", error.code, error.message))
        }
        _ => Attempt::Refused(format!("{:?}: {}", error.code, error.message)),
    }
}

/// A task as its writer knows it from acknowledged writes.
#[derive(Debug, Clone)]
enum State {
    /// Its create is not acknowledged (yet), or a write of it was abandoned.
    Unknown,
    Live {
        title: String,
        done: bool,
        version: u64,
    },
    Deleted,
}

#[derive(Debug)]
struct Owned {
    state: State,
    /// Acknowledged writes of it.
    acked: u64,
    /// Not deleted before this: an unanswered attempt may still be on its way.
    quiet_after: Instant,
}

/// Writes one user's tasks of its own, over HTTP or its own socket.
struct Writer {
    name: String,
    user: usize,
    via: Via,
    rng: Rng,
    /// `http://PROXY`.
    base: String,
    proxy: String,
    token: Arc<str>,
    http: reqwest::Client,
    link: Option<SocketLink>,
    pause: (Duration, Duration),
    tasks: BTreeMap<Uuid, Owned>,
    /// Its tasks that exist, oldest first.
    live: Vec<Uuid>,
    writes: u64,
    acked: u64,
    refused: u64,
    notes: Vec<String>,
}

async fn run_writer(mut writer: Writer, stop: watch::Receiver<bool>) -> Chaos<Writer> {
    while !*stop.borrow() {
        let op = writer.next_op();
        writer.perform(op, &stop).await?;
        let pause = writer.rng.between(writer.pause);
        sleep(pause).await;
    }
    if let Some(mut link) = writer.link.take() {
        let _ = timeout(Duration::from_secs(1), link.ws.close(None)).await;
    }
    Ok(writer)
}

impl Writer {
    fn next_op(&mut self) -> Op {
        self.writes += 1;
        let title = format!("{} write {}", self.name, self.writes);
        let roll = self.rng.below(100);
        let now = Instant::now();
        if self.live.len() < 3 || (self.live.len() < 30 && roll < 35) {
            let id = self.rng.uuid();
            self.tasks.insert(
                id,
                Owned {
                    state: State::Unknown,
                    acked: 0,
                    quiet_after: now,
                },
            );
            return Op::Create { id, title };
        }
        if roll >= 85 || (self.live.len() >= 30 && roll >= 60) {
            let quiet: Vec<Uuid> = self
                .live
                .iter()
                .copied()
                .filter(|id| self.tasks.get(id).is_some_and(|t| t.quiet_after <= now))
                .collect();
            if !quiet.is_empty() {
                let id = quiet[self.rng.below(quiet.len() as u64) as usize];
                return Op::Delete { id };
            }
        }
        let id = self.live[self.rng.below(self.live.len() as u64) as usize];
        let if_version = match self.tasks.get(&id).map(|t| &t.state) {
            Some(State::Live { version, .. }) => *version,
            _ => 1,
        };
        Op::Update {
            id,
            title,
            done: self.rng.chance(50),
            if_version,
        }
    }

    fn note(&mut self, text: String) {
        let text = format!("{}: {text}", self.name);
        note(&mut self.notes, text);
    }

    /// Tries `op` until it is answered; once `stop`, for at most `FINISH_LIMIT`.
    async fn perform(&mut self, op: Op, stop: &watch::Receiver<bool>) -> Chaos<()> {
        let mut attempts = 0u32;
        let mut give_up: Option<Instant> = None;
        loop {
            attempts += 1;
            let attempt = match self.via {
                Via::Http => self.http_attempt(&op).await,
                Via::Socket => self.socket_attempt(&op).await,
            };
            let why = match self.settle(&op, attempt, attempts) {
                None => return Ok(()),
                Some(why) => why,
            };
            // What it sent may still be held in a stall: for at most one stall from now.
            if let Some(owned) = self.tasks.get_mut(&op.id()) {
                owned.quiet_after = owned.quiet_after.max(Instant::now() + QUARANTINE);
            }
            if *stop.borrow() {
                let limit = *give_up.get_or_insert_with(|| Instant::now() + FINISH_LIMIT);
                if Instant::now() >= limit {
                    return Err(format!(
                        "{}: {op:?} still unanswered {FINISH_LIMIT:?} after the faults stopped, {attempts} attempts: {why}",
                        self.name
                    )
                    .into());
                }
            }
            let ceiling = Duration::from_millis(50)
                .saturating_mul(1 << attempts.min(5))
                .min(Duration::from_secs(1));
            sleep(ceiling.mul_f64(self.rng.unit())).await;
        }
    }

    /// Records what an attempt settled; `Some(why)` when it settled nothing.
    fn settle(&mut self, op: &Op, attempt: Attempt, attempts: u32) -> Option<String> {
        // Whether an earlier attempt may have taken effect.
        let retried = attempts > 1;
        match (op, attempt) {
            (_, Attempt::Unknown(why)) => return Some(why),
            (Op::Create { id, title }, Attempt::Done(Some(task))) => {
                if task.id != *id || task.title != *title || task.done || task.version != 1 {
                    self.refused += 1;
                    self.note(format!("create of {id} {title:?} answered {task:?}"));
                }
                self.acknowledge(
                    *id,
                    State::Live {
                        title: title.clone(),
                        done: false,
                        version: 1,
                    },
                );
                self.live.push(*id);
            }
            (
                Op::Update {
                    id,
                    title,
                    done,
                    if_version,
                },
                answer @ (Attempt::Done(Some(_)) | Attempt::Conflict(Some(_))),
            ) => {
                let (task, conflict) = match answer {
                    Attempt::Done(Some(task)) => (task, false),
                    Attempt::Conflict(Some(task)) => (task, true),
                    _ => return Some("unreachable".to_owned()),
                };
                let applied = task.id == *id
                    && task.title == *title
                    && task.done == *done
                    && task.version == if_version + 1;
                if conflict && !(applied && retried) {
                    // Nobody else writes this task: an earlier attempt of this very
                    // update is the only change that may have come between.
                    self.refused += 1;
                    self.note(format!(
                        "update of {id} at version {if_version} ({attempts} attempts) met a conflict with {task:?}"
                    ));
                    self.abandon(*id, State::Unknown);
                    return None;
                }
                if !applied {
                    self.refused += 1;
                    self.note(format!(
                        "update of {id} from version {if_version} to {title:?} answered {task:?}"
                    ));
                }
                self.acknowledge(
                    *id,
                    State::Live {
                        title: title.clone(),
                        done: *done,
                        version: if_version + 1,
                    },
                );
            }
            (Op::Delete { id }, Attempt::Done(None)) => {
                self.acknowledge(*id, State::Deleted);
                self.live.retain(|live| live != id);
            }
            (Op::Delete { id }, Attempt::NotFound) if retried => {
                // An earlier attempt deleted it.
                self.acknowledge(*id, State::Deleted);
                self.live.retain(|live| live != id);
            }
            (Op::Update { id, .. } | Op::Delete { id }, Attempt::NotFound) => {
                // Its create was acknowledged and nothing deleted it: the final check
                // counts what is lost, from the state kept.
                let id = *id;
                self.note(format!("{op:?}: not found on the first attempt"));
                self.live.retain(|live| *live != id);
            }
            (_, attempt) => {
                let answer = match attempt {
                    Attempt::Refused(why) => format!("refused: {why}"),
                    other => format!("answered {other:?}"),
                };
                self.refused += 1;
                self.note(format!("{op:?} ({attempts} attempts): {answer}"));
                self.abandon(op.id(), State::Unknown);
            }
        }
        None
    }

    fn acknowledge(&mut self, id: Uuid, state: State) {
        self.acked += 1;
        if let Some(owned) = self.tasks.get_mut(&id) {
            owned.state = state;
            owned.acked += 1;
        }
    }

    fn abandon(&mut self, id: Uuid, state: State) {
        if let Some(owned) = self.tasks.get_mut(&id) {
            owned.state = state;
        }
        self.live.retain(|live| *live != id);
    }

    async fn http_attempt(&self, op: &Op) -> Attempt {
        let base = &self.base;
        let request = match op {
            Op::Create { id, title } => self
                .http
                .post(format!("{base}/api/tasks"))
                .json(&json!({"id": id, "title": title})),
            Op::Update {
                id,
                title,
                done,
                if_version,
            } => self
                .http
                .patch(format!("{base}/api/tasks/{id}"))
                .json(&json!({"title": title, "done": done, "if_version": if_version})),
            Op::Delete { id } => self.http.delete(format!("{base}/api/tasks/{id}")),
        };
        let response = match request.bearer_auth(&*self.token).send().await {
            Ok(response) => response,
            Err(error) => return Attempt::Unknown(format!("http: {error}")),
        };
        let status = response.status().as_u16();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return Attempt::Unknown(format!("http body: {error}")),
        };
        match (op, status) {
            (Op::Delete { .. }, 204) => Attempt::Done(None),
            (Op::Create { .. } | Op::Update { .. }, 200 | 201) => {
                match serde_json::from_slice::<Task>(&body) {
                    Ok(task) => Attempt::Done(Some(task)),
                    Err(error) => Attempt::Unknown(format!("unreadable task: {error}")),
                }
            }
            (_, 404) => Attempt::NotFound,
            (_, 409) => match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(body) => Attempt::Conflict(body.error.current.map(|task| *task)),
                Err(error) => Attempt::Unknown(format!("unreadable conflict: {error}")),
            },
            // Garbage or a cut inside a request reads as a bad one; not applied.
            (_, 400 | 429 | 500..=599) => Attempt::Unknown(format!("status {status}")),
            _ => Attempt::Refused(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
        }
    }

    async fn socket_attempt(&mut self, op: &Op) -> Attempt {
        if self.link.is_none() {
            match SocketLink::open(&self.proxy, &self.token).await {
                Ok(link) => self.link = Some(link),
                Err(why) => return Attempt::Unknown(why),
            }
        }
        let Some(link) = self.link.as_mut() else {
            return Attempt::Unknown("no socket".to_owned());
        };
        let attempt = link.call(op.call()).await;
        if matches!(attempt, Attempt::Unknown(_) | Attempt::Refused(_)) {
            // Whatever broke, a new connection for the next try.
            self.link = None;
        }
        attempt
    }
}

/// A writer's authenticated socket (no subscription).
struct SocketLink {
    ws: Ws,
    next_id: u64,
}

impl SocketLink {
    async fn open(addr: &str, token: &str) -> Result<Self, String> {
        let mut ws = open_socket(addr).await?;
        let auth = ClientFrame::Auth {
            id: 1,
            token: token.to_owned(),
        };
        send(&mut ws, &auth).await?;
        let deadline = Instant::now() + ANSWER_LIMIT;
        loop {
            match timeout_at(deadline, next_frame(&mut ws)).await {
                Err(_) => return Err("no auth_ok in time".to_owned()),
                Ok(Err(why)) => return Err(why),
                Ok(Ok(ServerFrame::AuthOk { .. })) => return Ok(Self { ws, next_id: 2 }),
                Ok(Ok(ServerFrame::Error { code, message, .. })) => {
                    return Err(format!("auth refused: {code:?} {message}"));
                }
                Ok(Ok(_)) => {}
            }
        }
    }

    async fn call(&mut self, call: MethodCall) -> Attempt {
        let id = self.next_id;
        self.next_id += 1;
        if let Err(why) = send(&mut self.ws, &ClientFrame::Request { id, call }).await {
            return Attempt::Unknown(why);
        }
        let deadline = Instant::now() + ANSWER_LIMIT;
        loop {
            match timeout_at(deadline, next_frame(&mut self.ws)).await {
                Err(_) => return Attempt::Unknown("no result in time".to_owned()),
                Ok(Err(why)) => return Attempt::Unknown(why),
                Ok(Ok(ServerFrame::Result {
                    id: answered,
                    outcome,
                })) if answered == id => {
                    return match outcome {
                        Outcome::Ok(value) => Attempt::Done(value.task),
                        Outcome::Error(error) => from_error(error),
                    };
                }
                Ok(Ok(ServerFrame::Error {
                    id: Some(answered),
                    code,
                    message,
                })) if answered == id => {
                    return Attempt::Unknown(format!("error frame {code:?}: {message}"));
                }
                Ok(Ok(_)) => {}
            }
        }
    }
}
