//! The pages of `shared/spec/ui.md` in a real browser against the real server, driven
//! and read the way a person (or a screen reader) would: by role, accessible name and
//! label, never by CSS class.

#![cfg(target_arch = "wasm32")]

mod support;

use std::time::Duration;

use support::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
// Watches `root` for `text` appearing, even for a moment; the returned function stops
// watching and says whether it ever did.
export function watch_for_text(root, text) {
  let seen = false;
  const check = () => { seen ||= root.textContent.includes(text); };
  const observer = new MutationObserver(check);
  observer.observe(root, { subtree: true, childList: true, characterData: true });
  check();
  return () => { observer.disconnect(); check(); return seen; };
}

// Counts the panics reported to the console (a panic in an event handler does not fail
// the test by itself); the returned function stops counting and gives the count.
export function count_panics() {
  let count = 0;
  const methods = ["error", "log"];
  const originals = methods.map((method) => console[method]);
  methods.forEach((method, i) => {
    console[method] = function (...args) {
      if (args.some((arg) => String(arg).includes("panicked at"))) count += 1;
      return originals[i].apply(this, args);
    };
  });
  return () => {
    methods.forEach((method, i) => { console[method] = originals[i]; });
    return count;
  };
}
"#)]
extern "C" {
    fn watch_for_text(root: &Element, text: &str) -> js_sys::Function;
    fn count_panics() -> js_sys::Function;
}

const WAIT: Duration = Duration::from_secs(10);
/// Reconnecting after the server comes back may wait out a backoff of several seconds.
const RECONNECT: Duration = Duration::from_secs(40);
/// What a page restoring the session says while the server is out of reach.
const RESTORE_RETRYING: &str = "Cannot reach the server. Trying again to restore your session…";

// ---- Sign-in

#[wasm_bindgen_test]
async fn creating_an_account_lands_on_a_live_empty_board() {
    let app = mount_at("/login");
    let username = unique_name("new");
    create_account(&app.root, &username).await;
    until("the board at /", WAIT, || location() == "/").await;
    // Signed in once the server took the account; the board follows the connection.
    until_found("the heading My tasks", WAIT, || {
        by_role(&app.root, "heading", "My tasks")
    })
    .await;
    assert!(
        text_of(&app.root).contains(&username),
        "the header names the user"
    );
    until_live(&app.root).await;
    assert!(name_of(&status(&app.root)).starts_with("Live"));
    assert_no_token_in_storage();
    until("an empty board", WAIT, || {
        text_of(&app.root).contains("No tasks yet")
    })
    .await;
    // The list is there, with nothing in it.
    let list = by_role(&app.root, "list", "Tasks").expect("the Tasks list");
    assert_eq!(list.child_element_count(), 0);
}

#[wasm_bindgen_test]
async fn a_wrong_password_is_refused_with_an_alert_and_the_right_one_signs_in() {
    let username = unique_name("pw");
    api_register(&username, PASSWORD).await;
    let app = mount_at("/login");
    let root = &app.root;
    let sign_in = until_found("an enabled Sign in button", WAIT, || {
        button(root, "Sign in").filter(|b| !b.disabled())
    })
    .await;
    type_text(
        &field(root, "Username").expect("a Username field"),
        &username,
    );
    type_text(
        &field(root, "Password").expect("a Password field"),
        "not the password",
    );
    sign_in.click();
    until_soon("the button disabled while signing in", WAIT, || {
        sign_in.disabled()
    })
    .await;
    let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
    assert!(!text_of(&alert).is_empty());
    until("the button enabled again", WAIT, || !sign_in.disabled()).await;
    assert_eq!(location(), "/login");

    type_text(
        &field(root, "Password").expect("a Password field"),
        PASSWORD,
    );
    sign_in.click();
    until("the board at /", WAIT, || location() == "/").await;
    until_live(root).await;
}

/// A server that takes the connection and never answers: once the call's deadline
/// passes, the page says it cannot reach the server and tries again, instead of saying
/// "Restoring your session…" for good; no transport failure sends anyone to sign in.
#[wasm_bindgen_test]
async fn a_server_that_never_answers_is_said_and_tried_again() {
    restoring_gives_up_on(unanswering_server()).await;
}

/// A server that sends an answer's headers and then stalls in its body: the call's
/// deadline covers the body too, so the page gives the call up and says the server is out
/// of reach, instead of restoring the session for good.
#[wasm_bindgen_test]
async fn an_answer_that_stalls_in_its_body_is_given_up() {
    restoring_gives_up_on(&stalling_server()).await;
}

/// A browser that refuses every Web Lock request (a sandboxed frame does) still signs
/// in: calls that set the refresh cookie go on unlocked rather than wait for good.
#[wasm_bindgen_test]
async fn a_refused_web_lock_does_not_hold_up_signing_in() {
    let _refused = RefusedLocks::install();
    let (app, _) = signed_in_board().await;
    add_task(&app.root, "Signed in without a lock").await;
    until_confirmed(&app.root).await;
}

/// `navigator.locks.request` refusing with a `SecurityError` while held, as it does in a
/// sandboxed frame.
struct RefusedLocks(js_sys::Object);

impl RefusedLocks {
    fn install() -> Self {
        let navigator = web_sys::window().expect("a window").navigator();
        let locks = js_sys::Reflect::get(&navigator, &"locks".into()).expect("navigator.locks");
        let refuse = js_sys::Function::new_no_args(
            "return Promise.reject(new DOMException('refused', 'SecurityError'))",
        );
        js_sys::Reflect::set(&locks, &"request".into(), &refuse).expect("request replaced");
        Self(locks.unchecked_into())
    }
}

impl Drop for RefusedLocks {
    fn drop(&mut self) {
        // The browser's own `request` is on the prototype: removing ours uncovers it.
        let _ = js_sys::Reflect::delete_property(&self.0, &"request".into());
    }
}

/// A captive portal or a proxy answering in the server's place (`200` with an HTML page):
/// that is no answer from the server, so the page tries again, rather than sending the
/// person to sign in.
#[wasm_bindgen_test]
async fn a_page_in_the_servers_place_is_tried_again_not_taken_for_a_sign_out() {
    restoring_gives_up_on(&portal_server()).await;
}

/// The app on a page load, against a server at `base` that never gives a whole answer:
/// restoring, then (the call's deadline is 15 s) saying the server is out of reach, on
/// the page it was opened at.
async fn restoring_gives_up_on(base: &str) {
    let app = mount_with("/", taskwire::api::Api::new(base));
    let root = &app.root;
    until("Restoring your session…", WAIT, || {
        text_of(root).contains("Restoring your session…")
    })
    .await;
    until(
        "the server said out of reach",
        Duration::from_secs(30),
        || text_of(root).contains(RESTORE_RETRYING),
    )
    .await;
    assert_eq!(location(), "/");
}

/// A reload while the server is away keeps the session: the page says it cannot reach
/// the server and tries again, and once the server is back the board opens, signed in,
/// without anyone having been sent to the sign-in page.
#[wasm_bindgen_test]
async fn a_reload_while_the_server_is_away_restores_the_session_once_it_is_back() {
    let username = unique_name("away");
    register_keeping_cookie(&username, PASSWORD).await;
    control("stop").await;
    let app = mount_at("/");
    let root = &app.root;
    until("the server said out of reach", WAIT, || {
        text_of(root).contains(RESTORE_RETRYING)
    })
    .await;
    assert_eq!(location(), "/");
    control("start").await;
    until_live_within(root, RECONNECT).await;
    assert_eq!(location(), "/");
    assert!(text_of(root).contains(&username), "signed in as {username}");
}

/// In a column as narrow as a small phone (320 px), the header's buttons and the
/// longest name allowed stay inside it: nothing runs off the side.
#[wasm_bindgen_test]
async fn the_header_fits_a_narrow_screen() {
    let _styles = AppStyles::add();
    let mut username = unique_name("wide");
    username.extend(std::iter::repeat_n('w', 32 - username.len()));
    let app = mount_at("/login");
    let root = &app.root;
    root.style()
        .set_property("width", "320px")
        .expect("a width");
    create_account(root, &username).await;
    until("the board at /", WAIT, || location() == "/").await;
    until_live(root).await;
    let right = root.get_bounding_client_rect().right();
    let named = root.query_selector(".who .username").ok().flatten();
    let mut inside: Vec<Element> = all_by_role(root, "button");
    inside.extend(named);
    for element in inside {
        let edge = element.get_bounding_client_rect().right();
        assert!(
            edge <= right + 0.5,
            "{:?} ends at {edge} px, past the column's {right} px",
            name_of(&element)
        );
    }
}

/// On a shared board in a 320 px column, a row changed by someone with the longest name
/// allowed keeps its title readable and its buttons in view: the name gives way.
#[wasm_bindgen_test]
async fn a_long_name_in_a_row_leaves_its_title_and_buttons_in_view() {
    let _styles = AppStyles::add();
    let mut long = unique_name("long");
    long.extend(std::iter::repeat_n('w', 32 - long.len()));
    let theirs = api_register(&long, PASSWORD).await;
    let owner = unique_name("own");
    let mine = api_register(&owner, PASSWORD).await;
    let made = serde_json::json!({ "name": "Narrow" });
    let (status, body) = api_call("POST", "/api/boards", &mine, Some(made)).await;
    assert_eq!(status, 201, "{body}");
    let board: protocol::Board = serde_json::from_str(&body).expect("a board");
    let member = format!("/api/boards/{}/members/{long}", board.id);
    let role = serde_json::json!({ "role": "editor" });
    let (status, body) = api_call("PUT", &member, &mine, Some(role)).await;
    assert_eq!(status, 200, "{body}");
    let tasks = format!("/api/boards/{}/tasks", board.id);
    let task = serde_json::json!({ "title": "Pack" });
    let (status, body) = api_call("POST", &tasks, &theirs, Some(task)).await;
    assert_eq!(status, 201, "{body}");

    let app = mount_at("/login");
    let root = &app.root;
    root.style()
        .set_property("width", "320px")
        .expect("a width");
    sign_in(root, &owner, PASSWORD).await;
    until_found("the board's link", WAIT, || {
        by_role(root, "navigation", "Boards").and_then(|nav| by_role(&nav, "link", "Narrow"))
    })
    .await
    .dyn_into::<web_sys::HtmlElement>()
    .expect("a link")
    .click();
    let row = until_found("the row", WAIT, || task_row(root, "Pack")).await;
    assert!(
        text_of(&row).contains(&format!("by {long}")),
        "{}",
        text_of(&row)
    );
    let board_edge = by_role(root, "region", "Task board")
        .expect("the board")
        .get_bounding_client_rect()
        .right();
    for control in all_by_role(&row, "button") {
        let edge = control.get_bounding_client_rect().right();
        assert!(
            edge <= board_edge + 0.5,
            "{:?} ends at {edge} px, past the board's {board_edge} px",
            name_of(&control)
        );
    }
    let title = row
        .query_selector(".task-title")
        .ok()
        .flatten()
        .expect("a title");
    let width = title.get_bounding_client_rect().width();
    assert!(width >= 60.0, "the title is {width} px wide");
}

/// Back after signing in does not show the sign-in form to someone signed in, even where
/// the page before was `/login` itself.
#[wasm_bindgen_test]
async fn back_after_signing_in_stays_on_the_board() {
    let window = web_sys::window().expect("a window");
    let history = window.history().expect("history");
    history
        .push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/login"))
        .expect("pushState");
    let (app, username) = signed_in_board().await;
    let root = &app.root;
    let popped = std::rc::Rc::new(std::cell::Cell::new(false));
    let on_pop = wasm_bindgen::closure::Closure::<dyn FnMut()>::new({
        let popped = popped.clone();
        move || popped.set(true)
    });
    let on_pop = on_pop.as_ref().unchecked_ref();
    window
        .add_event_listener_with_callback("popstate", on_pop)
        .expect("a listener");
    history.back().expect("back");
    until("Back taken", WAIT, || popped.get()).await;
    window
        .remove_event_listener_with_callback("popstate", on_pop)
        .expect("listener removed");
    until("the board again", WAIT, || {
        location() == "/" && text_of(root).contains(&username)
    })
    .await;
    assert!(by_role(root, "heading", "Sign in").is_none());
}

#[wasm_bindgen_test]
async fn creating_an_account_with_a_short_password_is_refused_before_sending() {
    let app = mount_at("/login");
    let root = &app.root;
    let switch = until_found("Create one", WAIT, || button(root, "Create one")).await;
    switch.click();
    until("the Create account heading", WAIT, || {
        by_role(root, "heading", "Create account").is_some()
    })
    .await;
    type_text(
        &field(root, "Username").expect("Username"),
        &unique_name("short"),
    );
    type_text(&field(root, "Password").expect("Password"), "short");
    let create = until_found("an enabled Create account button", WAIT, || {
        button(root, "Create account").filter(|b| !b.disabled())
    })
    .await;
    create.click();
    let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
    assert!(text_of(&alert).contains("8 to 128"), "{}", text_of(&alert));
    assert_eq!(location(), "/login");
}

// ---- The board

#[wasm_bindgen_test]
async fn tasks_are_added_counted_toggled_filtered_cleared_and_deleted() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let new_task = field(root, "New task").expect("a New task field");

    type_text(&new_task, "   ");
    press(&new_task, "Enter");
    let alert = until_found("a refusal", WAIT, || by_role_starting(root, "alert", "")).await;
    assert_eq!(text_of(&alert), "A task needs a title.");
    assert!(titles(root).is_empty(), "nothing was added");

    for title in ["Buy milk", "Walk the dog", "Pay rent"] {
        add_task(root, title).await;
    }
    assert_eq!(new_task.value(), "", "the field is cleared after adding");
    assert_eq!(titles(root), ["Buy milk", "Walk the dog", "Pay rent"]);
    until_confirmed(root).await;
    assert_eq!(items_left(root), "3 items left");

    checkbox(root, "Walk the dog")
        .expect("its checkbox")
        .click();
    until("2 items left", WAIT, || items_left(root) == "2 items left").await;
    until_confirmed(root).await;

    link(root, "Active").click();
    until("?filter=active", WAIT, || location() == "/?filter=active").await;
    until("the active tasks", WAIT, || {
        titles(root) == ["Buy milk", "Pay rent"]
    })
    .await;
    assert_eq!(
        link(root, "Active")
            .get_attribute("aria-current")
            .as_deref(),
        Some("page")
    );
    assert_eq!(link(root, "All").get_attribute("aria-current"), None);

    link(root, "Completed").click();
    until("the completed tasks", WAIT, || {
        titles(root) == ["Walk the dog"]
    })
    .await;
    assert_eq!(location(), "/?filter=completed");

    // The rows come back around the one shown, in their places.
    link(root, "All").click();
    until("every task", WAIT, || {
        titles(root) == ["Buy milk", "Walk the dog", "Pay rent"]
    })
    .await;

    checkbox(root, "Pay rent").expect("its checkbox").click();
    until("1 item left", WAIT, || items_left(root) == "1 item left").await;
    until_confirmed(root).await;
    button(root, "Clear completed")
        .expect("Clear completed")
        .click();
    until("the done ones cleared", WAIT, || {
        titles(root) == ["Buy milk"]
    })
    .await;

    button(root, "Delete Buy milk")
        .expect("a Delete button")
        .click();
    until("an empty board", WAIT, || {
        text_of(root).contains("No tasks yet")
    })
    .await;
}

/// Deleting from the keyboard keeps the person's place: focus goes to the next row's
/// Delete, else the previous row's, else the `New task` field.
#[wasm_bindgen_test]
async fn deleting_keeps_the_keyboard_in_place() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    for title in ["One", "Two", "Three"] {
        add_task(root, title).await;
    }
    until_confirmed(root).await;
    let press_delete = |title: &str| {
        let delete = button(root, &format!("Delete {title}")).expect("a Delete button");
        delete.focus().expect("focusable");
        delete.click();
    };
    press_delete("Two");
    let next = button(root, "Delete Three").expect("the next row's Delete");
    until("focus on the next row", WAIT, || is_focused(&next)).await;
    press_delete("Three");
    let previous = button(root, "Delete One").expect("the previous row's Delete");
    until("focus on the previous row", WAIT, || is_focused(&previous)).await;
    press_delete("One");
    let new_task = field(root, "New task").expect("the New task field");
    until("focus on New task", WAIT, || is_focused(&new_task)).await;
    until("an empty board", WAIT, || titles(root).is_empty()).await;
}

/// Under Active, ticking a task takes its row away; the keyboard stays in the list.
#[wasm_bindgen_test]
async fn ticking_a_task_under_a_filter_keeps_the_keyboard_in_place() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    for title in ["One", "Two"] {
        add_task(root, title).await;
    }
    until_confirmed(root).await;
    link(root, "Active").click();
    until("/?filter=active", WAIT, || location() == "/?filter=active").await;
    let tick = |title: &str| {
        let check = checkbox(root, title).expect("a checkbox");
        check.focus().expect("focusable");
        check.click();
    };
    tick("One");
    let next = checkbox(root, "Two").expect("the next row's checkbox");
    until("focus on the next row's checkbox", WAIT, || {
        is_focused(&next)
    })
    .await;
    tick("Two");
    let new_task = field(root, "New task").expect("the New task field");
    until("focus on New task", WAIT, || is_focused(&new_task)).await;
    until("nothing left under Active", WAIT, || {
        titles(root).is_empty()
    })
    .await;
    // Clear completed is disabled once used, and the footer hidden with nothing left:
    // the keyboard goes on from New task.
    link(root, "All").click();
    until("both done", WAIT, || titles(root) == ["One", "Two"]).await;
    until_confirmed(root).await;
    new_task.blur().expect("blurred");
    let clear = button(root, "Clear completed").expect("Clear completed");
    clear.focus().expect("focusable");
    clear.click();
    until("focus on New task", WAIT, || is_focused(&new_task)).await;
    until("an empty board", WAIT, || titles(root).is_empty()).await;
}

#[wasm_bindgen_test]
async fn editing_saves_with_enter_and_cancels_with_escape() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let row = add_task(root, "Draft title").await;
    until_confirmed(root).await;

    let editor = open_editor(root, &row).await;
    assert_eq!(editor.value(), "Draft title");
    type_text(&editor, "  Final title ");
    press(&editor, "Enter");
    // The new title shows and the editor closes, both from the one key press.
    until("the new title and the editor closed", WAIT, || {
        titles(root) == ["Final title"] && field(root, "Edit task").is_none()
    })
    .await;
    // The row is built anew as its edit ends: found again by its task.
    let row = task_row(root, "Final title").expect("the row");
    let edit = button(&row, "Edit").expect("the Edit button again");
    until("focus back on Edit", WAIT, || is_focused(&edit)).await;
    until_confirmed(root).await;

    let title = by_text(&row, "Final title").expect("the title text");
    double_click(&title);
    let editor = until_found("the Edit task field", WAIT, || field(root, "Edit task")).await;
    type_text(&editor, "   ");
    press(&editor, "Enter");
    let alert = until_found("a refusal", WAIT, || by_role_starting(root, "alert", "")).await;
    assert_eq!(text_of(&alert), "A task needs a title.");
    type_text(&editor, "Something else");
    press(&editor, "Escape");
    until("the editor closed", WAIT, || {
        field(root, "Edit task").is_none()
    })
    .await;
    assert_eq!(titles(root), ["Final title"]);
    let row = task_row(root, "Final title").expect("the row");
    let edit = button(&row, "Edit").expect("the Edit button shown again");
    until("focus back on Edit", WAIT, || is_focused(&edit)).await;
    assert!(
        by_text(&row, "Final title").is_some_and(|title| is_shown(&title)),
        "the title shown again"
    );
    assert!(
        row.get_attribute("data-pending").is_none(),
        "nothing was sent"
    );
}

/// A title typed as a person types it (the browser's own editing, not a value set by
/// script), then given up with Escape: taking the field out of the page makes Chromium
/// send its `change` there and then, to the list's own handler, while the list is
/// changing its rows. The board goes on working.
#[wasm_bindgen_test]
async fn an_edit_typed_by_hand_then_given_up_leaves_the_board_working() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let row = add_task(root, "Draft title").await;
    until_confirmed(root).await;

    let editor = open_editor(root, &row).await;
    let typed = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        .expect("the document")
        .exec_command_with_show_ui_and_value("insertText", false, " and more")
        .expect("typing");
    assert!(typed, "the browser typed into the field");
    assert_eq!(editor.value(), "Draft title and more");
    press(&editor, "Escape");
    until("the editor closed", WAIT, || {
        field(root, "Edit task").is_none()
    })
    .await;
    assert_eq!(titles(root), ["Draft title"]);

    checkbox(root, "Draft title").expect("its checkbox").click();
    until("0 items left", WAIT, || items_left(root) == "0 items left").await;
}

/// Leaving the title editor for another control of its row (Tab to Delete, Shift+Tab
/// to the checkbox) saves the title, and that control of the row shown again has the
/// focus: the keyboard goes on from where the person went, not from the page's top.
#[wasm_bindgen_test]
async fn leaving_the_editor_for_a_control_of_its_row_keeps_the_focus_there() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    add_task(root, "Tab title").await;
    until_confirmed(root).await;
    for (typed, leaving_to) in [("Left for delete", "Delete"), ("Left for check", "Check")] {
        let row_now = task_row(root, &titles(root)[0]).expect("the row");
        let editor = open_editor(root, &row_now).await;
        type_text(&editor, typed);
        // The row, now with its editor: its other controls stay.
        let row_now = editor
            .closest("li")
            .ok()
            .flatten()
            .expect("the row being edited");
        let target: web_sys::HtmlElement = if leaving_to == "Delete" {
            by_role_starting(&row_now, "button", "Delete")
                .expect("its Delete button")
                .dyn_into()
                .expect("a button")
        } else {
            row_now
                .query_selector("input[type=checkbox]")
                .ok()
                .flatten()
                .expect("its checkbox")
                .dyn_into()
                .expect("an input")
        };
        // What Tab does: focus moves to the control, and the field loses it.
        target.focus().expect("focusable");
        until("the title saved and the row shown again", WAIT, || {
            titles(root) == [typed] && field(root, "Edit task").is_none()
        })
        .await;
        let shown = task_row(root, typed).expect("the row");
        until(&format!("focus on the row's {leaving_to}"), WAIT, || {
            let focused = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element());
            focused.is_some_and(|f| {
                shown.contains(Some(&f))
                    && if leaving_to == "Delete" {
                        f.get_attribute("aria-label").as_deref() == Some(&format!("Delete {typed}"))
                    } else {
                        f.get_attribute("type").as_deref() == Some("checkbox")
                    }
            })
        })
        .await;
    }
}

/// The mouse on a control of the row being edited: the press does not end the edit
/// (which would take the control out of the page before the release), so the click
/// acts. A tick keeps the edit and its draft open; Delete takes the task away.
#[wasm_bindgen_test]
async fn a_mouse_click_on_a_control_of_the_row_being_edited_acts() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    add_task(root, "Clicked while edited").await;
    until_confirmed(root).await;
    let row = task_row(root, "Clicked while edited").expect("the row");
    let editor = open_editor(root, &row).await;
    type_text(&editor, "A draft");
    let row = editor
        .closest("li")
        .ok()
        .flatten()
        .expect("the row being edited");
    let check: web_sys::HtmlElement = row
        .query_selector("input[type=checkbox]")
        .ok()
        .flatten()
        .expect("its checkbox")
        .dyn_into()
        .expect("an input");
    assert!(
        mouse_click(&check, Duration::from_millis(100)).await,
        "the checkbox pressed is still in the page when released"
    );
    until("the task done", WAIT, || {
        checkbox(root, "Clicked while edited").is_some_and(|c| c.checked())
    })
    .await;
    let editor = field(root, "Edit task").expect("the edit still open");
    assert_eq!(editor.value(), "A draft");
    let delete: web_sys::HtmlElement = by_role_starting(&row, "button", "Delete")
        .expect("its Delete button")
        .dyn_into()
        .expect("a button");
    assert!(
        mouse_click(&delete, Duration::from_millis(100)).await,
        "Delete pressed is still in the page when released"
    );
    until("the task gone", WAIT, || titles(root).is_empty()).await;
}

/// The row being edited changes elsewhere: the draft stays and the title stays hidden
/// behind the editor; then the task is deleted elsewhere: the editor goes with it and
/// the board carries on.
#[wasm_bindgen_test]
async fn a_task_changed_then_deleted_elsewhere_while_edited() {
    let (app, username) = signed_in_board().await;
    let root = &app.root;
    let token = api_login(&username, PASSWORD).await;
    let id = api_create_task(&token, "Shared title").await;
    let row = until_found("the task", WAIT, || task_row(root, "Shared title")).await;
    button(&row, "Edit").expect("an Edit button").click();
    let editor = until_found("the Edit task field", WAIT, || field(root, "Edit task")).await;
    type_text(&editor, "My draft");

    let path = format!("/api/tasks/{id}");
    let body = serde_json::json!({ "done": true });
    assert_eq!(api_call("PATCH", &path, &token, Some(body)).await.0, 200);
    until("the change shown", WAIT, || {
        checkbox(root, "Shared title").is_some_and(|c| c.checked())
    })
    .await;
    assert_eq!(editor.value(), "My draft", "the draft is kept");
    let edited = editor.closest("li").ok().flatten().expect("the edited row");
    let title_shown = edited
        .query_selector(".task-title")
        .ok()
        .flatten()
        .is_some_and(|title| is_shown(&title));
    assert!(!title_shown, "the title stays behind the editor");

    assert_eq!(api_call("DELETE", &path, &token, None).await.0, 204);
    until("the row and its editor gone", WAIT, || {
        titles(root).is_empty() && field(root, "Edit task").is_none()
    })
    .await;
    add_task(root, "Still working").await;
    until_confirmed(root).await;
    assert_eq!(titles(root), ["Still working"]);
}

/// Moving focus out of the title editor saves what it holds, as leaving a form field
/// does.
#[wasm_bindgen_test]
async fn leaving_the_title_editor_saves_it() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let row = add_task(root, "First words").await;
    until_confirmed(root).await;
    let editor = open_editor(root, &row).await;
    type_text(&editor, "Better words");
    field(root, "New task")
        .expect("the New task field")
        .focus()
        .expect("focus moves");
    until("saved and closed", WAIT, || {
        titles(root) == ["Better words"] && field(root, "Edit task").is_none()
    })
    .await;
    until_confirmed(root).await;
}

/// Under `Active`, the task being edited is marked done elsewhere, so its row leaves the
/// list with the editor focused: the half-typed draft is dropped, not saved.
#[wasm_bindgen_test]
async fn a_draft_is_not_saved_when_its_row_leaves_the_list() {
    let (app, username) = signed_in_board().await;
    let root = &app.root;
    let token = api_login(&username, PASSWORD).await;
    let id = api_create_task(&token, "Original title").await;
    // The filters show once the board has a task.
    until_found("the task", WAIT, || task_row(root, "Original title")).await;
    link(root, "Active").click();
    until("/?filter=active", WAIT, || location() == "/?filter=active").await;
    let row = until_found("the task", WAIT, || task_row(root, "Original title")).await;
    let editor = open_editor(root, &row).await;
    type_text(&editor, "Half a tho");

    let path = format!("/api/tasks/{id}");
    let body = serde_json::json!({ "done": true });
    assert_eq!(api_call("PATCH", &path, &token, Some(body)).await.0, 200);
    until("the row gone from Active", WAIT, || titles(root).is_empty()).await;
    link(root, "Completed").click();
    until("the task under Completed", WAIT, || {
        titles(root) == ["Original title"]
    })
    .await;
    until_confirmed(root).await;
    let (status, body) = api_call("GET", "/api/tasks", &token, None).await;
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_str(&body).expect("a task list");
    assert_eq!(
        list["items"][0]["title"], "Original title",
        "the draft was not sent"
    );
}

/// The page changes while the title editor has focus (nothing blurs it first): the board
/// goes away cleanly and the app keeps working.
#[wasm_bindgen_test]
async fn leaving_the_board_while_editing_keeps_the_app_working() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let row = add_task(root, "Being edited").await;
    until_confirmed(root).await;
    let editor = open_editor(root, &row).await;
    type_text(&editor, "Never saved");

    let panics = count_panics();
    link(root, "Diagnostics").click();
    until("the diagnostics page", WAIT, || {
        location() == "/diagnostics" && by_role(root, "heading", "Diagnostics").is_some()
    })
    .await;
    let panicked = panics
        .call0(&wasm_bindgen::JsValue::NULL)
        .ok()
        .and_then(|count| count.as_f64());
    assert_eq!(panicked, Some(0.0), "a panic while the board went away");
    link(root, "Tasks").click();
    until("the board again", WAIT, || titles(root) == ["Being edited"]).await;
    add_task(root, "Still working").await;
    until_confirmed(root).await;
    assert_eq!(titles(root), ["Being edited", "Still working"]);
}

#[wasm_bindgen_test]
async fn titles_are_shown_as_text_never_as_markup() {
    let (app, username) = signed_in_board().await;
    let root = &app.root;
    let typed = "<img src=x onerror=alert(1)>";
    add_task(root, typed).await;
    let token = api_login(&username, PASSWORD).await;
    let from_api = "<b>bold</b> & <script>alert(2)</script>";
    api_create_task(&token, from_api).await;
    until("both titles", WAIT, || titles(root).len() == 2).await;
    assert_eq!(titles(root), [typed, from_api]);
    let list = tasks_list(root).expect("the Tasks list");
    for tag in ["img", "b", "script"] {
        assert!(
            list.query_selector(tag).expect("a selector").is_none(),
            "no <{tag}> element in the list"
        );
    }
    assert!(button(root, &format!("Delete {typed}")).is_some());
}

// ---- Live changes

#[wasm_bindgen_test]
async fn two_tabs_of_one_user_see_each_others_changes() {
    let (a, username) = signed_in_board().await;
    // The second tab restores the session from the refresh cookie, as a new tab does.
    let b = mount_at("/");
    until("the second tab's board", WAIT, || {
        text_of(&b.root).contains(&username) && by_role(&b.root, "heading", "My tasks").is_some()
    })
    .await;
    until_live(&b.root).await;

    add_task(&a.root, "From tab A").await;
    until("A's task in B", WAIT, || titles(&b.root) == ["From tab A"]).await;

    checkbox(&b.root, "From tab A")
        .expect("its checkbox in B")
        .click();
    until("B's toggle in A", WAIT, || {
        checkbox(&a.root, "From tab A").is_some_and(|c| c.checked())
    })
    .await;
    until("0 items left in A", WAIT, || {
        items_left(&a.root) == "0 items left"
    })
    .await;

    add_task(&b.root, "From tab B").await;
    until("B's task in A", WAIT, || titles(&a.root).len() == 2).await;
    assert_eq!(titles(&a.root), ["From tab A", "From tab B"]);

    button(&a.root, "Delete From tab A")
        .expect("Delete")
        .click();
    until("A's delete in B", WAIT, || {
        titles(&b.root) == ["From tab B"]
    })
    .await;
}

/// Two tabs open at the same moment (a browser restoring them, two reloads): each
/// refreshes the session as it loads, and both stay signed in.
#[wasm_bindgen_test]
async fn two_tabs_opening_at_once_both_stay_signed_in() {
    let (app, username) = signed_in_board().await;
    drop(app);
    let tabs = [mount_at("/"), mount_at("/")];
    for tab in &tabs {
        until("the board", WAIT, || text_of(&tab.root).contains(&username)).await;
        until_live(&tab.root).await;
    }
    // A session ended as stolen would close both tabs' sockets with 4401 by now.
    gloo_timers::future::sleep(Duration::from_secs(1)).await;
    for tab in &tabs {
        assert_eq!(connection(&tab.root), "live");
    }
    assert_eq!(location(), "/");
}

#[wasm_bindgen_test]
async fn changes_made_over_http_appear_without_any_action() {
    let (app, username) = signed_in_board().await;
    let root = &app.root;
    let token = api_login(&username, PASSWORD).await;
    let id = api_create_task(&token, "Made elsewhere").await;
    let row = until_found("the task from HTTP", WAIT, || {
        task_row(root, "Made elsewhere")
    })
    .await;
    assert_eq!(
        row.get_attribute("data-task-id").as_deref(),
        Some(id.as_str())
    );

    let path = format!("/api/tasks/{id}");
    let body = serde_json::json!({ "done": true, "title": "Done elsewhere" });
    assert_eq!(api_call("PATCH", &path, &token, Some(body)).await.0, 200);
    until("the patch", WAIT, || {
        checkbox(root, "Done elsewhere").is_some_and(|c| c.checked())
    })
    .await;

    assert_eq!(api_call("DELETE", &path, &token, None).await.0, 204);
    until("the delete", WAIT, || titles(root).is_empty()).await;
}

/// A change made while the server is away waits; meanwhile the task is deleted
/// elsewhere. Once back, the server refuses the change: the task ends as the server
/// has it, and an alert says why.
#[wasm_bindgen_test]
async fn a_change_the_server_refuses_is_rolled_back_with_an_alert() {
    let (app, username) = signed_in_board().await;
    let root = &app.root;
    let row = add_task(root, "Deleted elsewhere").await;
    add_task(root, "Kept").await;
    until_confirmed(root).await;
    let id = row.get_attribute("data-task-id").expect("a task id");
    let token = api_login(&username, PASSWORD).await;

    control("stop").await;
    until("the connection lost", RECONNECT, || {
        connection(root) != "live"
    })
    .await;
    checkbox(root, "Deleted elsewhere")
        .expect("its checkbox")
        .click();
    until("the change pending", WAIT, || {
        row.get_attribute("data-pending").as_deref() == Some("true")
    })
    .await;
    control("start").await;
    let path = format!("/api/tasks/{id}");
    assert_eq!(api_call("DELETE", &path, &token, None).await.0, 204);

    if let Some(retry) = button(root, "Retry now") {
        retry.click();
    }
    until_live_within(root, RECONNECT).await;
    let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
    assert!(
        text_of(&alert).contains("The server refused the change: No such task."),
        "{}",
        text_of(&alert)
    );
    until("the task as the server has it", WAIT, || {
        titles(root) == ["Kept"]
    })
    .await;
    until_confirmed(root).await;
    // Dismissed, the alert goes, and the keyboard goes on from New task.
    let dismiss = button(&alert, "Dismiss").expect("a Dismiss button");
    dismiss.focus().expect("focusable");
    dismiss.click();
    let new_task = field(root, "New task").expect("the New task field");
    until("focus on New task", WAIT, || is_focused(&new_task)).await;
    until("the alert gone", WAIT, || {
        by_role_starting(root, "alert", "").is_none()
    })
    .await;
}

/// A new tab of someone with tasks shows them once they arrive, and never claims there
/// are none while it waits for them.
#[wasm_bindgen_test]
async fn a_new_tab_never_says_no_tasks_while_loading_them() {
    let (app, username) = signed_in_board().await;
    let token = api_login(&username, PASSWORD).await;
    api_create_task(&token, "One").await;
    api_create_task(&token, "Two").await;
    until("both tasks", WAIT, || titles(&app.root).len() == 2).await;

    let tab = mount_at("/");
    let stop = watch_for_text(&tab.root, "No tasks yet");
    until("the new tab's tasks", WAIT, || titles(&tab.root).len() == 2).await;
    let said_none = stop
        .call0(&wasm_bindgen::JsValue::NULL)
        .ok()
        .and_then(|seen| seen.as_bool());
    assert_eq!(said_none, Some(false), "the new tab said \"No tasks yet\"");
}

/// Changes made while the server is away stay on the board, marked pending, and go out
/// by themselves once the socket is live again: nothing to click, nothing lost.
#[wasm_bindgen_test]
async fn changes_made_offline_go_out_on_resume() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    let kept = add_task(root, "Done while offline").await;
    until_confirmed(root).await;

    control("stop").await;
    until("the connection lost", RECONNECT, || {
        connection(root) != "live"
    })
    .await;
    checkbox(&kept, "Done while offline")
        .expect("its checkbox")
        .click();
    let added = add_task(root, "Added while offline").await;
    for row in [&kept, &added] {
        assert_eq!(row.get_attribute("data-pending").as_deref(), Some("true"));
    }

    control("start").await;
    if let Some(retry) = button(root, "Retry now") {
        retry.click();
    }
    until_live_within(root, RECONNECT).await;
    until_confirmed(root).await;
    assert_eq!(items_left(root), "1 item left");
    // A new tab shows what the server has: both changes arrived.
    drop(app);
    let again = mount_at("/?filter=active");
    until("the server's board", WAIT, || {
        titles(&again.root) == ["Added while offline"]
    })
    .await;
}

/// An alert about a change on one board goes when the person opens another of their
/// boards: it was about the board they left.
#[wasm_bindgen_test]
async fn an_alert_about_one_board_goes_when_another_is_opened() {
    let (app, username) = signed_in_board().await;
    let root = &app.root;
    let token = api_login(&username, PASSWORD).await;
    let body = serde_json::json!({ "name": "Errands" });
    let (status, body) = api_call("POST", "/api/boards", &token, Some(body)).await;
    assert_eq!(status, 201, "{body}");
    let row = add_task(root, "Deleted elsewhere").await;
    until_confirmed(root).await;
    let id = row.get_attribute("data-task-id").expect("a task id");

    browser_says("offline");
    until("offline", WAIT, || connection(root) == "offline").await;
    checkbox(root, "Deleted elsewhere")
        .expect("its checkbox")
        .click();
    let path = format!("/api/tasks/{id}");
    assert_eq!(api_call("DELETE", &path, &token, None).await.0, 204);
    browser_says("online");
    let alert = until_found("the refusal's alert", WAIT, || {
        by_role_starting(root, "alert", "")
    })
    .await;
    assert!(
        text_of(&alert).contains("No such task"),
        "{}",
        text_of(&alert)
    );

    until_found("the Errands link", WAIT, || {
        by_role(root, "link", "Errands")
    })
    .await;
    link(root, "Errands").click();
    until("Errands open, the alert gone", WAIT, || {
        let heading = root.query_selector("h1").ok().flatten();
        heading.is_some_and(|h| text_of(&h) == "Errands")
            && by_role_starting(root, "alert", "").is_none()
    })
    .await;
}

/// Offline, with as many changes waiting as the app keeps (500), one more is refused
/// with an alert, and the title typed for it stays in the field to try again.
#[wasm_bindgen_test]
async fn a_change_refused_for_too_many_waiting_keeps_its_title() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    add_task(root, "Already there").await;
    until_confirmed(root).await;
    browser_says("offline");
    until("offline", WAIT, || connection(root) == "offline").await;
    let input = field(root, "New task").expect("the New task field");
    for n in 0..500 {
        type_text(&input, &format!("Waiting {n}"));
        press(&input, "Enter");
    }
    until("500 tasks waiting", WAIT, || rows(root).len() == 501).await;
    type_text(&input, "One too many");
    press(&input, "Enter");
    let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
    assert!(
        text_of(&alert).contains("500 changes are already waiting"),
        "{}",
        text_of(&alert)
    );
    assert_eq!(input.value(), "One too many");
    assert_eq!(rows(root).len(), 501);
    // A tick the app cannot take leaves the box as the task is: not done.
    let check = checkbox(root, "Already there").expect("its checkbox");
    check.click();
    assert!(
        !check.checked(),
        "the box ticked though the task is not done"
    );
    button(root, "Discard unsent changes")
        .expect("Discard unsent changes")
        .click();
    until("nothing waiting", WAIT, || {
        titles(root) == ["Already there"]
    })
    .await;
    let check = checkbox(root, "Already there").expect("its checkbox");
    assert!(!check.checked(), "still not done after the discard");
    browser_says("online");
    until_live_within(root, RECONNECT).await;
}

#[wasm_bindgen_test]
async fn changes_made_offline_can_be_seen_and_discarded() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    add_task(root, "Already there").await;
    until_confirmed(root).await;

    control("stop").await;
    until("the connection lost", RECONNECT, || {
        connection(root) != "live"
    })
    .await;
    add_task(root, "Thought of offline").await;
    let row = task_row(root, "Thought of offline").expect("the new row");
    assert_eq!(row.get_attribute("data-pending").as_deref(), Some("true"));
    let unsent = until_found("the unsent changes", WAIT, || {
        by_role(root, "region", "Unsent changes")
    })
    .await;
    assert!(
        text_of(&unsent).contains("1 change"),
        "{}",
        text_of(&unsent)
    );
    button(&unsent, "Discard unsent changes")
        .expect("a Discard button")
        .click();
    until("the change rolled back", WAIT, || {
        titles(root) == ["Already there"]
    })
    .await;
    until("the panel gone", WAIT, || {
        by_role(root, "region", "Unsent changes").is_none()
    })
    .await;

    control("start").await;
    if let Some(retry) = button(root, "Retry now") {
        retry.click();
    }
    until_live_within(root, RECONNECT).await;
    // A new tab shows what the server has: the discarded task was never sent.
    drop(app);
    let again = mount_at("/");
    until("the board again", WAIT, || {
        titles(&again.root) == ["Already there"]
    })
    .await;
}

#[wasm_bindgen_test]
async fn the_status_follows_a_server_restart() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    control("stop").await;
    until("reconnecting", RECONNECT, || {
        connection(root) == "reconnecting"
    })
    .await;
    // Between tries the status counts down, in the contract's words.
    until("a countdown", RECONNECT, || {
        is_countdown(&name_of(&status(root)))
    })
    .await;
    let text = name_of(&status(root));
    assert!(
        text.contains("1001") || text.contains("1006"),
        "the last close code is shown: {text}"
    );
    // Found, focused and clicked with no wait between: the countdown cannot run out and
    // take the button first. The server is still away, so this try fails too.
    let retry = button(root, "Retry now").expect("a Retry now button");
    retry.focus().expect("focusable");
    retry.click();
    // The button goes as the retry starts: focus moves to the status, not to the top.
    until("focus on the status", WAIT, || is_focused(&status(root))).await;
    control("start").await;
    until_live_within(root, RECONNECT).await;
    assert!(name_of(&status(root)).starts_with("Live"));
    assert!(button(root, "Retry now").is_none());
}

/// The browser says it went offline: the status says so, and when it is back online the
/// board is live again without any action.
#[wasm_bindgen_test]
async fn the_status_follows_the_browser_going_offline_and_back() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    browser_says("offline");
    until("offline", WAIT, || connection(root) == "offline").await;
    assert!(name_of(&status(root)).starts_with("Offline"));
    browser_says("online");
    until_live_within(root, RECONNECT).await;
}

/// A server that refuses the page (4403) gets no more tries: the person reads why, and
/// the status says the connection is closed, with the code.
#[wasm_bindgen_test]
async fn a_refused_connection_is_reported_and_not_retried() {
    let app = board_on_the_double("/close/4403").await;
    let root = &app.root;
    let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
    let expected =
        "The server closed the connection: this page or account may not connect (code 4403).";
    assert!(text_of(&alert).contains(expected), "{}", text_of(&alert));
    until("closed", WAIT, || connection(root) == "closed").await;
    let text = name_of(&status(root));
    assert!(
        text.starts_with("Closed") && text.contains("4403"),
        "{text}"
    );
    let made = sockets().len();
    // Longer than the first retry's backoff: a retry would have opened a socket by now.
    gloo_timers::future::sleep(Duration::from_secs(3)).await;
    assert_eq!(sockets().len(), made, "no socket opened after a 4403");
    assert_eq!(connection(root), "closed");
}

/// A frame too big (1009) or one the server could not read (4400) is reported, and the
/// app connects again by itself.
#[wasm_bindgen_test]
async fn a_reported_close_is_shown_and_the_app_reconnects() {
    for (code, why) in [
        (1009, "a message was too large for it"),
        (4400, "it could not read what the app sent"),
    ] {
        let app = board_on_the_double(&format!("/close/{code}")).await;
        let root = &app.root;
        let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
        let expected = format!("The server closed the connection: {why} (code {code}).");
        assert!(text_of(&alert).contains(&expected), "{}", text_of(&alert));
        let made = sockets().len();
        until("another socket", RECONNECT, || sockets().len() > made).await;
    }
}

// ---- Leaving, and admins

#[wasm_bindgen_test]
async fn signing_out_closes_the_sockets_and_lands_on_the_login_page() {
    record_sockets();
    let before = sockets().len();
    let (app, _) = signed_in_board().await;
    assert!(sockets().len() > before, "the board opened a socket");
    button(&app.root, "Sign out").expect("Sign out").click();
    until("the login page", WAIT, || location() == "/login").await;
    until("every socket closed", WAIT, || {
        sockets()[before..]
            .iter()
            .all(|s| s.ready_state() == web_sys::WebSocket::CLOSED)
    })
    .await;
    assert!(by_role(&app.root, "heading", "Sign in").is_some());
    drop(app);
    // The session is gone for a new tab too.
    let again = mount_at("/");
    until("sent to the login page", WAIT, || location() == "/login").await;
    until("the sign-in form", WAIT, || {
        by_role(&again.root, "heading", "Sign in").is_some()
    })
    .await;
}

#[wasm_bindgen_test]
async fn signing_out_everywhere_ends_every_tab() {
    let (a, username) = signed_in_board().await;
    let b = mount_at("/");
    until("the second tab's board", WAIT, || {
        text_of(&b.root).contains(&username)
    })
    .await;
    until_live(&b.root).await;
    button(&a.root, "Sign out everywhere")
        .expect("Sign out everywhere")
        .click();
    until("both tabs on the sign-in form", WAIT, || {
        by_role(&a.root, "heading", "Sign in").is_some()
            && by_role(&b.root, "heading", "Sign in").is_some()
    })
    .await;
    // The other tab says why; the one that asked needs no telling.
    let why = by_role_starting(&b.root, "alert", "").expect("an alert in the other tab");
    assert_eq!(text_of(&why), "You were signed out on every device.");
    assert!(by_role_starting(&a.root, "alert", "").is_none());
}

/// Acting as someone ends the admin's session on the page and with it the changes not
/// sent yet: with one waiting (its socket a double that never answers), `Log in as` is
/// refused with an alert that says why, and the admin stays who they were.
#[wasm_bindgen_test]
async fn log_in_as_waits_for_the_changes_not_sent_yet() {
    let (admin, admin_password) = admin_credentials();
    let user = unique_name("notyet");
    api_register(&user, PASSWORD).await;
    let app = mount_with(
        "/login",
        taskwire::api::Api::new(server()).with_socket_url(faults("/silent")),
    );
    let root = &app.root;
    sign_in(root, admin, admin_password).await;
    until_live(root).await;
    let row = add_task(root, "Not sent yet").await;
    assert!(is_pending(&row), "no answer from the double");
    until_found("the Admin link", WAIT, || by_role(root, "link", "Admin"))
        .await
        .dyn_into::<web_sys::HtmlElement>()
        .expect("a link")
        .click();
    let log_in_as = format!("Log in as {user}");
    until_found("the user's button", WAIT, || button(root, &log_in_as))
        .await
        .click();
    let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
    assert!(
        text_of(&alert).contains("Changes not sent yet (1) would be lost"),
        "{}",
        text_of(&alert)
    );
    assert!(by_role(root, "complementary", "Acting as another user").is_none());
    assert_eq!(location(), "/admin");

    // The change is kept for the admin's next tab, which would be another test's: signing
    // out here, as the person would to drop it, leaves nothing behind.
    button(root, "Sign out").expect("Sign out").click();
    let dialog = until_found("the sign-out question", WAIT, || {
        by_role(root, "alertdialog", "Sign out?")
    })
    .await;
    button(&dialog, "Sign out anyway")
        .expect("Sign out anyway")
        .click();
    until("the sign-in page", WAIT, || location() == "/login").await;
}

#[wasm_bindgen_test]
async fn an_admin_logs_in_as_a_user_and_back() {
    let (admin, admin_password) = admin_credentials();
    let user = unique_name("acted");
    let token = api_register(&user, PASSWORD).await;
    api_create_task(&token, "Their task").await;

    let app = mount_at("/login");
    let root = &app.root;
    sign_in(root, admin, admin_password).await;
    until_found("the Admin link", WAIT, || by_role(root, "link", "Admin"))
        .await
        .dyn_into::<web_sys::HtmlElement>()
        .expect("a link")
        .click();
    until("/admin", WAIT, || location() == "/admin").await;
    let log_in_as = format!("Log in as {user}");
    until_found("the user's button", WAIT, || button(root, &log_in_as))
        .await
        .click();
    // Failing, it says what the page shows instead (a refusal, say).
    let start = js_sys::Date::now();
    let banner = loop {
        if let Some(banner) = by_role(root, "complementary", "Acting as another user") {
            break banner;
        }
        assert!(
            js_sys::Date::now() - start < WAIT.as_millis() as f64,
            "no acting-as banner after {WAIT:?}; the page says: {}",
            text_of(root)
        );
        gloo_timers::future::sleep(Duration::from_millis(20)).await;
    };
    assert!(text_of(&banner).contains(&user), "{}", text_of(&banner));
    until("the user's board", WAIT, || titles(root) == ["Their task"]).await;
    assert_eq!(location(), "/");
    // The switch did not pass through the sign-in page: Back returns to /admin (which
    // the user acted as may not see), and Forward to the board.
    let history = web_sys::window()
        .expect("a window")
        .history()
        .expect("history");
    history.back().expect("back");
    until("back on /admin, not allowed", WAIT, || {
        location() == "/admin" && text_of(root).contains("Not allowed")
    })
    .await;
    history.forward().expect("forward");
    until("the user's board again", WAIT, || {
        location() == "/" && titles(root) == ["Their task"]
    })
    .await;

    button(root, "Back to my account")
        .expect("Back to my account")
        .click();
    until("the banner gone", WAIT, || {
        by_role(root, "complementary", "Acting as another user").is_none()
    })
    .await;
    until("the admin page again", WAIT, || {
        location() == "/admin" && button(root, &log_in_as).is_some()
    })
    .await;
}

#[wasm_bindgen_test]
async fn only_admins_may_open_the_admin_page() {
    let (app, _) = signed_in_board().await;
    assert!(
        by_role(&app.root, "link", "Admin").is_none(),
        "no Admin link for users"
    );
    drop(app);
    let again = mount_at("/admin");
    until("Not allowed", WAIT, || {
        text_of(&again.root).contains("Not allowed")
    })
    .await;
    assert!(by_role_starting(&again.root, "button", "Log in as").is_none());
}

/// The users could not be fetched (the server was away): the page says so and offers to
/// try again, rather than saying "Loading users…" for good.
#[wasm_bindgen_test]
async fn the_admin_page_can_try_again_when_the_users_do_not_load() {
    let (admin, admin_password) = admin_credentials();
    let app = mount_at("/login");
    let root = &app.root;
    sign_in(root, admin, admin_password).await;
    let admin_link = until_found("the Admin link", WAIT, || by_role(root, "link", "Admin")).await;
    control("stop").await;
    admin_link
        .dyn_into::<web_sys::HtmlElement>()
        .expect("a link")
        .click();
    let alert = until_found("an alert", WAIT, || by_role_starting(root, "alert", "")).await;
    assert!(!text_of(&alert).is_empty());
    let again = until_found("Try again", WAIT, || button(root, "Try again")).await;
    assert!(!text_of(root).contains("Loading users…"));
    control("start").await;
    again.focus().expect("focusable");
    again.click();
    let users = until_found("the Users list", RECONNECT, || {
        by_role(root, "list", "Users")
    })
    .await;
    // Try again went as it was pressed: focus is on the users' section, not the page.
    let focused = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .expect("something focused");
    assert!(
        focused.tag_name() == "SECTION" && focused.contains(Some(&users)),
        "{}",
        focused.tag_name()
    );
    assert!(by_role(root, "button", &format!("Log in as {admin}")).is_some());
    assert!(by_role_starting(root, "alert", "").is_none());
}

#[wasm_bindgen_test]
async fn diagnostics_shows_every_socket_with_a_round_trip_chart() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    link(root, "Diagnostics").click();
    until("/diagnostics", WAIT, || location() == "/diagnostics").await;
    let socket = until_found("a socket", WAIT, || {
        by_role_starting(root, "region", "Socket ")
    })
    .await;
    let text = text_of(&socket);
    for figure in [
        "Round trip",
        "Frames in",
        "Frames out",
        "Reconnects",
        "Last close",
    ] {
        assert!(text.contains(figure), "{figure} in {text}");
    }
    let chart = by_role_starting(&socket, "img", "Round-trip time").expect("an RTT chart");
    assert_eq!(chart.tag_name().to_lowercase(), "svg");

    // The figures themselves: the live socket pinged on going live, so its round trip is
    // known at once, and charted.
    let figures = || {
        let socket = by_role_starting(root, "region", "Socket tasks")?;
        let of = |name: &str| figure(&socket, name);
        let chart = by_role_starting(&socket, "img", "Round-trip time")?;
        Some((
            of("Round trip")?,
            of("Frames in")?.parse::<u64>().ok()?,
            of("Frames out")?.parse::<u64>().ok()?,
            of("Reconnects")?,
            of("Last close")?,
            name_of(&chart),
        ))
    };
    let (rtt, frames_in, frames_out, reconnects, last_close, chart) =
        until_found("the tasks socket's round trip", WAIT, || {
            figures().filter(|(rtt, ..)| rtt.ends_with(" ms"))
        })
        .await;
    assert!(rtt.trim_end_matches(" ms").parse::<f64>().is_ok(), "{rtt}");
    // auth, subscribe and ping out; auth_ok, snapshot and pong in.
    assert!(
        frames_in >= 3 && frames_out >= 3,
        "{frames_in} in, {frames_out} out"
    );
    assert_eq!((reconnects.as_str(), last_close.as_str()), ("0", "–"));
    assert!(chart.contains("samples, latest"), "{chart}");
}

/// The value shown for figure `name` (a `<dt>` and its `<dd>`) in `root`.
fn figure(root: &Element, name: &str) -> Option<String> {
    let terms = root.query_selector_all("dt").ok()?;
    (0..terms.length())
        .filter_map(|i| terms.item(i)?.dyn_into::<Element>().ok())
        .find(|term| text_of(term) == name)?
        .next_element_sibling()
        .map(|value| text_of(&value))
}

/// The address is the app's: links change it in place, the header marks the page shown,
/// and back and forward move between pages and filters.
#[wasm_bindgen_test]
async fn back_and_forward_follow_the_address_and_the_header_marks_the_page() {
    let (app, _) = signed_in_board().await;
    let root = &app.root;
    add_task(root, "Buy milk").await;
    until_confirmed(root).await;
    let current = |name: &str| link(root, name).get_attribute("aria-current");
    assert_eq!(current("Tasks").as_deref(), Some("page"));

    link(root, "Completed").click();
    until("no completed task", WAIT, || titles(root).is_empty()).await;
    link(root, "Diagnostics").click();
    until("the diagnostics page, marked in the header", WAIT, || {
        location() == "/diagnostics" && current("Diagnostics").as_deref() == Some("page")
    })
    .await;
    assert_eq!(current("Tasks"), None);

    let history = web_sys::window()
        .and_then(|w| w.history().ok())
        .expect("history");
    history.back().expect("back");
    until("back on the completed filter", WAIT, || {
        location() == "/?filter=completed" && current("Completed").as_deref() == Some("page")
    })
    .await;
    assert!(titles(root).is_empty());
    history.back().expect("back");
    until("back on every task", WAIT, || {
        location() == "/"
            && titles(root) == ["Buy milk"]
            && current("Tasks").as_deref() == Some("page")
    })
    .await;
    history.forward().expect("forward");
    until("forward to the completed filter", WAIT, || {
        location() == "/?filter=completed" && titles(root).is_empty()
    })
    .await;
}

/// An app taken off the page (by a host page, or a test) stops: its sockets close and
/// are released, rather than staying connected, unseen.
#[wasm_bindgen_test]
async fn an_app_taken_off_the_page_closes_its_sockets() {
    let baseline = taskwire::socket::live_sockets();
    let (app, _) = signed_in_board().await;
    assert!(taskwire::socket::live_sockets() > baseline, "a socket open");
    drop(app);
    until("its sockets released", WAIT, || {
        taskwire::socket::live_sockets() <= baseline
    })
    .await;
}

// ---- Helpers: the board, the way a person uses it.

/// The window's `offline` or `online` event, as the browser sends it when the network
/// goes or comes back.
fn browser_says(event: &str) {
    let event = web_sys::Event::new(event).expect("an event");
    web_sys::window()
        .expect("a window")
        .dispatch_event(&event)
        .expect("the event dispatched");
}

/// The suites' admin account, which `cargo xtask test` creates.
fn admin_credentials() -> (&'static str, &'static str) {
    match (
        option_env!("TASKWIRE_TEST_ADMIN_USER"),
        option_env!("TASKWIRE_TEST_ADMIN_PASSWORD"),
    ) {
        (Some(admin), Some(password)) => (admin, password),
        _ => panic!("TASKWIRE_TEST_ADMIN_USER/PASSWORD are unset: run with `cargo xtask test`"),
    }
}

/// A new account signed in through the form, its sockets sent to the socket double at
/// `path` (which goes live, then misbehaves); the sockets the page opens are recorded.
async fn board_on_the_double(path: &str) -> Mounted {
    record_sockets();
    let username = unique_name("u");
    api_register(&username, PASSWORD).await;
    let api = taskwire::api::Api::new(server()).with_socket_url(faults(path));
    let app = mount_with("/login", api);
    fill_and_submit(&app.root, "Sign in", &username, PASSWORD).await;
    app
}

/// Presses the row's Edit and waits for the title editor, focused.
async fn open_editor(root: &Element, row: &Element) -> web_sys::HtmlInputElement {
    button(row, "Edit").expect("an Edit button").click();
    let editor = until_found("the Edit task field", WAIT, || field(root, "Edit task")).await;
    until("the field focused", WAIT, || is_focused(&editor)).await;
    editor
}

/// Signed in, and the app has written nothing to local or session storage but the id
/// of the board opened last and this tab's id (which names the tab's saved changes),
/// nor a cookie a script can read: the access token lives in memory only, and a reload
/// gets a new one through the HttpOnly refresh cookie.
fn assert_no_token_in_storage() {
    let window = web_sys::window().expect("a window");
    for storage in [window.local_storage(), window.session_storage()] {
        let storage = storage.ok().flatten().expect("web storage");
        for i in 0..storage.length().expect("its length") {
            let key = storage.key(i).ok().flatten().expect("a key");
            let value = storage.get_item(&key).ok().flatten().unwrap_or_default();
            assert!(
                (key.starts_with("taskwire.last_board.") || key == "taskwire.tab")
                    && uuid::Uuid::try_parse(&value).is_ok(),
                "stored: {key} = {value}"
            );
        }
    }
    let cookies = window
        .document()
        .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        .and_then(|d| d.cookie().ok())
        .unwrap_or_default();
    assert_eq!(cookies, "", "a cookie a script can read");
}

/// "Reconnecting in 4 s (attempt 3)", with any numbers, at the start of `text`.
fn is_countdown(text: &str) -> bool {
    let number = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
    text.strip_prefix("Reconnecting in ")
        .and_then(|rest| rest.split_once(" s (attempt "))
        .and_then(|(seconds, rest)| Some((seconds, rest.split_once(')')?.0)))
        .is_some_and(|(seconds, attempt)| number(seconds) && number(attempt))
}

fn tasks_list(root: &Element) -> Option<Element> {
    root.query_selector("ul[aria-label=\"Tasks\"]")
        .expect("a selector")
}

fn items_left(root: &Element) -> String {
    let pattern = |t: &str| t.ends_with(" left") && t.split(' ').count() == 3;
    let nodes = root.query_selector_all("*").expect("querySelectorAll");
    (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok())
        .filter(|e| e.child_element_count() == 0 && is_shown(e))
        .map(|e| text_of(&e))
        .find(|t| pattern(t))
        .unwrap_or_default()
}

fn link(root: &Element, name: &str) -> web_sys::HtmlElement {
    by_role(root, "link", name)
        .unwrap_or_else(|| panic!("a link {name:?}"))
        .dyn_into()
        .expect("an HTML element")
}

/// The innermost element whose text is `text`.
fn by_text(root: &Element, text: &str) -> Option<Element> {
    let nodes = root.query_selector_all("*").expect("querySelectorAll");
    (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok())
        .rfind(|e| e.child_element_count() == 0 && text_of(e) == text)
}
