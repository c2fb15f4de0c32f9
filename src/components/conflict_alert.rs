//! A title typed over someone else's change: the person's text is kept, and they choose
//! whose stays.

use leptos::prelude::*;

use super::focus_task;
use crate::taskwire::Taskwire;

#[component]
pub fn ConflictAlert() -> impl IntoView {
    let tw = Taskwire::expect();
    let conflict = tw.conflict();
    move || {
        conflict.get().map(|conflict| {
            let task = conflict.task;
            // The alert goes with either choice: focus moves to the task it was about.
            let choose = move |keep_mine: bool| {
                move |ev: web_sys::MouseEvent| {
                    tw.resolve_conflict(keep_mine);
                    focus_task(&ev, task);
                }
            };
            view! {
                <div class="alert conflict" role="alert">
                    <span class="alert-icon" aria-hidden="true">"!"</span>
                    <span class="alert-text">
                        {format!("{} changed this task while you were editing.", conflict.by)}
                        <span class="conflict-mine">{format!(" Yours: “{}”", conflict.mine)}</span>
                    </span>
                    <button
                        type="button"
                        class="button small primary"
                        on:click=choose(true)
                    >
                        "Keep mine"
                    </button>
                    <button
                        type="button"
                        class="button small ghost"
                        on:click=choose(false)
                    >
                        "Keep theirs"
                    </button>
                </div>
            }
        })
    }
}
