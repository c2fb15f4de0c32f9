//! Several named sockets of one signed-in person, each with its own [`Machine`].
//!
//! They share one session, so the registry does for them what must happen once per
//! session: one `/api/refresh` at a time (each refresh token works once; two refreshes
//! racing would revoke the session as stolen) and one trip to the login page.
//!
//! A sign-in is done when the server accepts the credentials: how the sockets (or the
//! HTTP fallback) then connect is the status's to show, and never undoes it. Only the
//! server refusing the session ends it.

use thiserror::Error;

use super::machine::{Command, Config, Diagnostics, Env, Input, Machine};

/// What the shell must do, routed.
// Nearly every value is a socket's command, so boxing it would allocate for nothing.
#[allow(clippy::large_enum_variant)]
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
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// In name order. A session has a socket or two, so a sorted list serves them.
    sockets: Vec<Slot>,
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
        self.refreshing = false;
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
    }

    /// Session-wide commands once each; a lost session closes every socket.
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
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;
    use crate::client::machine::{ConnId, ConnectionState, Notice, TimerKind};
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
    fn sign_in_opens_every_socket() {
        let mut registry = registry();
        let out = registry.sign_in(env(0), "t", HOUR);
        assert_eq!(opened(&out, "admin"), ConnId(1));
        assert_eq!(opened(&out, "tasks"), ConnId(1));
        bring_live(&mut registry, &out, "admin");
        let (tasks, _) = bring_live(&mut registry, &out, "tasks");
        registry
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
        let diagnostics = registry.diagnostics();
        assert_eq!(diagnostics.len(), 2);
        assert_eq!(diagnostics[1].0, "tasks");
        assert_eq!(diagnostics[1].1.state, ConnectionState::Reconnecting);
    }

    /// Sockets that never get through (the server away, or a proxy refusing them) never
    /// sign the person out: only the server refusing the session does.
    #[test]
    fn sockets_that_never_connect_never_end_the_session() {
        let mut registry = registry();
        let mut out = registry.sign_in(env(0), "t", HOUR);
        let mut now = 0;
        for _ in 0..10 {
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
            assert!(
                closed
                    .iter()
                    .all(|routed| matches!(routed, Routed::Socket { .. })),
                "{closed:?}"
            );
            now += 120_000;
            out = registry
                .handle(env(now), "tasks", Input::TimerFired(TimerKind::Reconnect))
                .unwrap();
        }
        assert_eq!(
            registry.machine("tasks").unwrap().state(),
            ConnectionState::Connecting
        );
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
    }
}
