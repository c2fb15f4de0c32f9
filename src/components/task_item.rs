//! One task: its checkbox (named by the title), the title, editing in place, delete.

use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use crate::taskwire::{TaskRow, Taskwire};

/// `row` and `tw` come from the list, so a row costs no context or map lookup. A board
/// may hold thousands of rows, so each keeps its reactive parts few and cheap: one class
/// binding, the title shown and hidden rather than swapped for the editor, and the editor
/// built only while editing.
#[component]
pub fn TaskItem(id: Uuid, row: Signal<TaskRow>, tw: Taskwire) -> impl IntoView {
    let editing = RwSignal::new(false);
    let title = move || row.with(|r| r.task.title.clone());
    view! {
        <li
            class=move || row_class(row.with(|r| r.task.done), editing.get())
            data-task-id=id.to_string()
            data-pending=move || row.with(|r| r.pending).then_some("true")
        >
            <input
                class="task-check"
                type="checkbox"
                aria-label=title
                prop:checked=move || row.with(|r| r.task.done)
                on:change=move |ev| tw.set_done(id, event_target_checked(&ev))
            />
            <span class="task-title" hidden=editing on:dblclick=move |_| editing.set(true)>
                {title}
            </span>
            // Apart from the title, so that a change to the task while it is being edited
            // keeps the draft.
            {move || editing.get().then(|| view! { <TitleEditor id row tw editing /> })}
            <span class="task-pending" aria-hidden="true" title="Waiting for the server"></span>
            <button
                type="button"
                class="icon-button task-edit"
                hidden=editing
                on:click=move |_| editing.set(true)
            >
                <svg viewBox="0 0 20 20" aria-hidden="true">
                    <path d="M13.6 3.6l2.8 2.8-9 9H4.6v-2.8z" />
                </svg>
                <span class="sr-only">"Edit"</span>
            </button>
            <button
                type="button"
                class="icon-button danger"
                aria-label=move || row.with(|r| format!("Delete {}", r.task.title))
                on:click=move |_| tw.delete(id)
            >
                <svg viewBox="0 0 20 20" aria-hidden="true">
                    <path d="M5 5l10 10M15 5L5 15" />
                </svg>
            </button>
        </li>
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

/// The title as an input: Enter saves, Escape cancels (both hand focus back to `Edit`),
/// leaving the field saves a valid title.
#[component]
fn TitleEditor(
    id: Uuid,
    row: Signal<TaskRow>,
    tw: Taskwire,
    editing: RwSignal<bool>,
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
        editing.set(false);
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
                    if editing.get_untracked() {
                        save(false);
                    }
                }
            />
            {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
        </div>
    }
}
