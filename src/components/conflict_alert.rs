//! A title typed over someone else's change: the person's text is kept, and they choose
//! whose stays.

use leptos::prelude::*;

use crate::taskwire::Taskwire;

#[component]
pub fn ConflictAlert() -> impl IntoView {
    let tw = Taskwire::expect();
    let conflict = tw.conflict();
    move || {
        conflict.get().map(|conflict| {
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
                        on:click=move |_| tw.resolve_conflict(true)
                    >
                        "Keep mine"
                    </button>
                    <button
                        type="button"
                        class="button small ghost"
                        on:click=move |_| tw.resolve_conflict(false)
                    >
                        "Keep theirs"
                    </button>
                </div>
            }
        })
    }
}
