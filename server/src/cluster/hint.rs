//! What one node tells the others on the PostgreSQL channel: that something changed,
//! never the changed data itself when the database has it (a `NOTIFY` payload is capped
//! at 8,000 bytes, and the log is the truth). A board list keeps no log, so its event
//! travels whole; it is a few hundred bytes.

use std::fmt;
use std::str::FromStr;

use protocol::{BoardsEvent, CloseCode, Ended, ServerFrame};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Sessions named in one hint: a hint of 100 ids stays far under the payload cap.
pub const SESSIONS_PER_HINT: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub enum Hint {
    /// `board`'s log has reached `seq`.
    Tasks { board: Uuid, seq: u64 },
    /// `user`'s board list changed.
    Boards { user: Uuid, event: BoardsEvent },
    /// Access to `board` ended for `user` (everyone, when `None`).
    Revoke {
        board: Uuid,
        user: Option<Uuid>,
        reason: Ended,
    },
    /// These sessions ended: their sockets close.
    CloseSessions {
        sessions: Vec<Uuid>,
        code: CloseCode,
        reason: &'static str,
    },
    /// Who is on `board` changed on the node that sends this.
    Presence { board: Uuid },
    /// The log was reset (`taskwire-server log reset`): every position is void.
    Reset,
    /// Sent by every node each second, so a listener that hears nothing is known dead.
    Ping,
}

/// The reasons a socket is closed for on another node; a reason not on the list (from a
/// newer node) is shown as the last.
const CLOSE_REASONS: [&str; 5] = [
    "signed out",
    "session revoked",
    "signed out everywhere",
    "stopped acting as this user",
    "signed out on another server",
];

fn known_reason(text: &str) -> &'static str {
    CLOSE_REASONS
        .iter()
        .find(|reason| **reason == text)
        .copied()
        .unwrap_or(CLOSE_REASONS[CLOSE_REASONS.len() - 1])
}

/// The JSON form: `BoardsEvent` only serializes, so the board-list event travels as its
/// frame, which the protocol's own reader reads back.
#[derive(Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Wire {
    Tasks {
        board: Uuid,
        seq: u64,
    },
    Boards {
        user: Uuid,
        frame: String,
    },
    Revoke {
        board: Uuid,
        user: Option<Uuid>,
        reason: Ended,
    },
    CloseSessions {
        sessions: Vec<Uuid>,
        code: u16,
        reason: String,
    },
    Presence {
        board: Uuid,
    },
    Reset,
    Ping,
}

#[derive(Debug, thiserror::Error)]
#[error("unreadable cluster hint: {0}")]
pub struct BadHint(String);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wire = match self {
            Self::Tasks { board, seq } => Wire::Tasks {
                board: *board,
                seq: *seq,
            },
            Self::Boards { user, event } => Wire::Boards {
                user: *user,
                frame: serde_json::to_string(&ServerFrame::BoardsEvent(event.clone()))
                    .map_err(|_| fmt::Error)?,
            },
            Self::Revoke {
                board,
                user,
                reason,
            } => Wire::Revoke {
                board: *board,
                user: *user,
                reason: *reason,
            },
            Self::CloseSessions {
                sessions,
                code,
                reason,
            } => Wire::CloseSessions {
                sessions: sessions.clone(),
                code: code.as_u16(),
                reason: (*reason).to_owned(),
            },
            Self::Presence { board } => Wire::Presence { board: *board },
            Self::Reset => Wire::Reset,
            Self::Ping => Wire::Ping,
        };
        f.write_str(&serde_json::to_string(&wire).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for Hint {
    type Err = BadHint;

    fn from_str(text: &str) -> Result<Self, BadHint> {
        let wire: Wire = serde_json::from_str(text).map_err(|e| BadHint(e.to_string()))?;
        Ok(match wire {
            Wire::Tasks { board, seq } => Self::Tasks { board, seq },
            Wire::Boards { user, frame } => match protocol::decode_server(&frame) {
                Ok(ServerFrame::BoardsEvent(event)) => Self::Boards { user, event },
                Ok(_) => return Err(BadHint("a board-list hint without its event".into())),
                Err(error) => return Err(BadHint(error.to_string())),
            },
            Wire::Revoke {
                board,
                user,
                reason,
            } => Self::Revoke {
                board,
                user,
                reason,
            },
            Wire::CloseSessions {
                sessions,
                code,
                reason,
            } => Self::CloseSessions {
                sessions,
                code: CloseCode::from_u16(code),
                reason: known_reason(&reason),
            },
            Wire::Presence { board } => Self::Presence { board },
            Wire::Reset => Self::Reset,
            Wire::Ping => Self::Ping,
        })
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Board, BoardChange, BoardRole, Topic};

    use super::*;

    #[test]
    fn every_hint_reads_back_as_sent_and_stays_small() {
        let board = Uuid::new_v4();
        let user = Uuid::new_v4();
        let hints = [
            Hint::Tasks { board, seq: 42 },
            Hint::Boards {
                user,
                event: BoardsEvent {
                    topic: Topic::Boards,
                    epoch: "e".into(),
                    seq: 7,
                    change: BoardChange::Upsert {
                        item: Board {
                            id: board,
                            name: "\u{1F4A5}".repeat(80),
                            role: BoardRole::Editor,
                            personal: false,
                        },
                    },
                },
            },
            Hint::Revoke {
                board,
                user: Some(user),
                reason: Ended::Removed,
            },
            Hint::CloseSessions {
                sessions: vec![Uuid::new_v4(); SESSIONS_PER_HINT],
                code: CloseCode::Unauthorized,
                reason: "signed out",
            },
            Hint::CloseSessions {
                sessions: vec![Uuid::new_v4()],
                code: CloseCode::LoggedOutEverywhere,
                reason: "signed out everywhere",
            },
            Hint::Presence { board },
            Hint::Reset,
            Hint::Ping,
        ];
        for hint in hints {
            let text = hint.to_string();
            assert!(text.len() < 8_000, "{} bytes", text.len());
            assert_eq!(text.parse::<Hint>().ok(), Some(hint));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in ["", "{", r#"{"k":"boards","user":"x","frame":"{}"}"#, "null"] {
            assert!(text.parse::<Hint>().is_err(), "{text}");
        }
    }
}
