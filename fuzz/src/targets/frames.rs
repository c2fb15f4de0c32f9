//! The frame readers of both sides, and what the server does with a frame before its
//! database or socket is involved.
//!
//! Text comes from the input with invalid UTF-8 replaced: a WebSocket text frame is
//! valid UTF-8 by the time either side reads it (the transport refuses others), so
//! invalid bytes reach these readers only as U+FFFD.

use protocol::{
    ApiError, ClientFrame, DecodeErrorKind, ErrorCode, MethodCall, MethodValue, Outcome,
    ServerFrame, Topic, ValidationError,
};
use taskwire::client::machine::{ConnId, Input};

/// `protocol::decode_client`, as the server's `ws::connection::on_text` calls it on
/// every text frame: oversized frames are refused, and a frame that is read writes back
/// as JSON that reads as the same frame.
pub(super) fn server_decode(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let decoded = protocol::decode_client(&text);
    if text.len() > protocol::MAX_FRAME_BYTES {
        assert!(
            matches!(&decoded, Err(e) if matches!(e.kind, DecodeErrorKind::TooLarge { .. })),
            "a frame of {} bytes was not refused as too large",
            text.len()
        );
    }
    match decoded {
        Ok(frame) => {
            client_round_trip(&frame);
            true
        }
        Err(_) => false,
    }
}

/// What `ws::connection::on_text` does with a text frame up to its first `await` on
/// the database or the socket, mirrored here (the server's connection and its
/// `tasks::validated` are private and async): the decode, the reply it would write
/// (which the app must be able to read back), a topic's name (the fan-out's key), and
/// the title rules a change passes before it reaches the change log. Not covered: the
/// token check, the rate limit, subscriptions and changes against SQLite, and the
/// fan-out.
pub(super) fn server_handler(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let decoded = protocol::decode_client(&text);
    // Before `auth`, anything else is refused, naming its request when it can.
    let refused_id = match &decoded {
        Ok(ClientFrame::Auth { .. }) => None,
        Ok(other) => Some(Some(other.id())),
        Err(error) => Some(error.id),
    };
    if let Some(id) = refused_id {
        app_reads(&error_frame(
            id,
            ErrorCode::Unauthorized,
            "Send auth first.",
        ));
    }
    let read = decoded.is_ok();
    let reply = match decoded {
        Err(error) => Some(error_frame(
            error.id,
            ErrorCode::BadRequest,
            &error.to_string(),
        )),
        // The token is checked against the database.
        Ok(ClientFrame::Auth { .. }) => None,
        Ok(ClientFrame::Ping { id }) => Some(ServerFrame::Pong { id }),
        Ok(ClientFrame::Subscribe { topic, .. }) => {
            topic_round_trip(topic);
            None
        }
        Ok(ClientFrame::Unsubscribe { id, topic }) => {
            topic_round_trip(topic);
            Some(ServerFrame::Result {
                id,
                outcome: Outcome::Ok(MethodValue::default()),
            })
        }
        Ok(ClientFrame::Request { id, call }) => match validated(call) {
            Ok(call) => {
                validated_titles_hold(&call);
                None
            }
            Err(error) => Some(ServerFrame::Result {
                id,
                outcome: Outcome::Error(ApiError::new(ErrorCode::BadRequest, error.to_string())),
            }),
        },
    };
    if let Some(reply) = reply {
        app_reads(&reply);
    }
    read
}

/// `Input::from_text`, what the app's socket shell calls on every text frame (through
/// `protocol::decode_server`): a frame that is read writes back as JSON that reads as
/// the same frame.
pub(super) fn app_decode(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    match Input::from_text(ConnId(1), &text) {
        Input::Frame { frame, .. } => {
            app_reads(&frame);
            true
        }
        Input::Undecodable { .. } => false,
        other => panic!("from_text made neither a frame nor an undecodable: {other:?}"),
    }
}

fn error_frame(id: Option<u64>, code: ErrorCode, message: &str) -> ServerFrame {
    ServerFrame::Error {
        id,
        code,
        message: message.to_owned(),
    }
}

/// The server's `tasks::validated`: the contract's title rules, titles trimmed.
fn validated(call: MethodCall) -> Result<MethodCall, ValidationError> {
    Ok(match call {
        MethodCall::Create(mut params) => {
            params.title = protocol::validate_title(&params.title)?.to_owned();
            MethodCall::Create(params)
        }
        MethodCall::Update(mut params) => {
            if let Some(title) = &params.title {
                params.title = Some(protocol::validate_title(title)?.to_owned());
            }
            MethodCall::Update(params)
        }
        other => other,
    })
}

/// A title that passed is stored as it is: it must pass again unchanged (a later
/// update may send it back), and be what the rules say.
fn validated_titles_hold(call: &MethodCall) {
    let title = match call {
        MethodCall::Create(params) => Some(&params.title),
        MethodCall::Update(params) => params.title.as_ref(),
        MethodCall::Delete(_) | MethodCall::ClearDone(_) => None,
    };
    if let Some(title) = title {
        assert_eq!(
            protocol::validate_title(title),
            Ok(title.as_str()),
            "a valid title changes when validated again"
        );
        let count = title.chars().count();
        assert!(
            (1..=200).contains(&count) && !title.chars().any(char::is_control),
            "a title of {count} characters passed: {title:?}"
        );
    }
}

fn topic_round_trip(topic: Topic) {
    let name = topic.to_string();
    assert_eq!(
        name.parse::<Topic>(),
        Ok(topic),
        "topic {name:?} reads back as another"
    );
}

fn client_round_trip(frame: &ClientFrame) {
    let text = match serde_json::to_string(frame) {
        Ok(text) => text,
        Err(error) => panic!("a decoded client frame does not serialise: {error}"),
    };
    assert_eq!(
        protocol::decode_client(&text).as_ref(),
        Ok(frame),
        "a client frame reads back as another: {text}"
    );
}

/// The app reads what the server writes of `frame` as the same frame.
fn app_reads(frame: &ServerFrame) {
    let text = match serde_json::to_string(frame) {
        Ok(text) => text,
        Err(error) => panic!("a server frame does not serialise: {error}"),
    };
    assert_eq!(
        protocol::decode_server(&text).as_ref(),
        Ok(frame),
        "a server frame reads back as another: {text}"
    );
}
