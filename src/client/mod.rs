//! The app's socket service, as plain Rust: no browser APIs, no clock, no randomness of
//! its own, so every decision is tested natively (`cargo test -p taskwire --lib client`).
//!
//! The browser shell around it is thin. It owns the `WebSocket`s and the timers; the
//! core owns every decision. The shell:
//!
//! 1. builds a [`registry::Registry`] (one [`machine::Machine`] per named socket, each
//!    with its [`machine::Config`]), or a lone `Machine`;
//! 2. turns every event into an [`machine::Input`] with an [`machine::Env`]
//!    (`Date.now()` and `Math.random()`) and hands it to
//!    [`Registry::handle`](registry::Registry::handle) /
//!    [`broadcast`](registry::Registry::broadcast) (or [`machine::Machine::handle`]):
//!    socket `open`/`message`/`close`/`error` (tagged with the socket's
//!    [`machine::ConnId`]; a message via [`machine::Input::from_text`]), fired timers,
//!    `online`/`offline`, `visibilitychange`, sign-in/out, refresh results, and a person's
//!    changes ([`machine::Input::Mutate`], [`machine::Input::Discard`]);
//! 3. executes the returned [`machine::Command`]s in order: open, send (serialise the
//!    `ClientFrame` with `serde_json`), close, start/cancel the one timer of each
//!    [`machine::TimerKind`], refresh the token over HTTP, go to the login page, clear
//!    the session, and [`machine::Notice`]s for the UI ([`crate::board`]): the
//!    connection state (the `data-connection` attribute), [`rows::RowUpdate`]s (exactly
//!    the rows that changed, with their values), settled changes, the outbox and
//!    problems. A notice carries what it reports: nothing reads the machine back.
//!
//! ```
//! use taskwire::client::machine::{Command, Config, ConnId, Env, Input, Machine};
//!
//! let mut machine = Machine::new(Config::default());
//! let env = Env { now_ms: 1_700_000_000_000, random: 0.42 };
//! let commands = machine.handle(env, Input::SignIn {
//!     token: "eyJ...".into(),
//!     expires_at_ms: env.now_ms + 15 * 60_000,
//! });
//! // The shell opens a socket for each `Open`, then feeds its events back:
//! assert!(commands.contains(&Command::Open { conn: ConnId(1) }));
//! for command in machine.handle(env, Input::Opened { conn: ConnId(1) }) {
//!     match command {
//!         Command::Send { conn, frame } => {
//!             let _text = serde_json::to_string(&frame); // socket(conn).send(text)
//!         }
//!         _ => { /* timers, notices, ... */ }
//!     }
//! }
//! ```
//!
//! Modules, one job each: [`machine`] (one socket's decisions, split by job under
//! `machine/`: messages, connection, session, subscriptions, changes, timers), [`store`]
//! (tasks, order, optimistic changes, row changes), [`outbox`] (changes waiting for the
//! server; nothing applied twice), `pace` (how fast changes go out on a socket),
//! [`registry`] (named sockets of one session),
//! [`token_life`] (a token's life, whatever the browser's clock says), [`backoff`]
//! (reconnect delays, public for the server's `storm` benchmark); internally the
//! heartbeat and the request table; and `fixtures`, the test and benchmark
//! data (tests, or the `fixtures` feature). RFC 3339 times are `protocol::time`.

pub mod backoff;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod heartbeat;
pub mod kept;
pub mod machine;
pub mod outbox;
mod pace;
pub mod registry;
mod requests;
pub mod rows;
pub mod store;
pub mod token_life;

pub use requests::RequestError;
