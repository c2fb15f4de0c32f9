//! One task: its checkbox (named by the title), the title, editing in place, delete.

use std::sync::atomic::{AtomicU32, Ordering};

use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;
use leptos::reactive::effect::ImmediateEffect;
use leptos::reactive::graph::ToAnySubscriber;
use uuid::Uuid;
use web_sys::Element;

use super::plain_row::PlainRow;
use super::task_editor::TitleEditor;
use super::unsubscribe_on_cleanup;
use crate::board::{RowSignal, TaskRow};

/// What a row waiting for the server says: when pointed at (its `title`), and to a
/// screen reader, in a note inside the row that also describes the checkbox (so the
/// note is read when the checkbox gets focus, and its name stays the title).
const WAITING: &str = "Waiting for the server";

/// Numbers the notes: `aria-describedby` needs an id, unique even when two apps on one
/// page (tests, say) show the same task.
static NEXT_NOTE: AtomicU32 = AtomicU32::new(0);

/// The note's classes: `sr-only` keeps it off the screen (the dot shows it there) but
/// in the accessibility tree; `task-note` finds it again.
const NOTE_CLASS: &str = "sr-only task-note";

fn note_id() -> String {
    format!("task-note-{}", NEXT_NOTE.fetch_add(1, Ordering::Relaxed))
}

/// Gives the focus to a control of a row built anew (the list's, which outlives rows).
pub type Refocus = Callback<(Uuid, Control)>;

/// A control of a row, to handle its event or to move focus to it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Check,
    Title,
    Edit,
    Delete,
}

impl Control {
    pub fn node(self, nodes: &RowNodes) -> Option<web_sys::HtmlElement> {
        match self {
            Self::Check => nodes.check.get_untracked().map(Into::into),
            Self::Title => nodes.title.get_untracked().map(Into::into),
            Self::Edit => nodes.edit.get_untracked().map(Into::into),
            Self::Delete => nodes.delete.get_untracked().map(Into::into),
        }
    }
}

/// The elements of one row that the list reaches for: where its events happened, and
/// where focus goes next.
#[derive(Clone, Copy)]
pub struct RowNodes {
    pub item: NodeRef<html::Li>,
    pub check: NodeRef<html::Input>,
    pub title: NodeRef<html::Span>,
    pub by: NodeRef<html::Span>,
    pub edit: NodeRef<html::Button>,
    pub delete: NodeRef<html::Button>,
}

impl RowNodes {
    pub fn new() -> Self {
        Self {
            item: NodeRef::new(),
            check: NodeRef::new(),
            title: NodeRef::new(),
            by: NodeRef::new(),
            edit: NodeRef::new(),
            delete: NodeRef::new(),
        }
    }

    /// Writes the row's values into its elements, once they exist.
    fn show(&self, row: &TaskRow, edited: bool) {
        let Some(item) = self.item.get_untracked() else {
            return;
        };
        item.set_class_name(&row_class(row.task.done, edited));
        if row.pending != item.has_attribute("data-pending") {
            self.mark_pending(&item, row.pending);
        }
        if let Some(check) = self.check.get_untracked() {
            check.set_checked(row.task.done);
            let _ = check.set_attribute("aria-label", &row.task.title);
        }
        if let Some(title) = self.title.get_untracked()
            && title.text_content().as_deref() != Some(row.task.title.as_str())
        {
            title.set_text_content(Some(&row.task.title));
        }
        if let Some(by) = self.by.get_untracked() {
            let text = by_line(&row.task.updated_by);
            if by.text_content() != text {
                by.set_text_content(text.as_deref());
            }
        }
        if let Some(delete) = self.delete.get_untracked() {
            let _ = delete.set_attribute("aria-label", &delete_label(&row.task.title));
        }
    }

    /// Marks the row as waiting for the server, or no longer: `data-pending` (which
    /// also draws the dot), the tooltip, and the note with the checkbox's description.
    /// The note exists only while the row waits, as the dot does: no element in every
    /// row for it.
    pub(super) fn mark_pending(&self, item: &Element, pending: bool) {
        let check = self.check.get_untracked();
        if !pending {
            let _ = item.remove_attribute("data-pending");
            let _ = item.remove_attribute("title");
            if let Ok(Some(note)) = item.query_selector(".task-note") {
                note.remove();
            }
            if let Some(check) = check {
                let _ = check.remove_attribute("aria-describedby");
            }
            return;
        }
        let _ = item.set_attribute("data-pending", "true");
        let _ = item.set_attribute("title", WAITING);
        let (Some(check), Some(document)) = (check, item.owner_document()) else {
            return;
        };
        let Ok(note) = document.create_element("span") else {
            return;
        };
        let id = note_id();
        note.set_class_name(NOTE_CLASS);
        note.set_id(&id);
        note.set_text_content(Some(WAITING));
        if check.after_with_node_1(&note).is_ok() {
            let _ = check.set_attribute("aria-describedby", &id);
        }
    }

    /// One effect per row writes the values that change after the row is built (a
    /// reactive attribute would each be a render effect and a spawned task: a 10,000-row
    /// board would start 60,000 of them). An immediate effect runs as the row changes
    /// instead of from a task of its own; its first run, before the row is built, only
    /// subscribes. The row's owner keeps it as long as the row.
    fn follow(self, row: RowSignal, edited: bool) {
        let effect = ImmediateEffect::new(move || row.with(|r| self.show(r, edited)));
        unsubscribe_on_cleanup(effect.to_any_subscriber());
        StoredValue::new(effect);
    }
}

/// What a row shows when it is built; [`RowNodes::follow`] keeps it up to date.
pub(super) struct RowValues {
    pub title: String,
    pub done: bool,
    pub pending: bool,
    /// Who changed the task last, as shown.
    pub by: Option<String>,
}

impl RowValues {
    fn of(row: &TaskRow) -> Self {
        Self {
            title: row.task.title.clone(),
            done: row.task.done,
            pending: row.pending,
            by: by_line(&row.task.updated_by),
        }
    }
}

/// A row, built with the values it has now; [`RowNodes::follow`] keeps it up to date.
/// The list handles its clicks through [`RowNodes`]. Its icons are drawn by the
/// stylesheet: as elements they were four more nodes a row to build. The row being
/// edited (one at a time) shows the title editor in place of its title and Edit button;
/// the list builds it anew when the edit starts and ends, so no other row holds a place
/// for an editor. The others, thousands on a big board, are [`PlainRow`]s.
#[component]
pub fn TaskItem(
    id: Uuid,
    row: RowSignal,
    nodes: RowNodes,
    /// `Some` for the row being edited: the edit, and where focus goes when it ends.
    edit: Option<(RwSignal<Option<Uuid>>, Refocus)>,
    /// A viewer's row: a disabled checkbox, and no Edit or Delete.
    read_only: bool,
) -> impl IntoView {
    nodes.follow(row, edit.is_some());
    let values = row.with_untracked(RowValues::of);
    match edit {
        Some((editing, refocus)) => Either::Left(edited_row(
            id, row, nodes, values, editing, refocus, read_only,
        )),
        None => Either::Right(PlainRow {
            id,
            values,
            nodes,
            read_only,
        }),
    }
}

/// The row being edited: the title editor in place of its title and Edit button.
fn edited_row(
    id: Uuid,
    row: RowSignal,
    nodes: RowNodes,
    values: RowValues,
    editing: RwSignal<Option<Uuid>>,
    refocus: Refocus,
    read_only: bool,
) -> impl IntoView {
    let RowValues {
        title,
        done,
        pending,
        ..
    } = values;
    // Built here for a row that waits from the start; later changes are
    // `RowNodes::mark_pending`'s.
    let note = pending.then(note_id);
    let note_view = note.clone().map(|id| {
        view! {
            <span class=NOTE_CLASS id=id>
                {WAITING}
            </span>
        }
    });
    view! {
        <li
            node_ref=nodes.item
            class=row_class(done, true)
            data-task-id=id.to_string()
            data-pending=pending.then_some("true")
            title=pending.then_some(WAITING)
        >
            <input
                node_ref=nodes.check
                class="task-check"
                type="checkbox"
                prop:checked=done
                disabled=read_only
                aria-label=title.clone()
                aria-describedby=note
            />
            {note_view}
            <TitleEditor id row editing refocus />
            <button
                node_ref=nodes.delete
                type="button"
                class="icon-button danger task-delete"
                aria-label=delete_label(&title)
            ></button>
        </li>
    }
}

pub(super) fn row_class(done: bool, edited: bool) -> String {
    let mut class = String::from("task");
    if done {
        class.push_str(" done");
    }
    if edited {
        class.push_str(" editing");
    }
    class
}

/// Who changed the task last (`by bob`); nothing for a task from a server that does
/// not say.
fn by_line(updated_by: &str) -> Option<String> {
    (!updated_by.is_empty()).then(|| format!("by {updated_by}"))
}

pub(super) fn delete_label(title: &str) -> String {
    format!("Delete {title}")
}
