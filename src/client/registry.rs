//! Several named sockets of one signed-in person, each with its own [`Machine`].
//!
//! They share one session, so the registry does for them what must happen once per
//! session: one `/api/refresh` at a time (each refresh token works once; two refreshes
//! racing would revoke the session as stolen), one trip to the login page, and one
//! sign-in outcome: "signed in and every socket live", or the first reason it failed.

use thiserror::Error;

use super::machine::{
    Command, Config, ConnectionState, Diagnostics, Env, Input, LastClose, Machine,
};

/// A socket still not live after this many reconnects counts as a failed sign-in (it
/// keeps trying; the outcome only tells the sign-in page what happened).
pub const SIGN_IN_ATTEMPTS: u64 = 3;

/// What the shell must do, routed.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// A command of the socket called `name` (see [`Command`]).
    Socket {
        name: String,
        command: Command,
    },
    /// `POST /api/refresh` once, then [`Registry::broadcast`] `TokenRefreshed`,
    /// `RefreshFailed` or `RefreshUnavailable`.
    RefreshToken,
    GoToLogin,
    ClearSession,
    /// The sign-in's outcome, once per [`Registry::sign_in`].
    SignedIn(Result<(), SignInError>),
}

/// Why a sign-in did not end with every socket live.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignInError {
    #[error("the {socket} connection was closed and will stay closed{}", describe(.last_close))]
    Stopped {
        socket: String,
        last_close: Option<LastClose>,
    },
    #[error("the {socket} connection failed {attempts} times{}", describe(.last_close))]
    Unreachable {
        socket: String,
        attempts: u64,
        last_close: Option<LastClose>,
    },
    #[error("the session was refused: sign in again")]
    LoginRequired,
    /// The browser went offline before every socket was live: the sign-in (or switch)
    /// ends here rather than waiting for the network with nothing on the page to leave by.
    #[error("the browser is offline")]
    Offline,
}

fn describe(close: &Option<LastClose>) -> String {
    close
        .as_ref()
        .map(|close| format!(" ({}: {})", close.code, close.reason))
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    #[error("no socket named {0:?}")]
    UnknownSocket(String),
    #[error("a socket named {0:?} exists already")]
    Duplicate(String),
}

#[derive(Debug, Clone)]
struct Slot {
    name: String,
    machine: Machine,
    live_once: bool,
    /// `reconnect_attempts` when the sign-in began.
    attempts_at_sign_in: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// In name order. A session has a socket or two, so a sorted list serves them.
    sockets: Vec<Slot>,
    /// A sign-in whose outcome is not told yet.
    signing_in: bool,
    refreshing: bool,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a socket (before sign-in; it opens with the next sign-in).
    pub fn add(&mut self, name: &str, config: Config) -> Result<(), RegistryError> {
        let Err(at) = self.position(name) else {
            return Err(RegistryError::Duplicate(name.to_owned()));
        };
        self.sockets.insert(
            at,
            Slot {
                name: name.to_owned(),
                machine: Machine::new(config),
                live_once: false,
                attempts_at_sign_in: 0,
            },
        );
        Ok(())
    }

    /// Where the socket `name` is, or where it would go.
    fn position(&self, name: &str) -> Result<usize, usize> {
        self.sockets
            .binary_search_by(|slot| slot.name.as_str().cmp(name))
    }

    fn slot(&self, name: &str) -> Option<&Slot> {
        let at = self.position(name).ok()?;
        self.sockets.get(at)
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Slot> {
        let at = self.position(name).ok()?;
        self.sockets.get_mut(at)
    }

    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.slot(name).map(|slot| &slot.machine)
    }

    /// Every socket's diagnostics, by name.
    pub fn diagnostics(&self) -> Vec<(String, Diagnostics)> {
        self.sockets
            .iter()
            .map(|slot| (slot.name.clone(), slot.machine.diagnostics()))
            .collect()
    }

    /// Opens every socket with the session's token.
    pub fn sign_in(&mut self, env: Env, token: &str, expires_at_ms: u64) -> Vec<Routed> {
        self.signing_in = true;
        self.refreshing = false;
        for slot in &mut self.sockets {
            slot.live_once = false;
            slot.attempts_at_sign_in = slot.machine.diagnostics().reconnect_attempts;
        }
        self.broadcast(
            env,
            Input::SignIn {
                token: token.to_owned(),
                expires_at_ms,
            },
        )
    }

    /// Closes every socket with 1000 and forgets all their state.
    pub fn sign_out(&mut self, env: Env) -> Vec<Routed> {
        self.signing_in = false;
        self.refreshing = false;
        self.broadcast(env, Input::SignOut)
    }

    /// An input for every socket: `Online`, `Offline`, `Visible`, `TokenRefreshed`,
    /// `RefreshFailed` (and what `sign_in`/`sign_out` send).
    pub fn broadcast(&mut self, env: Env, input: Input) -> Vec<Routed> {
        let names = self.names();
        let mut out = Vec::new();
        for name in names {
            self.feed(env, &name, input.clone(), &mut out);
        }
        self.finish(env, out)
    }

    /// An input for one socket: its socket events, timers, and a person's changes.
    pub fn handle(
        &mut self,
        env: Env,
        name: &str,
        input: Input,
    ) -> Result<Vec<Routed>, RegistryError> {
        if self.slot(name).is_none() {
            return Err(RegistryError::UnknownSocket(name.to_owned()));
        }
        let mut out = Vec::new();
        self.feed(env, name, input, &mut out);
        Ok(self.finish(env, out))
    }

    fn names(&self) -> Vec<String> {
        self.sockets.iter().map(|slot| slot.name.clone()).collect()
    }

    fn feed(&mut self, env: Env, name: &str, input: Input, out: &mut Vec<Routed>) {
        if matches!(
            input,
            Input::TokenRefreshed { .. } | Input::RefreshFailed | Input::RefreshUnavailable
        ) {
            self.refreshing = false;
        }
        let Some(slot) = self.slot_mut(name) else {
            return;
        };
        for command in slot.machine.handle(env, input) {
            out.push(match command {
                Command::RefreshToken => Routed::RefreshToken,
                Command::GoToLogin => Routed::GoToLogin,
                Command::ClearSession => Routed::ClearSession,
                command => Routed::Socket {
                    name: name.to_owned(),
                    command,
                },
            });
        }
        if slot.machine.state() == ConnectionState::Live {
            slot.live_once = true;
        }
    }

    /// Session-wide commands once each; a lost session closes every socket; the
    /// sign-in outcome when it is known.
    fn finish(&mut self, env: Env, mut out: Vec<Routed>) -> Vec<Routed> {
        let login = out.contains(&Routed::GoToLogin);
        let clear = out.contains(&Routed::ClearSession);
        let refresh = out.contains(&Routed::RefreshToken);
        out.retain(|routed| matches!(routed, Routed::Socket { .. }));
        if login {
            // The session is gone for every socket: close and forget them all.
            let names = self.names();
            for name in names {
                self.feed(env, &name, Input::SignOut, &mut out);
            }
            out.retain(|routed| matches!(routed, Routed::Socket { .. }));
            self.refreshing = false;
            if clear {
                out.push(Routed::ClearSession);
            }
            out.push(Routed::GoToLogin);
        } else if refresh && !self.refreshing {
            self.refreshing = true;
            out.push(Routed::RefreshToken);
        }
        if self.signing_in
            && let Some(outcome) = self.outcome(login)
        {
            self.signing_in = false;
            out.push(Routed::SignedIn(outcome));
        }
        out
    }

    fn outcome(&self, login: bool) -> Option<Result<(), SignInError>> {
        if login {
            return Some(Err(SignInError::LoginRequired));
        }
        for slot in &self.sockets {
            if slot.live_once {
                continue;
            }
            let diagnostics = slot.machine.diagnostics();
            let attempts = diagnostics
                .reconnect_attempts
                .saturating_sub(slot.attempts_at_sign_in);
            if diagnostics.state == ConnectionState::Offline {
                return Some(Err(SignInError::Offline));
            }
            if diagnostics.state == ConnectionState::Closed {
                return Some(Err(SignInError::Stopped {
                    socket: slot.name.clone(),
                    last_close: diagnostics.last_close,
                }));
            }
            if attempts >= SIGN_IN_ATTEMPTS {
                return Some(Err(SignInError::Unreachable {
                    socket: slot.name.clone(),
                    attempts,
                    last_close: diagnostics.last_close,
                }));
            }
        }
        self.sockets
            .iter()
            .all(|slot| slot.live_once)
            .then_some(Ok(()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;
    use crate::client::machine::{ConnId, Notice, TimerKind};
    use protocol::CloseCode;
    use protocol::{ClientFrame, Role, ServerFrame, Topic, User};
    use uuid::Uuid;

    const HOUR: u64 = 3_600_000;

    fn env(now_ms: u64) -> Env {
        Env {
            now_ms,
            random: 0.5,
        }
    }

    fn registry() -> Registry {
        let mut registry = Registry::new();
        registry.add("tasks", Config::default()).unwrap();
        registry
            .add(
                "admin",
                Config {
                    subscribe: None,
                    ..Config::default()
                },
            )
            .unwrap();
        registry
    }

    fn for_socket<'a>(out: &'a [Routed], wanted: &str) -> Vec<&'a Command> {
        out.iter()
            .filter_map(|routed| match routed {
                Routed::Socket { name, command } if name == wanted => Some(command),
                _ => None,
            })
            .collect()
    }

    fn opened(out: &[Routed], name: &str) -> ConnId {
        for_socket(out, name)
            .into_iter()
            .find_map(|command| match command {
                Command::Open { conn } => Some(*conn),
                _ => None,
            })
            .expect("an Open")
    }

    fn sent(out: &[Routed], name: &str) -> Vec<ClientFrame> {
        for_socket(out, name)
            .into_iter()
            .filter_map(|command| match command {
                Command::Send { frame, .. } => Some(frame.clone()),
                _ => None,
            })
            .collect()
    }

    fn frame(registry: &mut Registry, name: &str, conn: ConnId, frame: ServerFrame) -> Vec<Routed> {
        registry
            .handle(env(0), name, Input::Frame { conn, frame })
            .unwrap()
    }

    fn auth_ok() -> ServerFrame {
        ServerFrame::AuthOk {
            id: 1,
            user: User {
                id: Uuid::from_u128(1),
                username: "alice".to_owned(),
                role: Role::Admin,
                acting_as_admin: None,
            },
            expires_at: "2026-11-22T23:00:00Z".to_owned(),
            heartbeat_ms: 25_000,
        }
    }

    fn outcome(out: &[Routed]) -> Option<&Result<(), SignInError>> {
        out.iter().find_map(|routed| match routed {
            Routed::SignedIn(outcome) => Some(outcome),
            _ => None,
        })
    }

    /// Signs in and brings `name` live; returns its socket.
    fn bring_live(registry: &mut Registry, out: &[Routed], name: &str) -> (ConnId, Vec<Routed>) {
        let conn = opened(out, name);
        registry
            .handle(env(0), name, Input::Opened { conn })
            .unwrap();
        let out = frame(registry, name, conn, auth_ok());
        let subscribe = sent(&out, name).into_iter().find_map(|frame| match frame {
            ClientFrame::Subscribe { id, .. } => Some(id),
            _ => None,
        });
        let out = match subscribe {
            Some(id) => frame(
                registry,
                name,
                conn,
                ServerFrame::Snapshot {
                    id,
                    topic: Topic::Tasks,
                    epoch: "e1".to_owned(),
                    seq: 0,
                    items: vec![],
                },
            ),
            None => out,
        };
        (conn, out)
    }

    #[test]
    fn sign_in_opens_every_socket_and_tells_once_when_all_are_live() {
        let mut registry = registry();
        let out = registry.sign_in(env(0), "t", HOUR);
        assert_eq!(opened(&out, "admin"), ConnId(1));
        assert_eq!(opened(&out, "tasks"), ConnId(1));
        assert!(outcome(&out).is_none());
        let (_, admin) = bring_live(&mut registry, &out, "admin");
        assert!(outcome(&admin).is_none(), "tasks is not live yet");
        let (tasks, live) = bring_live(&mut registry, &out, "tasks");
        assert_eq!(outcome(&live), Some(&Ok(())));
        // Told once only.
        let later = registry
            .handle(
                env(0),
                "tasks",
                Input::Closed {
                    conn: tasks,
                    code: CloseCode::Abnormal,
                    reason: String::new(),
                },
            )
            .unwrap();
        assert!(outcome(&later).is_none());
        let diagnostics = registry.diagnostics();
        assert_eq!(diagnostics.len(), 2);
        assert_eq!(diagnostics[1].0, "tasks");
        assert_eq!(diagnostics[1].1.state, ConnectionState::Reconnecting);
    }

    #[test]
    fn a_socket_refused_for_good_fails_the_sign_in() {
        let mut registry = registry();
        let out = registry.sign_in(env(0), "t", HOUR);
        let conn = opened(&out, "admin");
        let out = registry
            .handle(
                env(0),
                "admin",
                Input::Closed {
                    conn,
                    code: CloseCode::Forbidden,
                    reason: "role".to_owned(),
                },
            )
            .unwrap();
        let Some(Err(error)) = outcome(&out) else {
            panic!("an outcome: {out:?}");
        };
        assert_eq!(
            error.to_string(),
            "the admin connection was closed and will stay closed (4403: role)"
        );
    }

    #[test]
    fn going_offline_before_live_fails_the_sign_in() {
        let mut registry = registry();
        registry.sign_in(env(0), "t", HOUR);
        let out = registry.broadcast(env(0), Input::Offline);
        assert_eq!(outcome(&out), Some(&Err(SignInError::Offline)));
    }

    #[test]
    fn an_unreachable_server_fails_the_sign_in_after_a_few_tries() {
        let mut registry = registry();
        let mut out = registry.sign_in(env(0), "t", HOUR);
        let mut now = 0;
        for attempt in 1..=SIGN_IN_ATTEMPTS {
            let conn = opened(&out, "tasks");
            let closed = registry
                .handle(
                    env(now),
                    "tasks",
                    Input::Closed {
                        conn,
                        code: CloseCode::Abnormal,
                        reason: String::new(),
                    },
                )
                .unwrap();
            if attempt < SIGN_IN_ATTEMPTS {
                assert!(outcome(&closed).is_none());
            } else {
                assert!(matches!(
                    outcome(&closed),
                    Some(Err(SignInError::Unreachable { attempts: 3, .. }))
                ));
                return;
            }
            now += 60_000;
            out = registry
                .handle(env(now), "tasks", Input::TimerFired(TimerKind::Reconnect))
                .unwrap();
        }
    }

    #[test]
    fn one_refresh_serves_every_socket() {
        let mut registry = registry();
        let out = registry.sign_in(env(0), "t", HOUR);
        let (tasks, _) = bring_live(&mut registry, &out, "tasks");
        let (admin, _) = bring_live(&mut registry, &out, "admin");
        let closed = |conn| Input::Closed {
            conn,
            code: CloseCode::Unauthorized,
            reason: String::new(),
        };
        let first = registry.handle(env(0), "tasks", closed(tasks)).unwrap();
        let second = registry.handle(env(0), "admin", closed(admin)).unwrap();
        assert!(first.contains(&Routed::RefreshToken));
        assert!(
            !second.contains(&Routed::RefreshToken),
            "one refresh at a time"
        );
        let out = registry.broadcast(
            env(0),
            Input::TokenRefreshed {
                token: "t2".to_owned(),
                expires_at_ms: HOUR,
            },
        );
        opened(&out, "tasks");
        opened(&out, "admin");
    }

    #[test]
    fn a_lost_session_closes_every_socket_and_goes_to_login_once() {
        let mut registry = registry();
        let out = registry.sign_in(env(0), "t", HOUR);
        let (tasks, _) = bring_live(&mut registry, &out, "tasks");
        let (admin, _) = bring_live(&mut registry, &out, "admin");
        let out = registry
            .handle(
                env(0),
                "tasks",
                Input::Closed {
                    conn: tasks,
                    code: CloseCode::LoggedOutEverywhere,
                    reason: String::new(),
                },
            )
            .unwrap();
        assert_eq!(out.iter().filter(|r| **r == Routed::GoToLogin).count(), 1);
        assert_eq!(
            out.iter().filter(|r| **r == Routed::ClearSession).count(),
            1
        );
        assert!(for_socket(&out, "admin").contains(&&Command::Close {
            conn: admin,
            code: CloseCode::Normal,
            reason: "signed out".to_owned()
        }));
        assert_eq!(
            registry.machine("admin").unwrap().state(),
            ConnectionState::Closed
        );
    }

    #[test]
    fn a_lost_session_during_sign_in_says_so() {
        let mut registry = registry();
        let out = registry.sign_in(env(0), "t", HOUR);
        let conn = opened(&out, "tasks");
        registry
            .handle(
                env(0),
                "tasks",
                Input::Closed {
                    conn,
                    code: CloseCode::Unauthorized,
                    reason: String::new(),
                },
            )
            .unwrap();
        let out = registry.broadcast(env(0), Input::RefreshFailed);
        assert_eq!(outcome(&out), Some(&Err(SignInError::LoginRequired)));
        assert!(out.contains(&Routed::GoToLogin));
        assert!(!out.contains(&Routed::ClearSession));
    }

    #[test]
    fn sign_out_closes_all_with_1000_and_clears_all_state() {
        let mut registry = registry();
        let out = registry.sign_in(env(0), "t", HOUR);
        bring_live(&mut registry, &out, "tasks");
        bring_live(&mut registry, &out, "admin");
        let out = registry.sign_out(env(0));
        for name in ["tasks", "admin"] {
            let commands = for_socket(&out, name);
            assert!(commands.iter().any(|c| matches!(
                c,
                Command::Close {
                    code: CloseCode::Normal,
                    ..
                }
            )));
            assert!(commands.contains(&&Command::Notify(Notice::Status(ConnectionState::Closed))));
            assert_eq!(
                registry.machine(name).unwrap().state(),
                ConnectionState::Closed
            );
            assert!(registry.machine(name).unwrap().store().is_empty());
        }
        assert!(outcome(&out).is_none());
    }

    #[test]
    fn names_are_checked() {
        let mut registry = registry();
        assert_eq!(
            registry.add("tasks", Config::default()),
            Err(RegistryError::Duplicate("tasks".to_owned()))
        );
        let error = registry.handle(env(0), "nope", Input::Online).unwrap_err();
        assert_eq!(error.to_string(), "no socket named \"nope\"");
        assert!(registry.machine("nope").is_none());
        assert!(
            Registry::new()
                .sign_in(env(0), "t", HOUR)
                .contains(&Routed::SignedIn(Ok(())))
        );
    }
}
