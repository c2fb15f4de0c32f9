//! The one way inbound text frames are read, on both sides: bounded, and every failure a
//! typed error rather than a panic.

use crate::frame::{ClientFrame, ServerFrame};

/// The largest frame the server accepts from a client (larger ones close the socket with
/// 1009): a client frame is one request, and 64 KiB is far more than any of them needs.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The largest frame the client accepts from the server. Not the contract's 64 KiB: a
/// `snapshot` carries every task of the user in one frame (about 150 bytes a task), so
/// 64 KiB would strand anyone with more than some 400 tasks in a reconnect loop. The
/// bound still keeps a broken or hostile server from making the tab buffer without end.
pub const MAX_SERVER_FRAME_BYTES: usize = 32 * 1024 * 1024;

/// Why an inbound frame was refused, with its request `id` when one could be read, so
/// that the `error` reply can name the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    pub id: Option<u64>,
    pub kind: DecodeErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("frame of {len} bytes is over the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("frame is not valid JSON: {0}")]
    BadJson(String),
    #[error("frame is not a JSON object")]
    NotAnObject,
    #[error("frame has no \"type\"")]
    MissingType,
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    #[error("frame lacks the field {0:?}")]
    MissingField(String),
    #[error("frame is malformed: {0}")]
    Invalid(String),
}

impl From<DecodeErrorKind> for DecodeError {
    fn from(kind: DecodeErrorKind) -> Self {
        Self { id: None, kind }
    }
}

pub fn decode_client(text: &str) -> Result<ClientFrame, DecodeError> {
    decode(text, ClientFrame::TYPES, MAX_FRAME_BYTES, |text| {
        serde_json::from_str(text)
    })
}

pub fn decode_server(text: &str) -> Result<ServerFrame, DecodeError> {
    decode(
        text,
        ServerFrame::TYPES,
        MAX_SERVER_FRAME_BYTES,
        crate::server_reader::read,
    )
}

fn decode<T>(
    text: &str,
    types: &[&str],
    limit: usize,
    read: fn(&str) -> Result<T, serde_json::Error>,
) -> Result<T, DecodeError> {
    if text.len() > limit {
        return Err(DecodeErrorKind::TooLarge {
            len: text.len(),
            limit,
        }
        .into());
    }
    match read(text) {
        Ok(frame) => Ok(frame),
        Err(error) if error.is_syntax() || error.is_eof() => {
            Err(DecodeErrorKind::BadJson(error.to_string()).into())
        }
        // The slow path, taken only for frames that are already wrong: read the frame
        // again as a plain value to say precisely what is wrong with it.
        Err(error) => Err(explain(text, types, &error)),
    }
}

fn explain(text: &str, types: &[&str], error: &serde_json::Error) -> DecodeError {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) else {
        return DecodeErrorKind::NotAnObject.into();
    };
    let kind = match object.get("type").and_then(|kind| kind.as_str()) {
        None => DecodeErrorKind::MissingType,
        Some(kind) if !types.contains(&kind) => DecodeErrorKind::UnknownType(kind.to_owned()),
        Some(_) => {
            let message = error.to_string();
            match message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
            {
                Some(field) => DecodeErrorKind::MissingField(field.to_owned()),
                None => DecodeErrorKind::Invalid(message),
            }
        }
    };
    DecodeError {
        id: object.get("id").and_then(serde_json::Value::as_u64),
        kind,
    }
}
