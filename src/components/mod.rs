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

use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlElement};

/// The board's `New task` field, found from an element inside the board's page.
fn new_task_field(inside: &Element) -> Option<HtmlElement> {
    inside
        .closest("main")
        .ok()??
        .query_selector("input[aria-label=\"New task\"]")
        .ok()??
        .dyn_into()
        .ok()
}

/// Moves focus to `New task` from the board control `ev` happened on, when that control
/// is about to be disabled or taken away (Clear completed, Dismiss, Discard unsent
/// changes): a keyboard user would otherwise be sent back to the top of the page.
fn focus_new_task(ev: &Event) {
    let field = ev
        .target()
        .and_then(|target| target.dyn_into::<Element>().ok())
        .and_then(|control| new_task_field(&control));
    if let Some(field) = field {
        let _ = field.focus();
    }
}
