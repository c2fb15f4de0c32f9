//! The app shell in a real browser: it mounts, the router picks the page, and the page
//! can reach the real server over HTTP and WebSocket.

#![cfg(target_arch = "wasm32")]

mod support;

use std::time::Duration;

use support::{Mounted, by_role, location, mount_with, server, socket_url, until};
use taskwire::api::Api;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const WAIT: Duration = Duration::from_secs(5);

#[wasm_bindgen_test]
async fn the_login_route_shows_the_sign_in_page() {
    let app = mount_on_own_origin("/login");
    let root = &app.root;
    until("a Sign in heading", WAIT, || {
        root.query_selector("h1")
            .ok()
            .flatten()
            .and_then(|h| h.text_content())
            .is_some_and(|t| t == "Sign in")
    })
    .await;
}

#[wasm_bindgen_test]
async fn an_unknown_path_shows_not_found_with_a_link_home() {
    let app = mount_on_own_origin("/no/such/page");
    let root = &app.root;
    until("a Not found heading", WAIT, || {
        root.text_content().is_some_and(|t| t.contains("Not found"))
    })
    .await;
    let link: web_sys::HtmlElement = by_role(root, "link", "Go to your tasks")
        .expect("a link home on the Not found page")
        .dyn_into()
        .expect("an HTML element");
    assert_eq!(link.get_attribute("href").as_deref(), Some("/"));
    // Followed with no session, home sends the person on to sign in.
    link.click();
    until("the sign-in page", WAIT, || location() == "/login").await;
}

/// The app as `main` mounts it, talking to the page's own origin. Unmounted (router and
/// all) when dropped: the router follows link clicks anywhere in the window, so one left
/// behind would take the next test's.
fn mount_on_own_origin(path: &str) -> Mounted {
    mount_with(path, Api::new(""))
}

#[wasm_bindgen_test]
async fn the_real_server_answers_healthz_over_fetch() {
    let response = gloo_net::http::Request::get(&format!("{}/healthz", server()))
        .send()
        .await
        .expect("the server is reachable");
    assert_eq!(response.status(), 200);
}

#[wasm_bindgen_test]
async fn a_websocket_handshake_with_the_real_server_selects_the_subprotocol() {
    let socket = web_sys::WebSocket::new_with_str(&socket_url(), protocol::SUBPROTOCOL)
        .expect("a WebSocket");
    let opened = js_sys::Promise::new(&mut |resolve, reject| {
        let on_open = Closure::once_into_js(move || resolve.call0(&wasm_bindgen::JsValue::NULL));
        let on_error = Closure::once_into_js(move || reject.call0(&wasm_bindgen::JsValue::NULL));
        socket.set_onopen(Some(on_open.unchecked_ref()));
        socket.set_onerror(Some(on_error.unchecked_ref()));
    });
    wasm_bindgen_futures::JsFuture::from(opened)
        .await
        .expect("the handshake succeeds");
    assert_eq!(socket.protocol(), protocol::SUBPROTOCOL);
    socket.close().expect("close");
}
