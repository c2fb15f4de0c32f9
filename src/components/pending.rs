//! Changes made while the connection is down: what they are, and a way to drop them
//! instead of sending them once it is back.

use leptos::prelude::*;

use web_sys::Element;

use super::{board_of, board_start, focus_is_lost, focus_new_task, target_of};
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
    view! {
        <Show when=waiting>
            <UnsentPanel />
        </Show>
    }
}

/// The panel itself. It goes the moment the connection is live again, and the focus
/// with it if it was inside (on `Discard unsent changes`, say): the focus then goes to
/// where the board's keyboard starts, not back to the top of the page.
#[component]
fn UnsentPanel() -> impl IntoView {
    let tw = Taskwire::expect();
    let pending = tw.pending();
    let summary = move || match pending.with(Vec::len) {
        1 => "1 change waits for the connection".to_owned(),
        n => format!("{n} changes wait for the connection"),
    };
    // The board page, while the focus is inside the panel.
    let holding = StoredValue::new_local(None::<Element>);
    on_cleanup(move || {
        if let Some(main) = holding.get_value() {
            request_animation_frame(move || {
                if focus_is_lost()
                    && let Some(start) = board_start(&main)
                {
                    let _ = start.focus();
                }
            });
        }
    });
    view! {
            <section
                class="pending"
                aria-label="Unsent changes"
                on:focusin=move |ev| {
                    holding.set_value(target_of(&ev).and_then(|inside| board_of(&inside)));
                }
                // Focus moved elsewhere (not merely lost with the panel).
                on:focusout=move |ev| {
                    if ev.related_target().is_some() {
                        holding.set_value(None);
                    }
                }
            >
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
    }
}
