//! The facade the pages use: a `Copy` handle of signals over the socket service
//! ([`crate::socket::Service`]), provided through Leptos context.
//!
//! Pages read signals and call methods; they never see a socket, a token or the
//! registry. The access token stays inside the service, in memory only.

use leptos::prelude::*;
use protocol::{
    ClearDoneParams, CreateParams, Credentials, DeleteParams, MethodCall, Session, UpdateParams,
    User, ValidationError, validate_title,
};
use uuid::Uuid;

use crate::api::{Api, CallError};
pub use crate::board::{PendingChange, RowSignal, SocketDiagnostics, Status, TaskCounts};
use crate::board::{TASKS, Views};
use crate::client::machine::Config;
use crate::socket::Service;

/// Everything the pages read and do. A Copy handle (signals + stored values), provided
/// through context by [`Taskwire::provide`]; pages get it with [`Taskwire::expect`].
#[derive(Clone, Copy)]
pub struct Taskwire {
    views: Views,
    service: StoredValue<Service, LocalStorage>,
}

/// Why a person's change was not made, so that what they typed can be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The app could not take it (too many changes waiting, or signed out meanwhile);
    /// the board's alert says which.
    #[error("The change was not made; try again once connected.")]
    NotTaken,
}

impl Taskwire {
    /// Creates the service with its one "tasks" socket, provides it through context, and
    /// starts restoring the session through `POST /api/refresh` (a reload keeps the
    /// session).
    pub fn provide(api: Api) -> Self {
        Self::provide_with(api, &[(TASKS, Config::default())])
    }

    /// [`Taskwire::provide`] with other named sockets; the status and the board follow
    /// the one called [`TASKS`].
    pub fn provide_with(api: Api, sockets: &[(&str, Config)]) -> Self {
        let views = Views::default();
        let service = Service::new(api, views, sockets);
        let this = Self {
            views,
            service: StoredValue::new_local(service),
        };
        provide_context(this);
        this.restore();
        this
    }

    pub fn expect() -> Self {
        expect_context()
    }

    fn service(&self) -> Option<Service> {
        self.service.try_get_value()
    }

    /// Page load: the refresh cookie, if any, gives the session back.
    fn restore(self) {
        let Some(service) = self.service() else {
            return;
        };
        let generation = service.generation();
        let api = service.api();
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(session) = api.refresh().await
                && service.generation() == generation
            {
                self.views.user.set(Some(session.user.clone()));
                // The outcome matters to a sign-in page, not to a reload: the status
                // element shows how the connection goes.
                drop(service.start(&session));
            }
            self.views.restoring.set(false);
        });
    }

    // ---- session ----

    /// `None` when signed out.
    pub fn user(&self) -> Signal<Option<User>> {
        self.views.user.into()
    }

    /// True while the page-load refresh runs: pages wait before redirecting to /login.
    pub fn restoring(&self) -> Signal<bool> {
        self.views.restoring.into()
    }

    /// True while one session gives way to another: pages wait, as for `restoring`.
    pub fn switching(&self) -> Signal<bool> {
        self.views.switching.into()
    }

    /// Resolves when signed in and every socket is live, or with the reason.
    pub async fn sign_in(&self, username: String, password: String) -> Result<(), CallError> {
        let api = self.service().ok_or(CallError::Cancelled)?.api();
        let session = api.login(&Credentials { username, password }).await?;
        self.enter(session).await
    }

    pub async fn register(&self, username: String, password: String) -> Result<(), CallError> {
        let api = self.service().ok_or(CallError::Cancelled)?.api();
        let session = api.register(&Credentials { username, password }).await?;
        self.enter(session).await
    }

    /// Switches to `session`: the sockets connect with it; on failure the session is
    /// given up (and logged out on the server) so a reload does not bring it back.
    async fn enter(&self, session: Session) -> Result<(), CallError> {
        let service = self.service().ok_or(CallError::Cancelled)?;
        let switching = service.token().is_some();
        if switching {
            self.views.switching.set(true);
            service.stop();
        }
        self.views.restoring.set(false);
        let result = match service.start(&session).await {
            Ok(()) => {
                self.views.alert.set(None);
                self.views.ended.set(None);
                self.views.user.set(Some(session.user));
                Ok(())
            }
            Err(CallError::Cancelled) => Err(CallError::Cancelled),
            Err(error) => {
                if let Some(token) = service.stop() {
                    let _ = service.api().logout(&token).await;
                }
                if switching {
                    // The page that asked is gone by now: the sign-in page says why.
                    self.views
                        .ended
                        .set(Some(format!("Could not switch accounts: {error}")));
                }
                Err(error)
            }
        };
        self.views.switching.set(false);
        result
    }

    /// `POST /api/logout`, after closing every socket with 1000 and clearing all state.
    pub async fn sign_out(&self) {
        self.leave(false).await;
    }

    /// `POST /api/logout-all`, after closing every socket with 1000 and clearing all state.
    pub async fn sign_out_everywhere(&self) {
        self.leave(true).await;
    }

    async fn leave(&self, everywhere: bool) {
        let Some(service) = self.service() else {
            return;
        };
        self.views.alert.set(None);
        self.views.ended.set(None);
        let Some(token) = service.stop() else {
            return;
        };
        let api = service.api();
        let result = if everywhere {
            api.logout_all(&token).await
        } else {
            api.logout(&token).await
        };
        // Signed out here either way; the server forgets the session when it expires.
        if let Err(error) = result {
            web_sys::console::warn_1(&format!("logout: {error}").into());
        }
    }

    /// An admin acts as `username`.
    pub async fn login_as(&self, username: String) -> Result<(), CallError> {
        let (api, token) = self.session()?;
        let session = api.login_as(&token, &username).await?;
        self.enter(session).await
    }

    /// Back to the admin's own account.
    pub async fn exit_login_as(&self) -> Result<(), CallError> {
        let (api, token) = self.session()?;
        let session = api.exit_login_as(&token).await?;
        self.enter(session).await
    }

    /// Every user (admins only).
    pub async fn users(&self) -> Result<Vec<User>, CallError> {
        let (api, token) = self.session()?;
        api.users(&token).await
    }

    fn session(&self) -> Result<(Api, String), CallError> {
        let service = self.service().ok_or(CallError::SignedOut)?;
        let token = service.token().ok_or(CallError::SignedOut)?;
        Ok((service.api(), token))
    }

    // ---- connection ----

    /// The "tasks" socket's connection.
    pub fn status(&self) -> Signal<Status> {
        self.views.status.into()
    }

    /// Reconnects at once instead of waiting out the backoff.
    pub fn retry_now(&self) {
        if let Some(service) = self.service() {
            service.retry_now();
        }
    }

    /// Every socket the app holds.
    pub fn diagnostics(&self) -> Signal<Vec<SocketDiagnostics>> {
        self.views.diagnostics.into()
    }

    // ---- tasks ----

    /// The rows in display order.
    pub fn task_ids(&self) -> Signal<Vec<Uuid>> {
        self.views.task_ids.into()
    }

    /// Whether the tasks are known yet (the first snapshot of this session arrived).
    pub fn loaded(&self) -> Signal<bool> {
        self.views.loaded.into()
    }

    /// The row's own signal: a change to one task touches only its row.
    pub fn task(&self, id: Uuid) -> Option<RowSignal> {
        self.views.task(id)
    }

    /// Rows left to do and done, without reading the rows.
    pub fn counts(&self) -> Signal<TaskCounts> {
        self.views.counts.into()
    }

    /// Validates, shows the task at once (pending), and sends it, or queues it in the
    /// outbox while not live.
    pub fn create(&self, title: &str) -> Result<(), ChangeError> {
        let title = validate_title(title)?.to_owned();
        let id = random_uuid();
        self.mutate(MethodCall::Create(CreateParams {
            board: None,
            id: Some(id),
            title,
        }));
        self.task(id).map(drop).ok_or(ChangeError::NotTaken)
    }

    pub fn set_done(&self, id: Uuid, done: bool) {
        self.mutate(MethodCall::Update(UpdateParams {
            board: None,
            id,
            title: None,
            done: Some(done),
            if_version: None,
        }));
    }

    pub fn rename(&self, id: Uuid, title: &str) -> Result<(), ChangeError> {
        let title = validate_title(title)?.to_owned();
        self.mutate(MethodCall::Update(UpdateParams {
            board: None,
            id,
            title: Some(title.clone()),
            done: None,
            if_version: None,
        }));
        let taken = self
            .task(id)
            .is_some_and(|row| row.with_untracked(|r| r.task.title == title));
        if taken {
            Ok(())
        } else {
            Err(ChangeError::NotTaken)
        }
    }

    pub fn delete(&self, id: Uuid) {
        self.mutate(MethodCall::Delete(DeleteParams { board: None, id }));
    }

    pub fn clear_done(&self) {
        self.mutate(MethodCall::ClearDone(ClearDoneParams { board: None }));
    }

    fn mutate(&self, call: MethodCall) {
        if let Some(service) = self.service() {
            service.mutate(call);
        }
    }

    /// Why the server refused the latest change (rolled back), or another problem to
    /// announce; `None` when nothing.
    pub fn alert(&self) -> Signal<Option<String>> {
        self.views.alert.into()
    }

    pub fn dismiss_alert(&self) {
        self.views.alert.set(None);
    }

    /// Why the last session ended without the person asking (signed out elsewhere, lost,
    /// a failed switch), taken: the sign-in page says it once.
    pub fn take_ended(&self) -> Option<String> {
        self.views.ended.try_update(Option::take).flatten()
    }

    /// The outbox, oldest first.
    pub fn pending(&self) -> Signal<Vec<PendingChange>> {
        self.views.pending.into()
    }

    /// Drops every change still waiting (each rolls back).
    pub fn discard_pending(&self) {
        if let Some(service) = self.service() {
            service.discard_pending();
        }
    }
}

/// A version 4 UUID from the browser's CSPRNG, so a create can be resent harmlessly.
fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|window| window.crypto().ok())
        .is_some_and(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        // No Web Crypto (very old browsers): ids need uniqueness, not secrecy.
        for byte in &mut bytes {
            *byte = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
