//! The browser shell of the socket service: the `WebSocket`s, timers and window events
//! around the pure core in [`crate::client`], which makes every decision.
//!
//! [`conn`] wraps one `WebSocket` and its handlers; [`service`] runs the
//! [`crate::client::registry::Registry`]: it turns browser events into inputs, executes
//! the commands (the HTTP fallback's polls and calls among them), and hands the core's
//! notices to [`crate::board`]; `keeper` saves the outbox so that a reload keeps it.

pub mod conn;
mod keeper;
pub mod service;

pub use conn::{Socket, SocketError, SocketEvent, live_sockets};
pub use service::Service;
