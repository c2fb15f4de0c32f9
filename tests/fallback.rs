//! Nothing lost, nobody locked out (issue 15), in a real browser against the real server:
//! the HTTP fallback behind a proxy that refuses WebSocket upgrades (the gate double),
//! changes that survive a reload, and sign-outs that end the session on the server even
//! when it cannot be told at once.

#![cfg(target_arch = "wasm32")]

mod support;

use std::time::Duration;

use leptos::prelude::*;
use protocol::{DeleteParams, MethodCall};
use support::{
    PASSWORD, add_task, api_call, api_create_task, api_login, api_register, button, by_role,
    connection, control, fill_and_submit, gate_socket_url, is_focused, is_pending, location,
    login_keeping_cookie, mount_with, portal_server, press, rows, server, set_gate,
    short_ttl_server, sign_in, text_of, titles, unique_name, until, until_confirmed, until_found,
};
use taskwire::api::{Api, CallError};
use taskwire::client::machine::{Config, ConnectionState};
use taskwire::taskwire::Taskwire;
use uuid::Uuid;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

const WAIT: Duration = Duration::from_secs(10);
/// Reconnecting after the server comes back may wait out a backoff of several seconds.
const RECONNECT: Duration = Duration::from_secs(40);
/// What local storage holds while a sign-out is owed to the server.
const OWED: &str = "taskwire.sign_out_pending";

/// A delete over HTTP answered by a page in the server's place (a captive portal's
/// `200`) is no answer from the server: taken as done, the task would leave the board
/// while it stays on the server and on everyone else's.
#[wasm_bindgen_test]
async fn a_delete_over_http_answered_by_a_portal_page_is_not_taken_as_done() {
    let delete = MethodCall::Delete(DeleteParams {
        board: None,
        id: Uuid::from_u128(7),
    });
    let answer = Api::new(portal_server()).call("a-token", &delete).await;
    assert!(matches!(answer, Err(CallError::Network(_))), "{answer:?}");
}

#[wasm_bindgen_test]
async fn behind_a_proxy_refusing_sockets_the_board_is_live_over_http_and_returns_to_a_socket() {
    let gate = unique_name("gate");
    set_gate(&gate, false).await;
    let api = || Api::new(server()).with_socket_url(gate_socket_url(&gate));
    let username = unique_name("fb");
    let elsewhere = api_register(&username, PASSWORD).await;
    let app = mount_with("/login", api());
    sign_in(&app.root, &username, PASSWORD).await;
    until_on_http(&app.root).await;
    assert!(status_text(&app.root).starts_with("Live (HTTP fallback)"));

    // Changes both ways.
    add_task(&app.root, "Made on the fallback").await;
    until_confirmed(&app.root).await;
    assert_eq!(server_titles(&elsewhere).await, ["Made on the fallback"]);
    api_create_task(&elsewhere, "Made elsewhere").await;
    until("the change made elsewhere", WAIT, || {
        titles(&app.root).contains(&"Made elsewhere".to_owned())
    })
    .await;

    // A reload keeps the session, on the fallback still.
    drop(app);
    let app = mount_with("/", api());
    until_on_http(&app.root).await;
    until("both tasks after the reload", WAIT, || {
        titles(&app.root).len() == 2
    })
    .await;

    // Upgrades allowed again (the network changed): back on a socket, nothing missed
    // or doubled.
    set_gate(&gate, true).await;
    api_create_task(&elsewhere, "Made during the switch").await;
    dispatch("online");
    until("live on a WebSocket again", RECONNECT, || {
        state_and_transport(&app.root) == ("live".to_owned(), "websocket".to_owned())
    })
    .await;
    assert!(!status_text(&app.root).contains("HTTP"));
    api_create_task(&elsewhere, "Made after the switch").await;
    until("the change made after the switch", WAIT, || {
        titles(&app.root).len() == 4
    })
    .await;
    let mut shown = titles(&app.root);
    shown.sort();
    let mut on_server = server_titles(&elsewhere).await;
    on_server.sort();
    assert_eq!(shown, on_server, "the DOM equals the server");
}

#[wasm_bindgen_test]
async fn changes_made_offline_survive_a_reload_and_reach_the_server_once() {
    let username = unique_name("kept");
    let elsewhere = api_register(&username, PASSWORD).await;
    api_create_task(&elsewhere, "Already there").await;
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    until("the task from the server", WAIT, || {
        titles(&app.root).len() == 1
    })
    .await;

    dispatch("offline");
    until("offline", WAIT, || connection(&app.root) == "offline").await;
    add_task(&app.root, "Kept one").await;
    add_task(&app.root, "Kept two").await;
    checkbox(&app.root, "Already there").click();
    until("three changes waiting", WAIT, || {
        pending_rows(&app.root) == 3
    })
    .await;
    // What a closing tab would have had time for: the saves land at once.
    gloo_timers::future::sleep(Duration::from_millis(300)).await;
    drop(app);

    // The reload (online again) sends them; the server shows each once.
    let app = mount_with("/", Api::new(server()));
    until("the kept changes made", WAIT, || {
        titles(&app.root).len() == 3 && pending_rows(&app.root) == 0
    })
    .await;
    let mut on_server = server_titles(&elsewhere).await;
    on_server.sort();
    assert_eq!(on_server, ["Already there", "Kept one", "Kept two"]);
    let (_, body) = api_call("GET", "/api/tasks", &elsewhere, None).await;
    let list: protocol::TaskList = serde_json::from_str(&body).expect("a task list");
    assert!(
        list.items
            .iter()
            .any(|task| task.title == "Already there" && task.done),
        "the toggle made offline reached the server"
    );

    // Nothing is kept once sent: another reload sends nothing again.
    drop(app);
    let app = mount_with("/", Api::new(server()));
    until("the board after a second reload", WAIT, || {
        titles(&app.root).len() == 3 && connection(&app.root) == "live"
    })
    .await;
    gloo_timers::future::sleep(Duration::from_millis(500)).await;
    assert_eq!(server_titles(&elsewhere).await.len(), 3);
    assert_eq!(pending_rows(&app.root), 0);
}

/// The unsent-changes panel goes the moment the connection is back, with the focus if
/// it was on `Discard unsent changes`: the focus goes to `New task`, not the top of the
/// page.
#[wasm_bindgen_test]
async fn focus_in_the_unsent_changes_goes_to_new_task_when_they_are_sent() {
    let username = unique_name("panel");
    api_register(&username, PASSWORD).await;
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    dispatch("offline");
    until("offline", WAIT, || connection(&app.root) == "offline").await;
    add_task(&app.root, "Sent later").await;
    let panel = until_found("the unsent changes", WAIT, || {
        by_role(&app.root, "region", "Unsent changes")
    })
    .await;
    button(&panel, "Discard unsent changes")
        .expect("Discard")
        .focus()
        .expect("focusable");
    dispatch("online");
    let new_task = support::field(&app.root, "New task").expect("New task");
    until("the panel gone, focus on New task", RECONNECT, || {
        by_role(&app.root, "region", "Unsent changes").is_none() && is_focused(&new_task)
    })
    .await;
}

/// A session that ends without the person signing out here (they signed out everywhere
/// from another device) keeps the changes not sent yet: the next sign-in makes them.
#[wasm_bindgen_test]
async fn changes_kept_when_the_session_ends_elsewhere_are_made_at_the_next_sign_in() {
    let username = unique_name("ended");
    let elsewhere = api_register(&username, PASSWORD).await;
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    dispatch("offline");
    until("offline", WAIT, || connection(&app.root) == "offline").await;
    add_task(&app.root, "Made offline").await;
    until("the change waiting", WAIT, || pending_rows(&app.root) == 1).await;
    // What a closing tab would have had time for: the save lands at once.
    gloo_timers::future::sleep(Duration::from_millis(300)).await;

    let (status, _) = api_call("POST", "/api/logout-all", &elsewhere, None).await;
    assert_eq!(status, 204);
    dispatch("online");
    until("the sign-in page", RECONNECT, || location() == "/login").await;
    sign_in(&app.root, &username, PASSWORD).await;
    let again = api_login(&username, PASSWORD).await;
    let mut made = Vec::new();
    for _ in 0..50 {
        made = server_titles(&again).await;
        if !made.is_empty() {
            break;
        }
        gloo_timers::future::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(made, ["Made offline"]);
}

/// A saved record this app cannot read (damaged, or from another version of the app)
/// belonging to a closed tab is left as it is: the app carries on, and its own saves
/// delete nothing of it.
#[wasm_bindgen_test]
async fn a_saved_record_that_cannot_be_read_is_left_as_it_is() {
    use taskwire::saved_changes::RecordKey;
    let (username, _, me) = registered("unread").await;
    let closed_tab = support::random_uuid();
    let damaged = r#"[{"method":"clear_done","sends":0},{"method":"move","sends":0}]"#;
    plant(me, closed_tab, damaged).await;

    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    add_task(&app.root, "Made here").await;
    until_confirmed(&app.root).await;
    // Saves land at once; give them the moment a closing tab would have.
    gloo_timers::future::sleep(Duration::from_millis(300)).await;
    drop(app);
    let key = RecordKey {
        user: me,
        tab: closed_tab,
    };
    assert_eq!(kept_by(me, closed_tab).await, [(key, damaged.to_owned())]);
}

/// A closed tab's kept change, taken over at sign-in, while the first save fails (the
/// storage full): the change is made once, and its record still goes with the next save
/// that lands, rather than staying to be taken over, and made, again.
#[wasm_bindgen_test]
async fn a_closed_tabs_record_goes_even_when_the_first_save_fails() {
    let (username, token, me) = registered("full").await;
    let closed_tab = support::random_uuid();
    let kept = format!(
        r#"[{{"method":"create","sends":0,"id":"{}","title":"Kept elsewhere"}}]"#,
        support::random_uuid()
    );
    plant(me, closed_tab, &kept).await;
    // The next write of a record fails, once, as on a full disk.
    js_sys::Function::new_no_args(
        "const proto = IDBObjectStore.prototype; const put = proto.put; \
         proto.put = function () { proto.put = put; \
         throw new DOMException('the disk is full', 'QuotaExceededError'); };",
    )
    .call0(&wasm_bindgen::JsValue::NULL)
    .expect("put made to fail once");

    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    until("the kept change made", WAIT, || {
        titles(&app.root) == ["Kept elsewhere"] && pending_rows(&app.root) == 0
    })
    .await;
    assert_eq!(server_titles(&token).await, ["Kept elsewhere"]);
    gloo_timers::future::sleep(Duration::from_millis(300)).await;
    let left = kept_by(me, closed_tab).await;
    assert!(left.is_empty(), "{left:?}");
}

/// Changes a tab of this browser closed since this one signed in keeps go with a sign-out
/// here too: the question counts them (not those of a tab still open, which keeps them in
/// memory), staying keeps them, and signing out anyway deletes them.
#[wasm_bindgen_test]
async fn signing_out_counts_the_changes_other_tabs_keep() {
    let (username, _, me) = registered("others").await;
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    until("live", WAIT, || connection(&app.root) == "live").await;
    let other_tab = support::random_uuid();
    let kept = format!(
        r#"[{{"method":"create","sends":0,"id":"{}","title":"Kept by another tab"}}]"#,
        support::random_uuid()
    );
    plant(me, other_tab, &kept).await;
    let left = || async { kept_by(me, other_tab).await.len() };
    // A tab still open keeps its changes in memory, and saves them again: not counted.
    let live_tab = support::random_uuid();
    let live = support::open_tab(live_tab).await;
    plant(me, live_tab, &kept).await;

    button(&app.root, "Sign out").expect("Sign out").click();
    let dialog = until_found("the question", WAIT, || {
        by_role(&app.root, "alertdialog", "Sign out?")
    })
    .await;
    assert!(
        text_of(&dialog).contains("1 change not sent yet, kept by a closed tab"),
        "{}",
        text_of(&dialog)
    );
    button(&dialog, "Stay").expect("Stay").click();
    assert_eq!(left().await, 1, "staying keeps it");

    button(&app.root, "Sign out").expect("Sign out").click();
    let dialog = until_found("the question again", WAIT, || {
        by_role(&app.root, "alertdialog", "Sign out?")
    })
    .await;
    button(&dialog, "Sign out anyway")
        .expect("Sign out anyway")
        .click();
    until("the sign-in page", WAIT, || location() == "/login").await;
    gloo_timers::future::sleep(Duration::from_millis(300)).await;
    assert_eq!(left().await, 0, "signing out anyway deletes it");
    support::close_tab(live).await;
}

#[wasm_bindgen_test]
async fn signing_out_with_changes_not_sent_asks_first_and_leaves_nothing_behind() {
    let username = unique_name("ask");
    let elsewhere = api_register(&username, PASSWORD).await;
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    dispatch("offline");
    until("offline", WAIT, || connection(&app.root) == "offline").await;
    add_task(&app.root, "Not sent").await;

    let sign_out = button(&app.root, "Sign out").expect("Sign out");
    sign_out.focus().expect("focusable");
    sign_out.click();
    let dialog = until_found("the question", WAIT, || {
        by_role(&app.root, "alertdialog", "Sign out?")
    })
    .await;
    assert!(
        text_of(&dialog).contains("1 change not sent yet"),
        "{}",
        text_of(&dialog)
    );
    // The question takes the focus; staying gives it back to Sign out, as Escape does.
    let stay = button(&dialog, "Stay").expect("Stay");
    until("focus on Stay", WAIT, || is_focused(&stay)).await;
    stay.click();
    until("the question gone, focus back", WAIT, || {
        by_role(&app.root, "alertdialog", "Sign out?").is_none() && is_focused(&sign_out)
    })
    .await;
    sign_out.click();
    let dialog = until_found("the question", WAIT, || {
        by_role(&app.root, "alertdialog", "Sign out?")
    })
    .await;
    press(&dialog, "Escape");
    until("the question gone by Escape, focus back", WAIT, || {
        by_role(&app.root, "alertdialog", "Sign out?").is_none() && is_focused(&sign_out)
    })
    .await;
    assert_eq!(location(), "/");
    assert_eq!(pending_rows(&app.root), 1, "the change still waits");

    button(&app.root, "Sign out").expect("Sign out").click();
    let dialog = until_found("the question again", WAIT, || {
        by_role(&app.root, "alertdialog", "Sign out?")
    })
    .await;
    button(&dialog, "Sign out anyway")
        .expect("Sign out anyway")
        .click();
    until("the sign-in page", WAIT, || location() == "/login").await;
    drop(app);

    // Signing in again brings nothing back, and nothing reached the server.
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    until("an empty board", WAIT, || {
        text_of(&app.root).contains("No tasks yet")
    })
    .await;
    gloo_timers::future::sleep(Duration::from_millis(500)).await;
    assert!(titles(&app.root).is_empty());
    assert!(server_titles(&elsewhere).await.is_empty());
}

#[wasm_bindgen_test]
async fn a_sign_out_the_server_cannot_hear_ends_the_session_once_it_can() {
    let username = unique_name("owed");
    api_register(&username, PASSWORD).await;
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    // Another tab of the same session, to see the server end it.
    let tab = Tab::restored(Api::new(server())).await;

    control("stop").await;
    button(&app.root, "Sign out").expect("Sign out").click();
    until("the sign-in page saying why", WAIT, || {
        location() == "/login" && text_of(&app.root).contains("will end on the server")
    })
    .await;
    assert_eq!(stored(OWED).as_deref(), Some("1"));
    assert_no_token_stored();

    // Back online: the owed sign-out ends the session on the server, and with it the
    // other tab's.
    control("start").await;
    dispatch("online");
    until("the sign-out settled", RECONNECT, || stored(OWED).is_none()).await;
    until("the other tab signed out by the server", RECONNECT, || {
        tab.tw.user().get_untracked().is_none()
    })
    .await;
    drop(tab);
    drop(app);
    // A page load finds no session to restore.
    let app = mount_with("/", Api::new(server()));
    until("the sign-in page", WAIT, || location() == "/login").await;
    drop(app);
}

/// `Sign out everywhere` while the server cannot hear it: once it can, every session of
/// the person ends, not only this browser's.
#[wasm_bindgen_test]
async fn signing_out_everywhere_offline_ends_every_session_once_the_server_hears() {
    let username = unique_name("owedall");
    api_register(&username, PASSWORD).await;
    let app = mount_with("/login", Api::new(server()));
    sign_in(&app.root, &username, PASSWORD).await;
    // A session on another device.
    let elsewhere = api_login(&username, PASSWORD).await;

    control("stop").await;
    button(&app.root, "Sign out everywhere")
        .expect("Sign out everywhere")
        .click();
    until("the sign-in page saying why", WAIT, || {
        location() == "/login" && text_of(&app.root).contains("will end on the server")
    })
    .await;
    assert_no_token_stored();
    // A sign-in would replace the cookie the debt is to be settled with: it waits.
    fill_and_submit(&app.root, "Sign in", &username, PASSWORD).await;
    until("the sign-in refused, saying why", WAIT, || {
        text_of(&app.root).contains("Signing out everywhere has not reached the server yet")
    })
    .await;
    assert!(
        stored(OWED).is_some_and(|owed| owed.starts_with("everywhere:")),
        "{:?}",
        stored(OWED)
    );

    control("start").await;
    dispatch("online");
    until("the sign-out settled", RECONNECT, || stored(OWED).is_none()).await;
    let (status, body) = api_call("GET", "/api/me", &elsewhere, None).await;
    assert_eq!(status, 401, "the other device's session ended too: {body}");
    drop(app);
    let app = mount_with("/", Api::new(server()));
    until("the sign-in page", WAIT, || location() == "/login").await;
    drop(app);
}

#[wasm_bindgen_test]
async fn signing_out_with_an_expired_access_token_ends_the_session() {
    let username = unique_name("exp");
    let app = mount_with("/login", Api::new(short_ttl_server()));
    until_found("Create one", WAIT, || button(&app.root, "Create one"))
        .await
        .click();
    fill_and_submit(&app.root, "Create account", &username, PASSWORD).await;
    until("live", WAIT, || connection(&app.root) == "live").await;
    // Offline, the app does not refresh its four-second token: it expires.
    dispatch("offline");
    let tab = Tab::restored(Api::new(short_ttl_server())).await;
    gloo_timers::future::sleep(Duration::from_secs(5)).await;

    button(&app.root, "Sign out").expect("Sign out").click();
    until("the sign-in page", WAIT, || location() == "/login").await;
    until("the other tab signed out by the server", WAIT, || {
        tab.tw.user().get_untracked().is_none()
    })
    .await;
    assert!(stored(OWED).is_none(), "the server heard it: nothing owed");
}

/// Another tab signs in as someone else (or an admin there acts as someone): the refresh
/// cookie the tabs share now signs in that person. When this tab's session ends, its
/// refresh answers for them; it must not carry on as them, sending its changes as theirs
/// and showing their boards. Its own session has ended, as a 401 would say.
#[wasm_bindgen_test]
async fn a_refresh_that_answers_for_someone_else_ends_this_tabs_session() {
    let (ann, bob) = (unique_name("ann"), unique_name("bob"));
    api_register(&ann, PASSWORD).await;
    api_register(&bob, PASSWORD).await;
    let anns = login_keeping_cookie(&ann, PASSWORD).await;
    let tab = Tab::restored(Api::new(server())).await;
    let name = move || tab.tw.user().get_untracked().map(|user| user.username);
    assert_eq!(name(), Some(ann.clone()));
    login_keeping_cookie(&bob, PASSWORD).await;
    // Ann's session ends elsewhere: this tab's socket is closed (4401), and its refresh
    // presents Bob's cookie.
    let (status, _) = api_call("POST", "/api/logout", &anns, None).await;
    assert_eq!(status, 204);
    until("this tab signed out, not signed in as Bob", WAIT, || {
        assert_ne!(name(), Some(bob.clone()), "this tab became Bob");
        name().is_none()
    })
    .await;
}

// ---- helpers

/// A second tab of the page's session, restored from the refresh cookie, without pages.
struct Tab {
    tw: Taskwire,
    owner: Owner,
}

impl Tab {
    async fn restored(api: Api) -> Self {
        let owner = Owner::new();
        let tw = owner.with(|| Taskwire::provide_with(api, &[("tasks", Config::default())]));
        until("the other tab live", WAIT, || {
            tw.user().get_untracked().is_some()
                && tw.status().get_untracked().state == ConnectionState::Live
        })
        .await;
        Self { tw, owner }
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        self.owner.cleanup();
    }
}

/// A new person on the server: their name, a token and their id.
async fn registered(prefix: &str) -> (String, String, Uuid) {
    let username = unique_name(prefix);
    let token = api_register(&username, PASSWORD).await;
    let (_, me) = api_call("GET", "/api/me", &token, None).await;
    let me: protocol::User = serde_json::from_str(&me).expect("a user");
    (username, token, me.id)
}

/// Saves `json` as the record of `user`'s changes kept by tab `tab`.
async fn plant(user: Uuid, tab: Uuid, json: &str) {
    taskwire::saved_changes::SavedChanges::with_tab(user, tab)
        .await
        .expect("open")
        .save(Some(json), &[])
        .await
        .expect("planted");
}

/// The records tab `tab` would find for `user`.
async fn kept_by(user: Uuid, tab: Uuid) -> Vec<(taskwire::saved_changes::RecordKey, String)> {
    taskwire::saved_changes::SavedChanges::with_tab(user, tab)
        .await
        .expect("open")
        .load()
        .await
        .expect("load")
}

async fn until_on_http(root: &Element) {
    until("live on the HTTP fallback", RECONNECT, || {
        state_and_transport(root) == ("live".to_owned(), "http".to_owned())
    })
    .await;
}

/// The status element's `data-connection` and `data-transport`.
fn state_and_transport(root: &Element) -> (String, String) {
    let status = root
        .query_selector("[role=status][data-connection]")
        .ok()
        .flatten();
    let attribute = |name: &str| {
        status
            .as_ref()
            .and_then(|status| status.get_attribute(name))
            .unwrap_or_default()
    };
    (attribute("data-connection"), attribute("data-transport"))
}

/// What the status says, as a screen reader names it.
fn status_text(root: &Element) -> String {
    root.query_selector("[role=status]")
        .ok()
        .flatten()
        .map(|status| support::name_of(&status))
        .unwrap_or_default()
}

fn checkbox(root: &Element, title: &str) -> web_sys::HtmlInputElement {
    support::checkbox(root, title).expect("the task's checkbox")
}

fn pending_rows(root: &Element) -> usize {
    rows(root).iter().filter(|row| is_pending(row)).count()
}

async fn server_titles(token: &str) -> Vec<String> {
    let (status, body) = api_call("GET", "/api/tasks", token, None).await;
    assert_eq!(status, 200, "{body}");
    let list: protocol::TaskList = serde_json::from_str(&body).expect("a task list");
    list.items.into_iter().map(|task| task.title).collect()
}

/// A window event, as the browser fires it when the network goes or comes back.
fn dispatch(name: &str) {
    let window = web_sys::window().expect("a window");
    let event = web_sys::Event::new(name).expect("an event");
    window.dispatch_event(&event).expect("dispatched");
}

fn stored(key: &str) -> Option<String> {
    web_sys::window()?
        .local_storage()
        .ok()??
        .get_item(key)
        .ok()?
}

/// Local storage holds no token: only the ids and flags the app keeps there.
fn assert_no_token_stored() {
    let storage = web_sys::window()
        .and_then(|window| window.local_storage().ok().flatten())
        .expect("local storage");
    for i in 0..storage.length().expect("its length") {
        let key = storage.key(i).ok().flatten().expect("a key");
        let value = storage.get_item(&key).ok().flatten().unwrap_or_default();
        assert!(
            !value.contains("eyJ"),
            "a token in storage: {key} = {value}"
        );
    }
}
