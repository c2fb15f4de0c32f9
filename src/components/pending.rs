//! Changes made while the connection is down: what they are, and a way to drop them
//! instead of sending them once it is back.

use leptos::prelude::*;

use super::focus_new_task;
use crate::client::machine::ConnectionState;
use crate::taskwire::Taskwire;

#[component]
pub fn PendingChanges() -> impl IntoView {
    let tw = Taskwire::expect();
    let (pending, status) = (tw.pending(), tw.status());
    // While live, changes wait only milliseconds for their answer: no need to flash them.
    let waiting = move || {
        status.with(|s| s.state != ConnectionState::Live) && pending.with(|p| !p.is_empty())
    };
    let summary = move || match pending.with(Vec::len) {
        1 => "1 change waits for the connection".to_owned(),
        n => format!("{n} changes wait for the connection"),
    };
    view! {
        <Show when=waiting>
            <section class="pending" aria-label="Unsent changes">
                <details>
                    <summary>{summary}</summary>
                    <ul>
                        {move || {
                            pending
                                .get()
                                .into_iter()
                                .map(|change| view! { <li>{change.description}</li> })
                                .collect_view()
                        }}
                    </ul>
                </details>
                <button type="button" class="button small ghost" on:click=move |ev| {
                    tw.discard_pending();
                    focus_new_task(&ev);
                }>
                    "Discard unsent changes"
                </button>
            </section>
        </Show>
    }
}
