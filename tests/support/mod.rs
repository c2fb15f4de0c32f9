//! What the browser suites share: the real server's address, a fresh mount point at a
//! given path, and waiting for the page to reach a state.

#![allow(dead_code)] // each suite uses its own part of this module

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlButtonElement, HtmlElement, HtmlInputElement};

/// The real server that `cargo xtask test` started for this run, given at compile time.
pub fn server() -> &'static str {
    match option_env!("TASKWIRE_TEST_SERVER") {
        Some(address) => address,
        None => {
            panic!("TASKWIRE_TEST_SERVER is unset: run the browser suites with `cargo xtask test`")
        }
    }
}

/// A second real server whose access tokens live four seconds, for token refresh.
pub fn short_ttl_server() -> &'static str {
    match option_env!("TASKWIRE_TEST_SHORT_TTL_SERVER") {
        Some(address) => address,
        None => panic!(
            "TASKWIRE_TEST_SHORT_TTL_SERVER is unset: run the browser suites with `cargo xtask test`"
        ),
    }
}

/// The server's socket URL (`ws://…/ws`).
pub fn socket_url() -> String {
    format!("{}/ws", server().replacen("http", "ws", 1))
}

/// Moves the page to `path` and gives back an empty element to mount an app in.
pub fn fresh_root(path: &str) -> HtmlElement {
    let window = web_sys::window().expect("a browser window");
    window
        .history()
        .expect("history")
        .push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path))
        .expect("pushState");
    let document = window.document().expect("a document");
    let root = document.create_element("div").expect("a div");
    document
        .body()
        .expect("a body")
        .append_child(&root)
        .expect("append");
    root.dyn_into().expect("an HtmlElement")
}

/// Waits until `ready` holds, failing the test with `what` after `timeout`.
pub async fn until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = js_sys::Date::now();
    while !ready() {
        if js_sys::Date::now() - start > timeout.as_millis() as f64 {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        gloo_timers::future::sleep(Duration::from_millis(20)).await;
    }
}

/// The real server's remote control (`POST /stop`, `/start`, `/restart`).
pub async fn control(action: &str) {
    recover_after_a_failure();
    let Some(base) = option_env!("TASKWIRE_TEST_CONTROL") else {
        panic!("TASKWIRE_TEST_CONTROL is unset: run the browser suites with `cargo xtask test`")
    };
    let response = gloo_net::http::Request::post(&format!("{base}/{action}"))
        .send()
        .await
        .expect("the control endpoint answers");
    assert_eq!(response.status(), 200, "control /{action}");
}

/// The socket double's URL for `path` (`/garbage`, `/silent`).
pub fn faults(path: &str) -> String {
    match option_env!("TASKWIRE_TEST_FAULTS") {
        Some(address) => format!("{address}{path}"),
        None => {
            panic!("TASKWIRE_TEST_FAULTS is unset: run the browser suites with `cargo xtask test`")
        }
    }
}

/// A server that takes every connection and never answers (for HTTP calls).
pub fn unanswering_server() -> &'static str {
    match option_env!("TASKWIRE_TEST_UNANSWERING") {
        Some(address) => address,
        None => panic!(
            "TASKWIRE_TEST_UNANSWERING is unset: run the browser suites with `cargo xtask test`"
        ),
    }
}

/// An API base whose every call is answered with headers and the start of a body, and
/// never the rest.
pub fn stalling_server() -> String {
    format!("{}/stall", unanswering_server())
}

/// An API base whose every call is answered `200` with an HTML page, as a captive portal
/// or a proxy answers in the server's place.
pub fn portal_server() -> String {
    format!("{}/portal", unanswering_server())
}

/// The app's stylesheet in the page (the test page has none), while held.
pub struct AppStyles(Element);

impl AppStyles {
    pub fn add() -> Self {
        let document = web_sys::window()
            .and_then(|window| window.document())
            .expect("a document");
        let style = document.create_element("style").expect("a style element");
        style.set_text_content(Some(include_str!("../../style/main.css")));
        document
            .head()
            .expect("a head")
            .append_child(&style)
            .expect("the styles in the page");
        Self(style)
    }
}

impl Drop for AppStyles {
    fn drop(&mut self) {
        self.0.remove();
    }
}

/// A random id (a tab's, say), from the browser's random source.
pub fn random_uuid() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    web_sys::window()
        .expect("a window")
        .crypto()
        .expect("crypto")
        .get_random_values_with_u8_array(&mut bytes)
        .expect("random bytes");
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A username no other test (or earlier run on the same database) has taken.
pub fn unique_name(prefix: &str) -> String {
    let suffix = (js_sys::Math::random() * 1e12) as u64;
    format!("{prefix}-{suffix:x}")
}

/// Waits until `find` gives something, and gives it back.
pub async fn until_found<T>(
    what: &str,
    timeout: Duration,
    mut find: impl FnMut() -> Option<T>,
) -> T {
    let mut found = None;
    until(what, timeout, || {
        found = find();
        found.is_some()
    })
    .await;
    found.expect("found")
}

/// Polls `ready` on every turn of the event loop (not every 20 ms), for states that may
/// last only as long as one request.
pub async fn until_soon(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = js_sys::Date::now();
    while !ready() {
        if js_sys::Date::now() - start > timeout.as_millis() as f64 {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        gloo_timers::future::sleep(Duration::ZERO).await;
    }
}

// ---- Finding elements as a person or a screen reader would: role and accessible name.

/// The element's ARIA role: explicit, or implied by the elements the app uses.
pub fn role_of(element: &Element) -> Option<String> {
    if let Some(role) = element.get_attribute("role") {
        return Some(role);
    }
    let role = match element.tag_name().as_str() {
        "BUTTON" => "button",
        "A" if element.has_attribute("href") => "link",
        "INPUT" => match element.get_attribute("type").as_deref() {
            Some("checkbox") => "checkbox",
            Some("button" | "submit" | "reset") => "button",
            _ => "textbox",
        },
        "UL" | "OL" => "list",
        "LI" => "listitem",
        "H1" | "H2" | "H3" | "H4" | "H5" | "H6" => "heading",
        "NAV" => "navigation",
        "MAIN" => "main",
        "SECTION" if element.has_attribute("aria-label") => "region",
        "ASIDE" => "complementary",
        "DIALOG" => "dialog",
        "SELECT" => "combobox",
        _ => return None,
    };
    Some(role.to_owned())
}

/// The accessible name, following the parts of the computation the app relies on:
/// `aria-label`, `aria-labelledby`, an enclosing or `for` label, then the text.
pub fn name_of(element: &Element) -> String {
    if let Some(label) = element.get_attribute("aria-label") {
        return squash(&label);
    }
    let document = element.owner_document().expect("a document");
    if let Some(ids) = element.get_attribute("aria-labelledby") {
        let text: Vec<String> = ids
            .split_whitespace()
            .filter_map(|id| document.get_element_by_id(id))
            .map(|e| e.text_content().unwrap_or_default())
            .collect();
        return squash(&text.join(" "));
    }
    if element.tag_name() == "INPUT" {
        let label = element.closest("label").ok().flatten().or_else(|| {
            let id = element.id();
            (!id.is_empty())
                .then(|| {
                    document
                        .query_selector(&format!("label[for=\"{id}\"]"))
                        .ok()
                        .flatten()
                })
                .flatten()
        });
        return label.map(|l| text_of(&l)).unwrap_or_default();
    }
    text_of(element)
}

/// Visible text with runs of white space as one space.
pub fn text_of(element: &Element) -> String {
    squash(&element.text_content().unwrap_or_default())
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Hidden elements (and those inside hidden ones) are not there for a person.
pub fn is_shown(element: &Element) -> bool {
    element.closest("[hidden]").ok().flatten().is_none()
}

/// Every shown element under `root` with `role`.
pub fn all_by_role(root: &Element, role: &str) -> Vec<Element> {
    let nodes = root.query_selector_all("*").expect("querySelectorAll");
    (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok())
        .filter(|e| role_of(e).as_deref() == Some(role) && is_shown(e))
        .collect()
}

/// The shown element under `root` with `role` and accessible name `name`.
pub fn by_role(root: &Element, role: &str, name: &str) -> Option<Element> {
    all_by_role(root, role)
        .into_iter()
        .find(|e| name_of(e) == name)
}

/// The shown element under `root` with `role` whose accessible name starts with `prefix`.
pub fn by_role_starting(root: &Element, role: &str, prefix: &str) -> Option<Element> {
    all_by_role(root, role)
        .into_iter()
        .find(|e| name_of(e).starts_with(prefix))
}

/// The text field labelled `label`.
pub fn field(root: &Element, label: &str) -> Option<HtmlInputElement> {
    by_role(root, "textbox", label).and_then(|e| e.dyn_into().ok())
}

pub fn button(root: &Element, name: &str) -> Option<HtmlButtonElement> {
    by_role(root, "button", name).and_then(|e| e.dyn_into().ok())
}

pub fn checkbox(root: &Element, name: &str) -> Option<HtmlInputElement> {
    by_role(root, "checkbox", name).and_then(|e| e.dyn_into().ok())
}

// ---- Acting on the page.

/// Types `text` into `input` as a replacement of its value, firing `input` as typing does.
pub fn type_text(input: &HtmlInputElement, text: &str) {
    input.focus().expect("focus");
    input.set_value(text);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an input event");
    input.dispatch_event(&event).expect("dispatch input");
}

/// Presses `key` (e.g. "Enter", "Escape") on `element`.
pub fn press(element: &Element, key: &str) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("a keydown event");
    element.dispatch_event(&event).expect("dispatch keydown");
}

pub fn double_click(element: &Element) {
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_detail(2);
    let event = web_sys::MouseEvent::new_with_mouse_event_init_dict("dblclick", &init)
        .expect("a dblclick event");
    element.dispatch_event(&event).expect("dispatch dblclick");
}

/// A press and release of the mouse on `element`, as a browser does it: the press
/// moves the focus there unless a handler prevents it, and the click comes on release
/// (here after `held`) to the element pressed, if it is still in the page. Returns
/// whether it was.
pub async fn mouse_click(element: &HtmlElement, held: Duration) -> bool {
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    let down = web_sys::MouseEvent::new_with_mouse_event_init_dict("mousedown", &init)
        .expect("a mousedown event");
    if element.dispatch_event(&down).expect("dispatch mousedown") {
        element.focus().expect("focusable");
    }
    gloo_timers::future::sleep(held).await;
    if !element.is_connected() {
        return false;
    }
    element.click();
    true
}

pub fn click(element: &Element) {
    element
        .dyn_ref::<HtmlElement>()
        .expect("an HTML element")
        .click();
}

/// The page's path and query, as the router keeps them.
pub fn location() -> String {
    let location = web_sys::window().expect("a window").location();
    format!(
        "{}{}",
        location.pathname().expect("pathname"),
        location.search().expect("search")
    )
}

/// An app mounted for a test, standing for one browser tab; when dropped, its view is
/// unmounted, its whole reactive tree disposed (sockets closed, listeners such as the
/// router's removed) and its element taken off the page.
pub struct Mounted {
    pub root: HtmlElement,
    parts: Rc<RefCell<Option<MountedParts>>>,
}

struct MountedParts {
    root: HtmlElement,
    owner: leptos::prelude::Owner,
    app: Box<dyn std::any::Any>,
}

impl MountedParts {
    fn unmount(self) {
        drop(self.app);
        // Whatever still holds the app's owner (a pending future, say), its cleanups run
        // now: a leftover router would otherwise take the next test's link clicks.
        self.owner.cleanup();
        self.root.remove();
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(parts) = self.parts.borrow_mut().take() {
            parts.unmount();
        }
    }
}

thread_local! {
    /// Every app mounted and not yet unmounted, so a failed test's can be found.
    static MOUNTED: RefCell<Vec<Rc<RefCell<Option<MountedParts>>>>> = const { RefCell::new(Vec::new()) };
    /// Set by a test's panic, cleared once what it left is cleaned up.
    static FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic in wasm unwinds nothing: a failed test's apps stay mounted (their routers
/// take the next test's link clicks) and the server stays stopped if the test stopped
/// it, so one failure would fail every test after it. Once a test has failed, the
/// server is started before the failure is reported, and the next mount unmounts what
/// the failed test left.
fn recover_after_a_failure() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            FAILED.set(true);
            report(info);
            start_server_now();
        }));
    });
    if FAILED.replace(false) {
        let left: Vec<_> = MOUNTED.with_borrow_mut(std::mem::take);
        for parts in left {
            let taken = parts.borrow_mut().take();
            if let Some(parts) = taken {
                parts.unmount();
            }
        }
    }
    MOUNTED.with_borrow_mut(|mounted| mounted.retain(|parts| parts.borrow().is_some()));
}

/// `POST /start` on the control endpoint, waiting for its answer: a panic hook cannot
/// await, and the next test must find the server up.
fn start_server_now() {
    let Some(base) = option_env!("TASKWIRE_TEST_CONTROL") else {
        return;
    };
    if let Ok(request) = web_sys::XmlHttpRequest::new()
        && request
            .open_with_async("POST", &format!("{base}/start"), false)
            .is_ok()
    {
        let _ = request.send();
    }
}

/// Mounts the app at `path`, talking to the real server.
pub fn mount_at(path: &str) -> Mounted {
    mount_with(path, taskwire::api::Api::new(server()))
}

/// Mounts the app at `path`, talking to `api` (the real server's HTTP API, say, with the
/// socket double's address for its sockets).
pub fn mount_with(path: &str, api: taskwire::api::Api) -> Mounted {
    use leptos::prelude::*;
    recover_after_a_failure();
    let root = fresh_root(path);
    let owner = Owner::new();
    let app = owner.with(|| {
        leptos::mount::mount_to(root.clone(), move || view! { <taskwire::app::App api /> })
    });
    let parts = Rc::new(RefCell::new(Some(MountedParts {
        root: root.clone(),
        owner,
        app: Box::new(app),
    })));
    MOUNTED.with_borrow_mut(|mounted| mounted.push(parts.clone()));
    Mounted { root, parts }
}

// ---- The server's HTTP API, as another device or a script would use it. These
// requests carry no cookies, so they never touch the session of the apps on the page.

pub async fn api_register(username: &str, password: &str) -> String {
    session_token("/api/register", username, password, false).await
}

pub async fn api_login(username: &str, password: &str) -> String {
    session_token("/api/login", username, password, false).await
}

/// Registers like the app would: the browser keeps the refresh cookie, so an app
/// mounted afterwards restores the session.
pub async fn register_keeping_cookie(username: &str, password: &str) -> String {
    session_token("/api/register", username, password, true).await
}

/// Signs in over HTTP keeping the refresh cookie, so that an app mounted next restores
/// this session, as a new tab would.
pub async fn login_keeping_cookie(username: &str, password: &str) -> String {
    session_token("/api/login", username, password, true).await
}

async fn session_token(path: &str, username: &str, password: &str, keep_cookie: bool) -> String {
    let credentials = if keep_cookie {
        web_sys::RequestCredentials::Include
    } else {
        web_sys::RequestCredentials::SameOrigin
    };
    let response = gloo_net::http::Request::post(&format!("{}{path}", server()))
        .credentials(credentials)
        .json(&protocol::Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        })
        .expect("a JSON body")
        .send()
        .await
        .expect("the server answers");
    assert!(response.ok(), "{path} answered {}", response.status());
    let session: protocol::Session = response.json().await.expect("a session");
    session.token
}

/// Sends an authenticated API call and gives back the status and body.
pub async fn api_call(
    method: &str,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let url = format!("{}{path}", server());
    let builder = gloo_net::http::RequestBuilder::new(&url)
        .method(method.parse().expect("an HTTP method"))
        .header("Authorization", &format!("Bearer {token}"));
    let request = match body {
        Some(body) => builder.json(&body).expect("a JSON body"),
        None => builder.build().expect("a request"),
    };
    let response = request.send().await.expect("the server answers");
    (response.status(), response.text().await.unwrap_or_default())
}

/// Creates a task over HTTP; gives back its id.
pub async fn api_create_task(token: &str, title: &str) -> String {
    let (status, body) = api_call(
        "POST",
        "/api/tasks",
        token,
        Some(serde_json::json!({ "title": title })),
    )
    .await;
    assert_eq!(status, 201, "create over HTTP: {body}");
    let task: protocol::Task = serde_json::from_str(&body).expect("a task");
    task.id.to_string()
}

// ---- Sockets the page opens, seen from outside the app.

/// Wraps the page's `WebSocket` constructor to keep every socket made, and every close
/// code they got, in order (installed once per page). The app's own figures keep only
/// the last close; a test may need one a retry has since replaced.
pub fn record_sockets() {
    let install = js_sys::Function::new_no_args(
        "if (!globalThis.__taskwireSockets) {
            const Native = globalThis.WebSocket;
            const made = [];
            const closes = [];
            globalThis.__taskwireSockets = made;
            globalThis.__taskwireCloses = closes;
            globalThis.WebSocket = class extends Native {
                constructor(...args) {
                    super(...args);
                    made.push(this);
                    this.addEventListener('close', (event) => closes.push(event.code));
                }
            };
        }",
    );
    install
        .call0(&wasm_bindgen::JsValue::NULL)
        .expect("installing the recorder");
}

fn recorded(name: &str) -> js_sys::Array {
    let list = js_sys::Reflect::get(&js_sys::global(), &name.into()).expect("the recorder");
    js_sys::Array::from(&list)
}

/// Every socket the page made since `record_sockets`.
pub fn sockets() -> Vec<web_sys::WebSocket> {
    recorded("__taskwireSockets")
        .iter()
        .map(|s| s.unchecked_into())
        .collect()
}

/// Every close code those sockets got, in order.
pub fn close_codes() -> Vec<u16> {
    recorded("__taskwireCloses")
        .iter()
        .filter_map(|code| code.as_f64())
        .map(|code| code as u16)
        .collect()
}

// ---- The gate: the real server's socket behind a proxy that refuses WebSocket upgrades.

/// The gate's `http://` address, from `cargo xtask test`.
fn gate() -> &'static str {
    match option_env!("TASKWIRE_TEST_GATE") {
        Some(address) => address,
        None => {
            panic!("TASKWIRE_TEST_GATE is unset: run the browser suites with `cargo xtask test`")
        }
    }
}

/// The real server's socket behind gate `key` (`ws://…/gate/<key>`): refused as a proxy
/// would refuse it until [`set_gate`] opens the gate, so a test can force the fallback.
pub fn gate_socket_url(key: &str) -> String {
    format!("{}/gate/{key}", gate().replacen("http", "ws", 1))
}

/// Opens or closes gate `key`; closing also cuts the sockets already through it.
pub async fn set_gate(key: &str, open: bool) {
    let action = if open { "open" } else { "close" };
    let response = gloo_net::http::Request::post(&format!("{}/{action}/{key}", gate()))
        .send()
        .await
        .expect("the gate answers");
    assert_eq!(response.status(), 200, "gate /{action}/{key}");
}

// ---- The board's rows, as a person reads them.

/// The rows of the board's `Tasks` list, top to bottom; none while the board is not
/// (yet) on the page.
pub fn rows(root: &Element) -> Vec<Element> {
    match by_role(root, "list", "Tasks") {
        Some(list) if is_shown(&list) => all_by_role(&list, "listitem"),
        _ => Vec::new(),
    }
}

/// The titles on the board, top to bottom, as the checkboxes name them.
pub fn titles(root: &Element) -> Vec<String> {
    rows(root)
        .iter()
        .filter_map(|row| all_by_role(row, "checkbox").first().map(name_of))
        .collect()
}

pub fn task_row(root: &Element, title: &str) -> Option<Element> {
    rows(root)
        .into_iter()
        .find(|row| by_role(row, "checkbox", title).is_some())
}

/// The row shows a change the server has not confirmed yet.
pub fn is_pending(row: &Element) -> bool {
    row.get_attribute("data-pending").as_deref() == Some("true")
}

/// Waits until the server has confirmed every change on the board.
pub async fn until_confirmed(root: &Element) {
    until("every change confirmed", Duration::from_secs(10), || {
        rows(root).iter().all(|row| !is_pending(row))
    })
    .await;
}

// ---- Signing in and the board, through the pages, as a person does.

/// The password every suite's accounts use.
pub const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(10);

/// The one status element; `None` if there is none, or more than one.
pub fn the_status(root: &Element) -> Option<Element> {
    match all_by_role(root, "status").as_slice() {
        [status] => Some(status.clone()),
        _ => None,
    }
}

pub fn status(root: &Element) -> Element {
    the_status(root).expect("one status element")
}

/// The status's `data-connection`; empty while there is not exactly one status.
pub fn connection(root: &Element) -> String {
    the_status(root)
        .and_then(|status| status.get_attribute("data-connection"))
        .unwrap_or_default()
}

pub async fn until_live_within(root: &Element, timeout: Duration) {
    until("the connection live", timeout, || {
        connection(root) == "live"
    })
    .await;
}

pub async fn until_live(root: &Element) {
    until_live_within(root, WAIT).await;
}

pub fn is_focused(element: &Element) -> bool {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    document.active_element().as_ref() == Some(element)
}

pub async fn fill_and_submit(root: &Element, action: &str, username: &str, password: &str) {
    let submit = until_found("the form", WAIT, || {
        button(root, action).filter(|b| !b.disabled())
    })
    .await;
    type_text(&field(root, "Username").expect("Username"), username);
    type_text(&field(root, "Password").expect("Password"), password);
    submit.click();
}

pub async fn create_account(root: &Element, username: &str) {
    until_found("Create one", WAIT, || button(root, "Create one"))
        .await
        .click();
    fill_and_submit(root, "Create account", username, PASSWORD).await;
}

/// Signs in with the form and waits for the board, live (over a socket or the HTTP
/// fallback: the connection follows the sign-in).
pub async fn sign_in(root: &Element, username: &str, password: &str) {
    fill_and_submit(root, "Sign in", username, password).await;
    until("the board at /", WAIT, || location() == "/").await;
    until_live(root).await;
}

/// A new account, signed in through the form, on a live board.
pub async fn signed_in_board() -> (Mounted, String) {
    let app = mount_at("/login");
    let username = unique_name("u");
    create_account(&app.root, &username).await;
    until("the board at /", WAIT, || location() == "/").await;
    until_live(&app.root).await;
    (app, username)
}

/// Types `title` into `New task`, presses Enter, and gives back the new row.
pub async fn add_task(root: &Element, title: &str) -> Element {
    let input = field(root, "New task").expect("a New task field");
    type_text(&input, title);
    press(&input, "Enter");
    until_found(&format!("the row {title:?}"), WAIT, || {
        task_row(root, title)
    })
    .await
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
// Holds the Web Lock `name` as another tab's page would; resolves, once held, to the
// function that closes that tab, which resolves once the lock is free.
export function hold(name) {
  return new Promise((held) => {
    const released = navigator.locks.request(name, () =>
      new Promise((release) => held(() => { release(); return released; })));
  });
}
"#)]
extern "C" {
    fn hold(name: &str) -> js_sys::Promise;
}

/// The Web Lock a tab of the app holds for its life.
pub fn lock_name(tab: uuid::Uuid) -> String {
    format!("taskwire.tab.{tab}")
}

/// Another tab, open: holds its lock until the returned function closes it.
pub async fn open_tab(tab: uuid::Uuid) -> js_sys::Function {
    wasm_bindgen_futures::JsFuture::from(hold(&lock_name(tab)))
        .await
        .expect("the lock")
        .into()
}

/// Closes a tab `open_tab` opened, once its lock is free.
pub async fn close_tab(tab: js_sys::Function) {
    let released = tab
        .call0(&wasm_bindgen::JsValue::UNDEFINED)
        .expect("release");
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(released))
        .await
        .expect("released");
}
