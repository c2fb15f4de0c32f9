//! The one record Taskwire stores for people: a task.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A task as the server confirmed it. Times are RFC 3339 UTC strings, kept as text so
/// the browser bundle carries no date library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub done: bool,
    /// Starts at 1 and grows by 1 with every change; lets a client drop stale patches.
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The username of whoever made the last change. Absent from a v1 server's tasks.
    #[serde(default)]
    pub updated_by: String,
}

/// The fields a `patch` event carries: only those that changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl Task {
    /// Applies a patch that moves this task to `version`.
    pub fn apply(&mut self, version: u64, fields: &TaskFields) {
        if let Some(title) = &fields.title {
            self.title.clone_from(title);
        }
        if let Some(done) = fields.done {
            self.done = done;
        }
        if let Some(updated_at) = &fields.updated_at {
            self.updated_at.clone_from(updated_at);
        }
        if let Some(updated_by) = &fields.updated_by {
            self.updated_by.clone_from(updated_by);
        }
        self.version = version;
    }
}
