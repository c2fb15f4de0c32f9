//! A row not being edited, as a board shows thousands of them: the row's markup, written
//! once with `view!` and built once, is cloned whole, and the row's values are written
//! into the clone. Built element by element, a row is some 25 calls from wasm into the
//! DOM, each passing its strings across (every class name, type and label); cloned, it is
//! one call for its elements and one for each value (see `docs/performance.md`).

use leptos::prelude::*;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement};

use super::task_item::{RowNodes, by_line, delete_label, row_class};
use crate::board::TaskRow;

thread_local! {
    /// The row's markup, an editor's and a viewer's, built once.
    static MARKUP: [Option<Element>; 2] = [markup(false), markup(true)];
}

/// The row's elements with every attribute that is the same on every row.
fn markup(read_only: bool) -> Option<Element> {
    let elements = if read_only {
        view! {
            <li class="task">
                <input class="task-check" type="checkbox" disabled />
                <span class="task-title"></span>
                <span class="task-by"></span>
            </li>
        }
        .build()
        .elements()
    } else {
        view! {
            <li class="task">
                <input class="task-check" type="checkbox" />
                <span class="task-title"></span>
                <span class="task-by"></span>
                <button type="button" class="icon-button task-edit" aria-label="Edit"></button>
                <button type="button" class="icon-button danger task-delete"></button>
            </li>
        }
        .build()
        .elements()
    };
    elements.into_iter().next()
}

/// A plain row of task `id` showing `row`: the markup cloned, and the row's values
/// written into the clone. `None` only if the browser would not clone it.
pub fn plain_row(id: Uuid, row: &TaskRow, read_only: bool) -> Option<RowNodes> {
    let item: HtmlElement = MARKUP
        .with(|markup| {
            markup[usize::from(read_only)]
                .as_ref()?
                .clone_node_with_deep(true)
                .ok()
        })?
        .unchecked_into();
    let _ = item.set_attribute("data-task-id", &id.to_string());
    let task = &row.task;
    if task.done {
        item.set_class_name(&row_class(true, false));
    }
    let check: HtmlInputElement = item.first_element_child()?.unchecked_into();
    let _ = check.set_attribute("aria-label", &task.title);
    if task.done {
        check.set_checked(true);
    }
    let title: HtmlElement = check.next_element_sibling()?.unchecked_into();
    title.set_text_content(Some(&task.title));
    let by: HtmlElement = title.next_element_sibling()?.unchecked_into();
    if let Some(line) = by_line(&task.updated_by) {
        by.set_text_content(Some(&line));
    }
    let (edit, delete) = if read_only {
        (None, None)
    } else {
        let edit: HtmlElement = by.next_element_sibling()?.unchecked_into();
        let delete: HtmlElement = edit.next_element_sibling()?.unchecked_into();
        let _ = delete.set_attribute("aria-label", &delete_label(&task.title));
        (Some(edit), Some(delete))
    };
    let nodes = RowNodes {
        item,
        check,
        title: Some(title),
        by: Some(by),
        edit,
        delete,
    };
    if row.pending {
        nodes.mark_pending(true);
    }
    Some(nodes)
}
