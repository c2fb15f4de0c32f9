//! The title editor a row shows while it is edited: an input, Enter saves, Escape
//! cancels, leaving the field saves a valid title.

use leptos::html;
use leptos::prelude::*;
use uuid::Uuid;

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

/// The title as an input: Enter saves, Escape cancels (both then run `refocus` with the
/// task, for the row shown again to take the focus back; it belongs to the list, which
/// outlives this editor), leaving the field saves a valid title.
#[component]
pub fn TitleEditor(
    id: Uuid,
    row: RowSignal,
    editing: RwSignal<Option<Uuid>>,
    refocus: Callback<Uuid>,
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
    let finish = move |from_keyboard: bool| {
        end_edit(editing, id);
        if from_keyboard {
            // The row is shown again once `editing` is false.
            request_animation_frame(move || {
                refocus.try_run(id);
            });
        }
    };
    // From the keyboard a refused title stays open with the reason; leaving the field
    // with one gives up the edit instead of trapping the person in it.
    let save = move |from_keyboard: bool| {
        // A task deleted elsewhere has nothing left to save.
        let unchanged = row
            .try_with_untracked(|r| draft.with_untracked(|d| d.trim() == r.task.title))
            .unwrap_or(true);
        if unchanged {
            finish(from_keyboard);
            return;
        }
        match draft.with_untracked(|d| tw.rename(id, d, seen)) {
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
                // Chromium also fires `blur` when the focused field is taken out of the
                // page, before it is gone: its row left the list (changed elsewhere) or
                // the page changed. That is no decision to save a half-typed title, so
                // the field decides once the event is over, if it is still there (and so
                // are its signals).
                queue_microtask(move || {
                    let there = input.try_get_untracked().flatten().is_some_and(|field| field.is_connected());
                    // Leaving a field that Enter or Escape already closed does nothing.
                    if there && editing.try_with_untracked(|edited| *edited == Some(id)) == Some(true) {
                        save(false);
                    }
                });
            }
        />
        {move || problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })}
        </div>
    }
}
