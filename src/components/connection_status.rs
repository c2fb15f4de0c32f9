//! The connection, as one live region screen readers announce, and a way to skip the
//! wait while reconnecting.

use leptos::prelude::*;

use crate::client::machine::ConnectionState;
use crate::taskwire::Taskwire;

#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let tw = Taskwire::expect();
    let status = tw.status();
    let reconnecting = move || status.with(|s| s.state == ConnectionState::Reconnecting);
    let last_close = move || {
        status.with(|s| {
            s.last_close.as_ref().map(|(code, reason)| {
                let text = if reason.is_empty() {
                    format!("last close {code}")
                } else {
                    format!("last close {code}: {reason}")
                };
                // The space keeps "Live" and "last close" apart when read out.
                view! {
                    " "
                    <span class="status-close">{text}</span>
                }
            })
        })
    };
    view! {
        <div class="connection">
            <div class="status" role="status" data-connection=move || status.with(|s| s.state.as_str())>
                <span class="status-dot" aria-hidden="true"></span>
                <span class="status-text">{move || status.with(|s| s.text.clone())}</span>
                {last_close}
            </div>
            <Show when=reconnecting>
                <button type="button" class="button small" on:click=move |_| tw.retry_now()>
                    "Retry now"
                </button>
            </Show>
        </div>
    }
}
