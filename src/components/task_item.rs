//! One task's row: its checkbox (named by the title), the title, who changed it last,
//! Edit and Delete; its elements, and writing its values into them. Thousands of rows
//! are plain rows cloned from their markup ([`super::plain_row`]); the one being edited
//! is a view with the title editor in it.

use std::any::Any;
use std::sync::atomic::{AtomicU32, Ordering};

use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;
use web_sys::{HtmlElement, HtmlInputElement};

use super::task_editor::TitleEditor;
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
    pub fn node(self, nodes: &RowNodes) -> Option<HtmlElement> {
        match self {
            Self::Check => Some(nodes.check.clone().into()),
            Self::Title => nodes.title.clone(),
            Self::Edit => nodes.edit.clone(),
            Self::Delete => nodes.delete.clone(),
        }
    }
}

/// The elements of one row: where its values are written, where its events happened,
/// and where focus goes next. The edited row has no title, `by` or Edit of its own (the
/// editor takes their place); a viewer's row has no Edit or Delete.
#[derive(Clone)]
pub struct RowNodes {
    pub item: HtmlElement,
    pub check: HtmlInputElement,
    pub title: Option<HtmlElement>,
    pub by: Option<HtmlElement>,
    pub edit: Option<HtmlElement>,
    pub delete: Option<HtmlElement>,
}

impl RowNodes {
    /// Writes the row's values that changed since it was built into its elements.
    pub fn show(&self, row: &TaskRow, edited: bool) {
        self.item.set_class_name(&row_class(row.task.done, edited));
        if row.pending != self.item.has_attribute("data-pending") {
            self.mark_pending(row.pending);
        }
        self.check.set_checked(row.task.done);
        let _ = self.check.set_attribute("aria-label", &row.task.title);
        if let Some(title) = &self.title
            && title.text_content().as_deref() != Some(row.task.title.as_str())
        {
            title.set_text_content(Some(&row.task.title));
        }
        if let Some(by) = &self.by {
            let text = by_line(&row.task.updated_by);
            if by.text_content() != text {
                by.set_text_content(text.as_deref());
            }
        }
        if let Some(delete) = &self.delete {
            let _ = delete.set_attribute("aria-label", &delete_label(&row.task.title));
        }
    }

    /// Marks the row as waiting for the server, or no longer: `data-pending` (which
    /// also draws the dot), the tooltip, and the note with the checkbox's description.
    /// The note exists only while the row waits, as the dot does: no element in every
    /// row for it.
    pub(super) fn mark_pending(&self, pending: bool) {
        let item = &self.item;
        if !pending {
            let _ = item.remove_attribute("data-pending");
            let _ = item.remove_attribute("title");
            if let Ok(Some(note)) = item.query_selector(".task-note") {
                note.remove();
            }
            let _ = self.check.remove_attribute("aria-describedby");
            return;
        }
        let _ = item.set_attribute("data-pending", "true");
        let _ = item.set_attribute("title", WAITING);
        let Some(document) = item.owner_document() else {
            return;
        };
        let Ok(note) = document.create_element("span") else {
            return;
        };
        let id = note_id();
        note.set_class_name(NOTE_CLASS);
        note.set_id(&id);
        note.set_text_content(Some(WAITING));
        if self.check.after_with_node_1(&note).is_ok() {
            let _ = self.check.set_attribute("aria-describedby", &id);
        }
    }
}

/// The row being edited, with the title editor in place of its title and Edit button,
/// built with the values it has now; the list keeps it up to date with
/// [`RowNodes::show`]. The view's state holds the editor's reactive attributes: the
/// caller keeps it (and the owner it was built under) as long as the row is shown; the
/// list places the row's element itself. `None` if the view came out without its
/// elements.
pub fn edited_row(
    id: Uuid,
    row: RowSignal,
    editing: RwSignal<Option<Uuid>>,
    refocus: Refocus,
    read_only: bool,
) -> Option<(RowNodes, Box<dyn Any>)> {
    let (title, done, pending) =
        row.with_untracked(|r| (r.task.title.clone(), r.task.done, r.pending));
    let item = NodeRef::<html::Li>::new();
    let check = NodeRef::<html::Input>::new();
    let delete = NodeRef::<html::Button>::new();
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
    let view = view! {
        <li
            node_ref=item
            class=row_class(done, true)
            data-task-id=id.to_string()
            data-pending=pending.then_some("true")
            title=pending.then_some(WAITING)
        >
            <input
                node_ref=check
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
                node_ref=delete
                type="button"
                class="icon-button danger task-delete"
                aria-label=delete_label(&title)
            ></button>
        </li>
    };
    let state = view.build();
    let nodes = RowNodes {
        item: item.get_untracked()?.into(),
        check: check.get_untracked()?,
        title: None,
        by: None,
        edit: None,
        delete: delete.get_untracked().map(Into::into),
    };
    Some((nodes, Box::new(state)))
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
pub(super) fn by_line(updated_by: &str) -> Option<String> {
    (!updated_by.is_empty()).then(|| format!("by {updated_by}"))
}

pub(super) fn delete_label(title: &str) -> String {
    format!("Delete {title}")
}
