//! Tasks and events for the client's unit tests: one definition for every module.

use protocol::{Change, Event, Task, Topic};
use uuid::Uuid;

/// Task `n`: id `n`, title `t{n}`, open, version 1, created at second `n` (so that
/// creation order is `n` order).
pub fn task(n: u128) -> Task {
    Task {
        id: Uuid::from_u128(n),
        title: format!("t{n}"),
        done: false,
        version: 1,
        created_at: format!("2026-01-01T00:00:{n:02}Z"),
        updated_at: "2026-01-01T00:00:00Z".to_owned(),
    }
}

/// A live event of epoch `e1`.
pub fn event(seq: u64, change: Change) -> Event {
    Event {
        topic: Topic::Tasks,
        epoch: "e1".to_owned(),
        seq,
        change,
    }
}
