//! Shared boards (protocol v2, section 4): a board, its members and their roles, and
//! the bodies of the board calls.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a member may do on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardRole {
    /// Renames and deletes the board, manages its members, and changes tasks.
    Owner,
    /// Reads and changes tasks.
    Editor,
    /// Reads only.
    Viewer,
}

impl BoardRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    /// The role stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "owner" => Some(Self::Owner),
            "editor" => Some(Self::Editor),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    pub fn may_change_tasks(self) -> bool {
        self != Self::Viewer
    }
}

/// A board as one member sees it: `role` is theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    pub id: Uuid,
    pub name: String,
    pub role: BoardRole,
    /// The user's own `My tasks`: never deleted, renamed or shared.
    pub personal: bool,
}

/// `GET /api/boards`: the caller's boards, and the position of their board list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardList {
    pub epoch: String,
    pub seq: u64,
    pub items: Vec<Board>,
}

/// `POST /api/boards`; a client-chosen `id` makes a retry harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBoard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub name: String,
}

/// `PATCH /api/boards/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardPatch {
    pub name: String,
}

/// A person on a board, as its member list shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUser {
    pub id: Uuid,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: MemberUser,
    pub role: BoardRole,
}

/// `GET /api/boards/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    pub items: Vec<Member>,
}

/// `PUT /api/boards/{id}/members/{username}`: `editor` or `viewer` (a board has one
/// owner, who stays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRole {
    pub role: BoardRole,
}
