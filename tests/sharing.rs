//! Shared boards in a real browser against the real server, with two people: each is an
//! app mounted on the page with a session of their own (held in memory, as a tab holds
//! it). What one does on a board reaches the other without any action.
//!
//! Every mounted app's router listens for link clicks on the whole page, and the first
//! one mounted takes each click: so the person who clicks links is mounted first, and
//! the other one only uses buttons and forms.

#![cfg(target_arch = "wasm32")]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    Mounted, all_by_role, api_call, api_register, button, by_role, by_role_starting, checkbox,
    click, field, location, login_keeping_cookie, mount_at, press, text_of, type_text, unique_name,
    until, until_found,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "correct horse battery";

/// One person: a token of their own for the HTTP calls a test makes on their behalf,
/// and, once they open it, their app.
struct Person {
    username: String,
    token: String,
    app: Option<Mounted>,
}

impl Person {
    async fn new(prefix: &str) -> Self {
        let username = unique_name(prefix);
        let token = api_register(&username, PASSWORD).await;
        Self {
            username,
            token,
            app: None,
        }
    }

    /// Opens the app at `path`, restoring the session from the refresh cookie as a new
    /// tab does, and waits for it to be live. The cookie then belongs to this person;
    /// the app of someone who opened it before keeps its own session in memory.
    async fn open_at(&mut self, path: &str) {
        login_keeping_cookie(&self.username, PASSWORD).await;
        let app = mount_at(path);
        let username = self.username.clone();
        until(&format!("{username} live"), WAIT, || {
            connection(&app.root) == "live" && text_of(&app.root).contains(&username)
        })
        .await;
        self.app = Some(app);
    }

    fn root(&self) -> &Element {
        &self.app.as_ref().expect("the person's app is open").root
    }
}

fn connection(root: &Element) -> String {
    root.query_selector("[role=status][data-connection]")
        .ok()
        .flatten()
        .and_then(|status| status.get_attribute("data-connection"))
        .unwrap_or_default()
}

fn heading(root: &Element) -> String {
    root.query_selector("h1")
        .ok()
        .flatten()
        .map(|h| text_of(&h))
        .unwrap_or_default()
}

fn titles(root: &Element) -> Vec<String> {
    let Some(list) = by_role(root, "list", "Tasks") else {
        return Vec::new();
    };
    all_by_role(&list, "listitem")
        .iter()
        .filter_map(|item| item.query_selector(".task-title").ok().flatten())
        .map(|title| text_of(&title))
        .collect()
}

fn here_now(root: &Element) -> Vec<String> {
    let Some(list) = by_role(root, "list", "Here now") else {
        return Vec::new();
    };
    let mut names: Vec<String> = all_by_role(&list, "listitem").iter().map(text_of).collect();
    names.sort();
    names
}

fn board_links(root: &Element) -> Vec<String> {
    by_role(root, "navigation", "Boards")
        .map(|nav| all_by_role(&nav, "link").iter().map(text_of).collect())
        .unwrap_or_default()
}

fn alert_text(root: &Element) -> String {
    all_by_role(root, "alert")
        .iter()
        .map(text_of)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn focused() -> Option<Element> {
    web_sys::window()?.document()?.active_element()
}

/// A board made by `owner` over HTTP; its id.
async fn board_over_http(owner: &Person, name: &str) -> String {
    let (status, body) = api_call(
        "POST",
        "/api/boards",
        &owner.token,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let board: serde_json::Value = serde_json::from_str(&body).expect("a board");
    board["id"].as_str().expect("its id").to_owned()
}

/// A board made by `owner` over HTTP, shared with `member` as `role`; its id.
async fn shared_board(owner: &Person, member: &Person, name: &str, role: &str) -> String {
    let id = board_over_http(owner, name).await;
    let (status, body) = api_call(
        "PUT",
        &format!("/api/boards/{id}/members/{}", member.username),
        &owner.token,
        Some(json!({ "role": role })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    id
}

/// Creates a task on `board` over HTTP as `person`.
async fn add_over_http(person: &Person, board: &str, title: &str) {
    let (status, body) = api_call(
        "POST",
        &format!("/api/boards/{board}/tasks"),
        &person.token,
        Some(json!({ "title": title })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Renames the board's one task over HTTP as `person`.
async fn rename_over_http(person: &Person, board: &str, title: &str) {
    let (_, body) = api_call(
        "GET",
        &format!("/api/boards/{board}/tasks"),
        &person.token,
        None,
    )
    .await;
    let list: serde_json::Value = serde_json::from_str(&body).expect("the tasks");
    let id = list["items"][0]["id"].as_str().expect("a task").to_owned();
    let (status, body) = api_call(
        "PATCH",
        &format!("/api/boards/{board}/tasks/{id}"),
        &person.token,
        Some(json!({ "title": title })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn open_link(root: &Element, name: &str) {
    let link = until_found(&format!("the link {name}"), WAIT, || {
        by_role(root, "navigation", "Boards").and_then(|nav| by_role(&nav, "link", name))
    })
    .await;
    click(&link);
}

async fn add_task(root: &Element, title: &str) {
    let input = until_found("New task", WAIT, || field(root, "New task")).await;
    type_text(&input, title);
    press(&input, "Enter");
}

fn row(root: &Element, title: &str) -> Option<Element> {
    let list = by_role(root, "list", "Tasks")?;
    all_by_role(&list, "listitem").into_iter().find(|item| {
        item.query_selector(".task-title")
            .ok()
            .flatten()
            .is_some_and(|t| text_of(&t) == title)
    })
}

/// Opens the title editor of the task called `title` with its Edit button.
async fn open_editor(root: &Element, title: &str) -> web_sys::HtmlInputElement {
    let item = until_found(&format!("the task {title}"), WAIT, || row(root, title)).await;
    button(&item, "Edit").expect("Edit").click();
    until_found("the editor", WAIT, || field(root, "Edit task")).await
}

/// A makes a board and shares it from the dialog; B sees it appear and opens it; each
/// change A makes shows in B's open board without any action, with who made it; both are
/// listed as here now.
#[wasm_bindgen_test]
async fn a_board_shared_by_one_person_is_live_for_the_other() {
    let (mut a, mut b) = (Person::new("ann").await, Person::new("bob").await);
    b.open_at("/").await;
    a.open_at("/").await;
    until("A's personal board", WAIT, || {
        heading(a.root()) == "My tasks"
    })
    .await;

    let new_board = until_found("New board", WAIT, || button(a.root(), "New board")).await;
    // Escape closes the form and gives focus back to its button.
    new_board.click();
    let input = until_found("Board name", WAIT, || field(a.root(), "Board name")).await;
    press(&input, "Escape");
    until("focus back on New board", WAIT, || {
        field(a.root(), "Board name").is_none()
            && focused().is_some_and(|f| &f == new_board.unchecked_ref::<Element>())
    })
    .await;
    new_board.click();
    let name = "Trip <b>&";
    let input = until_found("Board name", WAIT, || field(a.root(), "Board name")).await;
    type_text(&input, name);
    button(a.root(), "Create board")
        .expect("Create board")
        .click();
    until("A on the new board", WAIT, || {
        location().starts_with("/b/") && heading(a.root()) == name
    })
    .await;
    // The form went with the page it was on (`/`): the new board's heading takes the
    // focus, rather than the top of the page.
    until("focus on the new board's heading", WAIT, || {
        focused().is_some_and(|f| f.tag_name() == "H1" && text_of(&f) == name)
    })
    .await;
    let path = location();

    // The dialog: focus moves in, an unknown name is refused, B is added, Escape closes
    // and gives focus back.
    let share = button(a.root(), "Share").expect("Share");
    share.click();
    let dialog = until_found("the dialog", WAIT, || {
        by_role(a.root(), "dialog", &format!("Share {name}"))
    })
    .await;
    let username = field(&dialog, "Username").expect("Username");
    until("focus in the dialog", WAIT, || {
        focused().is_some_and(|f| &f == username.unchecked_ref::<Element>())
    })
    .await;
    type_text(&username, "nobody-here");
    button(&dialog, "Add").expect("Add").click();
    until("the unknown name refused", WAIT, || {
        alert_text(&dialog).contains("No user is called nobody-here")
    })
    .await;
    type_text(&username, &b.username);
    let role = by_role(&dialog, "combobox", "Role").expect("the Role select");
    assert_eq!(
        role.dyn_ref::<web_sys::HtmlSelectElement>()
            .map(|s| s.value()),
        Some("editor".to_owned())
    );
    button(&dialog, "Add").expect("Add").click();
    until("B listed as editor", WAIT, || {
        by_role(&dialog, "list", "Members").is_some_and(|members| {
            let text = text_of(&members);
            text.contains(&b.username) && text.contains("Editor")
        })
    })
    .await;
    press(&dialog, "Escape");
    until("the dialog closed, focus back on Share", WAIT, || {
        by_role(a.root(), "dialog", &format!("Share {name}")).is_none()
            && focused().is_some_and(|f| f.text_content().as_deref() == Some("Share"))
    })
    .await;

    until("the board in B's list", WAIT, || {
        board_links(b.root()).contains(&name.to_owned())
    })
    .await;
    open_link(b.root(), name).await;
    until("B on the board", WAIT, || {
        location() == path && heading(b.root()) == name
    })
    .await;
    let both = {
        let mut both = vec![a.username.clone(), b.username.clone()];
        both.sort();
        both
    };
    until("both here now, for both", WAIT, || {
        here_now(a.root()) == both && here_now(b.root()) == both
    })
    .await;

    add_task(a.root(), "Pack bags").await;
    until("A's task in B, by A", WAIT, || {
        row(b.root(), "Pack bags")
            .is_some_and(|item| text_of(&item).contains(&format!("by {}", a.username)))
    })
    .await;
    until_found("A's checkbox", WAIT, || checkbox(a.root(), "Pack bags"))
        .await
        .click();
    until("A's tick in B", WAIT, || {
        checkbox(b.root(), "Pack bags").is_some_and(|c| c.checked())
    })
    .await;
    let editor = open_editor(a.root(), "Pack bags").await;
    type_text(&editor, "Pack light");
    press(&editor, "Enter");
    until("A's rename in B", WAIT, || {
        titles(b.root()) == ["Pack light"]
    })
    .await;
    until_found("Delete", WAIT, || button(a.root(), "Delete Pack light"))
        .await
        .click();
    until("A's delete in B", WAIT, || titles(b.root()).is_empty()).await;
}

/// A viewer reads the board, live, and finds no way to change it.
#[wasm_bindgen_test]
async fn a_viewer_sees_the_board_but_cannot_change_it() {
    let (a, mut b) = (Person::new("ann").await, Person::new("vic").await);
    b.open_at("/").await;
    let board = shared_board(&a, &b, "Read only", "viewer").await;
    add_over_http(&a, &board, "Look, do not touch").await;
    open_link(b.root(), "Read only").await;
    let check = until_found("the task", WAIT, || {
        checkbox(b.root(), "Look, do not touch")
    })
    .await;
    assert!(check.disabled(), "a viewer's checkbox is disabled");
    assert!(field(b.root(), "New task").is_none(), "no New task");
    assert!(button(b.root(), "Edit").is_none(), "no Edit");
    assert!(
        button(b.root(), "Delete Look, do not touch").is_none(),
        "no Delete"
    );
    assert!(
        button(b.root(), "Leave board").is_some(),
        "a member may leave"
    );
    assert!(button(b.root(), "Rename board").is_none());
    add_over_http(&a, &board, "Another").await;
    until("A's next task in B", WAIT, || titles(b.root()).len() == 2).await;

    // Made an editor while looking: the same rows, each once, now with ways to change
    // them; and back.
    for (role, editor) in [("editor", true), ("viewer", false)] {
        let (status, body) = api_call(
            "PUT",
            &format!("/api/boards/{board}/members/{}", b.username),
            &a.token,
            Some(json!({ "role": role })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        until(role, WAIT, || {
            field(b.root(), "New task").is_some() == editor
        })
        .await;
        until("each row once", WAIT, || {
            titles(b.root()) == ["Look, do not touch", "Another"]
        })
        .await;
        let check = checkbox(b.root(), "Another").expect("its checkbox");
        assert_eq!(check.disabled(), !editor, "as the role says ({role})");
        assert_eq!(button(b.root(), "Delete Another").is_some(), editor);
    }
}

/// The owner removes B from the board B is looking at: B is told, taken to their own
/// board, and the board leaves B's list.
#[wasm_bindgen_test]
async fn a_removed_person_is_told_and_taken_to_their_own_board() {
    let (mut a, mut b) = (Person::new("ann").await, Person::new("rex").await);
    let board = shared_board(&a, &b, "Short stay", "editor").await;
    b.open_at(&format!("/b/{board}")).await;
    until("B on the board", WAIT, || heading(b.root()) == "Short stay").await;
    // A removes B in the dialog, from the keyboard: the removal is read out, and focus
    // goes on from the username field.
    a.open_at(&format!("/b/{board}")).await;
    until("A on the board", WAIT, || heading(a.root()) == "Short stay").await;
    button(a.root(), "Share").expect("Share").click();
    let dialog = until_found("the dialog", WAIT, || {
        by_role(a.root(), "dialog", "Share Short stay")
    })
    .await;
    let remove = until_found("Remove B", WAIT, || {
        button(&dialog, &format!("Remove {}", b.username))
    })
    .await;
    remove.focus().expect("focusable");
    remove.click();
    let username = field(&dialog, "Username").expect("Username");
    until(
        "B gone from the list, said, focus on Username",
        WAIT,
        || {
            button(&dialog, &format!("Remove {}", b.username)).is_none()
                && by_role_starting(&dialog, "status", "")
                    .is_some_and(|status| text_of(&status) == format!("{} removed.", b.username))
                && focused().is_some_and(|f| &f == username.unchecked_ref::<Element>())
        },
    )
    .await;
    until("B told and moved", WAIT, || {
        alert_text(b.root()).contains("You no longer have access to Short stay.")
            && heading(b.root()) == "My tasks"
            && !board_links(b.root()).contains(&"Short stay".to_owned())
    })
    .await;
    assert!(!location().contains(&board), "{}", location());
}

/// Two people edit one title: the second to save is told, keeps their text, and
/// chooses; `Keep mine` sends it again, `Keep theirs` drops it. A's edits go over HTTP,
/// from A's other device: on this one page, focus moving into A's editor would close
/// B's.
#[wasm_bindgen_test]
async fn two_edits_of_one_title_conflict_and_both_choices_work() {
    let (mut a, mut b) = (Person::new("ann").await, Person::new("cat").await);
    let board = shared_board(&a, &b, "Words", "editor").await;
    add_over_http(&a, &board, "Original").await;
    b.open_at(&format!("/b/{board}")).await;
    a.open_at(&format!("/b/{board}")).await;

    // B is editing when A's change lands.
    let b_editor = open_editor(b.root(), "Original").await;
    rename_over_http(&a, &board, "Ann's words").await;
    until("A's title in A's app", WAIT, || {
        titles(a.root()) == ["Ann's words"]
    })
    .await;
    type_text(&b_editor, "Cat's words");
    press(&b_editor, "Enter");
    let conflict = format!("{} changed this task while you were editing.", a.username);
    until("the conflict alert", WAIT, || {
        alert_text(b.root()).contains(&conflict)
    })
    .await;
    let keep_mine = button(b.root(), "Keep mine").expect("Keep mine");
    keep_mine.focus().expect("focusable");
    keep_mine.click();
    until("B's words for both", WAIT, || {
        titles(a.root()) == ["Cat's words"] && titles(b.root()) == ["Cat's words"]
    })
    .await;
    assert!(!alert_text(b.root()).contains(&conflict));
    // The alert went with the choice: focus is on the task it was about.
    let check = checkbox(b.root(), "Cat's words").expect("the task's checkbox");
    assert!(focused().is_some_and(|f| &f == check.unchecked_ref::<Element>()));

    let b_editor = open_editor(b.root(), "Cat's words").await;
    rename_over_http(&a, &board, "Ann again").await;
    until("A's title in A's app", WAIT, || {
        titles(a.root()) == ["Ann again"]
    })
    .await;
    type_text(&b_editor, "Cat again");
    press(&b_editor, "Enter");
    until("the conflict alert again", WAIT, || {
        alert_text(b.root()).contains(&conflict)
    })
    .await;
    let keep_theirs = button(b.root(), "Keep theirs").expect("Keep theirs");
    keep_theirs.focus().expect("focusable");
    keep_theirs.click();
    until("A's words stay, for both", WAIT, || {
        titles(a.root()) == ["Ann again"]
            && titles(b.root()) == ["Ann again"]
            && !alert_text(b.root()).contains(&conflict)
    })
    .await;
    let check = checkbox(b.root(), "Ann again").expect("the task's checkbox");
    assert!(focused().is_some_and(|f| &f == check.unchecked_ref::<Element>()));
    // Nothing was sent again: the title is A's on the server too.
    let (_, body) = api_call("GET", &format!("/api/boards/{board}/tasks"), &a.token, None).await;
    assert!(
        body.contains("Ann again") && !body.contains("Cat again"),
        "{body}"
    );
}

/// The owner renames the board (its members see the new name), a member leaves it (and
/// lands on their own board, with no alert about losing it), and the owner deletes it
/// after confirming.
#[wasm_bindgen_test]
async fn an_owner_renames_and_deletes_a_board_and_a_member_leaves_it() {
    let (mut a, mut b) = (Person::new("ann").await, Person::new("lea").await);
    let board = shared_board(&a, &b, "Old name", "editor").await;
    b.open_at(&format!("/b/{board}")).await;
    a.open_at(&format!("/b/{board}")).await;
    until("both on the board", WAIT, || {
        heading(a.root()) == "Old name" && heading(b.root()) == "Old name"
    })
    .await;
    assert!(
        button(b.root(), "Rename board").is_none(),
        "only owners rename"
    );
    assert!(
        button(b.root(), "Delete board").is_none(),
        "only owners delete"
    );

    button(a.root(), "Rename board")
        .expect("Rename board")
        .click();
    let name = until_found("Board name", WAIT, || field(a.root(), "Board name")).await;
    assert_eq!(name.value(), "Old name");
    type_text(&name, "Half typed");
    // Renamed from elsewhere while the form is open: what the person typed stays.
    let (status, body) = api_call(
        "PATCH",
        &format!("/api/boards/{board}"),
        &a.token,
        Some(json!({ "name": "From elsewhere" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    until("the rename from elsewhere in A's list", WAIT, || {
        board_links(a.root()).contains(&"From elsewhere".to_owned())
    })
    .await;
    let name = field(a.root(), "Board name").expect("the form still open");
    assert_eq!(name.value(), "Half typed");
    type_text(&name, "New name");
    button(a.root(), "Save name").expect("Save name").click();
    until("the new name for both", WAIT, || {
        heading(a.root()) == "New name"
            && heading(b.root()) == "New name"
            && board_links(b.root()).contains(&"New name".to_owned())
    })
    .await;
    // Focus goes back to the button that opened the form, not to the page.
    let rename = button(a.root(), "Rename board").expect("Rename board");
    until("focus back on Rename board", WAIT, || {
        focused().is_some_and(|f| &f == rename.unchecked_ref::<Element>())
    })
    .await;

    button(b.root(), "Leave board")
        .expect("Leave board")
        .click();
    until(
        "B on their own board, the board gone from their list",
        WAIT,
        || {
            heading(b.root()) == "My tasks"
                && !board_links(b.root()).contains(&"New name".to_owned())
        },
    )
    .await;
    assert!(alert_text(b.root()).is_empty(), "{}", alert_text(b.root()));

    let delete = button(a.root(), "Delete board").expect("Delete board");
    delete.click();
    let confirm = until_found("the confirmation", WAIT, || {
        by_role(a.root(), "alertdialog", "Delete New name?")
    })
    .await;
    // The question takes the focus, on its safe answer, so that it is read out.
    let cancel = button(&confirm, "Cancel").expect("Cancel");
    until("focus on Cancel", WAIT, || {
        focused().is_some_and(|f| &f == cancel.unchecked_ref::<Element>())
    })
    .await;
    cancel.click();
    until("focus back on Delete board", WAIT, || {
        focused().is_some_and(|f| &f == delete.unchecked_ref::<Element>())
    })
    .await;
    // Escape answers it the same way.
    delete.click();
    let confirm = until_found("the confirmation", WAIT, || {
        by_role(a.root(), "alertdialog", "Delete New name?")
    })
    .await;
    press(&confirm, "Escape");
    until("the question gone, focus on Delete board", WAIT, || {
        by_role(a.root(), "alertdialog", "Delete New name?").is_none()
            && focused().is_some_and(|f| &f == delete.unchecked_ref::<Element>())
    })
    .await;
    delete.click();
    let confirm = until_found("the confirmation", WAIT, || {
        by_role(a.root(), "alertdialog", "Delete New name?")
    })
    .await;
    let confirm = button(&confirm, "Confirm delete").expect("Confirm delete");
    confirm.focus().expect("focusable");
    confirm.click();
    until("A on their own board, the board gone", WAIT, || {
        heading(a.root()) == "My tasks" && board_links(a.root()) == ["My tasks"]
    })
    .await;
    // The button went with the board: focus is on the heading of the board shown now,
    // not back at the top of the page.
    until("focus on the heading", WAIT, || {
        focused().is_some_and(|f| f.tag_name() == "H1" && text_of(&f) == "My tasks")
    })
    .await;
    let (status, _) = api_call("GET", &format!("/api/boards/{board}/tasks"), &a.token, None).await;
    assert_eq!(status, 404);
}

/// A board's address opened before the board was shared with this person shows "Not
/// found"; once it is shared, the page shows the board, without a reload or a click.
#[wasm_bindgen_test]
async fn a_board_not_found_shows_once_it_is_shared() {
    let (a, mut b) = (Person::new("ann").await, Person::new("bob").await);
    let id = board_over_http(&a, "Shared later").await;
    b.open_at(&format!("/b/{id}")).await;
    until("Not found", WAIT, || heading(b.root()) == "Not found").await;
    let (status, body) = api_call(
        "PUT",
        &format!("/api/boards/{id}/members/{}", b.username),
        &a.token,
        Some(json!({ "role": "editor" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    until("the board shown", WAIT, || {
        heading(b.root()) == "Shared later" && by_role(b.root(), "list", "Tasks").is_some()
    })
    .await;
    add_over_http(&a, &id, "Live at once").await;
    until("its task, live", WAIT, || {
        titles(b.root()) == ["Live at once"]
    })
    .await;
}

/// A link to an address that names no board shows "Not found", and the board list marks
/// none of its links as the page shown: not the board opened before, which the page
/// left.
#[wasm_bindgen_test]
async fn an_address_that_is_no_board_marks_no_board_as_shown() {
    let mut a = Person::new("ann").await;
    a.open_at("/").await;
    until("My tasks, marked as shown", WAIT, || {
        heading(a.root()) == "My tasks" && current_links(a.root()) == ["My tasks"]
    })
    .await;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    let link = document.create_element("a").expect("a link");
    link.set_attribute("href", "/b/not-a-board").expect("href");
    a.root().append_child(&link).expect("append");
    click(&link);
    until("Not found", WAIT, || heading(a.root()) == "Not found").await;
    assert_eq!(current_links(a.root()), Vec::<String>::new());
}

/// The board list's links marked as the page shown (`aria-current`).
fn current_links(root: &Element) -> Vec<String> {
    by_role(root, "navigation", "Boards")
        .map(|nav| {
            all_by_role(&nav, "link")
                .iter()
                .filter(|link| link.get_attribute("aria-current").as_deref() == Some("page"))
                .map(text_of)
                .collect()
        })
        .unwrap_or_default()
}

/// A board opened by its address keeps it under every filter: only the query changes,
/// so the board shown, and the one a reload or a copied link opens, stay the same.
#[wasm_bindgen_test]
async fn a_shared_boards_filters_keep_its_address() {
    let (mut a, b) = (Person::new("ann").await, Person::new("bob").await);
    let id = shared_board(&a, &b, "Filtered", "editor").await;
    add_over_http(&a, &id, "Pack the tent").await;
    let path = format!("/b/{id}");
    a.open_at(&path).await;
    until("the board and its task", WAIT, || {
        heading(a.root()) == "Filtered" && titles(a.root()) == ["Pack the tent"]
    })
    .await;
    for (filter, query, shown) in [
        ("Completed", "?filter=completed", 0),
        ("Active", "?filter=active", 1),
        ("All", "", 1),
    ] {
        let link = until_found(filter, WAIT, || by_role(a.root(), "link", filter)).await;
        click(&link);
        let want = format!("{path}{query}");
        until(&want, WAIT, || {
            location() == want && heading(a.root()) == "Filtered" && titles(a.root()).len() == shown
        })
        .await;
    }
}

/// `/` stays on the board it shows: another tab opening a board changes where `/` lands
/// next time, not what this page shows when its board list then changes.
#[wasm_bindgen_test]
async fn home_stays_on_its_board_when_another_tab_opens_one() {
    let (mut a, b) = (Person::new("ann").await, Person::new("bob").await);
    let trip = shared_board(&b, &a, "Trip", "editor").await;
    a.open_at("/").await;
    until("A's personal board", WAIT, || {
        heading(a.root()) == "My tasks"
    })
    .await;
    let other_tab = mount_at(&format!("/b/{trip}"));
    until("the other tab on Trip", WAIT, || {
        heading(&other_tab.root) == "Trip"
    })
    .await;
    shared_board(&b, &a, "Later", "viewer").await;
    until("the new board listed", WAIT, || {
        board_links(a.root()).iter().any(|name| name == "Later")
    })
    .await;
    assert_eq!(heading(a.root()), "My tasks");
}
