//! One task: its checkbox (named by the title), the title, editing in place, delete.

use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;

use crate::taskwire::{TaskRow, Taskwire};

#[component]
pub fn TaskItem(id: Uuid) -> impl IntoView {
    let tw = Taskwire::expect();
    // The list only holds ids the service knows; a row gone meanwhile renders nothing.
    let Some(row) = tw.task(id) else {
        return ().into_any();
    };
    let title = move || row.with(|r| r.task.title.clone());
    let done = move || row.with(|r| r.task.done);
    let editing = RwSignal::new(false);
    let edit_button = NodeRef::<html::Button>::new();
    view! {
        <li
            class="task"
            class:done=done
            class:editing=editing
            data-task-id=id.to_string()
            data-pending=move || row.with(|r| r.pending).then_some("true")
        >
            <input
                class="task-check"
                type="checkbox"
                aria-label=title
                prop:checked=done
                on:change=move |ev| tw.set_done(id, event_target_checked(&ev))
            />
            {move || {
                if editing.get() {
                    view! { <TitleEditor id row editing edit_button /> }.into_any()
                } else {
                    view! {
                        <span class="task-title" on:dblclick=move |_| editing.set(true)>
                            {title}
                        </span>
                    }
                        .into_any()
                }
            }}
            <span class="task-pending" aria-hidden="true" title="Waiting for the server"></span>
            <button
                type="button"
                class="icon-button"
                hidden=editing
                node_ref=edit_button
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
                aria-label=move || format!("Delete {}", title())
                on:click=move |_| tw.delete(id)
            >
                <svg viewBox="0 0 20 20" aria-hidden="true">
                    <path d="M5 5l10 10M15 5L5 15" />
                </svg>
            </button>
        </li>
    }
    .into_any()
}

/// The title as an input: Enter saves, Escape cancels (both hand focus back to `Edit`),
/// leaving the field saves a valid title.
#[component]
fn TitleEditor(
    id: Uuid,
    row: Signal<TaskRow>,
    editing: RwSignal<bool>,
    edit_button: NodeRef<html::Button>,
) -> impl IntoView {
    let tw = Taskwire::expect();
    let draft = RwSignal::new(row.with_untracked(|r| r.task.title.clone()));
    let problem = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    Effect::new(move || {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    let finish = move |refocus: bool| {
        editing.set(false);
        if refocus && let Some(button) = edit_button.get_untracked() {
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
