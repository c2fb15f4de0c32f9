//! What the board says in words: the connection status, a reported close, a waiting
//! change.

use protocol::{CloseCode, MethodCall};

use crate::client::machine::{ConnectionState, Transport, Waiting};

pub(super) fn status_text(
    state: ConnectionState,
    transport: Transport,
    retry_in_s: Option<u32>,
    attempt: u32,
) -> String {
    match (state, retry_in_s) {
        (ConnectionState::Live, _) if transport == Transport::Http => {
            "Live (HTTP fallback)".to_owned()
        }
        (ConnectionState::Live, _) => "Live".to_owned(),
        (ConnectionState::Connecting, _) if transport == Transport::Http => {
            "Connecting over HTTP".to_owned()
        }
        (ConnectionState::Connecting, _) => "Connecting".to_owned(),
        (ConnectionState::Authenticating, _) => "Authenticating".to_owned(),
        (ConnectionState::Reconnecting, Some(seconds)) => {
            format!("Reconnecting in {seconds} s (attempt {attempt})")
        }
        // No wait scheduled: the session is being refreshed, or a retry is under way.
        (ConnectionState::Reconnecting, None) if attempt == 0 => "Reconnecting".to_owned(),
        (ConnectionState::Reconnecting, None) => format!("Reconnecting (attempt {attempt})"),
        (ConnectionState::Offline, _) => "Offline".to_owned(),
        (ConnectionState::Closed, _) => "Closed".to_owned(),
    }
}

/// A reported close in words; the status beside it says whether the app reconnects.
pub(super) fn close_report(code: CloseCode) -> String {
    let why = match code {
        CloseCode::TooBig => "a message was too large for it",
        CloseCode::ProtocolViolation => "it could not read what the app sent",
        CloseCode::Forbidden => "this page or account may not connect",
        _ => "for a reason the app does not know",
    };
    format!("The server closed the connection: {why} (code {code}).")
}

/// A waiting change in words, naming the task by its title where the core knows it.
pub(super) fn describe(waiting: &Waiting) -> String {
    let task = match &waiting.title {
        Some(title) => format!("\u{201c}{title}\u{201d}"),
        None => "a task".to_owned(),
    };
    match &waiting.call {
        MethodCall::Create(params) => format!("Add \u{201c}{}\u{201d}", params.title),
        MethodCall::Update(params) => match (&params.title, params.done) {
            (Some(new), _) => format!("Rename {task} to \u{201c}{new}\u{201d}"),
            (None, Some(true)) => format!("Complete {task}"),
            (None, Some(false)) => format!("Reopen {task}"),
            (None, None) => format!("Update {task}"),
        },
        MethodCall::Delete(_) => format!("Delete {task}"),
        MethodCall::ClearDone(_) => "Clear completed tasks".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use protocol::{CreateParams, DeleteParams, UpdateParams};
    use uuid::Uuid;

    use super::*;

    fn waiting(call: MethodCall, title: Option<&str>) -> Waiting {
        Waiting {
            sends: 0,
            call,
            title: title.map(str::to_owned),
            based_on: None,
        }
    }

    #[test]
    fn a_waiting_change_names_its_task_or_says_a_task() {
        let id = Uuid::nil();
        let rename = MethodCall::Update(UpdateParams {
            board: None,
            id,
            title: Some("New".to_owned()),
            done: None,
            if_version: None,
        });
        assert_eq!(
            describe(&waiting(rename, Some("Old"))),
            "Rename \u{201c}Old\u{201d} to \u{201c}New\u{201d}"
        );
        let delete = MethodCall::Delete(DeleteParams { board: None, id });
        assert_eq!(describe(&waiting(delete, None)), "Delete a task");
        let create = MethodCall::Create(CreateParams {
            board: None,
            id: None,
            title: "Buy milk".to_owned(),
        });
        assert_eq!(
            describe(&waiting(create, None)),
            "Add \u{201c}Buy milk\u{201d}"
        );
    }

    #[test]
    fn the_status_counts_down_and_names_the_attempt() {
        let socket = Transport::WebSocket;
        let text = status_text(ConnectionState::Reconnecting, socket, Some(4), 3);
        assert_eq!(text, "Reconnecting in 4 s (attempt 3)");
        assert_eq!(
            status_text(ConnectionState::Reconnecting, socket, None, 0),
            "Reconnecting"
        );
        assert_eq!(
            status_text(ConnectionState::Live, Transport::Http, None, 0),
            "Live (HTTP fallback)"
        );
    }
}
