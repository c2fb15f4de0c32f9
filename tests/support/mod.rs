//! What the browser suites share: the real server's address, a fresh mount point at a
//! given path, and waiting for the page to reach a state.

#![allow(dead_code)] // each suite uses its own part of this module

use std::time::Duration;

use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

/// The real server that `cargo xtask test` started for this run, given at compile time.
pub fn server() -> &'static str {
    match option_env!("TASKWIRE_TEST_SERVER") {
        Some(address) => address,
        None => {
            panic!("TASKWIRE_TEST_SERVER is unset: run the browser suites with `cargo xtask test`")
        }
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

/// A username no other test (or earlier run on the same database) has taken.
pub fn unique_name(prefix: &str) -> String {
    let suffix = (js_sys::Math::random() * 1e12) as u64;
    format!("{prefix}-{suffix:x}")
}
