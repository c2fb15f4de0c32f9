//! Browser benchmarks of the socket service (`cargo xtask bench`, headless Chromium,
//! release build): time from start to `live` against the real server, and the merge of
//! 10,000 tasks and 1,000 events in wasm. Prints figures with `console_log!` (shown with
//! `--nocapture`); asserts nothing about time.

#![cfg(all(target_arch = "wasm32", feature = "browser-bench"))]

mod support;

use std::time::Duration;

use leptos::prelude::*;
use protocol::Credentials;
use support::{server, unique_name, until};
use taskwire::api::Api;
use taskwire::client::fixtures::MergeFixture;
use taskwire::client::machine::ConnectionState;
use taskwire::taskwire::Taskwire;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const RUNS: usize = 10;
const PASSWORD: &str = "correct horse battery";

fn summary(mut times: Vec<f64>) -> String {
    times.sort_by(f64::total_cmp);
    format!(
        "{} runs, min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    )
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|window| window.performance())
        .map(|performance| performance.now())
        .unwrap_or_else(js_sys::Date::now)
}

#[wasm_bindgen_test]
async fn time_to_live_against_the_real_server() {
    let username = unique_name("bench");
    let api = Api::new(server());
    let credentials = Credentials {
        username: username.clone(),
        password: PASSWORD.to_owned(),
    };
    api.register(&credentials).await.expect("registered");
    let (mut from_login, mut from_session) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let owner = Owner::new();
        let tw = owner.with(|| Taskwire::provide(api.clone()));
        until("restored", Duration::from_secs(10), || {
            !tw.restoring().get_untracked()
        })
        .await;
        let start = now();
        tw.sign_in(username.clone(), PASSWORD.to_owned())
            .await
            .expect("signed in");
        until("live", Duration::from_secs(10), || {
            tw.status().get_untracked().state == ConnectionState::Live
        })
        .await;
        from_login.push(now() - start);
        // The socket alone: reconnect after a drop (offline, online) until live again.
        let window = web_sys::window().expect("a window");
        let offline = web_sys::Event::new("offline").expect("an event");
        let online = web_sys::Event::new("online").expect("an event");
        window.dispatch_event(&offline).expect("dispatched");
        let start = now();
        window.dispatch_event(&online).expect("dispatched");
        until("live again", Duration::from_secs(10), || {
            tw.status().get_untracked().state == ConnectionState::Live
        })
        .await;
        from_session.push(now() - start);
        tw.sign_out().await;
        owner.cleanup();
    }
    console_log!(
        "sign-in (HTTP login + open + auth + subscribe) to live: {}",
        summary(from_login)
    );
    console_log!(
        "socket open + auth + subscribe (replay) to live: {}",
        summary(from_session)
    );
}

#[wasm_bindgen_test]
fn merge_ten_thousand_tasks_and_a_thousand_events_in_wasm() {
    let fixture = MergeFixture::new(10_000, 1_000);
    let (store, rows) = fixture.run();
    console_log!(
        "store merge in wasm: {} rows shown, {rows} row changes",
        store.len()
    );
    let times = (0..RUNS)
        .map(|_| {
            let start = now();
            std::hint::black_box(fixture.run());
            now() - start
        })
        .collect();
    console_log!(
        "store merge in wasm (10,000 tasks + 1,000 events): {}",
        summary(times)
    );
}
