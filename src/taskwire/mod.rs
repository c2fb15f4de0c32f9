//! The facade the pages use: a `Copy` handle of signals over the socket service
//! ([`crate::socket::Service`]), provided through Leptos context.
//!
//! Pages read signals and call methods; they never see a socket, a token or the
//! registry. The access token stays inside the service, in memory only.

use leptos::prelude::*;
use protocol::{
    Board as BoardInfo, BoardRole, ClearDoneParams, CreateParams, Credentials, DeleteParams,
    Member, MemberRole, MemberUser, MethodCall, NewBoard, Session, Topic, UpdateParams, User,
    ValidationError, validate_board_name, validate_title,
};
use uuid::Uuid;

use crate::api::{Api, CallError};
pub use crate::board::{Conflict, PendingChange, RowSignal, SocketDiagnostics, Status, TaskCounts};
use crate::board::{TASKS, TaskRow, Views};
use crate::client::machine::Config;
use crate::pending_sign_out::{self, Owed};
use crate::socket::Service;

mod page_load;

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
    /// Creates the service with its one board socket (the board list, and the board a
    /// page opens), provides it through context, and starts restoring the session
    /// through `POST /api/refresh` (a reload keeps the session).
    pub fn provide(api: Api) -> Self {
        let boards = Config {
            subscribe: None,
            boards: true,
            ..Config::default()
        };
        Self::provide_with(api, &[(TASKS, boards)])
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
        this.follow_sign_outs();
        this
    }

    pub fn expect() -> Self {
        expect_context()
    }

    fn service(&self) -> Option<Service> {
        self.service.try_get_value()
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

    /// The page-load refresh found the server out of reach and tries again.
    pub fn restore_retrying(&self) -> Signal<bool> {
        self.views.restore_retrying.into()
    }

    /// Signs in: done when the server accepts the credentials; the connection follows,
    /// as the status shows.
    pub async fn sign_in(&self, username: String, password: String) -> Result<(), CallError> {
        let api = self.service().ok_or(CallError::Cancelled)?.api();
        settle_before_sign_in(&api).await?;
        let session = api.login(&Credentials { username, password }).await?;
        self.enter(session)
    }

    pub async fn register(&self, username: String, password: String) -> Result<(), CallError> {
        let api = self.service().ok_or(CallError::Cancelled)?.api();
        settle_before_sign_in(&api).await?;
        let session = api.register(&Credentials { username, password }).await?;
        self.enter(session)
    }

    /// Switches to `session`: signed in from here on. The sockets connect after (or the
    /// HTTP fallback does), and no transport failure undoes it: only the server refusing
    /// the session ends it.
    fn enter(&self, session: Session) -> Result<(), CallError> {
        let service = self.service().ok_or(CallError::Cancelled)?;
        if service.token().is_some() {
            service.stop();
        }
        // The new session's cookie replaced the one a sign-out was owed for.
        pending_sign_out::forget();
        self.views.sign_out_owed.set(false);
        self.views.restoring.set(false);
        self.views.restore_retrying.set(false);
        self.views.alert.set(None);
        self.views.ended.set(None);
        self.views.user.set(Some(session.user.clone()));
        service.start(&session);
        Ok(())
    }

    /// `POST /api/logout`, after closing every socket with 1000 and clearing all state.
    pub async fn sign_out(&self) {
        self.leave(false).await;
    }

    /// `POST /api/logout-all`, after closing every socket with 1000 and clearing all state.
    pub async fn sign_out_everywhere(&self) {
        self.leave(true).await;
    }

    /// Signed out here at once, whatever the server says; the server's session ends too,
    /// now or (offline) at the next occasion, so the next person at this computer is
    /// never signed in as this one.
    async fn leave(&self, everywhere: bool) {
        let Some(service) = self.service() else {
            return;
        };
        self.views.alert.set(None);
        self.views.ended.set(None);
        let me = self.views.user.get_untracked().map(|user| user.id);
        service.forget_kept_changes();
        let Some(token) = service.stop() else {
            return;
        };
        let api = service.api();
        let result = if everywhere {
            match api.logout_all(&token).await {
                // An expired token cannot sign out everywhere: a fresh one can, if the
                // cookie is still this person's (another tab may have signed in as
                // someone else since: their sessions are not this person's to end).
                Err(CallError::Api(error)) if error.code == protocol::ErrorCode::Unauthorized => {
                    match api.refresh().await {
                        Ok(session) if Some(session.user.id) == me => {
                            api.logout_all(&session.token).await
                        }
                        Ok(_) => Ok(()),
                        Err(_) => api.logout_by_cookie().await,
                    }
                }
                result => result,
            }
        } else {
            // The server ends the session by its cookie when the token has expired.
            api.logout(&token).await
        };
        match result {
            Ok(()) => {}
            // The server holds no session for this browser: nothing left to end.
            Err(CallError::Api(error)) if error.code == protocol::ErrorCode::Unauthorized => {}
            // Offline, the server's own trouble, or a proxy's page: tried again later.
            Err(error) => {
                web_sys::console::warn_1(&format!("logout: {error}").into());
                // Every session only of the person known: a cookie that is someone
                // else's by then must not end theirs.
                let what = match me {
                    Some(me) if everywhere => Owed::Everywhere(Some(me)),
                    _ => Owed::This,
                };
                self.views.sign_out_owed.set(pending_sign_out::owe(what));
            }
        }
    }

    /// An admin acts as `username`.
    pub async fn login_as(&self, username: String) -> Result<(), CallError> {
        self.nothing_waiting()?;
        let (api, token) = self.session()?;
        let generation = self.generation();
        let session = api.login_as(&token, &username).await?;
        self.enter_unless_moved_on(generation, session)
    }

    /// Back to the admin's own account.
    pub async fn exit_login_as(&self) -> Result<(), CallError> {
        self.nothing_waiting()?;
        let (api, token) = self.session()?;
        let generation = self.generation();
        let session = api.exit_login_as(&token).await?;
        self.enter_unless_moved_on(generation, session)
    }

    fn generation(&self) -> Option<u64> {
        self.service().map(|service| service.generation())
    }

    /// A switch of account answered after the session it was asked from ended (signed
    /// out meanwhile, here or on every device) is not entered: the person who signed
    /// out would find themselves signed in as someone. The server ended what it made,
    /// with the session it was asked from.
    fn enter_unless_moved_on(
        &self,
        generation: Option<u64>,
        session: Session,
    ) -> Result<(), CallError> {
        if self.generation() != generation {
            return Err(CallError::Cancelled);
        }
        self.enter(session)
    }

    /// Switching accounts ends this session's sockets and drops its changes not sent
    /// yet, with nothing to ask as signing out does: refused while there are any.
    fn nothing_waiting(&self) -> Result<(), CallError> {
        match self.views.pending.with_untracked(Vec::len) {
            0 => Ok(()),
            waiting => Err(CallError::ChangesWaiting(waiting)),
        }
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

    /// Calls `watch` with each row's change or arrival, until the current owner is
    /// cleaned up: a list of thousands of rows listens once rather than once a row.
    pub fn watch_rows(&self, watch: impl Fn(&TaskRow) + 'static) {
        self.views.row_watchers.watch(watch);
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
            board: self.open_untracked(),
            id: Some(id),
            title,
        }));
        self.task(id).map(drop).ok_or(ChangeError::NotTaken)
    }

    pub fn set_done(&self, id: Uuid, done: bool) {
        self.mutate(MethodCall::Update(UpdateParams {
            board: self.open_untracked(),
            id,
            title: None,
            done: Some(done),
            if_version: None,
        }));
    }

    /// Renames a task, against `seen`, the version the person started editing: typed
    /// over someone else's change, it is refused and the conflict alert lets the person
    /// choose.
    pub fn rename(&self, id: Uuid, title: &str, seen: u64) -> Result<(), ChangeError> {
        self.rename_at(id, title, Some(seen))
    }

    fn rename_at(&self, id: Uuid, title: &str, version: Option<u64>) -> Result<(), ChangeError> {
        let title = validate_title(title)?.to_owned();
        self.mutate(MethodCall::Update(UpdateParams {
            board: self.open_untracked(),
            id,
            title: Some(title.clone()),
            done: None,
            if_version: version,
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
        self.mutate(MethodCall::Delete(DeleteParams {
            board: self.open_untracked(),
            id,
        }));
    }

    pub fn clear_done(&self) {
        self.mutate(MethodCall::ClearDone(ClearDoneParams {
            board: self.open_untracked(),
        }));
    }

    /// A title edit that met someone else's change, until the person chooses.
    pub fn conflict(&self) -> Signal<Option<Conflict>> {
        self.views.conflict.into()
    }

    /// `Keep mine` (sent again, against the version there now) or `Keep theirs`.
    pub fn resolve_conflict(&self, keep_mine: bool) {
        let Some(conflict) = self.views.conflict.try_update(Option::take).flatten() else {
            return;
        };
        if keep_mine && self.open_untracked() == Some(conflict.board) {
            let version = self
                .task(conflict.task)
                .map(|row| row.with_untracked(|r| r.task.version))
                .unwrap_or(conflict.version);
            // A refusal shows in the board's alert, as any other.
            drop(self.rename_at(conflict.task, &conflict.mine, Some(version)));
        }
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

    /// Announces `text` in the board's alert.
    pub fn show_alert(&self, text: String) {
        self.views.alert.set(Some(text));
    }

    pub fn dismiss_alert(&self) {
        self.views.alert.set(None);
    }

    /// A sign-out the server has not heard of yet: the session ends there once this
    /// device is back online.
    pub fn sign_out_owed(&self) -> Signal<bool> {
        self.views.sign_out_owed.into()
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

    /// How many changes closed tabs of this browser keep for the person, not sent yet: a
    /// sign-out here deletes them too.
    pub async fn kept_elsewhere(&self) -> usize {
        match self.service() {
            Some(service) => service.kept_elsewhere().await,
            None => 0,
        }
    }

    /// Drops every change still waiting (each rolls back).
    pub fn discard_pending(&self) {
        if let Some(service) = self.service() {
            service.discard_pending();
        }
    }
}

impl Taskwire {
    // ---- boards ----

    /// The person's boards, live; `None` until the list first arrives.
    pub fn boards(&self) -> Signal<Option<Vec<BoardInfo>>> {
        self.views.boards.into()
    }

    fn open_untracked(&self) -> Option<Uuid> {
        self.views.open.get_untracked()
    }

    /// Shows `board`: its tasks replace the last board's, and `/` lands here next time.
    pub fn open(&self, board: Uuid) {
        if self.views.open.get_untracked() == Some(board) {
            return;
        }
        self.show(board);
    }

    /// Asks again for `board`, open but not found: it has come into the person's board
    /// list since (shared with them).
    pub fn reopen(&self, board: Uuid) {
        if self.views.open.get_untracked() == Some(board)
            && self.views.unavailable.get_untracked() == Some(board)
        {
            self.show(board);
        }
    }

    fn show(&self, board: Uuid) {
        let left = self.views.open.get_untracked();
        // What the alert said was about the board left, unless it says that board was
        // lost: the person is moved away from it to read that.
        if left.is_some() && self.views.lost.get_untracked() != left {
            self.views.alert.set(None);
        }
        self.views.open.set(Some(board));
        self.views.here.set(Vec::new());
        self.views.unavailable.set(None);
        self.views.lost.set(None);
        self.views.conflict.set(None);
        if let Some(service) = self.service() {
            service.open(Topic::Board(board));
        }
        if let Some(user) = self.views.user.get_untracked() {
            last_board::remember(user.id, board);
        }
    }

    /// Where `/` lands: the last board opened in this browser, while it is still the
    /// person's, else their personal board. `None` until the board list is known. Once
    /// `/` shows a board (`shown`), it stays there while that board is still the
    /// person's: another tab opening a board changes where `/` lands next time, not what
    /// this page shows when its board list or session changes.
    pub fn home_board(&self, shown: Option<Uuid>) -> Option<Uuid> {
        let user = self.views.user.get()?;
        self.views.boards.with(|boards| {
            let boards = boards.as_ref()?;
            let listed = |id: Option<Uuid>| boards.iter().find(|board| Some(board.id) == id);
            listed(shown)
                .or_else(|| listed(last_board::recall(user.id)))
                .or_else(|| boards.iter().find(|board| board.personal))
                .map(|board| board.id)
        })
    }

    /// The address of the person's own board (`/` until the board list is known).
    pub fn personal_path(&self) -> String {
        let personal = self.views.boards.with_untracked(|boards| {
            boards
                .iter()
                .flatten()
                .find(|board| board.personal)
                .map(|board| board.id)
        });
        personal.map_or_else(|| "/".to_owned(), |board| format!("/b/{board}"))
    }

    /// The person's board `id`, as their list has it.
    pub fn board(&self, id: Uuid) -> Option<BoardInfo> {
        self.views.boards.with(|boards| {
            boards
                .as_ref()?
                .iter()
                .find(|board| board.id == id)
                .cloned()
        })
    }

    /// Who is looking at the open board now, the person included.
    pub fn here(&self) -> Signal<Vec<MemberUser>> {
        self.views.here.into()
    }

    /// The open board is not one of the person's.
    pub fn unavailable(&self) -> Signal<Option<Uuid>> {
        self.views.unavailable.into()
    }

    /// The person lost access to the open board (the alert says so).
    pub fn lost(&self) -> Signal<Option<Uuid>> {
        self.views.lost.into()
    }

    /// Makes a board owned by the person.
    pub async fn create_board(&self, name: &str) -> Result<BoardInfo, CallError> {
        let name = validate_board_name(name)
            .map_err(|error| invalid(error.to_string()))?
            .to_owned();
        let (api, token) = self.session()?;
        let new = NewBoard {
            id: Some(random_uuid()),
            name,
        };
        api.create_board(&token, &new).await
    }

    pub async fn rename_board(&self, board: Uuid, name: &str) -> Result<BoardInfo, CallError> {
        let name = validate_board_name(name).map_err(|error| invalid(error.to_string()))?;
        let (api, token) = self.session()?;
        api.rename_board(&token, board, name).await
    }

    pub async fn delete_board(&self, board: Uuid) -> Result<(), CallError> {
        let (api, token) = self.session()?;
        api.delete_board(&token, board).await
    }

    pub async fn members(&self, board: Uuid) -> Result<Vec<Member>, CallError> {
        let (api, token) = self.session()?;
        api.members(&token, board).await
    }

    pub async fn share(
        &self,
        board: Uuid,
        username: &str,
        role: BoardRole,
    ) -> Result<Member, CallError> {
        let username = username.trim();
        if username.is_empty() {
            return Err(invalid("Type the username of the person to share with."));
        }
        let (api, token) = self.session()?;
        api.set_member(&token, board, username, MemberRole { role })
            .await
    }

    /// Takes `username` off the board; the person's own name leaves it.
    pub async fn remove_member(&self, board: Uuid, username: &str) -> Result<(), CallError> {
        let (api, token) = self.session()?;
        api.remove_member(&token, board, username).await
    }
}

/// A refusal made here, worded as the server's would be.
fn invalid(message: impl Into<String>) -> CallError {
    CallError::Api(protocol::ApiError::new(
        protocol::ErrorCode::BadRequest,
        message.into(),
    ))
}

/// The last board a person opened in this browser: only its id, per person, in local
/// storage (nothing secret).
mod last_board {
    use uuid::Uuid;

    fn key(user: Uuid) -> String {
        format!("taskwire.last_board.{user}")
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn remember(user: Uuid, board: Uuid) {
        if let Some(storage) = storage() {
            // Storage full or refused: `/` lands on the personal board instead.
            drop(storage.set_item(&key(user), &board.to_string()));
        }
    }

    pub fn recall(user: Uuid) -> Option<Uuid> {
        let stored = storage()?.get_item(&key(user)).ok()??;
        Uuid::try_parse(&stored).ok()
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

/// Finishes a sign-out still owed before a sign-in. One of this browser's session may
/// be dropped when it fails: the new sign-in's cookie replaces the one it would end. One
/// of every session may not: the person's other devices would stay signed in for good.
async fn settle_before_sign_in(api: &Api) -> Result<(), CallError> {
    if pending_sign_out::settle(api).await || !pending_sign_out::owed_everywhere() {
        Ok(())
    } else {
        Err(CallError::SignOutOwed)
    }
}
