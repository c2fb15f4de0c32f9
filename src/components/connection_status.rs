//! The connection, as one live region screen readers announce, and a way to skip the
//! wait while reconnecting.

use leptos::prelude::*;

use crate::board::Status;
use crate::client::machine::ConnectionState;
use crate::taskwire::Taskwire;

/// The status text in three runs, each its own text node: `Reconnecting`, ` in 4 s`,
/// ` (attempt 3)`. The seconds sit in an `aria-hidden` span, out of the accessibility
/// tree, so a tick changes nothing a screen reader sees: the region is announced when
/// the state (or the attempt) changes, not every second, while its text still reads
/// `Reconnecting in 4 s (attempt 3)` on screen and to the contract. `aria-atomic` is set
/// false (a `status` is atomic unless told otherwise), so only the runs that changed are
/// announced, not the whole region with its last close each attempt. A text without a
/// countdown is all head.
fn runs(status: &Status) -> (String, String, String) {
    let countdown = match (status.state, status.retry_in_s) {
        (ConnectionState::Reconnecting, Some(seconds)) => format!(" in {seconds} s"),
        _ => return (status.text.clone(), String::new(), String::new()),
    };
    match status.text.split_once(&countdown) {
        Some((head, tail)) => (head.to_owned(), countdown, tail.to_owned()),
        None => (status.text.clone(), String::new(), String::new()),
    }
}

#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let tw = Taskwire::expect();
    let status = tw.status();
    let reconnecting = move || status.with(|s| s.state == ConnectionState::Reconnecting);
    let region = NodeRef::<leptos::html::Div>::new();
    // The button goes once the retry starts: focus moves to the status, which then says
    // what is happening, rather than falling back to the top of the page.
    let retry = move |_| {
        tw.retry_now();
        if !status.with_untracked(|s| s.state == ConnectionState::Reconnecting)
            && let Some(region) = region.get_untracked()
        {
            let _ = region.focus();
        }
    };
    // One memo a run: a text node is written only when its own run changes.
    let head = Memo::new(move |_| status.with(|s| runs(s).0));
    let seconds = Memo::new(move |_| status.with(|s| runs(s).1));
    let tail = Memo::new(move |_| status.with(|s| runs(s).2));
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
            <div
                node_ref=region
                class="status"
                role="status"
                aria-atomic="false"
                tabindex="-1"
                data-connection=move || status.with(|s| s.state.as_str())
                data-transport=move || status.with(|s| s.transport.as_str())
            >
                <span class="status-dot" aria-hidden="true"></span>
                <span class="status-text">
                    {head}
                    <span aria-hidden="true">{seconds}</span>
                    {tail}
                </span>
                {last_close}
            </div>
            <Show when=reconnecting>
                <button type="button" class="button small" on:click=retry>
                    "Retry now"
                </button>
            </Show>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: ConnectionState, text: &str, retry_in_s: Option<u32>) -> Status {
        Status {
            state,
            text: text.to_owned(),
            retry_in_s,
            attempt: 3,
            ..Status::default()
        }
    }

    #[test]
    fn only_the_seconds_of_a_countdown_are_set_apart() {
        let counting = status(
            ConnectionState::Reconnecting,
            "Reconnecting in 4 s (attempt 3)",
            Some(4),
        );
        assert_eq!(
            runs(&counting),
            (
                "Reconnecting".to_owned(),
                " in 4 s".to_owned(),
                " (attempt 3)".to_owned()
            )
        );
        let live = status(ConnectionState::Live, "Live", None);
        assert_eq!(
            runs(&live),
            ("Live".to_owned(), String::new(), String::new())
        );
    }
}
