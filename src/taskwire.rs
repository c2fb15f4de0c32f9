//! The facade the pages use: a `Copy` handle of signals over the socket service.
//!
//! (First cut: the signatures the pages compile against; the service behind them follows.)

use leptos::prelude::*;
use protocol::{User, ValidationError};
use uuid::Uuid;

use crate::api::{Api, CallError};
use crate::client::machine::ConnectionState;

/// Everything the pages read and do. A Copy handle (signals + stored values), provided
/// through context by [`Taskwire::provide`]; pages get it with [`Taskwire::expect`].
#[derive(Clone, Copy)]
pub struct Taskwire {
    user: RwSignal<Option<User>>,
    restoring: RwSignal<bool>,
    status: RwSignal<Status>,
    diagnostics: RwSignal<Vec<SocketDiagnostics>>,
    task_ids: RwSignal<Vec<Uuid>>,
    alert: RwSignal<Option<String>>,
    pending: RwSignal<Vec<PendingChange>>,
    api: StoredValue<Api>,
}

/// One task as a row of the board.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    pub task: protocol::Task,
    /// A change to this task awaits the server (`data-pending`).
    pub pending: bool,
}

/// The connection of the "tasks" socket, as the status element shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// `as_str()` gives the `data-connection` attribute.
    pub state: ConnectionState,
    /// "Live", "Reconnecting in 4 s (attempt 3)", ...; updates every second while
    /// reconnecting.
    pub text: String,
    pub retry_in_s: Option<u32>,
    pub attempt: u32,
    pub last_close: Option<(u16, String)>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            state: ConnectionState::Closed,
            text: "Closed".to_owned(),
            retry_in_s: None,
            attempt: 0,
            last_close: None,
        }
    }
}

/// One socket the app holds, for the diagnostics page.
#[derive(Clone, Debug, PartialEq)]
pub struct SocketDiagnostics {
    pub name: String,
    pub state: ConnectionState,
    pub rtt_ms: Option<f64>,
    /// `(epoch ms, rtt ms)` of the last minutes, bounded.
    pub rtt_history: Vec<(f64, f64)>,
    pub frames_in: u64,
    pub frames_out: u64,
    pub reconnects: u64,
    pub last_close: Option<(u16, String)>,
}

/// A change waiting in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingChange {
    pub description: String,
}

impl Taskwire {
    /// Creates the service, provides it through context, and starts restoring the
    /// session through `POST /api/refresh` (a reload keeps the session).
    pub fn provide(api: Api) -> Self {
        let this = Self {
            user: RwSignal::new(None),
            restoring: RwSignal::new(false),
            status: RwSignal::new(Status::default()),
            diagnostics: RwSignal::new(Vec::new()),
            task_ids: RwSignal::new(Vec::new()),
            alert: RwSignal::new(None),
            pending: RwSignal::new(Vec::new()),
            api: StoredValue::new(api),
        };
        provide_context(this);
        this
    }

    pub fn expect() -> Self {
        expect_context()
    }

    pub fn user(&self) -> Signal<Option<User>> {
        self.user.into()
    }

    pub fn restoring(&self) -> Signal<bool> {
        self.restoring.into()
    }

    pub async fn sign_in(&self, username: String, password: String) -> Result<(), CallError> {
        let api = self.api.get_value();
        let session = api
            .login(&protocol::Credentials { username, password })
            .await?;
        self.user.set(Some(session.user));
        Ok(())
    }

    pub async fn register(&self, username: String, password: String) -> Result<(), CallError> {
        let api = self.api.get_value();
        let session = api
            .register(&protocol::Credentials { username, password })
            .await?;
        self.user.set(Some(session.user));
        Ok(())
    }

    pub async fn sign_out(&self) {
        self.user.set(None);
    }

    pub async fn sign_out_everywhere(&self) {
        self.user.set(None);
    }

    pub async fn login_as(&self, _username: String) -> Result<(), CallError> {
        Ok(())
    }

    pub async fn exit_login_as(&self) -> Result<(), CallError> {
        Ok(())
    }

    pub async fn users(&self) -> Result<Vec<User>, CallError> {
        Ok(Vec::new())
    }

    pub fn status(&self) -> Signal<Status> {
        self.status.into()
    }

    pub fn retry_now(&self) {}

    pub fn diagnostics(&self) -> Signal<Vec<SocketDiagnostics>> {
        self.diagnostics.into()
    }

    pub fn task_ids(&self) -> Signal<Vec<Uuid>> {
        self.task_ids.into()
    }

    pub fn task(&self, _id: Uuid) -> Option<Signal<TaskRow>> {
        None
    }

    pub fn create(&self, title: &str) -> Result<(), ValidationError> {
        protocol::validate_title(title).map(|_| ())
    }

    pub fn set_done(&self, _id: Uuid, _done: bool) {}

    pub fn rename(&self, _id: Uuid, title: &str) -> Result<(), ValidationError> {
        protocol::validate_title(title).map(|_| ())
    }

    pub fn delete(&self, _id: Uuid) {}

    pub fn clear_done(&self) {}

    pub fn alert(&self) -> Signal<Option<String>> {
        self.alert.into()
    }

    pub fn dismiss_alert(&self) {
        self.alert.set(None);
    }

    pub fn pending(&self) -> Signal<Vec<PendingChange>> {
        self.pending.into()
    }

    pub fn discard_pending(&self) {}
}
