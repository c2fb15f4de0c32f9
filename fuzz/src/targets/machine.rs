//! The app's connection machine (`taskwire::client::machine::Machine`) driven through a
//! script: each line of the input is a text frame from the server on the current
//! socket, read by `Input::from_text`, or, after a `!`, something else that happens to
//! the machine (below). The driver plays a shell that does what the machine says:
//! sockets open at once, `auth` is answered with `auth_ok` (until `!a`), and timers and
//! HTTP answers wait for the script to fire them.
//!
//! Checked after every input: no panic; everything the machine sends, the server's
//! reader reads as the same frame; its store lists consistently.
//!
//! Controls: `!T` (or an unknown letter) fires the earliest timer; `!c<code>` the socket
//! closes; `!e` it fails; `!n`/`!f` online/offline; `!v` visible; `!r` retry now;
//! `!m<title>` create, `!u<b>` toggle done, `!d<b>` delete, `!x` clear done; `!D<n>`
//! discard; `!p<json>`/`!q<json>` answer the oldest/newest poll with changes read by
//! `protocol::read_changes` (or an error body, or no answer); `!k<json>` answer the HTTP call with a task; `!R<b>` answer
//! a refresh; `!o<topic>` open a board; `!S`/`!s` sign out/in; `!a` toggle answering
//! `auth`; `!+<ms>` let time pass.

use protocol::{
    Changes, ClearDoneParams, ClientFrame, CloseCode, CreateParams, DeleteParams, ErrorBody,
    MethodCall, MethodValue, Task, Topic, UpdateParams,
};
use taskwire::client::machine::{
    Command, Config, ConnId, Env, HttpFailure, Input, Machine, PollId, TimerKind,
};
use taskwire::client::outbox::MutationId;

use super::store::check_listing;
use crate::corpus::{self, SERIALISES};

/// Inputs one script may feed, those the driver adds included: bounds the work of one
/// execution.
const MAX_INPUTS: usize = 256;
/// 2026-01-01T00:00:00Z.
const START_MS: u64 = 1_767_225_600_000;
const SESSION_MS: u64 = 15 * 60_000;
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYXlhIn0.c2lnbmF0dXJl";

pub(super) fn machine(input: &[u8]) -> bool {
    let mut driver = Driver::start();
    let mut all_read = true;
    for line in input.split(|&b| b == b'\n') {
        if driver.handled >= MAX_INPUTS {
            break;
        }
        match line.split_first() {
            Some((b'!', control)) => driver.control(control),
            _ => {
                let input = Input::from_text(driver.conn, &String::from_utf8_lossy(line));
                all_read &= matches!(input, Input::Frame { .. });
                driver.feed(input);
            }
        }
    }
    all_read && driver.machine.diagnostics().loaded
}

/// Scripts that reach each part of the machine: a live session's frames, changes and
/// their results, closes and timers, and the HTTP fallback.
pub(super) fn seeds() -> Vec<Vec<u8>> {
    let frames: Vec<String> = corpus::server_frames()
        .iter()
        .map(|frame| serde_json::to_string(frame).expect(SERIALISES))
        .collect();
    let changes = serde_json::json!({
        "topic": "tasks", "epoch": "01JEPOCH", "seq": 10,
        "snapshot": {"items": [corpus::task(1, 1, false)]},
    });
    let events = serde_json::json!({
        "topic": "tasks", "epoch": "01JEPOCH", "seq": 13,
        "events": corpus::events(Topic::Tasks, 11),
    });
    let board = serde_json::json!({"topic": "boards", "epoch": "01JBOARDS", "seq": 5,
        "snapshot": {"items": [{"id": corpus::uuid(100), "name": "My tasks", "role": "owner",
        "personal": true}]}});
    let error = r#"{"error":{"code":"unauthorized","message":"Sign in again."}}"#;
    let task = serde_json::to_string(&corpus::task(7, 1, false)).expect(SERIALISES);
    // In the order a live session gets them; `frames[n]` as `corpus::server_frames`.
    let session: Vec<&str> = [2, 4, 16, 17, 18, 5, 6, 1, 7, 8, 9, 10, 13, 11, 14, 15, 3]
        .iter()
        .filter_map(|&n| frames.get(n).map(String::as_str))
        .collect();
    let scripts = [
        session.join("\n"),
        format!(
            "{}\n!mBuy milk\n{}\n!u1\n!d2\n!x\n!T\n!+30000\n!T",
            frames[2], frames[7]
        ),
        format!(
            "{}\n{}\n!c1001\n!T\n!T\n{}",
            frames[2], frames[4], frames[3]
        ),
        format!("!c4401\n!R\x01\n!T\n!T\n!R\x00\n{}\n!c4409", frames[2]),
        format!(
            "!a\n!e\n!T\n!e\n!T\n!e\n!T\n!p{changes}\n!q{board}\n!mA\n!k{task}\n!p{events}\n!q{error}"
        ),
        format!(
            "!a\n!T\n!f\n!n\n!v\n!r\n!o{}\n!S\n!s\n{}",
            Topic::Board(corpus::uuid(101)),
            frames[0]
        ),
        format!("{}\n!+900000\n!T\n!T\n!D1\n{}", frames[2], frames[14]),
    ];
    scripts.into_iter().map(String::into_bytes).collect()
}

/// A shell around one machine.
struct Driver {
    machine: Machine,
    now: u64,
    /// The socket last opened: frames arrive on it.
    conn: ConnId,
    /// Started timers and when they are due.
    timers: Vec<(TimerKind, u64)>,
    polls: Vec<PollId>,
    calls: Vec<MutationId>,
    answer_auth: bool,
    handled: usize,
}

impl Driver {
    fn start() -> Self {
        let mut driver = Self {
            machine: Machine::new(Config {
                boards: true,
                ..Config::default()
            }),
            now: START_MS,
            conn: ConnId(0),
            timers: Vec::new(),
            polls: Vec::new(),
            calls: Vec::new(),
            answer_auth: true,
            handled: 0,
        };
        driver.feed(driver.sign_in());
        driver
    }

    fn sign_in(&self) -> Input {
        Input::SignIn {
            token: TOKEN.to_owned(),
            expires_at_ms: self.now.saturating_add(SESSION_MS),
        }
    }

    /// Feeds `input`, does what the machine says, and checks what must hold.
    fn feed(&mut self, input: Input) {
        if self.handled >= MAX_INPUTS {
            return;
        }
        self.handled += 1;
        let env = Env {
            now_ms: self.now,
            // Varied, and in [0, 1) as `Math.random()` is.
            random: (self.handled % 10) as f64 / 10.0,
        };
        let mut follow = Vec::new();
        for command in self.machine.handle(env, input) {
            match command {
                Command::Open { conn } => {
                    self.conn = conn;
                    follow.push(Input::Opened { conn });
                }
                Command::Send { conn, frame } => {
                    server_reads(&frame);
                    if let ClientFrame::Auth { id, .. } = frame
                        && self.answer_auth
                    {
                        follow.push(Input::Frame {
                            conn,
                            frame: corpus::auth_ok(id),
                        });
                    }
                }
                Command::StartTimer { kind, after_ms } => {
                    self.timers.retain(|(k, _)| *k != kind);
                    self.timers.push((kind, self.now.saturating_add(after_ms)));
                }
                Command::CancelTimer(kind) => self.timers.retain(|(k, _)| *k != kind),
                Command::Poll { poll, .. } => self.polls.push(poll),
                Command::CancelPoll(poll) => self.polls.retain(|p| *p != poll),
                Command::Call { mutation, .. } => self.calls.push(mutation),
                Command::Close { .. }
                | Command::RefreshToken
                | Command::GoToLogin
                | Command::ClearSession
                | Command::Notify(_) => {}
            }
        }
        check_listing(self.machine.store());
        for input in follow {
            self.feed(input);
        }
    }

    fn control(&mut self, control: &[u8]) {
        let Some((&op, rest)) = control.split_first() else {
            return self.fire_timer();
        };
        let text = String::from_utf8_lossy(rest);
        let first = rest.first().copied().unwrap_or(0);
        let conn = self.conn;
        let input = match op {
            b'c' => Input::Closed {
                conn,
                code: CloseCode::from_u16(text.trim().parse().unwrap_or(1006)),
                reason: String::new(),
            },
            b'e' => Input::Error { conn },
            b'n' => Input::Online,
            b'f' => Input::Offline,
            b'v' => Input::Visible,
            b'r' => Input::RetryNow,
            b'm' => Input::Mutate(MethodCall::Create(CreateParams {
                board: None,
                id: Some(corpus::uuid(u128::from(first % 8))),
                title: text.into_owned(),
            })),
            b'u' => Input::Mutate(MethodCall::Update(UpdateParams {
                board: None,
                id: corpus::uuid(u128::from(first % 8)),
                title: None,
                done: Some(first & 0x80 == 0),
                if_version: None,
            })),
            b'd' => Input::Mutate(MethodCall::Delete(DeleteParams {
                board: None,
                id: corpus::uuid(u128::from(first % 8)),
            })),
            b'x' => Input::Mutate(MethodCall::ClearDone(ClearDoneParams { board: None })),
            b'D' => Input::Discard(MutationId(u64::from(first % 8))),
            b'p' | b'q' => {
                let poll = if op == b'p' && !self.polls.is_empty() {
                    Some(self.polls.remove(0))
                } else {
                    self.polls.pop()
                };
                Input::Polled {
                    poll: poll.unwrap_or(PollId(0)),
                    result: read_changes(&text).map_err(|_| refused(&text)),
                }
            }
            b'k' => {
                let result = if text.is_empty() {
                    Ok(MethodValue::default())
                } else {
                    serde_json::from_str::<Task>(&text)
                        .map(|task| MethodValue {
                            task: Some(task),
                            deleted: None,
                        })
                        .map_err(|_| refused(&text))
                };
                Input::Called {
                    mutation: self.calls.pop().unwrap_or(MutationId(0)),
                    result,
                }
            }
            b'R' => match first % 3 {
                0 => Input::TokenRefreshed {
                    token: TOKEN.to_owned(),
                    expires_at_ms: self.now.saturating_add(SESSION_MS),
                },
                1 => Input::RefreshFailed,
                _ => Input::RefreshUnavailable,
            },
            b'o' => Input::Open(text.parse().unwrap_or(Topic::Tasks)),
            b'S' => Input::SignOut,
            b's' => self.sign_in(),
            b'a' => {
                self.answer_auth = !self.answer_auth;
                return;
            }
            b'+' => {
                self.now = self
                    .now
                    .saturating_add(text.trim().parse().unwrap_or(1_000));
                return;
            }
            _ => return self.fire_timer(),
        };
        self.feed(input);
    }

    /// The earliest timer fires, time having passed until it was due.
    fn fire_timer(&mut self) {
        let Some(at) = (0..self.timers.len()).min_by_key(|&i| self.timers[i].1) else {
            return;
        };
        let (kind, due) = self.timers.swap_remove(at);
        self.now = self.now.max(due);
        self.feed(Input::TimerFired(kind));
    }
}

/// `protocol::read_changes`, the shell's reader of a long poll's answer: what it reads
/// writes back as JSON that reads as the same changes.
fn read_changes(text: &str) -> Result<Changes, serde_json::Error> {
    let changes = protocol::read_changes(text)?;
    let again = match serde_json::to_string(&changes) {
        Ok(again) => again,
        Err(error) => panic!("changes that were read do not serialise: {error}"),
    };
    assert_eq!(
        protocol::read_changes(&again).ok().as_ref(),
        Some(&changes),
        "changes read back as others: {again}"
    );
    Ok(changes)
}

/// What an HTTP answer that is not the expected body means to the shell: the contract's
/// error, or no answer at all.
fn refused(text: &str) -> HttpFailure {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => HttpFailure::Refused(body.error),
        Err(_) => HttpFailure::Unreachable,
    }
}

/// Whatever the app sends, the server reads as the same frame.
fn server_reads(frame: &ClientFrame) {
    let text = match serde_json::to_string(frame) {
        Ok(text) => text,
        Err(error) => panic!("the app sent a frame that does not serialise: {error}"),
    };
    assert_eq!(
        protocol::decode_client(&text).as_ref(),
        Ok(frame),
        "the server reads another frame than the app sent: {text}"
    );
}
