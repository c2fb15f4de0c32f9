//! The socket service in a real browser against the real server (and a misbehaving
//! double): sign-in to live, changes from elsewhere, a server restart, faults, sign-out,
//! and no handler leaks.

#![cfg(target_arch = "wasm32")]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use leptos::prelude::*;
use protocol::{CreateParams, Credentials, TaskPatch};
use support::{
    api_call, close_codes, control, faults, record_sockets, server, short_ttl_server, unique_name,
    until,
};
use taskwire::api::Api;
use taskwire::board::ClosedEvent;
use taskwire::client::machine::{Config, ConnectionState, Transport};
use taskwire::socket::live_sockets;
use taskwire::taskwire::{SocketDiagnostics, Taskwire};
use uuid::Uuid;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "correct horse battery";

/// One Taskwire in its own reactive owner, so that dropping the owner drops the service
/// (its sockets, timers and listeners) between tests.
struct App {
    tw: Taskwire,
    owner: Owner,
    username: String,
}

impl App {
    /// Provides a Taskwire for `api` and waits out the page-load refresh.
    async fn new(api: Api, sockets: &[(&str, Config)]) -> Self {
        let owner = Owner::new();
        let tw = owner.with(|| Taskwire::provide_with(api, sockets));
        until("the page-load refresh to finish", WAIT, || {
            !tw.restoring().get_untracked()
        })
        .await;
        Self {
            tw,
            owner,
            username: unique_name("sock"),
        }
    }

    /// A fresh user on the real server, signed in and live.
    async fn signed_in() -> Self {
        Self::signed_in_to(server()).await
    }

    async fn signed_in_to(base: &str) -> Self {
        let app = Self::new(Api::new(base), &[("tasks", Config::default())]).await;
        app.tw
            .register(app.username.clone(), PASSWORD.to_owned())
            .await
            .expect("registered and signed in");
        app.until_live().await;
        app
    }

    /// Signed in is not yet live: the socket connects after.
    async fn until_live(&self) {
        until("every socket live", WAIT, || {
            self.tw
                .diagnostics()
                .get_untracked()
                .iter()
                .all(|d| d.state == ConnectionState::Live)
        })
        .await;
    }

    fn state(&self) -> ConnectionState {
        self.tw.status().get_untracked().state
    }

    fn socket(&self, name: &str) -> SocketDiagnostics {
        self.tw
            .diagnostics()
            .get_untracked()
            .into_iter()
            .find(|d| d.name == name)
            .expect("a socket with that name")
    }

    fn ids(&self) -> Vec<Uuid> {
        self.tw.task_ids().get_untracked()
    }

    fn title(&self, id: Uuid) -> Option<String> {
        self.tw.task(id).map(|row| row.get_untracked().task.title)
    }

    /// A second session of the same user, for changes "from another device".
    async fn other_device(&self) -> String {
        Api::new(server())
            .login(&Credentials {
                username: self.username.clone(),
                password: PASSWORD.to_owned(),
            })
            .await
            .expect("a second session")
            .token
    }

    async fn finish(self) {
        self.tw.sign_out().await;
        self.owner.cleanup();
    }
}

async fn create_over_http(token: &str, title: &str) -> Uuid {
    Api::new(server())
        .create_task(
            token,
            &CreateParams {
                board: None,
                id: None,
                title: title.to_owned(),
            },
        )
        .await
        .expect("created over HTTP")
        .id
}

/// Every id once, and the same set the server lists.
async fn assert_matches_server(app: &App, token: &str) {
    let ids = app.ids();
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no task twice: {ids:?}");
    let listed: HashSet<Uuid> = Api::new(server())
        .tasks(token)
        .await
        .expect("the task list")
        .items
        .into_iter()
        .map(|task| task.id)
        .collect();
    assert_eq!(unique, listed, "the store matches the server");
}

#[wasm_bindgen_test]
async fn signing_in_opens_authenticates_subscribes_and_goes_live() {
    let app = App::signed_in().await;
    let status = app.tw.status().get_untracked();
    assert_eq!(status.state, ConnectionState::Live);
    assert_eq!(status.state.as_str(), "live");
    assert_eq!(status.text, "Live");
    let user = app.tw.user().get_untracked().expect("signed in");
    assert_eq!(user.username, app.username);
    let tasks = app.socket("tasks");
    assert_eq!(tasks.state, ConnectionState::Live);
    assert!(tasks.frames_out >= 2, "auth and subscribe went out");
    assert!(tasks.frames_in >= 2, "auth_ok and the snapshot came in");
    assert!(app.ids().is_empty(), "a new user has no tasks");
    app.finish().await;
}

#[wasm_bindgen_test]
async fn a_task_created_over_http_appears_in_the_store() {
    let app = App::signed_in().await;
    let token = app.other_device().await;
    let id = create_over_http(&token, "Made over HTTP").await;
    until("the task to appear", WAIT, || app.ids().contains(&id)).await;
    let row = app.tw.task(id).expect("a row signal").get_untracked();
    assert_eq!(row.task.title, "Made over HTTP");
    assert!(!row.pending);
    app.finish().await;
}

#[wasm_bindgen_test]
async fn a_task_created_here_is_pending_until_the_server_confirms_it() {
    let app = App::signed_in().await;
    assert!(app.tw.create("   ").is_err(), "blank titles are refused");
    app.tw.create("  Buy milk ").expect("a valid title");
    let ids = app.ids();
    assert_eq!(ids.len(), 1, "shown at once");
    let row = app.tw.task(ids[0]).expect("a row signal");
    assert_eq!(row.get_untracked().task.title, "Buy milk");
    until("the server to confirm it", WAIT, || {
        let row = row.get_untracked();
        !row.pending && row.task.version >= 1
    })
    .await;
    assert!(app.tw.pending().get_untracked().is_empty());
    assert_matches_server(&app, &app.other_device().await).await;
    app.finish().await;
}

#[wasm_bindgen_test]
async fn a_refused_change_is_rolled_back_and_announced() {
    let app = App::signed_in().await;
    app.tw.set_done(Uuid::from_u128(7), true);
    until("an alert", WAIT, || {
        app.tw.alert().get_untracked().is_some()
    })
    .await;
    assert!(app.ids().is_empty());
    app.tw.dismiss_alert();
    assert_eq!(app.tw.alert().get_untracked(), None);
    app.finish().await;
}

/// Counts how often an effect reading `signal` runs.
fn runs_of(owner: &Owner, signal: impl Track + Send + Sync + 'static) -> Arc<AtomicUsize> {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    owner.with(|| {
        Effect::new(move |_| {
            signal.track();
            counter.fetch_add(1, Ordering::SeqCst);
        })
    });
    runs
}

#[wasm_bindgen_test]
async fn one_change_touches_only_its_row() {
    // Mounting starts Leptos' task executor, which runs effects.
    let _mounted = leptos::mount::mount_to(support::fresh_root("/"), || ());
    let app = App::signed_in().await;
    let token = app.other_device().await;
    let a = create_over_http(&token, "A").await;
    let b = create_over_http(&token, "B").await;
    until("both tasks", WAIT, || app.ids().len() == 2).await;
    let runs_a = runs_of(&app.owner, app.tw.task(a).expect("row a"));
    let runs_b = runs_of(&app.owner, app.tw.task(b).expect("row b"));
    let runs_list = runs_of(&app.owner, app.tw.task_ids());
    until("the effects' first runs", WAIT, || {
        [&runs_a, &runs_b, &runs_list]
            .iter()
            .all(|runs| runs.load(Ordering::SeqCst) == 1)
    })
    .await;
    let patch = TaskPatch {
        title: Some("A, renamed".to_owned()),
        ..TaskPatch::default()
    };
    Api::new(server())
        .update_task(&token, a, &patch)
        .await
        .expect("renamed over HTTP");
    until("row a to re-run", WAIT, || {
        runs_a.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(app.title(a).as_deref(), Some("A, renamed"));
    assert_eq!(runs_b.load(Ordering::SeqCst), 1, "row b untouched");
    assert_eq!(runs_list.load(Ordering::SeqCst), 1, "the list untouched");
    app.finish().await;
}

#[wasm_bindgen_test]
async fn a_server_restart_reconnects_and_resumes_with_nothing_lost_or_twice() {
    record_sockets();
    let app = App::signed_in().await;
    let token = app.other_device().await;
    for title in ["one", "two", "three"] {
        create_over_http(&token, title).await;
    }
    until("three tasks", WAIT, || app.ids().len() == 3).await;
    let reconnects = app.socket("tasks").reconnects;

    control("restart").await;
    until("a reconnect after the restart", WAIT, || {
        app.socket("tasks").reconnects > reconnects && app.state() == ConnectionState::Live
    })
    .await;
    // Retries while the server was down may have closed with 1006 since: the app shows
    // the last close; the server's own was 1001.
    let closes = close_codes();
    assert!(closes.contains(&1001), "the server went away: {closes:?}");

    create_over_http(&token, "four").await;
    until("the fourth task", WAIT, || app.ids().len() == 4).await;
    assert_matches_server(&app, &token).await;
    app.finish().await;
}

/// Against a server whose access tokens live four seconds, the token is refreshed
/// in-band halfway through each life: over three lifetimes the socket stays live and
/// never reconnects (an expired token would be closed with 4401), sends a handful of
/// new tokens rather than a storm of them, and a change made with the latest token is
/// confirmed.
#[wasm_bindgen_test]
async fn a_short_lived_token_is_refreshed_in_band_while_the_socket_stays_live() {
    let app = App::signed_in_to(short_ttl_server()).await;
    let started = js_sys::Date::now();
    while js_sys::Date::now() - started < 12_000.0 {
        assert_eq!(app.state(), ConnectionState::Live, "live throughout");
        gloo_timers::future::sleep(Duration::from_millis(50)).await;
    }
    let socket = app.socket("tasks");
    assert_eq!(socket.reconnects, 0, "no reconnect: {socket:?}");
    assert_eq!(socket.last_close, None, "no close: {socket:?}");
    // auth and subscribe, then one auth every two seconds or so (and maybe a ping).
    assert!(
        (2 + 3..=2 + 12).contains(&socket.frames_out),
        "a few in-band refreshes: {socket:?}"
    );
    app.tw
        .create("after three lifetimes")
        .expect("a valid title");
    until("the new task confirmed", WAIT, || {
        app.ids().len() == 1 && app.tw.pending().get_untracked().is_empty()
    })
    .await;
    app.finish().await;
}

/// The browser's clock runs 20 minutes fast, so a 15-minute token looks expired on
/// arrival: the app times its refresh by the token's own life, not by that clock, and
/// sends no storm of refreshes.
#[wasm_bindgen_test]
async fn a_browser_clock_that_is_wrong_does_not_set_off_refreshes() {
    let _clock = ClockAhead::by_minutes(20);
    let app = App::signed_in().await;
    gloo_timers::future::sleep(Duration::from_secs(3)).await;
    let socket = app.socket("tasks");
    assert_eq!(app.state(), ConnectionState::Live);
    assert_eq!(socket.reconnects, 0, "{socket:?}");
    // auth, subscribe and the ping on going live: no in-band refresh.
    assert!(socket.frames_out <= 3, "no refreshes: {socket:?}");
    app.finish().await;
}

/// Moves the page's `Date.now` ahead while held; back when dropped.
struct ClockAhead;

impl ClockAhead {
    fn by_minutes(minutes: u32) -> Self {
        let set = js_sys::Function::new_with_args(
            "ms",
            "globalThis.__taskwireRealNow ??= Date.now;
             Date.now = () => globalThis.__taskwireRealNow() + ms;",
        );
        set.call1(
            &wasm_bindgen::JsValue::NULL,
            &f64::from(minutes * 60_000).into(),
        )
        .expect("Date.now moved");
        Self
    }
}

impl Drop for ClockAhead {
    fn drop(&mut self) {
        let reset = js_sys::Function::new_no_args(
            "if (globalThis.__taskwireRealNow) Date.now = globalThis.__taskwireRealNow;",
        );
        let _ = reset.call0(&wasm_bindgen::JsValue::NULL);
    }
}

#[wasm_bindgen_test]
async fn a_change_made_while_the_socket_is_down_is_delivered_after_resume() {
    let app = App::signed_in().await;
    let token = app.other_device().await;
    let before = create_over_http(&token, "before").await;
    until("the first task", WAIT, || app.ids().contains(&before)).await;

    control("stop").await;
    // Wait for a backoff long enough to make the change inside it: the delays are 2-4 s
    // while nothing answers, and one shown as 4 s (rounded up) has over 3 s left, time
    // to start the server and write on a loaded machine.
    until("a retry over 3 s away", Duration::from_secs(60), || {
        app.tw
            .status()
            .get_untracked()
            .retry_in_s
            .is_some_and(|s| s >= 4)
    })
    .await;
    control("start").await;
    let during = create_over_http(&token, "while down").await;
    assert_ne!(
        app.state(),
        ConnectionState::Live,
        "the change was made while this client was disconnected"
    );
    until(
        "the change made while down",
        Duration::from_secs(40),
        || app.ids().contains(&during),
    )
    .await;
    assert_eq!(app.state(), ConnectionState::Live);
    assert_matches_server(&app, &token).await;
    app.finish().await;
}

/// A socket that only ever sends garbage is given up (4400) and tried again; the
/// person stays signed in (a transport never undoes a sign-in), and since HTTP gets
/// through, the app carries on live over the HTTP fallback.
#[wasm_bindgen_test]
async fn garbage_from_the_server_is_given_up_and_the_app_carries_on_over_http() {
    record_sockets();
    let api = Api::new(server()).with_socket_url(faults("/garbage"));
    let app = App::new(api, &[("tasks", Config::default())]).await;
    app.tw
        .register(app.username.clone(), PASSWORD.to_owned())
        .await
        .expect("signed in: what the socket does next cannot undo it");
    until("live on the HTTP fallback", Duration::from_secs(20), || {
        let status = app.tw.status().get_untracked();
        status.state == ConnectionState::Live && status.transport == Transport::Http
    })
    .await;
    let closes = close_codes();
    assert!(
        closes.iter().filter(|code| **code == 4400).count() >= 2,
        "each garbage socket closed with 4400: {closes:?}"
    );
    assert_eq!(app.tw.status().get_untracked().text, "Live (HTTP fallback)");
    assert!(app.tw.user().get_untracked().is_some());
    let token = app.other_device().await;
    let made = create_over_http(&token, "reaches the fallback").await;
    until("the change made elsewhere", WAIT, || {
        app.ids().contains(&made)
    })
    .await;
    app.finish().await;
}

/// Two named sockets, both on the HTTP fallback, each numbering its polls from one: the
/// second follows the tasks, whose changes bring its polls through the numbers, while
/// the first moves from board to board, ending a poll at each move. Each ends its own
/// poll only: the second stays live throughout.
#[wasm_bindgen_test]
async fn a_poll_ended_on_one_socket_leaves_anothers_alone() {
    let api = Api::new(server()).with_socket_url(faults("/garbage"));
    let sockets = [("tasks", Config::default()), ("second", Config::default())];
    let app = App::new(api, &sockets).await;
    app.tw
        .register(app.username.clone(), PASSWORD.to_owned())
        .await
        .expect("signed in");
    let on_http =
        |d: &SocketDiagnostics| d.state == ConnectionState::Live && d.transport == Transport::Http;
    until(
        "both sockets live on the fallback",
        Duration::from_secs(20),
        || {
            let all = app.tw.diagnostics().get_untracked();
            all.len() == 2 && all.iter().all(on_http)
        },
    )
    .await;
    let token = app.other_device().await;
    let mut boards = Vec::new();
    for name in ["First", "Second"] {
        let (status, body) = api_call(
            "POST",
            "/api/boards",
            &token,
            Some(serde_json::json!({ "name": name })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let board: serde_json::Value = serde_json::from_str(&body).expect("a board");
        let id = board["id"].as_str().and_then(|id| Uuid::try_parse(id).ok());
        boards.push(id.expect("the board's id"));
    }
    for round in 0..8 {
        for n in 0..2 {
            create_over_http(&token, &format!("task {round}.{n}")).await;
            // Its long poll answers, and the next goes out with the next number.
            gloo_timers::future::sleep(Duration::from_millis(200)).await;
        }
        app.tw.open(boards[round % 2]);
        // An aborted poll fails at once, and its socket leaves the fallback.
        gloo_timers::future::sleep(Duration::from_millis(300)).await;
        assert!(
            on_http(&app.socket("second")),
            "round {round}: {:?}",
            app.socket("second")
        );
    }
    app.finish().await;
}

#[wasm_bindgen_test]
async fn a_silent_server_is_detected_and_replaced() {
    let api = Api::new(server()).with_socket_url(faults("/silent"));
    let app = App::new(api, &[("tasks", Config::default())]).await;
    app.tw
        .register(app.username.clone(), PASSWORD.to_owned())
        .await
        .expect("signed in");
    app.until_live().await;
    // heartbeat_ms 500: a ping after half a second, then 10 s of silence.
    until(
        "the silent socket to be given up",
        Duration::from_secs(20),
        || app.socket("tasks").reconnects >= 1,
    )
    .await;
    let last_close = app.socket("tasks").last_close.expect("a close");
    assert_eq!(last_close.0, 4000, "closed by the client: {last_close:?}");
    until("live again on a new socket", WAIT, || {
        app.state() == ConnectionState::Live
    })
    .await;
    app.finish().await;
}

#[wasm_bindgen_test]
async fn sign_out_closes_every_socket_with_1000() {
    let sockets = [
        ("tasks", Config::default()),
        (
            "account",
            Config {
                subscribe: None,
                ..Config::default()
            },
        ),
    ];
    let app = App::new(Api::new(server()), &sockets).await;
    app.tw
        .register(app.username.clone(), PASSWORD.to_owned())
        .await
        .expect("signed in");
    app.until_live().await;
    app.tw.create("gone after sign-out").expect("a title");

    app.tw.sign_out().await;
    assert_eq!(app.tw.user().get_untracked(), None);
    assert_eq!(app.state(), ConnectionState::Closed);
    assert_eq!(app.tw.status().get_untracked().text, "Closed");
    assert!(app.ids().is_empty(), "all state cleared");
    assert!(app.tw.pending().get_untracked().is_empty());
    // A clean close event means the server answered the closing handshake: with the
    // app's own 1000, or, when the logout that follows the close reached the server
    // first (a loaded machine), with the server's 4401 for the ended session.
    let signed_out = |event: Option<&ClosedEvent>| {
        event.is_some_and(|event| {
            event.clean && event.reason == "signed out" && matches!(event.code, 1000 | 4401)
        })
    };
    for name in ["tasks", "account"] {
        until("the close handshake", WAIT, || {
            signed_out(app.socket(name).closed_event.as_ref())
        })
        .await;
        assert_eq!(app.socket(name).state, ConnectionState::Closed);
    }
    // The session is gone on the server: the refresh cookie no longer works.
    assert!(Api::new(server()).refresh().await.is_err());
    app.owner.cleanup();
}

/// Fires a window event as the browser would (`online`, `offline`).
fn window_event(kind: &str) {
    let window = web_sys::window().expect("a window");
    let event = web_sys::Event::new(kind).expect("an event");
    window.dispatch_event(&event).expect("dispatched");
}

#[wasm_bindgen_test]
async fn a_hundred_reconnects_leave_one_socket_and_no_handlers_behind() {
    let baseline = live_sockets();
    let app = App::signed_in().await;
    assert_eq!(live_sockets(), baseline + 1);
    for round in 0..100 {
        window_event("offline");
        assert_eq!(app.state(), ConnectionState::Offline, "round {round}");
        window_event("online");
        until("live again", WAIT, || app.state() == ConnectionState::Live).await;
        assert!(
            live_sockets() <= baseline + 5,
            "round {round}: {} sockets alive",
            live_sockets() - baseline
        );
    }
    until("closed sockets released", WAIT, || {
        live_sockets() == baseline + 1
    })
    .await;
    app.finish().await;
    until("every socket released", WAIT, || live_sockets() == baseline).await;
}
