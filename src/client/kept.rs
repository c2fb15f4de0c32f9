//! A waiting change as it is kept across a reload (`crate::saved_changes`), and the
//! shape it is stored in.
//!
//! The stored shape is one flat record per change (`method` and the fields any call
//! may have), not the wire's `{"method","params"}`: a derived `Deserialize` of that
//! adjacently tagged enum buffers every value in serde's private `Content` tree, code the
//! app's bundle otherwise does without (see `protocol::server_reader`).

use protocol::{ClearDoneParams, CreateParams, DeleteParams, MethodCall, UpdateParams};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A change waiting in the outbox: the call, and how many times it went on the wire.
/// One that went may have been applied, so after a reload it is of unknown delivery,
/// settled by what the server shows: a change kept across a reload is made once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub call: MethodCall,
    pub sends: u8,
    /// The version of its task an update was made on (`Entry::based_on`).
    pub based_on: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Method {
    Create,
    Update,
    Delete,
    ClearDone,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    method: Method,
    sends: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    board: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    if_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    based_on: Option<u64>,
}

impl From<&Kept> for Stored {
    fn from(kept: &Kept) -> Self {
        let blank = |method, board| Self {
            method,
            sends: kept.sends,
            board,
            id: None,
            title: None,
            done: None,
            if_version: None,
            based_on: None,
        };
        match &kept.call {
            MethodCall::Create(p) => Self {
                id: p.id,
                title: Some(p.title.clone()),
                ..blank(Method::Create, p.board)
            },
            MethodCall::Update(p) => Self {
                id: Some(p.id),
                title: p.title.clone(),
                done: p.done,
                if_version: p.if_version,
                based_on: kept.based_on,
                ..blank(Method::Update, p.board)
            },
            MethodCall::Delete(p) => Self {
                id: Some(p.id),
                ..blank(Method::Delete, p.board)
            },
            MethodCall::ClearDone(p) => blank(Method::ClearDone, p.board),
        }
    }
}

impl Stored {
    /// The call again; `None` for a record that lacks what its method needs.
    fn into_kept(self) -> Option<Kept> {
        let board = self.board;
        let call = match self.method {
            Method::Create => MethodCall::Create(CreateParams {
                board,
                id: self.id,
                title: self.title?,
            }),
            Method::Update => MethodCall::Update(UpdateParams {
                board,
                id: self.id?,
                title: self.title,
                done: self.done,
                if_version: self.if_version,
            }),
            Method::Delete => MethodCall::Delete(DeleteParams {
                board,
                id: self.id?,
            }),
            Method::ClearDone => MethodCall::ClearDone(ClearDoneParams { board }),
        };
        Some(Kept {
            call,
            sends: self.sends,
            based_on: self.based_on,
        })
    }
}

/// The changes as stored.
pub fn to_json(kept: &[Kept]) -> Result<String, serde_json::Error> {
    serde_json::to_string(&kept.iter().map(Stored::from).collect::<Vec<_>>())
}

/// Why a stored record cannot be taken back. It is then taken back not at all, and left
/// where it is: taking back part of it would lose the rest (the record goes once
/// adopted), and no change may be lost or made twice.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("not a list of changes: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a change lacks what its method needs")]
    Incomplete,
}

/// The changes stored by [`to_json`], all or none (the outbox checks the rest as it
/// takes them back).
pub fn from_json(text: &str) -> Result<Vec<Kept>, Unreadable> {
    let stored: Vec<Stored> = serde_json::from_str(text)?;
    stored
        .into_iter()
        .map(Stored::into_kept)
        .collect::<Option<_>>()
        .ok_or(Unreadable::Incomplete)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is its job
mod tests {
    use super::*;

    #[test]
    fn every_call_comes_back_as_it_was_kept() {
        let board = Some(Uuid::from_u128(7));
        let kept = vec![
            Kept {
                call: MethodCall::Create(CreateParams {
                    board,
                    id: Some(Uuid::from_u128(1)),
                    title: "New".to_owned(),
                }),
                sends: 0,
                based_on: None,
            },
            Kept {
                call: MethodCall::Update(UpdateParams {
                    board: None,
                    id: Uuid::from_u128(2),
                    title: Some("Renamed".to_owned()),
                    done: Some(true),
                    if_version: Some(3),
                }),
                sends: 1,
                based_on: Some(2),
            },
            Kept {
                call: MethodCall::Delete(DeleteParams {
                    board,
                    id: Uuid::from_u128(3),
                }),
                sends: 2,
                based_on: None,
            },
            Kept {
                call: MethodCall::ClearDone(ClearDoneParams { board }),
                sends: 0,
                based_on: None,
            },
        ];
        assert_eq!(from_json(&to_json(&kept).unwrap()).unwrap(), kept);
    }

    /// A record is taken back whole or not at all: one change it cannot read (missing
    /// what its method needs, a method it does not know) leaves the whole record.
    #[test]
    fn a_record_with_a_change_it_cannot_read_is_refused_whole() {
        let text = r#"[{"method":"update","sends":0},{"method":"clear_done","sends":1}]"#;
        assert!(matches!(from_json(text), Err(Unreadable::Incomplete)));
        let text = r#"[{"method":"clear_done","sends":1},{"method":"move","sends":0}]"#;
        assert!(matches!(from_json(text), Err(Unreadable::Json(_))));
        assert!(from_json("not json").is_err());
    }
}
