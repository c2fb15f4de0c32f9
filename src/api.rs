//! The HTTP API (section 1 of the contract) as typed async calls.
//!
//! The access token lives in memory only (the caller passes it in); the refresh token is
//! an HttpOnly cookie the browser sends by itself, which is why every call includes
//! credentials.

use gloo_net::http::{Request, RequestBuilder, Response};
use gloo_timers::callback::Timeout;
use protocol::{
    ApiError, Board, BoardPatch, Changes, CreateParams, Credentials, ErrorBody, ErrorCode, LoginAs,
    Member, MemberList, MemberRole, MethodCall, MethodValue, NewBoard, Position, Session, Task,
    TaskList, TaskPatch, Topic, User, UserList,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, RequestCredentials};

#[wasm_bindgen(inline_js = r#"
// Resolves, once the lock `name` (shared by every tab of the origin) is granted, to the
// function that releases it; where the browser has no Web Locks (a page not served
// securely), or refuses the request (a sandboxed frame), at once, to a function that
// does nothing: the call goes on unlocked rather than waiting for good.
export function take_lock(name) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks) return Promise.resolve(() => {});
  return new Promise((granted) => {
    try {
      locks
        .request(name, () => new Promise((release) => granted(release)))
        .catch(() => granted(() => {}));
    } catch (refused) {
      granted(() => {});
    }
  });
}
"#)]
extern "C" {
    fn take_lock(name: &str) -> js_sys::Promise;
}

/// A lock from [`take_lock`], released when dropped, however the holder ends.
struct Held(js_sys::Function);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}

/// How long a call may wait for the server's answer. A server that takes the
/// connection and never answers would otherwise leave a button disabled, or the page
/// restoring the session, for good.
const CALL_TIMEOUT_MS: u32 = 15_000;

/// Why a call failed, in words a person can be shown.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The server answered with the contract's error body.
    #[error("{}", .0.message)]
    Api(ApiError),
    /// No answer: offline, DNS, the server down.
    #[error("Cannot reach the server. Check your connection and try again.")]
    Network(String),
    /// An answer that is not what the contract promises.
    #[error("The server sent an answer the app does not understand ({0}).")]
    Unexpected(String),
    /// The person signed out (or signed in again) before this finished.
    #[error("Signed out before the connection was ready.")]
    Cancelled,
    /// The call needs a session and there is none.
    #[error("You are signed out.")]
    SignedOut,
    /// Switching accounts would drop this many changes not sent yet.
    #[error(
        "Changes not sent yet ({0}) would be lost: switch accounts once they have reached \
         the server."
    )]
    ChangesWaiting(usize),
    /// `Sign out everywhere` has not reached the server yet, and a sign-in now would
    /// replace the cookie it is to be finished with.
    #[error(
        "Signing out everywhere has not reached the server yet: sign in once it can be \
         reached."
    )]
    SignOutOwed,
}

impl CallError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api(error) => Some(error.code),
            _ => None,
        }
    }

    /// No answer, or the server's own trouble: the same call may well succeed later,
    /// where an answer about the request itself (a refused cookie, say) would not change.
    pub fn may_pass_later(&self) -> bool {
        match self {
            Self::Network(_) | Self::SignOutOwed => true,
            Self::Api(error) => matches!(error.code, ErrorCode::Internal | ErrorCode::RateLimited),
            Self::Unexpected(_) | Self::Cancelled | Self::SignedOut | Self::ChangesWaiting(_) => {
                false
            }
        }
    }
}

/// Where the API lives: the page's own origin in production (`""`), the test server's
/// address in the browser suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    base: String,
    socket: Option<String>,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            socket: None,
        }
    }

    /// Sends the sockets to `url` instead of this API's own `/ws`: the browser suites
    /// point them at a misbehaving double while signing in against the real server.
    pub fn with_socket_url(mut self, url: impl Into<String>) -> Self {
        self.socket = Some(url.into());
        self
    }

    /// The socket URL that goes with this API: same host, `ws:` or `wss:`.
    pub fn socket_url(&self) -> String {
        if let Some(url) = &self.socket {
            return url.clone();
        }
        let base = if self.base.is_empty() {
            web_sys::window()
                .and_then(|w| w.location().origin().ok())
                .unwrap_or_default()
        } else {
            self.base.clone()
        };
        let socket = base
            .strip_prefix("https")
            .map(|rest| format!("wss{rest}"))
            .or_else(|| base.strip_prefix("http").map(|rest| format!("ws{rest}")))
            .unwrap_or(base);
        format!("{socket}/ws")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn register(&self, credentials: &Credentials) -> Result<Session, CallError> {
        replacing_cookie(async {
            let request = Request::post(&self.url("/api/register"));
            json(send(with_body(request, credentials)?).await?).await
        })
        .await
    }

    pub async fn login(&self, credentials: &Credentials) -> Result<Session, CallError> {
        replacing_cookie(async {
            let request = Request::post(&self.url("/api/login"));
            json(send(with_body(request, credentials)?).await?).await
        })
        .await
    }

    /// Exchanges the refresh cookie for a new access token (and a new cookie).
    pub async fn refresh(&self) -> Result<Session, CallError> {
        replacing_cookie(async {
            json(send(build(Request::post(&self.url("/api/refresh")), None)?).await?).await
        })
        .await
    }

    pub async fn logout(&self, token: &str) -> Result<(), CallError> {
        empty(send(build(Request::post(&self.url("/api/logout")), Some(token))?).await?)
    }

    /// `POST /api/logout` with the refresh cookie alone: ends the session this browser
    /// holds without any token in memory (a sign-out finished after a reload).
    pub async fn logout_by_cookie(&self) -> Result<(), CallError> {
        empty(send(build(Request::post(&self.url("/api/logout")), None)?).await?)
    }

    pub async fn logout_all(&self, token: &str) -> Result<(), CallError> {
        empty(
            send(build(
                Request::post(&self.url("/api/logout-all")),
                Some(token),
            )?)
            .await?,
        )
    }

    pub async fn me(&self, token: &str) -> Result<User, CallError> {
        json(send(build(Request::get(&self.url("/api/me")), Some(token))?).await?).await
    }

    pub async fn users(&self, token: &str) -> Result<Vec<User>, CallError> {
        let list: UserList = json(
            send(build(
                Request::get(&self.url("/api/admin/users")),
                Some(token),
            )?)
            .await?,
        )
        .await?;
        Ok(list.users)
    }

    pub async fn login_as(&self, token: &str, username: &str) -> Result<Session, CallError> {
        replacing_cookie(async {
            let request =
                Request::post(&self.url("/api/login-as")).header("Authorization", &bearer(token));
            let body = LoginAs {
                username: username.to_owned(),
            };
            json(send(with_body(request, &body)?).await?).await
        })
        .await
    }

    pub async fn exit_login_as(&self, token: &str) -> Result<Session, CallError> {
        replacing_cookie(async {
            let request = build(Request::post(&self.url("/api/login-as/exit")), Some(token))?;
            json(send(request).await?).await
        })
        .await
    }

    pub async fn tasks(&self, token: &str) -> Result<TaskList, CallError> {
        json(send(build(Request::get(&self.url("/api/tasks")), Some(token))?).await?).await
    }

    /// `POST /api/tasks`: idempotent when `params.id` is given.
    pub async fn create_task(&self, token: &str, params: &CreateParams) -> Result<Task, CallError> {
        let request =
            Request::post(&self.url("/api/tasks")).header("Authorization", &bearer(token));
        json(send(with_body(request, params)?).await?).await
    }

    pub async fn update_task(
        &self,
        token: &str,
        id: uuid::Uuid,
        patch: &TaskPatch,
    ) -> Result<Task, CallError> {
        let request = Request::patch(&self.url(&format!("/api/tasks/{id}")))
            .header("Authorization", &bearer(token));
        json(send(with_body(request, patch)?).await?).await
    }

    // ---- the HTTP fallback (section 5) ----

    /// `GET /api/changes`: `topic`'s events after `since` (or the whole topic), waiting
    /// up to `wait_s` for one. `abort` cancels it (the machine no longer wants it); it
    /// is also aborted once the wait and the usual call timeout have passed.
    pub async fn changes(
        &self,
        token: &str,
        topic: Topic,
        since: Option<&Position>,
        wait_s: u64,
        abort: AbortController,
    ) -> Result<Changes, CallError> {
        let topic = String::from(js_sys::encode_uri_component(&topic.to_string()));
        let mut path = format!("/api/changes?topic={topic}&wait={wait_s}");
        if let Some(since) = since {
            let since = format!("{}:{}", since.epoch, since.seq);
            path.push_str("&since=");
            path.push_str(&String::from(js_sys::encode_uri_component(&since)));
        }
        let wait_ms = u32::try_from(wait_s.saturating_mul(1_000)).unwrap_or(u32::MAX);
        let deadline = Deadline::on(abort, wait_ms.saturating_add(CALL_TIMEOUT_MS));
        let (request, deadline) = prepare_with(Request::get(&self.url(&path)), deadline)?;
        let answer = send(finish(request, Some(token), deadline)?).await?;
        let text = answer.response.text().await.map_err(unread)?;
        protocol::read_changes(&text).map_err(|e| CallError::Unexpected(e.to_string()))
    }

    /// A change the socket would carry, over the HTTP calls of sections 1 and 4 (and
    /// `clear-done`, which the server adds for the fallback); answers as the socket's
    /// `result` would.
    pub async fn call(&self, token: &str, call: &MethodCall) -> Result<MethodValue, CallError> {
        let tasks = match call.board() {
            Some(board) => format!("/api/boards/{board}/tasks"),
            None => "/api/tasks".to_owned(),
        };
        let task = |task: Option<Task>| MethodValue {
            task,
            ..MethodValue::default()
        };
        match call {
            MethodCall::Create(params) => {
                let body = CreateParams {
                    board: None,
                    ..params.clone()
                };
                let request =
                    Request::post(&self.url(&tasks)).header("Authorization", &bearer(token));
                Ok(task(Some(
                    json(send(with_body(request, &body)?).await?).await?,
                )))
            }
            MethodCall::Update(params) => {
                let url = self.url(&format!("{tasks}/{}", params.id));
                let patch = TaskPatch {
                    title: params.title.clone(),
                    done: params.done,
                    if_version: params.if_version,
                };
                let request = Request::patch(&url).header("Authorization", &bearer(token));
                Ok(task(Some(
                    json(send(with_body(request, &patch)?).await?).await?,
                )))
            }
            MethodCall::Delete(params) => {
                let url = self.url(&format!("{tasks}/{}", params.id));
                empty(send(build(Request::delete(&url), Some(token))?).await?)?;
                Ok(task(None))
            }
            MethodCall::ClearDone(_) => {
                let url = self.url(&format!("{tasks}/clear-done"));
                json(send(build(Request::post(&url), Some(token))?).await?).await
            }
        }
    }

    // ---- boards (section 4) ----

    /// `POST /api/boards`: idempotent when `new.id` is given.
    pub async fn create_board(&self, token: &str, new: &NewBoard) -> Result<Board, CallError> {
        let request =
            Request::post(&self.url("/api/boards")).header("Authorization", &bearer(token));
        json(send(with_body(request, new)?).await?).await
    }

    pub async fn rename_board(
        &self,
        token: &str,
        id: Uuid,
        name: &str,
    ) -> Result<Board, CallError> {
        let request = Request::patch(&self.url(&format!("/api/boards/{id}")))
            .header("Authorization", &bearer(token));
        let patch = BoardPatch {
            name: name.to_owned(),
        };
        json(send(with_body(request, &patch)?).await?).await
    }

    pub async fn delete_board(&self, token: &str, id: Uuid) -> Result<(), CallError> {
        let url = self.url(&format!("/api/boards/{id}"));
        empty(send(build(Request::delete(&url), Some(token))?).await?)
    }

    pub async fn members(&self, token: &str, board: Uuid) -> Result<Vec<Member>, CallError> {
        let url = self.url(&format!("/api/boards/{board}/members"));
        let list: MemberList = json(send(build(Request::get(&url), Some(token))?).await?).await?;
        Ok(list.items)
    }

    /// Shares `board` with `username` as `role`, or changes their role.
    pub async fn set_member(
        &self,
        token: &str,
        board: Uuid,
        username: &str,
        role: MemberRole,
    ) -> Result<Member, CallError> {
        let request = Request::put(&self.url(&member_path(board, username)))
            .header("Authorization", &bearer(token));
        json(send(with_body(request, &role)?).await?).await
    }

    /// Removes `username` from `board` (the person themself: leaving it).
    pub async fn remove_member(
        &self,
        token: &str,
        board: Uuid,
        username: &str,
    ) -> Result<(), CallError> {
        let url = self.url(&member_path(board, username));
        empty(send(build(Request::delete(&url), Some(token))?).await?)
    }
}

/// A typed username goes into the path encoded, so a `/` or `?` in it cannot reach
/// another route.
fn member_path(board: Uuid, username: &str) -> String {
    let username = String::from(js_sys::encode_uri_component(username));
    format!("/api/boards/{board}/members/{username}")
}

/// Runs `call`, whose answer sets the refresh cookie, one at a time across the origin's
/// tabs. A refresh token works once, and the server takes a second use as theft and
/// ends the session: two tabs refreshing with the same cookie at the same moment (a
/// browser restoring its tabs, two reloads) would sign the person out everywhere; under
/// the lock, the second sends the cookie the first got back. A sign-in or a switch of
/// account answered while a refresh is out would otherwise have its cookie replaced by
/// the refresh's, of the session left.
async fn replacing_cookie<T>(
    call: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    let release = JsFuture::from(take_lock("taskwire-refresh"))
        .await
        .map_err(|error| CallError::Unexpected(format!("{error:?}")))?;
    let _held = Held(release.into());
    call.await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A request ready to go, with the deadline that aborts it.
struct Call {
    request: Request,
    _deadline: Deadline,
}

/// Aborts a call's fetch once its time is up; dropped (and so cancelled) with the
/// answer.
struct Deadline {
    controller: AbortController,
    _timer: Timeout,
}

impl Deadline {
    fn start() -> Result<Self, CallError> {
        Ok(Self::on(abort_controller()?, CALL_TIMEOUT_MS))
    }

    /// A deadline of `after_ms` on `controller`, which the caller may also abort.
    fn on(controller: AbortController, after_ms: u32) -> Self {
        let abort = controller.clone();
        let timer = Timeout::new(after_ms, move || abort.abort());
        Self {
            controller,
            _timer: timer,
        }
    }
}

/// A controller to abort a call with ([`Api::changes`] takes one).
pub fn abort_controller() -> Result<AbortController, CallError> {
    AbortController::new()
        .map_err(|_| CallError::Unexpected("no AbortController in this browser".into()))
}

/// Credentials (the refresh cookie) and a deadline, which every call has.
fn prepare(request: RequestBuilder) -> Result<(RequestBuilder, Deadline), CallError> {
    prepare_with(request, Deadline::start()?)
}

fn prepare_with(
    request: RequestBuilder,
    deadline: Deadline,
) -> Result<(RequestBuilder, Deadline), CallError> {
    let request = request
        .credentials(RequestCredentials::Include)
        .abort_signal(Some(&deadline.controller.signal()));
    Ok((request, deadline))
}

fn build(request: RequestBuilder, token: Option<&str>) -> Result<Call, CallError> {
    let (request, deadline) = prepare(request)?;
    finish(request, token, deadline)
}

fn finish(
    request: RequestBuilder,
    token: Option<&str>,
    deadline: Deadline,
) -> Result<Call, CallError> {
    let request = match token {
        Some(token) => request.header("Authorization", &bearer(token)),
        None => request,
    };
    Ok(Call {
        request: request
            .build()
            .map_err(|e| CallError::Unexpected(e.to_string()))?,
        _deadline: deadline,
    })
}

fn with_body(request: RequestBuilder, body: &impl serde::Serialize) -> Result<Call, CallError> {
    let (request, deadline) = prepare(request)?;
    Ok(Call {
        request: request
            .json(body)
            .map_err(|e| CallError::Unexpected(e.to_string()))?,
        _deadline: deadline,
    })
}

/// A server's answer whose body is still to be read, under the call's deadline: a body
/// that stalls after the headers came is given up like a call that never answers.
struct Answer {
    response: Response,
    _deadline: Deadline,
}

/// Why a body could not be read: JSON not of the contract's shape; or no answer from the
/// server, since it answers JSON only: a body that is not JSON at all (a captive portal's
/// or a proxy's page), or one that never came whole (cut off, or by the deadline).
fn unread(error: gloo_net::Error) -> CallError {
    match error {
        gloo_net::Error::SerdeError(error) if error.is_data() => {
            CallError::Unexpected(error.to_string())
        }
        other => CallError::Network(other.to_string()),
    }
}

async fn send(call: Call) -> Result<Answer, CallError> {
    let response = call
        .request
        .send()
        .await
        .map_err(|e| CallError::Network(e.to_string()))?;
    if response.ok() {
        return Ok(Answer {
            response,
            _deadline: call._deadline,
        });
    }
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => Err(CallError::Api(body.error)),
        // A proxy's own page while the server is away (502, 503, 504), or a timeout:
        // no answer from the server.
        Err(_) if status >= 500 || status == 408 => {
            Err(CallError::Network(format!("status {status}")))
        }
        Err(_) => Err(CallError::Unexpected(format!("status {status}"))),
    }
}

async fn json<T: DeserializeOwned>(answer: Answer) -> Result<T, CallError> {
    answer.response.json().await.map_err(unread)
}

/// The contract's empty answer is 204. Another success (a portal's or a proxy's page
/// after a redirect) is no answer from the server: a sign-out taken as done on it would
/// not be remembered as owed, and the session would live on in the cookie.
fn empty(answer: Answer) -> Result<(), CallError> {
    match answer.response.status() {
        204 => Ok(()),
        status => Err(CallError::Network(format!(
            "status {status}, not the server's"
        ))),
    }
}
