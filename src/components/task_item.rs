//! One task: its checkbox (named by the title), the title, editing in place, delete.

use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;
use leptos::reactive::effect::ImmediateEffect;
use leptos::reactive::graph::ToAnySubscriber;
use uuid::Uuid;

use super::task_editor::TitleEditor;
use super::unsubscribe_on_cleanup;
use crate::board::{RowSignal, TaskRow};

/// What a row waiting for the server says when pointed at.
const WAITING: &str = "Waiting for the server";

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
        let _ = match row.pending {
            true => item
                .set_attribute("data-pending", "true")
                .and_then(|()| item.set_attribute("title", WAITING)),
            false => item
                .remove_attribute("data-pending")
                .and_then(|()| item.remove_attribute("title")),
        };
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

/// A row, built with the values it has now; [`RowNodes::follow`] keeps it up to date.
/// The list handles its clicks through [`RowNodes`]. Its icons are drawn by the
/// stylesheet: as elements they were four more nodes a row to build. The row being
/// edited (one at a time) shows the title editor in place of its title and Edit button;
/// the list builds it anew when the edit starts and ends, so no other row holds a place
/// for an editor.
#[component]
pub fn TaskItem(
    id: Uuid,
    row: RowSignal,
    nodes: RowNodes,
    /// `Some` for the row being edited: the edit, and where focus goes when it ends.
    edit: Option<(RwSignal<Option<Uuid>>, Callback<Uuid>)>,
    /// A viewer's row: a disabled checkbox, and no Edit or Delete.
    read_only: bool,
) -> impl IntoView {
    nodes.follow(row, edit.is_some());
    let (title, done, pending, by) = row.with_untracked(|r| {
        (
            r.task.title.clone(),
            r.task.done,
            r.pending,
            by_line(&r.task.updated_by),
        )
    });
    let middle = match edit {
        Some((editing, refocus)) => Either::Left(view! { <TitleEditor id row editing refocus /> }),
        None => Either::Right(view! {
            <span node_ref=nodes.title class="task-title">
                {title.clone()}
            </span>
            <span node_ref=nodes.by class="task-by">
                {by}
            </span>
            {(!read_only)
                .then(|| {
                    view! {
                        <button
                            node_ref=nodes.edit
                            type="button"
                            class="icon-button task-edit"
                            aria-label="Edit"
                        ></button>
                    }
                })}
        }),
    };
    let delete = (!read_only).then(|| {
        view! {
            <button
                node_ref=nodes.delete
                type="button"
                class="icon-button danger task-delete"
                aria-label=delete_label(&title)
            ></button>
        }
    });
    view! {
        <li
            node_ref=nodes.item
            class=row_class(done, edit.is_some())
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
            />
            {middle}
            {delete}
        </li>
    }
}

fn row_class(done: bool, edited: bool) -> String {
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

fn delete_label(title: &str) -> String {
    format!("Delete {title}")
}
