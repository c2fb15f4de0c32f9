//! The `New task` input: Enter adds. A blank title is refused here, with the reason,
//! and nothing is sent.

use leptos::prelude::*;

use crate::taskwire::{ChangeError, Taskwire};

#[component]
pub fn NewTaskForm() -> impl IntoView {
    let tw = Taskwire::expect();
    let title = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let add = move || match title.with_untracked(|t| tw.create(t)) {
        Ok(()) => title.set(String::new()),
        Err(ChangeError::Invalid(error)) => problem.set(Some(error.to_string())),
        // The board's alert says why; the title stays, to try again.
        Err(ChangeError::NotTaken) => {}
    };
    // Enter is handled on the input itself (not left to the form's implicit submission)
    // so it works the same whatever the form holds; the button serves pointers.
    view! {
        <form
            class="new-task"
            on:submit=move |ev| {
                ev.prevent_default();
                add();
            }
        >
            <span class="new-task-plus" aria-hidden="true"></span>
            <input
                class="new-task-input"
                type="text"
                aria-label="New task"
                placeholder="What needs doing?"
                autocomplete="off"
                maxlength="400"
                aria-invalid=move || problem.with(Option::is_some).then_some("true")
                prop:value=title
                on:input=move |ev| {
                    title.set(event_target_value(&ev));
                    problem.set(None);
                }
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.is_composing() {
                        ev.prevent_default();
                        add();
                    }
                }
            />
            <button type="submit" class="button primary">
                "Add task"
            </button>
        </form>
        {move || {
            problem.get().map(|text| view! { <p class="field-error" role="alert">{text}</p> })
        }}
    }
}
