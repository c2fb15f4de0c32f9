//! The list of tasks under the current filter, one keyed row per task so that a change
//! touches only its row.

use leptos::html;
use leptos::prelude::*;
use leptos::reactive::graph::ToAnySubscriber;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlElement, HtmlInputElement};

use super::task_item::{Editing, TaskItem};
use super::{Filter, new_task_field, unsubscribe_on_cleanup};
use crate::taskwire::Taskwire;

#[component]
pub fn TaskList(filter: Memo<Filter>) -> impl IntoView {
    let tw = Taskwire::expect();
    let ids = tw.task_ids();
    // Under `All` no row is read, so a row's change does not recompute the list. Under
    // the others it reads every row, whose signals outlive this list.
    let visible = ArcMemo::new(move |_| {
        let filter = filter.get();
        ids.with(|ids| {
            ids.iter()
                .copied()
                .filter(|id| {
                    filter == Filter::All
                        || tw
                            .task(*id)
                            .is_some_and(|row| row.with(|r| filter.shows(r.task.done)))
                })
                .collect::<Vec<_>>()
        })
    });
    unsubscribe_on_cleanup(visible.to_any_subscriber());
    let visible = Memo::from(visible);
    let loaded = tw.loaded();
    let empty_text = move || {
        if !visible.with(Vec::is_empty) {
            None
        } else if !loaded.get() {
            // Not "No tasks yet" before the server has said so (a reload, a new tab).
            Some("Loading tasks…")
        } else if ids.with(Vec::is_empty) {
            Some(Filter::All.nothing_here())
        } else {
            Some(filter.get().nothing_here())
        }
    };
    // One row at a time is edited. The list marks it and opens its editor, so that no
    // row holds anything for it; a row that leaves the list (deleted elsewhere, filtered
    // away) ends its edit, so that it does not reopen when the row comes back.
    let editing = RwSignal::new(None::<Uuid>);
    let list = NodeRef::<html::Ul>::new();
    let owner = Owner::current();
    Effect::new(move || {
        let left =
            editing.with(|edited| edited.is_some_and(|id| !visible.with(|ids| ids.contains(&id))));
        if left {
            editing.set(None);
        }
    });
    let edit = RenderEffect::new(move |open: Option<Option<Editing>>| {
        let wanted = editing.get();
        let open = open.flatten();
        if open.as_ref().map(Editing::id) == wanted {
            return open;
        }
        // The edit ends (or moves) before another starts.
        drop(open);
        let id = wanted?;
        let item = list
            .get_untracked()?
            .query_selector(&format!("li[data-task-id=\"{id}\"]"))
            .ok()??;
        let row = tw.task(id)?;
        Some(Editing::start(id, item, row, tw, editing, owner.as_ref()))
    });
    StoredValue::new_local(edit);
    // The rows' controls are handled here, one listener per kind of event for the whole
    // list rather than four closures and listeners on each of thousands of rows.
    let on_change = move |ev: Event| {
        if let Some((id, control)) = row_control(&ev, ".task-check")
            && let Ok(check) = control.clone().dyn_into::<HtmlInputElement>()
        {
            let done = check.checked();
            let next = next_focus(tw, filter, &control, ".task-check");
            tw.set_done(id, done);
            // Under Active or Completed the row leaves the list, unless the app could not
            // take the change (too many changes waiting).
            let taken = tw
                .task(id)
                .is_some_and(|row| row.with_untracked(|r| r.task.done == done));
            if taken
                && !filter.get_untracked().shows(done)
                && let Some(next) = next
            {
                let _ = next.focus();
            }
        }
    };
    let on_click = move |ev: Event| {
        if let Some((id, _)) = row_control(&ev, ".task-edit") {
            editing.set(Some(id));
        } else if let Some((id, control)) = row_control(&ev, ".task-delete") {
            let next = next_focus(tw, filter, &control, ".task-delete");
            tw.delete(id);
            // A delete the app could not take (too many changes waiting) leaves the row,
            // and the focus with it.
            if tw.task(id).is_none()
                && let Some(next) = next
            {
                let _ = next.focus();
            }
        }
    };
    let on_dblclick = move |ev: Event| {
        if let Some((id, _)) = row_control(&ev, ".task-title") {
            editing.set(Some(id));
        }
    };
    view! {
        <ul
            node_ref=list
            class="tasks"
            aria-label="Tasks"
            on:change=on_change
            on:click=move |ev| on_click(ev.into())
            on:dblclick=move |ev| on_dblclick(ev.into())
        >
            <For each=move || visible.get() key=|id| *id let(id)>
                // Looked up once here rather than by each row; the list holds only ids the
                // service knows, and a row gone meanwhile renders nothing.
                {tw
                    .task(id)
                    .map(|row| view! { <TaskItem id row editing /> })}
            </For>
        </ul>
        {move || empty_text().map(|text| view! { <p class="empty">{text}</p> })}
    }
}

/// Where focus goes when the person's own action takes a row out of the list (its
/// Delete, or its checkbox under a filter that no longer shows it), so that a keyboard
/// user keeps their place instead of starting again from the top of the page: the same
/// control (`selector`) on the next row, else on the previous row, else the `New task`
/// field. Rows on their way out (a task deleted a moment ago, or one the filter no
/// longer shows, not yet taken off the page) are passed over.
fn next_focus(
    tw: Taskwire,
    filter: Memo<Filter>,
    control: &Element,
    selector: &str,
) -> Option<HtmlElement> {
    let row = control.closest("li").ok()??;
    let filter = filter.get_untracked();
    let staying = |item: &Element| {
        item.get_attribute("data-task-id")
            .and_then(|id| id.parse().ok())
            .and_then(|id| tw.task(id))
            .is_some_and(|row| row.with_untracked(|r| filter.shows(r.task.done)))
    };
    let after = std::iter::successors(row.next_element_sibling(), Element::next_element_sibling);
    let before = std::iter::successors(
        row.previous_element_sibling(),
        Element::previous_element_sibling,
    );
    let neighbour = after
        .chain(before)
        .find(staying)
        .and_then(|other| other.query_selector(selector).ok().flatten());
    match neighbour {
        Some(same) => same.dyn_into().ok(),
        None => new_task_field(&row),
    }
}

/// The task and the control (matching `selector`) an event in the list happened on.
fn row_control(ev: &Event, selector: &str) -> Option<(Uuid, Element)> {
    let target = ev.target()?.dyn_into::<Element>().ok()?;
    let control = target.closest(selector).ok()??;
    let row = control.closest("li[data-task-id]").ok()??;
    let id = row.get_attribute("data-task-id")?.parse().ok()?;
    Some((id, control))
}
