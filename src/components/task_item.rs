//! One task: its checkbox (named by the title), the title, editing in place, delete.

use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement};

use crate::taskwire::{TaskRow, Taskwire};

/// `row` and `tw` come from the list, so a row costs no context or map lookup; so do the
/// row being edited (`editing`, one at a time) and `edited`, which tells each row whether
/// it is the one, waking only the rows that start or stop being it.
///
/// A board may hold 10,000 rows, and each reactive binding is an effect of its own
/// (nine a row, written declaratively: most of the time to show a big board). So the row
/// is built with its values as they are, and one effect per row brings its seven
/// changing values up to date when the row or its editing changes ([`RowParts::show`]).
/// One change still touches one row. Its clicks are handled by the list
/// ([`super::task_list`]); the editor is built only while editing.
#[component]
pub fn TaskItem(
    id: Uuid,
    row: Signal<TaskRow>,
    tw: Taskwire,
    editing: RwSignal<Option<Uuid>>,
    edited: Selector<Option<Uuid>>,
) -> impl IntoView {
    // A row removed while edited (deleted elsewhere, filtered away) ends its edit, so
    // that it does not reopen when the row comes back.
    on_cleanup({
        let edited = edited.clone();
        move || {
            edited.remove(&Some(id));
            end_edit(editing, id);
        }
    });
    let is_edited = move || edited.selected(&Some(id));
    let item = NodeRef::<html::Li>::new();
    let (task, pending) = row.with_untracked(|r| (r.task.clone(), r.pending));
    // A render effect, as Leptos's own bindings are: it runs as soon as the row changes,
    // not on a later tick. Its first run, before the row is built, only subscribes: the
    // row is built with these values. It lives as long as the row.
    let effect = RenderEffect::new({
        let is_edited = is_edited.clone();
        move |parts: Option<Option<RowParts>>| {
            let editing = is_edited();
            row.with(|r| {
                let first = parts.is_none();
                let parts = parts
                    .flatten()
                    .or_else(|| RowParts::find(&item.get_untracked()?.into()))?;
                if !first {
                    parts.show(r, editing);
                }
                Some(parts)
            })
        }
    });
    StoredValue::new_local(effect);
    view! {
        <li
            node_ref=item
            class=row_class(task.done, false)
            data-task-id=id.to_string()
            data-pending=pending.then_some("true")
        >
            <input
                class="task-check"
                type="checkbox"
                aria-label=task.title.clone()
                prop:checked=task.done
            />
            <span class="task-title">{task.title.clone()}</span>
            // Apart from the title, so that a change to the task while it is being edited
            // keeps the draft.
            {move || is_edited().then(|| view! { <TitleEditor id row tw editing /> })}
            <span class="task-pending" aria-hidden="true" title="Waiting for the server"></span>
            <button type="button" class="icon-button task-edit">
                <svg viewBox="0 0 20 20" aria-hidden="true">
                    <path d="M13.6 3.6l2.8 2.8-9 9H4.6v-2.8z" />
                </svg>
                <span class="sr-only">"Edit"</span>
            </button>
            <button
                type="button"
                class="icon-button danger task-delete"
                aria-label=format!("Delete {}", task.title)
            >
                <svg viewBox="0 0 20 20" aria-hidden="true">
                    <path d="M5 5l10 10M15 5L5 15" />
                </svg>
            </button>
        </li>
    }
}

/// The elements of a row whose content changes, found once from the row's fixed
/// structure (the editor comes and goes after the title, so none is found by position
/// after it).
struct RowParts {
    item: Element,
    check: HtmlInputElement,
    title: HtmlElement,
    edit: HtmlElement,
    delete: Element,
}

impl RowParts {
    fn find(item: &Element) -> Option<Self> {
        let check = item.first_element_child()?;
        let title = check.next_element_sibling()?;
        let delete = item.last_element_child()?;
        let edit = delete.previous_element_sibling()?;
        Some(Self {
            item: item.clone(),
            check: check.dyn_into().ok()?,
            title: title.dyn_into().ok()?,
            edit: edit.dyn_into().ok()?,
            delete,
        })
    }

    /// Writes the row as `row` and `editing` say; titles only ever as text.
    fn show(&self, row: &TaskRow, editing: bool) {
        let title = &row.task.title;
        self.item.set_class_name(row_class(row.task.done, editing));
        let _ = if row.pending {
            self.item.set_attribute("data-pending", "true")
        } else {
            self.item.remove_attribute("data-pending")
        };
        self.check.set_checked(row.task.done);
        let _ = self.check.set_attribute("aria-label", title);
        if self.title.text_content().as_deref() != Some(title) {
            self.title.set_text_content(Some(title));
        }
        self.title.set_hidden(editing);
        self.edit.set_hidden(editing);
        let _ = self
            .delete
            .set_attribute("aria-label", &format!("Delete {title}"));
    }
}

/// The row's classes as one static string: one binding instead of one per class.
fn row_class(done: bool, editing: bool) -> &'static str {
    match (done, editing) {
        (false, false) => "task",
        (true, false) => "task done",
        (false, true) => "task editing",
        (true, true) => "task done editing",
    }
}

/// Ends the edit of task `id`, if it is the one being edited.
fn end_edit(editing: RwSignal<Option<Uuid>>, id: Uuid) {
    editing.maybe_update(|edited| {
        let mine = *edited == Some(id);
        if mine {
            *edited = None;
        }
        mine
    });
}

/// The title as an input: Enter saves, Escape cancels (both hand focus back to `Edit`),
/// leaving the field saves a valid title.
#[component]
fn TitleEditor(
    id: Uuid,
    row: Signal<TaskRow>,
    tw: Taskwire,
    editing: RwSignal<Option<Uuid>>,
) -> impl IntoView {
    let draft = RwSignal::new(row.with_untracked(|r| r.task.title.clone()));
    let problem = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    Effect::new(move || {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    // The row's Edit button, looked up while the editor is still in the row (no row
    // holds a node ref for it).
    let edit_button = move || -> Option<HtmlElement> {
        let row = input.get_untracked()?.closest(".task").ok()??;
        row.query_selector(".task-edit").ok()??.dyn_into().ok()
    };
    let finish = move |refocus: bool| {
        let button = refocus.then(edit_button).flatten();
        end_edit(editing, id);
        if let Some(button) = button {
            // The button is shown again once `editing` is false.
            request_animation_frame(move || drop(button.focus()));
        }
    };
    // From the keyboard a refused title stays open with the reason; leaving the field
    // with one gives up the edit instead of trapping the person in it.
    let save = move |from_keyboard: bool| {
        let unchanged = row.with_untracked(|r| draft.with_untracked(|d| d.trim() == r.task.title));
        if unchanged {
            finish(from_keyboard);
            return;
        }
        match draft.with_untracked(|d| tw.rename(id, d)) {
            Ok(()) => finish(from_keyboard),
            Err(_) if !from_keyboard => finish(false),
            Err(error) => problem.set(Some(error.to_string())),
        }
    };
    view! {
        <div class="task-editor">
            <input
                class="task-edit-input"
                type="text"
                aria-label="Edit task"
                maxlength="400"
                node_ref=input
                aria-invalid=move || problem.with(Option::is_some).then_some("true")
                prop:value=draft
                on:input=move |ev| {
                    draft.set(event_target_value(&ev));
                    problem.set(None);
                }
                on:keydown=move |ev| match ev.key().as_str() {
                    _ if ev.is_composing() => {}
                    "Enter" => {
                        ev.prevent_default();
                        save(true);
                    }
                    "Escape" => {
                        ev.prevent_default();
                        finish(true);
                    }
                    _ => {}
                }
                on:blur=move |_| {
                    // Leaving a field that Enter or Escape already closed does nothing.
                    if editing.with_untracked(|edited| *edited == Some(id)) {
                        save(false);
                    }
                }
            />
            {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
        </div>
    }
}
