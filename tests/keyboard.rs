//! The board for people on a keyboard and a screen reader, in a real browser against the
//! real server: Tab reaches every control in a sensible order, a row waiting for the
//! server says so to assistive tech, and the status is announced when its state
//! changes, not at every tick of a countdown.

#![cfg(target_arch = "wasm32")]

mod support;

use std::time::Duration;

use support::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, Node};

wasm_bindgen_test_configure!(run_in_browser);

const WAIT: Duration = Duration::from_secs(10);
/// Reconnecting after the server comes back may wait out a backoff of several seconds.
const RECONNECT: Duration = Duration::from_secs(40);
/// What a row waiting for the server says (ui.md: the pending mark).
const WAITING: &str = "Waiting for the server";

// ---- Tab

/// Tab from the top of the page: the header, the boards, `New task` and `Add task`,
/// each row's checkbox, `Edit` and `Delete`, the filters and `Clear completed`, in that
/// order; each control named, and each one really takes focus.
#[wasm_bindgen_test]
async fn tab_reaches_every_control_of_the_board_in_order() {
    let _styles = AppStyles::add();
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    for title in ["Water the plants", "Call the bank", "Book a table"] {
        add_task(root, title).await;
    }
    checkbox(root, "Call the bank")
        .expect("its checkbox")
        .click();
    until_confirmed(root).await;
    until("Clear completed enabled", WAIT, || {
        button(root, "Clear completed").is_some_and(|b| !b.disabled())
    })
    .await;

    let order = tab_order(root);
    let reached: Vec<(String, String)> = order.iter().map(|e| role_and_name(e)).collect();
    for (role, name) in &reached {
        assert!(
            !role.is_empty() && !name.is_empty(),
            "a control without a role or a name: {reached:?}"
        );
    }
    let mut board = vec![
        control_of("textbox", "New task"),
        control_of("button", "Add task"),
    ];
    for title in titles(root) {
        board.push(control_of("checkbox", &title));
        board.push(control_of("button", "Edit"));
        board.push(control_of("button", &format!("Delete {title}")));
    }
    assert_eq!(board.len(), 2 + 3 * 3, "three rows: {board:?}");
    for filter in ["All", "Active", "Completed"] {
        board.push(control_of("link", filter));
    }
    board.push(control_of("button", "Clear completed"));
    let page: Vec<(String, String)> = [
        ("link", "Taskwire"),
        ("link", "Tasks"),
        ("link", "Diagnostics"),
        ("button", "Sign out"),
        ("button", "Sign out everywhere"),
        ("link", "My tasks"),
        ("button", "New board"),
    ]
    .into_iter()
    .map(|(role, name)| control_of(role, name))
    .chain(board.iter().cloned())
    .collect();
    assert_in_order(&reached, &page);
    // From `New task` to `Clear completed`, the board holds nothing else.
    let start = reached
        .iter()
        .position(|c| *c == board[0])
        .expect("New task reached");
    assert_eq!(
        reached.get(start..start + board.len()),
        Some(board.as_slice()),
        "the board's controls, one after the other"
    );

    for (element, (role, name)) in order.iter().zip(&reached) {
        element.focus().expect("focus");
        assert!(is_focused(element), "{role} {name:?} takes no focus");
    }
    if let Some(active) = active_element() {
        active.blur().expect("blur");
    }
    // Confirmed rows describe nothing as waiting.
    for title in titles(root) {
        let row = task_row(root, &title).expect("the row");
        let check = checkbox(&row, &title).expect("its checkbox");
        assert_eq!(description(&check), "", "{title} is confirmed");
        assert!(!announced(&row).contains(WAITING), "{title} is confirmed");
    }
}

// ---- The pending mark

/// A change the server has not confirmed is read out with the row's checkbox (its
/// description) and in the row, whether the row was already there or is new; the
/// checkbox keeps the title as its name. Once confirmed, the note goes.
#[wasm_bindgen_test]
async fn a_row_waiting_for_the_server_says_so_to_a_screen_reader() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let kept = add_task(root, "Post the letter").await;
    until_confirmed(root).await;

    // The server stays away only as long as it must: nothing may panic until it is back.
    control("stop").await;
    let lost = wait_for(RECONNECT, || connection(root) != "live").await;
    if let Some(check) = checkbox(&kept, "Post the letter").filter(|_| lost) {
        check.click();
    }
    let mut added = None;
    if let Some(input) = field(root, "New task").filter(|_| lost) {
        type_text(&input, "Buy stamps");
        press(&input, "Enter");
        added = wait_found(WAIT, || task_row(root, "Buy stamps")).await;
    }
    let both_pending = wait_for(WAIT, || {
        is_pending(&kept) && added.as_ref().is_some_and(is_pending)
    })
    .await;
    let while_waiting = [
        Mark::of(&kept, "Post the letter"),
        added
            .as_ref()
            .map(|row| Mark::of(row, "Buy stamps"))
            .unwrap_or_default(),
    ];
    control("start").await;
    if let Some(retry) = button(root, "Retry now") {
        retry.click();
    }
    until_live_within(root, RECONNECT).await;
    until_confirmed(root).await;

    assert!(lost, "the connection was never lost");
    assert!(both_pending, "the changes were never pending");
    for (mark, title) in while_waiting.iter().zip(["Post the letter", "Buy stamps"]) {
        assert_eq!(mark.name, title, "the checkbox keeps its name");
        assert_eq!(mark.delete, format!("Delete {title}"));
        assert_eq!(mark.description, WAITING, "the checkbox's description");
        assert!(mark.announced.contains(WAITING), "in the row: {mark:?}");
    }
    for title in ["Post the letter", "Buy stamps"] {
        let row = task_row(root, title).expect("the row");
        let confirmed = Mark::of(&row, title);
        assert_eq!(confirmed.description, "", "{confirmed:?}");
        assert!(!confirmed.announced.contains(WAITING), "{confirmed:?}");
    }
}

/// What assistive tech gets of a row and its controls.
#[derive(Debug, Default)]
struct Mark {
    name: String,
    description: String,
    announced: String,
    delete: String,
}

impl Mark {
    fn of(row: &Element, title: &str) -> Self {
        let check = all_by_role(row, "checkbox").into_iter().next();
        Self {
            name: check.as_ref().map(name_of).unwrap_or_default(),
            description: check.as_ref().map(description).unwrap_or_default(),
            announced: announced(row),
            delete: by_role_starting(row, "button", "Delete ")
                .map(|b| name_of(&b))
                .unwrap_or_else(|| format!("no Delete button for {title}")),
        }
    }
}

// ---- The status

/// While the status counts down to a reconnect, its visible text changes every second
/// but what the live region announces stays the same; `Retry now` is on the Tab path.
#[wasm_bindgen_test]
async fn the_status_is_announced_when_its_state_changes_not_every_second() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let live = announced(&status(root));

    // The server stays away only as long as it must: nothing may panic until it is back.
    control("stop").await;
    // A wait of 4 s or more, so that ticks are seen within one wait: the backoff grows.
    let long_wait = wait_for(Duration::from_secs(60), || {
        the_status(root)
            .and_then(|s| countdown_seconds(&text_of(&s)))
            .is_some_and(|s| s >= 4)
    })
    .await;
    let (mut shown, mut said) = (Vec::<String>::new(), Vec::<String>::new());
    let start = js_sys::Date::now();
    // Until the first tick (within a second), or two seconds at most: over a second is
    // left before the attempt even on a loaded machine.
    while long_wait && shown.len() < 2 && js_sys::Date::now() - start < 2_000.0 {
        let Some(element) = the_status(root) else {
            break;
        };
        for (seen, now) in [
            (&mut shown, text_of(&element)),
            (&mut said, announced(&element)),
        ] {
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        gloo_timers::future::sleep(Duration::from_millis(50)).await;
    }
    let retry_on_tab_path = tab_order(root)
        .iter()
        .any(|e| role_and_name(e) == control_of("button", "Retry now"));
    control("start").await;
    if let Some(retry) = button(root, "Retry now") {
        retry.click();
    }
    until_live_within(root, RECONNECT).await;
    let back = announced(&status(root));

    assert_eq!(live, "Live");
    assert!(long_wait, "no countdown of 4 s or more");
    assert!(
        shown.len() >= 2 && shown.iter().all(|t| countdown_seconds(t).is_some()),
        "the visible countdown ticks: {shown:?}"
    );
    assert_eq!(said.len(), 1, "announced while counting down: {said:?}");
    assert!(
        said[0].starts_with("Reconnecting (attempt ") && !said[0].contains(" in "),
        "{said:?}"
    );
    assert!(retry_on_tab_path, "Retry now is reached with Tab");
    assert!(back.starts_with("Live"), "{back}");
}

// ---- Tab order, as the browser computes it

/// The elements Tab reaches under `root`, in order. Synthetic Tab key events move no
/// focus, so this follows the browser's rules instead: focusable kinds of element, not
/// disabled, rendered, not inert, `tabindex` not negative; positive `tabindex` first in
/// ascending order, then the rest in document order. (Radio groups, which Tab enters
/// once, do not occur on the board.)
fn tab_order(root: &Element) -> Vec<HtmlElement> {
    let nodes = root.query_selector_all("*").expect("querySelectorAll");
    let mut found: Vec<HtmlElement> = (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<HtmlElement>().ok())
        .filter(is_tabbable)
        .collect();
    // Stable: document order within each `tabindex`.
    found.sort_by_key(|e| match e.tab_index() {
        0 => i32::MAX,
        n => n,
    });
    found
}

fn is_tabbable(element: &HtmlElement) -> bool {
    element.tab_index() >= 0
        && is_focusable_kind(element)
        && !element.matches(":disabled").unwrap_or(true)
        && element.closest("[inert]").ok().flatten().is_none()
        && is_rendered(element)
}

fn is_focusable_kind(element: &HtmlElement) -> bool {
    match element.tag_name().as_str() {
        "A" | "AREA" => element.has_attribute("href"),
        "BUTTON" | "SELECT" | "TEXTAREA" | "IFRAME" => true,
        "INPUT" => element.get_attribute("type").as_deref() != Some("hidden"),
        "AUDIO" | "VIDEO" => element.has_attribute("controls"),
        // A details element's first summary is its toggle.
        "SUMMARY" => element.parent_element().is_some_and(|details| {
            details.tag_name() == "DETAILS"
                && details
                    .query_selector(":scope > summary")
                    .ok()
                    .flatten()
                    .is_some_and(|first| first == **element)
        }),
        _ => element.has_attribute("tabindex") || element.is_content_editable(),
    }
}

/// Laid out: no `display: none` on it or above it, not `visibility: hidden`, and not in
/// the hidden part of a closed `<details>`.
fn is_rendered(element: &Element) -> bool {
    let window = web_sys::window().expect("a window");
    let style = |e: &Element, property: &str| {
        window
            .get_computed_style(e)
            .ok()
            .flatten()
            .and_then(|s| s.get_property_value(property).ok())
            .unwrap_or_default()
    };
    if matches!(style(element, "visibility").as_str(), "hidden" | "collapse") {
        return false;
    }
    let mut at = Some(element.clone());
    while let Some(e) = at {
        if style(&e, "display") == "none" {
            return false;
        }
        at = e.parent_element();
    }
    match element.closest("details:not([open])").ok().flatten() {
        Some(details) => element
            .closest("summary")
            .ok()
            .flatten()
            .and_then(|summary| summary.parent_element())
            .is_some_and(|parent| parent == details),
        None => true,
    }
}

fn role_and_name(element: &Element) -> (String, String) {
    (role_of(element).unwrap_or_default(), name_of(element))
}

fn control_of(role: &str, name: &str) -> (String, String) {
    (role.to_owned(), name.to_owned())
}

/// Every one of `expected` is in `reached`, in that relative order.
fn assert_in_order(reached: &[(String, String)], expected: &[(String, String)]) {
    let mut from = 0;
    for control in expected {
        match reached[from..].iter().position(|c| c == control) {
            Some(at) => from += at + 1,
            None => panic!("{control:?} not reached after {from} controls, in order: {reached:?}"),
        }
    }
}

fn active_element() -> Option<HtmlElement> {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .and_then(|e| e.dyn_into().ok())
}

// ---- What assistive tech gets

/// The text a screen reader gets from `element`: its text, leaving out what is hidden
/// from assistive tech (`aria-hidden="true"`, `hidden`).
fn announced(element: &Element) -> String {
    fn collect(node: &Node, out: &mut String) {
        if let Some(e) = node.dyn_ref::<Element>()
            && (e.get_attribute("aria-hidden").as_deref() == Some("true")
                || e.has_attribute("hidden"))
        {
            return;
        }
        if node.node_type() == Node::TEXT_NODE {
            out.push_str(&node.text_content().unwrap_or_default());
        }
        let children = node.child_nodes();
        for i in 0..children.length() {
            if let Some(child) = children.item(i) {
                collect(&child, out);
            }
        }
    }
    let mut text = String::new();
    collect(element, &mut text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The accessible description from `aria-describedby`: the referenced elements' text.
fn description(element: &Element) -> String {
    let Some(document) = element.owner_document() else {
        return String::new();
    };
    element
        .get_attribute("aria-describedby")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|id| document.get_element_by_id(id))
        .map(|e| announced(&e))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- The status

/// The seconds of "Reconnecting in 4 s (attempt 3)" at the start of `text`.
fn countdown_seconds(text: &str) -> Option<u32> {
    let (seconds, rest) = text
        .strip_prefix("Reconnecting in ")?
        .split_once(" s (attempt ")?;
    let attempt = rest.split_once(')')?.0;
    attempt.parse::<u32>().ok()?;
    seconds.parse().ok()
}

// ---- Waiting without failing: for the stretches while the server is stopped.

/// Waits until `ready` holds or `timeout` passes; says whether it held.
async fn wait_for(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = js_sys::Date::now();
    while !ready() {
        if js_sys::Date::now() - start > timeout.as_millis() as f64 {
            return false;
        }
        gloo_timers::future::sleep(Duration::from_millis(20)).await;
    }
    true
}

async fn wait_found<T>(timeout: Duration, mut find: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    wait_for(timeout, || {
        found = find();
        found.is_some()
    })
    .await;
    found
}

// ---- The board
