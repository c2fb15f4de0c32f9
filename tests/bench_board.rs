//! Browser benchmarks of the board (`cargo xtask bench`, headless Chromium, release
//! build), against the real server:
//!
//! - rendering 10,000 task rows, the app against a plain JavaScript function building
//!   the same markup with the DOM API, in the same place: a `ul.tasks` beside the app's
//!   own list, empty meanwhile, so both lay out under the same styles and
//!   width. Both are timed alike, in turns (neither beside the other's 10,000 rows),
//!   until the rows are in the document and
//!   then until layout, in the task that built them (the app's end is seen by a
//!   MutationObserver, so a paint between the render and a polling timer is not counted
//!   against it); the two parts are printed too;
//! - a 10,000-task snapshot: a new tab's time from mount to every row laid out, against
//!   plain JavaScript fetching `GET /api/tasks` and rendering it (in the same place, in
//!   a board showing none of its rows);
//! - the time from an HTTP write to its change in the DOM of a mounted app (p50/p99 of
//!   200 writes), split at the moment the socket frame reaches the page: the part before
//!   is the server and the network, the part after is the app;
//! - the same on the HTTP fallback (the app's socket behind the gate, which refuses it):
//!   a write reaches the app through its long poll;
//! - on the 10,000-task board, the app's part of a rename and of a new task (50 each).
//!
//! Prints figures with `console_log!` (shown with `--nocapture`); asserts nothing about
//! time.

#![cfg(all(target_arch = "wasm32", feature = "browser-bench"))]

mod support;

use std::time::Duration;

use support::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

const TASKS: usize = 10_000;
const RENDER_RUNS: usize = 7;
const WRITES: usize = 200;
/// Renames and new tasks each, timed on the 10,000-task board.
const BIG_BOARD_WRITES: usize = 50;
const PASSWORD: &str = "correct horse battery";

#[wasm_bindgen(inline_js = r#"
// The app's row markup, built the way careful hand-written JavaScript would: DOM calls,
// titles as text.
function row(task) {
  const li = document.createElement("li");
  li.className = task.done ? "task done" : "task";
  li.dataset.taskId = task.id;
  const check = document.createElement("input");
  check.type = "checkbox";
  check.className = "task-check";
  check.setAttribute("aria-label", task.title);
  check.checked = task.done;
  const title = document.createElement("span");
  title.className = "task-title";
  title.textContent = task.title;
  const by = document.createElement("span");
  by.className = "task-by";
  if (task.updated_by) by.textContent = "by " + task.updated_by;
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "icon-button task-edit";
  edit.setAttribute("aria-label", "Edit");
  const del = document.createElement("button");
  del.type = "button";
  del.className = "icon-button danger task-delete";
  del.setAttribute("aria-label", "Delete " + task.title);
  li.append(check, title, by, edit, del);
  return li;
}

let plainList = null;

// Renders the rows in a list of the app's markup just after `anchor` (the app's own
// list), and gives back [ms until the rows are in the document, ms until laid out].
export function render_plain(anchor, tasks) {
  const start = performance.now();
  const list = document.createElement("ul");
  list.className = "tasks";
  list.setAttribute("aria-label", "Plain tasks");
  const fragment = document.createDocumentFragment();
  for (const task of tasks) fragment.appendChild(row(task));
  list.appendChild(fragment);
  anchor.after(list);
  plainList = list;
  const built = performance.now() - start;
  void list.offsetHeight;
  return [built, performance.now() - start];
}

export function remove_plain() {
  plainList?.remove();
  plainList = null;
}

export async function fetch_tasks(base, token) {
  const response = await fetch(base + "/api/tasks", {
    headers: { Authorization: "Bearer " + token },
  });
  return (await response.json()).items;
}

// Gives back [ms until the tasks are fetched and parsed, ms until rendered and laid out].
export async function fetch_and_render(base, token, anchor) {
  const start = performance.now();
  const tasks = await fetch_tasks(base, token);
  const fetched = performance.now() - start;
  render_plain(anchor, tasks);
  return [fetched, performance.now() - start];
}

export async function seed(base, token, count, parallel) {
  let next = 0;
  async function worker() {
    while (next < count) {
      const n = next++;
      const response = await fetch(base + "/api/tasks", {
        method: "POST",
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
        body: JSON.stringify({ title: "Task " + String(n).padStart(5, "0") }),
      });
      if (response.status !== 201) throw new Error("seeding answered " + response.status);
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
}

let lastFrame = NaN;
let lastSnapshot = NaN;

// Notes when each socket frame, and each snapshot, reaches the page, before the app's own
// handler runs (a listener added in the constructor precedes the `onmessage` the app
// sets later).
export function clock_frames() {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        lastFrame = performance.now();
        if (typeof event.data === "string" && event.data.startsWith('{"type":"snapshot"')) {
          lastSnapshot = lastFrame;
        }
      });
    }
  };
  return () => { window.WebSocket = Native; };
}

export function last_frame() {
  return lastFrame;
}

export function last_snapshot() {
  return lastSnapshot;
}

// Resolves with [the time at which the task list in `root` holds `count` rows, the time
// they are laid out], or with null after `timeout` ms. Checked on each change under
// `root`, in the task that made it, so the app is timed like the plain page (until
// layout, before any paint), not until a later turn.
export function when_rows(root, count, timeout) {
  const list = () => root.querySelector('ul[aria-label="Tasks"]');
  return new Promise((resolve) => {
    const done = () => {
      const built = performance.now();
      void list().offsetHeight;
      resolve([built, performance.now()]);
    };
    if (list()?.childElementCount === count) return done();
    const observer = new MutationObserver(() => {
      if (list()?.childElementCount === count) {
        observer.disconnect();
        clearTimeout(timer);
        done();
      }
    });
    const timer = setTimeout(() => {
      observer.disconnect();
      resolve(null);
    }, timeout);
    observer.observe(root, { childList: true, subtree: true });
  });
}

// Resolves with the time at which a checkbox named `label` is in `root`.
export function when_labelled(root, label) {
  // One native query, so that watching costs little even beside 10,000 rows.
  const selector = 'input[type=checkbox][aria-label="' + CSS.escape(label) + '"]';
  const present = () => root.querySelector(selector) !== null;
  return new Promise((resolve) => {
    if (present()) return resolve(performance.now());
    const observer = new MutationObserver(() => {
      if (present()) {
        observer.disconnect();
        resolve(performance.now());
      }
    });
    observer.observe(root, { subtree: true, childList: true, attributes: true });
  });
}
"#)]
extern "C" {
    fn render_plain(anchor: &Element, tasks: &JsValue) -> Vec<f64>;
    fn remove_plain();
    fn fetch_tasks(base: &str, token: &str) -> js_sys::Promise;
    fn fetch_and_render(base: &str, token: &str, anchor: &Element) -> js_sys::Promise;
    fn seed(base: &str, token: &str, count: usize, parallel: usize) -> js_sys::Promise;
    fn when_labelled(root: &Element, label: &str) -> js_sys::Promise;
    fn when_rows(root: &Element, count: usize, timeout_ms: u32) -> js_sys::Promise;
    fn clock_frames() -> js_sys::Function;
    fn last_frame() -> f64;
    fn last_snapshot() -> f64;
}

#[wasm_bindgen_test]
async fn rendering_10000_tasks_against_plain_javascript() {
    // Rows are laid out as people see them: unstyled, every icon would be a 300 by 150
    // box, and layout would be most of what is timed.
    let _styles = AppStyles::add();
    let (username, token) = register_with_cookie().await;
    // Seeded under a filter that shows none of the new tasks, so the 10,000 live events
    // do not each re-render a growing list (that is not what is measured here).
    let app = mount_at("/?filter=completed");
    until_text(&app.root, "0 items left", Duration::from_secs(20)).await;
    let start = now();
    JsFuture::from(seed(server(), &token, TASKS, 64))
        .await
        .expect("seeded");
    let seeded = now() - start;
    until_text(&app.root, "10000 items left", Duration::from_secs(120)).await;
    console_log!(
        "{TASKS} tasks created over HTTP in {seeded:.0} ms; the open board counted them all \
         after {:.0} ms ({username})",
        now() - start
    );
    click_link(&app.root, "All");
    until_rows(&app.root, TASKS, Duration::from_secs(60)).await;

    // From memory: the filter hides every row (none is done), then shows them again.
    // The plain page renders in turn under the same conditions, beside the app's list
    // while it is empty (filter "Completed"), and the plain list is gone while the app
    // renders, so neither lays out beside the other's rows.
    let tasks = JsFuture::from(fetch_tasks(server(), &token))
        .await
        .expect("the tasks");
    let list = task_list(&app.root).expect("the task list");
    let (mut app_times, mut js_times) = (Times::default(), Times::default());
    let memory_before = wasm_memory_bytes();
    for _ in 0..RENDER_RUNS {
        click_link(&app.root, "Completed");
        until_rows(&app.root, 0, Duration::from_secs(30)).await;
        let shown = when_rows_shown(&app.root);
        let start = now();
        click_link(&app.root, "All");
        let (built, laid_out) = shown.await.expect("the rows shown");
        app_times.push(built - start, laid_out - start);

        click_link(&app.root, "Completed");
        until_rows(&app.root, 0, Duration::from_secs(30)).await;
        // Let the browser settle (and collect) as it does between the app's runs.
        gloo_timers::future::sleep(Duration::ZERO).await;
        let times = render_plain(&list, &tasks);
        js_times.push(times[0], times[1]);
        remove_plain();
        gloo_timers::future::sleep(Duration::ZERO).await;
    }
    report_split("render 10,000 rows from memory", &app_times, &js_times);
    console_log!(
        "  wasm memory: {:.1} MB before the {RENDER_RUNS} renders, {:.1} MB after (it only \
         grows; what the renders leave behind shows here)",
        memory_before / 1e6,
        wasm_memory_bytes() / 1e6
    );
    drop(app);

    // A new tab: restore the session, open the socket, receive the snapshot, render; in
    // turns with the plain page, which renders beside the list of a board that shows
    // none of its rows.
    let board = mount_at("/?filter=completed");
    until_text(&board.root, "10000 items left", Duration::from_secs(20)).await;
    let list = task_list(&board.root).expect("the task list");
    let restore = clock_frames();
    let (mut app_times, mut js_times) = (Times::default(), Times::default());
    for _ in 0..RENDER_RUNS {
        let start = now();
        let tab = mount_at("/");
        let Some((_, laid_out)) = when_rows_shown(&tab.root).await else {
            panic!(
                "snapshot of {TASKS} tasks: not shown within 20 s; the page says: {}",
                text_of(&tab.root).chars().take(300).collect::<String>()
            );
        };
        app_times.push(last_snapshot() - start, laid_out - start);
        drop(tab);
        gloo_timers::future::sleep(Duration::ZERO).await;

        let times = JsFuture::from(fetch_and_render(server(), &token, &list))
            .await
            .expect("fetched and rendered");
        let times = js_sys::Array::from(&times);
        let at = |i| times.get(i).as_f64().unwrap_or(f64::NAN);
        js_times.push(at(0), at(1));
        remove_plain();
        gloo_timers::future::sleep(Duration::ZERO).await;
    }
    drop(board);
    report(
        "10,000-task snapshot, mount to rows laid out (JS: fetch + render)",
        &app_times.laid_out,
        &js_times.laid_out,
    );
    console_log!(
        "  of which until the tasks are at the page: app {:.1} ms (the snapshot frame), \
         plain JavaScript {:.1} ms (fetched and parsed); from there to rows laid out: app \
         {:.1} ms, plain JavaScript {:.1} ms (medians)",
        median(&app_times.midway),
        median(&js_times.midway),
        median(&app_times.laid_out) - median(&app_times.midway),
        median(&js_times.laid_out) - median(&js_times.midway)
    );

    // Writes on the big board, from the socket frame to the DOM of an app showing all of
    // it: a rename touches one row; a new task also goes through the keyed list.
    let app = mount_at("/");
    until_rows(&app.root, TASKS, Duration::from_secs(60)).await;
    let id = api_create_task(&token, "big-r0").await;
    JsFuture::from(when_labelled(&app.root, "big-r0"))
        .await
        .expect("the task shown");
    let path = format!("/api/tasks/{id}");
    let (mut renames, mut creates) = (Vec::new(), Vec::new());
    for i in 1..=BIG_BOARD_WRITES {
        let title = format!("big-r{i}");
        let shown = JsFuture::from(when_labelled(&app.root, &title));
        let body = serde_json::json!({ "title": title });
        assert_eq!(api_call("PATCH", &path, &token, Some(body)).await.0, 200);
        let at = shown.await.ok().and_then(|at| at.as_f64());
        renames.push(at.unwrap_or(f64::NAN) - last_frame());

        let title = format!("big-c{i}");
        let shown = JsFuture::from(when_labelled(&app.root, &title));
        api_create_task(&token, &title).await;
        let at = shown.await.ok().and_then(|at| at.as_f64());
        creates.push(at.unwrap_or(f64::NAN) - last_frame());
    }
    let _ = restore.call0(&JsValue::NULL);
    console_log!(
        "writes on the 10,000-task board, socket frame -> DOM (the app), {BIG_BOARD_WRITES} \
         of each: {}; {}",
        percentiles("a rename", &mut renames),
        percentiles("a new task", &mut creates)
    );
}

#[wasm_bindgen_test]
async fn an_http_write_reaches_a_mounted_app() {
    let (_, token) = register_with_cookie().await;
    let id = api_create_task(&token, "v0").await;
    let restore = clock_frames();
    let app = mount_at("/");
    JsFuture::from(when_labelled(&app.root, "v0"))
        .await
        .expect("the first title");
    let path = format!("/api/tasks/{id}");
    let (mut total, mut to_frame, mut in_app) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..=WRITES {
        let (start, at) = rename_until_shown(&app.root, &path, &token, i).await;
        let frame = last_frame();
        total.push(at - start);
        to_frame.push(frame - start);
        in_app.push(at - frame);
    }
    console_log!(
        "HTTP write -> DOM of a mounted app, {WRITES} writes: {}\n  of which HTTP write -> \
         socket frame at the page: {}\n  and frame -> DOM (the app): {}",
        percentiles("total", &mut total),
        percentiles("to frame", &mut to_frame),
        percentiles("in app", &mut in_app)
    );
    let _ = restore.call0(&JsValue::NULL);
}

#[wasm_bindgen_test]
async fn an_http_write_reaches_an_app_on_the_http_fallback() {
    let gate = unique_name("bench-gate");
    set_gate(&gate, false).await;
    let (_, token) = register_with_cookie().await;
    let id = api_create_task(&token, "v0").await;
    let api = taskwire::api::Api::new(server()).with_socket_url(gate_socket_url(&gate));
    let app = mount_with("/", api);
    JsFuture::from(when_labelled(&app.root, "v0"))
        .await
        .expect("the first title");
    let on_http = |root: &Element| {
        root.query_selector("[role=status][data-transport=http][data-connection=live]")
            .ok()
            .flatten()
            .is_some()
    };
    until("live on the HTTP fallback", Duration::from_secs(30), || {
        on_http(&app.root)
    })
    .await;
    let path = format!("/api/tasks/{id}");
    let mut total = Vec::new();
    for i in 1..=WRITES {
        let (start, at) = rename_until_shown(&app.root, &path, &token, i).await;
        total.push(at - start);
    }
    assert!(on_http(&app.root), "still on the fallback");
    console_log!(
        "HTTP write -> DOM of an app on the HTTP fallback (long polls), {WRITES} writes: {}",
        percentiles("total", &mut total)
    );
}

// ---- Helpers

/// Renames the task at `path` to `v<i>` over HTTP; gives back when the call started and
/// when the new title showed in `root` (`performance.now()` times).
async fn rename_until_shown(root: &Element, path: &str, token: &str, i: usize) -> (f64, f64) {
    let title = format!("v{i}");
    let shown = JsFuture::from(when_labelled(root, &title));
    let start = now();
    let body = serde_json::json!({ "title": title });
    let (status, _) = api_call("PATCH", path, token, Some(body)).await;
    assert_eq!(status, 200);
    let at = shown.await.expect("the change shown");
    (start, at.as_f64().unwrap_or(f64::NAN))
}

/// A new account whose refresh cookie the browser keeps, so a mounted app restores it.
async fn register_with_cookie() -> (String, String) {
    let username = unique_name("bench");
    let token = register_keeping_cookie(&username, PASSWORD).await;
    (username, token)
}

/// The size of this module's linear memory (the app's heap lives in it).
fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .map(|memory| {
            memory
                .buffer()
                .dyn_into::<js_sys::ArrayBuffer>()
                .map(|buffer| f64::from(buffer.byte_length()))
                .unwrap_or(f64::NAN)
        })
        .unwrap_or(f64::NAN)
}

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

/// The app's task list (there even while it shows no row).
fn task_list(root: &Element) -> Option<Element> {
    root.query_selector("ul[aria-label=\"Tasks\"]")
        .ok()
        .flatten()
}

fn row_count(root: &Element) -> Option<u32> {
    task_list(root).map(|list| list.child_element_count())
}

/// The times at which the task list in `root` holds all the tasks and they are laid out,
/// if within 20 s; watched from the call on, not from the first poll.
fn when_rows_shown(root: &Element) -> impl Future<Output = Option<(f64, f64)>> + use<> {
    let shown = JsFuture::from(when_rows(root, TASKS, 20_000));
    async move {
        let times = shown.await.ok()?.dyn_into::<js_sys::Array>().ok()?;
        let at = |i| times.get(i).as_f64();
        Some((at(0)?, at(1)?))
    }
}

/// Waits (polling every turn of the event loop) until the list holds `count` rows.
async fn wait_rows(root: &Element, count: usize, timeout: Duration) -> bool {
    let start = now();
    while row_count(root) != Some(count as u32) {
        if now() - start > timeout.as_millis() as f64 {
            return false;
        }
        gloo_timers::future::sleep(Duration::ZERO).await;
    }
    true
}

async fn until_text(root: &Element, text: &str, timeout: Duration) {
    let start = now();
    while !text_of(root).contains(text) {
        assert!(
            now() - start < timeout.as_millis() as f64,
            "{text:?} within {timeout:?}"
        );
        gloo_timers::future::sleep(Duration::from_millis(20)).await;
    }
}

async fn until_rows(root: &Element, count: usize, timeout: Duration) {
    assert!(
        wait_rows(root, count, timeout).await,
        "{count} rows within {timeout:?}"
    );
}

fn click_link(root: &Element, name: &str) {
    by_role(root, "link", name)
        .unwrap_or_else(|| panic!("a link {name:?}"))
        .unchecked_into::<HtmlElement>()
        .click();
}

/// p50, p99, min and max of `times`, in words.
fn percentiles(what: &str, times: &mut [f64]) -> String {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    format!(
        "{what}: p50 {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        times[0],
        times[times.len() - 1]
    )
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Each run's time at a midpoint (rows in the document, or tasks at the page) and until
/// the rows are laid out.
#[derive(Default)]
struct Times {
    midway: Vec<f64>,
    laid_out: Vec<f64>,
}

impl Times {
    fn push(&mut self, midway: f64, laid_out: f64) {
        self.midway.push(midway);
        self.laid_out.push(laid_out);
    }
}

fn report_split(what: &str, app: &Times, js: &Times) {
    report(what, &app.laid_out, &js.laid_out);
    console_log!(
        "  of which rows in the document: app {:.1} ms, plain JavaScript {:.1} ms; layout: \
         app {:.1} ms, plain JavaScript {:.1} ms (medians)",
        median(&app.midway),
        median(&js.midway),
        median(&app.laid_out) - median(&app.midway),
        median(&js.laid_out) - median(&js.midway)
    );
}

/// Prints the medians and their ratio, and the ratios of the runs taken in turn: on a
/// noisy machine a run and its neighbour share most of the noise.
fn report(what: &str, app: &[f64], js: &[f64]) {
    let mut ratios: Vec<f64> = app.iter().zip(js).map(|(app, js)| app / js).collect();
    ratios.sort_by(f64::total_cmp);
    let (app, js) = (median(app), median(js));
    console_log!(
        "{what}: app {app:.1} ms, plain JavaScript {js:.1} ms (medians of {RENDER_RUNS}); \
         ratio {:.2}; run by run {:.2} (median), {:.2} to {:.2}",
        app / js,
        median(&ratios),
        ratios.first().copied().unwrap_or(f64::NAN),
        ratios.last().copied().unwrap_or(f64::NAN)
    );
}
