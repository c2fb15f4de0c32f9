//! The pieces pages are built from, one job each.

mod acting_as;
mod alert;
mod board_heading;
mod board_nav;
mod brand;
mod conflict_alert;
mod connection_status;
mod filter;
mod header;
mod here_now;
mod new_task;
mod pending;
mod plain_row;
mod row_list;
mod row_order;
mod rtt_chart;
mod share_dialog;
mod signed_in;
mod subscriptions;
mod task_editor;
mod task_footer;
mod task_item;
mod task_list;

pub use alert::ServiceAlert;
pub use board_heading::BoardHeading;
pub use board_nav::BoardNav;
pub use brand::Brand;
pub use conflict_alert::ConflictAlert;
pub use filter::Filter;
pub use here_now::HereNow;
pub use new_task::NewTaskForm;
pub use pending::PendingChanges;
pub use rtt_chart::{RttChart, whole_ms};
pub use signed_in::SignedInPage;
use subscriptions::unsubscribe_on_cleanup;
pub use task_footer::TaskFooter;
pub use task_list::TaskList;

use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlElement};

/// The board page (`main`) around `inside`.
fn board_of(inside: &Element) -> Option<Element> {
    inside.closest("main").ok()?
}

/// The element `ev` happened on.
fn target_of(ev: &Event) -> Option<Element> {
    ev.target()?.dyn_into().ok()
}

/// The first element under `main` that `selector` matches, if it can take focus.
fn focusable(main: &Element, selector: &str) -> Option<HtmlElement> {
    main.query_selector(selector).ok()??.dyn_into().ok()
}

/// The board's `New task` field, found from an element inside the board's page; on a
/// board without one (a viewer's), its heading.
fn new_task_field(inside: &Element) -> Option<HtmlElement> {
    board_start(&board_of(inside)?)
}

/// Where the keyboard starts on the board page `main`: `New task`, or the board's
/// heading where there is none.
fn board_start(main: &Element) -> Option<HtmlElement> {
    focusable(main, NEW_TASK).or_else(|| focusable(main, "h1"))
}

/// Moves focus to `New task` from the board control `ev` happened on, when that control
/// is about to be disabled or taken away (Clear completed, Dismiss, Discard unsent
/// changes): a keyboard user would otherwise be sent back to the top of the page.
fn focus_new_task(ev: &Event) {
    if let Some(field) = target_of(ev).and_then(|control| new_task_field(&control)) {
        let _ = field.focus();
    }
}

/// Nothing has the focus: it fell to the page's body with the element that had it.
pub(crate) fn focus_is_lost() -> bool {
    let document = leptos::prelude::document();
    document
        .active_element()
        .is_none_or(|active| Some(active) == document.body().map(Into::into))
}

/// Moves focus to task `id`'s checkbox (named by its title, so the title it ended with
/// is read out) from the board control `ev` happened on, which is going away; to
/// `New task` when the task is not shown.
fn focus_task(ev: &Event, id: Uuid) {
    let Some(main) = target_of(ev).and_then(|control| board_of(&control)) else {
        return;
    };
    let check = format!("li[data-task-id=\"{id}\"] input.task-check");
    if let Some(control) = focusable(&main, &check).or_else(|| board_start(&main)) {
        let _ = control.focus();
    }
}

const NEW_TASK: &str = "input[aria-label=\"New task\"]";
