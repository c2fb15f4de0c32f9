//! Socket service core (work in progress).

pub mod backoff;
pub mod heartbeat;
pub mod machine;
pub mod outbox;
pub mod requests;
pub mod store;
pub mod time;
