//! The one way inbound text frames are read, on both sides: bounded, and every failure a
//! typed error rather than a panic.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
        // again for its type and id, to say precisely what is wrong with it.
        Err(error) => Err(explain(text, types, &error)),
    }
}

fn explain(text: &str, types: &[&str], error: &serde_json::Error) -> DecodeError {
    let Ok(head) = serde_json::from_str::<Head>(text) else {
        return DecodeErrorKind::NotAnObject.into();
    };
    let kind = match head.kind.as_deref() {
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
    DecodeError { id: head.id, kind }
}

/// What [`explain`] reads of a frame that failed: that it is an object, and its `type`
/// and `id` when they are a string and an unsigned integer (the last of each, as in a
/// JSON map). Read by a visitor of its own: as a `serde_json::Value`, this slow path alone
/// put a second JSON tree and its map into the app's bundle (2.5 kB brotli).
#[derive(Default)]
struct Head {
    kind: Option<String>,
    id: Option<u64>,
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadVisitor;

        impl<'de> Visitor<'de> for HeadVisitor {
            type Value = Head;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
                let mut head = Head::default();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<Scalar>()?;
                    match key.as_str() {
                        "type" => head.kind = value.text,
                        "id" => head.id = value.number,
                        _ => {}
                    }
                }
                Ok(head)
            }
        }

        deserializer.deserialize_map(HeadVisitor)
    }
}

/// Any JSON value, of which only a string or an unsigned integer is kept.
#[derive(Default)]
struct Scalar {
    text: Option<String>,
    number: Option<u64>,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_str<E>(self, text: &str) -> Result<Scalar, E> {
                Ok(Scalar {
                    text: Some(text.to_owned()),
                    number: None,
                })
            }

            fn visit_u64<E>(self, number: u64) -> Result<Scalar, E> {
                Ok(Scalar {
                    text: None,
                    number: Some(number),
                })
            }

            fn visit_i64<E>(self, _: i64) -> Result<Scalar, E> {
                Ok(Scalar::default())
            }

            fn visit_f64<E>(self, _: f64) -> Result<Scalar, E> {
                Ok(Scalar::default())
            }

            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::default())
            }

            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::default())
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::default())
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}
