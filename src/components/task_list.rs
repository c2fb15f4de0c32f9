//! The list of tasks under the current filter, one keyed row per task so that a change
//! touches only its row.

use leptos::html;
use leptos::prelude::*;
use leptos::reactive::graph::ToAnySubscriber;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{Event, HtmlElement, Node};

use super::plain_row::plain_row;
use super::row_list::{Key, RowList, Shown};
use super::task_item::{Control, Refocus, RowNodes, edited_row};
use super::{Filter, new_task_field, unsubscribe_on_cleanup};
use crate::taskwire::Taskwire;

/// The rows shown: the list reaches a row's elements through them.
type Rows = StoredValue<RowList, LocalStorage>;

/// `read_only` (a viewer's board) shows the rows without ways to change them.
#[component]
pub fn TaskList(filter: Memo<Filter>, #[prop(optional)] read_only: bool) -> impl IntoView {
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
    let rows: Rows = StoredValue::new_local(RowList::default());
    let list = NodeRef::<html::Ul>::new();
    // One row at a time is edited, and a row that leaves the list (deleted elsewhere,
    // filtered away) ends its edit, so that it does not reopen when the row comes back.
    let editing = RwSignal::new(None::<Uuid>);
    Effect::new(move || {
        let left =
            editing.with(|edited| edited.is_some_and(|id| !visible.with(|ids| ids.contains(&id))));
        if left {
            editing.set(None);
        }
    });
    let keys = move || {
        let edited = editing.get();
        visible.with(|ids| {
            ids.iter()
                .map(|id| (*id, edited == Some(*id)))
                .collect::<Vec<Key>>()
        })
    };
    // After an edit ends, the row built anew takes the focus back: its Edit button from
    // the keyboard, or the control of the row that focus was leaving for.
    let refocus: Refocus = Callback::new(move |(id, control): (Uuid, Control)| {
        if let Some(node) = nodes_of(rows, id).and_then(|nodes| control.node(&nodes)) {
            let _ = node.focus();
        }
    });
    // The rows' controls are handled here, one listener per kind of event for the whole
    // list rather than four closures and listeners on each of thousands of rows.
    let on_change = move |ev: Event| {
        let Some((id, Control::Check)) = control_of(list, rows, &ev) else {
            return;
        };
        let Some(nodes) = nodes_of(rows, id) else {
            return;
        };
        let done = nodes.check.checked();
        let next = next_focus(tw, filter, visible, rows, id, Control::Check);
        tw.set_done(id, done);
        let shown = tw.task(id).map(|row| row.with_untracked(|r| r.task.done));
        let taken = shown == Some(done);
        // The browser ticked the box already: a change the app could not take (too many
        // waiting) puts it back to what the task is, or it would say done where the
        // task is not.
        if !taken && let Some(shown) = shown {
            nodes.check.set_checked(shown);
        }
        // Under Active or Completed the row leaves the list, unless the app could not
        // take the change.
        if taken
            && !filter.get_untracked().shows(done)
            && let Some(next) = next
        {
            let _ = next.focus();
        }
    };
    let on_click = move |ev: Event| match control_of(list, rows, &ev) {
        Some((id, Control::Edit)) => editing.set(Some(id)),
        Some((id, Control::Delete)) => {
            let next = next_focus(tw, filter, visible, rows, id, Control::Delete);
            tw.delete(id);
            // A delete the app could not take (too many changes waiting) leaves the row,
            // and the focus with it.
            if tw.task(id).is_none()
                && let Some(next) = next
            {
                let _ = next.focus();
            }
        }
        _ => {}
    };
    // A press of the mouse on the edited row's checkbox or Delete keeps the focus in its
    // title field. Moving it there would end the edit, and the row, built anew, would
    // be gone from under the pointer before the button is released: the click would
    // land on nothing. The click then acts on the task, with the edit still open.
    let on_mousedown = move |ev: Event| {
        if let Some((id, Control::Check | Control::Delete)) = control_of(list, rows, &ev)
            && editing.get_untracked() == Some(id)
        {
            ev.prevent_default();
        }
    };
    let on_dblclick = move |ev: Event| {
        if let Some((id, Control::Title)) = control_of(list, rows, &ev)
            && !read_only
        {
            editing.set(Some(id));
        }
    };
    // The edited row's signals and effects belong to the list, not to the effect that
    // builds rows (whose owner is cleaned up each time it runs again).
    let owner = Owner::current().unwrap_or_default();
    let build = move |(id, edited): Key| {
        let row = tw.task(id)?;
        if !edited {
            return row
                .with_untracked(|row| plain_row(id, row, read_only))
                .map(Shown::plain);
        }
        let owner = owner.child();
        let built = owner.with(|| edited_row(id, row, editing, refocus, read_only));
        match built {
            Some((nodes, view)) => Some(Shown::edited(nodes, owner, view)),
            None => {
                owner.cleanup();
                None
            }
        }
    };
    let shown = RenderEffect::new(move |_| {
        let keys = keys();
        if let Some(list) = list.get() {
            // The table is out of the store while the page changes: taking a focused
            // field out of the page can fire its events then and there (`blur`, and
            // `change` after an edit), and the list's handlers read the table.
            if let Some(mut table) = rows.try_update_value(std::mem::take) {
                table.show(&list, &keys, &build);
                // A list gone meanwhile takes its rows with it.
                if let Some(mut orphan) = rows.try_set_value(table) {
                    orphan.clear();
                }
            }
        }
    });
    StoredValue::new_local(shown);
    // Rows already shown change where they are, without rebuilding them.
    tw.watch_rows(move |row| {
        rows.try_with_value(|rows| {
            if let Some(shown) = rows.get(row.task.id) {
                shown.nodes.show(row, shown.is_edited());
            }
        });
    });
    on_cleanup(move || {
        if let Some(mut table) = rows.try_update_value(std::mem::take) {
            table.clear();
        }
    });
    view! {
        <ul
            node_ref=list
            class="tasks"
            aria-label="Tasks"
            on:change=on_change
            on:click=move |ev| on_click(ev.into())
            on:mousedown=move |ev| on_mousedown(ev.into())
            on:dblclick=move |ev| on_dblclick(ev.into())
        ></ul>
        {move || empty_text().map(|text| view! { <p class="empty">{text}</p> })}
    }
}

fn nodes_of(rows: Rows, id: Uuid) -> Option<RowNodes> {
    rows.try_with_value(|rows| rows.get(id).map(|shown| shown.nodes.clone()))
        .flatten()
}

/// The task and the control an event in the list happened on: the row is the list's
/// child the event's target is in.
fn control_of(list: NodeRef<html::Ul>, rows: Rows, ev: &Event) -> Option<(Uuid, Control)> {
    let list: Node = list.get_untracked()?.into();
    let target: Node = ev.target()?.dyn_into().ok()?;
    let mut item = target.clone();
    while item.parent_node().as_ref() != Some(&list) {
        item = item.parent_node()?;
    }
    let id = item
        .dyn_ref::<web_sys::Element>()?
        .get_attribute("data-task-id")?
        .parse()
        .ok()?;
    let nodes = nodes_of(rows, id)?;
    [
        Control::Check,
        Control::Title,
        Control::Edit,
        Control::Delete,
    ]
    .into_iter()
    .find(|control| {
        control
            .node(&nodes)
            .is_some_and(|node| node.contains(Some(&target)))
    })
    .map(|control| (id, control))
}

/// Where focus goes when the person's own action takes row `id` out of the list (its
/// Delete, or its checkbox under a filter that no longer shows it), so that a keyboard
/// user keeps their place instead of starting again from the top of the page: the same
/// control on the next row, else on the previous row, else the `New task` field. Rows
/// on their way out (a task deleted a moment ago, or one the filter no longer shows,
/// not yet taken off the page) are passed over.
fn next_focus(
    tw: Taskwire,
    filter: Memo<Filter>,
    visible: Memo<Vec<Uuid>>,
    rows: Rows,
    id: Uuid,
    control: Control,
) -> Option<HtmlElement> {
    let filter = filter.get_untracked();
    let staying = |other: &Uuid| {
        tw.task(*other)
            .is_some_and(|row| row.with_untracked(|r| filter.shows(r.task.done)))
    };
    let neighbour = visible.with_untracked(|ids| {
        let at = ids.iter().position(|shown| *shown == id)?;
        let (before, after) = ids.split_at(at);
        after[1..]
            .iter()
            .chain(before.iter().rev())
            .copied()
            .find(staying)
    });
    let same = neighbour
        .and_then(|other| nodes_of(rows, other))
        .and_then(|nodes| control.node(&nodes));
    match same {
        Some(same) => Some(same),
        None => new_task_field(&item_of(rows, id)?),
    }
}

/// Row `id`'s element, to find the page's `New task` field from.
fn item_of(rows: Rows, id: Uuid) -> Option<web_sys::Element> {
    nodes_of(rows, id).map(|nodes| nodes.item.into())
}
