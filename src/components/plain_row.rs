//! A row not being edited, as a board shows thousands of them: the row's markup, written
//! once with `view!` and built once, is cloned whole, and the row's values are written
//! into the clone. Built element by element, a row is some 25 calls from wasm into the
//! DOM, each passing its strings across (every class name, type and label); cloned, it is
//! one call for its elements and one for each value (see `docs/performance.md`).

use std::cell::RefCell;

use js_sys::JsString;
use leptos::prelude::*;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::wasm_bindgen;
use web_sys::{Element, HtmlElement, HtmlInputElement};

use super::task_item::{RowNodes, by_line, delete_label, row_class};
use crate::board::TaskRow;

thread_local! {
    /// The row's markup, an editor's and a viewer's, built once.
    static MARKUP: [Option<Element>; 2] = [markup(false), markup(true)];
    /// The strings every row writes, turned into JavaScript strings once.
    static WORDS: Words = Words::new();
    /// The last `by` line written, as a JavaScript string: the rows of a board come from
    /// a few people, so most rows write the one before's again.
    static LAST_BY: RefCell<Option<(String, JsString)>> = const { RefCell::new(None) };
}

/// The DOM's own setters, bound to take JavaScript strings: a string from wasm is copied
/// and decoded each time it crosses (about a microsecond each, most of a row's cost), so
/// a row turns its title into one string once and writes it three times.
#[wasm_bindgen]
extern "C" {
    /// A row's element, as far as writing its strings goes.
    type Written;

    #[wasm_bindgen(method, js_name = setAttribute)]
    fn set_attribute_to(this: &Written, name: &JsString, value: &JsString);

    #[wasm_bindgen(method, setter = textContent)]
    fn set_text_to(this: &Written, text: &JsString);
}

/// `element`, to write strings into.
fn written(element: &Element) -> &Written {
    element.unchecked_ref()
}

struct Words {
    task_id: JsString,
    aria_label: JsString,
    delete: JsString,
    class: JsString,
    done: JsString,
}

impl Words {
    fn new() -> Self {
        Self {
            task_id: "data-task-id".into(),
            aria_label: "aria-label".into(),
            delete: delete_label("").into(),
            class: "class".into(),
            done: row_class(true, false).into(),
        }
    }
}

/// The `by` line for `updated_by`, as a JavaScript string.
fn by_text(updated_by: &str) -> Option<JsString> {
    LAST_BY.with_borrow_mut(|last| {
        if let Some((who, text)) = last.as_ref()
            && who == updated_by
        {
            return Some(text.clone());
        }
        let text: JsString = by_line(updated_by)?.as_str().into();
        *last = Some((updated_by.to_owned(), text.clone()));
        Some(text)
    })
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
    let task = &row.task;
    let check: HtmlInputElement = item.first_element_child()?.unchecked_into();
    let title: HtmlElement = check.next_element_sibling()?.unchecked_into();
    let by: HtmlElement = title.next_element_sibling()?.unchecked_into();
    let (edit, delete) = if read_only {
        (None, None)
    } else {
        let delete: HtmlElement = item.last_element_child()?.unchecked_into();
        let edit: HtmlElement = delete.previous_element_sibling()?.unchecked_into();
        (Some(edit), Some(delete))
    };
    WORDS.with(|words| {
        let id: JsString = (&*id.as_hyphenated().encode_lower(&mut Uuid::encode_buffer())).into();
        written(&item).set_attribute_to(&words.task_id, &id);
        let name: JsString = task.title.as_str().into();
        written(&check).set_attribute_to(&words.aria_label, &name);
        written(&title).set_text_to(&name);
        if let Some(delete) = &delete {
            written(delete).set_attribute_to(&words.aria_label, &words.delete.concat(&name));
        }
        if task.done {
            written(&item).set_attribute_to(&words.class, &words.done);
            check.set_checked(true);
        }
    });
    if let Some(line) = by_text(&task.updated_by) {
        written(&by).set_text_to(&line);
    }
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
