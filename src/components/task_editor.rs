//! The title editor a row shows while it is edited: an input, Enter saves, Escape
//! cancels, leaving the field saves a valid title.

use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{Element, FocusEvent};

use super::task_item::{Control, Refocus};
use crate::board::RowSignal;
use crate::taskwire::Taskwire;

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

/// The control of this editor's row that focus is going to, when it leaves the field
/// for one: the row is built anew as the edit ends, and that control with it.
fn leaving_for(ev: &FocusEvent) -> Option<Control> {
    let from = ev
        .target()?
        .dyn_into::<Element>()
        .ok()?
        .closest("li")
        .ok()??;
    let to = ev.related_target()?.dyn_into::<Element>().ok()?;
    if to.closest("li").ok()?.as_ref() != Some(&from) {
        return None;
    }
    if to.class_list().contains("task-delete") {
        Some(Control::Delete)
    } else if to.matches("input[type=checkbox]").unwrap_or(false) {
        Some(Control::Check)
    } else {
        None
    }
}

/// The title as an input: Enter saves, Escape cancels, leaving the field saves a valid
/// title. As the edit ends, `refocus` (the list's, which outlives this editor) gives the
/// focus back to the row shown again: to its Edit button after Enter or Escape, or to
/// the row's control that focus left the field for.
#[component]
pub fn TitleEditor(
    id: Uuid,
    row: RowSignal,
    editing: RwSignal<Option<Uuid>>,
    refocus: Refocus,
) -> impl IntoView {
    let tw = Taskwire::expect();
    let (title, seen) = row.with_untracked(|r| (r.task.title.clone(), r.task.version));
    let draft = RwSignal::new(title);
    let problem = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Input>::new();
    Effect::new(move || {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    // Where focus goes as the edit ends: the Edit button from the keyboard, else where
    // the person was going, if it is in this row.
    let finish = move |focus: Option<Control>| {
        end_edit(editing, id);
        if let Some(control) = focus {
            // The row is shown again once `editing` is false.
            request_animation_frame(move || {
                refocus.try_run((id, control));
            });
        }
    };
    // From the keyboard a refused title stays open with the reason; leaving the field
    // with one gives up the edit instead of trapping the person in it.
    let save = move |from_keyboard: bool, focus: Option<Control>| {
        // A task deleted elsewhere has nothing left to save.
        let unchanged = row
            .try_with_untracked(|r| draft.with_untracked(|d| d.trim() == r.task.title))
            .unwrap_or(true);
        if unchanged {
            finish(focus);
            return;
        }
        match draft.with_untracked(|d| tw.rename(id, d, seen)) {
            Ok(()) => finish(focus),
            Err(_) if !from_keyboard => finish(focus),
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
                    save(true, Some(Control::Edit));
                }
                "Escape" => {
                    ev.prevent_default();
                    finish(Some(Control::Edit));
                }
                _ => {}
            }
            on:blur=move |ev| {
                let focus = leaving_for(&ev);
                // Chromium also fires `blur` when the focused field is taken out of the
                // page, before it is gone: its row left the list (changed elsewhere) or
                // the page changed. That is no decision to save a half-typed title, so
                // the field decides once the event is over, if it is still there (and so
                // are its signals).
                queue_microtask(move || {
                    let there = input.try_get_untracked().flatten().is_some_and(|field| field.is_connected());
                    // Leaving a field that Enter or Escape already closed does nothing.
                    if there && editing.try_with_untracked(|edited| *edited == Some(id)) == Some(true) {
                        save(false, focus);
                    }
                });
            }
        />
        {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
        </div>
    }
}
